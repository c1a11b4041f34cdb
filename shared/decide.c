/*
 * decide - the relay decision. Every front (the policy server, the SMTP proxy) and
 * `popauthctl check` reach this one function through smtpgate's gate_decide, so that
 * they cannot disagree.
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
#include <string.h>

#include "shared/decide.h"
#include "shared/rcpt.h"
#include "shared/util.h"

#define DECIDE_TEXT_MAX 201 /* bytes of a user name or store message quoted, NUL included */

/* decide_put - append text to buf (size bytes, NUL-terminated, *len used), cutting at its
 * end; the reason is built without printf because it is built for every request */
static void decide_put(char *buf, size_t size, size_t *len, const char *text)
{
    size_t n = strlen(text);

    if (*len + 1 >= size)
        return;
    if (n > size - 1 - *len)
        n = size - 1 - *len;
    memcpy(buf + *len, text, n);
    *len += n;
    buf[*len] = '\0';
}

/* decide_reason - the reason: head, then the recipient half in parentheses */
static void decide_reason(struct decision *out, const char *head)
{
    size_t len = 0;

    out->reason[0] = '\0';
    decide_put(out->reason, sizeof(out->reason), &len, head);
    decide_put(out->reason, sizeof(out->reason), &len, " (");
    decide_put(out->reason, sizeof(out->reason), &len, out->why);
    decide_put(out->reason, sizeof(out->reason), &len, ")");
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

/* decide_why - "recipient domain D is (not) local" into why */
static void decide_why(char *why, size_t whylen, const char *domain, int local)
{
    size_t len = 0;

    why[0] = '\0';
    decide_put(why, whylen, &len, "recipient domain ");
    decide_put(why, whylen, &len, domain);
    decide_put(why, whylen, &len, local ? " is local" : " is not local");
}

/* decide_recipient - 1 if the recipient is local; why says what made it (not) local */
static int decide_recipient(const struct config *cfg, const char *recipient, size_t len, char *why,
                            size_t whylen)
{
    char err[256], show[256];
    struct rcpt r;
    size_t used = 0;

    if (rcpt_parse(recipient, len, &r, err, sizeof(err)) < 0) {
        why[0] = '\0';
        decide_put(why, whylen, &used, "unparseable recipient: ");
        decide_put(why, whylen, &used, util_printable(err, strlen(err), show, sizeof(show)));
        return 0;
    }
    if (r.routed) {
        util_strlcpy(why,
                     decide_source_route(recipient, len) ? "source route in recipient"
                                                         : "routing in local part",
                     whylen);
        return 0;
    }
    if (r.postmaster) {
        util_strlcpy(why, "recipient postmaster is local", whylen);
        return 1;
    }
    if (decide_domain_local(cfg, &r)) {
        decide_why(why, whylen, r.domain, 1);
        return 1;
    }
    decide_why(why, whylen, r.domain, 0);
    return 0;
}

/* decide_grant - the outcome and reason once the store has answered for client */
static void decide_grant(const struct addr *client, const struct decision_grant *grant,
                         struct decision *out)
{
    char head[sizeof(out->reason)], who[ADDR_STRLEN], text[DECIDE_TEXT_MAX], when[32];
    size_t len = 0;

    head[0] = '\0';
    switch (grant->state) {
    case GRANT_ACTIVE:
        out->outcome = DECISION_PERMIT_GRANT;
        if (grant->user != NULL && grant->user[0] != '\0')
            util_printable(grant->user, strnlen(grant->user, sizeof(text) - 1), text, sizeof(text));
        else
            util_strlcpy(text, "-", sizeof(text));
        decide_put(head, sizeof(head), &len, "client=");
        decide_put(head, sizeof(head), &len, addr_format(client, who, sizeof(who)));
        decide_put(head, sizeof(head), &len, " user=");
        decide_put(head, sizeof(head), &len, text);
        decide_put(head, sizeof(head), &len, " grant_expires=");
        decide_put(head, sizeof(head), &len, util_format_time(grant->expires, when, sizeof(when)));
        break;
    case GRANT_ERROR:
        out->outcome = DECISION_DEFER;
        if (grant->error != NULL)
            util_printable(grant->error, strnlen(grant->error, sizeof(text) - 1), text,
                           sizeof(text));
        else
            util_strlcpy(text, "unknown error", sizeof(text));
        decide_put(head, sizeof(head), &len, "store: ");
        decide_put(head, sizeof(head), &len, text);
        break;
    case GRANT_NONE:
        out->outcome = DECISION_REJECT;
        decide_put(head, sizeof(head), &len, "no grant for client");
        break;
    default:
        out->outcome = DECISION_DEFER; /* a state this code does not know: fail closed */
        decide_put(head, sizeof(head), &len, "store: unknown grant state");
        break;
    }
    decide_reason(out, head);
}

/* decide - the outcome for in's client relaying to in's recipient, under cfg's rules */
void decide(const struct config *cfg, const struct decision_input *in,
            const struct decision_grant *grant, struct decision *out)
{
    /* The second call of a decision reuses the first's recipient analysis: that call
     * returned NEED_GRANT, so the recipient is not local and the client not local. */
    if (grant != NULL && in->client != NULL && out->outcome == DECISION_NEED_GRANT &&
        out->rcpt == in->rcpt && out->rcptlen == in->rcptlen) {
        decide_grant(in->client, grant, out);
        goto out;
    }
    out->rcpt = in->rcpt;
    out->rcptlen = in->rcptlen;
    if (decide_recipient(cfg, in->rcpt, in->rcptlen, out->why, sizeof(out->why))) {
        out->outcome = DECISION_LOCAL;
        util_strlcpy(out->reason, out->why, sizeof(out->reason));
        goto out;
    }
    if (in->client == NULL) {
        out->outcome = DECISION_REJECT;
        decide_reason(out, "no client address");
        goto out;
    }
    if (cidr_list_match(cfg->local_networks, in->client)) {
        out->outcome = DECISION_PERMIT_LOCALNET;
        decide_reason(out, "client in local_networks");
        goto out;
    }
    if (in->authenticated) {
        out->outcome = DECISION_PERMIT_AUTH;
        util_strlcpy(out->reason, "client authenticated with SMTP AUTH", sizeof(out->reason));
        goto out;
    }
    if (grant == NULL) {
        out->outcome = DECISION_NEED_GRANT;
        decide_reason(out, "client not in local_networks, grant needed");
        goto out;
    }
    decide_grant(in->client, grant, out);
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
