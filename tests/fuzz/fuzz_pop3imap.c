/*
 * fuzz_pop3imap - libFuzzer target for the POP3/IMAP login detector (pop3imap_feed).
 *
 * Input format:
 *   byte 0     bit 0: IMAP (else POP3); bit 1: joined; bits 2-7: seed of the chunk sizes
 *   byte 1     max_line = 64 + 16 * byte 1
 *   records    [flags][length][length bytes]: flags bit 0 is the side (1: server), bits
 *              1-2 how acked is formed from the client bytes fed so far (0: all of them,
 *              1: minus delta, 2: plus delta, 3: delta itself), bits 3-7 delta (0-31);
 *              a record longer than the rest of the input is cut.
 *
 * Every record goes to two detectors: one gets it whole, the other in chunks of 1 to 16
 * bytes. It aborts when an invariant breaks: both must report the same events (kind,
 * record, user name, reason); at most one event, and nothing after it; a login only on
 * server bytes and never in a joined conversation; user names printable (0x20-0x7e) and
 * NUL-terminated; *used within bounds (all of it unless a login); the detector's memory
 * within its bounds (struct within POP3IMAP_IDLE_BYTES, line buffers within max_line).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "popauth/sniff/pop3imap.h"
#include "shared/ascii.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What one detector reported. */
struct fuzz_pop3imap_run {
    struct pop3imap *s;
    size_t max_line;
    int joined;
    int nevents;
    enum pop3imap_event event;
    size_t record;
    char user[POP3IMAP_USER_MAX];
    const char *why;
};

/* fuzz_pop3imap_memory - the detector's memory is within its bounds */
static void fuzz_pop3imap_memory(const struct fuzz_pop3imap_run *r)
{
    const void *ptr[8];
    size_t len[8], k, n = pop3imap_areas(r->s, ptr, len, 8);

    if (n < 1 || n > 4 || len[0] > POP3IMAP_IDLE_BYTES)
        abort();
    for (k = 1; k < n; k++)
        if (len[k] > (r->max_line > POP3IMAP_USER_MAX ? r->max_line : POP3IMAP_USER_MAX))
            abort();
}

/* fuzz_pop3imap_user - a reported user name is NUL-terminated printable ASCII (the space
 * included: ascii_user_byte's rule) */
static void fuzz_pop3imap_user(const char *user)
{
    size_t i, n = strnlen(user, POP3IMAP_USER_MAX);

    if (n >= POP3IMAP_USER_MAX)
        abort();
    for (i = 0; i < n; i++)
        if (!ascii_is_print((unsigned char)user[i]))
            abort();
}

/* fuzz_pop3imap_feed - give one chunk to a detector, checking what it answers */
static void fuzz_pop3imap_feed(struct fuzz_pop3imap_run *r, int side, const uint8_t *p, size_t len,
                               uint64_t acked, size_t record)
{
    while (len > 0) {
        char user[POP3IMAP_USER_MAX];
        const char *why = NULL;
        size_t used = len + 1;
        int done = pop3imap_done(r->s);
        enum pop3imap_event ev;

        memset(user, 0x7f, sizeof(user));
        ev = pop3imap_feed(r->s, (enum pop3imap_side)side, p, len, acked, &used, user, &why);
        if (used > len)
            abort();
        switch (ev) {
        case POP3IMAP_NONE:
            if (used != len)
                abort();
            break;
        case POP3IMAP_LOGIN:
            if (used == 0 || side != POP3IMAP_SERVER || r->joined)
                abort();
            fuzz_pop3imap_user(user);
            break;
        case POP3IMAP_DESYNC:
            if (used != len || why == NULL || why[0] == '\0')
                abort();
            break;
        case POP3IMAP_TLS:
            if (used != len)
                abort();
            break;
        default:
            abort();
        }
        if (ev != POP3IMAP_NONE) {
            if (done || r->nevents > 0 || !pop3imap_done(r->s))
                abort();
            r->nevents++;
            r->event = ev;
            r->record = record;
            r->why = why;
            if (ev == POP3IMAP_LOGIN)
                memcpy(r->user, user, sizeof(r->user));
        } else if (done != pop3imap_done(r->s)) {
            abort();
        }
        fuzz_pop3imap_memory(r);
        p += used;
        len -= used;
    }
}

/* LLVMFuzzerTestOneInput - replay the records to both detectors and compare */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_pop3imap_run whole, split;
    enum pop3imap_proto proto;
    uint64_t client = 0;
    uint32_t seed;
    size_t off = 2, record = 0;

    if (size < 2)
        return 0;
    proto = (data[0] & 1) ? POP3IMAP_IMAP : POP3IMAP_POP3;
    seed = 1u + (data[0] >> 2);
    memset(&whole, 0, sizeof(whole));
    memset(&split, 0, sizeof(split));
    whole.max_line = split.max_line = 64 + 16 * (size_t)data[1];
    whole.joined = split.joined = (data[0] >> 1) & 1;
    whole.s = pop3imap_new(proto, whole.max_line, whole.joined);
    split.s = pop3imap_new(proto, split.max_line, split.joined);
    while (off + 2 <= size) {
        uint8_t flags = data[off];
        size_t len = data[off + 1], k;
        int side = flags & 1;
        unsigned delta = flags >> 3;
        uint64_t acked = client;
        const uint8_t *p = data + off + 2;

        off += 2;
        if (len > size - off)
            len = size - off;
        switch ((flags >> 1) & 3) {
        case 1:
            acked = client > delta ? client - delta : 0;
            break;
        case 2:
            acked = client + delta;
            break;
        case 3:
            acked = delta;
            break;
        default:
            break;
        }
        fuzz_pop3imap_feed(&whole, side, p, len, acked, record);
        for (k = 0; k < len;) {
            size_t chunk;

            seed = seed * 1103515245u + 12345u;
            chunk = 1 + (seed >> 16) % 16;
            if (chunk > len - k)
                chunk = len - k;
            fuzz_pop3imap_feed(&split, side, p + k, chunk, acked, record);
            k += chunk;
        }
        if (side == POP3IMAP_CLIENT)
            client += len;
        off += len;
        record++;
    }
    if (whole.nevents != split.nevents)
        abort();
    if (whole.nevents > 0) {
        if (whole.event != split.event || whole.record != split.record || whole.why != split.why)
            abort();
        if (whole.event == POP3IMAP_LOGIN && strcmp(whole.user, split.user) != 0)
            abort();
    }
    pop3imap_free(whole.s);
    pop3imap_free(split.s);
    return 0;
}
