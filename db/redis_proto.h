/*
 * redis_proto - the key layout and the reply readings both Redis clients share: the
 * blocking store (db/store_redis.c) and the loop's non-blocking reader
 * (db/redis_reader.c). Pure: each function reads a reply hiredis has parsed and says what
 * it means; none does I/O, and none keeps the reply. The callers own the replies.
 *
 * Keys (all under "popauth:"; store_redis.c says what each holds): popauth:grant:ADDRESS,
 * popauth:position:NODE:SOURCE, popauth:counters, popauth:version, popauth:batch:NODE.
 */
#ifndef POPAUTH_REDIS_PROTO_H
#define POPAUTH_REDIS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "db/store.h"

#define REDIS_STORE_VERSION "1" /* the key layout's version, in popauth:version */
#define REDIS_KEY_GRANT     "popauth:grant:"
#define REDIS_KEY_POSITION  "popauth:position:"
#define REDIS_KEY_COUNTERS  "popauth:counters"
#define REDIS_KEY_VERSION   "popauth:version"
#define REDIS_KEY_BATCH     "popauth:batch:"

/* The fields of a grant's hash, in the order redis_proto_grant reads them (HMGET). */
#define REDIS_GRANT_FIELDS  "user", "source", "first_login", "last_login", "logins", "expires"
#define REDIS_GRANT_NFIELDS 6

struct redisReply; /* hiredis.h */

/* redis_proto_endpoint - "HOST:PORT", or "[IPv6]:PORT", into buf; returns buf */
const char *redis_proto_endpoint(const char *host, int port, char *buf, size_t len);
/* redis_proto_int - a string reply element as an integer, or 0 */
int64_t redis_proto_int(const struct redisReply *r);
/* redis_proto_grant - the HMGET reply r (REDIS_GRANT_FIELDS) of address's grant into
 * *out: 1, or 0 if there is none (a field missing counts as none) */
int redis_proto_grant(const struct redisReply *r, const char *address, struct store_grant *out);
/* redis_proto_role_master - 1 if the ROLE reply r says master, else 0 */
int redis_proto_role_master(const struct redisReply *r);
/* redis_proto_sentinel_master - the reply r to SENTINEL get-master-addr-by-name: 0 and
 * the primary's host and port, or -1 and *why (valid while r is) */
int redis_proto_sentinel_master(const struct redisReply *r, char *host, size_t hostlen, int *port,
                                const char **why);
/* redis_proto_version - the reply r to GET popauth:version: 0 if absent or known, else
 * -1 and why ("key layout version 2, this program knows 1") */
int redis_proto_version(const struct redisReply *r, char *why, size_t whylen);
/* redis_proto_drops - 1 if r is an error reply that says the server is not the writable
 * primary we logged in to (READONLY, LOADING, MASTERDOWN, NOAUTH): the connection must
 * be dropped; else 0 */
int redis_proto_drops(const struct redisReply *r);
/* redis_proto_auth - the reply r to AUTH: 0 if accepted, else -1 and why ("AUTH refused:
 * WRONGPASS"), which keeps only the error's first word: a server that echoed its
 * arguments would show the password */
int redis_proto_auth(const struct redisReply *r, char *why, size_t whylen);

#endif
