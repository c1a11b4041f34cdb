/*
 * ingest - the core of popauth: lines in, grants out, committed with the positions of
 * the lines that produced them.
 *
 * Exactly once: a source advances its position past a line before it hands the line to
 * ingest_line. ingest_flush writes the pending grants, every dirty position and the
 * counters in one store transaction, so after a crash the store holds either a line's
 * grant and the position after it, or neither; a restart resumes from the committed
 * position. When the batch is full, ingest_line flushes after adding the line's grant,
 * never before, so a committed position always covers its line's grant.
 *
 * The batch is an open-addressing hash table keyed by client address: a burst of logins
 * from one address becomes one store write, carrying the newest login.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <time.h>

#include "popauth/ingest.h"
#include "popauth/patterns.h"
#include "shared/cidr.h"
#include "shared/log.h"
#include "shared/util.h"

#define INGEST_MAX_PENDING  16384 /* distinct addresses in one batch before a forced flush */
#define INGEST_SLOTS        32768 /* hash slots: twice the batch, a power of two */
#define INGEST_MAX_SOURCES  64    /* sources registered at once */
#define INGEST_FUTURE_SLACK 300   /* seconds a line's time may lie ahead of the clock */

struct ingest_entry {
    struct addr client;
    char user[STORE_USER_MAX];
    const char *source;
    int64_t time;
};

struct ingest {
    const struct config *cfg;
    struct store *st;
    const struct patterns *patterns;
    unsigned formats;
    int dry_run;
    struct source *sources[INGEST_MAX_SOURCES];
    size_t nsources;
    uint32_t slots[INGEST_SLOTS]; /* 0: free, else 1 + index into entries */
    struct ingest_entry entries[INGEST_MAX_PENDING];
    size_t pending; /* entries in use */
};

/* ingest_new - a core writing to st (may be NULL with dry_run) under cfg */
struct ingest *ingest_new(const struct config *cfg, struct store *st,
                          const struct patterns *patterns, unsigned formats, int dry_run)
{
    struct ingest *ing = xcalloc(1, sizeof(*ing));

    ing->cfg = cfg;
    ing->st = st;
    ing->patterns = patterns;
    ing->formats = formats;
    ing->dry_run = dry_run || st == NULL;
    return ing;
}

/* ingest_set_config - use a new config (SIGHUP); the caller keeps ownership */
void ingest_set_config(struct ingest *ing, const struct config *cfg,
                       const struct patterns *patterns, unsigned formats)
{
    ing->cfg = cfg;
    ing->patterns = patterns;
    ing->formats = formats;
}

/* ingest_add_source - register a source so that flush saves its position and counters */
void ingest_add_source(struct ingest *ing, struct source *src)
{
    if (ing->nsources == INGEST_MAX_SOURCES)
        fatal("more than %d log sources", INGEST_MAX_SOURCES);
    src->ingest = ing;
    ing->sources[ing->nsources++] = src;
}

/* ingest_remove_source - forget a source (before it is freed) */
void ingest_remove_source(struct ingest *ing, struct source *src)
{
    size_t i;

    for (i = 0; i < ing->nsources; i++) {
        if (ing->sources[i] == src) {
            ing->sources[i] = ing->sources[--ing->nsources];
            return;
        }
    }
}

/* ingest_hash - slot index for an address (FNV-1a over family and bytes) */
static size_t ingest_hash(const struct addr *a)
{
    size_t n = a->family == AF_INET ? 4 : 16, i;
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)a->family;

    for (i = 0; i < n; i++)
        h = (h ^ a->bytes[i]) * 1099511628211ULL;
    return (size_t)(h ^ (h >> 29)) & (INGEST_SLOTS - 1);
}

/* ingest_full - 1 while the batch is full and could not be committed: take no more lines */
int ingest_full(const struct ingest *ing)
{
    return ing->pending >= INGEST_MAX_PENDING;
}

/* ingest_add - put a login in the batch, keeping the newest login per address */
static void ingest_add(struct ingest *ing, const struct login *lg)
{
    size_t i = ingest_hash(&lg->client);
    struct ingest_entry *e;

    for (;; i = (i + 1) & (INGEST_SLOTS - 1)) {
        if (ing->slots[i] == 0) {
            if (ingest_full(ing)) /* sources check ingest_full first: never reached */
                fatal("ingest: batch overflow");
            e = &ing->entries[ing->pending++];
            ing->slots[i] = (uint32_t)ing->pending;
            break;
        }
        e = &ing->entries[ing->slots[i] - 1];
        if (addr_compare(&e->client, &lg->client) == 0) {
            if (lg->time < e->time)
                return;
            break;
        }
    }
    e->client = lg->client;
    util_strlcpy(e->user, lg->user, sizeof(e->user));
    e->source = lg->source;
    e->time = lg->time;
}

/* ingest_login - count a recognised login and decide whether it becomes a grant */
void ingest_login(struct ingest *ing, struct source *src, struct login *lg)
{
    int64_t now = time(NULL);
    char err[512];

    src->counters.logins++;
    if (lg->time > now + INGEST_FUTURE_SLACK || lg->time <= 0)
        lg->time = now; /* a clock or year mix-up must not stretch a grant */
    if (lg->time + ing->cfg->grant_lifetime <= now)
        return; /* older than grant_lifetime: grants nothing */
    if (cidr_list_match(ing->cfg->local_networks, &lg->client) ||
        cidr_list_match(ing->cfg->never_grant, &lg->client))
        return;
    src->counters.grants++;
    ingest_add(ing, lg);
    /* A full batch is committed at once; if that fails, ingest_full stays true and the
     * sources stop handing over lines (keeping their positions) until a flush succeeds. */
    if (ingest_full(ing) && ingest_flush(ing, err, sizeof(err)) < 0)
        log_warnx("action=flush status=failed reason=\"%s\"", err);
}

/* ingest_verdict - act on what a parser said of one line */
static void ingest_verdict(struct ingest *ing, struct source *src, enum formats_verdict v,
                           struct login *lg)
{
    if (v == FORMATS_LOGIN)
        ingest_login(ing, src, lg);
    else if (v == FORMATS_REJECTED)
        src->counters.rejected++;
}

/* ingest_logline - process a line already split into time, tag and message (journal) */
void ingest_logline(struct ingest *ing, struct source *src, const struct logline *ll,
                    const char *raw, size_t rawlen)
{
    enum formats_verdict v;
    struct login lg;

    v = formats_parse(ll, ing->formats, &lg);
    if (v == FORMATS_NONE && ing->patterns != NULL)
        v = patterns_match(ing->patterns, raw, rawlen, ll->time, time(NULL), &lg);
    ingest_verdict(ing, src, v, &lg);
}

/* ingest_line - process one raw log line (no newline) */
void ingest_line(struct ingest *ing, struct source *src, const char *line, size_t len)
{
    enum formats_verdict v = FORMATS_NONE;
    struct logline ll;
    struct login lg;
    int64_t now = time(NULL);
    int split;

    src->counters.lines++;
    if (len > LOGLINE_MAX) {
        src->counters.errors++;
        return;
    }
    split = logline_parse_cached(line, len, now, &src->stamps, &ll);
    if (split < 0 && memchr(line, '\0', len) != NULL) {
        src->counters.errors++; /* binary junk is never matched, not even by patterns */
        return;
    }
    if (split == 0)
        v = formats_parse(&ll, ing->formats, &lg);
    if (v == FORMATS_NONE && ing->patterns != NULL)
        v = patterns_match(ing->patterns, line, len, split == 0 ? ll.time : 0, now, &lg);
    if (split < 0 && v == FORMATS_NONE)
        src->counters.errors++;
    ingest_verdict(ing, src, v, &lg);
}

/* ingest_write_counters - add one source's counter deltas to the store */
static int ingest_write_counters(struct ingest *ing, struct source *src, char *err, size_t errlen)
{
    const struct {
        const char *name;
        int64_t value;
    } c[] = {{"lines", src->counters.lines},   {"logins", src->counters.logins},
             {"grants", src->counters.grants}, {"rejected", src->counters.rejected},
             {"errors", src->counters.errors}, {"truncated", src->counters.truncated}};
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(c); i++)
        if (c[i].value != 0 &&
            store_counter_add(ing->st, src->name, c[i].name, c[i].value, err, errlen) < 0)
            return -1;
    return 0;
}

/* ingest_write - inside the open transaction: grants, positions, counters */
static int ingest_write(struct ingest *ing, char *err, size_t errlen)
{
    char text[ADDR_STRLEN];
    size_t i;

    for (i = 0; i < ing->pending; i++) {
        const struct ingest_entry *e = &ing->entries[i];
        /* the config may have changed (SIGHUP) since the entry was taken */
        if (cidr_list_match(ing->cfg->never_grant, &e->client) ||
            cidr_list_match(ing->cfg->local_networks, &e->client))
            continue;
        addr_format(&e->client, text, sizeof(text));
        if (store_grant(ing->st, text, e->user, e->source, e->time,
                        e->time + ing->cfg->grant_lifetime, err, errlen) < 0)
            return -1;
    }
    for (i = 0; i < ing->nsources; i++) {
        struct source *src = ing->sources[i];
        if (src->persistent && src->position_dirty &&
            store_position_put(ing->st, src->name, &src->position, err, errlen) < 0)
            return -1;
        if (ingest_write_counters(ing, src, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* ingest_clear - forget the batch and the counter deltas after a commit */
static void ingest_clear(struct ingest *ing)
{
    size_t i;

    if (ing->pending > 0)
        memset(ing->slots, 0, sizeof(ing->slots));
    ing->pending = 0;
    for (i = 0; i < ing->nsources; i++) {
        ing->sources[i]->position_dirty = 0;
        memset(&ing->sources[i]->counters, 0, sizeof(ing->sources[i]->counters));
    }
}

/* ingest_dirty - 1 if anything waits to be written */
static int ingest_dirty(const struct ingest *ing)
{
    static const struct source_counters zero;
    size_t i;

    if (ing->pending > 0)
        return 1;
    for (i = 0; i < ing->nsources; i++)
        if (ing->sources[i]->position_dirty ||
            memcmp(&ing->sources[i]->counters, &zero, sizeof(zero)) != 0)
            return 1;
    return 0;
}

/* ingest_flush - commit pending grants, positions and counters; -1 and err on failure */
int ingest_flush(struct ingest *ing, char *err, size_t errlen)
{
    char rberr[256];

    if (!ingest_dirty(ing))
        return 0;
    if (ing->dry_run) {
        ingest_clear(ing);
        return 0;
    }
    if (store_begin(ing->st, err, errlen) < 0)
        return -1;
    if (ingest_write(ing, err, errlen) < 0 || store_commit(ing->st, err, errlen) < 0) {
        store_rollback(ing->st, rberr, sizeof(rberr));
        return -1; /* the batch stays pending: the next flush tries again */
    }
    ingest_clear(ing);
    return 0;
}

/* ingest_pending - number of grants waiting for the next flush */
size_t ingest_pending(const struct ingest *ing)
{
    return ing->pending;
}

/* ingest_free - release the core (pending work is dropped: flush first) */
void ingest_free(struct ingest *ing)
{
    free(ing);
}
