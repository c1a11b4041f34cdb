/*
 * store_redis - the grant store in Redis, for a cluster of POP servers and gates:
 * "redis://HOST:PORT/DB", "redis://unix:PATH?db=DB", or the primary that Sentinels name,
 * "redis-sentinel://HOST:PORT,HOST:PORT/MASTER/DB" (db/redis_uri.h).
 *
 * Keys (all under "popauth:"):
 *   popauth:grant:ADDRESS           hash: user, source, first_login, last_login, logins,
 *                                   expires; Redis itself deletes it at expires (PEXPIREAT)
 *   popauth:position:NODE:SOURCE    hash: device, inode, offset, head, cursor, updated; the
 *                                   log positions of the popauth on host NODE
 *                                   (redis_node_name)
 *   popauth:counters                hash: "SOURCE|NAME" -> the count, summed over the nodes
 *   popauth:version                 the key layout's version, REDIS_STORE_VERSION
 *
 * A writer's batch (store_begin .. store_commit) is kept here and sent at the commit as
 * calls of a server-side script (loaded once per connection, EVALSHA), each of at most
 * REDIS_PART_GRANTS grants so that none holds Redis for long (Redis runs a script to its
 * end before anything else); the positions and counter deltas go with the last call, so
 * they change together with the last grants, and never before all the batch's grants
 * are written. A batch that fails part way is written again whole by the caller. The script upserts
 * as the SQLite store does: the later expiry wins, first_login never moves forward, last_login
 * never back, user and source follow the newest login, logins counts. With redis_wait_replicas N
 * the commit then waits (WAIT) until N replicas have it; fewer within redis_timeout is a failed
 * commit, so popauth keeps the batch and its positions stay where they were.
 *
 * Failing closed: every error (no connection, a timeout, a reply that says the server is
 * not the writable primary) is -1, which smtpgate turns into a deferral. The connection is
 * then dropped, and the next call connects again (asking the Sentinels again for the
 * primary, and checking with ROLE that the server is one), no sooner than a backoff that
 * doubles from REDIS_BACKOFF_MIN to REDIS_BACKOFF_MAX seconds. A connection must reach a
 * primary: a replica never answers a lookup, since it may not have seen a revoke yet.
 *
 * The key names and the reading of replies are db/redis_proto.h's, which smtpgate's
 * non-blocking reader (db/redis_reader.c) shares.
 *
 * The password (database_password_file, store_configure) goes to the server in AUTH and
 * nowhere else: never into a message. Store and read_begin snapshots: Redis answers each
 * lookup from its current data, so read_begin and read_end do nothing; expired grants are
 * gone by themselves, so purge has nothing to do.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "db/redis_proto.h"
#include "db/redis_uri.h"
#include "db/store_backend.h"
#include "shared/util.h"

#define REDIS_BACKOFF_MIN   0.1 /* seconds before the first reconnect */
#define REDIS_BACKOFF_MAX   5.0 /* and at most */
#define REDIS_SCAN_COUNT    "1000"
#define REDIS_GRANT_ARGS    6    /* user, source, first, last, logins, expires */
#define REDIS_ROLE_EVERY    1.0  /* seconds between a reader's checks that it reads the primary */
#define REDIS_POSITION_ARGS 5    /* device, inode, offset, head, cursor; Redis adds updated */
#define REDIS_PART_GRANTS   2048 /* grants in one script call (a few ms of Redis's time) */

/*
 * The batch script: one part of a batch. KEYS: the node's batch key, the grants' keys, the
 * positions' keys, then the counters' key if there are counters. ARGV: the three counts,
 * the batch's token and the part's number, then per grant user, source, first, last,
 * logins, expires; per position device, inode, offset, head, cursor (updated is Redis's
 * TIME); per counter field, delta. A part already applied (the batch key holds its token and a part
 * number at least as high) changes nothing, so a batch sent again after a lost answer or a WAIT
 * shortfall counts nothing twice. A grant merges into the hash there, as the SQLite
 * upsert does; a key of another type or a hash without its numbers is replaced, and a
 * counter that is not an integer starts again, so that no call can fail half way (Redis
 * does not undo what a failed script wrote).
 */
static const char redis_batch_script[] =
    "local n, m, k = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local token, part = ARGV[4], tonumber(ARGV[5])\n"
    "local function kind(key, want)\n"
    "  local t = redis.call('TYPE', key).ok\n"
    "  if t ~= 'none' and t ~= want then redis.call('DEL', key); t = 'none' end\n"
    "  return t\n"
    "end\n"
    "if kind(KEYS[1], 'string') == 'string' then\n"
    "  local t, p = string.match(redis.call('GET', KEYS[1]), '^(%S+) (%d+)$')\n"
    "  if t == token and tonumber(p) >= part then return 0 end\n"
    "end\n"
    "local a = 6\n"
    "for i = 1, n do\n"
    "  local key, user, source = KEYS[1 + i], ARGV[a], ARGV[a + 1]\n"
    "  local first, last = tonumber(ARGV[a + 2]), tonumber(ARGV[a + 3])\n"
    "  local logins, expires = tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5])\n"
    "  a = a + 6\n"
    "  if kind(key, 'hash') == 'hash' then\n"
    "    local o = redis.call('HMGET', key, 'first_login', 'last_login', 'logins', 'expires')\n"
    "    local of, ol, on, oe = tonumber(o[1]), tonumber(o[2]), tonumber(o[3]), tonumber(o[4])\n"
    "    if of and ol and on and oe then\n"
    "      if last < ol then user, source = nil, nil end\n"
    "      if of < first then first = of end\n"
    "      if ol > last then last = ol end\n"
    "      if oe > expires then expires = oe end\n"
    "      logins = on + logins\n"
    "    else\n"
    "      redis.call('DEL', key)\n"
    "    end\n"
    "  end\n"
    "  if user then redis.call('HSET', key, 'user', user, 'source', source) end\n"
    "  redis.call('HSET', key, 'first_login', string.format('%d', first),\n"
    "    'last_login', string.format('%d', last), 'logins', string.format('%d', logins),\n"
    "    'expires', string.format('%d', expires))\n"
    "  redis.call('PEXPIREAT', key, string.format('%d', expires * 1000))\n"
    "end\n"
    "local now = redis.call('TIME')[1]\n"
    "for i = 1, m do\n"
    "  kind(KEYS[1 + n + i], 'hash')\n"
    "  redis.call('HSET', KEYS[1 + n + i], 'device', ARGV[a], 'inode', ARGV[a + 1],\n"
    "    'offset', ARGV[a + 2], 'head', ARGV[a + 3], 'cursor', ARGV[a + 4],\n"
    "    'updated', now)\n"
    "  a = a + 5\n"
    "end\n"
    "if k > 0 then kind(KEYS[2 + n + m], 'hash') end\n"
    "for i = 1, k do\n"
    "  local v = redis.call('HGET', KEYS[2 + n + m], ARGV[a])\n"
    "  if v and not string.match(v, '^%-?%d+$') then redis.call('HDEL', KEYS[2 + n + m], ARGV[a]) "
    "end\n"
    "  redis.call('HINCRBY', KEYS[2 + n + m], ARGV[a], ARGV[a + 1])\n"
    "  a = a + 2\n"
    "end\n"
    "redis.call('SET', KEYS[1], token .. ' ' .. part)\n"
    "return n\n";

/* A growing list of command arguments, each its own copy. */
struct redis_args {
    char **v;
    size_t *len;
    size_t n, cap;
};

struct store_redis {
    char name[512]; /* the URI, for messages (it holds no secret) */
    struct redis_uri uri;
    enum store_mode mode;
    redisContext *c;               /* NULL while not connected */
    char where[300];               /* the server connected to, "HOST:PORT" or PATH */
    int sentinel_first;            /* the Sentinel to ask first: the one that answered last */
    double retry_at;               /* monotonic time before which no reconnect is tried */
    double backoff;                /* the wait after the next failure */
    char lasterr[512];             /* why the last connect failed */
    char sha[41];                  /* the batch script's SHA1 on this connection */
    char host[REDIS_URI_HOST_MAX]; /* the primary connected to (not for a unix socket) */
    int port;
    double next_role;      /* when store_stale checks the server's role next */
    char token[17];        /* the batch being sent: its token, */
    uint64_t token_digest; /* the digest of its content, */
    int token_kept;        /* and its last sending failed: send it again as that */
    int in_batch;
    struct redis_batch {
        struct redis_args gkeys, gargs; /* the grants' keys and their REDIS_GRANT_ARGS each */
        struct redis_args pkeys, pargs; /* the positions' keys and REDIS_POSITION_ARGS each */
        struct redis_args counters;     /* field, delta pairs */
    } b;
};

/* redis_args_add - append a copy of the len bytes at p */
static void redis_args_add(struct redis_args *a, const char *p, size_t len)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->v = xrealloc(a->v, a->cap * sizeof(*a->v));
        a->len = xrealloc(a->len, a->cap * sizeof(*a->len));
    }
    a->v[a->n] = xmalloc(len + 1);
    memcpy(a->v[a->n], p, len);
    a->v[a->n][len] = '\0';
    a->len[a->n++] = len;
}

/* redis_args_str - append a copy of the string s */
static void redis_args_str(struct redis_args *a, const char *s)
{
    redis_args_add(a, s, strlen(s));
}

/* redis_args_fmt - append a formatted argument */
static void redis_args_fmt(struct redis_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void redis_args_fmt(struct redis_args *a, const char *fmt, ...)
{
    char buf[600];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    redis_args_add(a, buf, n < 0 ? 0 : (size_t)n >= sizeof(buf) ? sizeof(buf) - 1 : (size_t)n);
}

/* redis_args_clear - drop every argument, keep the arrays */
static void redis_args_clear(struct redis_args *a)
{
    size_t i;

    for (i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
}

/* redis_args_free - drop the arguments and the arrays */
static void redis_args_free(struct redis_args *a)
{
    redis_args_clear(a);
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof(*a));
}

/* redis_timeval - redis_timeout as a struct timeval */
static struct timeval redis_timeval(void)
{
    int ms = store_settings()->timeout_ms;
    struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

    return tv;
}

/* redis_open_context - a connection to host:port or to the unix socket path, with the
 * timeout set; NULL and err naming what if it fails */
static redisContext *redis_open_context(const char *host, int port, const char *path, char *err,
                                        size_t errlen)
{
    struct timeval tv = redis_timeval();
    redisContext *c = path[0] != '\0' ? redisConnectUnixWithTimeout(path, tv)
                                      : redisConnectWithTimeout(host, port, tv);
    char where[300];

    if (path[0] == '\0')
        redis_proto_endpoint(host, port, where, sizeof(where));
    if (c == NULL || c->err) {
        util_seterr(err, errlen, "%s: %s", path[0] != '\0' ? path : where,
                    c != NULL ? c->errstr : "out of memory");
        redisFree(c);
        return NULL;
    }
    if (redisSetTimeout(c, tv) != REDIS_OK) {
        util_seterr(err, errlen, "%s: setting the timeout: %s", path[0] != '\0' ? path : where,
                    c->errstr);
        redisFree(c);
        return NULL;
    }
    return c;
}

/* redis_drop - close the connection after an error; the next call connects again */
static void redis_drop(struct store_redis *s)
{
    redisFree(s->c);
    s->c = NULL;
    s->sha[0] = '\0';
}

/* redis_call - run argv on the connection: the reply, or NULL and err (the connection is
 * dropped on an I/O error and on replies that say this is no longer the primary) */
static redisReply *redis_call(struct store_redis *s, int argc, const char **argv, const size_t *len,
                              char *err, size_t errlen)
{
    redisReply *r = redisCommandArgv(s->c, argc, argv, len);

    if (r == NULL) {
        util_seterr(err, errlen, "database %s: %s %s: %s", s->name, s->where, argv[0],
                    s->c->errstr[0] ? s->c->errstr : "no reply");
        redis_drop(s);
        return NULL;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        util_seterr(err, errlen, "database %s: %s %s: %.*s", s->name, s->where, argv[0],
                    (int)(r->len > 200 ? 200 : r->len), r->str);
        if (redis_proto_drops(r))
            redis_drop(s);
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

/* redis_callv - redis_call of a NULL-terminated list of string arguments */
static redisReply *redis_callv(struct store_redis *s, char *err, size_t errlen, ...)
{
    const char *argv[16];
    size_t len[16];
    int argc = 0;
    va_list ap;

    va_start(ap, errlen);
    while (argc < 16 && (argv[argc] = va_arg(ap, const char *)) != NULL) {
        len[argc] = strlen(argv[argc]);
        argc++;
    }
    va_end(ap);
    return redis_call(s, argc, argv, len, err, errlen);
}

/* redis_ask_sentinels - the primary's address, from the first Sentinel that names one */
static int redis_ask_sentinels(struct store_redis *s, char *host, size_t hostlen, int *port,
                               char *err, size_t errlen)
{
    char why[512] = "no Sentinel answered", where[300];
    const char *what = "";
    int i;

    for (i = 0; i < s->uri.nhosts; i++) {
        int k = (s->sentinel_first + i) % s->uri.nhosts;
        const struct redis_endpoint *e = &s->uri.hosts[k];
        redisContext *c = redis_open_context(e->host, e->port, "", why, sizeof(why));
        redisReply *r;

        if (c == NULL)
            continue;
        r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", s->uri.master);
        redis_proto_endpoint(e->host, e->port, where, sizeof(where));
        if (r != NULL && redis_proto_sentinel_master(r, host, hostlen, port, &what) == 0) {
            s->sentinel_first = k;
            freeReplyObject(r);
            redisFree(c);
            return 0;
        }
        util_seterr(why, sizeof(why), "Sentinel %s: %s", where, r == NULL ? c->errstr : what);
        freeReplyObject(r);
        redisFree(c);
    }
    return util_seterr(err, errlen, "database %s: no primary for %s: %s", s->name, s->uri.master,
                       why);
}

/* redis_role_master - the server answers ROLE with master: 1, 0 if not, -1 and err */
static int redis_role_master(struct store_redis *s, char *err, size_t errlen)
{
    redisReply *r = redis_callv(s, err, errlen, "ROLE", NULL);
    int master;

    if (r == NULL)
        return -1;
    master = redis_proto_role_master(r);
    freeReplyObject(r);
    return master;
}

/* redis_setup - on a new connection: AUTH, SELECT, check that it is the primary and the
 * key layout's version, load the batch script (writers) */
static int redis_setup(struct store_redis *s, char *err, size_t errlen)
{
    const struct store_settings *cfg = store_settings();
    char db[8], why[256];
    redisReply *r;
    int ok;

    if (cfg->password[0] != '\0') {
        r = cfg->user[0] != '\0' ? redisCommand(s->c, "AUTH %s %s", cfg->user, cfg->password)
                                 : redisCommand(s->c, "AUTH %s", cfg->password);
        ok = r != NULL && redis_proto_auth(r, why, sizeof(why)) == 0;
        if (!ok && r != NULL)
            util_seterr(err, errlen, "database %s: %s %s", s->name, s->where, why);
        else if (!ok)
            util_seterr(err, errlen, "database %s: %s AUTH: %s", s->name, s->where, s->c->errstr);
        freeReplyObject(r);
        if (!ok)
            return -1;
    }
    snprintf(db, sizeof(db), "%d", s->uri.db);
    if (s->uri.db != 0 && (r = redis_callv(s, err, errlen, "SELECT", db, NULL)) == NULL)
        return -1;
    if (s->uri.db != 0)
        freeReplyObject(r);
    if ((ok = redis_role_master(s, err, errlen)) < 0)
        return -1;
    if (!ok)
        return util_seterr(err, errlen, "database %s: %s is a replica, not the primary", s->name,
                           s->where);
    if ((r = redis_callv(s, err, errlen, "GET", REDIS_KEY_VERSION, NULL)) == NULL)
        return -1;
    ok = redis_proto_version(r, why, sizeof(why)) == 0;
    if (!ok)
        util_seterr(err, errlen, "database %s: %s", s->name, why);
    freeReplyObject(r);
    if (!ok)
        return -1;
    if (s->mode == STORE_READONLY)
        return 0;
    if ((r = redis_callv(s, err, errlen, "SET", REDIS_KEY_VERSION, REDIS_STORE_VERSION, "NX",
                         NULL)) == NULL)
        return -1;
    freeReplyObject(r);
    if ((r = redis_callv(s, err, errlen, "SCRIPT", "LOAD", redis_batch_script, NULL)) == NULL)
        return -1;
    ok = r->type == REDIS_REPLY_STRING && r->len == 40;
    if (ok)
        memcpy(s->sha, r->str, 41);
    freeReplyObject(r);
    if (!ok)
        return util_seterr(err, errlen, "database %s: SCRIPT LOAD gave no SHA1", s->name);
    return 0;
}

/* redis_connect - connect to the server or the Sentinels' primary and set it up */
static int redis_connect(struct store_redis *s, char *err, size_t errlen)
{
    char host[REDIS_URI_HOST_MAX], why[512];
    int port = 0;

    if (s->uri.sentinel) {
        if (redis_ask_sentinels(s, host, sizeof(host), &port, err, errlen) < 0)
            return -1;
    } else {
        util_strlcpy(host, s->uri.hosts[0].host, sizeof(host));
        port = s->uri.hosts[0].port;
    }
    if (s->uri.path[0] != '\0')
        util_strlcpy(s->where, s->uri.path, sizeof(s->where));
    else
        redis_proto_endpoint(host, port, s->where, sizeof(s->where));
    util_strlcpy(s->host, host, sizeof(s->host));
    s->port = port;
    s->next_role = util_now() + REDIS_ROLE_EVERY;
    if ((s->c = redis_open_context(host, port, s->uri.path, why, sizeof(why))) == NULL)
        return util_seterr(err, errlen, "database %s: %s", s->name, why);
    if (redis_setup(s, err, errlen) < 0) {
        redis_drop(s);
        return -1;
    }
    return 0;
}

/* redis_ready - a connection to use: the current one, or a new one once the backoff since
 * the last failure has passed; -1 and err if there is none */
static int redis_ready(struct store_redis *s, char *err, size_t errlen)
{
    double now = util_now();

    if (s->c != NULL)
        return 0;
    if (now < s->retry_at)
        return util_seterr(err, errlen, "%s (next attempt in %.1f s)", s->lasterr,
                           s->retry_at - now);
    if (redis_connect(s, s->lasterr, sizeof(s->lasterr)) == 0) {
        s->backoff = 0;
        return 0;
    }
    s->backoff = s->backoff == 0 ? REDIS_BACKOFF_MIN : s->backoff * 2;
    if (s->backoff > REDIS_BACKOFF_MAX)
        s->backoff = REDIS_BACKOFF_MAX;
    s->retry_at = now + s->backoff;
    return util_seterr(err, errlen, "%s", s->lasterr);
}

/*
 * redis_stale - for a long-lived reader (smtpgate), at most every REDIS_ROLE_EVERY
 * seconds: is the server it reads still the primary? Redis does not close a client's
 * connection when the server becomes a replica, and a replica may lack a revoke. 1 (the
 * reader reopens, which asks the Sentinels again) if ROLE no longer says master, or if a
 * Sentinel now names another primary; -1 if ROLE cannot be asked; else 0.
 */
static int redis_stale(void *h, char *err, size_t errlen)
{
    struct store_redis *s = h;
    char host[REDIS_URI_HOST_MAX], why[512];
    double now = util_now();
    int port, rc;

    if (s->c == NULL || now < s->next_role)
        return 0;
    s->next_role = now + REDIS_ROLE_EVERY;
    if ((rc = redis_role_master(s, err, errlen)) <= 0)
        return rc < 0 ? -1 : 1;
    if (s->uri.sentinel &&
        redis_ask_sentinels(s, host, sizeof(host), &port, why, sizeof(why)) == 0 &&
        (strcmp(host, s->host) != 0 || port != s->port))
        return 1; /* with no Sentinel answering, ROLE is all there is to go by */
    return 0;
}

/* redis_check - the URI must parse */
static int redis_check_uri(const char *location, int sentinel, char *err, size_t errlen)
{
    struct redis_uri u;
    char why[256];

    if (redis_uri_parse(location, sentinel, &u, why, sizeof(why)) < 0)
        return util_seterr(err, errlen, "database %s:%s: %s", sentinel ? "redis-sentinel" : "redis",
                           location, why);
    return 0;
}

static int redis_check(const char *location, char *err, size_t errlen)
{
    return redis_check_uri(location, 0, err, errlen);
}

static int redis_sentinel_check(const char *location, char *err, size_t errlen)
{
    return redis_check_uri(location, 1, err, errlen);
}

/* redis_close - close the connection and free the handle */
static void redis_close(void *h)
{
    struct store_redis *s = h;

    if (s == NULL)
        return;
    redisFree(s->c);
    redis_args_free(&s->b.gkeys);
    redis_args_free(&s->b.gargs);
    redis_args_free(&s->b.pkeys);
    redis_args_free(&s->b.pargs);
    redis_args_free(&s->b.counters);
    free(s);
}

/* redis_open_uri - parse, connect and check the store at location */
static void *redis_open_uri(const char *location, int sentinel, enum store_mode mode, char *err,
                            size_t errlen)
{
    struct store_redis *s = xcalloc(1, sizeof(*s));

    if (redis_check_uri(location, sentinel, err, errlen) < 0) {
        free(s);
        return NULL;
    }
    redis_uri_parse(location, sentinel, &s->uri, NULL, 0);
    snprintf(s->name, sizeof(s->name), "%s:%s", sentinel ? "redis-sentinel" : "redis", location);
    s->mode = mode;
    if (redis_connect(s, err, errlen) < 0) {
        redis_close(s);
        return NULL;
    }
    return s;
}

static void *redis_open(const char *location, enum store_mode mode, char *err, size_t errlen)
{
    return redis_open_uri(location, 0, mode, err, errlen);
}

static void *redis_sentinel_open(const char *location, enum store_mode mode, char *err,
                                 size_t errlen)
{
    return redis_open_uri(location, 1, mode, err, errlen);
}

/* redis_writer - -1 and err on a read-only handle */
static int redis_writer(const struct store_redis *s, char *err, size_t errlen)
{
    if (s->mode == STORE_READONLY)
        return util_seterr(err, errlen, "database %s: opened read-only", s->name);
    return 0;
}

/* redis_batch_clear - an empty batch */
static void redis_batch_clear(struct redis_batch *b)
{
    redis_args_clear(&b->gkeys);
    redis_args_clear(&b->gargs);
    redis_args_clear(&b->pkeys);
    redis_args_clear(&b->pargs);
    redis_args_clear(&b->counters);
}

/* redis_begin - start keeping a batch */
static int redis_begin(void *h, char *err, size_t errlen)
{
    struct store_redis *s = h;

    if (redis_writer(s, err, errlen) < 0)
        return -1;
    redis_batch_clear(&s->b);
    s->in_batch = 1;
    return 0;
}

/* redis_rollback - forget the batch */
static int redis_rollback(void *h, char *err, size_t errlen)
{
    struct store_redis *s = h;

    (void)err, (void)errlen;
    s->in_batch = 0;
    redis_batch_clear(&s->b);
    return 0;
}

/* redis_wait - with redis_wait_replicas, wait until that many replicas have the writes */
static int redis_wait(struct store_redis *s, char *err, size_t errlen)
{
    const struct store_settings *cfg = store_settings();
    struct timeval tv = redis_timeval();
    char n[16], ms[16];
    redisReply *r;
    long long got;

    if (cfg->wait_replicas <= 0)
        return 0;
    snprintf(n, sizeof(n), "%d", cfg->wait_replicas);
    snprintf(ms, sizeof(ms), "%d", cfg->timeout_ms);
    /* WAIT itself takes up to the timeout: the reply may come a little later */
    tv.tv_sec += 1;
    if (redisSetTimeout(s->c, tv) != REDIS_OK) {
        util_seterr(err, errlen, "database %s: setting the timeout: %s", s->name, s->c->errstr);
        redis_drop(s);
        return -1;
    }
    r = redis_callv(s, err, errlen, "WAIT", n, ms, NULL);
    if (s->c != NULL && redisSetTimeout(s->c, redis_timeval()) != REDIS_OK)
        redis_drop(s);
    if (r == NULL)
        return -1;
    got = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    if (got < cfg->wait_replicas)
        return util_seterr(err, errlen,
                           "database %s: %lld of the %d replicas (redis_wait_replicas) confirmed "
                           "the commit within %d ms (the primary has it)",
                           s->name, got < 0 ? 0 : got, cfg->wait_replicas, cfg->timeout_ms);
    return 0;
}

/* redis_args_copy - append n arguments of from, from the first'th on */
static void redis_args_copy(struct redis_args *to, const struct redis_args *from, size_t first,
                            size_t n)
{
    size_t i;

    for (i = first; i < first + n; i++)
        redis_args_add(to, from->v[i], from->len[i]);
}

/* redis_send_part - one EVALSHA of the batch script: the grants first .. first + n - 1,
 * and with last the positions and counters too; loads the script again if the server
 * lost it */
static int redis_send_part(struct store_redis *s, size_t first, size_t n, int last, char *err,
                           size_t errlen)
{
    const struct redis_batch *b = &s->b;
    size_t npos = last ? b->pkeys.n : 0, ncount = last ? b->counters.n : 0, j;
    struct redis_args cmd = {0};
    const char **argv = NULL;
    redisReply *r = NULL;
    int attempt;

    for (attempt = 0; attempt < 2 && r == NULL; attempt++) {
        if (redis_ready(s, err, errlen) < 0)
            break;
        redis_args_clear(&cmd);
        redis_args_str(&cmd, "EVALSHA");
        redis_args_str(&cmd, s->sha);
        redis_args_fmt(&cmd, "%zu", 1 + n + npos + (ncount > 0));
        redis_args_fmt(&cmd, REDIS_KEY_BATCH "%s", store_settings()->node);
        redis_args_copy(&cmd, &b->gkeys, first, n);
        redis_args_copy(&cmd, &b->pkeys, 0, npos);
        if (ncount > 0)
            redis_args_str(&cmd, REDIS_KEY_COUNTERS);
        redis_args_fmt(&cmd, "%zu", n);
        redis_args_fmt(&cmd, "%zu", npos);
        redis_args_fmt(&cmd, "%zu", ncount / 2);
        redis_args_str(&cmd, s->token);
        redis_args_fmt(&cmd, "%zu", first / REDIS_PART_GRANTS + 1);
        redis_args_copy(&cmd, &b->gargs, first * REDIS_GRANT_ARGS, n * REDIS_GRANT_ARGS);
        redis_args_copy(&cmd, &b->pargs, 0, npos * REDIS_POSITION_ARGS);
        redis_args_copy(&cmd, &b->counters, 0, ncount);
        argv = xrealloc(argv, cmd.n * sizeof(*argv));
        for (j = 0; j < cmd.n; j++)
            argv[j] = cmd.v[j];
        r = redis_call(s, (int)cmd.n, argv, cmd.len, err, errlen);
        if (r == NULL && (s->c == NULL || strstr(err, "NOSCRIPT") == NULL))
            break;
        if (r == NULL)
            redis_drop(s); /* a flushed script cache: set the connection up again */
    }
    redis_args_free(&cmd);
    free(argv);
    freeReplyObject(r);
    return r != NULL ? 0 : -1;
}

/* redis_send_batch - the batch in parts of at most REDIS_PART_GRANTS grants, so that no
 * script holds Redis (and every gate's lookups) for long; the positions and counters go
 * with the last part, so they never cover grants that are not written yet; then WAIT */
static int redis_send_batch(struct store_redis *s, char *err, size_t errlen)
{
    size_t first = 0, total = s->b.gkeys.n, n;

    do {
        n = total - first < REDIS_PART_GRANTS ? total - first : REDIS_PART_GRANTS;
        if (redis_send_part(s, first, n, first + n == total, err, errlen) < 0)
            return -1;
        first += n;
    } while (first < total);
    return redis_wait(s, err, errlen);
}

/* redis_digest - FNV-1a of every argument of the batch, and their lengths */
static uint64_t redis_digest(const struct redis_batch *b)
{
    const struct redis_args *parts[] = {&b->gkeys, &b->gargs, &b->pkeys, &b->pargs, &b->counters};
    uint64_t h = 14695981039346656037ULL;
    size_t i, j, k;

    for (i = 0; i < UTIL_ARRAY_LEN(parts); i++)
        for (j = 0; j < parts[i]->n; j++) {
            for (k = 0; k < parts[i]->len[j]; k++)
                h = (h ^ (unsigned char)parts[i]->v[j][k]) * 1099511628211ULL;
            h = (h ^ parts[i]->len[j]) * 1099511628211ULL;
        }
    return h;
}

/* redis_token - the batch's token: the one of its last sending if that failed and this is
 * the same batch again (so that Redis skips what it applied then), else a new random one */
static int redis_token(struct store_redis *s, char *err, size_t errlen)
{
    uint64_t digest = redis_digest(&s->b), r;

    if (s->token_kept && digest == s->token_digest)
        return 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return util_seterr(err, errlen, "database %s: getrandom: %s", s->name, strerror(errno));
    snprintf(s->token, sizeof(s->token), "%016llx", (unsigned long long)r);
    s->token_digest = digest;
    return 0;
}

/* redis_commit - send the batch; it is gone either way (a failed batch is written again
 * by the caller, and then goes with the same token) */
static int redis_commit(void *h, char *err, size_t errlen)
{
    struct store_redis *s = h;
    int rc = 0;

    if (redis_writer(s, err, errlen) < 0)
        return -1;
    if (s->b.gkeys.n > 0 || s->b.pkeys.n > 0 || s->b.counters.n > 0) {
        rc = redis_token(s, err, errlen) < 0 ? -1 : redis_send_batch(s, err, errlen);
        s->token_kept = rc < 0;
    }
    redis_rollback(s, NULL, 0);
    return rc;
}

/* redis_single - outside a batch, a write is a batch of its own: begin it */
static int redis_single_begin(struct store_redis *s, int *single, char *err, size_t errlen)
{
    *single = !s->in_batch;
    return *single ? redis_begin(s, err, errlen) : redis_writer(s, err, errlen);
}

/* redis_single_end - commit the batch redis_single_begin began */
static int redis_single_end(struct store_redis *s, int single, char *err, size_t errlen)
{
    return single ? redis_commit(s, err, errlen) : 0;
}

/* redis_add_grant - add a row to the batch, to merge with the one there */
static int redis_add_grant(struct store_redis *s, const struct store_grant *g, char *err,
                           size_t errlen)
{
    size_t alen = strlen(g->address);
    struct redis_args *a = &s->b.gargs;
    int single;

    if (alen == 0 || alen >= ADDR_STRLEN)
        return util_seterr(err, errlen, "database %s: grant: bad address '%.*s'", s->name,
                           ADDR_STRLEN, g->address);
    if (redis_single_begin(s, &single, err, errlen) < 0)
        return -1;
    redis_args_fmt(&s->b.gkeys, REDIS_KEY_GRANT "%s", g->address);
    redis_args_add(a, g->user, strnlen(g->user, STORE_USER_MAX - 1));
    redis_args_add(a, g->source, strnlen(g->source, STORE_SOURCE_MAX - 1));
    redis_args_fmt(a, "%lld", (long long)g->first_login);
    redis_args_fmt(a, "%lld", (long long)g->last_login);
    redis_args_fmt(a, "%lld", (long long)g->logins);
    redis_args_fmt(a, "%lld", (long long)g->expires);
    return redis_single_end(s, single, err, errlen);
}

/* redis_grant - record a login in the batch (or on its own, outside one) */
static int redis_grant(void *h, const char *address, const char *user, const char *source,
                       int64_t login_time, int64_t expires, char *err, size_t errlen)
{
    struct store_grant g = {
        .first_login = login_time, .last_login = login_time, .logins = 1, .expires = expires};

    if (strlen(address) >= sizeof(g.address))
        return util_seterr(err, errlen, "grant: bad address '%.*s'", ADDR_STRLEN, address);
    util_strlcpy(g.address, address, sizeof(g.address));
    util_strlcpy(g.user, user != NULL ? user : "", sizeof(g.user));
    util_strlcpy(g.source, source != NULL ? source : "", sizeof(g.source));
    return redis_add_grant(h, &g, err, errlen);
}

/* redis_import - merge g, with its logins, into the row there (migrate from several hosts) */
static int redis_import(void *h, const struct store_grant *g, char *err, size_t errlen)
{
    return redis_add_grant(h, g, err, errlen);
}

/* redis_lookup - the active grant for address */
static int redis_lookup(void *h, const char *address, int64_t now, struct store_grant *out,
                        char *err, size_t errlen)
{
    struct store_redis *s = h;
    char key[sizeof(REDIS_KEY_GRANT) + ADDR_STRLEN];
    struct store_grant g;
    redisReply *r;
    int found;

    if (redis_ready(s, err, errlen) < 0)
        return -1;
    snprintf(key, sizeof(key), REDIS_KEY_GRANT "%s", address);
    if ((r = redis_callv(s, err, errlen, "HMGET", key, REDIS_GRANT_FIELDS, NULL)) == NULL)
        return -1;
    found = redis_proto_grant(r, address, &g) && g.expires > now;
    freeReplyObject(r);
    if (found && out != NULL)
        *out = g;
    return found;
}

/* redis_delete - delete the grant of address: 1 if there was one (no WAIT) */
static int redis_delete(struct store_redis *s, const char *address, char *err, size_t errlen)
{
    char key[sizeof(REDIS_KEY_GRANT) + ADDR_STRLEN];
    redisReply *r;
    int rc;

    if (redis_writer(s, err, errlen) < 0 || redis_ready(s, err, errlen) < 0)
        return -1;
    snprintf(key, sizeof(key), REDIS_KEY_GRANT "%s", address);
    if ((r = redis_callv(s, err, errlen, "DEL", key, NULL)) == NULL)
        return -1;
    rc = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
    freeReplyObject(r);
    return rc;
}

/* redis_revoke - delete the grant of address: 1 if there was one; then WAIT */
static int redis_revoke(void *h, const char *address, char *err, size_t errlen)
{
    int rc = redis_delete(h, address, err, errlen);

    return rc < 0 || redis_wait(h, err, errlen) < 0 ? -1 : rc;
}

/* redis_scan - every key matching pattern into keys (SCAN: a key may come twice) */
static int redis_scan(struct store_redis *s, const char *pattern, struct redis_args *keys,
                      char *err, size_t errlen)
{
    char cursor[32] = "0";
    redisReply *r;
    size_t i;

    if (redis_ready(s, err, errlen) < 0)
        return -1;
    do {
        if ((r = redis_callv(s, err, errlen, "SCAN", cursor, "MATCH", pattern, "COUNT",
                             REDIS_SCAN_COUNT, NULL)) == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY ||
            r->element[0]->len >= sizeof(cursor)) {
            freeReplyObject(r);
            return util_seterr(err, errlen, "database %s: SCAN: an unexpected reply", s->name);
        }
        util_strlcpy(cursor, r->element[0]->str, sizeof(cursor));
        for (i = 0; i < r->element[1]->elements; i++)
            if (r->element[1]->element[i]->type == REDIS_REPLY_STRING)
                redis_args_add(keys, r->element[1]->element[i]->str,
                               r->element[1]->element[i]->len);
    } while ((freeReplyObject(r), strcmp(cursor, "0") != 0));
    return 0;
}

/* redis_strcmp_ptr - qsort order of strings */
static int redis_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* redis_grant_compare - qsort order of grants: by address text, as SQLite lists them */
static int redis_grant_compare(const void *a, const void *b)
{
    return strcmp(((const struct store_grant *)a)->address,
                  ((const struct store_grant *)b)->address);
}

/* redis_grants - every grant now in the store, sorted by address, each once (free *out) */
static int redis_grants(struct store_redis *s, struct store_grant **out, size_t *n, char *err,
                        size_t errlen)
{
    struct redis_args keys = {0};
    struct store_grant *g = NULL;
    size_t i, k = 0, plen = strlen(REDIS_KEY_GRANT);
    int rc = -1;

    if (redis_scan(s, REDIS_KEY_GRANT "*", &keys, err, errlen) < 0)
        goto out;
    g = xcalloc(keys.n + 1, sizeof(*g));
    for (i = 0; i < keys.n; i++) {
        const char *argv[] = {"HMGET", keys.v[i], REDIS_GRANT_FIELDS};
        if (redisAppendCommandArgv(s->c, (int)UTIL_ARRAY_LEN(argv), argv, NULL) != REDIS_OK)
            break;
    }
    for (i = 0; i < keys.n; i++) {
        redisReply *r = NULL;
        if (redisGetReply(s->c, (void **)&r) != REDIS_OK || r == NULL) {
            util_seterr(err, errlen, "database %s: %s HMGET: %s", s->name, s->where,
                        s->c->errstr[0] ? s->c->errstr : "no reply");
            redis_drop(s);
            goto out;
        }
        if (r->type == REDIS_REPLY_ERROR) { /* never read as "no grant" */
            util_seterr(err, errlen, "database %s: %s HMGET: %.200s", s->name, s->where, r->str);
            freeReplyObject(r);
            redis_drop(s); /* the replies still due are of no use */
            goto out;
        }
        if (keys.len[i] > plen && keys.len[i] - plen < ADDR_STRLEN &&
            redis_proto_grant(r, keys.v[i] + plen, &g[k]))
            k++;
        freeReplyObject(r);
    }
    qsort(g, k, sizeof(*g), redis_grant_compare);
    *n = 0;
    for (i = 0; i < k; i++)
        if (*n == 0 || strcmp(g[*n - 1].address, g[i].address) != 0)
            g[(*n)++] = g[i];
    *out = g;
    g = NULL;
    rc = 0;
out:
    free(g);
    redis_args_free(&keys);
    return rc;
}

/* redis_list - cb for each active (all: every) grant by address */
static int redis_list(void *h, int64_t now, int all, store_list_cb cb, void *ctx, char *err,
                      size_t errlen)
{
    struct store_grant *g;
    size_t i, n;

    if (redis_grants(h, &g, &n, err, errlen) < 0)
        return -1;
    for (i = 0; i < n; i++)
        if ((all || g[i].expires > now) && cb(&g[i], ctx) != 0)
            break;
    free(g);
    return 0;
}

/* redis_delete_where - delete the grants of user (NULL: every grant); *removed counts */
static int redis_delete_where(struct store_redis *s, const char *user, int64_t *removed, char *err,
                              size_t errlen)
{
    struct store_grant *g;
    size_t i, n;
    int rc = 0;

    *removed = 0;
    if (redis_writer(s, err, errlen) < 0 || redis_grants(s, &g, &n, err, errlen) < 0)
        return -1;
    for (i = 0; i < n && rc == 0; i++) {
        if (user != NULL && strcmp(g[i].user, user) != 0)
            continue;
        switch (redis_delete(s, g[i].address, err, errlen)) {
        case 1:
            (*removed)++;
            break;
        case -1:
            rc = -1;
            break;
        }
    }
    free(g);
    return rc < 0 || redis_wait(s, err, errlen) < 0 ? -1 : 0;
}

static int redis_revoke_user(void *h, const char *user, int64_t *removed, char *err, size_t errlen)
{
    return redis_delete_where(h, user, removed, err, errlen);
}

static int redis_revoke_all(void *h, int64_t *removed, char *err, size_t errlen)
{
    return redis_delete_where(h, NULL, removed, err, errlen);
}

/* redis_purge - Redis deletes expired grants itself: nothing to do */
static int redis_purge(void *h, int64_t now, int64_t *removed, char *err, size_t errlen)
{
    (void)h, (void)now, (void)err, (void)errlen;
    *removed = 0;
    return 0;
}

/* redis_purge_step - nothing to do, and the walk is over at once */
static int redis_purge_step(void *h, int64_t now, char *cursor, size_t cursorlen, int limit,
                            int64_t *removed, char *err, size_t errlen)
{
    (void)limit;
    if (cursorlen > 0)
        cursor[0] = '\0';
    return redis_purge(h, now, removed, err, errlen);
}

/* redis_stats - active and not yet deleted expired grants, the server's memory */
static int redis_stats(void *h, int64_t now, struct store_stats *out, char *err, size_t errlen)
{
    struct store_redis *s = h;
    struct store_grant *g;
    size_t i, n;
    redisReply *r;
    const char *mem;

    if (redis_grants(s, &g, &n, err, errlen) < 0)
        return -1;
    memset(out, 0, sizeof(*out));
    for (i = 0; i < n; i++) {
        if (g[i].expires > now)
            out->active++;
        else
            out->expired++;
    }
    free(g);
    out->schema_version = atoi(REDIS_STORE_VERSION);
    if ((r = redis_callv(s, err, errlen, "INFO", "memory", NULL)) == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING && (mem = strstr(r->str, "used_memory:")) != NULL)
        out->database_bytes = strtoll(mem + strlen("used_memory:"), NULL, 10);
    freeReplyObject(r);
    return 0;
}

/* redis_position_key - the key of source's position on this node into buf */
static void redis_position_key(const char *source, char *buf, size_t len)
{
    snprintf(buf, len, REDIS_KEY_POSITION "%s:%s", store_settings()->node, source);
}

/* The fields of a position's hash, in the order redis_position_from reads them. */
#define REDIS_POSITION_FIELDS "device", "inode", "offset", "head", "cursor"

/* redis_position_from - an HMGET reply into *out: 1, or 0 if the position is absent */
static int redis_position_from(const redisReply *r, struct store_position *out)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return 0;
    memset(out, 0, sizeof(*out));
    out->device = redis_proto_int(r->element[0]);
    out->inode = redis_proto_int(r->element[1]);
    out->offset = redis_proto_int(r->element[2]);
    if (r->element[3]->type == REDIS_REPLY_STRING)
        util_strlcpy(out->head, r->element[3]->str, sizeof(out->head));
    if (r->element[4]->type == REDIS_REPLY_STRING)
        util_strlcpy(out->cursor, r->element[4]->str, sizeof(out->cursor));
    return 1;
}

/* redis_position_get - the saved position of source on this node */
static int redis_position_get(void *h, const char *source, struct store_position *out, char *err,
                              size_t errlen)
{
    struct store_redis *s = h;
    char key[1024];
    redisReply *r;
    int rc;

    if (redis_ready(s, err, errlen) < 0)
        return -1;
    redis_position_key(source, key, sizeof(key));
    if ((r = redis_callv(s, err, errlen, "HMGET", key, REDIS_POSITION_FIELDS, NULL)) == NULL)
        return -1;
    rc = redis_position_from(r, out);
    freeReplyObject(r);
    return rc;
}

/* redis_position_put - save the position of source (in the batch) */
static int redis_position_put(void *h, const char *source, const struct store_position *pos,
                              char *err, size_t errlen)
{
    struct store_redis *s = h;
    struct redis_args *a = &s->b.pargs;
    char key[1024];
    int single;

    if (redis_single_begin(s, &single, err, errlen) < 0)
        return -1;
    redis_position_key(source, key, sizeof(key));
    redis_args_str(&s->b.pkeys, key);
    redis_args_fmt(a, "%lld", (long long)pos->device);
    redis_args_fmt(a, "%lld", (long long)pos->inode);
    redis_args_fmt(a, "%lld", (long long)pos->offset);
    redis_args_str(a, pos->head);
    redis_args_str(a, pos->cursor); /* updated: Redis's clock, so that a batch sent again is
                                     * the same batch (redis_token) */
    return redis_single_end(s, single, err, errlen);
}

/* redis_positions - cb for every saved position of this node, by source */
static int redis_positions(void *h, store_position_cb cb, void *ctx, char *err, size_t errlen)
{
    struct store_redis *s = h;
    struct redis_args keys = {0};
    struct store_position pos;
    char pattern[256];
    size_t i, plen;
    int rc = 0;

    redis_position_key("*", pattern, sizeof(pattern));
    plen = strlen(pattern) - 1;
    if (redis_scan(s, pattern, &keys, err, errlen) < 0) {
        redis_args_free(&keys);
        return -1;
    }
    qsort(keys.v, keys.n, sizeof(*keys.v), redis_strcmp_ptr);
    for (i = 0; i < keys.n && rc == 0; i++) {
        redisReply *r;
        if (i > 0 && strcmp(keys.v[i], keys.v[i - 1]) == 0)
            continue;
        if ((r = redis_callv(s, err, errlen, "HMGET", keys.v[i], REDIS_POSITION_FIELDS, NULL)) ==
            NULL) {
            rc = -1;
            break;
        }
        if (redis_position_from(r, &pos) && cb(keys.v[i] + plen, &pos, ctx) != 0)
            rc = 1;
        freeReplyObject(r);
    }
    redis_args_free(&keys);
    return rc < 0 ? -1 : 0;
}

/* redis_counter_add - add delta to a source's counter (in the batch) */
static int redis_counter_add(void *h, const char *source, const char *name, int64_t delta,
                             char *err, size_t errlen)
{
    struct store_redis *s = h;
    int single;

    if (redis_single_begin(s, &single, err, errlen) < 0)
        return -1;
    redis_args_fmt(&s->b.counters, "%s|%s", source, name);
    redis_args_fmt(&s->b.counters, "%lld", (long long)delta);
    return redis_single_end(s, single, err, errlen);
}

/* One field of a hash and its value, as HGETALL gave them. */
struct redis_pair {
    const redisReply *field, *value;
};

/* redis_pair_compare - qsort order of pairs: by field */
static int redis_pair_compare(const void *a, const void *b)
{
    return strcmp(((const struct redis_pair *)a)->field->str,
                  ((const struct redis_pair *)b)->field->str);
}

/* redis_counters - cb for every counter, by source and name */
static int redis_counters(void *h, store_counter_cb cb, void *ctx, char *err, size_t errlen)
{
    struct store_redis *s = h;
    struct redis_pair *pairs;
    char source[256];
    redisReply *r;
    size_t i, n = 0;

    if (redis_ready(s, err, errlen) < 0 ||
        (r = redis_callv(s, err, errlen, "HGETALL", REDIS_KEY_COUNTERS, NULL)) == NULL)
        return -1;
    pairs = xcalloc(r->elements / 2 + 1, sizeof(*pairs));
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            r->element[i + 1]->type == REDIS_REPLY_STRING)
            pairs[n].field = r->element[i], pairs[n++].value = r->element[i + 1];
    qsort(pairs, n, sizeof(*pairs), redis_pair_compare);
    for (i = 0; i < n; i++) {
        const char *field = pairs[i].field->str, *bar = strrchr(field, '|');
        if (bar == NULL || (size_t)(bar - field) >= sizeof(source))
            continue; /* not "SOURCE|NAME": not ours */
        memcpy(source, field, (size_t)(bar - field));
        source[bar - field] = '\0';
        if (cb(source, bar + 1, strtoll(pairs[i].value->str, NULL, 10), ctx) != 0)
            break;
    }
    free(pairs);
    freeReplyObject(r);
    return 0;
}

/* redis_nothing - read_begin and read_end: Redis answers from its current data */
static int redis_nothing(void *h, char *err, size_t errlen)
{
    (void)h, (void)err, (void)errlen;
    return 0;
}

#define REDIS_BACKEND_OPS                                                                          \
    .close = redis_close, .begin = redis_begin, .commit = redis_commit,                            \
    .rollback = redis_rollback, .read_begin = redis_nothing, .read_end = redis_nothing,            \
    .grant = redis_grant, .lookup = redis_lookup, .revoke = redis_revoke, .purge = redis_purge,    \
    .purge_step = redis_purge_step, .revoke_user = redis_revoke_user,                              \
    .revoke_all = redis_revoke_all, .import = redis_import, .list = redis_list,                    \
    .stats = redis_stats, .position_get = redis_position_get, .position_put = redis_position_put,  \
    .positions = redis_positions, .counter_add = redis_counter_add, .counters = redis_counters

const struct store_backend store_backend_redis = {.scheme = "redis",
                                                  .check = redis_check,
                                                  .open = redis_open,
                                                  .stale = redis_stale,
                                                  REDIS_BACKEND_OPS};

const struct store_backend store_backend_redis_sentinel = {.scheme = "redis-sentinel",
                                                           .check = redis_sentinel_check,
                                                           .open = redis_sentinel_open,
                                                           .stale = redis_stale,
                                                           REDIS_BACKEND_OPS};
