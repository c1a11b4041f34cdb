/*
 * cidr - network lists and membership tests for the relay decision.
 *
 * Lists such as "local networks that may always relay" are parsed with cidr_parse (the
 * address part by addr_parse, so the same strict rules apply) and stored as address
 * ranges [start, end], one array per family: IPv4 as uint32_t, IPv6 as two uint64_t
 * halves. cidr_list_finish sorts each array and merges overlapping and adjacent ranges,
 * so that the ranges are disjoint and ascending and cidr_list_match is a binary search.
 *
 * A list that has not been finished (or has had networks added since) is still matched
 * correctly, by a linear scan of the unsorted ranges: never a crash, never a wrong
 * answer, only O(n). Families never cross: an IPv6 network never matches an IPv4
 * address, and an IPv4 network never matches an IPv6 address. An IPv4-mapped IPv6
 * address or network (::ffff:a.b.c.d, prefix 96 or more) is the IPv4 one it maps, as
 * in addr.c; an IPv6 network with a prefix below 96 stays IPv6, so even "::/0" matches
 * no IPv4 address.
 *
 * Limits: CIDR_LIST_MAX networks per list; network text at most CIDR_MAXTEXT bytes.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/ascii.h"
#include "shared/cidr.h"
#include "shared/util.h"

#define CIDR_MAXTEXT  68 /* 64 bytes of address (addr.c's limit), "/", 3 digits */
#define CIDR_SHOWTEXT 72 /* bytes of bad input quoted in an error message */

struct cidr_range4 {
    uint32_t start, end;
};

struct cidr_range6 {
    uint64_t start_hi, start_lo, end_hi, end_lo;
};

struct cidr_list {
    struct cidr_range4 *v4; /* ranges; sorted and merged when finished */
    size_t n4, cap4;
    struct cidr_range6 *v6;
    size_t n6, cap6;
    size_t count; /* networks added */
    int finished; /* v4 and v6 sorted, merged, disjoint */
};

static const uint8_t cidr_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* cidr_fail - write "bad network 'TEXT': WHY" into err; returns -1 */
static int cidr_fail(const char *text, size_t len, const char *why, char *err, size_t errlen)
{
    char show[CIDR_SHOWTEXT + 1];

    if (text == NULL)
        len = 0;
    util_printable(text, len < CIDR_SHOWTEXT ? len : CIDR_SHOWTEXT, show, sizeof(show));
    return util_seterr(err, errlen, "bad network '%s%s': %s", show,
                       len > CIDR_SHOWTEXT ? "..." : "", why);
}

/* cidr_mask - clear the bits after prefix in the first nbytes of bytes */
static void cidr_mask(uint8_t *bytes, size_t nbytes, int prefix)
{
    size_t i;

    if (prefix < 0)
        prefix = 0;
    for (i = 0; i < nbytes; i++) {
        int keep = prefix - (int)(8 * i); /* bits of this byte inside the prefix */
        if (keep <= 0)
            bytes[i] = 0;
        else if (keep < 8)
            bytes[i] &= (uint8_t)(0xff << (8 - keep));
    }
}

/* cidr_normalise - clear host bits; a mapped IPv6 network of /96 or more becomes IPv4 */
static void cidr_normalise(struct cidr *c)
{
    if (c->addr.family == AF_INET) {
        memset(c->addr.bytes + 4, 0, 12);
        cidr_mask(c->addr.bytes, 4, c->prefix);
        return;
    }
    cidr_mask(c->addr.bytes, 16, c->prefix);
    /* Below /96 bit 95 is cleared, so only a /96-/128 network can still be mapped. */
    if (c->addr.family == AF_INET6 &&
        memcmp(c->addr.bytes, cidr_mapped_prefix, sizeof(cidr_mapped_prefix)) == 0) {
        c->addr.family = AF_INET;
        memmove(c->addr.bytes, c->addr.bytes + 12, 4);
        memset(c->addr.bytes + 4, 0, 12);
        c->prefix -= 96;
    }
}

/* cidr_parse_prefix - decimal 0..max without sign or leading zeros; NULL or the reason */
static const char *cidr_parse_prefix(const char *s, size_t len, int max, int *out)
{
    uint64_t value;

    if (len == 0)
        return "empty prefix";
    if (!ascii_digits(s, len))
        return "prefix is not a decimal number";
    if (len > 1 && s[0] == '0')
        return "prefix has a leading zero";
    if (ascii_uint(s, len, (uint64_t)max, &value) < 0)
        return "prefix out of range";
    *out = (int)value;
    return NULL;
}

/* cidr_parse - parse "ADDR" or "ADDR/PREFIX"; -1 and err on bad input */
int cidr_parse(const char *text, size_t len, struct cidr *out, char *err, size_t errlen)
{
    const char *slash, *why;
    char aerr[160], reason[200];
    size_t alen;
    struct cidr c;
    int v6text, max, prefix;

    if (text == NULL)
        len = 0;
    if (len == 0)
        return util_seterr(err, errlen, "bad network '': empty");
    if (len > CIDR_MAXTEXT)
        return cidr_fail(text, len, "too long", err, errlen);
    slash = memchr(text, '/', len);
    alen = slash != NULL ? (size_t)(slash - text) : len;
    if (addr_parse(text, alen, &c.addr, aerr, sizeof(aerr)) < 0)
        return cidr_fail(text, len, aerr, err, errlen);
    /* The prefix is read against the family of the text, before any mapping. */
    v6text = memchr(text, ':', alen) != NULL;
    max = v6text ? 128 : 32;
    prefix = max;
    if (slash != NULL) {
        why = cidr_parse_prefix(slash + 1, len - alen - 1, max, &prefix);
        if (why != NULL) {
            snprintf(reason, sizeof(reason), "%s (0-%d)", why, max);
            return cidr_fail(text, len, reason, err, errlen);
        }
    }
    if (v6text && c.addr.family == AF_INET) {
        /* addr_parse turned ::ffff:a.b.c.d into IPv4; restore it to apply the prefix. */
        memmove(c.addr.bytes + 12, c.addr.bytes, 4);
        memcpy(c.addr.bytes, cidr_mapped_prefix, sizeof(cidr_mapped_prefix));
        c.addr.family = AF_INET6;
    }
    c.prefix = prefix;
    cidr_normalise(&c);
    *out = c;
    return 0;
}

/* cidr_format - print a network as ADDR/PREFIX into buf; returns buf */
char *cidr_format(const struct cidr *c, char *buf, size_t buflen)
{
    struct cidr n = *c;
    char abuf[ADDR_STRLEN];
    int len;

    /* As addr_format: "" rather than a truncated, different network. */
    if (buflen == 0)
        return buf;
    cidr_normalise(&n);
    addr_format(&n.addr, abuf, sizeof(abuf));
    len = snprintf(buf, buflen, "%s/%d", abuf, n.prefix);
    if (abuf[0] == '\0' || len < 0 || (size_t)len >= buflen)
        buf[0] = '\0';
    return buf;
}

/* cidr_list_new - an empty list (matches nothing); free with cidr_list_free */
struct cidr_list *cidr_list_new(void)
{
    struct cidr_list *list = xcalloc(1, sizeof(*list));

    list->finished = 1; /* an empty list is trivially sorted */
    return list;
}

/* cidr_load64 - eight network-order bytes as a host integer */
static uint64_t cidr_load64(const uint8_t *b)
{
    uint64_t v = 0;
    int i;

    for (i = 0; i < 8; i++)
        v = v << 8 | b[i];
    return v;
}

/* cidr_list_push - append the range of a normalised network c to list */
static void cidr_list_push(struct cidr_list *list, const struct cidr *c)
{
    if (c->addr.family == AF_INET) {
        const uint8_t *b = c->addr.bytes;
        uint32_t start = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
        uint32_t host = c->prefix >= 32 ? 0 : UINT32_MAX >> c->prefix;

        if (list->n4 == list->cap4) {
            list->cap4 = list->cap4 ? 2 * list->cap4 : 16;
            list->v4 = xrealloc(list->v4, list->cap4 * sizeof(*list->v4));
        }
        list->v4[list->n4].start = start;
        list->v4[list->n4].end = start | host;
        list->n4++;
    } else {
        struct cidr_range6 *r;
        uint64_t host_hi = c->prefix >= 64 ? 0 : UINT64_MAX >> c->prefix;
        uint64_t host_lo = c->prefix >= 128  ? 0
                           : c->prefix <= 64 ? UINT64_MAX
                                             : UINT64_MAX >> (c->prefix - 64);

        if (list->n6 == list->cap6) {
            list->cap6 = list->cap6 ? 2 * list->cap6 : 16;
            list->v6 = xrealloc(list->v6, list->cap6 * sizeof(*list->v6));
        }
        r = &list->v6[list->n6++];
        r->start_hi = cidr_load64(c->addr.bytes);
        r->start_lo = cidr_load64(c->addr.bytes + 8);
        r->end_hi = r->start_hi | host_hi;
        r->end_lo = r->start_lo | host_lo;
    }
}

/* cidr_list_add - parse one network and add it; -1 and err on bad input */
int cidr_list_add(struct cidr_list *list, const char *text, size_t len, char *err, size_t errlen)
{
    struct cidr c;
    char reason[64];

    if (list->count >= CIDR_LIST_MAX) {
        snprintf(reason, sizeof(reason), "too many networks in one list (limit %d)", CIDR_LIST_MAX);
        return cidr_fail(text, len, reason, err, errlen);
    }
    if (cidr_parse(text, len, &c, err, errlen) < 0)
        return -1;
    cidr_list_push(list, &c);
    list->count++;
    list->finished = 0;
    return 0;
}

/* cidr_cmp64 - compare two 128-bit values given as hi/lo halves; <0, 0, >0 */
static int cidr_cmp64(uint64_t ahi, uint64_t alo, uint64_t bhi, uint64_t blo)
{
    if (ahi != bhi)
        return ahi < bhi ? -1 : 1;
    if (alo != blo)
        return alo < blo ? -1 : 1;
    return 0;
}

/* cidr_range4_cmp - qsort order of IPv4 ranges: by start */
static int cidr_range4_cmp(const void *pa, const void *pb)
{
    const struct cidr_range4 *a = pa, *b = pb;

    if (a->start != b->start)
        return a->start < b->start ? -1 : 1;
    return 0;
}

/* cidr_range6_cmp - qsort order of IPv6 ranges: by start */
static int cidr_range6_cmp(const void *pa, const void *pb)
{
    const struct cidr_range6 *a = pa, *b = pb;

    return cidr_cmp64(a->start_hi, a->start_lo, b->start_hi, b->start_lo);
}

/* cidr_list_merge4 - merge sorted IPv4 ranges that overlap or touch; in place */
static void cidr_list_merge4(struct cidr_list *list)
{
    size_t i, n = 0;

    for (i = 0; i < list->n4; i++) {
        const struct cidr_range4 *next = &list->v4[i];
        struct cidr_range4 *cur = n > 0 ? &list->v4[n - 1] : NULL;

        if (cur != NULL && (uint64_t)next->start <= (uint64_t)cur->end + 1) {
            if (next->end > cur->end)
                cur->end = next->end;
        } else {
            list->v4[n++] = *next;
        }
    }
    list->n4 = n;
}

/* cidr_list_merge6 - merge sorted IPv6 ranges that overlap or touch; in place */
static void cidr_list_merge6(struct cidr_list *list)
{
    size_t i, n = 0;

    for (i = 0; i < list->n6; i++) {
        const struct cidr_range6 *next = &list->v6[i];
        struct cidr_range6 *cur = n > 0 ? &list->v6[n - 1] : NULL;
        int touches = 0;

        if (cur != NULL) {
            /* next->start <= cur->end + 1, without overflow at the top of the space */
            uint64_t hi = cur->end_hi, lo = cur->end_lo + 1;
            if (lo == 0)
                hi++;
            touches = (cur->end_hi == UINT64_MAX && cur->end_lo == UINT64_MAX) ||
                      cidr_cmp64(next->start_hi, next->start_lo, hi, lo) <= 0;
        }
        if (touches) {
            if (cidr_cmp64(next->end_hi, next->end_lo, cur->end_hi, cur->end_lo) > 0) {
                cur->end_hi = next->end_hi;
                cur->end_lo = next->end_lo;
            }
        } else {
            list->v6[n++] = *next;
        }
    }
    list->n6 = n;
}

/* cidr_list_finish - sort and merge; required after the last add and before matching */
void cidr_list_finish(struct cidr_list *list)
{
    if (list->finished)
        return;
    if (list->n4 > 0) {
        qsort(list->v4, list->n4, sizeof(*list->v4), cidr_range4_cmp);
        cidr_list_merge4(list);
    }
    if (list->n6 > 0) {
        qsort(list->v6, list->n6, sizeof(*list->v6), cidr_range6_cmp);
        cidr_list_merge6(list);
    }
    list->finished = 1;
}

/* cidr_match4 - 1 if x lies in one of the IPv4 ranges of list */
static int cidr_match4(const struct cidr_list *list, uint32_t x)
{
    size_t lo = 0, hi = list->n4;

    if (!list->finished) {
        for (lo = 0; lo < list->n4; lo++)
            if (list->v4[lo].start <= x && x <= list->v4[lo].end)
                return 1;
        return 0;
    }
    /* Find the first range starting above x; the one before it is the only candidate. */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list->v4[mid].start <= x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo > 0 && x <= list->v4[lo - 1].end;
}

/* cidr_match6 - 1 if the 128-bit value xhi:xlo lies in one of the IPv6 ranges of list */
static int cidr_match6(const struct cidr_list *list, uint64_t xhi, uint64_t xlo)
{
    size_t lo = 0, hi = list->n6;
    const struct cidr_range6 *r;

    if (!list->finished) {
        for (lo = 0; lo < list->n6; lo++) {
            r = &list->v6[lo];
            if (cidr_cmp64(r->start_hi, r->start_lo, xhi, xlo) <= 0 &&
                cidr_cmp64(xhi, xlo, r->end_hi, r->end_lo) <= 0)
                return 1;
        }
        return 0;
    }
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        r = &list->v6[mid];
        if (cidr_cmp64(r->start_hi, r->start_lo, xhi, xlo) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return 0;
    r = &list->v6[lo - 1];
    return cidr_cmp64(xhi, xlo, r->end_hi, r->end_lo) <= 0;
}

/* cidr_list_match - 1 if a lies in any network of the (finished) list, else 0 */
int cidr_list_match(const struct cidr_list *list, const struct addr *a)
{
    const uint8_t *b = a->bytes;

    if (list == NULL)
        return 0;
    if (a->family == AF_INET6 && memcmp(b, cidr_mapped_prefix, sizeof(cidr_mapped_prefix)) == 0)
        b += 12; /* a hand-built IPv4-mapped address is the IPv4 address (see addr.h) */
    else if (a->family == AF_INET6)
        return cidr_match6(list, cidr_load64(b), cidr_load64(b + 8));
    else if (a->family != AF_INET)
        return 0;
    return cidr_match4(list,
                       (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]);
}

/* cidr_list_count - number of networks added */
size_t cidr_list_count(const struct cidr_list *list)
{
    return list == NULL ? 0 : list->count;
}

/* cidr_list_free - release the list; NULL is allowed */
void cidr_list_free(struct cidr_list *list)
{
    if (list == NULL)
        return;
    free(list->v4);
    free(list->v6);
    free(list);
}
