/*
 * fuzz_pcap - libFuzzer target for the sniffer as the daemon runs it: every packet goes
 * through the same pipeline as in popauth (wire.h: decode, flow table, login detector),
 * with small limits so that eviction, expiry and the line bound are reached, read as
 * popauth reads a capture file (recorded on the server). An input is either of:
 *
 *   - a capture file (pcap or pcapng), opened from memory with pcap_fopen_offline. A
 *     capture of a link type popauth refuses is refused here too. sniff_servers holds
 *     every address;
 *   - a script (first byte 'S'): ONE POP3 or IMAP conversation, written as an Ethernet
 *     capture in memory and then read as a capture file is, whose segments come in pairs
 *     of copies of the same stream bytes: overlapping, touching, one inside the other,
 *     1-byte keep-alive probes, in order or not, with equal or different bytes. After
 *     the 'S': a flags byte (bit 0 IPv6, bit 1 IMAP, bit 2 TCP timestamps, bit 3 a server
 *     that is not in sniff_servers, which is 192.0.2.1 and 2001:db8::1), the client's
 *     and the server's initial sequence numbers (4 bytes each, big-endian), then steps
 *     until the input ends (at most FUZZ_PCAP_STEPS), each of these bytes:
 *       c    bit 0: the server sends (else the client); bit 1: text is appended first;
 *            bit 2: the copy sent second differs; bit 3: copy 2 goes first; bit 4: the
 *            copy sent second has the bare pseudo-header sum as its TCP checksum
 *            (checksum offload); bits 5-7: the pair's shape (below)
 *       t p  (if appending) template t of the side's protocol (USER, PASS, APOP, AUTH,
 *            SASL responses, LOGIN with atoms, quoted strings and literals, AUTHENTICATE,
 *            +OK, -ERR, tagged OK/NO/BAD, "+" continuations, multi-line replies, ...),
 *            p choosing the user (bits 0-1), password (2-3) and tag (4-5). A template
 *            with raw text takes n (a byte) % 32 more input bytes as they are.
 *       o1 l1  copy 1: from the side's first offset not yet sent + (int8)o1, l1 bytes
 *            (0: to the end of the side's text), within the text
 *       o2 l2  copy 2, by shape (copy 1 = [a, b)): 0 [a, b); 1 from inside copy 1
 *            (a + o2 % (b - a + 1)) to b + l2; 2 from there to at most l2 bytes on,
 *            inside copy 1; 3 touching it: from b, l2 bytes (0: to the end); 4 [b-1, b)
 *            and 5 [a-1, a), 1-byte keep-alive shapes; 6 around copy 1, from
 *            a - o2 % (a + 1) to b + l2; 7 free, like copy 1 (o2, l2)
 *       a    ACK numbers, the first copy sent in bits 0-3, the second in 4-7: bits 0-1
 *            say the other side's first offset not yet sent (0), that less (1) or plus
 *            (2) 1 + bits 2-3, or the end of its text (3)
 *       m x  (if the copy sent second differs) its m-th (modulo) byte that was on the
 *            wire before is XORed with x (0: 0x20)
 *     The capture starts with SYN, SYN-ACK and ACK (client 198.51.100.7 or 2001:db8:1::7
 *     port 40110; server 192.0.2.1 or 2001:db8::1, or with bit 3 192.0.2.99 or
 *     2001:db8::99, port 110 or 143); every frame has a valid IPv4 header checksum, TTL
 *     or hop limit 64, a valid TCP checksum (or the offload shape), a window of 65535,
 *     TCP timestamps increasing if chosen, and its own capture time (FUZZ_PCAP_TICK
 *     apart). The server's text starts with its greeting.
 *
 * It aborts when an invariant fails: a login's user name is printable and shorter than
 * POP3IMAP_USER_MAX, its address is IPv4 or IPv6 (never an IPv4-mapped IPv6 address) and
 * its server port is a sniffed one; a desync names a printable reason; the counters add
 * up (every packet is counted once; no more logins than segments; the flow table never
 * holds more than its bound); and a second run over the same input gives the same
 * logins and the same counters. That second run reads a classic pcap file as popauth
 * does, without libpcap (pcapfile_record, wire_packets in pieces of varying size, and
 * a pause after every login): it must see exactly what libpcap's reader saw.
 * For a script, the harness keeps per direction the bytes put on the wire at each
 * stream offset, and notes when a copy disagrees with an earlier one at some offset.
 * Then a login must come from a frame up to which every copy of every byte agreed
 * (the sniffer may only grant what it is sure the server read), from the script's
 * client and server port, with a user name the client put on the wire (as it is,
 * backslash-quoted, or base64-encoded as a SASL response; '?' for a byte outside
 * 0x20-0x7e, as ascii_user_byte makes it); and a server not in sniff_servers gets no login (and is
 * counted foreign).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "popauth/sniff/packet.h"
#include "popauth/sniff/pcapfile.h"
#include "popauth/sniff/ports.h"
#include "popauth/sniff/wire.h"
#include "shared/ascii.h"
#include "shared/cidr.h"
#include "shared/cksum.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PCAP_MAX_FLOWS 16
#define FUZZ_PCAP_TIMEOUT   (10 * 1000000LL)
#define FUZZ_PCAP_MAX_LINE  512
#define FUZZ_PCAP_SEED      0x5eedULL /* a fixed key: runs must be reproducible */

#define FUZZ_PCAP_SCRIPT    'S' /* the first byte of a script */
#define FUZZ_PCAP_STEPS     64  /* steps read from a script */
#define FUZZ_PCAP_FRAMES    (3 + 2 * FUZZ_PCAP_STEPS)
#define FUZZ_PCAP_TEXT_MAX  4096 /* bytes of one side's text */
#define FUZZ_PCAP_COPY_MAX  1460 /* payload bytes of one copy */
#define FUZZ_PCAP_FRAME_MAX (14 + 40 + 32 + FUZZ_PCAP_COPY_MAX)
#define FUZZ_PCAP_LINE_MAX  512          /* bytes of one expanded template */
#define FUZZ_PCAP_RAW_MAX   32           /* raw input bytes in a template */
#define FUZZ_PCAP_T0        1700000000LL /* capture time of a script's SYN, seconds */
#define FUZZ_PCAP_TICK      1000         /* microseconds between a script's frames */

_Static_assert(FUZZ_PCAP_FRAMES < UINT8_MAX, "fuzz_pcap_dir.sent holds a frame number");

/* One direction of a script's conversation, by the side that sends it. */
struct fuzz_pcap_dir {
    uint8_t text[FUZZ_PCAP_TEXT_MAX]; /* what the side sends, as first put on the wire */
    uint8_t sent[FUZZ_PCAP_TEXT_MAX]; /* 1 + the frame that first put it on the wire, or 0 */
    size_t len;                       /* bytes of text so far */
    size_t low;                       /* the first offset not yet sent */
    uint32_t isn;
    uint16_t port;
    uint8_t addr[16], mac[6];
};

/* A script: its input, the conversation so far, and the capture file it becomes. */
struct fuzz_pcap_script {
    const uint8_t *in;
    size_t left;         /* input bytes not read yet */
    int v6, ts, foreign; /* foreign: the server is not in sniff_servers */
    enum pop3imap_proto proto;
    struct fuzz_pcap_dir dir[2]; /* by enum tcpflow_side */
    struct addr client;
    size_t frames;
    int conflicted;                     /* some copies disagreed */
    uint8_t conflict[FUZZ_PCAP_FRAMES]; /* conflicted, as it was after each frame */
    size_t size;                        /* bytes of the capture file */
    uint8_t pcap[PCAPFILE_HEADER + FUZZ_PCAP_FRAMES * (PCAPFILE_RECORD + FUZZ_PCAP_FRAME_MAX)];
};

/* What one run saw. */
struct fuzz_pcap_run {
    struct wire *w;
    int pause; /* pause the wire after each login (the run without libpcap) */
    const struct fuzz_pcap_script *script; /* the script the capture came from, or NULL */
    uint64_t logins;
    uint32_t hash; /* of every login: address, port, user, time */
    struct wire_stats stats;
};

static const char fuzz_pcap_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char *const fuzz_pcap_users[4] = {"alice", "bob", "carol@example.org", "mallory"};
static const char *const fuzz_pcap_passwords[4] = {"secret", "hunter2", "x", "Tr0ub4dor&3"};

/*
 * Each side's templates by protocol (biased to logins). %u user, %p password, %t tag, %n
 * length of the user, %b SASL PLAIN response (no authorization identity), %B (with one),
 * %l and %m user and password in base64, %r raw input bytes.
 */
static const char *const fuzz_pcap_text[2][2][16] = {
    {{"USER %u\r\n", "PASS %p\r\n", "USER %u\r\n", "PASS %p\r\n",
      "APOP %u 8f3a0c6d2b71e94f5a0d3c2b1e6f7a89\r\n", "AUTH PLAIN %b\r\n", "AUTH PLAIN %B\r\n",
      "AUTH PLAIN\r\n", "%b\r\n", "AUTH LOGIN\r\n", "%l\r\n", "%m\r\n", "CAPA\r\n", "NOOP\r\n",
      "STLS\r\n", "%r"},
     {"+OK\r\n", "+OK\r\n", "+OK logged in\r\n", "+OK\r\n", "-ERR no\r\n", "-ERR [AUTH] failed\r\n",
      "+ \r\n", "+ VXNlcm5hbWU6\r\n", "+ UGFzc3dvcmQ6\r\n", "+OK\r\nSASL PLAIN LOGIN\r\n.\r\n",
      "+OK 2 320\r\n", "+OK <1.2@example.org>\r\n", "+OK %r\r\n", "-ERR %r\r\n", "* OK\r\n", "%r"}},
    {{"%t LOGIN %u %p\r\n", "%t LOGIN %u %p\r\n", "%t LOGIN \"%u\" \"%p\"\r\n",
      "%t LOGIN {%n+}\r\n%u %p\r\n", "%t LOGIN {%n}\r\n", "%u %p\r\n",
      "%t AUTHENTICATE PLAIN %b\r\n", "%t AUTHENTICATE PLAIN\r\n", "%b\r\n",
      "%t AUTHENTICATE LOGIN\r\n", "%l\r\n", "%m\r\n", "%t CAPABILITY\r\n", "%t NOOP\r\n",
      "%t STARTTLS\r\n", "%r"},
     {"%t OK done\r\n", "%t OK done\r\n", "%t OK [CAPABILITY IMAP4rev1] ok\r\n", "%t NO failed\r\n",
      "%t BAD\r\n", "+ \r\n", "+ go ahead\r\n", "+ VXNlcm5hbWU6\r\n",
      "* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n", "* 1 FETCH (BODY[] {7}\r\na1 OK\r\n)\r\n",
      "* OK still here\r\n", "%t OK done\r\n", "* BYE\r\n", "%t OK %r\r\n", "+OK\r\n", "%r"}}};

/* fuzz_pcap_printable - abort unless s is printable text of at most max bytes */
static void fuzz_pcap_printable(const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++)
        if (i >= max || (unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            abort();
}

/* fuzz_pcap_fold - fold len bytes into h (FNV-1a) */
static uint32_t fuzz_pcap_fold(uint32_t h, const void *p, size_t len)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ b[i]) * 16777619u;
    return h;
}

/* fuzz_pcap_b64_value - the value of base64 digit c, or -1 */
static int fuzz_pcap_b64_value(uint8_t c)
{
    const char *p = c != '\0' ? strchr(fuzz_pcap_b64, c) : NULL;

    return p != NULL ? (int)(p - fuzz_pcap_b64) : -1;
}

/* fuzz_pcap_unbase64 - decode the base64 digits p[0..n) starts with into out; bytes out */
static size_t fuzz_pcap_unbase64(const uint8_t *p, size_t n, uint8_t *out)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t i, k = 0;
    int v;

    for (i = 0; i < n && (v = fuzz_pcap_b64_value(p[i])) >= 0; i++) {
        acc = (acc << 6 | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[k++] = (uint8_t)(acc >> bits);
        }
    }
    return k;
}

/* fuzz_pcap_match - 1 if b[0..n) starts with user ('?': a byte not 0x20-0x7e; \ quotes) */
static int fuzz_pcap_match(const char *user, const uint8_t *b, size_t n)
{
    size_t i, j;

    for (i = j = 0; user[i] != '\0'; i++, j++) {
        uint8_t u = (uint8_t)user[i];

        if (j + 1 < n && b[j] == '\\' && b[j + 1] == u)
            j++;
        if (j >= n || (b[j] != u && !(u == '?' && !ascii_is_print(b[j]))))
            return 0;
    }
    return 1;
}

/* fuzz_pcap_find - 1 if user reads from some offset of b[0..n) */
static int fuzz_pcap_find(const char *user, const uint8_t *b, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (fuzz_pcap_match(user, b + i, n - i))
            return 1;
    return 0;
}

/* fuzz_pcap_user_sent - 1 if user is empty or in bytes sent up to frame, raw or base64 */
static int fuzz_pcap_user_sent(const struct fuzz_pcap_dir *d, const char *user, size_t frame)
{
    uint8_t dec[FUZZ_PCAP_TEXT_MAX];
    size_t i, k, run;

    if (user[0] == '\0')
        return 1;
    for (i = 0; i < d->len; i += run + 1) {
        const uint8_t *b = d->text + i;

        for (run = 0; i + run < d->len && d->sent[i + run] - 1u <= frame; run++)
            ;
        if (fuzz_pcap_find(user, b, run))
            return 1;
        for (k = 0; k < run; k++)
            if ((k == 0 || fuzz_pcap_b64_value(b[k - 1]) < 0) &&
                fuzz_pcap_find(user, dec, fuzz_pcap_unbase64(b + k, run - k, dec)))
                return 1;
    }
    return 0;
}

/* fuzz_pcap_script_login - a script's login: no conflict yet, its client, port, a sent user */
static void fuzz_pcap_script_login(const struct fuzz_pcap_script *s, const struct wire_login *lg)
{
    int64_t frame = (lg->usec - FUZZ_PCAP_T0 * 1000000) / FUZZ_PCAP_TICK;

    if (s->foreign || frame < 0 || (size_t)frame >= s->frames || s->conflict[frame])
        abort();
    if (lg->client->family != s->client.family ||
        memcmp(lg->client->bytes, s->client.bytes, sizeof(s->client.bytes)) != 0 ||
        lg->server_port != s->dir[TCPFLOW_SERVER].port || lg->proto != s->proto)
        abort();
    if (!fuzz_pcap_user_sent(&s->dir[TCPFLOW_CLIENT], lg->user, (size_t)frame))
        abort();
}

/* fuzz_pcap_login - check one login and fold it into the run's hash */
static void fuzz_pcap_login(void *ctx, const struct wire_login *lg)
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    struct fuzz_pcap_run *r = ctx;

    if (lg->client->family != AF_INET && lg->client->family != AF_INET6)
        abort();
    if (lg->client->family == AF_INET6 && memcmp(lg->client->bytes, mapped, 12) == 0)
        abort();
    if (lg->server_port != 110 && lg->server_port != 143)
        abort();
    if ((lg->proto == POP3IMAP_POP3) != (lg->server_port == 110))
        abort();
    fuzz_pcap_printable(lg->user, POP3IMAP_USER_MAX - 1);
    if (r->script != NULL)
        fuzz_pcap_script_login(r->script, lg);
    r->logins++;
    r->hash = fuzz_pcap_fold(r->hash, lg->client, sizeof(*lg->client));
    r->hash = fuzz_pcap_fold(r->hash, &lg->server_port, sizeof(lg->server_port));
    r->hash = fuzz_pcap_fold(r->hash, lg->user, strlen(lg->user) + 1);
    r->hash = fuzz_pcap_fold(r->hash, &lg->usec, sizeof(lg->usec));
    if (r->pause)
        wire_pause(r->w);
}

/* fuzz_pcap_desync - a reason is printable text */
static void fuzz_pcap_desync(void *ctx, const struct wire_conv *conv, const char *why)
{
    (void)ctx;
    if (conv->client->family != AF_INET && conv->client->family != AF_INET6)
        abort();
    if (why == NULL || why[0] == '\0')
        abort();
    fuzz_pcap_printable(why, 200);
}

/* fuzz_pcap_packet - pcap callback: one frame into the pipeline, as sniff.c does it */
static void fuzz_pcap_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct fuzz_pcap_run *r = (struct fuzz_pcap_run *)user;

    wire_packet(r->w, bytes, h->caplen, h->len,
                packet_time((int64_t)h->ts.tv_sec, (int64_t)h->ts.tv_usec));
}

/* fuzz_pcap_servers - sniff_servers: all for a capture file, the script's server for a script */
static const struct cidr_list *fuzz_pcap_servers(int script)
{
    static const char *const nets[2][2] = {{"0.0.0.0/0", "::/0"}, {"192.0.2.1", "2001:db8::1"}};
    static struct cidr_list *lists[2];
    char err[256];
    size_t i;

    if (lists[script] == NULL) {
        lists[script] = cidr_list_new();
        for (i = 0; i < 2; i++)
            if (cidr_list_add(lists[script], nets[script][i], strlen(nets[script][i]), err,
                              sizeof(err)) < 0)
                abort();
        cidr_list_finish(lists[script]);
    }
    return lists[script];
}

/* fuzz_pcap_wire - a fresh pipeline for link type dlt, sniffing pop3:110 and imap:143 into r */
static struct wire *fuzz_pcap_wire(int dlt, struct fuzz_pcap_run *r)
{
    static const struct wire_events events = {.login = fuzz_pcap_login, .desync = fuzz_pcap_desync};
    char pop3[] = "pop3:110", imap[] = "imap:143";
    char *items[] = {pop3, imap};
    const struct strlist list = {items, 2};
    const struct wire_limits limits = {FUZZ_PCAP_MAX_FLOWS, FUZZ_PCAP_TIMEOUT, FUZZ_PCAP_MAX_LINE,
                                       FUZZ_PCAP_SEED};
    /* local NULL: every server is this host, as for a capture file recorded on the server */
    const struct wire_hosts hosts = {.servers = fuzz_pcap_servers(r->script != NULL)};
    struct ports ports;
    char err[256];

    if (ports_parse(&list, &ports, err, sizeof(err)) < 0)
        abort();
    return wire_new(dlt, &ports, &limits, &hosts, &events, r);
}

/* fuzz_pcap_run - read the capture in data through a fresh pipeline; 0 if it is not a
 * capture popauth would read. *snaplen and *dlt: as libpcap read them. */
static int fuzz_pcap_run(const uint8_t *data, size_t size, const struct fuzz_pcap_script *script,
                         struct fuzz_pcap_run *r, uint32_t *snaplen, int *dlt_out)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    FILE *fp;
    pcap_t *p;
    int n, dlt;

    memset(r, 0, sizeof(*r));
    r->script = script;
    if ((fp = fmemopen((void *)(uintptr_t)data, size, "rb")) == NULL)
        return 0;
    if ((p = pcap_fopen_offline(fp, errbuf)) == NULL) {
        fclose(fp);
        return 0;
    }
    dlt = pcap_datalink(p);
    if (!packet_link_supported(dlt)) {
        pcap_close(p);
        return 0;
    }
    n = pcap_snapshot(p);
    *snaplen = n > 0 && n < PCAPFILE_MAX_CAPLEN ? (uint32_t)n : PCAPFILE_MAX_CAPLEN;
    *dlt_out = dlt;
    r->w = fuzz_pcap_wire(dlt, r);
    do
        n = pcap_dispatch(p, -1, fuzz_pcap_packet, (u_char *)r);
    while (n > 0);
    wire_stats(r->w, &r->stats);
    wire_free(r->w);
    r->w = NULL;
    pcap_close(p);
    return 1;
}

/* fuzz_pcap_own - read the classic pcap file in data as sniff.c does, without libpcap
 * (snaplen and dlt as libpcap read them from its header), into a fresh pipeline */
static void fuzz_pcap_own(const uint8_t *data, size_t size, uint32_t snaplen, int dlt,
                          const struct fuzz_pcap_script *script, struct fuzz_pcap_run *r)
{
    struct pcapfile_record rec[2 * WIRE_AHEAD + 1];
    struct pcapfile pc;
    size_t pos = PCAPFILE_HEADER, piece = 1, k, i, taken;

    memset(r, 0, sizeof(*r));
    r->pause = 1;
    r->script = script;
    if (pcapfile_header(data, size, &pc) < 0)
        abort();
    pc.snaplen = snaplen;
    r->w = fuzz_pcap_wire(dlt, r);
    for (;;) {
        for (k = 0, i = pos; k < piece; k++) {
            if (pcapfile_record(&pc, data + i, size - i, &rec[k]) <= 0)
                break;
            i += rec[k].size;
        }
        if (k == 0)
            break; /* the end, a record cut short, or one too long: libpcap stops there too */
        taken = wire_packets(r->w, rec, k);
        if (taken < 1 || taken > k)
            abort();
        for (i = 0; i < taken; i++)
            pos += rec[i].size;
        piece = piece % (2 * WIRE_AHEAD + 1) + 1;
    }
    wire_stats(r->w, &r->stats);
    wire_free(r->w);
    r->w = NULL;
}

/* fuzz_pcap_check - the counters of one run add up */
static void fuzz_pcap_check(const struct fuzz_pcap_run *r)
{
    const struct wire_stats *s = &r->stats;

    if (s->segments + s->other + s->fragments + s->opaque + s->malformed != s->packets)
        abort();
    if (r->script != NULL && s->foreign > (uint64_t)r->script->foreign)
        abort(); /* the script's one conversation, if its server is not in sniff_servers */
    if (s->logins != r->logins || s->logins > s->segments)
        abort();
    if (s->flows.active > FUZZ_PCAP_MAX_FLOWS || s->flows.flows > s->segments ||
        s->flows.joined > s->flows.flows)
        abort();
}

/* fuzz_pcap_capture - read the capture twice and compare (script: its source, or NULL) */
static void fuzz_pcap_capture(const uint8_t *data, size_t size,
                              const struct fuzz_pcap_script *script)
{
    struct fuzz_pcap_run a, b;
    struct pcapfile pc;
    uint32_t snaplen = 0;
    int dlt = 0;

    if (!fuzz_pcap_run(data, size, script, &a, &snaplen, &dlt))
        return;
    fuzz_pcap_check(&a);
    if (pcapfile_header(data, size, &pc) == 0)
        fuzz_pcap_own(data, size, snaplen, dlt, script, &b);
    else
        fuzz_pcap_run(data, size, script, &b, &snaplen, &dlt);
    if (a.logins != b.logins || a.hash != b.hash ||
        memcmp(&a.stats, &b.stats, sizeof(a.stats)) != 0)
        abort();
}

/* fuzz_pcap_byte - the script's next input byte; 0 once it is used up */
static uint8_t fuzz_pcap_byte(struct fuzz_pcap_script *s)
{
    if (s->left == 0)
        return 0;
    s->left--;
    return *s->in++;
}

/* fuzz_pcap_put - v into n bytes at p, big-endian (le: little-endian) */
static void fuzz_pcap_put(uint8_t *p, uint32_t v, unsigned n, int le)
{
    unsigned i;

    for (i = 0; i < n; i++)
        p[le ? i : n - 1 - i] = (uint8_t)(v >> (8 * i));
}

/* fuzz_pcap_base64 - n bytes at p in base64 into out (NUL-terminated) */
static void fuzz_pcap_base64(const uint8_t *p, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i += 3, out += 4) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);

        out[0] = fuzz_pcap_b64[v >> 18];
        out[1] = fuzz_pcap_b64[(v >> 12) & 63];
        out[2] = i + 1 < n ? fuzz_pcap_b64[(v >> 6) & 63] : '=';
        out[3] = i + 2 < n ? fuzz_pcap_b64[v & 63] : '=';
    }
    *out = '\0';
}

/* fuzz_pcap_field - placeholder c for parameter p (or raw input) into out; its length */
static size_t fuzz_pcap_field(struct fuzz_pcap_script *s, char c, uint8_t p, char *out)
{
    const char *user = fuzz_pcap_users[p & 3], *pass = fuzz_pcap_passwords[(p >> 2) & 3];
    uint8_t plain[128];
    size_t n = 0, k;

    switch (c) {
    case 'u':
        return (size_t)sprintf(out, "%s", user);
    case 'p':
        return (size_t)sprintf(out, "%s", pass);
    case 't':
        return (size_t)sprintf(out, "a%u", (p >> 4) & 3);
    case 'n':
        return (size_t)sprintf(out, "%zu", strlen(user));
    case 'B': /* authorization identity, authentication identity, password */
    case 'b':
        n = (size_t)sprintf((char *)plain, "%s%c%s%c%s", c == 'B' ? user : "", 0, user, 0, pass);
        fuzz_pcap_base64(plain, n, out);
        return strlen(out);
    case 'l':
    case 'm':
        fuzz_pcap_base64((const uint8_t *)(c == 'l' ? user : pass), strlen(c == 'l' ? user : pass),
                         out);
        return strlen(out);
    case 'r':
        for (k = fuzz_pcap_byte(s) % FUZZ_PCAP_RAW_MAX; k > 0 && s->left > 0; k--)
            out[n++] = (char)fuzz_pcap_byte(s);
        return n;
    default:
        out[0] = c;
        return 1;
    }
}

/* fuzz_pcap_append - template t of side's protocol, with parameter p, onto its text */
static void fuzz_pcap_append(struct fuzz_pcap_script *s, enum tcpflow_side side, uint8_t t,
                             uint8_t p)
{
    struct fuzz_pcap_dir *d = &s->dir[side];
    const char *tmpl = fuzz_pcap_text[s->proto][side][t % 16];
    char line[FUZZ_PCAP_LINE_MAX];
    size_t n = 0;

    for (; *tmpl != '\0'; tmpl++) {
        if (*tmpl != '%')
            line[n++] = *tmpl;
        else
            n += fuzz_pcap_field(s, *++tmpl, p, line + n);
    }
    if (n > FUZZ_PCAP_TEXT_MAX - d->len)
        n = FUZZ_PCAP_TEXT_MAX - d->len;
    memcpy(d->text + d->len, line, n);
    d->len += n;
}

/* fuzz_pcap_frame - one TCP segment of side into the capture (offload: pseudo-header sum) */
static void fuzz_pcap_frame(struct fuzz_pcap_script *s, enum tcpflow_side side, uint32_t seq,
                            uint32_t ack, uint8_t flags, const uint8_t *data, size_t len,
                            int offload)
{
    const struct fuzz_pcap_dir *from = &s->dir[side], *to = &s->dir[!side];
    uint8_t *rec = s->pcap + s->size, *f = rec + PCAPFILE_RECORD, *ip = f + 14, *tcp;
    size_t iplen = s->v6 ? 40 : 20, tcplen = s->ts ? 32 : 20, alen = s->v6 ? 16 : 4;
    size_t n = 14 + iplen + tcplen + len;
    uint32_t usec = (uint32_t)s->frames * FUZZ_PCAP_TICK;
    uint64_t sum;

    fuzz_pcap_put(rec, (uint32_t)(FUZZ_PCAP_T0 + usec / 1000000), 4, 1);
    fuzz_pcap_put(rec + 4, usec % 1000000, 4, 1);
    fuzz_pcap_put(rec + 8, (uint32_t)n, 4, 1);
    fuzz_pcap_put(rec + 12, (uint32_t)n, 4, 1);
    memcpy(f, to->mac, 6);
    memcpy(f + 6, from->mac, 6);
    fuzz_pcap_put(f + 12, s->v6 ? 0x86dd : 0x0800, 2, 0);
    memset(ip, 0, iplen + tcplen);
    if (s->v6) {
        ip[0] = 0x60;
        fuzz_pcap_put(ip + 4, (uint32_t)(tcplen + len), 2, 0);
        ip[6] = PACKET_PROTO_TCP;
        ip[7] = 64;
    } else {
        ip[0] = 0x45;
        fuzz_pcap_put(ip + 2, (uint32_t)(iplen + tcplen + len), 2, 0);
        fuzz_pcap_put(ip + 4, (uint32_t)s->frames, 2, 0);
        ip[6] = 0x40; /* DF */
        ip[8] = 64;
        ip[9] = PACKET_PROTO_TCP;
    }
    memcpy(ip + iplen - 2 * alen, from->addr, alen);
    memcpy(ip + iplen - alen, to->addr, alen);
    if (!s->v6)
        fuzz_pcap_put(ip + 10, cksum_field(cksum_add(0, ip, iplen)), 2, 0);
    tcp = ip + iplen;
    fuzz_pcap_put(tcp, from->port, 2, 0);
    fuzz_pcap_put(tcp + 2, to->port, 2, 0);
    fuzz_pcap_put(tcp + 4, seq, 4, 0);
    fuzz_pcap_put(tcp + 8, ack, 4, 0);
    tcp[12] = (uint8_t)(tcplen / 4 << 4);
    tcp[13] = flags;
    fuzz_pcap_put(tcp + 14, 65535, 2, 0);
    if (s->ts) { /* NOP, NOP, timestamps: TSval rises with every frame */
        memcpy(tcp + 20, "\x01\x01\x08\x0a", 4);
        fuzz_pcap_put(tcp + 24, 1000 + (uint32_t)s->frames, 4, 0);
        fuzz_pcap_put(tcp + 28, s->frames > 0 ? 999 + (uint32_t)s->frames : 0, 4, 0);
    }
    if (len > 0)
        memcpy(tcp + tcplen, data, len);
    sum = cksum_add(cksum_add(PACKET_PROTO_TCP + tcplen + len, from->addr, alen), to->addr, alen);
    fuzz_pcap_put(tcp + 16,
                  offload ? cksum_fold(sum) : cksum_field(cksum_add(sum, tcp, tcplen + len)), 2, 0);
    s->conflict[s->frames++] = (uint8_t)s->conflicted;
    s->size += PCAPFILE_RECORD + n;
}

/* fuzz_pcap_ack - the ACK number of a segment from side, by nibble a (see the top) */
static uint32_t fuzz_pcap_ack(const struct fuzz_pcap_script *s, enum tcpflow_side side, unsigned a)
{
    const struct fuzz_pcap_dir *o = &s->dir[!side];
    uint32_t off = (uint32_t)o->low, delta = ((a >> 2) & 3) + 1;

    if ((a & 3) == 1)
        off -= delta;
    else if ((a & 3) == 2)
        off += delta;
    else if ((a & 3) == 3)
        off = (uint32_t)o->len;
    return o->isn + 1 + off;
}

/* fuzz_pcap_copy - send side's text in span (mutate: m-th old byte ^= x), noting conflicts */
static void fuzz_pcap_copy(struct fuzz_pcap_script *s, enum tcpflow_side side, const size_t span[2],
                           unsigned a, int offload, int mutate, uint8_t m, uint8_t x)
{
    struct fuzz_pcap_dir *d = &s->dir[side];
    uint8_t buf[FUZZ_PCAP_COPY_MAX];
    size_t i, old = 0, len = span[1] - span[0];

    memcpy(buf, d->text + span[0], len);
    for (i = span[0]; i < span[1]; i++)
        old += d->sent[i] != 0;
    if (mutate && old > 0) {
        size_t k = m % old;

        for (i = span[0]; !d->sent[i] || k-- > 0; i++)
            ;
        buf[i - span[0]] ^= x != 0 ? x : 0x20;
    }
    for (i = span[0]; i < span[1]; i++) {
        if (d->sent[i] && buf[i - span[0]] != d->text[i])
            s->conflicted = 1;
        else if (!d->sent[i])
            d->sent[i] = (uint8_t)(s->frames + 1);
    }
    while (d->low < d->len && d->sent[d->low])
        d->low++;
    fuzz_pcap_frame(s, side, d->isn + 1 + (uint32_t)span[0], fuzz_pcap_ack(s, side, a), PACKET_ACK,
                    buf, len, offload);
}

/* fuzz_pcap_span - [start, end) cut to d's text and to FUZZ_PCAP_COPY_MAX bytes */
static void fuzz_pcap_span(const struct fuzz_pcap_dir *d, int64_t start, int64_t end,
                           size_t span[2])
{
    int64_t len = (int64_t)d->len;

    start = start < 0 ? 0 : start > len ? len : start;
    end = end < start ? start : end > len ? len : end;
    span[0] = (size_t)start;
    span[1] = (size_t)(end - start > FUZZ_PCAP_COPY_MAX ? start + FUZZ_PCAP_COPY_MAX : end);
}

/* fuzz_pcap_step - one step of the script: maybe some text, then a pair of copies */
static void fuzz_pcap_step(struct fuzz_pcap_script *s)
{
    uint8_t c = fuzz_pcap_byte(s), o1, l1, o2, l2, a, m = 0, x = 0;
    enum tcpflow_side side = c & 1 ? TCPFLOW_SERVER : TCPFLOW_CLIENT;
    const struct fuzz_pcap_dir *d = &s->dir[side];
    size_t one[2], two[2];
    int64_t lo, hi, mid, len;

    if (c & 2) {
        uint8_t t = fuzz_pcap_byte(s);

        fuzz_pcap_append(s, side, t, fuzz_pcap_byte(s));
    }
    o1 = fuzz_pcap_byte(s);
    l1 = fuzz_pcap_byte(s);
    o2 = fuzz_pcap_byte(s);
    l2 = fuzz_pcap_byte(s);
    a = fuzz_pcap_byte(s);
    if (c & 4) {
        m = fuzz_pcap_byte(s);
        x = fuzz_pcap_byte(s);
    }
    len = (int64_t)d->len;
    lo = (int64_t)d->low + (int8_t)o1;
    fuzz_pcap_span(d, lo, l1 != 0 ? lo + l1 : len, one);
    lo = (int64_t)one[0];
    hi = (int64_t)one[1];
    mid = lo + o2 % (hi - lo + 1);
    switch (c >> 5) {
    case 0: /* the same bytes again */
        fuzz_pcap_span(d, lo, hi, two);
        break;
    case 1: /* from inside copy 1 to past it */
        fuzz_pcap_span(d, mid, hi + l2, two);
        break;
    case 2: /* inside copy 1 */
        fuzz_pcap_span(d, mid, l2 != 0 && mid + l2 < hi ? mid + l2 : hi, two);
        break;
    case 3: /* touching its end */
        fuzz_pcap_span(d, hi, l2 != 0 ? hi + l2 : len, two);
        break;
    case 4: /* a keep-alive probe after it */
        fuzz_pcap_span(d, hi - 1, hi, two);
        break;
    case 5: /* a keep-alive probe before it */
        fuzz_pcap_span(d, lo - 1, lo, two);
        break;
    case 6: /* around it */
        fuzz_pcap_span(d, lo - o2 % (lo + 1), hi + l2, two);
        break;
    default: /* anywhere */
        lo = (int64_t)d->low + (int8_t)o2;
        fuzz_pcap_span(d, lo, l2 != 0 ? lo + l2 : len, two);
        break;
    }
    fuzz_pcap_copy(s, side, c & 8 ? two : one, a & 15, 0, 0, 0, 0);
    fuzz_pcap_copy(s, side, c & 8 ? one : two, a >> 4, c & 16, c & 4, m, x);
}

/* fuzz_pcap_side - set up one end of a script's conversation */
static void fuzz_pcap_side(struct fuzz_pcap_script *s, enum tcpflow_side side, uint16_t port,
                           const char *v4, const char *v6)
{
    struct fuzz_pcap_dir *d = &s->dir[side];
    unsigned i;

    memcpy(d->addr, s->v6 ? v6 : v4, s->v6 ? 16 : 4);
    memcpy(d->mac, "\x02\x00\x00\x00\x00", 5);
    d->mac[5] = (uint8_t)(side + 1);
    d->port = port;
    for (i = 0; i < 4; i++)
        d->isn = d->isn << 8 | fuzz_pcap_byte(s);
}

/* fuzz_pcap_build - the script in data[0..size) (after its 'S') as a capture file in s */
static void fuzz_pcap_build(struct fuzz_pcap_script *s, const uint8_t *data, size_t size)
{
    static const char greeting[2][32] = {"+OK POP3 ready\r\n", "* OK IMAP4rev1 ready\r\n"};
    struct fuzz_pcap_dir *c = &s->dir[TCPFLOW_CLIENT], *sv = &s->dir[TCPFLOW_SERVER];
    uint8_t flags;
    unsigned i;

    s->in = data;
    s->left = size;
    flags = fuzz_pcap_byte(s);
    s->v6 = flags & 1;
    s->proto = flags & 2 ? POP3IMAP_IMAP : POP3IMAP_POP3;
    s->ts = (flags & 4) != 0;
    s->foreign = (flags & 8) != 0;
    fuzz_pcap_side(s, TCPFLOW_CLIENT, 40110, "\xc6\x33\x64\x07",
                   "\x20\x01\x0d\xb8\x00\x01\0\0\0\0\0\0\0\0\0\x07");
    fuzz_pcap_side(s, TCPFLOW_SERVER, s->proto == POP3IMAP_IMAP ? 143 : 110,
                   s->foreign ? "\xc0\x00\x02\x63" : "\xc0\x00\x02\x01",
                   s->foreign ? "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x99"
                              : "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x01");
    s->client.family = s->v6 ? AF_INET6 : AF_INET;
    memcpy(s->client.bytes, c->addr, s->v6 ? 16 : 4);
    sv->len = strlen(greeting[s->proto]);
    memcpy(sv->text, greeting[s->proto], sv->len);
    fuzz_pcap_put(s->pcap, 0xa1b2c3d4, 4, 1);
    fuzz_pcap_put(s->pcap + 4, 2, 2, 1);
    fuzz_pcap_put(s->pcap + 6, 4, 2, 1);
    fuzz_pcap_put(s->pcap + 16, 65535, 4, 1);
    fuzz_pcap_put(s->pcap + 20, PACKET_DLT_EN10MB, 4, 1);
    s->size = PCAPFILE_HEADER;
    fuzz_pcap_frame(s, TCPFLOW_CLIENT, c->isn, 0, PACKET_SYN, NULL, 0, 0);
    fuzz_pcap_frame(s, TCPFLOW_SERVER, sv->isn, c->isn + 1, PACKET_SYN | PACKET_ACK, NULL, 0, 0);
    fuzz_pcap_frame(s, TCPFLOW_CLIENT, c->isn + 1, sv->isn + 1, PACKET_ACK, NULL, 0, 0);
    for (i = 0; i < FUZZ_PCAP_STEPS && s->left > 0; i++)
        fuzz_pcap_step(s);
}

/* LLVMFuzzerTestOneInput - a capture file, or a script written as one; read it twice */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_pcap_script *s;

    if (size == 0)
        return 0;
    if (data[0] != FUZZ_PCAP_SCRIPT) {
        fuzz_pcap_capture(data, size, NULL);
        return 0;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        abort();
    fuzz_pcap_build(s, data + 1, size - 1);
    fuzz_pcap_capture(s->pcap, s->size, s);
    free(s);
    return 0;
}
