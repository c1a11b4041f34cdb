/*
 * proxy - the SMTP proxy's event-loop shell (see proxy.h for what it does and its limits).
 * The parsing is smtpgate/smtp.c's; the relay decision is shared/decide.c's; this file
 * only moves bytes between the two connections of each session and keeps their order.
 *
 * One struct proxy_session per client holds both sides (client and backend), each with
 * its read and write watchers and its input and output buffers, one timer, and the queue
 * of replies owed to the client in command order: each entry waits either for the
 * backend's reply to a forwarded command or holds a fixed reply of smtpgate's own. Phases:
 * GREETING (the backend's connection is being made; its 220, and the 220 after XCLIENT)
 * -> COMMANDS <-> DATA -> CLOSING (the last reply goes out, the client's side is shut
 * down and what it still sends is read and dropped for PROXY_LINGER seconds). There is
 * no separate wait for the backend's connection: a failed connect shows as an error on
 * the first read (or on writing the PROXY header), and its greeting is the first sign
 * that it succeeded.
 *
 * Every event (read, write, timer) ends in proxy_service, which moves what can move
 * (backend replies to the client; client commands and message bytes to the backend),
 * writes each side at most once, then sets the watchers and the timer from the state: a
 * side is read only while what it sends has somewhere to go (backpressure) and written
 * only while output waits. Only proxy_service frees a session (the dead flag), so no code
 * runs on a freed session. Buffers are taken from a free list when bytes arrive and given
 * back when empty, so an idle session holds none.
 *
 * Replies to the client are the backend's (passed on; only the EHLO reply is edited) or
 * the fixed texts of proxy_texts: nothing a client sends ever appears in a reply. Every
 * failure on the decision path answers reject or defer, never a forward.
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
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"
#include "shared/listen.h"
#include "smtpgate/proxy.h"
#include "smtpgate/smtp.h"

#define PROXY_OWNER(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))
#define PROXY_HASH                     1024 /* buckets of the per-client session index */
#define PROXY_SLACK                    64   /* bytes a re-serialised command may add to its line */
#define PROXY_LOG_FIELD                256  /* bytes of client data shown in a log field */
#define PROXY_SCRATCH                  4096 /* bytes read at once from a closing client */

/* The fixed replies smtpgate itself gives (besides smtp_error_reply's). */
enum proxy_text {
    PROXY_T_RELAY_DENIED,
    PROXY_T_DEFER,
    PROXY_T_TOO_MANY_RCPTS,
    PROXY_T_VRFY,
    PROXY_T_HELP,
    PROXY_T_TOO_MANY_CONNS,
    PROXY_T_UNAVAILABLE,
    PROXY_T_GREETING_TIMEOUT,
    PROXY_T_BACKEND_SLOW,
    PROXY_T_TIMEOUT,
    PROXY_T_TOO_SLOW,
    PROXY_T_BAD_DATA,
    PROXY_T_SHUTDOWN,
    PROXY_T_TOO_MANY_ERRORS,
    PROXY_T_NONE = -1,
};

/* The fixed replies, by enum proxy_text. */
static const char *const proxy_texts[] = {
    [PROXY_T_RELAY_DENIED] = "554 5.7.1 Relay access denied\r\n",
    [PROXY_T_DEFER] = "451 4.3.0 Relay authorization unavailable, try again later\r\n",
    [PROXY_T_TOO_MANY_RCPTS] = "452 4.5.3 Too many recipients\r\n",
    [PROXY_T_VRFY] = "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
                     "delivery\r\n",
    [PROXY_T_HELP] = "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT AUTH "
                     "VRFY HELP\r\n",
    [PROXY_T_TOO_MANY_CONNS] = "421 4.7.0 Too many connections\r\n",
    [PROXY_T_UNAVAILABLE] = "421 4.3.2 Service not available\r\n",
    [PROXY_T_GREETING_TIMEOUT] = "421 4.4.2 Service not available\r\n",
    [PROXY_T_BACKEND_SLOW] = "451 4.4.2 Backend not responding\r\n",
    [PROXY_T_TIMEOUT] = "421 4.4.2 Timeout exceeded\r\n",
    [PROXY_T_TOO_SLOW] = "421 4.4.2 Message transfer too slow\r\n",
    [PROXY_T_BAD_DATA] = "554 5.5.0 Bare CR or LF or NUL in message, connection "
                         "closed\r\n",
    [PROXY_T_SHUTDOWN] = "421 4.3.2 Service shutting down\r\n",
    [PROXY_T_TOO_MANY_ERRORS] = "421 4.7.0 Too many errors\r\n",
};

/* What an entry of a session's reply queue stands for. Waits come first. */
enum proxy_kind {
    PROXY_W_GREETING, /* the backend's greeting */
    PROXY_W_XCLIENT,  /* the backend's 220 after XCLIENT: the client's greeting */
    PROXY_W_HELO,
    PROXY_W_EHLO, /* the reply is filtered */
    PROXY_W_AUTH, /* 334 makes the next line a continuation; 235 authenticates */
    PROXY_W_DATA, /* 354 starts the message */
    PROXY_W_DOT,  /* the reply to the end of the message */
    PROXY_W_QUIT,
    PROXY_W_OTHER,
    PROXY_L_TEXT,  /* a fixed reply: arg is an enum proxy_text */
    PROXY_L_ERROR, /* a fixed reply: arg is an enum smtp_error */
};

enum proxy_phase { PROXY_GREETING, PROXY_COMMANDS, PROXY_DATA, PROXY_CLOSING };
enum proxy_identity { PROXY_ID_NONE, PROXY_ID_XCLIENT, PROXY_ID_HAPROXY };

/* One entry of a session's reply queue. */
struct proxy_pending {
    uint8_t kind; /* enum proxy_kind */
    uint8_t arg;
};

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
    struct smtp_data data;      /* DATA: the scanner */
    double data_start;          /* DATA: when the 354 went to the client */
    uint32_t hold;              /* DATA: bytes at the end of backend.out waiting for a CRLF */
    /* limits and timeouts of the config the session started with */
    uint32_t bufsize, max_line, max_rcpts, rcpts;
    double t_command, t_data, t_backend, min_rate;
    uint16_t qhead, qlen, nwait; /* the reply queue; nwait: entries waiting for the backend */
    uint16_t errors;             /* 4xx and 5xx replies smtpgate gave itself */
    struct proxy_pending queue[PROXY_PIPELINE];
    uint8_t phase, identity;
    unsigned sync : 1;          /* a DATA or AUTH reply decides what the next bytes are */
    unsigned auth_cont : 1;     /* the next client line is an AUTH continuation */
    unsigned authenticated : 1; /* the backend accepted AUTH */
    unsigned pipelining : 1;    /* the backend offered PIPELINING */
    unsigned quit : 1;          /* QUIT was forwarded: no more commands */
    unsigned bye : 1;           /* close once the queued replies are out */
    unsigned skip : 1;          /* dropping the rest of an over-long line */
    unsigned more : 1;          /* the client's input waits for more bytes, not for a reply */
    unsigned bblocked : 1;      /* a backend reply waits for room in the client's output */
    unsigned ceof : 1, beof : 1;
    unsigned quitting : 1;  /* CLOSING after QUIT: the backend closes first */
    unsigned linger : 1;    /* CLOSING: the client's side is shut down for writing */
    unsigned lingering : 1; /* CLOSING: the timer runs for PROXY_LINGER */
    unsigned dead : 1;      /* free at the end of this event */
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
    struct acceptor acceptor;
    struct proxy_session *sessions;
    size_t nsessions;
    struct proxy_session *bucket[PROXY_HASH];
    char *pool[PROXY_POOL]; /* free buffers of PROXY_BUF bytes */
    size_t npool;
    ev_timer drain_w; /* deadline of a draining proxy */
    int draining;
    proxy_done_fn done;
    void *done_ctx;
    double refuse_logged;  /* when a refused connection was last logged */
    unsigned long refused; /* refused since then */
    struct proxy_metrics {
        struct metric *outcome[DECISION_NEED_GRANT + 1], *limit; /* RCPT TO decisions */
        struct metric *latency, *active, *sessions, *refused;
    } m;                     /* written by the loop's thread (metrics.h) */
    struct smtp_reply reply; /* the backend reply being handled (one at a time) */
    char scratch[PROXY_SCRATCH];
};

/* proxy_identity_parse - proxy_client_identity as an enum proxy_identity; -1 if unknown */
static int proxy_identity_parse(const char *text)
{
    if (strcasecmp(text, "none") == 0)
        return PROXY_ID_NONE;
    if (strcasecmp(text, "xclient") == 0)
        return PROXY_ID_XCLIENT;
    if (strcasecmp(text, "haproxy") == 0)
        return PROXY_ID_HAPROXY;
    return -1;
}

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

    if (proxy_identity_parse(cfg->proxy_client_identity) < 0)
        return util_seterr(err, errlen,
                           "proxy_client_identity: '%s' is not xclient, haproxy or none",
                           cfg->proxy_client_identity);
    if (cfg->proxy_listen.count == 0)
        return 0;
    if (cfg->proxy_listen.count > PROXY_MAX_LISTENERS)
        return util_seterr(err, errlen, "proxy_listen: at most %d entries are allowed",
                           PROXY_MAX_LISTENERS);
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

/* proxy_queue_push - owe the client one more reply, of kind (fixed replies carry arg) */
static void proxy_queue_push(struct proxy_session *s, int kind, int arg)
{
    struct proxy_pending *q = &s->queue[(s->qhead + s->qlen) % PROXY_PIPELINE];

    q->kind = (uint8_t)kind;
    q->arg = (uint8_t)arg;
    s->qlen++;
    if (kind < PROXY_L_TEXT)
        s->nwait++;
}

/* proxy_queue_head - the oldest reply owed, or NULL */
static const struct proxy_pending *proxy_queue_head(const struct proxy_session *s)
{
    return s->qlen > 0 ? &s->queue[s->qhead] : NULL;
}

/* proxy_queue_pop - the oldest reply owed has been given */
static void proxy_queue_pop(struct proxy_session *s)
{
    if (s->queue[s->qhead].kind < PROXY_L_TEXT)
        s->nwait--;
    s->qhead = (uint16_t)((s->qhead + 1) % PROXY_PIPELINE);
    s->qlen--;
}

/* proxy_to_client - append len bytes to the client's output; -1 if they do not fit now */
static int proxy_to_client(struct proxy_session *s, const char *text, size_t len)
{
    struct proxy_buf *b = &s->client.out;

    proxy_buf_get(s->p, b, PROXY_BUF);
    if (proxy_buf_room(b, len) < len)
        return -1;
    memcpy(b->data + b->len, text, len);
    b->len += (uint32_t)len;
    return 0;
}

/* proxy_locals - move the fixed replies at the head of the queue to the client's output */
static void proxy_locals(struct proxy_session *s)
{
    const struct proxy_pending *q;

    while ((q = proxy_queue_head(s)) != NULL && q->kind >= PROXY_L_TEXT) {
        const char *text;
        size_t len;

        if (q->kind == PROXY_L_TEXT) {
            text = proxy_texts[q->arg];
            len = strlen(text);
        } else {
            text = smtp_error_reply((enum smtp_error)q->arg);
            len = strlen(text);
        }
        if (proxy_to_client(s, text, len) < 0)
            return;
        proxy_queue_pop(s);
    }
}

/* proxy_local - answer the current command with a fixed reply, in its turn; the
 * PROXY_MAX_ERRORSth error reply is followed by "421 4.7.0 Too many errors" and the end */
static void proxy_local(struct proxy_session *s, int kind, int arg)
{
    proxy_queue_push(s, kind, arg);
    if ((kind == PROXY_L_ERROR || proxy_texts[arg][0] >= '4') && ++s->errors >= PROXY_MAX_ERRORS &&
        !s->bye) {
        log_info("action=close client=%s reason=\"too many errors\" errors=%u", s->addrtext,
                 (unsigned)s->errors);
        proxy_queue_push(s, PROXY_L_TEXT, PROXY_T_TOO_MANY_ERRORS);
        s->bye = 1;
    }
    proxy_locals(s);
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

/*
 * proxy_shutdown - end the session: close the backend's connection (after QUIT: once the
 * backend has closed it, so that the backend and not smtpgate holds TIME_WAIT), drop the
 * replies still owed and the client's unread input, queue text (PROXY_T_NONE for none)
 * for the client and go CLOSING. The client's connection closes once its output is
 * written.
 */
static void proxy_shutdown(struct proxy_session *s, int text)
{
    if (s->phase == PROXY_CLOSING || s->dead)
        return;
    proxy_locals(s);
    if (!s->quitting)
        proxy_close_backend(s);
    s->qlen = s->nwait = 0;
    proxy_buf_put(s->p, &s->client.in, 1);
    if (text != PROXY_T_NONE)
        (void)proxy_to_client(s, proxy_texts[text], strlen(proxy_texts[text]));
    s->phase = PROXY_CLOSING;
}

/* proxy_clean - client data made safe for one log field (no quotes, spaces or controls) */
static const char *proxy_clean(const char *s, size_t len, char *dst, size_t dstlen, int quoted)
{
    char *p;

    util_printable(s, len < dstlen - 1 ? len : dstlen - 1, dst, dstlen);
    for (p = dst; *p != '\0'; p++)
        if (*p == '"' || *p == '\\' || (!quoted && *p == ' '))
            *p = '?';
    if (dst[0] == '\0' && !quoted)
        util_strlcpy(dst, "<>", dstlen);
    return dst;
}

/* proxy_put - append s to a log line being built in buf[*len], bounded by size */
static void proxy_put(char *buf, size_t *len, size_t size, const char *s)
{
    size_t n = strlen(s);

    if (n > size - 1 - *len)
        n = size - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
}

/* proxy_log_rcpt - the one log line of a RCPT decision at level, built without printf: this
 * runs for every recipient */
static void proxy_log_rcpt(const struct proxy_session *s, int level, const char *action,
                           const struct smtp_command *cmd, const char *reason)
{
    char rcpt[PROXY_LOG_FIELD], why[sizeof(((struct decision *)0)->reason)];
    char line[PROXY_LOG_FIELD + sizeof(why) + 128];
    size_t len = 0;

    if (log_level_current < level)
        return;
    proxy_put(line, &len, sizeof(line), "action=");
    proxy_put(line, &len, sizeof(line), action);
    proxy_put(line, &len, sizeof(line), " client=");
    proxy_put(line, &len, sizeof(line), s->addrtext);
    proxy_put(line, &len, sizeof(line), " recipient=");
    proxy_put(line, &len, sizeof(line),
              proxy_clean(cmd->path, cmd->pathlen, rcpt, sizeof(rcpt), 0));
    proxy_put(line, &len, sizeof(line), " reason=\"");
    proxy_put(line, &len, sizeof(line), proxy_clean(reason, strlen(reason), why, sizeof(why), 1));
    proxy_put(line, &len, sizeof(line), "\"");
    log_text(level, line, len);
}

/* proxy_forward - write cmd's canonical form to the backend and owe its reply; -1 if it
 * cannot be written (answered 501 then) */
static int proxy_forward(struct proxy_session *s, const struct smtp_command *cmd, int kind)
{
    struct proxy_buf *b = &s->backend.out;
    size_t n = smtp_command_format(cmd, b->data + b->len, b->cap - b->len);

    if (n == 0) {
        proxy_local(s, PROXY_L_ERROR, SMTP_ERR_SYNTAX);
        return -1;
    }
    b->len += (uint32_t)n;
    proxy_queue_push(s, kind, 0);
    return 0;
}

/* proxy_rcpt - decide one RCPT TO: forward it, or answer it here */
static void proxy_rcpt(struct proxy_session *s, const struct smtp_command *cmd)
{
    struct proxy *p = s->p;
    struct decision_grant grant;
    struct decision d;
    uint64_t t0 = metrics_now_ns();

    if (s->rcpts >= s->max_rcpts) {
        proxy_local(s, PROXY_L_TEXT, PROXY_T_TOO_MANY_RCPTS);
        metric_inc(p->m.limit);
        proxy_log_rcpt(s, LOG_LEVEL_INFO, "limit", cmd, "proxy_max_recipients reached");
        return;
    }
    decide(p->cfg, &s->addr, cmd->path, cmd->pathlen, NULL, &d);
    if (d.outcome == DECISION_NEED_GRANT && s->authenticated) {
        d.outcome = DECISION_PERMIT_AUTH;
        util_strlcpy(d.reason, "client authenticated with SMTP AUTH", sizeof(d.reason));
    } else if (d.outcome == DECISION_NEED_GRANT) {
        grants_lookup(p->grants, &s->addr, (int64_t)ev_now(p->loop), &grant);
        decide(p->cfg, &s->addr, cmd->path, cmd->pathlen, &grant, &d);
    }
    switch (d.outcome) {
    case DECISION_LOCAL:
    case DECISION_PERMIT_LOCALNET:
    case DECISION_PERMIT_GRANT:
    case DECISION_PERMIT_AUTH:
        if (proxy_forward(s, cmd, PROXY_W_OTHER) == 0)
            s->rcpts++;
        break;
    case DECISION_REJECT:
        proxy_local(s, PROXY_L_TEXT, PROXY_T_RELAY_DENIED);
        break;
    case DECISION_DEFER:
        proxy_local(s, PROXY_L_TEXT, PROXY_T_DEFER);
        break;
    default:
        proxy_local(s, PROXY_L_TEXT, PROXY_T_DEFER);
        log_error("action=defer client=%s reason=\"unexpected outcome %s\"", s->addrtext,
                  decide_name(d.outcome));
        metric_inc(p->m.outcome[DECISION_DEFER]);
        return;
    }
    metric_inc(p->m.outcome[d.outcome]);
    metric_observe(p->m.latency, metrics_now_ns() - t0);
    proxy_log_rcpt(s, d.outcome == DECISION_DEFER ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
                   decide_name(d.outcome), cmd, d.reason);
}

/* proxy_command - handle one client command line (CRLF removed) */
static void proxy_command(struct proxy_session *s, const char *line, size_t len)
{
    struct smtp_command cmd;
    enum smtp_error err = smtp_command_parse(line, len, &cmd);
    int kind = PROXY_W_OTHER;

    if (err != SMTP_ERR_NONE) {
        proxy_local(s, PROXY_L_ERROR, err);
        return;
    }
    switch (cmd.verb) {
    case SMTP_STARTTLS:
    case SMTP_BDAT:
        proxy_local(s, PROXY_L_ERROR, SMTP_ERR_NOT_IMPL);
        return;
    case SMTP_VRFY:
        proxy_local(s, PROXY_L_TEXT, PROXY_T_VRFY);
        return;
    case SMTP_HELP:
        proxy_local(s, PROXY_L_TEXT, PROXY_T_HELP);
        return;
    case SMTP_RCPT:
        proxy_rcpt(s, &cmd);
        return;
    case SMTP_HELO:
        kind = PROXY_W_HELO;
        break;
    case SMTP_EHLO:
        kind = PROXY_W_EHLO;
        break;
    case SMTP_AUTH:
        kind = PROXY_W_AUTH;
        break;
    case SMTP_DATA:
        kind = PROXY_W_DATA;
        break;
    case SMTP_QUIT:
        kind = PROXY_W_QUIT;
        break;
    case SMTP_MAIL:
    case SMTP_RSET:
    case SMTP_NOOP:
        break;
    default:
        proxy_local(s, PROXY_L_ERROR, SMTP_ERR_UNKNOWN);
        return;
    }
    if (proxy_forward(s, &cmd, kind) < 0)
        return;
    switch (cmd.verb) {
    case SMTP_HELO:
    case SMTP_EHLO:
        s->pipelining = 0; /* until the reply says otherwise */
        s->rcpts = 0;
        break;
    case SMTP_MAIL:
    case SMTP_RSET:
        s->rcpts = 0;
        break;
    case SMTP_AUTH:
    case SMTP_DATA:
        s->sync = 1;
        break;
    case SMTP_QUIT:
        s->quit = 1;
        break;
    default:
        break;
    }
}

/* proxy_auth_line - forward one AUTH continuation as it is, or "*" (cancel) if it is not
 * base64: the backend's answer to it is the client's reply either way */
static void proxy_auth_line(struct proxy_session *s, const char *line, size_t n)
{
    struct proxy_buf *b = &s->backend.out;

    if (n >= 2 && smtp_auth_line_ok(line, n - 2)) {
        memcpy(b->data + b->len, line, n);
        b->len += (uint32_t)n;
    } else {
        memcpy(b->data + b->len, "*\r\n", 3);
        b->len += 3;
    }
    proxy_queue_push(s, PROXY_W_AUTH, 0);
    s->auth_cont = 0;
    s->sync = 1;
}

/* proxy_line_error - answer a line that smtp_line_find or smtp_line_skip refused */
static void proxy_line_error(struct proxy_session *s, enum smtp_error err)
{
    if (err == SMTP_ERR_TOO_LONG && s->auth_cont) {
        /* the backend waits for a continuation: cancel, its 501 answers the client */
        proxy_auth_line(s, "", 0);
        return;
    }
    proxy_local(s, PROXY_L_ERROR, err);
    if (err != SMTP_ERR_TOO_LONG) {
        log_info("action=close client=%s reason=\"%s in a command line\"", s->addrtext,
                 err == SMTP_ERR_NUL ? "NUL" : "bare CR or LF");
        s->bye = 1;
    }
}

/* proxy_line - handle the next client line; 1 if it was used, 0 if more bytes are needed,
 * -1 if it must wait (for a reply, for room) */
static int proxy_line(struct proxy_session *s)
{
    struct proxy *p = s->p;
    struct proxy_buf *in = &s->client.in;
    const char *line = in->data + in->off;
    size_t avail = in->len - in->off, n, max, need;
    enum smtp_error err;

    /* a line adds at most two entries to the queue: its reply and "Too many errors" */
    if (s->sync || s->quit || s->bye || p->draining || s->qlen + 2 > PROXY_PIPELINE ||
        (!s->pipelining && s->nwait > 0))
        return -1;
    if (s->skip) {
        int done;
        n = smtp_line_skip(line, avail, &done, &err);
        in->off += (uint32_t)n;
        if (err != SMTP_ERR_NONE) {
            s->skip = 0;
            proxy_line_error(s, err);
            return 1;
        }
        if (done)
            s->skip = 0;
        return done ? 1 : 0;
    }
    max = s->auth_cont ? SMTP_AUTH_LINE : s->max_line;
    n = smtp_line_find(line, avail, max, &err);
    if (n == 0)
        return 0;
    /* room for its canonical form (or for the "*" that cancels an AUTH exchange) */
    need = (err == SMTP_ERR_NONE ? n : 0) + PROXY_SLACK;
    proxy_buf_get(p, &s->backend.out, s->bufsize);
    if (proxy_buf_room(&s->backend.out, need) < need)
        return -1;
    in->off += (uint32_t)n;
    if (err != SMTP_ERR_NONE) {
        if (err == SMTP_ERR_TOO_LONG && !(n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n'))
            s->skip = 1;
        proxy_line_error(s, err);
    } else if (s->auth_cont) {
        proxy_auth_line(s, line, n);
    } else {
        proxy_command(s, line, n - 2);
    }
    return 1;
}

/* proxy_data - pass message bytes to the backend through the DATA scanner; 1 if some were
 * used, 0 if more are needed, -1 if they must wait for room (or the session ended) */
static int proxy_data(struct proxy_session *s)
{
    struct proxy_buf *in = &s->client.in, *out = &s->backend.out;
    const char *src = in->data + in->off, *lf;
    size_t avail = in->len - in->off, room, n, used;
    enum smtp_data_state st;

    proxy_buf_get(s->p, out, s->bufsize);
    room = proxy_buf_room(out, avail);
    if (room == 0) {
        /* a line longer than the buffer: let its beginning go, but never a last CR */
        if (s->hold == out->len - out->off)
            s->hold = out->data[out->len - 1] == '\r' ? 1 : 0;
        return -1;
    }
    n = avail < room ? avail : room;
    st = smtp_data_scan(&s->data, src, n, &used);
    if (st == SMTP_DATA_BAD) {
        log_info("action=close client=%s reason=\"bare CR or LF or NUL in message\" bytes=%llu",
                 s->addrtext, (unsigned long long)s->data.bytes);
        proxy_shutdown(s, PROXY_T_BAD_DATA);
        return -1;
    }
    memcpy(out->data + out->len, src, used);
    out->len += (uint32_t)used;
    in->off += (uint32_t)used;
    /* only whole CRLF lines go out until the message ends */
    lf = used > 0 ? memrchr(src, '\n', used) : NULL;
    s->hold = lf != NULL ? (uint32_t)(used - (size_t)(lf - src) - 1) : s->hold + (uint32_t)used;
    if (st == SMTP_DATA_END) {
        s->hold = 0;
        s->phase = PROXY_COMMANDS;
        s->rcpts = 0;
        proxy_queue_push(s, PROXY_W_DOT, 0);
        return 1;
    }
    return used > 0 ? 1 : 0;
}

/* proxy_client_input - handle the client's complete lines or message bytes; 1 if any */
static int proxy_client_input(struct proxy_session *s)
{
    struct proxy_buf *in = &s->client.in;
    int used = 0;

    s->more = 1;
    while (!s->dead && in->data != NULL && in->off < in->len) {
        int r;

        if (s->phase == PROXY_DATA)
            r = proxy_data(s);
        else if (s->phase == PROXY_COMMANDS)
            r = proxy_line(s);
        else
            break;
        if (r > 0) {
            used = 1;
            continue;
        }
        s->more = r == 0;
        break;
    }
    return used;
}

/* proxy_offers_pipelining - 1 if a (filtered) EHLO reply lists PIPELINING */
static int proxy_offers_pipelining(const struct smtp_reply *r)
{
    const char *p = r->text, *end = r->text + r->len;
    int first = 1;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t len = eol != NULL ? (size_t)(eol - p) + 1 : (size_t)(end - p);

        if (!first && len >= 14 && strncasecmp(p + 4, "PIPELINING", 10) == 0 &&
            (len == 14 || p[14] == '\r' || p[14] == ' '))
            return 1;
        first = 0;
        p += len;
    }
    return 0;
}

/* proxy_xclient - tell the backend who the client is (after its first greeting) */
static void proxy_xclient(struct proxy_session *s)
{
    struct proxy_buf *b = &s->backend.out;
    size_t n;

    proxy_buf_get(s->p, b, s->bufsize);
    proxy_buf_room(b, SMTP_LINE_MIN);
    n = smtp_xclient_format(b->data + b->len, b->cap - b->len, s->addrtext,
                            s->addr.family == AF_INET6, s->port, NULL, 0);
    if (n == 0) {
        log_error("action=close client=%s reason=\"cannot build XCLIENT\"", s->addrtext);
        proxy_shutdown(s, PROXY_T_UNAVAILABLE);
        return;
    }
    b->len += (uint32_t)n;
    proxy_queue_push(s, PROXY_W_XCLIENT, 0);
}

/* proxy_backend_broken - the backend said something that is not SMTP: close the session */
static void proxy_backend_broken(struct proxy_session *s, const char *why)
{
    log_warnx("action=close client=%s reason=\"backend: %s\"", s->addrtext, why);
    proxy_shutdown(s, PROXY_T_UNAVAILABLE);
}

/*
 * proxy_reply - hand one complete backend reply to the command that waits for it and pass
 * it on; -1 if the client's output has no room for it yet (nothing changed then).
 */
static int proxy_reply(struct proxy_session *s, struct smtp_reply *r)
{
    const struct proxy_pending *q;
    int kind, auth;

    proxy_locals(s);
    q = proxy_queue_head(s);
    if (q != NULL && q->kind >= PROXY_L_TEXT)
        return -1; /* fixed replies before it still wait for room */
    proxy_buf_get(s->p, &s->client.out, PROXY_BUF);
    if (proxy_buf_room(&s->client.out, r->len) < r->len)
        return -1;
    if (q == NULL) {
        if (r->code == 421) {
            /* the backend is closing (its own timeout, shutdown): pass it on */
            (void)proxy_to_client(s, r->text, r->len);
            log_info("action=close client=%s reason=\"backend closed with 421\"", s->addrtext);
            proxy_shutdown(s, PROXY_T_NONE);
        } else {
            proxy_backend_broken(s, "reply without a command");
        }
        return 0;
    }
    kind = q->kind;
    proxy_queue_pop(s);
    switch (kind) {
    case PROXY_W_GREETING:
        if (s->identity == PROXY_ID_XCLIENT) {
            if (r->code != 220) {
                log_warnx("action=close client=%s reason=\"backend greeting %d, not 220\"",
                          s->addrtext, r->code);
                proxy_shutdown(s, PROXY_T_UNAVAILABLE);
            } else {
                proxy_xclient(s);
            }
            return 0;
        }
        s->phase = PROXY_COMMANDS;
        break;
    case PROXY_W_XCLIENT:
        if (r->code != 220) {
            log_warnx("action=close client=%s reason=\"backend answered XCLIENT with %d "
                      "(is smtpgate in its smtpd_authorized_xclient_hosts?)\"",
                      s->addrtext, r->code);
            proxy_shutdown(s, PROXY_T_UNAVAILABLE);
            return 0;
        }
        s->phase = PROXY_COMMANDS;
        break;
    case PROXY_W_EHLO:
        if (r->code == 250) {
            smtp_ehlo_filter(r, &auth);
            s->pipelining = proxy_offers_pipelining(r) ? 1 : 0;
        }
        break;
    case PROXY_W_AUTH:
        s->sync = 0;
        if (r->code == 334) {
            s->auth_cont = 1;
        } else if (r->code == 235) {
            s->authenticated = 1;
            log_info("action=auth client=%s status=accepted", s->addrtext);
        }
        break;
    case PROXY_W_DATA:
        s->sync = 0;
        if (r->code == 354) {
            s->phase = PROXY_DATA;
            smtp_data_init(&s->data);
            s->data_start = ev_now(s->p->loop);
            s->hold = 0;
        }
        break;
    default:
        break;
    }
    (void)proxy_to_client(s, r->text, r->len);
    if (kind == PROXY_W_QUIT || r->code == 421) {
        if (kind != PROXY_W_QUIT)
            log_info("action=close client=%s reason=\"backend closed with 421\"", s->addrtext);
        s->quitting = kind == PROXY_W_QUIT;
        proxy_shutdown(s, PROXY_T_NONE);
    } else {
        proxy_locals(s);
    }
    return 0;
}

/* proxy_backend_input - pass on each complete backend reply in turn; 1 if any was */
static int proxy_backend_input(struct proxy_session *s)
{
    struct proxy_buf *in = &s->backend.in;
    struct smtp_reply *r = &s->p->reply;
    int moved = 0;

    s->bblocked = 0;
    while (s->backend.fd >= 0 && in->data != NULL && in->off < in->len) {
        size_t pos = in->off;
        int rc = 0;

        smtp_reply_init(r);
        while (pos < in->len) {
            enum smtp_error err;
            size_t n = smtp_line_find(in->data + pos, in->len - pos, SMTP_REPLY_LINE, &err);

            if (n == 0)
                break;
            if (err != SMTP_ERR_NONE || (rc = smtp_reply_feed(r, in->data + pos, n - 2)) < 0) {
                proxy_backend_broken(s, "malformed reply");
                return moved;
            }
            pos += n;
            if (rc == 1)
                break;
        }
        if (rc != 1)
            break; /* the rest of the reply is still to come */
        if (proxy_reply(s, r) < 0) {
            s->bblocked = 1;
            break;
        }
        moved = 1;
        if (s->backend.fd < 0)
            break;
        in->off = (uint32_t)pos;
    }
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
 * session; a failed backend ends it with 421. */
static size_t proxy_flush(struct proxy_session *s)
{
    size_t total = 0;
    ssize_t n;

    if (s->backend.fd >= 0) {
        if ((n = proxy_write(s->backend.fd, &s->backend.out, s->hold)) < 0) {
            log_warnx("action=close client=%s reason=\"backend %s: %s\"", s->addrtext,
                      s->phase == PROXY_GREETING ? "connect" : "write", strerror(errno));
            proxy_shutdown(s, s->phase != PROXY_GREETING && s->nwait > 0 ? PROXY_T_BACKEND_SLOW
                                                                         : PROXY_T_UNAVAILABLE);
        } else {
            total += (size_t)n;
        }
    }
    if (s->client.fd >= 0) {
        if ((n = proxy_write(s->client.fd, &s->client.out, 0)) < 0) {
            log_debug("action=close client=%s reason=\"write: %s\"", s->addrtext, strerror(errno));
            s->dead = 1;
        } else {
            total += (size_t)n;
        }
    }
    return total;
}

/* proxy_ends - end the session where the state says so: a side closed, the last reply to
 * a bad line went out, a draining proxy has nothing in flight */
static void proxy_ends(struct proxy_session *s)
{
    struct proxy *p = s->p;

    if (s->phase == PROXY_CLOSING)
        return;
    if (s->beof && !s->bblocked) {
        log_info("action=close client=%s reason=\"backend closed the connection\"", s->addrtext);
        proxy_shutdown(s, PROXY_T_UNAVAILABLE);
        return;
    }
    if (s->phase == PROXY_DATA && s->ceof && s->more) {
        log_info("action=close client=%s reason=\"client closed during DATA\"", s->addrtext);
        proxy_shutdown(s, PROXY_T_NONE);
        return;
    }
    if (p->draining && s->phase == PROXY_GREETING) {
        proxy_shutdown(s, PROXY_T_SHUTDOWN);
        return;
    }
    if (s->phase != PROXY_COMMANDS || s->qlen > 0)
        return;
    if (s->bye || (s->ceof && s->more))
        proxy_shutdown(s, PROXY_T_NONE);
    else if (p->draining)
        proxy_shutdown(s, PROXY_T_SHUTDOWN);
}

/* proxy_waits_backend - 1 if the session waits for the backend to answer or take bytes */
static int proxy_waits_backend(const struct proxy_session *s)
{
    return s->phase == PROXY_GREETING || s->nwait > 0 ||
           (s->backend.fd >= 0 && s->backend.out.len - s->backend.out.off > s->hold);
}

/* proxy_data_deadline - when DATA must be over at proxy_min_data_rate (0: never) */
static double proxy_data_deadline(const struct proxy_session *s)
{
    if (s->min_rate <= 0)
        return 0;
    return s->data_start + s->t_data + (double)s->data.bytes / s->min_rate;
}

/* proxy_timer - arm the session's timer for what it waits for now */
static void proxy_timer(struct proxy_session *s)
{
    struct ev_loop *loop = s->p->loop;
    double t;

    if (s->phase == PROXY_CLOSING) {
        if (s->lingering)
            return; /* a closing client cannot keep itself alive */
        s->lingering = 1;
        t = PROXY_LINGER;
    } else if (proxy_waits_backend(s)) {
        t = s->t_backend;
    } else if (s->phase == PROXY_DATA) {
        double deadline = proxy_data_deadline(s);

        t = s->t_data;
        if (deadline > 0 && deadline - ev_now(loop) < t)
            t = deadline - ev_now(loop) > 0.001 ? deadline - ev_now(loop) : 0.001;
    } else {
        t = s->t_command;
    }
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

/* proxy_watchers - read a side only while its bytes can go somewhere; write while output
 * waits */
static void proxy_watchers(struct proxy_session *s)
{
    struct proxy *p = s->p;
    const struct proxy_buf *cin = &s->client.in, *bout = &s->backend.out;
    int cread;

    if (s->phase == PROXY_CLOSING)
        cread = s->linger && !s->ceof;
    else
        cread = (s->phase == PROXY_COMMANDS || s->phase == PROXY_DATA) && !s->ceof && s->more &&
                !s->quit && !s->bye && !(p->draining && s->phase == PROXY_COMMANDS) &&
                (cin->data == NULL || cin->len - cin->off < cin->cap);
    proxy_io(p->loop, &s->client.read_w, cread);
    proxy_io(p->loop, &s->client.write_w, s->client.out.len > s->client.out.off);
    if (s->backend.fd < 0)
        return;
    proxy_io(p->loop, &s->backend.read_w, !s->beof && (!s->bblocked || s->quitting));
    proxy_io(p->loop, &s->backend.write_w, bout->len - bout->off > s->hold);
}

/* proxy_client_bytes - how many leading bytes of a name its client for the per-client
 * limit: the IPv4 address, or the /64 of an IPv6 address (one subscriber's usual share) */
static size_t proxy_client_bytes(const struct addr *a)
{
    return a->family == AF_INET ? 4 : PROXY_CLIENT_V6_PREFIX / 8;
}

/* proxy_hash_of - the per-client bucket of a */
static size_t proxy_hash_of(const struct addr *a)
{
    uint32_t h = 2166136261u;
    size_t i, n = proxy_client_bytes(a);

    for (i = 0; i < n; i++)
        h = (h ^ a->bytes[i]) * 16777619u;
    return h & (PROXY_HASH - 1);
}

/* proxy_session_free - close both sides and release s; a draining proxy may now be done */
static void proxy_session_free(struct proxy_session *s)
{
    struct proxy *p = s->p;

    ev_io_stop(p->loop, &s->client.read_w);
    ev_io_stop(p->loop, &s->client.write_w);
    ev_timer_stop(p->loop, &s->timer_w);
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
        p->bucket[proxy_hash_of(&s->addr)] = s->hnext;
    if (s->hnext != NULL)
        s->hnext->hprev = s->hprev;
    free(s);
    p->nsessions--;
    metric_gauge_add(p->m.active, -1);
    if (p->draining && p->nsessions == 0 && p->done != NULL) {
        proxy_done_fn done = p->done;

        ev_timer_stop(p->loop, &p->drain_w);
        p->done = NULL;
        done(p->done_ctx);
    }
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
    for (;;) {
        int moved = 0;

        if (!s->dead && s->phase != PROXY_CLOSING) {
            moved |= proxy_backend_input(s);
            moved |= proxy_client_input(s);
            proxy_ends(s);
        }
        if (s->dead || (proxy_flush(s) == 0 && !moved) || s->dead)
            break;
    }
    if (!s->dead && s->phase == PROXY_CLOSING && !s->linger &&
        s->client.out.len == s->client.out.off) {
        /* the last reply is out. Closing with unread input would reset the connection and
         * could lose that reply: after QUIT the client has normally sent nothing more and
         * the connection can close at once; otherwise no more output, and what the client
         * still sends is read and dropped until it closes or PROXY_LINGER passes */
        s->linger = 1;
        if (s->quitting && proxy_client_quiet(s))
            s->ceof = 1;
        else
            shutdown(s->client.fd, SHUT_WR);
    }
    if (!s->dead && s->phase == PROXY_CLOSING && s->linger && s->ceof && s->backend.fd < 0)
        s->dead = 1;
    if (s->dead) {
        proxy_session_free(s);
        return;
    }
    proxy_buf_put(s->p, &s->client.in, 0);
    proxy_buf_put(s->p, &s->client.out, 0);
    proxy_buf_put(s->p, &s->backend.in, 0);
    proxy_buf_put(s->p, &s->backend.out, 0);
    proxy_watchers(s);
    proxy_timer(s);
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
    struct proxy_session *s = PROXY_OWNER(w, struct proxy_session, client.read_w);
    ssize_t n;

    (void)loop, (void)revents;
    if (s->phase == PROXY_CLOSING) {
        do
            n = recv(s->client.fd, s->p->scratch, sizeof(s->p->scratch), 0);
        while (n < 0 && errno == EINTR);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            s->dead = 1;
    } else {
        proxy_buf_get(s->p, &s->client.in, s->bufsize);
        n = proxy_read(s->client.fd, &s->client.in);
        if (n == 0) {
            s->ceof = 1;
        } else if (n == -1) {
            log_debug("action=close client=%s reason=\"read: %s\"", s->addrtext, strerror(errno));
            s->dead = 1;
        }
    }
    proxy_service(s);
}

/* proxy_client_write_cb - the client can take more of its replies */
static void proxy_client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    proxy_service(PROXY_OWNER(w, struct proxy_session, client.write_w));
}

/* proxy_backend_read_cb - the backend sent something, closed, or could not be reached */
static void proxy_backend_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct proxy_session *s = PROXY_OWNER(w, struct proxy_session, backend.read_w);
    ssize_t n;

    (void)loop, (void)revents;
    if (s->phase == PROXY_CLOSING) {
        /* after QUIT: wait for the backend to close; drop anything else it sends */
        do
            n = recv(s->backend.fd, s->p->scratch, sizeof(s->p->scratch), 0);
        while (n < 0 && errno == EINTR);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
            proxy_close_backend(s);
        proxy_service(s);
        return;
    }
    proxy_buf_get(s->p, &s->backend.in, PROXY_BUF);
    n = proxy_read(s->backend.fd, &s->backend.in);
    if (n == 0) {
        s->beof = 1;
    } else if (n == -1) {
        log_warnx("action=close client=%s reason=\"backend %s: %s\"", s->addrtext,
                  s->phase == PROXY_GREETING ? "connect" : "read", strerror(errno));
        proxy_shutdown(s, PROXY_T_UNAVAILABLE);
    }
    proxy_service(s);
}

/* proxy_backend_ready - the backend's connection is on its way: queue the PROXY header if
 * one is wanted, await the greeting */
static void proxy_backend_ready(struct proxy_session *s)
{
    s->phase = PROXY_GREETING;
    if (s->identity == PROXY_ID_HAPROXY) {
        struct proxy_buf *b = &s->backend.out;
        struct sockaddr_storage ss;
        socklen_t sslen = sizeof(ss);
        struct addr local;
        char text[ADDR_STRLEN];
        unsigned lport = 0;
        size_t n = 0;

        proxy_buf_get(s->p, b, s->bufsize);
        memset(&ss, 0, sizeof(ss));
        if (getsockname(s->client.fd, (struct sockaddr *)&ss, &sslen) == 0 &&
            proxy_sockaddr(&ss, &local, &lport) == 0 && local.family == s->addr.family)
            n = smtp_haproxy_format(b->data + b->len, b->cap - b->len, s->addr.family == AF_INET6,
                                    s->addrtext, addr_format(&local, text, sizeof(text)), s->port,
                                    lport);
        if (n == 0) {
            log_error("action=close client=%s reason=\"cannot build the PROXY header\"",
                      s->addrtext);
            proxy_shutdown(s, PROXY_T_UNAVAILABLE);
            return;
        }
        b->len += (uint32_t)n;
    }
    proxy_queue_push(s, PROXY_W_GREETING, 0);
}

/* proxy_backend_write_cb - the backend can take more (or its connection is up) */
static void proxy_backend_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    proxy_service(PROXY_OWNER(w, struct proxy_session, backend.write_w));
}

/* proxy_timer_cb - the session waited too long for what proxy_timer armed it for */
static void proxy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxy_session *s = PROXY_OWNER(w, struct proxy_session, timer_w);
    double deadline;

    (void)revents;
    if (s->phase == PROXY_CLOSING) {
        s->dead = 1;
    } else if (s->phase == PROXY_GREETING) {
        log_warnx("action=close client=%s reason=\"backend timeout before its greeting\"",
                  s->addrtext);
        proxy_shutdown(s, PROXY_T_GREETING_TIMEOUT);
    } else if (proxy_waits_backend(s)) {
        log_warnx("action=close client=%s reason=\"backend timeout\"", s->addrtext);
        proxy_shutdown(s, PROXY_T_BACKEND_SLOW);
    } else if (s->phase == PROXY_DATA) {
        deadline = proxy_data_deadline(s);
        if (deadline > 0 && ev_now(loop) >= deadline - 0.0005) {
            log_info("action=close client=%s reason=\"message slower than proxy_min_data_rate\" "
                     "bytes=%llu",
                     s->addrtext, (unsigned long long)s->data.bytes);
            proxy_shutdown(s, PROXY_T_TOO_SLOW);
        } else {
            log_info("action=close client=%s reason=\"data timeout\"", s->addrtext);
            proxy_shutdown(s, PROXY_T_TIMEOUT);
        }
    } else {
        log_info("action=close client=%s reason=\"command timeout\"", s->addrtext);
        proxy_shutdown(s, PROXY_T_TIMEOUT);
    }
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
        proxy_shutdown(s, PROXY_T_UNAVAILABLE);
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
        proxy_shutdown(s, PROXY_T_UNAVAILABLE);
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

    for (s = p->bucket[proxy_hash_of(a)]; s != NULL; s = s->hnext)
        if (s->addr.family == a->family &&
            memcmp(s->addr.bytes, a->bytes, proxy_client_bytes(a)) == 0)
            n++;
    return n;
}

/* proxy_refuse - turn away a connection over a limit; log at most once a second */
static void proxy_refuse(struct proxy *p, int fd, const char *client, const char *limit,
                         int64_t value)
{
    double now = ev_now(p->loop);

    (void)send(fd, proxy_texts[PROXY_T_TOO_MANY_CONNS], strlen(proxy_texts[PROXY_T_TOO_MANY_CONNS]),
               MSG_NOSIGNAL | MSG_DONTWAIT);
    close(fd);
    p->refused++;
    metric_inc(p->m.refused);
    if (now - p->refuse_logged < 1.0)
        return;
    log_warnx("action=refuse client=%s reason=\"%s (%lld) reached\" refused=%lu", client, limit,
              (long long)value, p->refused);
    p->refused = 0;
    p->refuse_logged = now;
}

/* proxy_session_new - start a session for the accepted client socket fd */
static void proxy_session_new(struct proxy *p, int fd, const struct sockaddr_storage *ss)
{
    const struct config *cfg = p->cfg;
    struct proxy_session *s;
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
    if (p->nsessions >= (size_t)cfg->proxy_max_connections) {
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
    s->max_line = (uint32_t)cfg->proxy_max_line;
    s->bufsize = s->max_line + PROXY_SLACK > PROXY_BUF ? s->max_line + PROXY_SLACK : PROXY_BUF;
    s->max_rcpts = (uint32_t)cfg->proxy_max_recipients;
    s->t_command = (double)cfg->proxy_command_timeout;
    s->t_data = (double)cfg->proxy_data_timeout;
    s->t_backend = (double)cfg->proxy_backend_timeout;
    s->min_rate = (double)cfg->proxy_min_data_rate;
    s->identity = (uint8_t)p->identity;
    s->more = 1;
    ev_io_init(&s->client.read_w, proxy_client_read_cb, fd, EV_READ);
    ev_io_init(&s->client.write_w, proxy_client_write_cb, fd, EV_WRITE);
    ev_init(&s->timer_w, proxy_timer_cb);
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    s->next = p->sessions;
    if (p->sessions != NULL)
        p->sessions->prev = s;
    p->sessions = s;
    h = proxy_hash_of(&a);
    s->hnext = p->bucket[h];
    if (p->bucket[h] != NULL)
        p->bucket[h]->hprev = s;
    p->bucket[h] = s;
    p->nsessions++;
    metric_gauge_add(p->m.active, 1);
    metric_inc(p->m.sessions);
    log_debug("action=connect client=%s port=%u", s->addrtext, s->port);
    proxy_connect(s);
    proxy_service(s);
}

/* proxy_on_accept - start a session for the accepted client socket fd */
static void proxy_on_accept(void *ctx, int fd, const struct sockaddr_storage *ss)
{
    proxy_session_new(ctx, fd, ss);
}

/* proxy_drain_cb - the drain deadline passed: close what is left with 421 */
static void proxy_drain_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct proxy *p = PROXY_OWNER(w, struct proxy, drain_w);
    struct proxy_session *s, *next;

    (void)loop, (void)revents;
    log_warnx("action=stop reason=\"drain timeout\" sessions=%zu", p->nsessions);
    for (s = p->sessions; s != NULL; s = next) {
        next = s->next;
        proxy_shutdown(s, PROXY_T_SHUTDOWN);
        proxy_service(s);
    }
}

/* proxy_metrics_init - register the proxy's series */
static void proxy_metrics_init(struct proxy_metrics *m)
{
    struct metrics *reg = metrics_process();
    static const enum decision_outcome outcomes[] = {
        DECISION_PERMIT_LOCALNET, DECISION_PERMIT_GRANT, DECISION_PERMIT_AUTH,
        DECISION_LOCAL,           DECISION_REJECT,       DECISION_DEFER};
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(outcomes); i++)
        m->outcome[outcomes[i]] = metrics_counter(
            reg, "smtpgate_decisions_total", "Relay decisions by front and outcome.", "front",
            "proxy", "outcome", decide_name(outcomes[i]), NULL);
    m->limit =
        metrics_counter(reg, "smtpgate_decisions_total", "Relay decisions by front and outcome.",
                        "front", "proxy", "outcome", "limit", NULL);
    m->latency = metrics_histogram(
        reg, "smtpgate_request_duration_seconds",
        "Time from a request parsed (policy) or a RCPT TO read (proxy) to its answer queued.",
        metrics_latency_ns, metrics_latency_count, "front", "proxy", NULL);
    m->active =
        metrics_gauge(reg, "smtpgate_proxy_sessions", "SMTP proxy sessions open now.", NULL);
    m->sessions =
        metrics_counter(reg, "smtpgate_proxy_sessions_total", "SMTP proxy sessions started.", NULL);
    m->refused = metrics_counter(reg, "smtpgate_refused_connections_total",
                                 "Connections closed at once: a connection limit was reached.",
                                 "front", "proxy", NULL);
}

/* proxy_new - a proxy on loop deciding under cfg (checked) with grants */
struct proxy *proxy_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants)
{
    struct proxy *p = xcalloc(1, sizeof(*p));

    p->loop = loop;
    p->grants = grants;
    p->refuse_logged = -1e9;
    proxy_metrics_init(&p->m);
    proxy_set_config(p, cfg);
    accept_init(&p->acceptor, loop, "proxy_listen", proxy_on_accept, p);
    ev_timer_init(&p->drain_w, proxy_drain_cb, PROXY_DRAIN_TIMEOUT, 0.);
    log_info("action=proxy backend=%s client_identity=%s session_bytes=%zu buffer_bytes=%d",
             cfg->proxy_backend, cfg->proxy_client_identity, sizeof(struct proxy_session),
             PROXY_BUF);
    return p;
}

/* proxy_listen - accept client connections on the listening socket fd (name for logs) */
int proxy_listen(struct proxy *p, int fd, const char *name, char *err, size_t errlen)
{
    return accept_add(&p->acceptor, fd, name, err, errlen);
}

/* proxy_set_config - new sessions and every decision from now on use cfg (checked) */
void proxy_set_config(struct proxy *p, const struct config *cfg)
{
    int identity = proxy_identity_parse(cfg->proxy_client_identity);
    struct proxy_target t;

    p->cfg = cfg;
    p->identity = identity < 0 ? PROXY_ID_NONE : identity;
    if (cfg->proxy_backend[0] != '\0' && proxy_target_parse(cfg->proxy_backend, &t, NULL, 0) == 0)
        p->backend = t;
}

/* proxy_drain - stop accepting, finish what is in flight, close with 421; see proxy.h */
void proxy_drain(struct proxy *p, proxy_done_fn done, void *ctx)
{
    struct proxy_session *s, *next;

    accept_stop(&p->acceptor);
    p->draining = 1;
    p->done = done;
    p->done_ctx = ctx;
    if (p->nsessions == 0) {
        p->done = NULL;
        if (done != NULL)
            done(ctx);
        return;
    }
    ev_timer_start(p->loop, &p->drain_w);
    for (s = p->sessions; s != NULL; s = next) {
        next = s->next;
        proxy_service(s);
    }
}

/* proxy_sessions - sessions open now */
size_t proxy_sessions(const struct proxy *p)
{
    return p->nsessions;
}

/* proxy_free - close every session and release p; NULL is allowed */
void proxy_free(struct proxy *p)
{
    if (p == NULL)
        return;
    p->done = NULL;
    while (p->sessions != NULL)
        proxy_session_free(p->sessions);
    ev_timer_stop(p->loop, &p->drain_w);
    accept_free(&p->acceptor);
    while (p->npool > 0)
        free(p->pool[--p->npool]);
    free(p);
}
