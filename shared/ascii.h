/*
 * ascii - character classes and case folding for protocol text, by the ASCII table
 * alone: the parsers must not depend on the C library's locale (isalpha and toupper
 * may accept bytes over 127 in some locales). Header only: the functions are inline,
 * on the parsers' hot paths.
 */
#ifndef POPAUTH_ASCII_H
#define POPAUTH_ASCII_H

#include <stddef.h>

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
