/*
 * torture_redis_reader - unit tests of the non-blocking Redis reader (db/redis_reader.h)
 * on a libev loop of the test's own, against real redis-server processes (Debian's
 * redis-server package) that each test starts on a unix socket in a temporary directory
 * of its own (and on a TCP port of 127.0.0.1 where replication or a Sentinel needs one),
 * and stops by PID. Grants are written through the blocking store (db/store.h) and read
 * through the reader: found with every field, none, expired; a thousand lookups in flight
 * answered in order; lookups made while connecting; cancelling; a server gone (waits
 * answered -1, lookups refused, reconnect by itself), a server that hangs (answered -1
 * within redis_timeout_ms), a replica refused, a primary demoted while connected, AUTH
 * with and without the right password (never shown), a newer key layout, and a real
 * redis-sentinel naming the primary, then another one. A missing redis-server or
 * redis-sentinel fails the tests; it never skips them.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <ev.h>
#include <hiredis/hiredis.h>

#include "db/redis_reader.h"
#include "db/store.h"
#include "shared/util.h"
#include "tests/unit/redis_server.h"

#define T_ERRLEN         1024
#define T_REDIS_SENTINEL "/usr/bin/redis-sentinel"
#define T_PASSWORD       "s3cret-Pa55word"
#define T_MANY           1000

/* One server the test started. */
struct t_server {
    char sock[128]; /* its unix socket */
    int port;       /* its TCP port on 127.0.0.1, or 0 */
    pid_t pid;
};

struct t_fixture {
    char dir[64];
    struct t_server a, b; /* the store's server, and a second one */
    pid_t sentinel;
    char uri[192];    /* "redis://unix:" a.sock */
    struct store *st; /* a read-write handle on a */
    struct ev_loop *loop;
    struct redis_reader *rd;
};

/* One lookup's answer, as the reader gave it. */
struct t_answer {
    struct redis_reader_wait w;
    struct t_fixture *f;
    int called; /* times fn ran */
    int rc;
    int order; /* its place among all the answers */
    struct store_grant g;
    char err[T_ERRLEN];
    struct redis_reader_wait *cancel; /* a wait to cancel when answered, or NULL */
    int again_rc;                     /* with relookup: what the lookup made in fn returned */
    struct t_answer *again;           /* with relookup: the lookup made in fn */
};

static int t_answers; /* answers so far, over every reader */

/* t_configure - store options: a password file (NULL: none), redis_timeout_ms */
static void t_configure(const char *password_file, int timeout_ms)
{
    struct store_options o = {
        .password_file = password_file, .node = "nodea", .timeout_ms = timeout_ms};
    char err[T_ERRLEN];

    if (store_configure(&o, err, sizeof(err)) < 0)
        fail_msg("store_configure: %s", err);
}

/* t_free_port - a TCP port of 127.0.0.1 that nothing listens on just now */
static int t_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

/* t_server_start - start redis-server s in the fixture's directory: on s->sock, on
 * 127.0.0.1:s->port if it is not 0, ready to replicate at once */
static void t_server_start(struct t_fixture *f, struct t_server *s)
{
    s->pid = redis_server_start(f->dir, s->sock, s->port, "--repl-diskless-sync-delay", "0", NULL);
}

/* t_setup - a temporary directory, a redis-server in it, a read-write store handle and a
 * loop; no reader yet (each test makes its own, after its settings) */
static int t_setup(void **state)
{
    struct t_fixture *f = calloc(1, sizeof(*f));
    char err[T_ERRLEN];

    assert_non_null(f);
    redis_server_dir_make(f->dir, sizeof(f->dir), "torture_redis_reader");
    snprintf(f->a.sock, sizeof(f->a.sock), "%s/a.sock", f->dir);
    snprintf(f->b.sock, sizeof(f->b.sock), "%s/b.sock", f->dir);
    snprintf(f->uri, sizeof(f->uri), "redis://unix:%s", f->a.sock);
    t_configure(NULL, 500);
    t_server_start(f, &f->a);
    if ((f->st = store_open(f->uri, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("store_open %s: %s", f->uri, err);
    f->loop = ev_loop_new(EVFLAG_AUTO);
    assert_non_null(f->loop);
    *state = f;
    return 0;
}

/* t_teardown - free the reader, the loop and the handle, stop the servers, remove the
 * directory */
static int t_teardown(void **state)
{
    struct t_fixture *f = *state;

    redis_reader_free(f->rd);
    ev_loop_destroy(f->loop);
    store_close(f->st);
    redis_server_stop(&f->sentinel, SIGKILL);
    redis_server_stop(&f->a.pid, SIGKILL);
    redis_server_stop(&f->b.pid, SIGKILL);
    redis_server_dir_remove(f->dir);
    t_configure(NULL, 500);
    free(f);
    return 0;
}

/* t_tick - wakes the loop up, so that t_run looks at the clock */
static void t_tick(struct ev_loop *loop, ev_timer *t, int revents)
{
    (void)loop, (void)t, (void)revents;
}

/* t_run - run the loop until *counter reaches target or seconds pass: 1 if it did */
static int t_run(struct t_fixture *f, const int *counter, int target, double seconds)
{
    double end = util_now() + seconds;
    ev_timer safety;

    ev_timer_init(&safety, t_tick, 0.01, 0.01);
    ev_timer_start(f->loop, &safety);
    while (*counter < target && util_now() < end)
        ev_run(f->loop, EVRUN_ONCE);
    ev_timer_stop(f->loop, &safety);
    ev_now_update(f->loop);
    return *counter >= target;
}

/* t_sleep - run the loop for seconds */
static void t_sleep(struct t_fixture *f, double seconds)
{
    int never = 0;

    t_run(f, &never, 1, seconds);
}

/* t_fn - the reader's answer: recorded in the t_answer; cancels a or looks up again if
 * asked to */
static void t_fn(void *ctx, int rc, const struct store_grant *g, const char *err)
{
    struct t_answer *a = ctx;
    char again_err[T_ERRLEN];

    a->called++;
    a->rc = rc;
    a->order = ++t_answers;
    if (rc == 1)
        a->g = *g;
    else
        assert_null(g);
    if (rc < 0) {
        assert_non_null(err);
        util_strlcpy(a->err, err, sizeof(a->err));
    }
    if (a->cancel != NULL)
        redis_reader_cancel(a->f->rd, a->cancel);
    if (a->again != NULL) {
        a->again->f = a->f;
        a->again_rc = redis_reader_lookup(a->f->rd, &a->again->w, "192.0.2.200", time(NULL), t_fn,
                                          a->again, again_err, sizeof(again_err));
    }
}

/* t_ask - start the lookup of addr into a: redis_reader_lookup's result */
static int t_ask(struct t_fixture *f, struct t_answer *a, const char *addr, int64_t now)
{
    memset(a, 0, sizeof(*a));
    a->f = f;
    return redis_reader_lookup(f->rd, &a->w, addr, now, t_fn, a, a->err, sizeof(a->err));
}

/* t_lookup - a lookup that must be accepted, run until answered: its rc */
static int t_lookup(struct t_fixture *f, struct t_answer *a, const char *addr, int64_t now)
{
    if (t_ask(f, a, addr, now) < 0)
        fail_msg("lookup %s refused: %s", addr, a->err);
    if (!t_run(f, &a->called, 1, 5))
        fail_msg("lookup %s: no answer within 5 s", addr);
    assert_int_equal(a->called, 1);
    return a->rc;
}

/* t_reader - the reader of the store at location (after the scheme's ':') */
static void t_reader(struct t_fixture *f, const char *location, int sentinel)
{
    char err[T_ERRLEN];

    redis_reader_free(f->rd);
    if ((f->rd = redis_reader_new(f->loop, location, sentinel, err, sizeof(err))) == NULL)
        fail_msg("redis_reader_new %s: %s", location, err);
}

/* t_reader_a - the reader of the fixture's server, run until connected */
static void t_reader_a(struct t_fixture *f)
{
    double end = util_now() + 3;

    t_reader(f, f->uri + strlen("redis:"), 0);
    while (!redis_reader_connected(f->rd) && util_now() < end)
        t_sleep(f, 0.01);
    assert_true(redis_reader_connected(f->rd));
}

/* t_grant - store_grant that must succeed (retried for up to 3 s: the handle may wait
 * out its backoff after the server came back) */
static void t_grant(struct store *st, const char *addr, const char *user, int64_t login,
                    int64_t expires)
{
    char err[T_ERRLEN];
    int i;

    for (i = 0; i < 60; i++) {
        if (store_grant(st, addr, user, "dovecot", login, expires, err, sizeof(err)) == 0)
            return;
        usleep(50000);
    }
    fail_msg("store_grant %s: %s", addr, err);
}

/* test_found - a grant with every field, none, an expired one, and a bad address */
static void test_found(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct t_answer a;

    t_grant(f->st, "192.0.2.7", "alice", now - 5, now + 1800);
    t_grant(f->st, "192.0.2.7", "alice", now - 2, now + 1700);
    t_grant(f->st, "2001:db8::7", "bob", now, now + 100);
    t_grant(f->st, "192.0.2.9", "carol", now - 3600, now - 1);
    t_reader_a(f);
    assert_int_equal(t_lookup(f, &a, "192.0.2.7", now), 1);
    assert_string_equal(a.g.address, "192.0.2.7");
    assert_string_equal(a.g.user, "alice");
    assert_string_equal(a.g.source, "dovecot");
    assert_int_equal(a.g.first_login, now - 5);
    assert_int_equal(a.g.last_login, now - 2);
    assert_int_equal(a.g.logins, 2);
    assert_int_equal(a.g.expires, now + 1800);
    assert_int_equal(t_lookup(f, &a, "2001:db8::7", now), 1);
    assert_string_equal(a.g.user, "bob");
    assert_int_equal(t_lookup(f, &a, "192.0.2.8", now), 0);
    /* expired: Redis dropped the key; and one still there but past expires at now */
    assert_int_equal(t_lookup(f, &a, "192.0.2.9", now), 0);
    assert_int_equal(t_lookup(f, &a, "2001:db8::7", now + 100), 0);
    assert_int_equal(t_lookup(f, &a, "2001:db8::7", now + 99), 1);
    /* a hash that is not a whole grant is none; a key of another type an error */
    freeReplyObject(redis_server_cmd(f->a.sock, "HSET popauth:grant:192.0.2.10 user x"));
    assert_int_equal(t_lookup(f, &a, "192.0.2.10", now), 0);
    freeReplyObject(redis_server_cmd(f->a.sock, "SET popauth:grant:192.0.2.11 garbage"));
    assert_int_equal(t_lookup(f, &a, "192.0.2.11", now), -1);
    assert_non_null(strstr(a.err, "WRONGTYPE"));
    assert_true(redis_reader_connected(f->rd)); /* not a reason to drop */
    assert_int_equal(t_lookup(f, &a, "192.0.2.7", now), 1);
    assert_int_equal(t_ask(f, &a, "", now), -1);
    assert_non_null(strstr(a.err, "bad address"));
}

/* test_many - a thousand lookups in flight at once, answered in the order made */
static void test_many(void **state)
{
    struct t_fixture *f = *state;
    struct t_answer *a = calloc(T_MANY, sizeof(*a));
    time_t now = time(NULL);
    char err[T_ERRLEN], addr[64];
    int i, first;

    assert_non_null(a);
    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    for (i = 0; i < T_MANY; i += 2) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
        t_grant(f->st, addr, "dave", now, now + 100 + i);
    }
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
    t_reader_a(f);
    first = t_answers;
    for (i = 0; i < T_MANY; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
        if (t_ask(f, &a[i], addr, now) < 0)
            fail_msg("lookup %d refused: %s", i, a[i].err);
    }
    assert_true(t_run(f, &t_answers, first + T_MANY, 10));
    for (i = 0; i < T_MANY; i++) {
        assert_int_equal(a[i].called, 1);
        assert_int_equal(a[i].order, first + i + 1);
        assert_int_equal(a[i].rc, i % 2 == 0 ? 1 : 0);
        if (i % 2 == 0)
            assert_int_equal(a[i].g.expires, now + 100 + i);
    }
    free(a);
}

/* test_before_ready - lookups made while connecting wait, and are answered once the
 * set-up passed; so is one cancelled while it waited unsent, never */
static void test_before_ready(void **state)
{
    struct t_fixture *f = *state;
    struct t_answer a[4];
    time_t now = time(NULL);
    int first = t_answers, i;

    t_grant(f->st, "192.0.2.20", "erin", now, now + 100);
    t_reader(f, f->uri + strlen("redis:"), 0);
    assert_false(redis_reader_connected(f->rd));
    for (i = 0; i < 4; i++)
        assert_int_equal(t_ask(f, &a[i], i % 2 ? "192.0.2.21" : "192.0.2.20", now), 0);
    redis_reader_cancel(f->rd, &a[2].w);
    assert_true(t_run(f, &t_answers, first + 3, 3));
    t_sleep(f, 0.05);
    assert_true(redis_reader_connected(f->rd));
    assert_int_equal(a[0].rc, 1);
    assert_string_equal(a[0].g.user, "erin");
    assert_int_equal(a[1].rc, 0);
    assert_int_equal(a[2].called, 0);
    assert_int_equal(a[3].rc, 0);
    assert_int_equal(a[3].called, 1);
}

/* test_cancel - a cancelled lookup's fn is never called, even with its reply on the way;
 * the others are answered; an answer's fn may cancel another wait */
static void test_cancel(void **state)
{
    struct t_fixture *f = *state;
    struct t_answer a[5];
    time_t now = time(NULL);
    char addr[5][32], user[32];
    int first, i;

    for (i = 0; i < 5; i++) { /* each its own answer: a reply given to the wrong wait shows */
        snprintf(addr[i], sizeof(addr[i]), "192.0.2.%d", 30 + i);
        snprintf(user, sizeof(user), "user%d", i);
        if (i != 3)
            t_grant(f->st, addr[i], user, now, now + 100);
    }
    t_reader_a(f);
    first = t_answers;
    for (i = 0; i < 5; i++)
        assert_int_equal(t_ask(f, &a[i], addr[i], now), 0);
    redis_reader_cancel(f->rd, &a[1].w); /* sent: its reply comes, and finds no wait */
    a[2].cancel = &a[4].w;               /* its answer cancels a later one */
    memset(&a[1], 0xa5, sizeof(a[1]));   /* the caller may reuse a cancelled wait at once */
    a[1].called = 0;
    assert_true(t_run(f, &t_answers, first + 3, 3));
    t_sleep(f, 0.1);
    assert_int_equal(a[0].called, 1);
    assert_int_equal(a[1].called, 0);
    assert_int_equal(a[2].called, 1);
    assert_int_equal(a[3].called, 1);
    assert_int_equal(a[4].called, 0);
    assert_int_equal(t_answers, first + 3);
    assert_int_equal(a[0].rc, 1);
    assert_string_equal(a[0].g.user, "user0");
    assert_int_equal(a[2].rc, 1);
    assert_string_equal(a[2].g.user, "user2");
    assert_int_equal(a[3].rc, 0);
    redis_reader_cancel(f->rd, &a[3].w); /* answered already: nothing happens */
    assert_int_equal(t_lookup(f, &a[0], addr[4], now), 1);
    assert_string_equal(a[0].g.user, "user4");
}

/* test_down_and_back - the server stopped: waiting lookups are answered -1 (a lookup made
 * from such an answer is refused at once, and one it cancels is not answered), lookups are
 * refused at once; once it is back on the same socket, the reader reconnects by itself */
static void test_down_and_back(void **state)
{
    struct t_fixture *f = *state;
    struct t_answer a[4], again, b;
    time_t now = time(NULL);
    double restarted;
    int first, i;

    t_grant(f->st, "192.0.2.40", "gina", now, now + 100);
    t_reader_a(f);
    first = t_answers;
    for (i = 0; i < 4; i++)
        assert_int_equal(t_ask(f, &a[i], "192.0.2.40", now), 0);
    memset(&again, 0, sizeof(again));
    a[0].again = &again;
    a[1].cancel = &a[3].w;                 /* an answer -1 cancels a wait still to be answered */
    redis_server_stop(&f->a.pid, SIGTERM); /* before the loop sent them */
    assert_true(t_run(f, &t_answers, first + 3, 3));
    t_sleep(f, 0.05);
    assert_int_equal(t_answers, first + 3);
    assert_int_equal(a[3].called, 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(a[i].rc, -1);
        if (strstr(a[i].err, f->a.sock) == NULL || strstr(a[i].err, "database redis:") == NULL)
            fail_msg("message: %s", a[i].err);
    }
    assert_int_equal(a[0].again_rc, -1);
    assert_int_equal(again.called, 0);
    assert_false(redis_reader_connected(f->rd));
    assert_int_equal(t_ask(f, &b, "192.0.2.40", now), -1);
    assert_non_null(strstr(b.err, "next attempt in"));
    assert_int_equal(b.called, 0);
    t_server_start(f, &f->a); /* empty: it kept nothing */
    restarted = util_now();
    t_grant(f->st, "192.0.2.40", "gina", now, now + 100);
    while (!redis_reader_connected(f->rd) && util_now() < restarted + 1.5)
        t_sleep(f, 0.01);
    if (!redis_reader_connected(f->rd))
        fail_msg("not connected again within 1.5 s");
    assert_int_equal(t_lookup(f, &b, "192.0.2.40", now), 1);
    assert_int_equal(again.called, 0);
}

/* test_hung - a server that stops answering (SIGSTOP): a waiting lookup is answered -1
 * within about redis_timeout_ms, not much later */
static void test_hung(void **state)
{
    struct t_fixture *f = *state;
    struct t_answer a;
    time_t now = time(NULL);
    double t0, took;

    t_configure(NULL, 200);
    t_grant(f->st, "192.0.2.50", "hal", now, now + 100);
    t_reader_a(f);
    assert_int_equal(t_lookup(f, &a, "192.0.2.50", now), 1);
    t_sleep(f, 0.3); /* an idle connection is not timed out */
    assert_true(redis_reader_connected(f->rd));
    kill(f->a.pid, SIGSTOP);
    ev_now_update(f->loop);
    t0 = util_now();
    assert_int_equal(t_ask(f, &a, "192.0.2.50", now), 0);
    assert_true(t_run(f, &a.called, 1, 3));
    took = util_now() - t0;
    assert_int_equal(a.rc, -1);
    if (took < 0.15 || took > 0.45)
        fail_msg("answered after %.3f s (redis_timeout_ms 200): %s", took, a.err);
    assert_non_null(strstr(a.err, "no reply within 200 ms"));
    kill(f->a.pid, SIGCONT);
}

/* test_replica - a replica is refused, though it has the grant: lookups -1 naming why */
static void test_replica(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct t_answer a;
    redisReply *r;
    char port[16];
    int i, synced = 0;

    f->b.port = t_free_port();
    snprintf(port, sizeof(port), "%d", f->b.port);
    t_server_start(f, &f->b);
    freeReplyObject(redis_server_cmd(f->b.sock,
                                     "HSET popauth:grant:192.0.2.60 user ian source dovecot "
                                     "first_login %lld last_login %lld logins 1 expires %lld",
                                     (long long)now, (long long)now, (long long)now + 100));
    freeReplyObject(redis_server_cmd(f->a.sock, "REPLICAOF 127.0.0.1 %s", port));
    for (i = 0; i < 200 && !synced; i++) { /* the replica has the grant */
        r = redis_server_cmd(f->a.sock, "EXISTS popauth:grant:192.0.2.60");
        synced = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
        freeReplyObject(r);
        if (!synced)
            usleep(10000);
    }
    assert_true(synced);
    t_reader(f, f->uri + strlen("redis:"), 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.60", now), -1);
    if (strstr(a.err, "is a replica, not the primary") == NULL)
        fail_msg("message: %s", a.err);
    assert_false(redis_reader_connected(f->rd));
    t_sleep(f, 1.2); /* it tries again, and is refused again */
    assert_false(redis_reader_connected(f->rd));
    if (t_ask(f, &a, "192.0.2.60", now) == 0) {
        assert_true(t_run(f, &a.called, 1, 3));
        assert_int_equal(a.rc, -1);
    }
    assert_non_null(strstr(a.err, "replica"));
}

/* test_demoted - a primary made a replica while the reader is connected: within about
 * REDIS_READER_ROLE_EVERY s lookups fail, and go on failing */
static void test_demoted(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct t_answer a;
    double t0, end;
    int seen = 0;

    t_grant(f->st, "192.0.2.70", "judy", now, now + 100);
    f->b.port = t_free_port();
    t_server_start(f, &f->b);
    t_reader_a(f);
    assert_int_equal(t_lookup(f, &a, "192.0.2.70", now), 1);
    freeReplyObject(redis_server_cmd(f->a.sock, "REPLICAOF 127.0.0.1 %d", f->b.port));
    t0 = util_now();
    while (!seen && util_now() < t0 + 1.5) {
        if (t_ask(f, &a, "192.0.2.70", now) == 0)
            assert_true(t_run(f, &a.called, 1, 1));
        else
            a.rc = -1; /* refused at once */
        seen = a.rc < 0 && strstr(a.err, "replica") != NULL;
        if (!seen)
            t_sleep(f, 0.05);
    }
    if (!seen)
        fail_msg("still answered 1.5 s after the demotion: rc %d %s", a.rc, a.err);
    end = util_now() + 1.2;
    while (util_now() < end) { /* reconnecting finds a replica: refused */
        if (t_ask(f, &a, "192.0.2.70", now) == 0) {
            assert_true(t_run(f, &a.called, 1, 1));
            assert_int_equal(a.rc, -1);
        }
        t_sleep(f, 0.05);
    }
}

/* test_password - AUTH from the password file, as the default user and as an ACL user;
 * without it NOAUTH, with a wrong one a refusal that does not show it */
static void test_password(void **state)
{
    struct t_fixture *f = *state;
    const char *loc = f->uri + strlen("redis:");
    char pw[256], acl[256];
    time_t now = time(NULL);
    struct t_answer a;

    t_grant(f->st, "192.0.2.80", "kim", now, now + 100);
    freeReplyObject(redis_server_cmd(f->a.sock, "CONFIG SET requirepass %s", T_PASSWORD));
    t_reader(f, loc, 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.80", now), -1);
    if (strstr(a.err, "NOAUTH") == NULL)
        fail_msg("message: %s", a.err);
    snprintf(pw, sizeof(pw), "%s/pw", f->dir);
    redis_server_write_file(pw, 0600, T_PASSWORD "\n");
    t_configure(pw, 500);
    t_reader(f, loc, 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.80", now), 1);
    assert_string_equal(a.g.user, "kim");
    redis_server_write_file(pw, 0600, "wrong-password\n");
    t_configure(pw, 500);
    t_reader(f, loc, 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.80", now), -1);
    if (strstr(a.err, "AUTH refused") == NULL || strstr(a.err, "wrong-password") != NULL)
        fail_msg("message: %s", a.err);
    /* an ACL user: two lines */
    redis_server_add_user(f->a.sock, T_PASSWORD, "gate", "gatepass");
    snprintf(acl, sizeof(acl), "%s/acl", f->dir);
    redis_server_write_file(acl, 0600, "gate\ngatepass\n");
    t_configure(acl, 500);
    t_reader(f, loc, 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.80", now), 1);
    redis_server_write_file(acl, 0600, "gate\nnot-gatepass\n");
    t_configure(acl, 500);
    t_reader(f, loc, 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.80", now), -1);
    if (strstr(a.err, "AUTH refused: WRONGPASS") == NULL || strstr(a.err, "gatepass") != NULL)
        fail_msg("message: %s", a.err);
}

/* test_newer_layout - a key layout this program does not know is refused; SELECT too */
static void test_newer_layout(void **state)
{
    struct t_fixture *f = *state;
    char loc[256];
    time_t now = time(NULL);
    struct t_answer a;

    freeReplyObject(redis_server_cmd(f->a.sock, "SET popauth:version 99"));
    t_reader(f, f->uri + strlen("redis:"), 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.90", now), -1);
    if (strstr(a.err, "key layout version 99, this program knows 1") == NULL)
        fail_msg("message: %s", a.err);
    assert_false(redis_reader_connected(f->rd));
    /* database 3 has no version key: it is fine, and empty */
    t_grant(f->st, "192.0.2.90", "lee", now, now + 100);
    snprintf(loc, sizeof(loc), "//unix:%s?db=3", f->a.sock);
    t_reader(f, loc, 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.90", now), 0);
    freeReplyObject(redis_server_cmd(f->a.sock, "DEL popauth:version"));
    t_reader(f, f->uri + strlen("redis:"), 0);
    assert_int_equal(t_lookup(f, &a, "192.0.2.90", now), 1);
}

/* t_sentinel_start - a redis-sentinel on 127.0.0.1:port that monitors the primary on
 * 127.0.0.1:primary as "popauth"; waits until it names it */
static void t_sentinel_start(struct t_fixture *f, int port, int primary)
{
    char conf[128], text[512], portstr[16];
    const char *argv[] = {T_REDIS_SENTINEL, conf, NULL};
    int i;

    snprintf(conf, sizeof(conf), "%s/sentinel.conf", f->dir);
    snprintf(text, sizeof(text),
             "port %d\nbind 127.0.0.1\ndaemonize no\ndir %s\n"
             "sentinel monitor popauth 127.0.0.1 %d 1\n",
             port, f->dir, primary);
    redis_server_write_file(conf, 0600, text);
    snprintf(portstr, sizeof(portstr), "%d", port);
    f->sentinel = redis_server_spawn(argv);
    for (i = 0; i < 300; i++) { /* up to 3 s */
        redisContext *c = redisConnect("127.0.0.1", port);
        redisReply *r = c != NULL && !c->err
                            ? redisCommand(c, "SENTINEL get-master-addr-by-name popauth")
                            : NULL;
        int up = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
        freeReplyObject(r);
        redisFree(c);
        if (up)
            return;
        usleep(10000);
    }
    fail_msg("redis-sentinel did not answer on port %s", portstr);
}

/* test_sentinel - through a real redis-sentinel (the first Sentinel listed is not there):
 * the primary it names is found and read; when it names another, the reader follows
 * within about REDIS_READER_ROLE_EVERY s */
static void test_sentinel(void **state)
{
    struct t_fixture *f = *state;
    int sport = t_free_port(), dead = t_free_port();
    char loc[256], err[T_ERRLEN], uri_b[192];
    time_t now = time(NULL);
    struct store *stb;
    struct t_answer a[2];
    double t0;
    int moved = 0;

    /* the fixture's server again, now on a TCP port too */
    redis_server_stop(&f->a.pid, SIGKILL);
    f->a.port = t_free_port();
    t_server_start(f, &f->a);
    t_grant(f->st, "192.0.2.100", "mia", now, now + 100);
    f->b.port = t_free_port();
    t_server_start(f, &f->b);
    snprintf(uri_b, sizeof(uri_b), "redis://unix:%s", f->b.sock);
    if ((stb = store_open(uri_b, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("store_open %s: %s", uri_b, err);
    t_grant(stb, "192.0.2.100", "ned", now, now + 100);
    store_close(stb);
    t_sentinel_start(f, sport, f->a.port);
    snprintf(loc, sizeof(loc), "//127.0.0.1:%d,127.0.0.1:%d/popauth", dead, sport);
    t_reader(f, loc, 1);
    assert_int_equal(t_ask(f, &a[0], "192.0.2.100", now), 0); /* waits for the Sentinels */
    assert_true(t_run(f, &a[0].called, 1, 3));
    if (a[0].rc != 1)
        fail_msg("rc %d: %s", a[0].rc, a[0].err);
    assert_string_equal(a[0].g.user, "mia");
    assert_true(redis_reader_connected(f->rd));
    /* the Sentinel now names b */
    {
        redisContext *c = redisConnect("127.0.0.1", sport);
        assert_true(c != NULL && !c->err);
        freeReplyObject(redisCommand(c, "SENTINEL REMOVE popauth"));
        freeReplyObject(redisCommand(c, "SENTINEL MONITOR popauth 127.0.0.1 %d 1", f->b.port));
        redisFree(c);
    }
    t0 = util_now();
    while (!moved && util_now() < t0 + 2.5) {
        if (t_ask(f, &a[1], "192.0.2.100", now) == 0)
            assert_true(t_run(f, &a[1].called, 1, 2));
        moved = a[1].rc == 1 && strcmp(a[1].g.user, "ned") == 0;
        if (!moved)
            t_sleep(f, 0.05);
    }
    if (!moved)
        fail_msg("still not reading the new primary 2.5 s later: rc %d %s", a[1].rc, a[1].err);
    /* no Sentinel at all: refused, naming the last one's problem */
    redis_server_stop(&f->sentinel, SIGKILL);
    t_reader(f, loc, 1);
    if (t_ask(f, &a[0], "192.0.2.100", now) == 0) { /* or refused at once: both failed */
        assert_true(t_run(f, &a[0].called, 1, 3));
        assert_int_equal(a[0].rc, -1);
    }
    if (strstr(a[0].err, "no primary for popauth: Sentinel 127.0.0.1:") == NULL)
        fail_msg("message: %s", a[0].err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_found, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_many, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_before_ready, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_cancel, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_down_and_back, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_hung, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_replica, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_demoted, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_password, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_newer_layout, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_sentinel, t_setup, t_teardown),
    };

    signal(SIGPIPE, SIG_IGN); /* as the daemons do: hiredis writes with write(2) */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
