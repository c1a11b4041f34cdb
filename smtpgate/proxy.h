/*
 * proxy - the SMTP proxy front: smtpgate stands in front of any MTA on port 25, relays the
 * SMTP dialogue to it and applies the relay decision at every RCPT TO, so that MTAs
 * without Postfix's policy protocol get POP-before-SMTP too.
 *
 * For each client connection on a proxy_listen socket smtpgate opens one connection to
 * proxy_backend (inet:HOST:PORT, inet:[V6]:PORT with numeric addresses, or unix:PATH)
 * and passes the backend's greeting and replies through (the protocol logic is
 * smtpgate/session.h's; this module is its event-loop shell). Every client command line
 * is parsed (smtpgate/smtp.h) and only its re-serialised form reaches the backend:
 *
 *   RCPT TO      decided like the policy server does (local_domains, local_networks,
 *                the grant store); local and permit-* are forwarded; reject is answered
 *                "554 5.7.1 Relay access denied" and defer "451 4.3.0 Relay authorization
 *                unavailable, try again later" by smtpgate, never forwarded. After the
 *                backend accepted SMTP AUTH (235), recipients that are not local are
 *                permit-auth. Every decision is logged on one line:
 *                action=permit-grant client=ADDR recipient=ADDRESS reason="..."
 *   EHLO         the backend's reply loses every extension smtpgate does not parse:
 *                CHUNKING, STARTTLS, XCLIENT, XFORWARD, BINARYMIME, SMTPUTF8, unknown ones
 *   AUTH         forwarded; while the backend answers 334 the client's lines are checked
 *                to be base64 (or "*") and forwarded as they are; a bad line is replaced
 *                by "*", which cancels the exchange at the backend
 *   DATA         after the backend's 354 the message streams through without being held:
 *                only CRLF.CRLF ends it; a bare CR, a bare LF or a NUL anywhere in it is
 *                answered "554 5.5.0" and both connections are closed, the backend's in
 *                the middle of the message, so it never sees an end that smtpgate did
 *                not see (the backend is only ever sent whole CRLF lines of a refused
 *                message, except pieces of a line longer than PROXY_BUF)
 *   STARTTLS, BDAT  "502 5.5.1" (TLS is not terminated here: use Postfix's policy mode
 *                with smtpd TLS for that; CHUNKING is never offered)
 *   VRFY, HELP   answered by smtpgate (252 and 214): addresses cannot be probed through it
 *   anything else  "500 5.5.1", never forwarded
 *
 * Lines end only with CRLF. A line longer than proxy_max_line (512 bytes by default, CRLF
 * included) is answered "500 5.5.2 Line too long" and skipped up to its CRLF; a bare CR or
 * LF or a NUL in a command line is answered "500 5.5.2" and the connection is closed.
 *
 * PIPELINING: replies leave in command order, whether they come from the backend or from
 * smtpgate (a queue of at most SESSION_PIPELINE commands per session; beyond it, reading
 * pauses). Commands wait for the backend's reply before the next goes out unless the
 * backend offered PIPELINING in its EHLO reply. DATA and AUTH are synchronisation points.
 *
 * proxy_client_identity tells the backend who the client is: "xclient" sends Postfix's
 * XCLIENT ADDR=.. PORT=.. NAME=[TEMPUNAVAIL] right after the backend's greeting (without
 * HELO: the client's own HELO/EHLO follows as usual) and passes the backend's new 220 to
 * the client as its only greeting; anything but 220 closes the client with 421 and is
 * logged (the backend must list smtpgate in smtpd_authorized_xclient_hosts). smtpgate
 * looks up no hostnames, so NAME says "not known now": per Postfix's XCLIENT_README,
 * [UNAVAILABLE] means that the lookup failed for good (a backend with
 * reject_unknown_client_hostname refuses such a client with unknown_client_reject_code,
 * often a permanent 550), [TEMPUNAVAIL] that it failed for now (always 450: mail waits,
 * nothing bounces), and without NAME Postfix keeps the name it looked up for smtpgate's
 * own address, with a successful status, for every client: hostname checks would pass
 * and hostname access rules meant for smtpgate's host would match every client.
 * Hostname-based restrictions cannot judge a proxied client; address-based ones can.
 * "haproxy" writes a PROXY protocol v1 header first (Postfix:
 * smtpd_upstream_proxy_protocol = haproxy). "none" (the default) tells nothing: the
 * backend sees smtpgate's address.
 *
 * Limits: proxy_max_connections sessions at once and proxy_max_connections_per_client
 * per client: an IPv4 address, or an IPv6 /64 (PROXY_CLIENT_V6_PREFIX; one host is
 * usually given a whole /64 and can pick any address in it); beyond them "421 4.7.0 Too
 * many connections" and close. proxy_max_recipients forwarded RCPTs per transaction,
 * then "452 4.5.3 Too many recipients". SESSION_MAX_ERRORS errors answered by smtpgate
 * itself in one session (unknown or refused commands, syntax errors, over-long lines,
 * refused or deferred RCPTs, all of which the backend never sees), then "421 4.7.0 Too
 * many errors" and close, logged (as Postfix's smtpd_hard_error_limit). Timeouts:
 * proxy_command_timeout while waiting for a client command or for the client to take replies
 * ("421 4.4.2 Timeout exceeded"); proxy_data_timeout for each block of DATA, and DATA as a whole
 * may last at most proxy_data_timeout + bytes / proxy_min_data_rate seconds (0 turns the rate off);
 * proxy_backend_timeout for connecting, the greeting and every reply of the backend
 * ("421 4.4.2 Service not available" at the greeting, "451 4.4.2 Backend not
 * responding" to a command); a backend that cannot be reached gives "421 4.3.2 Service
 * not available". Every one of these closes both connections.
 *
 * Memory: a session is one struct of about 1 KiB (sizeof(struct proxy_session), logged at
 * start-up) plus, only while bytes wait in them, at most four buffers of PROXY_BUF bytes
 * (client input, client output, backend input, backend output; the two input buffers
 * are max(PROXY_BUF, proxy_max_line + 64) bytes). An idle session holds no buffer: 500
 * idle sessions take about 0.5 MiB, 500 sessions all moving data at once at most 32 MiB.
 * Buffers are recycled through a free list of at most PROXY_POOL buffers.
 *
 * Configuration: SIGHUP's new config applies to new sessions and to every decision from
 * then on (a session keeps the limits and timeouts it started with). proxy_drain (SIGTERM)
 * stops accepting, lets each session finish the commands in flight (a message being sent
 * is finished) and closes it with "421 4.3.2 Service shutting down"; after
 * PROXY_DRAIN_TIMEOUT seconds every session still open is closed the same way.
 *
 * Ownership: as for policyd: the config passed to proxy_new or proxy_set_config must stay
 * alive until the next proxy_set_config or proxy_free; the grants handle and the listening
 * descriptors stay the caller's.
 */
#ifndef POPAUTH_PROXY_H
#define POPAUTH_PROXY_H

#include <stddef.h>

#include <ev.h>

#include "shared/config.h"
#include "smtpgate/front.h"
#include "smtpgate/grants.h"
#include "smtpgate/session.h"

#define PROXY_MAX_LISTENERS    FRONT_MAX_LISTENERS
#define PROXY_BUF              16384 /* bytes of one session buffer */
#define PROXY_POOL             64    /* free buffers kept for reuse */
#define PROXY_DRAIN_TIMEOUT    10.0  /* seconds a stopping proxy lets sessions finish */
#define PROXY_CLIENT_V6_PREFIX 64    /* bits of an IPv6 address that name one client */

struct proxy; /* opaque */

/* proxy_done_fn - called once a draining proxy has closed its last session */
typedef front_done_fn proxy_done_fn;

/*
 * proxy_check_config - 0 if cfg's proxy_* settings are usable: when proxy_listen is set,
 * every entry is inet: and proxy_backend parses. -1 and err naming the parameter if not.
 */
int proxy_check_config(const struct config *cfg, char *err, size_t errlen);
/* proxy_new - a proxy on loop deciding under cfg (checked) with grants */
struct proxy *proxy_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants);
/* proxy_listen - accept client connections on the listening socket fd (name for logs) */
int proxy_listen(struct proxy *p, int fd, const char *name, char *err, size_t errlen);
/* proxy_set_config - new sessions and every decision from now on use cfg (checked) */
void proxy_set_config(struct proxy *p, const struct config *cfg);
/*
 * proxy_drain - stop accepting, let sessions finish what is in flight, close them with
 * 421 (forcibly after PROXY_DRAIN_TIMEOUT), then call done. The caller may close the
 * listening descriptors once this returns.
 */
void proxy_drain(struct proxy *p, proxy_done_fn done, void *ctx);
/* proxy_sessions - sessions open now */
size_t proxy_sessions(const struct proxy *p);
/* proxy_free - close every session and release p; NULL is allowed */
void proxy_free(struct proxy *p);

#endif
