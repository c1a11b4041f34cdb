/*
 * fuzz_rcpt - libFuzzer target for rcpt_parse and decide. The input is a recipient; it
 * aborts when a property fails. rcpt_parse: a refusal has a printable error and leaves
 * *out never local; an acceptance has a normalised domain (lower-case LDH labels, or a
 * literal whose address reparses to itself), and a recipient not marked routed has no
 * % or ! anywhere and exactly one @ (none for the bare postmaster). decide, under the
 * golden table's config (tests/data/decisions.tsv): a routed or unparseable recipient
 * is never local; a local outcome agrees with an independent domain match and does not
 * depend on the client or the grant; otherwise the outcome is exactly the one the client
 * and grant call for, so that an unauthorised client with grant NONE never gets a permit.
 * Every reason is printable and bounded. The input also serves as the user name and the
 * store message, which must come out printable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/addr.h"
#include "shared/config.h"
#include "shared/decide.h"
#include "shared/rcpt.h"

#define FUZZ_RCPT_SUB ".sub.local.test"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_rcpt_printable - abort unless s is a non-empty printable string of < max bytes */
static void fuzz_rcpt_printable(const char *s, size_t max)
{
    size_t n = strnlen(s, max);

    if (n == 0 || n >= max)
        abort();
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            abort();
}

/* fuzz_rcpt_config - the golden table's config, built once */
static const struct config *fuzz_rcpt_config(void)
{
    static struct config *cfg;
    const char *overrides[] = {"local_domains = local.test, .sub.local.test, [192.0.2.1]",
                               "local_networks = 10.0.0.0/8, 2001:db8:10::/48"};

    if (cfg == NULL && (cfg = config_build(NULL, 0, overrides, 2, NULL, 0)) == NULL)
        abort();
    return cfg;
}

/* fuzz_rcpt_count - how many times byte c occurs in s[0..len) */
static size_t fuzz_rcpt_count(const char *s, size_t len, char c)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++)
        n += s[i] == c;
    return n;
}

/* fuzz_rcpt_check_domain - abort unless an accepted domain is in normal form */
static void fuzz_rcpt_check_domain(const struct rcpt *r)
{
    size_t n = strnlen(r->domain, sizeof(r->domain)), i;
    char again[RCPT_DOMAIN_MAX + 8], err[256];
    struct rcpt r2;

    if (n >= sizeof(r->domain))
        abort();
    if (r->postmaster) {
        if (n != 0 || r->routed || r->literal)
            abort();
        return;
    }
    if (n == 0 || r->domain[n - 1] == '.')
        abort();
    if (r->literal) {
        struct addr a;
        char text[ADDR_STRLEN];

        if (r->domain[0] != '[' || r->domain[n - 1] != ']' || n < 3)
            abort();
        if (addr_parse(r->domain + 1, n - 2, &a, err, sizeof(err)) != 0)
            abort();
        addr_format(&a, text, sizeof(text));
        if (strlen(text) != n - 2 || memcmp(text, r->domain + 1, n - 2) != 0)
            abort();
    } else {
        for (i = 0; i < n; i++) {
            char c = r->domain[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.'))
                abort();
        }
    }
    /* the normal form parses back to itself */
    if (r->literal && strchr(r->domain, ':') != NULL) {
        memcpy(again, "u@[IPv6:", 8);
        memcpy(again + 8, r->domain + 1, n - 1);
        n += 7;
    } else {
        memcpy(again, "u@", 2);
        memcpy(again + 2, r->domain, n);
        n += 2;
    }
    if (rcpt_parse(again, n, &r2, err, sizeof(err)) != 0 || r2.routed ||
        strcmp(r2.domain, r->domain) != 0 || r2.literal != r->literal)
        abort();
}

/* fuzz_rcpt_local - the golden config's local_domains, matched independently */
static int fuzz_rcpt_local(const struct rcpt *r)
{
    size_t n = strlen(r->domain), sub = strlen(FUZZ_RCPT_SUB);

    if (r->postmaster)
        return 1;
    if (r->literal)
        return strcmp(r->domain, "[192.0.2.1]") == 0;
    return strcmp(r->domain, "local.test") == 0 ||
           (n > sub && strcmp(r->domain + n - sub, FUZZ_RCPT_SUB) == 0);
}

/* fuzz_rcpt_decide - decide for one client and grant; abort unless it is want or local */
static void fuzz_rcpt_decide(const char *client, const char *text, size_t size,
                             const struct decision_grant *grant, int local,
                             enum decision_outcome want)
{
    struct addr a;
    struct decision_input in = {&a, text, size, 0};
    struct decision d;

    if (addr_parse(client, strlen(client), &a, NULL, 0) != 0)
        abort();
    decide(fuzz_rcpt_config(), &in, grant, &d);
    fuzz_rcpt_printable(d.reason, sizeof(d.reason));
    if (local ? d.outcome != DECISION_LOCAL : d.outcome != want)
        abort();
    if (!local && want == DECISION_REJECT && decide_accepts(d.outcome))
        abort();
}

/* LLVMFuzzerTestOneInput - parse the input as a recipient and decide on it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    char err[512], user[600];
    struct rcpt r;
    int rc, local;
    size_t n = size < sizeof(user) - 1 ? size : sizeof(user) - 1;
    struct decision_grant none = {GRANT_NONE, NULL, 0, NULL};
    struct decision_grant active = {GRANT_ACTIVE, user, 1795885200, NULL};
    struct decision_grant error = {GRANT_ERROR, NULL, 0, user};

    err[0] = '\0';
    rc = rcpt_parse(text, size, &r, err, sizeof(err));
    if (rc == -1) {
        fuzz_rcpt_printable(err, sizeof(err));
        if (!r.routed || r.postmaster || r.domain[0] != '\0')
            abort();
    } else if (rc == 0) {
        if (size == 0 || size > RCPT_MAX || memchr(text, '\0', size) != NULL)
            abort();
        fuzz_rcpt_check_domain(&r);
        if (!r.routed) {
            if (memchr(text, '%', size) != NULL || memchr(text, '!', size) != NULL)
                abort();
            if (fuzz_rcpt_count(text, size, '@') != (r.postmaster ? 0u : 1u))
                abort();
        }
    } else {
        abort();
    }
    local = rc == 0 && !r.routed && fuzz_rcpt_local(&r);

    /* the user name and the store message are request data too */
    memcpy(user, text, n);
    user[n] = '\0';
    fuzz_rcpt_decide("203.0.113.7", text, size, NULL, local, DECISION_NEED_GRANT);
    fuzz_rcpt_decide("203.0.113.7", text, size, &none, local, DECISION_REJECT);
    fuzz_rcpt_decide("2001:db8:99::7", text, size, &none, local, DECISION_REJECT);
    fuzz_rcpt_decide("::ffff:203.0.113.7", text, size, &none, local, DECISION_REJECT);
    fuzz_rcpt_decide("203.0.113.7", text, size, &active, local, DECISION_PERMIT_GRANT);
    fuzz_rcpt_decide("203.0.113.7", text, size, &error, local, DECISION_DEFER);
    fuzz_rcpt_decide("10.1.2.3", text, size, &none, local, DECISION_PERMIT_LOCALNET);
    fuzz_rcpt_decide("::ffff:10.1.2.3", text, size, NULL, local, DECISION_PERMIT_LOCALNET);
    return 0;
}
