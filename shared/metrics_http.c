/*
 * metrics_http - the /metrics endpoint on libmicrohttpd's own polling thread (see
 * metrics_http.h). The access handler answers on its first call for a request, from
 * fixed texts or the rendered registry; it never reads a request body.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <microhttpd.h>

#include "shared/metrics_http.h"
#include "shared/thread.h"
#include "shared/util.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define METRICS_HTTP_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct metrics_http {
    struct MHD_Daemon *daemon;
    struct metrics *m;
    metrics_http_refresh_fn refresh;
    void *ctx;
    size_t hint; /* the last page's size: the next buffer starts there (HTTP thread) */
};

static const char metrics_http_404[] = "not found: only /metrics is served\n";
static const char metrics_http_405[] = "method not allowed: GET or HEAD\n";
static const char metrics_http_413[] = "a request body is not accepted\n";
static const char metrics_http_500[] = "the metrics do not fit in a page\n";

/* metrics_http_open - open prog's metrics_listen socket, if it has one */
int metrics_http_open(const struct strlist *list, const char *prog, struct listen_socket *ls,
                      char *err, size_t errlen)
{
    const char *spec;

    memset(ls, 0, sizeof(*ls));
    ls->fd = -1;
    if (metrics_listen_spec(list, prog, &spec, err, errlen) < 0)
        return -1;
    if (spec == NULL)
        return 0;
    return listen_open("metrics_listen", spec, ls, err, errlen) < 0 ? -1 : 1;
}

/* metrics_http_fixed - queue one of the fixed answers */
static MHD_RESULT metrics_http_fixed(struct MHD_Connection *conn, unsigned status, const char *text)
{
    union {
        const char *c;
        void *v;
    } body = {text}; /* PERSISTENT: the library never writes to it */
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), body.v, MHD_RESPMEM_PERSISTENT);
    MHD_RESULT rc;

    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* metrics_http_page - render the registry into a new buffer; NULL if it exceeds
 * METRICS_RENDER_MAX */
static char *metrics_http_page(struct metrics_http *h, size_t *len)
{
    size_t cap = h->hint + 4096, need;
    char *buf = xmalloc(cap);
    int tries;

    for (tries = 0; tries < 4; tries++) {
        need = metrics_render(h->m, buf, cap);
        if (need < cap) {
            h->hint = need;
            *len = need;
            return buf;
        }
        if (need >= METRICS_RENDER_MAX)
            break;
        cap = need + 4096; /* series may be registered meanwhile */
        buf = xrealloc(buf, cap);
    }
    free(buf);
    return NULL;
}

/* metrics_http_answer - the access handler: answer each request on its first call */
static MHD_RESULT metrics_http_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **con_cls)
{
    struct metrics_http *h = cls;
    struct MHD_Response *r;
    const char *clen, *te;
    MHD_RESULT rc;
    size_t len;
    char *page;

    (void)version, (void)upload_data, (void)con_cls;
    if (*upload_data_size != 0)
        return MHD_NO; /* never reached: every request is answered before its body */
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return metrics_http_fixed(conn, MHD_HTTP_METHOD_NOT_ALLOWED, metrics_http_405);
    clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (te != NULL || (clen != NULL && strcmp(clen, "0") != 0))
        return metrics_http_fixed(conn, MHD_HTTP_CONTENT_TOO_LARGE, metrics_http_413);
    if (strcmp(url, "/metrics") != 0)
        return metrics_http_fixed(conn, MHD_HTTP_NOT_FOUND, metrics_http_404);
    if (h->refresh != NULL)
        h->refresh(h->ctx);
    if ((page = metrics_http_page(h, &len)) == NULL)
        return metrics_http_fixed(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, metrics_http_500);
    r = MHD_create_response_from_buffer(len, page, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(page);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_HTTP_TYPE);
    rc = MHD_queue_response(conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return rc;
}

/* metrics_http_start - serve m on a duplicate of the listening socket fd */
struct metrics_http *metrics_http_start(struct metrics *m, int fd, metrics_http_refresh_fn refresh,
                                        void *ctx, char *err, size_t errlen)
{
    struct metrics_http *h = xcalloc(1, sizeof(*h));
    sigset_t old;
    int dupfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);

    if (dupfd < 0) {
        util_seterr(err, errlen, "metrics_listen: dup: %s", strerror(errno));
        free(h);
        return NULL;
    }
    h->m = m;
    h->refresh = refresh;
    h->ctx = ctx;
    thread_signals_block(&old); /* the server's thread inherits it: signals go to the loop */
    h->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, NULL, NULL, metrics_http_answer, h,
        MHD_OPTION_LISTEN_SOCKET, (MHD_socket)dupfd, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)METRICS_HTTP_CONNECTIONS, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned)METRICS_HTTP_PER_IP, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)METRICS_HTTP_MEMORY, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_TIMEOUT,
        MHD_OPTION_END);
    thread_signals_restore(&old);
    if (h->daemon == NULL) {
        /* dupfd is not closed here: whether the server did is not known */
        util_seterr(err, errlen, "metrics_listen: the HTTP server did not start");
        free(h);
        return NULL;
    }
    return h;
}

/* metrics_http_stop - stop the server and its thread (it closes its duplicate socket) */
void metrics_http_stop(struct metrics_http *h)
{
    if (h == NULL)
        return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
