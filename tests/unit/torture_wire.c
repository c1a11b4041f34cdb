/*
 * torture_wire - unit tests for popauth/sniff/wire.c: what the capture filter (ports.c)
 * lets through (compiled by libpcap for every supported link type, and run over crafted
 * frames: what must reach the decoder and what may be dropped in the kernel), and the
 * pipeline end to end over crafted conversations (Ethernet frames, or Linux cooked v2
 * ones with a packet type and interface index; checksums right or spoiled): a confirmed
 * login is reported once, with its client address, user, server port and capture time;
 * a refused login, other ports, fragments and malformed frames report nothing and are
 * counted; urgent data, a reply acknowledging unseen client bytes, and a TCP fragment
 * between the two hosts during a session refuse its login; the detectors' buffers stay
 * within their global budget. Whose conversations count: a server not in
 * hosts.servers is foreign (counted, never granted), also after wire_set_hosts switches
 * the list. Direction: where the server is this host (a capture file, or hosts.local
 * naming it), a server segment that arrived or a client segment for another host
 * refuses the login; a mirror port's conversations and loopback interfaces are not
 * judged. A capture loss (wire_note_loss, also from before_login, which is called
 * before each login) refuses the logins of conversations that started by then. A client
 * segment with a wrong TCP or IPv4 header checksum refuses the login; the offloaded
 * (pseudo-header) checksum and any server checksum do not. wire_packets gives exactly
 * what wire_packet gives frame by frame, and stops where a callback paused it. The
 * sniff_ports parser, the pcap file reader and the capture-time clamp have tests of
 * their own (torture_ports.c, torture_pcapfile.c, torture_packet.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "popauth/sniff/packet.h"
#include "popauth/sniff/ports.h"
#include "popauth/sniff/wire.h"
#include "shared/cksum.h"
#include "shared/util.h"
#include "tests/unit/be_bytes.h"

/* --- frames ------------------------------------------------------------------------ */

#define WIRE_T_FRAME_MAX 2048

struct wire_t_frame {
    uint8_t b[WIRE_T_FRAME_MAX];
    size_t len;
};

/* What to do to the checksums of a TCP frame built right. */
enum wire_t_sum {
    WIRE_T_SUM_RIGHT,    /* leave them */
    WIRE_T_SUM_WRONG,    /* a bit of the TCP checksum flipped */
    WIRE_T_SUM_PARTIAL,  /* the TCP field: the bare pseudo-header sum (checksum offload) */
    WIRE_T_SUM_IP_WRONG, /* a bit of the IPv4 header checksum flipped */
};

/* One end of a crafted conversation. */
struct wire_t_host {
    int v6;
    uint8_t addr[16];
    uint16_t port;
    uint32_t seq;
    uint32_t ifindex;    /* if not 0, wire_t_send sends its segments as Linux cooked v2
                          * frames captured on this interface... */
    uint8_t type;        /* ...with this packet type (0 arrived, 4 sent, 1-3 another's) */
    enum wire_t_sum sum; /* what wire_t_send does to its next segment's checksums */
};

/* wire_t_pseudo - the running pseudo-header sum of the TCP segment of l4len bytes (header
 * and payload) in the IP packet at ip */
static uint64_t wire_t_pseudo(const uint8_t *ip, int v6, size_t l4len)
{
    return (v6 ? cksum_add(0, ip + 8, 32) : cksum_add(0, ip + 12, 8)) + 6 + l4len;
}

/* wire_t_checksums - fill in the IPv4 header and TCP checksums of the packet at ip (TCP
 * header at l4, l4len bytes with the payload), as a sender's stack does */
static void wire_t_checksums(uint8_t *ip, int v6, uint8_t *l4, size_t l4len)
{
    if (!v6)
        be_put16(ip + 10, cksum_field(cksum_add(0, ip, 20)));
    be_put16(l4 + 16, cksum_field(cksum_add(wire_t_pseudo(ip, v6, l4len), l4, l4len)));
}

/*
 * wire_t_build - an Ethernet frame (with ntags 802.1Q tags) carrying an IP packet from a
 * to b: TCP with seq/ack/flags and text, or (proto 17) UDP; frag: IPv4 fragment offset
 * field, or for IPv6 1 = a fragment header, 2 = hop-by-hop and destination options
 */
static void wire_t_build(struct wire_t_frame *f, int ntags, int proto, const struct wire_t_host *a,
                         const struct wire_t_host *b, uint32_t ack, uint8_t flags, const char *text,
                         int frag)
{
    size_t tlen = text != NULL ? strlen(text) : 0, l4len = proto == 6 ? 20 : 8, off, iplen;
    uint8_t *ip, *l4;
    int i;

    memset(f, 0, sizeof(*f));
    memcpy(f->b, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02", 12);
    off = 12;
    for (i = 0; i < ntags; i++) {
        be_put16(f->b + off, 0x8100);
        be_put16(f->b + off + 2, (unsigned)(10 + i));
        off += 4;
    }
    be_put16(f->b + off, a->v6 ? 0x86dd : 0x0800);
    ip = f->b + off + 2;
    if (a->v6) {
        size_t ext = frag == 1 ? 8 : frag == 2 ? 16 : 0;
        ip[0] = 0x60;
        be_put16(ip + 4, (unsigned)(ext + l4len + tlen));
        ip[6] = frag == 1 ? 44 : frag == 2 ? 0 : (uint8_t)proto;
        ip[7] = 64;
        memcpy(ip + 8, a->addr, 16);
        memcpy(ip + 24, b->addr, 16);
        if (frag == 1) { /* fragment header: offset 0, more fragments */
            ip[40] = (uint8_t)proto;
            be_put16(ip + 42, 1);
            be_put32(ip + 44, 0x1234);
        } else if (frag == 2) { /* hop-by-hop, then destination options, 8 bytes each */
            ip[40] = 60, ip[41] = 0, ip[42] = 1, ip[43] = 4;
            ip[48] = (uint8_t)proto, ip[49] = 0, ip[50] = 1, ip[51] = 4;
        }
        iplen = 40 + ext;
    } else {
        ip[0] = 0x45;
        be_put16(ip + 2, (unsigned)(20 + l4len + tlen));
        be_put16(ip + 6, frag != 0 ? (unsigned)frag : 0x4000);
        ip[8] = 64;
        ip[9] = (uint8_t)proto;
        memcpy(ip + 12, a->addr, 4);
        memcpy(ip + 16, b->addr, 4);
        iplen = 20;
    }
    l4 = ip + iplen;
    be_put16(l4, a->port);
    be_put16(l4 + 2, b->port);
    if (proto == 6) {
        be_put32(l4 + 4, a->seq);
        be_put32(l4 + 8, ack);
        l4[12] = 5 << 4;
        l4[13] = flags;
        be_put16(l4 + 14, 65535);
    } else {
        be_put16(l4 + 4, (unsigned)(8 + tlen));
    }
    if (tlen > 0)
        memcpy(l4 + l4len, text, tlen);
    if (proto == 6)
        wire_t_checksums(ip, a->v6, l4, l4len + tlen);
    f->len = (size_t)(l4 + l4len + tlen - f->b);
}

/* wire_t_spoil - do how to the checksums of the TCP frame f built by wire_t_build (ntags
 * tags, no IPv6 extension headers) */
static void wire_t_spoil(struct wire_t_frame *f, int ntags, int v6, enum wire_t_sum how)
{
    uint8_t *ip = f->b + 14 + 4 * ntags, *l4 = ip + (v6 ? 40 : 20);
    size_t l4len = v6 ? (size_t)(ip[4] << 8 | ip[5]) : (size_t)(ip[2] << 8 | ip[3]) - 20;

    if (how == WIRE_T_SUM_WRONG)
        l4[16] ^= 0x01;
    else if (how == WIRE_T_SUM_PARTIAL)
        be_put16(l4 + 16, cksum_fold(wire_t_pseudo(ip, v6, l4len)));
    else if (how == WIRE_T_SUM_IP_WRONG)
        ip[10] ^= 0x01;
}

/* wire_t_cook - turn the Ethernet frame f into a Linux cooked v2 one (DLT_LINUX_SLL2)
 * captured on interface ifindex with packet type type */
static void wire_t_cook(struct wire_t_frame *f, uint8_t type, uint32_t ifindex)
{
    uint8_t mac[6], proto[2];

    assert_true(f->len + 6 <= sizeof(f->b));
    memcpy(mac, f->b + 6, 6); /* the sender's */
    memcpy(proto, f->b + 12, 2);
    memmove(f->b + 20, f->b + 14, f->len - 14);
    memset(f->b, 0, 20);
    memcpy(f->b, proto, 2);
    be_put32(f->b + 4, ifindex);
    be_put16(f->b + 8, 1); /* ARPHRD_ETHER */
    f->b[10] = type;
    f->b[11] = 6;
    memcpy(f->b + 12, mac, 6);
    f->len += 6;
}

/* wire_t_end - an IPv4 (v6 = 0) or IPv6 end with the given last address byte and port */
static struct wire_t_host wire_t_end(int v6, uint8_t last, uint16_t port, uint32_t isn)
{
    struct wire_t_host e;

    memset(&e, 0, sizeof(e));
    e.v6 = v6;
    if (v6) {
        e.addr[0] = 0x20, e.addr[1] = 0x01, e.addr[2] = 0x0d, e.addr[3] = 0xb8;
        e.addr[15] = last;
    } else {
        e.addr[0] = 198, e.addr[1] = 51, e.addr[2] = 100, e.addr[3] = last;
    }
    e.port = port;
    e.seq = isn;
    return e;
}

/* --- the capture filter ------------------------------------------------------------ */

/* wire_t_passes - 1 if the filter compiled for the default ports on Ethernet passes f */
static int wire_t_passes(pcap_t *p, const struct bpf_program *prog, const struct wire_t_frame *f)
{
    struct pcap_pkthdr h;

    (void)p;
    memset(&h, 0, sizeof(h));
    h.caplen = h.len = (bpf_u_int32)f->len;
    return pcap_offline_filter(prog, &h, f->b) != 0;
}

/* wire_t_default_ports - pop3:110, imap:143 */
static void wire_t_default_ports(struct ports *ports)
{
    char a[] = "pop3:110", b[] = "imap:143";
    char *items[] = {a, b};
    struct strlist list = {items, 2};
    char err[256];

    assert_int_equal(ports_parse(&list, ports, err, sizeof(err)), 0);
}

/* test_ports_filter_compiles - libpcap compiles the filter for every supported link type */
static void test_ports_filter_compiles(void **state)
{
    static const int dlts[] = {PACKET_DLT_NULL, PACKET_DLT_EN10MB,    PACKET_DLT_RAW,
                               PACKET_DLT_LOOP, PACKET_DLT_LINUX_SLL, PACKET_DLT_IPV4,
                               PACKET_DLT_IPV6, PACKET_DLT_LINUX_SLL2};
    struct ports ports;
    char text[PORTS_FILTER_MAX];
    size_t i;

    (void)state;
    wire_t_default_ports(&ports);
    for (i = 0; i < UTIL_ARRAY_LEN(dlts); i++) {
        pcap_t *p = pcap_open_dead(dlts[i], 65535);
        struct bpf_program prog;

        assert_non_null(p);
        assert_int_equal(ports_filter(&ports, dlts[i], text, sizeof(text)), 0);
        assert_non_null(strstr(text, "tcp port 110 or tcp port 143"));
        if (pcap_compile(p, &prog, text, 1, PCAP_NETMASK_UNKNOWN) != 0)
            fail_msg("dlt %d: '%s': %s", dlts[i], text, pcap_geterr(p));
        pcap_freecode(&prog);
        pcap_close(p);
    }
    assert_int_equal(ports_filter(&ports, PACKET_DLT_EN10MB, text, 40), -1);
}

/* One frame for the capture filter (wire_t_build's arguments, ack 0), and its fate. */
struct wire_t_filter_case {
    const char *label;
    int ntags, proto;
    const struct wire_t_host *a, *b;
    uint8_t flags;
    const char *text;
    int frag;
    int pass; /* 1 if the filter must let it through */
};

/* test_ports_filter_frames - what the filter lets through on Ethernet */
static void test_ports_filter_frames(void **state)
{
    struct ports ports;
    char text[PORTS_FILTER_MAX];
    struct bpf_program prog;
    struct wire_t_host c4 = wire_t_end(0, 7, 40000, 1), s110 = wire_t_end(0, 1, 110, 1),
                       s143 = wire_t_end(0, 1, 143, 1), s80 = wire_t_end(0, 1, 80, 1),
                       s53 = wire_t_end(0, 1, 53, 1), c6 = wire_t_end(1, 7, 40000, 1),
                       s6 = wire_t_end(1, 1, 110, 1), s6web = wire_t_end(1, 1, 443, 1);
    const struct wire_t_filter_case cases[] = {
        /* through: the ports either way, tagged or not, IPv4 or IPv6 */
        {"v4 SYN to 110", 0, 6, &c4, &s110, 0x02, NULL, 0, 1},
        {"v4 greeting from 143", 0, 6, &s143, &c4, 0x18, "* OK\r\n", 0, 1},
        {"v4 LOGIN to 143, 1 tag", 1, 6, &c4, &s143, 0x18, "a LOGIN\r\n", 0, 1},
        {"v4 +OK from 110, 2 tags", 2, 6, &s110, &c4, 0x18, "+OK\r\n", 0, 1},
        {"v6 SYN to 110", 0, 6, &c6, &s6, 0x02, NULL, 0, 1},
        {"v6 SYN to 110, 1 tag", 1, 6, &c6, &s6, 0x02, NULL, 0, 1},
        /* through, to be decoded and counted: fragments, IPv6 extension headers */
        {"v4 first fragment to 80", 0, 6, &c4, &s80, 0x18, "GET /", 0x2000, 1},
        {"v4 UDP later fragment", 0, 17, &c4, &s53, 0, "dns", 0x0010, 1},
        {"v4 first fragment to 80, 1 tag", 1, 6, &c4, &s80, 0x18, "GET /", 0x2000, 1},
        {"v6 fragment header", 0, 6, &c6, &s6, 0x02, NULL, 1, 1},
        {"v6 option headers", 0, 6, &c6, &s6, 0x02, NULL, 2, 1},
        {"v6 option headers to 443, 1 tag", 1, 6, &c6, &s6web, 0x02, NULL, 2, 1},
        /* dropped: other ports and UDP, tagged or not */
        {"v4 SYN to 80", 0, 6, &c4, &s80, 0x02, NULL, 0, 0},
        {"v4 SYN to 80, 1 tag", 1, 6, &c4, &s80, 0x02, NULL, 0, 0},
        {"v4 UDP to 53", 0, 17, &c4, &s53, 0, "dns", 0, 0},
        {"v6 SYN to 443", 0, 6, &c6, &s6web, 0x02, NULL, 0, 0},
    };
    struct wire_t_frame f;
    pcap_t *p = pcap_open_dead(PACKET_DLT_EN10MB, 65535);
    size_t i;

    (void)state;
    wire_t_default_ports(&ports);
    assert_int_equal(ports_filter(&ports, PACKET_DLT_EN10MB, text, sizeof(text)), 0);
    assert_int_equal(pcap_compile(p, &prog, text, 1, PCAP_NETMASK_UNKNOWN), 0);
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        const struct wire_t_filter_case *c = &cases[i];

        wire_t_build(&f, c->ntags, c->proto, c->a, c->b, 0, c->flags, c->text, c->frag);
        if (wire_t_passes(p, &prog, &f) != c->pass)
            fail_msg("case %zu (%s): %s, want %s", i, c->label, c->pass ? "dropped" : "passed",
                     c->pass ? "passed" : "dropped");
    }
    pcap_freecode(&prog);
    pcap_close(p);
}

/* --- the pipeline ------------------------------------------------------------------ */

#define WIRE_T_LOGINS 8

/* What the events of one pipeline said. */
struct wire_t_seen {
    struct wire *w; /* for wire_t_pausing */
    int logins;
    struct addr client[WIRE_T_LOGINS];
    char user[WIRE_T_LOGINS][POP3IMAP_USER_MAX];
    uint16_t port[WIRE_T_LOGINS];
    enum pop3imap_proto proto[WIRE_T_LOGINS];
    int64_t usec[WIRE_T_LOGINS];
    int desyncs;
    const char *why;      /* the last desync's reason */
    int befores;          /* before_login calls */
    int logins_at_before; /* logins reported when before_login was last called */
    int64_t loss_at;      /* if not 0: before_login notes a capture loss at this time */
};

/* wire_t_login - record a login */
static void wire_t_login(void *ctx, const struct wire_login *lg)
{
    struct wire_t_seen *s = ctx;

    if (s->logins < WIRE_T_LOGINS) {
        s->client[s->logins] = *lg->client;
        util_strlcpy(s->user[s->logins], lg->user, POP3IMAP_USER_MAX);
        s->port[s->logins] = lg->server_port;
        s->proto[s->logins] = lg->proto;
        s->usec[s->logins] = lg->usec;
    }
    s->logins++;
}

/* wire_t_before - count a before_login call, and note a loss if seen->loss_at says so */
static void wire_t_before(void *ctx)
{
    struct wire_t_seen *s = ctx;

    s->befores++;
    s->logins_at_before = s->logins;
    if (s->loss_at != 0)
        wire_note_loss(s->w, s->loss_at);
}

/* wire_t_desync - count a desync */
static void wire_t_desync(void *ctx, const struct wire_conv *conv, const char *why)
{
    struct wire_t_seen *s = ctx;

    assert_non_null(conv->client);
    assert_non_null(why);
    s->desyncs++;
    s->why = why;
}

#define WIRE_T_TAPE 96

/* Frames kept for wire_packets instead of being fed one by one. */
struct wire_t_tape {
    uint8_t bytes[WIRE_T_TAPE * WIRE_T_FRAME_MAX];
    struct pcapfile_record rec[WIRE_T_TAPE];
    size_t n, used;
};

/* One crafted conversation being fed to a wire (or recorded on wire_t_recording). */
struct wire_t_conv {
    struct wire *w;
    struct wire_t_host c, s;
    int ntags;
    int64_t usec;
};

static struct wire_t_tape *wire_t_recording; /* where wire_t_send keeps frames, if set */

/* wire_t_send - one segment from the client (from_client) or the server */
static void wire_t_send(struct wire_t_conv *cv, int from_client, uint8_t flags, const char *text)
{
    struct wire_t_host *a = from_client ? &cv->c : &cv->s, *b = from_client ? &cv->s : &cv->c;
    struct wire_t_frame f;

    wire_t_build(&f, cv->ntags, 6, a, b, (flags & 0x02) && !(flags & 0x10) ? 0 : b->seq, flags,
                 text, 0);
    wire_t_spoil(&f, cv->ntags, a->v6, a->sum);
    a->sum = WIRE_T_SUM_RIGHT;
    if (a->ifindex != 0)
        wire_t_cook(&f, a->type, a->ifindex);
    cv->usec += 1000;
    if (wire_t_recording != NULL) {
        struct wire_t_tape *t = wire_t_recording;

        assert_true(t->n < WIRE_T_TAPE);
        memcpy(t->bytes + t->used, f.b, f.len);
        t->rec[t->n].frame = t->bytes + t->used;
        t->rec[t->n].caplen = t->rec[t->n].wirelen = f.len;
        t->rec[t->n].usec = cv->usec;
        t->used += f.len;
        t->n++;
    } else {
        wire_packet(cv->w, f.b, f.len, f.len, cv->usec);
    }
    a->seq += (uint32_t)(text != NULL ? strlen(text) : 0) + ((flags & 0x03) ? 1 : 0);
}

/* wire_t_servers - a finished list of the networks in text (kept to the end of the run) */
static const struct cidr_list *wire_t_servers(const char *text)
{
    static struct cidr_list *lists[32];
    static size_t n;
    char err[256];
    const char *p = text;

    assert_true(n < UTIL_ARRAY_LEN(lists));
    lists[n] = cidr_list_new();
    while (*p != '\0') {
        size_t len = strcspn(p, ",");

        assert_int_equal(cidr_list_add(lists[n], p, len, err, sizeof(err)), 0);
        p += len + (p[len] == ',');
    }
    cidr_list_finish(lists[n]);
    return lists[n++];
}

/* wire_t_hosts - every server is ours; a capture recorded on it */
static const struct wire_hosts *wire_t_hosts(void)
{
    static struct wire_hosts hosts;

    if (hosts.servers == NULL)
        hosts.servers = wire_t_servers("0.0.0.0/0,::/0");
    return &hosts;
}

/* wire_t_new_on - a wire for frames of link type dlt following hosts, with the default
 * ports and limits, reporting into seen */
static struct wire *wire_t_new_on(struct wire_t_seen *seen, int dlt, const struct wire_hosts *hosts)
{
    static const struct wire_events events = {
        .login = wire_t_login, .desync = wire_t_desync, .before_login = wire_t_before};
    const struct wire_limits limits = {64, 600 * 1000000LL, 8192, 0x5eed};
    struct ports ports;

    memset(seen, 0, sizeof(*seen));
    wire_t_default_ports(&ports);
    return seen->w = wire_new(dlt, &ports, &limits, hosts, &events, seen);
}

/* wire_t_new - a wire for Ethernet frames, every server ours (wire_t_hosts) */
static struct wire *wire_t_new(struct wire_t_seen *seen)
{
    return wire_t_new_on(seen, PACKET_DLT_EN10MB, wire_t_hosts());
}

/* wire_t_pop3 - a whole POP3 session on cv: USER/PASS answered ok or -ERR */
static void wire_t_pop3(struct wire_t_conv *cv, int ok)
{
    wire_t_send(cv, 1, 0x02, NULL);
    wire_t_send(cv, 0, 0x12, NULL);
    wire_t_send(cv, 1, 0x10, NULL);
    wire_t_send(cv, 0, 0x18, "+OK Dovecot ready.\r\n");
    wire_t_send(cv, 1, 0x18, "USER alice\r\n");
    wire_t_send(cv, 0, 0x18, "+OK\r\n");
    wire_t_send(cv, 1, 0x18, "PASS secret\r\n");
    wire_t_send(cv, 0, 0x18, ok ? "+OK Logged in.\r\n" : "-ERR [AUTH] Authentication failed.\r\n");
    wire_t_send(cv, 1, 0x18, "QUIT\r\n");
    wire_t_send(cv, 0, 0x18, "+OK Logging out.\r\n");
    wire_t_send(cv, 0, 0x11, NULL);
    wire_t_send(cv, 1, 0x11, NULL);
    wire_t_send(cv, 0, 0x10, NULL);
}

/* test_wire_pop3_login - one confirmed POP3 login, with everything the grant needs */
static void test_wire_pop3_login(void **state)
{
    struct wire_t_seen seen;
    struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                             wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};
    struct wire_stats st;
    char text[ADDR_STRLEN];

    (void)state;
    wire_t_pop3(&cv, 1);
    assert_int_equal(seen.logins, 1);
    assert_string_equal(addr_format(&seen.client[0], text, sizeof(text)), "198.51.100.7");
    assert_string_equal(seen.user[0], "alice");
    assert_int_equal(seen.port[0], 110);
    assert_int_equal(seen.proto[0], POP3IMAP_POP3);
    assert_int_equal(seen.usec[0], 1700000000000000LL + 8 * 1000); /* the +OK to PASS */
    assert_int_equal(seen.desyncs, 0);
    wire_stats(cv.w, &st);
    assert_int_equal(st.packets, 13);
    assert_int_equal(st.segments, 13);
    assert_int_equal(st.logins, 1);
    assert_int_equal(st.desynced, 0);
    wire_free(cv.w);
}

/* test_wire_pop3_refused - -ERR to PASS reports nothing */
static void test_wire_pop3_refused(void **state)
{
    struct wire_t_seen seen;
    struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                             wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};

    (void)state;
    wire_t_pop3(&cv, 0);
    assert_int_equal(seen.logins, 0);
    wire_free(cv.w);
}

/* test_wire_imap_vlan_ipv6 - an IMAP LOGIN over IPv6 inside a VLAN tag */
static void test_wire_imap_vlan_ipv6(void **state)
{
    struct wire_t_seen seen;
    struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(1, 7, 40001, 7),
                             wire_t_end(1, 1, 143, 9000), 1, 1700000000000000LL};
    char text[ADDR_STRLEN];

    (void)state;
    wire_t_send(&cv, 1, 0x02, NULL);
    wire_t_send(&cv, 0, 0x12, NULL);
    wire_t_send(&cv, 1, 0x10, NULL);
    wire_t_send(&cv, 0, 0x18, "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n");
    wire_t_send(&cv, 1, 0x18, "a1 LOGIN bob \"s3cret\"\r\n");
    wire_t_send(&cv, 0, 0x18, "a1 OK Logged in\r\n");
    assert_int_equal(seen.logins, 1);
    assert_string_equal(addr_format(&seen.client[0], text, sizeof(text)), "2001:db8::7");
    assert_string_equal(seen.user[0], "bob");
    assert_int_equal(seen.port[0], 143);
    assert_int_equal(seen.proto[0], POP3IMAP_IMAP);
    wire_free(cv.w);
}

/* test_wire_ignored - other ports, UDP, fragments and malformed frames: counted, no
 * conversation, no login */
static void test_wire_ignored(void **state)
{
    struct wire_t_seen seen;
    struct wire *w = wire_t_new(&seen);
    struct wire_t_host c = wire_t_end(0, 7, 40000, 1), web = wire_t_end(0, 1, 80, 1),
                       dns = wire_t_end(0, 1, 53, 1), pop = wire_t_end(0, 1, 110, 1);
    struct wire_stats st;
    struct wire_t_frame f;

    (void)state;
    wire_t_build(&f, 0, 6, &c, &web, 0, 0x18, "+OK Logged in.\r\n", 0);
    wire_packet(w, f.b, f.len, f.len, 1);
    wire_t_build(&f, 0, 17, &c, &dns, 0, 0, "+OK\r\n", 0);
    wire_packet(w, f.b, f.len, f.len, 2);
    wire_t_build(&f, 0, 6, &c, &pop, 0, 0x18, "USER x\r\n", 0x2001);
    wire_packet(w, f.b, f.len, f.len, 3);
    wire_t_build(&f, 0, 6, &c, &pop, 0, 0x02, NULL, 0);
    wire_packet(w, f.b, 20, 20, 4); /* cut inside the IP header */
    wire_stats(w, &st);
    assert_int_equal(st.packets, 4);
    assert_int_equal(st.other, 2);
    assert_int_equal(st.fragments, 1);
    assert_int_equal(st.malformed, 1);
    assert_int_equal(st.segments, 0);
    assert_int_equal(st.flows.flows, 0);
    assert_int_equal(seen.logins, 0);
    wire_free(w);
}

/* test_wire_expire - an idle conversation is swept by capture time, from wire_packet */
static void test_wire_expire(void **state)
{
    struct wire_t_seen seen;
    struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                             wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};
    struct wire_t_conv other = {cv.w, wire_t_end(0, 8, 40002, 5), wire_t_end(0, 1, 110, 6), 0,
                                1700000000000000LL + 601 * 1000000LL};
    struct wire_stats st;

    (void)state;
    wire_t_send(&cv, 1, 0x02, NULL);
    wire_t_send(&cv, 0, 0x12, NULL);
    wire_stats(cv.w, &st);
    assert_int_equal(st.flows.active, 1);
    wire_t_send(&other, 1, 0x02, NULL); /* ten minutes later */
    wire_stats(cv.w, &st);
    assert_int_equal(st.flows.expired, 1);
    assert_int_equal(st.flows.active, 1);
    wire_expire(cv.w, other.usec + 601 * 1000000LL);
    wire_stats(cv.w, &st);
    assert_int_equal(st.flows.active, 0);
    wire_free(cv.w);
}

/* wire_t_greet - handshake and greeting of a POP3 session on cv, then USER answered */
static void wire_t_greet(struct wire_t_conv *cv)
{
    wire_t_send(cv, 1, 0x02, NULL);
    wire_t_send(cv, 0, 0x12, NULL);
    wire_t_send(cv, 1, 0x10, NULL);
    wire_t_send(cv, 0, 0x18, "+OK Dovecot ready.\r\n");
    wire_t_send(cv, 1, 0x18, "USER alice\r\n");
    wire_t_send(cv, 0, 0x18, "+OK\r\n");
}

/* test_wire_urgent - a byte sent as urgent data is not in the server's stream: "USER a\r",
 * "\n" (URG), "PASS b\r\nQUIT\r\n" is read by the server as two lines (answered +OK,
 * +OK) where the bytes say three; such a conversation must not grant */
static void test_wire_urgent(void **state)
{
    struct wire_t_seen seen;
    struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                             wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};
    struct wire_stats st;

    (void)state;
    wire_t_send(&cv, 1, 0x02, NULL);
    wire_t_send(&cv, 0, 0x12, NULL);
    wire_t_send(&cv, 1, 0x10, NULL);
    wire_t_send(&cv, 0, 0x18, "+OK Dovecot ready.\r\n");
    wire_t_send(&cv, 1, 0x18, "USER a\r");
    wire_t_send(&cv, 1, 0x38, "\n"); /* URG|ACK|PSH */
    wire_t_send(&cv, 1, 0x18, "PASS b\r\nQUIT\r\n");
    wire_t_send(&cv, 0, 0x18, "+OK\r\n");
    wire_t_send(&cv, 0, 0x18, "+OK\r\n");
    assert_int_equal(seen.logins, 0);
    assert_int_equal(seen.desyncs, 1);
    assert_string_equal(seen.why, "urgent data");
    wire_stats(cv.w, &st);
    assert_int_equal(st.desynced, 1);
    wire_free(cv.w);

    /* the server's urgent data too; and the same session without URG does grant */
    cv.w = wire_t_new(&seen);
    cv.c = wire_t_end(0, 7, 40000, 1000), cv.s = wire_t_end(0, 1, 110, 50000);
    wire_t_greet(&cv);
    wire_t_send(&cv, 0, 0x30, NULL); /* a bare ACK with URG */
    wire_t_send(&cv, 1, 0x18, "PASS secret\r\n");
    wire_t_send(&cv, 0, 0x18, "+OK Logged in.\r\n");
    assert_int_equal(seen.logins, 0);
    assert_int_equal(seen.desyncs, 1);
    wire_free(cv.w);
    cv.w = wire_t_new(&seen);
    cv.c = wire_t_end(0, 7, 40000, 1000), cv.s = wire_t_end(0, 1, 110, 50000);
    wire_t_greet(&cv);
    wire_t_send(&cv, 1, 0x18, "PASS secret\r\n");
    wire_t_send(&cv, 0, 0x18, "+OK Logged in.\r\n");
    assert_int_equal(seen.logins, 1);
    wire_free(cv.w);
}

/* test_wire_acked_unseen - a reply that acknowledges client bytes the sniffer never saw
 * (here: sent after PASS, missing from the capture) answers a stream it does not know */
static void test_wire_acked_unseen(void **state)
{
    struct wire_t_seen seen;
    struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                             wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};

    (void)state;
    wire_t_greet(&cv);
    wire_t_send(&cv, 1, 0x18, "PASS wrong\r\n");
    cv.c.seq += 12; /* "PASS right\r\n", which the capture lost */
    wire_t_send(&cv, 0, 0x18, "+OK Logged in.\r\n");
    assert_int_equal(seen.logins, 0);
    assert_int_equal(seen.desyncs, 1);
    assert_string_equal(seen.why, "reply acknowledges client bytes not seen");
    wire_free(cv.w);
}

/* wire_t_fragment - an IPv4 or IPv6 TCP (proto 6) or UDP fragment from a to b at usec;
 * first: the fragment at offset 0 (else a later one) */
static void wire_t_fragment(struct wire *w, const struct wire_t_host *a,
                            const struct wire_t_host *b, int proto, int first, int64_t usec)
{
    struct wire_t_frame f;

    if (a->v6) {
        wire_t_build(&f, 0, proto, a, b, 0, 0x18, "PASS right\r\n", 1);
        if (!first) /* offset 8 bytes, no more fragments: no TCP header to read */
            f.b[14 + 42] = 0, f.b[14 + 43] = 8;
    } else {
        wire_t_build(&f, 0, proto, a, b, 0, 0x18, "PASS right\r\n", first ? 0x2000 : 0x0001);
    }
    wire_packet(w, f.b, f.len, f.len, usec);
}

/* wire_t_frag_session - a POP3 login on cv with a fragment from fa to fb (proto, first)
 * sent after PASS (when = 1), or before the SYN (when = 0); returns the logins */
static int wire_t_frag_session(struct wire_t_conv *cv, const struct wire_t_host *fa,
                               const struct wire_t_host *fb, int proto, int first, int when)
{
    struct wire_stats st;
    int logins;

    if (when == 0)
        wire_t_fragment(cv->w, fa, fb, proto, first, cv->usec - 1000);
    wire_t_greet(cv);
    wire_t_send(cv, 1, 0x18, "PASS secret\r\n");
    if (when == 1)
        wire_t_fragment(cv->w, fa, fb, proto, first, cv->usec);
    wire_t_send(cv, 0, 0x18, "+OK Logged in.\r\n");
    wire_stats(cv->w, &st);
    assert_int_equal(st.fragments, 1);
    logins = (int)st.logins;
    wire_free(cv->w);
    return logins;
}

/* test_wire_fragments - a TCP fragment between the two hosts of a conversation, seen
 * after it started, refuses its login (the server may have reassembled bytes the sniffer
 * never saw); one between other hosts, one before the conversation, or a UDP one does not */
static void test_wire_fragments(void **state)
{
    static const struct {
        int v6, from_client, other_pair, proto, first, when, logins;
    } cases[] = {
        {0, 1, 0, 6, 1, 1, 0},  /* first fragment from the client */
        {0, 1, 0, 6, 0, 1, 0},  /* a later fragment: no ports, only the addresses */
        {0, 0, 0, 6, 0, 1, 0},  /* from the server: the pair has no direction */
        {1, 1, 0, 6, 1, 1, 0},  /* IPv6 fragment header */
        {1, 1, 0, 6, 0, 1, 0},  /* IPv6, a later fragment */
        {1, 1, 0, 60, 0, 1, 0}, /* IPv6, fragmentable part starts with an option header */
        {0, 1, 1, 6, 1, 1, 1},  /* another address pair */
        {1, 1, 1, 6, 0, 1, 1},  /* another address pair, IPv6 */
        {0, 1, 0, 17, 1, 1, 1}, /* UDP */
        {0, 1, 0, 6, 1, 0, 1},  /* before the conversation started */
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct wire_t_seen seen;
        struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(cases[i].v6, 7, 40000, 1000),
                                 wire_t_end(cases[i].v6, 1, 110, 50000), 0, 1700000000000000LL};
        struct wire_t_host other = wire_t_end(cases[i].v6, 9, 40001, 1);
        const struct wire_t_host *fa = cases[i].from_client ? &cv.c : &cv.s;
        const struct wire_t_host *fb = cases[i].other_pair    ? &other
                                       : cases[i].from_client ? &cv.s
                                                              : &cv.c;
        int got = wire_t_frag_session(&cv, fa, fb, cases[i].proto, cases[i].first, cases[i].when);

        if (got != cases[i].logins || seen.logins != cases[i].logins)
            fail_msg("case %zu: %d logins, want %d", i, got, cases[i].logins);
        if (cases[i].logins == 0 &&
            (seen.desyncs != 1 ||
             strcmp(seen.why,
                    "IP fragments or opaque packets between the hosts during the conversation") !=
                 0))
            fail_msg("case %zu: %d desyncs (%s)", i, seen.desyncs, seen.why ? seen.why : "-");
    }
}

/* test_wire_fragments_ahead - wire_packets takes fragments in their turn, not when it
 * decodes them ahead: a fragment just after the login does not refuse it */
static void test_wire_fragments_ahead(void **state)
{
    static struct wire_t_tape tape;
    struct wire_t_seen seen;
    struct wire_t_conv cv = {NULL, wire_t_end(0, 7, 40000, 1000), wire_t_end(0, 1, 110, 50000), 0,
                             1700000000000000LL};
    struct wire_t_frame f;
    struct wire *w;

    (void)state;
    memset(&tape, 0, sizeof(tape));
    wire_t_recording = &tape;
    wire_t_greet(&cv);
    wire_t_send(&cv, 1, 0x18, "PASS secret\r\n");
    wire_t_send(&cv, 0, 0x18, "+OK Logged in.\r\n");
    wire_t_recording = NULL;
    wire_t_build(&f, 0, 6, &cv.c, &cv.s, 0, 0x18, "x\r\n", 0x2000);
    memcpy(tape.bytes + tape.used, f.b, f.len);
    tape.rec[tape.n].frame = tape.bytes + tape.used;
    tape.rec[tape.n].caplen = tape.rec[tape.n].wirelen = f.len;
    tape.rec[tape.n].usec = cv.usec + 1000;
    tape.n++;
    w = wire_t_new(&seen);
    assert_int_equal(wire_packets(w, tape.rec, tape.n), tape.n);
    assert_int_equal(seen.logins, 1);
    wire_free(w);
    /* and one before the reply, in the same batch, does */
    tape.rec[tape.n - 1].usec = tape.rec[tape.n - 2].usec;
    {
        struct pcapfile_record last = tape.rec[tape.n - 1];

        tape.rec[tape.n - 1] = tape.rec[tape.n - 2];
        tape.rec[tape.n - 2] = last;
    }
    w = wire_t_new(&seen);
    assert_int_equal(wire_packets(w, tape.rec, tape.n), tape.n);
    assert_int_equal(seen.logins, 0);
    assert_int_equal(seen.desyncs, 1);
    wire_free(w);
}

/* wire_t_pass - PASS from the client, and the server's +OK to it */
static void wire_t_pass(struct wire_t_conv *cv)
{
    wire_t_send(cv, 1, 0x18, "PASS secret\r\n");
    wire_t_send(cv, 0, 0x18, "+OK Logged in.\r\n");
}

/* test_wire_servers - only conversations with a server in hosts.servers are followed; the
 * others are counted as foreign, grant nothing and are not desynchronised */
static void test_wire_servers(void **state)
{
    static const struct {
        const char *servers;
        int v6;
        uint8_t server; /* the last byte of the server's address */
        int logins;     /* 1 followed, 0 foreign */
    } cases[] = {
        {"198.51.100.1", 0, 1, 1},
        {"198.51.100.1", 0, 2, 0},
        {"198.51.100.0/30", 0, 3, 1},
        {"198.51.100.0/30", 0, 4, 0},
        {"192.0.2.1,2001:db8::1", 1, 1, 1},
        {"192.0.2.1,2001:db8::1", 1, 2, 0},
        {"2001:db8::/32", 0, 1, 0}, /* families never cross */
        {"0.0.0.0/0", 1, 1, 0},
        {"", 0, 1, 0}, /* no server is ours */
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        const struct wire_hosts hosts = {.servers = wire_t_servers(cases[i].servers)};
        struct wire_t_seen seen;
        struct wire_t_conv cv = {wire_t_new_on(&seen, PACKET_DLT_EN10MB, &hosts),
                                 wire_t_end(cases[i].v6, 7, 40000, 1000),
                                 wire_t_end(cases[i].v6, cases[i].server, 110, 50000), 0,
                                 1700000000000000LL};
        struct wire_stats st;

        wire_t_pop3(&cv, 1);
        wire_stats(cv.w, &st);
        if (seen.logins != cases[i].logins || st.foreign != (uint64_t)!cases[i].logins)
            fail_msg("case %zu: %d logins, %llu foreign", i, seen.logins,
                     (unsigned long long)st.foreign);
        assert_int_equal(st.desynced, 0);
        assert_int_equal(seen.desyncs, 0);
        wire_free(cv.w);
    }
}

/* test_wire_set_hosts - wire_set_hosts switches the servers followed: a new conversation
 * with the old server is foreign, one with the new server grants, and one followed
 * before the switch goes on */
static void test_wire_set_hosts(void **state)
{
    const struct wire_hosts one = {.servers = wire_t_servers("198.51.100.1")},
                            two = {.servers = wire_t_servers("198.51.100.2")};
    struct wire_t_seen seen;
    struct wire *w = wire_t_new_on(&seen, PACKET_DLT_EN10MB, &one);
    struct wire_t_conv old = {w, wire_t_end(0, 7, 40000, 1000), wire_t_end(0, 1, 110, 50000), 0,
                              1700000000000000LL};
    struct wire_t_conv moved = {w, wire_t_end(0, 8, 40000, 1000), wire_t_end(0, 2, 110, 50000), 0,
                                1700000000000000LL + 100000};
    struct wire_t_conv gone = {w, wire_t_end(0, 9, 40000, 1000), wire_t_end(0, 1, 110, 50000), 0,
                               1700000000000000LL + 200000};
    struct wire_stats st;
    char text[ADDR_STRLEN];

    (void)state;
    wire_t_greet(&old); /* followed from its greeting on */
    wire_set_hosts(w, &two);
    wire_t_pop3(&moved, 1);
    wire_t_pop3(&gone, 1);
    old.usec = gone.usec;
    wire_t_pass(&old);
    assert_int_equal(seen.logins, 2);
    assert_string_equal(addr_format(&seen.client[0], text, sizeof(text)), "198.51.100.8");
    assert_string_equal(addr_format(&seen.client[1], text, sizeof(text)), "198.51.100.7");
    wire_stats(w, &st);
    assert_int_equal(st.foreign, 1);
    assert_int_equal(st.desynced, 0);
    wire_free(w);
}

#define WIRE_T_IFINDEX 3 /* the interface the cooked frames of test_wire_direction are on */

/* Which addresses are this host's in a case of test_wire_direction. */
enum wire_t_local {
    WIRE_T_LOCAL_FILE,   /* NULL: a capture file, every server's */
    WIRE_T_LOCAL_SERVER, /* the server's */
    WIRE_T_LOCAL_MIRROR, /* neither end's: a mirror port */
    WIRE_T_LOCAL_CLIENT, /* the client's only */
};

/* test_wire_direction - Linux cooked v2 frames: where the server is this host (a capture
 * file: every server; live: hosts.local names it), a server segment that did not leave
 * (packet type not 4), or a client segment addressed to another host (types 1-3, and
 * unknown types), is not what the server sent or read: no login. Conversations of other
 * servers (a mirror port) and frames on a loopback interface are not judged by direction */
static void test_wire_direction(void **state)
{
    static const struct {
        enum wire_t_local local;
        int loopback; /* 1: the frames' interface is a loopback one; 2: only others are */
        int client;   /* 1: the client's PASS has the type; 0: the server's +OK */
        uint8_t type;
        int v6;
        int logins;
    } cases[] = {
        /* a capture file */
        {WIRE_T_LOCAL_FILE, 0, 0, 4, 0, 1}, /* the reply left: as it should */
        {WIRE_T_LOCAL_FILE, 0, 0, 0, 0, 0}, /* the reply arrived from outside */
        {WIRE_T_LOCAL_FILE, 0, 0, 0, 1, 0},
        {WIRE_T_LOCAL_FILE, 0, 0, 3, 0, 0},
        {WIRE_T_LOCAL_FILE, 0, 0, 7, 0, 0},
        {WIRE_T_LOCAL_FILE, 0, 1, 0, 0, 1}, /* PASS arrived: as it should */
        {WIRE_T_LOCAL_FILE, 0, 1, 4, 0, 1}, /* PASS left: the client is on this host too */
        {WIRE_T_LOCAL_FILE, 0, 1, 1, 0, 0}, /* broadcast */
        {WIRE_T_LOCAL_FILE, 0, 1, 2, 0, 0}, /* multicast */
        {WIRE_T_LOCAL_FILE, 0, 1, 3, 0, 0}, /* another host's */
        {WIRE_T_LOCAL_FILE, 0, 1, 3, 1, 0},
        {WIRE_T_LOCAL_FILE, 0, 1, 5, 0, 0},
        /* live, the server is this host */
        {WIRE_T_LOCAL_SERVER, 0, 0, 4, 0, 1},
        {WIRE_T_LOCAL_SERVER, 0, 0, 4, 1, 1},
        {WIRE_T_LOCAL_SERVER, 0, 0, 0, 0, 0},
        {WIRE_T_LOCAL_SERVER, 0, 0, 0, 1, 0},
        {WIRE_T_LOCAL_SERVER, 0, 1, 3, 0, 0},
        {WIRE_T_LOCAL_SERVER, 0, 1, 3, 1, 0},
        /* live, another host's server: the direction says nothing */
        {WIRE_T_LOCAL_MIRROR, 0, 0, 0, 0, 1},
        {WIRE_T_LOCAL_MIRROR, 0, 0, 3, 1, 1},
        {WIRE_T_LOCAL_MIRROR, 0, 1, 3, 0, 1},
        {WIRE_T_LOCAL_CLIENT, 0, 0, 0, 0, 1},
        {WIRE_T_LOCAL_CLIENT, 0, 1, 3, 1, 1},
        /* a loopback interface: the direction says nothing */
        {WIRE_T_LOCAL_FILE, 1, 0, 0, 0, 1},
        {WIRE_T_LOCAL_FILE, 1, 1, 3, 0, 1},
        {WIRE_T_LOCAL_SERVER, 1, 0, 0, 1, 1},
        {WIRE_T_LOCAL_FILE, 2, 0, 0, 0, 0},
        {WIRE_T_LOCAL_SERVER, 2, 1, 3, 0, 0},
    };
    const struct cidr_list *local[] = {NULL, wire_t_servers("198.51.100.1,2001:db8::1"),
                                       wire_t_servers("198.51.100.9,2001:db8::9"),
                                       wire_t_servers("198.51.100.7,2001:db8::7")};
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct wire_hosts hosts = {.servers = wire_t_hosts()->servers,
                                   .local = local[cases[i].local],
                                   .loopback = {5, cases[i].loopback == 1 ? WIRE_T_IFINDEX : 9},
                                   .nloopback = cases[i].loopback ? 2 : 0};
        struct wire_t_seen seen;
        struct wire_t_conv cv = {wire_t_new_on(&seen, PACKET_DLT_LINUX_SLL2, &hosts),
                                 wire_t_end(cases[i].v6, 7, 40000, 1000),
                                 wire_t_end(cases[i].v6, 1, 110, 50000), 0, 1700000000000000LL};
        struct wire_stats st;

        cv.c.ifindex = cv.s.ifindex = WIRE_T_IFINDEX;
        cv.c.type = 0; /* arrived */
        cv.s.type = 4; /* sent */
        wire_t_greet(&cv);
        (cases[i].client ? &cv.c : &cv.s)->type = cases[i].type;
        wire_t_pass(&cv);
        wire_stats(cv.w, &st);
        if (seen.logins != cases[i].logins || (int)st.desynced != !cases[i].logins)
            fail_msg("case %zu: %d logins, %d desynced (%s)", i, seen.logins, (int)st.desynced,
                     seen.why ? seen.why : "-");
        if (!cases[i].logins)
            assert_string_equal(seen.why, cases[i].client
                                              ? "a client segment not addressed to this host"
                                              : "a server segment arrived from outside");
        wire_free(cv.w);
    }
}

/* test_wire_loss - a login on a conversation whose first packet came at or before a loss
 * the capture reported (wire_note_loss) is refused; one that started after it is not; the
 * latest loss counts */
static void test_wire_loss(void **state)
{
    static const struct {
        int64_t at; /* the loss, from the conversation's first packet */
        int logins;
    } cases[] = {
        {-1000000, 1}, {-1, 1}, {0, 0}, {1, 0}, {5000, 0}, {7000, 0} /* the +OK's time */,
        {1000000, 0},
    };
    struct wire_t_seen seen;
    struct wire_t_conv cv, later;
    struct wire_stats st;
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        cv = (struct wire_t_conv){wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                                  wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};
        wire_t_greet(&cv);
        wire_note_loss(cv.w, 1700000000000000LL + 1000 + cases[i].at);
        wire_t_pass(&cv);
        wire_stats(cv.w, &st);
        if (seen.logins != cases[i].logins || (int)st.desynced != !cases[i].logins)
            fail_msg("case %zu: %d logins, %d desynced", i, seen.logins, (int)st.desynced);
        if (!cases[i].logins)
            assert_string_equal(seen.why, "the capture lost packets during the conversation");
        wire_free(cv.w);
    }
    cv = (struct wire_t_conv){wire_t_new(&seen), wire_t_end(0, 7, 40000, 1000),
                              wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL};
    later = (struct wire_t_conv){cv.w, wire_t_end(0, 8, 40000, 1000), wire_t_end(0, 1, 110, 50000),
                                 0, 1700000000000000LL + 10000};
    wire_t_greet(&cv);
    wire_note_loss(cv.w, cv.usec);
    wire_note_loss(cv.w, 1700000000000000LL); /* an earlier one changes nothing */
    wire_t_pass(&cv);
    wire_t_pop3(&later, 1);
    assert_int_equal(seen.logins, 1);
    assert_int_equal(seen.desyncs, 1);
    assert_int_equal(seen.usec[0], later.usec - 5 * 1000); /* later's +OK to PASS */
    wire_free(cv.w);
}

/* test_wire_before_login - before_login is called just before each login is reported
 * (not for a refused password), and a loss it reports refuses that very login */
static void test_wire_before_login(void **state)
{
    static const struct {
        int ok;      /* the password was right */
        int loss;    /* before_login reports a loss at the conversation's first packet */
        int befores; /* calls so far */
        int logins;  /* logins so far */
        int desyncs; /* conversations desynchronised so far */
    } steps[] = {
        {1, 0, 1, 1, 0}, {0, 0, 1, 1, 0}, {1, 0, 2, 2, 0}, {1, 1, 3, 2, 1}, {1, 0, 4, 3, 1},
    };
    struct wire_t_seen seen;
    struct wire *w = wire_t_new(&seen);
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(steps); i++) {
        struct wire_t_conv cv = {w, wire_t_end(0, 7, (uint16_t)(40000 + i), 1000),
                                 wire_t_end(0, 1, 110, 50000), 0,
                                 1700000000000000LL + (int64_t)i * 100000};

        seen.loss_at = steps[i].loss ? cv.usec + 1000 : 0;
        wire_t_pop3(&cv, steps[i].ok);
        if (seen.befores != steps[i].befores || seen.logins != steps[i].logins ||
            seen.desyncs != steps[i].desyncs)
            fail_msg("step %zu: %d calls, %d logins, %d desyncs", i, seen.befores, seen.logins,
                     seen.desyncs);
        if (steps[i].ok) /* called before this login was reported */
            assert_int_equal(seen.logins_at_before, steps[i].logins - !steps[i].loss);
    }
    assert_string_equal(seen.why, "the capture lost packets during the conversation");
    wire_free(w);
}

/* test_wire_checksums - a client segment whose TCP or IPv4 header checksum is wrong was
 * dropped by the server, so its PASS is not what the server read: no login. The bare
 * pseudo-header sum that checksum offload leaves is taken; the server's checksums are
 * not checked (offloaded, they are wrong in a capture made on the server) */
static void test_wire_checksums(void **state)
{
    static const struct {
        int client; /* 1: the client's PASS has the checksums; 0: the server's +OK */
        enum wire_t_sum sum;
        int v6;
        int logins;
    } cases[] = {
        {1, WIRE_T_SUM_RIGHT, 0, 1},    {1, WIRE_T_SUM_WRONG, 0, 0},
        {1, WIRE_T_SUM_WRONG, 1, 0},    {1, WIRE_T_SUM_IP_WRONG, 0, 0},
        {1, WIRE_T_SUM_PARTIAL, 0, 1},  {1, WIRE_T_SUM_PARTIAL, 1, 1},
        {0, WIRE_T_SUM_WRONG, 0, 1},    {0, WIRE_T_SUM_WRONG, 1, 1},
        {0, WIRE_T_SUM_IP_WRONG, 0, 1}, {0, WIRE_T_SUM_PARTIAL, 0, 1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct wire_t_seen seen;
        struct wire_t_conv cv = {wire_t_new(&seen), wire_t_end(cases[i].v6, 7, 40000, 1000),
                                 wire_t_end(cases[i].v6, 1, 110, 50000), 0, 1700000000000000LL};

        wire_t_greet(&cv);
        (cases[i].client ? &cv.c : &cv.s)->sum = cases[i].sum;
        wire_t_pass(&cv);
        if (seen.logins != cases[i].logins || seen.desyncs != !cases[i].logins)
            fail_msg("case %zu: %d logins, %d desyncs (%s)", i, seen.logins, seen.desyncs,
                     seen.why ? seen.why : "-");
        if (!cases[i].logins)
            assert_string_equal(seen.why, "a bad checksum");
        wire_free(cv.w);
    }
}

#define WIRE_T_BUDGET_FLOWS 2100
#define WIRE_T_PIECE        1400

/* test_wire_budget - the detectors' buffers together stay within WIRE_BUFFER_BUDGET:
 * conversations joined with a partial line of 4,101 bytes (each buffer grows to 8 KiB)
 * fill it at 2,048; the next ones are given up; a finished one frees its share */
static void test_wire_budget(void **state)
{
    static const struct wire_events events = {.login = wire_t_login, .desync = wire_t_desync};
    const struct wire_limits limits = {4096, 600 * 1000000LL, 8192, 0x5eed};
    char piece[WIRE_T_PIECE + 1];
    struct wire_t_seen seen;
    struct ports ports;
    struct wire_stats st;
    struct wire_t_conv cv;
    struct wire *w;
    unsigned i;

    (void)state;
    memset(&seen, 0, sizeof(seen));
    wire_t_default_ports(&ports);
    w = wire_new(PACKET_DLT_EN10MB, &ports, &limits, wire_t_hosts(), &events, &seen);
    memset(piece, 'A', WIRE_T_PIECE);
    piece[WIRE_T_PIECE] = '\0';
    for (i = 0; i < WIRE_T_BUDGET_FLOWS; i++) {
        cv = (struct wire_t_conv){w, wire_t_end(0, 7, (uint16_t)(10000 + i), 1000 + i),
                                  wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL + i};
        piece[0] = '\n'; /* joined: skipped up to the first LF */
        wire_t_send(&cv, 1, 0x18, piece);
        piece[0] = 'A';
        wire_t_send(&cv, 1, 0x18, piece);
        wire_t_send(&cv, 1, 0x18, piece);
        wire_t_send(&cv, 1, 0x18, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        wire_stats(w, &st);
        assert_true(st.buffered <= WIRE_BUFFER_BUDGET);
    }
    wire_stats(w, &st);
    assert_int_equal(WIRE_BUFFER_BUDGET / 8192, 2048);
    assert_int_equal(st.buffered, WIRE_BUFFER_BUDGET);
    assert_int_equal(seen.desyncs, WIRE_T_BUDGET_FLOWS - 2048);
    assert_string_equal(seen.why, "detector buffer budget exhausted");
    /* the first conversation ends: the next one has room again */
    cv = (struct wire_t_conv){w, wire_t_end(0, 7, 10000, 1000 + 3 * WIRE_T_PIECE + 50),
                              wire_t_end(0, 1, 110, 50000), 0, 1700000000000000LL + 5000};
    wire_t_send(&cv, 1, 0x14, NULL); /* RST */
    wire_stats(w, &st);
    assert_int_equal(st.buffered, WIRE_BUFFER_BUDGET - 8192);
    cv = (struct wire_t_conv){w, wire_t_end(0, 8, 10000, 1), wire_t_end(0, 1, 110, 50000), 0,
                              1700000000000000LL + 6000};
    piece[0] = '\n';
    wire_t_send(&cv, 1, 0x18, piece);
    wire_t_send(&cv, 1, 0x18, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    wire_stats(w, &st);
    assert_int_equal(seen.desyncs, WIRE_T_BUDGET_FLOWS - 2048);
    assert_int_equal(st.buffered, WIRE_BUFFER_BUDGET - 8192 + 2048);
    wire_free(w);
}

/* --- wire_packets ------------------------------------------------------------------ */

/* wire_t_sessions - five POP3 sessions (the third and fifth refused) and an IMAP one,
 * interleaved as a capture would hold them, recorded on tape */
static void wire_t_sessions(struct wire_t_tape *tape)
{
    struct wire_t_conv cv[6];
    int i, step;

    memset(tape, 0, sizeof(*tape));
    wire_t_recording = tape;
    for (i = 0; i < 6; i++) {
        struct wire_t_conv c = {
            NULL, wire_t_end(i == 5, (uint8_t)(10 + i), (uint16_t)(40000 + i), 1000u * (unsigned)i),
            wire_t_end(i == 5, 1, i == 5 ? 143 : 110, 0xfffffff0u), 0, 1700000000000000LL + i};
        cv[i] = c;
    }
    for (step = 0; step < 5; step++) {
        for (i = 0; i < 6; i++) {
            static const char *pop3[5][2] = {{NULL, "+OK ready\r\n"},
                                             {"USER u\r\n", "+OK\r\n"},
                                             {"PASS p\r\n", "+OK Logged in.\r\n"},
                                             {"STAT\r\n", "+OK 0 0\r\n"},
                                             {"QUIT\r\n", "+OK bye\r\n"}};
            static const char *imap[5][2] = {{NULL, "* OK ready\r\n"},
                                             {"a LOGIN u p\r\n", "a OK\r\n"},
                                             {"b SELECT INBOX\r\n", "b OK\r\n"},
                                             {"c NOOP\r\n", "c OK\r\n"},
                                             {"d LOGOUT\r\n", "d OK\r\n"}};
            const char *(*lines)[2] = i == 5 ? imap : pop3;
            const char *reply = lines[step][1];

            if (step == 0) {
                wire_t_send(&cv[i], 1, 0x02, NULL);
                wire_t_send(&cv[i], 0, 0x12, NULL);
            } else {
                wire_t_send(&cv[i], 1, 0x18, lines[step][0]);
            }
            if (step == 2 && (i == 2 || i == 4))
                reply = "-ERR [AUTH] Authentication failed.\r\n";
            wire_t_send(&cv[i], 0, 0x18, reply);
        }
    }
    wire_t_recording = NULL;
}

/* wire_t_pausing - a login callback that records the login and pauses the wire */
static void wire_t_pausing(void *ctx, const struct wire_login *lg)
{
    struct wire_t_seen *s = ctx;

    wire_t_login(ctx, lg);
    wire_pause(s->w);
}

/* test_wire_packets - wire_packets gives what wire_packet gives frame by frame, also in
 * pieces, and stops right after a frame whose callback paused it */
static void test_wire_packets(void **state)
{
    static struct wire_t_tape tape;
    static const struct wire_events pausing = {.login = wire_t_pausing, .desync = wire_t_desync};
    const struct wire_limits limits = {64, 600 * 1000000LL, 8192, 0x5eed};
    struct wire_t_seen one, all, cut;
    struct wire_stats a, b, c;
    struct ports ports;
    struct wire *w;
    size_t i, k, n, stops = 0;

    (void)state;
    wire_t_sessions(&tape);
    w = wire_t_new(&one);
    for (i = 0; i < tape.n; i++)
        wire_packet(w, tape.rec[i].frame, tape.rec[i].caplen, tape.rec[i].wirelen,
                    tape.rec[i].usec);
    wire_stats(w, &a);
    wire_free(w);
    assert_int_equal(one.logins, 4);

    w = wire_t_new(&all);
    for (i = 0; i < tape.n; i += k) /* pieces of 1 to 11 records */
        k = wire_packets(w, tape.rec + i, (i % 11) + 1 < tape.n - i ? (i % 11) + 1 : tape.n - i);
    wire_stats(w, &b);
    wire_free(w);
    assert_int_equal(all.logins, one.logins);
    assert_memory_equal(all.client, one.client, sizeof(one.client));
    assert_memory_equal(all.usec, one.usec, sizeof(one.usec));
    assert_memory_equal(&a, &b, sizeof(a));

    wire_t_default_ports(&ports);
    memset(&cut, 0, sizeof(cut));
    w = cut.w = wire_new(PACKET_DLT_EN10MB, &ports, &limits, wire_t_hosts(), &pausing, &cut);
    for (i = 0; i < tape.n; i += n) {
        int before = cut.logins;

        n = wire_packets(w, tape.rec + i, tape.n - i);
        assert_true(n >= 1 && n <= tape.n - i);
        if (n < tape.n - i) { /* paused: the last frame taken gave a login */
            assert_int_equal(cut.logins, before + 1);
            assert_int_equal(cut.usec[cut.logins - 1], tape.rec[i + n - 1].usec);
            stops++;
        }
    }
    wire_stats(w, &c);
    wire_free(w);
    assert_int_equal(stops, 4 - 1 + (cut.usec[3] != tape.rec[tape.n - 1].usec));
    assert_int_equal(cut.logins, one.logins);
    assert_memory_equal(cut.usec, one.usec, sizeof(one.usec));
    assert_memory_equal(&a, &c, sizeof(a));
}

/* main - run every test */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports_filter_compiles),
        cmocka_unit_test(test_ports_filter_frames),
        cmocka_unit_test(test_wire_pop3_login),
        cmocka_unit_test(test_wire_pop3_refused),
        cmocka_unit_test(test_wire_imap_vlan_ipv6),
        cmocka_unit_test(test_wire_ignored),
        cmocka_unit_test(test_wire_expire),
        cmocka_unit_test(test_wire_urgent),
        cmocka_unit_test(test_wire_acked_unseen),
        cmocka_unit_test(test_wire_fragments),
        cmocka_unit_test(test_wire_fragments_ahead),
        cmocka_unit_test(test_wire_servers),
        cmocka_unit_test(test_wire_set_hosts),
        cmocka_unit_test(test_wire_direction),
        cmocka_unit_test(test_wire_loss),
        cmocka_unit_test(test_wire_before_login),
        cmocka_unit_test(test_wire_checksums),
        cmocka_unit_test(test_wire_budget),
        cmocka_unit_test(test_wire_packets),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
