/*
 * torture_store - unit tests of the grant store through its public API (db/store.h) with
 * the SQLite backend: grants, re-grants, expiry, revoke (of an address, of a user's rows,
 * of all), purge, list, stats, batches, store_check, parsed URIs, store_stale,
 * schema creation and migration (and the copy made before it), read-only handles beside
 * a writer, WAL checkpoints on a thread of their own, corrupt files, the store URI forms, and the
 * store files' modes and group whatever the umask. Each test works in its own temporary directory
 * under /tmp. The tests open the database file with sqlite3 directly where they must look behind
 * the API.
 */
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "db/store.h"

#define T_ERRLEN   512
#define T_SCHEMA   3         /* the schema version db/schema.sql creates */
#define T_SCHEMA_S "3"       /* the same, as PRAGMA user_version prints it */
#define T_MODE     0640      /* the mode of every store file */
#define T_GROUP    "popauth" /* the group of a new store, where it exists */

struct t_fixture {
    char dir[64];
    char path[128];
    struct store *st; /* a read-write handle on path */
};

/* t_path - a file name inside the fixture's directory */
static void t_path(const struct t_fixture *f, const char *name, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "%s/%s", f->dir, name);
}

/* t_setup - a fresh temporary directory and a read-write store in it */
static int t_setup(void **state)
{
    struct t_fixture *f = calloc(1, sizeof(*f));
    char err[T_ERRLEN] = "";

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/torture_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    t_path(f, "popauth.db", f->path, sizeof(f->path));
    f->st = store_open(f->path, STORE_READWRITE, err, sizeof(err));
    if (f->st == NULL)
        fail_msg("store_open: %s", err);
    *state = f;
    return 0;
}

/* t_setup_bare - a fresh temporary directory only */
static int t_setup_bare(void **state)
{
    struct t_fixture *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/torture_store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    t_path(f, "popauth.db", f->path, sizeof(f->path));
    *state = f;
    return 0;
}

/* t_teardown - close the store and remove the directory with everything in it */
static int t_teardown(void **state)
{
    struct t_fixture *f = *state;
    struct dirent *de;
    char p[512];
    DIR *d;

    store_close(f->st);
    if ((d = opendir(f->dir)) != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(p, sizeof(p), "%s/%s", f->dir, de->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* t_grant - store_grant that must succeed */
static void t_grant(struct store *st, const char *address, const char *user, const char *source,
                    int64_t login_time, int64_t expires)
{
    char err[T_ERRLEN] = "";

    if (store_grant(st, address, user, source, login_time, expires, err, sizeof(err)) != 0)
        fail_msg("store_grant %s: %s", address, err);
}

/* t_sql_text - the first column of the first row of sql run on path by sqlite3 itself */
static void t_sql_text(const char *path, const char *sql, char *buf, size_t buflen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    snprintf(buf, buflen, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* t_sql_exec - run sql on path with sqlite3 itself */
static void t_sql_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
                     SQLITE_OK);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        fail_msg("%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

/* t_write_file - replace path with len bytes of data (data NULL: an empty file) */
static void t_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

    assert_true(fd >= 0);
    if (len > 0)
        assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
}

/* t_assert_err - err names the path and contains the expected text */
static void t_assert_err(const char *err, const char *path, const char *want)
{
    if (strstr(err, path) == NULL || (want != NULL && strstr(err, want) == NULL))
        fail_msg("error \"%s\" lacks \"%s\" or \"%s\"", err, path, want ? want : "");
}

/* test_grant_lookup - a grant is found by its address with every field as given */
static void test_grant_lookup(void **state)
{
    static const struct {
        const char *address, *user, *source;
    } rows[] = {
        {"192.0.2.7", "alice", "dovecot"},
        {"2001:db8::7", "bob@example.net", "courier"},
        {"10.0.0.1", "", "admin"},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct store_grant g;
    size_t i;

    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        t_grant(f->st, rows[i].address, rows[i].user, rows[i].source, 1000 + (int64_t)i, 1600);
    for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        memset(&g, 0x55, sizeof(g));
        assert_int_equal(store_lookup(f->st, rows[i].address, 1000, &g, err, sizeof(err)), 1);
        assert_string_equal(g.address, rows[i].address);
        assert_string_equal(g.user, rows[i].user);
        assert_string_equal(g.source, rows[i].source);
        assert_int_equal(g.first_login, 1000 + (int64_t)i);
        assert_int_equal(g.last_login, 1000 + (int64_t)i);
        assert_int_equal(g.logins, 1);
        assert_int_equal(g.expires, 1600);
    }
    assert_int_equal(store_lookup(f->st, "192.0.2.8", 1000, &g, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(f->st, "2001:db8::8", 1000, NULL, err, sizeof(err)), 0);
}

/* test_regrant - later logins extend a row; older ones never shorten or rename it */
static void test_regrant(void **state)
{
    static const struct {
        int64_t login, expires;
        const char *user, *source;
        /* the row afterwards */
        int64_t first, last, logins, row_expires;
        const char *row_user, *row_source;
    } steps[] = {
        {1000, 1600, "alice", "dovecot", 1000, 1000, 1, 1600, "alice", "dovecot"},
        {1200, 1800, "bob", "courier", 1000, 1200, 2, 1800, "bob", "courier"},
        /* a replayed older login: counts, moves first_login back, changes nothing else */
        {900, 1500, "carol", "cyrus", 900, 1200, 3, 1800, "bob", "courier"},
        /* same login time, shorter lifetime: expiry kept, the newer report names the user */
        {1200, 1700, "dave", "admin", 900, 1200, 4, 1800, "dave", "admin"},
        {5000, 5600, "erin", "dovecot", 900, 5000, 5, 5600, "erin", "dovecot"},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct store_grant g;
    size_t i;

    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        t_grant(f->st, "198.51.100.1", steps[i].user, steps[i].source, steps[i].login,
                steps[i].expires);
        assert_int_equal(store_lookup(f->st, "198.51.100.1", 0, &g, err, sizeof(err)), 1);
        assert_int_equal(g.first_login, steps[i].first);
        assert_int_equal(g.last_login, steps[i].last);
        assert_int_equal(g.logins, steps[i].logins);
        assert_int_equal(g.expires, steps[i].row_expires);
        assert_string_equal(g.user, steps[i].row_user);
        assert_string_equal(g.source, steps[i].row_source);
    }
}

/* test_expiry - a grant is active while expires > now and only then */
static void test_expiry(void **state)
{
    static const struct {
        int64_t now;
        int want;
    } cases[] = {
        {0, 1}, {1000, 1}, {1599, 1}, {1600, 0}, {1601, 0}, {INT64_MAX, 0},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct store_grant g;
    size_t i;

    t_grant(f->st, "203.0.113.9", "alice", "dovecot", 1000, 1600);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (store_lookup(f->st, "203.0.113.9", cases[i].now, &g, err, sizeof(err)) != cases[i].want)
            fail_msg("lookup at now=%lld: want %d", (long long)cases[i].now, cases[i].want);
    }
}

/* test_revoke - revoke removes the row once: 1, then 0 */
static void test_revoke(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";

    t_grant(f->st, "192.0.2.1", "alice", "dovecot", 1000, 1600);
    t_grant(f->st, "192.0.2.2", "bob", "dovecot", 1000, 1600);
    assert_int_equal(store_revoke(f->st, "192.0.2.1", err, sizeof(err)), 1);
    assert_int_equal(store_revoke(f->st, "192.0.2.1", err, sizeof(err)), 0);
    assert_int_equal(store_revoke(f->st, "192.0.2.99", err, sizeof(err)), 0);
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 1000, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(f->st, "192.0.2.2", 1000, NULL, err, sizeof(err)), 1);
}

/* t_collect - a store_list callback that appends addresses; stops after ctx->stop rows */
struct t_collect {
    char text[512];
    int rows;
    int stop; /* 0: never */
};

/* t_collect_cb - store_list callback for struct t_collect */
static int t_collect_cb(const struct store_grant *g, void *ctx)
{
    struct t_collect *c = ctx;
    size_t n = strlen(c->text);

    snprintf(c->text + n, sizeof(c->text) - n, "%s%s", n ? " " : "", g->address);
    c->rows++;
    return c->stop != 0 && c->rows >= c->stop;
}

/* t_list - the addresses store_list reports, space-separated */
static void t_list(struct store *st, int64_t now, int all, int stop, char *buf, size_t buflen)
{
    struct t_collect c = {.stop = stop};
    char err[T_ERRLEN] = "";

    if (store_list(st, now, all, t_collect_cb, &c, err, sizeof(err)) != 0)
        fail_msg("store_list: %s", err);
    snprintf(buf, buflen, "%s", c.text);
}

/* test_purge - purge removes exactly the expired rows and counts them */
static void test_purge(void **state)
{
    static const struct {
        int64_t now, removed;
        const char *left;
    } steps[] = {
        {50, 0, "192.0.2.1 192.0.2.2 192.0.2.3 192.0.2.4"},
        {250, 2, "192.0.2.3 192.0.2.4"},
        {250, 0, "192.0.2.3 192.0.2.4"},
        {300, 1, "192.0.2.4"},
        {1000, 1, ""},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", list[512];
    int64_t removed;
    size_t i;

    t_grant(f->st, "192.0.2.3", "c", "dovecot", 10, 300);
    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    t_grant(f->st, "192.0.2.4", "d", "dovecot", 10, 400);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 200);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        removed = -1;
        assert_int_equal(store_purge(f->st, steps[i].now, &removed, err, sizeof(err)), 0);
        assert_int_equal(removed, steps[i].removed);
        t_list(f->st, 0, 1, 0, list, sizeof(list));
        assert_string_equal(list, steps[i].left);
    }
}

/* test_purge_step - a stepped purge walks the addresses in order, limit rows a step,
 * deletes only expired rows, and says when the walk is done */
static void test_purge_step(void **state)
{
    static const struct {
        int more;
        int64_t removed;
        const char *cursor, *left;
    } steps[] = {
        {1, 1, "192.0.2.2", "192.0.2.2 192.0.2.3 192.0.2.4 192.0.2.5"},
        {1, 1, "192.0.2.4", "192.0.2.2 192.0.2.4 192.0.2.5"},
        {0, 0, "192.0.2.5", "192.0.2.2 192.0.2.4 192.0.2.5"},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", list[512], cursor[ADDR_STRLEN + 1] = "";
    int64_t removed;
    size_t i;

    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 900);
    t_grant(f->st, "192.0.2.3", "c", "dovecot", 10, 200);
    t_grant(f->st, "192.0.2.4", "d", "dovecot", 10, 900);
    t_grant(f->st, "192.0.2.5", "e", "dovecot", 10, 900);
    for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        assert_int_equal(
            store_purge_step(f->st, 500, cursor, sizeof(cursor), 2, &removed, err, sizeof(err)),
            steps[i].more);
        assert_int_equal(removed, steps[i].removed);
        assert_string_equal(cursor, steps[i].cursor);
        t_list(f->st, 0, 1, 0, list, sizeof(list));
        assert_string_equal(list, steps[i].left);
    }
    /* a second walk from the start, later: the rest has expired */
    cursor[0] = '\0';
    assert_int_equal(
        store_purge_step(f->st, 1000, cursor, sizeof(cursor), 10, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 3);
    t_list(f->st, 0, 1, 0, list, sizeof(list));
    assert_string_equal(list, "");
}

/* test_list - active rows only unless all, ordered by address; the callback can stop */
static void test_list(void **state)
{
    static const struct {
        int64_t now;
        int all, stop;
        const char *want;
    } cases[] = {
        {150, 0, 0, "192.0.2.1 192.0.2.3 2001:db8::1"},
        {150, 1, 0, "10.0.0.1 192.0.2.1 192.0.2.2 192.0.2.3 2001:db8::1"},
        {150, 1, 2, "10.0.0.1 192.0.2.1"},
        {150, 0, 1, "192.0.2.1"},
        {5000, 0, 0, ""},
        {5000, 1, 0, "10.0.0.1 192.0.2.1 192.0.2.2 192.0.2.3 2001:db8::1"},
    };
    struct t_fixture *f = *state;
    char list[512];
    size_t i;

    t_grant(f->st, "2001:db8::1", "e", "dovecot", 10, 1000);
    t_grant(f->st, "192.0.2.3", "c", "dovecot", 10, 300);
    t_grant(f->st, "10.0.0.1", "a", "dovecot", 10, 100);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 150);
    t_grant(f->st, "192.0.2.1", "d", "dovecot", 10, 151);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        t_list(f->st, cases[i].now, cases[i].all, cases[i].stop, list, sizeof(list));
        assert_string_equal(list, cases[i].want);
    }
}

/* test_stats - active and expired counts, file size and schema version */
static void test_stats(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", buf[64];
    struct store_stats s;
    int64_t removed;

    assert_int_equal(store_stats(f->st, 100, &s, err, sizeof(err)), 0);
    assert_int_equal(s.active, 0);
    assert_int_equal(s.expired, 0);
    assert_int_equal(s.schema_version, T_SCHEMA);
    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 200);
    t_grant(f->st, "192.0.2.3", "c", "dovecot", 10, 300);
    assert_int_equal(store_stats(f->st, 200, &s, err, sizeof(err)), 0);
    assert_int_equal(s.active, 1);
    assert_int_equal(s.expired, 2);
    assert_int_equal(s.schema_version, T_SCHEMA);
    t_sql_text(f->path,
               "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()", buf,
               sizeof(buf));
    assert_int_equal(s.database_bytes, strtoll(buf, NULL, 10));
    assert_true(s.database_bytes > 0);
    assert_int_equal(store_purge(f->st, 200, &removed, err, sizeof(err)), 0);
    assert_int_equal(store_stats(f->st, 200, &s, err, sizeof(err)), 0);
    assert_int_equal(s.active, 1);
    assert_int_equal(s.expired, 0);
}

/* test_truncate - long user and source names are cut, never inside a UTF-8 character */
static void test_truncate(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", user[400], source[100];
    struct store_grant g;

    memset(user, 'u', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    memset(source, 's', sizeof(source) - 1);
    source[sizeof(source) - 1] = '\0';
    t_grant(f->st, "192.0.2.1", user, source, 10, 100);
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 0, &g, err, sizeof(err)), 1);
    assert_int_equal(strlen(g.user), STORE_USER_MAX - 1);
    assert_int_equal(strlen(g.source), STORE_SOURCE_MAX - 1);
    assert_memory_equal(g.user, user, STORE_USER_MAX - 1);

    /* 254 bytes then a two-byte character: the character would straddle the limit */
    memset(user, 'a', 254);
    memcpy(user + 254, "\xc3\xa9xyz", 6);
    t_grant(f->st, "192.0.2.2", user, "admin", 10, 100);
    assert_int_equal(store_lookup(f->st, "192.0.2.2", 0, &g, err, sizeof(err)), 1);
    assert_int_equal(strlen(g.user), 254);

    /* exactly the limit is kept whole */
    user[STORE_USER_MAX - 1] = '\0';
    memset(user, 'b', STORE_USER_MAX - 1);
    t_grant(f->st, "192.0.2.3", user, "admin", 10, 100);
    assert_int_equal(store_lookup(f->st, "192.0.2.3", 0, &g, err, sizeof(err)), 1);
    assert_string_equal(g.user, user);
}

/* test_bad_address - an empty or over-long address is refused, not stored */
static void test_bad_address(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", addr[100];

    memset(addr, '1', sizeof(addr) - 1);
    addr[sizeof(addr) - 1] = '\0';
    assert_int_equal(store_grant(f->st, "", "a", "admin", 10, 100, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "address");
    assert_int_equal(store_grant(f->st, addr, "a", "admin", 10, 100, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "address");
}

/* test_batch - writes between begin and commit land together; rollback drops them */
static void test_batch(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";

    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 100);
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 0, NULL, err, sizeof(err)), 1);
    assert_int_equal(store_rollback(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 0, NULL, err, sizeof(err)), 0);

    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_begin(f->st, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "BEGIN");
    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    assert_int_equal(store_revoke(f->st, "192.0.2.1", err, sizeof(err)), 1);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 100);
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 0, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(f->st, "192.0.2.2", 0, NULL, err, sizeof(err)), 1);

    /* no batch open: commit is an error, rollback has nothing to do */
    assert_int_equal(store_commit(f->st, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "COMMIT");
    assert_int_equal(store_rollback(f->st, err, sizeof(err)), 0);
}

/* t_assert_fresh_schema - path holds the latest schema in WAL mode with every table */
static void t_assert_fresh_schema(const char *path)
{
    char buf[64];

    t_sql_text(path, "PRAGMA user_version", buf, sizeof(buf));
    assert_string_equal(buf, T_SCHEMA_S);
    t_sql_text(path, "PRAGMA journal_mode", buf, sizeof(buf));
    assert_string_equal(buf, "wal");
    t_sql_text(path,
               "SELECT group_concat(name, ' ') FROM"
               " (SELECT name FROM sqlite_master ORDER BY name)",
               buf, sizeof(buf));
    assert_string_equal(buf, "auth counters positions");
}

/* t_open_migrated - open the fixture's empty or older store read-write: it must come
 * out as a fresh one of the latest version */
static void t_open_migrated(struct t_fixture *f)
{
    char err[T_ERRLEN] = "";

    f->st = store_open(f->path, STORE_READWRITE, err, sizeof(err));
    if (f->st == NULL)
        fail_msg("store_open: %s", err);
    t_assert_fresh_schema(f->path);
}

/* test_create_missing - a read-write open creates an absent file with the schema */
static void test_create_missing(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";

    assert_int_equal(access(f->path, F_OK), -1);
    f->st = store_open(f->path, STORE_READWRITE, err, sizeof(err));
    assert_non_null(f->st);
    t_assert_fresh_schema(f->path);
    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    store_close(f->st);
    /* reopening keeps the data and changes nothing */
    f->st = store_open(f->path, STORE_READWRITE, err, sizeof(err));
    assert_non_null(f->st);
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 0, NULL, err, sizeof(err)), 1);
    t_assert_fresh_schema(f->path);
}

/* test_create_empty_file - a 0-byte file is a new database */
static void test_create_empty_file(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct stat sb;

    t_write_file(f->path, NULL, 0);
    /* a reader refuses it and leaves it alone */
    assert_null(store_open(f->path, STORE_READONLY, err, sizeof(err)));
    t_assert_err(err, f->path, "schema version 0");
    t_assert_err(err, f->path, "start popauth or run `popauthctl purge` to create the schema");
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_size, 0);

    t_open_migrated(f);
}

/* test_missing_dir - a path in a directory that does not exist fails, naming the path */
static void test_missing_dir(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", path[192];

    t_path(f, "no/such/dir.db", path, sizeof(path));
    assert_null(store_open(path, STORE_READWRITE, err, sizeof(err)));
    t_assert_err(err, path, NULL);
}

/* test_newer_version - a schema newer than the program is refused by writers and readers */
static void test_newer_version(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", buf[32];

    t_sql_exec(f->path, "CREATE TABLE auth (address TEXT PRIMARY KEY, extra TEXT);"
                        " PRAGMA user_version = 7;");
    assert_null(store_open(f->path, STORE_READWRITE, err, sizeof(err)));
    t_assert_err(err, f->path, "schema version 7 is newer than this program (" T_SCHEMA_S ")");
    assert_null(store_open(f->path, STORE_READONLY, err, sizeof(err)));
    t_assert_err(err, f->path, "schema version 7 is newer than this program (" T_SCHEMA_S ")");
    t_sql_text(f->path, "PRAGMA user_version", buf, sizeof(buf));
    assert_string_equal(buf, "7");
}

/* test_foreign_database - version 0 with tables is someone else's database: refused */
static void test_foreign_database(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", buf[64];

    t_sql_exec(f->path, "CREATE TABLE mailboxes (name TEXT);");
    assert_null(store_open(f->path, STORE_READWRITE, err, sizeof(err)));
    t_assert_err(err, f->path, "schema version 0");
    t_sql_text(f->path, "SELECT group_concat(name) FROM sqlite_master", buf, sizeof(buf));
    assert_string_equal(buf, "mailboxes");
}

/* test_readonly_missing - a reader never creates the file */
static void test_readonly_missing(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";

    assert_null(store_open(f->path, STORE_READONLY, err, sizeof(err)));
    t_assert_err(err, f->path, NULL);
    assert_int_equal(access(f->path, F_OK), -1);
}

/* test_readonly_no_writes - a read-only handle reads and refuses every write */
static void test_readonly_no_writes(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", list[128];
    struct store *ro;
    struct store_stats s;
    int64_t removed;

    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(store_lookup(ro, "192.0.2.1", 50, NULL, err, sizeof(err)), 1);
    t_list(ro, 50, 0, 0, list, sizeof(list));
    assert_string_equal(list, "192.0.2.1");
    assert_int_equal(store_stats(ro, 50, &s, err, sizeof(err)), 0);
    assert_int_equal(s.active, 1);

    assert_int_equal(store_grant(ro, "192.0.2.2", "b", "admin", 10, 100, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "read-only");
    assert_int_equal(store_revoke(ro, "192.0.2.1", err, sizeof(err)), -1);
    assert_int_equal(store_purge(ro, 1000, &removed, err, sizeof(err)), -1);
    list[0] = '\0';
    assert_int_equal(store_purge_step(ro, 1000, list, sizeof(list), 10, &removed, err, sizeof(err)),
                     -1);
    assert_int_equal(store_begin(ro, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "read-only");
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 50, NULL, err, sizeof(err)), 1);
    store_close(ro);
}

/* test_concurrent_reader - a reader sees committed batches only and never waits */
static void test_concurrent_reader(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct store_stats s;
    struct store *ro;

    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("store_open: %s", err);

    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 100);
    assert_int_equal(store_revoke(f->st, "192.0.2.1", err, sizeof(err)), 1);
    /* the writer holds its transaction open: the reader answers from the last commit */
    assert_int_equal(store_lookup(ro, "192.0.2.2", 50, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(ro, "192.0.2.1", 50, NULL, err, sizeof(err)), 1);
    assert_int_equal(store_stats(ro, 50, &s, err, sizeof(err)), 0);
    assert_int_equal(s.active, 1);
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);

    assert_int_equal(store_lookup(ro, "192.0.2.2", 50, NULL, err, sizeof(err)), 1);
    assert_int_equal(store_lookup(ro, "192.0.2.1", 50, NULL, err, sizeof(err)), 0);

    /* a reader opened while a batch is open works too */
    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.3", "c", "dovecot", 10, 100);
    store_close(ro);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(store_lookup(ro, "192.0.2.3", 50, NULL, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(ro, "192.0.2.2", 50, NULL, err, sizeof(err)), 1);
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(ro, "192.0.2.3", 50, NULL, err, sizeof(err)), 1);
    store_close(ro);
}

/* t_checkpoint_busy - 1 if a WAL checkpoint of path cannot finish (a reader holds a snapshot) */
static int t_checkpoint_busy(const char *path)
{
    char buf[16];

    t_sql_text(path, "PRAGMA wal_checkpoint(TRUNCATE)", buf, sizeof(buf));
    return atoi(buf);
}

/* test_statements_reset - no call leaves a read transaction open, even a stopped list */
static void test_statements_reset(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", list[128];
    struct store_stats s;
    struct store *ro;

    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    t_grant(f->st, "192.0.2.2", "b", "dovecot", 10, 100);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("store_open: %s", err);
    assert_int_equal(store_lookup(ro, "192.0.2.1", 50, NULL, err, sizeof(err)), 1);
    t_grant(f->st, "192.0.2.3", "c", "dovecot", 10, 100);
    assert_int_equal(t_checkpoint_busy(f->path), 0);
    t_list(ro, 50, 1, 1, list, sizeof(list));
    assert_string_equal(list, "192.0.2.1");
    t_grant(f->st, "192.0.2.4", "d", "dovecot", 10, 100);
    assert_int_equal(t_checkpoint_busy(f->path), 0);
    assert_int_equal(store_stats(ro, 50, &s, err, sizeof(err)), 0);
    assert_int_equal(store_lookup(ro, "192.0.2.9", 50, NULL, err, sizeof(err)), 0);
    t_grant(f->st, "192.0.2.5", "e", "dovecot", 10, 100);
    assert_int_equal(t_checkpoint_busy(f->path), 0);
    assert_int_equal(store_lookup(ro, "192.0.2.5", 50, NULL, err, sizeof(err)), 1);
    store_close(ro);
}

/* t_file_size - the size of the file at path in bytes */
static long long t_file_size(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return (long long)sb.st_size;
}

/* test_checkpoint_background - with store_checkpoint_background, the WAL written by
 * thousands of commits reaches the database file while the writer goes on: SQLite's own
 * automatic checkpoint is replaced by the thread's, which must really run (it would find
 * no WAL on a connection that never read the file) */
static void test_checkpoint_background(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", addr[32], user[200], wal[160];
    long long before;
    int i;

    assert_int_equal(store_checkpoint_background(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_checkpoint_background(f->st, err, sizeof(err)), 0); /* once is enough */
    before = t_file_size(f->path);
    memset(user, 'u', sizeof(user) - 1);
    user[sizeof(user) - 1] = '\0';
    /* one commit each: some 3,000 pages of WAL (below the bound at which the writer
     * would checkpoint by itself) holding some 100 pages of rows, of which the
     * checkpoints at 1,000 and 2,000 pages copy more than 40 into the file */
    for (i = 0; i < 1500; i++) {
        snprintf(addr, sizeof(addr), "10.%d.%d.%d", i / 65536, i / 256 % 256, i % 256);
        t_grant(f->st, addr, user, "dovecot", 10, 100);
    }
    for (i = 0; i < 500 && t_file_size(f->path) < before + 40 * 4096; i++)
        usleep(10000);
    snprintf(wal, sizeof(wal), "%s-wal", f->path);
    if (t_file_size(f->path) < before + 40 * 4096)
        fail_msg("the database file grew from %lld to %lld bytes only (WAL %lld bytes)", before,
                 t_file_size(f->path), t_file_size(wal));
    assert_int_equal(store_lookup(f->st, "10.0.5.219", 50, NULL, err, sizeof(err)), 1);
}

/* test_wal_mode - a writer leaves the file in WAL mode */
static void test_wal_mode(void **state)
{
    struct t_fixture *f = *state;
    char buf[32];

    t_sql_text(f->path, "PRAGMA journal_mode", buf, sizeof(buf));
    assert_string_equal(buf, "wal");
}

/* test_corrupt_garbage - a file that is not a database is refused by writers and readers */
static void test_corrupt_garbage(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    unsigned char junk[8192];
    size_t i;

    for (i = 0; i < sizeof(junk); i++)
        junk[i] = (unsigned char)(i * 7919u + 13u);
    t_write_file(f->path, junk, sizeof(junk));
    assert_null(store_open(f->path, STORE_READWRITE, err, sizeof(err)));
    t_assert_err(err, f->path, NULL);
    assert_null(store_open(f->path, STORE_READONLY, err, sizeof(err)));
    t_assert_err(err, f->path, NULL);
}

/* test_corrupt_page - a damaged table page makes lookups fail (-1), never miss quietly */
static void test_corrupt_page(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", buf[32];
    unsigned char junk[4096];
    long root, pagesize;
    struct store *st;
    int fd, rc;

    t_grant(f->st, "192.0.2.1", "a", "dovecot", 10, 100);
    store_close(f->st); /* the last close checkpoints the WAL into the file */
    f->st = NULL;
    t_sql_text(f->path, "SELECT rootpage FROM sqlite_master WHERE name = 'auth'", buf, sizeof(buf));
    root = atol(buf);
    t_sql_text(f->path, "PRAGMA page_size", buf, sizeof(buf));
    pagesize = atol(buf);
    assert_true(root > 1 && pagesize == (long)sizeof(junk));
    memset(junk, 0xa5, sizeof(junk));
    fd = open(f->path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(root - 1) * pagesize),
                     (ssize_t)sizeof(junk));
    close(fd);

    st = store_open(f->path, STORE_READWRITE, err, sizeof(err));
    if (st == NULL) {
        t_assert_err(err, f->path, NULL);
        return;
    }
    rc = store_lookup(st, "192.0.2.1", 50, NULL, err, sizeof(err));
    assert_int_equal(rc, -1);
    t_assert_err(err, f->path, "lookup of 192.0.2.1");
    store_close(st);
}

/* test_uri - "sqlite:PATH" and PATH open the SQLite store; other schemes are refused */
static void test_uri(void **state)
{
    static const struct {
        const char *prefix; /* before the path; NULL: the uri is `rest` alone */
        const char *rest;
        int ok;
        const char *errtext;
    } cases[] = {
        {"sqlite:", "a.db", 1, NULL},
        {"", "b.db", 1, NULL},
        {NULL, "mysql:x", 0, "unknown store type 'mysql'"},
        {NULL, "sqlite:", 0, "empty path"},
        /* an in-memory database cannot be shared, and WAL mode does not take */
        {NULL, ":memory:", 0, "cannot use WAL journal mode"},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN], uri[256], path[192];
    struct store *st;
    size_t i;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        t_path(f, cases[i].rest, path, sizeof(path));
        if (cases[i].prefix != NULL)
            snprintf(uri, sizeof(uri), "%s%s", cases[i].prefix, path);
        else
            snprintf(uri, sizeof(uri), "%s", cases[i].rest);
        st = store_open(uri, STORE_READWRITE, err, sizeof(err));
        if (!cases[i].ok) {
            assert_null(st);
            t_assert_err(err, cases[i].rest, cases[i].errtext);
            continue;
        }
        if (st == NULL)
            fail_msg("store_open %s: %s", uri, err);
        t_grant(st, "192.0.2.1", "a", "dovecot", 10, 100);
        store_close(st);
        t_assert_fresh_schema(path);
    }
}

/* The auth table and its index as schema versions 1 and 2 created them. */
#define T_AUTH_V1                                                                                  \
    "CREATE TABLE auth (address TEXT NOT NULL PRIMARY KEY,"                                        \
    " user TEXT NOT NULL, source TEXT NOT NULL, first_login INTEGER NOT NULL,"                     \
    " last_login INTEGER NOT NULL, logins INTEGER NOT NULL,"                                       \
    " expires INTEGER NOT NULL) WITHOUT ROWID;"                                                    \
    " CREATE INDEX auth_expires ON auth (expires);"

/* t_group - the group a new store must get: T_GROUP's where it exists and this process
 * may give it (root, or a member), else the process's own */
static gid_t t_group(void)
{
    struct group *gr = getgrnam(T_GROUP);
    gid_t groups[256];
    int i, n;

    if (gr == NULL)
        return getegid();
    if (geteuid() == 0 || getegid() == gr->gr_gid)
        return gr->gr_gid;
    n = getgroups(256, groups);
    for (i = 0; i < n; i++)
        if (groups[i] == gr->gr_gid)
            return gr->gr_gid;
    return getegid();
}

/* t_assert_private - path is a regular file with T_MODE and the group gid */
static void t_assert_private(const char *path, gid_t gid)
{
    struct stat sb;

    if (lstat(path, &sb) < 0)
        fail_msg("%s: missing", path);
    if (!S_ISREG(sb.st_mode) || (sb.st_mode & 07777) != T_MODE || sb.st_gid != gid)
        fail_msg("%s: mode %o group %u, wanted %o group %u", path, (unsigned)(sb.st_mode & 07777),
                 (unsigned)sb.st_gid, T_MODE, (unsigned)gid);
}

/* t_assert_store_private - the database, its -wal and its -shm all have T_MODE and gid */
static void t_assert_store_private(const char *path, gid_t gid)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char name[256];
    size_t i;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        snprintf(name, sizeof(name), "%s%s", path, suffixes[i]);
        t_assert_private(name, gid);
    }
}

/* t_assert_copy - the copy made before migrating from version holds that version and
 * the row count given, with the store's mode and group */
static void t_assert_copy(const struct t_fixture *f, int version, const char *rows)
{
    char copy[192], tmp[200], buf[32], want[16];

    snprintf(copy, sizeof(copy), "%s.bak-schema%d", f->path, version);
    snprintf(tmp, sizeof(tmp), "%s.tmp", copy);
    t_assert_private(copy, t_group());
    assert_int_equal(access(tmp, F_OK), -1);
    snprintf(want, sizeof(want), "%d", version);
    t_sql_text(copy, "PRAGMA user_version", buf, sizeof(buf));
    assert_string_equal(buf, want);
    t_sql_text(copy, "SELECT count(*) FROM auth", buf, sizeof(buf));
    assert_string_equal(buf, rows);
}

/* test_migrate_v1 - a version 1 store keeps its grants and gains positions and counters;
 * a reader says what migrates it; the writer copies it aside first */
static void test_migrate_v1(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct store_grant g;

    t_sql_exec(f->path, T_AUTH_V1
               " INSERT INTO auth VALUES ('192.0.2.1', 'alice', 'dovecot', 10, 20, 3, 900);"
               " PRAGMA user_version = 1;");
    assert_null(store_open(f->path, STORE_READONLY, err, sizeof(err)));
    t_assert_err(err, f->path,
                 "the store is at schema version 1, this program reads 2 to " T_SCHEMA_S
                 ": start popauth or run `popauthctl purge` to migrate it");
    t_open_migrated(f);
    t_assert_copy(f, 1, "1");
    assert_int_equal(store_lookup(f->st, "192.0.2.1", 100, &g, err, sizeof(err)), 1);
    assert_string_equal(g.user, "alice");
    assert_int_equal(g.logins, 3);
    assert_int_equal(g.expires, 900);
}

/* test_migrate_v2 - a version 2 store is read as it is by a reader; a writer keeps its
 * grants, positions and counters and drops the index on expires */
static void test_migrate_v2(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "";
    struct store_grant g;
    struct store_position p;
    struct store *ro;

    t_sql_exec(f->path, T_AUTH_V1
               " CREATE TABLE positions (source TEXT NOT NULL PRIMARY KEY,"
               " device INTEGER NOT NULL, inode INTEGER NOT NULL, offset INTEGER NOT NULL,"
               " head TEXT NOT NULL, cursor TEXT NOT NULL, updated INTEGER NOT NULL)"
               " WITHOUT ROWID;"
               " CREATE TABLE counters (source TEXT NOT NULL, name TEXT NOT NULL,"
               " value INTEGER NOT NULL, PRIMARY KEY (source, name)) WITHOUT ROWID;"
               " INSERT INTO auth VALUES ('2001:db8::1', 'bob', 'pcap-imap', 10, 20, 2, 900);"
               " INSERT INTO positions VALUES ('stdin', 1, 2, 300, 'ab', '', 5);"
               " PRAGMA user_version = 2;");
    /* a reader (smtpgate, upgraded first) reads it as it is */
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("read-only store_open: %s", err);
    assert_int_equal(store_lookup(ro, "2001:db8::1", 100, &g, err, sizeof(err)), 1);
    store_close(ro);
    t_open_migrated(f);
    t_assert_copy(f, 2, "1");
    assert_int_equal(store_lookup(f->st, "2001:db8::1", 100, &g, err, sizeof(err)), 1);
    assert_string_equal(g.user, "bob");
    assert_int_equal(g.expires, 900);
    assert_int_equal(store_position_get(f->st, "stdin", &p, err, sizeof(err)), 1);
    assert_int_equal(p.offset, 300);
}

/* test_migrate_live_wal - the copy made before a migration holds what is still only in
 * the WAL of another open handle, and gets the store's mode whatever the umask */
static void test_migrate_live_wal(void **state)
{
    struct t_fixture *f = *state;
    mode_t old = umask(0);
    sqlite3 *db = NULL;

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0;" T_AUTH_V1
                     " PRAGMA user_version = 1;"
                     " INSERT INTO auth VALUES ('192.0.2.1', 'a', 'x', 1, 1, 1, 9);"
                     " INSERT INTO auth VALUES ('192.0.2.2', 'b', 'x', 1, 1, 1, 9);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    t_open_migrated(f);
    umask(old);
    t_assert_copy(f, 1, "2");
    sqlite3_close(db);
}

/* t_open_umask - store_open of path in mode under umask mask, which must succeed */
static struct store *t_open_umask(const char *path, enum store_mode mode, mode_t mask)
{
    char err[T_ERRLEN] = "";
    mode_t old = umask(mask);
    struct store *st = store_open(path, mode, err, sizeof(err));

    umask(old);
    if (st == NULL)
        fail_msg("store_open %s: %s", path, err);
    return st;
}

/* test_modes - whatever the umask, a new store's database, -wal and -shm files are
 * T_MODE with the store's group, and stay there after the last writer closes */
static void test_modes(void **state)
{
    static const mode_t umasks[] = {0, 077, 022};
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", path[192], name[32];
    struct store *st;
    size_t i;

    for (i = 0; i < sizeof(umasks) / sizeof(umasks[0]); i++) {
        snprintf(name, sizeof(name), "umask%03o.db", (unsigned)umasks[i]);
        t_path(f, name, path, sizeof(path));
        st = t_open_umask(path, STORE_READWRITE, umasks[i]);
        t_grant(st, "192.0.2.1", "a", "dovecot", 10, 100);
        t_assert_store_private(path, t_group());
        store_close(st);
        t_assert_store_private(path, t_group()); /* kept for readers */

        st = t_open_umask(path, STORE_ADMIN, umasks[i]);
        t_grant(st, "192.0.2.2", "b", "admin", 10, 100);
        store_close(st); /* the last close checkpoints, and still keeps the files */
        t_assert_store_private(path, t_group());
        st = t_open_umask(path, STORE_READONLY, umasks[i]);
        assert_int_equal(store_lookup(st, "192.0.2.2", 50, NULL, err, sizeof(err)), 1);
        store_close(st);
    }
}

/* test_modes_existing - a writer takes any access for others away from the files of a
 * store made before (by an older version, 0644) */
static void test_modes_existing(void **state)
{
    struct t_fixture *f = *state;
    mode_t old = umask(022);
    char err[T_ERRLEN] = "";
    struct stat sb;

    t_sql_exec(f->path, "PRAGMA journal_mode = WAL;");
    umask(old);
    assert_int_equal(stat(f->path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    f->st = store_open(f->path, STORE_READWRITE, err, sizeof(err));
    if (f->st == NULL)
        fail_msg("store_open: %s", err);
    t_assert_store_private(f->path, sb.st_gid);
}

/* test_positions - a source's position is saved, replaced and read back */
static void test_positions(void **state)
{
    struct t_fixture *f = *state;
    struct store_position p = {7, 1234, 4096, "abcdef", ""}, q;
    char err[T_ERRLEN] = "";
    struct store *ro;

    assert_int_equal(store_position_get(f->st, "file:/var/log/mail.log", &q, err, sizeof(err)), 0);
    assert_int_equal(store_position_put(f->st, "file:/var/log/mail.log", &p, err, sizeof(err)), 0);
    p.offset = 8192;
    assert_int_equal(store_position_put(f->st, "file:/var/log/mail.log", &p, err, sizeof(err)), 0);
    strcpy(p.cursor, "s=1;i=2");
    assert_int_equal(store_position_put(f->st, "journal:_COMM=dovecot", &p, err, sizeof(err)), 0);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(store_position_get(ro, "file:/var/log/mail.log", &q, err, sizeof(err)), 1);
    assert_int_equal(q.device, 7);
    assert_int_equal(q.inode, 1234);
    assert_int_equal(q.offset, 8192);
    assert_string_equal(q.head, "abcdef");
    assert_string_equal(q.cursor, "");
    assert_int_equal(store_position_get(ro, "journal:_COMM=dovecot", &q, err, sizeof(err)), 1);
    assert_string_equal(q.cursor, "s=1;i=2");
    assert_int_equal(store_position_put(ro, "x", &p, err, sizeof(err)), -1);
    store_close(ro);
}

/* t_counter_walk - collects "source name value;" for test_counters */
static int t_counter_walk(const char *source, const char *name, int64_t value, void *ctx)
{
    char *buf = ctx;

    snprintf(buf + strlen(buf), 256 - strlen(buf), "%s %s %lld;", source, name, (long long)value);
    return 0;
}

/* test_counters - counters add up per source and name, and list in order */
static void test_counters(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", buf[256] = "";

    assert_int_equal(store_counter_add(f->st, "stdin", "lines", 5, err, sizeof(err)), 0);
    assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_counter_add(f->st, "stdin", "lines", 7, err, sizeof(err)), 0);
    assert_int_equal(store_counter_add(f->st, "file:/a", "logins", 2, err, sizeof(err)), 0);
    assert_int_equal(store_counter_add(f->st, "stdin", "errors", 1, err, sizeof(err)), 0);
    assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
    assert_int_equal(store_counters(f->st, t_counter_walk, buf, err, sizeof(err)), 0);
    assert_string_equal(buf, "file:/a logins 2;stdin errors 1;stdin lines 12;");
}

/* test_revoke_user - every row of exactly that user goes, expired or not, and is counted */
static void test_revoke_user(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", list[512];
    int64_t removed = -1;
    struct store *ro;

    t_grant(f->st, "192.0.2.1", "alice", "dovecot", 10, 1000);
    t_grant(f->st, "192.0.2.2", "bob", "dovecot", 10, 1000);
    t_grant(f->st, "192.0.2.3", "alice", "admin", 10, 20); /* expired */
    t_grant(f->st, "192.0.2.4", "", "admin", 10, 1000);
    t_grant(f->st, "192.0.2.5", "alice2", "dovecot", 10, 1000);
    assert_int_equal(store_revoke_user(f->st, "alice", &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 2);
    t_list(f->st, 0, 1, 0, list, sizeof(list));
    assert_string_equal(list, "192.0.2.2 192.0.2.4 192.0.2.5");
    assert_int_equal(store_revoke_user(f->st, "alice", &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 0);
    assert_int_equal(store_revoke_user(f->st, "ALICE2", &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 0);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(store_revoke_user(ro, "bob", &removed, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "read-only");
    store_close(ro);
}

/* test_revoke_all - every row goes and is counted; an empty store revokes nothing */
static void test_revoke_all(void **state)
{
    struct t_fixture *f = *state;
    char err[T_ERRLEN] = "", list[512];
    int64_t removed = -1;

    t_grant(f->st, "192.0.2.1", "alice", "dovecot", 10, 1000);
    t_grant(f->st, "2001:db8::1", "bob", "dovecot", 10, 1000);
    t_grant(f->st, "192.0.2.3", "carol", "admin", 10, 20);
    assert_int_equal(store_revoke_all(f->st, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 3);
    t_list(f->st, 0, 1, 0, list, sizeof(list));
    assert_string_equal(list, "");
    assert_int_equal(store_revoke_all(f->st, &removed, err, sizeof(err)), 0);
    assert_int_equal(removed, 0);
}

/* test_check - store_check says what a writer would find, and opens nothing */
static void test_check(void **state)
{
    static const struct {
        const char *prefix; /* before the fixture's directory; NULL: the uri is `rest` */
        const char *rest;
        int ok;
        const char *errtext;
    } cases[] = {
        {"", "/new.db", 1, NULL},
        {"sqlite:", "/new.db", 1, NULL},
        {"", "/plain", 1, NULL},             /* an existing file */
        {"", "/sub", 0, "not a file"},       /* a directory */
        {"", "/no/such.db", 0, "directory"}, /* a missing directory */
        {"", "/plain/x.db", 0, "Not a directory"},
        {NULL, "relative.db", 1, NULL},
        {NULL, "mysql:x", 0, "unknown store type 'mysql'"},
        {NULL, "sqlite:", 0, "empty path"},
    };
    struct t_fixture *f = *state;
    char err[T_ERRLEN], uri[256], path[192];
    struct stat sb;
    size_t i;

    t_path(f, "plain", path, sizeof(path));
    t_write_file(path, "x", 1);
    t_path(f, "sub", path, sizeof(path));
    assert_int_equal(mkdir(path, 0700), 0);
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = '\0';
        if (cases[i].prefix != NULL)
            snprintf(uri, sizeof(uri), "%s%s%s", cases[i].prefix, f->dir, cases[i].rest);
        else
            snprintf(uri, sizeof(uri), "%s", cases[i].rest);
        if (!cases[i].ok) {
            assert_int_equal(store_check(uri, err, sizeof(err)), -1);
            t_assert_err(err, cases[i].rest, cases[i].errtext);
            continue;
        }
        if (store_check(uri, err, sizeof(err)) != 0)
            fail_msg("store_check %s: %s", uri, err);
    }
    t_path(f, "new.db", path, sizeof(path));
    assert_int_equal(stat(path, &sb), -1); /* nothing was created */
    assert_int_equal(stat("relative.db", &sb), -1);
}

/* test_uri_parse - a URI parsed once opens like its text; the parse errors name the URI */
static void test_uri_parse(void **state)
{
    struct t_fixture *f = *state;
    struct store_uri u;
    struct store *st;
    char err[T_ERRLEN], uri[256];

    snprintf(uri, sizeof(uri), "sqlite:%s/p.db", f->dir);
    assert_int_equal(store_uri_parse(uri, &u, err, sizeof(err)), 0);
    assert_ptr_equal(u.location, uri + 7);
    assert_int_equal(store_uri_parse(uri + 7, &u, err, sizeof(err)), 0); /* a plain path */
    assert_ptr_equal(u.location, uri + 7);
    st = store_uri_open(&u, STORE_READWRITE, err, sizeof(err));
    if (st == NULL)
        fail_msg("store_uri_open: %s", err);
    store_close(st);
    assert_int_equal(store_uri_parse("mysql:x", &u, err, sizeof(err)), -1);
    assert_string_equal(err, "database mysql:x: unknown store type 'mysql'");
    assert_int_equal(store_uri_parse("sqlite:", &u, err, sizeof(err)), -1);
    assert_string_equal(err, "database 'sqlite:': empty path");
    assert_null(store_file("mysql:x"));
    assert_string_equal(store_file("/x/y.db"), "/x/y.db");
}

/* test_stale - a read-only handle goes stale when its file is rewritten or replaced, and
 * reports a file that is gone; a writer's handle never does */
static void test_stale(void **state)
{
    struct t_fixture *f = *state;
    struct store *ro, *other;
    char err[T_ERRLEN], copy[192];

    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    if (ro == NULL)
        fail_msg("read-only store_open: %s", err);
    assert_int_equal(store_stale(ro, err, sizeof(err)), 0);
    assert_int_equal(store_stale(f->st, err, sizeof(err)), 0);
    /* another store moved over the file: a new inode */
    t_path(f, "other.db", copy, sizeof(copy));
    other = store_open(copy, STORE_READWRITE, err, sizeof(err));
    assert_non_null(other);
    store_close(other);
    assert_int_equal(rename(copy, f->path), 0);
    assert_int_equal(store_stale(ro, err, sizeof(err)), 1);
    assert_int_equal(store_stale(f->st, err, sizeof(err)), 0);
    store_close(ro);
    ro = store_open(f->path, STORE_READONLY, err, sizeof(err));
    assert_non_null(ro);
    assert_int_equal(store_stale(ro, err, sizeof(err)), 0);
    assert_int_equal(unlink(f->path), 0);
    err[0] = '\0';
    assert_int_equal(store_stale(ro, err, sizeof(err)), -1);
    t_assert_err(err, f->path, "No such file");
    store_close(ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_grant_lookup, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_regrant, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_expiry, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_revoke, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_purge, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_purge_step, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_list, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_stats, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_truncate, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_bad_address, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_batch, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_create_missing, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_create_empty_file, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_missing_dir, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_newer_version, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_foreign_database, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_readonly_missing, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_readonly_no_writes, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_reader, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_statements_reset, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_wal_mode, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_checkpoint_background, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_garbage, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_page, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_uri, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v1, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_v2, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_migrate_live_wal, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_modes, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_modes_existing, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_positions, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_counters, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_user, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_revoke_all, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_check, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_uri_parse, t_setup_bare, t_teardown),
        cmocka_unit_test_setup_teardown(test_stale, t_setup, t_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
