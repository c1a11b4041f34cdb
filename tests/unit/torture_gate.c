/*
 * torture_gate - unit tests for smtpgate/gate.c: gate_decide against a real store (a
 * grant, no grant, a store that is not there, SMTP AUTH at the MTA, which never needs
 * the store), gate_decide_grant deciding again in full under a reloaded config, and the
 * decision log line: its fields and order, the reply field, the one empty placeholder,
 * and request data made safe and cut to its field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "db/store.h"
#include "shared/addr.h"
#include "shared/config.h"
#include "shared/decide.h"
#include "smtpgate/gate.h"
#include "smtpgate/grants.h"

#define TORTURE_NOW 1795885200 /* 2026-11-28T17:00:00Z */

/* torture_config - local.test is ours, 10.0.0.0/8 a local network, the store at db */
static struct config *torture_config(const char *db)
{
    char dbset[700], err[512];
    const char *overrides[] = {"local_domains = local.test", "local_networks = 10.0.0.0/8", dbset};
    struct config *cfg;

    snprintf(dbset, sizeof(dbset), "database = %s", db);
    cfg = config_build(NULL, 0, overrides, 3, err, sizeof(err));
    if (cfg == NULL)
        fail_msg("config: %s", err);
    return cfg;
}

/* torture_addr - parse a client address the test supplies */
static struct addr torture_addr(const char *text)
{
    struct addr a;
    char err[256];

    if (addr_parse(text, strlen(text), &a, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    return a;
}

/* torture_run - gate_decide for client, rcpt and auth; the outcome */
static enum decision_outcome torture_run(const struct config *cfg, struct grants *g,
                                         const char *client, const char *rcpt, int auth,
                                         struct decision *d)
{
    struct addr a = torture_addr(client);
    struct decision_input in = {&a, rcpt, strlen(rcpt), auth};

    gate_decide(cfg, g, &in, TORTURE_NOW, d);
    return d->outcome;
}

/* torture_gate_decide - one lookup when the decision needs it, none otherwise */
static void torture_gate_decide(void **state)
{
    char dir[] = "/tmp/torture_gate.XXXXXX", db[600], err[512];
    struct config *cfg;
    struct grants *g;
    struct store *st;
    struct decision d;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof(db), "%s/grants.db", dir);
    cfg = torture_config(db);

    /* the store is not there: a lookup defers, but nothing else needs one */
    g = grants_new(NULL, db);
    assert_int_equal(torture_run(cfg, g, "203.0.113.7", "u@far.test", 0, &d), DECISION_DEFER);
    assert_non_null(strstr(d.reason, "store: "));
    assert_int_equal(torture_run(cfg, g, "203.0.113.7", "u@far.test", 1, &d), DECISION_PERMIT_AUTH);
    assert_string_equal(d.reason, "client authenticated with SMTP AUTH");
    assert_int_equal(torture_run(cfg, g, "203.0.113.7", "u@local.test", 0, &d), DECISION_LOCAL);
    assert_int_equal(torture_run(cfg, g, "10.1.2.3", "u@far.test", 1, &d),
                     DECISION_PERMIT_LOCALNET);
    grants_free(g);

    /* a store with one grant */
    st = store_open(db, STORE_READWRITE, err, sizeof(err));
    if (st == NULL)
        fail_msg("store: %s", err);
    assert_int_equal(store_grant(st, "198.51.100.20", "alice", "dovecot", TORTURE_NOW - 60,
                                 TORTURE_NOW + 3600, err, sizeof(err)),
                     0);
    store_close(st);
    g = grants_new(NULL, db);
    assert_int_equal(torture_run(cfg, g, "198.51.100.20", "u@far.test", 0, &d),
                     DECISION_PERMIT_GRANT);
    assert_non_null(strstr(d.reason, "user=alice"));
    assert_int_equal(torture_run(cfg, g, "203.0.113.7", "u@far.test", 0, &d), DECISION_REJECT);
    assert_int_equal(torture_run(cfg, g, "203.0.113.7", "u@far.test", 1, &d), DECISION_PERMIT_AUTH);
    grants_free(g);
    config_free(cfg);
    snprintf(err, sizeof(err), "rm -rf '%s'", dir);
    assert_int_equal(system(err), 0);
}

/* torture_gate_decide_grant - a store's answer that came later is decided again in full
 * under the config of then (a reload may have come meanwhile), whatever the decision
 * struct held before */
static void torture_gate_decide_grant(void **state)
{
    struct config *cfg = torture_config("/nonexistent/grants.db"), *reloaded;
    struct addr a = torture_addr("203.0.113.7");
    struct decision_input in = {&a, "u@far.test", strlen("u@far.test"), 0};
    struct decision_grant none = {GRANT_NONE, NULL, 0, NULL};
    struct decision_grant active = {GRANT_ACTIVE, "alice", TORTURE_NOW + 60, NULL};
    const char *overrides[] = {"local_networks = 203.0.113.0/24"};
    struct decision d;
    char err[512];

    (void)state;
    memset(&d, 0, sizeof(d));
    d.outcome = DECISION_NEED_GRANT; /* left by an earlier decision of the same recipient */
    d.rcpt = in.rcpt, d.rcptlen = in.rcptlen;
    gate_decide_grant(cfg, &in, &none, &d);
    assert_int_equal(d.outcome, DECISION_REJECT);
    gate_decide_grant(cfg, &in, &active, &d);
    assert_int_equal(d.outcome, DECISION_PERMIT_GRANT);
    assert_non_null(strstr(d.reason, "user=alice"));
    reloaded = config_build(NULL, 0, overrides, 1, err, sizeof(err));
    if (reloaded == NULL)
        fail_msg("config: %s", err);
    d.outcome = DECISION_NEED_GRANT;
    d.rcpt = in.rcpt, d.rcptlen = in.rcptlen;
    gate_decide_grant(reloaded, &in, &none, &d);
    assert_int_equal(d.outcome, DECISION_PERMIT_LOCALNET);
    config_free(reloaded);
    config_free(cfg);
}

/* torture_line - gate_log_format of l, checked against want */
static void torture_line(const struct gate_log *l, const char *want)
{
    char line[GATE_LOG_MAX];
    size_t len = gate_log_format(l, line, sizeof(line));

    assert_int_equal(len, strlen(line));
    assert_string_equal(line, want);
}

/* torture_gate_log - the decision line's fields, placeholder and cleaning */
static void torture_gate_log(void **state)
{
    struct gate_log l = {
        NULL, "permit-grant", "192.0.2.7", "u@far.test", 10, "client=192.0.2.7 user=alice", "OK"};
    char rcpt[600], want[1200], small[16], dst[8];

    (void)state;
    torture_line(&l, "action=permit-grant client=192.0.2.7 recipient=u@far.test "
                     "reason=\"client=192.0.2.7 user=alice\" reply=OK");
    l.reply = NULL; /* the proxy: no reply field */
    torture_line(&l, "action=permit-grant client=192.0.2.7 recipient=u@far.test "
                     "reason=\"client=192.0.2.7 user=alice\"");
    l.key = "outcome"; /* popauthctl check */
    torture_line(&l, "outcome=permit-grant client=192.0.2.7 recipient=u@far.test "
                     "reason=\"client=192.0.2.7 user=alice\"");

    /* one placeholder for every empty unquoted field; an empty reason stays "" */
    l.key = NULL, l.rcptlen = 0, l.client = "", l.reason = "", l.reply = "";
    torture_line(&l, "action=permit-grant client=- recipient=- reason=\"\" reply=-");

    /* request data: controls, quotes, backslashes and (outside the reason) spaces */
    l.client = "a b", l.rcpt = "x y\"z\\\r\n\0w", l.rcptlen = 10, l.reason = "say \"hi\"\\ \x1b";
    l.reply = NULL;
    torture_line(&l, "action=permit-grant client=a?b recipient=x?y?z????w reason=\"say ?hi?? ?\"");

    /* a long recipient is cut to its field */
    memset(rcpt, 'r', sizeof(rcpt));
    l.client = "192.0.2.7", l.rcpt = rcpt, l.rcptlen = sizeof(rcpt), l.reason = "why";
    snprintf(want, sizeof(want),
             "action=permit-grant client=192.0.2.7 recipient=%.*s reason=\"why\"",
             GATE_LOG_FIELD - 1, rcpt);
    torture_line(&l, want);

    /* a small buffer is filled, not overrun */
    assert_int_equal(gate_log_format(&l, small, sizeof(small)), sizeof(small) - 1);
    assert_string_equal(small, "action=permit-g");
    assert_string_equal(gate_clean("", 0, dst, sizeof(dst), 0), GATE_LOG_EMPTY);
    assert_string_equal(gate_clean("", 0, dst, sizeof(dst), 1), "");
    assert_string_equal(gate_clean("abcdefghij", 10, dst, sizeof(dst), 0), "abcdefg");
}

/* main - run the gate tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_gate_decide),
        cmocka_unit_test(torture_gate_decide_grant),
        cmocka_unit_test(torture_gate_log),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
