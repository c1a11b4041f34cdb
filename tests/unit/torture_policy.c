/*
 * torture_policy - unit tests for smtpgate/policy.c: a table of inputs with the requests
 * they must yield (or the error they must give), each fed whole, split at every byte
 * position, and one byte at a time; pipelined requests in one buffer; every limit at
 * and just over its bound; and buffer reuse across many requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtpgate/policy.h"
#include "shared/util.h"

#define R(state, client, rcpt)                                                                     \
    "request=smtpd_access_policy\nprotocol_state=" state "\n"                                      \
    "client_address=" client "\nrecipient=" rcpt "\n"

/* One input and what the parser must make of it. */
struct policy_case {
    const char *name;
    const char *input;
    int nreq;              /* complete requests expected before the end or the error */
    const char *state[3];  /* protocol_state of each */
    const char *client[3]; /* client_address of each */
    const char *rcpt[3];   /* recipient of each */
    const char *error;     /* substring of the error, NULL if none */
};

static const struct policy_case policy_cases[] = {
    {"single",
     R("RCPT", "192.0.2.7", "u@far.test") "\n",
     1,
     {"RCPT"},
     {"192.0.2.7"},
     {"u@far.test"},
     NULL},
    {"three pipelined",
     R("RCPT", "192.0.2.1", "a@x") "\n" R("DATA", "192.0.2.2", "b@y") "\n" R("RCPT", "2001:db8::1",
                                                                             "c@z") "\n",
     3,
     {"RCPT", "DATA", "RCPT"},
     {"192.0.2.1", "192.0.2.2", "2001:db8::1"},
     {"a@x", "b@y", "c@z"},
     NULL},
    {"unknown attributes ignored",
     "request=smtpd_access_policy\nfoo=bar\nprotocol_state=RCPT\nx=\n=y\nclient_address=1.2.3.4\n"
     "helo_name=a=b\nrecipient=r@s\nccert_subject=\n\n",
     1,
     {"RCPT"},
     {"1.2.3.4"},
     {"r@s"},
     NULL},
    {"absent attributes are empty", "request=smtpd_access_policy\n\n", 1, {""}, {""}, {""}, NULL},
    {"value keeps '=' and spaces",
     R("RCPT", "1.2.3.4", "\"a = b\"@x") "\n",
     1,
     {"RCPT"},
     {"1.2.3.4"},
     {"\"a = b\"@x"},
     NULL},
    {"partial request waits", R("RCPT", "1.2.3.4", "a@b"), 0, {NULL}, {NULL}, {NULL}, NULL},
    {"request then error",
     R("RCPT", "1.2.3.4", "a@b") "\nbogus\n\n",
     1,
     {"RCPT"},
     {"1.2.3.4"},
     {"a@b"},
     "without '='"},
    {"line without =",
     "request=smtpd_access_policy\nnoequals\n\n",
     0,
     {NULL},
     {NULL},
     {NULL},
     "without '='"},
    {"missing request=",
     "protocol_state=RCPT\nclient_address=1.2.3.4\n\n",
     0,
     {NULL},
     {NULL},
     {NULL},
     "request=smtpd_access_policy"},
    {"wrong request=",
     "request=junk\nprotocol_state=RCPT\n\n",
     0,
     {NULL},
     {NULL},
     {NULL},
     "request=smtpd_access_policy"},
    {"empty request", "\n", 0, {NULL}, {NULL}, {NULL}, "empty request"},
    {"CRLF rejected", "request=smtpd_access_policy\r\n\r\n", 0, {NULL}, {NULL}, {NULL}, "CR byte"},
    {"CR inside a value", R("RCPT", "1.2.3.4", "a\r@b") "\n", 0, {NULL}, {NULL}, {NULL}, "CR byte"},
    {"repeated client_address",
     "request=smtpd_access_policy\nclient_address=1.1.1.1\nclient_address=2.2.2.2\n\n",
     0,
     {NULL},
     {NULL},
     {NULL},
     "repeated"},
    {"repeated recipient",
     R("RCPT", "1.2.3.4", "a@b") "recipient=c@d\n\n",
     0,
     {NULL},
     {NULL},
     {NULL},
     "repeated"},
};

/* policy_run - feed input in pieces of at most step bytes (0: whole, or split at split) */
static void policy_run(const struct policy_case *tc, const char *input, size_t len, size_t split,
                       size_t step)
{
    struct policy_parser *p = policy_parser_new();
    struct policy_request req;
    char err[256];
    size_t off = 0;
    int got = 0, failed = 0;

    while (off < len && !failed) {
        size_t chunk = len - off;
        if (step > 0 && chunk > step)
            chunk = step;
        else if (split > 0 && off < split && off + chunk > split)
            chunk = split - off;
        while (chunk > 0) {
            int complete;
            long n = policy_feed(p, input + off, chunk, &req, &complete, err, sizeof(err));
            if (n < 0) {
                failed = 1;
                break;
            }
            assert_true((size_t)n <= chunk);
            assert_true(n > 0);
            off += (size_t)n;
            chunk -= (size_t)n;
            if (complete) {
                if (got >= tc->nreq)
                    fail_msg("%s: more requests than expected", tc->name);
                assert_string_equal(req.protocol_state, tc->state[got]);
                assert_string_equal(req.client_address, tc->client[got]);
                assert_string_equal(req.recipient, tc->rcpt[got]);
                got++;
            }
        }
    }
    if (tc->error != NULL) {
        if (!failed)
            fail_msg("%s: no error (split %zu, step %zu)", tc->name, split, step);
        if (strstr(err, tc->error) == NULL)
            fail_msg("%s: error '%s' lacks '%s'", tc->name, err, tc->error);
    } else if (failed) {
        fail_msg("%s: unexpected error '%s'", tc->name, err);
    }
    assert_int_equal(got, tc->nreq);
    policy_parser_free(p);
}

/* test_policy_table - every case whole, split at every position, and byte by byte */
static void test_policy_table(void **state)
{
    size_t i, split;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(policy_cases); i++) {
        const struct policy_case *tc = &policy_cases[i];
        size_t len = strlen(tc->input);

        policy_run(tc, tc->input, len, 0, 0);
        for (split = 1; split < len; split++)
            policy_run(tc, tc->input, len, split, 0);
        policy_run(tc, tc->input, len, 0, 1);
    }
}

/* policy_expect_error - feeding text whole must fail with a message containing want */
static void policy_expect_error(const char *text, size_t len, const char *want)
{
    struct policy_parser *p = policy_parser_new();
    struct policy_request req;
    char err[256] = "";
    size_t off = 0;
    long n = 0;
    int complete = 0;

    while (off < len) {
        n = policy_feed(p, text + off, len - off, &req, &complete, err, sizeof(err));
        if (n < 0)
            break;
        assert_false(complete);
        off += (size_t)n;
    }
    assert_int_equal(n, -1);
    if (strstr(err, want) == NULL)
        fail_msg("error '%s' lacks '%s'", err, want);
    /* the parser stays failed */
    assert_int_equal(policy_feed(p, "\n", 1, &req, &complete, err, sizeof(err)), -1);
    policy_parser_free(p);
}

/* policy_expect_ok - feeding text whole must yield exactly one request */
static void policy_expect_ok(const char *text, size_t len)
{
    struct policy_parser *p = policy_parser_new();
    struct policy_request req;
    char err[256];
    size_t off = 0;
    int complete = 0, got = 0;

    while (off < len) {
        long n = policy_feed(p, text + off, len - off, &req, &complete, err, sizeof(err));
        if (n < 0)
            fail_msg("unexpected error '%s'", err);
        off += (size_t)n;
        got += complete;
    }
    assert_int_equal(got, 1);
    policy_parser_free(p);
}

/* test_policy_line_limit - a line of 8192 bytes passes, 8193 fails (even without its LF) */
static void test_policy_line_limit(void **state)
{
    static const char head[] = "request=smtpd_access_policy\nx=";
    size_t hl = strlen(head);
    char *buf = xmalloc(POLICY_MAX_LINE + 64);

    (void)state;
    memcpy(buf, head, hl);
    memset(buf + hl, 'a', POLICY_MAX_LINE - 2);
    memcpy(buf + hl + POLICY_MAX_LINE - 2, "\n\n", 2);
    policy_expect_ok(buf, hl + POLICY_MAX_LINE);
    memset(buf + hl, 'a', POLICY_MAX_LINE - 1); /* "x=" + 8191 = 8193, no LF yet */
    policy_expect_error(buf, hl + POLICY_MAX_LINE - 1, "line over 8192");
    free(buf);
}

/* policy_big_request - a request of exactly total bytes made of 4000-byte lines */
static char *policy_big_request(size_t total)
{
    static const char head[] = "request=smtpd_access_policy\n";
    char *buf = xmalloc(total);
    size_t off = strlen(head);

    memcpy(buf, head, off);
    while (total - off > 1) {
        size_t line = total - off - 1 > 4000 ? 4000 : total - off - 1;
        if (total - off - 1 - line > 0 && total - off - 1 - line < 3)
            line -= 3; /* leave room for a last line of at least "x=\n" */
        memcpy(buf + off, "x=", 2);
        memset(buf + off + 2, 'b', line - 3);
        buf[off + line - 1] = '\n';
        off += line;
    }
    buf[off] = '\n';
    return buf;
}

/* test_policy_request_limit - 65536 bytes pass, 65537 fail */
static void test_policy_request_limit(void **state)
{
    char *buf;

    (void)state;
    buf = policy_big_request(POLICY_MAX_REQUEST);
    policy_expect_ok(buf, POLICY_MAX_REQUEST);
    free(buf);
    buf = policy_big_request(POLICY_MAX_REQUEST + 1);
    policy_expect_error(buf, POLICY_MAX_REQUEST + 1, "request over 65536");
    free(buf);
}

/* policy_attrs - a request with n attribute lines, request= included */
static char *policy_attrs(int n, size_t *len)
{
    char *buf = xmalloc((size_t)n * 16 + 64);
    size_t off = (size_t)sprintf(buf, "request=smtpd_access_policy\n");
    int i;

    for (i = 1; i < n; i++)
        off += (size_t)sprintf(buf + off, "a%d=%d\n", i, i);
    buf[off++] = '\n';
    *len = off;
    return buf;
}

/* test_policy_attr_limit - 128 attributes pass, 129 fail */
static void test_policy_attr_limit(void **state)
{
    size_t len;
    char *buf;

    (void)state;
    buf = policy_attrs(POLICY_MAX_ATTRS, &len);
    policy_expect_ok(buf, len);
    free(buf);
    buf = policy_attrs(POLICY_MAX_ATTRS + 1, &len);
    policy_expect_error(buf, len, "over 128 attributes");
    free(buf);
}

/* test_policy_nul - a NUL byte anywhere is an error */
static void test_policy_nul(void **state)
{
    static const char text[] = "request=smtpd_access_policy\nrecipient=a\0b@c\n\n";
    static const char name[] = "request=smtpd_access_policy\n\0=x\n\n";

    (void)state;
    policy_expect_error(text, sizeof(text) - 1, "NUL byte");
    policy_expect_error(name, sizeof(name) - 1, "NUL byte");
}

/* test_policy_reuse - many requests through one parser; values are NUL-terminated */
static void test_policy_reuse(void **state)
{
    struct policy_parser *p = policy_parser_new();
    struct policy_request req;
    char text[256], want[64], err[256];
    int i, complete;

    (void)state;
    for (i = 0; i < 10000; i++) {
        int n = snprintf(want, sizeof(want), "u%d@far.test", i);
        int len = snprintf(text, sizeof(text), R("RCPT", "192.0.2.7", "%s") "\n", want);
        long r = policy_feed(p, text, (size_t)len, &req, &complete, err, sizeof(err));

        assert_int_equal(r, len);
        assert_true(complete);
        assert_int_equal(strlen(req.recipient), n);
        assert_string_equal(req.recipient, want);
    }
    policy_parser_free(p);
}

/* test_policy_errbuf - a NULL or tiny error buffer is fine */
static void test_policy_errbuf(void **state)
{
    struct policy_parser *p = policy_parser_new();
    struct policy_request req;
    char tiny[4];
    int complete;

    (void)state;
    assert_int_equal(policy_feed(p, "x\n", 2, &req, &complete, tiny, sizeof(tiny)), -1);
    assert_int_equal(strlen(tiny), 3);
    assert_int_equal(policy_feed(p, "x\n", 2, &req, &complete, NULL, 0), -1);
    policy_parser_free(p);
    policy_parser_free(NULL);
}

/* main - run the tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_table),         cmocka_unit_test(test_policy_line_limit),
        cmocka_unit_test(test_policy_request_limit), cmocka_unit_test(test_policy_attr_limit),
        cmocka_unit_test(test_policy_nul),           cmocka_unit_test(test_policy_reuse),
        cmocka_unit_test(test_policy_errbuf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
