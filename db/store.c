/*
 * store - picks the backend named by the store URI and forwards every call to it.
 * Programs see only this layer, so that another backend can sit beside SQLite.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/store_backend.h"
#include "shared/config.h"
#include "shared/util.h"

struct store {
    const struct store_backend *backend;
    void *handle;
};

/* A URI scheme is a run of these before the first ':' (with a '-' only in a known one,
 * so that "my-db:x" stays a path); anything else is a plain path. */
#define STORE_SCHEME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789-"

#define STORE_TIMEOUT_MS 1000 /* redis_timeout's default, for programs that set none */

static const struct store_backend *const store_backends[] = {
    &store_backend_sqlite, &store_backend_redis, &store_backend_redis_sentinel};

static struct store_settings store_current = {.timeout_ms = STORE_TIMEOUT_MS};

/* store_settings - what store_configure set (store_backend.h) */
const struct store_settings *store_settings(void)
{
    return &store_current;
}

/* store_read_secret - the user (second line present) and password of the file at path;
 * every copy of the file's text is wiped before it returns */
static int store_read_secret(const char *path, struct store_settings *s, char *err, size_t errlen)
{
    char buf[2 * STORE_SECRET_MAX + 4], *pw = buf, *nl;
    struct stat st;
    ssize_t got;
    size_t n = 0;
    int fd, rc = -1;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
        return util_seterr(err, errlen, "database_password_file %s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        util_seterr(err, errlen, "database_password_file %s: not a regular file", path);
        goto out;
    }
    if (st.st_mode & (S_IROTH | S_IWOTH)) {
        util_seterr(err, errlen,
                    "database_password_file %s: every local user may read or write it (mode "
                    "%04o); chmod o-rw it",
                    path, (unsigned)(st.st_mode & 07777));
        goto out;
    }
    while (n < sizeof(buf) - 1 && (got = read(fd, buf + n, sizeof(buf) - 1 - n)) != 0) {
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            util_seterr(err, errlen, "database_password_file %s: %s", path, strerror(errno));
            goto out;
        }
        n += (size_t)got;
    }
    buf[n] = '\0';
    if (n == sizeof(buf) - 1 || strlen(buf) != n) {
        util_seterr(err, errlen, "database_password_file %s: over %zu bytes, or a NUL byte", path,
                    sizeof(buf) - 2);
        goto out;
    }
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    if ((nl = strchr(buf, '\n')) != NULL) { /* USER, then PASSWORD */
        *nl = '\0';
        if (nl > buf && nl[-1] == '\r')
            nl[-1] = '\0';
        pw = nl + 1;
        if (strchr(pw, '\n') != NULL || buf[0] == '\0' || strlen(buf) >= sizeof(s->user)) {
            util_seterr(err, errlen,
                        "database_password_file %s: one line (the password) or two (the user, "
                        "of at most %zu bytes, then the password)",
                        path, sizeof(s->user) - 1);
            goto out;
        }
        util_strlcpy(s->user, buf, sizeof(s->user));
    }
    if (pw[0] == '\0' || strlen(pw) >= sizeof(s->password)) {
        util_seterr(err, errlen,
                    "database_password_file %s: the password is empty or over %zu bytes", path,
                    sizeof(s->password) - 1);
        goto out;
    }
    util_strlcpy(s->password, pw, sizeof(s->password));
    rc = 0;
out:
    explicit_bzero(buf, sizeof(buf));
    close(fd);
    return rc;
}

/* store_configure - the options for every store opened from now on (store.h) */
int store_configure(const struct store_options *o, char *err, size_t errlen)
{
    struct store_settings s = {.wait_replicas = o->wait_replicas,
                               .timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : STORE_TIMEOUT_MS};
    const char *node = o->node != NULL ? o->node : "";
    size_t n;

    if (*node == '\0') {
        if (gethostname(s.node, sizeof(s.node)) < 0 || s.node[0] == '\0')
            return util_seterr(err, errlen, "redis_node_name: not set, and no host name: %s",
                               strerror(errno));
        s.node[sizeof(s.node) - 1] = '\0';
        s.node[strcspn(s.node, ".")] = '\0'; /* the short name */
    } else {
        util_strlcpy(s.node, node, sizeof(s.node));
    }
    n = strlen(s.node);
    if (n == 0 || n >= sizeof(s.node) - 1 ||
        strspn(s.node, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != n)
        return util_seterr(err, errlen,
                           "redis_node_name: '%s' must be 1-%zu letters, digits or '.-_'", s.node,
                           sizeof(s.node) - 2);
    if (o->password_file != NULL && o->password_file[0] != '\0' &&
        store_read_secret(o->password_file, &s, err, errlen) < 0) {
        explicit_bzero(&s, sizeof(s));
        return -1;
    }
    explicit_bzero(&store_current, sizeof(store_current));
    store_current = s;
    explicit_bzero(&s, sizeof(s));
    return 0;
}

/* store_configure_from - store_configure with the settings of cfg */
int store_configure_from(const struct config *cfg, char *err, size_t errlen)
{
    struct store_options o = {.password_file = cfg->database_password_file,
                              .node = cfg->redis_node_name,
                              .wait_replicas = (int)cfg->redis_wait_replicas,
                              .timeout_ms = (int)cfg->redis_timeout_ms};

    return store_configure(&o, err, errlen);
}

/* store_scheme_known - a backend's scheme is uri up to colon */
static int store_scheme_known(const char *uri, const char *colon)
{
    size_t i, n = (size_t)(colon - uri);

    for (i = 0; i < UTIL_ARRAY_LEN(store_backends); i++)
        if (strlen(store_backends[i]->scheme) == n &&
            strncmp(uri, store_backends[i]->scheme, n) == 0)
            return 1;
    return 0;
}

/* store_uri_parse - split uri into the backend its scheme names and the location after
 * the scheme; -1 and err if the scheme is unknown or the location empty */
int store_uri_parse(const char *uri, struct store_uri *out, char *err, size_t errlen)
{
    const struct store_backend *backend = &store_backend_sqlite;
    const char *colon = strchr(uri, ':'), *location = uri;
    size_t i;

    if (colon != NULL && colon != uri && strspn(uri, STORE_SCHEME_CHARS) == (size_t)(colon - uri) &&
        (memchr(uri, '-', (size_t)(colon - uri)) == NULL || store_scheme_known(uri, colon))) {
        backend = NULL;
        for (i = 0; i < UTIL_ARRAY_LEN(store_backends); i++) {
            size_t n = strlen(store_backends[i]->scheme);
            if ((size_t)(colon - uri) == n && strncmp(uri, store_backends[i]->scheme, n) == 0)
                backend = store_backends[i];
        }
        if (backend == NULL)
            return util_seterr(err, errlen, "database %s: unknown store type '%.*s'", uri,
                               (int)(colon - uri), uri);
        location = colon + 1;
    }
    if (*location == '\0')
        return util_seterr(err, errlen, "database '%s': empty path", uri);
    out->backend = backend;
    out->location = location;
    return 0;
}

/* store_uri_scheme - the store type a parsed URI names */
const char *store_uri_scheme(const struct store_uri *u)
{
    return u->backend->scheme;
}

/* store_check - 0 if a writer could open the store at uri, as far as can be told */
int store_check(const char *uri, char *err, size_t errlen)
{
    struct store_uri u;

    if (store_uri_parse(uri, &u, err, errlen) < 0)
        return -1;
    return u.backend->check != NULL ? u.backend->check(u.location, err, errlen) : 0;
}

/* store_uri_open - open (and in READWRITE mode create and migrate) the store at u */
struct store *store_uri_open(const struct store_uri *u, enum store_mode mode, char *err,
                             size_t errlen)
{
    struct store *st;
    void *h;

    if ((h = u->backend->open(u->location, mode, err, errlen)) == NULL)
        return NULL;
    st = xmalloc(sizeof(*st));
    st->backend = u->backend;
    st->handle = h;
    return st;
}

/* store_open - open (and in READWRITE mode create and migrate) the store at uri */
struct store *store_open(const char *uri, enum store_mode mode, char *err, size_t errlen)
{
    struct store_uri u;

    if (store_uri_parse(uri, &u, err, errlen) < 0)
        return NULL;
    return store_uri_open(&u, mode, err, errlen);
}

/* store_file - the file that holds the store at uri, or NULL if it is not a file */
const char *store_file(const char *uri)
{
    struct store_uri u;
    char err[256];

    if (store_uri_parse(uri, &u, err, sizeof(err)) < 0 || u.backend->file == NULL)
        return NULL;
    return u.backend->file(u.location);
}

/* store_close - close the store; NULL is allowed */
void store_close(struct store *st)
{
    if (st == NULL)
        return;
    st->backend->close(st->handle);
    free(st);
}

/* store_stale - 1 if a reader must reopen st, 0 if not, -1 and err if the store is gone */
int store_stale(struct store *st, char *err, size_t errlen)
{
    return st->backend->stale != NULL ? st->backend->stale(st->handle, err, errlen) : 0;
}

/* store_checkpoint_background - a writer's checkpoints on a thread of their own (store.h) */
int store_checkpoint_background(struct store *st, char *err, size_t errlen)
{
    return st->backend->checkpoint_background != NULL
               ? st->backend->checkpoint_background(st->handle, err, errlen)
               : 0;
}

/* store_begin - start a batch: later writes commit together at store_commit */
int store_begin(struct store *st, char *err, size_t errlen)
{
    return st->backend->begin(st->handle, err, errlen);
}

/* store_commit - commit the batch started by store_begin */
int store_commit(struct store *st, char *err, size_t errlen)
{
    return st->backend->commit(st->handle, err, errlen);
}

/* store_rollback - abandon the batch started by store_begin */
int store_rollback(struct store *st, char *err, size_t errlen)
{
    return st->backend->rollback(st->handle, err, errlen);
}

/* store_read_begin - hold one read snapshot across several lookups (a reader's batch) */
int store_read_begin(struct store *st, char *err, size_t errlen)
{
    return st->backend->read_begin(st->handle, err, errlen);
}

/* store_read_end - release the snapshot taken by store_read_begin */
int store_read_end(struct store *st, char *err, size_t errlen)
{
    return st->backend->read_end(st->handle, err, errlen);
}

/* store_grant - record a login; see store.h for how an existing row changes */
int store_grant(struct store *st, const char *address, const char *user, const char *source,
                int64_t login_time, int64_t expires, char *err, size_t errlen)
{
    return st->backend->grant(st->handle, address, user, source, login_time, expires, err, errlen);
}

/* store_lookup - the active grant for address: 1 and *out, 0 if none is active, -1 error */
int store_lookup(struct store *st, const char *address, int64_t now, struct store_grant *out,
                 char *err, size_t errlen)
{
    return st->backend->lookup(st->handle, address, now, out, err, errlen);
}

/* store_revoke - delete the row for address: 1 if there was one, 0 if not, -1 on error */
int store_revoke(struct store *st, const char *address, char *err, size_t errlen)
{
    return st->backend->revoke(st->handle, address, err, errlen);
}

/* store_purge - delete every row with expires <= now; *removed gets the count */
int store_purge(struct store *st, int64_t now, int64_t *removed, char *err, size_t errlen)
{
    return st->backend->purge(st->handle, now, removed, err, errlen);
}

/* store_purge_step - one bounded step of a purge in address order (see store.h) */
int store_purge_step(struct store *st, int64_t now, char *cursor, size_t cursorlen, int limit,
                     int64_t *removed, char *err, size_t errlen)
{
    return st->backend->purge_step(st->handle, now, cursor, cursorlen, limit, removed, err, errlen);
}

/* store_revoke_user - delete every row whose user is user; *removed gets the count */
int store_revoke_user(struct store *st, const char *user, int64_t *removed, char *err,
                      size_t errlen)
{
    return st->backend->revoke_user(st->handle, user, removed, err, errlen);
}

/* store_revoke_all - delete every row; *removed gets the count */
int store_revoke_all(struct store *st, int64_t *removed, char *err, size_t errlen)
{
    return st->backend->revoke_all(st->handle, removed, err, errlen);
}

/* store_import - write g as it is, replacing any row for its address */
int store_import(struct store *st, const struct store_grant *g, char *err, size_t errlen)
{
    return st->backend->import(st->handle, g, err, errlen);
}

/* store_list - call cb for each active row (all: expired ones too), by address */
int store_list(struct store *st, int64_t now, int all, store_list_cb cb, void *ctx, char *err,
               size_t errlen)
{
    return st->backend->list(st->handle, now, all, cb, ctx, err, errlen);
}

/* store_stats - counts and sizes for popauthctl stats */
int store_stats(struct store *st, int64_t now, struct store_stats *out, char *err, size_t errlen)
{
    return st->backend->stats(st->handle, now, out, err, errlen);
}

/* store_position_get - the saved position of source: 1 and *out, 0 if none, -1 error */
int store_position_get(struct store *st, const char *source, struct store_position *out, char *err,
                       size_t errlen)
{
    return st->backend->position_get(st->handle, source, out, err, errlen);
}

/* store_position_put - save the position of source (inside the batch, if one is open) */
int store_position_put(struct store *st, const char *source, const struct store_position *pos,
                       char *err, size_t errlen)
{
    return st->backend->position_put(st->handle, source, pos, err, errlen);
}

/* store_positions - call cb for every saved position */
int store_positions(struct store *st, store_position_cb cb, void *ctx, char *err, size_t errlen)
{
    return st->backend->positions(st->handle, cb, ctx, err, errlen);
}

/* store_counter_add - add delta to the counter name of source */
int store_counter_add(struct store *st, const char *source, const char *name, int64_t delta,
                      char *err, size_t errlen)
{
    return st->backend->counter_add(st->handle, source, name, delta, err, errlen);
}

/* store_counters - call cb for every counter, ordered by source and name */
int store_counters(struct store *st, store_counter_cb cb, void *ctx, char *err, size_t errlen)
{
    return st->backend->counters(st->handle, cb, ctx, err, errlen);
}
