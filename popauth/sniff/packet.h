/*
 * packet - one captured frame decoded down to its TCP segment, without I/O and without
 * libpcap: bytes in, a struct packet out.
 *
 * Link types (the pcap DLT numbers, given by the capture): Ethernet with any number of
 * 802.1Q/802.1ad/0x9100 tags, Linux cooked captures v1 and v2 (VLAN tags after them are
 * skipped too), raw IP (IPv4 or IPv6 by the version nibble), BSD loopback (DLT_NULL,
 * DLT_LOOP). Network: IPv4 (options skipped by IHL) and IPv6 (hop-by-hop, routing and
 * destination options headers skipped; a fragment header or an IPv4 fragment is
 * reported as PACKET_FRAGMENT and not reassembled; AH or ESP, or an IPv6 header chain
 * longer than PACKET_IPV6_MAXEXT or cut by the capture, as PACKET_OPAQUE: the
 * receiver may find TCP in it where this decoder does not look; other protocols are
 * PACKET_OTHER).
 * A fragment comes with its addresses and the protocol it carries (IPv4: the protocol
 * field; IPv6: the fragment header's next header), which is PACKET_PROTO_TCP also when
 * it may be TCP without saying so: an IPv6 fragmentable part that starts with an
 * extension header, or a fragment header the capture cut off. Whoever follows TCP must
 * know of such fragments: the receiver reassembles them, this decoder does not.
 * Every length is checked against the captured bytes and the IP total length (Ethernet
 * padding is cut off); anything inconsistent, or a header the capture cut short, is
 * PACKET_MALFORMED. An IP length of 0 in a frame too big for the field (segmentation
 * offload) means "to the end of the frame". An IPv4-mapped IPv6 address comes out as
 * IPv4, like everywhere in the product; an IPv4 address has bytes[4..15] zero.
 * The frame needs no alignment and is never read past caplen. A frame's capture time is
 * carried as microseconds since the epoch (packet_time), never read from a clock here.
 */
#ifndef POPAUTH_PACKET_H
#define POPAUTH_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"

/* The link-layer types understood, by their libpcap DLT_ numbers. */
#define PACKET_DLT_NULL         0
#define PACKET_DLT_EN10MB       1
#define PACKET_DLT_RAW          12 /* DLT_RAW on Linux; 14 on some BSDs is accepted too */
#define PACKET_DLT_RAW_BSD      14
#define PACKET_DLT_RAW_LINKTYPE 101 /* LINKTYPE_RAW: a pcap file's value for DLT_RAW */
#define PACKET_DLT_LOOP         108
#define PACKET_DLT_LINUX_SLL    113
#define PACKET_DLT_IPV4         228
#define PACKET_DLT_IPV6         229
#define PACKET_DLT_LINUX_SLL2   276

/* TCP flags */
#define PACKET_FIN 0x01
#define PACKET_SYN 0x02
#define PACKET_RST 0x04
#define PACKET_ACK 0x10
#define PACKET_URG 0x20

#define PACKET_PROTO_TCP 6 /* struct packet's proto for TCP */

#define PACKET_MAX_SEC 100000000000LL /* capture times are clamped below this (year 5138) */

/* What else the headers carried (struct packet's opts). */
#define PACKET_OPT_TS     0x01 /* a TCP timestamp option: tsval is set */
#define PACKET_OPT_WSCALE 0x02 /* a TCP window scale option: wscale is set */
#define PACKET_OPT_IP     0x04 /* IPv4 options, or IPv6 extension headers */

/* Which way a cooked capture saw the packet go (Linux packet types). */
enum packet_dir {
    PACKET_DIR_UNKNOWN, /* the link type does not say */
    PACKET_DIR_IN,      /* addressed to the capturing host (PACKET_HOST) */
    PACKET_DIR_OUT,     /* sent by the capturing host (PACKET_OUTGOING) */
    PACKET_DIR_OTHER,   /* broadcast, multicast, or for another host (promiscuous) */
};

/* What packet_checksum found. */
enum packet_sum {
    PACKET_SUM_OK,      /* the IPv4 header and TCP checksums are right */
    PACKET_SUM_PARTIAL, /* the TCP field holds the bare pseudo-header sum: checksum
                         * offload (veth, virtio) or GRO left it for hardware */
    PACKET_SUM_BAD,     /* a wrong TCP or IPv4 header checksum, or one that cannot be
                         * computed (the capture cut the segment short) */
};

enum packet_kind {
    PACKET_TCP,       /* a TCP segment: the struct is filled in */
    PACKET_OTHER,     /* not TCP, or a link/network type not followed (ARP, UDP, ...) */
    PACKET_FRAGMENT,  /* an IP fragment: not reassembled; src, dst and proto filled in */
    PACKET_OPAQUE,    /* may hold TCP this decoder cannot reach: src, dst filled in */
    PACKET_MALFORMED, /* lengths or headers do not add up */
};

struct packet {
    struct addr src, dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;          /* PACKET_SYN, ... */
    uint8_t proto;          /* IP protocol: PACKET_PROTO_TCP, or for a fragment its own */
    const uint8_t *payload; /* into the caller's frame */
    size_t paylen;          /* payload bytes present in the capture */
    int truncated;          /* the capture cut the payload short (snaplen): a gap */
    const uint8_t *ip;      /* the IP header, for packet_checksum */
    const uint8_t *tcp;     /* the TCP header, for packet_checksum */
    uint32_t tsval;         /* TCP timestamp value (PACKET_OPT_TS) */
    uint32_t ifindex;       /* SLL2: the capturing interface's index; else 0 */
    uint16_t window;        /* TCP window field, unscaled */
    uint8_t wscale;         /* window scale shift (PACKET_OPT_WSCALE), at most 14 */
    uint8_t ttl;            /* IPv4 TTL or IPv6 hop limit */
    uint8_t opts;           /* PACKET_OPT_... */
    uint8_t dir;            /* enum packet_dir */
};

/* packet_time - a capture time (seconds, microseconds) as microseconds since the epoch,
 * clamped to [0, PACKET_MAX_SEC) so that no input can overflow it */
int64_t packet_time(int64_t sec, int64_t usec);
/* packet_link_supported - 1 if dlt is one of the link types above */
int packet_link_supported(int dlt);
/*
 * packet_decode - decode a frame of link type dlt: caplen bytes captured of wirelen on
 * the wire (a wirelen below caplen is taken as caplen). PACKET_TCP fills out;
 * PACKET_FRAGMENT fills out's src, dst and proto, PACKET_OPAQUE its src and dst (and
 * proto PACKET_PROTO_TCP); the other kinds leave it undefined.
 */
enum packet_kind packet_decode(int dlt, const uint8_t *frame, size_t caplen, size_t wirelen,
                               struct packet *out);
/* packet_checksum - check the IPv4 header and TCP checksums of a PACKET_TCP segment whose
 * frame is still in place */
enum packet_sum packet_checksum(const struct packet *p);

#endif
