/*
 * milterd - the libev milter front (see milterd.h for what it does and its limits).
 *
 * The protocol is milter.c's; this file only moves bytes, runs the decision for each
 * MILTER_DECIDE step and keeps the connections. Every failure on the decision path
 * answers milter.c's refusal or deferral, never continue.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"
#include "smtpgate/front.h"
#include "smtpgate/gate.h"
#include "smtpgate/milter.h"
#include "smtpgate/milterd.h"

#define MILTERD_IN_INITIAL 4096                   /* first size of a connection's input buffer */
#define MILTERD_OUT_MAX    (4 * MILTER_REPLY_MAX) /* replies queued before packets wait */
#define MILTERD_TCP_MSS    1024 /* the segment size offered to the MTA (milterd_listen) */

struct milterd_conn {
    struct milterd *md;
    struct milterd_conn *prev, *next;
    int fd;
    ev_io read_w;
    ev_io write_w;
    ev_timer idle_w;
    struct milter proto;
    unsigned char *in; /* bytes read, not yet a whole packet: in[0..inlen) */
    size_t incap, inlen;
    unsigned char out[MILTERD_OUT_MAX]; /* replies not yet written: out[outoff..outlen) */
    size_t outlen, outoff;
    int eof; /* no more input will be read: close once the output is written */
    int tcp; /* an inet connection: acknowledge a read with no reply at once */
    char peer[ADDR_STRLEN + 8];
    struct grants_wait wait; /* the store lookup of the recipient being decided */
    char *rcpt;              /* that recipient, copied out of its packet */
    uint64_t t0;             /* when its packet was read */
};

struct milterd {
    struct ev_loop *loop;
    const struct config *cfg;
    struct grants *grants;
    struct front front;
    struct milterd_conn *conns;
    struct gate_metrics decisions; /* of recipients; written by the loop's thread */
    struct milterd_metrics {
        struct metric *active, *connections, *refused, *errors;
    } m; /* written by the loop's thread (metrics.h) */
};

/* milterd_check_config - a milter front refuses by itself, so it needs local_domains */
int milterd_check_config(const struct config *cfg, char *err, size_t errlen)
{
    if (cfg->milter_listen.count == 0 || cfg->local_domains.count > 0)
        return 0;
    return util_seterr(err, errlen,
                       "milter_listen: the milter front refuses every recipient that is neither "
                       "local nor allowed to relay, but local_domains is empty, so mail for your "
                       "own domains would be refused too: set local_domains to the domains the "
                       "MTA receives mail for");
}

/* milterd_set_config - decide the next recipients under cfg (checked); connections stay */
void milterd_set_config(struct milterd *md, const struct config *cfg)
{
    md->cfg = cfg;
}

/* milterd_close - close c and release it; a draining front may now be done */
static void milterd_close(struct milterd_conn *c)
{
    struct milterd *md = c->md;

    ev_io_stop(md->loop, &c->read_w);
    ev_io_stop(md->loop, &c->write_w);
    ev_timer_stop(md->loop, &c->idle_w);
    grants_cancel(md->grants, &c->wait);
    close(c->fd);
    free(c->in);
    free(c->rcpt);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        md->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    front_closed(&md->front);
}

/* milterd_append - queue the reply of the last step; milterd_feed takes a packet only
 * while a reply fits, and the output is empty whenever it runs */
static void milterd_append(struct milterd_conn *c)
{
    memcpy(c->out + c->outlen, c->proto.out, c->proto.outlen);
    c->outlen += c->proto.outlen;
}

/* milterd_input - the decision input of the recipient rcpt (rcptlen bytes) of c */
static struct decision_input milterd_input(const struct milterd_conn *c, const char *rcpt,
                                           size_t rcptlen)
{
    const struct milter *p = &c->proto;
    struct decision_input in = {p->has_client ? &p->client : NULL, rcpt, rcptlen, p->authenticated};

    return in;
}

/* milterd_verdict - queue the reply to the recipient in, decided as d, and log it */
static void milterd_verdict(struct milterd_conn *c, const struct decision_input *in,
                            const struct decision *d)
{
    struct milterd *md = c->md;
    struct milter *p = &c->proto;
    struct gate_log l = {NULL, NULL, NULL, in->rcpt, in->rcptlen, NULL, NULL};
    char text[ADDR_STRLEN];
    int level = d->outcome == DECISION_DEFER ? LOG_LEVEL_WARN : LOG_LEVEL_INFO;

    l.reply = milter_verdict(p, d->outcome);
    milterd_append(c);
    metric_inc(md->decisions.outcome[d->outcome]);
    metric_observe(md->decisions.latency, metrics_now_ns() - c->t0);
    if (log_level_current < level)
        return;
    l.action = decide_name(d->outcome);
    l.client = p->has_client ? addr_format(&p->client, text, sizeof(text)) : GATE_LOG_EMPTY;
    l.reason = d->reason;
    gate_log(level, &l);
}

static void milterd_decided(void *ctx, const struct decision_grant *grant);

/* milterd_decide - decide the recipient of a MILTER_DECIDE step, log it, queue the reply;
 * or, if the decision waits for the store, keep a copy of the recipient until then */
static void milterd_decide(struct milterd_conn *c)
{
    struct milterd *md = c->md;
    struct milter *p = &c->proto;
    struct decision_input in = milterd_input(c, p->rcpt, p->rcptlen);
    struct decision d;

    c->t0 = metrics_now_ns();
    if (gate_decide_start(md->cfg, md->grants, &in, (int64_t)ev_now(md->loop), &d, &c->wait,
                          milterd_decided, c)) {
        c->rcpt = xmalloc(p->rcptlen + 1);
        memcpy(c->rcpt, p->rcpt, p->rcptlen);
        c->rcpt[p->rcptlen] = '\0';
        ev_io_stop(md->loop, &c->read_w);
        return;
    }
    milterd_verdict(c, &in, &d);
}

/* milterd_feed - take every whole packet in c's input; 0, or -1 to close c */
static int milterd_feed(struct milterd_conn *c)
{
    char err[160];
    size_t off = 0;
    int rc = 0;

    while (rc == 0 && !c->wait.waiting && c->outlen + MILTER_REPLY_MAX <= sizeof(c->out)) {
        long n = milter_frame(c->in + off, c->inlen - off, err, sizeof(err));
        if (n == 0)
            break;
        if (n > 0) {
            switch (milter_packet(&c->proto, c->in + off, (size_t)n, err, sizeof(err))) {
            case MILTER_NONE:
                break;
            case MILTER_SEND:
                milterd_append(c);
                break;
            case MILTER_DECIDE:
                milterd_decide(c);
                break;
            case MILTER_CLOSE:
                c->eof = 1;
                rc = 1;
                break;
            case MILTER_ERROR:
                n = -1;
                break;
            }
        }
        if (n < 0) {
            log_warnx("action=close peer=%s reason=\"protocol error: %s\"", c->peer, err);
            metric_inc(c->md->m.errors);
            return -1;
        }
        off += (size_t)n;
    }
    memmove(c->in, c->in + off, c->inlen - off);
    c->inlen -= off;
    return 0;
}

/* milterd_flush - write what is queued, then take the packets left waiting for room;
 * 0, or -1 if c was closed */
static int milterd_flush(struct milterd_conn *c)
{
    struct milterd *md = c->md;

    for (;;) {
        while (c->outoff < c->outlen) {
            ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                /* the MTA is slow to read: pause reading until it has taken the replies */
                ev_io_stop(md->loop, &c->read_w);
                ev_io_start(md->loop, &c->write_w);
                return 0;
            }
            if (n <= 0) {
                log_debug("action=close peer=%s reason=\"write: %s\"", c->peer, strerror(errno));
                milterd_close(c);
                return -1;
            }
            c->outoff += (size_t)n;
        }
        c->outoff = c->outlen = 0;
        if (c->wait.waiting) {
            ev_io_stop(md->loop, &c->write_w);
            return 0; /* reading resumes once the decision is made */
        }
        if (c->eof) {
            milterd_close(c);
            return -1;
        }
        if (c->inlen == 0)
            break;
        if (milterd_feed(c) < 0) {
            milterd_close(c);
            return -1;
        }
        if (c->outlen == 0 && c->wait.waiting) {
            ev_io_stop(md->loop, &c->write_w);
            return 0; /* the next recipient waits for the store */
        }
        if (c->outlen == 0 && !c->eof)
            break;
    }
    ev_io_stop(md->loop, &c->write_w);
    ev_io_start(md->loop, &c->read_w);
    return 0;
}

/* milterd_decided - the store answered for the held recipient: reply, then write and take
 * the packets that came after it */
static void milterd_decided(void *ctx, const struct decision_grant *grant)
{
    struct milterd_conn *c = ctx;
    struct decision_input in = milterd_input(c, c->rcpt, c->proto.rcptlen);
    struct decision d;

    gate_decide_grant(c->md->cfg, &in, grant, &d);
    milterd_verdict(c, &in, &d);
    free(c->rcpt);
    c->rcpt = NULL;
    milterd_flush(c);
}

/* milterd_room - make room in c's input for the rest of the packet begun there; -1 if
 * there is none (never while whole packets are taken as they come) */
static int milterd_room(struct milterd_conn *c)
{
    size_t want = c->inlen + MILTERD_IN_INITIAL, cap = c->incap ? c->incap : MILTERD_IN_INITIAL;

    if (c->inlen >= MILTER_HEADER) {
        size_t need = MILTER_HEADER + ((size_t)c->in[0] << 24 | (size_t)c->in[1] << 16 |
                                       (size_t)c->in[2] << 8 | c->in[3]);
        if (need > want)
            want = need;
    }
    if (want > MILTER_HEADER + MILTER_PACKET_MAX)
        want = MILTER_HEADER + MILTER_PACKET_MAX;
    if (c->incap < want) {
        while (cap < want)
            cap *= 2;
        c->in = xrealloc(c->in, cap);
        c->incap = cap;
    }
    return c->inlen < c->incap ? 0 : -1;
}

/* milterd_read - read what c has sent and answer it; 0, or -1 if c was closed */
static int milterd_read(struct milterd_conn *c)
{
    struct milterd *md = c->md;
    ssize_t n;

    if (milterd_room(c) < 0) {
        log_warnx("action=close peer=%s reason=\"protocol error: input buffer full\"", c->peer);
        milterd_close(c);
        return -1;
    }
    do
        n = recv(c->fd, c->in + c->inlen, c->incap - c->inlen, 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < 0) {
        log_debug("action=close peer=%s reason=\"read: %s\"", c->peer, strerror(errno));
        milterd_close(c);
        return -1;
    }
    if (n == 0) {
        c->eof = 1;
        ev_io_stop(md->loop, &c->read_w);
        return milterd_flush(c);
    }
    c->inlen += (size_t)n;
    c->idle_w.repeat = (double)md->cfg->milter_idle_timeout;
    ev_timer_again(md->loop, &c->idle_w);
    if (milterd_feed(c) < 0) {
        milterd_close(c);
        return -1;
    }
    /*
     * The MTA sends the macros of a step it skips as a lone packet that wants no reply,
     * and its next packet waits (Nagle) until that one is acknowledged: with no reply to
     * carry the ACK, the kernel would delay it (40 ms on Linux) and stall every message.
     * So a read that leaves nothing to answer is acknowledged at once.
     */
    if (c->tcp && c->outlen == 0) {
        int one = 1;
        (void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
    }
    return milterd_flush(c);
}

/* milterd_read_cb - the connection is readable */
static void milterd_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    milterd_read(FRONT_OWNER(w, struct milterd_conn, read_w));
}

/* milterd_write_cb - the connection can take more of its pending replies */
static void milterd_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    milterd_flush(FRONT_OWNER(w, struct milterd_conn, write_w));
}

/* milterd_idle_cb - no packet for milter_idle_timeout */
static void milterd_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct milterd_conn *c = FRONT_OWNER(w, struct milterd_conn, idle_w);

    (void)loop, (void)revents;
    log_info("action=close peer=%s reason=\"idle timeout\"", c->peer);
    milterd_close(c);
}

/* milterd_conn_new - start serving the accepted socket fd */
static void milterd_conn_new(struct milterd *md, int fd, const struct sockaddr_storage *ss)
{
    struct milterd_conn *c = xcalloc(1, sizeof(*c));

    c->md = md;
    c->fd = fd;
    c->tcp = ss->ss_family == AF_INET || ss->ss_family == AF_INET6;
    milter_init(&c->proto);
    front_peer(ss, c->peer, sizeof(c->peer));
    ev_io_init(&c->read_w, milterd_read_cb, fd, EV_READ);
    ev_io_init(&c->write_w, milterd_write_cb, fd, EV_WRITE);
    ev_init(&c->idle_w, milterd_idle_cb);
    c->idle_w.repeat = (double)md->cfg->milter_idle_timeout;
    ev_timer_again(md->loop, &c->idle_w);
    ev_io_start(md->loop, &c->read_w);
    c->next = md->conns;
    if (md->conns != NULL)
        md->conns->prev = c;
    md->conns = c;
    front_opened(&md->front);
}

/* milterd_on_accept - serve the accepted socket fd, or refuse it over the limit */
static void milterd_on_accept(void *ctx, int fd, const struct sockaddr_storage *ss)
{
    struct milterd *md = ctx;
    char peer[ADDR_STRLEN + 8];

    if (front_live(&md->front) < (size_t)md->cfg->milter_max_connections) {
        milterd_conn_new(md, fd, ss);
        return;
    }
    front_peer(ss, peer, sizeof(peer));
    front_refuse(&md->front, fd, NULL, "peer", peer, "milter_max_connections",
                 (long long)md->cfg->milter_max_connections);
}

/* milterd_expire - the drain deadline passed: close what is left */
static void milterd_expire(void *ctx)
{
    struct milterd *md = ctx;

    while (md->conns != NULL)
        milterd_close(md->conns);
}

/* What the milter front tells the front skeleton about itself. */
static const struct front_ops milterd_front_ops = {
    .param = "milter_listen",
    .unit = "connections",
    .drain_timeout = MILTERD_DRAIN_TIMEOUT,
    .accept = milterd_on_accept,
    .expire = milterd_expire,
};

/* milterd_metrics_init - register the milter front's series */
static void milterd_metrics_init(struct milterd_metrics *m)
{
    struct metrics *reg = metrics_process();

    m->active = metrics_gauge(reg, "smtpgate_milter_connections",
                              "Milter connections (one per MTA session) open now.", NULL);
    m->connections = metrics_counter(reg, "smtpgate_milter_connections_total",
                                     "Milter connections accepted.", NULL);
    m->refused = metrics_counter(reg, "smtpgate_refused_connections_total", GATE_HELP_REFUSED,
                                 "front", "milter", NULL);
    m->errors = metrics_counter(reg, "smtpgate_milter_protocol_errors_total",
                                "Milter connections closed for a protocol error.", NULL);
}

/* milterd_new - a milter front on loop deciding under cfg (checked) with grants */
struct milterd *milterd_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants)
{
    struct milterd *md = xcalloc(1, sizeof(*md));
    struct front_metrics fm;

    md->loop = loop;
    md->grants = grants;
    md->cfg = cfg;
    gate_metrics_init(&md->decisions, "milter");
    milterd_metrics_init(&md->m);
    fm.active = md->m.active, fm.opened = md->m.connections, fm.refused = md->m.refused;
    front_init(&md->front, loop, &milterd_front_ops, &fm, md);
    return md;
}

/* milterd_listen - accept connections on the listening socket fd (name for logs) */
int milterd_listen(struct milterd *md, int fd, const char *name, char *err, size_t errlen)
{
    int mss = MILTERD_TCP_MSS;

    /*
     * Milter packets are small. Postfix sizes its stream buffers for a milter connection
     * at four times the TCP segment size, which on loopback (64 KiB MTU) means two
     * buffers of 128 KiB allocated and cleared for every SMTP session; a small segment
     * size offered on the listener keeps them at Postfix's 4 KiB default. A unix
     * socket has no segment size: the call fails there, harmlessly.
     */
    (void)setsockopt(fd, IPPROTO_TCP, TCP_MAXSEG, &mss, sizeof(mss));
    return front_listen(&md->front, fd, name, err, errlen);
}

/* milterd_drain - stop accepting; the MTA's sessions end by themselves or at the deadline */
void milterd_drain(struct milterd *md, front_done_fn done, void *ctx)
{
    front_drain(&md->front, done, ctx);
}

/* milterd_connections - connections open now */
size_t milterd_connections(const struct milterd *md)
{
    return front_live(&md->front);
}

/* milterd_free - close every connection and release md; NULL is allowed */
void milterd_free(struct milterd *md)
{
    if (md == NULL)
        return;
    front_free(&md->front);
    while (md->conns != NULL)
        milterd_close(md->conns);
    free(md);
}
