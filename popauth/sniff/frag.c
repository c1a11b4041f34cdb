/*
 * frag - the table of the last TCP fragment per address pair (see frag.h). A slot holds
 * the capture time plus one, so that 0 means "none"; the pair is put in a fixed order
 * before it is hashed, so that both directions land in the same slot.
 */
#include <stdlib.h>

#include "popauth/sniff/frag.h"
#include "shared/hash.h"
#include "shared/util.h"

struct frag {
    uint64_t seed;
    int64_t slot[FRAG_SLOTS]; /* per address pair: last fragment's time + 1, or 0 */
};

/* frag_slot - the slot of the unordered address pair a, b */
static size_t frag_slot(const struct frag *t, const struct addr *a, const struct addr *b)
{
    const uint64_t ka[3] = {hash_load64(a->bytes), hash_load64(a->bytes + 8), (uint32_t)a->family};
    const uint64_t kb[3] = {hash_load64(b->bytes), hash_load64(b->bytes + 8), (uint32_t)b->family};
    const uint64_t *lo = ka, *hi = kb;
    uint64_t key[5];

    if (ka[0] != kb[0] ? ka[0] > kb[0] : ka[1] != kb[1] ? ka[1] > kb[1] : ka[2] > kb[2]) {
        lo = kb;
        hi = ka;
    }
    key[0] = lo[0];
    key[1] = lo[1];
    key[2] = hi[0];
    key[3] = hi[1];
    key[4] = lo[2] | hi[2] << 32;
    return (size_t)hash_words(t->seed, key, 5) & (FRAG_SLOTS - 1);
}

/* frag_new - an empty table keyed by seed */
struct frag *frag_new(uint64_t seed)
{
    struct frag *t = xcalloc(1, sizeof(*t));

    t->seed = seed;
    return t;
}

/* frag_note - remember that a fragment between a and b was captured at usec */
void frag_note(struct frag *t, const struct addr *a, const struct addr *b, int64_t usec)
{
    int64_t *slot = &t->slot[frag_slot(t, a, b)];

    if (usec + 1 > *slot) /* capture times may step back: keep the latest */
        *slot = usec + 1;
}

/* frag_since - 1 if a fragment between a and b was noted at or after start */
int frag_since(const struct frag *t, const struct addr *a, const struct addr *b, int64_t start)
{
    return t->slot[frag_slot(t, a, b)] > start;
}

/* frag_free - release t */
void frag_free(struct frag *t)
{
    free(t);
}
