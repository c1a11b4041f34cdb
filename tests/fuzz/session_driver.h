/*
 * session_driver - the SMTP session core (smtpgate/session.h) driven without sockets, for
 * its unit test (tests/unit/torture_session.c) and its fuzz target (tests/fuzz/fuzz_smtp.c):
 * what the proxy's shell does with buffers, done with plain arrays, and a scripted
 * backend that answers every command the core forwards.
 *
 * The driver records three transcripts: the bytes the client got, the bytes the backend
 * got, and the events (log lines, the end of the session, the limit callback); and the
 * states the session went through, with the state each was entered from. The
 * scripted backend answers EHLO with d->ehlo (PIPELINING by default), DATA with 354 and
 * the end of the message with 250, AUTH with 334 and the continuation with 235 ("*":
 * 501), QUIT with 221 (and then closes), XCLIENT with 220, anything else with 250;
 * d->answer overrides the reply for one verb. RCPT TO is answered from d->grants, one
 * letter per recipient in turn ('p' permit, 'r' reject, 'd' defer; permit once it runs
 * out). Replies reach the core when driver_service runs, so that pipelined commands
 * pile up in between as they do on a network.
 */
#ifndef POPAUTH_SESSION_DRIVER_H
#define POPAUTH_SESSION_DRIVER_H

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "smtpgate/session.h"

#define DRIVER_TEXT    65536 /* bytes kept of each transcript */
#define DRIVER_IN      16384 /* the client's input buffer, as the proxy's PROXY_BUF */
#define DRIVER_SCRATCH 16384 /* the backend's output buffer */

struct driver_text {
    char text[DRIVER_TEXT];
    size_t len;
    uint64_t hash; /* of every byte, also those beyond DRIVER_TEXT */
};

struct driver {
    struct session s;
    struct session_ops ops;
    char in[DRIVER_IN]; /* client bytes read but not yet taken */
    size_t inlen;
    size_t cwin, cpending; /* the client takes cwin bytes before driver_client_take (0: any) */
    size_t broom;          /* room backend_room offers (0: DRIVER_SCRATCH) */
    char scratch[DRIVER_SCRATCH];
    struct driver_text client, backend, events;
    char replies[DRIVER_TEXT]; /* the backend's replies not yet handed to the core */
    size_t rlen;
    int bdata, bauth, bclosed; /* the scripted backend: in DATA, awaiting AUTH data, closed */
    struct smtp_data bscan;
    const char *ehlo;        /* the EHLO reply */
    const char *answer_verb; /* a verb whose reply is answer_text instead */
    const char *answer_text;
    const char *grants; /* the grant answers, in turn */
    size_t ngrant;
    int hold;                         /* 1: keep the backend's replies until driver_release */
    unsigned seen;                    /* the states the session was in, as bits */
    unsigned moves[SESSION_DEAD + 1]; /* by state: the states it was entered from, as bits */
    double now;
    struct smtp_reply reply;
};

/* driver_put - append n bytes to a transcript */
static inline void driver_put(struct driver_text *t, const char *p, size_t n)
{
    size_t i, keep = n < DRIVER_TEXT - 1 - t->len ? n : DRIVER_TEXT - 1 - t->len;

    for (i = 0; i < n; i++)
        t->hash = (t->hash ^ (uint8_t)p[i]) * 1099511628211u;
    memcpy(t->text + t->len, p, keep);
    t->len += keep;
    t->text[t->len] = '\0';
}

/* driver_puts - append a C string to a transcript */
static inline void driver_puts(struct driver_text *t, const char *s)
{
    driver_put(t, s, strlen(s));
}

/* driver_reply - the scripted backend queues text as its next reply */
static inline void driver_reply(struct driver *d, const char *text)
{
    size_t n = strlen(text);

    if (n <= sizeof(d->replies) - d->rlen) {
        memcpy(d->replies + d->rlen, text, n);
        d->rlen += n;
    }
}

/* driver_backend_line - the scripted backend answers one command line */
static inline void driver_backend_line(struct driver *d, const char *p, size_t n)
{
    const char *reply = "250 2.0.0 Ok\r\n";

    if (d->bauth) {
        d->bauth = 0;
        driver_reply(d, n == 3 && p[0] == '*' ? "501 5.7.0 Authentication aborted\r\n"
                                              : "235 2.7.0 Authentication successful\r\n");
        return;
    }
    if (n >= 6 && strncmp(p, "PROXY ", 6) == 0)
        return; /* the PROXY header: no reply */
    if (n >= 4 && strncasecmp(p, "EHLO", 4) == 0)
        reply = d->ehlo != NULL ? d->ehlo : "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n";
    else if (n >= 4 && strncasecmp(p, "DATA", 4) == 0)
        reply = "354 End data with <CR><LF>.<CR><LF>\r\n";
    else if (n >= 4 && strncasecmp(p, "AUTH", 4) == 0)
        reply = "334 \r\n";
    else if (n >= 4 && strncasecmp(p, "QUIT", 4) == 0)
        reply = "221 2.0.0 Bye\r\n";
    else if (n >= 7 && strncasecmp(p, "XCLIENT", 7) == 0)
        reply = "220 mx.test ESMTP\r\n";
    if (d->answer_verb != NULL && n >= strlen(d->answer_verb) &&
        strncasecmp(p, d->answer_verb, strlen(d->answer_verb)) == 0)
        reply = d->answer_text;
    if (reply[0] == '3' && strncmp(reply, "354", 3) == 0) {
        d->bdata = 1;
        smtp_data_init(&d->bscan);
    } else if (strncmp(reply, "334", 3) == 0) {
        d->bauth = 1;
    }
    driver_reply(d, reply);
}

/* driver_client_room - session_ops: what the client takes now */
static inline size_t driver_client_room(void *ctx, size_t want)
{
    struct driver *d = ctx;

    (void)want;
    return d->cwin == 0 ? (size_t)1 << 30 : d->cwin - d->cpending;
}

/* driver_to_client - session_ops: the client gets text */
static inline void driver_to_client(void *ctx, const char *text, size_t len)
{
    struct driver *d = ctx;

    if (d->cwin != 0)
        d->cpending += len;
    driver_put(&d->client, text, len);
}

/* driver_backend_room - session_ops: the backend's output buffer, always empty */
static inline char *driver_backend_room(void *ctx, size_t want, size_t *room)
{
    struct driver *d = ctx;

    (void)want;
    *room = d->broom != 0 ? d->broom : sizeof(d->scratch);
    return d->scratch;
}

/* driver_to_backend - session_ops: the backend gets bytes and the script answers */
static inline void driver_to_backend(void *ctx, size_t len)
{
    struct driver *d = ctx;
    size_t used;

    driver_put(&d->backend, d->scratch, len);
    if (d->bdata) {
        if (smtp_data_scan(&d->bscan, d->scratch, len, &used) == SMTP_DATA_END) {
            d->bdata = 0;
            driver_reply(d, "250 2.0.0 Ok: queued\r\n");
        }
        return;
    }
    if (len >= 2 && d->scratch[len - 2] == '\r' && d->scratch[len - 1] == '\n')
        driver_backend_line(d, d->scratch, len);
}

/* driver_close - session_ops: the session ends */
static inline void driver_close(void *ctx, int backend)
{
    struct driver *d = ctx;

    driver_puts(&d->events, backend ? "close backend\n" : "close, backend closes first\n");
    d->inlen = 0;
    if (backend) {
        d->bclosed = 1;
        d->rlen = 0;
    }
}

/* driver_limit - session_ops: a recipient over the limit */
static inline void driver_limit(void *ctx, const struct smtp_command *rcpt)
{
    struct driver *d = ctx;

    driver_puts(&d->events, "limit ");
    driver_put(&d->events, rcpt->path, rcpt->pathlen);
    driver_puts(&d->events, "\n");
}

/* driver_log - session_ops: a log line */
static inline void driver_log(void *ctx, int level, const char *text)
{
    struct driver *d = ctx;

    (void)level;
    driver_puts(&d->events, text);
    driver_puts(&d->events, "\n");
}

/* driver_moved - session_ops: a transition */
static inline void driver_moved(void *ctx, enum session_state from, enum session_state to)
{
    struct driver *d = ctx;

    d->seen |= 1u << to;
    d->moves[to] |= 1u << from;
}

/* driver_init - a session with the given line and recipient limits, not yet started */
static inline void driver_init(struct driver *d, size_t max_line, uint32_t max_rcpts,
                               enum session_identity identity)
{
    struct session_config cfg = {0};

    memset(d, 0, sizeof(*d));
    d->ops = (struct session_ops){driver_client_room, driver_to_client, driver_backend_room,
                                  driver_to_backend,  driver_close,     driver_limit,
                                  driver_log,         driver_moved};
    d->seen = 1u << SESSION_GREETING;
    cfg.client = "192.0.2.7";
    cfg.port = 40123;
    cfg.identity = identity;
    cfg.max_line = max_line;
    cfg.max_rcpts = max_rcpts;
    cfg.t_command = 300;
    cfg.t_data = 600;
    cfg.t_backend = 60;
    cfg.min_rate = 0;
    cfg.ops = &d->ops;
    cfg.ctx = d;
    d->now = 1000;
    session_init(&d->s, &cfg);
}

/* driver_backend_input - hand the backend's waiting replies to the core; 1 if any went */
static inline int driver_backend_input(struct driver *d)
{
    size_t taken = 0;
    int moved;

    if (d->hold)
        return session_backend_input(&d->s, "", 0, &d->reply, d->now, &taken);
    moved = session_backend_input(&d->s, d->replies, d->rlen, &d->reply, d->now, &taken);
    if (!d->bclosed) {
        memmove(d->replies, d->replies + taken, d->rlen - taken);
        d->rlen -= taken;
    }
    return moved;
}

/* driver_grant - the next grant answer */
static inline enum session_grant driver_grant(struct driver *d)
{
    char c = d->grants != NULL && d->grants[d->ngrant] != '\0' ? d->grants[d->ngrant++] : 'p';

    return c == 'r' ? SESSION_REJECT : c == 'd' ? SESSION_DEFER : SESSION_PERMIT;
}

/* driver_client_input - hand the client's waiting bytes to the core, answering RCPTs */
static inline int driver_client_input(struct driver *d)
{
    int used = 0;

    for (;;) {
        size_t taken = 0;

        int rcpt;

        used |= session_client_input(&d->s, d->in, d->inlen, &taken);
        rcpt = session_state(&d->s) == SESSION_RCPT;
        if (rcpt) /* answered before its line moves */
            session_grant(&d->s, driver_grant(d));
        if (taken > d->inlen)
            taken = d->inlen; /* dropped by the end of the session */
        memmove(d->in, d->in + taken, d->inlen - taken);
        d->inlen -= taken;
        if (!rcpt)
            return used;
    }
}

/* driver_service - what the proxy does at the end of every event, without the I/O */
static inline void driver_service(struct driver *d)
{
    int moved;

    do {
        moved = 0;
        if (session_state(&d->s) != SESSION_DEAD && !session_closing(&d->s)) {
            moved |= driver_backend_input(d);
            moved |= driver_client_input(d);
            session_settle(&d->s);
        }
    } while (moved);
    if ((session_state(&d->s) == SESSION_CLOSING || session_state(&d->s) == SESSION_QUITTING) &&
        d->cpending == 0) {
        if (session_flushed(&d->s)) {
            driver_puts(&d->events, "linger after QUIT\n");
            session_client_eof(&d->s);
            d->bclosed = 1;
            session_backend_closed(&d->s);
        } else {
            driver_puts(&d->events, "linger\n");
        }
    }
}

/* driver_start - the backend's connection is up and it greets (greeting NULL: not yet) */
static inline void driver_start(struct driver *d, const char *greeting)
{
    session_start(&d->s, "192.0.2.1", 25);
    if (greeting != NULL)
        driver_reply(d, greeting);
    driver_service(d);
}

/* driver_feed - the client sends in[0..len) step bytes at a time (0: as much as fits),
 * read while the core reads; eof: then it closes its side */
static inline void driver_feed(struct driver *d, const char *in, size_t len, size_t step, int eof)
{
    size_t off = 0;

    for (;;) {
        driver_service(d);
        if (off < len && session_reads_client(&d->s) && d->inlen < sizeof(d->in)) {
            size_t take = len - off;

            if (step > 0 && take > step)
                take = step;
            if (take > sizeof(d->in) - d->inlen)
                take = sizeof(d->in) - d->inlen;
            memcpy(d->in + d->inlen, in + off, take);
            d->inlen += take;
            off += take;
        } else if (off == len && eof && session_reads_client(&d->s)) {
            session_client_eof(&d->s);
            eof = 0;
        } else {
            return;
        }
    }
}

/* driver_client_take - the client reads what it was sent; the session goes on */
static inline void driver_client_take(struct driver *d)
{
    d->cpending = 0;
    driver_service(d);
}

/* driver_release - the backend's held replies arrive */
static inline void driver_release(struct driver *d)
{
    d->hold = 0;
    driver_service(d);
}

#endif
