/*
 * fuzz_redis_uri - libFuzzer target for redis_uri_parse. The first byte picks redis://
 * (even) or redis-sentinel:// (odd); the rest is the location. It aborts when a property
 * fails: an accepted URI has 1 to REDIS_URI_MAX_HOSTS hosts with ports 1-65535 (or a unix
 * path and no host), a DB of 0-15, a terminated host that holds no separator the grammar
 * stops at, a non-empty master name for a Sentinel URI and none otherwise; a refused one
 * leaves a message; and the location holds no '@' (no credentials) when accepted.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "db/redis_uri.h"

#define FUZZ_REDIS_URI_MAX 2048

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char text[FUZZ_REDIS_URI_MAX + 1], err[256] = "";
    struct redis_uri u;
    int sentinel, i;

    if (size < 1 || size > FUZZ_REDIS_URI_MAX)
        return 0;
    sentinel = data[0] & 1;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    if (redis_uri_parse(text, sentinel, &u, err, sizeof(err)) < 0) {
        if (err[0] == '\0')
            abort();
        return 0;
    }
    if (strchr(text, '@') != NULL || u.db < 0 || u.db > 15 || u.sentinel != sentinel)
        abort();
    if (u.path[0] != '\0') {
        if (sentinel || u.nhosts != 0 || u.path[0] != '/')
            abort();
        return 0;
    }
    if (u.nhosts < 1 || u.nhosts > REDIS_URI_MAX_HOSTS || (!sentinel && u.nhosts != 1))
        abort();
    if ((sentinel && u.master[0] == '\0') || (!sentinel && u.master[0] != '\0'))
        abort();
    for (i = 0; i < u.nhosts; i++) {
        if (u.hosts[i].port < 1 || u.hosts[i].port > 65535 || u.hosts[i].host[0] == '\0' ||
            memchr(u.hosts[i].host, '\0', sizeof(u.hosts[i].host)) == NULL ||
            strpbrk(u.hosts[i].host, ",/?@[]") != NULL)
            abort();
    }
    return 0;
}
