/*
 * milter - the milter protocol (the MTA-to-filter protocol of Sendmail 8.14 and later,
 * version 6, which Postfix speaks too) as smtpgate's milter front needs it: a pure core
 * with no sockets, clock or store. milterd.c is its libev shell.
 *
 * A packet is a 4-byte length in network order, then that many bytes: a command byte
 * and its data. The MTA opens with SMFIC_OPTNEG; the answer asks for as little as the
 * relay decision needs: no HELO, DATA, header, end-of-header, body or unknown-command
 * events, no MAIL event either when the MTA takes macro lists, no reply to the connect
 * step when the MTA allows it (version 6: SMFIP_NR_CONN), and the one macro that
 * matters, {auth_authen}, with each RCPT (with MAIL otherwise). No action that changes
 * a message is asked for.
 *
 * Per connection: SMFIC_CONNECT gives the client address. An IPv4 or IPv6 address (an
 * IPv4-mapped one is its IPv4 address; Sendmail writes IPv6 as "IPv6:..." and the prefix
 * is taken off) is what each recipient is decided for; a connection from a unix socket
 * or with no address ('L', 'U') is local to the MTA: not smtpgate's to judge, it is
 * accepted (SMFIR_ACCEPT) at the connect step, or at its first RCPT when the connect
 * step gets no reply. An address that does not parse leaves the client unknown, and
 * decide() refuses relaying to an unknown client.
 *
 * Per recipient: SMFIC_RCPT is a MILTER_DECIDE step: the caller decides m->rcpt (the
 * first argument, one pair of angle brackets taken off) for m's client with
 * m->authenticated, and calls milter_verdict with the outcome. A local recipient
 * continues (SMFIR_CONTINUE: accepted, and the next recipient is asked about too). A
 * permit accepts the message (SMFIR_ACCEPT: the MTA asks nothing more about this
 * message, so it need not hand the milter on to its queue-file writer or send the end
 * of the message): every permit is about the client (local network, SMTP AUTH, a
 * grant), not the recipient, so the message's later recipients would be permitted
 * too; the next message of the session is asked about again. A refusal is "554 5.7.1
 * Relay access denied" and anything else, a store failure included, is "451 4.3.0
 * Relay authorization unavailable, try again later" (SMFIR_REPLYCODE: this recipient
 * only, the session goes on). Reply texts are constants: nothing from a packet reaches
 * a reply.
 *
 * {auth_authen} counts only as the MTA sends it: a non-empty value in the macros of the
 * RCPT being decided, or of the current message's MAIL; RCPT macros are forgotten after
 * their RCPT, MAIL macros at the end or abort of the message, or at the next MAIL's
 * macros (after an accept the MTA sends neither end nor abort). SMTP AUTH cannot be
 * undone within a session, so a value that outlived its message is still the truth.
 *
 * Fail closed: a packet out of bounds, an unknown command, a truncated field or a
 * command before the negotiation is a protocol error: the caller closes the connection,
 * and the MTA applies its own default for a failed filter (tempfail in the shipped
 * recipes).
 */
#ifndef POPAUTH_MILTER_H
#define POPAUTH_MILTER_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/decide.h"

#define MILTER_HEADER      4     /* the length field */
#define MILTER_PACKET_MAX  65536 /* bytes of a command and its data (libmilter's default) */
#define MILTER_REPLY_MAX   256   /* bytes of one reply packet, header included */
#define MILTER_VERSION     6     /* the protocol version smtpgate speaks */
#define MILTER_VERSION_MIN 2     /* the oldest it accepts */

/* What the caller does after a packet. */
enum milter_step {
    MILTER_ERROR = -1, /* protocol error (err says which): close the connection */
    MILTER_NONE,       /* nothing to send */
    MILTER_SEND,       /* send m->out[0..m->outlen) */
    MILTER_DECIDE,     /* decide m->rcpt, then milter_verdict and send m->out */
    MILTER_CLOSE,      /* the MTA ended the connection (SMFIC_QUIT) */
};

/* One MTA connection's protocol state. */
struct milter {
    int negotiated;     /* SMFIC_OPTNEG was answered */
    uint32_t version;   /* the version agreed on */
    int symlist;        /* the MTA takes macro lists: {auth_authen} comes with RCPT */
    int quiet_connect;  /* SMFIC_CONNECT gets no reply (SMFIP_NR_CONN agreed) */
    int has_client;     /* client holds the connection's client address */
    int local;          /* the connection is from a unix socket or has no address */
    struct addr client; /* has_client */
    int auth_mail;      /* {auth_authen} non-empty in this message's MAIL macros */
    int auth_rcpt;      /* ... in the macros sent for the next RCPT */
    int authenticated;  /* MILTER_DECIDE: the client authenticated at the MTA */
    const char *rcpt;   /* MILTER_DECIDE: the recipient (points into the packet) */
    size_t rcptlen;     /* its length */
    unsigned char out[MILTER_REPLY_MAX]; /* the reply of a MILTER_SEND or MILTER_DECIDE */
    size_t outlen;
};

/* milter_init - a fresh connection state */
void milter_init(struct milter *m);
/*
 * milter_frame - the length of the packet at the start of buf (len bytes so far),
 * header included, once all of it is there; 0 if more bytes are needed; -1 and err if
 * its length is 0 or over MILTER_PACKET_MAX
 */
long milter_frame(const unsigned char *buf, size_t len, char *err, size_t errlen);
/*
 * milter_packet - take one whole packet (as framed: pkt[0..len), header included) and
 * say what to do; the reply, if any, is in m->out
 */
enum milter_step milter_packet(struct milter *m, const unsigned char *pkt, size_t len, char *err,
                               size_t errlen);
/* milter_verdict - the reply for outcome into m->out; its name for the log ("accept"...) */
const char *milter_verdict(struct milter *m, enum decision_outcome outcome);

#endif
