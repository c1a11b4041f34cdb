/*
 * frag - the sniffer's memory of IP fragments: when a fragment that carries (or may
 * carry) TCP was last seen between two addresses, without I/O.
 *
 * The server's stack reassembles IP fragments; the pipeline (wire.h) does not, so a
 * segment sent in fragments would be seen by the server only, and a different copy at
 * the same sequence numbers sent whole by the sniffer only. The capture time of the last
 * such fragment is kept per unordered address pair, in a table of FRAG_SLOTS slots
 * indexed by a keyed hash of the pair (shared/hash.h), so that no one can choose
 * addresses that share a slot; pairs that share one share their time: a collision
 * refuses more, never less. The pipeline refuses a login confirmed on a conversation
 * between two addresses with such a fragment at or after the conversation's first
 * packet. Fragments are rare where path MTU discovery works (TCP sets DF), so this costs
 * real logins next to nothing. Opaque packets (packet.h: IPsec, IPv6 header chains past
 * the decoder's limit) count as such fragments: the server may read a copy of the bytes
 * in them. The table takes FRAG_SLOTS * 8 bytes (32 KiB), whatever the traffic.
 *
 * Times are microseconds since the epoch given by the caller; they may step back (the
 * latest is kept). Ownership: frag_new allocates, frag_free releases.
 */
#ifndef POPAUTH_FRAG_H
#define POPAUTH_FRAG_H

#include <stdint.h>

#include "shared/addr.h"

#define FRAG_SLOTS 4096 /* address pairs remembered, a power of two */

struct frag; /* opaque */

/* frag_new - an empty table whose hash is keyed by seed (random per process) */
struct frag *frag_new(uint64_t seed);
/* frag_note - a fragment between a and b (either order) was captured at usec */
void frag_note(struct frag *t, const struct addr *a, const struct addr *b, int64_t usec);
/* frag_since - 1 if a fragment between a and b (either order) was noted at or after start */
int frag_since(const struct frag *t, const struct addr *a, const struct addr *b, int64_t start);
/* frag_free - release t; NULL is allowed */
void frag_free(struct frag *t);

#endif
