/*
 * redis_reader - grant lookups in a Redis store on the caller's libev loop, through
 * hiredis's asynchronous API (see redis_reader.h for the contract). The keys and the
 * reading of every reply are db/redis_proto.h's, shared with the blocking store.
 *
 * One state machine per reader:
 *   IDLE      no connection: r->timer starts the next connect, REDIS_READER_RETRY s after
 *             a drop, or at once after the primary moved; lookups are refused
 *   SENTINEL  a context to Sentinel k asks for the primary; r->stimer bounds the step, and a
 *             Sentinel that fails hands over to the next; lookups wait, unsent
 *   PRIMARY   the primary's context exists, AUTH, SELECT, ROLE and GET popauth:version are
 *             queued on it, then the lookups; r->timer bounds the whole step
 *   READY     the version reply passed: r->timer bounds the wait for the oldest reply due
 *             (the oldest sent lookup, or a ROLE check); r->role_timer asks ROLE, and one
 *             Sentinel on a context of its own, every REDIS_READER_ROLE_EVERY s
 * A drop frees the contexts, goes IDLE, and only then answers the waits -1 (the list is
 * detached first, so that their callbacks may look up again, and be refused, or cancel).
 *
 * Every command carries a small tag (the reader, the generation of its context, the
 * lookup's sequence number), freed in its callback, which hiredis 0.14 calls exactly once
 * per queued command (with a NULL reply when the context goes). The sequence number, not
 * the wait's address, says whose reply it is: a wait may be cancelled and its memory gone
 * while its reply is still on the way; such a reply finds no wait and is dropped. A reply
 * from a context the reader no longer uses fails the generation check.
 *
 * What hiredis 0.14.1 (async.c) does that this relies on: a reply callback runs with
 * REDIS_IN_CALLBACK set, so redisAsyncFree there only marks the context, which is freed
 * once the callback returns; a NULL reply means hiredis is freeing the context itself,
 * and so does a failed connect once its connect callback returns, and the disconnect
 * callback: in those the reader only forgets the context, never frees it. Elsewhere (a
 * timer) redisAsyncFree frees at once, after running the pending callbacks with NULL
 * replies, which then find the context forgotten. hiredis 0.14 writes with write(2): the
 * process must ignore SIGPIPE (both daemons do).
 *
 * Host names (of the server, the Sentinels, and the primary they name) are resolved by
 * redisAsyncConnect with getaddrinfo, which blocks the loop while it asks DNS: IP
 * addresses are recommended.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "db/redis_proto.h"
#include "db/redis_reader.h"
#include "db/redis_uri.h"
#include "db/store_backend.h"
#include "shared/util.h"

#define REDIS_READER_ERR 512 /* bytes of a message */

/* REDIS_READER_OF - the reader that embeds the watcher w as its field */
#define REDIS_READER_OF(w, field)                                                                  \
    ((struct redis_reader *)(void *)((char *)(w)-offsetof(struct redis_reader, field)))

enum redis_reader_state {
    REDIS_READER_IDLE,     /* no connection; the timer starts the next */
    REDIS_READER_SENTINEL, /* asking a Sentinel for the primary */
    REDIS_READER_PRIMARY,  /* connected to the primary, its set-up replies due */
    REDIS_READER_READY,    /* the set-up passed: lookups go to a checked primary */
};

struct redis_reader {
    struct ev_loop *loop;
    struct redis_uri uri;
    char name[512]; /* "redis:LOCATION", for messages (it holds no secret) */
    enum redis_reader_state state;
    redisAsyncContext *ac;  /* the primary's connection: NULL in IDLE and SENTINEL */
    uint64_t ac_gen;        /* its generation */
    redisAsyncContext *sac; /* a Sentinel's: NULL unless one is being asked */
    uint64_t sac_gen;
    uint64_t gen;                  /* the last generation given to a context */
    uint64_t seq;                  /* the last sequence number given to a lookup */
    int sk;                        /* the Sentinel being asked */
    int stried;                    /* Sentinels asked in this connect */
    int sentinel_first;            /* the Sentinel to ask first: the one that answered last */
    char where[300];               /* the server connected to: "HOST:PORT" or PATH */
    char host[REDIS_URI_HOST_MAX]; /* the primary's host and port (not for a unix socket) */
    int port;
    char swhere[300];            /* the Sentinel being asked, "HOST:PORT" */
    char swhy[REDIS_READER_ERR]; /* why the last Sentinel asked named no primary */
    double role_sent;            /* ev_now of the ROLE check awaiting its reply; 0: none */
    struct redis_reader_wait *head, *tail;   /* the waits: the sent ones, then unsent */
    struct redis_reader_wait *dhead, *dtail; /* those a drop is answering */
    int draining;                            /* a drop is answering dhead.. */
    int freeing;                             /* redis_reader_free runs */
    char lasterr[REDIS_READER_ERR];          /* why the last connection was dropped */
    ev_timer timer;                          /* backoff, connect step, oldest reply */
    ev_timer stimer;                         /* the Sentinel's answer */
    ev_timer role_timer;                     /* the next ROLE check */
};

/* What a command's callback gets: whose reply, on which context, for which lookup. */
struct redis_reader_tag {
    struct redis_reader *r;
    uint64_t gen;
    uint64_t seq; /* the lookup's; 0 for other commands */
};

static void redis_reader_connect(struct redis_reader *r);
static void redis_reader_sentinel_next(struct redis_reader *r);
static void redis_reader_on_hmget(redisAsyncContext *ac, void *reply, void *privdata);
static void redis_reader_on_auth(redisAsyncContext *ac, void *reply, void *privdata);
static void redis_reader_on_select(redisAsyncContext *ac, void *reply, void *privdata);
static void redis_reader_on_role(redisAsyncContext *ac, void *reply, void *privdata);
static void redis_reader_on_version(redisAsyncContext *ac, void *reply, void *privdata);
static void redis_reader_on_sentinel(redisAsyncContext *ac, void *reply, void *privdata);

/* redis_reader_timeout - redis_timeout_ms in seconds */
static double redis_reader_timeout(void)
{
    return store_settings()->timeout_ms / 1000.0;
}

/* redis_reader_unlink - take w out of whichever list holds it (the waits or the drained) */
static void redis_reader_unlink(struct redis_reader *r, struct redis_reader_wait *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else if (r->head == w)
        r->head = w->next;
    else if (r->dhead == w)
        r->dhead = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    else if (r->tail == w)
        r->tail = w->prev;
    else if (r->dtail == w)
        r->dtail = w->prev;
    w->prev = w->next = NULL;
}

/* redis_reader_answer - unlink w and call its fn once (w may be gone after it) */
static void redis_reader_answer(struct redis_reader *r, struct redis_reader_wait *w, int rc,
                                const struct store_grant *g, const char *err)
{
    redis_reader_fn fn = w->fn;
    void *ctx = w->ctx;

    redis_reader_unlink(r, w);
    w->fn = NULL;
    fn(ctx, rc, g, err);
}

/* redis_reader_close_primary - free the primary's context (forgotten first, so that the
 * callbacks redisAsyncFree runs find it gone) */
static void redis_reader_close_primary(struct redis_reader *r)
{
    redisAsyncContext *ac = r->ac;

    r->ac = NULL;
    if (ac != NULL)
        redisAsyncFree(ac); /* deferred by hiredis if inside one of its reply callbacks */
}

/* redis_reader_close_sentinel - free the Sentinel's context and stop its timer */
static void redis_reader_close_sentinel(struct redis_reader *r)
{
    redisAsyncContext *sac = r->sac;

    ev_timer_stop(r->loop, &r->stimer);
    r->sac = NULL;
    if (sac != NULL)
        redisAsyncFree(sac);
}

/*
 * redis_reader_drop - after a failure: free the contexts (a context hiredis is freeing
 * itself must have been forgotten by the caller), go IDLE with the next connect at once or
 * REDIS_READER_RETRY s later, then answer every wait -1 with reason.
 */
static void redis_reader_drop(struct redis_reader *r, const char *reason, int at_once)
{
    char why[REDIS_READER_ERR];
    struct redis_reader_wait *w;

    util_strlcpy(why, reason, sizeof(why));
    redis_reader_close_primary(r);
    redis_reader_close_sentinel(r);
    ev_timer_stop(r->loop, &r->timer);
    ev_timer_stop(r->loop, &r->role_timer);
    r->state = REDIS_READER_IDLE;
    r->role_sent = 0;
    util_strlcpy(r->lasterr, why, sizeof(r->lasterr));
    ev_timer_set(&r->timer, at_once ? 0. : REDIS_READER_RETRY, 0.);
    ev_timer_start(r->loop, &r->timer);
    /* the waits move to the drained list; a callback may cancel any of them */
    if (r->head != NULL) {
        if (r->dtail != NULL) {
            r->dtail->next = r->head;
            r->head->prev = r->dtail;
        } else {
            r->dhead = r->head;
        }
        r->dtail = r->tail;
        r->head = r->tail = NULL;
    }
    if (r->draining)
        return; /* the outer drop answers them */
    r->draining = 1;
    while ((w = r->dhead) != NULL)
        redis_reader_answer(r, w, -1, NULL, why);
    r->draining = 0;
}

/* redis_reader_command - queue argv on ac with a tag for fn; -1 if hiredis refused it */
static int redis_reader_command(struct redis_reader *r, redisAsyncContext *ac, uint64_t gen,
                                redisCallbackFn *fn, uint64_t seq, int argc, const char **argv)
{
    struct redis_reader_tag *t = xmalloc(sizeof(*t));

    t->r = r;
    t->gen = gen;
    t->seq = seq;
    if (redisAsyncCommandArgv(ac, fn, t, argc, argv, NULL) != REDIS_OK) {
        free(t); /* not queued: its callback never runs */
        return -1;
    }
    return 0;
}

/* redis_reader_untag - the tag's fields, and the tag freed */
static struct redis_reader *redis_reader_untag(void *privdata, uint64_t *gen, uint64_t *seq)
{
    struct redis_reader_tag *t = privdata;
    struct redis_reader *r = t->r;

    *gen = t->gen;
    *seq = t->seq;
    free(t);
    return r;
}

/* redis_reader_arm - in READY: r->timer at the deadline of the oldest reply due (stopped if
 * none is due); on the deadline, drop */
static void redis_reader_arm(struct redis_reader *r)
{
    double oldest = 0, left;
    const char *what = "HMGET";

    if (r->head != NULL && r->head->seq != 0)
        oldest = r->head->sent_at;
    if (r->role_sent != 0 && (oldest == 0 || r->role_sent < oldest))
        oldest = r->role_sent, what = "ROLE";
    ev_timer_stop(r->loop, &r->timer);
    if (oldest == 0)
        return;
    left = oldest + redis_reader_timeout() - ev_now(r->loop);
    if (left <= 0.0005) {
        char why[REDIS_READER_ERR];
        util_seterr(why, sizeof(why), "database %s: %s %s: no reply within %d ms", r->name,
                    r->where, what, store_settings()->timeout_ms);
        redis_reader_drop(r, why, 0);
        return;
    }
    ev_timer_set(&r->timer, left, 0.);
    ev_timer_start(r->loop, &r->timer);
}

/* redis_reader_send - queue the HMGET of w on the primary's connection */
static int redis_reader_send(struct redis_reader *r, struct redis_reader_wait *w)
{
    char key[sizeof(REDIS_KEY_GRANT) + ADDR_STRLEN];
    const char *argv[] = {"HMGET", key, REDIS_GRANT_FIELDS};

    snprintf(key, sizeof(key), REDIS_KEY_GRANT "%s", w->address);
    w->seq = ++r->seq;
    w->sent_at = ev_now(r->loop);
    return redis_reader_command(r, r->ac, r->ac_gen, redis_reader_on_hmget, w->seq,
                                (int)UTIL_ARRAY_LEN(argv), argv);
}

/*
 * redis_reader_reply - the reader a reply of the primary's connection is for, or NULL if
 * the reply is not to be read: the reader is being freed, or the context is no longer the
 * one in use, or the connection went (a NULL reply: hiredis is freeing the context, which
 * is forgotten, and the reader drops). An error reply that says the server is not the
 * primary logged in to drops too, unless secret (AUTH: its text is not shown).
 */
static struct redis_reader *redis_reader_reply(redisAsyncContext *ac, void *reply, void *privdata,
                                               const char *cmd, int secret, uint64_t *seq)
{
    uint64_t gen;
    struct redis_reader *r = redis_reader_untag(privdata, &gen, seq);
    const redisReply *rep = reply;
    char why[REDIS_READER_ERR];

    if (r->freeing || r->ac == NULL || r->ac != ac || gen != r->ac_gen)
        return NULL;
    if (rep == NULL) {
        util_seterr(why, sizeof(why), "database %s: %s %s: %s", r->name, r->where, cmd,
                    ac->c.errstr[0] != '\0' ? ac->c.errstr : "connection lost");
        r->ac = NULL; /* hiredis is freeing it */
        redis_reader_drop(r, why, 0);
        return NULL;
    }
    if (!secret && redis_proto_drops(rep)) {
        util_seterr(why, sizeof(why), "database %s: %s %s: %.*s", r->name, r->where, cmd,
                    (int)(rep->len > 200 ? 200 : rep->len), rep->str);
        redis_reader_drop(r, why, 0);
        return NULL;
    }
    return r;
}

/* redis_reader_error - drop with the text of the error reply rep to cmd */
static void redis_reader_error(struct redis_reader *r, const char *cmd, const redisReply *rep)
{
    char why[REDIS_READER_ERR];

    util_seterr(why, sizeof(why), "database %s: %s %s: %.*s", r->name, r->where, cmd,
                (int)(rep->len > 200 ? 200 : rep->len), rep->str != NULL ? rep->str : "");
    redis_reader_drop(r, why, 0);
}

/* redis_reader_on_hmget - a lookup's reply: to its wait, unless that was cancelled */
static void redis_reader_on_hmget(redisAsyncContext *ac, void *reply, void *privdata)
{
    uint64_t seq;
    struct redis_reader *r = redis_reader_reply(ac, reply, privdata, "HMGET", 0, &seq);
    const redisReply *rep = reply;
    struct redis_reader_wait *w;
    char why[REDIS_READER_ERR];
    struct store_grant g;
    int found;

    /* replies come in the order sent, so the wait is the oldest if it still waits */
    if (r == NULL || (w = r->head) == NULL || w->seq != seq)
        return;
    if (rep->type == REDIS_REPLY_ERROR) { /* never read as "no grant" */
        util_seterr(why, sizeof(why), "database %s: %s HMGET: %.*s", r->name, r->where,
                    (int)(rep->len > 200 ? 200 : rep->len), rep->str);
        redis_reader_answer(r, w, -1, NULL, why);
        return;
    }
    found = redis_proto_grant(rep, w->address, &g) && g.expires > w->now;
    redis_reader_answer(r, w, found, found ? &g : NULL, NULL);
}

/* redis_reader_on_auth - AUTH's reply: a refusal drops, naming only its first word */
static void redis_reader_on_auth(redisAsyncContext *ac, void *reply, void *privdata)
{
    uint64_t seq;
    struct redis_reader *r = redis_reader_reply(ac, reply, privdata, "AUTH", 1, &seq);
    char why[REDIS_READER_ERR], refused[256];

    if (r == NULL || redis_proto_auth(reply, refused, sizeof(refused)) == 0)
        return;
    util_seterr(why, sizeof(why), "database %s: %s %s", r->name, r->where, refused);
    redis_reader_drop(r, why, 0);
}

/* redis_reader_on_select - SELECT's reply: an error drops */
static void redis_reader_on_select(redisAsyncContext *ac, void *reply, void *privdata)
{
    uint64_t seq;
    struct redis_reader *r = redis_reader_reply(ac, reply, privdata, "SELECT", 0, &seq);
    const redisReply *rep = reply;

    if (r != NULL && rep->type == REDIS_REPLY_ERROR)
        redis_reader_error(r, "SELECT", rep);
}

/* redis_reader_on_role - ROLE's reply, of the set-up or of a check: not the primary drops
 * (after a check, connecting again at once: the primary moved) */
static void redis_reader_on_role(redisAsyncContext *ac, void *reply, void *privdata)
{
    uint64_t seq;
    struct redis_reader *r = redis_reader_reply(ac, reply, privdata, "ROLE", 0, &seq);
    const redisReply *rep = reply;
    char why[REDIS_READER_ERR];

    if (r == NULL)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        redis_reader_error(r, "ROLE", rep);
    } else if (!redis_proto_role_master(rep)) {
        util_seterr(why, sizeof(why), "database %s: %s is a replica, not the primary", r->name,
                    r->where);
        redis_reader_drop(r, why, r->state == REDIS_READER_READY);
    } else if (r->state == REDIS_READER_READY) {
        r->role_sent = 0;
    }
}

/* redis_reader_ready - the set-up passed: lookups are answered from now on */
static void redis_reader_ready(struct redis_reader *r)
{
    r->state = REDIS_READER_READY;
    r->role_sent = 0;
    ev_timer_stop(r->loop, &r->role_timer);
    ev_timer_set(&r->role_timer, REDIS_READER_ROLE_EVERY, REDIS_READER_ROLE_EVERY);
    ev_timer_start(r->loop, &r->role_timer);
    redis_reader_arm(r);
}

/* redis_reader_on_version - GET popauth:version's reply, the last of the set-up */
static void redis_reader_on_version(redisAsyncContext *ac, void *reply, void *privdata)
{
    uint64_t seq;
    struct redis_reader *r = redis_reader_reply(ac, reply, privdata, "GET", 0, &seq);
    const redisReply *rep = reply;
    char why[REDIS_READER_ERR], version[128];

    if (r == NULL)
        return;
    if (rep->type == REDIS_REPLY_ERROR) {
        redis_reader_error(r, "GET", rep);
    } else if (redis_proto_version(rep, version, sizeof(version)) < 0) {
        util_seterr(why, sizeof(why), "database %s: %s", r->name, version);
        redis_reader_drop(r, why, 0);
    } else {
        redis_reader_ready(r);
    }
}

/* redis_reader_on_connect - the primary's connect: a failure drops (hiredis frees the
 * context once this returns) */
static void redis_reader_on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_reader *r = ac->data;
    char why[REDIS_READER_ERR];

    if (status == REDIS_OK || r->freeing || ac != r->ac)
        return;
    util_seterr(why, sizeof(why), "database %s: %s: %s", r->name, r->where,
                ac->c.errstr[0] != '\0' ? ac->c.errstr : "cannot connect");
    r->ac = NULL;
    redis_reader_drop(r, why, 0);
}

/* redis_reader_on_disconnect - the primary's connection went (hiredis frees the context
 * once this returns) */
static void redis_reader_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_reader *r = ac->data;
    char why[REDIS_READER_ERR];

    (void)status;
    if (r->freeing || ac != r->ac)
        return;
    util_seterr(why, sizeof(why), "database %s: %s: %s", r->name, r->where,
                ac->c.errstr[0] != '\0' ? ac->c.errstr : "connection closed");
    r->ac = NULL;
    redis_reader_drop(r, why, 0);
}

/* redis_reader_primary - connect to the primary at host:port (or the URI's unix socket),
 * queue the set-up commands and every unsent lookup behind them */
static void redis_reader_primary(struct redis_reader *r, const char *host, int port)
{
    const struct store_settings *cfg = store_settings();
    const char *auth[] = {"AUTH", cfg->user, cfg->password};
    const char *role[] = {"ROLE"};
    const char *version[] = {"GET", REDIS_KEY_VERSION};
    const char *select[] = {"SELECT", NULL};
    char why[REDIS_READER_ERR], db[16];
    struct redis_reader_wait *w;
    redisAsyncContext *ac;
    int ok = 1;

    r->state = REDIS_READER_PRIMARY;
    util_strlcpy(r->host, host, sizeof(r->host));
    r->port = port;
    if (r->uri.path[0] != '\0')
        util_strlcpy(r->where, r->uri.path, sizeof(r->where));
    else
        redis_proto_endpoint(host, port, r->where, sizeof(r->where));
    ac =
        r->uri.path[0] != '\0' ? redisAsyncConnectUnix(r->uri.path) : redisAsyncConnect(host, port);
    if (ac == NULL || ac->err) {
        util_seterr(why, sizeof(why), "database %s: %s: %s", r->name, r->where,
                    ac != NULL ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac); /* no loop attached, no callbacks set */
        redis_reader_drop(r, why, 0);
        return;
    }
    ac->data = r;
    r->ac = ac;
    r->ac_gen = ++r->gen;
    redisLibevAttach(r->loop, ac);
    redisAsyncSetConnectCallback(ac, redis_reader_on_connect);
    redisAsyncSetDisconnectCallback(ac, redis_reader_on_disconnect);
    ev_timer_stop(r->loop, &r->timer);
    ev_timer_set(&r->timer, redis_reader_timeout(), 0.);
    ev_timer_start(r->loop, &r->timer);
    if (cfg->password[0] != '\0') {
        int user = cfg->user[0] != '\0';
        if (!user)
            auth[1] = cfg->password;
        ok = redis_reader_command(r, ac, r->ac_gen, redis_reader_on_auth, 0, user ? 3 : 2, auth) ==
             0;
    }
    if (ok && r->uri.db != 0) {
        snprintf(db, sizeof(db), "%d", r->uri.db);
        select[1] = db;
        ok = redis_reader_command(r, ac, r->ac_gen, redis_reader_on_select, 0, 2, select) == 0;
    }
    ok = ok && redis_reader_command(r, ac, r->ac_gen, redis_reader_on_role, 0, 1, role) == 0;
    ok = ok && redis_reader_command(r, ac, r->ac_gen, redis_reader_on_version, 0, 2, version) == 0;
    for (w = r->head; ok && w != NULL; w = w->next)
        if (w->seq == 0)
            ok = redis_reader_send(r, w) == 0;
    if (!ok) {
        util_seterr(why, sizeof(why), "database %s: %s: the connection takes no commands", r->name,
                    r->where);
        redis_reader_drop(r, why, 0);
    }
}

/* redis_reader_sentinel_failed - the Sentinel asked named no primary (its context already
 * freed or forgotten): while connecting, ask the next; in a check, ask the next one the
 * next time, and go on (ROLE is then all there is to go by) */
static void redis_reader_sentinel_failed(struct redis_reader *r, const char *why)
{
    if (r->state == REDIS_READER_SENTINEL) {
        util_strlcpy(r->swhy, why, sizeof(r->swhy));
        redis_reader_sentinel_next(r);
    } else {
        r->sentinel_first = (r->sk + 1) % r->uri.nhosts;
    }
}

/* redis_reader_sentinel_lost - the Sentinel's context ac failed before it answered (what
 * says how, unless its error does): the next Sentinel is asked; hiredis frees ac */
static void redis_reader_sentinel_lost(const redisAsyncContext *ac, const char *what)
{
    struct redis_reader *r = ac->data;
    char why[REDIS_READER_ERR];

    if (r->freeing || ac != r->sac)
        return;
    util_seterr(why, sizeof(why), "Sentinel %s: %s", r->swhere,
                ac->c.errstr[0] != '\0' ? ac->c.errstr : what);
    ev_timer_stop(r->loop, &r->stimer);
    r->sac = NULL;
    redis_reader_sentinel_failed(r, why);
}

/* redis_reader_on_sentinel_connect - a Sentinel's connect finished */
static void redis_reader_on_sentinel_connect(const redisAsyncContext *ac, int status)
{
    if (status != REDIS_OK)
        redis_reader_sentinel_lost(ac, "cannot connect");
}

/* redis_reader_on_sentinel_disconnect - a Sentinel's connection went before it answered */
static void redis_reader_on_sentinel_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    redis_reader_sentinel_lost(ac, "connection closed");
}

/* redis_reader_sentinel_open - ask Sentinel k for the primary: 0, or -1 and r->swhy */
static int redis_reader_sentinel_open(struct redis_reader *r, int k)
{
    const struct redis_endpoint *e = &r->uri.hosts[k];
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name", r->uri.master};
    redisAsyncContext *sac;

    r->sk = k;
    redis_proto_endpoint(e->host, e->port, r->swhere, sizeof(r->swhere));
    sac = redisAsyncConnect(e->host, e->port);
    if (sac == NULL || sac->err) {
        util_seterr(r->swhy, sizeof(r->swhy), "Sentinel %s: %s", r->swhere,
                    sac != NULL ? sac->errstr : "out of memory");
        if (sac != NULL)
            redisAsyncFree(sac);
        return -1;
    }
    sac->data = r;
    r->sac = sac;
    r->sac_gen = ++r->gen;
    redisLibevAttach(r->loop, sac);
    redisAsyncSetConnectCallback(sac, redis_reader_on_sentinel_connect);
    redisAsyncSetDisconnectCallback(sac, redis_reader_on_sentinel_disconnect);
    if (redis_reader_command(r, sac, r->sac_gen, redis_reader_on_sentinel, 0,
                             (int)UTIL_ARRAY_LEN(argv), argv) < 0) {
        util_seterr(r->swhy, sizeof(r->swhy), "Sentinel %s: the connection takes no commands",
                    r->swhere);
        redis_reader_close_sentinel(r);
        return -1;
    }
    ev_timer_stop(r->loop, &r->stimer);
    ev_timer_set(&r->stimer, redis_reader_timeout(), 0.);
    ev_timer_start(r->loop, &r->stimer);
    return 0;
}

/* redis_reader_sentinel_next - while connecting: ask the next Sentinel not yet asked; when
 * none is left, drop naming the last one's problem */
static void redis_reader_sentinel_next(struct redis_reader *r)
{
    char why[REDIS_READER_ERR];

    while (r->stried < r->uri.nhosts) {
        int k = (r->sentinel_first + r->stried) % r->uri.nhosts;
        r->stried++;
        if (redis_reader_sentinel_open(r, k) == 0)
            return;
    }
    util_seterr(why, sizeof(why), "database %s: no primary for %s: %s", r->name, r->uri.master,
                r->swhy);
    redis_reader_drop(r, why, 0);
}

/* redis_reader_on_sentinel - a Sentinel's answer: while connecting, the primary to
 * connect to; in a check, another primary than the one connected to drops, to connect
 * again at once */
static void redis_reader_on_sentinel(redisAsyncContext *ac, void *reply, void *privdata)
{
    uint64_t gen, seq;
    struct redis_reader *r = redis_reader_untag(privdata, &gen, &seq);
    char host[REDIS_URI_HOST_MAX], why[REDIS_READER_ERR], named[300];
    const char *what = "";
    int port = 0;

    if (r->freeing || r->sac == NULL || r->sac != ac || gen != r->sac_gen)
        return;
    if (reply == NULL) { /* hiredis is freeing the context */
        util_seterr(why, sizeof(why), "Sentinel %s: %s", r->swhere,
                    ac->c.errstr[0] != '\0' ? ac->c.errstr : "connection lost");
        ev_timer_stop(r->loop, &r->stimer);
        r->sac = NULL;
        redis_reader_sentinel_failed(r, why);
        return;
    }
    if (redis_proto_sentinel_master(reply, host, sizeof(host), &port, &what) < 0) {
        util_seterr(why, sizeof(why), "Sentinel %s: %.200s", r->swhere, what);
        redis_reader_close_sentinel(r); /* freed once this returns */
        redis_reader_sentinel_failed(r, why);
        return;
    }
    redis_reader_close_sentinel(r);
    if (r->state == REDIS_READER_SENTINEL) {
        r->sentinel_first = r->sk;
        redis_reader_primary(r, host, port);
    } else if (r->state == REDIS_READER_READY && (strcmp(host, r->host) != 0 || port != r->port)) {
        redis_proto_endpoint(host, port, named, sizeof(named));
        util_seterr(why, sizeof(why),
                    "database %s: Sentinel %s names %s as the primary of %s, not %s", r->name,
                    r->swhere, named, r->uri.master, r->where);
        redis_reader_drop(r, why, 1);
    }
}

/* redis_reader_on_stimer - the Sentinel asked did not answer in time */
static void redis_reader_on_stimer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct redis_reader *r = REDIS_READER_OF(t, stimer);
    char why[REDIS_READER_ERR];

    (void)loop, (void)revents;
    util_seterr(why, sizeof(why), "Sentinel %s: no answer within %d ms", r->swhere,
                store_settings()->timeout_ms);
    redis_reader_close_sentinel(r);
    redis_reader_sentinel_failed(r, why);
}

/* redis_reader_connect - start connecting: to the Sentinels, or to the server */
static void redis_reader_connect(struct redis_reader *r)
{
    ev_timer_stop(r->loop, &r->timer);
    if (r->uri.sentinel) {
        r->state = REDIS_READER_SENTINEL;
        r->stried = 0;
        util_strlcpy(r->swhy, "no Sentinel answered", sizeof(r->swhy));
        redis_reader_sentinel_next(r);
    } else {
        redis_reader_primary(r, r->uri.nhosts > 0 ? r->uri.hosts[0].host : "",
                             r->uri.nhosts > 0 ? r->uri.hosts[0].port : 0);
    }
}

/* redis_reader_on_timer - r->timer: the backoff is over, the connect step took too long,
 * or the oldest reply due may be late */
static void redis_reader_on_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct redis_reader *r = REDIS_READER_OF(t, timer);
    char why[REDIS_READER_ERR];

    (void)loop, (void)revents;
    switch (r->state) {
    case REDIS_READER_IDLE:
        redis_reader_connect(r);
        break;
    case REDIS_READER_PRIMARY:
        util_seterr(why, sizeof(why), "database %s: %s: connecting: no reply within %d ms", r->name,
                    r->where, store_settings()->timeout_ms);
        redis_reader_drop(r, why, 0);
        break;
    case REDIS_READER_READY:
        redis_reader_arm(r);
        break;
    case REDIS_READER_SENTINEL:
        break;
    }
}

/* redis_reader_on_role_timer - every REDIS_READER_ROLE_EVERY s while READY: ask ROLE, and
 * with Sentinels one Sentinel, whether this is still the primary */
static void redis_reader_on_role_timer(struct ev_loop *loop, ev_timer *t, int revents)
{
    struct redis_reader *r = REDIS_READER_OF(t, role_timer);
    const char *role[] = {"ROLE"};
    char why[REDIS_READER_ERR];

    (void)loop, (void)revents;
    if (r->state != REDIS_READER_READY)
        return;
    if (r->role_sent == 0) {
        if (redis_reader_command(r, r->ac, r->ac_gen, redis_reader_on_role, 0, 1, role) < 0) {
            util_seterr(why, sizeof(why), "database %s: %s ROLE: the connection takes no commands",
                        r->name, r->where);
            redis_reader_drop(r, why, 0);
            return;
        }
        r->role_sent = ev_now(r->loop);
        if (!ev_is_active(&r->timer))
            redis_reader_arm(r);
    }
    if (r->state == REDIS_READER_READY && r->uri.sentinel && r->sac == NULL &&
        redis_reader_sentinel_open(r, r->sentinel_first) < 0)
        r->sentinel_first = (r->sk + 1) % r->uri.nhosts;
}

/* redis_reader_new - a reader of the store at location; it starts connecting at once */
struct redis_reader *redis_reader_new(struct ev_loop *loop, const char *location, int sentinel,
                                      char *err, size_t errlen)
{
    struct redis_reader *r;
    struct redis_uri u;
    char why[256];

    if (redis_uri_parse(location, sentinel, &u, why, sizeof(why)) < 0) {
        util_seterr(err, errlen, "database %s:%s: %s", sentinel ? "redis-sentinel" : "redis",
                    location, why);
        return NULL;
    }
    r = xcalloc(1, sizeof(*r));
    r->loop = loop;
    r->uri = u;
    snprintf(r->name, sizeof(r->name), "%s:%s", sentinel ? "redis-sentinel" : "redis", location);
    ev_init(&r->timer, redis_reader_on_timer);
    ev_init(&r->stimer, redis_reader_on_stimer);
    ev_init(&r->role_timer, redis_reader_on_role_timer);
    redis_reader_connect(r);
    return r;
}

/* redis_reader_lookup - queue the lookup of address: sent now if the primary's connection
 * exists, else when it does; refused while there is none and none is being made */
int redis_reader_lookup(struct redis_reader *r, struct redis_reader_wait *w, const char *address,
                        int64_t now, redis_reader_fn fn, void *ctx, char *err, size_t errlen)
{
    size_t len = strlen(address);

    if (r->state == REDIS_READER_IDLE)
        return util_seterr(err, errlen, "%s (next attempt in %.1f s)", r->lasterr,
                           ev_timer_remaining(r->loop, &r->timer));
    if (len == 0 || len >= sizeof(w->address))
        return util_seterr(err, errlen, "database %s: lookup: bad address '%.*s'", r->name,
                           ADDR_STRLEN, address);
    memcpy(w->address, address, len + 1);
    w->seq = 0;
    w->sent_at = ev_now(r->loop);
    w->now = now;
    w->fn = fn;
    w->ctx = ctx;
    w->next = NULL;
    w->prev = r->tail;
    if (r->tail != NULL)
        r->tail->next = w;
    else
        r->head = w;
    r->tail = w;
    if (r->state != REDIS_READER_PRIMARY && r->state != REDIS_READER_READY)
        return 0; /* sent once the primary's connection exists */
    if (redis_reader_send(r, w) < 0) {
        redis_reader_unlink(r, w);
        w->fn = NULL;
        return util_seterr(err, errlen, "database %s: %s HMGET: the connection takes no commands",
                           r->name, r->where);
    }
    if (r->state == REDIS_READER_READY && !ev_is_active(&r->timer)) {
        ev_timer_set(&r->timer, redis_reader_timeout(), 0.);
        ev_timer_start(r->loop, &r->timer);
    }
    return 0;
}

/* redis_reader_cancel - take back a waiting lookup; one already answered is left alone */
void redis_reader_cancel(struct redis_reader *r, struct redis_reader_wait *w)
{
    if (r == NULL || w->fn == NULL)
        return;
    redis_reader_unlink(r, w);
    w->fn = NULL; /* its reply, if sent, finds no wait */
}

/* redis_reader_connected - lookups go to a checked primary now */
int redis_reader_connected(const struct redis_reader *r)
{
    return r != NULL && r->state == REDIS_READER_READY;
}

/* redis_reader_free - close the connections and release r, forgetting the waits */
void redis_reader_free(struct redis_reader *r)
{
    if (r == NULL)
        return;
    r->freeing = 1; /* the callbacks redisAsyncFree runs touch no wait */
    ev_timer_stop(r->loop, &r->timer);
    ev_timer_stop(r->loop, &r->role_timer);
    redis_reader_close_primary(r);
    redis_reader_close_sentinel(r);
    free(r);
}
