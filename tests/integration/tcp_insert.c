/*
 * tcp_insert - a POP3/IMAP client for the sniffer's live insertion-attack test: it talks
 * to the server over an ordinary kernel TCP connection and sends one chosen command line
 * one byte per segment; before each real byte it injects, with a raw socket, a forged
 * 1-byte segment at the same sequence number carrying the matching byte of another line
 * of the same length (the lie). The server's kernel drops every forged copy, so the server
 * reads the real line; a sniffer that took the copies would read the lie.
 *
 *   tcp_insert -i IFACE [-b SRC] [-m MODE] [-t SECONDS] [-v] HOST PORT STEP...
 *
 *   -i       the client's interface toward HOST: the connection's own segments are
 *            watched there (AF_PACKET) to learn its sequence numbers, window, TTL and TCP
 *            timestamps; the tool refuses to inject for a connection it did not see there
 *   -b       source address to bind (numeric); HOST is numeric too, IPv4 or IPv6
 *   -m       what makes the server's kernel drop each forged copy:
 *              checksum  a wrong TCP checksum (neither the valid value nor the bare
 *                        pseudo-header sum)
 *              paws      a valid checksum, but a TSval 1,000,000 below the connection's
 *                        current one (RFC 7323 PAWS)
 *              partial   the checksum field holds the folded pseudo-header sum, not
 *                        complemented: what Linux leaves in its own segments on veth and
 *                        other checksum-offloading links; the raw packet is not offloaded,
 *                        so the receiving kernel checks it and drops it
 *   -t       seconds each waiting step may take (10)
 *   -v       describe every forged segment on stderr
 *
 * Steps (LINE and LIE are sent with CRLF appended):
 *   send LINE         LINE in one write
 *   slow LINE         LINE one byte per segment, each acknowledged before the next
 *   insert LINE LIE   like slow, with a forged copy of LIE's byte (-m) before each byte
 *   line GLOB         the server's next line (CRLF removed) must match the fnmatch GLOB
 *   close             wait for the server to close the connection
 * Every line received is printed as "S: LINE", every line sent as "C: LINE". Exit status
 * 0 if every step went as written, 1 if one did not (the reason on stderr), 2 on a usage
 * or setup error (socket, connect, nothing seen on IFACE, no TCP timestamps).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/sockios.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/cksum.h"
#include "shared/util.h"
#include "tests/integration/netaddr.h"

#define INS_LINE_MAX  1024     /* bytes of a command line */
#define INS_BUF       65536    /* bytes of server input kept for lines */
#define INS_PAWS_BACK 1000000u /* how far below the current TSval a paws copy goes */
#define INS_SETTLE    0.01     /* seconds between a forged copy and the real byte */

#define INS_FIN 0x01
#define INS_SYN 0x02
#define INS_PSH 0x08
#define INS_ACK 0x10

enum ins_mode { INS_NONE, INS_CHECKSUM, INS_PAWS, INS_PARTIAL };

static const char *const ins_mode_names[] = {"none", "checksum", "paws", "partial"};

/* The options. */
struct ins_opts {
    const char *iface, *src, *host;
    int port, verbose;
    enum ins_mode mode;
    double timeout;
};

/* The connection and what was learnt about it from its own segments. */
struct ins_conn {
    const struct ins_opts *o;
    int fd;     /* the kernel's TCP connection */
    int pfd;    /* AF_PACKET socket on the client interface */
    int rawfd;  /* raw socket (header included) for the forged copies */
    int family; /* AF_INET or AF_INET6 */
    uint8_t src[16], dst[16];
    uint16_t sport, dport; /* host order */
    struct sockaddr_storage peer;
    socklen_t peerlen;
    int have_isn, have_irs, have_ts, have_ack, peer_ts, have_peer_tsval;
    uint32_t isn, irs;     /* initial sequence numbers: ours, the server's */
    uint32_t tsval, tsecr; /* the highest TSval sent, and the TSecr sent with it */
    uint32_t peer_tsval;   /* the server's highest TSval */
    uint32_t last_ack;     /* the acknowledgement number last sent */
    uint16_t window;       /* the window field last sent */
    uint8_t ttl, tos;      /* TTL/hop limit and TOS/traffic class of the SYN */
    uint32_t flowlabel;    /* IPv6 flow label last sent */
    uint16_t ipid;         /* IPv4 identification last sent */
    uint64_t written;      /* bytes written to the connection */
    uint64_t got;          /* bytes read from it */
    char buf[INS_BUF];     /* bytes read and not yet taken as lines */
    size_t buflen;
    int eof;
    uint8_t fake[128]; /* the last forged copy */
    size_t fakelen;
    unsigned fakes;       /* forged copies sent */
    unsigned fakes_seen;  /* ... and seen leaving on the interface */
    unsigned own_data;    /* the kernel's own data segments seen */
    unsigned own_partial; /* ... whose checksum field held the bare pseudo-header sum */
};

/* ins_usage - print the usage summary and exit with status */
static void ins_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: tcp_insert -i IFACE [-b SRC] [-m checksum|paws|partial] [-t SECONDS] [-v]\n"
            "                  HOST PORT STEP...\n"
            "steps: send LINE | slow LINE | insert LINE LIE | line GLOB | close\n");
    exit(status);
}

/* ins_get16 - a big-endian 16-bit field */
static uint16_t ins_get16(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* ins_get32 - a big-endian 32-bit field */
static uint32_t ins_get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ins_put16 - store a big-endian 16-bit field */
static void ins_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* ins_put32 - store a big-endian 32-bit field */
static void ins_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ins_pseudo - the ones'-complement sum of c's TCP pseudo-header for tcplen bytes */
static uint64_t ins_pseudo(const struct ins_conn *c, size_t tcplen)
{
    size_t alen = c->family == AF_INET ? 4 : 16;
    uint64_t sum = 0;

    sum = cksum_add(sum, c->src, alen);
    sum = cksum_add(sum, c->dst, alen);
    sum += IPPROTO_TCP;
    sum += (uint32_t)(tcplen >> 16) + (uint32_t)(tcplen & 0xffff);
    return sum;
}

/* ins_tcp_ts - find the timestamp option in a TCP header of hlen bytes; 1 if found */
static int ins_tcp_ts(const uint8_t *th, size_t hlen, uint32_t *tsval, uint32_t *tsecr)
{
    size_t i = 20;

    while (i < hlen) {
        uint8_t kind = th[i];

        if (kind == 0)
            break;
        if (kind == 1) {
            i++;
            continue;
        }
        if (i + 1 >= hlen || th[i + 1] < 2 || i + th[i + 1] > hlen)
            break;
        if (kind == 8 && th[i + 1] == 10) {
            *tsval = ins_get32(th + i + 2);
            *tsecr = ins_get32(th + i + 6);
            return 1;
        }
        i += th[i + 1];
    }
    return 0;
}

/* ins_observe - learn from one captured IP packet of c's connection, if it is one */
static void ins_observe(struct ins_conn *c, const uint8_t *p, size_t n, int outgoing)
{
    const uint8_t *th, *a, *b;
    size_t iphlen, iplen, alen, thlen;
    uint8_t ttl, tos;
    uint32_t seq, tsval, tsecr, flow = 0;
    uint16_t ipid = 0;
    int flags;

    if (c->family == AF_INET) {
        if (n < 20 || (p[0] >> 4) != 4 || p[9] != IPPROTO_TCP)
            return;
        iphlen = (size_t)(p[0] & 15) * 4;
        if ((ins_get16(p + 6) & 0x3fff) != 0) /* a fragment */
            return;
        a = p + 12, b = p + 16, alen = 4;
        ttl = p[8], tos = p[1], ipid = ins_get16(p + 4);
        iplen = ins_get16(p + 2);
    } else {
        if (n < 40 || (p[0] >> 4) != 6 || p[6] != IPPROTO_TCP)
            return;
        iphlen = 40;
        a = p + 8, b = p + 24, alen = 16;
        ttl = p[7];
        tos = (uint8_t)(ins_get16(p) >> 4);
        flow = ins_get32(p) & 0xfffff;
        iplen = 40 + (size_t)ins_get16(p + 4);
    }
    if (iphlen < 20 || iplen > n || iplen < iphlen + 20)
        return;
    th = p + iphlen;
    thlen = (size_t)(th[12] >> 4) * 4;
    if (thlen < 20 || iplen < iphlen + thlen)
        return;
    if (outgoing) {
        if (memcmp(a, c->src, alen) != 0 || memcmp(b, c->dst, alen) != 0 ||
            ins_get16(th) != c->sport || ins_get16(th + 2) != c->dport)
            return;
    } else if (memcmp(a, c->dst, alen) != 0 || memcmp(b, c->src, alen) != 0 ||
               ins_get16(th) != c->dport || ins_get16(th + 2) != c->sport) {
        return;
    }
    seq = ins_get32(th + 4);
    flags = th[13];
    if (!outgoing) {
        if ((flags & (INS_SYN | INS_ACK)) == (INS_SYN | INS_ACK)) {
            c->irs = seq;
            c->have_irs = 1;
            c->peer_ts = ins_tcp_ts(th, thlen, &tsval, &tsecr);
        }
        if (ins_tcp_ts(th, thlen, &tsval, &tsecr) &&
            (!c->have_peer_tsval || (int32_t)(tsval - c->peer_tsval) > 0)) {
            c->peer_tsval = tsval; /* what the kernel echoes next */
            c->have_peer_tsval = 1;
        }
        return;
    }
    if (iplen > iphlen + thlen) { /* a data segment of the kernel's */
        c->own_data++;
        if (ins_get16(th + 16) == cksum_fold(ins_pseudo(c, iplen - iphlen)))
            c->own_partial++;
    }
    if ((flags & (INS_SYN | INS_ACK)) == INS_SYN) {
        c->isn = seq;
        c->have_isn = 1;
        c->ttl = ttl;
        c->tos = tos;
    }
    if (ins_tcp_ts(th, thlen, &tsval, &tsecr) && (!c->have_ts || (int32_t)(tsval - c->tsval) > 0)) {
        c->tsval = tsval;
        c->tsecr = tsecr;
        c->have_ts = 1;
    }
    if (flags & INS_ACK) {
        c->last_ack = ins_get32(th + 8);
        c->have_ack = 1;
    }
    c->window = ins_get16(th + 14);
    c->flowlabel = flow;
    c->ipid = ipid;
}

/* ins_drain - read every packet the AF_PACKET socket holds and learn from c's own */
static void ins_drain(struct ins_conn *c)
{
    uint8_t pkt[2048];

    for (;;) {
        struct sockaddr_ll sll;
        socklen_t sl = sizeof(sll);
        ssize_t n = recvfrom(c->pfd, pkt, sizeof(pkt), MSG_DONTWAIT, (struct sockaddr *)&sll, &sl);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        if (sll.sll_pkttype == PACKET_OUTGOING && c->fakelen > 0 && (size_t)n == c->fakelen &&
            memcmp(pkt, c->fake, c->fakelen) == 0) {
            c->fakes_seen++; /* nothing to learn from it */
            c->fakelen = 0;
        } else if (sll.sll_pkttype == PACKET_OUTGOING || sll.sll_pkttype == PACKET_HOST)
            ins_observe(c, pkt, (size_t)n, sll.sll_pkttype == PACKET_OUTGOING);
    }
}

/* ins_open - connect c as the options say, watching its handshake; -1 on error */
static int ins_open(struct ins_conn *c)
{
    const struct ins_opts *o = c->o;
    struct sockaddr_storage src;
    struct sockaddr_ll sll;
    socklen_t srclen;
    unsigned ifindex;
    int one = 1;

    if (netaddr_sockaddr(o->host, o->port, &c->peer, &c->peerlen) < 0) {
        fprintf(stderr, "tcp_insert: bad host %s (numeric only)\n", o->host);
        return -1;
    }
    c->family = c->peer.ss_family;
    if ((ifindex = if_nametoindex(o->iface)) == 0) {
        fprintf(stderr, "tcp_insert: no interface %s\n", o->iface);
        return -1;
    }
    c->pfd = socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_ALL));
    c->rawfd = socket(c->family, SOCK_RAW, IPPROTO_RAW);
    c->fd = socket(c->family, SOCK_STREAM, 0);
    if (c->pfd < 0 || c->rawfd < 0 || c->fd < 0) {
        fprintf(stderr, "tcp_insert: socket: %s\n", strerror(errno));
        return -1;
    }
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)ifindex;
    if (bind(c->pfd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
        fprintf(stderr, "tcp_insert: bind to %s: %s\n", o->iface, strerror(errno));
        return -1;
    }
    if (o->src != NULL) {
        if (netaddr_sockaddr(o->src, 0, &src, &srclen) < 0 || src.ss_family != c->family) {
            fprintf(stderr, "tcp_insert: bad source address %s\n", o->src);
            return -1;
        }
        if (bind(c->fd, (struct sockaddr *)&src, srclen) < 0) {
            fprintf(stderr, "tcp_insert: bind %s: %s\n", o->src, strerror(errno));
            return -1;
        }
    }
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (struct sockaddr *)&c->peer, c->peerlen) < 0) {
        fprintf(stderr, "tcp_insert: connect %s port %d: %s\n", o->host, o->port, strerror(errno));
        return -1;
    }
    srclen = sizeof(src);
    if (getsockname(c->fd, (struct sockaddr *)&src, &srclen) < 0) {
        fprintf(stderr, "tcp_insert: getsockname: %s\n", strerror(errno));
        return -1;
    }
    if (c->family == AF_INET) {
        memcpy(c->src, &((struct sockaddr_in *)&src)->sin_addr, 4);
        memcpy(c->dst, &((struct sockaddr_in *)&c->peer)->sin_addr, 4);
        c->sport = ntohs(((struct sockaddr_in *)&src)->sin_port);
        ((struct sockaddr_in *)&c->peer)->sin_port = 0;
    } else {
        memcpy(c->src, &((struct sockaddr_in6 *)&src)->sin6_addr, 16);
        memcpy(c->dst, &((struct sockaddr_in6 *)&c->peer)->sin6_addr, 16);
        c->sport = ntohs(((struct sockaddr_in6 *)&src)->sin6_port);
        ((struct sockaddr_in6 *)&c->peer)->sin6_port = 0;
    }
    c->dport = (uint16_t)o->port;
    return 0;
}

/* ins_wait_handshake - wait until the SYN and SYN-ACK were seen on the interface */
static int ins_wait_handshake(struct ins_conn *c)
{
    double deadline = util_now() + c->o->timeout;

    for (;;) {
        ins_drain(c);
        if (c->have_isn && c->have_irs)
            break;
        if (util_now() > deadline) {
            fprintf(stderr,
                    "tcp_insert: the connection's handshake was not seen on %s (SYN %s, "
                    "SYN-ACK %s): refusing to inject\n",
                    c->o->iface, c->have_isn ? "seen" : "missing",
                    c->have_irs ? "seen" : "missing");
            return -1;
        }
        util_sleep(0.001);
    }
    if (!c->have_ts || !c->peer_ts) {
        fprintf(stderr, "tcp_insert: the handshake did not agree on TCP timestamps\n");
        return -1;
    }
    return 0;
}

/* ins_fill - read what the server sent into c's buffer, waiting until deadline; -1 on EOF */
static int ins_fill(struct ins_conn *c, double deadline)
{
    struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
    double left = deadline - util_now();
    ssize_t n;
    int rc;

    if (c->eof)
        return -1;
    if (left <= 0)
        return 0;
    rc = poll(&pfd, 1, (int)(left * 1000) + 1);
    if (rc <= 0)
        return 0;
    if (c->buflen == sizeof(c->buf)) {
        c->buflen = 0; /* a line longer than the buffer: keep only its tail */
    }
    n = recv(c->fd, c->buf + c->buflen, sizeof(c->buf) - c->buflen, 0);
    if (n < 0 && errno == EINTR)
        return 0;
    if (n <= 0) {
        c->eof = 1;
        return -1;
    }
    c->buflen += (size_t)n;
    c->got += (uint64_t)n;
    return 0;
}

/* ins_line - take the server's next line (CRLF removed) into line; -1 if none in time */
static int ins_line(struct ins_conn *c, char *line, size_t linesize)
{
    double deadline = util_now() + c->o->timeout;

    for (;;) {
        char *nl = memchr(c->buf, '\n', c->buflen);

        if (nl != NULL) {
            size_t len = (size_t)(nl - c->buf), take = len + 1;

            if (len > 0 && c->buf[len - 1] == '\r')
                len--;
            if (len >= linesize)
                len = linesize - 1;
            memcpy(line, c->buf, len);
            line[len] = '\0';
            memmove(c->buf, c->buf + take, c->buflen - take);
            c->buflen -= take;
            util_printable(line, len, line, linesize);
            printf("S: %s\n", line);
            fflush(stdout);
            return 0;
        }
        if (ins_fill(c, deadline) < 0 || util_now() > deadline)
            return -1;
    }
}

/* ins_write - write n bytes to the connection; -1 on error */
static int ins_write(struct ins_conn *c, const char *data, size_t n)
{
    size_t off = 0;

    while (off < n) {
        ssize_t w = send(c->fd, data + off, n - off, MSG_NOSIGNAL);

        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "tcp_insert: send: %s\n", strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    c->written += n;
    return 0;
}

/* ins_received - bytes the kernel received on the connection (read or still queued) */
static uint64_t ins_received(const struct ins_conn *c)
{
    int queued = 0;

    if (ioctl(c->fd, SIOCINQ, &queued) < 0 || queued < 0)
        queued = 0;
    return c->got + (uint64_t)queued;
}

/* ins_quiet - wait until all bytes sent are acked and all received acknowledged; -1 if not */
static int ins_quiet(struct ins_conn *c)
{
    double deadline = util_now() + c->o->timeout;

    for (;;) {
        struct tcp_info ti;
        socklen_t tl = sizeof(ti);
        int outq = -1;
        uint32_t want_ack;

        memset(&ti, 0, sizeof(ti));
        if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &tl) < 0 ||
            ioctl(c->fd, SIOCOUTQ, &outq) < 0) {
            fprintf(stderr, "tcp_insert: TCP_INFO/SIOCOUTQ: %s\n", strerror(errno));
            return -1;
        }
        ins_drain(c);
        want_ack = c->irs + 1 + (uint32_t)ins_received(c);
        if (outq == 0 && ti.tcpi_unacked == 0 && c->have_ack && c->last_ack == want_ack)
            return 0;
        if (util_now() > deadline) {
            fprintf(stderr,
                    "tcp_insert: the connection did not settle (unsent+unacked %d, unacked "
                    "%u, last ack sent %u, bytes received up to %u)\n",
                    outq, ti.tcpi_unacked, c->last_ack, want_ack);
            return -1;
        }
        util_sleep(0.001);
    }
}

/* ins_forge - build in pkt the forged 1-byte copy of byte at the next sequence number */
static size_t ins_forge(struct ins_conn *c, uint8_t byte, uint8_t *pkt)
{
    size_t iphlen = c->family == AF_INET ? 20 : 40, tcplen = 20 + 12 + 1, len = iphlen + tcplen;
    uint8_t *ip = pkt, *th = pkt + iphlen;
    uint32_t seq = c->isn + 1 + (uint32_t)c->written;
    uint32_t ack = c->irs + 1 + (uint32_t)ins_received(c);
    uint32_t tsval = c->tsval, tsecr = c->have_peer_tsval ? c->peer_tsval : c->tsecr;
    uint64_t pseudo;
    uint16_t valid, partial, cksum;

    if (c->o->mode == INS_PAWS)
        tsval -= INS_PAWS_BACK;
    memset(pkt, 0, len);
    if (c->family == AF_INET) {
        ip[0] = 0x45;
        ip[1] = c->tos;
        ins_put16(ip + 2, (uint16_t)len);
        ins_put16(ip + 4, (uint16_t)(c->ipid + 1));
        ins_put16(ip + 6, 0x4000); /* DF, as the kernel's own segments */
        ip[8] = c->ttl;
        ip[9] = IPPROTO_TCP;
        memcpy(ip + 12, c->src, 4);
        memcpy(ip + 16, c->dst, 4);
        ins_put16(ip + 10, cksum_field(cksum_add(0, ip, 20)));
    } else {
        ins_put32(ip, 6u << 28 | (uint32_t)c->tos << 20 | c->flowlabel);
        ins_put16(ip + 4, (uint16_t)tcplen);
        ip[6] = IPPROTO_TCP;
        ip[7] = c->ttl;
        memcpy(ip + 8, c->src, 16);
        memcpy(ip + 24, c->dst, 16);
    }
    ins_put16(th, c->sport);
    ins_put16(th + 2, c->dport);
    ins_put32(th + 4, seq);
    ins_put32(th + 8, ack);
    th[12] = (32 / 4) << 4;
    th[13] = INS_ACK | INS_PSH;
    ins_put16(th + 14, c->window);
    th[20] = 1, th[21] = 1, th[22] = 8, th[23] = 10; /* NOP NOP TS, as Linux sends it */
    ins_put32(th + 24, tsval);
    ins_put32(th + 28, tsecr);
    th[32] = byte;

    pseudo = ins_pseudo(c, tcplen);
    valid = cksum_field(cksum_add(pseudo, th, tcplen));
    partial = cksum_fold(pseudo);
    switch (c->o->mode) {
    case INS_CHECKSUM:
        /* not the valid value (nor its other spelling, 0 <-> 0xffff), not the partial one */
        cksum = (uint16_t)(valid + 0x1111);
        while (cksum == 0 || cksum == 0xffff || cksum == valid || cksum == partial)
            cksum = (uint16_t)(cksum + 0x1111);
        break;
    case INS_PARTIAL:
        cksum = partial;
        break;
    default:
        cksum = valid;
        break;
    }
    ins_put16(th + 16, cksum);
    if (c->o->verbose)
        fprintf(stderr,
                "tcp_insert: forged %s copy: seq=%u ack=%u win=%u tsval=%u (current %u) "
                "tsecr=%u ttl=%u cksum=0x%04x (valid 0x%04x, partial 0x%04x) byte=0x%02x\n",
                ins_mode_names[c->o->mode], seq, ack, c->window, tsval, c->tsval, tsecr, c->ttl,
                cksum, valid, partial, byte);
    return len;
}

/* ins_slow - line one byte per segment, each after a forged copy of lie's byte if lie */
static int ins_slow(struct ins_conn *c, const char *line, const char *lie)
{
    size_t i, n = strlen(line);

    if (ins_quiet(c) < 0)
        return -1;
    for (i = 0; i < n; i++) {
        if (lie != NULL) {
            size_t len = ins_forge(c, (uint8_t)lie[i], c->fake);

            c->fakelen = len;
            if (sendto(c->rawfd, c->fake, len, 0, (struct sockaddr *)&c->peer, c->peerlen) !=
                (ssize_t)len) {
                fprintf(stderr, "tcp_insert: sending the forged copy: %s\n", strerror(errno));
                return -1;
            }
            c->fakes++;
            util_sleep(INS_SETTLE);
        }
        if (ins_write(c, line + i, 1) < 0 || ins_quiet(c) < 0)
            return -1;
        if (c->fakelen != 0) {
            fprintf(stderr, "tcp_insert: the forged copy was not seen leaving on %s\n",
                    c->o->iface);
            return -1;
        }
    }
    return 0;
}

/* ins_crlf - line with CRLF appended into buf; -1 if too long */
static int ins_crlf(const char *line, char *buf, size_t size)
{
    size_t n = strlen(line);

    if (n + 3 > size || memchr(line, '\r', n) != NULL || memchr(line, '\n', n) != NULL)
        return -1;
    memcpy(buf, line, n);
    memcpy(buf + n, "\r\n", 3);
    return 0;
}

/* ins_step_arity - the number of arguments step takes, or -1 for an unknown step */
static int ins_step_arity(const char *step)
{
    if (strcmp(step, "close") == 0)
        return 0;
    if (strcmp(step, "send") == 0 || strcmp(step, "slow") == 0 || strcmp(step, "line") == 0)
        return 1;
    if (strcmp(step, "insert") == 0)
        return 2;
    return -1;
}

/* ins_steps - run the steps; 0 if all went as written, 1 if one did not */
static int ins_steps(struct ins_conn *c, int nsteps, char **steps)
{
    char line[INS_LINE_MAX], lie[INS_LINE_MAX], got[INS_LINE_MAX];
    int i = 0;

    while (i < nsteps) {
        const char *step = steps[i];

        if (strcmp(step, "send") == 0 || strcmp(step, "slow") == 0) {
            if (ins_crlf(steps[i + 1], line, sizeof(line)) < 0)
                return 1;
            printf("C: %s%s\n", steps[i + 1], step[1] == 'l' ? " (one byte per segment)" : "");
            fflush(stdout);
            if (step[1] == 'e' ? ins_write(c, line, strlen(line)) < 0
                               : ins_slow(c, line, NULL) < 0) {
                fprintf(stderr, "tcp_insert: step %s '%s' failed\n", step, steps[i + 1]);
                return 1;
            }
        } else if (strcmp(step, "insert") == 0) {
            if (ins_crlf(steps[i + 1], line, sizeof(line)) < 0 ||
                ins_crlf(steps[i + 2], lie, sizeof(lie)) < 0 || strlen(line) != strlen(lie)) {
                fprintf(stderr, "tcp_insert: insert needs a LINE and a LIE of one length\n");
                return 1;
            }
            printf("C: %s (one byte per segment, each after a forged %s copy of '%s')\n",
                   steps[i + 1], ins_mode_names[c->o->mode], steps[i + 2]);
            fflush(stdout);
            if (ins_slow(c, line, lie) < 0) {
                fprintf(stderr, "tcp_insert: step insert '%s' failed\n", steps[i + 1]);
                return 1;
            }
        } else if (strcmp(step, "line") == 0) {
            if (ins_line(c, got, sizeof(got)) < 0) {
                fprintf(stderr, "tcp_insert: step line '%s': no line from the server in time\n",
                        steps[i + 1]);
                return 1;
            }
            if (fnmatch(steps[i + 1], got, 0) != 0) {
                fprintf(stderr, "tcp_insert: step line '%s': the server said '%s'\n", steps[i + 1],
                        got);
                return 1;
            }
        } else {
            double deadline = util_now() + c->o->timeout;

            while (!c->eof && util_now() <= deadline)
                (void)ins_fill(c, deadline);
            if (!c->eof) {
                fprintf(stderr, "tcp_insert: step close: the server did not close in time\n");
                return 1;
            }
        }
        i += 1 + ins_step_arity(step);
    }
    return 0;
}

/* main - parse the options and steps, connect, run the steps */
int main(int argc, char **argv)
{
    struct ins_opts o = {.timeout = 10.0};
    struct ins_conn *c;
    int opt, i, has_insert = 0, rc;

    while ((opt = getopt(argc, argv, "+i:b:m:t:vh")) != -1) {
        switch (opt) {
        case 'i':
            o.iface = optarg;
            break;
        case 'b':
            o.src = optarg;
            break;
        case 'm':
            for (i = 1; i < (int)UTIL_ARRAY_LEN(ins_mode_names); i++)
                if (strcmp(optarg, ins_mode_names[i]) == 0)
                    o.mode = (enum ins_mode)i;
            if (o.mode == INS_NONE)
                ins_usage(2);
            break;
        case 't':
            o.timeout = strtod(optarg, NULL);
            break;
        case 'v':
            o.verbose = 1;
            break;
        default:
            ins_usage(opt == 'h' ? 0 : 2);
        }
    }
    if (o.iface == NULL || argc - optind < 2 || !(o.timeout > 0))
        ins_usage(2);
    o.host = argv[optind];
    o.port = atoi(argv[optind + 1]);
    if (o.port <= 0 || o.port > 65535)
        ins_usage(2);
    for (i = optind + 2; i < argc; i += 1 + ins_step_arity(argv[i])) {
        if (ins_step_arity(argv[i]) < 0 || i + ins_step_arity(argv[i]) >= argc) {
            fprintf(stderr, "tcp_insert: bad step '%s'\n", argv[i]);
            ins_usage(2);
        }
        has_insert |= strcmp(argv[i], "insert") == 0;
    }
    if (has_insert && o.mode == INS_NONE) {
        fprintf(stderr, "tcp_insert: an insert step needs -m\n");
        ins_usage(2);
    }
    signal(SIGPIPE, SIG_IGN);
    c = xcalloc(1, sizeof(*c));
    c->o = &o;
    c->fd = c->pfd = c->rawfd = -1;
    if (ins_open(c) < 0 || ins_wait_handshake(c) < 0)
        return 2;
    rc = ins_steps(c, argc - optind - 2, argv + optind + 2);
    if (o.verbose)
        fprintf(stderr,
                "tcp_insert: %u forged copies sent, %u seen leaving on %s; %u of the "
                "kernel's own %u data segments there carried the bare pseudo-header sum as "
                "checksum\n",
                c->fakes, c->fakes_seen, o.iface, c->own_partial, c->own_data);
    close(c->fd);
    close(c->pfd);
    close(c->rawfd);
    free(c);
    return rc;
}
