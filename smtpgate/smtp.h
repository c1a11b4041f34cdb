/*
 * smtp - the SMTP proxy's parsing core, without I/O: client command lines in, parsed
 * commands out and re-serialised for the backend; backend reply lines in, whole replies
 * out; the backend's EHLO reply cut down to the extensions the proxy understands; the
 * DATA scanner that finds the end of a message exactly where the backend will.
 *
 * The proxy never forwards the client's bytes as they came, except DATA contents that
 * the scanner has passed: every command is parsed here and written anew by
 * smtp_command_format. Only CRLF ends a line; a bare CR, a bare LF or a NUL in a command
 * line or in DATA is an error (SMUGGLING: the backend must never see a line or message end
 * that the proxy did not).
 *
 * Ownership: pointers in struct smtp_command point into the caller's line; nothing here
 * allocates except what the struct comments say.
 */
#ifndef POPAUTH_SMTP_H
#define POPAUTH_SMTP_H

#include <stddef.h>
#include <stdint.h>

#define SMTP_LINE_MIN   512   /* RFC 5321 4.5.3.1.4: command line, CRLF included */
#define SMTP_REPLY_LINE 512   /* bytes of one backend reply line, CRLF included */
#define SMTP_REPLY_MAX  8192  /* bytes of one whole (multi-line) backend reply */
#define SMTP_AUTH_LINE  12288 /* bytes of one AUTH continuation line (base64) */

enum smtp_verb {
    SMTP_HELO,
    SMTP_EHLO,
    SMTP_MAIL, /* MAIL FROM:<path> [params] */
    SMTP_RCPT, /* RCPT TO:<path> [params] */
    SMTP_DATA,
    SMTP_RSET,
    SMTP_NOOP,
    SMTP_QUIT,
    SMTP_VRFY,
    SMTP_HELP,
    SMTP_AUTH,     /* AUTH MECH [initial-response] */
    SMTP_STARTTLS, /* recognised so that it can be refused (502): TLS is not terminated */
    SMTP_BDAT,     /* recognised so that it can be refused (502): CHUNKING is not offered */
    SMTP_UNKNOWN,  /* anything else: answered 500 by the proxy, never forwarded */
};

/* Why a line was refused; each maps to one fixed reply (smtp_error_reply). */
enum smtp_error {
    SMTP_ERR_NONE,
    SMTP_ERR_TOO_LONG, /* 500 5.5.2 Line too long */
    SMTP_ERR_BARE_EOL, /* 500 5.5.2 bare CR or LF (the connection is closed) */
    SMTP_ERR_NUL,      /* 500 5.5.2 NUL byte (the connection is closed) */
    SMTP_ERR_SYNTAX,   /* 501 5.5.4 Syntax error in parameters or arguments */
    SMTP_ERR_UNKNOWN,  /* 500 5.5.1 Command unrecognized */
    SMTP_ERR_NOT_IMPL, /* 502 5.5.1 Command not implemented (STARTTLS, BDAT) */
};

/*
 * One parsed command. Fields that the verb does not use are "" with length 0 (never
 * NULL). Trailing spaces of the line are ignored; the text fields hold no byte outside
 * printable ASCII (0x20..0x7e).
 */
struct smtp_command {
    enum smtp_verb verb;
    const char *arg; /* HELO/EHLO domain, NOOP/VRFY/HELP text, AUTH mechanism and response */
    size_t arglen;
    const char *path; /* MAIL/RCPT: the path without <>, "" for <> */
    size_t pathlen;
    /* MAIL/RCPT: ESMTP parameters as in the line, from the first to the last, or "";
     * smtp_command_format collapses runs of spaces between them to one */
    const char *params;
    size_t paramslen;
};

/*
 * smtp_line_find - the first complete line in buf[0..len): returns its length including
 * CRLF and sets *err = SMTP_ERR_NONE; 0 if no CRLF yet and fewer than max bytes are
 * waiting (max includes the CRLF; below 2 counts as 2); otherwise the number of bytes to
 * discard with *err set:
 *   TOO_LONG: the line up to and including its CRLF when that is in buf; if not, the
 *     line's bytes so far (up to, not including, its first CR, LF or NUL) and the rest
 *     of the line is still to come: drop it with smtp_line_skip (or close);
 *   BARE_EOL, NUL: everything up to and including the offending byte (a LF not after a
 *     CR, a CR followed by anything but LF, a NUL); the caller closes the connection
 *     after the error reply.
 * A CR at the very end of buf (its next byte unknown) means "wait for more".
 */
size_t smtp_line_find(const char *buf, size_t len, size_t max, enum smtp_error *err);
/*
 * smtp_line_skip - while dropping the rest of an over-long line: the number of bytes of
 * buf to drop, *done = 1 when they end with the line's CRLF (the next byte starts a new
 * line). A bare CR or LF or a NUL there sets *err as in smtp_line_find; 0 with *done = 0
 * means "wait for more" (buf empty, or only a CR).
 */
size_t smtp_line_skip(const char *buf, size_t len, int *done, enum smtp_error *err);
/*
 * smtp_command_parse - parse one line (CRLF removed) into out; SMTP_ERR_NONE or why not.
 * On error out->verb is still the recognised verb (SMTP_UNKNOWN with SMTP_ERR_UNKNOWN)
 * and the text fields are "".
 */
enum smtp_error smtp_command_parse(const char *line, size_t len, struct smtp_command *out);
/*
 * smtp_command_format - the canonical form of cmd for the backend, CRLF included, into
 * buf: upper-case verb, "MAIL FROM:<path>", "RCPT TO:<path>", single spaces. Returns the
 * length, or 0 if it does not fit in size or cmd is not a command that may be forwarded
 * (STARTTLS, BDAT, UNKNOWN, or fields that would not parse again). buf is NUL-terminated
 * when there is room for it. The output parses back to the same command.
 */
size_t smtp_command_format(const struct smtp_command *cmd, char *buf, size_t size);
/* smtp_error_reply - the fixed reply text (CRLF included) for an error */
const char *smtp_error_reply(enum smtp_error err);
/*
 * smtp_auth_line_ok - 1 if line (CRLF removed) is a valid AUTH continuation: base64
 * (padded; empty for an empty response) or "*" (cancel)
 */
int smtp_auth_line_ok(const char *line, size_t len);

/* A backend reply being assembled line by line. */
struct smtp_reply {
    int code;                  /* 3 digits, the same on every line */
    int done;                  /* the last line ("ddd " or "ddd") arrived */
    size_t len;                /* bytes in text */
    char text[SMTP_REPLY_MAX]; /* the whole reply as received, CRLF-terminated lines */
};

/* smtp_reply_init - start assembling a new reply */
void smtp_reply_init(struct smtp_reply *r);
/*
 * smtp_reply_feed - add one backend line (CRLF removed). 0 while more lines follow, 1 when
 * the reply is complete, -1 if the line is malformed (no 3-digit code with first digit 2
 * to 5, no '-' or ' ' after it, a code that differs from the first line's, a CR, LF or
 * NUL, over SMTP_REPLY_LINE or SMTP_REPLY_MAX bytes, a line after the last one): the
 * proxy then treats the backend as broken.
 */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len);
/* The extensions smtp_ehlo_filter keeps, as bits of its result. */
enum smtp_ehlo_ext {
    SMTP_EHLO_PIPELINING = 1u << 0,
    SMTP_EHLO_SIZE = 1u << 1,
    SMTP_EHLO_8BITMIME = 1u << 2,
    SMTP_EHLO_ENHANCED = 1u << 3, /* ENHANCEDSTATUSCODES */
    SMTP_EHLO_DSN = 1u << 4,
    SMTP_EHLO_AUTH = 1u << 5,
};

/*
 * smtp_ehlo_filter - rewrite a complete 250 EHLO reply in place, keeping the greeting
 * line and only the extensions the proxy understands (PIPELINING, SIZE, 8BITMIME,
 * ENHANCEDSTATUSCODES, DSN, AUTH); CHUNKING, STARTTLS, XCLIENT, XFORWARD, BINARYMIME,
 * SMTPUTF8 and every unknown keyword are removed. Returns the SMTP_EHLO_* bits of the
 * extensions kept. Keywords match case-insensitively as whole words ("AUTH=LOGIN" is
 * dropped); kept lines are written anew: the keyword in upper case, SIZE with its number
 * if it has a valid one, AUTH with its well-formed mechanism names, repeats dropped.
 * Continuation markers are fixed so that the last line is "250 ...". A reply that is not
 * a complete 250 is left as it is (0).
 */
unsigned smtp_ehlo_filter(struct smtp_reply *r);

/* The DATA scanner: where the message ends, and whether its line ends are all CRLF. */
enum smtp_data_state {
    SMTP_DATA_MORE, /* every byte given is message content; no end yet */
    SMTP_DATA_END,  /* the message ended: *used bytes include the final CRLF.CRLF */
    SMTP_DATA_BAD,  /* a bare CR, a bare LF or a NUL: refuse the message (554 5.5.0), close */
};

struct smtp_data {
    unsigned state; /* private: position in the CRLF . CRLF automaton */
    uint64_t bytes; /* message bytes seen so far */
};

/* smtp_data_init - start scanning a new message (just after the 354 reply) */
void smtp_data_init(struct smtp_data *d);
/*
 * smtp_data_scan - scan len bytes; *used is the number of bytes that belong to the
 * message (all of them for MORE; up to the end of CRLF.CRLF for END; the bytes before
 * the offending one for BAD). Bytes after an END are the next commands. The offending
 * byte is a LF not after a CR, a NUL, or the byte after a bare CR (a CR is message
 * content until its next byte is known: a CR at the end of buf gives MORE). Results do
 * not depend on how the input is split; after END or BAD every call returns the same
 * state with *used = 0 until smtp_data_init.
 */
enum smtp_data_state smtp_data_scan(struct smtp_data *d, const char *buf, size_t len, size_t *used);

/*
 * smtp_xclient_format - "XCLIENT ADDR=.. PORT=.. NAME=[TEMPUNAVAIL] HELO=..\r\n" into buf
 * for Postfix's XCLIENT (helo may be NULL or empty: HELO is then left out; it is
 * xtext-encoded (RFC 3461) and the encoded value cut to 255 bytes, never inside a "+XX").
 * addr is canonical text ("IPV6:" is added for IPv6). Length, or 0 if it does not fit or
 * addr or port is not a valid address or port. buf is NUL-terminated when there is room.
 */
size_t smtp_xclient_format(char *buf, size_t size, const char *addr, int ipv6, unsigned port,
                           const char *helo, size_t helolen);
/*
 * smtp_haproxy_format - the PROXY protocol v1 header
 * "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n" into buf. Length, or 0 if it does not fit
 * or an address or port is not valid. buf is NUL-terminated when there is room.
 */
size_t smtp_haproxy_format(char *buf, size_t size, int ipv6, const char *src, const char *dst,
                           unsigned sport, unsigned dport);

#endif
