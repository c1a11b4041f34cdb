/*
 * session - the SMTP proxy session's protocol logic (see session.h for the contract):
 * the line framer, the verb table, the reply queue that keeps replies in command order,
 * DATA through the scanner, AUTH pass-through, the limits and the timeouts.
 *
 * The reply queue holds one entry per reply owed to the client, oldest first: either a
 * wait for the backend's reply to a forwarded command (its kind says what the reply
 * means: a greeting, an EHLO reply to filter, a 354 that starts DATA...) or a fixed reply
 * of the proxy's own. Fixed replies leave as soon as everything before them has; a
 * backend reply goes to the command at the head of the queue. Without PIPELINING from the
 * backend, a command goes out only when no reply to a forwarded one is owed; DATA and
 * AUTH always wait for their reply (SESSION_SYNC).
 *
 * Every state change goes through session_to, which asserts that the transition is one
 * of session.h's and that the queue agrees with the new state.
 */
#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shared/log.h"
#include "smtpgate/session.h"

/* What an entry of the reply queue stands for. Waits come first. */
enum session_kind {
    SESSION_W_GREETING, /* the backend's greeting */
    SESSION_W_XCLIENT,  /* the backend's 220 after XCLIENT: the client's greeting */
    SESSION_W_HELO,
    SESSION_W_EHLO, /* the reply is filtered */
    SESSION_W_AUTH, /* 334 makes the next line a continuation; 235 authenticates */
    SESSION_W_DATA, /* 354 starts the message */
    SESSION_W_DOT,  /* the reply to the end of the message */
    SESSION_W_QUIT,
    SESSION_W_OTHER,
    SESSION_L_TEXT,  /* a fixed reply: arg is an enum session_text */
    SESSION_L_ERROR, /* a fixed reply: arg is an enum smtp_error */
};

/* The fixed replies, by enum session_text. */
static const char *const session_texts[] = {
    [SESSION_T_RELAY_DENIED] = "554 5.7.1 Relay access denied\r\n",
    [SESSION_T_DEFER] = "451 4.3.0 Relay authorization unavailable, try again later\r\n",
    [SESSION_T_TOO_MANY_RCPTS] = "452 4.5.3 Too many recipients\r\n",
    [SESSION_T_VRFY] = "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
                       "delivery\r\n",
    [SESSION_T_HELP] = "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT AUTH "
                       "VRFY HELP\r\n",
    [SESSION_T_TOO_MANY_CONNS] = "421 4.7.0 Too many connections\r\n",
    [SESSION_T_UNAVAILABLE] = "421 4.3.2 Service not available\r\n",
    [SESSION_T_GREETING_TIMEOUT] = "421 4.4.2 Service not available\r\n",
    [SESSION_T_BACKEND_SLOW] = "451 4.4.2 Backend not responding\r\n",
    [SESSION_T_TIMEOUT] = "421 4.4.2 Timeout exceeded\r\n",
    [SESSION_T_TOO_SLOW] = "421 4.4.2 Message transfer too slow\r\n",
    [SESSION_T_BAD_DATA] = "554 5.5.0 Bare CR or LF or NUL in message, connection "
                           "closed\r\n",
    [SESSION_T_SHUTDOWN] = "421 4.3.2 Service shutting down\r\n",
    [SESSION_T_TOO_MANY_ERRORS] = "421 4.7.0 Too many errors\r\n",
};

#define S(x) (1u << SESSION_##x)
/* The states each state may be entered from (DEAD: from any). */
static const unsigned session_from[] = {
    [SESSION_GREETING] = 0,
    [SESSION_COMMANDS] = S(GREETING) | S(RCPT) | S(SYNC) | S(DATA),
    [SESSION_RCPT] = S(COMMANDS),
    [SESSION_SYNC] = S(COMMANDS) | S(AUTH),
    [SESSION_AUTH] = S(SYNC),
    [SESSION_DATA] = S(SYNC),
    [SESSION_QUIT] = S(COMMANDS),
    [SESSION_BYE] = S(COMMANDS) | S(AUTH) | S(BYE),
    [SESSION_CLOSING] =
        S(GREETING) | S(COMMANDS) | S(RCPT) | S(SYNC) | S(AUTH) | S(DATA) | S(QUIT) | S(BYE),
    [SESSION_QUITTING] = S(QUIT),
    [SESSION_LINGER] = S(CLOSING) | S(QUITTING),
    [SESSION_DEAD] = ~0u,
};
#undef S

/* One verb's handling, by enum smtp_verb (OpenSMTPD's commands[]). */
struct session_command {
    void (*handle)(struct session *s, const struct smtp_command *cmd,
                   const struct session_command *c);
    uint8_t kind;  /* forwarded: what its reply is (SESSION_W_*) */
    uint8_t arg;   /* answered here: the enum session_text or enum smtp_error */
    uint8_t flags; /* SESSION_V_* */
};

#define SESSION_V_TXN  1u /* a new transaction: the recipient count starts again */
#define SESSION_V_EHLO 2u /* a new greeting: PIPELINING is unknown until its reply */
#define SESSION_V_SYNC 4u /* its reply decides what the next client bytes are */
#define SESSION_V_QUIT 8u /* the last command */

static void session_cmd_forward(struct session *s, const struct smtp_command *cmd,
                                const struct session_command *c);
static void session_cmd_rcpt(struct session *s, const struct smtp_command *cmd,
                             const struct session_command *c);
static void session_cmd_text(struct session *s, const struct smtp_command *cmd,
                             const struct session_command *c);
static void session_cmd_error(struct session *s, const struct smtp_command *cmd,
                              const struct session_command *c);

static const struct session_command session_commands[] = {
    [SMTP_HELO] = {session_cmd_forward, SESSION_W_HELO, 0, SESSION_V_TXN | SESSION_V_EHLO},
    [SMTP_EHLO] = {session_cmd_forward, SESSION_W_EHLO, 0, SESSION_V_TXN | SESSION_V_EHLO},
    [SMTP_MAIL] = {session_cmd_forward, SESSION_W_OTHER, 0, SESSION_V_TXN},
    [SMTP_RCPT] = {session_cmd_rcpt, 0, 0, 0},
    [SMTP_DATA] = {session_cmd_forward, SESSION_W_DATA, 0, SESSION_V_SYNC},
    [SMTP_RSET] = {session_cmd_forward, SESSION_W_OTHER, 0, SESSION_V_TXN},
    [SMTP_NOOP] = {session_cmd_forward, SESSION_W_OTHER, 0, 0},
    [SMTP_QUIT] = {session_cmd_forward, SESSION_W_QUIT, 0, SESSION_V_QUIT},
    [SMTP_VRFY] = {session_cmd_text, 0, SESSION_T_VRFY, 0},
    [SMTP_HELP] = {session_cmd_text, 0, SESSION_T_HELP, 0},
    [SMTP_AUTH] = {session_cmd_forward, SESSION_W_AUTH, 0, SESSION_V_SYNC},
    [SMTP_STARTTLS] = {session_cmd_error, 0, SMTP_ERR_NOT_IMPL, 0},
    [SMTP_BDAT] = {session_cmd_error, 0, SMTP_ERR_NOT_IMPL, 0},
    [SMTP_UNKNOWN] = {session_cmd_error, 0, SMTP_ERR_UNKNOWN, 0},
};

static void session_log(const struct session *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* session_log - one log line ("action=close client=ADDR reason=..." and the like) for the
 * caller */
static void session_log(const struct session *s, int level, const char *fmt, ...)
{
    char line[512];
    va_list ap;

    if (log_level_current < level)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    s->cfg.ops->log(s->cfg.ctx, level, line);
}

/* session_in_commands - 1 in the states that read (or would read) command lines */
static int session_in_commands(const struct session *s)
{
    return s->state >= SESSION_COMMANDS && s->state <= SESSION_BYE && s->state != SESSION_DATA;
}

/* session_to - enter state to, checking the transition and the queue's invariants */
static void session_to(struct session *s, enum session_state to)
{
    enum session_state from = (enum session_state)s->state;

    assert(session_from[to] & (1u << s->state));
    assert(s->nwait <= s->qlen && s->qlen <= SESSION_PIPELINE);
    s->state = (uint8_t)to;
    switch (to) {
    case SESSION_DATA:
        assert(s->qlen == 0); /* DATA's reply was the last one owed */
        break;
    case SESSION_SYNC:
    case SESSION_QUIT:
        assert(s->nwait > 0);
        break;
    case SESSION_CLOSING:
    case SESSION_QUITTING:
    case SESSION_LINGER:
        assert(s->qlen == 0 && s->nwait == 0);
        break;
    default:
        break;
    }
    if (s->cfg.ops->moved != NULL)
        s->cfg.ops->moved(s->cfg.ctx, from, to);
}

/* session_frame_find - the next piece of a command stream; see session.h */
void session_frame_find(const struct session_framer *f, const char *buf, size_t len, size_t max,
                        struct session_frame *out)
{
    if (f->skipping) {
        int done;

        out->len = smtp_line_skip(buf, len, &done, &out->err);
        if (out->err != SMTP_ERR_NONE)
            out->kind = SESSION_PIECE_ERROR;
        else
            out->kind = done ? SESSION_PIECE_TAIL : SESSION_PIECE_NONE;
        return;
    }
    out->len = smtp_line_find(buf, len, max, &out->err);
    if (out->err != SMTP_ERR_NONE)
        out->kind = SESSION_PIECE_ERROR;
    else
        out->kind = out->len > 0 ? SESSION_PIECE_LINE : SESSION_PIECE_NONE;
}

/* session_frame_take - the piece fr found at buf is used; see session.h */
void session_frame_take(struct session_framer *f, const struct session_frame *fr, const char *buf)
{
    if (fr->kind == SESSION_PIECE_ERROR)
        /* an over-long line without its CRLF yet: the rest of it is to be dropped */
        f->skipping = fr->err == SMTP_ERR_TOO_LONG &&
                      !(fr->len >= 2 && buf[fr->len - 2] == '\r' && buf[fr->len - 1] == '\n');
    else if (fr->kind == SESSION_PIECE_TAIL)
        f->skipping = 0;
}

/* session_push - owe the client one more reply, of kind (fixed replies carry arg) */
static void session_push(struct session *s, int kind, int arg)
{
    struct session_pending *q = &s->queue[(s->qhead + s->qlen) % SESSION_PIPELINE];

    assert(s->qlen < SESSION_PIPELINE);
    q->kind = (uint8_t)kind;
    q->arg = (uint8_t)arg;
    s->qlen++;
    if (kind < SESSION_L_TEXT)
        s->nwait++;
}

/* session_head - the oldest reply owed, or NULL */
static const struct session_pending *session_head(const struct session *s)
{
    return s->qlen > 0 ? &s->queue[s->qhead] : NULL;
}

/* session_pop - the oldest reply owed has been given */
static void session_pop(struct session *s)
{
    if (s->queue[s->qhead].kind < SESSION_L_TEXT)
        s->nwait--;
    s->qhead = (uint16_t)((s->qhead + 1) % SESSION_PIPELINE);
    s->qlen--;
}

/* session_say - give the client text if it fits now; -1 if it does not */
static int session_say(struct session *s, const char *text, size_t len)
{
    if (s->cfg.ops->client_room(s->cfg.ctx, len) < len)
        return -1;
    s->cfg.ops->to_client(s->cfg.ctx, text, len);
    return 0;
}

/* session_locals - move the fixed replies at the head of the queue to the client */
static void session_locals(struct session *s)
{
    const struct session_pending *q;

    while ((q = session_head(s)) != NULL && q->kind >= SESSION_L_TEXT) {
        const char *text = q->kind == SESSION_L_TEXT ? session_texts[q->arg]
                                                     : smtp_error_reply((enum smtp_error)q->arg);

        if (session_say(s, text, strlen(text)) < 0)
            return;
        session_pop(s);
    }
}

/* session_local - answer the current command with a fixed reply, in its turn; the
 * SESSION_MAX_ERRORSth error reply is followed by "421 4.7.0 Too many errors" and BYE */
static void session_local(struct session *s, int kind, int arg)
{
    session_push(s, kind, arg);
    if ((kind == SESSION_L_ERROR || session_texts[arg][0] >= '4') &&
        ++s->errors >= SESSION_MAX_ERRORS && s->state != SESSION_BYE) {
        session_log(s, LOG_LEVEL_INFO,
                    "action=close client=%s reason=\"too many errors\" errors=%u", s->cfg.client,
                    (unsigned)s->errors);
        session_push(s, SESSION_L_TEXT, SESSION_T_TOO_MANY_ERRORS);
        session_to(s, SESSION_BYE);
    }
    session_locals(s);
}

/* session_end - end the session: close the backend (unless quitting: after QUIT the
 * backend closes first, so that it and not the proxy holds TIME_WAIT), drop the replies
 * still owed and the client's unread input, give the client text */
static void session_end(struct session *s, enum session_text text, int quitting)
{
    if (session_closing(s) || s->state == SESSION_DEAD)
        return;
    session_locals(s);
    s->cfg.ops->close(s->cfg.ctx, !quitting);
    if (!quitting)
        s->backend = 0;
    s->qlen = s->nwait = 0;
    if (text != SESSION_T_NONE)
        (void)session_say(s, session_texts[text], strlen(session_texts[text]));
    session_to(s, quitting ? SESSION_QUITTING : SESSION_CLOSING);
}

/* session_shutdown - end the session now with text for the client; see session.h */
void session_shutdown(struct session *s, enum session_text text)
{
    session_end(s, text, 0);
}

/* session_forward - write cmd's canonical form to the backend and owe its reply; -1 if it
 * cannot be written (answered 501 then) */
static int session_forward(struct session *s, const struct smtp_command *cmd, int kind)
{
    size_t room, n;
    char *out = s->cfg.ops->backend_room(s->cfg.ctx, 0, &room);

    n = smtp_command_format(cmd, out, room);
    if (n == 0) {
        session_local(s, SESSION_L_ERROR, SMTP_ERR_SYNTAX);
        return -1;
    }
    s->cfg.ops->to_backend(s->cfg.ctx, n);
    session_push(s, kind, 0);
    return 0;
}

/* session_cmd_forward - a command for the backend: forward it, then apply its flags */
static void session_cmd_forward(struct session *s, const struct smtp_command *cmd,
                                const struct session_command *c)
{
    if (session_forward(s, cmd, c->kind) < 0)
        return;
    if (c->flags & SESSION_V_EHLO)
        s->pipelining = 0; /* until the reply says otherwise */
    if (c->flags & SESSION_V_TXN)
        s->rcpts = 0;
    if (c->flags & SESSION_V_SYNC)
        session_to(s, SESSION_SYNC);
    if (c->flags & SESSION_V_QUIT)
        session_to(s, SESSION_QUIT);
}

/* session_cmd_rcpt - RCPT TO: over the limit answer 452, else ask for a grant */
static void session_cmd_rcpt(struct session *s, const struct smtp_command *cmd,
                             const struct session_command *c)
{
    (void)c;
    if (s->rcpts >= s->cfg.max_rcpts) {
        session_local(s, SESSION_L_TEXT, SESSION_T_TOO_MANY_RCPTS);
        s->cfg.ops->limit(s->cfg.ctx, cmd);
        return;
    }
    s->rcpt = *cmd;
    session_to(s, SESSION_RCPT);
}

/* session_cmd_text - a command answered here with a fixed text */
static void session_cmd_text(struct session *s, const struct smtp_command *cmd,
                             const struct session_command *c)
{
    (void)cmd;
    session_local(s, SESSION_L_TEXT, c->arg);
}

/* session_cmd_error - a command refused here with a fixed error */
static void session_cmd_error(struct session *s, const struct smtp_command *cmd,
                              const struct session_command *c)
{
    (void)cmd;
    session_local(s, SESSION_L_ERROR, c->arg);
}

/* session_grant - the answer for the pending recipient; see session.h */
void session_grant(struct session *s, enum session_grant g)
{
    assert(s->state == SESSION_RCPT);
    session_to(s, SESSION_COMMANDS);
    switch (g) {
    case SESSION_PERMIT:
        if (session_forward(s, &s->rcpt, SESSION_W_OTHER) == 0)
            s->rcpts++;
        break;
    case SESSION_REJECT:
        session_local(s, SESSION_L_TEXT, SESSION_T_RELAY_DENIED);
        break;
    case SESSION_DEFER:
    default:
        session_local(s, SESSION_L_TEXT, SESSION_T_DEFER);
        break;
    }
}

/* session_command - handle one client command line (CRLF removed) */
static void session_command(struct session *s, const char *line, size_t len)
{
    struct smtp_command cmd;
    enum smtp_error err = smtp_command_parse(line, len, &cmd);
    const struct session_command *c = &session_commands[cmd.verb];

    if (err != SMTP_ERR_NONE) {
        session_local(s, SESSION_L_ERROR, err);
        return;
    }
    c->handle(s, &cmd, c);
}

/* session_auth_line - forward one AUTH continuation as it is, or "*" (cancel) if it is not
 * base64: the backend's answer to it is the client's reply either way */
static void session_auth_line(struct session *s, const char *line, size_t n)
{
    size_t room;
    char *out = s->cfg.ops->backend_room(s->cfg.ctx, 0, &room);

    if (n >= 2 && smtp_auth_line_ok(line, n - 2)) {
        memcpy(out, line, n);
    } else {
        memcpy(out, "*\r\n", 3);
        n = 3;
    }
    s->cfg.ops->to_backend(s->cfg.ctx, n);
    session_push(s, SESSION_W_AUTH, 0);
    session_to(s, SESSION_SYNC);
}

/* session_line_error - answer a line the framer refused */
static void session_line_error(struct session *s, enum smtp_error err)
{
    if (err == SMTP_ERR_TOO_LONG && s->state == SESSION_AUTH) {
        /* the backend waits for a continuation: cancel, its 501 answers the client */
        session_auth_line(s, "", 0);
        return;
    }
    session_local(s, SESSION_L_ERROR, err);
    if (err != SMTP_ERR_TOO_LONG) {
        session_log(s, LOG_LEVEL_INFO, "action=close client=%s reason=\"%s in a command line\"",
                    s->cfg.client, err == SMTP_ERR_NUL ? "NUL" : "bare CR or LF");
        if (s->state != SESSION_BYE)
            session_to(s, SESSION_BYE);
    }
}

/* session_line - handle the next client line in buf; 1 if it was used, 0 if more bytes
 * are needed, -1 if it must wait (for a reply, for room). *used grows by what it took. */
static int session_line(struct session *s, const char *buf, size_t len, size_t *used)
{
    struct session_frame fr;
    size_t need, room;

    /* a line adds at most two entries to the queue: its reply and "Too many errors" */
    if ((s->state != SESSION_COMMANDS && s->state != SESSION_AUTH) || s->draining ||
        s->qlen + 2 > SESSION_PIPELINE || (!s->pipelining && s->nwait > 0))
        return -1;
    session_frame_find(&s->framer, buf, len,
                       s->state == SESSION_AUTH ? SMTP_AUTH_LINE : s->cfg.max_line, &fr);
    if (s->framer.skipping || fr.kind == SESSION_PIECE_NONE) {
        session_frame_take(&s->framer, &fr, buf);
        *used += fr.len;
        if (fr.kind == SESSION_PIECE_ERROR)
            session_line_error(s, fr.err);
        return fr.kind == SESSION_PIECE_NONE ? 0 : 1;
    }
    /* room for its canonical form (or for the "*" that cancels an AUTH exchange) */
    need = (fr.kind == SESSION_PIECE_LINE ? fr.len : 0) + SESSION_SLACK;
    (void)s->cfg.ops->backend_room(s->cfg.ctx, need, &room);
    if (room < need)
        return -1;
    session_frame_take(&s->framer, &fr, buf);
    *used += fr.len;
    if (fr.kind == SESSION_PIECE_ERROR)
        session_line_error(s, fr.err);
    else if (s->state == SESSION_AUTH)
        session_auth_line(s, buf, fr.len);
    else
        session_command(s, buf, fr.len - 2);
    return 1;
}

/* session_data - pass message bytes to the backend through the DATA scanner; 1 if some
 * were used, 0 if more are needed, -1 if they must wait for room (or the session ended) */
static int session_data(struct session *s, const char *buf, size_t len, size_t *used)
{
    size_t room, n, took;
    char *out = s->cfg.ops->backend_room(s->cfg.ctx, len, &room);
    enum smtp_data_state st;

    if (room == 0)
        return -1;
    n = len < room ? len : room;
    st = smtp_data_scan(&s->data, buf, n, &took);
    if (st == SMTP_DATA_BAD) {
        session_log(s, LOG_LEVEL_INFO,
                    "action=close client=%s reason=\"bare CR or LF or NUL in message\" bytes=%llu",
                    s->cfg.client, (unsigned long long)s->data.bytes);
        session_shutdown(s, SESSION_T_BAD_DATA);
        return -1;
    }
    memcpy(out, buf, took);
    s->cfg.ops->to_backend(s->cfg.ctx, took);
    *used += took;
    if (st == SMTP_DATA_END) {
        session_to(s, SESSION_COMMANDS);
        s->rcpts = 0;
        session_push(s, SESSION_W_DOT, 0);
        return 1;
    }
    return took > 0 ? 1 : 0;
}

/* session_client_input - handle the client's bytes; see session.h */
int session_client_input(struct session *s, const char *buf, size_t len, size_t *taken)
{
    int any = 0;

    *taken = 0;
    s->waiting = 0;
    while (*taken < len) {
        int r;

        if (s->state == SESSION_DATA)
            r = session_data(s, buf + *taken, len - *taken, taken);
        else if (session_in_commands(s) && s->state != SESSION_RCPT)
            r = session_line(s, buf + *taken, len - *taken, taken);
        else
            break;
        if (r > 0) {
            any = 1;
            continue;
        }
        s->waiting = r < 0;
        break;
    }
    return any;
}

/* session_rcpt - the recipient asked about, in SESSION_RCPT */
const struct smtp_command *session_rcpt(const struct session *s)
{
    return s->state == SESSION_RCPT ? &s->rcpt : NULL;
}

/* session_authenticated - 1 if the backend accepted SMTP AUTH */
int session_authenticated(const struct session *s)
{
    return s->authenticated;
}

/* session_xclient - tell the backend who the client is (after its first greeting) */
static void session_xclient(struct session *s)
{
    size_t room, n;
    char *out = s->cfg.ops->backend_room(s->cfg.ctx, SMTP_LINE_MIN, &room);

    n = smtp_xclient_format(out, room, s->cfg.client, s->cfg.ipv6, s->cfg.port, NULL, 0);
    if (n == 0) {
        session_log(s, LOG_LEVEL_ERROR, "action=close client=%s reason=\"cannot build XCLIENT\"",
                    s->cfg.client);
        session_shutdown(s, SESSION_T_UNAVAILABLE);
        return;
    }
    s->cfg.ops->to_backend(s->cfg.ctx, n);
    session_push(s, SESSION_W_XCLIENT, 0);
}

/* session_broken - the backend said something that is not SMTP: end the session */
static void session_broken(struct session *s, const char *why)
{
    session_log(s, LOG_LEVEL_WARN, "action=close client=%s reason=\"backend: %s\"", s->cfg.client,
                why);
    session_shutdown(s, SESSION_T_UNAVAILABLE);
}

/* session_greeted - the backend's 220 for the client: commands may come */
static int session_greeted(struct session *s, const struct smtp_reply *r, int kind)
{
    if (kind == SESSION_W_GREETING && s->cfg.identity == SESSION_ID_XCLIENT) {
        if (r->code != 220) {
            session_log(s, LOG_LEVEL_WARN,
                        "action=close client=%s reason=\"backend greeting %d, not 220\"",
                        s->cfg.client, r->code);
            session_shutdown(s, SESSION_T_UNAVAILABLE);
        } else {
            session_xclient(s);
        }
        return -1;
    }
    if (kind == SESSION_W_XCLIENT && r->code != 220) {
        session_log(s, LOG_LEVEL_WARN,
                    "action=close client=%s reason=\"backend answered XCLIENT with %d "
                    "(is smtpgate in its smtpd_authorized_xclient_hosts?)\"",
                    s->cfg.client, r->code);
        session_shutdown(s, SESSION_T_UNAVAILABLE);
        return -1;
    }
    session_to(s, SESSION_COMMANDS);
    return 0;
}

/*
 * session_reply - hand one complete backend reply to the command that waits for it and
 * pass it on; -1 if the client's output has no room for it yet (nothing changed then)
 */
static int session_reply(struct session *s, struct smtp_reply *r, double now)
{
    const struct session_pending *q;
    int kind;

    session_locals(s);
    q = session_head(s);
    if (q != NULL && q->kind >= SESSION_L_TEXT)
        return -1; /* fixed replies before it still wait for room */
    if (s->cfg.ops->client_room(s->cfg.ctx, r->len) < r->len)
        return -1;
    if (q == NULL) {
        if (r->code == 421) {
            /* the backend is closing (its own timeout, shutdown): pass it on */
            s->cfg.ops->to_client(s->cfg.ctx, r->text, r->len);
            session_log(s, LOG_LEVEL_INFO,
                        "action=close client=%s reason=\"backend closed with 421\"", s->cfg.client);
            session_shutdown(s, SESSION_T_NONE);
        } else {
            session_broken(s, "reply without a command");
        }
        return 0;
    }
    kind = q->kind;
    session_pop(s);
    switch (kind) {
    case SESSION_W_GREETING:
    case SESSION_W_XCLIENT:
        if (session_greeted(s, r, kind) < 0)
            return 0;
        break;
    case SESSION_W_EHLO:
        if (r->code == 250)
            s->pipelining = (smtp_ehlo_filter(r) & SMTP_EHLO_PIPELINING) != 0;
        break;
    case SESSION_W_AUTH:
        if (r->code == 334) {
            session_to(s, SESSION_AUTH);
        } else {
            session_to(s, SESSION_COMMANDS);
            if (r->code == 235) {
                s->authenticated = 1;
                session_log(s, LOG_LEVEL_INFO, "action=auth client=%s status=accepted",
                            s->cfg.client);
            }
        }
        break;
    case SESSION_W_DATA:
        if (r->code == 354) {
            session_to(s, SESSION_DATA);
            smtp_data_init(&s->data);
            s->data_start = now;
        } else {
            session_to(s, SESSION_COMMANDS);
        }
        break;
    default:
        break;
    }
    s->cfg.ops->to_client(s->cfg.ctx, r->text, r->len);
    if (kind == SESSION_W_QUIT || r->code == 421) {
        if (kind != SESSION_W_QUIT)
            session_log(s, LOG_LEVEL_INFO,
                        "action=close client=%s reason=\"backend closed with 421\"", s->cfg.client);
        session_end(s, SESSION_T_NONE, kind == SESSION_W_QUIT);
    } else {
        session_locals(s);
    }
    return 0;
}

/* session_backend_input - pass on each complete backend reply in turn; see session.h */
int session_backend_input(struct session *s, const char *buf, size_t len, struct smtp_reply *r,
                          double now, size_t *taken)
{
    int moved = 0;

    *taken = 0;
    s->bblocked = 0;
    while (s->backend && *taken < len) {
        size_t pos = *taken;
        int rc = 0;

        smtp_reply_init(r);
        while (pos < len) {
            enum smtp_error err;
            size_t n = smtp_line_find(buf + pos, len - pos, SMTP_REPLY_LINE, &err);

            if (n == 0)
                break;
            if (err != SMTP_ERR_NONE || (rc = smtp_reply_feed(r, buf + pos, n - 2)) < 0) {
                session_broken(s, "malformed reply");
                return moved;
            }
            pos += n;
            if (rc == 1)
                break;
        }
        if (rc != 1)
            break; /* the rest of the reply is still to come */
        if (session_reply(s, r, now) < 0) {
            s->bblocked = 1;
            break;
        }
        moved = 1;
        if (!s->backend)
            break;
        *taken = pos;
    }
    return moved;
}

/* session_init - a new session under cfg, in SESSION_GREETING */
void session_init(struct session *s, const struct session_config *cfg)
{
    memset(s, 0, sizeof(*s));
    s->cfg = *cfg;
    s->state = SESSION_GREETING;
    s->rcpt.arg = s->rcpt.path = s->rcpt.params = "";
}

/* session_start - the backend's connection is on its way; see session.h */
void session_start(struct session *s, const char *local, unsigned lport)
{
    assert(s->state == SESSION_GREETING && s->qlen == 0);
    s->backend = 1;
    if (s->cfg.identity == SESSION_ID_HAPROXY) {
        size_t room, n = 0;
        char *out = s->cfg.ops->backend_room(s->cfg.ctx, SMTP_LINE_MIN, &room);

        if (local != NULL)
            n = smtp_haproxy_format(out, room, s->cfg.ipv6, s->cfg.client, local, s->cfg.port,
                                    lport);
        if (n == 0) {
            session_log(s, LOG_LEVEL_ERROR,
                        "action=close client=%s reason=\"cannot build the PROXY header\"",
                        s->cfg.client);
            session_shutdown(s, SESSION_T_UNAVAILABLE);
            return;
        }
        s->cfg.ops->to_backend(s->cfg.ctx, n);
    }
    session_push(s, SESSION_W_GREETING, 0);
}

/* session_client_eof - the client closed its side */
void session_client_eof(struct session *s)
{
    s->ceof = 1;
}

/* session_backend_eof - the backend closed its side */
void session_backend_eof(struct session *s)
{
    s->beof = 1;
}

/* session_backend_closed - after QUIT, the caller closed the backend's connection */
void session_backend_closed(struct session *s)
{
    s->backend = 0;
}

/* session_backend_error - reading or writing the backend failed; see session.h */
void session_backend_error(struct session *s, int writing)
{
    session_shutdown(s, writing && s->state != SESSION_GREETING && s->nwait > 0
                            ? SESSION_T_BACKEND_SLOW
                            : SESSION_T_UNAVAILABLE);
}

/* session_client_gone - the client's connection is gone: DEAD */
void session_client_gone(struct session *s)
{
    session_to(s, SESSION_DEAD);
}

/* session_drain - the proxy stops: no new commands */
void session_drain(struct session *s)
{
    s->draining = 1;
}

/* session_settle - end the session if its state says so; see session.h */
void session_settle(struct session *s)
{
    if (session_closing(s) || s->state == SESSION_DEAD)
        return;
    if (s->beof && !s->bblocked) {
        session_log(s, LOG_LEVEL_INFO,
                    "action=close client=%s reason=\"backend closed the connection\"",
                    s->cfg.client);
        session_shutdown(s, SESSION_T_UNAVAILABLE);
        return;
    }
    if (s->state == SESSION_DATA && s->ceof && !s->waiting) {
        session_log(s, LOG_LEVEL_INFO,
                    "action=close client=%s reason=\"client closed during DATA\"", s->cfg.client);
        session_shutdown(s, SESSION_T_NONE);
        return;
    }
    if (s->draining && s->state == SESSION_GREETING) {
        session_shutdown(s, SESSION_T_SHUTDOWN);
        return;
    }
    /* a RCPT TO whose decision waits for the store is answered first */
    if (!session_in_commands(s) || s->qlen > 0 || s->state == SESSION_RCPT)
        return;
    if (s->state == SESSION_BYE || (s->ceof && !s->waiting))
        session_shutdown(s, SESSION_T_NONE);
    else if (s->draining)
        session_shutdown(s, SESSION_T_SHUTDOWN);
}

/* session_flushed - the last reply is out: LINGER; see session.h */
int session_flushed(struct session *s)
{
    int quitting = s->state == SESSION_QUITTING;

    assert(s->state == SESSION_CLOSING || quitting);
    session_to(s, SESSION_LINGER);
    return quitting;
}

/* session_finished - 1 if the caller may free the session now */
int session_finished(const struct session *s)
{
    return s->state == SESSION_DEAD || (s->state == SESSION_LINGER && s->ceof && !s->backend);
}

/* session_closing - 1 in CLOSING, QUITTING and LINGER */
int session_closing(const struct session *s)
{
    return s->state >= SESSION_CLOSING && s->state <= SESSION_LINGER;
}

/* session_reads_client - 1 if the client's bytes have somewhere to go now */
int session_reads_client(const struct session *s)
{
    switch (s->state) {
    case SESSION_COMMANDS:
    case SESSION_AUTH:
        return !s->ceof && !s->waiting && !s->draining;
    case SESSION_DATA:
        return !s->ceof && !s->waiting;
    case SESSION_LINGER:
        return !s->ceof;
    default:
        return 0;
    }
}

/* session_reads_backend - 1 if the backend's bytes have somewhere to go now (after QUIT
 * the backend is read until it closes) */
int session_reads_backend(const struct session *s)
{
    return s->backend && !s->beof && (!s->bblocked || session_closing(s));
}

/* session_waits_backend - 1 if the session waits for the backend to answer or take bytes */
static int session_waits_backend(const struct session *s, int backend_pending)
{
    return s->state == SESSION_GREETING || s->nwait > 0 || backend_pending;
}

/* session_data_deadline - when DATA must be over at proxy_min_data_rate (0: never) */
static double session_data_deadline(const struct session *s)
{
    if (s->cfg.min_rate <= 0)
        return 0;
    return s->data_start + s->cfg.t_data + (double)s->data.bytes / s->cfg.min_rate;
}

/* session_timer - seconds until the timer must fire; see session.h */
double session_timer(struct session *s, double now, int backend_pending)
{
    double t;

    if (session_closing(s)) {
        if (s->linger_until > 0)
            return 0; /* a closing client cannot keep itself alive */
        s->linger_until = now + SESSION_LINGER_TIME;
        return SESSION_LINGER_TIME;
    }
    if (session_waits_backend(s, backend_pending))
        return s->cfg.t_backend;
    if (s->state == SESSION_DATA) {
        double deadline = session_data_deadline(s);

        t = s->cfg.t_data;
        if (deadline > 0 && deadline - now < t)
            t = deadline - now > 0.001 ? deadline - now : 0.001;
        return t;
    }
    return s->cfg.t_command;
}

/* session_timeout - the timer fired; see session.h */
void session_timeout(struct session *s, double now, int backend_pending)
{
    double deadline;

    if (session_closing(s)) {
        session_to(s, SESSION_DEAD);
    } else if (s->state == SESSION_GREETING) {
        session_log(s, LOG_LEVEL_WARN,
                    "action=close client=%s reason=\"backend timeout before its greeting\"",
                    s->cfg.client);
        session_shutdown(s, SESSION_T_GREETING_TIMEOUT);
    } else if (session_waits_backend(s, backend_pending)) {
        session_log(s, LOG_LEVEL_WARN, "action=close client=%s reason=\"backend timeout\"",
                    s->cfg.client);
        session_shutdown(s, SESSION_T_BACKEND_SLOW);
    } else if (s->state == SESSION_DATA) {
        deadline = session_data_deadline(s);
        if (deadline > 0 && now >= deadline - 0.0005) {
            session_log(s, LOG_LEVEL_INFO,
                        "action=close client=%s reason=\"message slower than "
                        "proxy_min_data_rate\" bytes=%llu",
                        s->cfg.client, (unsigned long long)s->data.bytes);
            session_shutdown(s, SESSION_T_TOO_SLOW);
        } else {
            session_log(s, LOG_LEVEL_INFO, "action=close client=%s reason=\"data timeout\"",
                        s->cfg.client);
            session_shutdown(s, SESSION_T_TIMEOUT);
        }
    } else {
        session_log(s, LOG_LEVEL_INFO, "action=close client=%s reason=\"command timeout\"",
                    s->cfg.client);
        session_shutdown(s, SESSION_T_TIMEOUT);
    }
}

/* session_state - the state now */
enum session_state session_state(const struct session *s)
{
    return (enum session_state)s->state;
}

/* session_text - the fixed reply text (CRLF included) */
const char *session_text(enum session_text t)
{
    return t == SESSION_T_NONE ? "" : session_texts[t];
}
