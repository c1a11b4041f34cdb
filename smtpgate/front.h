/*
 * front - the skeleton every event-loop front of smtpgate shares (the policy server, the
 * SMTP proxy, and any later one): it watches the front's listening sockets and accepts
 * waiting connections in bursts, pausing for FRONT_PAUSE seconds when the process runs
 * out of descriptors or memory (the kernel keeps the connections queued meanwhile); it
 * turns away connections over a limit with a log line at most once a second; it counts
 * the sessions open; and it drains on SIGTERM: stop accepting, wait for the sessions to
 * finish, close what is left at a deadline, then call the caller's done callback once.
 *
 * What a session is and how it is served stays the front's: struct front calls back into
 * it to serve an accepted socket (ops->accept) and to close every session when the drain
 * deadline passes (ops->expire). The front tells struct front when a session starts
 * (front_opened) and ends (front_closed); front_closed is where a drain finishes.
 *
 * Ownership: struct front is embedded in the front's own struct and released with
 * front_free; the listening descriptors stay the caller's; ops, the metrics and ctx must
 * outlive it.
 */
#ifndef POPAUTH_FRONT_H
#define POPAUTH_FRONT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <ev.h>

#include "shared/metrics.h"

/* FRONT_OWNER - the struct of type whose member ptr points to (a watcher's owner) */
#define FRONT_OWNER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

#define FRONT_MAX_LISTENERS 16
#define FRONT_BURST         64  /* connections accepted per listener event */
#define FRONT_PAUSE         1.0 /* seconds accepting pauses when descriptors run out */
#define FRONT_REFUSE_EVERY  1.0 /* seconds between two log lines of refused connections */

/* front_done_fn - called once a draining front has closed its last session */
typedef void (*front_done_fn)(void *ctx);

/* What a front tells struct front about itself; a static const table per front. */
struct front_ops {
    const char *param;    /* the parameter the listeners come from ("policy_listen") */
    const char *unit;     /* what a session is called in the drain-timeout log line */
    double drain_timeout; /* seconds a draining front waits before ops->expire */
    /* accept - serve (front_opened) or refuse (front_refuse) the accepted, non-blocking
     * socket fd from ss; the front owns fd from then on */
    void (*accept)(void *ctx, int fd, const struct sockaddr_storage *ss);
    /* expire - the drain deadline passed: close every session (each calls front_closed) */
    void (*expire)(void *ctx);
};

/* The front's series that struct front keeps up to date; none may be NULL. */
struct front_metrics {
    struct metric *active;  /* gauge: sessions open now */
    struct metric *opened;  /* counter: sessions started */
    struct metric *refused; /* counter: connections turned away over a limit */
};

struct front_listener;

struct front {
    struct ev_loop *loop;
    const struct front_ops *ops;
    void *ctx;
    struct front_metrics m;
    struct front_listener *listeners[FRONT_MAX_LISTENERS];
    size_t nlisteners;
    ev_timer pause_w; /* accepting paused after EMFILE and the like */
    ev_timer drain_w; /* deadline of a draining front */
    size_t live;      /* sessions open now (read it with front_live) */
    int stopped;      /* accepting stopped for good */
    int draining;     /* front_drain was called */
    front_done_fn done;
    void *done_ctx;
    double refuse_logged;  /* when a refused connection was last logged */
    unsigned long refused; /* refused since then */
};

/* front_init - a front on loop: ops and ctx for the callbacks, m the series it keeps */
void front_init(struct front *f, struct ev_loop *loop, const struct front_ops *ops,
                const struct front_metrics *m, void *ctx);
/* front_listen - accept connections on the listening socket fd (name for logs); -1 and
 * err naming ops->param when there are more than FRONT_MAX_LISTENERS */
int front_listen(struct front *f, int fd, const char *name, char *err, size_t errlen);
/* front_opened - a session started on an accepted socket */
void front_opened(struct front *f);
/* front_closed - a session ended; the last one of a draining front stops the deadline and
 * calls done (once). May be called after front_free: then it only counts. */
void front_closed(struct front *f);
/*
 * front_refuse - turn away the accepted socket fd over a limit: send reply first unless it
 * is NULL (without blocking), close fd, count it, and at most once a second log
 * "action=refuse KEY=WHO reason="LIMIT (VALUE) reached" refused=N" (N: since the last line).
 */
void front_refuse(struct front *f, int fd, const char *reply, const char *key, const char *who,
                  const char *limit, long long value);
/*
 * front_drain - stop accepting for good and call done once the last session has closed.
 * With no session open, done is called at once and this returns 0. Otherwise the drain
 * deadline (ops->drain_timeout) starts and this returns 1: the caller then moves each
 * session towards its end. The caller may close the listening descriptors on return.
 */
int front_drain(struct front *f, front_done_fn done, void *ctx);
/* front_live - sessions open now */
size_t front_live(const struct front *f);
/* front_peer - the address of an accepted peer ss for logs: "A:P", "[A6]:P" or "local" */
void front_peer(const struct sockaddr_storage *ss, char *buf, size_t buflen);
/* front_free - stop accepting and the timers, release the listener watchers (not their
 * descriptors); done is never called after this */
void front_free(struct front *f);

#endif
