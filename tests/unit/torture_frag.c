/*
 * torture_frag - unit tests for popauth/sniff/frag.c: a fragment between two addresses
 * is found in either order, from its own time on and not before, the latest time is
 * kept when times step back, IPv4 and IPv6 addresses with the same bytes are different
 * pairs, and with a random key unrelated pairs seldom share a slot.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "popauth/sniff/frag.h"
#include "shared/hash.h"

/* frag_t_addr - an address of family with n in its last bytes (IPv4: in bytes 0..3) */
static struct addr frag_t_addr(int family, uint32_t n)
{
    struct addr a;

    memset(&a, 0, sizeof(a));
    a.family = family;
    a.bytes[0] = 198;
    a.bytes[1] = (uint8_t)(n >> 16);
    a.bytes[2] = (uint8_t)(n >> 8);
    a.bytes[3] = (uint8_t)n;
    return a;
}

/* test_frag_pair - either order, from its time on, the latest time kept */
static void test_frag_pair(void **state)
{
    struct addr a = frag_t_addr(AF_INET, 1), b = frag_t_addr(AF_INET, 2);
    struct frag *t = frag_new(12345);

    (void)state;
    assert_int_equal(frag_since(t, &a, &b, 0), 0);
    frag_note(t, &a, &b, 1000);
    assert_int_equal(frag_since(t, &a, &b, 1000), 1);
    assert_int_equal(frag_since(t, &b, &a, 1000), 1);
    assert_int_equal(frag_since(t, &b, &a, 999), 1);
    assert_int_equal(frag_since(t, &a, &b, 1001), 0);
    frag_note(t, &b, &a, 500); /* a time that steps back does not move it */
    assert_int_equal(frag_since(t, &a, &b, 1000), 1);
    frag_note(t, &b, &a, 2000);
    assert_int_equal(frag_since(t, &a, &b, 2000), 1);
    assert_int_equal(frag_since(t, &a, &b, 2001), 0);
    frag_note(t, &a, &b, 0); /* time 0 is a time */
    frag_free(t);
    frag_free(NULL);
}

/* test_frag_spread - with a random key, 1000 pairs noted leave most other pairs clear,
 * and an IPv6 address with an IPv4 address's bytes is another address */
static void test_frag_spread(void **state)
{
    struct addr server = frag_t_addr(AF_INET, 1), v6 = frag_t_addr(AF_INET6, 7);
    struct addr v4 = frag_t_addr(AF_INET, 7);
    unsigned i, hits = 0;
    uint64_t seed;
    struct frag *t;

    (void)state;
    assert_int_equal(hash_seed(&seed), 0);
    t = frag_new(seed);
    for (i = 0; i < 1000; i++) {
        struct addr c = frag_t_addr(AF_INET, 1000 + i);

        frag_note(t, &c, &server, 10);
    }
    for (i = 0; i < 1000; i++) {
        struct addr c = frag_t_addr(AF_INET, 100000 + i);

        hits += (unsigned)frag_since(t, &server, &c, 10);
    }
    assert_in_range(hits, 0, 500); /* about 1000 * 1000 / FRAG_SLOTS: 220 */
    frag_free(t);

    t = frag_new(seed);
    frag_note(t, &v4, &server, 10);
    for (i = 0, hits = 0; i < 64; i++) { /* another key each time: a collision is 1/4096 */
        frag_free(t);
        t = frag_new(seed + i);
        frag_note(t, &v4, &server, 10);
        hits += (unsigned)frag_since(t, &v6, &server, 10);
    }
    assert_in_range(hits, 0, 2);
    frag_free(t);
}

/* main - run every test */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frag_pair),
        cmocka_unit_test(test_frag_spread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
