/*
 * store_sqlite - the SQLite backend of the grant store ("sqlite:PATH" or a plain PATH).
 *
 * One database file holds the auth table (db/schema.sql, embedded at build time as
 * store_schema_sql). Writers (popauth, popauthctl) open it read-write: the file is
 * created if absent, put in WAL mode so that readers never wait for a writer, committed
 * atomically (synchronous=NORMAL: a committed grant survives a crash of the program; see
 * STORE_SQLITE_WRITER_PRAGMAS), and brought to the latest schema version. The version
 * lives in PRAGMA user_version: 0 with no tables is a new file and gets the full schema;
 * an older version runs the steps in store_sqlite_migrations one version at a time; a
 * newer one is refused. All of that happens in one IMMEDIATE transaction, so two
 * programs starting together migrate once. Before a migration the store is copied, as
 * it is, to PATH.bak-schemaN, and one log line says where.
 * Readers (smtpgate) open it read-only and refuse a version they cannot read, naming
 * what migrates it.
 *
 * The store is private (grants say who logged in from where): a writer creates the
 * database file itself, STORE_SQLITE_MODE whatever the umask, with the group
 * STORE_SQLITE_GROUP where that group exists (so that a reader running as another user
 * may be let in by group) and the creator's own group where it does not. SQLite gives
 * the -wal and -shm files the database file's mode; a writer gives them its group too,
 * takes any permission for others away from the store files it owns, and keeps the
 * -wal and -shm after the last writer closes (SQLITE_FCNTL_PERSIST_WAL), because a
 * reader that may not create files in the directory cannot open the store without them.
 *
 * Every statement is prepared once at open and reset, with its bindings cleared, after
 * each use on every path. Outside store_begin/store_commit each write is its own
 * transaction; inside, the writes commit together. Every failure (busy, locked, corrupt,
 * not a database, disk full, ...) returns -1 with "database PATH: what: sqlite's reason"
 * in err, so callers fail closed. Nothing here prints; the log gets one line per
 * migration (where the copy went), the first time a reader finds an older schema it can
 * still read, and when a store file cannot be given its group.
 *
 * A read-only handle notes the database file's device, inode, size and modification time
 * (taken before the open, so a change during it shows at the next check), and
 * store_stale compares them with the file as it is now. SQLite validates its page cache
 * against the WAL index, not against the main file, so a reader that kept its handle
 * would go on answering from cached pages after the file was overwritten (with a backup,
 * or with garbage) and from the old inode after it was replaced or deleted. A checkpoint
 * by a writer also changes the file and costs the reader one reopen; ordinary commits go
 * to the WAL and do not.
 *
 * A handle is for one thread at a time. A store_list callback may call lookup, grant,
 * revoke or stats on the same handle, but not store_list.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "db/wal_checkpointer.h"
#include "db/store_backend.h"
#include "shared/log.h"
#include "shared/util.h"

#define STORE_SQLITE_BUSY_MS 5000       /* a writer waits this long for another's lock */
#define STORE_SQLITE_MODE    0640       /* every store file: the owner writes, the group reads */
#define STORE_SQLITE_GROUP   "popauth"  /* the group of a new store, where it exists */
#define STORE_SQLITE_MEMORY  ":memory:" /* SQLite's name for a database that is no file */
/* What creates or migrates the schema: any writer's open, so popauth's start or one of
 * popauthctl's writing commands, of which purge only deletes grants that have expired. */
#define STORE_SQLITE_WRITER_HINT "start popauth or run `popauthctl purge`"
/* A reader (smtpgate) answers from one event loop: in WAL mode readers wait only in rare
 * moments (recovery, an exclusive-mode writer), and past this wait the answer is defer. */
#define STORE_SQLITE_READER_BUSY_MS 50

/*
 * Writers: synchronous=NORMAL in WAL mode makes every commit atomic and durable against a
 * crash of the program (the WAL is written before COMMIT returns); only a power loss can
 * roll back the last commits, and then a log source's position rolls back with the
 * grants it produced, so those lines are read again. STORE_ADMIN handles (popauthctl)
 * add synchronous=FULL, since nothing replays an admin's revoke. A 16 MiB page cache
 * keeps the hot part of a large store in memory.
 */
#define STORE_SQLITE_READER_PRAGMAS "PRAGMA cache_size = -16384; PRAGMA mmap_size = 268435456"
#define STORE_SQLITE_WRITER_PRAGMAS "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -16384"
#define STORE_SQLITE_SCHEMA_VERSION 3 /* the version db/schema.sql creates */
/* The oldest version a reader (smtpgate) reads: 3 only dropped an index, so smtpgate
 * may be upgraded before popauth migrates the store. */
#define STORE_SQLITE_READER_MIN_VERSION 2

extern const char store_schema_sql[];
extern const char store_migrate_2_sql[];
extern const char store_migrate_3_sql[];

/*
 * Forward migration steps: the SQL that takes a database from to_version - 1 to
 * to_version (the code sets user_version afterwards). For schema version N+1: change
 * db/schema.sql to the full new schema, add db/migrate_N+1.sql to embed_files in
 * CMakeLists.txt, add its line here above the end marker, and bump
 * STORE_SQLITE_SCHEMA_VERSION.
 */
static const struct store_sqlite_migration {
    int to_version;
    const char *sql;
} store_sqlite_migrations[] = {
    {2, store_migrate_2_sql}, /* source positions and counters */
    {3, store_migrate_3_sql}, /* no index on expires */
    {0, NULL},                /* end */
};

enum store_sqlite_stmt_id {
    STORE_SQLITE_BEGIN,
    STORE_SQLITE_COMMIT,
    STORE_SQLITE_ROLLBACK,
    STORE_SQLITE_READ_BEGIN,
    STORE_SQLITE_READ_END,
    STORE_SQLITE_GRANT,
    STORE_SQLITE_IMPORT,
    STORE_SQLITE_REVOKE,
    STORE_SQLITE_PURGE,
    STORE_SQLITE_PURGE_SCAN,
    STORE_SQLITE_PURGE_ONE,
    STORE_SQLITE_REVOKE_USER,
    STORE_SQLITE_REVOKE_ALL,
    STORE_SQLITE_LOOKUP,
    STORE_SQLITE_LIST_ACTIVE,
    STORE_SQLITE_LIST_ALL,
    STORE_SQLITE_STATS,
    STORE_SQLITE_POSITION_GET,
    STORE_SQLITE_POSITION_PUT,
    STORE_SQLITE_POSITIONS,
    STORE_SQLITE_COUNTER_ADD,
    STORE_SQLITE_COUNTERS,
    STORE_SQLITE_NSTMT
};

#define STORE_SQLITE_COLUMNS "address, user, source, first_login, last_login, logins, expires"

/* The statements, prepared at open; a read-only handle skips the writing ones. */
static const struct store_sqlite_stmt_def {
    const char *sql;
    int writes;
} store_sqlite_stmt_defs[STORE_SQLITE_NSTMT] = {
    [STORE_SQLITE_BEGIN] = {"BEGIN IMMEDIATE", 1},
    [STORE_SQLITE_COMMIT] = {"COMMIT", 1},
    [STORE_SQLITE_ROLLBACK] = {"ROLLBACK", 1},
    /* A reader's snapshot: the read lock is taken by the first SELECT, held until END. */
    [STORE_SQLITE_READ_BEGIN] = {"BEGIN DEFERRED", 0},
    [STORE_SQLITE_READ_END] = {"COMMIT", 0},
    /* ?1 address, ?2 user, ?3 source, ?4 login time, ?5 expires. The SET expressions all
     * see the old row, so user/source follow the newest login even on a late replay. */
    [STORE_SQLITE_GRANT] = {"INSERT INTO auth (" STORE_SQLITE_COLUMNS ")"
                            " VALUES (?1, ?2, ?3, ?4, ?4, 1, ?5)"
                            " ON CONFLICT (address) DO UPDATE SET"
                            " user = CASE WHEN excluded.last_login >= last_login"
                            " THEN excluded.user ELSE user END,"
                            " source = CASE WHEN excluded.last_login >= last_login"
                            " THEN excluded.source ELSE source END,"
                            " first_login = min(first_login, excluded.first_login),"
                            " last_login = max(last_login, excluded.last_login),"
                            " logins = logins + 1,"
                            " expires = max(expires, excluded.expires)",
                            1},
    [STORE_SQLITE_IMPORT] = {"INSERT OR REPLACE INTO auth (" STORE_SQLITE_COLUMNS ")"
                             " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                             1},
    [STORE_SQLITE_REVOKE] = {"DELETE FROM auth WHERE address = ?1", 1},
    [STORE_SQLITE_PURGE] = {"DELETE FROM auth WHERE expires <= ?1", 1},
    /* A bounded purge step: the next ?2 rows after address ?1, in key order. */
    [STORE_SQLITE_PURGE_SCAN] = {"SELECT address, expires FROM auth WHERE address > ?1"
                                 " ORDER BY address LIMIT ?2",
                                 1},
    [STORE_SQLITE_PURGE_ONE] = {"DELETE FROM auth WHERE address = ?1 AND expires <= ?2", 1},
    [STORE_SQLITE_REVOKE_USER] = {"DELETE FROM auth WHERE user = ?1", 1},
    [STORE_SQLITE_REVOKE_ALL] = {"DELETE FROM auth", 1},
    [STORE_SQLITE_LOOKUP] = {"SELECT " STORE_SQLITE_COLUMNS
                             " FROM auth WHERE address = ?1 AND expires > ?2",
                             0},
    [STORE_SQLITE_LIST_ACTIVE] = {"SELECT " STORE_SQLITE_COLUMNS
                                  " FROM auth WHERE expires > ?1 ORDER BY address",
                                  0},
    [STORE_SQLITE_LIST_ALL] = {"SELECT " STORE_SQLITE_COLUMNS " FROM auth ORDER BY address", 0},
    /* One statement, so the figures come from one read transaction; one pass over the
     * table counts both kinds of rows (there is no index on expires). */
    [STORE_SQLITE_STATS] = {"SELECT total(expires > ?1), total(expires <= ?1),"
                            " (SELECT page_count FROM pragma_page_count())"
                            " * (SELECT page_size FROM pragma_page_size()),"
                            " (SELECT user_version FROM pragma_user_version())"
                            " FROM auth",
                            0},
    [STORE_SQLITE_POSITION_GET] = {"SELECT device, inode, offset, head, cursor FROM positions"
                                   " WHERE source = ?1",
                                   0},
    [STORE_SQLITE_POSITION_PUT] = {"INSERT OR REPLACE INTO positions"
                                   " (source, device, inode, offset, head, cursor, updated)"
                                   " VALUES (?1, ?2, ?3, ?4, ?5, ?6, unixepoch())",
                                   1},
    [STORE_SQLITE_POSITIONS] = {"SELECT source, device, inode, offset, head, cursor FROM positions"
                                " ORDER BY source",
                                0},
    [STORE_SQLITE_COUNTER_ADD] = {"INSERT INTO counters (source, name, value) VALUES (?1, ?2, ?3)"
                                  " ON CONFLICT (source, name) DO UPDATE SET value = value + ?3",
                                  1},
    [STORE_SQLITE_COUNTERS] = {"SELECT source, name, value FROM counters ORDER BY source, name", 0},
};

struct store_sqlite {
    sqlite3 *db;
    char *path;
    int watched; /* read-only: seen holds the file as it was opened (store_stale) */
    struct stat seen;
    sqlite3_stmt *stmt[STORE_SQLITE_NSTMT];
    struct wal_checkpointer *ckpt; /* store_checkpoint_background, or NULL */
};

/* store_sqlite_fail - "database PATH: what: sqlite's message" into err; returns -1 */
static int __attribute__((format(printf, 4, 5)))
store_sqlite_fail(const struct store_sqlite *s, char *err, size_t errlen, const char *fmt, ...)
{
    char what[160];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return util_seterr(err, errlen, "database %s: %s: %s", s->path, what,
                       s->db != NULL ? sqlite3_errmsg(s->db) : "out of memory");
}

/* store_sqlite_done - make a statement ready for its next use, on every exit path */
static void store_sqlite_done(sqlite3_stmt *st)
{
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
}

/* store_sqlite_exec - run one or more SQL statements that return no rows */
static int store_sqlite_exec(struct store_sqlite *s, const char *sql, const char *what, char *err,
                             size_t errlen)
{
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return store_sqlite_fail(s, err, errlen, "%s", what);
    return 0;
}

/* store_sqlite_query - run a one-off statement; the first column of its row as text */
static int store_sqlite_query(struct store_sqlite *s, const char *sql, char *buf, size_t buflen,
                              char *err, size_t errlen)
{
    sqlite3_stmt *st = NULL;
    const unsigned char *text;
    int rc = -1;

    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "%s", sql);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_ROW) {
        store_sqlite_fail(s, err, errlen, "%s", sql);
        goto out;
    }
    text = sqlite3_column_text(st, 0);
    util_strlcpy(buf, text != NULL ? (const char *)text : "", buflen);
    rc = 0;
out:
    sqlite3_finalize(st);
    return rc;
}

/* store_sqlite_version - the schema version in PRAGMA user_version */
static int store_sqlite_version(struct store_sqlite *s, int *version, char *err, size_t errlen)
{
    char buf[32];

    if (store_sqlite_query(s, "PRAGMA user_version", buf, sizeof(buf), err, errlen) < 0)
        return -1;
    *version = atoi(buf);
    return 0;
}

/* store_sqlite_newer - the error for a schema newer than this program knows */
static int store_sqlite_newer(const struct store_sqlite *s, int version, char *err, size_t errlen)
{
    return util_seterr(err, errlen,
                       "database %s: schema version %d is newer than this program (%d)", s->path,
                       version, STORE_SQLITE_SCHEMA_VERSION);
}

/* store_sqlite_group - the group of a new store: STORE_SQLITE_GROUP's, or -1 (the
 * creator's own) where there is no such group */
static gid_t store_sqlite_group(void)
{
    struct group *gr = getgrnam(STORE_SQLITE_GROUP);

    return gr != NULL ? gr->gr_gid : (gid_t)-1;
}

/* store_sqlite_new_file - create path empty, STORE_SQLITE_MODE whatever the umask, with
 * group gid (-1: the creator's); 1 if it was created, 0 if it was there, -1 and err */
static int store_sqlite_new_file(const char *path, gid_t gid, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    struct stat sb;

    if (fd < 0) {
        if (errno == EEXIST)
            return 0;
        return util_seterr(err, errlen, "database %s: cannot create: %s", path, strerror(errno));
    }
    /* the mode goes on last: until then only the owner may read the file */
    if (gid != (gid_t)-1 && fstat(fd, &sb) == 0 && sb.st_gid != gid && fchown(fd, -1, gid) < 0)
        log_warnx("action=create file=%s reason=\"cannot give it group %u: %s\"", path,
                  (unsigned)gid, strerror(errno));
    if (fchmod(fd, STORE_SQLITE_MODE) < 0 || close(fd) < 0) {
        util_seterr(err, errlen, "database %s: cannot set mode %o: %s", path, STORE_SQLITE_MODE,
                    strerror(errno));
        unlink(path);
        return -1;
    }
    return 1;
}

/* store_sqlite_private - after a writer's open: the -wal and -shm files get the database
 * file's group, and the store files this process owns lose any permission for others
 * (a store made by an older version was 0644). By name, never by opening them: closing
 * a descriptor of a file would drop the locks SQLite holds on it. */
static void store_sqlite_private(const struct store_sqlite *s)
{
    static const char *const suffixes[] = {"", "-wal", "-shm"};
    char name[PATH_MAX];
    struct stat db, sb;
    size_t i;

    if (stat(s->path, &db) < 0)
        return;
    for (i = 0; i < UTIL_ARRAY_LEN(suffixes); i++) {
        if (snprintf(name, sizeof(name), "%s%s", s->path, suffixes[i]) >= (int)sizeof(name) ||
            lstat(name, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_uid != geteuid())
            continue;
        if (sb.st_gid != db.st_gid && lchown(name, -1, db.st_gid) < 0)
            log_warnx("action=open file=%s reason=\"cannot give it group %u: %s\"", name,
                      (unsigned)db.st_gid, strerror(errno));
        if ((sb.st_mode & S_IRWXO) != 0 && chmod(name, sb.st_mode & 07777 & ~S_IRWXO) < 0)
            log_warnx("action=open file=%s reason=\"cannot take away others' access: %s\"", name,
                      strerror(errno));
    }
}

/* store_sqlite_copy - under the write lock, before a migration: the store as it is into
 * PATH.bak-schemaVERSION (STORE_SQLITE_MODE, the database file's group), written whole
 * under a temporary name first, then renamed over an older copy; its name into copy */
static int store_sqlite_copy(const struct store_sqlite *s, int version, char *copy, size_t copylen,
                             char *err, size_t errlen)
{
    char tmp[PATH_MAX];
    sqlite3 *src = NULL;
    sqlite3_stmt *st = NULL;
    struct stat sb;
    int fd, made, synced = 0, rc = -1;

    if (snprintf(copy, copylen, "%s.bak-schema%d", s->path, version) >= (int)copylen ||
        snprintf(tmp, sizeof(tmp), "%s.tmp", copy) >= (int)sizeof(tmp))
        return util_seterr(err, errlen, "database %s: name too long for a copy", s->path);
    if (stat(s->path, &sb) < 0 || (unlink(tmp) < 0 && errno != ENOENT))
        return util_seterr(err, errlen, "database %s: copying before the migration: %s", s->path,
                           strerror(errno));
    if ((made = store_sqlite_new_file(tmp, sb.st_gid, err, errlen)) <= 0)
        return made < 0 ? -1
                        : util_seterr(err, errlen, "database %s: %s appeared while copying",
                                      s->path, tmp);
    /* VACUUM cannot run inside this handle's transaction; a second, read-only handle
     * sees the last commit, WAL included, which this one has not changed yet */
    if (sqlite3_open_v2(s->path, &src, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(src, STORE_SQLITE_BUSY_MS) != SQLITE_OK ||
        sqlite3_prepare_v2(src, "VACUUM INTO ?1", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_bind_text(st, 1, tmp, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        util_seterr(err, errlen, "database %s: copying to %s before the migration: %s", s->path,
                    tmp, src != NULL ? sqlite3_errmsg(src) : "out of memory");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((fd = open(tmp, O_RDONLY | O_CLOEXEC)) >= 0) {
        synced = fsync(fd) == 0;
        if (close(fd) < 0)
            synced = 0;
    }
    if (!synced || rename(tmp, copy) < 0) {
        util_seterr(err, errlen, "database %s: writing the copy %s: %s", s->path, copy,
                    strerror(errno));
        goto out;
    }
    rc = 0;
out:
    sqlite3_finalize(st);
    sqlite3_close_v2(src);
    if (rc < 0)
        unlink(tmp);
    return rc;
}

/* store_sqlite_upgrade - inside the migration transaction: version -> the latest */
static int store_sqlite_upgrade(struct store_sqlite *s, int version, char *err, size_t errlen)
{
    const struct store_sqlite_migration *m;
    char buf[64];
    int v;

    if (version == 0) {
        if (store_sqlite_query(s, "SELECT count(*) FROM sqlite_master", buf, sizeof(buf), err,
                               errlen) < 0)
            return -1;
        if (atoi(buf) != 0)
            return util_seterr(err, errlen,
                               "database %s: schema version 0 but the file has tables"
                               " (not a popauth database?)",
                               s->path);
        return store_sqlite_exec(s, store_schema_sql, "creating the schema", err, errlen);
    }
    for (v = version + 1; v <= STORE_SQLITE_SCHEMA_VERSION; v++) {
        for (m = store_sqlite_migrations; m->sql != NULL && m->to_version != v; m++)
            ;
        if (m->sql == NULL)
            return util_seterr(err, errlen,
                               "database %s: schema version %d: no migration to version %d",
                               s->path, version, v);
        snprintf(buf, sizeof(buf), "migrating to schema version %d", v);
        if (store_sqlite_exec(s, m->sql, buf, err, errlen) < 0)
            return -1;
        snprintf(buf, sizeof(buf), "PRAGMA user_version = %d", v);
        if (store_sqlite_exec(s, buf, "setting the schema version", err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* store_sqlite_migrate - bring a read-write database to the latest schema version */
static int store_sqlite_migrate(struct store_sqlite *s, char *err, size_t errlen)
{
    char copy[PATH_MAX] = "";
    int version, from;

    if (store_sqlite_version(s, &version, err, errlen) < 0)
        return -1;
    if (version == STORE_SQLITE_SCHEMA_VERSION)
        return 0;
    if (version < 0)
        return util_seterr(err, errlen, "database %s: schema version %d is not valid", s->path,
                           version);
    if (version > STORE_SQLITE_SCHEMA_VERSION)
        return store_sqlite_newer(s, version, err, errlen);
    if (store_sqlite_exec(s, "BEGIN IMMEDIATE", "starting the schema migration", err, errlen) < 0)
        return -1;
    /* Another program may have migrated while this one waited for the write lock. */
    if (store_sqlite_version(s, &version, err, errlen) < 0)
        goto fail;
    if (version > STORE_SQLITE_SCHEMA_VERSION) {
        store_sqlite_newer(s, version, err, errlen);
        goto fail;
    }
    from = version;
    if (from > 0 && from < STORE_SQLITE_SCHEMA_VERSION &&
        store_sqlite_copy(s, from, copy, sizeof(copy), err, errlen) < 0)
        goto fail;
    if (version < STORE_SQLITE_SCHEMA_VERSION && store_sqlite_upgrade(s, version, err, errlen) < 0)
        goto fail;
    if (store_sqlite_version(s, &version, err, errlen) < 0)
        goto fail;
    if (version != STORE_SQLITE_SCHEMA_VERSION) {
        util_seterr(err, errlen, "database %s: migration left schema version %d, expected %d",
                    s->path, version, STORE_SQLITE_SCHEMA_VERSION);
        goto fail;
    }
    if (store_sqlite_exec(s, "COMMIT", "committing the schema migration", err, errlen) < 0)
        goto fail;
    if (copy[0] != '\0')
        log_info("action=migrate database=%s from=%d to=%d copy=%s", s->path, from,
                 STORE_SQLITE_SCHEMA_VERSION, copy);
    return 0;
fail:
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* store_sqlite_setup_rw - WAL, the sync level of the mode and the latest schema */
static int store_sqlite_setup_rw(struct store_sqlite *s, enum store_mode mode, char *err,
                                 size_t errlen)
{
    char journal[32];
    int persist = 1, rc;

    /* the -wal and -shm stay when the last writer closes (see the file comment); an
     * in-memory database has no files, and says so with SQLITE_NOTFOUND */
    rc = sqlite3_file_control(s->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist);
    if (rc != SQLITE_OK && rc != SQLITE_NOTFOUND)
        return store_sqlite_fail(s, err, errlen, "keeping the WAL file");
    if (store_sqlite_query(s, "PRAGMA journal_mode = WAL", journal, sizeof(journal), err, errlen) <
        0)
        return -1;
    if (strcmp(journal, "wal") != 0)
        return util_seterr(err, errlen, "database %s: cannot use WAL journal mode (mode is '%s')",
                           s->path, journal);
    if (store_sqlite_exec(s, STORE_SQLITE_WRITER_PRAGMAS, STORE_SQLITE_WRITER_PRAGMAS, err,
                          errlen) < 0)
        return -1;
    if (mode == STORE_ADMIN && store_sqlite_exec(s, "PRAGMA synchronous = FULL",
                                                 "PRAGMA synchronous = FULL", err, errlen) < 0)
        return -1;
    /* popauth's batches leave the checkpoint at exit to the checkpoints made while it
     * runs (SQLite's automatic ones every 1,000 pages of WAL, or those of
     * store_checkpoint_background), as they do while smtpgate holds the store open: the
     * WAL stays beside the file, and the durability is that of synchronous=NORMAL. */
    if (mode == STORE_READWRITE &&
        sqlite3_db_config(s->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK)
        return store_sqlite_fail(s, err, errlen, "setting no checkpoint on close");
    return store_sqlite_migrate(s, err, errlen);
}

/* Set once a reader has said that the store's schema is older than the latest. */
static int store_sqlite_told_older;

/* store_sqlite_check_ro - a reader accepts the schema versions it can read (the auth
 * table has not changed since STORE_SQLITE_READER_MIN_VERSION), saying once per process
 * that an older one wants migrating, and reads through a page cache as large as the
 * writers' and a memory map of the file, so that a lookup in a large store costs no
 * system calls */
static int store_sqlite_check_ro(struct store_sqlite *s, char *err, size_t errlen)
{
    int version;

    if (store_sqlite_exec(s, STORE_SQLITE_READER_PRAGMAS, STORE_SQLITE_READER_PRAGMAS, err,
                          errlen) < 0)
        return -1;

    if (store_sqlite_version(s, &version, err, errlen) < 0)
        return -1;
    if (version > STORE_SQLITE_SCHEMA_VERSION)
        return store_sqlite_newer(s, version, err, errlen);
    if (version == 0)
        return util_seterr(err, errlen,
                           "database %s: schema version 0, an empty store (or not "
                           "popauth's): " STORE_SQLITE_WRITER_HINT " to create the schema",
                           s->path);
    if (version < STORE_SQLITE_READER_MIN_VERSION)
        return util_seterr(err, errlen,
                           "database %s: the store is at schema version %d, this program reads"
                           " %d to %d: " STORE_SQLITE_WRITER_HINT " to migrate it",
                           s->path, version, STORE_SQLITE_READER_MIN_VERSION,
                           STORE_SQLITE_SCHEMA_VERSION);
    if (version < STORE_SQLITE_SCHEMA_VERSION && !store_sqlite_told_older) {
        store_sqlite_told_older = 1;
        log_warnx("action=open database=%s schema_version=%d reason=\"the latest is "
                  "%d: " STORE_SQLITE_WRITER_HINT " to migrate it\"",
                  s->path, version, STORE_SQLITE_SCHEMA_VERSION);
    }
    return 0;
}

/* store_sqlite_check - a writer could open path: its directory exists, and the file, if
 * there, is a regular file (store_check) */
static int store_sqlite_check(const char *path, char *err, size_t errlen)
{
    const char *slash = strrchr(path, '/');
    struct stat sb;
    char *dir;
    int rc = 0;

    if (stat(path, &sb) == 0)
        return S_ISREG(sb.st_mode) ? 0 : util_seterr(err, errlen, "database %s: not a file", path);
    if (errno != ENOENT)
        return util_seterr(err, errlen, "database %s: %s", path, strerror(errno));
    dir = slash == NULL ? xstrdup(".") : xstrndup(path, slash == path ? 1 : (size_t)(slash - path));
    if (stat(dir, &sb) < 0)
        rc = util_seterr(err, errlen, "database %s: directory %s: %s", path, dir, strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        rc = util_seterr(err, errlen, "database %s: %s is not a directory", path, dir);
    free(dir);
    return rc;
}

/* store_sqlite_close - finalize every statement and close the database */
static void store_sqlite_close(void *h)
{
    struct store_sqlite *s = h;
    size_t i;

    if (s == NULL)
        return;
    wal_checkpointer_stop(s->ckpt);
    for (i = 0; i < STORE_SQLITE_NSTMT; i++)
        sqlite3_finalize(s->stmt[i]);
    sqlite3_close_v2(s->db); /* rolls back a batch left open */
    free(s->path);
    free(s);
}

/* store_sqlite_checkpoint_background - WAL checkpoints of a writer's commits on a thread
 * of their own (wal_checkpointer.h); an in-memory database has no WAL */
static int store_sqlite_checkpoint_background(void *h, char *err, size_t errlen)
{
    struct store_sqlite *s = h;

    if (s->ckpt != NULL || strcmp(s->path, STORE_SQLITE_MEMORY) == 0)
        return 0;
    s->ckpt = wal_checkpointer_start(s->db, s->path, err, errlen);
    return s->ckpt != NULL ? 0 : -1;
}

/* store_sqlite_file - the database file at path (store_file); none for an in-memory one */
static const char *store_sqlite_file(const char *path)
{
    return strcmp(path, STORE_SQLITE_MEMORY) == 0 ? NULL : path;
}

/* store_sqlite_open - open the database at path; see the file comment for what happens */
static void *store_sqlite_open(const char *path, enum store_mode mode, char *err, size_t errlen)
{
    struct store_sqlite *s = xcalloc(1, sizeof(*s));
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    size_t i;

    s->path = xstrdup(path);
    if (mode == STORE_READONLY) {
        flags = SQLITE_OPEN_READONLY;
        if (stat(path, &s->seen) < 0) {
            util_seterr(err, errlen, "database %s: %s", path, strerror(errno));
            goto fail;
        }
        s->watched = 1;
    } else if (strcmp(path, STORE_SQLITE_MEMORY) != 0 &&
               store_sqlite_new_file(path, store_sqlite_group(), err, errlen) < 0) {
        goto fail;
    }
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "cannot open");
        goto fail;
    }
    if (sqlite3_busy_timeout(s->db, mode == STORE_READONLY ? STORE_SQLITE_READER_BUSY_MS
                                                           : STORE_SQLITE_BUSY_MS) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "setting the busy timeout");
        goto fail;
    }
    if (mode == STORE_READONLY ? store_sqlite_check_ro(s, err, errlen) < 0
                               : store_sqlite_setup_rw(s, mode, err, errlen) < 0)
        goto fail;
    if (mode != STORE_READONLY)
        store_sqlite_private(s);
    for (i = 0; i < STORE_SQLITE_NSTMT; i++) {
        if (mode == STORE_READONLY && store_sqlite_stmt_defs[i].writes)
            continue;
        if (sqlite3_prepare_v3(s->db, store_sqlite_stmt_defs[i].sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &s->stmt[i], NULL) != SQLITE_OK) {
            store_sqlite_fail(s, err, errlen, "preparing \"%.60s\"", store_sqlite_stmt_defs[i].sql);
            goto fail;
        }
    }
    return s;
fail:
    store_sqlite_close(s);
    return NULL;
}

/* store_sqlite_stale - a read-only handle's file is not the one opened: 1; 0 if it is (or
 * the handle writes); -1 and err if it is gone */
static int store_sqlite_stale(void *h, char *err, size_t errlen)
{
    const struct store_sqlite *s = h;
    struct stat now;

    if (!s->watched)
        return 0;
    if (stat(s->path, &now) < 0)
        return util_seterr(err, errlen, "database %s: %s", s->path, strerror(errno));
    return now.st_dev != s->seen.st_dev || now.st_ino != s->seen.st_ino ||
           now.st_size != s->seen.st_size || now.st_mtim.tv_sec != s->seen.st_mtim.tv_sec ||
           now.st_mtim.tv_nsec != s->seen.st_mtim.tv_nsec;
}

/* store_sqlite_stmt - the prepared statement id, or NULL and err on a read-only handle */
static sqlite3_stmt *store_sqlite_stmt(const struct store_sqlite *s, enum store_sqlite_stmt_id id,
                                       char *err, size_t errlen)
{
    if (s->stmt[id] == NULL)
        util_seterr(err, errlen, "database %s: opened read-only", s->path);
    return s->stmt[id];
}

/* store_sqlite_run - step a statement without parameters or rows, e.g. BEGIN */
static int store_sqlite_run(struct store_sqlite *s, enum store_sqlite_stmt_id id, char *err,
                            size_t errlen)
{
    sqlite3_stmt *st = store_sqlite_stmt(s, id, err, errlen);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "%s", store_sqlite_stmt_defs[id].sql);
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_begin - BEGIN IMMEDIATE: take the write lock for a batch */
static int store_sqlite_begin(void *h, char *err, size_t errlen)
{
    return store_sqlite_run(h, STORE_SQLITE_BEGIN, err, errlen);
}

/* store_sqlite_commit - commit the batch; on failure the caller rolls back */
static int store_sqlite_commit(void *h, char *err, size_t errlen)
{
    return store_sqlite_run(h, STORE_SQLITE_COMMIT, err, errlen);
}

/* store_sqlite_read_begin - start a read snapshot (no lock until the first lookup) */
static int store_sqlite_read_begin(void *h, char *err, size_t errlen)
{
    return store_sqlite_run(h, STORE_SQLITE_READ_BEGIN, err, errlen);
}

/* store_sqlite_read_end - end the read snapshot */
static int store_sqlite_read_end(void *h, char *err, size_t errlen)
{
    return store_sqlite_run(h, STORE_SQLITE_READ_END, err, errlen);
}

/* store_sqlite_rollback - abandon the batch; fine if SQLite already rolled it back */
static int store_sqlite_rollback(void *h, char *err, size_t errlen)
{
    struct store_sqlite *s = h;

    if (sqlite3_get_autocommit(s->db))
        return 0;
    return store_sqlite_run(s, STORE_SQLITE_ROLLBACK, err, errlen);
}

/* store_sqlite_cut - length of s cut to at most max bytes, not inside a UTF-8 sequence */
static int store_sqlite_cut(const char *s, size_t max)
{
    size_t n = strnlen(s, max + 1);

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    return (int)n;
}

/* store_sqlite_row - copy the current row of a SELECT of STORE_SQLITE_COLUMNS into g */
static void store_sqlite_row(sqlite3_stmt *st, struct store_grant *g)
{
    const unsigned char *t;

    t = sqlite3_column_text(st, 0);
    util_strlcpy(g->address, t != NULL ? (const char *)t : "", sizeof(g->address));
    t = sqlite3_column_text(st, 1);
    util_strlcpy(g->user, t != NULL ? (const char *)t : "", sizeof(g->user));
    t = sqlite3_column_text(st, 2);
    util_strlcpy(g->source, t != NULL ? (const char *)t : "", sizeof(g->source));
    g->first_login = sqlite3_column_int64(st, 3);
    g->last_login = sqlite3_column_int64(st, 4);
    g->logins = sqlite3_column_int64(st, 5);
    g->expires = sqlite3_column_int64(st, 6);
}

/* store_sqlite_grant - the upsert described at store_grant in store.h */
static int store_sqlite_grant(void *h, const char *address, const char *user, const char *source,
                              int64_t login_time, int64_t expires, char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_GRANT, err, errlen);
    size_t alen = strlen(address);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (user == NULL)
        user = "";
    if (source == NULL)
        source = "";
    if (alen == 0 || alen >= ADDR_STRLEN)
        return util_seterr(err, errlen, "database %s: grant: bad address '%.*s'", s->path,
                           ADDR_STRLEN, address);
    if (sqlite3_bind_text(st, 1, address, (int)alen, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, user, store_sqlite_cut(user, STORE_USER_MAX - 1), SQLITE_STATIC) !=
            SQLITE_OK ||
        sqlite3_bind_text(st, 3, source, store_sqlite_cut(source, STORE_SOURCE_MAX - 1),
                          SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, login_time) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, expires) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "grant for %s", address);
        goto out;
    }
    if (sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "grant for %s", address);
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_lookup - the row for address if expires > now: 1, 0 if none, -1 error */
static int store_sqlite_lookup(void *h, const char *address, int64_t now, struct store_grant *out,
                               char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = s->stmt[STORE_SQLITE_LOOKUP];
    int rc = -1;

    if (sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, now) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "lookup of %.*s", ADDR_STRLEN, address);
        goto out;
    }
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        if (out != NULL)
            store_sqlite_row(st, out);
        rc = 1;
        break;
    case SQLITE_DONE:
        rc = 0;
        break;
    default:
        store_sqlite_fail(s, err, errlen, "lookup of %.*s", ADDR_STRLEN, address);
        break;
    }
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_revoke - delete the row for address: 1 if there was one, 0 if not */
static int store_sqlite_revoke(void *h, const char *address, char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_REVOKE, err, errlen);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_text(st, 1, address, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "revoke of %.*s", ADDR_STRLEN, address);
        goto out;
    }
    rc = sqlite3_changes64(s->db) > 0 ? 1 : 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_purge - delete the rows with expires <= now; *removed gets the count */
static int store_sqlite_purge(void *h, int64_t now, int64_t *removed, char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_PURGE, err, errlen);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "purge");
        goto out;
    }
    if (removed != NULL)
        *removed = sqlite3_changes64(s->db);
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_purge_scan - the addresses of the expired rows among the limit rows after
 * cursor into found (limit entries of ADDR_STRLEN bytes); the last address looked at
 * goes into cursor. The number of rows looked at, or -1. */
static int store_sqlite_purge_scan(struct store_sqlite *s, int64_t now, char *cursor,
                                   size_t cursorlen, int limit, char (*found)[ADDR_STRLEN],
                                   int *nfound, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_PURGE_SCAN, err, errlen);
    int seen = 0, rc;

    *nfound = 0;
    if (st == NULL)
        return -1;
    if (sqlite3_bind_text(st, 1, cursor, -1, SQLITE_TRANSIENT) != SQLITE_OK ||
        sqlite3_bind_int(st, 2, limit) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "purge");
        goto out;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *a = (const char *)sqlite3_column_text(st, 0);

        seen++;
        util_strlcpy(cursor, a != NULL ? a : "", cursorlen);
        if (a != NULL && strlen(a) < ADDR_STRLEN && sqlite3_column_int64(st, 1) <= now)
            util_strlcpy(found[(*nfound)++], a, ADDR_STRLEN);
    }
    if (rc != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "purge");
        seen = -1;
    }
out:
    store_sqlite_done(st);
    return st != NULL && seen >= 0 ? seen : -1;
}

/* store_sqlite_purge_step - one bounded step of a purge, in one write transaction (see
 * store_purge_step) */
static int store_sqlite_purge_step(void *h, int64_t now, char *cursor, size_t cursorlen, int limit,
                                   int64_t *removed, char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *del = store_sqlite_stmt(s, STORE_SQLITE_PURGE_ONE, err, errlen);
    char(*found)[ADDR_STRLEN], rberr[256];
    int seen = -1, nfound = 0, i;

    *removed = 0;
    if (del == NULL || limit <= 0)
        return -1;
    found = xcalloc((size_t)limit, sizeof(*found));
    if (store_sqlite_run(s, STORE_SQLITE_BEGIN, err, errlen) < 0)
        goto out;
    seen = store_sqlite_purge_scan(s, now, cursor, cursorlen, limit, found, &nfound, err, errlen);
    for (i = 0; seen >= 0 && i < nfound; i++) {
        if (sqlite3_bind_text(del, 1, found[i], -1, SQLITE_STATIC) != SQLITE_OK ||
            sqlite3_bind_int64(del, 2, now) != SQLITE_OK || sqlite3_step(del) != SQLITE_DONE) {
            store_sqlite_fail(s, err, errlen, "purge");
            seen = -1;
        } else {
            *removed += sqlite3_changes64(s->db);
        }
        store_sqlite_done(del);
    }
    if (seen < 0 || store_sqlite_run(s, STORE_SQLITE_COMMIT, err, errlen) < 0) {
        store_sqlite_rollback(s, rberr, sizeof(rberr));
        *removed = 0;
        seen = -1;
    }
out:
    free(found);
    return seen < 0 ? -1 : seen == limit;
}

/* store_sqlite_delete - step the DELETE id, whose text parameter ?1 is arg (NULL: it has
 * none); *removed gets the count of rows it deleted */
static int store_sqlite_delete(struct store_sqlite *s, enum store_sqlite_stmt_id id,
                               const char *arg, int64_t *removed, char *err, size_t errlen)
{
    sqlite3_stmt *st = store_sqlite_stmt(s, id, err, errlen);

    if (st == NULL)
        return -1;
    if (arg != NULL && sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC) != SQLITE_OK) {
        store_sqlite_done(st);
        return store_sqlite_fail(s, err, errlen, "%s", store_sqlite_stmt_defs[id].sql);
    }
    if (store_sqlite_run(s, id, err, errlen) < 0) /* steps with the binding, then clears it */
        return -1;
    *removed = sqlite3_changes64(s->db);
    return 0;
}

/* store_sqlite_revoke_user - delete every row of user; *removed gets the count */
static int store_sqlite_revoke_user(void *h, const char *user, int64_t *removed, char *err,
                                    size_t errlen)
{
    return store_sqlite_delete(h, STORE_SQLITE_REVOKE_USER, user, removed, err, errlen);
}

/* store_sqlite_revoke_all - delete every row; *removed gets the count */
static int store_sqlite_revoke_all(void *h, int64_t *removed, char *err, size_t errlen)
{
    return store_sqlite_delete(h, STORE_SQLITE_REVOKE_ALL, NULL, removed, err, errlen);
}

/* store_sqlite_import - write g as it is, replacing any row for its address */
static int store_sqlite_import(void *h, const struct store_grant *g, char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_IMPORT, err, errlen);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_text(st, 1, g->address, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, g->user, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 3, g->source, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, g->first_login) != SQLITE_OK ||
        sqlite3_bind_int64(st, 5, g->last_login) != SQLITE_OK ||
        sqlite3_bind_int64(st, 6, g->logins) != SQLITE_OK ||
        sqlite3_bind_int64(st, 7, g->expires) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "import of %s", g->address);
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_list - cb for each active (all: every) row by address until cb says stop */
static int store_sqlite_list(void *h, int64_t now, int all, store_list_cb cb, void *ctx, char *err,
                             size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = s->stmt[all ? STORE_SQLITE_LIST_ALL : STORE_SQLITE_LIST_ACTIVE];
    struct store_grant g;
    int rc = -1, step;

    if (!all && sqlite3_bind_int64(st, 1, now) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "list");
        goto out;
    }
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_sqlite_row(st, &g);
        if (cb(&g, ctx) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "list");
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_stats - active and expired rows, file size and schema version */
static int store_sqlite_stats(void *h, int64_t now, struct store_stats *out, char *err,
                              size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = s->stmt[STORE_SQLITE_STATS];
    int rc = -1;

    if (sqlite3_bind_int64(st, 1, now) != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
        store_sqlite_fail(s, err, errlen, "stats");
        goto out;
    }
    out->active = sqlite3_column_int64(st, 0);
    out->expired = sqlite3_column_int64(st, 1);
    out->database_bytes = sqlite3_column_int64(st, 2);
    out->schema_version = sqlite3_column_int(st, 3);
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_text - column i of the current row into buf (bounded) */
static void store_sqlite_text(sqlite3_stmt *st, int i, char *buf, size_t buflen)
{
    const unsigned char *text = sqlite3_column_text(st, i);

    util_strlcpy(buf, text != NULL ? (const char *)text : "", buflen);
}

/* store_sqlite_position_get - the saved position of source: 1, 0 if none, -1 error */
static int store_sqlite_position_get(void *h, const char *source, struct store_position *out,
                                     char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = s->stmt[STORE_SQLITE_POSITION_GET];
    int rc = -1;

    if (sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC) != SQLITE_OK) {
        store_sqlite_fail(s, err, errlen, "position of %s", source);
        goto out;
    }
    switch (sqlite3_step(st)) {
    case SQLITE_ROW:
        out->device = sqlite3_column_int64(st, 0);
        out->inode = sqlite3_column_int64(st, 1);
        out->offset = sqlite3_column_int64(st, 2);
        store_sqlite_text(st, 3, out->head, sizeof(out->head));
        store_sqlite_text(st, 4, out->cursor, sizeof(out->cursor));
        rc = 1;
        break;
    case SQLITE_DONE:
        rc = 0;
        break;
    default:
        store_sqlite_fail(s, err, errlen, "position of %s", source);
        break;
    }
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_positions - cb for every saved position, by source */
static int store_sqlite_positions(void *h, store_position_cb cb, void *ctx, char *err,
                                  size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = s->stmt[STORE_SQLITE_POSITIONS];
    struct store_position pos;
    char source[256];
    int rc = -1, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_sqlite_text(st, 0, source, sizeof(source));
        pos.device = sqlite3_column_int64(st, 1);
        pos.inode = sqlite3_column_int64(st, 2);
        pos.offset = sqlite3_column_int64(st, 3);
        store_sqlite_text(st, 4, pos.head, sizeof(pos.head));
        store_sqlite_text(st, 5, pos.cursor, sizeof(pos.cursor));
        if (cb(source, &pos, ctx) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "positions");
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_position_put - save the position of source */
static int store_sqlite_position_put(void *h, const char *source, const struct store_position *pos,
                                     char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_POSITION_PUT, err, errlen);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 2, pos->device) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, pos->inode) != SQLITE_OK ||
        sqlite3_bind_int64(st, 4, pos->offset) != SQLITE_OK ||
        sqlite3_bind_text(st, 5, pos->head, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 6, pos->cursor, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "saving the position of %s", source);
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_counter_add - add delta to a source's counter */
static int store_sqlite_counter_add(void *h, const char *source, const char *name, int64_t delta,
                                    char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = store_sqlite_stmt(s, STORE_SQLITE_COUNTER_ADD, err, errlen);
    int rc = -1;

    if (st == NULL)
        return -1;
    if (sqlite3_bind_text(st, 1, source, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC) != SQLITE_OK ||
        sqlite3_bind_int64(st, 3, delta) != SQLITE_OK || sqlite3_step(st) != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "counter %s of %s", name, source);
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

/* store_sqlite_counters - call cb for every counter */
static int store_sqlite_counters(void *h, store_counter_cb cb, void *ctx, char *err, size_t errlen)
{
    struct store_sqlite *s = h;
    sqlite3_stmt *st = s->stmt[STORE_SQLITE_COUNTERS];
    char source[256], name[64];
    int rc = -1, step;

    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        store_sqlite_text(st, 0, source, sizeof(source));
        store_sqlite_text(st, 1, name, sizeof(name));
        if (cb(source, name, sqlite3_column_int64(st, 2), ctx) != 0)
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        store_sqlite_fail(s, err, errlen, "counters");
        goto out;
    }
    rc = 0;
out:
    store_sqlite_done(st);
    return rc;
}

const struct store_backend store_backend_sqlite = {
    .scheme = "sqlite",
    .file = store_sqlite_file,
    .check = store_sqlite_check,
    .open = store_sqlite_open,
    .close = store_sqlite_close,
    .stale = store_sqlite_stale,
    .checkpoint_background = store_sqlite_checkpoint_background,
    .begin = store_sqlite_begin,
    .commit = store_sqlite_commit,
    .rollback = store_sqlite_rollback,
    .read_begin = store_sqlite_read_begin,
    .read_end = store_sqlite_read_end,
    .grant = store_sqlite_grant,
    .lookup = store_sqlite_lookup,
    .revoke = store_sqlite_revoke,
    .purge = store_sqlite_purge,
    .purge_step = store_sqlite_purge_step,
    .revoke_user = store_sqlite_revoke_user,
    .revoke_all = store_sqlite_revoke_all,
    .import = store_sqlite_import,
    .list = store_sqlite_list,
    .stats = store_sqlite_stats,
    .position_get = store_sqlite_position_get,
    .position_put = store_sqlite_position_put,
    .positions = store_sqlite_positions,
    .counter_add = store_sqlite_counter_add,
    .counters = store_sqlite_counters,
};
