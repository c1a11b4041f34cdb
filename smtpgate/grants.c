/*
 * grants - the read-only, self-healing store handle of smtpgate (see grants.h).
 *
 * The URI is parsed once, when it is set. At most every GRANTS_STAT_EVERY seconds a lookup
 * asks the store whether the handle went stale (store_stale: for SQLite, the database
 * file was replaced or rewritten); if so the handle is reopened (which fails, and so
 * defers, if the new store is not a good one); if the store is gone, the answer is
 * GRANT_ERROR. On a handle with a loop, a Redis store is read through a redis_reader
 * instead, made when the URI is set (it connects at once); the lookups waiting on it are
 * kept in a list, so that a changed URI can answer them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store.h"
#include "smtpgate/grants.h"
#include "shared/metrics.h"
#include "shared/util.h"

struct grants {
    struct ev_loop *loop;        /* NULL: every lookup blocks */
    struct redis_reader *reader; /* a Redis store read without blocking the loop */
    struct grants_wait *waits;   /* lookups waiting on reader */
    char *uri;
    struct store_uri where; /* uri parsed, if parsed is set */
    int parsed;             /* else uri_err says why it names no store */
    char uri_err[512];
    struct store *st;       /* NULL until opened, and after a failure */
    double next_open;       /* monotonic time before which no open is tried */
    double next_stat;       /* monotonic time of the next store_stale */
    int snapshot;           /* a read snapshot is open (until grants_release) */
    double snapshot_at;     /* when it began (util_now) */
    int failed;             /* the last open or lookup failed: err holds why */
    char err[512];          /* the store's last message */
    char reply_err[600];    /* what GRANT_ERROR points at */
    struct store_grant row; /* the last grant found */
    struct metric *errors, *retries, *reopens, *waiting; /* the loop's thread writes them */
};

/* grants_parse - take uri (copied) and parse it once for every later open; on a handle
 * with a loop, a Redis store gets its reader (connecting at once) */
static void grants_parse(struct grants *g, const char *uri)
{
    const char *scheme;

    g->uri = xstrdup(uri);
    g->parsed = store_uri_parse(g->uri, &g->where, g->uri_err, sizeof(g->uri_err)) == 0;
    if (!g->parsed || g->loop == NULL)
        return;
    scheme = store_uri_scheme(&g->where);
    if (strcmp(scheme, "redis") != 0 && strcmp(scheme, "redis-sentinel") != 0)
        return;
    g->reader = redis_reader_new(g->loop, g->where.location, strcmp(scheme, "redis") != 0,
                                 g->uri_err, sizeof(g->uri_err));
    g->parsed = g->reader != NULL;
}

/* grants_new - a lazily opened read-only view of the store at uri (see grants.h) */
struct grants *grants_new(struct ev_loop *loop, const char *uri)
{
    struct grants *g = xcalloc(1, sizeof(*g));

    g->loop = loop;
    grants_parse(g, uri);
    g->errors =
        metrics_counter(metrics_process(), "smtpgate_store_errors_total",
                        "Store opens and lookups that failed (the decision deferred).", NULL);
    g->retries = metrics_counter(metrics_process(), "smtpgate_store_retries_total",
                                 "Attempts to open the store again after a failure.", NULL);
    g->reopens = metrics_counter(metrics_process(), "smtpgate_store_reopens_total",
                                 "Store reopened because its database file changed.", NULL);
    g->waiting =
        metrics_counter(metrics_process(), "smtpgate_store_unavailable_total",
                        "Lookups deferred at once while waiting to retry the store.", NULL);
    return g;
}

/* grants_close - drop the handle (the next lookup may reopen it) */
static void grants_close(struct grants *g)
{
    store_close(g->st); /* closing ends a snapshot too */
    g->st = NULL;
    g->snapshot = 0;
}

/* grants_release - end the read snapshot that lookups share within one loop iteration */
void grants_release(struct grants *g)
{
    char err[256];

    if (g->snapshot && g->st != NULL && store_read_end(g->st, err, sizeof(err)) < 0)
        grants_close(g); /* reopened, and so recovered, by the next lookup */
    g->snapshot = 0;
}

/* grants_release_due - end the read snapshot once it is GRANTS_SNAPSHOT_MAX old; else the
 * seconds until then (0: none open) */
double grants_release_due(struct grants *g)
{
    double age;

    if (!g->snapshot)
        return 0;
    age = util_now() - g->snapshot_at;
    if (age < GRANTS_SNAPSHOT_MAX && age >= 0)
        return GRANTS_SNAPSHOT_MAX - age;
    grants_release(g);
    return 0;
}

/* grants_unlink - w no longer waits */
static void grants_unlink(struct grants *g, struct grants_wait *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        g->waits = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->waiting = 0;
}

/* grants_free - close the store and release g; NULL is allowed */
void grants_free(struct grants *g)
{
    if (g == NULL)
        return;
    grants_close(g);
    redis_reader_free(g->reader);
    free(g->uri);
    free(g);
}

/* grants_set_uri - use uri from the next lookup on (reopens only if it changed); the
 * lookups waiting on the old store are answered GRANT_ERROR */
void grants_set_uri(struct grants *g, const char *uri)
{
    struct grants_wait *w = g->waits, *next;
    struct decision_grant out = {GRANT_ERROR, NULL, 0, "the database setting changed"};

    if (strcmp(g->uri, uri) == 0)
        return;
    grants_close(g);
    redis_reader_free(g->reader); /* forgets its waits: answered below */
    g->reader = NULL;
    g->waits = NULL;
    free(g->uri);
    grants_parse(g, uri);
    g->failed = 0;
    g->next_open = 0;
    for (; w != NULL; w = next) {
        next = w->next;
        w->prev = w->next = NULL;
        w->waiting = 0;
        metric_inc(g->errors);
        w->done(w->ctx, &out);
    }
}

/* grants_cancel - take back w if it waits: done is never called for it */
void grants_cancel(struct grants *g, struct grants_wait *w)
{
    if (!w->waiting)
        return;
    redis_reader_cancel(g->reader, &w->rw);
    grants_unlink(g, w);
}

/* grants_answer - the reader's answer to the lookup of w: to its caller */
static void grants_answer(void *ctx, int rc, const struct store_grant *sg, const char *err)
{
    struct grants_wait *w = ctx;
    struct grants *g = w->g;
    struct decision_grant out;

    grants_unlink(g, w);
    memset(&out, 0, sizeof(out));
    if (rc < 0) {
        metric_inc(g->errors);
        snprintf(g->reply_err, sizeof(g->reply_err), "%s", err);
        out.state = GRANT_ERROR;
        out.error = g->reply_err;
    } else if (rc == 0) {
        out.state = GRANT_NONE;
    } else {
        g->row = *sg;
        out.state = GRANT_ACTIVE;
        out.user = g->row.user;
        out.expires = g->row.expires;
    }
    w->done(w->ctx, &out);
}

/* grants_ask_reader - send the lookup of address to the reader: 1 if w waits for it, 0
 * if *out says why not */
static int grants_ask_reader(struct grants *g, const char *address, int64_t now,
                             struct decision_grant *out, struct grants_wait *w, grants_done_fn done,
                             void *ctx)
{
    out->state = GRANT_ERROR;
    out->error = g->reply_err;
    if (w == NULL) {
        metric_inc(g->errors);
        util_strlcpy(g->reply_err, "a lookup in Redis must wait", sizeof(g->reply_err));
        return 0;
    }
    if (redis_reader_lookup(g->reader, &w->rw, address, now, grants_answer, w, g->reply_err,
                            sizeof(g->reply_err)) < 0) {
        metric_inc(g->waiting);
        return 0;
    }
    w->g = g, w->done = done, w->ctx = ctx, w->waiting = 1;
    w->prev = NULL;
    w->next = g->waits;
    if (g->waits != NULL)
        g->waits->prev = w;
    g->waits = w;
    return 1;
}

/* grants_error - record a failure: close, hold off reopening, answer GRANT_ERROR */
static void grants_error(struct grants *g, struct decision_grant *out)
{
    grants_close(g);
    metric_inc(g->errors);
    g->failed = 1;
    g->next_open = util_now() + GRANTS_RETRY; /* after the failure, which may have waited */
    snprintf(g->reply_err, sizeof(g->reply_err), "%s", g->err);
    out->state = GRANT_ERROR;
    out->error = g->reply_err;
}

/* grants_open - open the store read-only; -1 and g->err on failure */
static int grants_open(struct grants *g)
{
    if (!g->parsed)
        return util_seterr(g->err, sizeof(g->err), "%s", g->uri_err);
    g->st = store_uri_open(&g->where, STORE_READONLY, g->err, sizeof(g->err));
    return g->st == NULL ? -1 : 0;
}

/* grants_lookup - what the store says about client at unix time now; see grants.h */
int grants_lookup(struct grants *g, const struct addr *client, int64_t now,
                  struct decision_grant *out, struct grants_wait *w, grants_done_fn done, void *ctx)
{
    char address[ADDR_STRLEN];
    int rc;

    memset(out, 0, sizeof(*out));
    if (g->reader != NULL)
        return grants_ask_reader(g, addr_format(client, address, sizeof(address)), now, out, w,
                                 done, ctx);
    if (g->st == NULL) {
        if (g->failed && util_now() < g->next_open) {
            snprintf(g->reply_err, sizeof(g->reply_err), "%s (next retry in under %.0fs)", g->err,
                     GRANTS_RETRY);
            out->state = GRANT_ERROR;
            out->error = g->reply_err;
            metric_inc(g->waiting);
            return 0;
        }
        if (g->failed)
            metric_inc(g->retries);
        if (grants_open(g) < 0) {
            grants_error(g, out);
            return 0;
        }
        g->failed = 0;
    } else if (util_now() >= g->next_stat) {
        int changed = store_stale(g->st, g->err, sizeof(g->err));

        g->next_stat = util_now() + GRANTS_STAT_EVERY;
        if (changed < 0) {
            grants_error(g, out);
            return 0;
        }
        if (changed) {
            metric_inc(g->reopens);
            grants_close(g);
            if (grants_open(g) < 0) {
                grants_error(g, out);
                return 0;
            }
        }
    }
    if (!g->snapshot) { /* one read lock for the lookups of GRANTS_SNAPSHOT_MAX */
        g->snapshot = store_read_begin(g->st, g->err, sizeof(g->err)) == 0;
        g->snapshot_at = util_now();
    }
    addr_format(client, address, sizeof(address));
    rc = store_lookup(g->st, address, now, &g->row, g->err, sizeof(g->err));
    if (rc < 0) {
        grants_error(g, out);
        return 0;
    }
    if (rc == 0) {
        out->state = GRANT_NONE;
        return 0;
    }
    out->state = GRANT_ACTIVE;
    out->user = g->row.user;
    out->expires = g->row.expires;
    return 0;
}
