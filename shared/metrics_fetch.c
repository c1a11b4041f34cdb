/*
 * metrics_fetch - the minimal HTTP client of `popauthctl stats`: one GET /metrics over
 * HTTP/1.0 to a metrics_listen SPEC, bounded in time (one deadline for connecting,
 * sending and reading) and in size (METRICS_FETCH_MAX bytes). The response is split by
 * the pure metrics_http_body (metrics.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/listen.h"
#include "shared/metrics.h"
#include "shared/util.h"

#define METRICS_FETCH_REQUEST                                                                      \
    "GET /metrics HTTP/1.0\r\nHost: localhost\r\nAccept: text/plain\r\n\r\n"

/* metrics_fetch_wait - poll fd for events until deadline; 0 ready, -1 and err if not */
static int metrics_fetch_wait(int fd, short events, double deadline, const char *spec, char *err,
                              size_t errlen)
{
    struct pollfd pfd = {fd, events, 0};

    for (;;) {
        double left = deadline - util_now();
        int rc;

        if (left <= 0)
            return util_seterr(err, errlen, "%s: timed out", spec);
        rc = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (rc > 0)
            return 0;
        if (rc < 0 && errno != EINTR)
            return util_seterr(err, errlen, "%s: poll: %s", spec, strerror(errno));
    }
}

/* metrics_fetch_connect - a connected socket to spec before deadline; -1 and err if not */
static int metrics_fetch_connect(const char *spec, double deadline, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sslen, olen = sizeof(int);
    const char *opts;
    int fd, soerr = 0;

    if (listen_parse("metrics_listen", spec, &ss, &sslen, &opts, err, errlen) < 0)
        return -1;
    if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
        return util_seterr(err, errlen, "%s: socket: %s", spec, strerror(errno));
    if (connect(fd, (struct sockaddr *)&ss, sslen) < 0) {
        if (errno != EINPROGRESS && errno != EAGAIN) {
            util_seterr(err, errlen, "%s: connect: %s", spec, strerror(errno));
            goto fail;
        }
        if (metrics_fetch_wait(fd, POLLOUT, deadline, spec, err, errlen) < 0)
            goto fail;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &olen) < 0 || soerr != 0) {
            util_seterr(err, errlen, "%s: connect: %s", spec, strerror(soerr ? soerr : errno));
            goto fail;
        }
    }
    return fd;
fail:
    close(fd);
    return -1;
}

/* metrics_fetch - GET /metrics from spec within timeout; see metrics.h */
int metrics_fetch(const char *spec, double timeout, char **resp, size_t *len, char *err,
                  size_t errlen)
{
    double deadline = util_now() + timeout;
    const char *req = METRICS_FETCH_REQUEST;
    size_t sent = 0, reqlen = strlen(req), have = 0, cap = 65536;
    char *buf = NULL;
    int fd;

    *resp = NULL;
    *len = 0;
    if ((fd = metrics_fetch_connect(spec, deadline, err, errlen)) < 0)
        return -1;
    while (sent < reqlen) {
        ssize_t n = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);
        if (n > 0) {
            sent += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (metrics_fetch_wait(fd, POLLOUT, deadline, spec, err, errlen) < 0)
                goto fail;
        } else {
            util_seterr(err, errlen, "%s: send: %s", spec, strerror(errno));
            goto fail;
        }
    }
    buf = xmalloc(cap + 1);
    for (;;) {
        ssize_t n;

        if (have == cap) {
            if (cap == METRICS_FETCH_MAX) {
                util_seterr(err, errlen, "%s: response longer than %d bytes", spec,
                            METRICS_FETCH_MAX);
                goto fail;
            }
            cap = cap * 2 < METRICS_FETCH_MAX ? cap * 2 : METRICS_FETCH_MAX;
            buf = xrealloc(buf, cap + 1);
        }
        n = recv(fd, buf + have, cap - have, 0);
        if (n > 0) {
            have += (size_t)n;
        } else if (n == 0) {
            break;
        } else if (errno == EAGAIN || errno == EINTR) {
            if (metrics_fetch_wait(fd, POLLIN, deadline, spec, err, errlen) < 0)
                goto fail;
        } else {
            util_seterr(err, errlen, "%s: recv: %s", spec, strerror(errno));
            goto fail;
        }
    }
    close(fd);
    buf[have] = '\0';
    *resp = buf;
    *len = have;
    return 0;
fail:
    free(buf);
    close(fd);
    return -1;
}
