/*
 * packet - one captured frame decoded down to its TCP segment, without I/O and without
 * libpcap: bytes in, a struct packet out.
 *
 * Link types (the pcap DLT numbers, given by the capture): Ethernet with any number of
 * 802.1Q/802.1ad/0x9100 tags, Linux cooked captures v1 and v2 (VLAN tags after them are
 * skipped too), raw IP (IPv4 or IPv6 by the version nibble), BSD loopback (DLT_NULL,
 * DLT_LOOP). Network: IPv4 (options skipped by IHL) and IPv6 (hop-by-hop, routing and
 * destination options headers skipped; a fragment header or an IPv4 fragment is
 * reported as PACKET_FRAGMENT and not reassembled; other protocols are PACKET_OTHER).
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
 * The frame needs no alignment and is never read past caplen.
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

enum packet_kind {
    PACKET_TCP,       /* a TCP segment: the struct is filled in */
    PACKET_OTHER,     /* not TCP, or a link/network type not followed (ARP, UDP, ...) */
    PACKET_FRAGMENT,  /* an IP fragment: not reassembled; src, dst and proto filled in */
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
};

/* packet_link_supported - 1 if dlt is one of the link types above */
int packet_link_supported(int dlt);
/*
 * packet_decode - decode a frame of link type dlt: caplen bytes captured of wirelen on
 * the wire (a wirelen below caplen is taken as caplen). PACKET_TCP fills out;
 * PACKET_FRAGMENT fills out's src, dst and proto; the other kinds leave it undefined.
 */
enum packet_kind packet_decode(int dlt, const uint8_t *frame, size_t caplen, size_t wirelen,
                               struct packet *out);

#endif
