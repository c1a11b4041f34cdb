/*
 * torture_ascii - the number readers of shared/ascii.h against their contract (all
 * digits of the base, at least one, never a value over max, even at the edge of 64 bits),
 * the character classes over every byte, and the user-name byte rule (printable ASCII,
 * the space included, kept).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "shared/ascii.h"

/* test_uint - ascii_uint's table: value or -1, with max at small and 64-bit edges */
static void test_uint(void **state)
{
    static const struct {
        const char *text;
        uint64_t max;
        int rc;
        uint64_t value;
    } cases[] = {
        {"0", 0, 0, 0},
        {"1", 0, -1, 0},
        {"007", 7, 0, 7},
        {"255", 255, 0, 255},
        {"256", 255, -1, 0},
        {"1000", 255, -1, 0},
        {"65535", 65535, 0, 65535},
        {"65536", 65535, -1, 0},
        {"", 100, -1, 0},
        {"1a", 100, -1, 0},
        {"-1", 100, -1, 0},
        {" 1", 100, -1, 0},
        {"18446744073709551615", UINT64_MAX, 0, UINT64_MAX},
        {"18446744073709551616", UINT64_MAX, -1, 0},
        {"99999999999999999999999", UINT64_MAX, -1, 0},
        {"9999999999999999999", UINT64_MAX, 0, 9999999999999999999ULL},
        {"19999999999999999999", UINT64_MAX, -1, 0},
        {"184467440737095516150", UINT64_MAX, -1, 0},
        {"9223372036854775807", INT64_MAX, 0, INT64_MAX},
        {"9223372036854775808", INT64_MAX, -1, 0},
        {"18446744073709551615", INT64_MAX, -1, 0},
        {"000000000000000000000000000001", UINT64_MAX, 0, 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int rc = ascii_uint(cases[i].text, strlen(cases[i].text), cases[i].max, &v);

        if (rc != cases[i].rc)
            fail_msg("'%s' max %llu: %d, not %d", cases[i].text, (unsigned long long)cases[i].max,
                     rc, cases[i].rc);
        assert_int_equal(v, rc == 0 ? cases[i].value : 12345); /* untouched on -1 */
    }
}

/* test_digits - ascii_digits needs one or more digits; ascii_span_digits counts them */
static void test_digits(void **state)
{
    (void)state;
    assert_int_equal(ascii_digits("123", 3), 1);
    assert_int_equal(ascii_digits("123", 2), 1);
    assert_int_equal(ascii_digits("", 0), 0);
    assert_int_equal(ascii_digits("12x", 3), 0);
    assert_int_equal(ascii_digits("\xb9", 1), 0); /* superscript one in Latin-1 */
    assert_int_equal(ascii_span_digits("42abc", 5), 2);
    assert_int_equal(ascii_span_digits("4242", 3), 3);
    assert_int_equal(ascii_span_digits("x1", 2), 0);
}

/* test_uint_base - ascii_uint_base's table: octal and binary digits, max, bad bases */
static void test_uint_base(void **state)
{
    static const struct {
        const char *text;
        unsigned base;
        uint64_t max;
        int rc;
        uint64_t value;
    } cases[] = {
        {"0", 8, 0, 0, 0},
        {"644", 8, 07777, 0, 0644},
        {"0600", 8, 07777, 0, 0600},
        {"7777", 8, 07777, 0, 07777},
        {"10000", 8, 07777, -1, 0},
        {"8", 8, 07777, -1, 0},
        {"9", 8, 07777, -1, 0},
        {"", 8, 07777, -1, 0},
        {"-1", 8, 07777, -1, 0},
        {"0x1", 8, 07777, -1, 0},
        {"101", 2, 255, 0, 5},
        {"102", 2, 255, -1, 0},
        {"65535", 10, 65535, 0, 65535},
        {"65536", 10, 65535, -1, 0},
        {"1777777777777777777777", 8, UINT64_MAX, 0, UINT64_MAX},
        {"2000000000000000000000", 8, UINT64_MAX, -1, 0},
        {"1", 1, 100, -1, 0},
        {"1", 11, 100, -1, 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = 12345;
        int rc =
            ascii_uint_base(cases[i].text, strlen(cases[i].text), cases[i].base, cases[i].max, &v);

        if (rc != cases[i].rc)
            fail_msg("'%s' base %u max %llu: %d, not %d", cases[i].text, cases[i].base,
                     (unsigned long long)cases[i].max, rc, cases[i].rc);
        assert_int_equal(v, rc == 0 ? cases[i].value : 12345); /* untouched on -1 */
    }
}

/* test_classes - letters, digits and alphanumerics by the ASCII table, every byte */
static void test_classes(void **state)
{
    unsigned c;

    (void)state;
    for (c = 0; c < 256; c++) {
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        int digit = c >= '0' && c <= '9';

        assert_int_equal(ascii_is_alpha((unsigned char)c), alpha);
        assert_int_equal(ascii_is_digit((unsigned char)c), digit);
        assert_int_equal(ascii_is_alnum((unsigned char)c), alpha || digit);
    }
}

/* test_user_byte - printable ASCII, the space included, is kept; the rest is '?' */
static void test_user_byte(void **state)
{
    (void)state;
    assert_int_equal(ascii_user_byte('a'), 'a');
    assert_int_equal(ascii_user_byte('~'), '~');
    assert_int_equal(ascii_user_byte('"'), '"');
    assert_int_equal(ascii_user_byte(' '), ' ');
    assert_int_equal(ascii_user_byte(0x00), '?');
    assert_int_equal(ascii_user_byte(0x1f), '?');
    assert_int_equal(ascii_user_byte(0x7f), '?');
    assert_int_equal(ascii_user_byte(0xc3), '?');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uint),      cmocka_unit_test(test_uint_base),
        cmocka_unit_test(test_digits),    cmocka_unit_test(test_classes),
        cmocka_unit_test(test_user_byte),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
