/*
 * rcpt - recipient addresses parsed as RFC 5321 does, for the relay decision: where the
 * mail would finally go, and whether its local part tries to route it further.
 *
 * Accepted: "u@example.net", "<u@example.net>", quoted local parts ("\"a b\"@x"), source
 * routes ("@a,@b:u@d", which goes to d), IP literals ("u@[192.0.2.1]",
 * "u@[IPv6:2001:db8::1]"), a trailing dot on the domain, any case. The domain comes out
 * lower-cased without the trailing dot; an IP literal comes out as "[canonical]".
 * "Routed" is set when the local part carries routing syntax (%, !, @, quoted or not)
 * or a source route is present: such a recipient is never local, whatever its domain.
 * A bare "postmaster" (no domain) is the server's own postmaster (RFC 5321 4.5.1).
 */
#ifndef POPAUTH_RCPT_H
#define POPAUTH_RCPT_H

#include <stddef.h>

#define RCPT_MAX        512 /* bytes of a recipient, brackets included */
#define RCPT_DOMAIN_MAX 256

struct rcpt {
    char domain[RCPT_DOMAIN_MAX]; /* final domain, normalised; "" for bare postmaster */
    int routed;                   /* routing in the local part, or a source route */
    int postmaster;               /* bare "postmaster" */
    int literal;                  /* domain is an IP literal */
};

/* rcpt_parse - parse len bytes of a recipient; -1 and err (naming why) if malformed */
int rcpt_parse(const char *text, size_t len, struct rcpt *out, char *err, size_t errlen);

#endif
