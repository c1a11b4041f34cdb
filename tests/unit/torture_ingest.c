/*
 * torture_ingest - the ingest core against a real store: lines become grants, a burst
 * from one address is one write, filters (local networks, never_grant, age, clock skew)
 * hold, positions and counters commit with the grants they belong to, dry_run writes
 * nothing, and a failed commit keeps the batch for the next one; the same through the
 * committer thread, and bulk mode's one transaction, which a failure ends. Every line is
 * read at the fixed time T_NOW: no test depends on the wall clock.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "db/store.h"
#include "popauth/ingest.h"
#include "shared/config.h"

#define T_NOW ((time_t)1764340000) /* 2025-11-28 14:26:40 UTC: "now" for every test */

struct t_fixture {
    char dir[64];
    char db[128];
    struct config *cfg;
    struct store *st;
    struct ingest *ing;
    struct source src;
    int wakes; /* calls of t_wake, from the committer thread */
};

/* t_setup - a fresh store, a config with 10.0.0.0/8 local and 192.0.2.66 never granted */
static int t_setup(void **state)
{
    static const char *over[] = {"grant_lifetime = 30m", "local_networks = 10.0.0.0/8",
                                 "never_grant = 192.0.2.66"};
    struct t_fixture *f = calloc(1, sizeof(*f));
    char err[512];

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/torture_ingest.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->db, sizeof(f->db), "%s/auth.db", f->dir);
    f->cfg = config_build("/dev/null", 1, over, 3, err, sizeof(err));
    assert_non_null(f->cfg);
    f->st = store_open(f->db, STORE_READWRITE, err, sizeof(err));
    assert_non_null(f->st);
    f->ing = ingest_new(f->cfg, f->st, NULL, FORMATS_ALL, 0);
    snprintf(f->src.name, sizeof(f->src.name), "file:/var/log/test.log");
    f->src.persistent = 1;
    ingest_add_source(f->ing, &f->src);
    *state = f;
    return 0;
}

/* t_teardown - close everything and remove the directory */
static int t_teardown(void **state)
{
    struct t_fixture *f = *state;
    char cmd[160];

    ingest_free(f->ing);
    store_close(f->st);
    config_free(f->cfg);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* t_line - feed a Dovecot login line for addr by user at time t (0: T_NOW), read at T_NOW */
static void t_line(struct t_fixture *f, const char *addr, const char *user, time_t t)
{
    char line[512], stamp[32];
    struct tm tm;

    if (t == 0)
        t = T_NOW;
    localtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
    snprintf(line, sizeof(line),
             "%s mx dovecot: pop3-login: Login: user=<%s>, method=PLAIN, rip=%s, lip=10.0.0.1, "
             "mpid=1, session=<abc>",
             stamp, user, addr);
    f->src.position.offset += (int64_t)strlen(line) + 1;
    f->src.position_dirty = 1;
    ingest_line(f->ing, &f->src, line, strlen(line), T_NOW);
}

/* t_flush - ingest_flush that must succeed */
static void t_flush(struct t_fixture *f)
{
    char err[512];

    if (ingest_flush(f->ing, err, sizeof(err)) < 0)
        fail_msg("flush: %s", err);
}

/* t_grant - 1 and *g if addr has an active grant at T_NOW */
static int t_grant(struct t_fixture *f, const char *addr, struct store_grant *g)
{
    char err[512];
    struct store_grant tmp;

    return store_lookup(f->st, addr, T_NOW, g ? g : &tmp, err, sizeof(err));
}

/* test_login_grants - a login line becomes a grant from the line's time, after flush */
static void test_login_grants(void **state)
{
    struct t_fixture *f = *state;
    time_t t = T_NOW - 60;
    struct store_grant g;

    t_line(f, "203.0.113.7", "alice", t);
    assert_int_equal(ingest_pending(f->ing), 1);
    assert_int_equal(t_grant(f, "203.0.113.7", NULL), 0); /* not before the commit */
    t_flush(f);
    assert_int_equal(t_grant(f, "203.0.113.7", &g), 1);
    assert_string_equal(g.user, "alice");
    assert_string_equal(g.source, "dovecot");
    assert_int_equal(g.last_login, t);
    assert_int_equal(g.expires, t + 1800);
}

/* test_burst_one_write - many logins from one address are one row, newest login kept */
static void test_burst_one_write(void **state)
{
    struct t_fixture *f = *state;
    time_t t = T_NOW - 100;
    struct store_grant g;
    int i;

    for (i = 0; i < 50; i++)
        t_line(f, "2001:db8::7", i == 30 ? "newest" : "bob", t + (i == 30 ? 50 : i % 10));
    assert_int_equal(ingest_pending(f->ing), 1);
    t_flush(f);
    assert_int_equal(t_grant(f, "2001:db8::7", &g), 1);
    assert_int_equal(g.logins, 1);
    assert_string_equal(g.user, "newest");
    assert_int_equal(g.expires, t + 50 + 1800);
}

/* test_filters - local networks, never_grant and logins older than the lifetime */
static void test_filters(void **state)
{
    struct t_fixture *f = *state;

    t_line(f, "10.1.2.3", "local", 0);
    t_line(f, "::ffff:10.1.2.4", "mapped-local", 0);
    t_line(f, "192.0.2.66", "never", 0);
    t_line(f, "192.0.2.67", "old", T_NOW - 1801);
    t_line(f, "192.0.2.68", "fine", 0);
    t_flush(f);
    assert_int_equal(t_grant(f, "10.1.2.3", NULL), 0);
    assert_int_equal(t_grant(f, "10.1.2.4", NULL), 0);
    assert_int_equal(t_grant(f, "192.0.2.66", NULL), 0);
    assert_int_equal(t_grant(f, "192.0.2.67", NULL), 0);
    assert_int_equal(t_grant(f, "192.0.2.68", NULL), 1);
    assert_int_equal(f->src.counters.lines, 0); /* deltas were committed */
}

/* test_future_clamped - a line stamped far ahead of the clock grants from now, not later */
static void test_future_clamped(void **state)
{
    struct t_fixture *f = *state;
    struct store_grant g;

    t_line(f, "198.51.100.9", "skewed", T_NOW + 3 * 3600);
    t_flush(f);
    assert_int_equal(t_grant(f, "198.51.100.9", &g), 1);
    assert_int_equal(g.last_login, T_NOW);
    assert_int_equal(g.expires, T_NOW + 1800);
}

/* t_counter - walk callback: sum the named counter of the fixture's source */
static int t_counter(const char *source, const char *name, int64_t value, void *ctx)
{
    int64_t *want = ctx;

    if (strcmp(source, "file:/var/log/test.log") == 0 && strcmp(name, "lines") == 0)
        *want = value;
    return 0;
}

/* test_position_with_grants - the position and counters commit with the grants */
static void test_position_with_grants(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos;
    int64_t lines = 0;
    char err[512];

    f->src.position.inode = 42;
    t_line(f, "192.0.2.10", "a", 0);
    t_line(f, "192.0.2.11", "b", 0);
    ingest_line(f->ing, &f->src, "garbage", 7, T_NOW);
    assert_int_equal(store_position_get(f->st, f->src.name, &pos, err, sizeof(err)), 0);
    t_flush(f);
    assert_int_equal(store_position_get(f->st, f->src.name, &pos, err, sizeof(err)), 1);
    assert_int_equal(pos.inode, 42);
    assert_int_equal(pos.offset, f->src.position.offset);
    assert_int_equal(store_counters(f->st, t_counter, &lines, err, sizeof(err)), 0);
    assert_int_equal(lines, 3);
    assert_int_equal(f->src.position_dirty, 0);
}

/* test_failed_commit_kept - a failed commit keeps the batch; the next flush writes it */
static void test_failed_commit_kept(void **state)
{
    struct t_fixture *f = *state;
    struct store *blocker;
    char err[512];

    t_line(f, "192.0.2.20", "kept", 0);
    blocker = store_open(f->db, STORE_READWRITE, err, sizeof(err));
    assert_non_null(blocker);
    assert_int_equal(store_begin(blocker, err, sizeof(err)), 0); /* holds the write lock */
    /* the 5 s busy timeout runs out: the commit fails and nothing is lost */
    assert_int_equal(ingest_flush(f->ing, err, sizeof(err)), -1);
    assert_int_equal(ingest_pending(f->ing), 1);
    assert_int_equal(store_rollback(blocker, err, sizeof(err)), 0);
    store_close(blocker);
    t_flush(f);
    assert_int_equal(t_grant(f, "192.0.2.20", NULL), 1);
}

/* test_full_batch_backpressure - a full batch that cannot be committed stops intake
 * (ingest_full) instead of growing; nothing is lost once the store is back */
static void test_full_batch_backpressure(void **state)
{
    struct t_fixture *f = *state;
    struct store *blocker;
    char err[512], addr[64];
    int n = 0;

    blocker = store_open(f->db, STORE_READWRITE, err, sizeof(err));
    assert_non_null(blocker);
    assert_int_equal(store_begin(blocker, err, sizeof(err)), 0); /* holds the write lock */
    while (!ingest_full(f->ing) && n < 100000) {
        snprintf(addr, sizeof(addr), "198.18.%d.%d", n / 250, 1 + n % 250);
        t_line(f, addr, "bulk", 0);
        n++;
    }
    assert_true(ingest_full(f->ing)); /* the forced commit failed: intake stops */
    assert_true(n < 100000);
    assert_int_equal(ingest_pending(f->ing), (size_t)n);
    assert_int_equal(store_rollback(blocker, err, sizeof(err)), 0);
    store_close(blocker);
    t_flush(f);
    assert_false(ingest_full(f->ing));
    snprintf(addr, sizeof(addr), "198.18.%d.%d", (n - 1) / 250, 1 + (n - 1) % 250);
    assert_int_equal(t_grant(f, addr, NULL), 1);
    assert_int_equal(t_grant(f, "198.18.0.1", NULL), 1);
}

/* test_dry_run - dry_run parses and counts but writes nothing */
static void test_dry_run(void **state)
{
    struct t_fixture *f = *state;
    struct ingest *dry = ingest_new(f->cfg, f->st, NULL, FORMATS_ALL, 1);
    static const char line[] = "Nov 28 14:24:53 mx dovecot: pop3-login: Login: user=<x>, "
                               "method=PLAIN, rip=192.0.2.30, lip=10.0.0.1";
    struct source src;
    char err[512];

    memset(&src, 0, sizeof(src));
    snprintf(src.name, sizeof(src.name), "stdin");
    ingest_add_source(dry, &src);
    ingest_line(dry, &src, line, strlen(line), T_NOW);
    assert_int_equal(ingest_flush(dry, err, sizeof(err)), 0);
    assert_int_equal(t_grant(f, "192.0.2.30", NULL), 0);
    ingest_free(dry);
}

/* t_wake - the committer's wake function: count the calls (from its thread) */
static void t_wake(void *arg)
{
    __atomic_fetch_add((int *)arg, 1, __ATOMIC_SEQ_CST);
}

/* t_sync - ingest_sync that must succeed */
static void t_sync(struct t_fixture *f)
{
    char err[512];

    if (ingest_sync(f->ing, err, sizeof(err)) < 0)
        fail_msg("sync: %s", err);
}

/* t_reader - 1 if a separate read-only handle sees an active grant for addr at T_NOW */
static int t_reader(struct t_fixture *f, const char *addr)
{
    struct store *ro;
    struct store_grant g;
    char err[512];
    int rc;

    ro = store_open(f->db, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("read-only open: %s", err);
    rc = store_lookup(ro, addr, T_NOW, &g, err, sizeof(err));
    store_close(ro);
    return rc;
}

/* t_bulk_lines - n logins from distinct addresses 198.18.x.y, oldest first */
static void t_bulk_lines(struct t_fixture *f, int first, int n)
{
    char addr[64];
    int i;

    for (i = first; i < first + n; i++) {
        snprintf(addr, sizeof(addr), "198.18.%d.%d", i / 250, 1 + i % 250);
        t_line(f, addr, "bulk", 0);
    }
}

/* t_sql - run sql on the fixture's database through a connection of its own */
static void t_sql(struct t_fixture *f, const char *sql)
{
    sqlite3 *db;
    char *msg = NULL;

    assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

/* t_wait_wakes - wait (up to 10 s) until the committer has woken the caller n times */
static void t_wait_wakes(struct t_fixture *f, int n)
{
    int i;

    for (i = 0; i < 10000 && __atomic_load_n(&f->wakes, __ATOMIC_SEQ_CST) < n; i++)
        usleep(1000);
    assert_int_equal(__atomic_load_n(&f->wakes, __ATOMIC_SEQ_CST), n);
}

/* t_blocker - a second writer holding the store's write lock (release with t_release) */
static struct store *t_blocker(struct t_fixture *f)
{
    struct store *blocker;
    char err[512];

    blocker = store_open(f->db, STORE_READWRITE, err, sizeof(err));
    assert_non_null(blocker);
    assert_int_equal(store_begin(blocker, err, sizeof(err)), 0);
    return blocker;
}

/* t_release - let go of t_blocker's lock */
static void t_release(struct store *blocker)
{
    char err[512];

    assert_int_equal(store_rollback(blocker, err, sizeof(err)), 0);
    store_close(blocker);
}

/* test_committer_thread - with ingest_start, a flush hands the batch to the thread, and
 * the next batch fills while it is written; sync waits for both; the thread woke the
 * caller; positions and counters go along */
static void test_committer_thread(void **state)
{
    struct t_fixture *f = *state;
    struct store *blocker = t_blocker(f);
    struct store_position pos;
    char err[512];
    int64_t lines = 0;

    assert_int_equal(ingest_start(f->ing, t_wake, &f->wakes, 0, err, sizeof(err)), 0);
    t_line(f, "203.0.113.70", "carol", 0);
    assert_int_equal(ingest_flush(f->ing, err, sizeof(err)), 0);
    t_line(f, "203.0.113.71", "dave", 0); /* into the other batch, the first one waiting */
    assert_int_equal(ingest_pending(f->ing), 2);
    assert_int_equal(ingest_flush(f->ing, err, sizeof(err)), 0); /* no wait, no hand-over */
    assert_int_equal(ingest_pending(f->ing), 2);
    t_release(blocker);
    t_sync(f);
    assert_int_equal(ingest_pending(f->ing), 0);
    assert_int_equal(__atomic_load_n(&f->wakes, __ATOMIC_SEQ_CST), 2);
    assert_int_equal(t_grant(f, "203.0.113.70", NULL), 1);
    assert_int_equal(t_grant(f, "203.0.113.71", NULL), 1);
    assert_int_equal(store_position_get(f->st, f->src.name, &pos, err, sizeof(err)), 1);
    assert_int_equal(pos.offset, f->src.position.offset);
    assert_int_equal(store_counters(f->st, t_counter, &lines, err, sizeof(err)), 0);
    assert_int_equal(lines, 2);
}

/* test_committer_failure_kept - a batch the thread could not commit is kept and written
 * again before the batch taken meanwhile, so the newest position is the one saved */
static void test_committer_failure_kept(void **state)
{
    struct t_fixture *f = *state;
    struct store *blocker = t_blocker(f);
    struct store_position pos;
    char err[512];

    assert_int_equal(ingest_start(f->ing, NULL, NULL, 0, err, sizeof(err)), 0);
    t_line(f, "203.0.113.80", "first", 0);
    assert_int_equal(ingest_flush(f->ing, err, sizeof(err)), 0); /* handed over */
    t_line(f, "203.0.113.81", "second", 0);
    assert_int_equal(ingest_sync(f->ing, err, sizeof(err)), -1); /* busy timeout */
    assert_non_null(strstr(err, "locked"));
    assert_int_equal(ingest_pending(f->ing), 2); /* the kept batch and the new one */
    assert_int_equal(ingest_flush(f->ing, err, sizeof(err)), -1); /* retry handed over */
    t_release(blocker);
    t_sync(f); /* the retry succeeds, then the new batch */
    assert_int_equal(ingest_pending(f->ing), 0);
    assert_int_equal(t_grant(f, "203.0.113.80", NULL), 1);
    assert_int_equal(t_grant(f, "203.0.113.81", NULL), 1);
    assert_int_equal(store_position_get(f->st, f->src.name, &pos, err, sizeof(err)), 1);
    assert_int_equal(pos.offset, f->src.position.offset);
}

/* test_bulk_one_transaction - in bulk mode a long drain hands batches over as it goes,
 * but nothing (no grant, no position) is visible until ingest_sync commits */
static void test_bulk_one_transaction(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos;
    char err[512];

    assert_int_equal(ingest_start(f->ing, t_wake, &f->wakes, 1, err, sizeof(err)), 0);
    t_bulk_lines(f, 0, 1024); /* INGEST_EAGER: the last one hands the batch over */
    t_wait_wakes(f, 1);       /* written... */
    assert_int_equal(t_reader(f, "198.18.0.1"), 0); /* ...not committed */
    t_bulk_lines(f, 1024, 2000);
    assert_int_equal(t_reader(f, "198.18.0.1"), 0);
    t_sync(f);
    assert_int_equal(ingest_pending(f->ing), 0);
    assert_int_equal(t_reader(f, "198.18.0.1"), 1);
    assert_int_equal(t_reader(f, "198.18.11.250"), 1); /* the 3000th */
    assert_int_equal(store_position_get(f->st, f->src.name, &pos, err, sizeof(err)), 1);
    assert_int_equal(pos.offset, f->src.position.offset);
    t_sync(f); /* with nothing new, nothing to commit */
}

/* test_bulk_deadline - a transaction kept open commits on its own after
 * COMMITTER_TXN_SECONDS even if no batch and no sync comes (the store's write lock is
 * never held longer) */
static void test_bulk_deadline(void **state)
{
    struct t_fixture *f = *state;
    char err[512];
    int i;

    assert_int_equal(ingest_start(f->ing, t_wake, &f->wakes, 1, err, sizeof(err)), 0);
    t_bulk_lines(f, 0, 1024);
    t_wait_wakes(f, 1);
    assert_int_equal(t_reader(f, "198.18.0.1"), 0);
    for (i = 0; i < 50 && t_reader(f, "198.18.0.1") == 0; i++)
        usleep(100000);
    assert_int_equal(t_reader(f, "198.18.0.1"), 1);
    assert_true(i >= 5); /* not long before the deadline */
    t_bulk_lines(f, 1024, 10);
    t_sync(f);
    assert_int_equal(t_reader(f, "198.18.4.34"), 1); /* the 1034th */
}

/* test_bulk_first_failure_kept - in bulk mode a batch that fails before anything joined
 * its transaction (the store was locked) is kept and written by the next sync */
static void test_bulk_first_failure_kept(void **state)
{
    struct t_fixture *f = *state;
    struct store *blocker = t_blocker(f);
    char err[512];

    assert_int_equal(ingest_start(f->ing, NULL, NULL, 1, err, sizeof(err)), 0);
    t_bulk_lines(f, 0, 1500);
    assert_int_equal(ingest_sync(f->ing, err, sizeof(err)), -1);
    t_release(blocker);
    assert_false(ingest_full(f->ing));
    t_sync(f);
    assert_int_equal(t_reader(f, "198.18.0.1"), 1);
    assert_int_equal(t_reader(f, "198.18.5.250"), 1); /* the 1500th */
}

/* test_bulk_failure_ends - in bulk mode a write that fails after earlier batches joined
 * its transaction ends the writing: the rollback took those batches, so nothing after
 * them may commit (its positions would skip lines whose grants were lost) */
static void test_bulk_failure_ends(void **state)
{
    struct t_fixture *f = *state;
    struct store_position pos;
    char err[512];

    /* the second batch holds 198.18.5.1 (the 1251st address), which the store refuses */
    t_sql(f, "CREATE TRIGGER refuse BEFORE INSERT ON auth WHEN NEW.address = '198.18.5.1'"
             " BEGIN SELECT RAISE(ABORT, 'refused'); END");
    assert_int_equal(ingest_start(f->ing, t_wake, &f->wakes, 1, err, sizeof(err)), 0);
    t_bulk_lines(f, 0, 1024);
    t_wait_wakes(f, 1); /* the first batch is in the open transaction */
    t_bulk_lines(f, 1024, 1024);
    assert_int_equal(ingest_sync(f->ing, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "refused"));
    assert_true(ingest_full(f->ing)); /* the sources stop */
    assert_int_equal(ingest_flush(f->ing, err, sizeof(err)), -1);
    assert_int_equal(ingest_sync(f->ing, err, sizeof(err)), -1);
    assert_int_equal(t_reader(f, "198.18.0.1"), 0);
    assert_int_equal(store_position_get(f->st, f->src.name, &pos, err, sizeof(err)), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_login_grants, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_burst_one_write, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_filters, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_future_clamped, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_position_with_grants, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_kept, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_full_batch_backpressure, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_committer_thread, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_committer_failure_kept, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_one_transaction, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_deadline, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_first_failure_kept, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bulk_failure_ends, t_setup, t_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
