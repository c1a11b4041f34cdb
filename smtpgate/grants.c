/*
 * grants - the read-only, self-healing store handle of smtpgate (see grants.h).
 *
 * The URI is parsed once, when it is set. At most every GRANTS_STAT_EVERY seconds a lookup
 * asks the store whether the handle went stale (store_stale: for SQLite, the database
 * file was replaced or rewritten); if so the handle is reopened (which fails, and so
 * defers, if the new store is not a good one); if the store is gone, the answer is
 * GRANT_ERROR.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/store.h"
#include "smtpgate/grants.h"
#include "shared/metrics.h"
#include "shared/util.h"

struct grants {
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

/* grants_parse - take uri (copied) and parse it once for every later open */
static void grants_parse(struct grants *g, const char *uri)
{
    g->uri = xstrdup(uri);
    g->parsed = store_uri_parse(g->uri, &g->where, g->uri_err, sizeof(g->uri_err)) == 0;
}

/* grants_new - a lazily opened read-only view of the store at uri */
struct grants *grants_new(const char *uri)
{
    struct grants *g = xcalloc(1, sizeof(*g));

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

/* grants_free - close the store and release g; NULL is allowed */
void grants_free(struct grants *g)
{
    if (g == NULL)
        return;
    grants_close(g);
    free(g->uri);
    free(g);
}

/* grants_set_uri - use uri from the next lookup on (reopens only if it changed) */
void grants_set_uri(struct grants *g, const char *uri)
{
    if (strcmp(g->uri, uri) == 0)
        return;
    grants_close(g);
    free(g->uri);
    grants_parse(g, uri);
    g->failed = 0;
    g->next_open = 0;
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
void grants_lookup(struct grants *g, const struct addr *client, int64_t now,
                   struct decision_grant *out)
{
    char address[ADDR_STRLEN];
    int rc;

    memset(out, 0, sizeof(*out));
    if (g->st == NULL) {
        if (g->failed && util_now() < g->next_open) {
            snprintf(g->reply_err, sizeof(g->reply_err), "%s (next retry in under %.0fs)", g->err,
                     GRANTS_RETRY);
            out->state = GRANT_ERROR;
            out->error = g->reply_err;
            metric_inc(g->waiting);
            return;
        }
        if (g->failed)
            metric_inc(g->retries);
        if (grants_open(g) < 0) {
            grants_error(g, out);
            return;
        }
        g->failed = 0;
    } else if (util_now() >= g->next_stat) {
        int changed = store_stale(g->st, g->err, sizeof(g->err));

        g->next_stat = util_now() + GRANTS_STAT_EVERY;
        if (changed < 0) {
            grants_error(g, out);
            return;
        }
        if (changed) {
            metric_inc(g->reopens);
            grants_close(g);
            if (grants_open(g) < 0) {
                grants_error(g, out);
                return;
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
        return;
    }
    if (rc == 0) {
        out->state = GRANT_NONE;
        return;
    }
    out->state = GRANT_ACTIVE;
    out->user = g->row.user;
    out->expires = g->row.expires;
}
