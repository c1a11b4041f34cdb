/*
 * accept - accepting connections for smtpgate's fronts (see accept.h): one ev_io per
 * listening socket, bursts of accept4 per event, and a timer that resumes accepting
 * after descriptors ran out.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "shared/log.h"
#include "shared/util.h"
#include "smtpgate/accept.h"

#define ACCEPT_OWNER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

struct accept_listener {
    struct acceptor *a;
    ev_io w;
    int fd;
    char name[128];
};

/* accept_watch - start (on) or stop every listener watcher */
static void accept_watch(struct acceptor *a, int on)
{
    size_t i;

    for (i = 0; i < a->nlisteners; i++) {
        if (on)
            ev_io_start(a->loop, &a->listeners[i]->w);
        else
            ev_io_stop(a->loop, &a->listeners[i]->w);
    }
}

/* accept_cb - take the waiting connections of one listener */
static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct accept_listener *l = ACCEPT_OWNER(w, struct accept_listener, w);
    struct acceptor *a = l->a;
    int i;

    (void)loop, (void)revents;
    for (i = 0; i < ACCEPT_BURST && !a->stopped; i++) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        int fd;

        memset(&ss, 0, sizeof(ss));
        fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_warn("action=accept listener=%s pausing=%.0fs", l->name, ACCEPT_PAUSE);
                accept_watch(a, 0);
                ev_timer_set(&a->pause_w, ACCEPT_PAUSE, 0.);
                ev_timer_start(a->loop, &a->pause_w);
                return;
            }
            if (errno != EINTR && errno != ECONNABORTED && errno != EPROTO)
                log_warn("action=accept listener=%s", l->name);
            continue;
        }
        if (sslen == 0)
            ss.ss_family = AF_UNIX;
        a->on_accept(a->ctx, fd, &ss);
    }
}

/* accept_pause_cb - accept again after running out of descriptors */
static void accept_pause_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct acceptor *a = ACCEPT_OWNER(w, struct acceptor, pause_w);

    (void)loop, (void)revents;
    if (!a->stopped)
        accept_watch(a, 1);
}

/* accept_init - an acceptor on loop handing connections to on_accept(ctx, ...) */
void accept_init(struct acceptor *a, struct ev_loop *loop, const char *param,
                 void (*on_accept)(void *ctx, int fd, const struct sockaddr_storage *ss), void *ctx)
{
    memset(a, 0, sizeof(*a));
    a->loop = loop;
    a->param = param;
    a->on_accept = on_accept;
    a->ctx = ctx;
    ev_timer_init(&a->pause_w, accept_pause_cb, ACCEPT_PAUSE, 0.);
}

/* accept_add - accept connections on the listening socket fd (name for logs) */
int accept_add(struct acceptor *a, int fd, const char *name, char *err, size_t errlen)
{
    struct accept_listener *l;

    if (a->nlisteners >= ACCEPT_MAX_LISTENERS)
        return util_seterr(err, errlen, "%s: more than %d entries", a->param, ACCEPT_MAX_LISTENERS);
    l = xcalloc(1, sizeof(*l));
    l->a = a;
    l->fd = fd;
    util_strlcpy(l->name, name, sizeof(l->name));
    ev_io_init(&l->w, accept_cb, fd, EV_READ);
    if (!a->stopped)
        ev_io_start(a->loop, &l->w);
    a->listeners[a->nlisteners++] = l;
    return 0;
}

/* accept_stop - stop accepting for good (a draining front) */
void accept_stop(struct acceptor *a)
{
    a->stopped = 1;
    accept_watch(a, 0);
    ev_timer_stop(a->loop, &a->pause_w);
}

/* accept_free - stop and release the listener watchers (not their descriptors) */
void accept_free(struct acceptor *a)
{
    accept_stop(a);
    while (a->nlisteners > 0)
        free(a->listeners[--a->nlisteners]);
}
