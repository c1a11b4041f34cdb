/*
 * gensniff - writes Ethernet pcap files for scripts/bench-sniff, with capture times over
 * the last minutes (so that popauth takes the logins as fresh) and correct sequence and
 * acknowledgement numbers and checksums. Deterministic for a given seed, apart from the
 * times.
 *
 *   gensniff mixed PACKETS FILE [SEED]
 *       PACKETS packets of interleaved traffic from 50,000 client addresses (a tenth of
 *       them IPv6), GENSNIFF_ACTIVE conversations at a time: POP3 sessions (USER/PASS,
 *       then STAT and QUIT) and IMAP sessions (LOGIN, SELECT, LOGOUT), a fifth of them
 *       failing their login; HTTP downloads on port 80; DNS queries and answers over
 *       UDP. Prints what it wrote, including the successful logins and the number of
 *       distinct client addresses among them (the grants popauth should write).
 *   gensniff idle FLOWS FILE
 *       FLOWS conversations left open: each a SYN, the SYN-ACK, the server's greeting and
 *       a client command without its line end (half POP3, half IMAP), one client
 *       address each. Nothing is ever closed: the flow table must hold them all.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GENSNIFF_CLIENTS 50000
#define GENSNIFF_ACTIVE  4096 /* conversations in progress at once (mixed) */
#define GENSNIFF_SPAN    300  /* seconds of capture time (mixed) */
#define GENSNIFF_PAYLOAD 1460

static uint64_t gensniff_state = 88172645463325252ULL;

/* gensniff_rand - xorshift64 */
static uint64_t gensniff_rand(void)
{
    gensniff_state ^= gensniff_state << 13;
    gensniff_state ^= gensniff_state >> 7;
    gensniff_state ^= gensniff_state << 17;
    return gensniff_state;
}

/* One end of a conversation. */
struct gensniff_end {
    int v6;
    uint8_t addr[16];
    uint16_t port;
    uint32_t seq; /* next sequence number this end sends */
};

enum gensniff_kind { GENSNIFF_POP3, GENSNIFF_IMAP, GENSNIFF_HTTP, GENSNIFF_DNS };

/* One conversation of the mixed capture. */
struct gensniff_conv {
    enum gensniff_kind kind;
    struct gensniff_end c, s;
    unsigned client; /* index into the client pool */
    unsigned step;
    int ok; /* the login succeeds */
};

struct gensniff_out {
    FILE *fp;
    uint64_t packets;
    int64_t usec; /* capture time of the next packet */
};

/* gensniff_put16 - big-endian 16 bits */
static void gensniff_put16(uint8_t *p, unsigned v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* gensniff_put32 - big-endian 32 bits */
static void gensniff_put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* gensniff_sum - ones' complement sum of len bytes, added to sum */
static uint32_t gensniff_sum(const uint8_t *p, size_t len, uint32_t sum)
{
    size_t i;

    for (i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    if (len & 1)
        sum += (uint32_t)(p[len - 1] << 8);
    return sum;
}

/* gensniff_fold - finish a checksum */
static uint16_t gensniff_fold(uint32_t sum)
{
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

/* gensniff_write - one pcap record */
static void gensniff_write(struct gensniff_out *o, const uint8_t *frame, size_t len)
{
    uint32_t h[4];

    h[0] = (uint32_t)(o->usec / 1000000);
    h[1] = (uint32_t)(o->usec % 1000000);
    h[2] = h[3] = (uint32_t)len;
    fwrite(h, sizeof(h), 1, o->fp);
    fwrite(frame, len, 1, o->fp);
    o->packets++;
}

/* gensniff_frame - an Ethernet frame carrying a TCP (proto 6) or UDP (17) segment from
 * src to dst with payload; TCP takes seq, ack and flags */
static void gensniff_frame(struct gensniff_out *o, int proto, const struct gensniff_end *src,
                           const struct gensniff_end *dst, uint32_t ack, uint8_t flags,
                           const void *payload, size_t len)
{
    static const uint8_t macs[12] = {2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2};
    uint8_t f[14 + 40 + 20 + GENSNIFF_PAYLOAD];
    size_t iplen = src->v6 ? 40 : 20, l4len = proto == 6 ? 20 : 8, alen = src->v6 ? 16 : 4;
    uint8_t *ip = f + 14, *l4 = ip + iplen;
    uint32_t sum;

    memcpy(f, macs, 12);
    gensniff_put16(f + 12, src->v6 ? 0x86dd : 0x0800);
    if (src->v6) {
        ip[0] = 0x60, ip[1] = ip[2] = ip[3] = 0;
        gensniff_put16(ip + 4, (unsigned)(l4len + len));
        ip[6] = (uint8_t)proto;
        ip[7] = 64;
        memcpy(ip + 8, src->addr, 16);
        memcpy(ip + 24, dst->addr, 16);
    } else {
        ip[0] = 0x45, ip[1] = 0;
        gensniff_put16(ip + 2, (unsigned)(20 + l4len + len));
        gensniff_put16(ip + 4, (unsigned)(o->packets & 0xffff));
        gensniff_put16(ip + 6, 0x4000); /* DF */
        ip[8] = 64;
        ip[9] = (uint8_t)proto;
        ip[10] = ip[11] = 0;
        memcpy(ip + 12, src->addr, 4);
        memcpy(ip + 16, dst->addr, 4);
        gensniff_put16(ip + 10, gensniff_fold(gensniff_sum(ip, 20, 0)));
    }
    gensniff_put16(l4, src->port);
    gensniff_put16(l4 + 2, dst->port);
    if (proto == 6) {
        gensniff_put32(l4 + 4, src->seq);
        gensniff_put32(l4 + 8, ack);
        l4[12] = 5 << 4;
        l4[13] = flags;
        gensniff_put16(l4 + 14, 64240);
        l4[16] = l4[17] = l4[18] = l4[19] = 0;
    } else {
        gensniff_put16(l4 + 4, (unsigned)(8 + len));
        l4[6] = l4[7] = 0;
    }
    memcpy(l4 + l4len, payload, len);
    /* pseudo header, then the segment */
    sum = gensniff_sum(src->addr, alen, 0);
    sum = gensniff_sum(dst->addr, alen, sum);
    sum += (uint32_t)proto + (uint32_t)(l4len + len);
    sum = gensniff_sum(l4, l4len + len, sum);
    gensniff_put16(l4 + (proto == 6 ? 16 : 6), gensniff_fold(sum));
    gensniff_write(o, f, 14 + iplen + l4len + len);
}

#define GENSNIFF_FIN 0x01
#define GENSNIFF_SYN 0x02
#define GENSNIFF_PSH 0x08
#define GENSNIFF_ACK 0x10

/* gensniff_tcp - one TCP segment from a to b; advances a's sequence number */
static void gensniff_tcp(struct gensniff_out *o, struct gensniff_end *a,
                         const struct gensniff_end *b, uint8_t flags, const char *text)
{
    size_t len = text != NULL ? strlen(text) : 0;

    gensniff_frame(o, 6, a, b, (flags & GENSNIFF_SYN) && !(flags & GENSNIFF_ACK) ? 0 : b->seq,
                   flags, text, len);
    a->seq += (uint32_t)len + ((flags & (GENSNIFF_SYN | GENSNIFF_FIN)) ? 1 : 0);
}

/* gensniff_client - the address of client n of the pool */
static void gensniff_client(unsigned n, struct gensniff_end *e)
{
    memset(e->addr, 0, sizeof(e->addr));
    e->v6 = n % 10 == 0;
    if (e->v6) {
        e->addr[0] = 0x20, e->addr[1] = 0x01, e->addr[2] = 0x0d, e->addr[3] = 0xb8;
        e->addr[4] = (uint8_t)(n >> 16), e->addr[5] = (uint8_t)(n >> 8);
        e->addr[6] = (uint8_t)n, e->addr[15] = 7;
    } else {
        e->addr[0] = 100, e->addr[1] = (uint8_t)(64 + (n >> 16)), e->addr[2] = (uint8_t)(n >> 8),
        e->addr[3] = (uint8_t)n;
    }
}

/* gensniff_server - the server for a client of the given family */
static void gensniff_server(int v6, uint16_t port, struct gensniff_end *e)
{
    static const uint8_t s6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t s4[4] = {192, 0, 2, 1};

    memset(e, 0, sizeof(*e));
    e->v6 = v6;
    memcpy(e->addr, v6 ? s6 : s4, v6 ? 16 : 4);
    e->port = port;
    e->seq = (uint32_t)gensniff_rand();
}

/* gensniff_conv_start - a new conversation in slot c */
static void gensniff_conv_start(struct gensniff_conv *c, uint64_t serial)
{
    static const uint16_t ports[] = {110, 143, 80, 53};
    unsigned r = (unsigned)(gensniff_rand() % 100);

    memset(c, 0, sizeof(*c));
    c->kind = r < 30   ? GENSNIFF_POP3
              : r < 60 ? GENSNIFF_IMAP
              : r < 90 ? GENSNIFF_HTTP
                       : GENSNIFF_DNS;
    c->client = (unsigned)(gensniff_rand() % GENSNIFF_CLIENTS);
    gensniff_client(c->client, &c->c);
    c->c.port = (uint16_t)(1024 + serial % 60000);
    c->c.seq = (uint32_t)gensniff_rand();
    gensniff_server(c->c.v6, ports[c->kind], &c->s);
    c->ok = gensniff_rand() % 5 != 0;
}

/* What the mixed capture holds. */
struct gensniff_tally {
    uint64_t sessions, pop3_ok, imap_ok, failed;
    uint8_t granted[GENSNIFF_CLIENTS];
    unsigned addresses;
};

/* gensniff_granted - a successful login of client n was written */
static void gensniff_granted(struct gensniff_tally *t, unsigned n)
{
    if (!t->granted[n])
        t->addresses++;
    t->granted[n] = 1;
}

#define GENSNIFF_COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* One TCP segment of a conversation's script. */
struct gensniff_step {
    int server;       /* sent by the server, else by the client */
    uint8_t flags;    /* GENSNIFF_SYN, ... */
    const char *text; /* payload, each # standing for the client number; NULL for none */
};

/* The steps of a kind of TCP conversation between the handshake and the close. */
struct gensniff_script {
    const struct gensniff_step *steps;
    unsigned count;
    unsigned login;     /* the server's login answer: its index in steps, its text the success */
    const char *denied; /* the login answer when the login fails; NULL when there is no login */
    unsigned skip;      /* the steps after the login answer that only follow a success */
};

/* The HTTP body segment: GENSNIFF_PAYLOAD bytes of 'x', filled in by gensniff_mixed. */
static char gensniff_body[GENSNIFF_PAYLOAD + 1];

/* The handshake before every TCP conversation and the close after it. */
static const struct gensniff_step gensniff_open[] = {
    {0, GENSNIFF_SYN, NULL},
    {1, GENSNIFF_SYN | GENSNIFF_ACK, NULL},
    {0, GENSNIFF_ACK, NULL},
};

static const struct gensniff_step gensniff_close[] = {
    {1, GENSNIFF_FIN | GENSNIFF_ACK, NULL},
    {0, GENSNIFF_FIN | GENSNIFF_ACK, NULL},
    {1, GENSNIFF_ACK, NULL},
};

/* The scripts: USER/PASS, STAT, QUIT; LOGIN, SELECT, LOGOUT; a GET and its download. */
static const struct gensniff_step gensniff_pop3[] = {
    {1, GENSNIFF_PSH | GENSNIFF_ACK, "+OK Dovecot ready.\r\n"},
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "USER user#\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK, "+OK\r\n"},
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "PASS secret#\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK, "+OK Logged in.\r\n"}, /* the login answer */
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "STAT\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK, "+OK 2 3452\r\n"},
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "QUIT\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK, "+OK Logging out.\r\n"},
};

static const struct gensniff_step gensniff_imap[] = {
    {1, GENSNIFF_PSH | GENSNIFF_ACK,
     "* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ "
     "STARTTLS AUTH=PLAIN] Dovecot ready.\r\n"},
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "a1 LOGIN user# secret#\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK, /* the login answer */
     "a1 OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT "
     "THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE] Logged in\r\n"},
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "a2 SELECT INBOX\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK,
     "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
     "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] "
     "Flags permitted.\r\n* 2 EXISTS\r\n* 0 RECENT\r\n"
     "a2 OK [READ-WRITE] Select completed (0.001 + 0.000 secs).\r\n"},
    {0, GENSNIFF_PSH | GENSNIFF_ACK, "a3 LOGOUT\r\n"},
    {1, GENSNIFF_PSH | GENSNIFF_ACK,
     "* BYE Logging out\r\na3 OK Logout completed (0.001 + 0.000 secs).\r\n"},
};

static const struct gensniff_step gensniff_http[] = {
    {0, GENSNIFF_PSH | GENSNIFF_ACK,
     "GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench\r\n"
     "Accept: */*\r\n\r\n"},
    {1, GENSNIFF_ACK, gensniff_body},
    {1, GENSNIFF_ACK, gensniff_body},
    {1, GENSNIFF_ACK, gensniff_body},
    {1, GENSNIFF_ACK, gensniff_body},
    {0, GENSNIFF_ACK, NULL},
};

/* Indexed by enum gensniff_kind; DNS is UDP (gensniff_dns). */
static const struct gensniff_script gensniff_scripts[] = {
    [GENSNIFF_POP3] = {gensniff_pop3, GENSNIFF_COUNT(gensniff_pop3), 4,
                       "-ERR [AUTH] Authentication failed.\r\n", 2},
    [GENSNIFF_IMAP] = {gensniff_imap, GENSNIFF_COUNT(gensniff_imap), 2,
                       "a1 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n", 2},
    [GENSNIFF_HTTP] = {gensniff_http, GENSNIFF_COUNT(gensniff_http), 0, NULL, 0},
};

/* gensniff_expand - text into out (outlen bytes), each # replaced by the number n */
static void gensniff_expand(const char *text, unsigned n, char *out, size_t outlen)
{
    char num[16];
    size_t o = 0, k;

    for (; *text != '\0'; text++) {
        k = 1;
        if (*text == '#')
            k = (size_t)snprintf(num, sizeof(num), "%u", n);
        else
            num[0] = *text;
        if (o + k >= outlen)
            break;
        memcpy(out + o, num, k);
        o += k;
    }
    out[o] = '\0';
}

/* gensniff_play - the next packet of a TCP conversation (POP3, IMAP, HTTP); 0 when it is over */
static int gensniff_play(struct gensniff_out *o, struct gensniff_conv *c, struct gensniff_tally *t)
{
    const struct gensniff_script *sc = &gensniff_scripts[c->kind];
    const struct gensniff_step *st;
    const char *text;
    char line[GENSNIFF_PAYLOAD + 1];
    size_t n = c->step++;

    if (n < GENSNIFF_COUNT(gensniff_open))
        st = &gensniff_open[n];
    else if ((n -= GENSNIFF_COUNT(gensniff_open)) < sc->count)
        st = &sc->steps[n];
    else if ((n -= sc->count) < GENSNIFF_COUNT(gensniff_close))
        st = &gensniff_close[n];
    else
        return 0;
    text = st->text;
    if (sc->denied != NULL && st == &sc->steps[sc->login]) {
        if (!c->ok) {
            text = sc->denied;
            t->failed++;
            c->step += sc->skip;
        } else {
            if (c->kind == GENSNIFF_POP3)
                t->pop3_ok++;
            else
                t->imap_ok++;
            gensniff_granted(t, c->client);
        }
    }
    if (text != NULL) {
        gensniff_expand(text, c->client, line, sizeof(line));
        text = line;
    }
    if (st->server)
        gensniff_tcp(o, &c->s, &c->c, st->flags, text);
    else
        gensniff_tcp(o, &c->c, &c->s, st->flags, text);
    return 1;
}

/* gensniff_dns - the next packet of a DNS exchange; 0 when it is over */
static int gensniff_dns(struct gensniff_out *o, struct gensniff_conv *c)
{
    static const uint8_t query[] = {0x12, 0x34, 1,   0,   0,   1,   0,   0,   0,   0,   0,
                                    0,    3,    'w', 'w', 'w', 7,   'e', 'x', 'a', 'm', 'p',
                                    'l',  'e',  3,   'c', 'o', 'm', 0,   0,   1,   0,   1};
    static const uint8_t answer[] = {
        0x12, 0x34, 0x81, 0x80, 0,   1,   0,   1,    0,    0,   0,   0,  3,   'w', 'w', 'w', 7,
        'e',  'x',  'a',  'm',  'p', 'l', 'e', 3,    'c',  'o', 'm', 0,  0,   1,   0,   1,   0xc0,
        0x0c, 0,    1,    0,    1,   0,   0,   0x0e, 0x10, 0,   4,   93, 184, 216, 34};

    switch (c->step++) {
    case 0:
        gensniff_frame(o, 17, &c->c, &c->s, 0, 0, query, sizeof(query));
        return 1;
    case 1:
        gensniff_frame(o, 17, &c->s, &c->c, 0, 0, answer, sizeof(answer));
        return 1;
    default:
        return 0;
    }
}

/* gensniff_header - the pcap file header: microseconds, Ethernet */
static void gensniff_header(FILE *fp)
{
    const uint32_t h[6] = {0xa1b2c3d4, 2 | (4u << 16), 0, 0, 65535, 1};

    fwrite(h, sizeof(h), 1, fp);
}

/* gensniff_mixed - PACKETS packets of mixed traffic */
static void gensniff_mixed(struct gensniff_out *o, uint64_t packets)
{
    struct gensniff_conv *conv = calloc(GENSNIFF_ACTIVE, sizeof(*conv));
    struct gensniff_tally *t = calloc(1, sizeof(*t));
    int64_t start = o->usec;
    uint64_t serial = 0;
    size_t i;

    if (conv == NULL || t == NULL) {
        perror("gensniff");
        exit(1);
    }
    memset(gensniff_body, 'x', GENSNIFF_PAYLOAD);
    for (i = 0; i < GENSNIFF_ACTIVE; i++)
        gensniff_conv_start(&conv[i], serial++);
    t->sessions = GENSNIFF_ACTIVE;
    while (o->packets < packets) {
        struct gensniff_conv *c = &conv[gensniff_rand() % GENSNIFF_ACTIVE];
        int more;

        o->usec = start + (int64_t)(o->packets * (GENSNIFF_SPAN * 1000000ULL) / packets);
        if (c->kind == GENSNIFF_DNS)
            more = gensniff_dns(o, c);
        else
            more = gensniff_play(o, c, t);
        if (!more) {
            gensniff_conv_start(c, serial++);
            t->sessions++;
        }
    }
    fprintf(stderr,
            "packets=%llu sessions=%llu pop3_logins=%llu imap_logins=%llu failed_logins=%llu "
            "addresses=%u\n",
            (unsigned long long)o->packets, (unsigned long long)t->sessions,
            (unsigned long long)t->pop3_ok, (unsigned long long)t->imap_ok,
            (unsigned long long)t->failed, t->addresses);
    free(conv);
    free(t);
}

/* gensniff_idle - FLOWS conversations left open mid-command */
static void gensniff_idle(struct gensniff_out *o, uint64_t flows)
{
    uint64_t i;
    char line[64];

    for (i = 0; i < flows; i++) {
        struct gensniff_end c, s;
        int imap = i & 1;

        memset(&c, 0, sizeof(c));
        c.addr[0] = 100;
        c.addr[1] = (uint8_t)(64 + ((i >> 16) & 63));
        c.addr[2] = (uint8_t)(i >> 8);
        c.addr[3] = (uint8_t)i;
        c.port = (uint16_t)(1024 + (i >> 22));
        c.seq = (uint32_t)gensniff_rand();
        gensniff_server(0, imap ? 143 : 110, &s);
        o->usec += 50;
        gensniff_tcp(o, &c, &s, GENSNIFF_SYN, NULL);
        gensniff_tcp(o, &s, &c, GENSNIFF_SYN | GENSNIFF_ACK, NULL);
        gensniff_tcp(o, &s, &c, GENSNIFF_PSH | GENSNIFF_ACK,
                     imap ? "* OK [CAPABILITY IMAP4rev1 LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n"
                          : "+OK Dovecot ready.\r\n");
        snprintf(line, sizeof(line), imap ? "a1 LOGIN user%llu" : "USER user%llu",
                 (unsigned long long)i);
        gensniff_tcp(o, &c, &s, GENSNIFF_PSH | GENSNIFF_ACK, line);
    }
    fprintf(stderr, "packets=%llu flows=%llu\n", (unsigned long long)o->packets,
            (unsigned long long)flows);
}

/* main - gensniff mixed PACKETS FILE [SEED] | gensniff idle FLOWS FILE */
int main(int argc, char **argv)
{
    struct gensniff_out o;
    static char buf[1 << 20];
    uint64_t n;

    if (argc < 4 || (strcmp(argv[1], "mixed") != 0 && strcmp(argv[1], "idle") != 0)) {
        fprintf(stderr, "usage: gensniff mixed PACKETS FILE [SEED] | gensniff idle FLOWS FILE\n");
        return 2;
    }
    n = strtoull(argv[2], NULL, 10);
    if (argc > 4)
        gensniff_state ^= strtoull(argv[4], NULL, 10) * 0x9e3779b97f4a7c15ULL;
    memset(&o, 0, sizeof(o));
    if ((o.fp = fopen(argv[3], "wb")) == NULL) {
        perror(argv[3]);
        return 1;
    }
    setvbuf(o.fp, buf, _IOFBF, sizeof(buf));
    gensniff_header(o.fp);
    o.usec = ((int64_t)time(NULL) - GENSNIFF_SPAN - 10) * 1000000;
    if (argv[1][0] == 'm')
        gensniff_mixed(&o, n);
    else
        gensniff_idle(&o, n);
    if (fclose(o.fp) != 0) {
        perror(argv[3]);
        return 1;
    }
    return 0;
}
