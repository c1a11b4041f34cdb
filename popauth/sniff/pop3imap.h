/*
 * pop3imap - the sniffer's login detector, without I/O: one state machine per TCP
 * conversation that reads the client's commands and the server's replies (each an
 * in-order byte stream from tcpflow) and pairs every command with the reply to it.
 *
 * A login is reported only when the server confirms it:
 *   POP3  USER name, then PASS ...      answered +OK (the +OK to USER grants nothing)
 *         APOP name digest              answered +OK
 *         AUTH MECH [initial-response]  with any continuations, answered +OK
 *   IMAP  tag LOGIN user pass           (atoms, quoted strings, literals {n} and {n+},
 *                                        with the server's "+" continuation for {n})
 *         tag AUTHENTICATE MECH [ir]    with continuations, answered "tag OK"
 * An untagged OK, a tagged OK with another tag, NO, BAD and -ERR grant nothing. After
 * STLS/STARTTLS and its positive reply the conversation is over for the sniffer
 * (POP3IMAP_TLS). For AUTH PLAIN/LOGIN the user name is taken from the decoded SASL
 * exchange (PLAIN: the authorization identity, else the authentication identity);
 * for other mechanisms it is left empty. User names keep printable ASCII (0x21-0x7e);
 * any other byte becomes '?', and they are cut to POP3IMAP_USER_MAX - 1 bytes. After a
 * reported login the conversation is finished (pop3imap_done): neither protocol can log
 * in twice, so nothing after it is read.
 *
 * Pairing. The detector counts client bytes itself from 0; a command's end is the client
 * offset after its last byte (for IMAP, after its last literal and line). acked (from
 * tcpflow) is how many client bytes the server had acknowledged when it sent a reply.
 * A reply pairs with a command only if acked >= that command's end; a reply with acked
 * more than one past the client bytes seen here (one: the client's FIN) answers bytes
 * this detector never saw: desync. Commands wait in a queue of POP3IMAP_MAX_PENDING
 * (more is a desync).
 *   POP3 replies carry no tag, so each pairs with the oldest waiting command. In a
 *   conversation seen from its start the first server line is the greeting and pairs
 *   with nothing; after it, a reply with no command waiting, or with acked below the
 *   oldest command's end, is a desync. "+ ..." lines are SASL challenges and pair only
 *   with an AUTH whose client is waiting. +OK to CAPA, RETR, TOP, and to LIST, UIDL,
 *   LANG and AUTH without argument opens a multi-line body, read to its "." line
 *   (dot-stuffed lines are body); -ERR is always one line.
 *   IMAP tagged replies pair by exact tag; a tag reused while its command waits, a
 *   tagged reply for no waiting command, or one whose acked is below its command's end,
 *   is a desync. "+ ..." pairs with the one command that waits for it (a {n} literal,
 *   an AUTHENTICATE step, IDLE) if acked covers the line that asked for it; instead of
 *   "+", a tagged NO or BAD may end a command at its {n} header (the client then sends
 *   no literal). Untagged data responses ending in "{n}" are followed by n literal bytes
 *   that are skipped, so that a message body holding "a1 OK" is never read as a reply.
 *   A client that sends while it must wait (for a "+" or a SASL step's answer) is a
 *   desync.
 *
 * Where a server could read the client's bytes differently from this parser, the
 * conversation is given up rather than guessed at, because pairing a reply with the
 * wrong command is how a failed login would become a grant:
 *   - a client line ended by a bare LF, or holding a CR or NUL (a server may split it);
 *   - POP3: an empty command line, a command sent while a multi-line reply is due (a
 *     server that answered it in one line would have its next replies read as body),
 *     USER/APOP/AUTH sent while another login command waits, an AUTH whose mechanism
 *     does not follow a single space (the server might answer it with its mechanism
 *     list, "+OK ..."), and any reply to a command with a line over 255 octets (RFC
 *     2449's limit) other than the +OK that confirms it as a login (PASS, APOP, AUTH
 *     with its responses). Such lines are read up to max_line, as Dovecot does; but a
 *     server with a 255-octet buffer may read one as two commands and answer both, and
 *     the extra reply can pair with a later command whose bytes it acknowledges (the
 *     client pipelined it, or the server's Nagle delay let it arrive first): a +OK to
 *     "USER x" hidden in the long line would then confirm a wrong PASS. The first reply
 *     is the server's own answer to the command's start, so a +OK there is a login;
 *   - IMAP: a line that ends like a literal header where this parser sees none (inside
 *     a quoted string, glued to an atom), a tagged BAD to a command that carried a
 *     non-synchronizing literal {n+} (the server may not have read it as one), any
 *     untagged BAD, a LOGIN or AUTHENTICATE sent while another waits, a tag over 32
 *     bytes or with bytes a tag cannot hold.
 * A malformed reply, or a POP3 +OK to PASS without an accepted USER, is a desync too.
 *
 * Joined conversations (picked up mid-session: already open when capture began, or
 * forgotten by the flow table, idle past sniff_flow_timeout or evicted when it was full,
 * and seen again) are followed but never grant. Each side's bytes are skipped up to and
 * including its first LF, then read as above, except that replies that do not pair
 * (nothing waiting, acked too low, unknown tag, an unreadable line) are ignored: they
 * answer commands sent before the join, or are the rest of a reply or literal that
 * began before it. STLS/STARTTLS still ends such a conversation (POP3IMAP_TLS); a login
 * confirmed in it is NOT reported: it ends the conversation as POP3IMAP_DESYNC ("not
 * trusted"). Why: commands sent before the join may still wait for their replies, and
 * the detector cannot know how many. The bytes skipped at the join may end a command
 * ("OOP" CRLF of a NOOP); a client that sends that, then USER and PASS with a wrong
 * password, in one segment (while the server still delays its answer to an earlier
 * failed PASS, the line skipped on the server side) gets the +OK to NOOP with an acked
 * past PASS: it would pair with USER, and the +OK to USER with PASS. In IMAP a tag
 * reused across the join does the same. The acked rule cannot tell these apart, and a
 * client can make its own conversation joined (by letting it idle, or by opening
 * enough connections to fill the flow table), so a grant from a joined conversation
 * could be a grant without a login. A user who does log in on such a connection gets
 * the grant at the next login, on a new connection, which is followed from its SYN.
 *
 * Bounds: a line (or an IMAP command with its literals) over max_line bytes, its LF
 * included, is a desync ("line too long"); server literals are skipped and not counted.
 * Client offsets are 32-bit: about 4 GiB from the client without a login is a desync.
 *
 * Secrets: password bytes (PASS, LOGIN's second argument, APOP digests, SASL responses
 * other than the identities) are parsed in place and never copied, kept or returned;
 * SASL PLAIN is decoded only up to the password. A line buffer is cleared
 * (explicit_bzero) and freed as soon as its line has been read.
 *
 * Ownership: pop3imap_new allocates; pop3imap_free releases (NULL allowed); or the caller
 * provides the memory (pop3imap_init, pop3imap_fini). Buffers grow
 * only while a line is incomplete and are released when it completes; a user name is held
 * (POP3IMAP_USER_MAX bytes) only while a login command waits; so an idle conversation
 * costs sizeof(struct) bytes only (POP3IMAP_IDLE_BYTES at most).
 */
#ifndef POPAUTH_POP3IMAP_H
#define POPAUTH_POP3IMAP_H

#include <stddef.h>
#include <stdint.h>

#define POP3IMAP_MAX_PENDING 16
#define POP3IMAP_USER_MAX    256 /* bytes of a user name, NUL included; longer is cut */
#define POP3IMAP_IDLE_BYTES  384

enum pop3imap_proto { POP3IMAP_POP3, POP3IMAP_IMAP };

enum pop3imap_event {
    POP3IMAP_NONE,   /* all bytes used, nothing to report */
    POP3IMAP_LOGIN,  /* the server confirmed a login: user filled in */
    POP3IMAP_DESYNC, /* lost track (why filled in): stop feeding this conversation */
    POP3IMAP_TLS,    /* STLS/STARTTLS accepted: stop feeding this conversation */
};

enum pop3imap_side { POP3IMAP_CLIENT = 0, POP3IMAP_SERVER = 1 }; /* same as tcpflow_side */

struct pop3imap; /* opaque */

/* pop3imap_new - a detector for one conversation; joined: picked up mid-session */
struct pop3imap *pop3imap_new(enum pop3imap_proto proto, size_t max_line, int joined);
/* pop3imap_free - release s, clearing any buffered bytes; NULL is allowed */
void pop3imap_free(struct pop3imap *s);
/*
 * pop3imap_size, pop3imap_init, pop3imap_fini - the same in memory the caller owns
 * (pop3imap_size bytes, aligned for any type), so that the detector can share one
 * allocation with the caller's per-conversation state: init makes a detector there,
 * fini releases its buffers and clears it (the memory stays the caller's).
 */
size_t pop3imap_size(void);
void pop3imap_init(struct pop3imap *s, enum pop3imap_proto proto, size_t max_line, int joined);
void pop3imap_fini(struct pop3imap *s);
/*
 * pop3imap_feed - consume up to len in-order bytes from side (acked: see above; ignored
 * for the client side). Returns an event and sets *used to the bytes consumed: len,
 * except after a LOGIN, when the caller may call again with the rest (which is then
 * used up without a further event). user (POP3IMAP_USER_MAX bytes) receives the
 * printable user name on LOGIN; *why (a static string) the reason on DESYNC. Only server
 * bytes can complete a login.
 */
enum pop3imap_event pop3imap_feed(struct pop3imap *s, enum pop3imap_side side, const uint8_t *bytes,
                                  size_t len, uint64_t acked, size_t *used, char *user,
                                  const char **why);
/*
 * pop3imap_done - 1 once s can report nothing more: after it reported LOGIN, DESYNC or
 * TLS. Each of those is reported once; later pop3imap_feed calls use every byte and
 * return POP3IMAP_NONE, so the caller may stop following the conversation.
 */
int pop3imap_done(const struct pop3imap *s);
/*
 * pop3imap_areas - the memory s holds now (the struct itself, then the user name and
 * line buffers that exist) as up to max pointer/length pairs; returns how many. For
 * memory accounting, and for tests that check that no password byte is kept.
 */
size_t pop3imap_areas(const struct pop3imap *s, const void **ptr, size_t *len, size_t max);
/*
 * pop3imap_buffered - the bytes s holds now besides its struct (line buffers and user
 * name): what may grow with the client's input, for a budget across conversations
 */
size_t pop3imap_buffered(const struct pop3imap *s);

#endif
