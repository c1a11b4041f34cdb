/*
 * tcpflow - the sniffer's TCP layer (see tcpflow.h for the contract).
 *
 * Table: flows live in chunks of TCPFLOW_CHUNK, allocated as the table fills and reused
 * through a free list, so a steady stream of conversations allocates nothing. They are
 * found through a power-of-two array of bucket chains (at least one bucket per flow)
 * indexed by a keyed hash of the 4-tuple (shared/hash.h). Each flow is on one
 * of two lists in order of last activity: "followed" (conversations still being
 * reassembled) and "done" (desynchronised, stopped by the handler or ignored, kept until
 * they end so that their later packets are not taken for a new conversation). Eviction
 * takes the oldest "done" flow first, then the oldest followed one; tcpflow_expire walks
 * both from their oldest end. A flow that ends goes back to the free list at once, so
 * the flows in use stay few and warm in the caches.
 *
 * Sequence numbers: every comparison is a signed 32-bit difference, so the streams wrap
 * at 2^32 without special cases; stream offsets (delivered, acked) are 64-bit.
 *
 * Per direction the flow keeps its base (the sequence number of stream offset 0), the
 * bytes delivered so far (the next expected sequence number is base + delivered), a FIN
 * flag, a sorted list of out-of-order segments (malloc'd, bounded per direction and per
 * table; their bytes are cleared before they are freed, as they may hold a password),
 * and a ring of the last TCPFLOW_RECENT delivered pieces (sequence number, length,
 * 64-bit hash of the bytes keyed by the table's seed). Delivered pieces are contiguous,
 * so a range of old bytes is recognised as an identical retransmission when it starts
 * where a ring entry starts and is exactly covered by that entry and the ones after it,
 * each hash matching (a piece over 65,535 bytes is not recorded, so a copy of it is not
 * recognised).
 * A segment that starts in delivered bytes and ends past them is accepted only if its
 * old part passes that same test; its new tail is delivered. A 1-byte segment just
 * before the next expected byte is a keep-alive probe and is dropped if it repeats the
 * last byte delivered (kept per direction); with another byte it is a second, different
 * copy of that byte.
 *
 * Copies the server's kernel drops. Before a segment of a followed flow is used,
 * tcpflow_refused asks whether the server's stack might drop it (or might have taken a
 * copy the table never saw): IPv4 options or IPv6 extension headers (Linux drops
 * source routes and malformed options), data on a SYN (kept only with a valid TCP Fast
 * Open cookie), a TTL other than the side's first (a copy meant to expire on the way),
 * PAWS (Linux drops a segment whose TSval is more than TCPFLOW_PAWS_WINDOW below the
 * last one it recorded, which is never above the highest this side sent: the test here
 * can only refuse more), a missing timestamp after the side sent them (RFC 7323 says
 * drop, Linux keeps it: kernels differ), a bad checksum from the client (server-side
 * checksums may be left to the NIC), a client segment ending past the right edge of the
 * window the server last offered (its ACK + window << scale, the SYN-ACK's own window
 * unscaled), and a packet that went the wrong way. It does not judge bare ACKs and
 * RSTs by the header rules, since they move no byte: an RST ends the flow wherever it
 * points, and what follows is a joined conversation, which never grants. Any of these
 * desynchronises: the sniffer does not try to mirror which exact copy a given kernel
 * keeps, it gives the conversation up.
 *
 * Desynchronisation (the flow is then no longer followed, and its buffered segments are
 * released): a segment the server's kernel may drop (above); old bytes that are not a
 * recognised retransmission; new bytes that differ
 * from buffered bytes they overlap; a segment that cannot be buffered (TCPFLOW_OOO_
 * SEGMENTS, TCPFLOW_OOO_BYTES or the table's TCPFLOW_OOO_TABLE_BYTES reached); a FIN
 * past a hole or before data already buffered, or data past a FIN; an RST past a hole;
 * a segment that the capture cut short; a segment with URG set, from either side; a
 * SYN-ACK that contradicts the server's known initial sequence number.
 *
 * Starting: a client SYN sets the client base (ISN + 1), the SYN-ACK the server base
 * (ISN + 1) and, if the SYN was missed, the client base from its acknowledgement number.
 * A side whose base no handshake packet gave takes it from its first segment that
 * carries data or FIN. The handler's open is called at the first byte to deliver, with
 * joined = 0 only if both bases came from the handshake; a conversation that never
 * carries data is never opened (nor closed). Only a client SYN, a SYN-ACK or a segment
 * with data (and without FIN or RST) creates a flow: a bare ACK, FIN or RST of an unknown
 * conversation is ignored. A client SYN with another initial sequence number on a known
 * 4-tuple ends the old flow (TCPFLOW_END_CLOSED) and starts a new one (port reuse).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "popauth/sniff/tcpflow.h"
#include "shared/hash.h"
#include "shared/util.h"

#define TCPFLOW_CHUNK 1024 /* flows allocated at a time */

_Static_assert(TCPFLOW_OOO_BYTES <= UINT16_MAX, "tcpflow_dir.ooo_bytes is 16 bits");
_Static_assert(TCPFLOW_RECENT <= UINT8_MAX, "tcpflow_dir.recent_pos is 8 bits");

#define TCPFLOW_FOLLOWED 0 /* list of flows being reassembled */
#define TCPFLOW_DONE     1 /* list of flows that no longer are */

/* What the table still does with a flow. */
enum tcpflow_state {
    TCPFLOW_S_LIVE,  /* followed: reassembled and handed to the handler */
    TCPFLOW_S_LOST,  /* desynchronised, stopped or ignored: watched for its end only */
    TCPFLOW_S_ENDED, /* ended (closed if it was opened): about to be removed, or free */
};

/* Direction flags */
#define TCPFLOW_D_KNOWN     0x01 /* base is set */
#define TCPFLOW_D_HANDSHAKE 0x02 /* base came from the SYN or SYN-ACK */
#define TCPFLOW_D_FIN       0x04 /* FIN taken, in order: the direction is finished */
#define TCPFLOW_D_TS        0x08 /* sent a TCP timestamp: ts_hi is set */
#define TCPFLOW_D_TTL       0x10 /* ttl is set */
#define TCPFLOW_D_WSCALE    0x20 /* its SYN (or SYN-ACK) offered window scaling */
#define TCPFLOW_D_EDGE      0x40 /* server: the window edge is known */

#define TCPFLOW_PAWS_WINDOW 1 /* Linux's TCP_PAWS_WINDOW: a TSval this much older passes */

/* One buffered out-of-order segment. */
struct tcpflow_seg {
    struct tcpflow_seg *next; /* by sequence number */
    uint32_t seq, len, ack;
    int hasack;
    uint8_t data[];
};

/* One direction of a conversation. */
struct tcpflow_dir {
    uint64_t delivered;      /* bytes handed to the handler (or skipped) so far */
    struct tcpflow_seg *ooo; /* buffered segments past the next expected byte */
    uint64_t recent_hash[TCPFLOW_RECENT];
    uint32_t recent_seq[TCPFLOW_RECENT];
    uint16_t recent_len[TCPFLOW_RECENT]; /* 0: empty, or too long to record */
    uint32_t base;                       /* sequence number of stream offset 0 */
    uint32_t ts_hi;                      /* the highest TCP timestamp value sent */
    uint16_t ooo_bytes;                  /* payload bytes buffered */
    uint8_t flags;                       /* TCPFLOW_D_... */
    uint8_t recent_pos;                  /* ring slot written next */
    uint8_t ttl;                         /* the TTL or hop limit its segments carry */
    uint8_t last;                        /* the last byte delivered */
};

/* A conversation. What a lookup reads (chain link, key, hash) and what every packet
 * updates (state, time) come first, within 64 bytes. */
struct tcpflow {
    struct tcpflow *hnext; /* bucket chain, or the free list */
    uint64_t key[5];       /* client address, server address, ports and family */
    uint32_t hash;
    uint8_t state;               /* enum tcpflow_state */
    uint8_t list;                /* TCPFLOW_FOLLOWED or TCPFLOW_DONE */
    uint8_t opened;              /* open was called */
    uint8_t wscale;              /* the server's window scale (if both offered it) */
    int64_t last;                /* time of the last packet */
    struct tcpflow *prev, *next; /* activity list, oldest first */
    int64_t start;               /* time of the first packet */
    void *user;                  /* the handler's state, NULL until opened */
    uint32_t edge;               /* right edge of the window the server last offered */
    struct tcpflow_dir dir[2];   /* by enum tcpflow_side */
};

/* The memory budget: 65,536 flows in about 18 MiB. */
_Static_assert(sizeof(struct tcpflow) <= 288, "struct tcpflow grew past 288 bytes");
_Static_assert(offsetof(struct tcpflow, last) + sizeof(int64_t) <= 64,
               "what a lookup reads must fit in 64 bytes");

/* A list of flows in order of last activity. */
struct tcpflow_list {
    struct tcpflow *head, *tail;
};

struct tcpflow_table {
    struct tcpflow_handler h;
    void *ctx;
    int64_t timeout;
    uint64_t seed; /* keys the bucket and retransmission hashes */
    struct tcpflow **buckets;
    size_t mask; /* buckets - 1 */
    struct tcpflow **chunks;
    size_t handed; /* flows taken from the chunks so far */
    size_t max_flows;
    size_t count;         /* flows in the table (any state) */
    struct tcpflow *free; /* flows to reuse */
    struct tcpflow_list lists[2];
    size_t ooo_bytes; /* memory of every buffered segment */
    struct tcpflow_stats stats;
};

/* tcpflow_key_make - the lookup key of p sent by side: client, server, ports, family */
static void tcpflow_key_make(const struct packet *p, enum tcpflow_side side, uint64_t key[5])
{
    const struct addr *c = side == TCPFLOW_CLIENT ? &p->src : &p->dst;
    const struct addr *s = side == TCPFLOW_CLIENT ? &p->dst : &p->src;
    uint16_t cport = side == TCPFLOW_CLIENT ? p->sport : p->dport;
    uint16_t sport = side == TCPFLOW_CLIENT ? p->dport : p->sport;

    key[0] = hash_load64(c->bytes);
    key[1] = hash_load64(c->bytes + 8);
    key[2] = hash_load64(s->bytes);
    key[3] = hash_load64(s->bytes + 8);
    key[4] = (uint64_t)cport | (uint64_t)sport << 16 | (uint64_t)(c->family & 0xffff) << 32 |
             (uint64_t)(s->family & 0xffff) << 48;
}

/* tcpflow_key_hash - the bucket hash of a key, keyed by the table's seed */
static inline uint32_t tcpflow_key_hash(const struct tcpflow_table *t, const uint64_t key[5])
{
    return (uint32_t)hash_words(t->seed, key, 5);
}

/* tcpflow_key_equal - 1 if two keys are the same 4-tuple */
static inline int tcpflow_key_equal(const uint64_t a[5], const uint64_t b[5])
{
    return ((a[4] ^ b[4]) | (a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3])) == 0;
}

/* tcpflow_key_public - the handler's view of a key */
static void tcpflow_key_public(const uint64_t key[5], struct tcpflow_key *out)
{
    memset(out, 0, sizeof(*out));
    memcpy(out->client.bytes, &key[0], 16);
    memcpy(out->server.bytes, &key[2], 16);
    out->cport = (uint16_t)key[4];
    out->sport = (uint16_t)(key[4] >> 16);
    out->client.family = (int)(uint16_t)(key[4] >> 32);
    out->server.family = (int)(uint16_t)(key[4] >> 48);
}

/* tcpflow_list_remove - unlink f from the list it is on */
static void tcpflow_list_remove(struct tcpflow_table *t, struct tcpflow *f)
{
    struct tcpflow_list *l = &t->lists[f->list];

    if (f->prev)
        f->prev->next = f->next;
    else
        l->head = f->next;
    if (f->next)
        f->next->prev = f->prev;
    else
        l->tail = f->prev;
    f->prev = f->next = NULL;
}

/* tcpflow_list_append - put f at the newest end of list which */
static void tcpflow_list_append(struct tcpflow_table *t, struct tcpflow *f, unsigned which)
{
    struct tcpflow_list *l = &t->lists[which];

    f->list = (uint8_t)which;
    f->next = NULL;
    f->prev = l->tail;
    if (l->tail)
        l->tail->next = f;
    else
        l->head = f;
    l->tail = f;
}

/* tcpflow_touch - f saw a packet at usec: it becomes the newest of its list */
static inline void tcpflow_touch(struct tcpflow_table *t, struct tcpflow *f, int64_t usec)
{
    if (usec > f->last)
        f->last = usec;
    if (t->lists[f->list].tail != f) {
        unsigned which = f->list;

        tcpflow_list_remove(t, f);
        tcpflow_list_append(t, f, which);
    }
}

/* tcpflow_lookup - the flow with this key, or NULL */
static inline struct tcpflow *tcpflow_lookup(const struct tcpflow_table *t, const uint64_t key[5],
                                             uint32_t hash)
{
    struct tcpflow *f;

    for (f = t->buckets[hash & t->mask]; f != NULL; f = f->hnext)
        if (f->hash == hash && tcpflow_key_equal(f->key, key))
            return f;
    return NULL;
}

/* tcpflow_prefetch_bucket - start loading the bucket of p's conversation; see tcpflow.h */
uint32_t tcpflow_prefetch_bucket(const struct tcpflow_table *t, const struct packet *p,
                                 enum tcpflow_side side)
{
    uint64_t key[5];
    uint32_t hash;

    tcpflow_key_make(p, side, key);
    hash = tcpflow_key_hash(t, key);
    __builtin_prefetch(&t->buckets[hash & t->mask]);
    return hash;
}

/* tcpflow_prefetch_flow - start loading the first flow of a bucket already loading */
void tcpflow_prefetch_flow(const struct tcpflow_table *t, uint32_t hash)
{
    const struct tcpflow *f = t->buckets[hash & t->mask];

    if (f != NULL)
        __builtin_prefetch(f);
}

/* tcpflow_ooo_free - release the buffered segments of d */
static void tcpflow_ooo_free(struct tcpflow_table *t, struct tcpflow_dir *d)
{
    struct tcpflow_seg *seg, *next;

    for (seg = d->ooo; seg != NULL; seg = next) {
        next = seg->next;
        t->ooo_bytes -= sizeof(*seg) + seg->len;
        explicit_bzero(seg->data, seg->len); /* client bytes may hold a password */
        free(seg);
    }
    d->ooo = NULL;
    d->ooo_bytes = 0;
}

/* tcpflow_unfollow - f is no longer reassembled: drop its buffers, move it to "done" */
static void tcpflow_unfollow(struct tcpflow_table *t, struct tcpflow *f, enum tcpflow_state state)
{
    tcpflow_ooo_free(t, &f->dir[TCPFLOW_CLIENT]);
    tcpflow_ooo_free(t, &f->dir[TCPFLOW_SERVER]);
    if (f->list != TCPFLOW_DONE) {
        tcpflow_list_remove(t, f);
        tcpflow_list_append(t, f, TCPFLOW_DONE);
    }
    f->state = (uint8_t)state;
}

/* tcpflow_desync - f lost track of its streams: tell the handler once, stop following */
static void tcpflow_desync(struct tcpflow_table *t, struct tcpflow *f, const char *why)
{
    if (f->state != TCPFLOW_S_LIVE)
        return;
    t->stats.desynced++;
    if (f->user != NULL)
        t->h.desync(t->ctx, f->user, why);
    else if (!f->opened)
        t->stats.desynced_unopened++;
    tcpflow_unfollow(t, f, TCPFLOW_S_LOST);
}

/* tcpflow_end - f ended: close the handler's state; the entry stays until removed */
static void tcpflow_end(struct tcpflow_table *t, struct tcpflow *f, enum tcpflow_end how)
{
    void *user = f->user;

    if (f->state == TCPFLOW_S_ENDED)
        return;
    t->stats.active--;
    f->user = NULL;
    tcpflow_unfollow(t, f, TCPFLOW_S_ENDED);
    if (user != NULL)
        t->h.close(t->ctx, user, how);
}

/* tcpflow_remove - take f out of the table (it must have ended) and keep it for reuse */
static void tcpflow_remove(struct tcpflow_table *t, struct tcpflow *f)
{
    struct tcpflow **pp = &t->buckets[f->hash & t->mask];

    while (*pp != f)
        pp = &(*pp)->hnext;
    *pp = f->hnext;
    tcpflow_list_remove(t, f);
    f->hnext = t->free;
    t->free = f;
    t->count--;
}

/* tcpflow_reset - make f a fresh conversation (it must have ended), still in its bucket */
static void tcpflow_reset(struct tcpflow_table *t, struct tcpflow *f, int64_t usec)
{
    tcpflow_list_remove(t, f);
    memset(f->dir, 0, sizeof(f->dir));
    f->user = NULL;
    f->opened = 0;
    f->state = TCPFLOW_S_LIVE;
    f->last = f->start = usec;
    tcpflow_list_append(t, f, TCPFLOW_FOLLOWED);
    t->stats.active++;
}

/* tcpflow_take - an unused flow: from the free list, a chunk, or by eviction */
static struct tcpflow *tcpflow_take(struct tcpflow_table *t)
{
    struct tcpflow *f;

    if ((f = t->free) != NULL) {
        t->free = f->hnext;
        return f;
    }
    if (t->handed < t->max_flows) {
        size_t chunk = t->handed / TCPFLOW_CHUNK, i = t->handed % TCPFLOW_CHUNK;

        if (i == 0) {
            size_t n = t->max_flows - t->handed;

            t->chunks[chunk] = xmalloc((n < TCPFLOW_CHUNK ? n : TCPFLOW_CHUNK) * sizeof(*f));
        }
        t->handed++;
        return &t->chunks[chunk][i];
    }
    f = t->lists[TCPFLOW_DONE].head ? t->lists[TCPFLOW_DONE].head : t->lists[TCPFLOW_FOLLOWED].head;
    if (f->state != TCPFLOW_S_ENDED) {
        t->stats.evicted++;
        tcpflow_end(t, f, TCPFLOW_END_EVICTED);
    }
    tcpflow_remove(t, f);
    f = t->free;
    t->free = f->hnext;
    return f;
}

/* tcpflow_create - a new, empty conversation for key */
static struct tcpflow *tcpflow_create(struct tcpflow_table *t, const uint64_t key[5], uint32_t hash,
                                      int64_t usec)
{
    struct tcpflow *f = tcpflow_take(t);
    size_t b = hash & t->mask;

    memset(f, 0, sizeof(*f));
    memcpy(f->key, key, sizeof(f->key));
    f->hash = hash;
    f->last = f->start = usec;
    f->state = TCPFLOW_S_LIVE;
    f->hnext = t->buckets[b];
    t->buckets[b] = f;
    tcpflow_list_append(t, f, TCPFLOW_FOLLOWED);
    t->count++;
    t->stats.active++;
    return f;
}

/* tcpflow_next_seq - the next sequence number expected from d */
static inline uint32_t tcpflow_next_seq(const struct tcpflow_dir *d)
{
    return d->base + (uint32_t)d->delivered;
}

/* tcpflow_recent_add - remember a delivered piece for retransmission checks */
static inline void tcpflow_recent_add(const struct tcpflow_table *t, struct tcpflow_dir *d,
                                      uint32_t seq, const uint8_t *bytes, size_t len)
{
    unsigned i = d->recent_pos;

    d->recent_seq[i] = seq;
    if (len <= UINT16_MAX) {
        d->recent_len[i] = (uint16_t)len;
        d->recent_hash[i] = hash_bytes(t->seed, bytes, len);
    } else {
        d->recent_len[i] = 0; /* not recorded: a retransmission of it desynchronises */
    }
    d->recent_pos = (uint8_t)((i + 1) % TCPFLOW_RECENT);
}

/*
 * tcpflow_recent_match - 1 if len old bytes at seq are exactly a run of the recently
 * delivered pieces: the first starting at seq, each next one following it, hashes equal
 */
static int tcpflow_recent_match(const struct tcpflow_table *t, const struct tcpflow_dir *d,
                                uint32_t seq, const uint8_t *bytes, size_t len)
{
    unsigned i, n;
    size_t covered = 0;

    for (i = 0; i < TCPFLOW_RECENT; i++)
        if (d->recent_len[i] != 0 && d->recent_seq[i] == seq)
            break;
    if (i == TCPFLOW_RECENT)
        return 0;
    for (n = 0; n < TCPFLOW_RECENT; n++) {
        size_t piece = d->recent_len[i];

        if (piece == 0 || d->recent_seq[i] != (uint32_t)(seq + covered) || piece > len - covered)
            return 0;
        if (hash_bytes(t->seed, bytes + covered, piece) != d->recent_hash[i])
            return 0;
        covered += piece;
        if (covered == len)
            return 1;
        i = (i + 1) % TCPFLOW_RECENT; /* past the newest, the sequence check fails */
    }
    return 0;
}

/*
 * tcpflow_acked - client-stream bytes acknowledged by ack (from the client's base: 0 for
 * an ack before it, or before the base is known), NOT clamped to those delivered: an
 * ack past them says the server took bytes this table never saw, which the handler must
 * be able to tell
 */
static uint64_t tcpflow_acked(const struct tcpflow *f, uint32_t ack, int hasack)
{
    const struct tcpflow_dir *c = &f->dir[TCPFLOW_CLIENT];
    int64_t diff;

    if (!hasack || !(c->flags & TCPFLOW_D_KNOWN))
        return 0;
    diff = (int32_t)(ack - tcpflow_next_seq(c));
    if (diff >= 0)
        return c->delivered + (uint64_t)diff;
    if ((uint64_t)-diff > c->delivered)
        return 0;
    return c->delivered - (uint64_t)-diff;
}

/*
 * tcpflow_deliver - hand len in-order bytes at seq of side to the handler (opening the
 * conversation at its first byte). Returns 0, or -1 if f is no longer followed.
 */
static int tcpflow_deliver(struct tcpflow_table *t, struct tcpflow *f, enum tcpflow_side side,
                           uint32_t seq, const uint8_t *bytes, size_t len, uint32_t ack, int hasack,
                           int64_t usec)
{
    struct tcpflow_dir *d = &f->dir[side];

    tcpflow_recent_add(t, d, seq, bytes, len);
    d->delivered += len;
    d->last = bytes[len - 1];
    if (!f->opened) {
        struct tcpflow_key key;
        int joined =
            !(f->dir[TCPFLOW_CLIENT].flags & f->dir[TCPFLOW_SERVER].flags & TCPFLOW_D_HANDSHAKE);

        tcpflow_key_public(f->key, &key);
        f->opened = 1;
        t->stats.flows++;
        t->stats.joined += (uint64_t)joined;
        f->user = t->h.open(t->ctx, &key, joined, f->start);
        if (f->user == NULL) {
            tcpflow_unfollow(t, f, TCPFLOW_S_LOST);
            return -1;
        }
    }
    if (t->h.data(t->ctx, f->user, side, bytes, len,
                  side == TCPFLOW_SERVER ? tcpflow_acked(f, ack, hasack) : 0, usec) < 0) {
        tcpflow_unfollow(t, f, TCPFLOW_S_LOST);
        return -1;
    }
    return 0;
}

/*
 * tcpflow_ooo_conflict - 1 if len bytes at seq (from the next expected byte on) differ
 * from buffered bytes they overlap; sets *dup if one buffered segment holds them all
 */
static int tcpflow_ooo_conflict(const struct tcpflow_dir *d, uint32_t seq, const uint8_t *bytes,
                                size_t len, int *dup)
{
    uint32_t next = tcpflow_next_seq(d);
    uint64_t start = (uint32_t)(seq - next), end = start + len;
    const struct tcpflow_seg *seg;

    *dup = 0;
    for (seg = d->ooo; seg != NULL; seg = seg->next) {
        uint64_t s = (uint32_t)(seg->seq - next), e = s + seg->len;
        uint64_t lo = s > start ? s : start, hi = e < end ? e : end;

        if (s >= end)
            break; /* sorted: no later segment overlaps either */
        if (lo >= hi)
            continue;
        if (memcmp(bytes + (lo - start), seg->data + (lo - s), (size_t)(hi - lo)) != 0)
            return 1;
        if (s <= start && e >= end)
            *dup = 1;
    }
    return 0;
}

/* tcpflow_ooo_add - buffer a segment past a hole; desynchronises f if it cannot */
static void tcpflow_ooo_add(struct tcpflow_table *t, struct tcpflow *f, struct tcpflow_dir *d,
                            const struct packet *p, uint32_t seq)
{
    uint32_t next = tcpflow_next_seq(d);
    struct tcpflow_seg *seg, **pp;
    unsigned n = 0;
    int dup;

    if (tcpflow_ooo_conflict(d, seq, p->payload, p->paylen, &dup)) {
        tcpflow_desync(t, f, "segment differs from buffered bytes it overlaps");
        return;
    }
    if (dup) {
        t->stats.retransmitted++;
        return;
    }
    for (seg = d->ooo; seg != NULL; seg = seg->next)
        n++;
    if (n >= TCPFLOW_OOO_SEGMENTS || d->ooo_bytes + p->paylen > TCPFLOW_OOO_BYTES) {
        tcpflow_desync(t, f, "out-of-order buffer full");
        return;
    }
    if (t->ooo_bytes + sizeof(*seg) + p->paylen > TCPFLOW_OOO_TABLE_BYTES) {
        tcpflow_desync(t, f, "out-of-order memory of the table exhausted");
        return;
    }
    seg = xmalloc(sizeof(*seg) + p->paylen);
    seg->seq = seq;
    seg->len = (uint32_t)p->paylen;
    seg->ack = p->ack;
    seg->hasack = (p->flags & PACKET_ACK) != 0;
    memcpy(seg->data, p->payload, p->paylen);
    for (pp = &d->ooo; *pp != NULL && (uint32_t)((*pp)->seq - next) <= (uint32_t)(seq - next);
         pp = &(*pp)->next)
        ;
    seg->next = *pp;
    *pp = seg;
    d->ooo_bytes = (uint16_t)(d->ooo_bytes + p->paylen);
    t->ooo_bytes += sizeof(*seg) + p->paylen;
}

/* tcpflow_ooo_drain - deliver the buffered segments the stream has reached */
static void tcpflow_ooo_drain(struct tcpflow_table *t, struct tcpflow *f, enum tcpflow_side side,
                              int64_t usec)
{
    struct tcpflow_dir *d = &f->dir[side];
    struct tcpflow_seg *seg;

    while (f->state == TCPFLOW_S_LIVE && (seg = d->ooo) != NULL) {
        uint32_t next = tcpflow_next_seq(d);
        uint32_t skip = next - seg->seq; /* bytes of it already delivered */

        if ((int32_t)(seg->seq - next) > 0)
            break;
        d->ooo = seg->next;
        d->ooo_bytes = (uint16_t)(d->ooo_bytes - seg->len);
        t->ooo_bytes -= sizeof(*seg) + seg->len;
        if (skip < seg->len) /* its overlap with delivered bytes was compared on arrival */
            tcpflow_deliver(t, f, side, next, seg->data + skip, seg->len - skip, seg->ack,
                            seg->hasack, usec);
        explicit_bzero(seg->data, seg->len); /* client bytes may hold a password */
        free(seg);
    }
}

/*
 * tcpflow_segment - the data and FIN of one segment of side whose payload starts at seq
 * (the side's base is known)
 */
static void tcpflow_segment(struct tcpflow_table *t, struct tcpflow *f, enum tcpflow_side side,
                            const struct packet *p, uint32_t seq, int64_t usec)
{
    struct tcpflow_dir *d = &f->dir[side];
    const uint8_t *bytes = p->payload;
    size_t len = p->paylen;
    int fin = (p->flags & PACKET_FIN) != 0;
    int32_t off = (int32_t)(seq - tcpflow_next_seq(d));
    uint32_t old = tcpflow_next_seq(d) - seq; /* bytes already delivered, if off <= 0 */

    if (off > 0) {
        if (fin)
            tcpflow_desync(t, f, "FIN past a hole");
        else if (d->flags & TCPFLOW_D_FIN)
            tcpflow_desync(t, f, "data after FIN");
        else if (len > 0)
            tcpflow_ooo_add(t, f, d, p, seq);
        return;
    }
    if (len > old) {
        if (d->flags & TCPFLOW_D_FIN) {
            tcpflow_desync(t, f, "data after FIN");
            return;
        }
        if (old > 0 && !tcpflow_recent_match(t, d, seq, bytes, old)) {
            tcpflow_desync(t, f, "segment overlaps delivered bytes not matched as identical");
            return;
        }
        if (fin && d->ooo != NULL) {
            tcpflow_desync(t, f, "FIN before buffered data");
            return;
        }
        if (d->ooo != NULL) {
            int dup;

            if (tcpflow_ooo_conflict(d, seq + old, bytes + old, len - old, &dup)) {
                tcpflow_desync(t, f, "segment differs from buffered bytes it overlaps");
                return;
            }
        }
        if (tcpflow_deliver(t, f, side, seq + old, bytes + old, len - old, p->ack,
                            (p->flags & PACKET_ACK) != 0, usec) < 0)
            return;
        tcpflow_ooo_drain(t, f, side, usec);
    } else if (len > 0) {
        if (tcpflow_recent_match(t, d, seq, bytes, len))
            t->stats.retransmitted++;
        else if (len == 1 && old == 1 && !fin && bytes[0] == d->last)
            t->stats.retransmitted++; /* a keep-alive probe repeating the last byte */
        else
            tcpflow_desync(t, f, "copy of delivered bytes not matched as identical");
    }
    if (fin && f->state == TCPFLOW_S_LIVE) {
        if ((uint32_t)(seq + len) != tcpflow_next_seq(d))
            tcpflow_desync(t, f, "FIN inside delivered bytes");
        else if (d->ooo != NULL)
            tcpflow_desync(t, f, "FIN before buffered data");
        else
            d->flags |= TCPFLOW_D_FIN;
    }
}

/* tcpflow_starts - 1 if p may start a conversation not in the table */
static int tcpflow_starts(const struct packet *p, enum tcpflow_side side)
{
    if (p->flags & (PACKET_RST | PACKET_FIN))
        return 0;
    if (p->flags & PACKET_SYN)
        return (side == TCPFLOW_CLIENT) == !(p->flags & PACKET_ACK);
    return p->paylen > 0 || p->truncated;
}

/* tcpflow_lost_packet - a packet of a flow no longer followed: only its end matters */
static void tcpflow_lost_packet(struct tcpflow_table *t, struct tcpflow *f, const struct packet *p,
                                enum tcpflow_side side)
{
    if (f->state != TCPFLOW_S_LOST)
        return;
    if (p->flags & PACKET_RST) {
        tcpflow_end(t, f, TCPFLOW_END_RESET);
        return;
    }
    if (p->flags & PACKET_FIN)
        f->dir[side].flags |= TCPFLOW_D_FIN;
    if (f->dir[TCPFLOW_CLIENT].flags & f->dir[TCPFLOW_SERVER].flags & TCPFLOW_D_FIN)
        tcpflow_end(t, f, TCPFLOW_END_CLOSED);
}

/*
 * tcpflow_syn - the SYN or SYN-ACK p of a followed flow; 0 to go on with its payload,
 * -1 if the packet is done with
 */
static int tcpflow_syn(struct tcpflow_table *t, struct tcpflow *f, const struct packet *p,
                       enum tcpflow_side side)
{
    struct tcpflow_dir *c = &f->dir[TCPFLOW_CLIENT], *s = &f->dir[TCPFLOW_SERVER];
    uint32_t isn1 = p->seq + 1;

    if (side == TCPFLOW_CLIENT) {
        if (p->flags & PACKET_ACK)
            return -1; /* a SYN-ACK from the client's port: not ours to follow */
        if (!(c->flags & TCPFLOW_D_KNOWN)) {
            c->base = isn1;
            c->flags |= TCPFLOW_D_KNOWN | TCPFLOW_D_HANDSHAKE;
        }
        return 0;
    }
    if (!(p->flags & PACKET_ACK))
        return -1; /* a SYN from the server's port: simultaneous open is not followed */
    if ((c->flags & TCPFLOW_D_KNOWN) && (uint32_t)(p->ack - c->base) > c->delivered)
        return -1; /* answers another SYN */
    if (s->flags & TCPFLOW_D_KNOWN) {
        if (s->base != isn1) {
            tcpflow_desync(t, f, "SYN-ACK with another initial sequence number");
            return -1;
        }
    } else {
        s->base = isn1;
        s->flags |= TCPFLOW_D_KNOWN | TCPFLOW_D_HANDSHAKE;
    }
    if (!(c->flags & TCPFLOW_D_KNOWN)) {
        c->base = p->ack;
        c->flags |= TCPFLOW_D_KNOWN | TCPFLOW_D_HANDSHAKE;
    }
    return 0;
}

/* tcpflow_past_window - 1 if client segment p ends past the window the server offered */
static int tcpflow_past_window(const struct tcpflow *f, const struct packet *p)
{
    uint32_t end = p->seq + (uint32_t)p->paylen + ((p->flags & PACKET_FIN) != 0);

    if (!(f->dir[TCPFLOW_CLIENT].flags & f->dir[TCPFLOW_SERVER].flags & TCPFLOW_D_HANDSHAKE) ||
        !(f->dir[TCPFLOW_SERVER].flags & TCPFLOW_D_EDGE))
        return 0;
    return (int32_t)(end - f->edge) > 0;
}

/*
 * tcpflow_refused - why the server's stack might drop segment p where the table would
 * take it (or take it where the table would not), or NULL; see "Copies the server's
 * kernel drops" above
 */
static const char *tcpflow_refused(const struct tcpflow *f, const struct packet *p,
                                   enum tcpflow_side side)
{
    const struct tcpflow_dir *d = &f->dir[side];

    if (side == TCPFLOW_SERVER && (p->dir == PACKET_DIR_IN || p->dir == PACKET_DIR_OTHER))
        return "a server segment arrived from outside";
    if (side == TCPFLOW_CLIENT && p->dir == PACKET_DIR_OTHER)
        return "a client segment not addressed to this host";
    if (p->paylen == 0 && !p->truncated && !(p->flags & (PACKET_SYN | PACKET_FIN)))
        return NULL; /* a bare ACK or RST moves no byte */
    if (p->truncated)
        return "capture cut a segment short";
    if (p->opts & PACKET_OPT_IP)
        return "IP options or IPv6 extension headers";
    if ((p->flags & PACKET_SYN) && (p->paylen > 0 || p->truncated))
        return "data on a SYN";
    if ((d->flags & TCPFLOW_D_TTL) && p->ttl != d->ttl)
        return "the TTL or hop limit changed";
    if (!(p->opts & PACKET_OPT_TS) && (d->flags & TCPFLOW_D_TS))
        return "a TCP timestamp missing after the side sent them";
    if ((p->opts & PACKET_OPT_TS) && (d->flags & TCPFLOW_D_TS) &&
        (int32_t)(d->ts_hi - p->tsval) > TCPFLOW_PAWS_WINDOW)
        return "a TCP timestamp older than one already seen (PAWS)";
    if (side == TCPFLOW_CLIENT && packet_checksum(p) == PACKET_SUM_BAD)
        return "a bad checksum";
    if (side == TCPFLOW_CLIENT && tcpflow_past_window(f, p))
        return "a segment past the window the server offered";
    return NULL;
}

/* tcpflow_note - remember what an admitted segment p of side says for later checks */
static void tcpflow_note(struct tcpflow *f, const struct packet *p, enum tcpflow_side side)
{
    struct tcpflow_dir *d = &f->dir[side];
    uint32_t win = p->window;

    if ((p->paylen > 0 || (p->flags & (PACKET_SYN | PACKET_FIN))) && !(d->flags & TCPFLOW_D_TTL)) {
        d->ttl = p->ttl;
        d->flags |= TCPFLOW_D_TTL;
    }
    if ((p->opts & PACKET_OPT_TS) &&
        (!(d->flags & TCPFLOW_D_TS) || (int32_t)(p->tsval - d->ts_hi) > 0)) {
        d->ts_hi = p->tsval;
        d->flags |= TCPFLOW_D_TS;
    }
    if ((p->flags & PACKET_SYN) && (p->opts & PACKET_OPT_WSCALE)) {
        d->flags |= TCPFLOW_D_WSCALE;
        if (side == TCPFLOW_SERVER)
            f->wscale = p->wscale;
    }
    if (side != TCPFLOW_SERVER || !(p->flags & PACKET_ACK))
        return;
    if (!(p->flags & PACKET_SYN) &&
        (f->dir[TCPFLOW_CLIENT].flags & f->dir[TCPFLOW_SERVER].flags & TCPFLOW_D_WSCALE))
        win <<= f->wscale; /* a SYN-ACK's own window is never scaled */
    f->edge = p->ack + win;
    d->flags |= TCPFLOW_D_EDGE;
}

/* tcpflow_follow - one segment of the conversation f (found or just made) */
static void tcpflow_follow(struct tcpflow_table *t, struct tcpflow *f, const struct packet *p,
                           enum tcpflow_side side, int64_t usec)
{
    struct tcpflow_dir *d = &f->dir[side];
    uint32_t seq = p->seq;
    const char *why;

    if (f->state != TCPFLOW_S_LIVE) {
        tcpflow_lost_packet(t, f, p, side);
        return;
    }
    if (p->flags & PACKET_URG) /* the receiver takes a byte out of the stream */
        why = "urgent data";
    else
        why = tcpflow_refused(f, p, side);
    if (why != NULL) {
        tcpflow_desync(t, f, why);
        tcpflow_lost_packet(t, f, p, side);
        return;
    }
    tcpflow_note(f, p, side);
    if (p->flags & PACKET_SYN) {
        if (tcpflow_syn(t, f, p, side) < 0)
            return;
        seq++;
    }
    if (p->flags & PACKET_RST) {
        if ((d->flags & TCPFLOW_D_KNOWN) && (int32_t)(seq - tcpflow_next_seq(d)) > 0)
            tcpflow_desync(t, f, "RST past a hole");
        tcpflow_end(t, f, TCPFLOW_END_RESET);
        return;
    }
    if (p->paylen == 0 && !p->truncated && !(p->flags & PACKET_FIN))
        return;
    if (!(d->flags & TCPFLOW_D_KNOWN)) {
        d->base = seq;
        d->flags |= TCPFLOW_D_KNOWN;
    }
    tcpflow_segment(t, f, side, p, seq, usec);
    if (f->state == TCPFLOW_S_LOST) /* it just lost track: its FIN still counts */
        tcpflow_lost_packet(t, f, p, side);
    else if (f->state == TCPFLOW_S_LIVE &&
             (f->dir[TCPFLOW_CLIENT].flags & f->dir[TCPFLOW_SERVER].flags & TCPFLOW_D_FIN))
        tcpflow_end(t, f, TCPFLOW_END_CLOSED);
}

/* tcpflow_packet - follow one decoded segment; see tcpflow.h */
void tcpflow_packet(struct tcpflow_table *t, const struct packet *p, enum tcpflow_side side,
                    int64_t usec)
{
    uint64_t key[5];
    uint32_t hash;
    struct tcpflow *f;

    if ((p->flags & PACKET_SYN) && (p->flags & (PACKET_RST | PACKET_FIN)))
        return; /* no real stack sends these */
    tcpflow_key_make(p, side, key);
    hash = tcpflow_key_hash(t, key);
    if ((f = tcpflow_lookup(t, key, hash)) == NULL) {
        if (!tcpflow_starts(p, side))
            return;
        f = tcpflow_create(t, key, hash, usec);
    } else {
        tcpflow_touch(t, f, usec);
        if (side == TCPFLOW_CLIENT && (p->flags & (PACKET_SYN | PACKET_ACK)) == PACKET_SYN &&
            (f->dir[TCPFLOW_CLIENT].flags & TCPFLOW_D_KNOWN
                 ? f->dir[TCPFLOW_CLIENT].base != p->seq + 1
                 : f->state != TCPFLOW_S_LIVE)) {
            tcpflow_end(t, f, TCPFLOW_END_CLOSED); /* the 4-tuple is reused */
            tcpflow_reset(t, f, usec);
        }
    }
    tcpflow_follow(t, f, p, side, usec);
    if (f->state == TCPFLOW_S_ENDED) /* forgotten at once: see tcpflow.h */
        tcpflow_remove(t, f);
}

/* tcpflow_new - a table of at most max_flows conversations, idle timeout in usec, hashes
 * keyed by seed */
struct tcpflow_table *tcpflow_new(size_t max_flows, int64_t timeout_usec, uint64_t seed,
                                  const struct tcpflow_handler *handler, void *ctx)
{
    struct tcpflow_table *t = xcalloc(1, sizeof(*t));
    size_t buckets = 16;

    if (max_flows < 1)
        max_flows = 1;
    while (buckets < max_flows)
        buckets *= 2;
    t->h = *handler;
    t->ctx = ctx;
    t->timeout = timeout_usec;
    t->max_flows = max_flows;
    t->seed = seed;
    t->buckets = xcalloc(buckets, sizeof(*t->buckets));
    t->mask = buckets - 1;
    t->chunks = xcalloc((max_flows + TCPFLOW_CHUNK - 1) / TCPFLOW_CHUNK, sizeof(*t->chunks));
    return t;
}

/* tcpflow_expire - end the flows idle since before usec - timeout */
void tcpflow_expire(struct tcpflow_table *t, int64_t usec)
{
    int64_t cutoff = usec - t->timeout;
    unsigned which;

    for (which = 0; which < 2; which++) {
        struct tcpflow *f;

        while ((f = t->lists[which].head) != NULL && f->last < cutoff) {
            if (f->state != TCPFLOW_S_ENDED) {
                t->stats.expired++;
                tcpflow_end(t, f, TCPFLOW_END_IDLE);
            }
            tcpflow_remove(t, f);
        }
    }
}

/* tcpflow_stats - the counters so far */
void tcpflow_stats(const struct tcpflow_table *t, struct tcpflow_stats *out)
{
    *out = t->stats;
}

/* tcpflow_free - end every flow (TCPFLOW_END_SHUTDOWN) and release t; NULL is allowed */
void tcpflow_free(struct tcpflow_table *t)
{
    size_t i;

    if (t == NULL)
        return;
    for (i = 0; i < t->handed; i++) { /* in memory order: no list or chain is walked */
        struct tcpflow *f = &t->chunks[i / TCPFLOW_CHUNK][i % TCPFLOW_CHUNK];

        if (f->state == TCPFLOW_S_ENDED) /* ended, or on the free list */
            continue;
        tcpflow_ooo_free(t, &f->dir[TCPFLOW_CLIENT]);
        tcpflow_ooo_free(t, &f->dir[TCPFLOW_SERVER]);
        if (f->user != NULL)
            t->h.close(t->ctx, f->user, TCPFLOW_END_SHUTDOWN);
    }
    for (i = 0; i * TCPFLOW_CHUNK < t->handed; i++)
        free(t->chunks[i]);
    free(t->chunks);
    free(t->buckets);
    free(t);
}
