/*
 * torture_packet - unit tests for popauth/sniff/packet.c. Frames are built byte by byte from a
 * description (link type, cooked packet type and interface index, VLAN tags, IP version,
 * TTL, options and extension headers, length fields, TCP header and option bytes,
 * payload, padding, capture cut; checksums right, or spoiled on purpose), and a table of
 * descriptions names the kind and the segment each must decode to: every link type, VLAN
 * stacks, IPv6 extension headers, fragments, AH/ESP and header chains too long or cut
 * (opaque), and malformed lengths; for each segment also the TTL, window, direction and
 * interface index, the IP-options flag, the TCP timestamp and window scale (read as Linux
 * reads options: NOPs, EOL, malformed lengths, a later option winning, the scale clamped
 * to 14) and what packet_checksum says. Then every Linux packet type of SLL and SLL2;
 * packet_checksum on right, offloaded (bare pseudo-header sum) and wrong checksums, IPv4
 * and IPv6, odd lengths, padding, a wrong IPv4 header checksum and cut segments. Then
 * every boundary: each frame cut at every length, and each length field (IPv4 total
 * length, IPv6 payload length, TCP data offset, extension header length) swept over its
 * range. Every decode reads a heap copy of exactly the captured bytes, so a read past
 * caplen is an ASan error. A few frames are also written out as literal bytes, so that
 * the builder is checked too. Last, the capture-time clamp (packet_time).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include <cmocka.h>

#include "popauth/sniff/packet.h"
#include "shared/addr.h"
#include "shared/cksum.h"

#define T_MAXFRAME 4096

/* A frame under construction. */
struct t_frame {
    uint8_t b[T_MAXFRAME];
    size_t n;
    size_t ip_at;      /* offset of the IP header */
    size_t ip_len_at;  /* offset of its length field */
    size_t tcp_at;     /* offset of the TCP header */
    size_t payload_at; /* offset of the payload */
    size_t ip_end;     /* end of the datagram */
    size_t ext_last;   /* offset of the last IPv6 extension header, 0 if none */
};

/* What to do to a frame's checksums once they are right. */
enum t_sum_edit {
    T_SUM_RIGHT,          /* leave them right */
    T_SUM_PARTIAL,        /* the TCP field: the bare pseudo-header sum (checksum offload) */
    T_SUM_NOT_PARTIAL,    /* the TCP field: that sum complemented */
    T_SUM_TCP_OFF,        /* a bit of the TCP field flipped */
    T_SUM_IP_OFF,         /* a bit of the IPv4 header checksum flipped */
    T_SUM_PARTIAL_IP_OFF, /* both T_SUM_PARTIAL and T_SUM_IP_OFF */
};

/* What to build, and what the decoder must make of it. */
struct t_spec {
    const char *name;
    int dlt;
    /* link layer */
    uint16_t tags[4]; /* VLAN tag protocol ids, outermost first */
    size_t ntags;
    uint16_t ethertype; /* 0: from ipver */
    uint32_t af;        /* DLT_NULL / DLT_LOOP family value */
    int af_le;          /* write af little-endian */
    unsigned pkttype;   /* Linux cooked packet type (16 bits in SLL, 8 in SLL2) */
    uint32_t ifindex;   /* SLL2 interface index */
    /* network layer */
    int ipver;       /* 4 or 6 */
    const char *src; /* default 192.0.2.1 / 2001:db8::1 */
    const char *dst; /* default 198.51.100.7 / 2001:db8::7 */
    uint8_t ttl;     /* IPv4 TTL or IPv6 hop limit; 0: 64 */
    size_t ip4_opts; /* bytes of IPv4 options (multiple of 4) */
    uint16_t frag;   /* IPv4 flags and fragment offset field */
    uint8_t ext[4];  /* IPv6 extension header types, in order */
    uint8_t extlen[4];
    size_t next;
    int proto;     /* transport protocol number; 0 is TCP (a real 0 is hop-by-hop) */
    int len_delta; /* added to the IP length field */
    int len_zero;  /* write 0 as the IP length */
    /* TCP */
    const char *topt; /* TCP option bytes (ntopt), then tcp_opts NOPs: a multiple of 4 */
    size_t ntopt;
    size_t tcp_opts;
    int doff; /* data offset field override, 0: computed */
    const char *payload;
    enum t_sum_edit edit; /* what to do to the checksums */
    size_t pad;           /* bytes after the datagram (Ethernet padding) */
    /* capture */
    size_t cut;       /* caplen = frame - cut */
    size_t wire_more; /* wirelen = frame + wire_more */
    /* expected */
    enum packet_kind kind;
    size_t paylen;
    int truncated;
    const char *want_src, *want_dst; /* if not the addresses given */
    enum packet_dir want_dir;
    uint8_t want_opts;        /* PACKET_OPT_... */
    uint32_t want_tsval;      /* if PACKET_OPT_TS */
    uint8_t want_wscale;      /* if PACKET_OPT_WSCALE */
    enum packet_sum want_sum; /* packet_checksum of the segment as built */
};

/* t_put - append n bytes */
static void t_put(struct t_frame *f, const void *p, size_t n)
{
    assert_true(f->n + n <= sizeof(f->b));
    memcpy(f->b + f->n, p, n);
    f->n += n;
}

/* t_u8 - append a byte */
static void t_u8(struct t_frame *f, unsigned v)
{
    uint8_t b = (uint8_t)v;

    t_put(f, &b, 1);
}

/* t_be16 - append a big-endian 16-bit value */
static void t_be16(struct t_frame *f, unsigned v)
{
    t_u8(f, v >> 8);
    t_u8(f, v);
}

/* t_be32 - append a big-endian 32-bit value */
static void t_be32(struct t_frame *f, uint32_t v)
{
    t_be16(f, v >> 16);
    t_be16(f, v & 0xffff);
}

/* t_zero - append n zero bytes */
static void t_zero(struct t_frame *f, size_t n)
{
    while (n-- > 0)
        t_u8(f, 0);
}

/* t_set16 - overwrite a big-endian 16-bit value at off */
static void t_set16(struct t_frame *f, size_t off, unsigned v)
{
    f->b[off] = (uint8_t)(v >> 8);
    f->b[off + 1] = (uint8_t)v;
}

/* t_addr - append the address text as 4 or 16 bytes */
static void t_addr(struct t_frame *f, int ipver, const char *text)
{
    uint8_t a[16];

    assert_int_equal(inet_pton(ipver == 4 ? AF_INET : AF_INET6, text, a), 1);
    t_put(f, a, ipver == 4 ? 4 : 16);
}

/* t_pseudo - the folded pseudo-header sum of f's TCP segment: what checksum offload
 * leaves in the field */
static uint16_t t_pseudo(const struct t_frame *f)
{
    const uint8_t *ip = f->b + f->ip_at;
    size_t tcplen = f->ip_end - f->tcp_at;
    uint64_t sum = ip[0] >> 4 == 4 ? cksum_add(0, ip + 12, 8) : cksum_add(0, ip + 8, 32);

    return cksum_fold(sum + 6 + tcplen);
}

/* t_checksums - the IPv4 header and TCP checksums of f, right, as a sender's stack sets them */
static void t_checksums(struct t_frame *f)
{
    const uint8_t *ip = f->b + f->ip_at;

    if (ip[0] >> 4 == 4) {
        t_set16(f, f->ip_at + 10, 0);
        t_set16(f, f->ip_at + 10, cksum_field(cksum_add(0, ip, (size_t)(ip[0] & 0x0f) * 4)));
    }
    t_set16(f, f->tcp_at + 16, 0);
    t_set16(f, f->tcp_at + 16,
            cksum_field(cksum_add(t_pseudo(f), f->b + f->tcp_at, f->ip_end - f->tcp_at)));
}

/* t_edit_sums - do e to the (right) checksums of f */
static void t_edit_sums(struct t_frame *f, enum t_sum_edit e)
{
    size_t tsum = f->tcp_at + 16, ipsum = f->ip_at + 10;

    if (e == T_SUM_PARTIAL || e == T_SUM_PARTIAL_IP_OFF)
        t_set16(f, tsum, t_pseudo(f));
    else if (e == T_SUM_NOT_PARTIAL)
        t_set16(f, tsum, (uint16_t)~t_pseudo(f));
    else if (e == T_SUM_TCP_OFF)
        f->b[tsum] ^= 0x01; /* never the other zero: 0x0000 and 0xffff differ in every bit */
    if (e == T_SUM_IP_OFF || e == T_SUM_PARTIAL_IP_OFF)
        f->b[ipsum] ^= 0x01;
}

/* t_link - the link header of spec s */
static void t_link(struct t_frame *f, const struct t_spec *s)
{
    uint16_t type = s->ethertype ? s->ethertype : s->ipver == 4 ? 0x0800 : 0x86dd;
    uint16_t first = s->ntags ? s->tags[0] : type;
    size_t i;

    switch (s->dlt) {
    case PACKET_DLT_EN10MB:
        t_put(f, "\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02", 12);
        t_be16(f, first);
        break;
    case PACKET_DLT_LINUX_SLL:
        t_be16(f, s->pkttype);
        t_be16(f, 1); /* ARPHRD_ETHER */
        t_be16(f, 6); /* address length */
        t_put(f, "\x02\x00\x00\x00\x00\x01\x00\x00", 8);
        t_be16(f, first);
        break;
    case PACKET_DLT_LINUX_SLL2:
        t_be16(f, first);
        t_be16(f, 0); /* reserved */
        t_be32(f, s->ifindex);
        t_be16(f, 1); /* ARPHRD_ETHER */
        t_u8(f, s->pkttype);
        t_u8(f, 6); /* address length */
        t_put(f, "\x02\x00\x00\x00\x00\x01\x00\x00", 8);
        break;
    case PACKET_DLT_NULL:
    case PACKET_DLT_LOOP:
        if (s->af_le) {
            t_u8(f, s->af);
            t_u8(f, s->af >> 8);
            t_u8(f, s->af >> 16);
            t_u8(f, s->af >> 24);
        } else {
            t_be32(f, s->af);
        }
        return;
    default:
        return; /* raw IP and unknown types: no link header */
    }
    for (i = 0; i < s->ntags; i++) {
        t_be16(f, 0x0064 + (unsigned)i); /* priority 0, VLAN id 100 + i */
        t_be16(f, i + 1 < s->ntags ? s->tags[i + 1] : type);
    }
}

/* t_build - the whole frame of spec s */
static void t_build(struct t_frame *f, const struct t_spec *s)
{
    size_t plen = s->payload ? strlen(s->payload) : 0;
    size_t tcplen = 20 + s->ntopt + s->tcp_opts, i, len;
    int proto = s->proto ? s->proto : 6;

    assert_int_equal(tcplen % 4, 0);
    memset(f, 0, sizeof(*f));
    t_link(f, s);
    f->ip_at = f->n;
    if (s->ipver == 4) {
        t_u8(f, 0x40 | (unsigned)((20 + s->ip4_opts) / 4));
        t_u8(f, 0);
        f->ip_len_at = f->n;
        t_be16(f, 0); /* total length, set below */
        t_be16(f, 0x1234);
        t_be16(f, s->frag);
        t_u8(f, s->ttl ? s->ttl : 64);
        t_u8(f, (unsigned)proto);
        t_be16(f, 0); /* header checksum, set below */
        t_addr(f, 4, s->src ? s->src : "192.0.2.1");
        t_addr(f, 4, s->dst ? s->dst : "198.51.100.7");
        for (i = 0; i < s->ip4_opts; i++)
            t_u8(f, 1); /* NOP */
    } else {
        t_be32(f, 0x60000000);
        f->ip_len_at = f->n;
        t_be16(f, 0); /* payload length, set below */
        t_u8(f, s->next ? s->ext[0] : (unsigned)proto);
        t_u8(f, s->ttl ? s->ttl : 64);
        t_addr(f, 6, s->src ? s->src : "2001:db8::1");
        t_addr(f, 6, s->dst ? s->dst : "2001:db8::7");
        for (i = 0; i < s->next; i++) {
            size_t elen = ((size_t)s->extlen[i] + 1) * 8;

            f->ext_last = f->n;
            t_u8(f, i + 1 < s->next ? s->ext[i + 1] : (unsigned)proto);
            t_u8(f, s->extlen[i]);
            t_zero(f, elen - 2);
        }
    }
    f->tcp_at = f->n;
    t_be16(f, 40000);
    t_be16(f, 110);
    t_be32(f, 0x01020304);
    t_be32(f, 0xa0b0c0d0);
    t_u8(f, (unsigned)(s->doff ? s->doff : (int)tcplen / 4) << 4);
    t_u8(f, PACKET_ACK | 0x08 /* PSH */);
    t_be16(f, 29200); /* window: 0x7210 */
    t_be16(f, 0);     /* checksum, set below */
    t_be16(f, 0);
    if (s->ntopt)
        t_put(f, s->topt, s->ntopt);
    for (i = 0; i < s->tcp_opts; i++)
        t_u8(f, 1);
    f->payload_at = f->n;
    if (plen)
        t_put(f, s->payload, plen);
    f->ip_end = f->n;
    len = f->n - f->ip_at - (s->ipver == 6 ? 40 : 0);
    t_set16(f, f->ip_len_at, s->len_zero ? 0 : (unsigned)((int)len + s->len_delta));
    if (proto == 6) {
        t_checksums(f);
        t_edit_sums(f, s->edit);
    }
    for (i = 0; i < s->pad; i++)
        t_u8(f, 0x5a); /* not zeros: summed by mistake, they would change a checksum */
}

/* t_decode - decode the first caplen bytes of f from a heap copy of exactly that size */
static enum packet_kind t_decode(int dlt, const struct t_frame *f, size_t caplen, size_t wirelen,
                                 struct packet *out, uint8_t **copy)
{
    *copy = malloc(caplen ? caplen : 1);
    assert_non_null(*copy);
    memcpy(*copy, f->b, caplen);
    memset(out, 0xa5, sizeof(*out));
    return packet_decode(dlt, *copy, caplen, wirelen, out);
}

/* t_addr_text - canonical text of a decoded address */
static const char *t_addr_text(const struct addr *a, char *buf)
{
    return addr_format(a, buf, ADDR_STRLEN);
}

#define V4       .ipver = 4
#define V6       .ipver = 6
#define ETH      .dlt = PACKET_DLT_EN10MB
#define TCPOK(n) .kind = PACKET_TCP, .paylen = (n)
#define PL       "USER alice\r\n"
#define DIN      .want_dir = PACKET_DIR_IN
#define IPOPT    .want_opts = PACKET_OPT_IP
#define BADSUM   .want_sum = PACKET_SUM_BAD
#define TOPT(o)  .topt = (o), .ntopt = sizeof(o) - 1
#define TS(v)    .want_opts = PACKET_OPT_TS, .want_tsval = (v)
#define WS(v)    .want_opts = PACKET_OPT_WSCALE, .want_wscale = (v)
#define TSWS(v, w)                                                                                 \
    .want_opts = PACKET_OPT_TS | PACKET_OPT_WSCALE, .want_tsval = (v), .want_wscale = (w)
/* a timestamp option: TSval v, TSecr 0 */
#define TSOPT(v) "\x08\x0a" v "\0\0\0\0"

static const struct t_spec t_cases[] = {
    /* Ethernet and VLAN tags */
    {"eth ipv4", ETH, V4, .payload = PL, TCPOK(12)},
    {"eth ipv6", ETH, V6, .payload = PL, TCPOK(12)},
    {"eth ipv4 no payload", ETH, V4, TCPOK(0)},
    {"eth 802.1q", ETH, .tags = {0x8100}, .ntags = 1, V4, .payload = PL, TCPOK(12)},
    {"eth 802.1ad+802.1q", ETH, .tags = {0x88a8, 0x8100}, .ntags = 2, V6, .payload = PL, TCPOK(12)},
    {"eth 0x9100+802.1q", ETH, .tags = {0x9100, 0x8100}, .ntags = 2, V4, .payload = PL, TCPOK(12)},
    {"eth four tags", ETH, .tags = {0x88a8, 0x9100, 0x8100, 0x8100}, .ntags = 4, V4, .payload = PL,
     TCPOK(12)},
    {"eth arp", ETH, .ethertype = 0x0806, V4, .kind = PACKET_OTHER},
    {"eth 802.3 length", ETH, .ethertype = 0x0040, V4, .kind = PACKET_OTHER},
    {"eth vlan then arp", ETH, .tags = {0x8100}, .ntags = 1, .ethertype = 0x0806, V4,
     .kind = PACKET_OTHER},
    {"eth ipv4 type, ipv6 header", ETH, .ethertype = 0x0800, V6, .kind = PACKET_MALFORMED},
    {"eth ipv6 type, ipv4 header", ETH, .ethertype = 0x86dd, V4, .kind = PACKET_MALFORMED},
    {"eth padding cut off", ETH, V4, .payload = "+OK\r\n", .pad = 13, TCPOK(5)},
    {"eth ipv6 padding cut off", ETH, V6, .payload = "x", .pad = 7, TCPOK(1)},
    /* Linux cooked captures */
    {"sll ipv4", .dlt = PACKET_DLT_LINUX_SLL, V4, .payload = PL, TCPOK(12), DIN},
    {"sll ipv6", .dlt = PACKET_DLT_LINUX_SLL, V6, .payload = PL, TCPOK(12), DIN},
    {"sll vlan", .dlt = PACKET_DLT_LINUX_SLL, .tags = {0x8100}, .ntags = 1, V4, .payload = PL,
     TCPOK(12), DIN},
    {"sll arp", .dlt = PACKET_DLT_LINUX_SLL, .ethertype = 0x0806, V4, .kind = PACKET_OTHER},
    {"sll2 ipv4", .dlt = PACKET_DLT_LINUX_SLL2, .ifindex = 0x01020304, V4, .payload = PL, TCPOK(12),
     DIN},
    {"sll outgoing", .dlt = PACKET_DLT_LINUX_SLL, .pkttype = 4, V4, .payload = PL, TCPOK(12),
     .want_dir = PACKET_DIR_OUT},
    {"sll2 otherhost", .dlt = PACKET_DLT_LINUX_SLL2, .pkttype = 3, .ifindex = 0xfffffffe, V6,
     .payload = PL, TCPOK(12), .want_dir = PACKET_DIR_OTHER},
    {"sll2 ipv6", .dlt = PACKET_DLT_LINUX_SLL2, V6, .payload = PL, TCPOK(12), DIN},
    {"sll2 vlan", .dlt = PACKET_DLT_LINUX_SLL2, .tags = {0x88a8, 0x8100}, .ntags = 2, V6,
     .payload = PL, TCPOK(12), DIN},
    {"sll2 ipx", .dlt = PACKET_DLT_LINUX_SLL2, .ethertype = 0x8137, V4, .kind = PACKET_OTHER},
    /* raw IP */
    {"raw ipv4", .dlt = PACKET_DLT_RAW, V4, .payload = PL, TCPOK(12)},
    {"raw ipv6", .dlt = PACKET_DLT_RAW, V6, .payload = PL, TCPOK(12)},
    {"raw bsd ipv4", .dlt = PACKET_DLT_RAW_BSD, V4, .payload = PL, TCPOK(12)},
    {"raw linktype ipv6", .dlt = PACKET_DLT_RAW_LINKTYPE, V6, .payload = PL, TCPOK(12)},
    {"ipv4 dlt", .dlt = PACKET_DLT_IPV4, V4, .payload = PL, TCPOK(12)},
    {"ipv4 dlt, ipv6 packet", .dlt = PACKET_DLT_IPV4, V6, .payload = PL, .kind = PACKET_MALFORMED},
    {"ipv6 dlt", .dlt = PACKET_DLT_IPV6, V6, .payload = PL, TCPOK(12)},
    {"ipv6 dlt, ipv4 packet", .dlt = PACKET_DLT_IPV6, V4, .payload = PL, .kind = PACKET_MALFORMED},
    /* loopback */
    {"null af 2 le", .dlt = PACKET_DLT_NULL, .af = 2, .af_le = 1, V4, .payload = PL, TCPOK(12)},
    {"null af 2 be", .dlt = PACKET_DLT_NULL, .af = 2, V4, .payload = PL, TCPOK(12)},
    {"null af 24 le", .dlt = PACKET_DLT_NULL, .af = 24, .af_le = 1, V6, .payload = PL, TCPOK(12)},
    {"null af 28 be", .dlt = PACKET_DLT_NULL, .af = 28, V6, .payload = PL, TCPOK(12)},
    {"null af 30 le", .dlt = PACKET_DLT_NULL, .af = 30, .af_le = 1, V6, .payload = PL, TCPOK(12)},
    {"null af 30 be", .dlt = PACKET_DLT_NULL, .af = 30, V6, .payload = PL, TCPOK(12)},
    {"null af 10 (linux inet6)", .dlt = PACKET_DLT_NULL, .af = 10, .af_le = 1, V6, .payload = PL,
     .kind = PACKET_OTHER},
    {"null af 17", .dlt = PACKET_DLT_NULL, .af = 17, .af_le = 1, V4, .kind = PACKET_OTHER},
    {"loop af 2", .dlt = PACKET_DLT_LOOP, .af = 2, V4, .payload = PL, TCPOK(12)},
    {"loop af 24", .dlt = PACKET_DLT_LOOP, .af = 24, V6, .payload = PL, TCPOK(12)},
    {"loop af 28", .dlt = PACKET_DLT_LOOP, .af = 28, V6, .payload = PL, TCPOK(12)},
    {"loop af 30", .dlt = PACKET_DLT_LOOP, .af = 30, V6, .payload = PL, TCPOK(12)},
    {"loop af 2 little-endian", .dlt = PACKET_DLT_LOOP, .af = 2, .af_le = 1, V4, .payload = PL,
     .kind = PACKET_OTHER},
    /* other link types */
    {"802.11 radiotap", .dlt = 127, V4, .payload = PL, .kind = PACKET_OTHER},
    {"ppp", .dlt = 9, V4, .payload = PL, .kind = PACKET_OTHER},
    /* IPv4 */
    {"ipv4 options", ETH, V4, .ip4_opts = 12, .payload = PL, TCPOK(12), IPOPT},
    {"ipv4 most options", ETH, V4, .ip4_opts = 40, .payload = PL, TCPOK(12), IPOPT},
    {"ipv4 DF", ETH, V4, .frag = 0x4000, .payload = PL, TCPOK(12)},
    {"ipv4 MF", ETH, V4, .frag = 0x2000, .payload = PL, .kind = PACKET_FRAGMENT},
    {"ipv4 offset", ETH, V4, .frag = 0x0001, .payload = PL, .kind = PACKET_FRAGMENT},
    {"ipv4 last fragment", ETH, V4, .frag = 0x00b9, .payload = PL, .kind = PACKET_FRAGMENT},
    {"ipv4 udp", ETH, V4, .proto = 17, .payload = PL, .kind = PACKET_OTHER},
    {"ipv4 esp", ETH, V4, .proto = 50, .payload = PL, .kind = PACKET_OPAQUE},
    {"ipv4 ah", ETH, V4, .proto = 51, .payload = PL, .kind = PACKET_OPAQUE},
    {"ipv4 esp fragment", ETH, V4, .proto = 50, .frag = 0x2000, .kind = PACKET_FRAGMENT},
    {"ipv4 udp fragment", ETH, V4, .proto = 17, .frag = 0x2000, .kind = PACKET_FRAGMENT},
    {"ipv4 total length short of tcp", ETH, V4, .payload = PL, .len_delta = -12 - 1,
     .kind = PACKET_MALFORMED},
    {"ipv4 total length past frame", ETH, V4, .payload = PL, .len_delta = 1,
     .kind = PACKET_MALFORMED},
    {"ipv4 total length cuts payload", ETH, V4, .payload = PL, .len_delta = -2, TCPOK(10), BADSUM},
    {"ipv4 total length 0", ETH, V4, .payload = PL, .len_zero = 1, .kind = PACKET_MALFORMED},
    {"ipv4 mapped is not special", ETH, V4, .src = "10.1.2.3", .payload = PL, TCPOK(12)},
    /* IPv6 */
    {"ipv6 hop-by-hop", ETH, V6, .ext = {0}, .extlen = {0}, .next = 1, .payload = PL, TCPOK(12),
     IPOPT},
    {"ipv6 hbh routing dstopts", ETH, V6, .ext = {0, 43, 60}, .extlen = {1, 2, 0}, .next = 3,
     .payload = PL, TCPOK(12), IPOPT},
    {"ipv6 dstopts", ETH, V6, .ext = {60}, .extlen = {3}, .next = 1, .payload = PL, TCPOK(12),
     IPOPT},
    {"ipv6 fragment", ETH, V6, .ext = {44}, .extlen = {0}, .next = 1, .payload = PL,
     .kind = PACKET_FRAGMENT},
    {"ipv6 hbh then fragment", ETH, V6, .ext = {0, 44}, .extlen = {0, 0}, .next = 2, .payload = PL,
     .kind = PACKET_FRAGMENT},
    {"ipv6 udp fragment", ETH, V6, .ext = {44}, .extlen = {0}, .next = 1, .proto = 17,
     .payload = PL, .kind = PACKET_FRAGMENT},
    {"ipv6 fragment then dstopts (may be tcp)", ETH, V6, .ext = {44, 60}, .extlen = {0, 0},
     .next = 2, .proto = 17, .payload = PL, .kind = PACKET_FRAGMENT},
    {"ipv6 fragment mapped", ETH, V6, .src = "::ffff:192.0.2.9", .ext = {44}, .extlen = {0},
     .next = 1, .payload = PL, .kind = PACKET_FRAGMENT, .want_src = "192.0.2.9"},
    {"ipv6 esp", ETH, V6, .proto = 50, .payload = PL, .kind = PACKET_OPAQUE},
    {"ipv6 auth header", ETH, V6, .ext = {0}, .extlen = {0}, .next = 1, .proto = 51, .payload = PL,
     .kind = PACKET_OPAQUE},
    {"ipv6 chain cut by the capture", ETH, V6, .ext = {0, 60}, .extlen = {0, 0}, .next = 2,
     .payload = PL, .cut = 20 + 12 + 7, .kind = PACKET_OPAQUE},
    {"ipv6 udp", ETH, V6, .proto = 17, .payload = PL, .kind = PACKET_OTHER},
    {"ipv6 no next header", ETH, V6, .proto = 59, .payload = PL, .kind = PACKET_OTHER},
    {"ipv6 payload length past frame", ETH, V6, .payload = PL, .len_delta = 1,
     .kind = PACKET_MALFORMED},
    {"ipv6 payload length short of tcp", ETH, V6, .payload = PL, .len_delta = -13,
     .kind = PACKET_MALFORMED},
    {"ipv6 payload length cuts payload", ETH, V6, .payload = PL, .len_delta = -5, TCPOK(7), BADSUM},
    {"ipv6 ext header past payload length", ETH, V6, .ext = {60}, .extlen = {1}, .next = 1,
     .len_delta = -(16 + 20), .kind = PACKET_MALFORMED},
    {"ipv6 mapped addresses", ETH, V6, .src = "::ffff:192.0.2.9", .dst = "::ffff:10.0.0.1",
     .payload = PL, TCPOK(12), .want_src = "192.0.2.9", .want_dst = "10.0.0.1"},
    {"ipv6 compatible is not mapped", ETH, V6, .src = "::192.0.2.9", .payload = PL, TCPOK(12),
     .want_src = "::c000:209"},
    /* TCP */
    {"tcp options", ETH, V4, .tcp_opts = 12, .payload = PL, TCPOK(12)},
    {"tcp most options", ETH, V6, .tcp_opts = 40, .payload = PL, TCPOK(12)},
    {"tcp data offset 4", ETH, V4, .doff = 4, .payload = PL, .kind = PACKET_MALFORMED},
    {"tcp data offset 1", ETH, V4, .doff = 1, .payload = PL, .kind = PACKET_MALFORMED},
    {"tcp data offset past datagram", ETH, V4, .doff = 9, .payload = PL, .kind = PACKET_MALFORMED},
    {"tcp data offset to the end", ETH, V4, .doff = 8, .payload = PL, TCPOK(0)},
    /* TCP options, read as Linux's tcp_parse_options reads them */
    {"tcp linux syn options", ETH, V4,
     TOPT("\x02\x04\x05\xb4\x04\x02" TSOPT("\x11\x22\x33\x44") "\x01\x03\x03\x07"), .payload = PL,
     TCPOK(12), TSWS(0x11223344, 7)},
    {"tcp ts after nops", ETH, V4, TOPT("\x01\x01" TSOPT("\xde\xad\xbe\xef")), .payload = PL,
     TCPOK(12), TS(0xdeadbeef)},
    {"tcp ts first, then nops", ETH, V6, TOPT(TSOPT("\0\0\0\x01")), .tcp_opts = 2, .payload = PL,
     TCPOK(12), TS(1)},
    {"tcp ts, 40 bytes of options", ETH, V4, .tcp_opts = 30, TOPT(TSOPT("\x80\0\0\0")),
     .payload = PL, TCPOK(12), TS(0x80000000)},
    {"tcp later ts wins", ETH, V4, TOPT(TSOPT("\0\0\0\x02") TSOPT("\0\0\0\x01")), .payload = PL,
     TCPOK(12), TS(1)},
    {"tcp ts of 8 bytes is none", ETH, V4, TOPT("\x08\x08\0\0\0\x01\0\0\x03\x03\x05\x01"),
     .payload = PL, TCPOK(12), WS(5)},
    {"tcp eol ends the list", ETH, V4, TOPT("\x01\0" TSOPT("\0\0\0\x01")), .payload = PL,
     TCPOK(12)},
    {"tcp eol after ts", ETH, V4, TOPT(TSOPT("\0\0\0\x03") "\0\x03\x03\x05"), .tcp_opts = 2,
     .payload = PL, TCPOK(12), TS(3)},
    {"tcp option length 0 stops", ETH, V4, TOPT("\x1e\0" TSOPT("\0\0\0\x01")), .payload = PL,
     TCPOK(12)},
    {"tcp option length 1 stops", ETH, V4, TOPT("\x1e\x01" TSOPT("\0\0\0\x01")), .payload = PL,
     TCPOK(12)},
    {"tcp option length 2 is empty", ETH, V4, TOPT("\x1e\x02" TSOPT("\0\0\0\x01")), .payload = PL,
     TCPOK(12), TS(1)},
    {"tcp option past the header stops", ETH, V4,
     TOPT("\x03\x03\x09\x01\x08\x0d\0\0\0\x01\0\0\0\0\x01\x01"), .payload = PL, TCPOK(12), WS(9)},
    {"tcp wscale past the header stops", ETH, V4, TOPT("\x01\x01\x03\x03"), .payload = PL,
     TCPOK(12)},
    {"tcp ts past the header stops", ETH, V4, TOPT("\x01\x01\x01\x01\x08\x0a\0\0\0\x01\0\0"),
     .payload = PL, TCPOK(12)},
    {"tcp kind alone at the end stops", ETH, V4, TOPT("\x03\x03\x02\x08"), .payload = PL, TCPOK(12),
     WS(2)},
    {"tcp wscale 0", ETH, V4, TOPT("\x01\x03\x03\0"), .payload = PL, TCPOK(12), WS(0)},
    {"tcp wscale 14", ETH, V4, TOPT("\x01\x03\x03\x0e"), .payload = PL, TCPOK(12), WS(14)},
    {"tcp wscale 15 is 14", ETH, V4, TOPT("\x01\x03\x03\x0f"), .payload = PL, TCPOK(12), WS(14)},
    {"tcp wscale 255 is 14", ETH, V6, TOPT("\x01\x03\x03\xff"), .payload = PL, TCPOK(12), WS(14)},
    {"tcp wscale of 4 bytes is none", ETH, V4, TOPT("\x03\x04\x07\0"), .payload = PL, TCPOK(12)},
    {"tcp later wscale wins", ETH, V4, TOPT("\x03\x03\x02\x01\x03\x03\x05\x01"), .payload = PL,
     TCPOK(12), WS(5)},
    {"tcp ts behind ipv6 dstopts", ETH, V6, .ext = {60}, .extlen = {0}, .next = 1,
     TOPT("\x01\x01" TSOPT("\0\x01\0\0")), .payload = PL, TCPOK(12),
     .want_opts = PACKET_OPT_IP | PACKET_OPT_TS, .want_tsval = 0x10000},
    {"ipv4 ttl 1", ETH, V4, .ttl = 1, .payload = PL, TCPOK(12)},
    {"ipv6 hop limit 255", ETH, V6, .ttl = 255, .payload = PL, TCPOK(12)},
    /* capture lengths */
    {"snaplen cuts payload", ETH, V4, .payload = PL, .cut = 5, TCPOK(7), .truncated = 1, BADSUM},
    {"snaplen cuts all payload", ETH, V6, .payload = PL, .cut = 12, TCPOK(0), .truncated = 1,
     BADSUM},
    {"snaplen cuts padding only", ETH, V4, .payload = PL, .pad = 6, .cut = 6, TCPOK(12)},
    {"snaplen cuts tcp header", ETH, V4, .payload = PL, .cut = 13, .kind = PACKET_MALFORMED},
    {"wirelen claims more than ip", ETH, V4, .payload = PL, .wire_more = 100, TCPOK(12)},
    {"large offload, ipv4 length 0", ETH, V4, .payload = PL, .len_zero = 1, .wire_more = 70000,
     TCPOK(12), .truncated = 1, BADSUM},
    {"large offload, ipv6 length 0", .dlt = PACKET_DLT_RAW, V6, .payload = PL, .len_zero = 1,
     .wire_more = 70000, TCPOK(12), .truncated = 1, BADSUM},
    {"ipv6 length 0, small frame", ETH, V6, .payload = PL, .len_zero = 1, .wire_more = 1000,
     .kind = PACKET_MALFORMED},
};

/* t_check_segment - the decoded fields of a TCP frame built from s */
static void t_check_segment(const struct t_spec *s, const struct t_frame *f, const uint8_t *copy,
                            const struct packet *p)
{
    char buf[ADDR_STRLEN];
    const char *src = s->want_src     ? s->want_src
                      : s->src        ? s->src
                      : s->ipver == 4 ? "192.0.2.1"
                                      : "2001:db8::1";
    const char *dst = s->want_dst     ? s->want_dst
                      : s->dst        ? s->dst
                      : s->ipver == 4 ? "198.51.100.7"
                                      : "2001:db8::7";

    assert_string_equal(t_addr_text(&p->src, buf), src);
    assert_string_equal(t_addr_text(&p->dst, buf), dst);
    assert_int_equal(p->sport, 40000);
    assert_int_equal(p->dport, 110);
    assert_int_equal(p->seq, 0x01020304);
    assert_int_equal(p->ack, 0xa0b0c0d0);
    assert_int_equal(p->flags, PACKET_ACK | 0x08);
    assert_int_equal(p->window, 29200);
    assert_int_equal(p->ttl, s->ttl ? s->ttl : 64);
    if (p->dir != s->want_dir)
        fail_msg("%s: direction %d, want %d", s->name, p->dir, s->want_dir);
    assert_int_equal(p->ifindex, s->dlt == PACKET_DLT_LINUX_SLL2 ? s->ifindex : 0);
    if (p->opts != s->want_opts)
        fail_msg("%s: options 0x%x, want 0x%x", s->name, p->opts, s->want_opts);
    if ((p->opts & PACKET_OPT_TS) && p->tsval != s->want_tsval)
        fail_msg("%s: tsval 0x%x, want 0x%x", s->name, p->tsval, s->want_tsval);
    if ((p->opts & PACKET_OPT_WSCALE) && p->wscale != s->want_wscale)
        fail_msg("%s: wscale %u, want %u", s->name, p->wscale, s->want_wscale);
    if (p->paylen > 0) {
        assert_ptr_equal(p->payload, copy + f->payload_at);
        assert_memory_equal(p->payload, s->payload, p->paylen);
    }
}

/* t_check_fragment - a fragment or an opaque packet comes with its addresses and the
 * protocol it may carry (always TCP for an opaque one) */
static void t_check_fragment(const struct t_spec *s, const struct packet *p)
{
    char buf[ADDR_STRLEN];
    const char *src = s->want_src     ? s->want_src
                      : s->src        ? s->src
                      : s->ipver == 4 ? "192.0.2.1"
                                      : "2001:db8::1";
    const char *dst = s->ipver == 4 ? "198.51.100.7" : "2001:db8::7";
    int proto = s->proto != 0 ? s->proto : PACKET_PROTO_TCP;

    if (s->ipver == 6 && s->ext[0] == 44 && s->next > 1 && s->ext[1] == 60)
        proto = PACKET_PROTO_TCP; /* an extension header first: it may be TCP */
    if (s->kind == PACKET_OPAQUE)
        proto = PACKET_PROTO_TCP;
    assert_string_equal(t_addr_text(&p->src, buf), src);
    assert_string_equal(t_addr_text(&p->dst, buf), dst);
    if (p->proto != proto)
        fail_msg("%s: fragment proto %d, want %d", s->name, p->proto, proto);
}

/* t_run - build the frame of s, decode it, and check all that s expects */
static void t_run(const struct t_spec *s)
{
    struct t_frame f;
    struct packet p;
    uint8_t *copy;
    enum packet_kind kind;

    t_build(&f, s);
    kind = t_decode(s->dlt, &f, f.n - s->cut, f.n + s->wire_more, &p, &copy);
    if (kind != s->kind)
        fail_msg("%s: kind %d, want %d", s->name, kind, s->kind);
    if (kind == PACKET_TCP) {
        if (p.paylen != s->paylen || p.truncated != s->truncated)
            fail_msg("%s: paylen %zu truncated %d, want %zu %d", s->name, p.paylen, p.truncated,
                     s->paylen, s->truncated);
        t_check_segment(s, &f, copy, &p);
        if (packet_checksum(&p) != s->want_sum)
            fail_msg("%s: checksum %d, want %d", s->name, packet_checksum(&p), s->want_sum);
    } else if (kind == PACKET_FRAGMENT || kind == PACKET_OPAQUE) {
        t_check_fragment(s, &p);
    }
    free(copy);
}

/* test_packet_table - every case of t_cases */
static void test_packet_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++)
        t_run(&t_cases[i]);
}

/* test_packet_direction - the packet type of SLL (16 bits) and SLL2 (a byte): 0 arrived,
 * 4 sent, anything else another host's; and SLL2's interface index */
static void test_packet_direction(void **state)
{
    static const struct {
        int dlt;
        unsigned type;
        enum packet_dir dir;
    } cases[] = {
        {PACKET_DLT_LINUX_SLL, 0, PACKET_DIR_IN},         /* PACKET_HOST */
        {PACKET_DLT_LINUX_SLL, 1, PACKET_DIR_OTHER},      /* PACKET_BROADCAST */
        {PACKET_DLT_LINUX_SLL, 2, PACKET_DIR_OTHER},      /* PACKET_MULTICAST */
        {PACKET_DLT_LINUX_SLL, 3, PACKET_DIR_OTHER},      /* PACKET_OTHERHOST */
        {PACKET_DLT_LINUX_SLL, 4, PACKET_DIR_OUT},        /* PACKET_OUTGOING */
        {PACKET_DLT_LINUX_SLL, 5, PACKET_DIR_OTHER},      /* PACKET_LOOPBACK */
        {PACKET_DLT_LINUX_SLL, 7, PACKET_DIR_OTHER},      /* PACKET_KERNEL */
        {PACKET_DLT_LINUX_SLL, 0x0400, PACKET_DIR_OTHER}, /* the high byte counts */
        {PACKET_DLT_LINUX_SLL, 0x0100, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL, 0xffff, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL2, 0, PACKET_DIR_IN},
        {PACKET_DLT_LINUX_SLL2, 1, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL2, 2, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL2, 3, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL2, 4, PACKET_DIR_OUT},
        {PACKET_DLT_LINUX_SLL2, 5, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL2, 7, PACKET_DIR_OTHER},
        {PACKET_DLT_LINUX_SLL2, 0xff, PACKET_DIR_OTHER},
    };
    size_t i;
    int v;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (v = 4; v <= 6; v += 2) {
            char name[64];
            struct t_spec s = {name,
                               .dlt = cases[i].dlt,
                               .pkttype = cases[i].type,
                               .ifindex = 0x9e3779b9u * (uint32_t)(i + 1),
                               .ipver = v,
                               .payload = PL,
                               TCPOK(12),
                               .want_dir = cases[i].dir};

            snprintf(name, sizeof(name), "dlt %d type 0x%x ipv%d", s.dlt, s.pkttype, v);
            t_run(&s);
        }
    }
}

#define PARTIAL .want_sum = PACKET_SUM_PARTIAL

/* The checksums of segments built right, then spoiled or not (t_sum_edit). */
static const struct t_spec t_sum_cases[] = {
    /* right */
    {"v4", ETH, V4, .payload = PL, TCPOK(12)},
    {"v6", ETH, V6, .payload = PL, TCPOK(12)},
    {"v4 no payload", .dlt = PACKET_DLT_RAW, V4, TCPOK(0)},
    {"v4 odd payload", ETH, V4, .payload = "x", TCPOK(1)},
    {"v4 odd payload 13", ETH, V4, .payload = "PASS secret\r\n", TCPOK(13)},
    {"v6 odd payload", ETH, V6, .payload = "abc", TCPOK(3)},
    {"v4 odd payload, padding", ETH, V4, .payload = "+OK\r\n", .pad = 13, TCPOK(5)},
    {"v6 odd payload, padding", ETH, V6, .payload = "x", .pad = 7, TCPOK(1)},
    {"v4 ip and tcp options", ETH, V4, .ip4_opts = 12, .tcp_opts = 12, .payload = PL, TCPOK(12),
     IPOPT},
    {"v6 extension headers", ETH, V6, .ext = {0, 60}, .extlen = {0, 1}, .next = 2, .payload = PL,
     TCPOK(12), IPOPT},
    {"v6 mapped", .dlt = PACKET_DLT_LINUX_SLL2, V6, .src = "::ffff:192.0.2.9", .payload = PL,
     TCPOK(12), .want_src = "192.0.2.9", DIN},
    /* partial: what checksum offload leaves */
    {"v4 partial", ETH, V4, .payload = PL, TCPOK(12), .edit = T_SUM_PARTIAL, PARTIAL},
    {"v6 partial", ETH, V6, .payload = PL, TCPOK(12), .edit = T_SUM_PARTIAL, PARTIAL},
    {"v4 partial, no payload", ETH, V4, TCPOK(0), .edit = T_SUM_PARTIAL, PARTIAL},
    {"v4 partial, odd payload", ETH, V4, .payload = "x", TCPOK(1), .edit = T_SUM_PARTIAL, PARTIAL},
    {"v6 partial, odd payload", ETH, V6, .payload = "abcde", TCPOK(5), .edit = T_SUM_PARTIAL,
     PARTIAL},
    {"v4 partial, padding", ETH, V4, .payload = "+OK\r\n", .pad = 13, TCPOK(5),
     .edit = T_SUM_PARTIAL, PARTIAL},
    {"v6 partial, extension headers", ETH, V6, .ext = {60}, .extlen = {0}, .next = 1, .payload = PL,
     TCPOK(12), IPOPT, .edit = T_SUM_PARTIAL, PARTIAL},
    /* bad */
    {"v4 tcp wrong", ETH, V4, .payload = PL, TCPOK(12), .edit = T_SUM_TCP_OFF, BADSUM},
    {"v6 tcp wrong", ETH, V6, .payload = PL, TCPOK(12), .edit = T_SUM_TCP_OFF, BADSUM},
    {"v4 tcp wrong, odd payload", ETH, V4, .payload = "x", TCPOK(1), .edit = T_SUM_TCP_OFF, BADSUM},
    {"v4 partial complemented", ETH, V4, .payload = PL, TCPOK(12), .edit = T_SUM_NOT_PARTIAL,
     BADSUM},
    {"v6 partial complemented", ETH, V6, .payload = PL, TCPOK(12), .edit = T_SUM_NOT_PARTIAL,
     BADSUM},
    {"v4 ip header wrong", ETH, V4, .payload = PL, TCPOK(12), .edit = T_SUM_IP_OFF, BADSUM},
    {"v4 ip header with options wrong", ETH, V4, .ip4_opts = 8, .payload = PL, TCPOK(12), IPOPT,
     .edit = T_SUM_IP_OFF, BADSUM},
    {"v4 ip header wrong, partial", ETH, V4, .payload = PL, TCPOK(12), .edit = T_SUM_PARTIAL_IP_OFF,
     BADSUM},
    {"v4 right, ip length short", ETH, V4, .payload = PL, .len_delta = -1, TCPOK(11), BADSUM},
    {"v4 right, capture cut", ETH, V4, .payload = PL, .cut = 1, TCPOK(11), .truncated = 1, BADSUM},
    {"v6 partial, capture cut", ETH, V6, .payload = PL, .cut = 3, TCPOK(9), .truncated = 1,
     .edit = T_SUM_PARTIAL, BADSUM},
};

/* test_packet_checksum - every case of t_sum_cases; and the field checksum offload leaves
 * for 10.251.0.2 -> 10.251.0.1 with 40 bytes of TCP, written out */
static void test_packet_checksum(void **state)
{
    const struct t_spec veth = {"veth",
                                .dlt = PACKET_DLT_RAW,
                                V4,
                                .src = "10.251.0.2",
                                .dst = "10.251.0.1",
                                .tcp_opts = 20,
                                TCPOK(0)};
    struct t_frame f;
    struct packet p;
    uint8_t *copy;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(t_sum_cases) / sizeof(t_sum_cases[0]); i++)
        t_run(&t_sum_cases[i]);
    t_build(&f, &veth);
    t_set16(&f, f.tcp_at + 16, 0x1627);
    assert_int_equal(t_decode(veth.dlt, &f, f.n, f.n, &p, &copy), PACKET_TCP);
    assert_int_equal(packet_checksum(&p), PACKET_SUM_PARTIAL);
    free(copy);
}

/* test_packet_every_cut - each valid frame cut at every length: MALFORMED (OPAQUE inside
 * an IPv6 header chain), then a gap whose checksum is BAD */
static void test_packet_every_cut(void **state)
{
    size_t i, cap;

    (void)state;
    for (i = 0; i < sizeof(t_cases) / sizeof(t_cases[0]); i++) {
        const struct t_spec *s = &t_cases[i];
        struct t_frame f;

        if (s->kind != PACKET_TCP || s->cut || s->wire_more || s->pad || s->len_delta || s->doff)
            continue;
        t_build(&f, s);
        for (cap = 0; cap < f.n; cap++) {
            struct packet p;
            uint8_t *copy;
            enum packet_kind kind = t_decode(s->dlt, &f, cap, f.n, &p, &copy);

            if (f.ext_last && cap >= f.ip_at + 40 && cap < f.ext_last + 2) {
                if (kind != PACKET_OPAQUE) /* the receiver's stack reads the headers on */
                    fail_msg("%s cut at %zu: kind %d, want OPAQUE", s->name, cap, kind);
            } else if (cap < f.payload_at) {
                if (kind != PACKET_MALFORMED)
                    fail_msg("%s cut at %zu: kind %d, want MALFORMED", s->name, cap, kind);
            } else {
                if (kind != PACKET_TCP || !p.truncated || p.paylen != cap - f.payload_at)
                    fail_msg("%s cut at %zu: kind %d paylen %zu truncated %d", s->name, cap, kind,
                             p.paylen, p.truncated);
                t_check_segment(s, &f, copy, &p);
                assert_int_equal(packet_checksum(&p), PACKET_SUM_BAD); /* cannot be computed */
            }
            free(copy);
        }
    }
}

/* t_length_sweep - every value of the IP length field what of s, which leaves out skip bytes */
static void t_length_sweep(const struct t_spec *s, size_t skip, size_t hdrs, const char *what)
{
    struct t_frame f;
    size_t onwire;
    unsigned len;

    t_build(&f, s);
    onwire = f.n - f.ip_at - skip; /* what the field may cover */
    for (len = 0; len <= 0xffff; len++) {
        struct packet p;
        uint8_t *copy;
        enum packet_kind kind;

        t_set16(&f, f.ip_len_at, len);
        kind = t_decode(s->dlt, &f, f.n, f.n, &p, &copy);
        if (len < hdrs || len > onwire) {
            if (kind != PACKET_MALFORMED)
                fail_msg("%s %u: kind %d, want MALFORMED", what, len, kind);
        } else if (kind != PACKET_TCP || p.paylen != len - hdrs || p.truncated) {
            fail_msg("%s %u: kind %d paylen %zu", what, len, kind, p.paylen);
        }
        free(copy);
    }
}

/* test_packet_ipv4_length_sweep - every IPv4 total length against a 60-byte padded frame */
static void test_packet_ipv4_length_sweep(void **state)
{
    const struct t_spec s = {"sweep", ETH, V4, .ip4_opts = 4, .payload = "abcdefgh", .pad = 10};

    (void)state;
    t_length_sweep(&s, 0, 24 + 20, "total length"); /* IPv4 header with options, TCP */
}

/* test_packet_ipv6_length_sweep - every IPv6 payload length, with a routing header */
static void test_packet_ipv6_length_sweep(void **state)
{
    const struct t_spec s = {
        "sweep",   .dlt = PACKET_DLT_LINUX_SLL2, V6,       .ext = {43}, .extlen = {1},
        .next = 1, .payload = "abcdefgh",        .pad = 10};

    (void)state;
    t_length_sweep(&s, 40, 16 + 20, "payload length"); /* routing header, TCP */
}

/* test_packet_header_length_sweeps - IHL, TCP data offset and extension length, each value */
static void test_packet_header_length_sweeps(void **state)
{
    const struct t_spec s4 = {"ihl", ETH, V4, .ip4_opts = 8, .tcp_opts = 8, .payload = "abcd"};
    const struct t_spec s6 = {
        "ext", ETH, V6, .ext = {60}, .extlen = {1}, .next = 1, .payload = "0123456789abcdef0123"};
    struct t_frame f;
    unsigned v;

    (void)state;
    /* IHL 0..15: 7 is right; below 5 or past the datagram is malformed; otherwise TCP is
     * sought at the wrong place, where the data offset nibble (of the TCP header's
     * sequence number or ack) decides */
    t_build(&f, &s4);
    for (v = 0; v < 16; v++) {
        struct packet p;
        uint8_t *copy;
        enum packet_kind kind;

        f.b[f.ip_at] = (uint8_t)(0x40 | v);
        kind = t_decode(s4.dlt, &f, f.n, f.n, &p, &copy);
        if (v < 5 && kind != PACKET_MALFORMED)
            fail_msg("ihl %u: kind %d, want MALFORMED", v, kind);
        if (v == 7 && (kind != PACKET_TCP || p.paylen != 4))
            fail_msg("ihl 7: kind %d paylen %zu", kind, p.paylen);
        if (kind == PACKET_TCP)
            assert_true(p.payload + p.paylen <= copy + f.n);
        free(copy);
    }
    /* TCP data offset 0..15: 7 is right (8 bytes of options); 8 takes the payload as
     * options; 5 and 6 take options as payload; below 5 or past the datagram: malformed */
    t_build(&f, &s4);
    for (v = 0; v < 16; v++) {
        struct packet p;
        uint8_t *copy;
        enum packet_kind kind;

        f.b[f.tcp_at + 12] = (uint8_t)(v << 4);
        kind = t_decode(s4.dlt, &f, f.n, f.n, &p, &copy);
        if (v < 5 || v > 8) {
            if (kind != PACKET_MALFORMED)
                fail_msg("data offset %u: kind %d, want MALFORMED", v, kind);
        } else if (kind != PACKET_TCP || p.paylen != (size_t)(4 + (7 - (int)v) * 4)) {
            fail_msg("data offset %u: kind %d paylen %zu", v, kind, p.paylen);
        }
        free(copy);
    }
    /* extension header length 0..255: 1 is right; 0 lands TCP 8 bytes early (inside the
     * header's zero padding: data offset 0, malformed); 2..4 land inside the TCP header
     * or payload; larger run past the datagram */
    t_build(&f, &s6);
    for (v = 0; v < 256; v++) {
        struct packet p;
        uint8_t *copy;
        enum packet_kind kind;

        f.b[f.ip_at + 41] = (uint8_t)v;
        kind = t_decode(s6.dlt, &f, f.n, f.n, &p, &copy);
        if (v == 1) {
            if (kind != PACKET_TCP || p.paylen != 20)
                fail_msg("ext length 1: kind %d paylen %zu", kind, p.paylen);
        } else if (v == 0 || v > 4) {
            if (kind != PACKET_MALFORMED)
                fail_msg("ext length %u: kind %d, want MALFORMED", v, kind);
        }
        if (kind == PACKET_TCP)
            assert_true(p.payload + p.paylen <= copy + f.n);
        free(copy);
    }
}

/* test_packet_ipv6_chain_limit - a chain of extension headers longer than the decoder
 * follows is OPAQUE (the receiver may find TCP at its end) */
static void test_packet_ipv6_chain_limit(void **state)
{
    struct t_frame f;
    struct packet p;
    uint8_t *copy;
    unsigned i, n;

    (void)state;
    for (n = 1; n <= 40; n++) {
        enum packet_kind kind;

        memset(&f, 0, sizeof(f));
        f.ip_at = 0;
        t_be32(&f, 0x60000000);
        t_be16(&f, n * 8 + 20);
        t_u8(&f, 60);
        t_u8(&f, 64);
        t_zero(&f, 32);
        for (i = 0; i < n; i++) {
            t_u8(&f, i + 1 < n ? 60 : 6);
            t_zero(&f, 7);
        }
        t_be16(&f, 40000);
        t_be16(&f, 143);
        t_zero(&f, 8);
        t_u8(&f, 0x50);
        t_zero(&f, 7);
        kind = t_decode(PACKET_DLT_RAW, &f, f.n, f.n, &p, &copy);
        assert_int_equal(kind, n <= 16 ? PACKET_TCP : PACKET_OPAQUE);
        free(copy);
    }
}

/* test_packet_literal_frames - frames written out byte by byte, independent of the builder */
static void test_packet_literal_frames(void **state)
{
    /* Ethernet, 802.1Q VLAN 5, IPv4 10.0.0.2 -> 10.0.0.1, TCP 51000 -> 143, seq 1, ack 2,
     * flags PSH|ACK, payload "a1 OK\r\n", then 4 bytes of padding */
    static const uint8_t eth_vlan[] = {
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0x81, 0x00,
        0x00, 0x05, 0x08, 0x00, 0x45, 0x00, 0x00, 0x2f, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06,
        0x00, 0x00, 0x0a, 0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x01, 0xc7, 0x38, 0x00, 0x8f,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x50, 0x18, 0xff, 0xff, 0x00, 0x00,
        0x00, 0x00, 'a',  '1',  ' ',  'O',  'K',  '\r', '\n', 0x00, 0x00, 0x00, 0x00};
    /* Linux cooked v2, IPv6 ::ffff:192.0.2.5 -> 2001:db8::1, TCP 110 -> 40001, SYN|ACK,
     * seq 0xfffffffe, ack 0x80000000, no payload */
    static const uint8_t sll2_v6[] = {
        0x86, 0xdd, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x01, 0x04, 0x06, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x14, 0x06, 0x40,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xc0, 0x00,
        0x02, 0x05, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x01, 0x00, 0x6e, 0x9c, 0x41, 0xff, 0xff, 0xff, 0xfe, 0x80, 0x00,
        0x00, 0x00, 0x50, 0x12, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00};
    /* DLT_NULL from a little-endian BSD, AF_INET6 = 28, then IPv6 with a hop-by-hop header
     * and a fragment header */
    static const uint8_t null_frag[] = {
        0x1c, 0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x00, 0x1c, 0x00, 0x40, 0,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    1,    0,    0,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    2,    0x2c,
        0,    0,    0,    0,    0,    0,    0,    0x06, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x07,
        0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0,    0};
    struct packet p;
    char buf[ADDR_STRLEN];

    (void)state;
    assert_int_equal(
        packet_decode(PACKET_DLT_EN10MB, eth_vlan, sizeof(eth_vlan), sizeof(eth_vlan), &p),
        PACKET_TCP);
    assert_string_equal(addr_format(&p.src, buf, sizeof(buf)), "10.0.0.2");
    assert_string_equal(addr_format(&p.dst, buf, sizeof(buf)), "10.0.0.1");
    assert_int_equal(p.sport, 51000);
    assert_int_equal(p.dport, 143);
    assert_int_equal(p.seq, 1);
    assert_int_equal(p.ack, 2);
    assert_int_equal(p.flags, 0x18);
    assert_int_equal(p.paylen, 7);
    assert_memory_equal(p.payload, "a1 OK\r\n", 7);
    assert_int_equal(p.truncated, 0);
    assert_int_equal(p.window, 0xffff);
    assert_int_equal(p.ttl, 0x40);
    assert_int_equal(p.opts, 0);
    assert_int_equal(p.dir, PACKET_DIR_UNKNOWN);
    assert_int_equal(p.ifindex, 0);

    assert_int_equal(
        packet_decode(PACKET_DLT_LINUX_SLL2, sll2_v6, sizeof(sll2_v6), sizeof(sll2_v6), &p),
        PACKET_TCP);
    assert_int_equal(p.src.family, AF_INET);
    assert_string_equal(addr_format(&p.src, buf, sizeof(buf)), "192.0.2.5");
    assert_int_equal(p.dst.family, AF_INET6);
    assert_string_equal(addr_format(&p.dst, buf, sizeof(buf)), "2001:db8::1");
    assert_int_equal(p.sport, 110);
    assert_int_equal(p.dport, 40001);
    assert_int_equal(p.seq, 0xfffffffeu);
    assert_int_equal(p.ack, 0x80000000u);
    assert_int_equal(p.flags, PACKET_SYN | PACKET_ACK);
    assert_int_equal(p.paylen, 0);
    assert_int_equal(p.ttl, 0x40);
    assert_int_equal(p.dir, PACKET_DIR_OUT); /* packet type 4 */
    assert_int_equal(p.ifindex, 3);

    assert_int_equal(
        packet_decode(PACKET_DLT_NULL, null_frag, sizeof(null_frag), sizeof(null_frag), &p),
        PACKET_FRAGMENT);
    assert_string_equal(addr_format(&p.src, buf, sizeof(buf)), "::1");
    assert_string_equal(addr_format(&p.dst, buf, sizeof(buf)), "::2");
    assert_int_equal(p.proto, PACKET_PROTO_TCP);
    /* the fragment header cut off by the capture: it may be TCP */
    assert_int_equal(packet_decode(PACKET_DLT_NULL, null_frag, 4 + 48, sizeof(null_frag), &p),
                     PACKET_FRAGMENT);
    assert_int_equal(p.proto, PACKET_PROTO_TCP);
}

/* test_packet_literal_checksums - checksums worked out apart from shared/cksum.h (which
 * the builder shares with the decoder): raw IPv4 10.251.0.2 -> 10.251.0.1 and IPv6
 * 2001:db8::2 -> 2001:db8::1, TCP 51000 -> 110, PSH|ACK, the odd payload "USER ab\r\n";
 * each right, then with the TCP field that checksum offload leaves, then with the last
 * byte changed, then (IPv4) with a wrong header checksum */
static void test_packet_literal_checksums(void **state)
{
    static const uint8_t v4[] = {0x45, 0x00, 0x00, 0x31, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06,
                                 0x24, 0xcf, 0x0a, 0xfb, 0x00, 0x02, 0x0a, 0xfb, 0x00, 0x01,
                                 0xc7, 0x38, 0x00, 0x6e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
                                 0x00, 0x02, 0x50, 0x18, 0xff, 0xff, 0xab, 0x0d, 0x00, 0x00,
                                 'U',  'S',  'E',  'R',  ' ',  'a',  'b',  '\r', '\n'};
    static const uint8_t v6[] = {
        0x60, 0x00, 0x00, 0x00, 0x00, 0x1d, 0x06, 0x40, 0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x20, 0x01, 0x0d, 0xb8,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0xc7, 0x38,
        0x00, 0x6e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x50, 0x18, 0xff, 0xff,
        0x65, 0x91, 0x00, 0x00, 'U',  'S',  'E',  'R',  ' ',  'a',  'b',  '\r', '\n'};
    static const struct {
        const uint8_t *frame;
        size_t len, tcp_at;
        uint16_t partial; /* the pseudo-header sum: 29 bytes of TCP */
    } cases[] = {{v4, sizeof(v4), 20, 0x161c}, {v6, sizeof(v6), 40, 0x5b98}};
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *b = malloc(cases[i].len);
        struct packet p;

        assert_non_null(b);
        memcpy(b, cases[i].frame, cases[i].len);
        assert_int_equal(packet_decode(PACKET_DLT_RAW, b, cases[i].len, cases[i].len, &p),
                         PACKET_TCP);
        assert_int_equal(packet_checksum(&p), PACKET_SUM_OK);
        b[cases[i].tcp_at + 16] = (uint8_t)(cases[i].partial >> 8);
        b[cases[i].tcp_at + 17] = (uint8_t)cases[i].partial;
        assert_int_equal(packet_checksum(&p), PACKET_SUM_PARTIAL);
        memcpy(b, cases[i].frame, cases[i].len);
        b[cases[i].len - 1] ^= 0x01;
        assert_int_equal(packet_checksum(&p), PACKET_SUM_BAD);
        memcpy(b, cases[i].frame, cases[i].len);
        if (cases[i].tcp_at == 20) {
            b[11] ^= 0x01;
            assert_int_equal(packet_checksum(&p), PACKET_SUM_BAD);
        }
        free(b);
    }
}

/* test_packet_urgent - the URG flag reaches the caller (the receiver takes the urgent byte
 * out of the stream, so whoever follows it must know) */
static void test_packet_urgent(void **state)
{
    /* raw IPv4 192.0.2.1 -> 198.51.100.7, TCP 40000 -> 110, URG|ACK|PSH, urgent pointer 1,
     * one byte "\n" */
    static const uint8_t urg[] = {0x45, 0x00, 0x00, 0x29, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x00,
                                  0x00, 192,  0,    2,    1,    198,  51,   100,  7,    0x9c, 0x40,
                                  0x00, 0x6e, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02, 0x50,
                                  0x38, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, '\n'};
    struct packet p;

    (void)state;
    assert_int_equal(packet_decode(PACKET_DLT_RAW, urg, sizeof(urg), sizeof(urg), &p), PACKET_TCP);
    assert_int_equal(p.flags, PACKET_URG | PACKET_ACK | 0x08);
    assert_int_equal(p.proto, PACKET_PROTO_TCP);
    assert_int_equal(p.paylen, 1);
}

/* test_packet_mapped_zeroes - a mapped address decodes to the same struct as plain IPv4 */
static void test_packet_mapped_zeroes(void **state)
{
    const struct t_spec s4 = {"v4", .dlt = PACKET_DLT_RAW, V4, .src = "192.0.2.9", .payload = "x"};
    const struct t_spec s6 = {"v6", .dlt = PACKET_DLT_RAW, V6, .src = "::ffff:192.0.2.9",
                              .payload = "x"};
    struct t_frame f;
    struct packet a, b;
    uint8_t *copy;

    (void)state;
    t_build(&f, &s4);
    assert_int_equal(t_decode(s4.dlt, &f, f.n, f.n, &a, &copy), PACKET_TCP);
    free(copy);
    t_build(&f, &s6);
    assert_int_equal(t_decode(s6.dlt, &f, f.n, f.n, &b, &copy), PACKET_TCP);
    free(copy);
    assert_int_equal(a.src.family, b.src.family);
    assert_memory_equal(a.src.bytes, b.src.bytes, sizeof(a.src.bytes));
    assert_int_equal(addr_compare(&a.src, &b.src), 0);
}

/* test_packet_tiny_frames - empty and 1..3-byte frames of every link type */
static void test_packet_tiny_frames(void **state)
{
    static const int dlts[] = {PACKET_DLT_NULL,      PACKET_DLT_EN10MB,       PACKET_DLT_RAW,
                               PACKET_DLT_RAW_BSD,   PACKET_DLT_RAW_LINKTYPE, PACKET_DLT_LOOP,
                               PACKET_DLT_LINUX_SLL, PACKET_DLT_IPV4,         PACKET_DLT_IPV6,
                               PACKET_DLT_LINUX_SLL2};
    static const uint8_t bytes[4] = {0x45, 0x00, 0x00, 0x02};
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(dlts) / sizeof(dlts[0]); i++) {
        assert_int_equal(packet_link_supported(dlts[i]), 1);
        for (n = 0; n < sizeof(bytes); n++) {
            uint8_t *copy = malloc(n ? n : 1);
            struct packet p;

            assert_non_null(copy);
            memcpy(copy, bytes, n);
            assert_int_equal(packet_decode(dlts[i], copy, n, n, &p), PACKET_MALFORMED);
            free(copy);
        }
    }
    assert_int_equal(packet_link_supported(127), 0);
    assert_int_equal(packet_link_supported(9), 0);
    assert_int_equal(packet_link_supported(-1), 0);
}

/* test_packet_time - capture times convert, and no input overflows */
static void test_packet_time(void **state)
{
    (void)state;
    assert_int_equal(packet_time(1700000000, 123456), 1700000000123456LL);
    assert_int_equal(packet_time(0, 0), 0);
    assert_int_equal(packet_time(-5, 7), 0);
    assert_int_equal(packet_time(10, -1), 10000000);
    assert_int_equal(packet_time(10, 5000000), 10999999);
    assert_int_equal(packet_time(INT64_MAX, 999999), (PACKET_MAX_SEC - 1) * 1000000 + 999999);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packet_table),
        cmocka_unit_test(test_packet_direction),
        cmocka_unit_test(test_packet_checksum),
        cmocka_unit_test(test_packet_every_cut),
        cmocka_unit_test(test_packet_ipv4_length_sweep),
        cmocka_unit_test(test_packet_ipv6_length_sweep),
        cmocka_unit_test(test_packet_header_length_sweeps),
        cmocka_unit_test(test_packet_ipv6_chain_limit),
        cmocka_unit_test(test_packet_literal_frames),
        cmocka_unit_test(test_packet_literal_checksums),
        cmocka_unit_test(test_packet_urgent),
        cmocka_unit_test(test_packet_mapped_zeroes),
        cmocka_unit_test(test_packet_tiny_frames),
        cmocka_unit_test(test_packet_time),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
