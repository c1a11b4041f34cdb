/*
 * hash - the one keyed 64-bit hash for every in-memory table whose keys someone outside
 * chooses (client addresses, conversations, retransmitted bytes). A table takes a
 * random key when it is created (hash_seed, from the kernel), so that no one who does
 * not know the key can prepare many keys that land in the same bucket or a different
 * input with the same hash.
 *
 * The construction is wyhash's (public domain): 64x64->128-bit multiplies whose two
 * halves are folded together, one per 16 bytes of input, in three independent lanes
 * for long inputs, so that hashing a full-sized segment costs about as much as copying
 * it. The multiply keeps its inputs (the folded product is xored into them), so a zero
 * factor does not wipe out the state. It is fast and spreads well, not a cryptographic
 * MAC: it is for hash tables and for telling copies of bytes apart, never for secrets.
 *
 * hash_bytes hashes any number of bytes; the inline hash_words is the same idea for a
 * short key of whole 64-bit words that the caller builds (an address, a 4-tuple), for
 * the per-packet paths. The two give different values for the same bytes: a table uses
 * one of them for all its keys. Values are not stable across versions or processes:
 * never store them.
 */
#ifndef POPAUTH_HASH_H
#define POPAUTH_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define HASH_P1 0x2d358dccaa6c78a5ULL
#define HASH_P2 0x8bb84b93962eacc9ULL
#define HASH_P3 0x4b33a62ed433d4a3ULL
#define HASH_P4 0x4d5a2da51de1aa47ULL
#define HASH_P5 0x9e3779b97f4a7c15ULL /* wyhash's secrets and the golden ratio */

/* hash_load64 - the 8 bytes at p as a host-order integer (no alignment needed) */
static inline uint64_t hash_load64(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* hash_load32 - the 4 bytes at p as a host-order integer (no alignment needed) */
static inline uint32_t hash_load32(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

/* hash_mum - multiply a and b to 128 bits and fold each half into them */
static inline void hash_mum(uint64_t *a, uint64_t *b)
{
    unsigned __int128 r = (unsigned __int128)*a * *b;

    *a ^= (uint64_t)r;
    *b ^= (uint64_t)(r >> 64);
}

/* hash_mix - a and b multiplied and folded into 64 bits */
static inline uint64_t hash_mix(uint64_t a, uint64_t b)
{
    hash_mum(&a, &b);
    return a ^ b;
}

/*
 * hash_words - a 64-bit hash of the n words at w keyed by seed. The seed is first
 * spread (as wyhash does), then pairs of words go through two independent lanes, four
 * words at a time, so that a key of five words costs three multiplies in a row. Meant
 * for small constant n, where it unrolls.
 */
static inline uint64_t hash_words(uint64_t seed, const uint64_t *w, size_t n)
{
    uint64_t h = seed ^ hash_mix(seed ^ HASH_P1, HASH_P4), last = 0;
    size_t i = 0;

    if (n >= 4) {
        uint64_t g = seed ^ HASH_P5;

        for (; i + 4 <= n; i += 4) {
            h = hash_mix(w[i] ^ HASH_P2, w[i + 1] ^ h);
            g = hash_mix(w[i + 2] ^ HASH_P3, w[i + 3] ^ g);
        }
        h ^= g;
    }
    for (; i + 2 <= n; i += 2)
        h = hash_mix(w[i] ^ HASH_P2, w[i + 1] ^ h);
    if (i < n)
        last = w[i];
    return hash_mix(last ^ HASH_P1 ^ (uint64_t)n, h ^ HASH_P4);
}

/* hash_seed - a random key for a table, from the kernel (getrandom); 0, or -1 and errno */
int hash_seed(uint64_t *seed);

/* hash_bytes - a 64-bit hash of the n bytes at p keyed by seed (p may be NULL if n is 0) */
uint64_t hash_bytes(uint64_t seed, const void *p, size_t n);

#endif
