/*
 * store - the grant store: one row per client address that may relay until `expires`.
 *
 * The API is backend-neutral: store_open picks a backend from the URI ("sqlite:PATH" or a
 * plain PATH; "redis://..." or "redis-sentinel://..." for a store that several hosts share,
 * db/store_redis.c) and every call goes through the backend's table of functions. Addresses are
 * passed in canonical text form (addr_format); callers canonicalise first.
 *
 * Errors: every call returns -1 and writes a one-line message into err on failure.
 * Callers on the request path treat -1 as "the store could not answer" and fail closed.
 * Times are unix seconds. A grant is active while expires > now.
 *
 * A caller that opens the same store more than once (smtpgate reopens after a failure
 * or after store_stale) parses its URI once with store_uri_parse, keeps the struct
 * store_uri and opens with store_uri_open; store_open, store_check and store_file parse
 * for a single use.
 */
#ifndef POPAUTH_STORE_H
#define POPAUTH_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/addr.h"

#define STORE_USER_MAX   256 /* bytes of a user name, NUL included; longer is cut */
#define STORE_SOURCE_MAX 32  /* bytes of a source name ("dovecot", "admin"), NUL included */

/*
 * READWRITE is for popauth's batches: commits are atomic and survive a crash of the
 * program; a power loss may undo the last ones, together with the log positions that
 * produced them, so they are read again. ADMIN is for popauthctl's single changes
 * (allow, revoke, purge), which nothing would replay: every commit is synced to disk.
 */
enum store_mode { STORE_READONLY, STORE_READWRITE, STORE_ADMIN };

struct store_grant {
    char address[ADDR_STRLEN];
    char user[STORE_USER_MAX];
    char source[STORE_SOURCE_MAX];
    int64_t first_login;
    int64_t last_login;
    int64_t logins;
    int64_t expires;
};

struct store_stats {
    int64_t active;         /* rows with expires > now */
    int64_t expired;        /* rows with expires <= now, not yet purged */
    int64_t database_bytes; /* size of the store, where the backend knows it */
    int schema_version;
};

/* Where a log source stopped: a file's identity and offset, or a journal cursor. */
#define STORE_HEAD_MAX   65  /* hex SHA-256-sized hash of a file's first line, NUL included */
#define STORE_CURSOR_MAX 512 /* journal cursor, NUL included */

struct store_position {
    int64_t device;                /* st_dev of the file */
    int64_t inode;                 /* st_ino of the file */
    int64_t offset;                /* bytes consumed: just after the last line handed over */
    char head[STORE_HEAD_MAX];     /* hash of the file's first line, "" if not yet known */
    char cursor[STORE_CURSOR_MAX]; /* journal cursor, "" for files */
};

/* store_counter_cb - called once per counter by store_counters */
typedef int (*store_counter_cb)(const char *source, const char *name, int64_t value, void *ctx);

struct store; /* opaque */
struct store_backend;

/* A parsed store URI ("sqlite:PATH", or a plain PATH for SQLite). */
struct store_uri {
    const struct store_backend *backend; /* what the scheme names */
    const char *location;                /* the rest: a pointer into the parsed text */
};

/* store_list_cb - called once per row by store_list; a non-zero return stops the walk */
typedef int (*store_list_cb)(const struct store_grant *g, void *ctx);

/* What a networked store needs besides its URI (the settings of the same names). */
struct store_options {
    const char *password_file; /* database_password_file: "" or NULL for none */
    const char *node;          /* redis_node_name: whose log positions; "" or NULL: host name */
    int wait_replicas;         /* redis_wait_replicas */
    int timeout_ms;            /* redis_timeout: connect and each reply, milliseconds */
};

/*
 * store_configure - set the options for every store opened after it; reads the password
 * file now (so call it before privileges are dropped): -1 and err naming the file or
 * setting if it cannot be read, is readable by every local user, or a value is bad
 */
int store_configure(const struct store_options *o, char *err, size_t errlen);

struct config;
/* store_configure_from - store_configure with the settings of cfg (the names above) */
int store_configure_from(const struct config *cfg, char *err, size_t errlen);

/* store_uri_parse - split uri (which must outlive *out) into backend and location; -1 and
 * err naming uri if the scheme is unknown or the location empty */
int store_uri_parse(const char *uri, struct store_uri *out, char *err, size_t errlen);
/* store_uri_scheme - the store type a parsed URI names: "sqlite", "redis", ... */
const char *store_uri_scheme(const struct store_uri *u);
/* store_uri_open - store_open of a parsed URI */
struct store *store_uri_open(const struct store_uri *u, enum store_mode mode, char *err,
                             size_t errlen);
/* store_open - open (and in READWRITE mode create and migrate) the store at uri */
struct store *store_open(const char *uri, enum store_mode mode, char *err, size_t errlen);
/*
 * store_check - 0 if uri names a known store type and a place where a writer could open
 * it, as far as can be told without opening anything (SQLite: the file's directory
 * exists, and the file, if there, is a regular file); -1 and err naming uri if not
 */
int store_check(const char *uri, char *err, size_t errlen);
/* store_close - close the store; NULL is allowed */
void store_close(struct store *st);
/*
 * store_stale - whether a long-lived reader must reopen st: 1 if what it was opened on has
 * been replaced or rewritten behind its back (SQLite: the database file's device, inode,
 * size or modification time changed since a read-only open; its page cache would go on
 * answering from the old content), 0 if not (always, for writers and for backends whose
 * handles cannot go stale), -1 and err if the store is gone. It costs a system call:
 * callers rate-limit it.
 */
int store_stale(struct store *st, char *err, size_t errlen);
/* store_file - the file that holds the store at uri (a pointer into uri), or NULL for a
 * store that is not a file or a uri that names no store */
const char *store_file(const char *uri);

/*
 * store_checkpoint_background - from now on, the housekeeping that st's commits trigger
 * (SQLite: the WAL checkpoint) runs on a thread of the store's own instead of inside a
 * commit (db/wal_checkpointer.h); for popauth's committer, so that a commit never
 * waits for it. Call it before privileges are dropped (it opens the file again); 0, or
 * -1 and err
 */
int store_checkpoint_background(struct store *st, char *err, size_t errlen);
/* store_begin - start a batch: later writes commit together at store_commit */
int store_begin(struct store *st, char *err, size_t errlen);
/* store_commit - commit the batch started by store_begin */
int store_commit(struct store *st, char *err, size_t errlen);
/* store_rollback - abandon the batch started by store_begin */
int store_rollback(struct store *st, char *err, size_t errlen);

/* store_read_begin - hold one read snapshot across several lookups (a reader's batch) */
int store_read_begin(struct store *st, char *err, size_t errlen);
/* store_read_end - release the snapshot taken by store_read_begin */
int store_read_end(struct store *st, char *err, size_t errlen);

/*
 * store_grant - record a login by user from address at login_time, valid until expires.
 * An existing row is updated: logins + 1, last_login and expires never move backwards,
 * first_login never moves forwards; user and source become the newest login's.
 */
int store_grant(struct store *st, const char *address, const char *user, const char *source,
                int64_t login_time, int64_t expires, char *err, size_t errlen);
/* store_lookup - the active grant for address: 1 and *out, 0 if none is active, -1 error */
int store_lookup(struct store *st, const char *address, int64_t now, struct store_grant *out,
                 char *err, size_t errlen);
/* store_revoke - delete the row for address: 1 if there was one, 0 if not, -1 on error */
int store_revoke(struct store *st, const char *address, char *err, size_t errlen);
/* store_purge - delete every row with expires <= now; *removed gets the count */
int store_purge(struct store *st, int64_t now, int64_t *removed, char *err, size_t errlen);
/*
 * store_purge_step - one bounded step of a purge that walks the rows in address order:
 * in one write transaction, look at the limit rows after the address in cursor ("" for
 * the first step), delete those with expires <= now, and leave the last address looked
 * at in cursor (cursorlen bytes, at least ADDR_STRLEN). 1 if more rows may follow, 0
 * once the walk is done; *removed gets this step's count; -1 and err on failure.
 */
int store_purge_step(struct store *st, int64_t now, char *cursor, size_t cursorlen, int limit,
                     int64_t *removed, char *err, size_t errlen);
/* store_revoke_user - delete every row whose user is user; *removed gets the count */
int store_revoke_user(struct store *st, const char *user, int64_t *removed, char *err,
                      size_t errlen);
/* store_revoke_all - delete every row; *removed gets the count */
int store_revoke_all(struct store *st, int64_t *removed, char *err, size_t errlen);
/*
 * store_import - write g as it is (first and last login, logins, expires), replacing any
 * row for its address; for popauthctl migrate
 */
int store_import(struct store *st, const struct store_grant *g, char *err, size_t errlen);
/* store_list - call cb for each active row (all: expired ones too), by address */
int store_list(struct store *st, int64_t now, int all, store_list_cb cb, void *ctx, char *err,
               size_t errlen);
/* store_stats - counts and sizes for popauthctl stats */
int store_stats(struct store *st, int64_t now, struct store_stats *out, char *err, size_t errlen);

/* store_position_get - the saved position of source: 1 and *out, 0 if none, -1 error */
int store_position_get(struct store *st, const char *source, struct store_position *out, char *err,
                       size_t errlen);
/* store_position_put - save the position of source (inside the batch, if one is open) */
int store_position_put(struct store *st, const char *source, const struct store_position *pos,
                       char *err, size_t errlen);
/* store_position_cb - called once per saved position by store_positions */
typedef int (*store_position_cb)(const char *source, const struct store_position *pos, void *ctx);
/* store_positions - call cb for every saved position (of this node, in a shared store) */
int store_positions(struct store *st, store_position_cb cb, void *ctx, char *err, size_t errlen);
/* store_counter_add - add delta to the counter name of source */
int store_counter_add(struct store *st, const char *source, const char *name, int64_t delta,
                      char *err, size_t errlen);
/* store_counters - call cb for every counter, ordered by source and name */
int store_counters(struct store *st, store_counter_cb cb, void *ctx, char *err, size_t errlen);

#endif
