/*
 * metrics_store - the store's gauges, read at scrape time on the HTTP thread (see
 * metrics_store.h). Only that thread touches the handle and writes these series.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "db/store.h"
#include "shared/metrics_store.h"
#include "shared/util.h"

struct metrics_store {
    char *uri;
    struct store *st; /* NULL until opened, and after a failure */
    struct metric *active, *expired, *bytes, *errors;
};

/* metrics_store_new - series of prog in m for the store at uri */
struct metrics_store *metrics_store_new(struct metrics *m, const char *prog, const char *uri)
{
    struct metrics_store *ms = xcalloc(1, sizeof(*ms));
    char name[METRICS_NAME_MAX];

    ms->uri = xstrdup(uri);
    snprintf(name, sizeof(name), "%s_grants_active", prog);
    ms->active = metrics_gauge(m, name, "Grants in the store that have not expired.", NULL);
    snprintf(name, sizeof(name), "%s_grants_expired", prog);
    ms->expired = metrics_gauge(m, name, "Expired rows in the store, not yet purged.", NULL);
    snprintf(name, sizeof(name), "%s_store_bytes", prog);
    ms->bytes = metrics_gauge(m, name, "Size of the store.", NULL);
    snprintf(name, sizeof(name), "%s_store_read_errors_total", prog);
    ms->errors = metrics_counter(
        m, name, "Scrapes that could not read the store's counts (the gauges kept their values).",
        NULL);
    return ms;
}

/* metrics_store_refresh - read the store's counts into the gauges */
void metrics_store_refresh(void *ctx)
{
    struct metrics_store *ms = ctx;
    struct store_stats s;
    char err[512];

    if (ms->st == NULL &&
        (ms->st = store_open(ms->uri, STORE_READONLY, err, sizeof(err))) == NULL) {
        metric_inc(ms->errors);
        return;
    }
    if (store_stats(ms->st, (int64_t)time(NULL), &s, err, sizeof(err)) < 0) {
        store_close(ms->st);
        ms->st = NULL;
        metric_inc(ms->errors);
        return;
    }
    metric_set(ms->active, s.active);
    metric_set(ms->expired, s.expired);
    metric_set(ms->bytes, s.database_bytes);
}

/* metrics_store_free - close the handle and release ms; NULL is allowed */
void metrics_store_free(struct metrics_store *ms)
{
    if (ms == NULL)
        return;
    store_close(ms->st);
    free(ms->uri);
    free(ms);
}
