/*
 * policy - the Postfix policy-delegation protocol (SMTPD_POLICY_README), parsed without
 * I/O: bytes in, complete requests out.
 *
 * A request is "name=value" lines ending with an empty line; unknown attributes are
 * ignored. The parser is incremental (policy_feed takes whatever arrived, in any split)
 * and bounded: a line over POLICY_MAX_LINE, a request over POLICY_MAX_REQUEST bytes or
 * POLICY_MAX_ATTRS attributes, a NUL byte, a line without '=', or a request without
 * request=smtpd_access_policy is an error, after which the connection must be closed
 * without a reply.
 */
#ifndef POPAUTH_POLICY_H
#define POPAUTH_POLICY_H

#include <stddef.h>

#define POLICY_MAX_LINE    8192
#define POLICY_MAX_REQUEST 65536
#define POLICY_MAX_ATTRS   128

/* The attributes the decision needs, pointing into the parser's buffer. */
struct policy_request {
    const char *protocol_state; /* "RCPT", "DATA", ... ("" if absent) */
    const char *client_address;
    const char *recipient;
    const char *sender; /* for logs only: the decision never looks at it */
    const char *sasl_username;
};

struct policy_parser; /* opaque */

/* policy_parser_new - a parser for one connection; free with policy_parser_free */
struct policy_parser *policy_parser_new(void);
/* policy_parser_free - release the parser; NULL is allowed */
void policy_parser_free(struct policy_parser *p);
/*
 * policy_feed - consume up to len bytes. Returns the number consumed and sets *req and
 * *complete = 1 when a whole request ended (the caller handles it, then calls again with
 * the rest: pipelined requests are returned one at a time, in order); -1 and err on a
 * protocol error. *req stays valid until the next call.
 */
long policy_feed(struct policy_parser *p, const char *data, size_t len, struct policy_request *req,
                 int *complete, char *err, size_t errlen);

#endif
