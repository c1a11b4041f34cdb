/*
 * popauth - the ingest daemon: turns successful POP3/IMAP logins into relay grants.
 *
 * This file holds main(): option and config binding, the start-up order and the event
 * loop. Start-up: the config (fatal on error, exit 2); the checks of popauth_start_check
 * and check_run_user, which also create the sources: those of log_sources, the capture
 * sources (sniff_interfaces, sniff_file) and the Dovecot auth-policy listener
 * (dovecot_policy_listen), whose handles and socket are opened here, while root is still
 * held (every problem is logged, then exit 2; -t runs the same checks without
 * opening captures, prints the verdict and exits); the formats and custom patterns; the
 * store; each source resumed at its saved position; then root is dropped to run_user, and
 * only then do the sources start their watchers. The store stays open across the drop,
 * but SQLite creates and removes its -wal and -shm files beside the database, so that
 * directory must be writable by run_user; followed log files are opened (and reopened
 * after rotation) as run_user. log_sources may be empty when a capture source or the
 * Dovecot listener is configured; with no source at all popauth refuses to start. The
 * loop flushes the ingest core once per iteration (an ev_prepare watcher, run just
 * before the loop waits): the batch goes to the committer thread, started after the
 * privilege drop, which wakes the loop when it is written, so a grant is committed a few
 * milliseconds after its line arrived, and the loop waits for the disk only when a batch
 * fills up before the one before it is written; log lines on stderr are written at the same moment,
 * in one block. SIGTERM and SIGINT read what the sources have, commit and exit 0; SIGHUP re-reads
 * the config (a bad new config is logged and the old one kept; sources, store and run_user change
 * only at a restart). The service manager hears READY=1 once the sources run, RELOADING=1 and
 * READY=1 around a SIGHUP reload and STOPPING=1 at SIGTERM (notify.h); a metrics_listen socket may
 * come from socket activation (listen.h), and one that no entry names stops the start-up. A second
 * store handle, opened with the first, goes to the purger thread (purger.h), which deletes expired
 * grants every purge_interval and wakes the loop to log what it did. log_level is taken at start-up
 * and at every SIGHUP, as is purge_interval. With --once every source is read to its current end,
 * committed (a transaction per second of grants: ingest_start's bulk mode), and popauth
 * exits.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ev.h>

#include "db/store.h"
#include "popauth/dovecot_policy.h"
#include "popauth/ingest.h"
#include "popauth/patterns.h"
#include "popauth/popauth_start.h"
#include "popauth/purger.h"
#include "shared/check.h"
#include "shared/cli.h"
#include "shared/config.h"
#include "shared/listen.h"
#include "shared/log.h"
#include "shared/metrics_http.h"
#include "shared/metrics_store.h"
#include "shared/notify.h"
#include "shared/privilege.h"
#include "shared/util.h"

#define POPAUTH_PROG       "popauth"
#define POPAUTH_RETRY      1.0  /* seconds between attempts to commit after a store error */
#define POPAUTH_BEHIND_LOG 60.0 /* seconds between "still failing" lines while it lasts */

/* What popauth runs with: one config generation and what was built from it. */
struct popauth_setup {
    struct config *cfg;
    struct patterns *patterns;
    unsigned formats;
};

struct popauth {
    struct cli_config cli;
    struct popauth_setup setup;
    struct store *st;
    struct ingest *ing;
    struct source *sources[POPAUTH_MAX_SOURCES];
    size_t nsources;
    struct ev_loop *loop;
    ev_prepare flush_w;
    ev_async commit_w; /* the committer thread finished a batch */
    ev_timer retry_w;
    ev_signal term_w, int_w, hup_w;
    int store_failing;     /* the last flush failed: log again only when it recovers */
    double failing_since;  /* since when (util_now) */
    double behind_logged;  /* when "still failing" was last logged */
    struct metric *behind; /* grants taken and not yet written */
    struct metric *down;   /* seconds the store has been failing, 0 when it is not */
    struct listen_socket metrics_listener; /* metrics_listen; fd -1 if none */
    struct metrics_http *metrics;          /* its server, NULL if none */
    struct metrics_store *metrics_store;   /* the store's gauges, read at each scrape */
    struct metric *retries;                /* commits tried again after a store error */
    struct store *purge_st;                /* the purger's own handle, until it starts */
    struct purger *purger;                 /* purge_interval housekeeping; NULL if none */
    ev_async purge_w;                      /* the purger finished a purge */
};

/* popauth_usage - print the usage summary and exit with status */
static void popauth_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [-c FILE] [-o name=value]... [-t] [--once] [--syslog]\n"
            "  -c FILE          configuration file (default %s)\n"
            "  -o name=value    override one setting\n"
            "  -t               check the configuration, print the verdict and exit\n"
            "  --once           read every source to its end, commit and exit\n"
            "  --syslog         log to syslog (facility mail) instead of stderr\n"
            "  --version        print the version and exit\n",
            POPAUTH_PROG, POPAUTH_DEFAULT_CONFIG);
    exit(status);
}

/* popauth_setup_from - what depends on cfg, which s takes over (and frees on failure);
 * -1 and err if bad */
static int popauth_setup_from(struct config *cfg, struct popauth_setup *s, char *err, size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->cfg = cfg;
    if (formats_mask(&s->cfg->log_formats, &s->formats, err, errlen) < 0)
        goto fail;
    if (s->cfg->log_patterns[0] != '\0' &&
        (s->patterns = patterns_load(s->cfg->log_patterns, err, errlen)) == NULL)
        goto fail;
    return 0;
fail:
    config_free(s->cfg);
    s->cfg = NULL;
    return -1;
}

/* popauth_setup_build - load the config and what depends on it; -1 and err if bad */
static int popauth_setup_build(const struct cli_config *cc, struct popauth_setup *s, char *err,
                               size_t errlen)
{
    struct config *cfg =
        config_build(cc->path, cc->explicit_path, cc->overrides, cc->noverrides, err, errlen);

    memset(s, 0, sizeof(*s));
    return cfg != NULL ? popauth_setup_from(cfg, s, err, errlen) : -1;
}

/* popauth_setup_free - release one config generation */
static void popauth_setup_free(struct popauth_setup *s)
{
    patterns_free(s->patterns);
    config_free(s->cfg);
    memset(s, 0, sizeof(*s));
}

/* popauth_test - -t: check the configuration as the start-up would, without opening
 * live captures or the store; print the verdict and exit */
static void popauth_test(const struct cli_config *cc)
{
    struct config *cfg = cli_config_load(cc, POPAUTH_PROG);
    struct check chk;
    char err[1024];

    log_open(POPAUTH_PROG, 1, LOG_LEVEL_WARN); /* the sources' warnings, not their info */
    check_init(&chk, check_to_stderr, POPAUTH_PROG);
    check_run_user(&chk, cfg);
    check_result(&chk, dovecot_policy_check_file(cfg, cc->path, err, sizeof(err)), err);
    check_result(&chk, store_configure_from(cfg, err, sizeof(err)), err);
    popauth_start_check(cfg, &chk, NULL, NULL);
    config_free(cfg);
    exit(check_finish(&chk));
}

/* popauth_sources_add - register the sources popauth_start_check created with the ingest
 * core, each at its saved position */
static void popauth_sources_add(struct popauth *pa)
{
    char err[1024];
    size_t i;
    int rc;

    for (i = 0; i < pa->nsources; i++) {
        struct source *src = pa->sources[i];
        if (src->persistent && pa->st != NULL) {
            if ((rc = store_position_get(pa->st, src->name, &src->position, err, sizeof(err))) < 0)
                fatal("%s", err);
            src->position_saved = rc == 1;
        }
        ingest_add_source(pa->ing, src);
    }
}

/* popauth_resume - after a commit made room: let the sources hand over what they held */
static void popauth_resume(struct popauth *pa)
{
    char err[1024];
    size_t i;

    for (i = 0; i < pa->nsources && !ingest_full(pa->ing); i++)
        if (!pa->sources[i]->finished &&
            pa->sources[i]->ops->drain(pa->sources[i], err, sizeof(err)) < 0)
            log_warnx("action=read source=%s reason=\"%s\"", pa->sources[i]->name, err);
}

/* popauth_flush - commit what the sources produced; log store trouble once per episode;
 * 0 on success, -1 if the store could not take it (retried by a timer) */
static int popauth_flush(struct popauth *pa)
{
    char err[1024];
    int was_full = ingest_full(pa->ing);

    double now = util_now();

    if (ingest_flush(pa->ing, err, sizeof(err)) == 0) {
        if (pa->store_failing)
            log_info("action=commit status=recovered after=%.0fs pending=%zu",
                     now - pa->failing_since, ingest_pending(pa->ing));
        pa->store_failing = 0;
        metric_set(pa->behind, (int64_t)ingest_pending(pa->ing));
        metric_set(pa->down, 0);
        ev_timer_stop(pa->loop, &pa->retry_w);
        if (was_full)
            popauth_resume(pa);
        return 0;
    }
    if (!pa->store_failing) {
        log_error("action=commit status=failed pending=%zu reason=\"%s\"", ingest_pending(pa->ing),
                  err);
        pa->failing_since = pa->behind_logged = now;
    } else if (now - pa->behind_logged >= POPAUTH_BEHIND_LOG) {
        log_warnx("action=commit status=failing for=%.0fs pending=%zu full=%s reason=\"%s\"",
                  now - pa->failing_since, ingest_pending(pa->ing),
                  ingest_full(pa->ing) ? "yes" : "no", err);
        pa->behind_logged = now;
    }
    metric_set(pa->behind, (int64_t)ingest_pending(pa->ing));
    metric_set(pa->down, (int64_t)(now - pa->failing_since) + 1); /* 0 means "not failing" */
    pa->store_failing = 1;
    if (!ev_is_active(&pa->retry_w))
        ev_timer_start(pa->loop, &pa->retry_w);
    return -1;
}

/* popauth_all_finished - 1 when every source has said it will produce no more lines */
static int popauth_all_finished(const struct popauth *pa)
{
    size_t i;

    for (i = 0; i < pa->nsources; i++)
        if (!pa->sources[i]->finished)
            return 0;
    return 1;
}

/* popauth_flush_cb - before the loop waits: commit this iteration's batch */
static void popauth_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct popauth *pa = w->data;

    (void)revents;
    log_flush();
    if (pa->store_failing)
        return; /* the retry timer tries again, once a second, not at every iteration */
    popauth_flush(pa);
    if (popauth_all_finished(pa) && !pa->store_failing)
        ev_break(loop, EVBREAK_ALL);
}

/* popauth_wake - on the committer thread, after a commit: wake the loop, whose flush
 * watcher then takes the result and hands over the next batch */
static void popauth_wake(void *arg)
{
    struct popauth *pa = arg;

    ev_async_send(pa->loop, &pa->commit_w);
}

/* popauth_commit_cb - a commit finished: nothing to do but let the loop iterate */
static void popauth_commit_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    (void)loop, (void)w, (void)revents;
}

/* popauth_retry_cb - try again to commit after a store error */
static void popauth_retry_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct popauth *pa = w->data;

    (void)loop, (void)revents;
    metric_inc(pa->retries);
    popauth_flush(pa);
}

/* popauth_term_cb - SIGTERM/SIGINT: read what is there, commit, leave the loop */
static void popauth_term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct popauth *pa = w->data;
    char err[1024];
    size_t i;

    (void)revents;
    notify_stopping();
    log_info("action=stop signal=%d", w->signum);
    for (i = 0; i < pa->nsources; i++)
        if (!pa->sources[i]->finished &&
            pa->sources[i]->ops->drain(pa->sources[i], err, sizeof(err)) < 0)
            log_warnx("action=drain source=%s reason=\"%s\"", pa->sources[i]->name, err);
    ev_break(loop, EVBREAK_ALL);
}

/* popauth_sources_reload - hand the new config to the sources that take changes from it */
static void popauth_sources_reload(struct popauth *pa, const struct config *cfg)
{
    char err[1024];
    size_t i;

    for (i = 0; i < pa->nsources; i++)
        if (pa->sources[i]->ops->reload != NULL &&
            pa->sources[i]->ops->reload(pa->sources[i], cfg, err, sizeof(err)) < 0)
            log_warnx("action=reload source=%s reason=\"%s\"", pa->sources[i]->name, err);
}

/* popauth_hup_cb - SIGHUP: build a new config; swap it in only if all of it is good */
static void popauth_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct popauth *pa = w->data;
    struct popauth_setup next;
    char err[1024];
    size_t first = 0;

    (void)loop, (void)revents;
    notify_reloading();
    popauth_flush(pa); /* the batch was counted under the old config */
    if (popauth_setup_build(&pa->cli, &next, err, sizeof(err)) < 0) {
        log_error("action=reload status=failed reason=\"%s\" (keeping the running config)", err);
        notify_reloaded(0);
        return;
    }
    for (; config_restart_next(pa->setup.cfg, next.cfg, PARAM_POPAUTH, &first); first++)
        log_warnx("action=reload %s changed: it takes effect at the next restart",
                  config_params[first].name);
    ingest_set_config(pa->ing, next.cfg, next.patterns, next.formats);
    popauth_sources_reload(pa, next.cfg);
    popauth_setup_free(&pa->setup);
    pa->setup = next;
    log_set_level(next.cfg->log_level);
    if (pa->purger != NULL)
        purger_set_interval(pa->purger, next.cfg->purge_interval);
    log_info("action=reload status=ok");
    notify_reloaded(1);
}

/* popauth_sync - wait until everything read is committed; 0, or 1 if that failed (what
 * the failed commit held is read again at the next start) */
static int popauth_sync(struct popauth *pa)
{
    char err[1024];

    if (ingest_sync(pa->ing, err, sizeof(err)) == 0)
        return 0;
    log_error("action=commit status=failed pending=%zu reason=\"%s\"", ingest_pending(pa->ing),
              err);
    return 1;
}

/* popauth_metrics_start - serve /metrics if metrics_listen has an entry for popauth */
static void popauth_metrics_start(struct popauth *pa)
{
    struct metrics *m = metrics_process();
    char err[512];

    pa->retries = metrics_counter(m, "popauth_commit_retries_total",
                                  "Commits tried again after a store error.", NULL);
    pa->behind = metrics_gauge(m, "popauth_pending_grants",
                               "Grants read and not yet committed to the store.", NULL);
    pa->down = metrics_gauge(m, "popauth_store_failing_seconds",
                             "How long commits have been failing (0: the store takes them).", NULL);
    if (pa->metrics_listener.fd < 0)
        return;
    if (!pa->setup.cfg->dry_run)
        pa->metrics_store = metrics_store_new(m, POPAUTH_PROG, pa->setup.cfg->database);
    pa->metrics = metrics_http_start(m, pa->metrics_listener.fd,
                                     pa->metrics_store ? metrics_store_refresh : NULL,
                                     pa->metrics_store, err, sizeof(err));
    if (pa->metrics == NULL)
        fatal("%s", err);
}

/* popauth_purge_wake - on the purger's thread, after a purge: wake the loop to log it */
static void popauth_purge_wake(void *arg)
{
    struct popauth *pa = arg;

    ev_async_send(pa->loop, &pa->purge_w);
}

/* popauth_purge_cb - a purge finished: log what it did (a failure is a warning) */
static void popauth_purge_cb(struct ev_loop *loop, ev_async *w, int revents)
{
    struct popauth *pa = w->data;
    struct purger_result r;

    (void)loop, (void)revents;
    if (!purger_result(pa->purger, &r))
        return;
    if (r.ok)
        log_info("action=purge removed=%lld steps=%lld mean_step_ms=%.1f longest_step_ms=%.1f",
                 (long long)r.removed, (long long)r.steps,
                 r.steps > 0 ? r.total_steps * 1000 / (double)r.steps : 0.0, r.longest_step * 1000);
    else
        log_warnx("action=purge status=failed removed=%lld reason=\"%s\" (tried again in "
                  "purge_interval)",
                  (long long)r.removed, r.err);
}

/* popauth_purge_start - start the housekeeping thread on its own store handle */
static void popauth_purge_start(struct popauth *pa)
{
    char err[1024];

    if (pa->purge_st == NULL)
        return;
    ev_async_init(&pa->purge_w, popauth_purge_cb);
    pa->purge_w.data = pa;
    ev_async_start(pa->loop, &pa->purge_w);
    pa->purger = purger_new(pa->purge_st, pa->setup.cfg->purge_interval, metrics_process(),
                            popauth_purge_wake, pa, err, sizeof(err));
    pa->purge_st = NULL; /* the purger's now, even if it could not start */
    if (pa->purger == NULL)
        fatal("%s", err);
}

/* popauth_run - start the sources and run the loop until a signal or all sources end;
 * 0, or 1 if the last commit failed */
static int popauth_run(struct popauth *pa)
{
    char err[1024];
    size_t i;

    pa->loop = ev_default_loop(EVFLAG_AUTO);
    if (pa->loop == NULL)
        fatal("cannot start the event loop");
    signal(SIGPIPE, SIG_IGN);
    ev_async_init(&pa->commit_w, popauth_commit_cb);
    ev_async_start(pa->loop, &pa->commit_w);
    if (ingest_start(pa->ing, popauth_wake, pa, 0, err, sizeof(err)) < 0)
        fatal("%s", err);
    ev_prepare_init(&pa->flush_w, popauth_flush_cb);
    ev_timer_init(&pa->retry_w, popauth_retry_cb, POPAUTH_RETRY, POPAUTH_RETRY);
    ev_signal_init(&pa->term_w, popauth_term_cb, SIGTERM);
    ev_signal_init(&pa->int_w, popauth_term_cb, SIGINT);
    ev_signal_init(&pa->hup_w, popauth_hup_cb, SIGHUP);
    pa->flush_w.data = pa->retry_w.data = pa->term_w.data = pa->int_w.data = pa->hup_w.data = pa;
    ev_prepare_start(pa->loop, &pa->flush_w);
    ev_signal_start(pa->loop, &pa->term_w);
    ev_signal_start(pa->loop, &pa->int_w);
    ev_signal_start(pa->loop, &pa->hup_w);
    for (i = 0; i < pa->nsources; i++)
        if (pa->sources[i]->ops->start(pa->sources[i], pa->loop, err, sizeof(err)) < 0)
            fatal("%s", err);
    popauth_metrics_start(pa);
    popauth_purge_start(pa);
    log_info("action=start sources=%zu", pa->nsources);
    notify_ready();
    ev_run(pa->loop, 0);
    purger_free(pa->purger);
    return popauth_sync(pa);
}

/* popauth_once - read every source to its current end and commit */
static int popauth_once(struct popauth *pa)
{
    char err[1024];
    size_t i;
    int rc = 0;

    if (ingest_start(pa->ing, NULL, NULL, 1, err, sizeof(err)) < 0)
        fatal("%s", err);
    for (i = 0; i < pa->nsources; i++) {
        for (;;) {
            if (pa->sources[i]->ops->drain(pa->sources[i], err, sizeof(err)) < 0) {
                log_error("action=read source=%s reason=\"%s\"", pa->sources[i]->name, err);
                rc = 1;
                break;
            }
            if (!ingest_full(pa->ing))
                break;
            if (popauth_sync(pa) != 0) /* a full batch that could not be committed */
                return 1;
        }
    }
    return popauth_sync(pa) != 0 ? 1 : rc;
}

/* main - options, config, store, sources, privilege drop; then --once or the loop */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"once", no_argument, NULL, 'O'},
        {"syslog", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct popauth pa;
    struct config *cfg;
    struct check chk;
    int opt, once = 0, use_syslog = 0, test = 0, rc = 0;
    char err[1024];
    size_t i;

    memset(&pa, 0, sizeof(pa));
    cli_config_init(&pa.cli);
    while ((opt = getopt_long(argc, argv, "c:o:th", longopts, NULL)) != -1) {
        if (cli_config_option(&pa.cli, opt, optarg))
            continue;
        if (opt == 'O')
            once = 1;
        else if (opt == 'S')
            use_syslog = 1;
        else if (opt == 't')
            test = 1;
        else if (opt == 'V')
            cli_version(POPAUTH_PROG);
        else
            popauth_usage(opt == 'h' ? 0 : 2);
    }
    if (optind != argc)
        popauth_usage(2);
    if (test)
        popauth_test(&pa.cli);
    log_open(POPAUTH_PROG, !use_syslog, LOG_LEVEL_INFO);
    tzset(); /* log times without a zone are local time (logline.c) */
    cfg = config_build(pa.cli.path, pa.cli.explicit_path, pa.cli.overrides, pa.cli.noverrides, err,
                       sizeof(err));
    if (cfg == NULL)
        fatal("%s", err);
    /* metrics_listen and dovecot_policy_listen may come from systemd */
    if (listen_inherit(err, sizeof(err)) < 0)
        fatal("%s", err);
    check_init(&chk, check_to_log, POPAUTH_PROG);
    check_run_user(&chk, cfg);
    check_result(&chk, dovecot_policy_check_file(cfg, pa.cli.path, err, sizeof(err)), err);
    popauth_start_check(cfg, &chk, pa.sources, &pa.nsources);
    if (chk.problems > 0)
        exit(2);
    log_set_level(cfg->log_level);
    if (popauth_setup_from(cfg, &pa.setup, err, sizeof(err)) < 0)
        fatal("%s", err);
    if (store_configure_from(pa.setup.cfg, err, sizeof(err)) < 0)
        fatal("%s", err);
    if (!pa.setup.cfg->dry_run &&
        (pa.st = store_open(pa.setup.cfg->database, STORE_READWRITE, err, sizeof(err))) == NULL)
        fatal("%s", err);
    /* the committer's commits never wait for a WAL checkpoint */
    if (pa.st != NULL && store_checkpoint_background(pa.st, err, sizeof(err)) < 0)
        fatal("%s", err);
    /* the purger's own handle, opened now, while any privilege is still held */
    if (pa.st != NULL && !once &&
        (pa.purge_st = store_open(pa.setup.cfg->database, STORE_READWRITE, err, sizeof(err))) ==
            NULL)
        fatal("%s", err);
    pa.ing =
        ingest_new(pa.setup.cfg, pa.st, pa.setup.patterns, pa.setup.formats, pa.setup.cfg->dry_run);
    popauth_sources_add(&pa);
    pa.metrics_listener.fd = -1;
    if (!once && metrics_http_open(&pa.setup.cfg->metrics_listen, POPAUTH_PROG,
                                   &pa.metrics_listener, err, sizeof(err)) < 0)
        fatal("%s", err);
    if (listen_inherit_done(err, sizeof(err)) < 0) /* after the last listen_open */
        fatal("%s", err);
    if (privilege_drop(pa.setup.cfg->run_user, err, sizeof(err)) < 0)
        fatal("%s", err);
    log_buffer(1); /* stderr: written in blocks; popauth_run flushes once per iteration */
    if (once)
        rc = popauth_once(&pa);
    else
        rc = popauth_run(&pa);
    for (i = 0; i < pa.nsources; i++) {
        ingest_remove_source(pa.ing, pa.sources[i]);
        pa.sources[i]->ops->stop(pa.sources[i], pa.loop);
    }
    metrics_http_stop(pa.metrics);
    metrics_store_free(pa.metrics_store);
    listen_close(&pa.metrics_listener);
    ingest_free(pa.ing);
    store_close(pa.st);
    popauth_setup_free(&pa.setup);
    log_buffer(0);
    return rc;
}
