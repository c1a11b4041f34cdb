/*
 * fuzz_patterns - libFuzzer target for patterns_compile and patterns_match. The input is
 * a pattern file and a log line separated by the first NUL byte ("PATTERNS\0LINE"; with
 * no NUL, the whole input is the pattern file and also the line). It aborts when a
 * property fails: a refused file has an error "fuzz:LINE: log_patterns: ..." and an
 * accepted one at most PATTERNS_MAX patterns; compiling twice gives the same count; and
 * a login has source "custom", a client address that formats to text addr_parse gives
 * back unchanged, and a user without control bytes shorter than STORE_USER_MAX; the same
 * line matched twice (the scratch space reused) gives the same verdict. Matching is bounded by the
 * match limits, so no input can make this target hang.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "popauth/patterns.h"

#define FUZZ_PATTERNS_NOW 1800000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_patterns_check_login - the properties of a login that a pattern produced */
static void fuzz_patterns_check_login(const struct login *out)
{
    char text[ADDR_STRLEN], err[256];
    struct addr again;
    size_t i, n;

    if (out->source == NULL || strcmp(out->source, "custom") != 0)
        abort();
    if (out->client.family != AF_INET && out->client.family != AF_INET6)
        abort();
    addr_format(&out->client, text, sizeof(text));
    if (addr_parse(text, strlen(text), &again, err, sizeof(err)) != 0 ||
        memcmp(&again, &out->client, sizeof(again)) != 0)
        abort();
    n = strnlen(out->user, sizeof(out->user));
    if (n >= sizeof(out->user))
        abort();
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)out->user[i];
        if (c < 0x20 || c == 0x7f)
            abort();
    }
}

/* LLVMFuzzerTestOneInput - compile the first part, match the second against it */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *line = text;
    const char *nul = memchr(data, '\0', size);
    size_t textlen = size, linelen = size;
    struct patterns *p, *q;
    enum formats_verdict v;
    struct login out;
    char err[1024];

    if (nul != NULL) {
        textlen = (size_t)(nul - text);
        line = nul + 1;
        linelen = size - textlen - 1;
    }
    err[0] = '\0';
    p = patterns_compile("fuzz", text, textlen, err, sizeof(err));
    if (p == NULL) {
        if (strncmp(err, "fuzz:", 5) != 0 || strstr(err, ": log_patterns: ") == NULL)
            abort();
        return 0;
    }
    if (patterns_count(p) > PATTERNS_MAX)
        abort();
    q = patterns_compile("fuzz", text, textlen, err, sizeof(err));
    if (q == NULL || patterns_count(q) != patterns_count(p))
        abort();
    patterns_free(q);

    v = patterns_match(p, line, linelen, 1000, FUZZ_PATTERNS_NOW, &out);
    if (v == FORMATS_LOGIN)
        fuzz_patterns_check_login(&out);
    else if (v != FORMATS_NONE && v != FORMATS_REJECTED)
        abort();
    /* the same line again, with the scratch space reused, gives the same verdict */
    if (patterns_match(p, line, linelen, 1000, FUZZ_PATTERNS_NOW, &out) != v)
        abort();
    patterns_free(p);
    return 0;
}
