/*
 * addr - client IP addresses: strict parsing and canonical printing.
 *
 * Every client address popauth stores, and every address smtpgate looks up, passes
 * through addr_parse and addr_format, so that one address has exactly one text form and
 * one struct addr. A grant stored under one spelling and looked up under another would
 * be a missed permit at best; a parser that accepts "1.2.3.4x" or "010.0.0.1" (octal to
 * inet_aton) could be made to name an address the operator never meant.
 *
 * IPv4 is parsed here by hand (exactly four decimal parts 0-255, no leading zeros);
 * IPv6 goes through inet_pton after a character check that refuses brackets, zone ids
 * and white space, and its embedded IPv4 tail (if any) must pass the same strict IPv4
 * rules. An IPv4-mapped address (::ffff:0:0/96) becomes AF_INET. IPv6 text is printed
 * by our own RFC 5952 formatter rather than inet_ntop: glibc's inet_ntop prints every
 * address in ::/96 in mixed notation ("::1:0" as "::0.1.0.0"), which RFC 5952 section 5
 * advises against and other libcs do differently.
 *
 * Invariants of a parsed struct addr: family is AF_INET or AF_INET6; for AF_INET only
 * bytes[0..3] are set and bytes[4..15] are zero; an AF_INET6 address is never mapped.
 * addr_format and addr_compare also accept a hand-built AF_INET6 mapped address and treat
 * it as the IPv4 address it maps, so that their results agree with addr_parse.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "shared/addr.h"
#include "shared/ascii.h"
#include "shared/util.h"

#define ADDR_MAXTEXT  64 /* longest accepted text; the longest valid IPv6 text is 45 */
#define ADDR_SHOWTEXT 64 /* bytes of bad input quoted in an error message */

static const uint8_t addr_mapped_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* addr_fail - write "bad IP address 'TEXT': WHY" into err; returns -1 */
static int addr_fail(const char *text, size_t len, const char *why, char *err, size_t errlen)
{
    char show[ADDR_SHOWTEXT + 1];

    util_printable(text, len < ADDR_SHOWTEXT ? len : ADDR_SHOWTEXT, show, sizeof(show));
    return util_seterr(err, errlen, "bad IP address '%s%s': %s", show,
                       len > ADDR_SHOWTEXT ? "..." : "", why);
}

/* addr_parse_v4 - strict dotted quad in s[0..len); NULL on success, else the reason */
static const char *addr_parse_v4(const char *s, size_t len, uint8_t out[4])
{
    size_t i = 0;
    int part;

    for (part = 0; part < 4; part++) {
        size_t start, ndigits;
        uint64_t value;

        if (part > 0) {
            if (i >= len)
                return "not four dotted parts";
            if (s[i] != '.')
                return "unexpected character";
            i++;
        }
        start = i;
        ndigits = ascii_span_digits(s + start, len - start);
        i += ndigits;
        if (ndigits == 0)
            return i < len && s[i] != '.' ? "unexpected character" : "empty part";
        if (ndigits > 1 && s[start] == '0')
            return "leading zero";
        if (ascii_uint(s + start, ndigits, 255, &value) < 0)
            return "part out of range";
        out[part] = (uint8_t)value;
    }
    if (i < len)
        return s[i] == '.' ? "more than four parts" : "trailing characters";
    return NULL;
}

/* addr_check_chars - reason why s[0..len) cannot be an address by its bytes, or NULL */
static const char *addr_check_chars(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (ascii_hex(c) >= 0 || c == ':' || c == '.')
            continue;
        if (c == '[' || c == ']')
            return "brackets not allowed";
        if (c == '%')
            return "zone id not allowed";
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f')
            return "white space not allowed";
        if (c == '+' || c == '-')
            return "sign not allowed";
        if (c == '/')
            return "prefix not allowed";
        if (c == '\0')
            return "NUL byte not allowed";
        return "unexpected character";
    }
    return NULL;
}

/* addr_parse - parse len bytes of text as an IP address; -1 and err on bad input */
int addr_parse(const char *text, size_t len, struct addr *out, char *err, size_t errlen)
{
    char buf[ADDR_MAXTEXT + 1];
    const char *why;
    uint8_t bytes[16];

    if (text == NULL)
        len = 0;
    if (len == 0)
        return util_seterr(err, errlen, "bad IP address '': empty");
    if (len > ADDR_MAXTEXT)
        return addr_fail(text, len, "too long", err, errlen);
    if ((why = addr_check_chars(text, len)) != NULL)
        return addr_fail(text, len, why, err, errlen);
    memcpy(buf, text, len);
    buf[len] = '\0';

    if (memchr(buf, ':', len) == NULL) {
        if ((why = addr_parse_v4(buf, len, bytes)) != NULL)
            return addr_fail(text, len, why, err, errlen);
        memset(out, 0, sizeof(*out));
        out->family = AF_INET;
        memcpy(out->bytes, bytes, 4);
        return 0;
    }

    /* IPv6. An embedded IPv4 tail must meet the strict IPv4 rules whatever the libc. */
    if (memchr(buf, '.', len) != NULL) {
        const char *tail = strrchr(buf, ':') + 1;
        uint8_t v4[4];
        char reason[64];

        if ((why = addr_parse_v4(tail, len - (size_t)(tail - buf), v4)) != NULL) {
            snprintf(reason, sizeof(reason), "embedded IPv4 part: %s", why);
            return addr_fail(text, len, reason, err, errlen);
        }
    }
    if (inet_pton(AF_INET6, buf, bytes) != 1)
        return addr_fail(text, len, "not a valid IPv6 address", err, errlen);
    memset(out, 0, sizeof(*out));
    if (memcmp(bytes, addr_mapped_prefix, sizeof(addr_mapped_prefix)) == 0) {
        out->family = AF_INET;
        memcpy(out->bytes, bytes + 12, 4);
    } else {
        out->family = AF_INET6;
        memcpy(out->bytes, bytes, 16);
    }
    return 0;
}

/* addr_is_mapped - 1 if a is an AF_INET6 struct holding an IPv4-mapped address */
static int addr_is_mapped(const struct addr *a)
{
    return a->family == AF_INET6 &&
           memcmp(a->bytes, addr_mapped_prefix, sizeof(addr_mapped_prefix)) == 0;
}

/* addr_put_dec - a byte in decimal without leading zeros at p; returns the end */
static char *addr_put_dec(char *p, unsigned v)
{
    if (v >= 100)
        *p++ = (char)('0' + v / 100);
    if (v >= 10)
        *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    return p;
}

/* addr_put_hex - a 16-bit word in lower-case hex without leading zeros at p; the end */
static char *addr_put_hex(char *p, unsigned v)
{
    static const char digits[] = "0123456789abcdef";
    int shift = 12;

    while (shift > 0 && (v >> shift) == 0)
        shift -= 4;
    for (; shift >= 0; shift -= 4)
        *p++ = digits[(v >> shift) & 0xf];
    return p;
}

/* addr_format_v6 - RFC 5952 text of 16 address bytes into buf (ADDR_STRLEN bytes) */
static void addr_format_v6(const uint8_t bytes[16], char *buf)
{
    unsigned words[8];
    int i, best = -1, bestlen = 0, run = -1;
    char *p = buf;

    for (i = 0; i < 8; i++)
        words[i] = (unsigned)bytes[2 * i] << 8 | bytes[2 * i + 1];
    /* Longest run of two or more zero words, the first one on a tie (RFC 5952 4.2). */
    for (i = 0; i <= 8; i++) {
        if (i < 8 && words[i] == 0) {
            if (run < 0)
                run = i;
        } else if (run >= 0) {
            if (i - run > bestlen && i - run >= 2) {
                best = run;
                bestlen = i - run;
            }
            run = -1;
        }
    }
    for (i = 0; i < 8; i++) {
        if (i == best) {
            *p++ = ':';
            if (i == 0)
                *p++ = ':';
            i += bestlen - 1;
            continue;
        }
        p = addr_put_hex(p, words[i]);
        if (i < 7)
            *p++ = ':';
    }
    *p = '\0';
}

/* addr_format - canonical text of a into buf (ADDR_STRLEN bytes); returns buf */
char *addr_format(const struct addr *a, char *buf, size_t buflen)
{
    char tmp[ADDR_STRLEN];

    /*
     * The text is built in tmp and copied only if it fits whole: a truncated address
     * ("192.0.2.12" cut to "192.0.2.1") would be a different, valid address. A buffer
     * that is too small, or an unknown family, yields "", which never parses.
     */
    if (a->family == AF_INET || addr_is_mapped(a)) {
        const uint8_t *b = a->family == AF_INET ? a->bytes : a->bytes + 12;
        char *p = tmp;
        int i;

        for (i = 0; i < 4; i++) {
            if (i > 0)
                *p++ = '.';
            p = addr_put_dec(p, b[i]);
        }
        *p = '\0';
    } else if (a->family == AF_INET6) {
        addr_format_v6(a->bytes, tmp);
    } else {
        tmp[0] = '\0';
    }
    if (buflen == 0)
        return buf;
    if (strlen(tmp) >= buflen)
        tmp[0] = '\0';
    util_strlcpy(buf, tmp, buflen);
    return buf;
}

/* addr_canonical - parse text and write its canonical form into buf; -1 and err if bad */
int addr_canonical(const char *text, char *buf, size_t buflen, char *err, size_t errlen)
{
    struct addr a;
    char tmp[ADDR_STRLEN];

    if (buflen > 0)
        buf[0] = '\0';
    if (addr_parse(text, text == NULL ? 0 : strnlen(text, ADDR_MAXTEXT + 1), &a, err, errlen) < 0)
        return -1;
    addr_format(&a, tmp, sizeof(tmp));
    if (strlen(tmp) >= buflen)
        return util_seterr(err, errlen, "IP address '%s': output buffer too small", tmp);
    util_strlcpy(buf, tmp, buflen);
    return 0;
}

/* addr_key - the family and bytes a compares by, with a mapped AF_INET6 as AF_INET */
static const uint8_t *addr_key(const struct addr *a, int *family, size_t *n)
{
    if (addr_is_mapped(a)) {
        *family = AF_INET;
        *n = 4;
        return a->bytes + 12;
    }
    *family = a->family;
    *n = a->family == AF_INET ? 4 : 16;
    return a->bytes;
}

/* addr_compare - total order: IPv4 before IPv6, then by bytes; returns <0, 0, >0 */
int addr_compare(const struct addr *a, const struct addr *b)
{
    int fa, fb;
    size_t na, nb;
    const uint8_t *ka = addr_key(a, &fa, &na);
    const uint8_t *kb = addr_key(b, &fb, &nb);

    if (fa != fb) {
        if (fa == AF_INET)
            return -1;
        if (fb == AF_INET)
            return 1;
        return fa < fb ? -1 : 1;
    }
    return memcmp(ka, kb, na);
}
