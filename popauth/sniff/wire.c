/*
 * wire - frames to logins: decode, pick the sniffed ports, follow the conversation, read
 * it with its login detector (see wire.h).
 *
 * The per-packet path allocates nothing and reads no clock: the port check is one
 * bit of an 8 KiB bitmap, the user name lands in a scratch buffer of the wire, and a
 * conversation's state (its address and ports, then its detector) is one allocation,
 * made when it opens. A detector that is done with (login, desync, TLS) is cleared and
 * its buffers released at once; the allocation goes when the flow table ends the flow.
 */
#include <stdlib.h>
#include <string.h>

#include "popauth/sniff/frag.h"
#include "popauth/sniff/packet.h"
#include "popauth/sniff/wire.h"
#include "shared/hash.h"
#include "shared/util.h"

_Static_assert((int)POP3IMAP_CLIENT == (int)TCPFLOW_CLIENT &&
                   (int)POP3IMAP_SERVER == (int)TCPFLOW_SERVER,
               "pop3imap and tcpflow must agree on the sides");

/* One followed conversation; its detector follows it in the same allocation. */
struct wire_flow {
    struct addr client, server;
    int64_t start; /* capture time of the conversation's first packet */
    uint32_t held; /* bytes of the detector's buffers counted in wire.buffered */
    uint16_t cport, sport;
    uint8_t proto; /* enum pop3imap_proto */
    uint8_t live;  /* the detector is still in use (not finished and released) */
};

#define WIRE_FLOW_HEAD ((sizeof(struct wire_flow) + 15) & ~(size_t)15) /* then the detector */

/* wire_det - the detector of f */
static inline struct pop3imap *wire_det(struct wire_flow *f)
{
    return (struct pop3imap *)(void *)((char *)f + WIRE_FLOW_HEAD);
}

struct wire {
    int dlt;
    size_t max_line;
    struct wire_hosts hosts;
    int64_t loss; /* when packet loss was last learnt of, or -1 */
    struct tcpflow_table *flows;
    struct wire_events events;
    void *ctx;
    int64_t next_expire;           /* capture time of the next sweep */
    int paused;                    /* wire_pause was called during wire_packets */
    struct wire_stats stats;       /* flows is filled in by wire_stats */
    struct frag *frag;             /* the last TCP fragment per address pair */
    char user[POP3IMAP_USER_MAX];  /* the user name of the login being reported */
    uint64_t port_set[65536 / 64]; /* a bit per sniffed port: checked for every segment */
    uint8_t port_proto[65536];     /* 0: not sniffed; else 1 + enum pop3imap_proto */
};

/* wire_finish - f's detector is done with: clear it, release its buffers, uncount them */
static void wire_finish(struct wire *w, struct wire_flow *f)
{
    if (f->live)
        pop3imap_fini(wire_det(f));
    w->stats.buffered -= f->held;
    f->held = 0;
    f->live = 0;
}

/* wire_lost - a conversation lost track: count it and tell the owner */
static void wire_lost(struct wire *w, const struct wire_flow *f, const char *why)
{
    struct wire_conv conv = {&f->client, f->cport, f->sport};

    w->stats.desynced++;
    if (w->events.desync != NULL)
        w->events.desync(w->ctx, &conv, why != NULL ? why : "lost track");
}

/* wire_open - tcpflow: a new conversation on a sniffed port gets its detector */
static void *wire_open(void *ctx, const struct tcpflow_key *key, int joined, int64_t usec)
{
    struct wire *w = ctx;
    uint8_t p = w->port_proto[key->sport];
    struct wire_flow *f;

    if (p == 0)
        return NULL; /* cannot happen: the side was chosen by this table */
    if (!cidr_list_match(w->hosts.servers, &key->server)) {
        w->stats.foreign++;
        return NULL;
    }
    f = xmalloc(WIRE_FLOW_HEAD + pop3imap_size());
    f->client = key->client;
    f->server = key->server;
    f->start = usec;
    f->held = 0;
    f->cport = key->cport;
    f->sport = key->sport;
    f->proto = (uint8_t)(p - 1);
    f->live = 1;
    pop3imap_init(wire_det(f), (enum pop3imap_proto)f->proto, w->max_line, joined);
    return f;
}

/* wire_data - tcpflow: in-order bytes from one side, read by the detector; -1 stops
 * following the conversation (logged in, desynchronised, or switched to TLS: nothing
 * more can come of it), and its detector is cleared at once */
static int wire_data(void *ctx, void *user, enum tcpflow_side side, const uint8_t *bytes,
                     size_t len, uint64_t acked, int64_t usec)
{
    struct wire *w = ctx;
    struct wire_flow *f = user;
    const char *why = NULL;
    size_t used = 0;
    struct wire_login lg;

    size_t held;

    switch (pop3imap_feed(wire_det(f), (enum pop3imap_side)side, bytes, len, acked, &used, w->user,
                          &why)) {
    case POP3IMAP_NONE:
        held = pop3imap_buffered(wire_det(f));
        if (held > f->held && held - f->held > WIRE_BUFFER_BUDGET - w->stats.buffered) {
            wire_lost(w, f, "detector buffer budget exhausted");
            break;
        }
        w->stats.buffered = w->stats.buffered - f->held + held;
        f->held = (uint32_t)held;
        return 0;
    case POP3IMAP_LOGIN: /* the session cannot log in again: the rest is not read */
        if (w->events.before_login != NULL)
            w->events.before_login(w->ctx);
        if (frag_since(w->frag, &f->client, &f->server, f->start)) {
            wire_lost(w, f,
                      "IP fragments or opaque packets between the hosts during the "
                      "conversation");
            break;
        }
        if (f->start <= w->loss) {
            wire_lost(w, f, "the capture lost packets during the conversation");
            break;
        }
        w->user[sizeof(w->user) - 1] = '\0';
        w->stats.logins++;
        lg.client = &f->client;
        lg.server_port = f->sport;
        lg.user = w->user;
        lg.proto = (enum pop3imap_proto)f->proto;
        lg.usec = usec;
        w->events.login(w->ctx, &lg);
        break;
    case POP3IMAP_DESYNC:
        wire_lost(w, f, why);
        break;
    case POP3IMAP_TLS:
        w->stats.tls++;
        break;
    default:
        wire_lost(w, f, "unknown detector event");
        break;
    }
    wire_finish(w, f);
    return -1;
}

/* wire_desync - tcpflow: the conversation's streams cannot be followed any more */
static void wire_desync(void *ctx, void *user, const char *why)
{
    wire_lost(ctx, user, why);
    wire_finish(ctx, user);
}

/* wire_close - tcpflow: the conversation ended; release its detector */
static void wire_close(void *ctx, void *user, enum tcpflow_end how)
{
    struct wire_flow *f = user;

    (void)how;
    wire_finish(ctx, f);
    free(f);
}

static const struct tcpflow_handler wire_handler = {
    .open = wire_open,
    .data = wire_data,
    .desync = wire_desync,
    .close = wire_close,
};

/* wire_new - a pipeline for frames of link type dlt */
struct wire *wire_new(int dlt, const struct ports *ports, const struct wire_limits *limits,
                      const struct wire_hosts *hosts, const struct wire_events *events, void *ctx)
{
    struct wire *w = xcalloc(1, sizeof(*w));
    size_t i;

    w->dlt = dlt;
    w->hosts = *hosts;
    w->loss = -1;
    w->max_line = limits->max_line;
    w->events = *events;
    w->ctx = ctx;
    for (i = 0; i < ports->count; i++) {
        w->port_proto[ports->port[i]] = (uint8_t)(1 + ports->proto[i]);
        w->port_set[ports->port[i] / 64] |= 1ULL << (ports->port[i] % 64);
    }
    w->frag = frag_new(hash_mix(limits->seed ^ HASH_P3, HASH_P5)); /* a key of its own */
    w->flows =
        tcpflow_new(limits->max_flows, limits->flow_timeout_usec, limits->seed, &wire_handler, w);
    return w;
}

/* wire_set_hosts - new lists of our servers and of this host's addresses and interfaces */
void wire_set_hosts(struct wire *w, const struct wire_hosts *hosts)
{
    w->hosts = *hosts;
}

/* wire_note_loss - the capture lost packets, learnt at usec */
void wire_note_loss(struct wire *w, int64_t usec)
{
    if (usec > w->loss)
        w->loss = usec;
}

/* wire_direction_known - 1 if p's recorded direction says something about its conversation
 * (sent by side): not on a loopback interface, and the server is this host */
static int wire_direction_known(const struct wire *w, const struct packet *p,
                                enum tcpflow_side side)
{
    size_t i;

    for (i = 0; i < w->hosts.nloopback; i++)
        if (p->ifindex == w->hosts.loopback[i])
            return 0;
    return w->hosts.local == NULL ||
           cidr_list_match(w->hosts.local, side == TCPFLOW_CLIENT ? &p->dst : &p->src);
}

/* What a frame turned out to be, for the counters. */
enum wire_class { WIRE_SEGMENT, WIRE_OTHER, WIRE_FRAGMENT, WIRE_OPAQUE, WIRE_MALFORMED };

/* wire_sniffed - 1 if port is in sniff_ports (a bitmap small enough to stay cached: the
 * client's ports are all over the range) */
static inline int wire_sniffed(const struct wire *w, uint16_t port)
{
    return (w->port_set[port / 64] >> (port % 64)) & 1;
}

/* wire_classify - decode a frame into p; for a TCP segment to or from a sniffed port,
 * WIRE_SEGMENT and the side that sent it */
static enum wire_class wire_classify(const struct wire *w, const uint8_t *frame, size_t caplen,
                                     size_t wirelen, struct packet *p, enum tcpflow_side *side)
{
    switch (packet_decode(w->dlt, frame, caplen, wirelen, p)) {
    case PACKET_TCP:
        break;
    case PACKET_FRAGMENT:
        return WIRE_FRAGMENT;
    case PACKET_OPAQUE:
        return WIRE_OPAQUE;
    case PACKET_MALFORMED:
        return WIRE_MALFORMED;
    default:
        return WIRE_OTHER;
    }
    if (wire_sniffed(w, p->dport))
        *side = TCPFLOW_CLIENT;
    else if (wire_sniffed(w, p->sport))
        *side = TCPFLOW_SERVER;
    else
        return WIRE_OTHER;
    if (p->dir != PACKET_DIR_UNKNOWN && !wire_direction_known(w, p, *side))
        p->dir = PACKET_DIR_UNKNOWN;
    return WIRE_SEGMENT;
}

/* wire_frag_note - an IP fragment or opaque packet p was captured at usec: remember it
 * if it may be TCP */
static void wire_frag_note(struct wire *w, const struct packet *p, int64_t usec)
{
    if (p->proto == PACKET_PROTO_TCP)
        frag_note(w->frag, &p->src, &p->dst, usec);
}

/* wire_take - count a classified frame, and follow it if it is a segment */
static void wire_take(struct wire *w, enum wire_class cls, const struct packet *p,
                      enum tcpflow_side side, int64_t usec)
{
    w->stats.packets++;
    switch (cls) {
    case WIRE_SEGMENT:
        break;
    case WIRE_FRAGMENT:
        w->stats.fragments++;
        wire_frag_note(w, p, usec);
        return;
    case WIRE_OPAQUE:
        w->stats.opaque++;
        wire_frag_note(w, p, usec);
        return;
    case WIRE_MALFORMED:
        w->stats.malformed++;
        return;
    default:
        w->stats.other++;
        return;
    }
    w->stats.segments++;
    tcpflow_packet(w->flows, p, side, usec);
    if (usec >= w->next_expire) {
        tcpflow_expire(w->flows, usec);
        w->next_expire = usec + WIRE_EXPIRE_USEC;
    }
}

/* wire_packet - decode one frame and follow it if it is TCP on a sniffed port */
void wire_packet(struct wire *w, const uint8_t *frame, size_t caplen, size_t wirelen, int64_t usec)
{
    struct packet p;
    enum tcpflow_side side = TCPFLOW_CLIENT;
    enum wire_class cls = wire_classify(w, frame, caplen, wirelen, &p, &side);

    wire_take(w, cls, &p, side, usec);
}

/* A frame of wire_packets, decoded and waiting for its turn. */
struct wire_ahead {
    struct packet p;
    int64_t usec;
    uint32_t token;      /* tcpflow_prefetch_bucket's */
    enum wire_class cls; /* WIRE_SEGMENT: followed */
    enum tcpflow_side side;
};

/*
 * wire_packets - n records in order, as n wire_packet calls; see wire.h. A frame is
 * decoded, and the load of its conversation's bucket started, WIRE_AHEAD frames before
 * its turn; the load of the flow the bucket leads to half-way there: the flow table is
 * far larger than the caches, and this way its loads overlap with other frames' work.
 */
size_t wire_packets(struct wire *w, const struct pcapfile_record *rec, size_t n)
{
    struct wire_ahead ring[WIRE_AHEAD];
    size_t i;

    w->paused = 0;
    for (i = 0; i < n + WIRE_AHEAD; i++) {
        struct wire_ahead *a;

        if (i >= WIRE_AHEAD) { /* its turn; the decode of frame i reuses its slot */
            a = &ring[(i - WIRE_AHEAD) % WIRE_AHEAD];
            wire_take(w, a->cls, &a->p, a->side, a->usec);
            if (w->paused)
                return i - WIRE_AHEAD + 1;
        }
        if (i >= WIRE_AHEAD / 2 && i - WIRE_AHEAD / 2 < n) {
            a = &ring[(i - WIRE_AHEAD / 2) % WIRE_AHEAD];
            if (a->cls == WIRE_SEGMENT)
                tcpflow_prefetch_flow(w->flows, a->token);
        }
        if (i < n) {
            a = &ring[i % WIRE_AHEAD];
            a->side = TCPFLOW_CLIENT;
            a->usec = rec[i].usec;
            a->cls = wire_classify(w, rec[i].frame, rec[i].caplen, rec[i].wirelen, &a->p, &a->side);
            if (a->cls == WIRE_SEGMENT)
                a->token = tcpflow_prefetch_bucket(w->flows, &a->p, a->side);
        }
    }
    return n;
}

/* wire_pause - from a callback: the wire_packets call in progress stops after this frame */
void wire_pause(struct wire *w)
{
    w->paused = 1;
}

/* wire_expire - end the conversations idle since before usec - timeout */
void wire_expire(struct wire *w, int64_t usec)
{
    tcpflow_expire(w->flows, usec);
    if (usec + WIRE_EXPIRE_USEC > w->next_expire)
        w->next_expire = usec + WIRE_EXPIRE_USEC;
}

/* wire_stats - the counters so far */
void wire_stats(const struct wire *w, struct wire_stats *out)
{
    *out = w->stats;
    tcpflow_stats(w->flows, &out->flows);
    out->desynced += out->flows.desynced_unopened; /* given up before the detector came */
}

/* wire_free - end every conversation and release w */
void wire_free(struct wire *w)
{
    if (w == NULL)
        return;
    tcpflow_free(w->flows);
    frag_free(w->frag);
    free(w);
}
