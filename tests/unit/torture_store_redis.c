/*
 * torture_store_redis - unit tests of the grant store's Redis backend through the public
 * API (db/store.h), against a real redis-server (Debian's redis-server package) that each
 * test starts on a unix socket in a temporary directory of its own and stops by PID:
 * URIs, grants and re-grants with the SQLite store's meaning, expiry by Redis itself,
 * revoke (of an address, a user, all), list and stats, batches that commit together or
 * not at all (and one larger than a script call), positions per node, counters, import, read-only
 * handles, passwords and ACL users, failing closed while the server is down and reconnecting after
 * it, refusing a replica, a newer key layout, a flushed script cache, and redis_wait_replicas
 * without replicas. A missing redis-server fails the tests; it never skips them. The tests use
 * hiredis directly where they must look behind the API.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "db/redis_uri.h"
#include "db/store.h"
#include "tests/unit/redis_server.h"

#define T_ERRLEN   1024
#define T_PASSWORD "s3cret-Pa55word"

struct t_fixture {
    char dir[64];
    char sock[128];
    char uri[192];
    pid_t pid;        /* the redis-server */
    struct store *st; /* a read-write handle */
};

/* t_configure - store options: node, wait replicas, password file (NULL: none) */
static void t_configure(const char *node, int wait, const char *password_file)
{
    struct store_options o = {
        .password_file = password_file, .node = node, .wait_replicas = wait, .timeout_ms = 500};
    char err[T_ERRLEN];

    if (store_configure(&o, err, sizeof(err)) < 0)
        fail_msg("store_configure: %s", err);
}

/* t_setup_bare - a temporary directory and a redis-server in it; no store handle */
static int t_setup_bare(void **state)
{
    struct t_fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    redis_server_dir_make(f->dir, sizeof(f->dir), "torture_store_redis");
    snprintf(f->sock, sizeof(f->sock), "%s/redis.sock", f->dir);
    snprintf(f->uri, sizeof(f->uri), "redis://unix:%s", f->sock);
    t_configure("nodea", 0, NULL);
    f->pid = redis_server_start(f->dir, f->sock, 0, NULL);
    *state = f;
    return 0;
}

/* t_setup - t_setup_bare and a read-write handle */
static int t_setup(void **state)
{
    struct t_fixture *f;
    char err[T_ERRLEN];

    t_setup_bare(state);
    f = *state;
    if ((f->st = store_open(f->uri, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("store_open %s: %s", f->uri, err);
    return 0;
}

/* t_teardown - close, stop the server, remove the directory */
static int t_teardown(void **state)
{
    struct t_fixture *f = *state;

    store_close(f->st);
    redis_server_stop(&f->pid, SIGKILL);
    redis_server_dir_remove(f->dir);
    free(f);
    return 0;
}

/* t_grant - store_grant that must succeed */
static void t_grant(struct store *st, const char *addr, const char *user, int64_t login,
                    int64_t expires)
{
    char err[T_ERRLEN];

    if (store_grant(st, addr, user, "dovecot", login, expires, err, sizeof(err)) < 0)
        fail_msg("store_grant %s: %s", addr, err);
}

/* t_lookup - store_lookup that must not fail: 1 found (into *g), 0 not */
static int t_lookup(struct store *st, const char *addr, int64_t now, struct store_grant *g)
{
    char err[T_ERRLEN];
    int rc = store_lookup(st, addr, now, g, err, sizeof(err));

    if (rc < 0)
        fail_msg("store_lookup %s: %s", addr, err);
    return rc;
}

/* test_uri_parse - the URI forms, and what is refused with what message */
static void test_uri_parse(void **state)
{
    static const struct {
        const char *loc;
        int sentinel, ok, nhosts, port, db;
        const char *host, *extra;
    } cases[] = {
        {"//127.0.0.1:6380/2", 0, 1, 1, 6380, 2, "127.0.0.1", NULL},
        {"//redis.example", 0, 1, 1, 6379, 0, "redis.example", NULL},
        {"//[2001:db8::1]:7000/15", 0, 1, 1, 7000, 15, "2001:db8::1", NULL},
        {"//unix:/run/redis/redis.sock?db=3", 0, 1, 0, 0, 3, "", "/run/redis/redis.sock"},
        {"//10.0.0.1,10.0.0.2:26380,[::1]/mail/1", 1, 1, 3, 26379, 1, "10.0.0.1", "mail"},
        {"//127.0.0.1:0", 0, 0, 0, 0, 0, NULL, "port"},
        {"//127.0.0.1:65536", 0, 0, 0, 0, 0, NULL, "port"},
        {"//127.0.0.1/16", 0, 0, 0, 0, 0, NULL, "DB"},
        {"//127.0.0.1/1x", 0, 0, 0, 0, 0, NULL, "DB"},
        {"//user:pw@127.0.0.1", 0, 0, 0, 0, 0, NULL, "database_password_file"},
        {"//a,b", 0, 0, 0, 0, 0, NULL, "one host"},
        {"//[2001:db8::zz]", 0, 0, 0, 0, 0, NULL, "IPv6"},
        {"//[::1", 0, 0, 0, 0, 0, NULL, "']'"},
        {"127.0.0.1", 0, 0, 0, 0, 0, NULL, "'//'"},
        {"//10.0.0.1", 1, 0, 0, 0, 0, NULL, "master name"},
        {"//10.0.0.1/", 1, 0, 0, 0, 0, NULL, "master name"},
        {"//unix:relative", 0, 0, 0, 0, 0, NULL, "absolute"},
        {"//a,b,c,d,e,f,g,h,i/m", 1, 0, 0, 0, 0, NULL, "more than"},
        {"//h:1 /m", 1, 0, 0, 0, 0, NULL, "master name"},
    };
    struct redis_uri u;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc = redis_uri_parse(cases[i].loc, cases[i].sentinel, &u, err, sizeof(err));
        if (!cases[i].ok) {
            if (rc == 0)
                fail_msg("'%s' was accepted", cases[i].loc);
            if (strstr(err, cases[i].extra) == NULL)
                fail_msg("'%s': message '%s' lacks '%s'", cases[i].loc, err, cases[i].extra);
            continue;
        }
        if (rc < 0)
            fail_msg("'%s': %s", cases[i].loc, err);
        assert_int_equal(u.nhosts, cases[i].nhosts);
        assert_int_equal(u.db, cases[i].db);
        if (cases[i].nhosts > 0) {
            assert_string_equal(u.hosts[0].host, cases[i].host);
            assert_int_equal(u.hosts[0].port, cases[i].port);
        } else {
            assert_string_equal(u.path, cases[i].extra);
        }
        if (cases[i].sentinel) {
            assert_string_equal(u.master, cases[i].extra);
            assert_int_equal(u.hosts[1].port, 26380);
            assert_string_equal(u.hosts[2].host, "::1");
        }
    }
    /* the store layer: the scheme with a '-' reaches the backend; its check explains */
    assert_int_equal(store_check("redis-sentinel://10.0.0.1", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "master name"));
    assert_int_equal(store_check("redis://127.0.0.1:6379/0", err, sizeof(err)), 0);
}

/* test_grant_lookup - a grant is found with every field; another address is not */
static void test_grant_lookup(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct store_grant g;
    redisReply *r;

    t_grant(f->st, "192.0.2.7", "alice", now - 5, now + 1800);
    assert_int_equal(t_lookup(f->st, "192.0.2.7", now, &g), 1);
    assert_string_equal(g.address, "192.0.2.7");
    assert_string_equal(g.user, "alice");
    assert_string_equal(g.source, "dovecot");
    assert_int_equal(g.first_login, now - 5);
    assert_int_equal(g.last_login, now - 5);
    assert_int_equal(g.logins, 1);
    assert_int_equal(g.expires, now + 1800);
    assert_int_equal(t_lookup(f->st, "192.0.2.8", now, &g), 0);
    /* Redis expires the key itself, at expires */
    r = redis_server_cmd(f->sock, "PEXPIRETIME popauth:grant:192.0.2.7");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_int_equal(r->integer, (long long)(now + 1800) * 1000);
    freeReplyObject(r);
    t_grant(f->st, "2001:db8::7", "bob", now, now + 60);
    assert_int_equal(t_lookup(f->st, "2001:db8::7", now, &g), 1);
    assert_string_equal(g.user, "bob");
}

/* test_regrant - the SQLite store's upsert: later expiry wins, first_login never moves
 * forward, last_login never back, user and source follow the newest login, logins counts */
static void test_regrant(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct store_grant g;
    char err[T_ERRLEN];

    t_grant(f->st, "198.51.100.1", "alice", now - 100, now + 1000);
    t_grant(f->st, "198.51.100.1", "bob", now - 50, now + 500); /* newer login, shorter expiry */
    assert_int_equal(t_lookup(f->st, "198.51.100.1", now, &g), 1);
    assert_string_equal(g.user, "bob");
    assert_int_equal(g.first_login, now - 100);
    assert_int_equal(g.last_login, now - 50);
    assert_int_equal(g.logins, 2);
    assert_int_equal(g.expires, now + 1000);
    /* a late replay of an older login: counted, but user, source and last_login stay */
    assert_int_equal(store_grant(f->st, "198.51.100.1", "mallory", "courier", now - 200, now + 2000,
                                 err, sizeof(err)),
                     0);
    assert_int_equal(t_lookup(f->st, "198.51.100.1", now, &g), 1);
    assert_string_equal(g.user, "bob");
    assert_string_equal(g.source, "dovecot");
    assert_int_equal(g.first_login, now - 200);
    assert_int_equal(g.last_login, now - 50);
    assert_int_equal(g.logins, 3);
    assert_int_equal(g.expires, now + 2000);
}

/* test_expiry - a grant past its expiry is not found, and Redis has dropped it */
static void test_expiry(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct store_grant g;
    redisReply *r;

    t_grant(f->st, "203.0.113.9", "carol", now - 3600, now - 1);
    assert_int_equal(t_lookup(f->st, "203.0.113.9", now, &g), 0);
    r = redis_server_cmd(f->sock, "EXISTS popauth:grant:203.0.113.9");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    /* and a lookup with a later clock than the key's own does not find it either */
    t_grant(f->st, "203.0.113.10", "carol", now, now + 100);
    assert_int_equal(t_lookup(f->st, "203.0.113.10", now + 100, &g), 0);
    assert_int_equal(t_lookup(f->st, "203.0.113.10", now + 99, &g), 1);
}

/* test_revoke - of an address, of a user's grants, of all */
static void test_revoke(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    char err[T_ERRLEN];
    int64_t removed = -1;

    t_grant(f->st, "192.0.2.1", "alice", now, now + 100);
    t_grant(f->st, "192.0.2.2", "alice", now, now + 100);
    t_grant(f->st, "192.0.2.3", "bob", now, now + 100);
    t_grant(f->st, "192.0.2.4", "carol", now, now + 100);
    assert_int_equal(store_revoke(f->st, "192.0.2.3", err, sizeof(err)), 1);
    assert_int_equal(store_revoke(f->st, "192.0.2.3", err, sizeof(err)), 0);
    assert_int_equal(t_lookup(f->st, "192.0.2.3", now, NULL), 0);
    assert_int_equal(store_revoke_user(f->st, "alice", &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 2);
    assert_int_equal(t_lookup(f->st, "192.0.2.1", now, NULL), 0);
    assert_int_equal(t_lookup(f->st, "192.0.2.4", now, NULL), 1);
    assert_int_equal(store_revoke_all(f->st, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 1);
    assert_int_equal(t_lookup(f->st, "192.0.2.4", now, NULL), 0);
    /* purge has nothing to do: Redis deletes expired grants itself */
    assert_int_equal(store_purge(f->st, now, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 0);
}

struct t_list {
    char seen[8][ADDR_STRLEN];
    int n;
};

/* t_list_cb - collect the addresses store_list walks */
static int t_list_cb(const struct store_grant *g, void *ctx)
{
    struct t_list *l = ctx;

    if (l->n < 8)
        strcpy(l->seen[l->n], g->address);
    l->n++;
    return 0;
}

/* test_list_stats - list walks the active grants by address; stats counts them */
static void test_list_stats(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct store_stats stats;
    struct t_list l = {0};
    char err[T_ERRLEN];

    t_grant(f->st, "192.0.2.20", "a", now, now + 100);
    t_grant(f->st, "10.0.0.1", "b", now, now + 100);
    t_grant(f->st, "2001:db8::1", "c", now, now + 100);
    t_grant(f->st, "192.0.2.3", "d", now, now + 5); /* still in Redis, expired for now + 10 */
    assert_int_equal(store_list(f->st, now + 10, 0, t_list_cb, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.seen[0], "10.0.0.1");
    assert_string_equal(l.seen[1], "192.0.2.20");
    assert_string_equal(l.seen[2], "2001:db8::1");
    memset(&l, 0, sizeof(l));
    assert_int_equal(store_list(f->st, now + 10, 1, t_list_cb, &l, err, sizeof(err)), 0);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.seen[2], "192.0.2.3");
    assert_int_equal(store_stats(f->st, now + 10, &stats, err, sizeof(err)), 0);
    assert_int_equal(stats.active, 3);
    assert_int_equal(stats.expired, 1);
    assert_true(stats.database_bytes > 0);
    assert_int_equal(stats.schema_version, 1);
}

/* test_batch - a batch's grants, position and counters appear together at the commit,
 * and not at all after a rollback */
static void test_batch(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos = {.device = 8, .inode = 1234, .offset = 4096, .head = "abcd"};
    struct store_position got;
    struct store *ro;
    time_t now = time(NULL);
    char err[T_ERRLEN];

    ro = store_open(f->uri, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("read-only open: %s", err);
    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.50", "u1", now, now + 100);
    t_grant(f->st, "192.0.2.51", "u2", now, now + 100);
    assert_int_equal(store_position_put(f->st, "/var/log/mail.log", &pos, err, sizeof(err)), 0);
    assert_int_equal(store_counter_add(f->st, "dovecot", "logins", 2, err, sizeof(err)), 0);
    /* nothing is visible before the commit */
    assert_int_equal(t_lookup(ro, "192.0.2.50", now, NULL), 0);
    assert_int_equal(store_position_get(ro, "/var/log/mail.log", &got, err, sizeof(err)), 0);
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
    assert_int_equal(t_lookup(ro, "192.0.2.50", now, NULL), 1);
    assert_int_equal(t_lookup(ro, "192.0.2.51", now, NULL), 1);
    assert_int_equal(store_position_get(ro, "/var/log/mail.log", &got, err, sizeof(err)), 1);
    assert_int_equal(got.device, 8);
    assert_int_equal(got.inode, 1234);
    assert_int_equal(got.offset, 4096);
    assert_string_equal(got.head, "abcd");
    assert_string_equal(got.cursor, "");
    /* a rolled-back batch leaves no trace */
    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.52", "u3", now, now + 100);
    pos.offset = 9999;
    assert_int_equal(store_position_put(f->st, "/var/log/mail.log", &pos, err, sizeof(err)), 0);
    assert_int_equal(store_rollback(f->st, err, sizeof(err)), 0);
    assert_int_equal(t_lookup(ro, "192.0.2.52", now, NULL), 0);
    assert_int_equal(store_position_get(ro, "/var/log/mail.log", &got, err, sizeof(err)), 1);
    assert_int_equal(got.offset, 4096);
    /* a read-only handle writes nothing */
    assert_int_equal(store_grant(ro, "192.0.2.53", "x", "y", now, now + 100, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "read-only"));
    assert_int_equal(store_revoke(ro, "192.0.2.50", err, sizeof(err)), -1);
    store_close(ro);
}

/* test_big_batch - a batch larger than one script call is written whole, position too */
static void test_big_batch(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos = {.offset = 777}, got;
    time_t now = time(NULL);
    struct store_stats stats;
    char err[T_ERRLEN], addr[32];
    int i;

    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    for (i = 0; i < 5000; i++) {
        snprintf(addr, sizeof(addr), "10.1.%d.%d", i / 256, i % 256);
        t_grant(f->st, addr, "bulk", now, now + 100);
    }
    assert_int_equal(store_position_put(f->st, "big", &pos, err, sizeof(err)), 0);
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_stats(f->st, now, &stats, err, sizeof(err)), 0);
    assert_int_equal(stats.active, 5000);
    assert_int_equal(t_lookup(f->st, "10.1.19.135", now, NULL), 1);
    assert_int_equal(store_position_get(f->st, "big", &got, err, sizeof(err)), 1);
    assert_int_equal(got.offset, 777);
}

struct t_counters {
    char text[512];
};

/* t_counter_cb - append "source name value;" */
static int t_counter_cb(const char *source, const char *name, int64_t value, void *ctx)
{
    struct t_counters *c = ctx;
    size_t n = strlen(c->text);

    snprintf(c->text + n, sizeof(c->text) - n, "%s %s %lld;", source, name, (long long)value);
    return 0;
}

/* t_position_cb - append "source offset;" */
static int t_position_cb(const char *source, const struct store_position *pos, void *ctx)
{
    struct t_counters *c = ctx;
    size_t n = strlen(c->text);

    snprintf(c->text + n, sizeof(c->text) - n, "%s %lld;", source, (long long)pos->offset);
    return 0;
}

/* test_nodes_counters - each node has positions of its own; counters add up over nodes */
static void test_nodes_counters(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos = {.offset = 100};
    struct t_counters c = {""};
    struct store *b;
    char err[T_ERRLEN];

    assert_int_equal(store_position_put(f->st, "file:/var/log/mail.log", &pos, err, sizeof(err)),
                     0);
    assert_int_equal(
        store_counter_add(f->st, "file:/var/log/mail.log", "lines", 5, err, sizeof(err)), 0);
    t_configure("nodeb", 0, NULL);
    if ((b = store_open(f->uri, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("open as nodeb: %s", err);
    pos.offset = 200;
    assert_int_equal(store_position_put(b, "file:/var/log/mail.log", &pos, err, sizeof(err)), 0);
    assert_int_equal(store_position_put(b, "journal", &pos, err, sizeof(err)), 0);
    assert_int_equal(store_counter_add(b, "file:/var/log/mail.log", "lines", 7, err, sizeof(err)),
                     0);
    assert_int_equal(store_counter_add(b, "journal", "logins", 1, err, sizeof(err)), 0);
    assert_int_equal(store_positions(b, t_position_cb, &c, err, sizeof(err)), 0);
    assert_string_equal(c.text, "file:/var/log/mail.log 200;journal 200;");
    t_configure("nodea", 0, NULL);
    c.text[0] = '\0';
    assert_int_equal(store_positions(f->st, t_position_cb, &c, err, sizeof(err)), 0);
    assert_string_equal(c.text, "file:/var/log/mail.log 100;");
    c.text[0] = '\0';
    assert_int_equal(store_counters(f->st, t_counter_cb, &c, err, sizeof(err)), 0);
    assert_string_equal(c.text, "file:/var/log/mail.log lines 12;journal logins 1;");
    store_close(b);
}

/* test_import - a row merged into the one there, its logins added (migrate from two hosts) */
static void test_import(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    struct store_grant in = {.address = "192.0.2.77",
                             .user = "dave",
                             .source = "courier",
                             .first_login = 1000,
                             .last_login = 2000,
                             .logins = 42,
                             .expires = 0};
    struct store_grant g;
    char err[T_ERRLEN];

    in.expires = now + 300;
    t_grant(f->st, "192.0.2.77", "someone", now, now + 900);
    assert_int_equal(store_import(f->st, &in, err, sizeof(err)), 0);
    assert_int_equal(t_lookup(f->st, "192.0.2.77", now, &g), 1);
    assert_string_equal(g.user, "someone"); /* the newer login's */
    assert_string_equal(g.source, "dovecot");
    assert_int_equal(g.first_login, 1000);
    assert_int_equal(g.last_login, now);
    assert_int_equal(g.logins, 43);
    assert_int_equal(g.expires, now + 900);
    /* into an empty place: as it is */
    strcpy(in.address, "192.0.2.78");
    assert_int_equal(store_import(f->st, &in, err, sizeof(err)), 0);
    assert_int_equal(t_lookup(f->st, "192.0.2.78", now, &g), 1);
    assert_string_equal(g.user, "dave");
    assert_int_equal(g.first_login, 1000);
    assert_int_equal(g.last_login, 2000);
    assert_int_equal(g.logins, 42);
    assert_int_equal(g.expires, now + 300);
}

/* test_down_and_back - with the server gone every call fails (a lookup never answers
 * "no grant" from nothing); once it is back, the handle reconnects by itself */
static void test_down_and_back(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    char err[T_ERRLEN];
    int i, rc = -1;

    t_grant(f->st, "192.0.2.90", "erin", now, now + 100);
    redis_server_stop(&f->pid, SIGKILL);
    assert_int_equal(store_lookup(f->st, "192.0.2.90", now, NULL, err, sizeof(err)), -1);
    assert_non_null(strstr(err, f->sock));
    assert_int_equal(store_lookup(f->st, "192.0.2.90", now, NULL, err, sizeof(err)), -1);
    assert_int_equal(
        store_grant(f->st, "192.0.2.91", "erin", "dovecot", now, now + 100, err, sizeof(err)), -1);
    f->pid = redis_server_start(f->dir, f->sock, 0, NULL); /* empty: it kept nothing */
    for (i = 0; i < 100 && rc < 0; i++) {
        rc = store_lookup(f->st, "192.0.2.90", now, NULL, err, sizeof(err));
        if (rc < 0)
            usleep(50000);
    }
    assert_int_equal(rc, 0);
    t_grant(f->st, "192.0.2.91", "erin", now, now + 100);
    assert_int_equal(t_lookup(f->st, "192.0.2.91", now, NULL), 1);
    /* a flushed script cache is loaded again */
    freeReplyObject(redis_server_cmd(f->sock, "SCRIPT FLUSH"));
    t_grant(f->st, "192.0.2.92", "erin", now, now + 100);
    assert_int_equal(t_lookup(f->st, "192.0.2.92", now, NULL), 1);
}

/* test_password - AUTH from the password file, as the default user and as an ACL user;
 * without it, or with a bad one, no open; the password never appears in a message */
static void test_password(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN], pw[256], acl[256];
    struct store_options o = {.node = "nodea", .timeout_ms = 500};
    struct store *st;

    redis_server_stop(&f->pid, SIGKILL);
    f->pid = redis_server_start(f->dir, f->sock, 0, "--requirepass", T_PASSWORD, NULL);
    assert_null(store_open(f->uri, STORE_READWRITE, err, sizeof(err)));
    assert_non_null(strstr(err, "NOAUTH"));
    snprintf(pw, sizeof(pw), "%s/pw", f->dir);
    redis_server_write_file(pw, 0600, T_PASSWORD "\n");
    t_configure("nodea", 0, pw);
    if ((st = store_open(f->uri, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("open with the password: %s", err);
    store_close(st);
    redis_server_write_file(pw, 0600, "wrong-password\n");
    t_configure("nodea", 0, pw);
    assert_null(store_open(f->uri, STORE_READWRITE, err, sizeof(err)));
    assert_null(strstr(err, "wrong-password"));
    /* an ACL user: two lines */
    redis_server_add_user(f->sock, T_PASSWORD, "gate", "gatepass");
    snprintf(acl, sizeof(acl), "%s/acl", f->dir);
    redis_server_write_file(acl, 0640, "gate\ngatepass\n");
    t_configure("nodea", 0, acl);
    if ((st = store_open(f->uri, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("open as the ACL user: %s", err);
    t_grant(st, "192.0.2.66", "frank", time(NULL), time(NULL) + 60);
    store_close(st);
    /* a password file that every local user may read is refused */
    redis_server_write_file(acl, 0644, "gate\ngatepass\n");
    o.password_file = acl;
    assert_int_equal(store_configure(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "every local user may read or write it"));
    assert_null(strstr(err, "gatepass"));
    /* CRLF line ends are not part of the password */
    redis_server_write_file(acl, 0600, "gate\r\ngatepass\r\n");
    o.password_file = acl;
    assert_int_equal(store_configure(&o, err, sizeof(err)), 0);
    if ((st = store_open(f->uri, STORE_READWRITE, err, sizeof(err))) == NULL)
        fail_msg("open with a CRLF password file: %s", err);
    store_close(st);
    redis_server_write_file(acl, 0600, "a\nb\nc\n");
    assert_int_equal(store_configure(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "one line (the password) or two"));
    o.password_file = "/nonexistent/pw";
    assert_int_equal(store_configure(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "database_password_file /nonexistent/pw"));
    o.password_file = NULL;
    o.node = "bad node";
    assert_int_equal(store_configure(&o, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "redis_node_name"));
    t_configure("nodea", 0, NULL);
}

/* test_replica_refused - a server that is a replica is not a store (it may lag a revoke) */
static void test_replica_refused(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN];
    struct store *ro = store_open(f->uri, STORE_READONLY, err, sizeof(err));

    if (ro == NULL)
        fail_msg("open: %s", err);
    assert_int_equal(store_stale(ro, err, sizeof(err)), 0);
    freeReplyObject(
        redis_server_cmd(f->sock, "REPLICAOF 127.0.0.1 1")); /* a primary that is not there */
    /* a reader connected before the switch learns of it within a second (smtpgate then
     * reopens, and the open is refused) */
    usleep(1100000);
    assert_int_equal(store_stale(ro, err, sizeof(err)), 1);
    store_close(ro);
    assert_null(store_open(f->uri, STORE_READONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "is a replica, not the primary"));
    assert_null(store_open(f->uri, STORE_READWRITE, err, sizeof(err)));
    freeReplyObject(redis_server_cmd(f->sock, "REPLICAOF NO ONE"));
    store_close(store_open(f->uri, STORE_READONLY, err, sizeof(err)));
}

/* test_newer_layout - a key layout this program does not know is refused */
static void test_newer_layout(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN];

    freeReplyObject(redis_server_cmd(f->sock, "SET popauth:version 2"));
    assert_null(store_open(f->uri, STORE_READONLY, err, sizeof(err)));
    assert_non_null(strstr(err, "key layout version 2"));
}

/* test_wait_replicas - with redis_wait_replicas and no replica, a commit fails and says why */
static void test_wait_replicas(void **state)
{
    struct t_fixture *f = *state;
    time_t now = time(NULL);
    char err[T_ERRLEN];

    struct store_position pos = {.offset = 10};
    struct store_grant g;
    struct t_counters c = {""};
    int i;

    t_configure("nodea", 1, NULL);
    /* the same batch sent three times (as popauth does after a failed commit): Redis
     * applied it once, and the retries count nothing again */
    for (i = 0; i < 3; i++) {
        assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
        t_grant(f->st, "192.0.2.120", "gina", now, now + 100);
        assert_int_equal(store_counter_add(f->st, "dovecot", "logins", 5, err, sizeof(err)), 0);
        assert_int_equal(store_position_put(f->st, "file", &pos, err, sizeof(err)), 0);
        if (i == 1)
            usleep(1100000); /* the clock moves on between two sendings */
        assert_int_equal(store_commit(f->st, err, sizeof(err)), -1);
        if (strstr(err, "0 of the 1 replicas") == NULL)
            fail_msg("%s", err);
    }
    t_configure("nodea", 0, NULL);
    assert_int_equal(t_lookup(f->st, "192.0.2.120", now, &g), 1);
    assert_int_equal(g.logins, 1);
    assert_int_equal(store_counters(f->st, t_counter_cb, &c, err, sizeof(err)), 0);
    assert_string_equal(c.text, "dovecot logins 5;");
    /* another batch is applied, even with the same content as an applied one */
    t_grant(f->st, "192.0.2.120", "gina", now, now + 100);
    assert_int_equal(t_lookup(f->st, "192.0.2.120", now, &g), 1);
    assert_int_equal(g.logins, 2);
}

/* test_foreign_keys - a key of another type, a hash without its numbers or a counter that
 * is not a number is replaced: the batch is written whole, never half */
static void test_foreign_keys(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos = {.offset = 55}, got;
    struct t_counters c = {""};
    time_t now = time(NULL);
    struct store_grant g;
    char err[T_ERRLEN];

    freeReplyObject(redis_server_cmd(f->sock, "SET popauth:grant:192.0.2.130 garbage"));
    freeReplyObject(
        redis_server_cmd(f->sock, "HSET popauth:grant:192.0.2.131 user x last_login soon"));
    freeReplyObject(redis_server_cmd(f->sock, "HSET popauth:counters dovecot|lines notanumber"));
    freeReplyObject(redis_server_cmd(f->sock, "LPUSH popauth:position:nodea:src x"));
    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.130", "hal", now, now + 100);
    t_grant(f->st, "192.0.2.131", "ian", now, now + 100);
    assert_int_equal(store_position_put(f->st, "src", &pos, err, sizeof(err)), 0);
    assert_int_equal(store_counter_add(f->st, "dovecot", "lines", 3, err, sizeof(err)), 0);
    if (store_commit(f->st, err, sizeof(err)) < 0)
        fail_msg("commit: %s", err);
    assert_int_equal(t_lookup(f->st, "192.0.2.130", now, &g), 1);
    assert_string_equal(g.user, "hal");
    assert_int_equal(t_lookup(f->st, "192.0.2.131", now, &g), 1);
    assert_int_equal(g.logins, 1);
    assert_int_equal(store_position_get(f->st, "src", &got, err, sizeof(err)), 1);
    assert_int_equal(got.offset, 55);
    assert_int_equal(store_counters(f->st, t_counter_cb, &c, err, sizeof(err)), 0);
    assert_string_equal(c.text, "dovecot lines 3;");
    /* a long field, or one that is not SOURCE|NAME, is passed over */
    freeReplyObject(redis_server_cmd(f->sock, "HSET popauth:counters %0650d 1", 0));
    freeReplyObject(redis_server_cmd(f->sock, "HSET popauth:counters %0650d|x 1", 0));
    c.text[0] = '\0';
    assert_int_equal(store_counters(f->st, t_counter_cb, &c, err, sizeof(err)), 0);
    assert_string_equal(c.text, "dovecot lines 3;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_uri_parse),
        cmocka_unit_test_setup_teardown(test_grant_lookup, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_regrant, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_expiry, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_revoke, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_list_stats, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_batch, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_big_batch, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_nodes_counters, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_import, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_down_and_back, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_password, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_replica_refused, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_newer_layout, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_wait_replicas, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_keys, t_setup, t_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
