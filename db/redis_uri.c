/*
 * redis_uri - parsing the location of a Redis store URI (see redis_uri.h).
 */
#include <arpa/inet.h>
#include <string.h>

#include "db/redis_uri.h"
#include "shared/ascii.h"
#include "shared/util.h"

#define REDIS_URI_MAX_DB 15 /* Redis's default "databases 16" */

/* redis_uri_number - the decimal p[0..n) if it is within lo..hi into *out; else -1 */
static int redis_uri_number(const char *p, size_t n, int lo, int hi, int *out)
{
    uint64_t v;

    if (n > 5 || ascii_uint(p, n, (uint64_t)hi, &v) < 0 || v < (uint64_t)lo)
        return -1;
    *out = (int)v;
    return 0;
}

/* redis_uri_span - the length of the run of bytes at p that are in set or alphanumeric */
static size_t redis_uri_span(const char *p, const char *set)
{
    size_t n = 0;

    while (p[n] != '\0' && (ascii_is_alnum((unsigned char)p[n]) || strchr(set, p[n]) != NULL))
        n++;
    return n;
}

/* redis_uri_endpoint - one HOST[:PORT] at *p (moved past it) into e; -1 and err if bad */
static int redis_uri_endpoint(const char **p, int defport, struct redis_endpoint *e, char *err,
                              size_t errlen)
{
    const char *s = *p, *end;
    unsigned char buf[sizeof(struct in6_addr)];
    size_t n;

    if (*s == '[') {
        if ((end = strchr(s, ']')) == NULL || (size_t)(end - s - 1) >= sizeof(e->host))
            return util_seterr(err, errlen, "an IPv6 address without its closing ']'");
        memcpy(e->host, s + 1, (size_t)(end - s - 1));
        e->host[end - s - 1] = '\0';
        if (inet_pton(AF_INET6, e->host, buf) != 1)
            return util_seterr(err, errlen, "'%s' is not an IPv6 address", e->host);
        s = end + 1;
    } else {
        n = redis_uri_span(s, ".-");
        if (n == 0)
            return util_seterr(err, errlen, "a host is missing");
        if (n >= sizeof(e->host))
            return util_seterr(err, errlen, "a host name over %zu bytes", sizeof(e->host) - 1);
        memcpy(e->host, s, n);
        e->host[n] = '\0';
        s += n;
    }
    e->port = defport;
    if (*s == ':') {
        n = ascii_span_digits(s + 1, strlen(s + 1));
        if (redis_uri_number(s + 1, n, 1, 65535, &e->port) < 0)
            return util_seterr(err, errlen, "the port of %s is not a number from 1 to 65535",
                               e->host);
        s += 1 + n;
    }
    *p = s;
    return 0;
}

/* redis_uri_db - "/DB" or "?db=DB" at p (prefix says which), which must end the text */
static int redis_uri_db(const char *p, const char *prefix, struct redis_uri *out, char *err,
                        size_t errlen)
{
    size_t plen = strlen(prefix);

    if (*p == '\0')
        return 0;
    if (strncmp(p, prefix, plen) != 0 ||
        redis_uri_number(p + plen, strlen(p + plen), 0, REDIS_URI_MAX_DB, &out->db) < 0)
        return util_seterr(err, errlen, "'%s' where the end or %sDB (0-%d) belongs", p, prefix,
                           REDIS_URI_MAX_DB);
    return 0;
}

/* redis_uri_parse - see redis_uri.h */
int redis_uri_parse(const char *location, int sentinel, struct redis_uri *out, char *err,
                    size_t errlen)
{
    const char *p = location, *q;
    size_t n;

    memset(out, 0, sizeof(*out));
    out->sentinel = sentinel;
    if (strncmp(p, "//", 2) != 0)
        return util_seterr(err, errlen, "'//' must follow the scheme");
    p += 2;
    if (strchr(p, '@') != NULL)
        return util_seterr(err, errlen,
                           "a user or password does not belong in the URI "
                           "(database_password_file holds them)");
    if (!sentinel && strncmp(p, "unix:", 5) == 0) {
        p += 5;
        q = strchr(p, '?');
        n = q != NULL ? (size_t)(q - p) : strlen(p);
        if (n == 0 || p[0] != '/' || n >= sizeof(out->path))
            return util_seterr(err, errlen, "unix: needs an absolute socket path under %zu bytes",
                               sizeof(out->path));
        memcpy(out->path, p, n);
        out->path[n] = '\0';
        return redis_uri_db(p + n, "?db=", out, err, errlen);
    }
    for (;;) {
        if (out->nhosts == REDIS_URI_MAX_HOSTS)
            return util_seterr(err, errlen, "more than %d hosts", REDIS_URI_MAX_HOSTS);
        if (redis_uri_endpoint(&p, sentinel ? REDIS_SENTINEL_PORT : REDIS_PORT,
                               &out->hosts[out->nhosts++], err, errlen) < 0)
            return -1;
        if (*p != ',')
            break;
        if (!sentinel)
            return util_seterr(err, errlen, "one host only (redis-sentinel:// takes several)");
        p++;
    }
    if (!sentinel)
        return redis_uri_db(p, "/", out, err, errlen);
    if (*p != '/')
        return util_seterr(err, errlen, "the master name is missing (.../MASTER)");
    p++;
    n = redis_uri_span(p, ".-_");
    if (n == 0 || n >= sizeof(out->master))
        return util_seterr(err, errlen, "the master name must be 1-%zu letters, digits or '.-_'",
                           sizeof(out->master) - 1);
    memcpy(out->master, p, n);
    out->master[n] = '\0';
    return redis_uri_db(p + n, "/", out, err, errlen);
}
