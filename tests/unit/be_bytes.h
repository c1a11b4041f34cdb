/*
 * be_bytes - big-endian integers written into byte buffers, for the unit tests that
 * build packets and capture files by hand (torture_wire, torture_pcapfile).
 */
#ifndef POPAUTH_BE_BYTES_H
#define POPAUTH_BE_BYTES_H

#include <stdint.h>

/* be_put16 - v as big-endian 16 bits at p */
static inline void be_put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* be_put32 - v as big-endian 32 bits at p */
static inline void be_put32(uint8_t *p, uint32_t v)
{
    be_put16(p, v >> 16);
    be_put16(p + 2, v & 0xffff);
}

#endif
