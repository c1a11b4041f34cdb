/*
 * wire - the sniffer's pipeline without libpcap and without I/O: captured frames in,
 * confirmed logins out. The capture source (sniff.c) and the pcap fuzz target both feed
 * frames through it, so they exercise the same code.
 *
 * Each frame is decoded (packet.h); a TCP segment is kept only if one of its ports is in
 * sniff_ports (ports.h), and the side that sent it is told by that port: to the port, the
 * client; from it, the server. Kept segments go to a flow table (tcpflow.h) whose
 * conversations each own a login detector (pop3imap.h) for the protocol of their server
 * port; every in-order byte is fed to it. A confirmed login is handed to the owner's
 * login callback with the client address and the capture time, and the conversation is
 * followed no further (it cannot log in twice); a conversation that loses track is
 * reported to the desync callback and followed no further, and one that switches to TLS
 * is dropped quietly. A conversation no longer followed keeps its flow table entry and
 * its address (for its stray packets) until it ends, but its detector is cleared and its
 * buffers released at once. Idle conversations are swept at most once per
 * WIRE_EXPIRE_USEC of capture time, from wire_packet, or by the owner (wire_expire) when
 * no packets come.
 *
 * Two things a server sees that the flow table cannot follow make a conversation give
 * up (desync, counted) rather than guess:
 *   - IP fragments. The server's stack reassembles them; this pipeline does not. A
 *     login confirmed on a conversation between two addresses with a fragment that
 *     carries (or may carry) TCP, or an opaque packet, at or after the conversation's
 *     first packet is refused (frag.h).
 *   - Memory. Every detector may hold a partial line of up to max_line bytes per side;
 *     all of them together may hold WIRE_BUFFER_BUDGET bytes (checked after each feed,
 *     so the peak is the budget plus one line). A conversation whose buffers would take
 *     the total past it is given up. With sniff_max_flows conversations the sniffer's
 *     memory is thus bounded by: flow table (about 260 bytes a flow, 8 a bucket),
 *     detector state (WIRE_FLOW_HEAD + pop3imap_size, under 450 bytes a conversation),
 *     out-of-order segments (TCPFLOW_OOO_TABLE_BYTES), detector buffers
 *     (WIRE_BUFFER_BUDGET + max_line) and the fragment table (frag.h: 32 KiB).
 *
 * Whose conversations count (wire_set_hosts): only those whose server address is in
 * sniff_servers are followed; the others are counted (foreign) and never opened, so a
 * login to a server that is not ours, which says +OK to anything, grants nothing. And
 * where the capture records which way a packet went (Linux cooked captures; popauth's
 * live captures are opened that way), a conversation whose server is this host must
 * have its server's segments leaving and its client's addressed to this host (the flow
 * table desynchronises it otherwise: tcpflow.h); packets on a loopback interface, and
 * conversations with other servers (a capture on a mirror port), are not judged by
 * direction.
 *
 *   - Packet loss in the capture. The owner reports that the kernel dropped packets
 *     (wire_note_loss, with the time it learnt of it); a login confirmed on a
 *     conversation that started at or before that time is refused: the dropped packet
 *     may have been a copy of its bytes that the server read and the sniffer did not.
 *     The owner is asked to look just before each login is reported (before_login).
 *
 * The capture filter (ports.h) lets through more than the sniffed ports; the exact
 * port check is the one made here, after decoding.
 *
 * Times are microseconds since the epoch given by the caller, never read here.
 * Ownership: wire_new allocates; wire_free ends every conversation and releases all.
 * One wire per capture handle (a link type, a flow table of at most max_flows).
 */
#ifndef POPAUTH_WIRE_H
#define POPAUTH_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "popauth/sniff/pcapfile.h"
#include "popauth/sniff/pop3imap.h"
#include "popauth/sniff/ports.h"
#include "popauth/sniff/tcpflow.h"
#include "shared/addr.h"
#include "shared/cidr.h"

#define WIRE_EXPIRE_USEC   1000000     /* sweep idle conversations at most this often */
#define WIRE_BUFFER_BUDGET (16u << 20) /* bytes all detectors together may buffer */

struct wire_limits {
    size_t max_flows;          /* conversations followed at once */
    int64_t flow_timeout_usec; /* forget a conversation idle this long */
    size_t max_line;           /* bytes in a POP3/IMAP line */
    uint64_t seed;             /* keys the flow and fragment tables' hashes (hash_seed) */
};

#define WIRE_MAX_LOOPBACK 8 /* loopback interface indexes remembered */

/* Which servers are ours, and which addresses and interfaces are this host's. The
 * lists are the caller's, and must stay valid until the next wire_set_hosts or wire_free. */
struct wire_hosts {
    const struct cidr_list *servers;      /* follow only conversations with these servers */
    const struct cidr_list *local;        /* this host's addresses; NULL: every server's (a
                                           * capture file, recorded on the server) */
    uint32_t loopback[WIRE_MAX_LOOPBACK]; /* SLL2 interface indexes of loopback devices */
    size_t nloopback;
};

/* A login the server confirmed. Every pointer is valid during the callback only. */
struct wire_login {
    const struct addr *client;
    uint16_t server_port;
    const char *user; /* printable, may be empty */
    enum pop3imap_proto proto;
    int64_t usec; /* capture time of the packet with the server's confirmation */
};

/* A conversation, as named in a desync event (valid during the callback only). */
struct wire_conv {
    const struct addr *client;
    uint16_t client_port, server_port;
};

struct wire_events {
    /* login - the server confirmed a login */
    void (*login)(void *ctx, const struct wire_login *lg);
    /* desync - a conversation lost track (why: a static string); may be NULL */
    void (*desync)(void *ctx, const struct wire_conv *conv, const char *why);
    /* before_login - a login is about to be reported: call wire_note_loss now if the
     * capture lost packets that were not reported yet; may be NULL */
    void (*before_login)(void *ctx);
};

struct wire_stats {
    uint64_t packets;   /* frames seen */
    uint64_t segments;  /* TCP segments to or from a sniffed port, followed */
    uint64_t other;     /* frames of no interest: not TCP, or TCP on other ports */
    uint64_t fragments; /* IP fragments: counted and ignored */
    uint64_t opaque;    /* packets that may hold TCP this decoder cannot reach (AH, ESP,
                         * IPv6 header chains it does not follow): counted and ignored */
    uint64_t malformed; /* frames whose headers or lengths do not add up */
    uint64_t logins;    /* logins confirmed */
    uint64_t desynced;  /* conversations that lost track (also before they opened) */
    uint64_t tls;       /* conversations that switched to TLS */
    uint64_t foreign;   /* conversations with a server not in sniff_servers: ignored */
    uint64_t buffered;  /* bytes the detectors hold now (at most WIRE_BUFFER_BUDGET) */
    struct tcpflow_stats flows;
};

struct wire; /* opaque */

/* wire_new - a pipeline for frames of link type dlt (packet_link_supported), following
 * the conversations of hosts->servers */
struct wire *wire_new(int dlt, const struct ports *ports, const struct wire_limits *limits,
                      const struct wire_hosts *hosts, const struct wire_events *events, void *ctx);
/* wire_set_hosts - new lists of servers and of this host's addresses and interfaces (at
 * a reload); conversations already followed keep going */
void wire_set_hosts(struct wire *w, const struct wire_hosts *hosts);
/* wire_note_loss - the capture lost packets, learnt at usec: logins of conversations that
 * started at or before then are refused */
void wire_note_loss(struct wire *w, int64_t usec);
/* wire_packet - one captured frame: caplen bytes captured of wirelen, at usec */
void wire_packet(struct wire *w, const uint8_t *frame, size_t caplen, size_t wirelen, int64_t usec);
/*
 * wire_packets - n records (frames of a capture file, in order), exactly as n wire_packet
 * calls, but faster: each frame is decoded, and the flow table's loads for it started, a
 * few frames before its turn. Returns how many records were taken: n, or fewer when a
 * callback called wire_pause (the caller hands the rest over later). The records' bytes
 * must stay in place during the call.
 */
#define WIRE_AHEAD 8 /* frames decoded ahead */
size_t wire_packets(struct wire *w, const struct pcapfile_record *rec, size_t n);
/* wire_pause - from a login or desync callback: the wire_packets call in progress
 * returns after the current frame (no effect on wire_packet) */
void wire_pause(struct wire *w);
/* wire_expire - end the conversations idle since before usec - timeout */
void wire_expire(struct wire *w, int64_t usec);
/* wire_stats - the counters so far */
void wire_stats(const struct wire *w, struct wire_stats *out);
/* wire_free - end every conversation and release w; NULL is allowed */
void wire_free(struct wire *w);

#endif
