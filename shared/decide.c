/*
 * decide - the relay decision. Every front (the policy server, the SMTP proxy) and
 * `popauthctl check` call this one function, so that they cannot disagree.
 *
 * The order is fixed: first the recipient (mail for our own domains is accepted from
 * anyone), then the client (local networks relay freely), and only then the store,
 * which the caller consults between two calls (DECISION_NEED_GRANT), so that this file
 * stays pure: no I/O, no clock, no allocation. The caller's lookup applies the expiry
 * (a grant is active while expires > now); decide trusts GRANT_ACTIVE as given.
 *
 * Local domains: an entry "example.net" matches that domain exactly; an entry
 * ".example.net" matches every subdomain of example.net but not example.net itself
 * (Postfix's parent_domain_matches_subdomains semantics; list both for both); an
 * entry "[192.0.2.1]" matches that address literal, in any spelling that addr_parse
 * canonicalises to it ("[IPv6:::ffff:192.0.2.1]" too). A literal matches only a listed
 * literal, never a name. A recipient that does not parse, or that is routed (source
 * route, or %, ! or @ in the local part), is never local.
 *
 * The reason text is for logs only. It may quote request data (the recipient's domain,
 * the user name, the store's message), always made printable and cut to fit.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "shared/decide.h"
#include "shared/rcpt.h"
#include "shared/util.h"

#define DECIDE_WHY_MAX  320 /* bytes of the recipient half of a reason */
#define DECIDE_TEXT_MAX 201 /* bytes of a user name or store message quoted, NUL included */

/* decide_append - append formatted text to the reason, cutting at its end */
static void decide_append(struct decision *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void decide_append(struct decision *out, const char *fmt, ...)
{
    size_t used = strlen(out->reason);
    va_list ap;

    if (used + 1 >= sizeof(out->reason))
        return;
    va_start(ap, fmt);
    vsnprintf(out->reason + used, sizeof(out->reason) - used, fmt, ap);
    va_end(ap);
}

/* decide_printable - replace any unprintable byte left in the reason (belt and braces) */
static void decide_printable(struct decision *out)
{
    size_t i;

    for (i = 0; out->reason[i] != '\0'; i++)
        if ((unsigned char)out->reason[i] < 0x20 || (unsigned char)out->reason[i] >= 0x7f)
            out->reason[i] = '?';
}

/* decide_domain_local - 1 if the parsed recipient's domain is one of local_domains */
static int decide_domain_local(const struct config *cfg, const struct rcpt *r)
{
    size_t dlen = strlen(r->domain), i;

    if (dlen == 0)
        return 0;
    for (i = 0; i < cfg->local_domains.count; i++) {
        const char *e = cfg->local_domains.items[i];
        size_t elen = strlen(e);

        if (elen == 0 || (e[0] == '[') != (r->literal != 0))
            continue;
        if (strcmp(e, r->domain) == 0)
            return 1;
        if (e[0] == '.' && dlen > elen && strcmp(r->domain + dlen - elen, e) == 0)
            return 1;
    }
    return 0;
}

/* decide_source_route - 1 if the recipient text starts with a source route */
static int decide_source_route(const char *recipient, size_t len)
{
    return (len > 0 && recipient[0] == '@') ||
           (len > 1 && recipient[0] == '<' && recipient[1] == '@');
}

/* decide_recipient - 1 if the recipient is local; why says what made it (not) local */
static int decide_recipient(const struct config *cfg, const char *recipient, size_t len, char *why,
                            size_t whylen)
{
    char err[256], show[256];
    struct rcpt r;

    if (rcpt_parse(recipient, len, &r, err, sizeof(err)) < 0) {
        snprintf(why, whylen, "unparseable recipient: %s",
                 util_printable(err, strlen(err), show, sizeof(show)));
        return 0;
    }
    if (r.routed) {
        snprintf(why, whylen, "%s",
                 decide_source_route(recipient, len) ? "source route in recipient"
                                                     : "routing in local part");
        return 0;
    }
    if (r.postmaster) {
        snprintf(why, whylen, "recipient postmaster is local");
        return 1;
    }
    if (decide_domain_local(cfg, &r)) {
        snprintf(why, whylen, "recipient domain %s is local", r.domain);
        return 1;
    }
    snprintf(why, whylen, "recipient domain %s is not local", r.domain);
    return 0;
}

/* decide - the outcome for client relaying to recipient, under cfg's rules */
void decide(const struct config *cfg, const struct addr *client, const char *recipient,
            size_t rcptlen, const struct decision_grant *grant, struct decision *out)
{
    char why[DECIDE_WHY_MAX], who[ADDR_STRLEN], text[DECIDE_TEXT_MAX], when[32];

    out->reason[0] = '\0';
    if (decide_recipient(cfg, recipient, rcptlen, why, sizeof(why))) {
        out->outcome = DECISION_LOCAL;
        decide_append(out, "%s", why);
        goto out;
    }
    if (client == NULL) {
        out->outcome = DECISION_REJECT;
        decide_append(out, "no client address (%s)", why);
        goto out;
    }
    if (cidr_list_match(cfg->local_networks, client)) {
        out->outcome = DECISION_PERMIT_LOCALNET;
        decide_append(out, "client in local_networks (%s)", why);
        goto out;
    }
    if (grant == NULL) {
        out->outcome = DECISION_NEED_GRANT;
        decide_append(out, "client not in local_networks, grant needed (%s)", why);
        goto out;
    }
    switch (grant->state) {
    case GRANT_ACTIVE:
        out->outcome = DECISION_PERMIT_GRANT;
        if (grant->user != NULL && grant->user[0] != '\0')
            util_printable(grant->user, strnlen(grant->user, sizeof(text) - 1), text, sizeof(text));
        else
            util_strlcpy(text, "-", sizeof(text));
        decide_append(out, "client=%s user=%s grant_expires=%s (%s)",
                      addr_format(client, who, sizeof(who)), text,
                      util_format_time(grant->expires, when, sizeof(when)), why);
        break;
    case GRANT_ERROR:
        out->outcome = DECISION_DEFER;
        if (grant->error != NULL)
            util_printable(grant->error, strnlen(grant->error, sizeof(text) - 1), text,
                           sizeof(text));
        else
            util_strlcpy(text, "unknown error", sizeof(text));
        decide_append(out, "store: %s (%s)", text, why);
        break;
    case GRANT_NONE:
        out->outcome = DECISION_REJECT;
        decide_append(out, "no grant for client (%s)", why);
        break;
    default:
        out->outcome = DECISION_DEFER; /* a state this code does not know: fail closed */
        decide_append(out, "store: unknown grant state %d (%s)", (int)grant->state, why);
        break;
    }
out:
    decide_printable(out);
}

/* decide_name - "permit-localnet", "permit-grant", "permit-auth", "local", "reject", ... */
const char *decide_name(enum decision_outcome outcome)
{
    switch (outcome) {
    case DECISION_PERMIT_LOCALNET:
        return "permit-localnet";
    case DECISION_PERMIT_GRANT:
        return "permit-grant";
    case DECISION_PERMIT_AUTH:
        return "permit-auth";
    case DECISION_LOCAL:
        return "local";
    case DECISION_REJECT:
        return "reject";
    case DECISION_DEFER:
        return "defer";
    case DECISION_NEED_GRANT:
        return "need-grant";
    }
    return "unknown";
}

/* decide_accepts - 1 if the outcome lets the mail through */
int decide_accepts(enum decision_outcome outcome)
{
    switch (outcome) {
    case DECISION_PERMIT_LOCALNET:
    case DECISION_PERMIT_GRANT:
    case DECISION_PERMIT_AUTH:
    case DECISION_LOCAL:
        return 1;
    case DECISION_REJECT:
    case DECISION_DEFER:
    case DECISION_NEED_GRANT:
        return 0;
    }
    return 0;
}
