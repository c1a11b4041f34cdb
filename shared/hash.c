/*
 * hash - the keyed hash of any number of bytes and the key it is drawn with (see
 * hash.h). hash_bytes follows wyhash: the seed is spread first, then up to 16 bytes are
 * read as two overlapping words (never past the end), longer inputs 16 bytes per
 * multiply, in three lanes from 48 bytes on.
 */
#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

#include "shared/hash.h"

/* hash_seed - a random key from the kernel, retrying when a signal interrupts */
int hash_seed(uint64_t *seed)
{
    ssize_t n;

    do
        n = getrandom(seed, sizeof(*seed), 0);
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(*seed))
        return 0;
    if (n >= 0)
        errno = EIO;
    return -1;
}

/* hash_bytes - a 64-bit hash of n bytes keyed by seed */
uint64_t hash_bytes(uint64_t seed, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t a, b;

    seed ^= hash_mix(seed ^ HASH_P1, HASH_P4);
    if (n <= 16) {
        if (n >= 4) {
            size_t mid = (n >> 3) << 2;

            a = (uint64_t)hash_load32(p) << 32 | hash_load32(p + mid);
            b = (uint64_t)hash_load32(p + n - 4) << 32 | hash_load32(p + n - 4 - mid);
        } else if (n > 0) {
            a = (uint64_t)p[0] << 16 | (uint64_t)p[n >> 1] << 8 | p[n - 1];
            b = 0;
        } else {
            a = b = 0;
        }
    } else {
        size_t i = n;

        if (i >= 48) {
            uint64_t see1 = seed, see2 = seed;

            do {
                seed = hash_mix(hash_load64(p) ^ HASH_P2, hash_load64(p + 8) ^ seed);
                see1 = hash_mix(hash_load64(p + 16) ^ HASH_P3, hash_load64(p + 24) ^ see1);
                see2 = hash_mix(hash_load64(p + 32) ^ HASH_P4, hash_load64(p + 40) ^ see2);
                p += 48;
                i -= 48;
            } while (i >= 48);
            seed ^= see1 ^ see2;
        }
        while (i > 16) {
            seed = hash_mix(hash_load64(p) ^ HASH_P2, hash_load64(p + 8) ^ seed);
            i -= 16;
            p += 16;
        }
        a = hash_load64(p + i - 16);
        b = hash_load64(p + i - 8);
    }
    a ^= HASH_P2;
    b ^= seed;
    hash_mum(&a, &b);
    return hash_mix(a ^ HASH_P1 ^ n, b ^ HASH_P2);
}
