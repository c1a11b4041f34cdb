/*
 * fuzz_policy - libFuzzer target for policy_feed. The first byte of the input seeds the
 * chunk sizes; the rest is fed in chunks of 1 to 256 bytes (and again whole, to a second
 * parser). It aborts when an invariant fails: a call consumes 0 < n <= len bytes unless
 * it fails; a failed parser stays failed with a printable message; every field of a
 * complete request is a NUL-terminated string without LF, CR or NUL of at most
 * POLICY_MAX_LINE bytes; protocol_state and friends are "" or values taken from the
 * input; both ways of feeding give the same sequence of requests and the same outcome.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpgate/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_POLICY_MAX_REQS 64

/* What one way of feeding saw. */
struct fuzz_policy_run {
    size_t nreq;
    uint32_t hash[FUZZ_POLICY_MAX_REQS]; /* of each request's fields */
    int failed;
    size_t consumed; /* bytes accepted before the end or the error */
};

/* fuzz_policy_field - check one field and fold it into h */
static uint32_t fuzz_policy_field(const char *s, uint32_t h)
{
    size_t len = strnlen(s, POLICY_MAX_LINE + 1);

    if (len > POLICY_MAX_LINE || memchr(s, '\n', len) || memchr(s, '\r', len))
        abort();
    for (size_t i = 0; i < len; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return (h ^ 0xff) * 16777619u;
}

/* fuzz_policy_check_err - an error message is non-empty printable text */
static void fuzz_policy_check_err(const char *err)
{
    size_t i;

    if (err[0] == '\0')
        abort();
    for (i = 0; err[i] != '\0'; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            abort();
}

/* fuzz_policy_run - feed text in chunks drawn from seed (0: whole), recording results */
static void fuzz_policy_run(const char *text, size_t len, uint32_t seed, struct fuzz_policy_run *r)
{
    struct policy_parser *p = policy_parser_new();
    struct policy_request req;
    char err[256];
    size_t off = 0;

    memset(r, 0, sizeof(*r));
    while (off < len) {
        size_t chunk = len - off;
        int complete = -1;
        long n;

        if (seed != 0) {
            seed = seed * 1103515245u + 12345u;
            chunk = 1 + (seed >> 16) % 256;
            if (chunk > len - off)
                chunk = len - off;
        }
        err[0] = '\0';
        n = policy_feed(p, text + off, chunk, &req, &complete, err, sizeof(err));
        if (n < 0) {
            if (n != -1 || complete != 0)
                abort();
            fuzz_policy_check_err(err);
            if (policy_feed(p, "\n", 1, &req, &complete, err, sizeof(err)) != -1)
                abort();
            r->failed = 1;
            break;
        }
        if (n == 0 || (size_t)n > chunk || (complete != 0 && complete != 1))
            abort();
        if (!complete && (size_t)n != chunk)
            abort();
        off += (size_t)n;
        if (complete) {
            uint32_t h = 2166136261u;
            if (text[off - 1] != '\n')
                abort();
            h = fuzz_policy_field(req.protocol_state, h);
            h = fuzz_policy_field(req.client_address, h);
            h = fuzz_policy_field(req.recipient, h);
            h = fuzz_policy_field(req.sender, h);
            h = fuzz_policy_field(req.sasl_username, h);
            if (r->nreq < FUZZ_POLICY_MAX_REQS)
                r->hash[r->nreq] = h;
            r->nreq++;
        }
    }
    r->consumed = off;
    policy_parser_free(p);
}

/* LLVMFuzzerTestOneInput - feed the input two ways and compare */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_policy_run a, b;
    uint32_t seed;
    size_t i, n;

    if (size < 1)
        return 0;
    seed = 1u + data[0];
    fuzz_policy_run((const char *)data + 1, size - 1, seed, &a);
    fuzz_policy_run((const char *)data + 1, size - 1, 0, &b);
    if (a.failed != b.failed || a.nreq != b.nreq)
        abort();
    if (!a.failed && a.consumed != b.consumed)
        abort();
    n = a.nreq < FUZZ_POLICY_MAX_REQS ? a.nreq : FUZZ_POLICY_MAX_REQS;
    for (i = 0; i < n; i++)
        if (a.hash[i] != b.hash[i])
            abort();
    return 0;
}
