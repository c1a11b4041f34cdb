/*
 * torture_hash - unit tests for shared/hash.c: the key from the kernel, the same seed
 * and bytes giving the same value, other seeds and other bytes giving others, every
 * length from 0 to 100 read within its bounds (each input is an allocation of exactly
 * its length, which the sanitizer build checks), and the word hash for fixed keys.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/hash.h"

#define TORTURE_HASH_MAX 100 /* longest input hashed */

static const uint64_t torture_hash_seeds[] = {0, 1, 0x8000000000000000ULL, 0x0123456789abcdefULL,
                                              UINT64_MAX};
#define TORTURE_HASH_NSEEDS (sizeof(torture_hash_seeds) / sizeof(torture_hash_seeds[0]))

/* torture_hash_input - n pattern bytes in an allocation of exactly n bytes (NULL for 0) */
static uint8_t *torture_hash_input(size_t n)
{
    uint8_t *p;
    size_t i;

    if (n == 0)
        return NULL;
    p = malloc(n);
    assert_non_null(p);
    for (i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 37 + 11);
    return p;
}

/* torture_hash_seed - two keys from the kernel, both drawn and different */
static void torture_hash_seed(void **state)
{
    uint64_t a = 0, b = 0;

    (void)state;
    assert_int_equal(hash_seed(&a), 0);
    assert_int_equal(hash_seed(&b), 0);
    assert_true(a != b);
}

/* torture_hash_same - the same seed and bytes give the same value, also from a copy */
static void torture_hash_same(void **state)
{
    uint8_t copy[TORTURE_HASH_MAX + 1];
    size_t n, s;

    (void)state;
    for (n = 0; n <= TORTURE_HASH_MAX; n++) {
        uint8_t *p = torture_hash_input(n);

        if (n > 0)
            memcpy(copy + 1, p, n); /* another address, unaligned */
        for (s = 0; s < TORTURE_HASH_NSEEDS; s++) {
            uint64_t seed = torture_hash_seeds[s];

            assert_true(hash_bytes(seed, p, n) == hash_bytes(seed, p, n));
            assert_true(hash_bytes(seed, p, n) == hash_bytes(seed, copy + 1, n));
        }
        free(p);
    }
}

/* torture_hash_seeds_differ - for every length, every seed gives another value */
static void torture_hash_seeds_differ(void **state)
{
    size_t n, s, t;

    (void)state;
    for (n = 0; n <= TORTURE_HASH_MAX; n++) {
        uint8_t *p = torture_hash_input(n);
        uint64_t h[TORTURE_HASH_NSEEDS];

        for (s = 0; s < TORTURE_HASH_NSEEDS; s++)
            h[s] = hash_bytes(torture_hash_seeds[s], p, n);
        for (s = 0; s < TORTURE_HASH_NSEEDS; s++)
            for (t = s + 1; t < TORTURE_HASH_NSEEDS; t++)
                if (h[s] == h[t])
                    fail_msg("length %zu: seeds %zu and %zu give the same hash", n, s, t);
        free(p);
    }
}

/* torture_hash_bytes_differ - for every length, changing any one byte, or the length
 * (a prefix of the same bytes), changes the value */
static void torture_hash_bytes_differ(void **state)
{
    const uint64_t seed = 0x5eed5eed5eed5eedULL;
    uint64_t by_len[TORTURE_HASH_MAX + 1];
    uint8_t *whole = torture_hash_input(TORTURE_HASH_MAX);
    size_t n, i, m;

    (void)state;
    for (n = 0; n <= TORTURE_HASH_MAX; n++) {
        uint8_t *p = torture_hash_input(n);
        uint64_t h = hash_bytes(seed, p, n);

        for (i = 0; i < n; i++) {
            p[i] ^= 0x01;
            if (hash_bytes(seed, p, n) == h)
                fail_msg("length %zu: flipping byte %zu keeps the hash", n, i);
            p[i] ^= 0x81;
            if (hash_bytes(seed, p, n) == h)
                fail_msg("length %zu: flipping byte %zu keeps the hash", n, i);
            p[i] ^= 0x80;
        }
        assert_true(hash_bytes(seed, p, n) == h);
        by_len[n] = hash_bytes(seed, whole, n);
        for (m = 0; m < n; m++)
            if (by_len[m] == by_len[n])
                fail_msg("prefixes of %zu and %zu bytes give the same hash", m, n);
        free(p);
    }
    free(whole);
}

/* torture_hash_words - the word hash: deterministic, keyed, and every word counts */
static void torture_hash_words(void **state)
{
    uint64_t w[6] = {0x0102030405060708ULL, 0, 0xffffffffffffffffULL, 42, 0x9e3779b97f4a7c15ULL, 7};
    size_t n, i, s;

    (void)state;
    for (n = 0; n <= 6; n++) {
        uint64_t h = hash_words(1, w, n);

        assert_true(hash_words(1, w, n) == h);
        for (s = 0; s < TORTURE_HASH_NSEEDS; s++)
            if (torture_hash_seeds[s] != 1 && hash_words(torture_hash_seeds[s], w, n) == h)
                fail_msg("%zu words: seed %zu gives the same hash as seed 1", n, s);
        for (i = 0; i < n; i++) {
            w[i] ^= 1ULL << (i * 11);
            if (hash_words(1, w, n) == h)
                fail_msg("%zu words: changing word %zu keeps the hash", n, i);
            w[i] ^= 1ULL << (i * 11);
        }
        if (n > 0 && hash_words(1, w, n - 1) == h)
            fail_msg("%zu words: dropping the last keeps the hash", n);
    }
}

/* torture_hash_spread - keys that differ in one word fill the buckets of a small table
 * about evenly (no bucket takes more than three times its share) */
static void torture_hash_spread(void **state)
{
    enum { BUCKETS = 256, KEYS = 256 * 64 };
    unsigned count[BUCKETS] = {0}, bytes_count[BUCKETS] = {0};
    uint64_t k[5] = {0, 0, 0x20010db800000000ULL, 1, 110};
    unsigned i;

    (void)state;
    for (i = 0; i < KEYS; i++) {
        k[1] = (uint64_t)i << 40; /* only high bytes change */
        count[hash_words(99, k, 5) & (BUCKETS - 1)]++;
        bytes_count[hash_bytes(99, k, sizeof(k)) & (BUCKETS - 1)]++;
    }
    for (i = 0; i < BUCKETS; i++) {
        assert_in_range(count[i], 1, 3 * KEYS / BUCKETS);
        assert_in_range(bytes_count[i], 1, 3 * KEYS / BUCKETS);
    }
}

/* main - run the hash tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_hash_seed),         cmocka_unit_test(torture_hash_same),
        cmocka_unit_test(torture_hash_seeds_differ), cmocka_unit_test(torture_hash_bytes_differ),
        cmocka_unit_test(torture_hash_words),        cmocka_unit_test(torture_hash_spread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
