/*
 * torture_dovecot_report - unit tests for popauth/dovecot_report.c: a table of report
 * bodies with the verdict, client and user each must give (Dovecot's own shapes, and every
 * way a body can be malformed or grant nothing); the commands; the secret's rules and its
 * comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "popauth/dovecot_report.h"

/* The attributes INSTALL 5.5 adds, as Dovecot expands them for a passdb that set none of
 * nopassword, nologin and proxy. */
#define ATTRS ",\"nopassword\":\"-\",\"nologin\":\"-\",\"proxy\":\"-\",\"mech\":\"PLAIN\""
/* A body Dovecot 2.3 sends with INSTALL 5.5's auth_policy_request_attributes. */
#define DOVECOT_BODY(login, remote, success, reject)                                               \
    "{\"device_id\":\"\",\"login\":\"" login "\",\"protocol\":\"imap\",\"pwhash\":\"5f2a\","       \
    "\"remote\":\"" remote "\",\"session_id\":\"k3Jx\",\"success\":" success                       \
    ",\"policy_reject\":" reject ATTRS ",\"tls\":false}"
/* A successful login with the four attributes given as JSON values. */
#define BODY4(nopassword, nologin, proxy, mech)                                                    \
    "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false,"          \
    "\"nopassword\":" nopassword ",\"nologin\":" nologin ",\"proxy\":" proxy ",\"mech\":" mech "}"
#define U "\"-\""

/* One body and what it must give. */
struct report_case {
    const char *name;
    const char *body;
    enum dovecot_verdict verdict;
    const char *remote; /* canonical client of a grant */
    const char *login;  /* the user a grant names */
    const char *why;    /* substring of the reason, for BAD and NO_GRANT */
};

static const struct report_case report_cases[] = {
    {"plain attributes", BODY4(U, U, U, "\"PLAIN\""), DOVECOT_REPORT_GRANT, "192.0.2.1", "a", NULL},
    {"ipv4 success", DOVECOT_BODY("alice", "203.0.113.7", "true", "false"), DOVECOT_REPORT_GRANT,
     "203.0.113.7", "alice", NULL},
    {"ipv6 success", DOVECOT_BODY("bob@example.org", "2001:db8::7", "true", "false"),
     DOVECOT_REPORT_GRANT, "2001:db8::7", "bob@example.org", NULL},
    {"minimal fields",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_GRANT, "192.0.2.1", "a", NULL},
    {"white space around",
     " \n{ \"login\" : \"a\" , \"remote\" : \"192.0.2.1\" , \"success\" : "
     "true , \"policy_reject\" : false " ATTRS " }\n ",
     DOVECOT_REPORT_GRANT, "192.0.2.1", "a", NULL},
    {"escaped json in the user",
     "{\"login\":\"x\\\",\\\"remote\\\":\\\"6.6.6.6\",\"remote\":\"192.0.2.1\",\"success\":true,"
     "\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_GRANT, "192.0.2.1", "x\",\"remote\":\"6.6.6.6", NULL},
    {"control and utf-8 bytes in the user",
     "{\"login\":\"a\\tb\\u00e9\",\"remote\":\"192.0.2.1\",\"success\":true,"
     "\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_GRANT, "192.0.2.1", "a?b??", NULL},
    {"empty user", DOVECOT_BODY("", "192.0.2.1", "true", "false"), DOVECOT_REPORT_GRANT,
     "192.0.2.1", "", NULL},
    {"nested attributes allowed",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS ","
     "\"x\":{\"y\":{\"z\":[1]}}}",
     DOVECOT_REPORT_GRANT, "192.0.2.1", "a", NULL},
    {"failed login", DOVECOT_BODY("alice", "203.0.113.7", "false", "false"),
     DOVECOT_REPORT_NO_GRANT, NULL, NULL, "authentication failed"},
    {"policy reject", DOVECOT_BODY("alice", "203.0.113.7", "true", "true"), DOVECOT_REPORT_NO_GRANT,
     NULL, NULL, "policy refused"},
    {"no client address", DOVECOT_BODY("alice", "", "true", "false"), DOVECOT_REPORT_NO_GRANT, NULL,
     NULL, "no client address"},
    {"empty", "", DOVECOT_REPORT_BAD, NULL, NULL, "empty"},
    {"not json", "login=alice remote=1.2.3.4", DOVECOT_REPORT_BAD, NULL, NULL, "not valid JSON"},
    {"trailing bytes",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS
     "}x",
     DOVECOT_REPORT_BAD, NULL, NULL, "not valid JSON"},
    {"two objects",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS
     "}{}",
     DOVECOT_REPORT_BAD, NULL, NULL, "not valid JSON"},
    {"duplicate remote",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"remote\":\"6.6.6.6\",\"success\":true,"
     "\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "repeats a key"},
    {"duplicate success",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":false,\"success\":true,"
     "\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "repeats a key"},
    {"array", "[1,2]", DOVECOT_REPORT_BAD, NULL, NULL, "not a JSON object"},
    {"too deep",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS ","
     "\"x\":[[[[1]]]]}",
     DOVECOT_REPORT_BAD, NULL, NULL, "too deeply"},
    {"nul in a string",
     "{\"login\":\"a\\u0000b\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":"
     "false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "not valid JSON"},
    {"invalid utf-8",
     "{\"login\":\"\xff\",\"remote\":\"192.0.2.1\",\"success\":true,"
     "\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "not valid JSON"},
    {"no login", "{\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "'login'"},
    {"login not a string",
     "{\"login\":7,\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "'login'"},
    {"no remote", "{\"login\":\"a\",\"success\":true,\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "'remote'"},
    {"remote null",
     "{\"login\":\"a\",\"remote\":null,\"success\":true,\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "'remote'"},
    {"no success", "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"policy_reject\":false" ATTRS "}",
     DOVECOT_REPORT_BAD, NULL, NULL, "'success'"},
    {"success as text", DOVECOT_BODY("a", "192.0.2.1", "\"true\"", "false"), DOVECOT_REPORT_BAD,
     NULL, NULL, "'success'"},
    {"success as number", DOVECOT_BODY("a", "192.0.2.1", "1", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "'success'"},
    {"no policy_reject", "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true}",
     DOVECOT_REPORT_BAD, NULL, NULL, "'policy_reject'"},
    {"policy_reject null", DOVECOT_BODY("a", "192.0.2.1", "true", "null"), DOVECOT_REPORT_BAD, NULL,
     NULL, "'policy_reject'"},
    {"leading zero", DOVECOT_BODY("a", "192.0.2.01", "true", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "not an IP address"},
    {"upper-case ipv6", DOVECOT_BODY("a", "2001:DB8::7", "true", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "canonical"},
    {"uncompressed ipv6", DOVECOT_BODY("a", "2001:db8:0:0:0:0:0:7", "true", "false"),
     DOVECOT_REPORT_BAD, NULL, NULL, "canonical"},
    {"v4-mapped", DOVECOT_BODY("a", "::ffff:192.0.2.1", "true", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "canonical"},
    {"bracketed", DOVECOT_BODY("a", "[2001:db8::7]", "true", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "not an IP address"},
    {"with port", DOVECOT_BODY("a", "192.0.2.1:110", "true", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "not an IP address"},
    {"zone id", DOVECOT_BODY("a", "fe80::1%eth0", "true", "false"), DOVECOT_REPORT_BAD, NULL, NULL,
     "not an IP address"},
    {"space", DOVECOT_BODY("a", " 192.0.2.1", "true", "false"), DOVECOT_REPORT_BAD, NULL, NULL,
     "not an IP address"},
    {"host name", DOVECOT_BODY("a", "mail.example.org", "true", "false"), DOVECOT_REPORT_BAD, NULL,
     NULL, "not an IP address"},
    {"bad remote on a failed login", DOVECOT_BODY("a", "6.6.6", "false", "false"),
     DOVECOT_REPORT_BAD, NULL, NULL, "not an IP address"},
    {"nopassword set", BODY4("\"y\"", U, U, "\"PLAIN\""), DOVECOT_REPORT_NO_GRANT, NULL, NULL,
     "no password was checked"},
    {"nopassword empty", BODY4("\"\"", U, U, "\"PLAIN\""), DOVECOT_REPORT_NO_GRANT, NULL, NULL,
     "no password was checked"},
    {"nologin set", BODY4(U, "\"y\"", U, "\"PLAIN\""), DOVECOT_REPORT_NO_GRANT, NULL, NULL,
     "no password was checked"},
    {"proxy set", BODY4(U, U, "\"y\"", "\"PLAIN\""), DOVECOT_REPORT_NO_GRANT, NULL, NULL,
     "no password was checked"},
    {"anonymous", BODY4(U, U, U, "\"ANONYMOUS\""), DOVECOT_REPORT_NO_GRANT, NULL, NULL,
     "anonymous"},
    {"anonymous lower case", BODY4(U, U, U, "\"anonymous\""), DOVECOT_REPORT_NO_GRANT, NULL, NULL,
     "anonymous"},
    {"nopassword not text", BODY4("null", U, U, "\"PLAIN\""), DOVECOT_REPORT_BAD, NULL, NULL,
     "auth_policy_request_attributes"},
    {"mech empty", BODY4(U, U, U, "\"\""), DOVECOT_REPORT_BAD, NULL, NULL,
     "auth_policy_request_attributes"},
    {"default attributes only",
     "{\"login\":\"a\",\"pwhash\":\"5f2a\",\"remote\":\"192.0.2.1\",\"device_id\":\"\","
     "\"protocol\":\"imap\",\"session_id\":\"k\",\"success\":true,\"policy_reject\":false}",
     DOVECOT_REPORT_BAD, NULL, NULL, "auth_policy_request_attributes"},
    {"no mech",
     "{\"login\":\"a\",\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":false,"
     "\"nopassword\":\"-\",\"nologin\":\"-\",\"proxy\":\"-\"}",
     DOVECOT_REPORT_BAD, NULL, NULL, "auth_policy_request_attributes"},
};

/* test_report_cases - every body of the table gives its verdict, client, user and reason */
static void test_report_cases(void **state)
{
    struct dovecot_report rep;
    const char *why;
    char addr[ADDR_STRLEN];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(report_cases) / sizeof(report_cases[0]); i++) {
        const struct report_case *c = &report_cases[i];
        enum dovecot_verdict v = dovecot_report_parse(c->body, strlen(c->body), &rep, &why);

        print_message("case: %s\n", c->name);
        assert_int_equal(v, c->verdict);
        assert_non_null(why);
        if (v == DOVECOT_REPORT_GRANT) {
            assert_string_equal(addr_format(&rep.remote, addr, sizeof(addr)), c->remote);
            assert_string_equal(rep.login, c->login);
        } else {
            assert_non_null(strstr(why, c->why));
            assert_int_equal(rep.remote.family, 0);
        }
    }
}

/* test_report_sizes - a body at the size bound is read; over it is refused unread; a
 * long user is cut to the store's bound */
static void test_report_sizes(void **state)
{
    static char body[DOVECOT_REPORT_BODY_MAX + 2];
    static const char head[] = "{\"remote\":\"192.0.2.1\",\"success\":true,\"policy_reject\":"
                               "false" ATTRS ",\"login\":\"";
    struct dovecot_report rep;
    const char *why;
    size_t n = sizeof(head) - 1;

    (void)state;
    memcpy(body, head, n);
    memset(body + n, 'u', DOVECOT_REPORT_BODY_MAX - n - 2);
    memcpy(body + DOVECOT_REPORT_BODY_MAX - 2, "\"}", 2);
    assert_int_equal(dovecot_report_parse(body, DOVECOT_REPORT_BODY_MAX, &rep, &why),
                     DOVECOT_REPORT_GRANT);
    assert_int_equal(strlen(rep.login), STORE_USER_MAX - 1);
    assert_int_equal(dovecot_report_parse(body, DOVECOT_REPORT_BODY_MAX + 1, &rep, &why),
                     DOVECOT_REPORT_BAD);
    assert_non_null(strstr(why, "too large"));
}

/* test_report_commands - only allow and report, exactly */
static void test_report_commands(void **state)
{
    (void)state;
    assert_int_equal(dovecot_report_command("allow"), DOVECOT_COMMAND_ALLOW);
    assert_int_equal(dovecot_report_command("report"), DOVECOT_COMMAND_REPORT);
    assert_int_equal(dovecot_report_command(NULL), DOVECOT_COMMAND_BAD);
    assert_int_equal(dovecot_report_command(""), DOVECOT_COMMAND_BAD);
    assert_int_equal(dovecot_report_command("Report"), DOVECOT_COMMAND_BAD);
    assert_int_equal(dovecot_report_command("report "), DOVECOT_COMMAND_BAD);
    assert_int_equal(dovecot_report_command("allowx"), DOVECOT_COMMAND_BAD);
}

/* test_report_secret - the secret's rules, and an exact comparison */
static void test_report_secret(void **state)
{
    static const char s[] = "Zp4t7Qm2Xc9Lw3Rk8Hv6";

    (void)state;
    assert_string_equal(dovecot_report_secret_check(s), "");
    assert_string_equal(dovecot_report_secret_check("abc+/=._~-0123456789"), "");
    assert_string_not_equal(dovecot_report_secret_check("short"), "");
    assert_string_not_equal(dovecot_report_secret_check("has a space in it, long"), "");
    assert_string_not_equal(dovecot_report_secret_check("colon:colon:colon:colon"), "");
    assert_int_equal(dovecot_report_secret_ok(s, s), 1);
    assert_int_equal(dovecot_report_secret_ok(NULL, s), 0);
    assert_int_equal(dovecot_report_secret_ok("", s), 0);
    assert_int_equal(dovecot_report_secret_ok("Zp4t7Qm2Xc9Lw3Rk8Hv", s), 0);
    assert_int_equal(dovecot_report_secret_ok("Zp4t7Qm2Xc9Lw3Rk8Hv66", s), 0);
    assert_int_equal(dovecot_report_secret_ok("zp4t7Qm2Xc9Lw3Rk8Hv6", s), 0);
    assert_int_equal(dovecot_report_secret_ok(" Zp4t7Qm2Xc9Lw3Rk8Hv6", s), 0);
    assert_int_equal(dovecot_report_secret_ok("anything", ""), 0);
}

/* main - run the tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_cases),
        cmocka_unit_test(test_report_sizes),
        cmocka_unit_test(test_report_commands),
        cmocka_unit_test(test_report_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
