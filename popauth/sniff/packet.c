/*
 * packet - the sniffer's frame decoder (see packet.h for the contract).
 *
 * The decoder walks the frame with an offset and two ends: cap, the bytes captured, and
 * wire, the bytes the frame had on the wire (never less than cap). A header must lie
 * wholly within cap to be read; a length field may point past cap only if it stays
 * within wire, which is what a short snaplen looks like (the segment is then reported
 * with truncated set); past wire it is a lie and the frame is PACKET_MALFORMED. Every
 * multi-byte field is read byte by byte, so the frame needs no alignment.
 *
 * Link layers: Ethernet, and Linux cooked captures, may carry any number of VLAN tags
 * (802.1Q 0x8100, 802.1ad 0x88a8, and the older 0x9100); each is 4 bytes and is skipped.
 * Loopback captures carry the address family as 4 bytes: DLT_NULL in the byte order of
 * the capturing machine (either order is accepted), DLT_LOOP in network order; AF_INET
 * is 2 everywhere and AF_INET6 is 24, 28 or 30 depending on the BSD flavour.
 *
 * Direction: a Linux cooked capture records the packet type (SLL: bytes 0-1; SLL2: byte
 * 10, after the interface index at 4-7): 0 arrived for this host, 4 sent by it, 1-3
 * broadcast, multicast or another host's; anything else is taken as "another host's".
 *
 * TCP options are read as Linux's tcp_parse_options reads them: NOP skipped, EOL or a
 * malformed length ends the list, a later option of a kind wins, a window scale above 14
 * is taken as 14.
 *
 * IP lengths: an IPv4 total length or IPv6 payload length shorter than the frame is
 * honoured (Ethernet padding is cut off). A length of 0 in a frame with more than 65,535
 * bytes of IP on the wire is the "too big to say" of large segmentation offload, and the
 * frame's own length is used instead; anywhere else a length that does not cover the
 * headers is PACKET_MALFORMED.
 */
#include <string.h>
#include <sys/socket.h>

#include "popauth/sniff/packet.h"
#include "shared/cksum.h"

#define PACKET_ETH_HLEN    14
#define PACKET_SLL_HLEN    16
#define PACKET_SLL2_HLEN   20
#define PACKET_LOOP_HLEN   4
#define PACKET_VLAN_HLEN   4
#define PACKET_IPV4_HLEN   20
#define PACKET_IPV6_HLEN   40
#define PACKET_TCP_HLEN    20
#define PACKET_IP_MAXLEN   65535
#define PACKET_IPV6_MAXEXT 16 /* extension headers followed before giving up */

#define PACKET_ETHERTYPE_IPV4   0x0800
#define PACKET_ETHERTYPE_IPV6   0x86dd
#define PACKET_ETHERTYPE_8021Q  0x8100
#define PACKET_ETHERTYPE_8021AD 0x88a8
#define PACKET_ETHERTYPE_QINQ   0x9100

#define PACKET_TCPOPT_EOL       0
#define PACKET_TCPOPT_NOP       1
#define PACKET_TCPOPT_WSCALE    3
#define PACKET_TCPOPT_TIMESTAMP 8
#define PACKET_WSCALE_MAX       14

#define PACKET_SLL_OUTGOING 4 /* Linux packet type of a packet the host sent */

#define PACKET_PROTO_ESP      50
#define PACKET_PROTO_AH       51
#define PACKET_PROTO_HOPOPTS  0
#define PACKET_PROTO_ROUTING  43
#define PACKET_PROTO_FRAGMENT 44
#define PACKET_PROTO_DSTOPTS  60

/* Which network layer the link layer announced. */
enum packet_net { PACKET_NET_NONE, PACKET_NET_IPV4, PACKET_NET_IPV6, PACKET_NET_BYVERSION };

/* The bounds of one frame while it is decoded. */
struct packet_frame {
    const uint8_t *b;
    size_t cap;  /* bytes captured */
    size_t wire; /* bytes on the wire, >= cap */
};

static const uint8_t packet_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* packet_time - a capture time as microseconds, clamped so that nothing overflows */
int64_t packet_time(int64_t sec, int64_t usec)
{
    if (sec < 0)
        return 0;
    if (sec >= PACKET_MAX_SEC)
        sec = PACKET_MAX_SEC - 1;
    if (usec < 0)
        usec = 0;
    if (usec > 999999)
        usec = 999999;
    return sec * 1000000 + usec;
}

/* packet_be16 - the big-endian 16-bit value at p */
static uint16_t packet_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

/* packet_be32 - the big-endian 32-bit value at p */
static uint32_t packet_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* packet_loop_family - the network layer named by a BSD address family value */
static enum packet_net packet_loop_family(uint32_t af)
{
    if (af == 2)
        return PACKET_NET_IPV4;
    if (af == 24 || af == 28 || af == 30)
        return PACKET_NET_IPV6;
    return PACKET_NET_NONE;
}

/* packet_ethertype - the network layer named by an ethertype */
static enum packet_net packet_ethertype(uint16_t type)
{
    if (type == PACKET_ETHERTYPE_IPV4)
        return PACKET_NET_IPV4;
    if (type == PACKET_ETHERTYPE_IPV6)
        return PACKET_NET_IPV6;
    return PACKET_NET_NONE;
}

/* packet_is_vlan - 1 if type is one of the VLAN tag ethertypes */
static int packet_is_vlan(uint16_t type)
{
    return type == PACKET_ETHERTYPE_8021Q || type == PACKET_ETHERTYPE_8021AD ||
           type == PACKET_ETHERTYPE_QINQ;
}

/* packet_direction - the direction named by a Linux packet type */
static uint8_t packet_direction(unsigned type)
{
    if (type == 0)
        return PACKET_DIR_IN;
    if (type == PACKET_SLL_OUTGOING)
        return PACKET_DIR_OUT;
    return PACKET_DIR_OTHER;
}

/*
 * packet_link - skip the link header of fr; sets *off to the network header and *net to
 * its kind. Returns PACKET_TCP to go on, or the kind the frame ends as.
 */
static enum packet_kind packet_link(int dlt, const struct packet_frame *fr, size_t *off,
                                    enum packet_net *net, struct packet *out)
{
    const uint8_t *b = fr->b;
    size_t type_at;
    uint16_t type;

    switch (dlt) {
    case PACKET_DLT_RAW:
    case PACKET_DLT_RAW_BSD:
    case PACKET_DLT_RAW_LINKTYPE:
        *off = 0;
        *net = PACKET_NET_BYVERSION;
        return PACKET_TCP;
    case PACKET_DLT_IPV4:
        *off = 0;
        *net = PACKET_NET_IPV4;
        return PACKET_TCP;
    case PACKET_DLT_IPV6:
        *off = 0;
        *net = PACKET_NET_IPV6;
        return PACKET_TCP;
    case PACKET_DLT_NULL:
    case PACKET_DLT_LOOP: {
        uint32_t be, le;

        if (fr->cap < PACKET_LOOP_HLEN)
            return PACKET_MALFORMED;
        be = packet_be32(b);
        le = (uint32_t)b[3] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[1] << 8 | b[0];
        *net = packet_loop_family(be);
        if (*net == PACKET_NET_NONE && dlt == PACKET_DLT_NULL)
            *net = packet_loop_family(le);
        *off = PACKET_LOOP_HLEN;
        return *net == PACKET_NET_NONE ? PACKET_OTHER : PACKET_TCP;
    }
    case PACKET_DLT_EN10MB:
        type_at = 12;
        *off = PACKET_ETH_HLEN;
        break;
    case PACKET_DLT_LINUX_SLL:
        type_at = 14;
        *off = PACKET_SLL_HLEN;
        break;
    case PACKET_DLT_LINUX_SLL2:
        type_at = 0;
        *off = PACKET_SLL2_HLEN;
        break;
    default:
        return PACKET_OTHER;
    }
    if (fr->cap < *off)
        return PACKET_MALFORMED;
    if (dlt == PACKET_DLT_LINUX_SLL) {
        out->dir = packet_direction(packet_be16(b));
    } else if (dlt == PACKET_DLT_LINUX_SLL2) {
        out->dir = packet_direction(b[10]);
        out->ifindex = packet_be32(b + 4);
    }
    type = packet_be16(b + type_at);
    while (packet_is_vlan(type)) {
        if (fr->cap - *off < PACKET_VLAN_HLEN)
            return PACKET_MALFORMED;
        type = packet_be16(b + *off + 2);
        *off += PACKET_VLAN_HLEN;
    }
    *net = packet_ethertype(type);
    return *net == PACKET_NET_NONE ? PACKET_OTHER : PACKET_TCP;
}

/*
 * packet_ip_end - where the IP datagram at off ends, from its length field (field plus
 * fixed bytes, hlen at least); 0 if the length cannot be right
 */
static size_t packet_ip_end(const struct packet_frame *fr, size_t off, size_t hlen, size_t field,
                            size_t fixed)
{
    size_t onwire = fr->wire - off, len = field + fixed;

    if (field == 0 && onwire - fixed > PACKET_IP_MAXLEN)
        return fr->wire; /* large segmentation offload: the frame says how long */
    if (len < hlen || len > onwire)
        return 0;
    return off + len;
}

/* packet_set_addr6 - store a 16-byte IPv6 address, mapped IPv4 as AF_INET */
static void packet_set_addr6(struct addr *a, const uint8_t *p)
{
    if (memcmp(p, packet_mapped_prefix, sizeof(packet_mapped_prefix)) == 0) {
        a->family = AF_INET;
        memcpy(a->bytes, p + 12, 4);
        memset(a->bytes + 4, 0, sizeof(a->bytes) - 4);
    } else {
        a->family = AF_INET6;
        memcpy(a->bytes, p, 16);
    }
}

/* packet_set_addr4 - store a 4-byte IPv4 address */
static void packet_set_addr4(struct addr *a, const uint8_t *p)
{
    a->family = AF_INET;
    memcpy(a->bytes, p, 4);
    memset(a->bytes + 4, 0, sizeof(a->bytes) - 4);
}

/* packet_sealed - 1 (and out->proto TCP) if proto is AH or ESP, which may wrap TCP that
 * the receiver's IPsec unwraps */
static int packet_sealed(unsigned proto, struct packet *out)
{
    if (proto != PACKET_PROTO_AH && proto != PACKET_PROTO_ESP)
        return 0;
    out->proto = PACKET_PROTO_TCP;
    return 1;
}

/*
 * packet_ipv4 - decode the IPv4 header at *off: addresses into out, *off moved to the
 * transport header, *end set to the end of the datagram. PACKET_TCP to go on.
 */
static enum packet_kind packet_ipv4(const struct packet_frame *fr, size_t *off, size_t *end,
                                    struct packet *out)
{
    const uint8_t *ip = fr->b + *off;
    size_t hlen;

    if (fr->cap - *off < PACKET_IPV4_HLEN || ip[0] >> 4 != 4)
        return PACKET_MALFORMED;
    hlen = (size_t)(ip[0] & 0x0f) * 4;
    if (hlen < PACKET_IPV4_HLEN || hlen > fr->cap - *off)
        return PACKET_MALFORMED;
    if ((*end = packet_ip_end(fr, *off, hlen, packet_be16(ip + 2), 0)) == 0)
        return PACKET_MALFORMED;
    packet_set_addr4(&out->src, ip + 12);
    packet_set_addr4(&out->dst, ip + 16);
    out->proto = ip[9];
    out->ip = ip;
    out->ttl = ip[8];
    if (hlen > PACKET_IPV4_HLEN)
        out->opts |= PACKET_OPT_IP;
    if ((packet_be16(ip + 6) & 0x3fff) != 0) /* MF, or a fragment offset */
        return PACKET_FRAGMENT;
    if (packet_sealed(ip[9], out))
        return PACKET_OPAQUE;
    if (ip[9] != PACKET_PROTO_TCP)
        return PACKET_OTHER;
    *off += hlen;
    return PACKET_TCP;
}

/*
 * packet_fragment6 - the protocol of the IPv6 fragment whose fragment header is at pos
 * (datagram ending at end) into out->proto: its next header, or PACKET_PROTO_TCP when
 * that is an extension header that may come before TCP, or cannot be read
 */
static void packet_fragment6(const struct packet_frame *fr, size_t pos, size_t end,
                             struct packet *out)
{
    unsigned next;

    out->proto = PACKET_PROTO_TCP;
    if (pos >= fr->cap || pos >= end)
        return;
    next = fr->b[pos];
    if (next != PACKET_PROTO_HOPOPTS && next != PACKET_PROTO_ROUTING &&
        next != PACKET_PROTO_FRAGMENT && next != PACKET_PROTO_DSTOPTS)
        out->proto = (uint8_t)next;
}

/*
 * packet_ipv6 - decode the IPv6 header at *off and its extension headers: addresses into
 * out, *off moved to the TCP header, *end set to the end of the datagram.
 */
static enum packet_kind packet_ipv6(const struct packet_frame *fr, size_t *off, size_t *end,
                                    struct packet *out)
{
    const uint8_t *ip = fr->b + *off;
    size_t pos, plen;
    unsigned next, n;

    if (fr->cap - *off < PACKET_IPV6_HLEN || ip[0] >> 4 != 6)
        return PACKET_MALFORMED;
    plen = packet_be16(ip + 4);
    if ((*end = packet_ip_end(fr, *off, PACKET_IPV6_HLEN, plen, PACKET_IPV6_HLEN)) == 0)
        return PACKET_MALFORMED;
    next = ip[6];
    pos = *off + PACKET_IPV6_HLEN;
    packet_set_addr6(&out->src, ip + 8);
    packet_set_addr6(&out->dst, ip + 24);
    out->proto = PACKET_PROTO_TCP;
    out->ip = ip;
    out->ttl = ip[7];
    for (n = 0; next != PACKET_PROTO_TCP; n++) {
        size_t extlen;

        out->opts |= PACKET_OPT_IP;
        if (next == PACKET_PROTO_FRAGMENT) {
            packet_fragment6(fr, pos, *end, out);
            return PACKET_FRAGMENT;
        }
        if (packet_sealed(next, out))
            return PACKET_OPAQUE;
        if (next != PACKET_PROTO_HOPOPTS && next != PACKET_PROTO_ROUTING &&
            next != PACKET_PROTO_DSTOPTS)
            return PACKET_OTHER;
        if (*end - pos < 2)
            return PACKET_MALFORMED;
        if (n == PACKET_IPV6_MAXEXT || pos > fr->cap || fr->cap - pos < 2)
            return PACKET_OPAQUE; /* the receiver's stack reads on */
        extlen = ((size_t)fr->b[pos + 1] + 1) * 8;
        if (extlen > *end - pos)
            return PACKET_MALFORMED;
        next = fr->b[pos];
        pos += extlen;
    }
    *off = pos;
    return PACKET_TCP;
}

/* packet_tcp_options - read the TCP options at o (len bytes) that the flow table uses */
static void packet_tcp_options(const uint8_t *o, size_t len, struct packet *out)
{
    size_t i = 0, n;

    while (i < len && o[i] != PACKET_TCPOPT_EOL) {
        if (o[i] == PACKET_TCPOPT_NOP) {
            i++;
            continue;
        }
        if (len - i < 2 || (n = o[i + 1]) < 2 || n > len - i)
            return;
        if (o[i] == PACKET_TCPOPT_TIMESTAMP && n == 10) {
            out->tsval = packet_be32(o + i + 2);
            out->opts |= PACKET_OPT_TS;
        } else if (o[i] == PACKET_TCPOPT_WSCALE && n == 3) {
            out->wscale = o[i + 2] < PACKET_WSCALE_MAX ? o[i + 2] : PACKET_WSCALE_MAX;
            out->opts |= PACKET_OPT_WSCALE;
        }
        i += n;
    }
}

/* packet_tcp - decode the TCP header at off of a datagram ending at end into out */
static enum packet_kind packet_tcp(const struct packet_frame *fr, size_t off, size_t end,
                                   struct packet *out)
{
    const uint8_t *th = fr->b + off;
    size_t hlen, capend = end < fr->cap ? end : fr->cap;

    if (off > capend || capend - off < PACKET_TCP_HLEN)
        return PACKET_MALFORMED;
    hlen = (size_t)(th[12] >> 4) * 4;
    if (hlen < PACKET_TCP_HLEN || hlen > capend - off)
        return PACKET_MALFORMED;
    out->sport = packet_be16(th);
    out->dport = packet_be16(th + 2);
    out->seq = packet_be32(th + 4);
    out->ack = packet_be32(th + 8);
    out->flags = th[13];
    out->window = packet_be16(th + 14);
    out->proto = PACKET_PROTO_TCP;
    out->tcp = th;
    if (hlen > PACKET_TCP_HLEN)
        packet_tcp_options(th + PACKET_TCP_HLEN, hlen - PACKET_TCP_HLEN, out);
    out->payload = th + hlen;
    out->paylen = capend - off - hlen;
    out->truncated = capend < end;
    return PACKET_TCP;
}

/* packet_link_supported - 1 if dlt is one of the link types above */
int packet_link_supported(int dlt)
{
    switch (dlt) {
    case PACKET_DLT_NULL:
    case PACKET_DLT_EN10MB:
    case PACKET_DLT_RAW:
    case PACKET_DLT_RAW_BSD:
    case PACKET_DLT_RAW_LINKTYPE:
    case PACKET_DLT_LOOP:
    case PACKET_DLT_LINUX_SLL:
    case PACKET_DLT_IPV4:
    case PACKET_DLT_IPV6:
    case PACKET_DLT_LINUX_SLL2:
        return 1;
    default:
        return 0;
    }
}

/* packet_decode - decode one frame down to its TCP segment; see packet.h */
enum packet_kind packet_decode(int dlt, const uint8_t *frame, size_t caplen, size_t wirelen,
                               struct packet *out)
{
    struct packet_frame fr = {frame, caplen, wirelen > caplen ? wirelen : caplen};
    enum packet_net net;
    enum packet_kind kind;
    size_t off = 0, end = 0;

    out->opts = 0;
    out->dir = PACKET_DIR_UNKNOWN;
    out->ifindex = 0;
    if ((kind = packet_link(dlt, &fr, &off, &net, out)) != PACKET_TCP)
        return kind;
    if (net == PACKET_NET_BYVERSION) {
        if (off >= fr.cap)
            return PACKET_MALFORMED;
        net = frame[off] >> 4 == 4 ? PACKET_NET_IPV4 : PACKET_NET_IPV6;
    }
    if (net == PACKET_NET_IPV4)
        kind = packet_ipv4(&fr, &off, &end, out);
    else
        kind = packet_ipv6(&fr, &off, &end, out);
    if (kind != PACKET_TCP)
        return kind;
    return packet_tcp(&fr, off, end, out);
}

/* packet_checksum - check the IPv4 header and TCP checksums; see packet.h */
enum packet_sum packet_checksum(const struct packet *p)
{
    size_t tcplen = (size_t)(p->payload - p->tcp) + p->paylen;
    uint64_t pseudo;
    uint8_t tail[4];

    if (p->truncated)
        return PACKET_SUM_BAD;
    if (p->ip[0] >> 4 == 4) {
        if (cksum_fold(cksum_add(0, p->ip, (size_t)(p->ip[0] & 0x0f) * 4)) != 0xffff)
            return PACKET_SUM_BAD;
        pseudo = cksum_add(0, p->ip + 12, 8);
    } else {
        pseudo = cksum_add(0, p->ip + 8, 32);
    }
    tail[0] = (uint8_t)(tcplen >> 24);
    tail[1] = (uint8_t)(tcplen >> 16);
    tail[2] = (uint8_t)(tcplen >> 8);
    tail[3] = (uint8_t)tcplen;
    pseudo = cksum_add(pseudo, tail, 4) + PACKET_PROTO_TCP;
    if (cksum_fold(cksum_add(pseudo, p->tcp, tcplen)) == 0xffff)
        return PACKET_SUM_OK;
    if (packet_be16(p->tcp + 16) == cksum_fold(pseudo))
        return PACKET_SUM_PARTIAL;
    return PACKET_SUM_BAD;
}
