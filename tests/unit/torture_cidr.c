/*
 * torture_cidr - unit tests for shared/cidr.c: parse tables (good with their normal
 * form, bad with the reason), host-bit clearing at every prefix, first/last/outside
 * boundaries of single networks, lists with overlapping, adjacent and mixed-family
 * networks, the size limit, and 10,000 random networks checked against a brute-force
 * linear matcher on 200,000 addresses that cluster at range edges.
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

#include "shared/cidr.h"
#include "shared/util.h"

#define TORTURE_CIDR_MAXLIST 8

/* One accepted network and its normal form. */
struct cidr_good {
    const char *text;
    const char *normal;
};

static const struct cidr_good cidr_good_table[] = {
    {"10.0.0.0/8", "10.0.0.0/8"},
    {"10.1.2.3/8", "10.0.0.0/8"},
    {"192.0.2.7", "192.0.2.7/32"},
    {"192.0.2.7/32", "192.0.2.7/32"},
    {"0.0.0.0/0", "0.0.0.0/0"},
    {"1.2.3.4/0", "0.0.0.0/0"},
    {"255.255.255.255/0", "0.0.0.0/0"},
    {"255.255.255.255/1", "128.0.0.0/1"},
    {"127.255.255.255/1", "0.0.0.0/1"},
    {"192.0.2.5/31", "192.0.2.4/31"},
    {"192.0.2.4/31", "192.0.2.4/31"},
    {"192.0.2.255/25", "192.0.2.128/25"},
    {"192.0.2.255/24", "192.0.2.0/24"},
    {"172.31.255.255/12", "172.16.0.0/12"},
    {"255.255.255.255/32", "255.255.255.255/32"},
    {"255.255.255.255/31", "255.255.255.254/31"},
    {"2001:DB8::/32", "2001:db8::/32"},
    {"2001:db8:ffff::1/32", "2001:db8::/32"},
    {"::/0", "::/0"},
    {"ffff::1/0", "::/0"},
    {"ffff::1/1", "8000::/1"},
    {"2001:db8::1/127", "2001:db8::/127"},
    {"2001:db8::3/127", "2001:db8::2/127"},
    {"2001:db8::1", "2001:db8::1/128"},
    {"2001:db8::1/128", "2001:db8::1/128"},
    {"2001:db8::1/64", "2001:db8::/64"},
    {"2001:db8:0:0:ffff::/63", "2001:db8::/63"},
    {"2001:db8:0:1:ffff::/63", "2001:db8::/63"},
    {"2001:db8:0:1:ffff::/65", "2001:db8:0:1:8000::/65"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"},
    {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
    {"::1.2.3.4/128", "::102:304/128"},
    {"::1.2.3.4/96", "::/96"},
    /* IPv4-mapped: /96 and above is the IPv4 network; below /96 it stays IPv6 */
    {"::ffff:192.0.2.0/120", "192.0.2.0/24"},
    {"::ffff:192.0.2.77/120", "192.0.2.0/24"},
    {"::FFFF:c000:201/127", "192.0.2.0/31"},
    {"::ffff:1.2.3.4", "1.2.3.4/32"},
    {"::ffff:1.2.3.4/128", "1.2.3.4/32"},
    {"::ffff:0:0/96", "0.0.0.0/0"},
    {"::ffff:1.2.3.4/96", "0.0.0.0/0"},
    {"::ffff:1.2.3.4/97", "0.0.0.0/1"},
    {"::ffff:128.0.0.0/97", "128.0.0.0/1"},
    {"::ffff:0:0/95", "::fffe:0:0/95"},
    {"::ffff:1.2.3.4/95", "::fffe:0:0/95"},
    {"::ffff:1.2.3.4/64", "::/64"},
    {"::ffff:1.2.3.4/0", "::/0"},
};

/* One refused network and a phrase its error must contain. */
struct cidr_bad {
    const char *text;
    size_t len; /* 0: strlen(text) */
    const char *why;
};

static const struct cidr_bad cidr_bad_table[] = {
    {"", 0, "empty"},
    {"/8", 0, "bad IP address '': empty"},
    {"/", 0, "empty"},
    {"10.0.0.0/", 0, "empty prefix"},
    {"10.0.0.0/33", 0, "prefix out of range (0-32)"},
    {"10.0.0.0/99", 0, "prefix out of range (0-32)"},
    {"10.0.0.0/128", 0, "prefix out of range (0-32)"},
    {"10.0.0.0/1000", 0, "prefix out of range"},
    {"10.0.0.0/4294967304", 0, "prefix out of range"},
    {"10.0.0.0/99999999999999999999", 0, "prefix out of range"},
    {"10.0.0.0/-1", 0, "not a decimal number"},
    {"10.0.0.0/+8", 0, "not a decimal number"},
    {"10.0.0.0/08", 0, "leading zero"},
    {"10.0.0.0/00", 0, "leading zero"},
    {"2001:db8::/064", 0, "leading zero"},
    {"10.0.0.0/8/8", 0, "not a decimal number"},
    {"10.0.0.0//8", 0, "not a decimal number"},
    {"10.0.0.0/ 8", 0, "not a decimal number"},
    {"10.0.0.0/8 ", 0, "not a decimal number"},
    {"10.0.0.0/8\n", 0, "not a decimal number"},
    {"10.0.0.0/8x", 0, "not a decimal number"},
    {"10.0.0.0/0x8", 0, "not a decimal number"},
    {"10.0.0.0/8\0", 11, "not a decimal number"},
    {"10.0.0.0 /8", 0, "white space"},
    {" 10.0.0.0/8", 0, "white space"},
    {"10.0.0.0\\8", 0, "unexpected character"},
    {"10.0.0/8", 0, "not four dotted parts"},
    {"10/8", 0, "not four dotted parts"},
    {"010.0.0.0/8", 0, "leading zero"},
    {"10.0.0.256/8", 0, "out of range"},
    {"2001:db8::/129", 0, "prefix out of range (0-128)"},
    {"::ffff:1.2.3.4/129", 0, "prefix out of range (0-128)"},
    {"::/0128", 0, "leading zero"},
    {"[::1]/128", 0, "brackets"},
    {"[::1/128]", 0, "brackets"},
    {"fe80::%eth0/64", 0, "zone id"},
    {"fe80::/64%eth0", 0, "not a decimal number"},
    {"1::2::3/64", 0, "not a valid IPv6"},
    {"::ffff:01.2.3.4/120", 0, "leading zero"},
    {"10.0.0.0-10.0.0.255", 0, "sign"},
    {"10.0.0.0/255.0.0.0", 0, "not a decimal number"},
    {"0000000000000000000000000000000000000000000000000000000000000000000000/8", 0, "too long"},
    {"00000000000000000000000000000000000000000000000000000000000000000/8", 0, "too long"},
};

/* One list and addresses that must and must not match it. */
struct cidr_case {
    const char *name;
    const char *nets[TORTURE_CIDR_MAXLIST];
    const char *in[TORTURE_CIDR_MAXLIST];
    const char *out[TORTURE_CIDR_MAXLIST];
};

static const struct cidr_case cidr_case_table[] = {
    /* single networks: first and last inside, one below and one above outside */
    {"ipv4 /24",
     {"192.0.2.0/24"},
     {"192.0.2.0", "192.0.2.255", "192.0.2.77"},
     {"192.0.1.255", "192.0.3.0", "0.0.0.0", "255.255.255.255", "::ffff:c000:300"}},
    {"ipv4 /0",
     {"0.0.0.0/0"},
     {"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"},
     {"::", "::1", "2001:db8::1", "::102:304", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
    {"ipv4 /1 high", {"128.0.0.0/1"}, {"128.0.0.0", "255.255.255.255"}, {"127.255.255.255"}},
    {"ipv4 /1 low", {"0.0.0.0/1"}, {"0.0.0.0", "127.255.255.255"}, {"128.0.0.0"}},
    {"ipv4 /31", {"192.0.2.5/31"}, {"192.0.2.4", "192.0.2.5"}, {"192.0.2.3", "192.0.2.6"}},
    {"ipv4 /32",
     {"192.0.2.5"},
     {"192.0.2.5", "::ffff:192.0.2.5"},
     {"192.0.2.4", "192.0.2.6", "::192.0.2.5"}},
    {"ipv4 top /32", {"255.255.255.255/32"}, {"255.255.255.255"}, {"255.255.255.254"}},
    {"ipv4 bottom /32", {"0.0.0.0/32"}, {"0.0.0.0"}, {"0.0.0.1", "::"}},
    {"ipv6 /32",
     {"2001:db8::/32"},
     {"2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db9::", "32.1.13.184"}},
    {"ipv6 /0",
     {"::/0"},
     {"::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1.2.3.4"},
     {"0.0.0.0", "1.2.3.4", "255.255.255.255", "::ffff:1.2.3.4"}},
    {"ipv6 /1",
     {"8000::/1"},
     {"8000::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"7fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}},
    {"ipv6 /127",
     {"2001:db8::/127"},
     {"2001:db8::", "2001:db8::1"},
     {"2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", "2001:db8::2"}},
    {"ipv6 /128", {"2001:db8::1"}, {"2001:db8::1"}, {"2001:db8::", "2001:db8::2"}},
    {"ipv6 top /128",
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}},
    {"ipv6 bottom /128", {"::/128"}, {"::"}, {"::1", "0.0.0.0"}},
    {"ipv6 /64",
     {"2001:db8:0:1::/64"},
     {"2001:db8:0:1::", "2001:db8:0:1:ffff:ffff:ffff:ffff"},
     {"2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:2::"}},
    {"ipv6 /63",
     {"2001:db8:0:2::/63"},
     {"2001:db8:0:2::", "2001:db8:0:3:ffff:ffff:ffff:ffff"},
     {"2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:4::"}},
    {"ipv6 /65",
     {"2001:db8:0:1:8000::/65"},
     {"2001:db8:0:1:8000::", "2001:db8:0:1:ffff:ffff:ffff:ffff"},
     {"2001:db8:0:1:7fff:ffff:ffff:ffff", "2001:db8:0:2::"}},
    /* mapped networks */
    {"mapped /104",
     {"::ffff:10.0.0.0/104"},
     {"10.0.0.0", "10.255.255.255", "::ffff:10.1.2.3"},
     {"9.255.255.255", "11.0.0.0", "::a00:0", "::ffff:0:a00:0"}},
    {"mapped /96",
     {"::ffff:0:0/96"},
     {"0.0.0.0", "255.255.255.255"},
     {"::", "::1", "::ffff:0:0:0"}},
    {"mapped below /96 stays ipv6",
     {"::ffff:0:0/95"},
     {"::fffe:0:0", "::fffe:ffff:ffff"},
     {"0.0.0.0", "1.2.3.4", "::ffff:1.2.3.4", "::fffd:ffff:ffff", "::1:0:0:0"}},
    /* overlapping, duplicate, nested and adjacent networks */
    {"adjacent ipv4",
     {"10.0.0.0/9", "10.128.0.0/9"},
     {"10.0.0.0", "10.127.255.255", "10.128.0.0", "10.255.255.255"},
     {"9.255.255.255", "11.0.0.0"}},
    {"nested, small first",
     {"10.1.0.0/16", "10.0.0.0/8", "10.1.2.3", "10.0.0.0/8"},
     {"10.0.0.0", "10.1.2.3", "10.255.255.255"},
     {"9.255.255.255", "11.0.0.0"}},
    {"chain out of order",
     {"10.0.2.0/24", "10.0.0.0/24", "10.0.1.0/24"},
     {"10.0.0.0", "10.0.1.0", "10.0.1.255", "10.0.2.255"},
     {"9.255.255.255", "10.0.3.0"}},
    {"gap",
     {"10.0.0.0/24", "10.0.2.0/24"},
     {"10.0.0.255", "10.0.2.0"},
     {"10.0.1.0", "10.0.1.255", "10.0.1.128"}},
    {"many small in a big",
     {"10.0.0.5", "10.0.0.0/8", "10.9.9.9", "10.255.255.255", "11.0.0.0", "9.255.255.255"},
     {"9.255.255.255", "10.0.0.0", "11.0.0.0"},
     {"9.255.255.254", "11.0.0.1"}},
    {"top of ipv4",
     {"255.255.255.254/32", "255.255.255.255/32", "0.0.0.0/32"},
     {"255.255.255.254", "255.255.255.255", "0.0.0.0"},
     {"255.255.255.253", "0.0.0.1"}},
    {"everything ipv4",
     {"0.0.0.0/1", "128.0.0.0/1"},
     {"0.0.0.0", "127.255.255.255", "128.0.0.0"},
     {"::"}},
    {"adjacent ipv6 across 64 bits",
     {"2001:db8:0:0:ffff:ffff:ffff:ffff/128", "2001:db8:0:1::/128"},
     {"2001:db8:0:0:ffff:ffff:ffff:ffff", "2001:db8:0:1::"},
     {"2001:db8:0:0:ffff:ffff:ffff:fffe", "2001:db8:0:1::1"}},
    {"top of ipv6",
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/128", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
      "::/128"},
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::"},
     {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffd", "::1"}},
    {"everything ipv6 plus more",
     {"::/0", "2001:db8::/32", "::1"},
     {"::", "2001:db8::1"},
     {"0.0.0.0", "192.0.2.1"}},
    {"ipv6 gap",
     {"2001:db8::/64", "2001:db8:0:2::/64"},
     {"2001:db8::1", "2001:db8:0:2::1"},
     {"2001:db8:0:1::", "2001:db8:0:1:ffff:ffff:ffff:ffff", "2001:db8:0:3::"}},
    /* mixed families */
    {"mixed",
     {"10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.0/120", "fe80::/10"},
     {"10.1.1.1", "2001:db8::1", "192.0.2.9", "::ffff:10.1.1.1", "febf::1"},
     {"11.0.0.0", "::a01:101", "2001:db9::", "fec0::", "192.0.3.0", "::c000:209", "0.0.0.0"}},
    {"empty list", {NULL}, {NULL}, {"0.0.0.0", "::", "1.2.3.4", "2001:db8::1"}},
};

/* torture_cidr_good - good networks parse to their normal form, which is a fixed point */
static void torture_cidr_good(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cidr_good_table); i++) {
        const struct cidr_good *t = &cidr_good_table[i];
        size_t len = strlen(t->text);
        char *copy, err[256] = "", buf[ADDR_STRLEN + 8];
        struct cidr c, d;
        int r;

        copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, t->text, len); /* not terminated */
        r = cidr_parse(copy, len, &c, err, sizeof(err));
        free(copy);
        if (r != 0)
            fail_msg("'%s' refused: %s", t->text, err);
        cidr_format(&c, buf, sizeof(buf));
        if (strcmp(buf, t->normal) != 0)
            fail_msg("'%s' -> '%s', expected '%s'", t->text, buf, t->normal);
        assert_int_equal(cidr_parse(buf, strlen(buf), &d, err, sizeof(err)), 0);
        if (memcmp(&c, &d, sizeof(c)) != 0)
            fail_msg("'%s' does not round-trip", buf);
        assert_true(c.prefix >= 0 && c.prefix <= (c.addr.family == AF_INET ? 32 : 128));
    }
}

/* torture_cidr_bad - bad networks are refused with the reason, naming the input */
static void torture_cidr_bad(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cidr_bad_table); i++) {
        const struct cidr_bad *t = &cidr_bad_table[i];
        size_t len = t->len ? t->len : strlen(t->text);
        char *copy = malloc(len ? len : 1), err[512] = "";
        struct cidr_list *list = cidr_list_new();
        struct cidr c;
        int r;

        assert_non_null(copy);
        memcpy(copy, t->text, len);
        r = cidr_parse(copy, len, &c, err, sizeof(err));
        if (r != -1)
            fail_msg("bad network #%zu '%s' accepted", i, t->text);
        if (strncmp(err, "bad network '", 13) != 0 || strstr(err, t->why) == NULL)
            fail_msg("bad network #%zu '%s': error '%s' lacks '%s'", i, t->text, err, t->why);
        if (strpbrk(err, "\r\n\t") != NULL)
            fail_msg("bad network #%zu: unprintable byte in '%s'", i, err);
        /* the list refuses it too and stays empty */
        assert_int_equal(cidr_list_add(list, copy, len, err, sizeof(err)), -1);
        assert_int_equal(cidr_list_count(list), 0);
        cidr_list_finish(list);
        cidr_list_free(list);
        free(copy);
    }
}

/* torture_cidr_messages - exact error texts */
static void torture_cidr_messages(void **state)
{
    char err[256];
    struct cidr c;

    (void)state;
    assert_int_equal(cidr_parse("10.0.0.0/33", 11, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "bad network '10.0.0.0/33': prefix out of range (0-32)");
    assert_int_equal(cidr_parse("01.2.3.4/8", 10, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "bad network '01.2.3.4/8': bad IP address '01.2.3.4': leading zero");
    assert_int_equal(cidr_parse("10.0.0.0/8\n", 11, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "bad network '10.0.0.0/8?': prefix is not a decimal number (0-32)");
    assert_int_equal(cidr_parse(NULL, 3, &c, err, sizeof(err)), -1);
    assert_string_equal(err, "bad network '': empty");
    assert_int_equal(cidr_parse("x", 1, &c, NULL, 0), -1);
}

/* torture_cidr_mask_bits - host bits are cleared at every prefix length */
static void torture_cidr_mask_bits(void **state)
{
    static const char *const addrs[] = {"255.255.255.255", "170.85.170.85",
                                        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                                        "aaaa:5555:aaaa:5555:aaaa:5555:aaaa:5555"};
    size_t i;
    int p;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(addrs); i++) {
        struct addr a;
        char err[256];
        int max;

        assert_int_equal(addr_parse(addrs[i], strlen(addrs[i]), &a, err, sizeof(err)), 0);
        max = a.family == AF_INET ? 32 : 128;
        for (p = 0; p <= max; p++) {
            char text[80];
            struct cidr c;
            int bit;

            snprintf(text, sizeof(text), "%s/%d", addrs[i], p);
            if (cidr_parse(text, strlen(text), &c, err, sizeof(err)) != 0)
                fail_msg("%s", err);
            assert_int_equal(c.prefix, p);
            assert_int_equal(c.addr.family, a.family);
            for (bit = 0; bit < 128; bit++) {
                int want = bit < p ? (a.bytes[bit / 8] >> (7 - bit % 8)) & 1 : 0;
                int got = (c.addr.bytes[bit / 8] >> (7 - bit % 8)) & 1;
                if (want != got)
                    fail_msg("%s: bit %d is %d", text, bit, got);
            }
        }
    }
}

/* torture_cidr_check_case - run one list case, before and after finishing */
static void torture_cidr_check_case(const struct cidr_case *t)
{
    struct cidr_list *list = cidr_list_new();
    char err[256];
    size_t i, n = 0;
    int pass;

    for (i = 0; i < TORTURE_CIDR_MAXLIST && t->nets[i] != NULL; i++, n++)
        if (cidr_list_add(list, t->nets[i], strlen(t->nets[i]), err, sizeof(err)) != 0)
            fail_msg("%s: %s", t->name, err);
    assert_int_equal(cidr_list_count(list), n);
    /* pass 0: not finished (linear scan); pass 1: finished; pass 2: finished twice */
    for (pass = 0; pass < 3; pass++) {
        if (pass > 0)
            cidr_list_finish(list);
        for (i = 0; i < TORTURE_CIDR_MAXLIST && t->in[i] != NULL; i++) {
            struct addr a;
            assert_int_equal(addr_parse(t->in[i], strlen(t->in[i]), &a, err, sizeof(err)), 0);
            if (cidr_list_match(list, &a) != 1)
                fail_msg("%s (pass %d): '%s' should match", t->name, pass, t->in[i]);
        }
        for (i = 0; i < TORTURE_CIDR_MAXLIST && t->out[i] != NULL; i++) {
            struct addr a;
            assert_int_equal(addr_parse(t->out[i], strlen(t->out[i]), &a, err, sizeof(err)), 0);
            if (cidr_list_match(list, &a) != 0)
                fail_msg("%s (pass %d): '%s' should not match", t->name, pass, t->out[i]);
        }
    }
    assert_int_equal(cidr_list_count(list), n);
    cidr_list_free(list);
}

/* torture_cidr_cases - the list table */
static void torture_cidr_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cidr_case_table); i++)
        torture_cidr_check_case(&cidr_case_table[i]);
}

/* torture_cidr_lifecycle - NULL lists, adding after finish, hand-built addresses */
static void torture_cidr_lifecycle(void **state)
{
    struct cidr_list *list = cidr_list_new();
    struct addr a;
    char err[256];

    (void)state;
    assert_int_equal(addr_parse("192.0.2.1", 9, &a, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(NULL, &a), 0);
    assert_int_equal(cidr_list_count(NULL), 0);
    cidr_list_free(NULL);

    assert_int_equal(cidr_list_match(list, &a), 0);
    cidr_list_finish(list);
    assert_int_equal(cidr_list_match(list, &a), 0);
    assert_int_equal(cidr_list_add(list, "10.0.0.0/8", 10, err, sizeof(err)), 0);
    cidr_list_finish(list);
    assert_int_equal(cidr_list_match(list, &a), 0);
    /* added after finish: still found, unfinished (linear) and after a new finish */
    assert_int_equal(cidr_list_add(list, "192.0.2.0/24", 12, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(list, &a), 1);
    cidr_list_finish(list);
    assert_int_equal(cidr_list_match(list, &a), 1);
    assert_int_equal(cidr_list_count(list), 2);

    /* a hand-built mapped AF_INET6 address is matched as IPv4 */
    memset(&a, 0, sizeof(a));
    a.family = AF_INET6;
    a.bytes[10] = a.bytes[11] = 0xff;
    a.bytes[12] = 10;
    a.bytes[15] = 1;
    assert_int_equal(cidr_list_match(list, &a), 1);
    a.bytes[12] = 11;
    assert_int_equal(cidr_list_match(list, &a), 0);
    /* an unknown family matches nothing */
    memset(&a, 0, sizeof(a));
    a.family = AF_UNIX;
    a.bytes[0] = 10;
    assert_int_equal(cidr_list_match(list, &a), 0);
    cidr_list_free(list);
}

/* torture_cidr_format_edges - small buffers give "" rather than a truncated network */
static void torture_cidr_format_edges(void **state)
{
    struct cidr c;
    char buf[64], err[256];

    (void)state;
    assert_int_equal(cidr_parse("192.0.2.0/24", 12, &c, err, sizeof(err)), 0);
    assert_string_equal(cidr_format(&c, buf, 13), "192.0.2.0/24");
    assert_string_equal(cidr_format(&c, buf, 12), "");
    assert_string_equal(cidr_format(&c, buf, 11), "");
    /* a hand-built network is normalised when printed */
    memset(&c, 0, sizeof(c));
    c.addr.family = AF_INET6;
    c.addr.bytes[10] = c.addr.bytes[11] = 0xff;
    c.addr.bytes[12] = 192;
    c.addr.bytes[15] = 9;
    c.prefix = 120;
    assert_string_equal(cidr_format(&c, buf, sizeof(buf)), "192.0.0.0/24");
    c.addr.family = AF_UNIX;
    assert_string_equal(cidr_format(&c, buf, sizeof(buf)), "");
}

/* torture_cidr_limit - a list refuses more than CIDR_LIST_MAX networks */
static void torture_cidr_limit(void **state)
{
    struct cidr_list *list = cidr_list_new();
    struct addr a;
    char text[32], err[256];
    uint32_t i;

    (void)state;
    for (i = 0; i < CIDR_LIST_MAX; i++) {
        uint32_t v = 0x0a000000u + 2 * i; /* every other address: nothing merges */
        snprintf(text, sizeof(text), "%u.%u.%u.%u", v >> 24, (v >> 16) & 255, (v >> 8) & 255,
                 v & 255);
        if (cidr_list_add(list, text, strlen(text), err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    assert_int_equal(cidr_list_add(list, "192.0.2.1", 9, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "too many networks"));
    assert_int_equal(cidr_list_count(list), CIDR_LIST_MAX);
    cidr_list_finish(list);
    assert_int_equal(addr_parse("10.0.0.0", 8, &a, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(list, &a), 1);
    assert_int_equal(addr_parse("10.0.0.1", 8, &a, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(list, &a), 0);
    assert_int_equal(addr_parse("10.31.255.254", 13, &a, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(list, &a), 1);
    assert_int_equal(addr_parse("10.32.0.0", 9, &a, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(list, &a), 0);
    assert_int_equal(addr_parse("192.0.2.1", 9, &a, err, sizeof(err)), 0);
    assert_int_equal(cidr_list_match(list, &a), 0);
    cidr_list_free(list);
}

/* The brute-force reference: a network as family and first/last address bytes. */
struct torture_net {
    int family;
    uint8_t first[16], last[16];
};

/* torture_cidr_rand - xorshift64* generator, fixed seed */
static uint64_t torture_cidr_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* torture_cidr_bytes_add - add delta (-1, 0 or +1) to an n-byte big-endian number */
static int torture_cidr_bytes_add(uint8_t *b, size_t n, int delta)
{
    size_t i = n;

    if (delta == 0)
        return 0;
    while (i-- > 0) {
        if (delta > 0 && b[i]++ != 0xff)
            return 0;
        if (delta < 0 && b[i]-- != 0x00)
            return 0;
    }
    return -1; /* wrapped around */
}

/* The reference ranges as integers, so the linear scan is fast enough for 2e9 steps. */
struct torture_ref {
    uint32_t *v4first, *v4last;
    uint64_t (*v6first)[2], (*v6last)[2];
    size_t n4, n6;
};

/* torture_cidr_load - n big-endian bytes as an integer */
static uint64_t torture_cidr_load(const uint8_t *b, size_t n)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < n; i++)
        v = v << 8 | b[i];
    return v;
}

/* torture_cidr_ref_build - the reference ranges of nets[0..n) */
static void torture_cidr_ref_build(struct torture_ref *ref, const struct torture_net *nets,
                                   size_t n)
{
    size_t i;

    memset(ref, 0, sizeof(*ref));
    ref->v4first = calloc(n, sizeof(*ref->v4first));
    ref->v4last = calloc(n, sizeof(*ref->v4last));
    ref->v6first = calloc(n, sizeof(*ref->v6first));
    ref->v6last = calloc(n, sizeof(*ref->v6last));
    assert_true(ref->v4first && ref->v4last && ref->v6first && ref->v6last);
    for (i = 0; i < n; i++) {
        if (nets[i].family == AF_INET) {
            ref->v4first[ref->n4] = (uint32_t)torture_cidr_load(nets[i].first, 4);
            ref->v4last[ref->n4++] = (uint32_t)torture_cidr_load(nets[i].last, 4);
        } else {
            ref->v6first[ref->n6][0] = torture_cidr_load(nets[i].first, 8);
            ref->v6first[ref->n6][1] = torture_cidr_load(nets[i].first + 8, 8);
            ref->v6last[ref->n6][0] = torture_cidr_load(nets[i].last, 8);
            ref->v6last[ref->n6++][1] = torture_cidr_load(nets[i].last + 8, 8);
        }
    }
}

/* torture_cidr_ref_free - release the reference ranges */
static void torture_cidr_ref_free(struct torture_ref *ref)
{
    free(ref->v4first);
    free(ref->v4last);
    free(ref->v6first);
    free(ref->v6last);
}

/* torture_cidr_linear - brute force: does a lie in any reference range? */
static int torture_cidr_linear(const struct torture_ref *ref, const struct addr *a)
{
    size_t i;

    if (a->family == AF_INET) {
        uint32_t x = (uint32_t)torture_cidr_load(a->bytes, 4);
        for (i = 0; i < ref->n4; i++)
            if (ref->v4first[i] <= x && x <= ref->v4last[i])
                return 1;
    } else {
        uint64_t hi = torture_cidr_load(a->bytes, 8), lo = torture_cidr_load(a->bytes + 8, 8);
        for (i = 0; i < ref->n6; i++) {
            const uint64_t *f = ref->v6first[i], *l = ref->v6last[i];
            if ((f[0] < hi || (f[0] == hi && f[1] <= lo)) &&
                (hi < l[0] || (hi == l[0] && lo <= l[1])))
                return 1;
        }
    }
    return 0;
}

/* torture_cidr_random - 10,000 random networks vs a linear matcher on 200,000 addresses */
static void torture_cidr_random(void **state)
{
    enum { NNETS = 10000, NADDRS = 200000 };
    static const uint8_t v4_clusters[] = {0, 10, 11, 100, 127, 128, 172, 192, 255};
    static const uint16_t v6_clusters[][2] = {
        {0x2001, 0x0db8}, {0x2001, 0x0db9}, {0xfe80, 0}, {0, 0}, {0xffff, 0xffff}};
    struct torture_net *nets = calloc(NNETS, sizeof(*nets));
    struct cidr_list *list = cidr_list_new();
    uint64_t seed = 0x2545f4914f6cdd1dULL;
    struct torture_ref ref;
    size_t i, hits = 0, edges = 0, edge_hits = 0;
    char err[256];

    (void)state;
    assert_non_null(nets);
    for (i = 0; i < NNETS; i++) {
        struct torture_net *t = &nets[i];
        uint64_t r = torture_cidr_rand(&seed);
        char text[96], abuf[INET6_ADDRSTRLEN];
        struct cidr c;
        int prefix, bit, mapped = 0;
        size_t len;

        if (r % 10 < 6) {
            /* IPv4 in a few clusters (including both ends of the space), mostly long
             * prefixes, so that networks overlap, nest and touch without covering all */
            uint64_t q = torture_cidr_rand(&seed) % 10000;
            uint32_t v = (uint32_t)(torture_cidr_rand(&seed) >> 32);
            t->family = AF_INET;
            prefix = q < 3     ? 8 + (int)(torture_cidr_rand(&seed) % 8)
                     : q < 300 ? 16 + (int)(torture_cidr_rand(&seed) % 8)
                               : 24 + (int)(torture_cidr_rand(&seed) % 9);
            t->first[0] = v4_clusters[torture_cidr_rand(&seed) % UTIL_ARRAY_LEN(v4_clusters)];
            t->first[1] = (uint8_t)(v >> 16 & 0x3f);
            t->first[2] = (uint8_t)(v >> 8);
            t->first[3] = (uint8_t)v;
            mapped = torture_cidr_rand(&seed) % 8 == 0;
            len = 4;
        } else {
            /* IPv6 in a few /32s with words from a small set, prefixes mostly 64-128 */
            static const unsigned words[] = {0, 1, 0xffff, 0x8000, 0x7fff};
            uint64_t q = torture_cidr_rand(&seed) % 10000;
            const uint16_t *cl =
                v6_clusters[torture_cidr_rand(&seed) % UTIL_ARRAY_LEN(v6_clusters)];
            int w;
            t->family = AF_INET6;
            prefix = q < 5 ? 16 + (int)(torture_cidr_rand(&seed) % 48)
                           : 64 + (int)(torture_cidr_rand(&seed) % 65);
            t->first[0] = (uint8_t)(cl[0] >> 8);
            t->first[1] = (uint8_t)cl[0];
            t->first[2] = (uint8_t)(cl[1] >> 8);
            t->first[3] = (uint8_t)cl[1];
            for (w = 2; w < 8; w++) {
                uint64_t qw = torture_cidr_rand(&seed);
                unsigned wv = qw % 3 == 0 ? (unsigned)(qw >> 32) & 0xffff : words[(qw >> 8) % 5];
                t->first[2 * w] = (uint8_t)(wv >> 8);
                t->first[2 * w + 1] = (uint8_t)wv;
            }
            if (memcmp(t->first, "\0\0\0\0\0\0\0\0\0\0\xff\xff", 12) == 0)
                t->first[9] = 1; /* a mapped network would turn into IPv4 */
            len = 16;
        }
        /* text with host bits set, as an operator might write it */
        inet_ntop(t->family, t->first, abuf, sizeof(abuf));
        if (mapped)
            snprintf(text, sizeof(text), "::ffff:%s/%d", abuf, prefix + 96);
        else
            snprintf(text, sizeof(text), "%s/%d", abuf, prefix);
        /* the reference range, by bits */
        memcpy(t->last, t->first, len);
        for (bit = prefix; bit < (int)len * 8; bit++) {
            t->first[bit / 8] &= (uint8_t) ~(0x80 >> (bit % 8));
            t->last[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
        }
        if (cidr_parse(text, strlen(text), &c, err, sizeof(err)) != 0)
            fail_msg("%s", err);
        if (c.addr.family != t->family || c.prefix != prefix ||
            memcmp(c.addr.bytes, t->first, len) != 0)
            fail_msg("'%s' parsed wrong", text);
        if (cidr_list_add(list, text, strlen(text), err, sizeof(err)) != 0)
            fail_msg("%s", err);
    }
    cidr_list_finish(list);
    assert_int_equal(cidr_list_count(list), NNETS);
    torture_cidr_ref_build(&ref, nets, NNETS);

    for (i = 0; i < NADDRS; i++) {
        uint64_t r = torture_cidr_rand(&seed);
        const struct torture_net *t = &nets[r % NNETS];
        struct addr a;
        size_t len = t->family == AF_INET ? 4 : 16;
        int want, got;

        memset(&a, 0, sizeof(a));
        a.family = t->family;
        switch ((r >> 20) % 8) {
        case 0: /* first, one below */
        case 1:
            memcpy(a.bytes, t->first, len);
            if (torture_cidr_bytes_add(a.bytes, len, -(int)((r >> 20) % 8)) < 0)
                continue;
            break;
        case 2: /* last, one above */
        case 3:
            memcpy(a.bytes, t->last, len);
            if (torture_cidr_bytes_add(a.bytes, len, (int)((r >> 20) % 8) - 2) < 0)
                continue;
            break;
        case 4: /* inside */
        {
            size_t k;
            for (k = 0; k < len; k++) {
                uint8_t rnd = (uint8_t)(torture_cidr_rand(&seed) >> 40);
                a.bytes[k] = (uint8_t)(t->first[k] | (rnd & (t->first[k] ^ t->last[k])));
            }
            break;
        }
        case 5: /* anywhere near the clusters */
            memcpy(a.bytes, t->first, len);
            a.bytes[len - 1] = (uint8_t)(r >> 40);
            a.bytes[len - 2] ^= (uint8_t)(r >> 48);
            break;
        case 6: /* the other family, same bytes */
            memcpy(a.bytes, t->first, 16);
            a.family = t->family == AF_INET ? AF_INET6 : AF_INET;
            if (a.family == AF_INET)
                memset(a.bytes + 4, 0, 12);
            break;
        default: /* the IPv4 address, parsed from its mapped spelling */
        {
            char text[64], abuf[INET6_ADDRSTRLEN];
            memcpy(a.bytes, t->last, len);
            inet_ntop(t->family, a.bytes, abuf, sizeof(abuf));
            snprintf(text, sizeof(text), "%s%s", t->family == AF_INET ? "::ffff:" : "", abuf);
            assert_int_equal(addr_parse(text, strlen(text), &a, err, sizeof(err)), 0);
            break;
        }
        }
        want = torture_cidr_linear(&ref, &a);
        got = cidr_list_match(list, &a);
        if (want != got) {
            char buf[ADDR_STRLEN];
            fail_msg("address %s: list says %d, linear says %d", addr_format(&a, buf, 64), got,
                     want);
        }
        hits += (size_t)want;
        if ((r >> 20) % 8 == 1 || (r >> 20) % 8 == 3) {
            edges++;
            edge_hits += (size_t)want;
        }
    }
    /* the test is only meaningful if both answers are common, also just outside edges */
    print_message("random: %zu of %d addresses matched, %zu of %zu just outside a network; "
                  "%zu v4, %zu v6 networks\n",
                  hits, NADDRS, edge_hits, edges, ref.n4, ref.n6);
    assert_true(hits > NADDRS / 4 && hits < NADDRS * 3 / 4);
    assert_true(edge_hits > edges / 10 && edge_hits < edges * 9 / 10);
    torture_cidr_ref_free(&ref);
    cidr_list_free(list);
    free(nets);
}

/* main - run the cidr tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_cidr_good),         cmocka_unit_test(torture_cidr_bad),
        cmocka_unit_test(torture_cidr_messages),     cmocka_unit_test(torture_cidr_mask_bits),
        cmocka_unit_test(torture_cidr_cases),        cmocka_unit_test(torture_cidr_lifecycle),
        cmocka_unit_test(torture_cidr_format_edges), cmocka_unit_test(torture_cidr_limit),
        cmocka_unit_test(torture_cidr_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
