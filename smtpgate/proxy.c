/*
 * proxy - the SMTP proxy's event-loop shell (see proxy.h for what it does and its limits).
 * The SMTP session itself is smtpgate/session.c's, a pure state machine; the parsing is
 * smtpgate/smtp.c's; accepting, refusing and draining are smtpgate/front.c's; the relay
 * decision and its log line are smtpgate/gate.c's. This file owns the sockets,
 * the buffers, the watchers and the timers: it hands every event to the session core and
 * carries out what the core asks for (text for the client, bytes for the backend, a
 * relay decision for a recipient, the end of the session).
 *
 * One struct proxy_session per client holds both sides (client and backend), each with
 * its read and write watchers and its input and output buffers, one timer, and the
 * session core. There is no separate wait for the backend's connection: a failed connect
 * shows as an error on the first read (or on writing the PROXY header), and its greeting
 * is the first sign that it succeeded.
 *
 * Every event (read, write, timer) ends in proxy_service, which moves what can move
 * (backend replies to the client; client commands and message bytes to the backend),
 * writes each side at most once, then sets the watchers and the timer from the core's
 * state: a side is read only while what it sends has somewhere to go (backpressure) and
 * written only while output waits. Only proxy_service frees a session (SESSION_DEAD), so
 * no code runs on a freed session. Buffers are taken from a free list when bytes arrive
 * and given back when empty, so an idle session holds none. During DATA only whole CRLF
 * lines go to the backend until the message ends (hold): the backend never sees a message
 * end that the core did not.
 *
 * Every failure on the decision path answers reject or defer, never a forward.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/addr.h"
#include "shared/decide.h"
#include "shared/hash.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"
#include "shared/listen.h"
#include "smtpgate/front.h"
#include "smtpgate/gate.h"
#include "smtpgate/proxy.h"
#include "smtpgate/session.h"
#include "smtpgate/smtp.h"

#define PROXY_HASH    1024 /* buckets of the per-client session index */
#define PROXY_SCRATCH 4096 /* bytes read at once from a closing client */

_Static_assert((int)PROXY_ID_NONE == (int)SESSION_ID_NONE &&
                   (int)PROXY_ID_XCLIENT == (int)SESSION_ID_XCLIENT &&
                   (int)PROXY_ID_HAPROXY == (int)SESSION_ID_HAPROXY,
               "proxy_client_identity values are the session's");

/* Bytes waiting: data[off..len) of cap; data is NULL while the buffer is not held. */
struct proxy_buf {
    char *data;
    uint32_t cap, off, len;
};

/* One side of a session: the client's connection or the backend's. */
struct proxy_side {
    int fd; /* -1 once closed */
    ev_io read_w;
    ev_io write_w;
    struct proxy_buf in, out;
};

struct proxy_session {
    struct proxy *p;
    struct proxy_session *prev, *next;   /* every session */
    struct proxy_session *hprev, *hnext; /* sessions in the same per-address bucket */
    struct proxy_side client, backend;
    ev_timer timer_w;
    struct addr addr;           /* the client, canonical */
    char addrtext[ADDR_STRLEN]; /* its text, for logs, XCLIENT and PROXY */
    unsigned port;              /* its port */
    uint32_t hold;              /* bytes at the end of backend.out waiting for a CRLF (DATA) */
    uint32_t bufsize; /* bytes of the input buffers: max(PROXY_BUF, proxy_max_line + slack) */
    struct session core;
    /* a RCPT TO whose decision waits for the store: the client is not read, and its input
     * buffer, which holds the command, is kept as it is until the answer */
    struct grants_wait wait;
    uint64_t t0; /* when the RCPT TO was read */
};

/* Where the backend is. */
struct proxy_target {
    struct sockaddr_storage ss;
    socklen_t len;
};

struct proxy {
    struct ev_loop *loop;
    const struct config *cfg;
    struct grants *grants;
    struct proxy_target backend;
    int identity;
    struct front front; /* accepting, refusing, draining */
    struct proxy_session *sessions;
    struct proxy_session *bucket[PROXY_HASH];
    uint64_t seed;          /* the key of the per-client index */
    char *pool[PROXY_POOL]; /* free buffers of PROXY_BUF bytes */
    size_t npool;
    struct gate_metrics decisions; /* of RCPT TO; written by the loop's thread */
    struct proxy_metrics {
        struct metric *limit; /* RCPT TO over proxy_max_recipients */
        struct metric *active, *sessions, *refused;
    } m;                     /* written by the loop's thread (metrics.h) */
    struct smtp_reply reply; /* the backend reply being handled (one at a time) */
    char scratch[PROXY_SCRATCH];
};

/* proxy_target_parse - proxy_backend as a socket address; -1 and err naming it if bad */
static int proxy_target_parse(const char *spec, struct proxy_target *t, char *err, size_t errlen)
{
    const char *opts;

    if (strncmp(spec, "inet:", 5) != 0 && strncmp(spec, "unix:", 5) != 0)
        return util_seterr(err, errlen,
                           "proxy_backend: bad value '%s' (inet:HOST:PORT, inet:[V6]:PORT or "
                           "unix:PATH)",
                           spec);
    if (listen_parse("proxy_backend", spec, &t->ss, &t->len, &opts, err, errlen) < 0)
        return -1;
    if (opts != NULL)
        return util_seterr(err, errlen, "proxy_backend %s: options are not allowed here", spec);
    return 0;
}

/* proxy_check_config - 0 if cfg's proxy_* settings are usable; -1 and err if not */
int proxy_check_config(const struct config *cfg, char *err, size_t errlen)
{
    struct proxy_target t;
    size_t i;

    if (cfg->proxy_listen.count == 0)
        return 0;
    if (cfg->proxy_listen.count > FRONT_MAX_LISTENERS)
        return util_seterr(err, errlen, "proxy_listen: at most %d entries are allowed",
                           FRONT_MAX_LISTENERS);
    for (i = 0; i < cfg->proxy_listen.count; i++)
        if (strncmp(cfg->proxy_listen.items[i], "inet:", 5) != 0)
            return util_seterr(err, errlen,
                               "proxy_listen: bad entry '%s' (inet:HOST:PORT or inet:[V6]:PORT)",
                               cfg->proxy_listen.items[i]);
    if (cfg->proxy_backend[0] == '\0')
        return util_seterr(err, errlen, "proxy_backend: must be set when proxy_listen is");
    if (proxy_target_parse(cfg->proxy_backend, &t, err, errlen) < 0)
        return -1;
    if (cfg->local_domains.count == 0)
        return util_seterr(err, errlen,
                           "local_domains: must be set when proxy_listen is (the SMTP proxy "
                           "refuses every relay itself, so it must know your own domains)");
    return 0;
}

/* proxy_sockaddr - the canonical address and port of an inet socket address; -1 if none */
static int proxy_sockaddr(const struct sockaddr_storage *ss, struct addr *a, unsigned *port)
{
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)ss;
        a->family = AF_INET;
        memcpy(a->bytes, &sin->sin_addr, 4);
        *port = ntohs(sin->sin_port);
        return 0;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)ss;
        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            a->family = AF_INET;
            memcpy(a->bytes, sin6->sin6_addr.s6_addr + 12, 4);
        } else {
            a->family = AF_INET6;
            memcpy(a->bytes, &sin6->sin6_addr, 16);
        }
        *port = ntohs(sin6->sin6_port);
        return 0;
    }
    return -1;
}

/* proxy_buf_get - give b its memory (cap bytes) if it has none, from the free list if it can */
static void proxy_buf_get(struct proxy *p, struct proxy_buf *b, uint32_t cap)
{
    if (b->data != NULL)
        return;
    if (cap == PROXY_BUF && p->npool > 0)
        b->data = p->pool[--p->npool];
    else
        b->data = xmalloc(cap);
    b->cap = cap;
    b->off = b->len = 0;
}

/* proxy_buf_put - take b's memory back when nothing waits in it (or always, with force) */
static void proxy_buf_put(struct proxy *p, struct proxy_buf *b, int force)
{
    if (b->data == NULL || (!force && b->off < b->len))
        return;
    if (b->cap == PROXY_BUF && p->npool < PROXY_POOL)
        p->pool[p->npool++] = b->data;
    else
        free(b->data);
    b->data = NULL;
    b->cap = b->off = b->len = 0;
}

/* proxy_buf_room - bytes that fit at b's end, moving its contents forward if want needs it */
static size_t proxy_buf_room(struct proxy_buf *b, size_t want)
{
    if (b->off == b->len)
        b->off = b->len = 0;
    if (b->cap - b->len < want && b->off > 0) {
        memmove(b->data, b->data + b->off, b->len - b->off);
        b->len -= b->off;
        b->off = 0;
    }
    return b->cap - b->len;
}

/* proxy_close_backend - close the backend's connection now (mid-message it aborts there) */
static void proxy_close_backend(struct proxy_session *s)
{
    struct proxy *p = s->p;

    if (s->backend.fd < 0)
        return;
    ev_io_stop(p->loop, &s->backend.read_w);
    ev_io_stop(p->loop, &s->backend.write_w);
    close(s->backend.fd);
    s->backend.fd = -1;
    proxy_buf_put(p, &s->backend.in, 1);
    proxy_buf_put(p, &s->backend.out, 1);
    s->hold = 0;
}

/* proxy_log_rcpt - the decision line of a recipient at level */
static void proxy_log_rcpt(const struct proxy_session *s, int level, const char *action,
                           const struct smtp_command *cmd, const char *reason)
{
    struct gate_log l = {NULL, action, s->addrtext, cmd->path, cmd->pathlen, reason, NULL};

    gate_log(level, &l);
}

/* proxy_client_room - session_ops: bytes that fit now in the client's output */
static size_t proxy_client_room(void *ctx, size_t want)
{
    struct proxy_session *s = ctx;

    proxy_buf_get(s->p, &s->client.out, PROXY_BUF);
    return proxy_buf_room(&s->client.out, want);
}

/* proxy_to_client - session_ops: append len bytes (they fit) to the client's output */
static void proxy_to_client(void *ctx, const char *text, size_t len)
{
    struct proxy_session *s = ctx;
    struct proxy_buf *b = &s->client.out;

    memcpy(b->data + b->len, text, len);
    b->len += (uint32_t)len;
}

/* proxy_backend_room - session_ops: where bytes for the backend go. A message line longer
 * than the buffer lets its beginning go, but never a last CR. */
static char *proxy_backend_room(void *ctx, size_t want, size_t *room)
{
    struct proxy_session *s = ctx;
    struct proxy_buf *b = &s->backend.out;

    proxy_buf_get(s->p, b, s->bufsize);
    *room = proxy_buf_room(b, want);
    if (*room == 0 && s->hold == b->len - b->off)
        s->hold = b->data[b->len - 1] == '\r' ? 1 : 0;
    return b->data + b->len;
}

/* proxy_to_backend - session_ops: len bytes written at proxy_backend_room's pointer go
 * out, except those after their last LF (only whole CRLF lines of a message leave) */
static void proxy_to_backend(void *ctx, size_t len)
{
    struct proxy_session *s = ctx;
    struct proxy_buf *b = &s->backend.out;
    const char *src = b->data + b->len;
    const char *lf = len > 0 ? memrchr(src, '\n', len) : NULL;

    s->hold = lf != NULL ? (uint32_t)(len - (size_t)(lf - src) - 1) : s->hold + (uint32_t)len;
    b->len += (uint32_t)len;
}

/* proxy_close - session_ops: the session ends; drop the client's unread input and close
 * the backend's connection unless it is to close first (after QUIT) */
static void proxy_close(void *ctx, int backend)
{
    struct proxy_session *s = ctx;

    if (backend)
        proxy_close_backend(s);
    proxy_buf_put(s->p, &s->client.in, 1);
}

/* proxy_limit - session_ops: a RCPT TO over proxy_max_recipients was answered 452 */
static void proxy_limit(void *ctx, const struct smtp_command *rcpt)
{
    struct proxy_session *s = ctx;

    metric_inc(s->p->m.limit);
    proxy_log_rcpt(s, LOG_LEVEL_INFO, "limit", rcpt, "proxy_max_recipients reached");
}

/* proxy_log - session_ops: one finished log line */
static void proxy_log(void *ctx, int level, const char *text)
{
    (void)ctx;
    log_text(level, text, strlen(text));
}

/* What the session core asks of the proxy. */
static const struct session_ops proxy_session_ops = {
    .client_room = proxy_client_room,
    .to_client = proxy_to_client,
    .backend_room = proxy_backend_room,
    .to_backend = proxy_to_backend,
    .close = proxy_close,
    .limit = proxy_limit,
    .log = proxy_log,
};

/* proxy_input - the decision input of the recipient the core asks about */
static struct decision_input proxy_input(struct proxy_session *s)
{
    const struct smtp_command *cmd = session_rcpt(&s->core);
    struct decision_input in = {&s->addr, cmd->path, cmd->pathlen, session_authenticated(&s->core)};

    return in;
}

/* proxy_answer - give the core the answer d for its recipient, and log it */
static void proxy_answer(struct proxy_session *s, const struct decision *d)
{
    struct proxy *p = s->p;
    struct smtp_command cmd = *session_rcpt(&s->core);

    switch (d->outcome) {
    case DECISION_LOCAL:
    case DECISION_PERMIT_LOCALNET:
    case DECISION_PERMIT_GRANT:
    case DECISION_PERMIT_AUTH:
        session_grant(&s->core, SESSION_PERMIT);
        break;
    case DECISION_REJECT:
        session_grant(&s->core, SESSION_REJECT);
        break;
    case DECISION_DEFER:
        session_grant(&s->core, SESSION_DEFER);
        break;
    default:
        session_grant(&s->core, SESSION_DEFER);
        log_error("action=defer client=%s reason=\"unexpected outcome %s\"", s->addrtext,
                  decide_name(d->outcome));
        metric_inc(p->decisions.outcome[DECISION_DEFER]);
        return;
    }
    metric_inc(p->decisions.outcome[d->outcome]);
    metric_observe(p->decisions.latency, metrics_now_ns() - s->t0);
    proxy_log_rcpt(s, d->outcome == DECISION_DEFER ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
                   decide_name(d->outcome), &cmd, d->reason);
}

static void proxy_decided(void *ctx, const struct decision_grant *grant);

/* proxy_rcpt - decide the recipient the core asks about and give it the answer, unless
 * the decision waits for the store (then proxy_decided gives it) */
static void proxy_rcpt(struct proxy_session *s)
{
    struct proxy *p = s->p;
    struct decision_input in = proxy_input(s);
    struct decision d;

    s->t0 = metrics_now_ns();
    if (!gate_decide_start(p->cfg, p->grants, &in, (int64_t)ev_now(p->loop), &d, &s->wait,
                           proxy_decided, s))
        proxy_answer(s, &d);
}

/* proxy_client_input - hand the client's bytes to the core, answering each recipient it
 * asks about; 1 if anything was handled */
static int proxy_client_input(struct proxy_session *s)
{
    struct proxy_buf *in = &s->client.in;
    int used = 0;

    for (;;) {
        size_t taken = 0;

        if (s->wait.waiting)
            return used;
        if (in->data != NULL) {
            used |= session_client_input(&s->core, in->data + in->off, in->len - in->off, &taken);
            if (in->data != NULL) /* not dropped by the end of the session */
                in->off += (uint32_t)taken;
        } else {
            used |= session_client_input(&s->core, "", 0, &taken);
        }
        if (session_state(&s->core) != SESSION_RCPT)
            return used;
        proxy_rcpt(s);
    }
}

/* proxy_backend_input - hand the backend's bytes to the core; 1 if a reply was passed on */
static int proxy_backend_input(struct proxy_session *s)
{
    struct proxy_buf *in = &s->backend.in;
    size_t taken = 0;
    int moved;

    if (in->data == NULL)
        return session_backend_input(&s->core, "", 0, &s->p->reply, ev_now(s->p->loop), &taken);
    moved = session_backend_input(&s->core, in->data + in->off, in->len - in->off, &s->p->reply,
                                  ev_now(s->p->loop), &taken);
    if (in->data != NULL) /* not dropped with the backend's connection */
        in->off += (uint32_t)taken;
    return moved;
}

/* proxy_write - write b[off, len - keep) to fd once; bytes written, -1 on error */
static ssize_t proxy_write(int fd, struct proxy_buf *b, size_t keep)
{
    size_t want;
    ssize_t n;

    if (b->data == NULL || b->len - b->off <= keep)
        return 0;
    want = b->len - b->off - keep;
    do
        n = send(fd, b->data + b->off, want, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    b->off += (uint32_t)n;
    return n;
}

/* proxy_flush - write what waits on both sides; bytes written. A failed client closes the
 * session; a failed backend ends it with 421 (451 while replies are owed). */
static size_t proxy_flush(struct proxy_session *s)
{
    size_t total = 0;
    ssize_t n;

    if (s->backend.fd >= 0) {
        if ((n = proxy_write(s->backend.fd, &s->backend.out, s->hold)) < 0) {
            log_warnx("action=close client=%s reason=\"backend %s: %s\"", s->addrtext,
                      session_state(&s->core) == SESSION_GREETING ? "connect" : "write",
                      strerror(errno));
            session_backend_error(&s->core, 1);
        } else {
            total += (size_t)n;
        }
    }
    if (s->client.fd >= 0) {
        if ((n = proxy_write(s->client.fd, &s->client.out, 0)) < 0) {
            log_debug("action=close client=%s reason=\"write: %s\"", s->addrtext, strerror(errno));
            session_client_gone(&s->core);
        } else {
            total += (size_t)n;
        }
    }
    return total;
}

/* proxy_backend_pending - 1 if bytes for the backend wait to be written */
static int proxy_backend_pending(const struct proxy_session *s)
{
    return s->backend.fd >= 0 && s->backend.out.len - s->backend.out.off > s->hold;
}

/* proxy_timer - arm the session's timer for what the core waits for now */
static void proxy_timer(struct proxy_session *s)
{
    struct ev_loop *loop = s->p->loop;
    double t = session_timer(&s->core, ev_now(loop), proxy_backend_pending(s));

    if (t <= 0)
        return; /* armed already, for good */
    s->timer_w.repeat = t;
    ev_timer_again(loop, &s->timer_w);
}

/* proxy_io - start or stop one watcher */
static void proxy_io(struct ev_loop *loop, ev_io *w, int on)
{
    if (on)
        ev_io_start(loop, w);
    else
        ev_io_stop(loop, w);
}

/* proxy_watchers - read a side while the core has somewhere for its bytes and the input
 * buffer has room; write while output waits */
static void proxy_watchers(struct proxy_session *s)
{
    struct proxy *p = s->p;
    const struct proxy_buf *cin = &s->client.in, *bout = &s->backend.out;

    proxy_io(p->loop, &s->client.read_w,
             session_reads_client(&s->core) && !s->wait.waiting &&
                 (cin->data == NULL || cin->len - cin->off < cin->cap));
    proxy_io(p->loop, &s->client.write_w, s->client.out.len > s->client.out.off);
    if (s->backend.fd < 0)
        return;
    proxy_io(p->loop, &s->backend.read_w, session_reads_backend(&s->core));
    proxy_io(p->loop, &s->backend.write_w, bout->len - bout->off > s->hold);
}

/* proxy_client_bytes - how many leading bytes of a name its client for the per-client
 * limit: the IPv4 address, or the /64 of an IPv6 address (one subscriber's usual share) */
static size_t proxy_client_bytes(const struct addr *a)
{
    return a->family == AF_INET ? 4 : PROXY_CLIENT_V6_PREFIX / 8;
}

/* proxy_hash_of - the per-client bucket of a, under the proxy's random key (a client
 * cannot choose addresses that crowd one bucket) */
static size_t proxy_hash_of(const struct proxy *p, const struct addr *a)
{
    return (size_t)(hash_bytes(p->seed, a->bytes, proxy_client_bytes(a)) & (PROXY_HASH - 1));
}

/* proxy_session_free - close both sides and release s; a draining proxy may now be done
 * (front_closed, last: its done callback may end the loop) */
static void proxy_session_free(struct proxy_session *s)
{
    struct proxy *p = s->p;

    ev_io_stop(p->loop, &s->client.read_w);
    ev_io_stop(p->loop, &s->client.write_w);
    ev_timer_stop(p->loop, &s->timer_w);
    grants_cancel(p->grants, &s->wait);
    close(s->client.fd);
    proxy_close_backend(s);
    proxy_buf_put(p, &s->client.in, 1);
    proxy_buf_put(p, &s->client.out, 1);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        p->sessions = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    if (s->hprev != NULL)
        s->hprev->hnext = s->hnext;
    else
        p->bucket[proxy_hash_of(p, &s->addr)] = s->hnext;
    if (s->hnext != NULL)
        s->hnext->hprev = s->hprev;
    free(s);
    front_closed(&p->front);
}

/* proxy_client_quiet - 1 if closing now cannot reset the connection: the client has sent
 * nothing unread, or it is gone already (end of file, or an error such as a reset: then
 * there is nothing to shut down or to wait for either) */
static int proxy_client_quiet(struct proxy_session *s)
{
    ssize_t n;

    do
        n = recv(s->client.fd, s->p->scratch, sizeof(s->p->scratch), MSG_DONTWAIT);
    while (n < 0 && errno == EINTR);
    return n <= 0;
}

/*
 * proxy_service - the end of every event: move what can move, write both sides, repeat
 * while that frees room; then close a finished session, or set its watchers and timer.
 */
static void proxy_service(struct proxy_session *s)
{
    struct session *c = &s->core;

    for (;;) {
        int moved = 0;

        if (session_state(c) != SESSION_DEAD && !session_closing(c)) {
            moved |= proxy_backend_input(s);
            moved |= proxy_client_input(s);
            session_settle(c);
        }
        if (session_state(c) == SESSION_DEAD || (proxy_flush(s) == 0 && !moved) ||
            session_state(c) == SESSION_DEAD)
            break;
    }
    if ((session_state(c) == SESSION_CLOSING || session_state(c) == SESSION_QUITTING) &&
        s->client.out.len == s->client.out.off) {
        /* the last reply is out. Closing with unread input would reset the connection and
         * could lose that reply: after QUIT the client has normally sent nothing more and
         * the connection can close at once; otherwise no more output, and what the client
         * still sends is read and dropped until it closes or SESSION_LINGER_TIME passes */
        if (session_flushed(c) && proxy_client_quiet(s))
            session_client_eof(c);
        else
            shutdown(s->client.fd, SHUT_WR);
    }
    if (session_finished(c)) {
        proxy_session_free(s);
        return;
    }
    if (!s->wait.waiting) /* else it holds the RCPT TO being decided */
        proxy_buf_put(s->p, &s->client.in, 0);
    proxy_buf_put(s->p, &s->client.out, 0);
    proxy_buf_put(s->p, &s->backend.in, 0);
    proxy_buf_put(s->p, &s->backend.out, 0);
    proxy_watchers(s);
    proxy_timer(s);
}

/* proxy_decided - the store answered for the recipient the core asks about: give the
 * core the answer (if it still asks), then move what can move */
static void proxy_decided(void *ctx, const struct decision_grant *grant)
{
    struct proxy_session *s = ctx;
    struct decision d;

    if (session_state(&s->core) == SESSION_RCPT) {
        struct decision_input in = proxy_input(s);

        gate_decide_grant(s->p->cfg, &in, grant, &d);
        proxy_answer(s, &d);
    }
    proxy_service(s);
}

/* proxy_read - read what fd has into b; bytes read, 0 at end of file, -1 on error, -2 if
 * nothing now */
static ssize_t proxy_read(int fd, struct proxy_buf *b)
{
    size_t room = proxy_buf_room(b, b->cap);
    ssize_t n;

    if (room == 0)
        return -2;
    do
        n = recv(fd, b->data + b->len, room, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? -2 : -1;
    b->len += (uint32_t)n;
    return n;
}

/* proxy_client_read_cb - the client sent something, or closed */
static void proxy_client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proxy_session *s = FRONT_OWNER(w, struct proxy_session, client.read_w);
    ssize_t n;

    (void)loop, (void)revents;
    if (session_closing(&s->core)) {
        do
            n = recv(s->client.fd, s->p->scratch, sizeof(s->p->scratch), 0);
        while (n < 0 && errno == EINTR);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            session_client_gone(&s->core);
    } else {
        proxy_buf_get(s->p, &s->client.in, s->bufsize);
        n = proxy_read(s->client.fd, &s->client.in);
        if (n == 0) {
            session_client_eof(&s->core);
        } else if (n == -1) {
            log_debug("action=close client=%s reason=\"read: %s\"", s->addrtext, strerror(errno));
            session_client_gone(&s->core);
        }
    }
    proxy_service(s);
}

/* proxy_client_write_cb - the client can take more of its replies */
static void proxy_client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    proxy_service(FRONT_OWNER(w, struct proxy_session, client.write_w));
}

/* proxy_backend_read_cb - the backend sent something, closed, or could not be reached */
static void proxy_backend_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proxy_session *s = FRONT_OWNER(w, struct proxy_session, backend.read_w);
    ssize_t n;

    (void)loop, (void)revents;
    if (session_closing(&s->core)) {
        /* after QUIT: wait for the backend to close; drop anything else it sends */
        do
            n = recv(s->backend.fd, s->p->scratch, sizeof(s->p->scratch), 0);
        while (n < 0 && errno == EINTR);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            proxy_close_backend(s);
            session_backend_closed(&s->core);
        }
        proxy_service(s);
        return;
    }
    proxy_buf_get(s->p, &s->backend.in, PROXY_BUF);
    n = proxy_read(s->backend.fd, &s->backend.in);
    if (n == 0) {
        session_backend_eof(&s->core);
    } else if (n == -1) {
        log_warnx("action=close client=%s reason=\"backend %s: %s\"", s->addrtext,
                  session_state(&s->core) == SESSION_GREETING ? "connect" : "read",
                  strerror(errno));
        session_backend_error(&s->core, 0);
    }
    proxy_service(s);
}

/* proxy_backend_ready - the backend's connection is on its way: start the core (with this
 * end's address for a PROXY header) */
static void proxy_backend_ready(struct proxy_session *s)
{
    char text[ADDR_STRLEN];
    const char *local = NULL;
    unsigned lport = 0;

    if (s->p->identity == PROXY_ID_HAPROXY) {
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        struct addr a;

        memset(&ss, 0, sizeof(ss));
        if (getsockname(s->client.fd, (struct sockaddr *)&ss, &sslen) == 0 &&
            proxy_sockaddr(&ss, &a, &lport) == 0 && a.family == s->addr.family)
            local = addr_format(&a, text, sizeof(text));
    }
    session_start(&s->core, local, lport);
}

/* proxy_backend_write_cb - the backend can take more (or its connection is up) */
static void proxy_backend_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    proxy_service(FRONT_OWNER(w, struct proxy_session, backend.write_w));
}

/* proxy_timer_cb - the session waited too long for what proxy_timer armed it for */
static void proxy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxy_session *s = FRONT_OWNER(w, struct proxy_session, timer_w);

    (void)revents;
    session_timeout(&s->core, ev_now(loop), proxy_backend_pending(s));
    proxy_service(s);
}

/* proxy_connect - open the session's backend connection (non-blocking) */
static void proxy_connect(struct proxy_session *s)
{
    struct proxy *p = s->p;
    int fd, one = 1;

    fd = socket(p->backend.ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        log_warn("action=close client=%s reason=\"backend socket\"", s->addrtext);
        session_shutdown(&s->core, SESSION_T_UNAVAILABLE);
        return;
    }
    s->backend.fd = fd;
    ev_io_init(&s->backend.read_w, proxy_backend_read_cb, fd, EV_READ);
    ev_io_init(&s->backend.write_w, proxy_backend_write_cb, fd, EV_WRITE);
    if (p->backend.ss.ss_family != AF_UNIX)
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)&p->backend.ss, p->backend.len) < 0 &&
        errno != EINPROGRESS) {
        log_warn("action=close client=%s reason=\"backend connect\"", s->addrtext);
        session_shutdown(&s->core, SESSION_T_UNAVAILABLE);
        return;
    }
    proxy_backend_ready(s);
}

/* proxy_count - sessions open now from a's client: the same IPv4 address, or the same
 * IPv6 /64 */
static size_t proxy_count(const struct proxy *p, const struct addr *a)
{
    const struct proxy_session *s;
    size_t n = 0;

    for (s = p->bucket[proxy_hash_of(p, a)]; s != NULL; s = s->hnext)
        if (s->addr.family == a->family &&
            memcmp(s->addr.bytes, a->bytes, proxy_client_bytes(a)) == 0)
            n++;
    return n;
}

/* proxy_refuse - turn away a connection over limit (value) with 421 */
static void proxy_refuse(struct proxy *p, int fd, const char *client, const char *limit,
                         int64_t value)
{
    front_refuse(&p->front, fd, session_text(SESSION_T_TOO_MANY_CONNS), "client", client, limit,
                 (long long)value);
}

/* proxy_session_new - start a session for the accepted client socket fd */
static void proxy_session_new(struct proxy *p, int fd, const struct sockaddr_storage *ss)
{
    const struct config *cfg = p->cfg;
    struct proxy_session *s;
    struct session_config sc;
    struct addr a;
    char text[ADDR_STRLEN];
    unsigned port;
    size_t h;
    int one = 1;

    if (proxy_sockaddr(ss, &a, &port) < 0) {
        close(fd);
        return;
    }
    addr_format(&a, text, sizeof(text));
    if (front_live(&p->front) >= (size_t)cfg->proxy_max_connections) {
        proxy_refuse(p, fd, text, "proxy_max_connections", cfg->proxy_max_connections);
        return;
    }
    if (proxy_count(p, &a) >= (size_t)cfg->proxy_max_connections_per_client) {
        proxy_refuse(p, fd, text, "proxy_max_connections_per_client",
                     cfg->proxy_max_connections_per_client);
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->addr = a;
    s->port = port;
    memcpy(s->addrtext, text, sizeof(text));
    s->client.fd = fd;
    s->backend.fd = -1;
    sc.client = s->addrtext;
    sc.ipv6 = a.family == AF_INET6;
    sc.port = port;
    sc.identity = (enum session_identity)p->identity;
    sc.max_line = (size_t)cfg->proxy_max_line;
    sc.max_rcpts = (uint32_t)cfg->proxy_max_recipients;
    sc.t_command = (double)cfg->proxy_command_timeout;
    sc.t_data = (double)cfg->proxy_data_timeout;
    sc.t_backend = (double)cfg->proxy_backend_timeout;
    sc.min_rate = (double)cfg->proxy_min_data_rate;
    sc.ops = &proxy_session_ops;
    sc.ctx = s;
    session_init(&s->core, &sc);
    s->bufsize = (uint32_t)(sc.max_line + SESSION_SLACK > PROXY_BUF ? sc.max_line + SESSION_SLACK
                                                                    : PROXY_BUF);
    ev_io_init(&s->client.read_w, proxy_client_read_cb, fd, EV_READ);
    ev_io_init(&s->client.write_w, proxy_client_write_cb, fd, EV_WRITE);
    ev_init(&s->timer_w, proxy_timer_cb);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->next = p->sessions;
    if (p->sessions != NULL)
        p->sessions->prev = s;
    p->sessions = s;
    h = proxy_hash_of(p, &a);
    s->hnext = p->bucket[h];
    if (p->bucket[h] != NULL)
        p->bucket[h]->hprev = s;
    p->bucket[h] = s;
    front_opened(&p->front);
    log_debug("action=connect client=%s port=%u", s->addrtext, s->port);
    proxy_connect(s);
    proxy_service(s);
}

/* proxy_on_accept - start a session for the accepted client socket fd */
static void proxy_on_accept(void *ctx, int fd, const struct sockaddr_storage *ss)
{
    proxy_session_new(ctx, fd, ss);
}

/* proxy_expire - the drain deadline passed: close what is left with 421 */
static void proxy_expire(void *ctx)
{
    struct proxy *p = ctx;
    struct proxy_session *s, *next;

    for (s = p->sessions; s != NULL; s = next) {
        next = s->next;
        session_shutdown(&s->core, SESSION_T_SHUTDOWN);
        proxy_service(s);
    }
}

/* What the proxy tells the front skeleton about itself. */
static const struct front_ops proxy_front_ops = {
    .param = "proxy_listen",
    .unit = "sessions",
    .drain_timeout = PROXY_DRAIN_TIMEOUT,
    .accept = proxy_on_accept,
    .expire = proxy_expire,
};

/* proxy_metrics_init - register the proxy's series */
static void proxy_metrics_init(struct proxy_metrics *m)
{
    struct metrics *reg = metrics_process();

    m->limit = metrics_counter(reg, "smtpgate_decisions_total", GATE_HELP_DECISIONS, "front",
                               "proxy", "outcome", "limit", NULL);
    m->active =
        metrics_gauge(reg, "smtpgate_proxy_sessions", "SMTP proxy sessions open now.", NULL);
    m->sessions =
        metrics_counter(reg, "smtpgate_proxy_sessions_total", "SMTP proxy sessions started.", NULL);
    m->refused = metrics_counter(reg, "smtpgate_refused_connections_total", GATE_HELP_REFUSED,
                                 "front", "proxy", NULL);
}

/* proxy_new - a proxy on loop deciding under cfg (checked) with grants */
struct proxy *proxy_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants)
{
    struct proxy *p = xcalloc(1, sizeof(*p));
    struct front_metrics fm;

    p->loop = loop;
    p->grants = grants;
    if (hash_seed(&p->seed) < 0)
        fatal("proxy: cannot draw a random seed: %s", strerror(errno));
    gate_metrics_init(&p->decisions, "proxy");
    proxy_metrics_init(&p->m);
    proxy_set_config(p, cfg);
    fm.active = p->m.active, fm.opened = p->m.sessions, fm.refused = p->m.refused;
    front_init(&p->front, loop, &proxy_front_ops, &fm, p);
    log_info("action=proxy backend=%s client_identity=%s session_bytes=%zu buffer_bytes=%d",
             cfg->proxy_backend, config_text(cfg, "proxy_client_identity"),
             sizeof(struct proxy_session), PROXY_BUF);
    return p;
}

/* proxy_listen - accept client connections on the listening socket fd (name for logs) */
int proxy_listen(struct proxy *p, int fd, const char *name, char *err, size_t errlen)
{
    return front_listen(&p->front, fd, name, err, errlen);
}

/* proxy_set_config - new sessions and every decision from now on use cfg (checked) */
void proxy_set_config(struct proxy *p, const struct config *cfg)
{
    struct proxy_target t;

    p->cfg = cfg;
    p->identity = cfg->proxy_client_identity;
    if (cfg->proxy_backend[0] != '\0' && proxy_target_parse(cfg->proxy_backend, &t, NULL, 0) == 0)
        p->backend = t;
}

/* proxy_drain - stop accepting, finish what is in flight, close with 421; see proxy.h */
void proxy_drain(struct proxy *p, proxy_done_fn done, void *ctx)
{
    struct proxy_session *s, *next;

    if (!front_drain(&p->front, done, ctx))
        return;
    for (s = p->sessions; s != NULL; s = next) {
        next = s->next;
        session_drain(&s->core);
        proxy_service(s);
    }
}

/* proxy_sessions - sessions open now */
size_t proxy_sessions(const struct proxy *p)
{
    return front_live(&p->front);
}

/* proxy_free - close every session and release p; NULL is allowed */
void proxy_free(struct proxy *p)
{
    if (p == NULL)
        return;
    front_free(&p->front);
    while (p->sessions != NULL)
        proxy_session_free(p->sessions);
    while (p->npool > 0)
        free(p->pool[--p->npool]);
    free(p);
}
