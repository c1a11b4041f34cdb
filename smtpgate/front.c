/*
 * front - the shared skeleton of smtpgate's fronts (see front.h): one ev_io per listening
 * socket with bursts of accept4 per event, a timer that resumes accepting after
 * descriptors ran out, the count of open sessions, the rate-limited refusal line, and the
 * drain with its deadline and done callback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/util.h"
#include "smtpgate/front.h"

struct front_listener {
    struct front *f;
    ev_io w;
    int fd;
    char name[128];
};

/* front_watch - start (on) or stop every listener watcher */
static void front_watch(struct front *f, int on)
{
    size_t i;

    for (i = 0; i < f->nlisteners; i++) {
        if (on)
            ev_io_start(f->loop, &f->listeners[i]->w);
        else
            ev_io_stop(f->loop, &f->listeners[i]->w);
    }
}

/* front_accept_cb - take the waiting connections of one listener */
static void front_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct front_listener *l = FRONT_OWNER(w, struct front_listener, w);
    struct front *f = l->f;
    int i;

    (void)loop, (void)revents;
    for (i = 0; i < FRONT_BURST && !f->stopped; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int fd;

        memset(&ss, 0, sizeof(ss));
        fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("action=accept listener=%s pausing=%.0fs", l->name, FRONT_PAUSE);
                front_watch(f, 0);
                ev_timer_set(&f->pause_w, FRONT_PAUSE, 0.);
                ev_timer_start(f->loop, &f->pause_w);
                return;
            }
            if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
                log_warn("action=accept listener=%s", l->name);
            continue;
        }
        if (sslen == 0)
            ss.ss_family = AF_UNIX;
        f->ops->accept(f->ctx, fd, &ss);
    }
}

/* front_pause_cb - accept again after running out of descriptors */
static void front_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct front *f = FRONT_OWNER(w, struct front, pause_w);

    (void)loop, (void)revents;
    if (!f->stopped)
        front_watch(f, 1);
}

/* front_drain_cb - the drain deadline passed: the front closes what is left */
static void front_drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct front *f = FRONT_OWNER(w, struct front, drain_w);

    (void)loop, (void)revents;
    log_warnx("action=stop reason=\"drain timeout\" %s=%zu", f->ops->unit, f->live);
    f->ops->expire(f->ctx);
}

/* front_init - a front on loop: ops and ctx for the callbacks, m the series it keeps */
void front_init(struct front *f, struct ev_loop *loop, const struct front_ops *ops,
                const struct front_metrics *m, void *ctx)
{
    memset(f, 0, sizeof(*f));
    f->loop = loop;
    f->ops = ops;
    f->ctx = ctx;
    f->m = *m;
    f->refuse_logged = -1e9;
    ev_timer_init(&f->pause_w, front_pause_cb, FRONT_PAUSE, 0.);
    ev_timer_init(&f->drain_w, front_drain_cb, ops->drain_timeout, 0.);
}

/* front_listen - accept connections on the listening socket fd (name for logs) */
int front_listen(struct front *f, int fd, const char *name, char *err, size_t errlen)
{
    struct front_listener *l;

    if (f->nlisteners >= FRONT_MAX_LISTENERS)
        return util_seterr(err, errlen, "%s: more than %d entries", f->ops->param,
                           FRONT_MAX_LISTENERS);
    l = xcalloc(1, sizeof(*l));
    l->f = f;
    l->fd = fd;
    util_strlcpy(l->name, name, sizeof(l->name));
    ev_io_init(&l->w, front_accept_cb, fd, EV_READ);
    if (!f->stopped)
        ev_io_start(f->loop, &l->w);
    f->listeners[f->nlisteners++] = l;
    return 0;
}

/* front_opened - a session started on an accepted socket */
void front_opened(struct front *f)
{
    f->live++;
    metric_gauge_add(f->m.active, 1);
    metric_inc(f->m.opened);
}

/* front_closed - a session ended; a draining front may now be done */
void front_closed(struct front *f)
{
    front_done_fn done = f->done;

    f->live--;
    metric_gauge_add(f->m.active, -1);
    if (f->live > 0 || !f->draining || done == NULL)
        return;
    ev_timer_stop(f->loop, &f->drain_w);
    f->done = NULL;
    done(f->done_ctx);
}

/* front_refuse - turn away fd over a limit; log at most once a second */
void front_refuse(struct front *f, int fd, const char *reply, const char *key, const char *who,
                  const char *limit, long long value)
{
    double now = ev_now(f->loop);

    if (reply != NULL)
        (void)send(fd, reply, strlen(reply), MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    f->refused++;
    metric_inc(f->m.refused);
    if (now - f->refuse_logged < FRONT_REFUSE_EVERY)
        return;
    log_warnx("action=refuse %s=%s reason=\"%s (%lld) reached\" refused=%lu", key, who, limit,
              value, f->refused);
    f->refused = 0;
    f->refuse_logged = now;
}

/* front_stop - stop accepting for good */
static void front_stop(struct front *f)
{
    f->stopped = 1;
    front_watch(f, 0);
    ev_timer_stop(f->loop, &f->pause_w);
}

/* front_drain - stop accepting; done once the last session closed; see front.h */
int front_drain(struct front *f, front_done_fn done, void *ctx)
{
    front_stop(f);
    f->draining = 1;
    if (f->live == 0) {
        f->done = NULL;
        if (done != NULL)
            done(ctx);
        return 0;
    }
    f->done = done;
    f->done_ctx = ctx;
    ev_timer_start(f->loop, &f->drain_w);
    return 1;
}

/* front_live - sessions open now */
size_t front_live(const struct front *f)
{
    return f->live;
}

/* front_free - stop accepting and the timers, release the listener watchers */
void front_free(struct front *f)
{
    front_stop(f);
    f->done = NULL;
    ev_timer_stop(f->loop, &f->drain_w);
    while (f->nlisteners > 0)
        free(f->listeners[--f->nlisteners]);
}

/* front_peer - the address of an accepted peer for logs: "A:P", "[A6]:P" or "local" */
void front_peer(const struct sockaddr_storage *ss, char *buf, size_t buflen)
{
    char host[ADDR_STRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, buflen, "%s:%u", host, ntohs(sin->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, buflen, "[%s]:%u", host, ntohs(sin6->sin6_port));
    } else {
        util_strlcpy(buf, "local", buflen);
    }
}
