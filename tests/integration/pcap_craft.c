/*
 * pcap_craft - writes crafted capture files for the sniffer's integration tests: one
 * POP3 or IMAP conversation per file, shaped by a scenario (segments out of order or
 * retransmitted, overlapping segments with other bytes, a capture that joins a session
 * already open, IP fragments, an over-long line, bytes inserted for the sniffer alone, a
 * forged reply, a RST, data on a SYN, a small window, ...), wrapped in a chosen link layer
 * and written as pcap or pcapng. The script that runs it states the grants it expects from
 * each file; this tool only writes packets.
 *
 *   pcap_craft [-c CLIENT] [-s SERVER] [-p PORT] [-u USER] [-t UNIXTIME] [-l LINK]
 *              [-f FORMAT] [-x] [-L BYTES] [-T] [-H TTL] [-P] [-i] SCENARIO FILE
 *
 *   -c, -s   client and server addresses, both IPv4 or both IPv6 (198.51.100.7 and
 *            192.0.2.1 by default; with an IPv6 client the server defaults to 2001:db8::1)
 *   -p       the server's port (the scenario's protocol's usual one: 110 or 143)
 *   -u       the user name that logs in (alice)
 *   -t       capture time of the first packet, unix seconds (now); packets follow 1 ms apart
 *   -l       ether (default), vlan (one 802.1Q tag), qinq (802.1ad + 802.1Q), sll (Linux
 *            cooked v1), sll2 (Linux cooked v2), raw (raw IP), null (BSD loopback)
 *   -f       pcap (default) or pcapng
 *   -x       IPv6 only: hop-by-hop, destination options and routing headers before TCP
 *   -L       long-line, imap-long-line: the length of the long line, CRLF included (10000)
 *   -T       TCP timestamps on every segment (TSval counting up per side, the client's
 *            wrapping past 2^32 early; TSecr echoing the other side's last)
 *   -H       the TTL / hop limit of every packet (64)
 *   -P       the client's TCP checksums are "partial": the bare pseudo-header sum, which
 *            checksum offload (veth, virtio, GRO) leaves in the packets a capture sees
 *   -i       insertion scenarios and window: the fake copies carry the real bytes, so
 *            only their shape (checksum, TTL, ...) tells them apart
 *
 * Scenarios (pcap_craft -h lists them): see craft_scenarios and craft_inserts below. Every
 * conversation is consistent TCP (sequence and acknowledgement numbers, checksums) apart
 * from what its scenario forges, so tcpdump and other readers show it as a real one; the
 * server's sequence numbers wrap past 2^32 early in each conversation. A fake segment is
 * one the receiver never takes: the stream offsets and acknowledgements after it are
 * those of the real segments alone. Exit status 0, or 2 on a usage or write error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "shared/cksum.h"
#include "shared/util.h"

#define CRAFT_MAX_FRAMES 4096  /* frames in one file */
#define CRAFT_MAX_FRAME  65536 /* bytes in one frame */
#define CRAFT_MSS        1400  /* payload bytes per segment when a line is split */
#define CRAFT_FRAG_BYTES 24    /* IP payload bytes per fragment (a multiple of 8) */
#define CRAFT_SNAPLEN    262144
#define CRAFT_LINE       512    /* bytes of a command line built with a user name */
#define CRAFT_TTL        64     /* TTL / hop limit unless -H or a fake segment says otherwise */
#define CRAFT_TCP_OPTS   16     /* bytes of TCP options at most: timestamps, window scale */
#define CRAFT_TS_BACK    100000 /* how far an old TSval lies below its side's last */

#define CRAFT_FIN 0x01
#define CRAFT_SYN 0x02
#define CRAFT_RST 0x04
#define CRAFT_PSH 0x08
#define CRAFT_ACK 0x10
#define CRAFT_URG 0x20

#define CRAFT_CLIENT 0
#define CRAFT_SERVER 1

#define CRAFT_PKT(type) ((uint8_t)((type) + 1)) /* an SLL packet type, in craft_over */

/* The TCP checksum a segment carries. */
enum craft_tcpsum {
    CRAFT_SUM_VALID,   /* the Internet checksum */
    CRAFT_SUM_PARTIAL, /* the bare pseudo-header sum (left there by checksum offload) */
    CRAFT_SUM_BAD      /* neither */
};

/* The TCP timestamp option of a segment, when the conversation has timestamps. */
enum craft_ts {
    CRAFT_TS_NEXT, /* the side's next TSval */
    CRAFT_TS_OLD,  /* CRAFT_TS_BACK below the side's last */
    CRAFT_TS_NONE  /* no timestamp option */
};

/* The IPv4 options of a packet. */
enum craft_ipopt {
    CRAFT_OPT_NONE,
    CRAFT_OPT_NOP, /* NOP, NOP, NOP, EOL */
    CRAFT_OPT_LSRR /* a loose source route followed to its end, EOL */
};

/* How the segments of a side, or one fake segment, differ from the usual (0: they don't). */
struct craft_over {
    uint8_t ttl;       /* TTL / hop limit (0: -H, else CRAFT_TTL) */
    uint8_t ipopt;     /* enum craft_ipopt */
    uint8_t ipsum_bad; /* a wrong IPv4 header checksum */
    uint8_t tcpsum;    /* enum craft_tcpsum */
    uint8_t ts;        /* enum craft_ts */
    uint8_t pkttype;   /* CRAFT_PKT(SLL packet type) (0: 0 from the client, 4 from the server) */
};

/* The link layers written, by their pcap LINKTYPE_ numbers (what a file header holds). */
enum craft_link {
    CRAFT_ETHER,
    CRAFT_VLAN,
    CRAFT_QINQ,
    CRAFT_SLL,
    CRAFT_SLL2,
    CRAFT_RAW,
    CRAFT_NULL
};

/* The -l names: each link layer and the LINKTYPE_ value its file header holds. */
static const struct {
    const char *name;
    enum craft_link link;
    uint32_t linktype;
} craft_links[] = {
    {"ether", CRAFT_ETHER, 1}, {"vlan", CRAFT_VLAN, 1},   {"qinq", CRAFT_QINQ, 1},
    {"sll", CRAFT_SLL, 113},   {"sll2", CRAFT_SLL2, 276}, {"raw", CRAFT_RAW, 101},
    {"null", CRAFT_NULL, 0},
};

/* One frame as captured. */
struct craft_frame {
    uint8_t *data;
    size_t len;
    int64_t usec;
};

/* One conversation being written, and the frames written so far. */
struct craft {
    int family;                /* AF_INET or AF_INET6 */
    uint8_t addr[2][16];       /* by side: client, server */
    uint16_t port[2];          /* by side */
    uint32_t isn[2];           /* initial sequence number of each side */
    uint32_t hi[2];            /* stream bytes each side has sent so far (highest end) */
    int fin[2];                /* the side has sent its FIN */
    enum craft_link link;      /* how frames are wrapped */
    int ext_headers;           /* IPv6 extension headers before TCP */
    int64_t usec;              /* capture time of the next frame */
    uint16_t ipid;             /* IPv4 identification / IPv6 fragment id */
    const char *user;          /* who logs in */
    size_t long_line;          /* long-line's line length */
    struct craft_over over[2]; /* by side: how its segments are shaped (-H, -P) */
    struct craft_over fake;    /* an insertion scenario's fake copies */
    int same_bytes;            /* -i: fake copies carry the real bytes */
    int ts;                    /* TCP timestamps on every segment */
    uint32_t tsval[2];         /* by side: the last TSval sent */
    int wscale;                /* window scale both SYNs offer (-1: none) */
    uint16_t window;           /* the server's window field */
    struct craft_frame frames[CRAFT_MAX_FRAMES];
    size_t nframes;
};

/* craft_die - print a message and exit 2 */
static void craft_die(const char *msg, const char *arg)
{
    fprintf(stderr, "pcap_craft: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

/* craft_put16 - store v big-endian at p */
static void craft_put16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* craft_put32 - store v big-endian at p */
static void craft_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* craft_add_frame - wrap an IP packet in the link layer and append it as a frame */
static void craft_add_frame(struct craft *c, int side, const uint8_t *ip, size_t iplen)
{
    uint8_t hdr[32];
    size_t h = 0;
    uint32_t ethertype = c->family == AF_INET ? 0x0800 : 0x86dd;
    uint8_t pkttype = side == CRAFT_CLIENT ? 0 : 4; /* SLL: to us, sent by us */
    static const uint8_t mac[2][6] = {{2, 0, 0, 0, 0, 2}, {2, 0, 0, 0, 0, 1}};

    if (c->nframes == CRAFT_MAX_FRAMES)
        craft_die("too many frames", NULL);
    if (c->over[side].pkttype != 0)
        pkttype = (uint8_t)(c->over[side].pkttype - 1);
    switch (c->link) {
    case CRAFT_ETHER:
    case CRAFT_VLAN:
    case CRAFT_QINQ:
        memcpy(hdr, mac[!side], 6);
        memcpy(hdr + 6, mac[side], 6);
        h = 12;
        if (c->link == CRAFT_QINQ) {
            craft_put16(hdr + h, 0x88a8);
            craft_put16(hdr + h + 2, 200);
            h += 4;
        }
        if (c->link != CRAFT_ETHER) {
            craft_put16(hdr + h, 0x8100);
            craft_put16(hdr + h + 2, 100);
            h += 4;
        }
        craft_put16(hdr + h, ethertype);
        h += 2;
        break;
    case CRAFT_SLL:
        /* packet type (0 to us, 4 sent by us: captured on the server), ARPHRD_ETHER,
         * address length, address (8 bytes), protocol */
        craft_put16(hdr, pkttype);
        craft_put16(hdr + 2, 1);
        craft_put16(hdr + 4, 6);
        memset(hdr + 6, 0, 8);
        memcpy(hdr + 6, mac[side], 6);
        craft_put16(hdr + 14, ethertype);
        h = 16;
        break;
    case CRAFT_SLL2:
        /* protocol, reserved, interface index, ARPHRD_ETHER, packet type, address
         * length, address (8 bytes) */
        craft_put16(hdr, ethertype);
        craft_put16(hdr + 2, 0);
        craft_put32(hdr + 4, 2);
        craft_put16(hdr + 8, 1);
        hdr[10] = pkttype;
        hdr[11] = 6;
        memset(hdr + 12, 0, 8);
        memcpy(hdr + 12, mac[side], 6);
        h = 20;
        break;
    case CRAFT_RAW:
        break;
    case CRAFT_NULL: {
        /* the address family in the capturing host's byte order: AF_INET is 2 everywhere;
         * for IPv6 the BSDs use 24, 28 or 30 (Linux never writes this link type) */
        uint32_t af = c->family == AF_INET ? 2 : 24;

        memcpy(hdr, &af, 4);
        h = 4;
        break;
    }
    }
    if (h + iplen > CRAFT_MAX_FRAME)
        craft_die("frame too large", NULL);

    struct craft_frame *f = &c->frames[c->nframes++];

    f->data = xmalloc(h + iplen);
    memcpy(f->data, hdr, h);
    memcpy(f->data + h, ip, iplen);
    f->len = h + iplen;
    f->usec = c->usec;
    c->usec += 1000;
}

/* craft_ipv6_ext - write the extension headers (hop-by-hop, destination options,
 * routing type 2 with no segment left, naming dst) ending in next; returns their length */
static size_t craft_ipv6_ext(uint8_t *p, uint8_t next, const uint8_t *dst)
{
    /* hop-by-hop, 8 bytes: PadN over its 6 option bytes */
    p[0] = 60;
    p[1] = 0;
    p[2] = 1;
    p[3] = 4;
    memset(p + 4, 0, 4);
    /* destination options, 16 bytes: PadN over 14 */
    p[8] = 43;
    p[9] = 1;
    p[10] = 1;
    p[11] = 12;
    memset(p + 12, 0, 12);
    /* routing type 2, 24 bytes, segments left 0: the packet is at its destination, which
     * is also the address the header carries (so the TCP checksum is the same either way) */
    p[24] = next;
    p[25] = 2;
    p[26] = 2;
    p[27] = 0;
    memset(p + 28, 0, 4);
    memcpy(p + 32, dst, 16);
    return 48;
}

/* craft_ipv4_options - write the IPv4 options kind names, for a packet to dst; their length */
static size_t craft_ipv4_options(uint8_t *p, enum craft_ipopt kind, const uint8_t *dst)
{
    switch (kind) {
    case CRAFT_OPT_NONE:
        break;
    case CRAFT_OPT_NOP:
        p[0] = p[1] = p[2] = 1;
        p[3] = 0;
        return 4;
    case CRAFT_OPT_LSRR:
        /* type, length, pointer past the one address (the route is at its end), dst, EOL */
        p[0] = 0x83;
        p[1] = 7;
        p[2] = 8;
        memcpy(p + 3, dst, 4);
        p[7] = 0;
        return 8;
    }
    return 0;
}

/* craft_ip - put the TCP segment l4 into IP (fragmented into CRAFT_FRAG_BYTES pieces
 * if frag), shaped as the side's craft_over says, and append the frames */
static void craft_ip(struct craft *c, int side, const uint8_t *l4, size_t l4len, int frag)
{
    static uint8_t pkt[CRAFT_MAX_FRAME];
    const struct craft_over *o = &c->over[side];
    uint8_t ttl = o->ttl ? o->ttl : CRAFT_TTL;
    size_t off, piece;
    uint16_t id = ++c->ipid;

    for (off = 0; off < l4len; off += piece) {
        size_t h;

        piece = l4len - off;
        if (frag && piece > CRAFT_FRAG_BYTES)
            piece = CRAFT_FRAG_BYTES;
        if (c->family == AF_INET) {
            uint32_t fl = frag ? (uint32_t)(off / 8) | (off + piece < l4len ? 0x2000 : 0) : 0x4000;
            uint16_t sum;

            h = 20 + craft_ipv4_options(pkt + 20, o->ipopt, c->addr[!side]);
            pkt[0] = (uint8_t)(0x40 | h / 4);
            pkt[1] = 0;
            craft_put16(pkt + 2, (uint32_t)(h + piece));
            craft_put16(pkt + 4, id);
            craft_put16(pkt + 6, fl);
            pkt[8] = ttl;
            pkt[9] = 6;
            craft_put16(pkt + 10, 0);
            memcpy(pkt + 12, c->addr[side], 4);
            memcpy(pkt + 16, c->addr[!side], 4);
            sum = cksum_field(cksum_add(0, pkt, h));
            craft_put16(pkt + 10, o->ipsum_bad ? sum ^ 0x0101u : sum);
        } else {
            uint8_t *next = &pkt[6];

            h = 40;
            pkt[0] = 0x60;
            pkt[1] = pkt[2] = pkt[3] = 0;
            pkt[7] = ttl;
            memcpy(pkt + 8, c->addr[side], 16);
            memcpy(pkt + 24, c->addr[!side], 16);
            if (c->ext_headers) {
                *next = 0;
                h += craft_ipv6_ext(pkt + h, 6, c->addr[!side]);
                next = &pkt[h - 48 + 24];
            }
            if (frag) {
                *next = 44;
                pkt[h] = 6;
                pkt[h + 1] = 0;
                craft_put16(pkt + h + 2, (uint32_t)off | (off + piece < l4len ? 1 : 0));
                craft_put32(pkt + h + 4, id);
                h += 8;
            } else {
                *next = 6;
            }
            craft_put16(pkt + 4, (uint32_t)(h - 40 + piece));
        }
        if (h + piece > sizeof(pkt))
            craft_die("packet too large", NULL);
        memcpy(pkt + h, l4 + off, piece);
        craft_add_frame(c, side, pkt, h + piece);
    }
}

/*
 * craft_tcp_options - write the TCP options of a segment from side at p: the timestamps
 * (if the conversation has them and the side's craft_over does not leave them out) and on
 * a SYN the window scale; returns their length, a multiple of 4
 */
static size_t craft_tcp_options(struct craft *c, int side, uint8_t flags, uint8_t *p)
{
    const struct craft_over *o = &c->over[side];
    size_t n = 0;

    if (c->ts && o->ts != CRAFT_TS_NONE) {
        uint32_t val = o->ts == CRAFT_TS_OLD ? c->tsval[side] - CRAFT_TS_BACK : ++c->tsval[side];

        p[0] = p[1] = 1; /* NOP, NOP, kind 8, length 10, TSval, TSecr */
        p[2] = 8;
        p[3] = 10;
        craft_put32(p + 4, val);
        craft_put32(p + 8, flags & CRAFT_ACK ? c->tsval[!side] : 0);
        n = 12;
    }
    if ((flags & CRAFT_SYN) && c->wscale >= 0) {
        p[n] = 1; /* NOP, kind 3, length 3, shift */
        p[n + 1] = 3;
        p[n + 2] = 3;
        p[n + 3] = (uint8_t)c->wscale;
        n += 4;
    }
    return n;
}

/* craft_tcp_checksum - the checksum of the segment seg (len bytes) from side, of the kind
 * the side's craft_over says */
static uint16_t craft_tcp_checksum(const struct craft *c, int side, const uint8_t *seg, size_t len)
{
    uint8_t pseudo[32];
    size_t alen = c->family == AF_INET ? 4 : 16;
    uint64_t sum;
    uint16_t valid, partial;

    /* the pseudo-header: addresses, protocol, TCP length */
    memcpy(pseudo, c->addr[side], alen);
    memcpy(pseudo + alen, c->addr[!side], alen);
    sum = cksum_add(0, pseudo, 2 * alen) + 6 + (uint32_t)len;
    valid = cksum_field(cksum_add(sum, seg, len));
    partial = cksum_fold(sum);
    switch ((enum craft_tcpsum)c->over[side].tcpsum) {
    case CRAFT_SUM_VALID:
        break;
    case CRAFT_SUM_PARTIAL:
        return partial;
    case CRAFT_SUM_BAD:
        return (uint16_t)(valid + 1 == partial ? valid + 2 : valid + 1);
    }
    return valid;
}

/*
 * craft_segment - one TCP segment from side carrying len bytes at stream offset off
 * (UINT32_MAX: the SYN's own sequence number). The acknowledgement covers everything the
 * other side has sent so far (and its FIN); frag splits the IP packet into fragments.
 */
static void craft_segment(struct craft *c, int side, uint32_t off, uint8_t flags, const void *data,
                          size_t len, int frag)
{
    static uint8_t seg[CRAFT_MAX_FRAME];
    size_t h;

    if (20 + CRAFT_TCP_OPTS + len > sizeof(seg))
        craft_die("segment too large", NULL);
    h = 20 + craft_tcp_options(c, side, flags, seg + 20);
    craft_put16(seg, c->port[side]);
    craft_put16(seg + 2, c->port[!side]);
    craft_put32(seg + 4, c->isn[side] + 1 + off);
    craft_put32(seg + 8,
                flags & CRAFT_ACK ? c->isn[!side] + 1 + c->hi[!side] + (uint32_t)c->fin[!side] : 0);
    seg[12] = (uint8_t)(h / 4 << 4);
    seg[13] = flags;
    craft_put16(seg + 14, side == CRAFT_SERVER ? c->window : 65535);
    craft_put16(seg + 16, 0);
    craft_put16(seg + 18, flags & CRAFT_URG ? (uint32_t)len : 0); /* urgent: the last byte */
    if (len > 0)
        memcpy(seg + h, data, len);
    craft_put16(seg + 16, craft_tcp_checksum(c, side, seg, h + len));

    if (off != UINT32_MAX && off + len > c->hi[side])
        c->hi[side] = off + (uint32_t)len;
    craft_ip(c, side, seg, h + len, frag);
}

/*
 * craft_fake - a segment from side with len bytes at stream offset off, shaped by o (NULL:
 * as the side's usual), that the other side never takes: the side's stream, and so the
 * other side's acknowledgements, do not move past it
 */
static void craft_fake(struct craft *c, int side, uint32_t off, uint8_t flags, const void *data,
                       size_t len, const struct craft_over *o)
{
    struct craft_over keep = c->over[side];
    uint32_t hi = c->hi[side];

    if (o != NULL)
        c->over[side] = *o;
    craft_segment(c, side, off, flags, data, len, 0);
    c->over[side] = keep;
    c->hi[side] = hi;
}

/* craft_handshake - the three-way handshake, the SYN carrying syn_data (NULL: nothing),
 * which the server does not take */
static void craft_handshake(struct craft *c, const char *syn_data)
{
    craft_segment(c, CRAFT_CLIENT, UINT32_MAX, CRAFT_SYN, syn_data,
                  syn_data != NULL ? strlen(syn_data) : 0, 0);
    craft_segment(c, CRAFT_SERVER, UINT32_MAX, CRAFT_SYN | CRAFT_ACK, NULL, 0, 0);
    craft_segment(c, CRAFT_CLIENT, 0, CRAFT_ACK, NULL, 0, 0);
}

/* craft_open - the three-way handshake */
static void craft_open(struct craft *c)
{
    craft_handshake(c, NULL);
}

/* craft_close - FIN from the client, FIN from the server, the last ACK */
static void craft_close(struct craft *c)
{
    craft_segment(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT], CRAFT_FIN | CRAFT_ACK, NULL, 0, 0);
    c->fin[CRAFT_CLIENT] = 1;
    craft_segment(c, CRAFT_SERVER, c->hi[CRAFT_SERVER], CRAFT_FIN | CRAFT_ACK, NULL, 0, 0);
    c->fin[CRAFT_SERVER] = 1;
    craft_segment(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT] + 1, CRAFT_ACK, NULL, 0, 0);
}

/* craft_send - side sends text next in its stream, in segments of at most CRAFT_MSS */
static void craft_send(struct craft *c, int side, const char *text)
{
    size_t len = strlen(text), off = 0;

    while (off < len) {
        size_t n = len - off > CRAFT_MSS ? CRAFT_MSS : len - off;

        craft_segment(c, side, c->hi[side], CRAFT_ACK | CRAFT_PSH, text + off, n, 0);
        off += n;
    }
}

/* craft_line - the line head + user + tail + CRLF, in buf (CRAFT_LINE bytes) */
static const char *craft_line(char *buf, const char *head, const char *user, const char *tail)
{
    snprintf(buf, CRAFT_LINE, "%s%s%s\r\n", head, user, tail);
    return buf;
}

/* craft_pieces - side sends text next in its stream as n pieces, in the order given */
static void craft_pieces(struct craft *c, int side, const char *text, size_t n, const size_t *order)
{
    size_t len = strlen(text), base = c->hi[side], i;

    for (i = 0; i < n; i++) {
        size_t k = order[i], from = len * k / n, to = len * (k + 1) / n;

        craft_segment(c, side, (uint32_t)(base + from), CRAFT_ACK | CRAFT_PSH, text + from,
                      to - from, 0);
    }
}

#define POP3_GREETING "+OK Dovecot ready.\r\n"
#define IMAP_GREETING                                                                              \
    "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "                  \
    "AUTH=PLAIN] Dovecot ready.\r\n"

/* craft_pop3_user - USER and its +OK */
static void craft_pop3_user(struct craft *c)
{
    char buf[CRAFT_LINE];

    craft_send(c, CRAFT_CLIENT, craft_line(buf, "USER ", c->user, ""));
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
}

/* craft_pop3_start - the handshake, the greeting, USER and its +OK */
static void craft_pop3_start(struct craft *c)
{
    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_pop3_user(c);
}

/* craft_pop3_login - USER, +OK, PASS, +OK (sent in order) */
static void craft_pop3_login(struct craft *c)
{
    craft_pop3_user(c);
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
}

/* craft_pop3_quit - QUIT and its reply, then the close */
static void craft_pop3_quit(struct craft *c)
{
    craft_send(c, CRAFT_CLIENT, "QUIT\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logging out.\r\n");
    craft_close(c);
}

/* craft_scen_pop3 - a plain POP3 USER/PASS login */
static void craft_scen_pop3(struct craft *c)
{
    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_pop3_login(c);
    craft_pop3_quit(c);
}

/* craft_scen_imap - a plain IMAP LOGIN with atoms */
static void craft_scen_imap(struct craft *c)
{
    char buf[CRAFT_LINE];

    craft_open(c);
    craft_send(c, CRAFT_SERVER, IMAP_GREETING);
    craft_send(c, CRAFT_CLIENT, craft_line(buf, "a1 LOGIN ", c->user, " secret"));
    craft_send(c, CRAFT_SERVER, "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
    craft_send(c, CRAFT_CLIENT, "a2 LOGOUT\r\n");
    craft_send(c, CRAFT_SERVER, "* BYE Logging out\r\na2 OK Logout completed.\r\n");
    craft_close(c);
}

/* craft_scen_out_of_order - USER, PASS and the +OK to PASS each split in three segments that
 * arrive out of order */
static void craft_scen_out_of_order(struct craft *c)
{
    static const size_t order[3] = {2, 0, 1}, order2[3] = {1, 2, 0};
    char buf[CRAFT_LINE];

    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_pieces(c, CRAFT_CLIENT, craft_line(buf, "USER ", c->user, ""), 3, order);
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_pieces(c, CRAFT_CLIENT, "PASS secret\r\n", 3, order2);
    craft_pieces(c, CRAFT_SERVER, "+OK Logged in.\r\n", 3, order);
    craft_pop3_quit(c);
}

/* craft_scen_retransmit - every segment with data is sent twice, identical */
static void craft_scen_retransmit(struct craft *c)
{
    char user[CRAFT_LINE];
    const char *const lines[][2] = {
        {NULL, POP3_GREETING},
        {craft_line(user, "USER ", c->user, ""), "+OK\r\n"},
        {"PASS secret\r\n", "+OK Logged in.\r\n"},
        {"QUIT\r\n", "+OK Logging out.\r\n"},
    };
    size_t i;
    int side;

    craft_open(c);
    for (i = 0; i < UTIL_ARRAY_LEN(lines); i++) {
        for (side = CRAFT_CLIENT; side <= CRAFT_SERVER; side++) {
            const char *text = lines[i][side];
            uint32_t off = c->hi[side];

            if (text == NULL)
                continue;
            craft_segment(c, side, off, CRAFT_ACK | CRAFT_PSH, text, strlen(text), 0);
            craft_segment(c, side, off, CRAFT_ACK | CRAFT_PSH, text, strlen(text), 0);
        }
    }
    craft_close(c);
}

/* craft_scen_overlap_delivered - the USER line is sent again at the same offset with other
 * bytes after it was delivered; then a login the server confirms */
static void craft_scen_overlap_delivered(struct craft *c)
{
    char buf[CRAFT_LINE], other[CRAFT_LINE];
    uint32_t off;
    size_t i;

    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    off = c->hi[CRAFT_CLIENT];
    craft_line(buf, "USER ", c->user, "");
    craft_send(c, CRAFT_CLIENT, buf);
    memcpy(other, buf, sizeof(other));
    for (i = 5; other[i] != '\r'; i++)
        other[i] = 'x';
    craft_segment(c, CRAFT_CLIENT, off, CRAFT_ACK | CRAFT_PSH, other, strlen(other), 0);
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_overlap_buffered - the second half of PASS arrives early (buffered), then other
 * bytes overlapping it, then the first half; the server confirms */
static void craft_scen_overlap_buffered(struct craft *c)
{
    static const char pass[] = "PASS secret\r\n", evil[] = "Xcret\r\n";
    uint32_t base;

    craft_pop3_start(c);
    base = c->hi[CRAFT_CLIENT];
    craft_segment(c, CRAFT_CLIENT, base + 6, CRAFT_ACK | CRAFT_PSH, pass + 6, strlen(pass) - 6, 0);
    craft_segment(c, CRAFT_CLIENT, base + 6, CRAFT_ACK | CRAFT_PSH, evil, strlen(evil), 0);
    craft_segment(c, CRAFT_CLIENT, base, CRAFT_ACK | CRAFT_PSH, pass, 6, 0);
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_joined - the capture starts mid-session (no SYN, no greeting): a NOOP and its
 * reply, then a complete USER/PASS login */
static void craft_scen_joined(struct craft *c)
{
    c->hi[CRAFT_CLIENT] = 37;
    c->hi[CRAFT_SERVER] = 301;
    craft_send(c, CRAFT_CLIENT, "NOOP\r\n");
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_pop3_login(c);
    craft_pop3_quit(c);
}

/* craft_scen_joined_stls - the capture starts mid-session: a NOOP and its reply, then STLS
 * accepted and a login after it (ciphertext on a real server) */
static void craft_scen_joined_stls(struct craft *c)
{
    c->hi[CRAFT_CLIENT] = 37;
    c->hi[CRAFT_SERVER] = 301;
    craft_send(c, CRAFT_CLIENT, "NOOP\r\n");
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_send(c, CRAFT_CLIENT, "STLS\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Begin TLS negotiation now.\r\n");
    craft_pop3_login(c);
    craft_pop3_quit(c);
}

/* craft_scen_joined_before_ok - the capture starts after the client sent USER and PASS in one
 * go and before the server's two replies: the +OK to PASS arrives with no command seen */
static void craft_scen_joined_before_ok(struct craft *c)
{
    char buf[CRAFT_LINE];

    c->hi[CRAFT_CLIENT] = (uint32_t)strlen(craft_line(buf, "USER ", c->user, "")) +
                          (uint32_t)strlen("PASS secret\r\n");
    c->hi[CRAFT_SERVER] = (uint32_t)strlen(POP3_GREETING);
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_send(c, CRAFT_CLIENT, "STAT\r\n");
    craft_send(c, CRAFT_SERVER, "+OK 0 0\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_ok_to_user - USER answered +OK, then QUIT: no PASS ever */
static void craft_scen_ok_to_user(struct craft *c)
{
    craft_pop3_start(c);
    craft_pop3_quit(c);
}

/* craft_pass_err - PASS answered -ERR; if forged, a forged "+OK Logged in." that arrived
 * at the server (SLL packet type 0, HOST) comes first, at the place of the -ERR */
static void craft_pass_err(struct craft *c, int forged)
{
    static const char ok[] = "+OK Logged in.\r\n";
    static const struct craft_over arrived = {.pkttype = CRAFT_PKT(0)};

    craft_pop3_start(c);
    craft_send(c, CRAFT_CLIENT, "PASS wrong\r\n");
    if (forged)
        craft_fake(c, CRAFT_SERVER, c->hi[CRAFT_SERVER], CRAFT_ACK | CRAFT_PSH, ok, strlen(ok),
                   &arrived);
    craft_send(c, CRAFT_SERVER, "-ERR [AUTH] Authentication failed.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_pass_err - PASS answered -ERR */
static void craft_scen_pass_err(struct craft *c)
{
    craft_pass_err(c, 0);
}

/* craft_scen_forged_ok - PASS answered -ERR, after a forged +OK that arrived from outside */
static void craft_scen_forged_ok(struct craft *c)
{
    craft_pass_err(c, 1);
}

/* craft_scen_imap_untagged_ok - LOGIN answered by an untagged OK, then a tagged NO */
static void craft_scen_imap_untagged_ok(struct craft *c)
{
    char buf[CRAFT_LINE];

    craft_open(c);
    craft_send(c, CRAFT_SERVER, IMAP_GREETING);
    craft_send(c, CRAFT_CLIENT, craft_line(buf, "a1 LOGIN ", c->user, " secret"));
    craft_send(c, CRAFT_SERVER, "* OK Logged in\r\n");
    craft_send(c, CRAFT_SERVER, "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    craft_send(c, CRAFT_CLIENT, "a2 LOGOUT\r\n");
    craft_send(c, CRAFT_SERVER, "* BYE Logging out\r\na2 OK Logout completed.\r\n");
    craft_close(c);
}

/* craft_scen_imap_other_tag - LOGIN tagged a2 answered by a tagged OK for a1, then a2 NO */
static void craft_scen_imap_other_tag(struct craft *c)
{
    char buf[CRAFT_LINE];

    craft_open(c);
    craft_send(c, CRAFT_SERVER, IMAP_GREETING);
    craft_send(c, CRAFT_CLIENT, craft_line(buf, "a2 LOGIN ", c->user, " secret"));
    craft_send(c, CRAFT_SERVER, "a1 OK Logged in\r\n");
    craft_send(c, CRAFT_SERVER, "a2 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n");
    craft_send(c, CRAFT_CLIENT, "a3 LOGOUT\r\n");
    craft_send(c, CRAFT_SERVER, "* BYE Logging out\r\na3 OK Logout completed.\r\n");
    craft_close(c);
}

/* craft_scen_fragments - the PASS segment travels in IP fragments; the server confirms */
static void craft_scen_fragments(struct craft *c)
{
    static const char pass[] = "PASS secret\r\n";

    craft_pop3_start(c);
    craft_segment(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT], CRAFT_ACK | CRAFT_PSH, pass, strlen(pass),
                  1);
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_urgent - "USER name\r", then "\n" as urgent data (MSG_OOB), then
 * "PASS secret\r\nQUIT\r\n", each answered +OK: the server's stack takes the urgent byte
 * out of the stream, so it reads "USER name\rPASS secret\r\n" (one line, +OK) and QUIT
 * (+OK), while the bytes on the wire say USER, PASS, QUIT */
static void craft_scen_urgent(struct craft *c)
{
    char buf[CRAFT_LINE];
    size_t n;

    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_line(buf, "USER ", c->user, "");
    n = strlen(buf);
    buf[n - 1] = '\0'; /* without its LF */
    craft_send(c, CRAFT_CLIENT, buf);
    craft_segment(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT], CRAFT_ACK | CRAFT_PSH | CRAFT_URG, "\n", 1,
                  0);
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\nQUIT\r\n");
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logging out.\r\n");
    craft_close(c);
}

/*
 * craft_stray_fragments - a TCP segment of another connection (the client's next port)
 * from the client to the server, or to the server's neighbour address (other), sent as
 * IP fragments; this conversation's state is left as it was
 */
static void craft_stray_fragments(struct craft *c, int other)
{
    static const char data[] = "PASS another-password-entirely\r\n";
    size_t last = c->family == AF_INET ? 3 : 15;
    uint32_t hi = c->hi[CRAFT_CLIENT];
    uint16_t port = c->port[CRAFT_CLIENT];
    uint8_t server_last = c->addr[CRAFT_SERVER][last];

    c->port[CRAFT_CLIENT] = (uint16_t)(port + 1);
    if (other)
        c->addr[CRAFT_SERVER][last] ^= 1;
    craft_segment(c, CRAFT_CLIENT, 0, CRAFT_ACK | CRAFT_PSH, data, strlen(data), 1);
    c->port[CRAFT_CLIENT] = port;
    c->addr[CRAFT_SERVER][last] = server_last;
    c->hi[CRAFT_CLIENT] = hi;
}

/* craft_frag_login - a POP3 login with a fragmented segment of another connection from
 * the client to the server (other = 0) or to another host between PASS and its +OK */
static void craft_frag_login(struct craft *c, int other)
{
    craft_pop3_start(c);
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    craft_stray_fragments(c, other);
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_frag_same_hosts - IP fragments between the same two hosts during the login */
static void craft_scen_frag_same_hosts(struct craft *c)
{
    craft_frag_login(c, 0);
}

/* craft_scen_frag_other_hosts - IP fragments between the client and another host */
static void craft_scen_frag_other_hosts(struct craft *c)
{
    craft_frag_login(c, 1);
}

/* craft_long_line - a line of long_line bytes, CRLF included: head, then 'x's */
static char *craft_long_line(const struct craft *c, const char *head)
{
    size_t n = strlen(head);
    char *line;

    if (c->long_line < n + 3)
        craft_die("-L is too short for the line's head", head);
    line = xmalloc(c->long_line + 1);
    memcpy(line, head, n);
    memset(line + n, 'x', c->long_line - n - 2);
    memcpy(line + c->long_line - 2, "\r\n", 3);
    return line;
}

/* craft_scen_long_line - a POP3 NOOP line of long_line bytes (answered -ERR), then a login */
static void craft_scen_long_line(struct craft *c)
{
    char *line = craft_long_line(c, "NOOP ");

    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_send(c, CRAFT_CLIENT, line);
    craft_send(c, CRAFT_SERVER, "-ERR Unknown command.\r\n");
    craft_pop3_login(c);
    craft_pop3_quit(c);
    free(line);
}

/* craft_scen_imap_long_line - an IMAP NOOP line of long_line bytes (answered BAD), then a
 * LOGIN answered OK */
static void craft_scen_imap_long_line(struct craft *c)
{
    char *line = craft_long_line(c, "a0 NOOP ");
    char buf[CRAFT_LINE];

    craft_open(c);
    craft_send(c, CRAFT_SERVER, IMAP_GREETING);
    craft_send(c, CRAFT_CLIENT, line);
    craft_send(c, CRAFT_SERVER, "a0 BAD Error in IMAP command NOOP: Unexpected arguments.\r\n");
    craft_send(c, CRAFT_CLIENT, craft_line(buf, "a1 LOGIN ", c->user, " secret"));
    craft_send(c, CRAFT_SERVER, "a1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n");
    craft_send(c, CRAFT_CLIENT, "a2 LOGOUT\r\n");
    craft_send(c, CRAFT_SERVER, "* BYE Logging out\r\na2 OK Logout completed.\r\n");
    craft_close(c);
    free(line);
}

/* craft_bytewise - the client sends text one byte per segment, each byte first as a fake
 * copy shaped by c->fake carrying the byte of fake at its place, then for real */
static void craft_bytewise(struct craft *c, const char *text, const char *fake)
{
    size_t i, n = strlen(text);

    for (i = 0; i < n; i++) {
        uint32_t off = c->hi[CRAFT_CLIENT];

        craft_fake(c, CRAFT_CLIENT, off, CRAFT_ACK | CRAFT_PSH, fake + i, 1, &c->fake);
        craft_segment(c, CRAFT_CLIENT, off, CRAFT_ACK | CRAFT_PSH, text + i, 1, 0);
    }
}

/*
 * craft_scen_insert - the insertion scenarios (craft_inserts): after USER and its +OK the
 * client sends its USER line again with craft_bytewise, the fake bytes those of a PASS line
 * as long ("PASS wrong" for alice), and the server's +OK answers that USER; QUIT follows.
 * With -i the fake copies carry the real bytes, and the USER and PASS secret lines are
 * both sent that way, answered +OK and +OK Logged in.
 */
static void craft_scen_insert(struct craft *c)
{
    static const char pass[] = "PASS secret\r\n";
    char user[CRAFT_LINE], wrong[CRAFT_LINE];
    size_t i, n = strlen(craft_line(user, "USER ", c->user, ""));

    if (c->fake.ts != CRAFT_TS_NEXT)
        c->ts = 1;
    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    if (c->same_bytes) {
        craft_bytewise(c, user, user);
        craft_send(c, CRAFT_SERVER, "+OK\r\n");
        craft_bytewise(c, pass, pass);
        craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    } else {
        memcpy(wrong, "PASS ", 5);
        for (i = 5; i + 2 < n; i++)
            wrong[i] = "wrong"[(i - 5) % 5];
        memcpy(wrong + i, "\r\n", 3);
        craft_pop3_user(c);
        craft_bytewise(c, user, wrong);
        craft_send(c, CRAFT_SERVER, "+OK\r\n");
    }
    craft_pop3_quit(c);
}

/* craft_scen_ts_missing - timestamps on every segment but the one with PASS; confirmed */
static void craft_scen_ts_missing(struct craft *c)
{
    c->ts = 1;
    craft_pop3_start(c);
    c->over[CRAFT_CLIENT].ts = CRAFT_TS_NONE;
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    c->over[CRAFT_CLIENT].ts = CRAFT_TS_NEXT;
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_syn_data - the SYN carries the USER line (the server takes the SYN alone),
 * then a full login */
static void craft_scen_syn_data(struct craft *c)
{
    char buf[CRAFT_LINE];

    craft_handshake(c, craft_line(buf, "USER ", c->user, ""));
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_pop3_login(c);
    craft_pop3_quit(c);
}

/* craft_scen_rst_inserted - between USER's +OK and PASS, a client RST 5000 bytes past the
 * next sequence number (the server ignores it); the login goes on and is confirmed */
static void craft_scen_rst_inserted(struct craft *c)
{
    craft_pop3_start(c);
    craft_fake(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT] + 5000, CRAFT_RST | CRAFT_ACK, NULL, 0, NULL);
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_fin_inserted - between USER's +OK and PASS, a client FIN inside the bytes
 * already sent (the server takes no FIN there), then a confirmed login */
static void craft_scen_fin_inserted(struct craft *c)
{
    craft_pop3_start(c);
    craft_fake(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT] - 3, CRAFT_FIN | CRAFT_ACK, NULL, 0, NULL);
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_frag_overlap - the PASS segment in IP fragments, then the same datagram (the
 * same IP identification) again in fragments with other bytes, overlapping the first
 * (which copy a reassembler keeps, if any, is its own policy); the server confirms */
static void craft_scen_frag_overlap(struct craft *c)
{
    static const char pass[] = "PASS secret\r\n", other[] = "PASS wrongx\r\n";
    uint32_t off;

    craft_pop3_start(c);
    off = c->hi[CRAFT_CLIENT];
    craft_segment(c, CRAFT_CLIENT, off, CRAFT_ACK | CRAFT_PSH, pass, strlen(pass), 1);
    c->ipid--; /* the same datagram again */
    craft_segment(c, CRAFT_CLIENT, off, CRAFT_ACK | CRAFT_PSH, other, strlen(other), 1);
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_small_window - both SYNs offer window scale 2 and the server's window field is 4:
 * 4 bytes in the SYN-ACK (never scaled), 16 after it */
static void craft_small_window(struct craft *c)
{
    c->wscale = 2;
    c->window = 4;
}

/*
 * craft_scen_window - a small server window: after USER, before its +OK (whose window
 * ends 16 bytes past USER), the client sends "PASS x" past the window's right edge (the
 * server never takes or acknowledges it); after the +OK, PASS secret (inside the window)
 * is confirmed. With -i the early copy is PASS secret too.
 */
static void craft_scen_window(struct craft *c)
{
    const char *early = c->same_bytes ? "PASS secret\r\n" : "PASS x\r\n";
    char buf[CRAFT_LINE];

    craft_small_window(c);
    craft_open(c);
    craft_send(c, CRAFT_SERVER, POP3_GREETING);
    craft_send(c, CRAFT_CLIENT, craft_line(buf, "USER ", c->user, ""));
    craft_fake(c, CRAFT_CLIENT, c->hi[CRAFT_CLIENT], CRAFT_ACK | CRAFT_PSH, early, strlen(early),
               NULL);
    craft_send(c, CRAFT_SERVER, "+OK\r\n");
    craft_send(c, CRAFT_CLIENT, "PASS secret\r\n");
    craft_send(c, CRAFT_SERVER, "+OK Logged in.\r\n");
    craft_pop3_quit(c);
}

/* craft_scen_window_ok - the pop3 scenario in the same small window, every client segment
 * inside it */
static void craft_scen_window_ok(struct craft *c)
{
    craft_small_window(c);
    craft_scen_pop3(c);
}

/* A scenario's builder: writes its conversation into c. */
typedef void craft_builder(struct craft *c);

/* The scenarios: name, the server port they use, the builder, and what they show. */
static const struct {
    const char *name;
    uint16_t port;
    craft_builder *fn;
    const char *what;
} craft_scenarios[] = {
    {"pop3", 110, craft_scen_pop3, "USER/PASS answered +OK"},
    {"imap", 143, craft_scen_imap, "a1 LOGIN user secret answered a1 OK"},
    {"out-of-order", 110, craft_scen_out_of_order, "USER, PASS and the +OK in reordered pieces"},
    {"retransmit", 110, craft_scen_retransmit, "every data segment sent twice"},
    {"overlap-delivered", 110, craft_scen_overlap_delivered,
     "USER resent with other bytes, then a confirmed login"},
    {"overlap-buffered", 110, craft_scen_overlap_buffered,
     "an early PASS piece overlapped by other bytes, then confirmed"},
    {"joined", 110, craft_scen_joined, "no SYN or greeting; NOOP, then a full login"},
    {"joined-stls", 110, craft_scen_joined_stls, "no SYN or greeting; NOOP, STLS, a login"},
    {"joined-before-ok", 110, craft_scen_joined_before_ok,
     "starts between pipelined USER+PASS and their +OKs"},
    {"ok-to-user", 110, craft_scen_ok_to_user, "+OK to USER, then QUIT"},
    {"pass-err", 110, craft_scen_pass_err, "PASS answered -ERR"},
    {"imap-untagged-ok", 143, craft_scen_imap_untagged_ok, "LOGIN answered * OK, then a1 NO"},
    {"imap-other-tag", 143, craft_scen_imap_other_tag, "a2 LOGIN answered a1 OK, then a2 NO"},
    {"fragments", 110, craft_scen_fragments, "the PASS segment in IP fragments, then +OK"},
    {"urgent", 110, craft_scen_urgent, "USER, an urgent LF, PASS and QUIT, two +OKs"},
    {"frag-same-hosts", 110, craft_scen_frag_same_hosts,
     "a login; a fragmented segment of another connection between the same hosts"},
    {"frag-other-hosts", 110, craft_scen_frag_other_hosts,
     "a login; a fragmented segment from the client to another host"},
    {"long-line", 110, craft_scen_long_line, "a POP3 line of -L bytes, then a full login"},
    {"imap-long-line", 143, craft_scen_imap_long_line, "an IMAP line of -L bytes, then a LOGIN"},
    {"forged-ok", 110, craft_scen_forged_ok,
     "PASS wrong, a forged +OK Logged in. arriving (SLL type 0), the real -ERR"},
    {"ts-missing", 110, craft_scen_ts_missing, "timestamps on; the PASS segment without one"},
    {"syn-data", 110, craft_scen_syn_data, "the SYN carries USER, then a full login"},
    {"fin-inserted", 110, craft_scen_fin_inserted,
     "a FIN inside the bytes already sent, then a confirmed login"},
    {"frag-overlap", 110, craft_scen_frag_overlap,
     "PASS in fragments, then overlapping fragments of it with other bytes"},
    {"rst-inserted", 110, craft_scen_rst_inserted,
     "USER, a RST 5000 bytes past, PASS, +OK Logged in."},
    {"window", 110, craft_scen_window,
     "a 16-byte window; an early PASS x past its edge, then PASS secret, confirmed"},
    {"window-ok", 110, craft_scen_window_ok, "the pop3 scenario inside a 16-byte window"},
};

/* The insertion scenarios (craft_scen_insert): name, the fake copies' shape, what it is. */
static const struct {
    const char *name;
    struct craft_over fake;
    const char *what;
} craft_inserts[] = {
    {"keepalive-insert", {0}, "of 1 byte each, otherwise as the real ones"},
    {"badsum-insert", {.tcpsum = CRAFT_SUM_BAD}, "with a wrong TCP checksum"},
    {"paws-insert", {.ts = CRAFT_TS_OLD}, "with an old TSval (timestamps on)"},
    {"ttl-insert", {.ttl = 40}, "with TTL / hop limit 40"},
    {"ipopts-insert", {.ipopt = CRAFT_OPT_NOP}, "with IPv4 options NOP, NOP, NOP, EOL"},
    {"lsrr-insert", {.ipopt = CRAFT_OPT_LSRR}, "with a loose source route IPv4 option"},
    {"ipsum-insert", {.ipsum_bad = 1}, "with a wrong IPv4 header checksum"},
    {"otherhost-insert", {.pkttype = CRAFT_PKT(3)}, "with SLL packet type 3 (to another host)"},
};

/* craft_write_pcap - the frames as a classic pcap file (microsecond timestamps) */
static void craft_write_pcap(FILE *f, const struct craft *c, uint32_t linktype)
{
    uint32_t hdr[6] = {0xa1b2c3d4, 2 | 4u << 16, 0, 0, CRAFT_SNAPLEN, linktype};
    size_t i;

    fwrite(hdr, sizeof(hdr), 1, f);
    for (i = 0; i < c->nframes; i++) {
        const struct craft_frame *fr = &c->frames[i];
        uint32_t rec[4] = {(uint32_t)(fr->usec / 1000000), (uint32_t)(fr->usec % 1000000),
                           (uint32_t)fr->len, (uint32_t)fr->len};

        fwrite(rec, sizeof(rec), 1, f);
        fwrite(fr->data, fr->len, 1, f);
    }
}

/* craft_write_pcapng - the frames as pcapng: a section header, one interface
 * (microsecond resolution, the default) and an enhanced packet block per frame */
static void craft_write_pcapng(FILE *f, const struct craft *c, uint32_t linktype)
{
    uint32_t shb[7] = {0x0a0d0d0a, 28, 0x1a2b3c4d, 1, 0xffffffff, 0xffffffff, 28};
    uint32_t idb[5] = {1, 20, 0, CRAFT_SNAPLEN, 20};
    uint16_t lt[2] = {(uint16_t)linktype, 0}; /* link type, reserved */
    static const uint8_t zero[4];
    size_t i;

    memcpy(&idb[2], lt, sizeof(lt));
    fwrite(shb, sizeof(shb), 1, f);
    fwrite(idb, sizeof(idb), 1, f);
    for (i = 0; i < c->nframes; i++) {
        const struct craft_frame *fr = &c->frames[i];
        size_t pad = (4 - fr->len % 4) % 4;
        uint32_t total = (uint32_t)(32 + fr->len + pad);
        uint64_t ts = (uint64_t)fr->usec;
        uint32_t epb[7] = {
            6, total, 0, (uint32_t)(ts >> 32), (uint32_t)ts, (uint32_t)fr->len, (uint32_t)fr->len};

        fwrite(epb, sizeof(epb), 1, f);
        fwrite(fr->data, fr->len, 1, f);
        fwrite(zero, pad, 1, f);
        fwrite(&total, sizeof(total), 1, f);
    }
}

/* craft_usage - print the usage and the scenarios, exit with status */
static void craft_usage(int status)
{
    FILE *out = status ? stderr : stdout;
    size_t i;

    fprintf(out, "usage: pcap_craft [-c CLIENT] [-s SERVER] [-p PORT] [-u USER] [-t UNIXTIME]\n"
                 "                  [-l LINK] [-f pcap|pcapng] [-x] [-L BYTES] [-T] [-H TTL] [-P]\n"
                 "                  [-i] SCENARIO FILE\n"
                 "links: ether vlan qinq sll sll2 raw null\nscenarios:\n");
    for (i = 0; i < UTIL_ARRAY_LEN(craft_scenarios); i++)
        fprintf(out, "  %-18s %s\n", craft_scenarios[i].name, craft_scenarios[i].what);
    fprintf(out, "insertion scenarios: USER, +OK, USER again byte by byte, each byte after a fake\n"
                 "copy from PASS wrong (-i: a login, each byte after a fake copy of it), +OK:\n");
    for (i = 0; i < UTIL_ARRAY_LEN(craft_inserts); i++)
        fprintf(out, "  %-18s fake copies %s\n", craft_inserts[i].name, craft_inserts[i].what);
    exit(status);
}

/* craft_addr - parse a numeric address of family (0: either) into out; its family */
static int craft_addr(const char *s, int family, uint8_t *out)
{
    if ((family == 0 || family == AF_INET) && inet_pton(AF_INET, s, out) == 1)
        return AF_INET;
    if ((family == 0 || family == AF_INET6) && inet_pton(AF_INET6, s, out) == 1)
        return AF_INET6;
    craft_die("bad address (or not the client's family)", s);
    return 0;
}

/* craft_find - the scenario called name, or the insertion scenario (whose fake copies'
 * shape goes to c->fake); its builder, its port in *port and its number in *num */
static craft_builder *craft_find(const char *name, struct craft *c, uint16_t *port, size_t *num)
{
    size_t i, n = UTIL_ARRAY_LEN(craft_scenarios);

    for (i = 0; i < n; i++)
        if (strcmp(name, craft_scenarios[i].name) == 0) {
            *port = craft_scenarios[i].port;
            *num = i;
            return craft_scenarios[i].fn;
        }
    for (i = 0; i < UTIL_ARRAY_LEN(craft_inserts); i++)
        if (strcmp(name, craft_inserts[i].name) == 0) {
            c->fake = craft_inserts[i].fake;
            *port = 110;
            *num = n + i;
            return craft_scen_insert;
        }
    craft_die("unknown scenario", name);
    return NULL;
}

/* main - parse the options, build the scenario, write the file */
int main(int argc, char **argv)
{
    static struct craft c;
    const char *client = "198.51.100.7", *server = NULL, *format = "pcap";
    uint32_t linktype = 1;
    int64_t start = (int64_t)time(NULL);
    craft_builder *build;
    uint16_t scen_port;
    size_t i, s;
    long port = 0, ttl;
    int opt;
    FILE *f;

    c.user = "alice";
    c.long_line = 10000;
    c.link = CRAFT_ETHER;
    c.wscale = -1;
    c.window = 65535;
    while ((opt = getopt(argc, argv, "c:s:p:u:t:l:f:xL:TH:Pih")) != -1) {
        switch (opt) {
        case 'c':
            client = optarg;
            break;
        case 's':
            server = optarg;
            break;
        case 'p':
            port = strtol(optarg, NULL, 10);
            if (port < 1 || port > 65535)
                craft_die("bad port", optarg);
            break;
        case 'u':
            c.user = optarg;
            break;
        case 't':
            start = strtoll(optarg, NULL, 10);
            break;
        case 'l':
            for (i = 0; i < UTIL_ARRAY_LEN(craft_links); i++)
                if (strcmp(optarg, craft_links[i].name) == 0)
                    break;
            if (i == UTIL_ARRAY_LEN(craft_links))
                craft_die("unknown link type", optarg);
            c.link = craft_links[i].link;
            linktype = craft_links[i].linktype;
            break;
        case 'f':
            format = optarg;
            if (strcmp(format, "pcap") != 0 && strcmp(format, "pcapng") != 0)
                craft_die("unknown format", format);
            break;
        case 'x':
            c.ext_headers = 1;
            break;
        case 'L':
            c.long_line = (size_t)strtoul(optarg, NULL, 10);
            if (c.long_line > 1000000)
                craft_die("-L too large", optarg);
            break;
        case 'T':
            c.ts = 1;
            break;
        case 'H':
            ttl = strtol(optarg, NULL, 10);
            if (ttl < 1 || ttl > 255)
                craft_die("bad TTL", optarg);
            c.over[CRAFT_CLIENT].ttl = c.over[CRAFT_SERVER].ttl = (uint8_t)ttl;
            break;
        case 'P':
            c.over[CRAFT_CLIENT].tcpsum = CRAFT_SUM_PARTIAL;
            break;
        case 'i':
            c.same_bytes = 1;
            break;
        case 'h':
            craft_usage(0);
            break;
        default:
            craft_usage(2);
        }
    }
    if (argc - optind != 2)
        craft_usage(2);
    build = craft_find(argv[optind], &c, &scen_port, &s);
    if (strlen(c.user) > 200)
        craft_die("user name too long", NULL);

    c.family = craft_addr(client, 0, c.addr[CRAFT_CLIENT]);
    if (server == NULL)
        server = c.family == AF_INET ? "192.0.2.1" : "2001:db8::1";
    craft_addr(server, c.family, c.addr[CRAFT_SERVER]);
    if (c.ext_headers && c.family != AF_INET6)
        craft_die("-x needs IPv6 addresses", NULL);
    if ((c.fake.ipopt != CRAFT_OPT_NONE || c.fake.ipsum_bad) && c.family != AF_INET)
        craft_die("IPv4 options and header checksums need IPv4 addresses", argv[optind]);
    c.port[CRAFT_CLIENT] = 40000 + (uint16_t)(s * 7);
    c.port[CRAFT_SERVER] = port != 0 ? (uint16_t)port : scen_port;
    c.isn[CRAFT_CLIENT] = 0x7ffffff0u;   /* near the top of the signed range, wrapping */
    c.isn[CRAFT_SERVER] = 0xfffffff0u;   /* sequence numbers wrap during the session */
    c.tsval[CRAFT_CLIENT] = 0xfffffffcu; /* the client's TSval wraps at its 4th segment */
    c.tsval[CRAFT_SERVER] = 0x00100000u;
    c.usec = start * 1000000;
    build(&c);

    if ((f = fopen(argv[optind + 1], "wb")) == NULL)
        craft_die(strerror(errno), argv[optind + 1]);
    if (strcmp(format, "pcapng") == 0)
        craft_write_pcapng(f, &c, linktype);
    else
        craft_write_pcap(f, &c, linktype);
    if (ferror(f) || fclose(f) != 0)
        craft_die("write failed", argv[optind + 1]);
    for (i = 0; i < c.nframes; i++)
        free(c.frames[i].data);
    return 0;
}
