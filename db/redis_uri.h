/*
 * redis_uri - the location part of a Redis store URI, parsed: pure, no I/O.
 *
 *   redis://HOST[:PORT][/DB]                one server; HOST an IPv4 address, a host
 *                                           name or [IPv6]; PORT 6379; DB 0
 *   redis://unix:PATH[?db=DB]               one server on a unix socket (PATH absolute)
 *   redis-sentinel://HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]
 *                                           the primary that these Sentinels name MASTER;
 *                                           PORT 26379
 *
 * store_uri_parse has already taken the scheme and its ':' off, so the parser sees the
 * text from "//" on. Everything is checked: a port 1-65535, DB 0-15, at most
 * REDIS_URI_MAX_HOSTS Sentinels, MASTER of letters, digits and ".-_", a host name of
 * letters, digits and ".-", an IPv6 address that inet_pton accepts; nothing may follow.
 */
#ifndef POPAUTH_REDIS_URI_H
#define POPAUTH_REDIS_URI_H

#include <stddef.h>

#define REDIS_URI_MAX_HOSTS 8
#define REDIS_URI_HOST_MAX  256 /* bytes of a host, NUL included */
#define REDIS_URI_PATH_MAX  108 /* sun_path */
#define REDIS_URI_NAME_MAX  65  /* bytes of a Sentinel master name, NUL included */
#define REDIS_PORT          6379
#define REDIS_SENTINEL_PORT 26379

struct redis_endpoint {
    char host[REDIS_URI_HOST_MAX]; /* without brackets; "" for a unix socket */
    int port;
};

struct redis_uri {
    int sentinel;                                     /* redis-sentinel:// */
    char path[REDIS_URI_PATH_MAX];                    /* redis://unix:PATH; else "" */
    struct redis_endpoint hosts[REDIS_URI_MAX_HOSTS]; /* the server, or the Sentinels */
    int nhosts;
    char master[REDIS_URI_NAME_MAX]; /* the Sentinels' name of the primary */
    int db;
};

/* redis_uri_parse - parse location (after "redis:" if sentinel is 0, after
 * "redis-sentinel:" if 1) into *out; -1 and err saying what is wrong */
int redis_uri_parse(const char *location, int sentinel, struct redis_uri *out, char *err,
                    size_t errlen);

#endif
