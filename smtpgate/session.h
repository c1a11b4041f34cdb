/*
 * session - one SMTP proxy session as a pure state machine: events in, actions out, no
 * sockets, no clock, no store. The proxy (smtpgate/proxy.c) owns the connections and the
 * buffers; it hands each event to this core and carries out what the core asks for
 * through a small table of callbacks (struct session_ops).
 *
 * Events: bytes from the client (command lines, AUTH continuations, DATA contents, split
 * by the line framer below), bytes from the backend (assembled into replies), the answer
 * to a grant question (the relay decision for one RCPT TO), a timer that expired, the end
 * of either connection, a proxy that starts draining. Time is an argument (seconds, the
 * event loop's clock); the relay decision comes back as an event (session_grant).
 *
 * Actions: text for the client (the backend's replies, in command order, and the fixed
 * replies of session_text), canonical command lines and DATA bytes for the backend, a
 * question "may this recipient relay?" (the session stops in SESSION_RCPT until it is
 * answered), the end of the session (session_ops.close), a log line.
 *
 * States and the transitions between them (every other one is a broken invariant and
 * asserts):
 *
 *   GREETING -> COMMANDS                 the backend's 220 (and, for XCLIENT, its second)
 *   COMMANDS -> RCPT -> COMMANDS         a RCPT TO waits for its grant answer
 *   COMMANDS -> SYNC -> COMMANDS|AUTH|DATA   DATA and AUTH wait for their reply
 *   AUTH -> SYNC                         an AUTH continuation went to the backend
 *   DATA -> COMMANDS                     the message ended with CRLF.CRLF
 *   COMMANDS|AUTH -> BYE                 too many errors, a bare CR/LF or NUL in a line
 *   COMMANDS -> QUIT -> QUITTING         QUIT forwarded; its reply ends the session
 *   any open state -> CLOSING            the session ends (timeout, failure, 421, drain)
 *   CLOSING|QUITTING -> LINGER           the last reply is out; the client's bytes are
 *                                        dropped until it closes (SESSION_LINGER_TIME)
 *   any -> DEAD                          to be freed by the caller
 *
 * Ownership: struct session is the caller's (embedded in its own session struct); the
 * strings and ops in struct session_config must outlive it. Pointers handed to callbacks
 * are valid during the call only. The RCPT command of session_rcpt points into the client
 * bytes of the session_client_input call that stopped in SESSION_RCPT: answer it before
 * that memory changes.
 */
#ifndef POPAUTH_SESSION_H
#define POPAUTH_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "smtpgate/smtp.h"

#define SESSION_PIPELINE    100 /* commands waiting for their replies, per session */
#define SESSION_MAX_ERRORS  20  /* errors the proxy answers itself per session, then 421 */
#define SESSION_LINGER_TIME 2.0 /* seconds a closing session waits for its last reply to go */
#define SESSION_SLACK       64  /* bytes a re-serialised command may add to its line */

enum session_state {
    SESSION_GREETING, /* the backend's greeting (and its 220 after XCLIENT) is awaited */
    SESSION_COMMANDS, /* client command lines are read */
    SESSION_RCPT,     /* a RCPT TO waits for session_grant */
    SESSION_SYNC,     /* the reply to DATA or AUTH decides what the next client bytes are */
    SESSION_AUTH,     /* the next client line is an AUTH continuation */
    SESSION_DATA,     /* message bytes stream to the backend */
    SESSION_QUIT,     /* QUIT went to the backend: no more commands */
    SESSION_BYE,      /* the session ends once the replies owed are out */
    SESSION_CLOSING,  /* the last reply goes out; the backend is closed */
    SESSION_QUITTING, /* the reply to QUIT goes out; the backend closes first */
    SESSION_LINGER,   /* the last reply is out: the client's bytes are dropped until it closes */
    SESSION_DEAD,     /* to be freed */
};

/* How the backend learns who the client is (proxy_client_identity). */
enum session_identity { SESSION_ID_NONE, SESSION_ID_XCLIENT, SESSION_ID_HAPROXY };

/* The relay decision for one RCPT TO, as far as the session cares. */
enum session_grant {
    SESSION_PERMIT, /* forward it (local, permit-*) */
    SESSION_REJECT, /* 554 5.7.1 Relay access denied */
    SESSION_DEFER,  /* 451 4.3.0 Relay authorization unavailable, try again later */
};

/* The fixed replies the proxy gives itself (besides smtp_error_reply's). */
enum session_text {
    SESSION_T_RELAY_DENIED,
    SESSION_T_DEFER,
    SESSION_T_TOO_MANY_RCPTS,
    SESSION_T_VRFY,
    SESSION_T_HELP,
    SESSION_T_TOO_MANY_CONNS,
    SESSION_T_UNAVAILABLE,
    SESSION_T_GREETING_TIMEOUT,
    SESSION_T_BACKEND_SLOW,
    SESSION_T_TIMEOUT,
    SESSION_T_TOO_SLOW,
    SESSION_T_BAD_DATA,
    SESSION_T_SHUTDOWN,
    SESSION_T_TOO_MANY_ERRORS,
    SESSION_T_NONE = -1,
};

/* What the line framer found at the start of the client's bytes. */
enum session_piece {
    SESSION_PIECE_NONE,  /* nothing whole yet: wait for more bytes (len bytes may be dropped) */
    SESSION_PIECE_LINE,  /* a whole line of len bytes, CRLF included */
    SESSION_PIECE_ERROR, /* len bytes refused: err says why (smtp_line_find's rules) */
    SESSION_PIECE_TAIL,  /* the rest of an over-long line, len bytes, ended: drop them */
};

struct session_frame {
    enum session_piece kind;
    size_t len;
    enum smtp_error err;
};

/* The line framer: where a client's command stream is between two calls. */
struct session_framer {
    unsigned skipping; /* dropping the rest of an over-long line */
};

/*
 * session_frame_find - the next piece of a command stream in buf[0..len) with lines of at
 * most max bytes (CRLF included), into out, without taking it: a line, an error, the end
 * of an over-long line being skipped, or nothing yet
 */
void session_frame_find(const struct session_framer *f, const char *buf, size_t len, size_t max,
                        struct session_frame *out);
/* session_frame_take - the piece fr found at buf is used: out->len bytes go */
void session_frame_take(struct session_framer *f, const struct session_frame *fr, const char *buf);

/*
 * What the session asks of its caller. client_room and backend_room make room (the
 * buffer may be taken or compacted); text written there is committed with to_client or
 * to_backend. Every member is required but moved.
 */
struct session_ops {
    /* client_room - bytes that fit now in the client's output, making room for want */
    size_t (*client_room)(void *ctx, size_t want);
    /* to_client - append len bytes (client_room said they fit) to the client's output */
    void (*to_client)(void *ctx, const char *text, size_t len);
    /* backend_room - where bytes for the backend go, *room of them (want if possible) */
    char *(*backend_room)(void *ctx, size_t want, size_t *room);
    /* to_backend - len bytes were written at backend_room's pointer: send them */
    void (*to_backend)(void *ctx, size_t len);
    /* close - the session ends: drop the client's unread input and, if backend, close the
     * backend's connection (without it: the backend closes it after QUIT) */
    void (*close)(void *ctx, int backend);
    /* limit - a RCPT TO over the recipient limit was answered 452 (log it, count it) */
    void (*limit)(void *ctx, const struct smtp_command *rcpt);
    /* log - one finished log line at a shared/log.h level */
    void (*log)(void *ctx, int level, const char *text);
    /* moved - optional (NULL: none): the session went from state from to state to (every
     * transition, once each time it is made) */
    void (*moved)(void *ctx, enum session_state from, enum session_state to);
};

/* What a session is started with: the client and the limits of the config of the time. */
struct session_config {
    const char *client; /* the client's address as text (logs, XCLIENT, PROXY) */
    int ipv6;           /* the client's address is IPv6 */
    unsigned port;      /* the client's port */
    enum session_identity identity;
    size_t max_line;               /* proxy_max_line */
    uint32_t max_rcpts;            /* proxy_max_recipients */
    double t_command, t_data;      /* proxy_command_timeout, proxy_data_timeout */
    double t_backend, min_rate;    /* proxy_backend_timeout, proxy_min_data_rate */
    const struct session_ops *ops; /* the caller's actions */
    void *ctx;                     /* their first argument */
};

/* One entry of the reply queue (private). */
struct session_pending {
    uint8_t kind;
    uint8_t arg;
};

/* One session. Every field is private: use the functions below. */
struct session {
    struct session_config cfg;
    uint8_t state; /* enum session_state */
    struct session_framer framer;
    uint16_t qhead, qlen, nwait; /* the reply queue; nwait: entries waiting for the backend */
    uint16_t errors;             /* 4xx and 5xx replies the proxy gave itself */
    uint32_t rcpts;              /* RCPTs forwarded in this transaction */
    struct smtp_data data;       /* DATA: the scanner */
    double data_start;           /* DATA: when the 354 arrived */
    double linger_until;         /* CLOSING..LINGER: when the session is given up; 0 unset */
    struct smtp_command rcpt;    /* RCPT: the recipient asked about */
    struct session_pending queue[SESSION_PIPELINE];
    /* conditions the state does not say */
    unsigned backend : 1;       /* the backend's connection is open */
    unsigned pipelining : 1;    /* the backend offered PIPELINING */
    unsigned authenticated : 1; /* the backend accepted AUTH */
    unsigned ceof : 1, beof : 1;
    unsigned bblocked : 1; /* a backend reply waits for room in the client's output */
    unsigned waiting : 1;  /* the client's input waits for a reply or room, not for bytes */
    unsigned draining : 1; /* the proxy stops: finish what is in flight */
};

/* session_init - a new session under cfg (copied), in SESSION_GREETING */
void session_init(struct session *s, const struct session_config *cfg);
/*
 * session_start - the backend's connection is on its way: write the PROXY header first
 * for SESSION_ID_HAPROXY (local: this end's address text and port, NULL if unknown, which
 * ends the session), then await the greeting
 */
void session_start(struct session *s, const char *local, unsigned lport);
/*
 * session_client_input - handle the client's bytes buf[0..len): lines, AUTH continuations,
 * message bytes. *taken: the bytes used (drop them; meaningless once the session closed).
 * Stops early in SESSION_RCPT (answer with session_grant, then call again with the rest).
 * 1 if anything was handled.
 */
int session_client_input(struct session *s, const char *buf, size_t len, size_t *taken);
/* session_rcpt - in SESSION_RCPT, the recipient asked about; NULL otherwise */
const struct smtp_command *session_rcpt(const struct session *s);
/* session_authenticated - 1 if the backend accepted SMTP AUTH in this session */
int session_authenticated(const struct session *s);
/* session_grant - the answer for the recipient of session_rcpt: forward it or refuse it */
void session_grant(struct session *s, enum session_grant g);
/*
 * session_backend_input - pass on each complete reply in buf[0..len) to the command that
 * waits for it (r: scratch space, now: the clock). *taken: the bytes used. 1 if any reply
 * was passed on. A malformed reply ends the session.
 */
int session_backend_input(struct session *s, const char *buf, size_t len, struct smtp_reply *r,
                          double now, size_t *taken);
/* session_client_eof - the client closed its side */
void session_client_eof(struct session *s);
/* session_backend_eof - the backend closed its side */
void session_backend_eof(struct session *s);
/* session_backend_closed - after QUIT, the caller closed the backend's connection */
void session_backend_closed(struct session *s);
/* session_backend_error - reading (writing 0) or writing the backend failed: end with 421/451 */
void session_backend_error(struct session *s, int writing);
/* session_client_gone - the client's connection failed or closed while closing: DEAD */
void session_client_gone(struct session *s);
/* session_drain - the proxy stops: no new commands; the session ends when idle */
void session_drain(struct session *s);
/* session_shutdown - end the session now with text for the client (SESSION_T_NONE: none) */
void session_shutdown(struct session *s, enum session_text text);
/* session_settle - end the session if its state says so (a side closed, the last reply to
 * a bad line is queued, a draining proxy has nothing in flight); after every input round */
void session_settle(struct session *s);
/*
 * session_flushed - CLOSING or QUITTING and the client's output is written: go LINGER.
 * 1 if the client may be closed at once when it has nothing unread (after QUIT), 0 if its
 * side must be shut down for writing
 */
int session_flushed(struct session *s);
/* session_finished - 1 if the caller may free the session now */
int session_finished(const struct session *s);
/* session_closing - 1 in CLOSING, QUITTING and LINGER */
int session_closing(const struct session *s);
/* session_reads_client - 1 if the client's bytes have somewhere to go now */
int session_reads_client(const struct session *s);
/* session_reads_backend - 1 if the backend's bytes have somewhere to go now */
int session_reads_backend(const struct session *s);
/*
 * session_timer - seconds until the session's timer must fire, from now, given whether
 * bytes for the backend wait to be written; 0: leave the timer as it is armed
 */
double session_timer(struct session *s, double now, int backend_pending);
/* session_timeout - the timer fired: end the session as what it waited for says */
void session_timeout(struct session *s, double now, int backend_pending);
/* session_state - the state now */
enum session_state session_state(const struct session *s);
/* session_text - the fixed reply text (CRLF included) */
const char *session_text(enum session_text t);

#endif
