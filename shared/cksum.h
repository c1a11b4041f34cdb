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

/* cksum_add - add len bytes at p, as big-endian 16-bit words, to a running sum */
static inline uint64_t cksum_add(uint64_t sum, const uint8_t *p, size_t len)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)p[i] << 8 | p[i + 1];
    if (len & 1)
        sum += (uint32_t)p[len - 1] << 8;
    return sum;
}

/* cksum_fold - a running sum folded to 16 bits (ones'-complement addition) */
static inline uint16_t cksum_fold(uint64_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)sum;
}

/* cksum_field - the value a checksum field holds for a running sum taken with it at 0 */
static inline uint16_t cksum_field(uint64_t sum)
{
    return (uint16_t)~cksum_fold(sum);
}

#endif
