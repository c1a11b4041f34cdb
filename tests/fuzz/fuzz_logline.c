/*
 * fuzz_logline - libFuzzer target for logline_parse and logline_parse_time, with a
 * fixed now (2026-11-28T15:00:00Z). It aborts when a property fails: an accepted line
 * is at most LOGLINE_MAX bytes without NUL, its tag is a non-empty run of printable
 * bytes without ':', '[' or ']' inside the line, its message runs to the end of the
 * line, and its time is after 1970 (and for a BSD timestamp at most a day after now);
 * logline_parse_time reports a length within the input; both are deterministic. An
 * accepted line is also given to formats_parse, and a LOGIN must have a valid address
 * and a printable user.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "popauth/formats.h"
#include "popauth/logline.h"

#define FUZZ_NOW INT64_C(1795878000) /* 2026-11-28T15:00:00Z */
#define FUZZ_DAY 86400

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - split the input as one line and check the result */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *line = (const char *)data;
    struct logline ll, ll2;
    struct login l;
    int64_t t, t2;
    size_t used, used2, i;

    if (logline_parse_time(line, size, FUZZ_NOW, &t, &used) == 0) {
        if (used < 15 || used > size || t < 0)
            abort();
        if (logline_parse_time(line, size, FUZZ_NOW, &t2, &used2) != 0 || t2 != t || used2 != used)
            abort();
        if (line[0] >= 'A' && line[0] <= 'Z' &&
            (used != 15 || t > FUZZ_NOW + FUZZ_DAY || t < FUZZ_NOW - 9 * 366 * FUZZ_DAY))
            abort();
        /* a prefix of the timestamp alone parses the same way */
        if (logline_parse_time(line, used, FUZZ_NOW, &t2, &used2) != 0 || t2 != t || used2 != used)
            abort();
    }
    if (logline_parse(line, size, FUZZ_NOW, &ll) != 0)
        return 0;
    if (size > LOGLINE_MAX || memchr(line, '\0', size) != NULL || ll.time < 0)
        abort();
    if (ll.taglen == 0 || ll.tag < line || ll.tag + ll.taglen > line + size)
        abort();
    for (i = 0; i < ll.taglen; i++) {
        unsigned char c = (unsigned char)ll.tag[i];
        if (c <= ' ' || c >= 0x7f || ((c == ':' || c == '[' || c == ']') && line[0] != '<'))
            abort();
    }
    if (ll.msg < ll.tag + ll.taglen || ll.msg + ll.msglen != line + size)
        abort();
    if (logline_parse(line, size, FUZZ_NOW, &ll2) != 0 || memcmp(&ll, &ll2, sizeof(ll)) != 0)
        abort();
    if (formats_parse(&ll, FORMATS_ALL, &l) == FORMATS_LOGIN) {
        size_t ulen = strnlen(l.user, STORE_USER_MAX);

        if (l.client.family != AF_INET && l.client.family != AF_INET6)
            abort();
        if (ulen >= STORE_USER_MAX || l.time != ll.time || l.source == NULL)
            abort();
        for (i = 0; i < ulen; i++)
            if ((unsigned char)l.user[i] < 0x20 || (unsigned char)l.user[i] >= 0x7f)
                abort();
    }
    return 0;
}
