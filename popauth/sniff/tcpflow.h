/*
 * tcpflow - the sniffer's TCP layer, without I/O: a bounded table of conversations keyed
 * by their 4-tuple, each direction reassembled into an in-order byte stream that is
 * handed to the owner's handler.
 *
 * Per direction: the next expected sequence number; segments that arrive early are
 * buffered (at most TCPFLOW_OOO_SEGMENTS segments and TCPFLOW_OOO_BYTES bytes per
 * direction, TCPFLOW_OOO_TABLE_BYTES for the whole table) and delivered when the hole
 * closes; a retransmission of bytes already delivered is dropped if it is identical to
 * a run of the last TCPFLOW_RECENT pieces delivered (compared by offset, length and a
 * 64-bit hash keyed by the table's seed, which the caller draws at random per process,
 * so that no one can prepare a different segment with the same hash; a segment that is old bytes
 * plus new ones passes if its old part does, and its new part is delivered); a 1-byte keep-alive
 * probe just before the next byte is dropped if it repeats the last byte delivered. Otherwise
 * (every copy of every byte is compared, whatever its size), or if its bytes differ from a buffered
 * segment they overlap, or if a hole cannot be waited for (buffer full, FIN/RST past a hole, data
 * past a FIN, a segment the capture cut short), or if a segment from either side has URG set (the
 * receiver's stack takes its urgent byte out of the stream the application reads,
 * unless SO_OOBINLINE, which no server can be assumed to set; a bare ACK's urgent
 * pointer can name a byte of a later segment), or if the segment is one that the server's
 * kernel may drop while the table would take it (see below), the flow is DESYNCHRONISED: the
 * handler is told
 * once and gets no more bytes from that flow until it ends. A desynchronised flow stays
 * in the table so that its later packets are not mistaken for a new conversation.
 *
 * Copies the server's kernel may drop (Ptacek and Newsham's insertion): a segment that
 * carries data, SYN or FIN desynchronises its flow when it has IPv4 options or IPv6
 * extension headers, data on a SYN, another TTL or hop limit than its side's first such
 * segment, no TCP timestamp from a side that sent them, a timestamp more than 1 below
 * the highest its side sent (PAWS), or, from the client, a bad IPv4 header or TCP
 * checksum (a TCP field holding the bare pseudo-header sum, which checksum offload and
 * GRO leave, is taken: its bytes are compared like any copy's) or an end past the
 * window the server last offered (once both SYNs were seen). Where the capture recorded
 * the direction (packet.h; the caller clears it where it says nothing about the server),
 * any server segment that arrived rather than left, and any client segment not
 * addressed to this host, desynchronises too. An RST ends the flow whatever its
 * sequence number.
 *
 * A flow starts at a SYN from the client (offsets count from ISN+1) or at the server's
 * SYN-ACK (which gives both sides' offsets), or, for a conversation already open when
 * capture began, at its first segment with data. A side whose offsets did not come from
 * the handshake starts at its first segment with data (or FIN). The handler's open is
 * called at the first byte to deliver, with joined = 0 only if both sides' offsets came
 * from the handshake (else the handler resynchronises at the next line); a conversation
 * that never carries data is never opened. A bare ACK, FIN or RST of an unknown
 * conversation starts nothing. A flow ends at RST, at FIN from both sides, when idle for
 * longer than the timeout (tcpflow_expire), when a client SYN with another initial
 * sequence number reuses its 4-tuple (TCPFLOW_END_CLOSED; a new flow starts), or when
 * the table is full and it is evicted for a new one: the least recently active flow
 * among those no longer followed (desynchronised, stopped), else the least recently
 * active of all. An ended flow is forgotten at once: its stray packets are bare ACKs and
 * FINs, which start nothing, or data (a retransmission after the close, bytes in flight
 * at a reset), which starts a joined conversation, one the login detector never grants
 * from.
 *
 * Times are microseconds given by the caller (packet capture times), never read here.
 * Ownership: the table owns its flows; the handler owns the user pointer it returned
 * from open and releases it in close, which is called exactly once per flow whose open
 * returned non-NULL (also from tcpflow_free). Callbacks must not call into the table.
 * Cost: no allocation per packet once the table has grown (flows are pooled; only
 * buffered out-of-order segments are allocated), no system calls, no clock reads.
 */
#ifndef POPAUTH_TCPFLOW_H
#define POPAUTH_TCPFLOW_H

#include <stddef.h>
#include <stdint.h>

#include "popauth/sniff/packet.h"

#define TCPFLOW_OOO_SEGMENTS    8
#define TCPFLOW_OOO_BYTES       16384
#define TCPFLOW_RECENT          4
#define TCPFLOW_OOO_TABLE_BYTES (4u << 20) /* all flows' buffered segments, with overhead */

enum tcpflow_side { TCPFLOW_CLIENT = 0, TCPFLOW_SERVER = 1 }; /* who sent the bytes */

enum tcpflow_end {
    TCPFLOW_END_CLOSED,
    TCPFLOW_END_RESET,
    TCPFLOW_END_IDLE,
    TCPFLOW_END_EVICTED,
    TCPFLOW_END_SHUTDOWN
};

struct tcpflow_key {
    struct addr client, server;
    uint16_t cport, sport;
};

struct tcpflow_handler {
    /* open - a new conversation, at its first byte; returns the per-flow state, or NULL
     * to ignore the flow (its packets are then dropped cheaply until it ends, and close
     * is not called). joined: picked up without its handshake; usec: the time of the
     * conversation's first packet (its SYN, or the one it was joined at) */
    void *(*open)(void *ctx, const struct tcpflow_key *key, int joined, int64_t usec);
    /* data - the next in-order bytes from side. acked is the number of client-stream
     * bytes the server had acknowledged when it sent these (for TCPFLOW_SERVER; offsets
     * count from the flow's start, 0 while the client's is not known). It is not capped
     * at the client bytes delivered: more says the server took bytes not seen here (one
     * more: the client's FIN). Returns 0, or -1 to stop following the flow (it is
     * then treated as desynchronised without another desync call). */
    int (*data)(void *ctx, void *user, enum tcpflow_side side, const uint8_t *bytes, size_t len,
                uint64_t acked, int64_t usec);
    /* desync - the flow lost track of the stream; no more data calls for it */
    void (*desync)(void *ctx, void *user, const char *why);
    /* close - the flow ended; release user */
    void (*close)(void *ctx, void *user, enum tcpflow_end how);
};

struct tcpflow_stats {
    uint64_t flows;             /* conversations opened (handler open calls) */
    uint64_t joined;            /* of which picked up without their handshake */
    uint64_t desynced;          /* conversations that lost track (opened or not) */
    uint64_t desynced_unopened; /* of which before their first byte (never opened) */
    uint64_t evicted;           /* ended because the table was full */
    uint64_t expired;           /* ended by the idle timeout */
    uint64_t retransmitted;     /* identical retransmissions dropped */
    uint64_t active;            /* conversations in the table that have not ended */
};

struct tcpflow_table; /* opaque */

/*
 * tcpflow_new - a table of at most max_flows conversations (memory grows with use, up
 * to about 280 bytes a flow plus 8 a bucket), idle timeout in usec; seed keys the
 * retransmission hashes and the bucket hash (shared/hash.h; sniff.c draws it with
 * hash_seed for each capture)
 */
struct tcpflow_table *tcpflow_new(size_t max_flows, int64_t timeout_usec, uint64_t seed,
                                  const struct tcpflow_handler *handler, void *ctx);
/* tcpflow_packet - follow one decoded segment; side says which end sent it (by port) */
void tcpflow_packet(struct tcpflow_table *t, const struct packet *p, enum tcpflow_side side,
                    int64_t usec);
/*
 * tcpflow_prefetch_bucket, tcpflow_prefetch_flow - hints for a caller that sees packets
 * coming: a few packets before p reaches tcpflow_packet, prefetch_bucket starts loading
 * the bucket of its conversation and returns a token; a little later prefetch_flow
 * (with that token) starts loading the flow that bucket leads to. They change nothing,
 * so a hint that turns out wrong (the table changed in between) costs only the load.
 */
uint32_t tcpflow_prefetch_bucket(const struct tcpflow_table *t, const struct packet *p,
                                 enum tcpflow_side side);
void tcpflow_prefetch_flow(const struct tcpflow_table *t, uint32_t token);
/* tcpflow_expire - end the flows idle since before usec - timeout */
void tcpflow_expire(struct tcpflow_table *t, int64_t usec);
/* tcpflow_stats - the counters so far */
void tcpflow_stats(const struct tcpflow_table *t, struct tcpflow_stats *out);
/* tcpflow_free - end every flow (TCPFLOW_END_SHUTDOWN) and release t; NULL is allowed */
void tcpflow_free(struct tcpflow_table *t);

#endif
