/*
 * torture_rcpt - unit tests for shared/rcpt.c: a table of accepted recipients with the
 * domain, routed, postmaster and literal flags each must produce, a table of refused
 * ones with the phrase the error must contain, the length limits, inputs that are not
 * NUL-terminated, and the promise that a refused recipient leaves *out never local.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/rcpt.h"
#include "shared/util.h"

/* One accepted recipient and what it must parse to. */
struct rcpt_good {
    const char *text;
    const char *domain;
    int routed, postmaster, literal;
};

static const struct rcpt_good rcpt_good_table[] = {
    /* plain forms, case, trailing dot, angle brackets */
    {"alice@local.test", "local.test", 0, 0, 0},
    {"ALICE@Local.Test.", "local.test", 0, 0, 0},
    {"<alice@local.test>", "local.test", 0, 0, 0},
    {"<ALICE@LOCAL.TEST.>", "local.test", 0, 0, 0},
    {"a@b", "b", 0, 0, 0},
    {"a.b.c@x-y.example", "x-y.example", 0, 0, 0},
    {"first.last+tag@mail.example.net", "mail.example.net", 0, 0, 0},
    {"a#$&'*+-/=?^_`{|}~z@x.test", "x.test", 0, 0, 0},
    {"u@0.example", "0.example", 0, 0, 0},
    {"u@123.example", "123.example", 0, 0, 0},
    {"u@example.123a", "example.123a", 0, 0, 0},
    {"u@xn--bcher-kva.example", "xn--bcher-kva.example", 0, 0, 0},
    {"j\xc3\xb6"
     "rg@local.test",
     "local.test", 0, 0, 0}, /* RFC 6531 local part */
    /* quoted local parts */
    {"\"quoted\"@local.test", "local.test", 0, 0, 0},
    {"\"a b\"@local.test", "local.test", 0, 0, 0},
    {"\"a\\\"b\"@local.test", "local.test", 0, 0, 0},
    {"\"a\\\\b\"@local.test", "local.test", 0, 0, 0},
    {"\"a.\"@local.test", "local.test", 0, 0, 0},
    {"\"..\"@local.test", "local.test", 0, 0, 0},
    {"\"(x)<y>[z]:;,\"@local.test", "local.test", 0, 0, 0},
    {"<\"a>b\"@local.test>", "local.test", 0, 0, 0},
    /* routing in the local part, quoted or not */
    {"u%far.test@local.test", "local.test", 1, 0, 0},
    {"u%far.test@[192.0.2.1]", "[192.0.2.1]", 1, 0, 1},
    {"far.test!u@local.test", "local.test", 1, 0, 0},
    {"far.test!u@[192.0.2.1]", "[192.0.2.1]", 1, 0, 1},
    {"u@far.test@local.test", "local.test", 1, 0, 0},
    {"u@far.test@[192.0.2.1]", "[192.0.2.1]", 1, 0, 1},
    {"\"u@far.test\"@[192.0.2.1]", "[192.0.2.1]", 1, 0, 1},
    {"\"u@far.test\"@local.test", "local.test", 1, 0, 0},
    {"\"u%far.test\"@local.test", "local.test", 1, 0, 0},
    {"\"far.test!u\"@local.test", "local.test", 1, 0, 0},
    {"\"u\\@far.test\"@local.test", "local.test", 1, 0, 0},
    {"\"u\\%far.test\"@local.test", "local.test", 1, 0, 0},
    {"a@b@c@local.test", "local.test", 1, 0, 0},
    {"<u%far.test@local.test>", "local.test", 1, 0, 0},
    /* source routes go to the final domain and are always routed */
    {"@local.test:u@far.test", "far.test", 1, 0, 0},
    {"@[192.0.2.1]:u@far.test", "far.test", 1, 0, 0},
    {"@a.test,@b.test:u@d.test", "d.test", 1, 0, 0},
    {"<@a.test,@b.test:u@D.Test.>", "d.test", 1, 0, 0},
    {"@far.test:u@local.test", "local.test", 1, 0, 0},
    {"@[IPv6:2001:db8::1]:u@local.test", "local.test", 1, 0, 0},
    {"@a.test:\"q\"@local.test", "local.test", 1, 0, 0},
    /* address literals come out canonical */
    {"u@[192.0.2.1]", "[192.0.2.1]", 0, 0, 1},
    {"u@[192.0.2.9]", "[192.0.2.9]", 0, 0, 1},
    {"u@[IPv6:2001:db8::9]", "[2001:db8::9]", 0, 0, 1},
    {"u@[IPv6:2001:DB8:0::1]", "[2001:db8::1]", 0, 0, 1},
    {"u@[ipv6:2001:db8::1]", "[2001:db8::1]", 0, 0, 1},
    {"u@[IPV6:2001:0db8:0:0:0:0:0:1]", "[2001:db8::1]", 0, 0, 1},
    {"u@[IPv6:::ffff:192.0.2.1]", "[192.0.2.1]", 0, 0, 1},
    {"u@[IPv6:::1]", "[::1]", 0, 0, 1},
    {"<u@[192.0.2.1]>", "[192.0.2.1]", 0, 0, 1},
    /* bare postmaster */
    {"postmaster", "", 0, 1, 0},
    {"Postmaster", "", 0, 1, 0},
    {"POSTMASTER", "", 0, 1, 0},
    {"<postmaster>", "", 0, 1, 0},
    {"<PostMaster>", "", 0, 1, 0},
    {"postmaster@local.test", "local.test", 0, 0, 0},
};

/* One refused recipient (len bytes, may hold NUL) and a phrase its error must contain. */
struct rcpt_bad {
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *why;
};

static const struct rcpt_bad rcpt_bad_table[] = {
    {"", 0, "empty recipient"},
    {"<>", 0, "empty path"},
    {"<", 0, "unbalanced angle bracket"},
    {">", 0, "unbalanced angle bracket"},
    {"<alice@local.test", 0, "unbalanced angle bracket"},
    {"alice@local.test>", 0, "unbalanced angle bracket"},
    {"<<alice@local.test>>", 0, "unbalanced angle bracket"},
    {"<a<b@local.test>", 0, "unbalanced angle bracket"},
    /* no domain */
    {"alice", 0, "no domain"},
    {"far.test!u", 0, "no domain"},
    {"u%far.test", 0, "no domain"},
    {"\"u@far.test\"", 0, "no domain"},
    {"\"u%far.test\"", 0, "no domain"},
    {"\"postmaster\"", 0, "no domain"},
    {"postmaster.", 0, "stray dot"},
    {"postmasterx", 0, "no domain"},
    {"alice@", 0, "empty domain"},
    {"alice@.", 0, "empty domain"},
    {"@a.test:postmaster", 0, "no domain"},
    /* empty local parts */
    {"@local.test", 0, "empty local part"},
    {"\"\"@local.test", 0, "empty local part"},
    {"<@local.test>", 0, "empty local part"},
    /* quotes */
    {"\"alice@local.test", 0, "unbalanced quote"},
    {"\"a\\\"@local.test", 0, "unbalanced quote"},
    {"\"a\\", 0, "unbalanced quote"},
    {"a\"b\"@local.test", 0, "unbalanced quote"},
    {"alice\"@local.test", 0, "unbalanced quote"},
    {"\"a\"b@local.test", 0, "text after the quoted local part"},
    {"\"a\".b@local.test", 0, "text after the quoted local part"},
    {"\"a\\\xc3\xa9\"@local.test", 0, "bad escape"},
    {"alice@\"local.test\"", 0, "unbalanced quote"},
    /* white space, control characters, NUL */
    {"alice @local.test", 0, "space outside quotes"},
    {" alice@local.test", 0, "space outside quotes"},
    {"alice@local.test ", 0, "space outside quotes"},
    {"alice@ local.test", 0, "space outside quotes"},
    {"< alice@local.test>", 0, "space outside quotes"},
    {"<alice@local.test> NOTIFY=NEVER", 0, "unbalanced angle bracket"},
    {"alice@local.test NOTIFY=NEVER", 0, "space outside quotes"},
    {"alice@local.test\t", 0, "control character"},
    {"alice@local.test\r\n", 0, "control character"},
    {"\"a\tb\"@local.test", 0, "control character"},
    {"\"a\nb\"@local.test", 0, "control character"},
    {"alice@local.test\x7f", 0, "control character"},
    {"alice@local.test\0far.test", 25, "NUL byte"},
    {"alice\0@local.test", 17, "NUL byte"},
    {"\0", 1, "NUL byte"},
    /* local part characters and dots */
    {"a\\b@local.test", 0, "backslash outside quotes"},
    {"a(comment)@local.test", 0, "bad character in local part"},
    {"a,b@local.test", 0, "bad character in local part"},
    {"a:b@local.test", 0, "bad character in local part"},
    {"a;b@local.test", 0, "bad character in local part"},
    {"[a]@local.test", 0, "unbalanced square bracket"},
    {".alice@local.test", 0, "stray dot"},
    {"alice.@local.test", 0, "stray dot"},
    {"al..ice@local.test", 0, "stray dot"},
    /* domains */
    {"u@local..test", 0, "empty label"},
    {"u@.local.test", 0, "empty label"},
    {"u@local.test..", 0, "empty label"},
    {"u@local_test", 0, "bad character in domain"},
    {"u@local.test:25", 0, "bad character in domain"},
    {"u@loc(al).test", 0, "bad character in domain"},
    {"u@l\xc3\xb6"
     "cal.test",
     0, "bad character in domain"},
    {"u@-local.test", 0, "starts or ends with '-'"},
    {"u@local-.test", 0, "starts or ends with '-'"},
    {"u@192.0.2.9", 0, "numeric domain"},
    {"u@local.123", 0, "numeric domain"},
    {"u@local.test@", 0, "empty domain"},
    {"u@loc\\al.test", 0, "backslash outside quotes"},
    {"u@local.test]", 0, "unbalanced square bracket"},
    /* address literals */
    {"u@[192.0.2.1", 0, "unbalanced square bracket"},
    {"u@[192.0.2.1]x", 0, "unbalanced square bracket"},
    {"u@[192.0.2.1].", 0, "unbalanced square bracket"},
    {"u@[[192.0.2.1]]", 0, "unbalanced square bracket"},
    {"u@[]", 0, "empty address literal"},
    {"u@[2001:db8::1]", 0, "tag other than 'IPv6:'"},
    {"u@[IPv4:192.0.2.1]", 0, "tag other than 'IPv6:'"},
    {"u@[x-tag:anything]", 0, "tag other than 'IPv6:'"},
    {"u@[IPv6:192.0.2.1]", 0, "without an IPv6 address"},
    {"u@[IPv6:]", 0, "without an IPv6 address"},
    {"u@[192.0.2.01]", 0, "leading zero"},
    {"u@[192.0.2]", 0, "bad address literal"},
    {"u@[192.0.2.256]", 0, "bad address literal"},
    {"u@[local.test]", 0, "bad address literal"},
    {"u@[IPv6:fe80::1%eth0]", 0, "bad address literal"},
    {"u@[IPv6:2001:db8::1::2]", 0, "bad address literal"},
    /* source routes */
    {"@local.test,u@far.test", 0, "empty local part"},
    {"@:u@far.test", 0, "empty domain in source route"},
    {"@a.test,:u@far.test", 0, "bad source route"},
    {"@a.test,b.test:u@far.test", 0, "bad source route"},
    {"@a_b.test:u@far.test", 0, "bad character in domain in source route"},
    {"@[192.0.2.1]x:u@far.test", 0, "bad source route"},
    {"@[IPv6:2001:db8::1]", 0, "source route without ':'"},
    {"@a.test:", 0, "nothing after the source route"},
    {"@a.test:@b.test", 0, "empty local part"},
};

/* torture_rcpt_len - the length of a table input */
static size_t torture_rcpt_len(const char *text, size_t len)
{
    return len != 0 ? len : strlen(text);
}

/* torture_rcpt_dup - copy len bytes into an exactly-sized heap block (no terminator) */
static char *torture_rcpt_dup(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);

    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

/* torture_rcpt_printable - 1 if s holds only printable ASCII */
static int torture_rcpt_printable(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* torture_rcpt_good - every good recipient parses to its domain and flags */
static void torture_rcpt_good(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(rcpt_good_table); i++) {
        const struct rcpt_good *t = &rcpt_good_table[i];
        size_t len = strlen(t->text);
        char *copy = torture_rcpt_dup(t->text, len);
        char err[256] = "";
        struct rcpt r;

        if (rcpt_parse(copy, len, &r, err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", t->text, err);
        free(copy);
        if (strcmp(r.domain, t->domain) != 0)
            fail_msg("'%s': domain '%s', expected '%s'", t->text, r.domain, t->domain);
        if (r.routed != t->routed || r.postmaster != t->postmaster || r.literal != t->literal)
            fail_msg("'%s': routed=%d postmaster=%d literal=%d, expected %d %d %d", t->text,
                     r.routed, r.postmaster, r.literal, t->routed, t->postmaster, t->literal);
    }
}

/* torture_rcpt_bad - every bad recipient is refused with its reason, never local */
static void torture_rcpt_bad(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(rcpt_bad_table); i++) {
        const struct rcpt_bad *t = &rcpt_bad_table[i];
        size_t len = torture_rcpt_len(t->text, t->len);
        char *copy = torture_rcpt_dup(t->text, len);
        char err[256] = "";
        struct rcpt r;
        int rc = rcpt_parse(copy, len, &r, err, sizeof(err));

        free(copy);
        if (rc != -1)
            fail_msg("'%s' (table row %zu) accepted as domain '%s'", t->text, i, r.domain);
        if (strstr(err, t->why) == NULL)
            fail_msg("'%s' (table row %zu): error '%s' lacks '%s'", t->text, i, err, t->why);
        if (!torture_rcpt_printable(err))
            fail_msg("'%s': unprintable error '%s'", t->text, err);
        if (!r.routed || r.postmaster || r.domain[0] != '\0')
            fail_msg("'%s': refused but *out is not left never-local", t->text);
    }
}

/* torture_rcpt_prefix - each proper prefix of a good recipient parses or fails cleanly */
static void torture_rcpt_prefix(void **state)
{
    size_t i, n;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(rcpt_good_table); i++) {
        const char *text = rcpt_good_table[i].text;

        for (n = 0; n < strlen(text); n++) {
            char *copy = torture_rcpt_dup(text, n);
            char err[256] = "";
            struct rcpt r;

            if (rcpt_parse(copy, n, &r, err, sizeof(err)) != 0)
                assert_true(err[0] != '\0');
            free(copy);
        }
    }
}

/* torture_rcpt_limits - RCPT_MAX bytes, domain and label lengths */
static void torture_rcpt_limits(void **state)
{
    char buf[RCPT_MAX + 2], err[256];
    struct rcpt r;
    size_t i;

    (void)state;
    /* exactly RCPT_MAX bytes: a long local part */
    memset(buf, 'a', RCPT_MAX);
    memcpy(buf + RCPT_MAX - 11, "@local.test", 11);
    assert_int_equal(rcpt_parse(buf, RCPT_MAX, &r, err, sizeof(err)), 0);
    assert_string_equal(r.domain, "local.test");
    memset(buf, 'a', RCPT_MAX + 1);
    memcpy(buf + RCPT_MAX + 1 - 11, "@local.test", 11);
    assert_int_equal(rcpt_parse(buf, RCPT_MAX + 1, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "longer than 512"));
    assert_true(strlen(err) < 200);

    /* a domain of 255 bytes (four labels of 63, minus 1) is fine; 256 is not */
    buf[0] = 'u', buf[1] = '@';
    for (i = 0; i < 255; i++)
        buf[2 + i] = (i % 64 == 63) ? '.' : 'd';
    assert_int_equal(rcpt_parse(buf, 2 + 255, &r, err, sizeof(err)), 0);
    assert_int_equal(strlen(r.domain), 255);
    buf[2 + 255] = '.'; /* a trailing dot does not count */
    assert_int_equal(rcpt_parse(buf, 2 + 256, &r, err, sizeof(err)), 0);
    assert_int_equal(strlen(r.domain), 255);
    buf[2 + 255] = 'd';
    assert_int_equal(rcpt_parse(buf, 2 + 256, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "domain longer than 255"));

    /* a label of 63 bytes is fine; 64 is not */
    memset(buf, 'l', 2 + 64);
    buf[0] = 'u', buf[1] = '@';
    memcpy(buf + 2 + 63, ".test", 5);
    assert_int_equal(rcpt_parse(buf, 2 + 63 + 5, &r, err, sizeof(err)), 0);
    memset(buf + 2, 'l', 64);
    memcpy(buf + 2 + 64, ".test", 5);
    assert_int_equal(rcpt_parse(buf, 2 + 64 + 5, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "label longer than 63"));
}

/* torture_rcpt_error_bounded - a long bad input is quoted cut, and a NULL err is fine */
static void torture_rcpt_error_bounded(void **state)
{
    char buf[400], err[512];
    struct rcpt r;

    (void)state;
    memset(buf, 'x', sizeof(buf));
    buf[200] = ' ';
    assert_int_equal(rcpt_parse(buf, sizeof(buf), &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "space outside quotes"));
    assert_non_null(strstr(err, "...'"));
    assert_true(strlen(err) < 160);
    assert_int_equal(rcpt_parse(buf, sizeof(buf), &r, NULL, 0), -1);
    assert_int_equal(rcpt_parse(NULL, 0, &r, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "empty"));
    /* a small err buffer is cut, not overrun */
    assert_int_equal(rcpt_parse("a b@x", 5, &r, err, 8), -1);
    assert_int_equal(strlen(err), 7);
}

/* main - run the rcpt tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_rcpt_good),          cmocka_unit_test(torture_rcpt_bad),
        cmocka_unit_test(torture_rcpt_prefix),        cmocka_unit_test(torture_rcpt_limits),
        cmocka_unit_test(torture_rcpt_error_bounded),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
