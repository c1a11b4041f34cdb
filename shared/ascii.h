/*
 * ascii - character classes and case folding for protocol text, by the ASCII table
 * alone: the parsers must not depend on the C library's locale (isalpha and toupper
 * may accept bytes over 127 in some locales). Header only: the functions are inline,
 * on the parsers' hot paths.
 *
 * Decimal numbers are read with ascii_digits, ascii_span_digits and ascii_uint (octal
 * ones with ascii_uint_base), which never compute a value they cannot hold (see
 * ascii_uint). User names, whether a log line or the sniffer found them, are made
 * printable byte by byte with ascii_user_byte.
 */
#ifndef POPAUTH_ASCII_H
#define POPAUTH_ASCII_H

#include <stddef.h>
#include <stdint.h>

/* ascii_upper - c in upper case if it is an ASCII letter, else c */
static inline unsigned char ascii_upper(unsigned char c)
{
    return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 'a' + 'A') : c;
}

/* ascii_lower - c in lower case if it is an ASCII letter, else c */
static inline unsigned char ascii_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/* ascii_is_digit - 1 if c is an ASCII decimal digit */
static inline int ascii_is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

/* ascii_span_digits - how many ASCII decimal digits p[0..n) starts with */
static inline size_t ascii_span_digits(const void *p, size_t n)
{
    const unsigned char *s = p;
    size_t i = 0;

    while (i < n && ascii_is_digit(s[i]))
        i++;
    return i;
}

/* ascii_digits - 1 if p[0..n) is one or more ASCII decimal digits, else 0 */
static inline int ascii_digits(const void *p, size_t n)
{
    return n > 0 && ascii_span_digits(p, n) == n;
}

#define ASCII_UINT_SAFE 19 /* decimal digits that always fit in 64 bits */

/*
 * ascii_uint - the value of the decimal number p[0..n) (one or more digits, leading zeros
 * allowed, no sign): 0 and *out, or -1 (*out untouched) if n is 0, a byte is not a digit,
 * or the value is over max. The first ASCII_UINT_SAFE digits cannot overflow; each one
 * after them is checked before it is added, so any max (up to UINT64_MAX) and any n are
 * safe, and the short numbers of the parsers' hot paths cost one compare per digit.
 */
static inline int ascii_uint(const void *p, size_t n, uint64_t max, uint64_t *out)
{
    const unsigned char *s = p;
    uint64_t v = 0;
    size_t i;

    if (n == 0)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned)s[i] - '0';

        if (d > 9 || (i >= ASCII_UINT_SAFE && v > (UINT64_MAX - d) / 10))
            return -1;
        v = v * 10 + d;
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/*
 * ascii_uint_base - ascii_uint in base 2 to 10 (base 8 for a file mode): the value of
 * p[0..n) read in base, with ascii_uint's contract (-1 and *out untouched if n is 0, a
 * byte is not a digit of base, or the value is over max; no value over max is computed).
 */
static inline int ascii_uint_base(const void *p, size_t n, unsigned base, uint64_t max,
                                  uint64_t *out)
{
    const unsigned char *s = p;
    uint64_t v = 0;
    size_t i;

    if (n == 0 || base < 2 || base > 10)
        return -1;
    for (i = 0; i < n; i++) {
        unsigned d = (unsigned)s[i] - '0';

        if (d >= base || d > max || v > (max - d) / base)
            return -1;
        v = v * base + d;
    }
    *out = v;
    return 0;
}

/* ascii_is_print - 1 if c is printable ASCII, the space included (0x20 to 0x7e) */
static inline int ascii_is_print(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

/*
 * ascii_user_byte - byte c of a user name as it is stored and shown, the one rule for
 * every source: printable ASCII (space included: names are always shown delimited,
 * user="a b") is kept, anything else (controls, DEL, every byte over 127, so also each
 * byte of a UTF-8 character) becomes '?'.
 */
static inline char ascii_user_byte(unsigned char c)
{
    return ascii_is_print(c) ? (char)c : '?';
}

/* ascii_is_alpha - 1 if c is an ASCII letter */
static inline int ascii_is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* ascii_is_alnum - 1 if c is an ASCII letter or digit */
static inline int ascii_is_alnum(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || ascii_is_digit(c);
}

/* ascii_hex - the value of hex digit c (either case), or -1 */
static inline int ascii_hex(unsigned char c)
{
    if (ascii_is_digit(c))
        return c - '0';
    c = ascii_lower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* ascii_ieq - 1 if s[0..n) equals the upper-case word w[0..n), ignoring ASCII case */
static inline int ascii_ieq(const void *s, const char *w, size_t n)
{
    const unsigned char *p = s;
    size_t i;

    for (i = 0; i < n; i++)
        if (ascii_upper(p[i]) != (unsigned char)w[i])
            return 0;
    return 1;
}

#endif
