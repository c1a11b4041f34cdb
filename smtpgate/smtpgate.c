/*
 * smtpgate - the gate daemon: answers the MTA's question "may this client relay to this
 * recipient?" from the grant store, which it only ever reads. Two fronts share the
 * decision: the Postfix policy server (policy_listen, policyd.c), the milter front that
 * Sendmail and Postfix ask per recipient (milter_listen, milterd.c) and the SMTP proxy
 * that stands in front of any MTA (proxy_listen, proxy.c); any of them run, together or
 * alone.
 *
 * This file holds main(): option and config binding, the start-up order and the event
 * loop. Start-up: the config, checked by smtpgate_start_check and check_run_user (every
 * problem logged, then exit 2; -t runs the same checks, prints the verdict and exits),
 * then the listening sockets of policy_listen, milter_listen, proxy_listen and
 * smtpgate's metrics_listen entry (opened before anything else, while any privilege is still held;
 * under socket activation the sockets systemd passed stand in for the entries they are
 * bound to, and one that no entry names stops the start-up), then run_user's
 * privileges, then the servers, and then the service manager hears READY=1 (notify.h:
 * also RELOADING=1 and READY=1 around a SIGHUP reload, STOPPING=1 at SIGTERM). /metrics
 * is served on a thread of its own (metrics_http.h) until the loop ends. log_level is
 * taken at start-up and at every SIGHUP.
 *
 * The store is opened read-only on the first request that needs it and reopened by itself
 * after errors (grants.c), so a missing, locked or corrupt store makes smtpgate defer,
 * never stop. SIGTERM and SIGINT stop accepting (the listeners close), let every front
 * finish what it received (bounded in time), and exit 0. SIGHUP builds a complete new
 * config, checked as at start-up (but for run_user), and swaps it in for the next request
 * and the next proxy session; open connections stay, and so do the listeners and the
 * user (a changed policy_listen, milter_listen, proxy_listen, run_user or metrics_listen
 * needs a restart,
 * which is logged; the restart column of the parameter table, params.c, says which).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ev.h>

#include "db/store.h"
#include "shared/check.h"
#include "shared/cli.h"
#include "shared/config.h"
#include "shared/log.h"
#include "shared/metrics_http.h"
#include "shared/notify.h"
#include "shared/privilege.h"
#include "shared/util.h"
#include "smtpgate/grants.h"
#include "shared/listen.h"
#include "smtpgate/milterd.h"
#include "smtpgate/policyd.h"
#include "smtpgate/proxy.h"
#include "smtpgate/smtpgate_start.h"

#define SMTPGATE_PROG "smtpgate"

struct smtpgate {
    struct cli_config cli;
    struct config *cfg;
    struct listen_socket listeners[POLICYD_MAX_LISTENERS]; /* policy_listen */
    size_t nlisteners;
    struct listen_socket milter_listeners[MILTERD_MAX_LISTENERS]; /* milter_listen */
    size_t nmilter_listeners;
    struct listen_socket proxy_listeners[PROXY_MAX_LISTENERS]; /* proxy_listen */
    size_t nproxy_listeners;
    struct listen_socket metrics_listener; /* metrics_listen; fd -1 if none */
    struct metrics_http *metrics;          /* its server, NULL if none */
    struct grants *grants;
    struct policyd *policyd; /* NULL when policy_listen is empty */
    struct milterd *milterd; /* NULL when milter_listen is empty */
    struct proxy *proxy;     /* NULL when proxy_listen is empty */
    struct ev_loop *loop;
    ev_signal term_w, int_w, hup_w;
    ev_prepare flush_w; /* writes the buffered log lines once per iteration */
    ev_timer release_w; /* ends a read snapshot left open when the loop went idle */
    int stopping;
    int draining; /* fronts still finishing after SIGTERM */
};

/* smtpgate_usage - print the usage summary and exit with status */
static void smtpgate_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [-c FILE] [-o name=value]... [-t] [--syslog]\n"
            "  -c FILE          configuration file (default %s)\n"
            "  -o name=value    override one setting\n"
            "  -t               check the configuration, print the verdict and exit\n"
            "  --syslog         log to syslog (facility mail) instead of stderr\n"
            "  --version        print the version and exit\n",
            SMTPGATE_PROG, POPAUTH_DEFAULT_CONFIG);
    exit(status);
}

/* smtpgate_reload_problem - a check report_cb for SIGHUP: one problem of the new config */
static void smtpgate_reload_problem(const char *prog, const char *problem)
{
    (void)prog;
    log_error("action=reload status=failed reason=\"%s\" (keeping the running config)", problem);
}

/* smtpgate_config - build a complete config and check it (a reload's chk skips what only
 * a restart applies), every problem reported to chk; NULL if there was any */
static struct config *smtpgate_config(const struct cli_config *cc, struct check *chk)
{
    char err[1024];
    struct config *cfg =
        config_build(cc->path, cc->explicit_path, cc->overrides, cc->noverrides, err, sizeof(err));

    if (cfg == NULL) {
        check_problem(chk, "%s", err);
        return NULL;
    }
    check_run_user(chk, cfg);
    smtpgate_start_check(cfg, chk);
    if (chk->problems == 0)
        return cfg;
    config_free(cfg);
    return NULL;
}

/* smtpgate_test - -t: check the configuration as the start-up would, print the verdict
 * and exit */
static void smtpgate_test(const struct cli_config *cc)
{
    struct check chk;
    struct config *cfg;
    char err[1024];

    check_init(&chk, check_to_stderr, SMTPGATE_PROG);
    if ((cfg = smtpgate_config(cc, &chk)) != NULL)
        check_result(&chk, store_configure_from(cfg, err, sizeof(err)), err);
    config_free(cfg);
    exit(check_finish(&chk));
}

/* smtpgate_listen - open every policy_listen, milter_listen and proxy_listen socket
 * (start-up: fatal on error) */
static void smtpgate_listen(struct smtpgate *sg)
{
    const struct strlist *list = &sg->cfg->policy_listen;
    char err[512];
    size_t i;

    for (i = 0; i < list->count; i++) {
        if (listen_open("policy_listen", list->items[i], &sg->listeners[i], err, sizeof(err)) < 0)
            fatal("%s", err);
        sg->nlisteners++;
    }
    list = &sg->cfg->milter_listen;
    for (i = 0; i < list->count; i++) {
        if (listen_open("milter_listen", list->items[i], &sg->milter_listeners[i], err,
                        sizeof(err)) < 0)
            fatal("%s", err);
        sg->nmilter_listeners++;
    }
    list = &sg->cfg->proxy_listen;
    for (i = 0; i < list->count; i++) {
        if (listen_open("proxy_listen", list->items[i], &sg->proxy_listeners[i], err, sizeof(err)) <
            0)
            fatal("%s", err);
        sg->nproxy_listeners++;
    }
    if (metrics_http_open(&sg->cfg->metrics_listen, SMTPGATE_PROG, &sg->metrics_listener, err,
                          sizeof(err)) < 0)
        fatal("%s", err);
}

/* smtpgate_close_listeners - close every listening socket */
static void smtpgate_close_listeners(struct smtpgate *sg)
{
    size_t i;

    for (i = 0; i < sg->nlisteners; i++)
        listen_close(&sg->listeners[i]);
    sg->nlisteners = 0;
    for (i = 0; i < sg->nmilter_listeners; i++)
        listen_close(&sg->milter_listeners[i]);
    sg->nmilter_listeners = 0;
    for (i = 0; i < sg->nproxy_listeners; i++)
        listen_close(&sg->proxy_listeners[i]);
    sg->nproxy_listeners = 0;
}

/* smtpgate_drained - one front closed its last connection after SIGTERM: leave the loop
 * once all have */
static void smtpgate_drained(void *ctx)
{
    struct smtpgate *sg = ctx;

    if (--sg->draining == 0)
        ev_break(sg->loop, EVBREAK_ALL);
}

/* smtpgate_term_cb - SIGTERM/SIGINT: stop accepting, answer what arrived, then exit */
static void smtpgate_term_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct smtpgate *sg = w->data;

    (void)loop, (void)revents;
    if (sg->stopping)
        return;
    sg->stopping = 1;
    notify_stopping();
    log_info("action=stop signal=%d connections=%zu milter_connections=%zu sessions=%zu", w->signum,
             sg->policyd != NULL ? policyd_connections(sg->policyd) : 0,
             sg->milterd != NULL ? milterd_connections(sg->milterd) : 0,
             sg->proxy != NULL ? proxy_sessions(sg->proxy) : 0);
    /* count every front first: any may call smtpgate_drained at once */
    sg->draining = (sg->policyd != NULL) + (sg->milterd != NULL) + (sg->proxy != NULL) + 1;
    if (sg->policyd != NULL)
        policyd_drain(sg->policyd, smtpgate_drained, sg);
    if (sg->milterd != NULL)
        milterd_drain(sg->milterd, smtpgate_drained, sg);
    if (sg->proxy != NULL)
        proxy_drain(sg->proxy, smtpgate_drained, sg);
    smtpgate_close_listeners(sg);
    smtpgate_drained(sg);
}

/* smtpgate_hup_cb - SIGHUP: build a new config; swap it in only if all of it is good */
static void smtpgate_hup_cb(struct ev_loop *loop, ev_signal *w, int revents)
{
    struct smtpgate *sg = w->data;
    struct config *next;
    struct check chk;
    size_t i;

    (void)loop, (void)revents;
    notify_reloading();
    check_init_reload(&chk, smtpgate_reload_problem, SMTPGATE_PROG, PARAM_SMTPGATE);
    if ((next = smtpgate_config(&sg->cli, &chk)) == NULL) {
        notify_reloaded(0);
        return;
    }
    for (i = 0; config_restart_next(sg->cfg, next, PARAM_SMTPGATE, &i); i++)
        log_warnx("action=reload %s changed: it takes effect at the next restart",
                  config_params[i].name);
    if (sg->policyd != NULL)
        policyd_set_config(sg->policyd, next);
    if (sg->milterd != NULL)
        milterd_set_config(sg->milterd, next);
    if (sg->proxy != NULL)
        proxy_set_config(sg->proxy, next);
    grants_set_uri(sg->grants, next->database);
    config_free(sg->cfg);
    sg->cfg = next;
    log_set_level(next->log_level);
    log_info("action=reload status=ok");
    notify_reloaded(1);
}

/* smtpgate_release_cb - the read snapshot is due and the loop was idle: end it */
static void smtpgate_release_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct smtpgate *sg = w->data;

    (void)loop, (void)revents;
    grants_release(sg->grants);
}

/* smtpgate_flush_cb - before the loop waits: end the read snapshot once it is due (or
 * have a timer end it then) and write the iteration's log lines at once */
static void smtpgate_flush_cb(struct ev_loop *loop, ev_prepare *w, int revents)
{
    struct smtpgate *sg = w->data;
    double left = grants_release_due(sg->grants);

    (void)revents;
    if (left > 0 && !ev_is_active(&sg->release_w)) {
        ev_timer_set(&sg->release_w, left, 0.);
        ev_timer_start(loop, &sg->release_w);
    }
    log_flush();
}

/* smtpgate_run - start the fronts that have listeners and run the loop until they have
 * drained */
static void smtpgate_run(struct smtpgate *sg)
{
    char err[512];
    size_t i;

    sg->loop = ev_default_loop(EVFLAG_AUTO);
    if (sg->loop == NULL)
        fatal("cannot start the event loop");
    sg->grants = grants_new(sg->loop, sg->cfg->database);
    if (sg->nlisteners > 0)
        sg->policyd = policyd_new(sg->loop, sg->cfg, sg->grants);
    for (i = 0; i < sg->nlisteners; i++)
        if (policyd_listen(sg->policyd, sg->listeners[i].fd, sg->listeners[i].name, err,
                           sizeof(err)) < 0)
            fatal("%s", err);
    if (sg->nmilter_listeners > 0)
        sg->milterd = milterd_new(sg->loop, sg->cfg, sg->grants);
    for (i = 0; i < sg->nmilter_listeners; i++)
        if (milterd_listen(sg->milterd, sg->milter_listeners[i].fd, sg->milter_listeners[i].name,
                           err, sizeof(err)) < 0)
            fatal("%s", err);
    if (sg->nproxy_listeners > 0)
        sg->proxy = proxy_new(sg->loop, sg->cfg, sg->grants);
    for (i = 0; i < sg->nproxy_listeners; i++)
        if (proxy_listen(sg->proxy, sg->proxy_listeners[i].fd, sg->proxy_listeners[i].name, err,
                         sizeof(err)) < 0)
            fatal("%s", err);
    ev_signal_init(&sg->term_w, smtpgate_term_cb, SIGTERM);
    ev_signal_init(&sg->int_w, smtpgate_term_cb, SIGINT);
    ev_signal_init(&sg->hup_w, smtpgate_hup_cb, SIGHUP);
    sg->term_w.data = sg->int_w.data = sg->hup_w.data = sg;
    ev_signal_start(sg->loop, &sg->term_w);
    ev_signal_start(sg->loop, &sg->int_w);
    ev_signal_start(sg->loop, &sg->hup_w);
    ev_prepare_init(&sg->flush_w, smtpgate_flush_cb);
    ev_init(&sg->release_w, smtpgate_release_cb);
    sg->flush_w.data = sg->release_w.data = sg;
    ev_prepare_start(sg->loop, &sg->flush_w);
    if (sg->metrics_listener.fd >= 0 &&
        (sg->metrics = metrics_http_start(metrics_process(), sg->metrics_listener.fd, NULL, NULL,
                                          err, sizeof(err))) == NULL)
        fatal("%s", err);
    log_buffer(1);
    log_info("action=start listen=\"%s\" milter_listen=\"%s\" proxy_listen=\"%s\" database=%s",
             config_text(sg->cfg, "policy_listen"), config_text(sg->cfg, "milter_listen"),
             config_text(sg->cfg, "proxy_listen"), sg->cfg->database);
    notify_ready();
    ev_run(sg->loop, 0);
    metrics_http_stop(sg->metrics);
    sg->metrics = NULL;
    proxy_free(sg->proxy);
    milterd_free(sg->milterd);
    policyd_free(sg->policyd);
    grants_free(sg->grants);
    log_info("action=exit status=0");
    log_buffer(0);
}

/* main - options, config, listeners, privileges; then the loop */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"syslog", no_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct smtpgate sg;
    struct check chk;
    int opt, use_syslog = 0, test = 0;
    char err[1024];

    memset(&sg, 0, sizeof(sg));
    cli_config_init(&sg.cli);
    while ((opt = getopt_long(argc, argv, "c:o:th", longopts, NULL)) != -1) {
        if (cli_config_option(&sg.cli, opt, optarg))
            continue;
        if (opt == 'S')
            use_syslog = 1;
        else if (opt == 't')
            test = 1;
        else if (opt == 'V')
            cli_version(SMTPGATE_PROG);
        else
            smtpgate_usage(opt == 'h' ? 0 : 2);
    }
    if (optind != argc)
        smtpgate_usage(2);
    if (test)
        smtpgate_test(&sg.cli);
    log_open(SMTPGATE_PROG, !use_syslog, LOG_LEVEL_INFO);
    check_init(&chk, check_to_log, SMTPGATE_PROG);
    if ((sg.cfg = smtpgate_config(&sg.cli, &chk)) == NULL)
        exit(2);
    log_set_level(sg.cfg->log_level);
    if (store_configure_from(sg.cfg, err, sizeof(err)) < 0) /* reads the password file */
        fatal("%s", err);
    if (listen_inherit(err, sizeof(err)) < 0)
        fatal("%s", err);
    smtpgate_listen(&sg);
    if (listen_inherit_done(err, sizeof(err)) < 0) /* after the last listen_open */
        fatal("%s", err);
    if (privilege_drop(sg.cfg->run_user, err, sizeof(err)) < 0)
        fatal("%s", err);
    signal(SIGPIPE, SIG_IGN);
    smtpgate_run(&sg);
    smtpgate_close_listeners(&sg);
    listen_close(&sg.metrics_listener);
    config_free(sg.cfg);
    return 0;
}
