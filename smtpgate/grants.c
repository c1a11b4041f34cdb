/*
 * grants - the read-only, self-healing store handle of smtpgate (see grants.h).
 *
 * For a SQLite store, lookups stat the database file, at most every GRANTS_STAT_EVERY
 * seconds. SQLite validates its
 * page cache against the WAL index, not against the main file, so a reader that kept its
 * handle would go on answering from cached pages after the file was overwritten (with a
 * backup, or with garbage) and from the old inode after it was replaced or deleted. When
 * the file's device, inode, size or modification time changed, the handle is reopened
 * (which fails, and so defers, if the new file is not a good store); when the file is
 * gone, the answer is GRANT_ERROR. A checkpoint by a writer also changes the file and
 * costs one reopen; ordinary commits go to the WAL and do not.
 */
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "db/store.h"
#include "smtpgate/grants.h"
#include "shared/metrics.h"
#include "shared/util.h"

struct grants {
    char *uri;
    const char *path;       /* the SQLite file inside uri; NULL for other backends */
    struct stat seen;       /* the file as it was when the handle was opened */
    struct store *st;       /* NULL until opened, and after a failure */
    double next_open;       /* monotonic time before which no open is tried */
    double next_stat;       /* monotonic time of the next check of the file */
    int snapshot;           /* a read snapshot is open (until grants_release) */
    double snapshot_at;     /* when it began (util_now) */
    int failed;             /* the last open or lookup failed: err holds why */
    char err[512];          /* the store's last message */
    char reply_err[600];    /* what GRANT_ERROR points at */
    struct store_grant row; /* the last grant found */
    struct metric *errors, *retries, *reopens, *waiting; /* the loop's thread writes them */
};

/* grants_path - the SQLite file named by uri ("sqlite:PATH" or PATH), or NULL */
static const char *grants_path(const char *uri)
{
    size_t scheme = strspn(uri, "abcdefghijklmnopqrstuvwxyz0123456789+.-");

    if (strncmp(uri, "sqlite:", 7) == 0)
        return uri + 7;
    if (scheme > 0 && uri[scheme] == ':')
        return NULL;
    return uri;
}

/* grants_new - a lazily opened read-only view of the store at uri */
struct grants *grants_new(const char *uri)
{
    struct grants *g = xcalloc(1, sizeof(*g));

    g->uri = xstrdup(uri);
    g->path = grants_path(g->uri);
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
    g->uri = xstrdup(uri);
    g->path = grants_path(g->uri);
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

/* grants_changed - 1 if the database file is not the one opened, 0 if it is, -1 if gone */
static int grants_changed(struct grants *g, struct stat *now)
{
    if (g->path == NULL)
        return 0;
    if (stat(g->path, now) < 0) {
        util_seterr(g->err, sizeof(g->err), "database %s: %s", g->path, strerror(errno));
        return -1;
    }
    return now->st_dev != g->seen.st_dev || now->st_ino != g->seen.st_ino ||
           now->st_size != g->seen.st_size || now->st_mtim.tv_sec != g->seen.st_mtim.tv_sec ||
           now->st_mtim.tv_nsec != g->seen.st_mtim.tv_nsec;
}

/* grants_open - open the store and note which file it is; -1 and g->err on failure */
static int grants_open(struct grants *g)
{
    struct stat before;

    if (g->path != NULL && stat(g->path, &before) < 0) {
        util_seterr(g->err, sizeof(g->err), "database %s: %s", g->path, strerror(errno));
        return -1;
    }
    if ((g->st = store_open(g->uri, STORE_READONLY, g->err, sizeof(g->err))) == NULL)
        return -1;
    if (g->path != NULL)
        g->seen = before; /* a change during the open shows at the next lookup */
    return 0;
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
    } else if (g->path != NULL && util_now() >= g->next_stat) {
        struct stat sb;
        int changed = grants_changed(g, &sb);

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
