/*
 * fuzz_dovecot_report - libFuzzer target for dovecot_report_parse, the body of a request
 * from Dovecot's auth policy client. It aborts when an invariant fails: every input gets a
 * verdict and a non-empty printable reason unless it grants; a grant's client is an IPv4
 * or IPv6 address that reads back from its canonical text, and its user is printable
 * and shorter than STORE_USER_MAX; anything that is not a grant carries no client; the
 * same input always gives the same result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "popauth/dovecot_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_dovecot_printable - 1 if s is printable ASCII */
static int fuzz_dovecot_printable(const char *s)
{
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            return 0;
    return 1;
}

/* LLVMFuzzerTestOneInput - parse the input twice and check the invariants */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct dovecot_report a, b;
    struct addr back;
    const char *why_a, *why_b;
    char addr[ADDR_STRLEN];
    enum dovecot_verdict v = dovecot_report_parse((const char *)data, size, &a, &why_a);

    if (dovecot_report_parse((const char *)data, size, &b, &why_b) != v ||
        memcmp(&a, &b, sizeof(a)) != 0 || strcmp(why_a, why_b) != 0)
        abort();
    if (v != DOVECOT_REPORT_GRANT) {
        if (why_a[0] == '\0' || !fuzz_dovecot_printable(why_a) || a.remote.family != 0)
            abort();
        return 0;
    }
    if (a.remote.family != AF_INET && a.remote.family != AF_INET6)
        abort();
    addr_format(&a.remote, addr, sizeof(addr));
    if (addr_parse(addr, strlen(addr), &back, NULL, 0) < 0 || addr_compare(&back, &a.remote) != 0)
        abort();
    if (strlen(a.login) >= STORE_USER_MAX || !fuzz_dovecot_printable(a.login))
        abort();
    return 0;
}
