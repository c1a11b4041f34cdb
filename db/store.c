/*
 * store - picks the backend named by the store URI and forwards every call to it.
 * Programs see only this layer, so that another backend can sit beside SQLite.
 */
#include <stdlib.h>
#include <string.h>

#include "db/store_backend.h"
#include "shared/util.h"

struct store {
    const struct store_backend *backend;
    void *handle;
};

/* A URI scheme is a run of these before the first ':'; anything else is a plain path. */
#define STORE_SCHEME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789"

static const struct store_backend *const store_backends[] = {&store_backend_sqlite};

/* store_uri_parse - split uri into the backend its scheme names and the location after
 * the scheme; -1 and err if the scheme is unknown or the location empty */
int store_uri_parse(const char *uri, struct store_uri *out, char *err, size_t errlen)
{
    const struct store_backend *backend = &store_backend_sqlite;
    const char *colon = strchr(uri, ':'), *location = uri;
    size_t i;

    if (colon != NULL && colon != uri && strspn(uri, STORE_SCHEME_CHARS) == (size_t)(colon - uri)) {
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
