/*
 * fuzz_pcap - libFuzzer target for the sniffer as the daemon runs it: the input bytes are
 * a capture file (pcap or pcapng), opened from memory with pcap_fopen_offline, and every
 * packet goes through the same pipeline as in popauth (wire.h: decode, flow table,
 * login detector), with small limits so that eviction, expiry and the line bound are
 * reached. A capture of a link type popauth refuses is refused here too.
 *
 * It aborts when an invariant fails: a login's user name is printable and shorter than
 * POP3IMAP_USER_MAX, its address is IPv4 or IPv6 (never an IPv4-mapped IPv6 address) and
 * its server port is a sniffed one; a desync names a printable reason; the counters add
 * up (every packet is counted once; no more logins than segments; the flow table never
 * holds more than its bound); and a second run over the same input gives the same
 * logins and the same counters. That second run reads a classic pcap file as popauth
 * does, without libpcap (wire_pcap_record, wire_packets in pieces of varying size, and
 * a pause after every login): it must see exactly what libpcap's reader saw.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <pcap/pcap.h>

#include "popauth/packet.h"
#include "popauth/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_PCAP_MAX_FLOWS 16
#define FUZZ_PCAP_TIMEOUT   (10 * 1000000LL)
#define FUZZ_PCAP_MAX_LINE  512
#define FUZZ_PCAP_SEED      0x5eedULL /* a fixed key: runs must be reproducible */

/* What one run saw. */
struct fuzz_pcap_run {
    struct wire *w;
    int pause; /* pause the wire after each login (the run without libpcap) */
    uint64_t logins;
    uint32_t hash; /* of every login: address, port, user, time */
    struct wire_stats stats;
};

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
                wire_time((int64_t)h->ts.tv_sec, (int64_t)h->ts.tv_usec));
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
    struct wire_ports ports;
    char err[256];

    if (wire_ports_parse(&list, &ports, err, sizeof(err)) < 0)
        abort();
    return wire_new(dlt, &ports, &limits, &events, r);
}

/* fuzz_pcap_run - read the capture in data through a fresh pipeline; 0 if it is not a
 * capture popauth would read. *snaplen and *dlt: as libpcap read them. */
static int fuzz_pcap_run(const uint8_t *data, size_t size, struct fuzz_pcap_run *r,
                         uint32_t *snaplen, int *dlt_out)
{
    char errbuf[PCAP_ERRBUF_SIZE];
    FILE *fp;
    pcap_t *p;
    int n, dlt;

    memset(r, 0, sizeof(*r));
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
    *snaplen = n > 0 && n < WIRE_PCAP_MAX_CAPLEN ? (uint32_t)n : WIRE_PCAP_MAX_CAPLEN;
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
                          struct fuzz_pcap_run *r)
{
    struct wire_record rec[2 * WIRE_AHEAD + 1];
    struct wire_pcap pc;
    size_t pos = WIRE_PCAP_HEADER, piece = 1, k, i, taken;

    memset(r, 0, sizeof(*r));
    r->pause = 1;
    if (wire_pcap_header(data, size, &pc) < 0)
        abort();
    pc.snaplen = snaplen;
    r->w = fuzz_pcap_wire(dlt, r);
    for (;;) {
        for (k = 0, i = pos; k < piece; k++) {
            if (wire_pcap_record(&pc, data + i, size - i, &rec[k]) <= 0)
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

    if (s->segments + s->other + s->fragments + s->malformed != s->packets)
        abort();
    if (s->logins != r->logins || s->logins > s->segments)
        abort();
    if (s->flows.active > FUZZ_PCAP_MAX_FLOWS || s->flows.flows > s->segments ||
        s->flows.joined > s->flows.flows)
        abort();
}

/* LLVMFuzzerTestOneInput - read the capture twice and compare */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_pcap_run a, b;
    struct wire_pcap pc;
    uint32_t snaplen = 0;
    int dlt = 0;

    if (size == 0)
        return 0;
    if (!fuzz_pcap_run(data, size, &a, &snaplen, &dlt))
        return 0;
    fuzz_pcap_check(&a);
    if (wire_pcap_header(data, size, &pc) == 0)
        fuzz_pcap_own(data, size, snaplen, dlt, &b);
    else
        fuzz_pcap_run(data, size, &b, &snaplen, &dlt);
    if (a.logins != b.logins || a.hash != b.hash ||
        memcmp(&a.stats, &b.stats, sizeof(a.stats)) != 0)
        abort();
    return 0;
}
