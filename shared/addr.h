/*
 * addr - client IP addresses: strict parsing and canonical printing.
 *
 * Every address the product stores or compares goes through addr_parse and comes out of
 * addr_format, so "2001:DB8::1", "2001:db8:0::1" and "::ffff:192.0.2.1" / "192.0.2.1"
 * each have exactly one text form. IPv4 is dotted decimal with four parts, each 0-255
 * without leading zeros; IPv6 is RFC 4291 text (inet_pton); an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) is the IPv4 address a.b.c.d. Anything else is refused: no brackets,
 * zone ids, white space, or trailing text.
 */
#ifndef POPAUTH_ADDR_H
#define POPAUTH_ADDR_H

#include <stddef.h>
#include <stdint.h>

#define ADDR_STRLEN 46 /* INET6_ADDRSTRLEN */

struct addr {
    int family;        /* AF_INET or AF_INET6 */
    uint8_t bytes[16]; /* network order; AF_INET uses the first 4 */
};

/* addr_parse - parse len bytes of text as an IP address; -1 and err on bad input */
int addr_parse(const char *text, size_t len, struct addr *out, char *err, size_t errlen);
/* addr_format - canonical text of a into buf (ADDR_STRLEN bytes); returns buf */
char *addr_format(const struct addr *a, char *buf, size_t buflen);
/* addr_canonical - parse text and write its canonical form into buf; -1 and err if bad */
int addr_canonical(const char *text, char *buf, size_t buflen, char *err, size_t errlen);
/* addr_compare - total order: IPv4 before IPv6, then by bytes; returns <0, 0, >0 */
int addr_compare(const struct addr *a, const struct addr *b);

#endif
