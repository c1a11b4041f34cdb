/*
 * cidr - network lists ("10.0.0.0/8, 2001:db8::/32, 192.0.2.7") and membership tests.
 *
 * A list is built with cidr_list_add, then sealed with cidr_list_finish, which sorts the
 * networks into merged, non-overlapping address ranges per family so that
 * cidr_list_match is a binary search: O(log n) for any number of entries. Host bits
 * after the prefix are allowed and cleared ("10.1.2.3/8" is 10.0.0.0/8). A bare address
 * is a /32 or /128. An IPv4-mapped IPv6 network with a prefix of 96 or more is the
 * IPv4 network it maps.
 *
 * Families never cross: an IPv6 network (even ::/0) never matches an IPv4 address, nor
 * an IPv4 network an IPv6 address. A list that was not finished, or had networks added
 * after cidr_list_finish, is still matched correctly, by a linear scan. A list holds at
 * most CIDR_LIST_MAX networks; cidr_list_add refuses more.
 */
#ifndef POPAUTH_CIDR_H
#define POPAUTH_CIDR_H

#include <stddef.h>

#include "shared/addr.h"

#define CIDR_LIST_MAX 1048576 /* networks per list */

struct cidr {
    struct addr addr; /* the network address, host bits cleared */
    int prefix;       /* 0-32 for AF_INET, 0-128 for AF_INET6 */
};

struct cidr_list; /* opaque */

/* cidr_parse - parse "ADDR" or "ADDR/PREFIX"; -1 and err on bad input */
int cidr_parse(const char *text, size_t len, struct cidr *out, char *err, size_t errlen);
/* cidr_format - print a network as ADDR/PREFIX into buf; returns buf */
char *cidr_format(const struct cidr *c, char *buf, size_t buflen);

/* cidr_list_new - an empty list (matches nothing); free with cidr_list_free */
struct cidr_list *cidr_list_new(void);
/* cidr_list_add - parse one network and add it; -1 and err on bad input */
int cidr_list_add(struct cidr_list *list, const char *text, size_t len, char *err, size_t errlen);
/* cidr_list_finish - sort and merge; required after the last add and before matching */
void cidr_list_finish(struct cidr_list *list);
/* cidr_list_match - 1 if a lies in any network of the (finished) list, else 0 */
int cidr_list_match(const struct cidr_list *list, const struct addr *a);
/* cidr_list_count - number of networks added */
size_t cidr_list_count(const struct cidr_list *list);
/* cidr_list_free - release the list; NULL is allowed */
void cidr_list_free(struct cidr_list *list);

#endif
