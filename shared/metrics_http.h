/*
 * metrics_http - the /metrics endpoint of a daemon, served by libmicrohttpd on a thread of
 * its own, so that a scrape never waits for the daemon's event loop nor the loop for a
 * scrape. A maintained HTTP server parses the requests: no hand-written HTTP parser
 * faces the network.
 *
 * The listening socket is the daemon's metrics_listen entry (PROGRAM=SPEC, see
 * metrics.h), opened with listen_open by metrics_http_open at start-up, before privileges
 * are dropped, so both inet: and unix: entries (with mode, owner, group) work; the
 * server gets a duplicate of it and the caller keeps and closes its own.
 *
 * Only GET and HEAD of /metrics answer 200, "text/plain; version=0.0.4"; another path is
 * 404, another method 405, a request with a body 413. Nothing of the request reaches a
 * response. Bounds: METRICS_HTTP_CONNECTIONS connections at once
 * (METRICS_HTTP_PER_IP per client address), METRICS_HTTP_MEMORY bytes per connection
 * for the request (a larger request header is refused), METRICS_HTTP_TIMEOUT seconds of
 * idleness. The thread never logs.
 */
#ifndef POPAUTH_METRICS_HTTP_H
#define POPAUTH_METRICS_HTTP_H

#include <stddef.h>

#include "shared/config.h"
#include "shared/listen.h"
#include "shared/metrics.h"

#define METRICS_HTTP_CONNECTIONS 16
#define METRICS_HTTP_PER_IP      8
#define METRICS_HTTP_MEMORY      8192
#define METRICS_HTTP_TIMEOUT     10

struct metrics_http; /* opaque */

/* metrics_http_refresh_fn - called on the HTTP thread before each page is rendered, to
 * update the series that thread writes (popauth: the active grants) */
typedef void (*metrics_http_refresh_fn)(void *ctx);

/*
 * metrics_http_open - open prog's metrics_listen socket into *ls: 1 if opened, 0 if prog
 * has no entry (ls->fd is -1), -1 and err if the entry is bad or cannot be opened
 */
int metrics_http_open(const struct strlist *list, const char *prog, struct listen_socket *ls,
                      char *err, size_t errlen);
/*
 * metrics_http_start - serve m on the listening socket fd (a duplicate is taken); refresh,
 * if not NULL, runs before each render with ctx. NULL and err if the server cannot start.
 */
struct metrics_http *metrics_http_start(struct metrics *m, int fd, metrics_http_refresh_fn refresh,
                                        void *ctx, char *err, size_t errlen);
/* metrics_http_stop - stop the server and its thread; NULL is allowed */
void metrics_http_stop(struct metrics_http *h);

#endif
