/*
 * torture_tcpflow - unit tests for popauth/sniff/tcpflow.c. Segments are fed as decoded
 * packets (their payload in a heap copy of exactly its size, scribbled over after each
 * call, so that buffered bytes must have been copied) to a table whose handler writes a
 * transcript: "#1 open ...", "#1 data C '...'", "#1 data S '...' acked=N", "#1 desync
 * WHY", "#1 close HOW". Each scenario compares the whole transcript: in-order and
 * out-of-order delivery, retransmissions (identical, coalesced, conflicting, partial),
 * conflicts with buffered bytes, gaps with FIN or RST, buffer limits, joined flows,
 * handshake variants, FIN and RST endings, sequence wrap-around at 2^32, eviction,
 * expiry, port reuse, the acked computation, and a randomised reordering run.
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
#include "popauth/sniff/tcpflow.h"
#include "shared/addr.h"
#include "shared/cksum.h"
#include "shared/util.h"

#define SYN PACKET_SYN
#define ACK PACKET_ACK
#define URG PACKET_URG
#define FIN PACKET_FIN
#define RST PACKET_RST
#define C   TCPFLOW_CLIENT
#define S   TCPFLOW_SERVER

#define T_LOG_MAX (1 << 16)
#define T_SEC     1000000LL
#define T_SEED    0x5eedULL /* hash key: any value works */

/* The handler's state for one conversation. */
struct t_user {
    unsigned id;
    int closed;
};

/* What the handler saw, and how it behaves. */
struct t_rec {
    char log[T_LOG_MAX];
    size_t len;
    unsigned next_id;
    unsigned opened, closed;
    int open_null;     /* open returns NULL */
    int64_t open_usec; /* the time the last open was given */
    unsigned stop_at;  /* data returns -1 at this call (counted from 1); 0: never */
    unsigned ndata;
    int quiet;                  /* record data into stream[] instead of the log */
    uint8_t stream[2][1 << 16]; /* bytes of each side, when quiet */
    size_t streamlen[2];
};

/* A table, its recorder and the clock. */
struct t_env {
    struct tcpflow_table *t;
    struct t_rec *rec;
    int64_t now;
};

/* t_logf - append a line to the transcript */
static void t_logf(struct t_rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void t_logf(struct t_rec *r, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(r->log + r->len, sizeof(r->log) - r->len, fmt, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < sizeof(r->log) - r->len);
    r->len += (size_t)n;
}

/* t_open - handler: a new conversation */
static void *t_open(void *ctx, const struct tcpflow_key *key, int joined, int64_t usec)
{
    struct t_rec *r = ctx;
    struct t_user *u;
    char c[ADDR_STRLEN], s[ADDR_STRLEN];

    r->open_usec = usec;
    r->opened++;
    t_logf(r, "#%u open %s:%u %s:%u joined=%d\n", r->next_id + 1,
           addr_format(&key->client, c, sizeof(c)), key->cport,
           addr_format(&key->server, s, sizeof(s)), key->sport, joined);
    r->next_id++;
    if (r->open_null)
        return NULL;
    u = calloc(1, sizeof(*u));
    assert_non_null(u);
    u->id = r->next_id;
    return u;
}

/* t_data - handler: in-order bytes */
static int t_data(void *ctx, void *user, enum tcpflow_side side, const uint8_t *bytes, size_t len,
                  uint64_t acked, int64_t usec)
{
    struct t_rec *r = ctx;
    struct t_user *u = user;
    size_t i;

    (void)usec;
    assert_non_null(u);
    assert_int_equal(u->closed, 0);
    assert_true(len > 0);
    r->ndata++;
    if (r->quiet) {
        assert_true(r->streamlen[side] + len <= sizeof(r->stream[side]));
        memcpy(r->stream[side] + r->streamlen[side], bytes, len);
        r->streamlen[side] += len;
    } else {
        t_logf(r, "#%u data %c '", u->id, side == TCPFLOW_CLIENT ? 'C' : 'S');
        for (i = 0; i < len; i++) {
            if (bytes[i] == '\r')
                t_logf(r, "\\r");
            else if (bytes[i] == '\n')
                t_logf(r, "\\n");
            else if (bytes[i] >= 0x20 && bytes[i] < 0x7f)
                t_logf(r, "%c", bytes[i]);
            else
                t_logf(r, "\\x%02x", bytes[i]);
        }
        if (side == TCPFLOW_SERVER)
            t_logf(r, "' acked=%llu\n", (unsigned long long)acked);
        else
            t_logf(r, "'\n");
    }
    return r->stop_at != 0 && r->ndata == r->stop_at ? -1 : 0;
}

/* t_desync - handler: the conversation lost track */
static void t_desync(void *ctx, void *user, const char *why)
{
    struct t_rec *r = ctx;
    struct t_user *u = user;

    assert_non_null(u);
    assert_int_equal(u->closed, 0);
    t_logf(r, "#%u desync %s\n", u->id, why);
}

/* t_close - handler: the conversation ended */
static void t_close(void *ctx, void *user, enum tcpflow_end how)
{
    static const char *names[] = {"closed", "reset", "idle", "evicted", "shutdown"};
    struct t_rec *r = ctx;
    struct t_user *u = user;

    assert_non_null(u);
    assert_int_equal(u->closed, 0);
    assert_true((unsigned)how < 5);
    u->closed = 1;
    r->closed++;
    t_logf(r, "#%u close %s\n", u->id, names[how]);
    free(u);
}

static const struct tcpflow_handler t_handler = {t_open, t_data, t_desync, t_close};

/* t_env_new - a table of max_flows with a timeout of timeout_sec */
static struct t_env *t_env_new(size_t max_flows, int64_t timeout_sec)
{
    struct t_env *e = calloc(1, sizeof(*e));

    assert_non_null(e);
    e->rec = calloc(1, sizeof(*e->rec));
    assert_non_null(e->rec);
    e->t = tcpflow_new(max_flows, timeout_sec * T_SEC, T_SEED, &t_handler, e->rec);
    e->now = 1000 * T_SEC;
    return e;
}

/* t_env_free - free the table; every opened flow must have been closed exactly once */
static void t_env_free(struct t_env *e)
{
    tcpflow_free(e->t);
    assert_int_equal(e->rec->opened - (e->rec->open_null ? e->rec->opened : 0), e->rec->closed);
    free(e->rec);
    free(e);
}

/* t_put - store the n-byte big-endian value v at p */
static void t_put(uint8_t *p, uint32_t v, int n)
{
    while (n-- > 0) {
        p[n] = (uint8_t)v;
        v >>= 8;
    }
}

/* How a segment's headers differ from the plain one (TTL 64, no options, window 65535,
 * right checksums). A zero field keeps the plain value. */
struct t_shape {
    uint8_t ttl; /* TTL or hop limit */
    int ts;      /* a timestamp option carrying tsval */
    uint32_t tsval;
    int wscale;      /* 1 + a window scale option's shift */
    uint16_t window; /* the window field */
    int sum;         /* T_SUM_... */
    int ipopts;      /* 4 bytes of IPv4 options (NOP, NOP, NOP, EOL) */
    uint8_t dir;     /* the direction a cooked capture would have recorded */
};

#define T_SUM_PARTIAL 1 /* the TCP field holds the bare pseudo-header sum (offload) */
#define T_SUM_TCP     2 /* a wrong TCP checksum */
#define T_SUM_IP      3 /* a wrong IPv4 header checksum */

/*
 * t_segment - feed one segment of conversation cport (len payload bytes) sent by side, as
 * a raw IPv4 or (v6) IPv6 packet shaped by sh (NULL: plain) and decoded by packet_decode;
 * a truncated one lacks its last byte on the wire. The packet is in a heap copy of its
 * exact size, scribbled over after the call.
 */
static void t_segment(struct t_env *e, int v6, const struct t_shape *sh, unsigned cport,
                      enum tcpflow_side side, uint8_t flags, uint32_t seq, uint32_t ack,
                      const void *data, size_t len, int truncated)
{
    static const uint8_t c4[4] = {192, 0, 2, 1}, s4[4] = {198, 51, 100, 1};
    static const uint8_t c6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 5},
                         s6[16] = {0x20, 0x01, 0x0d, 0xb8, [14] = 1, [15] = 0x43};
    static const struct t_shape plain;
    size_t ipo, hl, alen = v6 ? 16 : 4, th, wire;
    uint8_t *b, *tcp, *src;
    uint32_t pseudo;
    struct packet p;

    sh = sh != NULL ? sh : &plain;
    ipo = !v6 && sh->ipopts ? 4 : 0;
    hl = (v6 ? 40 : 20) + ipo;
    th = 20 + (sh->ts ? 12 : 0) + (sh->wscale ? 4 : 0);
    wire = hl + th + len + (truncated ? 1 : 0);
    b = calloc(1, wire);
    assert_non_null(b);
    tcp = b + hl;
    src = b + (v6 ? 8 : 12);
    memcpy(src, side == C ? (v6 ? c6 : c4) : (v6 ? s6 : s4), alen);
    memcpy(src + alen, side == C ? (v6 ? s6 : s4) : (v6 ? c6 : c4), alen);
    if (v6) {
        b[0] = 0x60;
        t_put(b + 4, (uint32_t)(wire - hl), 2);
        b[6] = 6;
        b[7] = sh->ttl ? sh->ttl : 64;
    } else {
        b[0] = (uint8_t)(0x40 | hl / 4);
        t_put(b + 2, (uint32_t)wire, 2);
        b[8] = sh->ttl ? sh->ttl : 64;
        b[9] = 6;
        memcpy(b + 20, "\x01\x01\x01\x00", ipo);
        t_put(b + 10, (uint16_t)(cksum_field(cksum_add(0, b, hl)) + (sh->sum == T_SUM_IP)), 2);
    }
    t_put(tcp, side == C ? cport : (v6 ? 143 : 110), 2);
    t_put(tcp + 2, side == C ? (v6 ? 143 : 110) : cport, 2);
    t_put(tcp + 4, seq, 4);
    t_put(tcp + 8, ack, 4);
    tcp[12] = (uint8_t)(th / 4 << 4);
    tcp[13] = flags;
    t_put(tcp + 14, sh->window ? sh->window : 65535, 2);
    if (sh->ts) { /* NOP, NOP, kind 8, length 10, TSval, TSecr 0 */
        memcpy(tcp + 20, "\x01\x01\x08\x0a", 4);
        t_put(tcp + 24, sh->tsval, 4);
    }
    if (sh->wscale) /* NOP, kind 3, length 3, shift */
        t_put(tcp + th - 4, 0x01030300u | (uint32_t)(sh->wscale - 1), 4);
    if (len)
        memcpy(tcp + th, data, len);
    pseudo = cksum_fold(cksum_add(6 + (uint32_t)(wire - hl), src, 2 * alen));
    if (sh->sum == T_SUM_PARTIAL)
        t_put(tcp + 16, pseudo, 2);
    else
        t_put(tcp + 16,
              (uint16_t)(cksum_field(cksum_add(pseudo, tcp, wire - hl)) + (sh->sum == T_SUM_TCP)),
              2);
    assert_int_equal(packet_decode(v6 ? PACKET_DLT_IPV6 : PACKET_DLT_IPV4, b,
                                   wire - (size_t)truncated, wire, &p),
                     PACKET_TCP);
    p.dir = sh->dir;
    tcpflow_packet(e->t, &p, side, e->now);
    memset(b, 'Z', wire);
    free(b);
    e->now += 1000;
}

/* t_sendn - feed one IPv4 segment of conversation cport; see t_segment */
static void t_sendn(struct t_env *e, unsigned cport, enum tcpflow_side side, uint8_t flags,
                    uint32_t seq, uint32_t ack, const void *data, size_t len, int truncated)
{
    t_segment(e, 0, NULL, cport, side, flags, seq, ack, data, len, truncated);
}

/* t_sendx - feed one IPv4 segment shaped by sh whose payload is the string data */
static void t_sendx(struct t_env *e, const struct t_shape *sh, unsigned cport,
                    enum tcpflow_side side, uint8_t flags, uint32_t seq, uint32_t ack,
                    const char *data)
{
    t_segment(e, 0, sh, cport, side, flags, seq, ack, data, strlen(data), 0);
}

/* t_send - feed one segment whose payload is the string data */
static void t_send(struct t_env *e, unsigned cport, enum tcpflow_side side, uint8_t flags,
                   uint32_t seq, uint32_t ack, const char *data)
{
    t_sendn(e, cport, side, flags, seq, ack, data, strlen(data), 0);
}

/* t_handshake - SYN (client ISN cisn), SYN-ACK (server ISN sisn), ACK */
static void t_handshake(struct t_env *e, unsigned cport, uint32_t cisn, uint32_t sisn)
{
    t_send(e, cport, C, SYN, cisn, 0, "");
    t_send(e, cport, S, SYN | ACK, sisn, cisn + 1, "");
    t_send(e, cport, C, ACK, cisn + 1, sisn + 1, "");
}

/* t_expect - the transcript so far is want; then forget it */
static void t_expect(struct t_env *e, const char *want)
{
    assert_string_equal(e->rec->log, want);
    e->rec->len = 0;
    e->rec->log[0] = '\0';
}

/* t_stats - the table's counters */
static struct tcpflow_stats t_stats(const struct t_env *e)
{
    struct tcpflow_stats st;

    tcpflow_stats(e->t, &st);
    return st;
}

#define OPEN0 "#1 open 192.0.2.1:40000 198.51.100.1:110 joined=0\n"
#define OPEN1 "#1 open 192.0.2.1:40000 198.51.100.1:110 joined=1\n"

/* test_tcpflow_inorder - a whole login in order, with acked counting client bytes */
static void test_tcpflow_inorder(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    struct tcpflow_stats st;

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    t_expect(e, ""); /* no data yet: not opened */
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK ready\r\n");
    t_send(e, 40000, C, ACK, 1001, 5012, "USER a\r\n");
    t_send(e, 40000, S, ACK, 5012, 1009, "+OK\r\n");
    t_send(e, 40000, C, ACK, 1009, 5017, "PASS b\r\n");
    t_send(e, 40000, S, ACK, 5017, 1017, "+OK in\r\n");
    t_expect(e, OPEN0 "#1 data S '+OK ready\\r\\n' acked=0\n"
                      "#1 data C 'USER a\\r\\n'\n"
                      "#1 data S '+OK\\r\\n' acked=8\n"
                      "#1 data C 'PASS b\\r\\n'\n"
                      "#1 data S '+OK in\\r\\n' acked=16\n");
    st = t_stats(e);
    assert_int_equal(st.flows, 1);
    assert_int_equal(st.joined, 0);
    assert_int_equal(st.active, 1);
    assert_int_equal(st.desynced, 0);
    assert_int_equal(st.retransmitted, 0);
    tcpflow_free(e->t);
    e->t = NULL;
    t_expect(e, "#1 close shutdown\n");
    t_env_free(e);
}

/* test_tcpflow_out_of_order - early segments wait for the hole, then come in order */
static void test_tcpflow_out_of_order(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    /* the server's second segment before its first; the client's three in reverse */
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_send(e, 40000, S, ACK, 5012, 1009, "+OK\r\n");
    t_expect(e, OPEN0 "#1 data C 'USER a\\r\\n'\n");
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK ready\r\n");
    t_expect(e, "#1 data S '+OK ready\\r\\n' acked=0\n"
                "#1 data S '+OK\\r\\n' acked=8\n");
    t_send(e, 40000, C, ACK, 1020, 5017, "3\r\n");
    t_send(e, 40000, C, ACK, 1015, 5017, "2\r\n");
    t_send(e, 40000, C, ACK, 1018, 5017, "x\r");
    t_expect(e, "");
    t_send(e, 40000, C, ACK, 1009, 5017, "PASS b");
    t_expect(e, "#1 data C 'PASS b'\n"
                "#1 data C '2\\r\\n'\n"
                "#1 data C 'x\\r'\n"
                "#1 data C '3\\r\\n'\n");
    assert_int_equal(t_stats(e).desynced, 0);
    t_env_free(e);
}

/* test_tcpflow_retransmission - identical copies are dropped, also re-cut ones */
static void test_tcpflow_retransmission(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_expect(e, OPEN0 "#1 data C 'USER a\\r\\n'\n");
    assert_int_equal(t_stats(e).retransmitted, 1);
    /* three pieces, then one retransmission covering the last two, then all three */
    t_send(e, 40000, C, ACK, 1009, 5001, "PA");
    t_send(e, 40000, C, ACK, 1011, 5001, "SS ");
    t_send(e, 40000, C, ACK, 1014, 5001, "b\r\n");
    t_send(e, 40000, C, ACK, 1011, 5001, "SS b\r\n");
    t_send(e, 40000, C, ACK, 1009, 5001, "PASS b\r\n");
    /* and one that is old plus new bytes */
    t_send(e, 40000, C, ACK, 1014, 5001, "b\r\nQUIT\r\n");
    t_expect(e, "#1 data C 'PA'\n"
                "#1 data C 'SS '\n"
                "#1 data C 'b\\r\\n'\n"
                "#1 data C 'QUIT\\r\\n'\n");
    assert_int_equal(t_stats(e).retransmitted, 3);
    assert_int_equal(t_stats(e).desynced, 0);
    /* a 1-byte keep-alive probe just before the next byte is dropped too, if it repeats
     * that byte; another byte there is a second, different copy of it */
    t_sendn(e, 40000, C, ACK, 1022, 5001, "\n", 1, 0);
    t_send(e, 40000, C, ACK, 1023, 5001, "NOOP\r\n");
    t_expect(e, "#1 data C 'NOOP\\r\\n'\n");
    assert_int_equal(t_stats(e).retransmitted, 4);
    assert_int_equal(t_stats(e).desynced, 0);
    t_sendn(e, 40000, C, ACK, 1028, 5001, "\0", 1, 0);
    t_expect(e, "#1 desync copy of delivered bytes not matched as identical\n");
    t_env_free(e);
}

/* test_tcpflow_retransmission_too_old - a copy of bytes the ring forgot desynchronises */
static void test_tcpflow_retransmission_too_old(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    uint32_t seq = 1001;
    int i;

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    for (i = 0; i < TCPFLOW_RECENT + 1; i++, seq += 3)
        t_send(e, 40000, C, ACK, seq, 5001, "ab\n");
    t_expect(e, OPEN0 "#1 data C 'ab\\n'\n#1 data C 'ab\\n'\n#1 data C 'ab\\n'\n"
                      "#1 data C 'ab\\n'\n#1 data C 'ab\\n'\n");
    t_send(e, 40000, C, ACK, 1004, 5001, "ab\n"); /* still in the ring */
    t_expect(e, "");
    t_send(e, 40000, C, ACK, 1001, 5001, "ab\n"); /* no longer */
    t_send(e, 40000, C, ACK, seq, 5001, "cd\n");
    t_expect(e, "#1 desync copy of delivered bytes not matched as identical\n");
    t_env_free(e);
}

/* test_tcpflow_overlap_conflict - old bytes that differ desynchronise, nothing after */
static void test_tcpflow_overlap_conflict(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    struct tcpflow_stats st;

    (void)state;
    /* a whole retransmission with other bytes */
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_send(e, 40000, C, ACK, 1001, 5001, "USER b\r\n");
    t_send(e, 40000, C, ACK, 1009, 5001, "PASS x\r\n");
    t_send(e, 40000, S, ACK, 5001, 1017, "+OK\r\n");
    t_send(e, 40000, C, RST | ACK, 1017, 5001, "");
    t_expect(e, OPEN0 "#1 data C 'USER a\\r\\n'\n"
                      "#1 desync copy of delivered bytes not matched as identical\n"
                      "#1 close reset\n");
    /* old part right, new tail: the tail is delivered */
    t_handshake(e, 40001, 2000, 6000);
    t_send(e, 40001, C, ACK, 2001, 6001, "USER a");
    t_send(e, 40001, C, ACK, 2001, 6001, "USER a\r\n");
    t_expect(e, "#2 open 192.0.2.1:40001 198.51.100.1:110 joined=0\n"
                "#2 data C 'USER a'\n#2 data C '\\r\\n'\n");
    /* old part wrong, new tail: desynchronised */
    t_send(e, 40001, C, ACK, 2005, 6001, "X\r\nPASS b\r\n");
    t_expect(e, "#2 desync segment overlaps delivered bytes not matched as identical\n");
    /* old part spanning more than the recorded pieces: desynchronised */
    t_handshake(e, 40002, 3000, 7000);
    t_send(e, 40002, C, ACK, 3001, 7001, "USER a\r\n");
    t_send(e, 40002, C, ACK, 3003, 7001, "ER a\r\nPASS");
    t_expect(e, "#3 open 192.0.2.1:40002 198.51.100.1:110 joined=0\n"
                "#3 data C 'USER a\\r\\n'\n"
                "#3 desync segment overlaps delivered bytes not matched as identical\n");
    st = t_stats(e);
    assert_int_equal(st.desynced, 3);
    assert_int_equal(st.active, 2);
    t_env_free(e);
}

/* test_tcpflow_buffered_overlap - buffered bytes are compared with whatever overlaps them */
static void test_tcpflow_buffered_overlap(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    /* the same early segment twice: a retransmission; overlapping and agreeing: kept */
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, ACK, 1009, 5001, "PASS");
    t_send(e, 40000, C, ACK, 1009, 5001, "PASS");
    t_send(e, 40000, C, ACK, 1011, 5001, "SS b\r\n");
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\nPA");
    t_expect(e, OPEN0 "#1 data C 'USER a\\r\\nPA'\n#1 data C 'SS'\n#1 data C ' b\\r\\n'\n");
    assert_int_equal(t_stats(e).retransmitted, 1);
    assert_int_equal(t_stats(e).desynced, 0);
    /* an early segment contradicting a buffered one */
    t_handshake(e, 40001, 2000, 6000);
    t_send(e, 40001, C, ACK, 2009, 6001, "PASS b\r\n");
    t_send(e, 40001, C, ACK, 2011, 6001, "SS c\r\n");
    t_send(e, 40001, C, ACK, 2001, 6001, "USER a\r\n");
    t_expect(e, "");
    assert_int_equal(t_stats(e).desynced, 1);
    /* an in-order segment contradicting a buffered one */
    t_handshake(e, 40002, 3000, 7000);
    t_send(e, 40002, C, ACK, 3009, 7001, "PASS b\r\n");
    t_send(e, 40002, C, ACK, 3001, 7001, "USER a\r\nPASS c\r\n");
    t_expect(e, "");
    assert_int_equal(t_stats(e).desynced, 2);
    assert_int_equal(t_stats(e).flows, 1); /* the last two never delivered a byte */
    /* an in-order segment covering a buffered one, agreeing: the buffered copy goes */
    t_handshake(e, 40003, 4000, 8000);
    t_send(e, 40003, C, ACK, 4009, 8001, "PASS");
    t_send(e, 40003, C, ACK, 4001, 8001, "USER a\r\nPASS");
    t_send(e, 40003, C, ACK, 4013, 8001, " b\r\n");
    t_expect(e, "#2 open 192.0.2.1:40003 198.51.100.1:110 joined=0\n"
                "#2 data C 'USER a\\r\\nPASS'\n#2 data C ' b\\r\\n'\n");
    assert_int_equal(t_stats(e).desynced, 2);
    t_env_free(e);
}

/* test_tcpflow_gap_fin_rst - FIN or RST past a hole, FIN before buffered data, data after FIN */
static void test_tcpflow_gap_fin_rst(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK\r\n");
    t_send(e, 40000, C, FIN | ACK, 1009, 5006, "QUIT\r\n");
    t_send(e, 40000, C, ACK, 1001, 5006, "USER a\r\n");
    t_expect(e, OPEN0 "#1 data S '+OK\\r\\n' acked=0\n#1 desync FIN past a hole\n");
    t_send(e, 40000, S, FIN | ACK, 5006, 1016, "");
    t_expect(e, "#1 close closed\n"); /* still ends when both sides have sent FIN */

    t_handshake(e, 40001, 2000, 6000);
    t_send(e, 40001, S, ACK, 6001, 2001, "+OK\r\n");
    t_send(e, 40001, S, RST | ACK, 6010, 2001, "");
    t_expect(e, "#2 open 192.0.2.1:40001 198.51.100.1:110 joined=0\n"
                "#2 data S '+OK\\r\\n' acked=0\n#2 desync RST past a hole\n#2 close reset\n");

    t_handshake(e, 40002, 3000, 7000);
    t_send(e, 40002, S, ACK, 7001, 3001, "+OK\r\n");
    t_send(e, 40002, S, ACK, 7010, 3001, "late\r\n");
    t_send(e, 40002, S, FIN | ACK, 7006, 3001, "abcd");
    t_expect(e, "#3 open 192.0.2.1:40002 198.51.100.1:110 joined=0\n"
                "#3 data S '+OK\\r\\n' acked=0\n#3 desync FIN before buffered data\n");

    t_handshake(e, 40003, 4000, 8000);
    t_send(e, 40003, C, FIN | ACK, 4001, 8001, "QUIT\r\n");
    t_send(e, 40003, C, FIN | ACK, 4001, 8001, "QUIT\r\n"); /* retransmitted: fine */
    t_send(e, 40003, C, ACK, 4008, 8001, "more\r\n");
    t_expect(e, "#4 open 192.0.2.1:40003 198.51.100.1:110 joined=0\n"
                "#4 data C 'QUIT\\r\\n'\n#4 desync data after FIN\n");
    assert_int_equal(t_stats(e).desynced, 4);
    t_env_free(e);
}

/* test_tcpflow_buffer_limits - the out-of-order buffer's segment and byte bounds */
static void test_tcpflow_buffer_limits(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    static char big[TCPFLOW_OOO_BYTES];
    uint32_t i;

    (void)state;
    memset(big, 'x', sizeof(big));
    /* TCPFLOW_OOO_SEGMENTS early segments fit, one more does not */
    t_handshake(e, 40000, 1000, 5000);
    for (i = 0; i < TCPFLOW_OOO_SEGMENTS; i++)
        t_send(e, 40000, C, ACK, 1002 + 2 * i, 5001, "y");
    assert_int_equal(t_stats(e).desynced, 0);
    t_send(e, 40000, C, ACK, 1002 + 2 * i, 5001, "y");
    assert_int_equal(t_stats(e).desynced, 1);
    /* exactly TCPFLOW_OOO_BYTES fit and are delivered when the hole closes */
    t_handshake(e, 40001, 2000, 6000);
    t_sendn(e, 40001, C, ACK, 2002, 6001, big, sizeof(big) / 2, 0);
    t_sendn(e, 40001, C, ACK, 2002 + sizeof(big) / 2, 6001, big, sizeof(big) / 2, 0);
    e->rec->quiet = 1;
    t_send(e, 40001, C, ACK, 2001, 6001, "a");
    assert_int_equal(t_stats(e).desynced, 1);
    /* one byte more does not */
    t_handshake(e, 40002, 3000, 7000);
    t_sendn(e, 40002, C, ACK, 3002, 7001, big, sizeof(big), 0);
    t_sendn(e, 40002, C, ACK, 3002 + sizeof(big), 7001, big, 1, 0);
    assert_int_equal(t_stats(e).desynced, 2);
    assert_int_equal(e->rec->streamlen[C], 1 + sizeof(big));
    t_expect(e, "#1 open 192.0.2.1:40001 198.51.100.1:110 joined=0\n");
    t_env_free(e);
}

/* test_tcpflow_table_memory - the table-wide bound on buffered bytes, and its release */
static void test_tcpflow_table_memory(void **state)
{
    struct t_env *e = t_env_new(4096, 600);
    static char big[TCPFLOW_OOO_BYTES];
    unsigned i, n = TCPFLOW_OOO_TABLE_BYTES / TCPFLOW_OOO_BYTES;

    (void)state;
    memset(big, 'x', sizeof(big));
    e->rec->quiet = 1;
    /* every flow fills its buffer; the flows past the table's budget desynchronise */
    for (i = 0; i < n + 8; i++) {
        t_send(e, 1000 + i, C, SYN, 1000, 0, "");
        t_sendn(e, 1000 + i, C, ACK, 1002, 1, big, sizeof(big), 0);
    }
    assert_int_equal(t_stats(e).desynced, 9);
    /* the release: after the buffering flows reset, a new flow can buffer again */
    for (i = 0; i < n + 8; i++)
        t_send(e, 1000 + i, C, RST, 1001, 0, "");
    t_send(e, 9000, C, SYN, 1000, 0, "");
    t_sendn(e, 9000, C, ACK, 1002, 1, big, sizeof(big), 0);
    assert_int_equal(t_stats(e).desynced, 9);
    t_send(e, 9000, C, ACK, 1001, 1, "a");
    assert_int_equal(e->rec->streamlen[C], 1 + sizeof(big));
    t_env_free(e);
}

/* test_tcpflow_joined - a conversation picked up mid-session */
static void test_tcpflow_joined(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    /* bare ACK, FIN and RST of an unknown conversation start nothing */
    t_send(e, 40000, C, ACK, 2990, 7000, "");
    t_send(e, 40000, S, FIN | ACK, 6990, 2990, "");
    t_send(e, 40000, S, RST, 6990, 0, "");
    t_send(e, 40000, S, FIN | ACK, 6990, 2990, "bye\r\n");
    assert_int_equal(t_stats(e).active, 0);
    /* the first segment with data does */
    t_send(e, 40000, S, ACK, 7000, 2990, "ata\r\n");
    t_send(e, 40000, C, ACK, 3000, 7005, "a2 LOGIN u p\r\n");
    t_send(e, 40000, S, ACK, 7005, 3014, "a2 OK\r\n");
    t_send(e, 40000, S, ACK, 7012, 2999, "* x\r\n"); /* ack before the client's first byte */
    t_expect(e, OPEN1 "#1 data S 'ata\\r\\n' acked=0\n"
                      "#1 data C 'a2 LOGIN u p\\r\\n'\n"
                      "#1 data S 'a2 OK\\r\\n' acked=14\n"
                      "#1 data S '* x\\r\\n' acked=0\n");
    assert_int_equal(t_stats(e).joined, 1);
    t_env_free(e);
}

/* test_tcpflow_handshake_variants - SYN-ACK without SYN, SYN without SYN-ACK, odd SYNs */
static void test_tcpflow_handshake_variants(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    /* the SYN-ACK gives both bases: not joined */
    t_send(e, 40000, S, SYN | ACK, 5000, 1001, "");
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK\r\n");
    t_send(e, 40000, C, ACK, 1001, 5006, "CAPA\r\n");
    t_send(e, 40000, S, ACK, 5006, 1007, "+OK\r\n");
    t_expect(e, OPEN0 "#1 data S '+OK\\r\\n' acked=0\n#1 data C 'CAPA\\r\\n'\n"
                      "#1 data S '+OK\\r\\n' acked=6\n");
    /* the SYN without its SYN-ACK: the server side is picked up: joined */
    t_send(e, 40001, C, SYN, 2000, 0, "");
    t_send(e, 40001, S, ACK, 6001, 2001, "+OK\r\n");
    t_expect(e, "#2 open 192.0.2.1:40001 198.51.100.1:110 joined=1\n"
                "#2 data S '+OK\\r\\n' acked=0\n");
    /* a SYN-ACK answering another SYN is ignored; one with another ISN desynchronises */
    t_send(e, 40002, C, SYN, 3000, 0, "");
    t_send(e, 40002, S, SYN | ACK, 9000, 1234, "");
    t_send(e, 40002, S, SYN | ACK, 7000, 3001, "");
    t_send(e, 40002, S, SYN | ACK, 7000, 3001, ""); /* retransmitted */
    t_send(e, 40002, C, ACK, 3001, 7001, "x\r\n");
    t_expect(e, "#3 open 192.0.2.1:40002 198.51.100.1:110 joined=0\n#3 data C 'x\\r\\n'\n");
    t_send(e, 40002, S, SYN | ACK, 7777, 3001, "");
    t_expect(e, "#3 desync SYN-ACK with another initial sequence number\n");
    /* a SYN from the server's port, a SYN-ACK from the client's, SYN+RST: nothing */
    t_send(e, 40003, S, SYN, 100, 0, "");
    t_send(e, 40004, C, SYN | ACK, 100, 5, "");
    t_send(e, 40005, C, SYN | RST, 100, 0, "");
    t_send(e, 40006, C, SYN | FIN, 100, 0, "");
    assert_int_equal(t_stats(e).active, 3);
    /* a SYN carrying data (TCP Fast Open: the server's kernel keeps it or not, as its
     * cookie says): the conversation is given up before it opens */
    t_send(e, 40007, C, SYN, 4000, 0, "USER a\r\n");
    t_send(e, 40007, S, SYN | ACK, 8000, 4009, "");
    t_send(e, 40007, S, ACK, 8001, 4009, "+OK\r\n");
    t_expect(e, "");
    assert_int_equal(t_stats(e).desynced, 2);
    t_env_free(e);
}

/* test_tcpflow_endings - FIN both ways, FIN one way, RST from either side */
static void test_tcpflow_endings(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    struct tcpflow_stats st;

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, FIN | ACK, 1001, 5001, "QUIT\r\n");
    t_send(e, 40000, S, ACK, 5001, 1008, "+OK bye\r\n"); /* half-closed: still followed */
    t_send(e, 40000, S, FIN | ACK, 5010, 1008, "");
    /* the ack covers the client's FIN too: one past its bytes */
    t_expect(e, OPEN0 "#1 data C 'QUIT\\r\\n'\n#1 data S '+OK bye\\r\\n' acked=7\n"
                      "#1 close closed\n");
    /* an ended conversation is forgotten: its bare ACK and FIN start nothing, but stray
     * data starts a joined conversation (which the login detector never grants from) */
    t_send(e, 40000, C, ACK, 1008, 5011, "");
    t_send(e, 40000, S, FIN | ACK, 5010, 1008, "");
    t_expect(e, "");
    assert_int_equal(t_stats(e).active, 0);
    t_send(e, 40000, S, ACK, 5001, 1008, "+OK bye\r\n");
    t_expect(e, "#2 open 192.0.2.1:40000 198.51.100.1:110 joined=1\n"
                "#2 data S '+OK bye\\r\\n' acked=0\n");
    t_send(e, 40000, S, RST, 5010, 0, "");
    t_expect(e, "#2 close reset\n");

    t_handshake(e, 40001, 2000, 6000);
    t_send(e, 40001, S, ACK, 6001, 2001, "+OK\r\n");
    t_send(e, 40001, S, RST, 6006, 0, "");
    t_handshake(e, 40002, 3000, 7000);
    t_send(e, 40002, C, ACK, 3001, 7001, "a\r\n");
    t_send(e, 40002, C, RST | ACK, 3004, 7001, "");
    t_expect(e, "#3 open 192.0.2.1:40001 198.51.100.1:110 joined=0\n"
                "#3 data S '+OK\\r\\n' acked=0\n#3 close reset\n"
                "#4 open 192.0.2.1:40002 198.51.100.1:110 joined=0\n"
                "#4 data C 'a\\r\\n'\n#4 close reset\n");
    /* a conversation without data ends without ever being opened */
    t_handshake(e, 40003, 4000, 8000);
    t_send(e, 40003, C, FIN | ACK, 4001, 8001, "");
    t_send(e, 40003, S, FIN | ACK, 8001, 4002, "");
    t_expect(e, "");
    st = t_stats(e);
    assert_int_equal(st.flows, 4);
    assert_int_equal(st.active, 0);
    t_env_free(e);
}

/* test_tcpflow_wraparound - sequence numbers crossing 2^32, in and out of order */
static void test_tcpflow_wraparound(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_handshake(e, 40000, 0xfffffff8u, 0xffffffffu);
    t_send(e, 40000, S, ACK, 0x00000000u, 0xfffffff9u, "+OK\r\n");
    t_send(e, 40000, C, ACK, 0xfffffff9u, 5, "USER a\r\n"); /* crosses 2^32 */
    t_send(e, 40000, S, ACK, 5, 0x00000001u, "+OK\r\n");
    t_send(e, 40000, C, ACK, 0x00000009u, 10, "QUIT\r\n");   /* early */
    t_send(e, 40000, C, ACK, 0x00000001u, 10, "PASS b\r\n"); /* fills the hole */
    t_send(e, 40000, S, ACK, 10, 0x0000000fu, "+OK\r\n");
    t_send(e, 40000, C, ACK, 0xfffffff9u, 5, "USER a\r\n"); /* retransmitted */
    t_expect(e, OPEN0 "#1 data S '+OK\\r\\n' acked=0\n#1 data C 'USER a\\r\\n'\n"
                      "#1 data S '+OK\\r\\n' acked=8\n#1 data C 'PASS b\\r\\n'\n"
                      "#1 data C 'QUIT\\r\\n'\n#1 data S '+OK\\r\\n' acked=22\n");
    assert_int_equal(t_stats(e).desynced, 0);
    t_env_free(e);
}

/* test_tcpflow_acked - the ACK flag, acks before the base, acks beyond delivered bytes
 * (passed on as they are: the detector must see that the server took bytes never seen) */
static void test_tcpflow_acked(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_send(e, 40000, S, 0, 5001, 1009, "1\r\n");                 /* no ACK flag */
    t_send(e, 40000, S, ACK, 5004, 990, "2\r\n");                /* before the base */
    t_send(e, 40000, S, ACK, 5007, 1005, "3\r\n");               /* part of the command */
    t_send(e, 40000, S, ACK, 5010, 1100, "4\r\n");               /* more than was seen */
    t_send(e, 40000, S, ACK, 5013, 1009 + 0x80000000u, "5\r\n"); /* half the space behind */
    t_expect(e, OPEN0 "#1 data C 'USER a\\r\\n'\n#1 data S '1\\r\\n' acked=0\n"
                      "#1 data S '2\\r\\n' acked=0\n#1 data S '3\\r\\n' acked=4\n"
                      "#1 data S '4\\r\\n' acked=99\n#1 data S '5\\r\\n' acked=0\n");
    t_env_free(e);
}

/* test_tcpflow_urgent - a segment with URG from either side desynchronises its flow:
 * the server's stack takes the urgent byte out of the stream its reader sees */
static void test_tcpflow_urgent(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    /* "USER a\r", then "\n" as MSG_OOB, then "PASS b\r\nQUIT\r\n": the server reads
     * "USER a\rPASS b\r\n"; the urgent byte must not reach the detector as data */
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r");
    t_send(e, 40000, C, ACK | URG, 1008, 5001, "\n");
    t_send(e, 40000, C, ACK, 1009, 5001, "PASS b\r\nQUIT\r\n");
    t_send(e, 40000, S, ACK, 5001, 1024, "+OK\r\n+OK\r\n");
    t_expect(e, OPEN0 "#1 data C 'USER a\\r'\n#1 desync urgent data\n");
    assert_int_equal(t_stats(e).desynced, 1);
    /* from the server, and on a bare ACK (its urgent pointer may name a later byte) */
    t_handshake(e, 40001, 1000, 5000);
    t_send(e, 40001, C, ACK, 1001, 5001, "USER a\r\n");
    t_send(e, 40001, S, ACK | URG, 5001, 1009, "");
    t_send(e, 40001, S, ACK, 5001, 1009, "+OK\r\n");
    t_expect(e, "#2 open 192.0.2.1:40001 198.51.100.1:110 joined=0\n"
                "#2 data C 'USER a\\r\\n'\n#2 desync urgent data\n");
    t_handshake(e, 40002, 1000, 5000);
    t_send(e, 40002, S, ACK | URG, 5001, 1001, "+OK\r\n");
    t_send(e, 40002, C, ACK, 1001, 5006, "USER a\r\n");
    t_expect(e, ""); /* never opened: lost before its first byte */
    /* URG data of an unknown conversation is not followed, nor is what comes after it */
    t_send(e, 40003, C, ACK | URG, 1001, 5001, "USER a\r\n");
    t_send(e, 40003, C, ACK, 1010, 5001, "PASS b\r\n");
    t_expect(e, "");
    assert_int_equal(t_stats(e).desynced, 4);
    /* a lost flow still ends at its FIN (with URG or not) and RST */
    t_send(e, 40000, C, FIN | ACK | URG, 1024, 5011, "");
    t_send(e, 40000, S, FIN | ACK, 5011, 1025, "");
    t_expect(e, "#1 close closed\n");
    t_env_free(e);
}

/* test_tcpflow_open_time - open is given the time of the conversation's first packet */
static void test_tcpflow_open_time(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    int64_t syn;

    (void)state;
    syn = e->now;
    t_handshake(e, 40000, 1000, 5000);
    e->now += 5 * T_SEC;
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK\r\n");
    t_expect(e, OPEN0 "#1 data S '+OK\\r\\n' acked=0\n");
    assert_int_equal(e->rec->open_usec, syn);
    /* a joined conversation: its first data packet */
    e->now += T_SEC;
    syn = e->now;
    t_send(e, 40001, C, ACK, 1001, 5001, "x\r\n");
    assert_int_equal(e->rec->open_usec, syn);
    t_env_free(e);
}

/* test_tcpflow_seeds - retransmissions are recognised whatever the hash key */
static void test_tcpflow_seeds(void **state)
{
    static const uint64_t seeds[] = {0, 1, 0xffffffffffffffffULL, 0x0123456789abcdefULL};
    struct t_rec *rec = calloc(1, sizeof(*rec));
    size_t i;

    (void)state;
    assert_non_null(rec);
    for (i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        struct t_env e = {tcpflow_new(16, 600 * T_SEC, seeds[i], &t_handler, rec), rec,
                          1000 * T_SEC};

        memset(rec, 0, sizeof(*rec));
        t_handshake(&e, 40000, 1000, 5000);
        t_send(&e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
        t_send(&e, 40000, C, ACK, 1001, 5001, "USER a\r\n"); /* identical: dropped */
        t_send(&e, 40000, C, ACK, 1001, 5001, "USER b\r\n"); /* differs: desync */
        t_expect(&e, OPEN0 "#1 data C 'USER a\\r\\n'\n#1 desync copy of delivered bytes not "
                           "matched as identical\n");
        assert_int_equal(t_stats(&e).retransmitted, 1);
        tcpflow_free(e.t);
        assert_int_equal(rec->opened, rec->closed);
    }
    free(rec);
}

/* test_tcpflow_evict - a full table evicts the least recently active, "done" flows first */
static void test_tcpflow_evict(void **state)
{
    struct t_env *e = t_env_new(4, 600);
    unsigned i;

    (void)state;
    for (i = 1; i <= 4; i++) {
        t_handshake(e, i, 1000, 5000);
        t_send(e, i, C, ACK, 1001, 5001, "a\r\n");
    }
    t_send(e, 1, C, ACK, 1004, 5001, "b\r\n"); /* flow 1 is now the most recent */
    t_handshake(e, 5, 1000, 5000);             /* evicts flow 2 */
    t_send(e, 5, C, ACK, 1001, 5001, "c\r\n");
    t_expect(e, "#1 open 192.0.2.1:1 198.51.100.1:110 joined=0\n#1 data C 'a\\r\\n'\n"
                "#2 open 192.0.2.1:2 198.51.100.1:110 joined=0\n#2 data C 'a\\r\\n'\n"
                "#3 open 192.0.2.1:3 198.51.100.1:110 joined=0\n#3 data C 'a\\r\\n'\n"
                "#4 open 192.0.2.1:4 198.51.100.1:110 joined=0\n#4 data C 'a\\r\\n'\n"
                "#1 data C 'b\\r\\n'\n"
                "#2 close evicted\n"
                "#5 open 192.0.2.1:5 198.51.100.1:110 joined=0\n#5 data C 'c\\r\\n'\n");
    /* flow 5 desynchronises; the next new flow takes its place, not flow 3's */
    t_send(e, 5, C, ACK, 1001, 5001, "X\r\n");
    t_handshake(e, 6, 1000, 5000);
    t_expect(e, "#5 desync copy of delivered bytes not matched as identical\n"
                "#5 close evicted\n");
    /* with nothing "done", the oldest followed flow goes: flow 3 */
    t_handshake(e, 7, 1000, 5000);
    t_expect(e, "#3 close evicted\n");
    assert_int_equal(t_stats(e).evicted, 3);
    assert_int_equal(t_stats(e).active, 4);
    /* an evicted flow's later packets start a new, joined conversation */
    t_send(e, 2, C, ACK, 1004, 5001, "d\r\n");
    t_expect(e, "#4 close evicted\n#6 open 192.0.2.1:2 198.51.100.1:110 joined=1\n"
                "#6 data C 'd\\r\\n'\n");
    t_env_free(e);
}

/* test_tcpflow_tiny_table - a table of one flow (0 asks for one too); freeing NULL */
static void test_tcpflow_tiny_table(void **state)
{
    struct t_env *e = t_env_new(0, 600);

    (void)state;
    t_send(e, 1, C, ACK, 1, 1, "a\r\n");
    t_send(e, 2, C, ACK, 1, 1, "b\r\n");
    t_send(e, 1, C, ACK, 4, 1, "c\r\n");
    t_expect(e, "#1 open 192.0.2.1:1 198.51.100.1:110 joined=1\n#1 data C 'a\\r\\n'\n"
                "#1 close evicted\n"
                "#2 open 192.0.2.1:2 198.51.100.1:110 joined=1\n#2 data C 'b\\r\\n'\n"
                "#2 close evicted\n"
                "#3 open 192.0.2.1:1 198.51.100.1:110 joined=1\n#3 data C 'c\\r\\n'\n");
    assert_int_equal(t_stats(e).active, 1);
    t_env_free(e);
    tcpflow_free(NULL);
}

/* test_tcpflow_expire - idle flows end at the timeout, oldest first */
static void test_tcpflow_expire(void **state)
{
    struct t_env *e = t_env_new(16, 10);
    int64_t t0 = e->now, last1, last2;

    (void)state;
    t_handshake(e, 1, 1000, 5000);
    t_send(e, 1, C, ACK, 1001, 5001, "a\r\n");
    last1 = e->now - 1000;
    e->now = t0 + 5 * T_SEC;
    t_handshake(e, 2, 1000, 5000);
    t_send(e, 2, C, ACK, 1001, 5001, "b\r\n");
    last2 = e->now - 1000;
    /* an ended flow is dropped silently by the sweep */
    t_handshake(e, 3, 1000, 5000);
    t_send(e, 3, C, RST, 1001, 0, "");
    t_expect(e, "#1 open 192.0.2.1:1 198.51.100.1:110 joined=0\n#1 data C 'a\\r\\n'\n"
                "#2 open 192.0.2.1:2 198.51.100.1:110 joined=0\n#2 data C 'b\\r\\n'\n");
    tcpflow_expire(e->t, last1 + 10 * T_SEC); /* idle exactly the timeout: kept */
    t_expect(e, "");
    tcpflow_expire(e->t, last1 + 10 * T_SEC + 1);
    t_expect(e, "#1 close idle\n");
    tcpflow_expire(e->t, last2 + 10 * T_SEC + 1);
    t_expect(e, "#2 close idle\n");
    assert_int_equal(t_stats(e).expired, 2);
    assert_int_equal(t_stats(e).active, 0);
    /* flow 3's entry is gone too: its stray data now starts a joined conversation */
    e->now = last2 + 11 * T_SEC;
    tcpflow_expire(e->t, e->now);
    t_send(e, 3, C, ACK, 1001, 5001, "c\r\n");
    t_expect(e, "#3 open 192.0.2.1:3 198.51.100.1:110 joined=1\n#3 data C 'c\\r\\n'\n");
    t_env_free(e);
}

/* test_tcpflow_port_reuse - a new SYN on a known 4-tuple starts a new conversation */
static void test_tcpflow_port_reuse(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    /* after a clean close */
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, FIN | ACK, 1001, 5001, "QUIT\r\n");
    t_send(e, 40000, S, FIN | ACK, 5001, 1008, "+OK\r\n");
    t_handshake(e, 40000, 9000, 3000);
    t_send(e, 40000, C, ACK, 9001, 3001, "USER b\r\n");
    t_expect(e, OPEN0 "#1 data C 'QUIT\\r\\n'\n#1 data S '+OK\\r\\n' acked=7\n#1 close closed\n"
                      "#2 open 192.0.2.1:40000 198.51.100.1:110 joined=0\n"
                      "#2 data C 'USER b\\r\\n'\n");
    /* after a desync: the SYN with the same ISN is old news, another ISN is a new start */
    t_send(e, 40000, C, ACK, 9001, 3001, "USER c\r\n");
    t_send(e, 40000, C, SYN, 9000, 0, "");
    t_send(e, 40000, C, SYN, 7000, 0, "");
    t_send(e, 40000, S, SYN | ACK, 1000, 7001, "");
    t_send(e, 40000, S, ACK, 1001, 7001, "+OK\r\n");
    t_expect(e, "#2 desync copy of delivered bytes not matched as identical\n#2 close closed\n"
                "#3 open 192.0.2.1:40000 198.51.100.1:110 joined=0\n"
                "#3 data S '+OK\\r\\n' acked=0\n");
    /* while followed: another ISN also ends it */
    t_send(e, 40000, C, SYN, 100, 0, "");
    t_expect(e, "#3 close closed\n");
    assert_int_equal(t_stats(e).flows, 3);
    assert_int_equal(t_stats(e).active, 1);
    t_env_free(e);
}

/* test_tcpflow_handler_choices - open returning NULL; data returning -1 */
static void test_tcpflow_handler_choices(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    e->rec->open_null = 1;
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK\r\n");
    t_send(e, 40000, C, ACK, 1001, 5006, "USER a\r\n");
    t_send(e, 40000, C, FIN | ACK, 1009, 5006, "");
    t_send(e, 40000, S, FIN | ACK, 5006, 1010, "");
    t_expect(e, OPEN0);
    assert_int_equal(t_stats(e).active, 0);
    assert_int_equal(t_stats(e).flows, 1);
    tcpflow_free(e->t);

    e->rec->open_null = 0;
    e->rec->opened = 0;
    e->rec->next_id = 0;
    e->rec->stop_at = 2;
    e->t = tcpflow_new(16, 600 * T_SEC, T_SEED, &t_handler, e->rec);
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, S, ACK, 5001, 1001, "+OK\r\n");
    t_send(e, 40000, C, ACK, 1001, 5006, "STLS\r\n");
    t_send(e, 40000, S, ACK, 5006, 1007, "+OK go\r\n");
    t_send(e, 40000, C, ACK, 1007, 5014, "\x16\x03\x01");
    t_send(e, 40000, C, RST, 1010, 0, "");
    t_expect(e, OPEN0 "#1 data S '+OK\\r\\n' acked=0\n#1 data C 'STLS\\r\\n'\n#1 close reset\n");
    assert_int_equal(t_stats(e).desynced, 0);
    t_env_free(e);
}

/* test_tcpflow_truncated - a segment cut short by the capture is a gap */
static void test_tcpflow_truncated(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_handshake(e, 40000, 1000, 5000);
    t_send(e, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_sendn(e, 40000, C, ACK, 1009, 5001, "PAS", 3, 1);
    t_send(e, 40000, C, ACK, 1017, 5001, "QUIT\r\n");
    t_expect(e, OPEN0 "#1 data C 'USER a\\r\\n'\n#1 desync capture cut a segment short\n");
    /* a conversation whose first segment is cut short is never opened */
    t_sendn(e, 40001, S, ACK, 1, 1, "", 0, 1);
    t_send(e, 40001, S, ACK, 1, 1, "+OK\r\n");
    t_expect(e, "");
    assert_int_equal(t_stats(e).desynced, 2);
    t_env_free(e);
}

/* test_tcpflow_ipv6_key - IPv6 and IPv4 conversations with the same ports are distinct */
static void test_tcpflow_ipv6_key(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_segment(e, 1, NULL, 40000, C, ACK, 77, 0, "a1 LOGIN x y\r\n", 14, 0);
    t_send(e, 40000, C, ACK, 77, 0, "a1 LOGIN x y\r\n");
    t_expect(e, "#1 open 2001:db8::5:40000 2001:db8::143:143 joined=1\n"
                "#1 data C 'a1 LOGIN x y\\r\\n'\n"
                "#2 open 192.0.2.1:40000 198.51.100.1:110 joined=1\n"
                "#2 data C 'a1 LOGIN x y\\r\\n'\n");
    t_env_free(e);
}

/* Copies the server's kernel drops: each case is a plain login whose PASS line comes
 * first as a copy the server would drop, then as the real bytes. */
struct t_drop_case {
    const char *name;
    struct t_shape copy;  /* how the dropped copy is shaped */
    enum tcpflow_side by; /* C: the copy is the client's PASS; S: the server's +OK */
    const char *why;      /* the desync reason; NULL: the copy is taken (and compared) */
};

/* t_drop_run - USER a / +OK, then PASS b answered -ERR, with tc's copy of PASS (a lie:
 * PASS x) before the real one, or of the reply (+OK in) before the real one; every plain
 * segment is timestamped; checks the transcript */
static void t_drop_run(const struct t_drop_case *tc)
{
    struct t_env *e = t_env_new(16, 600);
    struct t_shape base = {.ts = 1, .tsval = 100}, copy = tc->copy;
    char want[512];

    t_sendx(e, &base, 40000, C, SYN, 1000, 0, "");
    t_sendx(e, &base, 40000, S, SYN | ACK, 5000, 1001, "");
    base.tsval++;
    t_sendx(e, &base, 40000, C, ACK, 1001, 5001, "USER a\r\n");
    t_sendx(e, &base, 40000, S, ACK, 5001, 1009, "+OK\r\n");
    base.tsval++;
    if (copy.ts && copy.tsval == 0)
        copy.tsval = base.tsval;
    if (tc->by == C)
        t_sendx(e, &copy, 40000, C, ACK, 1009, 5006, "PASS x\r\n");
    t_sendx(e, &base, 40000, C, ACK, 1009, 5006, "PASS b\r\n");
    if (tc->by == S)
        t_sendx(e, &copy, 40000, S, ACK, 5006, 1017, "+OK in\r\n");
    t_sendx(e, &base, 40000, S, ACK, 5006, 1017, "-ERR\r\n");
    if (tc->why != NULL)
        snprintf(want, sizeof(want),
                 OPEN0 "#1 data C 'USER a\\r\\n'\n#1 data S '+OK\\r\\n' acked=8\n%s#1 desync %s\n",
                 tc->by == C ? "" : "#1 data C 'PASS b\\r\\n'\n", tc->why);
    else
        snprintf(want, sizeof(want),
                 OPEN0 "#1 data C 'USER a\\r\\n'\n#1 data S '+OK\\r\\n' acked=8\n%s",
                 tc->by == C ? "#1 data C 'PASS x\\r\\n'\n#1 desync copy of delivered bytes "
                               "not matched as identical\n"
                             : "#1 data C 'PASS b\\r\\n'\n#1 data S '+OK in\\r\\n' acked=16\n#1 "
                               "desync copy of delivered bytes not matched as identical\n");
    t_expect(e, want);
    t_env_free(e);
}

/* test_tcpflow_dropped_copies - a copy the server's kernel drops (bad checksum, PAWS, no
 * timestamp, another TTL, IP options, arrived from outside, not for this host) gives the
 * conversation up; one it may take (a partial checksum) is compared with the real bytes */
static void test_tcpflow_dropped_copies(void **state)
{
    static const struct t_drop_case cases[] = {
        {"bad TCP checksum", {.ts = 1, .sum = T_SUM_TCP}, C, "a bad checksum"},
        {"bad IPv4 header checksum", {.ts = 1, .sum = T_SUM_IP}, C, "a bad checksum"},
        {"PAWS", {.ts = 1, .tsval = 90}, C, "a TCP timestamp older than one already seen (PAWS)"},
        {"no timestamp", {.ts = 0}, C, "a TCP timestamp missing after the side sent them"},
        {"TTL", {.ts = 1, .ttl = 3}, C, "the TTL or hop limit changed"},
        {"IP options", {.ts = 1, .ipopts = 1}, C, "IP options or IPv6 extension headers"},
        {"not for this host",
         {.ts = 1, .dir = PACKET_DIR_OTHER},
         C,
         "a client segment not addressed to this host"},
        {"server reply from outside",
         {.ts = 1, .dir = PACKET_DIR_IN},
         S,
         "a server segment arrived from outside"},
        {"server reply seen passing",
         {.ts = 1, .dir = PACKET_DIR_OTHER},
         S,
         "a server segment arrived from outside"},
        {"partial checksum: taken, then compared", {.ts = 1, .sum = T_SUM_PARTIAL}, C, NULL},
        {"a server reply with a wrong checksum: taken (offload)",
         {.ts = 1, .sum = T_SUM_TCP},
         S,
         NULL},
        {"a server reply that left: taken", {.ts = 1, .dir = PACKET_DIR_OUT}, S, NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        print_message("%s\n", cases[i].name);
        t_drop_run(&cases[i]);
    }
}

/* test_tcpflow_paws_window - a TSval one below the highest passes (Linux's PAWS window);
 * bare ACKs are not judged */
static void test_tcpflow_paws_window(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    struct t_shape ts = {.ts = 1, .tsval = 50}, old = {.ts = 1, .tsval = 49}, bare = {.ttl = 9};

    (void)state;
    t_sendx(e, &ts, 40000, C, SYN, 1000, 0, "");
    t_sendx(e, &ts, 40000, S, SYN | ACK, 5000, 1001, "");
    t_sendx(e, &bare, 40000, C, ACK, 1001, 5001, ""); /* no timestamp, another TTL */
    t_sendx(e, &old, 40000, C, ACK, 1001, 5001, "CAPA\r\n");
    t_expect(e, OPEN0 "#1 data C 'CAPA\\r\\n'\n");
    old.tsval = 48;
    t_sendx(e, &old, 40000, C, ACK, 1007, 5001, "QUIT\r\n");
    t_expect(e, "#1 desync a TCP timestamp older than one already seen (PAWS)\n");
    t_env_free(e);
}

/* test_tcpflow_syn_data - data on a SYN or SYN-ACK gives the conversation up */
static void test_tcpflow_syn_data(void **state)
{
    struct t_env *e = t_env_new(16, 600);

    (void)state;
    t_send(e, 40000, C, SYN, 1000, 0, "");
    t_send(e, 40000, S, SYN | ACK, 5000, 1001, "+OK\r\n");
    t_send(e, 40000, C, ACK, 1001, 5005, "USER a\r\n");
    t_expect(e, "");
    assert_int_equal(t_stats(e).desynced, 1);
    t_env_free(e);
}

/* test_tcpflow_window - a client segment past the window the server offered (scaled only
 * when both SYNs offered scaling; a SYN-ACK's own window never) gives the conversation up */
static void test_tcpflow_window(void **state)
{
    struct t_env *e = t_env_new(16, 600);
    struct t_shape syn = {.wscale = 1 + 7}, synack = {.wscale = 1 + 2, .window = 10},
                   small = {.window = 3}, none = {0};

    (void)state;
    /* scaled: the SYN-ACK offers 10 bytes (unscaled), then an ACK offers 3 << 2 = 12 */
    t_sendx(e, &syn, 40000, C, SYN, 1000, 0, "");
    t_sendx(e, &synack, 40000, S, SYN | ACK, 5000, 1001, "");
    t_send(e, 40000, C, ACK, 1001, 5001, "USER abc\r\n"); /* 10 bytes: up to the edge */
    t_sendx(e, &small, 40000, S, ACK, 5001, 1011, "+OK\r\n");
    t_send(e, 40000, C, ACK, 1011, 5006, "PASS abcde\r\n"); /* 12 bytes: fits */
    t_expect(e, OPEN0 "#1 data C 'USER abc\\r\\n'\n#1 data S '+OK\\r\\n' acked=10\n"
                      "#1 data C 'PASS abcde\\r\\n'\n");
    t_send(e, 40000, C, ACK, 1023, 5006, "Q"); /* past 1011 + 12 */
    t_expect(e, "#1 desync a segment past the window the server offered\n");
    /* unscaled (the client's SYN offered no scaling): 3 bytes mean 3 */
    t_sendx(e, &none, 40001, C, SYN, 1000, 0, "");
    t_sendx(e, &synack, 40001, S, SYN | ACK, 5000, 1001, "");
    t_sendx(e, &small, 40001, S, ACK, 5001, 1001, "+OK\r\n");
    t_send(e, 40001, C, ACK, 1001, 5006, "QUIT\r\n");
    t_expect(e, "#2 open 192.0.2.1:40001 198.51.100.1:110 joined=0\n"
                "#2 data S '+OK\\r\\n' acked=0\n"
                "#2 desync a segment past the window the server offered\n");
    t_env_free(e);
}

/* t_rand - a small deterministic generator */
static uint32_t t_rand(uint32_t *s)
{
    *s = *s * 1103515245u + 12345u;
    return *s >> 8;
}

/* test_tcpflow_random_reorder - random cuts, local reordering and duplicates, across 2^32 */
static void test_tcpflow_random_reorder(void **state)
{
    enum { LEN = 20000, MAXSEG = 64, WINDOW = 6 };
    static uint8_t stream[LEN];
    static size_t starts[LEN + 1];
    static unsigned order[LEN];
    static unsigned char sent[LEN];
    uint32_t rnd = 12345, round;

    (void)state;
    for (round = 0; round < 40; round++) {
        struct t_env *e = t_env_new(16, 600);
        size_t nseg = 0, off = 0, i, j, next = 0;
        uint32_t isn = 0xffffffffu - round * 997;
        uint64_t dups = 0;

        for (i = 0; i < LEN; i++)
            stream[i] = (uint8_t)t_rand(&rnd);
        while (off < LEN) {
            starts[nseg++] = off;
            off += 1 + t_rand(&rnd) % MAXSEG;
        }
        starts[nseg] = LEN;
        for (i = 0; i < nseg; i++)
            order[i] = (unsigned)i;
        for (i = 0; i < nseg; i += WINDOW) { /* shuffle each block of WINDOW segments */
            size_t n = WINDOW < nseg - i ? WINDOW : nseg - i, k;

            for (k = n - 1; k > 0; k--) {
                size_t r = t_rand(&rnd) % (k + 1);
                unsigned tmp = order[i + k];

                order[i + k] = order[i + r];
                order[i + r] = tmp;
            }
        }
        memset(sent, 0, nseg);
        e->rec->quiet = 1;
        t_send(e, 40000, C, SYN, isn, 0, "");
        t_send(e, 40000, S, SYN | ACK, 1, isn + 1, "");
        for (i = 0; i < nseg; i++) {
            size_t s = order[i];
            size_t n = starts[s + 1] - starts[s];
            int again;

            sent[s] = 1;
            /* a duplicate is safe (and must be recognised) when the segment waits in the
             * buffer, or when it was delivered alone and nothing after it was waiting */
            again = t_rand(&rnd) % 4 == 0 && (s > next || s + 1 >= nseg || !sent[s + 1]);
            for (j = 0; j <= (size_t)again; j++)
                t_sendn(e, 40000, C, ACK, isn + 1 + (uint32_t)starts[s], 2, stream + starts[s], n,
                        0);
            dups += (uint64_t)again;
            while (next < nseg && sent[next])
                next++;
        }
        assert_int_equal(t_stats(e).desynced, 0);
        assert_int_equal(t_stats(e).retransmitted, dups);
        assert_int_equal(e->rec->streamlen[C], LEN);
        assert_memory_equal(e->rec->stream[C], stream, LEN);
        t_env_free(e);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tcpflow_inorder),
        cmocka_unit_test(test_tcpflow_out_of_order),
        cmocka_unit_test(test_tcpflow_retransmission),
        cmocka_unit_test(test_tcpflow_retransmission_too_old),
        cmocka_unit_test(test_tcpflow_overlap_conflict),
        cmocka_unit_test(test_tcpflow_buffered_overlap),
        cmocka_unit_test(test_tcpflow_gap_fin_rst),
        cmocka_unit_test(test_tcpflow_buffer_limits),
        cmocka_unit_test(test_tcpflow_table_memory),
        cmocka_unit_test(test_tcpflow_joined),
        cmocka_unit_test(test_tcpflow_handshake_variants),
        cmocka_unit_test(test_tcpflow_endings),
        cmocka_unit_test(test_tcpflow_wraparound),
        cmocka_unit_test(test_tcpflow_acked),
        cmocka_unit_test(test_tcpflow_urgent),
        cmocka_unit_test(test_tcpflow_open_time),
        cmocka_unit_test(test_tcpflow_seeds),
        cmocka_unit_test(test_tcpflow_evict),
        cmocka_unit_test(test_tcpflow_tiny_table),
        cmocka_unit_test(test_tcpflow_expire),
        cmocka_unit_test(test_tcpflow_port_reuse),
        cmocka_unit_test(test_tcpflow_handler_choices),
        cmocka_unit_test(test_tcpflow_truncated),
        cmocka_unit_test(test_tcpflow_ipv6_key),
        cmocka_unit_test(test_tcpflow_random_reorder),
        cmocka_unit_test(test_tcpflow_dropped_copies),
        cmocka_unit_test(test_tcpflow_paws_window),
        cmocka_unit_test(test_tcpflow_syn_data),
        cmocka_unit_test(test_tcpflow_window),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
