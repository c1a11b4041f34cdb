/*
 * accept - the listening side that smtpgate's two fronts (the policy server and the SMTP
 * proxy) share: it watches their listening sockets, accepts waiting connections in
 * bursts and hands each to the front, and pauses accepting for ACCEPT_PAUSE seconds when
 * the process runs out of descriptors or memory (the kernel keeps the connections
 * queued meanwhile). Limits on connections are the front's: it decides in on_accept
 * whether to serve or to refuse the socket it is given, and owns it from then on.
 *
 * Ownership: the listening descriptors stay the caller's; struct acceptor is embedded in
 * the front's own struct and released with accept_free.
 */
#ifndef POPAUTH_ACCEPT_H
#define POPAUTH_ACCEPT_H

#include <stddef.h>
#include <sys/socket.h>

#include <ev.h>

#define ACCEPT_MAX_LISTENERS 16
#define ACCEPT_BURST         64  /* connections accepted per listener event */
#define ACCEPT_PAUSE         1.0 /* seconds accepting pauses when descriptors run out */

struct accept_listener;

struct acceptor {
    struct ev_loop *loop;
    const char *param; /* the parameter the listeners come from, for messages */
    /* on_accept - serve or refuse the accepted, non-blocking socket fd from ss */
    void (*on_accept)(void *ctx, int fd, const struct sockaddr_storage *ss);
    void *ctx;
    struct accept_listener *listeners[ACCEPT_MAX_LISTENERS];
    size_t nlisteners;
    ev_timer pause_w; /* accepting paused after EMFILE and the like */
    int stopped;      /* accept_stop was called: never accept again */
};

/* accept_init - an acceptor on loop handing connections to on_accept(ctx, ...) */
void accept_init(struct acceptor *a, struct ev_loop *loop, const char *param,
                 void (*on_accept)(void *ctx, int fd, const struct sockaddr_storage *ss),
                 void *ctx);
/* accept_add - accept connections on the listening socket fd (name for logs); -1 and err
 * naming the parameter when there are more than ACCEPT_MAX_LISTENERS */
int accept_add(struct acceptor *a, int fd, const char *name, char *err, size_t errlen);
/* accept_stop - stop accepting for good (a draining front) */
void accept_stop(struct acceptor *a);
/* accept_free - stop and release the listener watchers (not their descriptors) */
void accept_free(struct acceptor *a);

#endif
