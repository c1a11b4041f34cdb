/*
 * cksum - the Internet checksum (RFC 1071): the ones'-complement sum of 16-bit
 * big-endian words that IPv4 headers and TCP segments carry. The sniffer checks it on
 * the segments it takes from clients; the tools that write packets for the tests and
 * benchmarks fill it in. Header only: the functions are inline.
 *
 * A sum is built with cksum_add over any number of pieces (each but the last of even
 * length), then cksum_fold gives the 16-bit ones'-complement sum: a header or segment
 * whose checksum field is right folds to 0xffff, and the value to store in the field
 * is the complement of the fold taken with the field at zero.
 */
#ifndef POPAUTH_CKSUM_H
#define POPAUTH_CKSUM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* cksum_fold - a running sum folded to 16 bits (ones'-complement addition) */
static inline uint16_t cksum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/*
 * cksum_add - add len bytes at p, as big-endian 16-bit words, to a running sum. The
 * words are summed four bytes at a time in the host's order and the folded total
 * swapped once: the ones'-complement sum does not depend on byte order (RFC 1071 2.B).
 */
static inline uint64_t cksum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    uint64_t acc = 0;
    uint32_t w;
    uint16_t h;

    for (; len >= 4; p += 4, len -= 4) {
        memcpy(&w, p, 4);
        acc += w;
    }
    if (len >= 2) {
        memcpy(&h, p, 2);
        acc += h;
        p += 2;
        len -= 2;
    }
    h = cksum_fold(acc);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    h = __builtin_bswap16(h);
#endif
    sum += h;
    if (len == 1)
        sum += (uint32_t)p[0] << 8;
    return sum;
}

/* cksum_field - the value a checksum field holds for a running sum taken with it at 0 */
static inline uint16_t cksum_field(uint64_t sum)
{
    return (uint16_t)~cksum_fold(sum);
}

#endif
