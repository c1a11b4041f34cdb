/*
 * decide - the relay decision, one pure function shared by every front (the policy
 * server, the SMTP proxy) and by `popauthctl check`.
 *
 *   recipient local (its final domain is in local_domains and nothing routes it on)
 *                                          -> DECISION_LOCAL
 *   no client address                      -> DECISION_REJECT
 *   client in local_networks               -> DECISION_PERMIT_LOCALNET
 *   client authenticated with SMTP AUTH at the MTA (the SMTP proxy saw the backend
 *   accept it)                             -> DECISION_PERMIT_AUTH
 *   client holds an unexpired grant        -> DECISION_PERMIT_GRANT
 *   the store could not answer             -> DECISION_DEFER
 *   otherwise                              -> DECISION_REJECT
 *
 * A recipient that does not parse is treated as not local. The sender never matters.
 * The caller first calls decide with grant == NULL; if the outcome is
 * DECISION_NEED_GRANT it looks the client up in the store and calls again with what it
 * found, passing the same struct decision and the same input (the second call then
 * reuses the first call's analysis of the recipient). smtpgate's gate_decide does both
 * for every front. The reason text is for logs only; it never reaches a reply.
 */
#ifndef POPAUTH_DECIDE_H
#define POPAUTH_DECIDE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"
#include "shared/config.h"

enum decision_outcome {
    DECISION_PERMIT_LOCALNET,
    DECISION_PERMIT_GRANT,
    DECISION_PERMIT_AUTH, /* the client authenticated with SMTP AUTH at the MTA */
    DECISION_LOCAL,
    DECISION_REJECT,
    DECISION_DEFER,
    DECISION_NEED_GRANT, /* call again with the store's answer */
};

enum grant_state { GRANT_NONE, GRANT_ACTIVE, GRANT_ERROR };

/* What the store said about the client. */
struct decision_grant {
    enum grant_state state;
    const char *user;  /* GRANT_ACTIVE */
    int64_t expires;   /* GRANT_ACTIVE */
    const char *error; /* GRANT_ERROR: the store's message */
};

/* What a decision is about. */
struct decision_input {
    const struct addr *client; /* NULL: no usable client address */
    const char *rcpt;          /* the recipient, rcptlen bytes (need not end in NUL) */
    size_t rcptlen;
    int authenticated; /* the client authenticated with SMTP AUTH at the MTA */
};

#define DECISION_WHY_MAX 320 /* bytes of the recipient half of a reason */

struct decision {
    enum decision_outcome outcome;
    char reason[512];
    /* Kept by decide between the two calls of one decision, so that the second call
     * (with the grant) does not parse the recipient again. Not for callers. */
    const char *rcpt;
    size_t rcptlen;
    char why[DECISION_WHY_MAX];
};

/* decide - the outcome for in's client relaying to in's recipient, under cfg's rules */
void decide(const struct config *cfg, const struct decision_input *in,
            const struct decision_grant *grant, struct decision *out);
/* decide_name - "permit-localnet", "permit-grant", "permit-auth", "local", "reject", ... */
const char *decide_name(enum decision_outcome outcome);
/* decide_accepts - 1 if the outcome lets the mail through */
int decide_accepts(enum decision_outcome outcome);

#endif
