/*
 * redis_proto - the key layout and the reply readings both Redis clients share (see
 * redis_proto.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "db/redis_proto.h"
#include "shared/util.h"

/* redis_proto_endpoint - "HOST:PORT", "[IPv6]:PORT" into buf */
const char *redis_proto_endpoint(const char *host, int port, char *buf, size_t len)
{
    snprintf(buf, len, strchr(host, ':') != NULL ? "[%s]:%d" : "%s:%d", host, port);
    return buf;
}

/* redis_proto_int - an integer reply element, or 0 */
int64_t redis_proto_int(const struct redisReply *r)
{
    return r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10) : 0;
}

/* redis_proto_grant - the HMGET reply r of address's grant into *out: 1, or 0 if absent */
int redis_proto_grant(const struct redisReply *r, const char *address, struct store_grant *out)
{
    size_t i;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != REDIS_GRANT_NFIELDS)
        return 0;
    for (i = 0; i < REDIS_GRANT_NFIELDS; i++)
        if (r->element[i]->type != REDIS_REPLY_STRING)
            return 0;
    memset(out, 0, sizeof(*out));
    util_strlcpy(out->address, address, sizeof(out->address));
    util_strlcpy(out->user, r->element[0]->str, sizeof(out->user));
    util_strlcpy(out->source, r->element[1]->str, sizeof(out->source));
    out->first_login = redis_proto_int(r->element[2]);
    out->last_login = redis_proto_int(r->element[3]);
    out->logins = redis_proto_int(r->element[4]);
    out->expires = redis_proto_int(r->element[5]);
    return 1;
}

/* redis_proto_role_master - the ROLE reply r says master */
int redis_proto_role_master(const struct redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
           r->element[0]->type == REDIS_REPLY_STRING && strcmp(r->element[0]->str, "master") == 0;
}

/* redis_proto_sentinel_master - the primary a Sentinel names, or why not */
int redis_proto_sentinel_master(const struct redisReply *r, char *host, size_t hostlen, int *port,
                                const char **why)
{
    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[0]->len < hostlen && atoi(r->element[1]->str) > 0) {
        util_strlcpy(host, r->element[0]->str, hostlen);
        *port = atoi(r->element[1]->str);
        return 0;
    }
    *why = r == NULL                      ? "no reply"
           : r->type == REDIS_REPLY_ERROR ? r->str
           : r->type == REDIS_REPLY_NIL   ? "does not know the master name"
                                          : "an unexpected answer";
    return -1;
}

/* redis_proto_version - the key layout's version is absent or this program's */
int redis_proto_version(const struct redisReply *r, char *why, size_t whylen)
{
    if (r != NULL && (r->type == REDIS_REPLY_NIL ||
                      (r->type == REDIS_REPLY_STRING && strcmp(r->str, REDIS_STORE_VERSION) == 0)))
        return 0;
    return util_seterr(why, whylen, "key layout version %.20s, this program knows %s",
                       r != NULL && r->type == REDIS_REPLY_STRING ? r->str : "?",
                       REDIS_STORE_VERSION);
}

/* redis_proto_drops - an error reply that says this is no longer the primary logged in to */
int redis_proto_drops(const struct redisReply *r)
{
    static const char *const words[] = {"READONLY", "LOADING", "MASTERDOWN", "NOAUTH"};
    size_t i;

    if (r == NULL || r->type != REDIS_REPLY_ERROR || r->str == NULL)
        return 0;
    for (i = 0; i < UTIL_ARRAY_LEN(words); i++)
        if (strncmp(r->str, words[i], strlen(words[i])) == 0)
            return 1;
    return 0;
}

/* redis_proto_auth - AUTH accepted, or the refusal's first word */
int redis_proto_auth(const struct redisReply *r, char *why, size_t whylen)
{
    if (r != NULL && r->type != REDIS_REPLY_ERROR)
        return 0;
    if (r == NULL || r->str == NULL)
        return util_seterr(why, whylen, "AUTH refused");
    return util_seterr(why, whylen, "AUTH refused: %.*s", (int)strcspn(r->str, " "), r->str);
}
