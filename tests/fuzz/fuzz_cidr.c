/*
 * fuzz_cidr - libFuzzer target for cidr_parse, cidr_format and cidr lists. The input is
 * a list, one network per line (at most FUZZ_CIDR_MAXLINES lines). It aborts when a
 * property fails: an accepted network has its prefix in range, no host bits, is never a
 * mapped IPv6 network of /96 or more, and formats to text that reparses to the same
 * network; cidr_list_add agrees with cidr_parse; and for every address named in the
 * input, and the first, last, one-below and one-above address of every network (also
 * in hand-built mapped IPv6 form), the list's answer equals a brute-force linear
 * matcher's, whether the list is unfinished, finished, or built in reverse order.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/cidr.h"

#define FUZZ_CIDR_MAXLINES 64
#define FUZZ_CIDR_MAXADDRS (FUZZ_CIDR_MAXLINES * 10)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t fuzz_cidr_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* fuzz_cidr_bit - bit i (0 = most significant) of bytes */
static int fuzz_cidr_bit(const uint8_t *bytes, int i)
{
    return (bytes[i / 8] >> (7 - i % 8)) & 1;
}

/* fuzz_cidr_in - 1 if the first prefix bits of x and net are equal */
static int fuzz_cidr_in(const uint8_t *net, const uint8_t *x, int prefix)
{
    int whole = prefix / 8, rest = prefix % 8;

    if (memcmp(net, x, (size_t)whole) != 0)
        return 0;
    return rest == 0 || ((net[whole] ^ x[whole]) & (0xff << (8 - rest)) & 0xff) == 0;
}

/* fuzz_cidr_linear - brute force: is a in any of nets[0..n), by prefix bits? */
static int fuzz_cidr_linear(const struct cidr *nets, size_t n, const struct addr *a)
{
    struct addr x = *a;
    size_t i;

    if (x.family == AF_INET6 && memcmp(x.bytes, fuzz_cidr_mapped, 12) == 0) {
        x.family = AF_INET;
        memmove(x.bytes, x.bytes + 12, 4);
    }
    for (i = 0; i < n; i++)
        if (nets[i].addr.family == x.family &&
            fuzz_cidr_in(nets[i].addr.bytes, x.bytes, nets[i].prefix))
            return 1;
    return 0;
}

/* fuzz_cidr_check_net - the properties of one accepted network */
static void fuzz_cidr_check_net(const struct cidr *c)
{
    char buf[ADDR_STRLEN + 8], err[512];
    struct cidr d;
    int max, bit;

    if (c->addr.family != AF_INET && c->addr.family != AF_INET6)
        abort();
    max = c->addr.family == AF_INET ? 32 : 128;
    if (c->prefix < 0 || c->prefix > max)
        abort();
    for (bit = c->prefix; bit < 128; bit++)
        if (fuzz_cidr_bit(c->addr.bytes, bit) != 0)
            abort();
    if (c->addr.family == AF_INET6 && c->prefix >= 96 &&
        memcmp(c->addr.bytes, fuzz_cidr_mapped, 12) == 0)
        abort();
    cidr_format(c, buf, sizeof(buf));
    if (buf[0] == '\0' || strchr(buf, '/') == NULL)
        abort();
    if (cidr_parse(buf, strlen(buf), &d, err, sizeof(err)) != 0)
        abort();
    if (memcmp(c, &d, sizeof(d)) != 0)
        abort();
}

/* fuzz_cidr_edge - a at the first (last=0) or last (last=1) address of c, plus delta */
static int fuzz_cidr_edge(const struct cidr *c, int last, int delta, struct addr *a)
{
    size_t n = c->addr.family == AF_INET ? 4 : 16, i;
    int bit;

    *a = c->addr;
    if (last)
        for (bit = c->prefix; bit < (int)n * 8; bit++)
            a->bytes[bit / 8] |= (uint8_t)(0x80 >> (bit % 8));
    for (i = n; delta != 0 && i-- > 0;) {
        if (delta > 0 && a->bytes[i]++ != 0xff)
            return 0;
        if (delta < 0 && a->bytes[i]-- != 0)
            return 0;
    }
    return delta == 0 ? 0 : -1; /* wrapped around the address space */
}

/* fuzz_cidr_compare - abort unless every query gets the brute-force answer */
static void fuzz_cidr_compare(const struct cidr_list *list, const struct cidr *nets, size_t nnets,
                              const struct addr *addrs, size_t naddrs)
{
    size_t i;

    for (i = 0; i < naddrs; i++)
        if (cidr_list_match(list, &addrs[i]) != fuzz_cidr_linear(nets, nnets, &addrs[i]))
            abort();
}

/* LLVMFuzzerTestOneInput - parse the lines as a list and query it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct cidr nets[FUZZ_CIDR_MAXLINES];
    static struct addr addrs[FUZZ_CIDR_MAXADDRS];
    const char *lines[FUZZ_CIDR_MAXLINES];
    size_t lens[FUZZ_CIDR_MAXLINES];
    const char *p = (const char *)data, *end = p + size;
    struct cidr_list *list = cidr_list_new(), *rev = cidr_list_new();
    size_t nlines = 0, nnets = 0, naddrs = 0, i;
    char err[512];

    while (nlines < FUZZ_CIDR_MAXLINES && p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        struct cidr c;
        int r1, r2;

        lines[nlines] = p;
        lens[nlines++] = len;
        err[0] = '\0';
        r1 = cidr_parse(p, len, &c, err, sizeof(err));
        if (r1 == 0) {
            fuzz_cidr_check_net(&c);
            nets[nnets++] = c;
        } else if (r1 != -1 || strncmp(err, "bad network '", 13) != 0) {
            abort();
        }
        r2 = cidr_list_add(list, p, len, err, sizeof(err));
        if (r1 != r2)
            abort();
        if (addr_parse(p, len, &addrs[naddrs], err, sizeof(err)) == 0)
            naddrs++;
        if (nl == NULL)
            break;
        p = nl + 1;
    }
    for (i = nlines; i-- > 0;)
        cidr_list_add(rev, lines[i], lens[i], err, sizeof(err));
    if (cidr_list_count(list) != nnets || cidr_list_count(rev) != nnets)
        abort();

    for (i = 0; i < nnets; i++) {
        static const int deltas[][2] = {{0, 0}, {0, -1}, {1, 0}, {1, 1}};
        size_t k;
        for (k = 0; k < 4; k++) {
            struct addr *a = &addrs[naddrs];
            if (fuzz_cidr_edge(&nets[i], deltas[k][0], deltas[k][1], a) == 0) {
                naddrs++;
                if (a->family == AF_INET) { /* the same address, hand-built mapped */
                    struct addr *m = &addrs[naddrs++];
                    memset(m, 0, sizeof(*m));
                    m->family = AF_INET6;
                    memcpy(m->bytes, fuzz_cidr_mapped, 12);
                    memcpy(m->bytes + 12, a->bytes, 4);
                }
            }
        }
    }

    fuzz_cidr_compare(list, nets, nnets, addrs, naddrs);
    cidr_list_finish(list);
    fuzz_cidr_compare(list, nets, nnets, addrs, naddrs);
    cidr_list_finish(list);
    fuzz_cidr_compare(list, nets, nnets, addrs, naddrs);
    cidr_list_finish(rev);
    fuzz_cidr_compare(rev, nets, nnets, addrs, naddrs);
    cidr_list_free(list);
    cidr_list_free(rev);
    return 0;
}
