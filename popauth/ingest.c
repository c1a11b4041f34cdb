/*
 * ingest - the core of popauth: lines in, grants out, committed with the positions of
 * the lines that produced them.
 *
 * Exactly once: a source advances its position past a line before it hands the line to
 * ingest_line. A batch carries the pending grants, every source's position and counters
 * as they were when it was sealed, and is written in one store transaction, so after a
 * crash the store holds either a line's grant and the position after it, or neither; a
 * restart resumes from the committed position. A batch is sealed only between lines or
 * after a line's grant was added, never before, so a committed position always covers
 * its line's grant.
 *
 * Two batches take turns: one takes logins while the other (out) is written by the
 * committer thread, or kept after a failed commit; out is always written before the
 * next one is sealed, so positions only move forward in the store. The filling batch
 * is an open-addressing hash table keyed by client address: a burst of logins from one
 * address becomes one store write, carrying the newest login.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "popauth/committer.h"
#include "popauth/ingest.h"
#include "popauth/patterns.h"
#include "shared/cidr.h"
#include "shared/hash.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"

#define INGEST_MAX_PENDING  16384 /* distinct addresses in one batch before a forced flush */
#define INGEST_SLOTS        32768 /* hash slots: twice the batch, a power of two */
#define INGEST_MAX_SOURCES  COMMITTER_MAX_SOURCES /* sources registered at once */
#define INGEST_FUTURE_SLACK 300  /* seconds a line's time may lie ahead of the clock */
#define INGEST_EAGER        1024 /* grants that a long drain hands to an idle committer */

struct ingest {
    const struct config *cfg;
    struct store *st;
    const struct patterns *patterns;
    unsigned formats;
    int dry_run;
    struct source *sources[INGEST_MAX_SOURCES];
    size_t nsources;
    struct ingest_metrics { /* each source's counters, as `popauthctl stats` shows them */
        struct metric *lines, *logins, *grants, *rejected, *errors, *truncated;
    } metrics[INGEST_MAX_SOURCES]; /* like sources; written by the loop's thread */
    uint64_t seed;                 /* keys the hash of slots: clients choose the addresses */
    uint32_t slots[INGEST_SLOTS];  /* 0: free, else 1 + index into fill->grants */
    struct committer_batch batches[2];
    struct committer_batch *fill; /* taking logins (hashed in slots) */
    struct committer_batch *out;  /* submitted, or kept after its commit failed; or NULL */
    struct committer *committer;  /* NULL: commits run on the caller's thread */
    int inflight;                 /* out is being written by the committer */
    size_t out_grants;            /* grants in out (the committer may be reading it) */
    int out_kept_open;            /* out asked to keep its transaction open */
    int failed;                   /* the last write failed: out is kept for a retry */
    char failerr[1024];           /* why */
    int bulk;                     /* batches join kept-open transactions (ingest_start) */
    int open;                     /* such a transaction may hold written batches */
    int broken;                   /* a write lost earlier batches: nothing more is written */
};

/* ingest_new - a core writing to st (may be NULL with dry_run) under cfg */
struct ingest *ingest_new(const struct config *cfg, struct store *st,
                          const struct patterns *patterns, unsigned formats, int dry_run)
{
    struct ingest *ing = xcalloc(1, sizeof(*ing));

    ing->cfg = cfg;
    ing->st = st;
    ing->patterns = patterns;
    ing->formats = formats;
    ing->dry_run = dry_run || st == NULL;
    if (hash_seed(&ing->seed) < 0)
        fatal("ingest: cannot draw a random seed: %s", strerror(errno));
    committer_batch_init(&ing->batches[0], INGEST_MAX_PENDING);
    committer_batch_init(&ing->batches[1], INGEST_MAX_PENDING);
    ing->fill = &ing->batches[0];
    return ing;
}

/* ingest_start - from now on, commits run on a thread of their own */
int ingest_start(struct ingest *ing, void (*wake)(void *), void *arg, int bulk, char *err,
                 size_t errlen)
{
    if (ing->dry_run || ing->committer != NULL)
        return 0;
    ing->bulk = bulk;
    ing->committer = committer_new(ing->st, wake, arg, err, errlen);
    return ing->committer == NULL ? -1 : 0;
}

/* ingest_set_config - use a new config (SIGHUP); the caller keeps ownership */
void ingest_set_config(struct ingest *ing, const struct config *cfg,
                       const struct patterns *patterns, unsigned formats)
{
    ing->cfg = cfg;
    ing->patterns = patterns;
    ing->formats = formats;
}

/* ingest_metrics_init - register the series of the source named name */
static void ingest_metrics_init(struct ingest_metrics *m, const char *name)
{
    struct metrics *reg = metrics_process();

    m->lines =
        metrics_counter(reg, "popauth_source_lines_total",
                        "Lines read (the sniffer: TCP segments followed).", "source", name, NULL);
    m->logins = metrics_counter(reg, "popauth_source_logins_total", "Successful logins recognised.",
                                "source", name, NULL);
    m->grants = metrics_counter(reg, "popauth_source_grants_total", "Logins that became a grant.",
                                "source", name, NULL);
    m->rejected =
        metrics_counter(reg, "popauth_source_rejected_total",
                        "Login-shaped lines refused by a strictness check.", "source", name, NULL);
    m->errors = metrics_counter(reg, "popauth_source_errors_total",
                                "Lines that could not be parsed (the sniffer: conversations that "
                                "lost track).",
                                "source", name, NULL);
    m->truncated =
        metrics_counter(reg, "popauth_source_truncated_total",
                        "Times a followed file was found truncated.", "source", name, NULL);
}

/* ingest_metrics_add - add one source's counter deltas to its series */
static void ingest_metrics_add(struct ingest_metrics *m, const struct source_counters *c)
{
    metric_add(m->lines, (uint64_t)c->lines);
    metric_add(m->logins, (uint64_t)c->logins);
    metric_add(m->grants, (uint64_t)c->grants);
    metric_add(m->rejected, (uint64_t)c->rejected);
    metric_add(m->errors, (uint64_t)c->errors);
    metric_add(m->truncated, (uint64_t)c->truncated);
}

/* ingest_add_source - register a source so that flush saves its position and counters */
void ingest_add_source(struct ingest *ing, struct source *src)
{
    if (ing->nsources == INGEST_MAX_SOURCES)
        fatal("more than %d log sources", INGEST_MAX_SOURCES);
    src->ingest = ing;
    ingest_metrics_init(&ing->metrics[ing->nsources], src->name);
    ing->sources[ing->nsources++] = src;
}

/* ingest_remove_source - forget a source (before it is freed) */
void ingest_remove_source(struct ingest *ing, struct source *src)
{
    size_t i;

    for (i = 0; i < ing->nsources; i++) {
        if (ing->sources[i] == src) {
            ing->sources[i] = ing->sources[--ing->nsources];
            ing->metrics[i] = ing->metrics[ing->nsources];
            return;
        }
    }
}

/* ingest_hash - slot index for an address (the keyed hash of its bytes, whose length
 * tells the family) */
static size_t ingest_hash(const struct ingest *ing, const struct addr *a)
{
    return (size_t)hash_bytes(ing->seed, a->bytes, a->family == AF_INET ? 4 : 16) &
           (INGEST_SLOTS - 1);
}

/* ingest_full - 1 while the batch is full and could not be committed, or nothing more
 * can be written: take no more lines */
int ingest_full(const struct ingest *ing)
{
    return ing->fill->ngrants >= INGEST_MAX_PENDING || ing->broken;
}

/* ingest_add - put a login in the batch, keeping the newest login per address */
static void ingest_add(struct ingest *ing, const struct login *lg)
{
    struct committer_batch *b = ing->fill;
    size_t i = ingest_hash(ing, &lg->client);
    struct committer_grant *g;

    for (;; i = (i + 1) & (INGEST_SLOTS - 1)) {
        if (ing->slots[i] == 0) {
            if (ingest_full(ing)) /* sources check ingest_full first: never reached */
                fatal("ingest: batch overflow");
            g = &b->grants[b->ngrants++];
            ing->slots[i] = (uint32_t)b->ngrants;
            break;
        }
        g = &b->grants[ing->slots[i] - 1];
        if (addr_compare(&g->client, &lg->client) == 0) {
            if (lg->time < g->time)
                return;
            break;
        }
    }
    g->client = lg->client;
    util_strlcpy(g->user, lg->user, sizeof(g->user));
    g->source = lg->source;
    g->time = lg->time;
}

/* ingest_dirty - 1 if the filling batch or a source has anything to write */
static int ingest_dirty(const struct ingest *ing)
{
    static const struct source_counters zero;
    size_t i;

    if (ing->fill->ngrants > 0)
        return 1;
    for (i = 0; i < ing->nsources; i++)
        if (ing->sources[i]->position_dirty ||
            memcmp(&ing->sources[i]->counters, &zero, sizeof(zero)) != 0)
            return 1;
    return 0;
}

/* ingest_seal - close the filling batch: take each source's position and counter
 * deltas with it, and start an empty one */
static struct committer_batch *ingest_seal(struct ingest *ing)
{
    struct committer_batch *b = ing->fill;
    size_t i;

    b->nsources = 0;
    for (i = 0; i < ing->nsources; i++) {
        struct source *src = ing->sources[i];
        struct committer_source *cs = &b->sources[b->nsources++];
        util_strlcpy(cs->name, src->name, sizeof(cs->name));
        cs->has_position = src->persistent && src->position_dirty;
        cs->position = src->position;
        cs->counters = src->counters;
        ingest_metrics_add(&ing->metrics[i], &src->counters);
        src->position_dirty = 0;
        memset(&src->counters, 0, sizeof(src->counters));
    }
    memset(ing->slots, 0, sizeof(ing->slots));
    ing->fill = b == &ing->batches[0] ? &ing->batches[1] : &ing->batches[0];
    ing->fill->ngrants = 0;
    ing->fill->nsources = 0;
    return b;
}

/* ingest_filter - before each attempt to write b: drop the grants the config now
 * refuses (it may have changed since they were taken) and set the others' expiry */
static void ingest_filter(const struct ingest *ing, struct committer_batch *b)
{
    size_t i, n = 0;

    for (i = 0; i < b->ngrants; i++) {
        struct committer_grant *g = &b->grants[i];
        if (cidr_list_match(ing->cfg->never_grant, &g->client) ||
            cidr_list_match(ing->cfg->local_networks, &g->client))
            continue;
        g->expires = g->time + ing->cfg->grant_lifetime;
        if (n != i)
            b->grants[n] = *g;
        n++;
    }
    b->ngrants = n;
}

/* ingest_failed - remember a failed write: its batch stays in out for a retry; if it
 * took earlier batches of a kept-open transaction with it (lost > 0), nothing more is
 * written, since their positions were not committed either */
static void ingest_failed(struct ingest *ing, const char *why, int lost)
{
    ing->failed = 1;
    ing->broken |= lost;
    ing->open = 0;
    util_strlcpy(ing->failerr, why, sizeof(ing->failerr));
}

/* ingest_done - out was written (and committed, or kept in a transaction left open):
 * out is free again */
static void ingest_done(struct ingest *ing, int kept_open)
{
    ing->failed = 0;
    ing->open = kept_open;
    ing->out = NULL;
    ing->out_grants = 0;
}

/* ingest_collect - take the committer's result for out if it is written (with wait,
 * once it is): 1 written, -1 failed (out is kept), 0 nothing was being written */
static int ingest_collect(struct ingest *ing, int wait)
{
    char err[sizeof(ing->failerr)];
    int rc;

    if (!ing->inflight)
        return 0;
    rc = committer_collect(ing->committer, wait, err, sizeof(err));
    if (rc == 0)
        return 0;
    ing->inflight = 0;
    if (rc < 0) {
        ingest_failed(ing, err, rc == -2);
        return -1;
    }
    ingest_done(ing, ing->out_kept_open);
    return 1;
}

/* ingest_submit - write out: on the committer thread, or here before ingest_start. In
 * bulk mode every batch but the last (ingest_sync) asks to keep its transaction open. */
static void ingest_submit(struct ingest *ing, int last)
{
    char err[sizeof(ing->failerr)];

    ingest_filter(ing, ing->out);
    ing->out_grants = ing->out->ngrants;
    ing->out_kept_open = ing->bulk && !last;
    if (ing->committer != NULL) {
        committer_submit(ing->committer, ing->out, ing->out_kept_open);
        ing->inflight = 1;
    } else if (committer_write(ing->st, ing->out, COMMITTER_BEGIN | COMMITTER_COMMIT, err,
                               sizeof(err)) < 0) {
        ingest_failed(ing, err, 0);
    } else {
        ingest_done(ing, 0);
    }
}

/* ingest_next - seal the filling batch into out if out is free and there is work (or,
 * with force, even if there is none): 1 if out holds a batch to submit */
static int ingest_next(struct ingest *ing, int force)
{
    if (ing->out == NULL && (force || ingest_dirty(ing)))
        ing->out = ingest_seal(ing);
    return ing->out != NULL;
}

/* ingest_flush - collect a finished commit and hand over the next batch (see ingest.h) */
int ingest_flush(struct ingest *ing, char *err, size_t errlen)
{
    if (ing->dry_run) {
        if (ingest_dirty(ing))
            ingest_seal(ing);
        return 0;
    }
    /* Without a thread the loop commits the kept batch and then the new one; with it,
     * it ends as soon as a batch is being written. */
    while (!ing->broken && ingest_collect(ing, 0) >= 0 && !ing->inflight && ingest_next(ing, 0)) {
        ingest_submit(ing, 0);
        if (ing->failed)
            break;
    }
    if (ing->failed)
        return util_seterr(err, errlen, "%s", ing->failerr);
    return 0;
}

/* ingest_sync - wait for the committer and commit everything pending (see ingest.h) */
int ingest_sync(struct ingest *ing, char *err, size_t errlen)
{
    if (ing->dry_run)
        return ingest_flush(ing, err, errlen);
    /* a transaction kept open is committed even if nothing new came since */
    while (!ing->broken && ingest_collect(ing, 1) >= 0 && ingest_next(ing, ing->open)) {
        ingest_submit(ing, 1);
        if (!ing->inflight && ing->failed)
            break;
    }
    if (ing->failed)
        return util_seterr(err, errlen, "%s", ing->failerr);
    return 0;
}

/* ingest_log_login - debug: one line per login and why it granted nothing (refused) */
static void ingest_log_login(const struct source *src, const struct login *lg, const char *refused)
{
    char addr[ADDR_STRLEN], user[STORE_USER_MAX], when[32];
    size_t i;

    util_printable(lg->user, strnlen(lg->user, sizeof(lg->user)), user, sizeof(user));
    for (i = 0; user[i] != '\0'; i++)
        if (user[i] == '"' || user[i] == '\\')
            user[i] = '?';
    log_debug("source=%s action=login client=%s user=\"%s\" time=%s grant=%s%s%s", src->name,
              addr_format(&lg->client, addr, sizeof(addr)), user,
              util_format_time(lg->time, when, sizeof(when)),
              refused != NULL ? "no reason=\"" : "yes", refused != NULL ? refused : "",
              refused != NULL ? "\"" : "");
}

/* ingest_login - count a recognised login at now; 1 if it became a grant in the batch */
/* ingest_take - ingest_login, and ingest_offer if wait is 0: see the header */
static int ingest_take(struct ingest *ing, struct source *src, struct login *lg, int64_t now,
                       int wait)
{
    const char *refused = NULL;
    char err[1024];

    src->counters.logins++;
    if (lg->time > now + INGEST_FUTURE_SLACK || lg->time <= 0)
        lg->time = now; /* a clock or year mix-up must not stretch a grant */
    if (lg->time + ing->cfg->grant_lifetime <= now)
        refused = "older than grant_lifetime";
    else if (cidr_list_match(ing->cfg->local_networks, &lg->client))
        refused = "client in local_networks";
    else if (cidr_list_match(ing->cfg->never_grant, &lg->client))
        refused = "client in never_grant";
    if (log_level_current >= LOG_LEVEL_DEBUG)
        ingest_log_login(src, lg, refused);
    if (refused != NULL)
        return 0;
    src->counters.grants++;
    ingest_add(ing, lg);
    /* A full batch is handed over at once, when the one before it is written; if a
     * commit failed, ingest_full stays true and the sources stop handing over lines
     * (keeping their positions) until a flush succeeds. A long drain also hands over
     * its batch whenever the committer is idle, so that reading and writing overlap. */
    if (ingest_full(ing) && wait) {
        ingest_collect(ing, 1);
        if (ingest_flush(ing, err, sizeof(err)) < 0)
            log_warnx("action=flush status=failed reason=\"%s\"", err);
    } else if (ingest_full(ing)) {
        ingest_flush(ing, err, sizeof(err));
    } else if (ing->committer != NULL && ing->fill->ngrants >= INGEST_EAGER && !ing->failed) {
        ingest_flush(ing, err, sizeof(err));
    }
    return 1;
}

/* ingest_login - a login a source recognised itself; see the header */
int ingest_login(struct ingest *ing, struct source *src, struct login *lg, int64_t now)
{
    return ingest_take(ing, src, lg, now, 1);
}

/* ingest_offer - the same without ever waiting for the store; see the header */
int ingest_offer(struct ingest *ing, struct source *src, struct login *lg, int64_t now)
{
    if (ingest_full(ing))
        return -1;
    return ingest_take(ing, src, lg, now, 0);
}

/* ingest_verdict - act on what a parser said of one line */
static void ingest_verdict(struct ingest *ing, struct source *src, enum formats_verdict v,
                           struct login *lg, int64_t now)
{
    if (v == FORMATS_LOGIN)
        ingest_login(ing, src, lg, now);
    else if (v == FORMATS_REJECTED)
        src->counters.rejected++;
}

/* ingest_logline - process a line already split into time, tag and message (journal),
 * read at now */
void ingest_logline(struct ingest *ing, struct source *src, const struct logline *ll,
                    const char *raw, size_t rawlen, int64_t now)
{
    enum formats_verdict v;
    struct login lg;

    v = formats_parse(ll, ing->formats, &lg);
    if (v == FORMATS_NONE && ing->patterns != NULL)
        v = patterns_match(ing->patterns, raw, rawlen, ll->time, now, &lg);
    ingest_verdict(ing, src, v, &lg, now);
}

/* ingest_line - process one raw log line (no newline) read at now */
void ingest_line(struct ingest *ing, struct source *src, const char *line, size_t len, int64_t now)
{
    enum formats_verdict v = FORMATS_NONE;
    struct logline ll;
    struct login lg;
    int split;

    src->counters.lines++;
    if (len > LOGLINE_MAX) {
        src->counters.errors++;
        return;
    }
    split = logline_parse_cached(line, len, now, &src->stamps, &ll);
    if (split < 0 && memchr(line, '\0', len) != NULL) {
        src->counters.errors++; /* binary junk is never matched, not even by patterns */
        return;
    }
    if (split == 0)
        v = formats_parse(&ll, ing->formats, &lg);
    if (v == FORMATS_NONE && ing->patterns != NULL)
        v = patterns_match(ing->patterns, line, len, split == 0 ? ll.time : 0, now, &lg);
    if (split < 0 && v == FORMATS_NONE)
        src->counters.errors++;
    ingest_verdict(ing, src, v, &lg, now);
}

/* ingest_pending - grants taken and not yet written */
size_t ingest_pending(const struct ingest *ing)
{
    return ing->fill->ngrants + ing->out_grants;
}

/* ingest_free - release the core (pending work is dropped: sync first) */
void ingest_free(struct ingest *ing)
{
    committer_free(ing->committer);
    committer_batch_free(&ing->batches[0]);
    committer_batch_free(&ing->batches[1]);
    free(ing);
}
