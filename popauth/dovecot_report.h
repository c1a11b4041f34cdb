/*
 * dovecot_report - the pure core of the Dovecot auth-policy source: what one request of
 * Dovecot's auth policy client says (see dovecot_policy.h for the listener).
 *
 * Dovecot (2.2.27 and later) POSTs a JSON object to auth_policy_server_url with the query
 * "command=allow" before (and after) each authentication and, with
 * auth_policy_report_after_auth = yes, "command=report" with its outcome: the attributes
 * of auth_policy_request_attributes (strings: "login", "remote", "protocol", ...) and the
 * booleans "success" and "policy_reject". "success" only says that the passdb answered
 * OK, which it also does without checking any password (a proxy or director's
 * nopassword, noauthenticate, a nologin account, the ANONYMOUS mechanism), so popauth
 * needs four more attributes (INSTALL 5.5's auth_policy_request_attributes):
 *   nopassword=%{passdb:nopassword:-} nologin=%{passdb:nologin:-}
 *   proxy=%{passdb:proxy:-} mech=%m
 * each passdb field "-" when the passdb did not set it (Dovecot 2.3 always expands
 * nopassword to "-"; nologin and proxy it passes on). A report grants "remote" when
 * "success" is true, "policy_reject" false, the three fields are "-" and "mech" is not
 * ANONYMOUS. Everything else grants nothing: a failed login, a policy refusal, a login
 * no password was checked for, an empty "remote" (a login with no client address), a
 * report without the four attributes (refused as malformed), and any body that
 * is not exactly such an object: not JSON, trailing bytes, a key given twice, nesting
 * deeper than DOVECOT_REPORT_DEPTH, a missing or mistyped field, or a "remote" that is not
 * a canonical IP address (the text Dovecot's own net_ip2addr writes). JSON is read by
 * Jansson; nothing here does I/O, reads a clock or keeps state.
 *
 * The shared secret arrives in the X-API-Key header (Dovecot's auth_policy_server_api_header
 * "X-API-Key: SECRET", or the bare SECRET, which Dovecot sends under that name) and is
 * compared in constant time.
 */
#ifndef POPAUTH_DOVECOT_REPORT_H
#define POPAUTH_DOVECOT_REPORT_H

#include <stddef.h>

#include "db/store.h"
#include "shared/addr.h"

#define DOVECOT_REPORT_BODY_MAX   16384 /* bytes of a request body */
#define DOVECOT_REPORT_DEPTH      4     /* objects and arrays nested in a report */
#define DOVECOT_REPORT_SECRET_MIN 16    /* bytes of dovecot_policy_secret */
#define DOVECOT_REPORT_SECRET_MAX 256
#define DOVECOT_REPORT_HEADER     "X-API-Key"
#define DOVECOT_REPORT_UNSET      "-" /* a passdb field the passdb did not set */

/* The command in the query string. */
enum dovecot_command {
    DOVECOT_COMMAND_BAD,    /* missing or unknown */
    DOVECOT_COMMAND_ALLOW,  /* before/after authentication: always answered "allow" */
    DOVECOT_COMMAND_REPORT, /* the outcome of an authentication */
};

/* What a report body means. */
enum dovecot_verdict {
    DOVECOT_REPORT_BAD,      /* malformed: answer 400, grant nothing */
    DOVECOT_REPORT_NO_GRANT, /* a well-formed report that grants nothing */
    DOVECOT_REPORT_GRANT,    /* a successful login from remote */
};

struct dovecot_report {
    struct addr remote;         /* the client (DOVECOT_REPORT_GRANT only) */
    char login[STORE_USER_MAX]; /* the user, cleaned like a log line's and cut */
};

/* dovecot_report_command - the command named by the query value (NULL if absent) */
enum dovecot_command dovecot_report_command(const char *value);
/* dovecot_report_secret_check - "" if secret is a usable dovecot_policy_secret, else why
 * not (a constant text) */
const char *dovecot_report_secret_check(const char *secret);
/* dovecot_report_secret_ok - 1 if sent (the header's value, NULL if absent) is secret;
 * the time taken depends only on the lengths */
int dovecot_report_secret_ok(const char *sent, const char *secret);
/* dovecot_report_parse - read a report body of len bytes into *out; *why is a constant
 * text saying what was wrong (BAD) or why nothing is granted (NO_GRANT) */
enum dovecot_verdict dovecot_report_parse(const char *body, size_t len, struct dovecot_report *out,
                                          const char **why);

#endif
