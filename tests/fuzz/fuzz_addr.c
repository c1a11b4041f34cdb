/*
 * fuzz_addr - libFuzzer target for addr_parse, addr_format, addr_canonical and
 * addr_compare. It aborts when a property fails: a refused input gets a printable
 * "bad IP address '...'" error; an accepted one has the struct invariants, formats to
 * text that reparses to the same bytes and is a fixed point of addr_canonical; and the
 * accept/refuse decision agrees with glibc's inet_pton (which is strict for AF_INET)
 * on every NUL-free input of up to 64 bytes. An input holding a newline is also split
 * there and the two halves are compared, to check that addr_compare is a total order
 * consistent with the canonical text.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_addr_check - parse text[0..len) and check every property; returns parse result */
static int fuzz_addr_check(const char *text, size_t len, struct addr *a)
{
    char err[256], buf[ADDR_STRLEN], buf2[ADDR_STRLEN], canon[ADDR_STRLEN];
    struct addr b;
    size_t i;
    int r;

    err[0] = '\0';
    r = addr_parse(text, len, a, err, sizeof(err));
    if (r == -1) {
        if (strncmp(err, "bad IP address '", 16) != 0)
            abort();
        for (i = 0; err[i] != '\0'; i++)
            if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
                abort();
    } else if (r == 0) {
        if (len == 0 || len > 64)
            abort();
        for (i = 0; i < len; i++)
            if (strchr("0123456789abcdefABCDEF:.", text[i]) == NULL || text[i] == '\0')
                abort();
        if (a->family == AF_INET) {
            for (i = 4; i < 16; i++)
                if (a->bytes[i] != 0)
                    abort();
        } else if (a->family == AF_INET6) {
            static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
            if (memcmp(a->bytes, mapped, 12) == 0)
                abort();
        } else {
            abort();
        }
        addr_format(a, buf, sizeof(buf));
        if (buf[0] == '\0' || strlen(buf) >= ADDR_STRLEN || strpbrk(buf, "ABCDEF") != NULL)
            abort();
        if (addr_parse(buf, strlen(buf), &b, err, sizeof(err)) != 0)
            abort();
        if (memcmp(a, &b, sizeof(b)) != 0 || addr_compare(a, &b) != 0)
            abort();
        if (strcmp(addr_format(&b, buf2, sizeof(buf2)), buf) != 0)
            abort();
        if (addr_canonical(buf, canon, sizeof(canon), err, sizeof(err)) != 0 ||
            strcmp(canon, buf) != 0)
            abort();
    } else {
        abort();
    }

    /* differential check against glibc on inputs inet_pton can see whole */
    if (len <= 64 && memchr(text, '\0', len) == NULL) {
        char s[65];
        uint8_t g[16];
        int g4, g6;

        memcpy(s, text, len);
        s[len] = '\0';
        g4 = inet_pton(AF_INET, s, g) == 1;
        if (g4) {
            if (r != 0 || a->family != AF_INET || memcmp(a->bytes, g, 4) != 0)
                abort();
        } else {
            g6 = inet_pton(AF_INET6, s, g) == 1;
            if ((r == 0) != g6)
                abort();
            if (g6) {
                const uint8_t *want = a->family == AF_INET ? g + 12 : g;
                if (memcmp(a->bytes, want, a->family == AF_INET ? 4 : 16) != 0)
                    abort();
            }
        }
    }
    return r;
}

/* fuzz_addr_sign - -1, 0 or 1 for the sign of v */
static int fuzz_addr_sign(int v)
{
    return v < 0 ? -1 : v > 0;
}

/* LLVMFuzzerTestOneInput - check the whole input, then its two halves around a newline */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nl = memchr(text, '\n', size);
    struct addr a, b;

    fuzz_addr_check(text, size, &a);
    if (nl != NULL) {
        size_t n1 = (size_t)(nl - text);
        int ra = fuzz_addr_check(text, n1, &a);
        int rb = fuzz_addr_check(nl + 1, size - n1 - 1, &b);

        if (ra == 0 && rb == 0) {
            char fa[ADDR_STRLEN], fb[ADDR_STRLEN];
            int ab = fuzz_addr_sign(addr_compare(&a, &b));
            int ba = fuzz_addr_sign(addr_compare(&b, &a));

            if (ab != -ba)
                abort();
            if ((ab == 0) !=
                (strcmp(addr_format(&a, fa, sizeof(fa)), addr_format(&b, fb, sizeof(fb))) == 0))
                abort();
            if (a.family != b.family && ab != (a.family == AF_INET ? -1 : 1))
                abort();
        }
    }
    return 0;
}
