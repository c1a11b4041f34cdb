/*
 * torture_decide - unit tests for shared/decide.c. The heart is the golden table
 * tests/data/decisions.tsv (the open-relay battery of SECURITY.md and more): every row
 * is run twice, first with grant NULL (local and permit-localnet must come out at once,
 * everything else as need-grant) and then with the row's grant; every mismatch is
 * reported with its line number before the test fails. Direct cases cover the reason
 * texts, their bounds and printability, local_domains matching, and the outcome names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/addr.h"
#include "shared/ascii.h"
#include "shared/config.h"
#include "shared/decide.h"
#include "shared/rcpt.h"
#include "shared/util.h"

#define TORTURE_TABLE     TESTS_DATA_DIR "/decisions.tsv"
#define TORTURE_MIN_ROWS  200
#define TORTURE_LINE_MAX  4096
#define TORTURE_EXPIRES   1795885200 /* 2026-11-28T17:00:00Z */
#define TORTURE_HEADER    "client\trecipient\tgrant\texpected"
#define TORTURE_DOMAINS   "local_domains = local.test, .sub.local.test, [192.0.2.1]"
#define TORTURE_NETWORKS  "local_networks = 10.0.0.0/8, 2001:db8:10::/48"
#define TORTURE_STORE_ERR "database is locked"

/* torture_config - the config every golden row is decided under */
static struct config *torture_config(void)
{
    const char *overrides[] = {TORTURE_DOMAINS, TORTURE_NETWORKS};
    char err[512];
    struct config *cfg = config_build(NULL, 0, overrides, 2, err, sizeof(err));

    if (cfg == NULL)
        fail_msg("config: %s", err);
    return cfg;
}

/* torture_client - parse a client address that the test itself supplies */
static struct addr torture_client(const char *text)
{
    struct addr a;
    char err[256];

    if (addr_parse(text, strlen(text), &a, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return a;
}

/* torture_unescape - decode the recipient column into out; its length, or -1 if bad */
static long torture_unescape(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    for (; *s != '\0'; s++) {
        char c = *s;

        if (c == '\\') {
            switch (*++s) {
            case '\\':
                c = '\\';
                break;
            case 't':
                c = '\t';
                break;
            case 'r':
                c = '\r';
                break;
            case 'n':
                c = '\n';
                break;
            case '0':
                c = '\0';
                break;
            case 'x':
                if (ascii_hex((unsigned char)s[1]) < 0 || ascii_hex((unsigned char)s[2]) < 0)
                    return -1;
                c = (char)(ascii_hex((unsigned char)s[1]) * 16 + ascii_hex((unsigned char)s[2]));
                s += 2;
                break;
            default:
                return -1;
            }
        }
        if (n >= outlen)
            return -1;
        out[n++] = c;
    }
    return (long)n;
}

/* torture_outcome - the outcome named text; -1 if no outcome has that name */
static int torture_outcome(const char *text)
{
    int o;

    for (o = DECISION_PERMIT_LOCALNET; o <= DECISION_NEED_GRANT; o++)
        if (strcmp(decide_name((enum decision_outcome)o), text) == 0)
            return o;
    return -1;
}

/* torture_printable - 1 if s holds only printable ASCII and is not empty */
static int torture_printable(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* torture_call - decide() for client and len bytes of rcpt, authenticated or not */
static void torture_call(const struct config *cfg, const struct addr *client, const char *rcpt,
                         size_t len, int authenticated, const struct decision_grant *grant,
                         struct decision *out)
{
    struct decision_input in = {client, rcpt, len, authenticated};

    decide(cfg, &in, grant, out);
}

/* torture_split - cut line at TABs into exactly four fields; 0 if it has not four */
static int torture_split(char *line, char *field[4])
{
    int n = 0;
    char *p = line, *tab;

    for (;;) {
        if (n == 4)
            return 0;
        field[n++] = p;
        if ((tab = strchr(p, '\t')) == NULL)
            break;
        *tab = '\0';
        p = tab + 1;
    }
    return n == 4;
}

/* torture_row - run one golden row; 0 if it matches, else 1 after printing why */
static int torture_row(const struct config *cfg, int lineno, char *line)
{
    char *f[4], rcpt[TORTURE_LINE_MAX];
    struct decision_grant grant = {GRANT_NONE, NULL, 0, NULL};
    struct decision d1, d2;
    struct addr client;
    char err[256];
    long len;
    int want, auth = 0, at_once;

    if (!torture_split(line, f)) {
        print_message("decisions.tsv:%d: not four TAB-separated columns\n", lineno);
        return 1;
    }
    if (addr_parse(f[0], strlen(f[0]), &client, err, sizeof(err)) < 0) {
        print_message("decisions.tsv:%d: client: %s\n", lineno, err);
        return 1;
    }
    if ((len = torture_unescape(f[1], rcpt, sizeof(rcpt))) < 0) {
        print_message("decisions.tsv:%d: bad escape in recipient\n", lineno);
        return 1;
    }
    if (strcmp(f[2], "none") == 0 || strcmp(f[2], "expired") == 0) {
        grant.state = GRANT_NONE;
    } else if (strcmp(f[2], "active") == 0) {
        grant.state = GRANT_ACTIVE, grant.user = "alice", grant.expires = TORTURE_EXPIRES;
    } else if (strcmp(f[2], "error") == 0) {
        grant.state = GRANT_ERROR, grant.error = TORTURE_STORE_ERR;
    } else if (strcmp(f[2], "auth") == 0) {
        auth = 1;
    } else {
        print_message("decisions.tsv:%d: unknown grant '%s'\n", lineno, f[2]);
        return 1;
    }
    want = torture_outcome(f[3]);
    if (want < 0 || want == DECISION_NEED_GRANT || (want == DECISION_PERMIT_AUTH && !auth)) {
        print_message("decisions.tsv:%d: unknown expected outcome '%s'\n", lineno, f[3]);
        return 1;
    }

    torture_call(cfg, &client, rcpt, (size_t)len, auth, NULL, &d1);
    torture_call(cfg, &client, rcpt, (size_t)len, auth, &grant, &d2);
    at_once =
        want == DECISION_LOCAL || want == DECISION_PERMIT_LOCALNET || want == DECISION_PERMIT_AUTH;
    if (at_once) {
        if (d1.outcome != (enum decision_outcome)want) {
            print_message("decisions.tsv:%d: %s -> %s without a grant, expected %s (%s)\n", lineno,
                          f[1], decide_name(d1.outcome), f[3], d1.reason);
            return 1;
        }
    } else if (d1.outcome != DECISION_NEED_GRANT) {
        print_message("decisions.tsv:%d: %s -> %s without a grant, expected need-grant (%s)\n",
                      lineno, f[1], decide_name(d1.outcome), d1.reason);
        return 1;
    }
    if (d2.outcome != (enum decision_outcome)want) {
        print_message("decisions.tsv:%d: %s from %s grant %s -> %s, expected %s (%s)\n", lineno,
                      f[1], f[0], f[2], decide_name(d2.outcome), f[3], d2.reason);
        return 1;
    }
    if (!torture_printable(d1.reason) || !torture_printable(d2.reason)) {
        print_message("decisions.tsv:%d: empty or unprintable reason\n", lineno);
        return 1;
    }
    return 0;
}

/* torture_decide_golden - every row of decisions.tsv decides as it says */
static void torture_decide_golden(void **state)
{
    struct config *cfg = torture_config();
    char line[TORTURE_LINE_MAX];
    int lineno = 0, rows = 0, bad = 0, header = 0;
    FILE *fp = fopen(TORTURE_TABLE, "r");

    (void)state;
    if (fp == NULL)
        fail_msg("cannot open %s", TORTURE_TABLE);
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t n = strlen(line);

        lineno++;
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = '\0';
        else if (!feof(fp))
            fail_msg("decisions.tsv:%d: line too long", lineno);
        if (n == 0 || line[0] == '#')
            continue;
        if (!header) {
            if (strcmp(line, TORTURE_HEADER) != 0)
                fail_msg("decisions.tsv:%d: expected the header line", lineno);
            header = 1;
            continue;
        }
        rows++;
        bad += torture_row(cfg, lineno, line);
    }
    fclose(fp);
    config_free(cfg);
    print_message("decisions.tsv: %d rows, %d mismatches\n", rows, bad);
    assert_int_equal(bad, 0);
    assert_true(rows >= TORTURE_MIN_ROWS);
}

/* torture_decide_run - decide a NUL-terminated recipient for client text */
static void torture_decide_run(const struct config *cfg, const char *client, const char *rcpt,
                               const struct decision_grant *grant, struct decision *out)
{
    struct addr a = torture_client(client);

    torture_call(cfg, &a, rcpt, strlen(rcpt), 0, grant, out);
    assert_true(torture_printable(out->reason));
    assert_true(strlen(out->reason) < sizeof(out->reason));
}

/* torture_expect - decide, and check the outcome and that the reason holds fragment */
static void torture_expect(const struct config *cfg, const char *client, const char *rcpt,
                           const struct decision_grant *grant, enum decision_outcome want,
                           const char *fragment)
{
    struct decision d;

    torture_decide_run(cfg, client, rcpt, grant, &d);
    if (d.outcome != want)
        fail_msg("%s from %s: %s, expected %s (%s)", rcpt, client, decide_name(d.outcome),
                 decide_name(want), d.reason);
    if (strstr(d.reason, fragment) == NULL)
        fail_msg("%s from %s: reason '%s' lacks '%s'", rcpt, client, d.reason, fragment);
}

/* torture_decide_reasons - the reason text of each kind of outcome */
static void torture_decide_reasons(void **state)
{
    struct config *cfg = torture_config();
    struct decision_grant none = {GRANT_NONE, NULL, 0, NULL};
    struct decision_grant active = {GRANT_ACTIVE, "alice", TORTURE_EXPIRES, NULL};
    struct decision_grant error = {GRANT_ERROR, NULL, 0, TORTURE_STORE_ERR};
    struct decision d;

    (void)state;
    torture_expect(cfg, "203.0.113.7", "alice@local.test", NULL, DECISION_LOCAL,
                   "recipient domain local.test is local");
    torture_expect(cfg, "203.0.113.7", "x@A.Sub.Local.Test.", NULL, DECISION_LOCAL,
                   "recipient domain a.sub.local.test is local");
    torture_expect(cfg, "203.0.113.7", "u@[IPv6:::ffff:192.0.2.1]", NULL, DECISION_LOCAL,
                   "recipient domain [192.0.2.1] is local");
    torture_expect(cfg, "203.0.113.7", "<Postmaster>", NULL, DECISION_LOCAL,
                   "recipient postmaster is local");
    torture_expect(cfg, "10.1.2.3", "u@far.test", NULL, DECISION_PERMIT_LOCALNET,
                   "client in local_networks");
    torture_expect(cfg, "::ffff:10.1.2.3", "u@far.test", &none, DECISION_PERMIT_LOCALNET,
                   "recipient domain far.test is not local");
    torture_expect(cfg, "203.0.113.7", "u@far.test", NULL, DECISION_NEED_GRANT,
                   "far.test is not local");
    torture_expect(cfg, "203.0.113.7", "u@far.test", &active, DECISION_PERMIT_GRANT,
                   "client=203.0.113.7 user=alice grant_expires=2026-11-28T17:00:00Z");
    torture_expect(cfg, "2001:DB8:77::1", "u@far.test", &active, DECISION_PERMIT_GRANT,
                   "client=2001:db8:77::1 user=alice");
    torture_expect(cfg, "203.0.113.7", "u@far.test", &none, DECISION_REJECT, "no grant for client");
    torture_expect(cfg, "203.0.113.7", "u@far.test", &error, DECISION_DEFER,
                   "store: database is locked");
    torture_expect(cfg, "203.0.113.7", "u%far.test@local.test", &none, DECISION_REJECT,
                   "routing in local part");
    torture_expect(cfg, "203.0.113.7", "\"u@far.test\"@local.test", &none, DECISION_REJECT,
                   "routing in local part");
    torture_expect(cfg, "203.0.113.7", "@local.test:u@far.test", &none, DECISION_REJECT,
                   "source route");
    torture_expect(cfg, "203.0.113.7", "<@far.test:u@local.test>", &none, DECISION_REJECT,
                   "source route");
    torture_expect(cfg, "203.0.113.7", "far.test!u", &none, DECISION_REJECT,
                   "unparseable recipient: no domain in 'far.test!u'");
    torture_expect(cfg, "203.0.113.7", "u@[2001:db8::1]", &none, DECISION_REJECT,
                   "unparseable recipient: address literal with a tag other than 'IPv6:'");

    /* an active grant without a user name, a store error without a message */
    active.user = NULL;
    torture_expect(cfg, "203.0.113.7", "u@far.test", &active, DECISION_PERMIT_GRANT, "user=-");
    active.user = "";
    torture_expect(cfg, "203.0.113.7", "u@far.test", &active, DECISION_PERMIT_GRANT, "user=-");
    error.error = NULL;
    torture_expect(cfg, "203.0.113.7", "u@far.test", &error, DECISION_DEFER, "store: ");

    /* a grant state this code does not know fails closed */
    none.state = (enum grant_state)42;
    torture_decide_run(cfg, "203.0.113.7", "u@far.test", &none, &d);
    assert_int_equal(d.outcome, DECISION_DEFER);

    /* no client at all: never a permit, but local mail still comes in */
    torture_call(cfg, NULL, "u@far.test", 10, 0, &active, &d);
    assert_int_equal(d.outcome, DECISION_REJECT);
    torture_call(cfg, NULL, "alice@local.test", 16, 0, NULL, &d);
    assert_int_equal(d.outcome, DECISION_LOCAL);
    torture_call(cfg, NULL, NULL, 0, 0, NULL, &d);
    assert_int_equal(d.outcome, DECISION_REJECT);
    config_free(cfg);
}

/* torture_decide_hostile - request data in a reason is made printable and bounded */
static void torture_decide_hostile(void **state)
{
    struct config *cfg = torture_config();
    char user[2000], msg[2000], rcpt[RCPT_MAX + 100];
    struct decision_grant active = {GRANT_ACTIVE, user, TORTURE_EXPIRES, NULL};
    struct decision_grant error = {GRANT_ERROR, NULL, 0, msg};
    struct addr a = torture_client("203.0.113.7");
    struct decision d;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(user) - 1; i++)
        user[i] = (char)(i % 3 == 0 ? '\n' : i % 3 == 1 ? '\x1b' : 'u');
    user[sizeof(user) - 1] = '\0';
    memcpy(msg, user, sizeof(msg));
    torture_call(cfg, &a, "u@far.test", 10, 0, &active, &d);
    assert_int_equal(d.outcome, DECISION_PERMIT_GRANT);
    assert_true(torture_printable(d.reason));
    torture_call(cfg, &a, "u@far.test", 10, 0, &error, &d);
    assert_int_equal(d.outcome, DECISION_DEFER);
    assert_true(torture_printable(d.reason));

    /* recipients full of control bytes, NUL, and over-long */
    memset(rcpt, '\r', sizeof(rcpt));
    torture_call(cfg, &a, rcpt, sizeof(rcpt), 0, &active, &d);
    assert_int_equal(d.outcome, DECISION_PERMIT_GRANT);
    assert_true(torture_printable(d.reason));
    memcpy(rcpt, "alice@local.test\0", 17);
    torture_call(cfg, &a, rcpt, 17, 0, NULL, &d);
    assert_int_equal(d.outcome, DECISION_NEED_GRANT);
    assert_non_null(strstr(d.reason, "NUL byte"));
    memset(rcpt, 'a', sizeof(rcpt));
    memcpy(rcpt + RCPT_MAX + 1 - 11, "@local.test", 11);
    torture_call(cfg, &a, rcpt, RCPT_MAX + 1, 0, NULL, &d);
    assert_int_equal(d.outcome, DECISION_NEED_GRANT);
    assert_true(torture_printable(d.reason));
    torture_call(cfg, &a, rcpt + 1, RCPT_MAX, 0, NULL, &d);
    assert_int_equal(d.outcome, DECISION_LOCAL);
    config_free(cfg);
}

/* torture_decide_domains - local_domains matching: exact, subdomain entries, literals */
static void torture_decide_domains(void **state)
{
    const char *overrides[] = {"local_domains = example.net, .example.net, .deep.example.org, "
                               "[IPv6:2001:db8::25], [198.51.100.25]"};
    struct decision_grant none = {GRANT_NONE, NULL, 0, NULL};
    char err[512];
    struct config *cfg = config_build(NULL, 0, overrides, 1, err, sizeof(err));
    struct config *empty = config_build(NULL, 0, NULL, 0, err, sizeof(err));

    (void)state;
    assert_non_null(cfg);
    assert_non_null(empty);
    torture_expect(cfg, "203.0.113.7", "u@example.net", &none, DECISION_LOCAL, "example.net");
    torture_expect(cfg, "203.0.113.7", "u@a.b.example.net", &none, DECISION_LOCAL, "a.b.");
    torture_expect(cfg, "203.0.113.7", "u@deep.example.org", &none, DECISION_REJECT, "not local");
    torture_expect(cfg, "203.0.113.7", "u@x.deep.example.org", &none, DECISION_LOCAL, "local");
    torture_expect(cfg, "203.0.113.7", "u@xdeep.example.org", &none, DECISION_REJECT, "not local");
    torture_expect(cfg, "203.0.113.7", "u@example.org", &none, DECISION_REJECT, "not local");
    torture_expect(cfg, "203.0.113.7", "u@notexample.net", &none, DECISION_REJECT, "not local");
    torture_expect(cfg, "203.0.113.7", "u@example.net.evil.test", &none, DECISION_REJECT,
                   "not local");
    torture_expect(cfg, "203.0.113.7", "u@[IPv6:2001:DB8:0::25]", &none, DECISION_LOCAL,
                   "[2001:db8::25] is local");
    torture_expect(cfg, "203.0.113.7", "u@[198.51.100.25]", &none, DECISION_LOCAL, "local");
    torture_expect(cfg, "203.0.113.7", "u@[IPv6:::ffff:198.51.100.25]", &none, DECISION_LOCAL,
                   "[198.51.100.25] is local");
    torture_expect(cfg, "203.0.113.7", "u@[198.51.100.26]", &none, DECISION_REJECT, "not local");
    /* with no local domains only the bare postmaster is local */
    torture_expect(empty, "203.0.113.7", "u@localhost", &none, DECISION_REJECT, "not local");
    torture_expect(empty, "203.0.113.7", "postmaster", &none, DECISION_LOCAL, "postmaster");
    torture_expect(empty, "203.0.113.7", "postmaster@localhost", &none, DECISION_REJECT,
                   "not local");
    config_free(cfg);
    config_free(empty);
}

/* torture_decide_names - names and acceptance of every outcome */
static void torture_decide_names(void **state)
{
    (void)state;
    assert_string_equal(decide_name(DECISION_PERMIT_LOCALNET), "permit-localnet");
    assert_string_equal(decide_name(DECISION_PERMIT_GRANT), "permit-grant");
    assert_string_equal(decide_name(DECISION_PERMIT_AUTH), "permit-auth");
    assert_string_equal(decide_name(DECISION_LOCAL), "local");
    assert_string_equal(decide_name(DECISION_REJECT), "reject");
    assert_string_equal(decide_name(DECISION_DEFER), "defer");
    assert_string_equal(decide_name(DECISION_NEED_GRANT), "need-grant");
    assert_string_equal(decide_name((enum decision_outcome)99), "unknown");
    assert_int_equal(decide_accepts(DECISION_PERMIT_LOCALNET), 1);
    assert_int_equal(decide_accepts(DECISION_PERMIT_GRANT), 1);
    assert_int_equal(decide_accepts(DECISION_PERMIT_AUTH), 1);
    assert_int_equal(decide_accepts(DECISION_LOCAL), 1);
    assert_int_equal(decide_accepts(DECISION_REJECT), 0);
    assert_int_equal(decide_accepts(DECISION_DEFER), 0);
    assert_int_equal(decide_accepts(DECISION_NEED_GRANT), 0);
    assert_int_equal(decide_accepts((enum decision_outcome)99), 0);
}

/* main - run the decide tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_decide_golden),  cmocka_unit_test(torture_decide_reasons),
        cmocka_unit_test(torture_decide_hostile), cmocka_unit_test(torture_decide_domains),
        cmocka_unit_test(torture_decide_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
