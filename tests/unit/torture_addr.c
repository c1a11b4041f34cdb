/*
 * torture_addr - unit tests for shared/addr.c: tables of good addresses with their
 * canonical text, tables of bad ones with the reason the error must give, round trips,
 * the compare order, and random round trips checked against the C library.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "shared/addr.h"
#include "shared/util.h"

/* One accepted spelling and what it must become. */
struct addr_good {
    const char *text;
    const char *canonical;
    int family;
};

static const struct addr_good addr_good_table[] = {
    /* IPv4 */
    {"0.0.0.0", "0.0.0.0", AF_INET},
    {"255.255.255.255", "255.255.255.255", AF_INET},
    {"192.0.2.1", "192.0.2.1", AF_INET},
    {"10.0.0.0", "10.0.0.0", AF_INET},
    {"1.2.3.4", "1.2.3.4", AF_INET},
    {"100.200.250.9", "100.200.250.9", AF_INET},
    {"0.10.100.199", "0.10.100.199", AF_INET},
    /* IPv6, canonical RFC 5952 text */
    {"::", "::", AF_INET6},
    {"0:0:0:0:0:0:0:0", "::", AF_INET6},
    {"::1", "::1", AF_INET6},
    {"0:0:0:0:0:0:0:1", "::1", AF_INET6},
    {"2001:DB8:0::1", "2001:db8::1", AF_INET6},
    {"2001:db8::1", "2001:db8::1", AF_INET6},
    {"2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1", AF_INET6},
    {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1", AF_INET6},
    {"2001:db8:0:0:0:1:0:0", "2001:db8::1:0:0", AF_INET6},
    {"1:0:0:2:0:0:0:3", "1:0:0:2::3", AF_INET6},
    {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1", AF_INET6},
    {"FE80::1", "fe80::1", AF_INET6},
    {"fe80::aBcD:EF01", "fe80::abcd:ef01", AF_INET6},
    {"1::", "1::", AF_INET6},
    {"1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0", AF_INET6},
    {"::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8", AF_INET6},
    {"1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8", AF_INET6},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     AF_INET6},
    {"FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
     AF_INET6},
    {"::1:0", "::1:0", AF_INET6},         /* glibc inet_ntop: "::0.1.0.0" */
    {"::1.2.3.4", "::102:304", AF_INET6}, /* IPv4-compatible (deprecated): not mapped */
    {"::0.0.0.2", "::2", AF_INET6},
    {"::ffff:0:1.2.3.4", "::ffff:0:102:304", AF_INET6}, /* IPv4-translated: not mapped */
    {"::fffe:1.2.3.4", "::fffe:102:304", AF_INET6},
    {"::1:ffff:1.2.3.4", "::1:ffff:102:304", AF_INET6},
    {"ffff::", "ffff::", AF_INET6},
    {"64:ff9b::192.0.2.33", "64:ff9b::c000:221", AF_INET6},
    {"1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304", AF_INET6},
    {"0:0:1::", "0:0:1::", AF_INET6},
    {"1:0:0:1:0:0:0:1", "1:0:0:1::1", AF_INET6},
    {"0:0:1:0:0:1:0:0", "::1:0:0:1:0:0", AF_INET6},   /* tie: the first run */
    {"1:0:1:0:1:0:1:0", "1:0:1:0:1:0:1:0", AF_INET6}, /* no run of two */
    /* IPv4-mapped, in any spelling, is the IPv4 address */
    {"::ffff:192.0.2.1", "192.0.2.1", AF_INET},
    {"::FFFF:192.0.2.1", "192.0.2.1", AF_INET},
    {"::FFFF:c000:201", "192.0.2.1", AF_INET},
    {"::ffff:C000:0201", "192.0.2.1", AF_INET},
    {"0:0:0:0:0:ffff:c000:201", "192.0.2.1", AF_INET},
    {"0000:0000:0000:0000:0000:FFFF:192.0.2.1", "192.0.2.1", AF_INET},
    {"0::ffff:192.0.2.1", "192.0.2.1", AF_INET},
    {"::ffff:0.0.0.0", "0.0.0.0", AF_INET},
    {"::ffff:0:0", "0.0.0.0", AF_INET},
    {"::ffff:255.255.255.255", "255.255.255.255", AF_INET},
    {"::ffff:ffff:ffff", "255.255.255.255", AF_INET},
};

/* One refused input (len bytes, may hold NUL) and a phrase its error must contain. */
struct addr_bad {
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *why;
};

static const struct addr_bad addr_bad_table[] = {
    {"", 0, "empty"},
    /* IPv4 */
    {"01.2.3.4", 0, "leading zero"},
    {"1.02.3.4", 0, "leading zero"},
    {"1.2.03.4", 0, "leading zero"},
    {"1.2.3.04", 0, "leading zero"},
    {"1.2.3.00", 0, "leading zero"},
    {"00.0.0.0", 0, "leading zero"},
    {"0001.2.3.4", 0, "leading zero"},
    {"010.0.0.1", 0, "leading zero"},
    {"1.2.3", 0, "not four dotted parts"},
    {"127.1", 0, "not four dotted parts"},
    {"3221225985", 0, "part out of range"},
    {"123", 0, "not four dotted parts"},
    {"1", 0, "not four dotted parts"},
    {"1.2.3.4.5", 0, "more than four parts"},
    {"1.2.3.4.", 0, "more than four parts"},
    {"1.2.3.4 ", 0, "white space"},
    {" 1.2.3.4", 0, "white space"},
    {"1.2. 3.4", 0, "white space"},
    {"1.2.3.4\t", 0, "white space"},
    {"1.2.3.4\n", 0, "white space"},
    {"1.2.3.4\r\n", 0, "white space"},
    {"1.2.3.4x", 0, "unexpected character"},
    {"1.2.3.4a", 0, "trailing characters"},
    {"1.2.3.a", 0, "unexpected character"},
    {"a.b.c.d", 0, "unexpected character"},
    {"0x1.2.3.4", 0, "unexpected character"},
    {"0xc0000201", 0, "unexpected character"},
    {"1.2.3.0x4", 0, "unexpected character"},
    {"256.1.1.1", 0, "out of range"},
    {"1.2.3.256", 0, "out of range"},
    {"1.2.3.999", 0, "out of range"},
    {"1.2.3.1000", 0, "out of range"},
    {"1.2.3.4294967297", 0, "out of range"},
    {"+1.2.3.4", 0, "sign"},
    {"-1.2.3.4", 0, "sign"},
    {"1.2.-3.4", 0, "sign"},
    {"1..2.3", 0, "empty part"},
    {".1.2.3", 0, "empty part"},
    {"1.2.3.", 0, "empty part"},
    {"...", 0, "empty part"},
    {"1.2.3.4/32", 0, "prefix"},
    {"localhost", 0, "unexpected character"},
    {"1.2.3.4\0", 8, "NUL"},
    {"1.2.3.4\0garbage", 15, "NUL"},
    {"\0", 1, "NUL"},
    {"1.2.3.\xc4\xb4", 0, "unexpected character"},
    {"\xef\xbc\x91.2.3.4", 0, "unexpected character"}, /* fullwidth digit one */
    /* IPv6 */
    {"[::1]", 0, "brackets"},
    {"[2001:db8::1]", 0, "brackets"},
    {"fe80::1%eth0", 0, "zone id"},
    {"fe80::1%1", 0, "zone id"},
    {"fe80::1%", 0, "zone id"},
    {":::", 0, "not a valid IPv6"},
    {":", 0, "not a valid IPv6"},
    {"1:2:3:4:5:6:7:8:9", 0, "not a valid IPv6"},
    {"1:2:3:4:5:6:7", 0, "not a valid IPv6"},
    {"1::2::3", 0, "not a valid IPv6"},
    {":1::", 0, "not a valid IPv6"},
    {"1:::2", 0, "not a valid IPv6"},
    {"::1:", 0, "not a valid IPv6"},
    {"12345::", 0, "not a valid IPv6"},
    {"::00001", 0, "not a valid IPv6"},
    {"::g", 0, "unexpected character"},
    {"::0x1", 0, "unexpected character"},
    {":: 1", 0, "white space"},
    {"::1 ", 0, "white space"},
    {"::ffff:01.2.3.4", 0, "leading zero"},
    {"::ffff:1.2.3", 0, "not four dotted parts"},
    {"::ffff:1.2.3.4.5", 0, "more than four parts"},
    {"::ffff:256.1.1.1", 0, "out of range"},
    {"::ffff:1.2.3.4x", 0, "unexpected character"},
    {"::1.2.3.4x", 0, "unexpected character"},
    {"1.2.3.4::", 0, "embedded IPv4"},
    {"1.2.3.4:25", 0, "embedded IPv4"},
    {"::1.2.3.4:1", 0, "embedded IPv4"},
    {"1:2:3:4:5:6:7:1.2.3.4", 0, "not a valid IPv6"},
    {"::ffff:192.0.2.1/96", 0, "prefix"},
    {"::1\0", 4, "NUL"},
    {"-::1", 0, "sign"},
    /* length limit */
    {"00000000000000000000000000000000000000000000000000000000000000000", 0, "too long"},
    {"::::::::::::::::::::::::::::::::::::::::::::::::::::::::::::::::::", 0, "too long"},
};

/* torture_addr_len - the length of a table input */
static size_t torture_addr_len(const char *text, size_t len)
{
    return len != 0 ? len : strlen(text);
}

/* torture_addr_dup - copy len bytes into an exactly-sized heap block (no terminator) */
static char *torture_addr_dup(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);

    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

/* torture_addr_good - every good spelling parses to its family and canonical text */
static void torture_addr_good(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(addr_good_table); i++) {
        const struct addr_good *t = &addr_good_table[i];
        size_t len = strlen(t->text);
        char *copy = torture_addr_dup(t->text, len);
        char err[256] = "", buf[ADDR_STRLEN], canon[ADDR_STRLEN];
        struct addr a, b;
        size_t k;

        if (addr_parse(copy, len, &a, err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", t->text, err);
        free(copy);
        if (a.family != t->family)
            fail_msg("'%s': family %d, expected %d", t->text, a.family, t->family);
        if (a.family == AF_INET)
            for (k = 4; k < 16; k++)
                if (a.bytes[k] != 0)
                    fail_msg("'%s': AF_INET with stray byte %zu", t->text, k);
        addr_format(&a, buf, sizeof(buf));
        if (strcmp(buf, t->canonical) != 0)
            fail_msg("'%s' formats as '%s', expected '%s'", t->text, buf, t->canonical);
        /* addr_canonical agrees, and the canonical form is a fixed point */
        if (addr_canonical(t->text, canon, sizeof(canon), err, sizeof(err)) != 0 ||
            strcmp(canon, t->canonical) != 0)
            fail_msg("addr_canonical('%s') = '%s' (%s)", t->text, canon, err);
        assert_int_equal(addr_parse(buf, strlen(buf), &b, err, sizeof(err)), 0);
        if (memcmp(&a, &b, sizeof(a)) != 0 || addr_compare(&a, &b) != 0)
            fail_msg("'%s' -> '%s' does not round-trip", t->text, buf);
    }
}

/* torture_addr_bad - every bad input is refused with its reason, naming the input */
static void torture_addr_bad(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(addr_bad_table); i++) {
        const struct addr_bad *t = &addr_bad_table[i];
        size_t len = torture_addr_len(t->text, t->len);
        char *copy = torture_addr_dup(t->text, len);
        char err[256] = "";
        struct addr a;
        int r;

        memset(&a, 0x5a, sizeof(a));
        r = addr_parse(copy, len, &a, err, sizeof(err));
        free(copy);
        if (r != -1)
            fail_msg("bad input #%zu '%s' accepted", i, t->text);
        if (strncmp(err, "bad IP address '", 16) != 0 || strstr(err, t->why) == NULL)
            fail_msg("bad input #%zu '%s': error '%s' lacks '%s'", i, t->text, err, t->why);
        if (strchr(err, '\n') != NULL || strchr(err, '\r') != NULL || strchr(err, '\t'))
            fail_msg("bad input #%zu: unprintable byte in error '%s'", i, err);
        /* NUL-terminated inputs must also be refused by addr_canonical */
        if (t->len == 0) {
            char buf[ADDR_STRLEN] = "x";
            if (addr_canonical(t->text, buf, sizeof(buf), err, sizeof(err)) != -1 || buf[0])
                fail_msg("addr_canonical accepted '%s'", t->text);
        }
    }
}

/* torture_addr_messages - exact error texts, escaping, truncation of long input */
static void torture_addr_messages(void **state)
{
    char err[256];
    struct addr a;
    char longtext[200];

    (void)state;
    assert_int_equal(addr_parse("01.2.3.4", 8, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "bad IP address '01.2.3.4': leading zero");
    assert_int_equal(addr_parse("1.2.3.4\n", 8, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "bad IP address '1.2.3.4?': white space not allowed");
    assert_int_equal(addr_parse("fe80::1%eth0", 12, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "bad IP address 'fe80::1%eth0': zone id not allowed");
    assert_int_equal(addr_parse("", 0, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "bad IP address '': empty");
    assert_int_equal(addr_parse(NULL, 5, &a, err, sizeof(err)), -1);
    assert_string_equal(err, "bad IP address '': empty");
    memset(longtext, '1', sizeof(longtext));
    assert_int_equal(addr_parse(longtext, sizeof(longtext), &a, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "...': too long"));
    assert_true(strlen(err) < 120);
    /* a NULL or short error buffer is allowed and stays terminated */
    assert_int_equal(addr_parse("x", 1, &a, NULL, 0), -1);
    assert_int_equal(addr_parse("01.2.3.4", 8, &a, err, 10), -1);
    assert_string_equal(err, "bad IP ad");
}

/* torture_addr_unterminated - only len bytes are read; what follows is ignored */
static void torture_addr_unterminated(void **state)
{
    static const struct {
        const char *text;
        size_t len;
        const char *canonical;
    } cases[] = {
        {"1.2.3.45", 7, "1.2.3.4"},
        {"192.0.2.1garbage", 9, "192.0.2.1"},
        {"192.0.2.1 2", 9, "192.0.2.1"},
        {"2001:db8::1]", 11, "2001:db8::1"},
        {"::ffff:192.0.2.1%eth0", 16, "192.0.2.1"},
        {"::1:2", 3, "::1"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        char *copy = torture_addr_dup(cases[i].text, cases[i].len);
        char err[256], buf[ADDR_STRLEN];
        struct addr a;

        if (addr_parse(copy, cases[i].len, &a, err, sizeof(err)) != 0)
            fail_msg("'%.*s' refused: %s", (int)cases[i].len, cases[i].text, err);
        free(copy);
        assert_string_equal(addr_format(&a, buf, sizeof(buf)), cases[i].canonical);
    }
}

/* torture_addr_format_edges - small buffers, unknown families, hand-built mapped structs */
static void torture_addr_format_edges(void **state)
{
    struct addr a;
    char buf[ADDR_STRLEN], small[10];
    char err[256];

    (void)state;
    assert_int_equal(addr_parse("192.0.2.12", 10, &a, err, sizeof(err)), 0);
    /* never a truncated (and so different) address: "" instead */
    memset(small, 'x', sizeof(small));
    assert_string_equal(addr_format(&a, small, sizeof(small)), "");
    assert_string_equal(addr_format(&a, small, 0), small); /* untouched, returns buf */
    assert_string_equal(addr_format(&a, buf, 11), "192.0.2.12");
    assert_int_equal(addr_canonical("192.0.2.12", small, sizeof(small), err, sizeof(err)), -1);
    assert_string_equal(small, "");
    assert_int_equal(addr_canonical("192.0.2.12", buf, 11, err, sizeof(err)), 0);
    assert_int_equal(addr_canonical(NULL, buf, sizeof(buf), err, sizeof(err)), -1);
    /* a text longer than the limit but unterminated within it */
    assert_int_equal(
        addr_canonical("1.2.3.4                                                        "
                       "                  ",
                       buf, sizeof(buf), err, sizeof(err)),
        -1);
    assert_non_null(strstr(err, "too long"));

    memset(&a, 0, sizeof(a));
    a.family = AF_UNIX;
    assert_string_equal(addr_format(&a, buf, sizeof(buf)), "");

    /* a hand-built mapped AF_INET6 prints and compares as the IPv4 address */
    memset(&a, 0, sizeof(a));
    a.family = AF_INET6;
    a.bytes[10] = a.bytes[11] = 0xff;
    a.bytes[12] = 192;
    a.bytes[15] = 7;
    assert_string_equal(addr_format(&a, buf, sizeof(buf)), "192.0.0.7");
    {
        struct addr b;
        assert_int_equal(addr_parse("192.0.0.7", 9, &b, err, sizeof(err)), 0);
        assert_int_equal(addr_compare(&a, &b), 0);
        assert_int_equal(addr_compare(&b, &a), 0);
    }
}

/* torture_addr_compare - IPv4 before IPv6, then byte order; mapped equals IPv4 */
static void torture_addr_compare(void **state)
{
    static const char *const ordered[] = {
        "0.0.0.0",
        "0.0.0.1",
        "0.0.1.0",
        "1.2.3.4",
        "127.255.255.255",
        "128.0.0.0",
        "192.0.2.1",
        "255.255.255.255",
        "::",
        "::1",
        "::2",
        "::1:0",
        "::102:304",
        "::fffe:ffff:ffff",
        "::ffff:0:0:0",
        "1::",
        "2001:db8::1",
        "2001:db8::2",
        "fe80::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    };
    struct addr a[UTIL_ARRAY_LEN(ordered)];
    char err[256];
    size_t i, j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(ordered); i++)
        if (addr_parse(ordered[i], strlen(ordered[i]), &a[i], err, sizeof(err)) != 0)
            fail_msg("%s", err);
    for (i = 0; i < UTIL_ARRAY_LEN(ordered); i++) {
        for (j = 0; j < UTIL_ARRAY_LEN(ordered); j++) {
            int c = addr_compare(&a[i], &a[j]);
            int want = i < j ? -1 : i > j ? 1 : 0;
            if ((c < 0 ? -1 : c > 0 ? 1 : 0) != want)
                fail_msg("compare('%s', '%s') = %d", ordered[i], ordered[j], c);
        }
    }
    /* equal addresses in different spellings compare equal */
    {
        static const char *const same[][2] = {
            {"::ffff:1.2.3.4", "1.2.3.4"},
            {"::FFFF:102:304", "1.2.3.4"},
            {"2001:DB8:0::1", "2001:db8::1"},
            {"0:0:0:0:0:0:0:0", "::"},
        };
        for (i = 0; i < UTIL_ARRAY_LEN(same); i++) {
            struct addr x, y;
            assert_int_equal(addr_parse(same[i][0], strlen(same[i][0]), &x, err, 256), 0);
            assert_int_equal(addr_parse(same[i][1], strlen(same[i][1]), &y, err, 256), 0);
            if (addr_compare(&x, &y) != 0 || memcmp(&x, &y, sizeof(x)) != 0)
                fail_msg("'%s' != '%s'", same[i][0], same[i][1]);
        }
    }
}

/* torture_addr_octets - every octet value in every position, with and without zeros */
static void torture_addr_octets(void **state)
{
    unsigned v;
    int pos;

    (void)state;
    for (pos = 0; pos < 4; pos++) {
        for (v = 0; v < 1000; v++) {
            unsigned parts[4] = {1, 2, 3, 4};
            char text[32], padded[32], err[256], buf[ADDR_STRLEN];
            struct addr a;
            int r;

            parts[pos] = v;
            snprintf(text, sizeof(text), "%u.%u.%u.%u", parts[0], parts[1], parts[2], parts[3]);
            r = addr_parse(text, strlen(text), &a, err, sizeof(err));
            if (v <= 255) {
                if (r != 0 || strcmp(addr_format(&a, buf, sizeof(buf)), text) != 0 ||
                    a.bytes[pos] != v)
                    fail_msg("'%s' failed: %s", text, err);
            } else if (r != -1 || strstr(err, "out of range") == NULL) {
                fail_msg("'%s' accepted or wrong reason: %s", text, err);
            }
            /* the same value with a leading zero is refused */
            parts[pos] = v;
            snprintf(padded, sizeof(padded), "%s%u.%s%u.%s%u.%s%u", pos == 0 ? "0" : "", parts[0],
                     pos == 1 ? "0" : "", parts[1], pos == 2 ? "0" : "", parts[2],
                     pos == 3 ? "0" : "", parts[3]);
            if (addr_parse(padded, strlen(padded), &a, err, sizeof(err)) != -1 ||
                strstr(err, "leading zero") == NULL)
                fail_msg("'%s' accepted or wrong reason: %s", padded, err);
        }
    }
}

/* torture_addr_rand - xorshift64* generator, fixed seed */
static uint64_t torture_addr_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* torture_addr_random - random addresses round-trip and agree with inet_pton/inet_ntop */
static void torture_addr_random(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int n;

    (void)state;
    for (n = 0; n < 200000; n++) {
        uint8_t bytes[16], back[16];
        char buf[ADDR_STRLEN], ref[INET6_ADDRSTRLEN], err[256];
        struct addr a;
        int i;

        /* words mostly zero, so that runs of zeros of every length and position appear */
        for (i = 0; i < 8; i++) {
            uint64_t r = torture_addr_rand(&seed);
            unsigned w = (r & 3) == 0   ? (unsigned)(r >> 16) & 0xffff
                         : (r & 3) == 1 ? (unsigned)(r >> 16) & 0xf
                                        : 0;
            bytes[2 * i] = (uint8_t)(w >> 8);
            bytes[2 * i + 1] = (uint8_t)w;
        }
        if (n % 7 == 0) { /* mapped */
            memset(bytes, 0, 10);
            bytes[10] = bytes[11] = 0xff;
        } else if (bytes[10] == 0xff && bytes[11] == 0xff) {
            bytes[11] = 0xfe; /* keep the others unmapped */
        }
        assert_non_null(inet_ntop(AF_INET6, bytes, ref, sizeof(ref)));
        if (addr_parse(ref, strlen(ref), &a, err, sizeof(err)) != 0)
            fail_msg("'%s' refused: %s", ref, err);
        addr_format(&a, buf, sizeof(buf));
        if (n % 7 == 0) {
            char v4[INET_ADDRSTRLEN];
            assert_int_equal(a.family, AF_INET);
            inet_ntop(AF_INET, bytes + 12, v4, sizeof(v4));
            assert_string_equal(buf, v4);
            continue;
        }
        assert_int_equal(a.family, AF_INET6);
        assert_memory_equal(a.bytes, bytes, 16);
        /* glibc's text is RFC 5952 except for mixed notation inside ::/96 */
        if (strchr(ref, '.') == NULL && strcmp(buf, ref) != 0)
            fail_msg("formatted '%s', inet_ntop '%s'", buf, ref);
        assert_int_equal(inet_pton(AF_INET6, buf, back), 1);
        assert_memory_equal(back, bytes, 16);
        assert_null(strpbrk(buf, "ABCDEF."));
    }
}

/* main - run the addr tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_addr_good),         cmocka_unit_test(torture_addr_bad),
        cmocka_unit_test(torture_addr_messages),     cmocka_unit_test(torture_addr_unterminated),
        cmocka_unit_test(torture_addr_format_edges), cmocka_unit_test(torture_addr_compare),
        cmocka_unit_test(torture_addr_octets),       cmocka_unit_test(torture_addr_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
