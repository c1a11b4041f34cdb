/*
 * metrics_store - the series read from the grant store at scrape time (active grants,
 * expired rows not yet purged, the store's size), on the HTTP thread with a read-only
 * handle of its own, so a scrape never waits for the daemon's loop or its committer. The
 * handle is opened at the first scrape and after a failure, which leaves the gauges as
 * they were and is counted. SQLite's busy timeout for readers bounds a scrape while a
 * writer holds the store (in WAL mode readers do not wait for writers).
 */
#ifndef POPAUTH_METRICS_STORE_H
#define POPAUTH_METRICS_STORE_H

#include "shared/metrics.h"

struct metrics_store; /* opaque */

/* metrics_store_new - series of prog ("popauth") in m for the store at uri (copied) */
struct metrics_store *metrics_store_new(struct metrics *m, const char *prog, const char *uri);
/* metrics_store_refresh - a metrics_http_refresh_fn: read the store, set the gauges */
void metrics_store_refresh(void *ctx);
/* metrics_store_free - close the handle and release ms (after the server stopped) */
void metrics_store_free(struct metrics_store *ms);

#endif
