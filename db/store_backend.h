/*
 * store_backend - what a store backend provides: a table of functions that store.c calls
 * through. Only store.c and the backends include this header; programs use store.h.
 */
#ifndef POPAUTH_STORE_BACKEND_H
#define POPAUTH_STORE_BACKEND_H

#include "db/store.h"

struct store_backend {
    const char *scheme; /* URI prefix before ':' */
    /* the file that holds the store at location, or NULL if it is not a file */
    const char *(*file)(const char *location);
    int (*check)(const char *location, char *err, size_t errlen); /* NULL: nothing to check */
    void *(*open)(const char *location, enum store_mode mode, char *err, size_t errlen);
    void (*close)(void *h);
    int (*stale)(void *h, char *err, size_t errlen); /* NULL: a handle never goes stale */
    /* NULL: the backend has no checkpoints to move off the writer's thread */
    int (*checkpoint_background)(void *h, char *err, size_t errlen);
    int (*begin)(void *h, char *err, size_t errlen);
    int (*commit)(void *h, char *err, size_t errlen);
    int (*rollback)(void *h, char *err, size_t errlen);
    int (*read_begin)(void *h, char *err, size_t errlen);
    int (*read_end)(void *h, char *err, size_t errlen);
    int (*grant)(void *h, const char *address, const char *user, const char *source,
                 int64_t login_time, int64_t expires, char *err, size_t errlen);
    int (*lookup)(void *h, const char *address, int64_t now, struct store_grant *out, char *err,
                  size_t errlen);
    int (*revoke)(void *h, const char *address, char *err, size_t errlen);
    int (*purge)(void *h, int64_t now, int64_t *removed, char *err, size_t errlen);
    int (*purge_step)(void *h, int64_t now, char *cursor, size_t cursorlen, int limit,
                      int64_t *removed, char *err, size_t errlen);
    int (*revoke_user)(void *h, const char *user, int64_t *removed, char *err, size_t errlen);
    int (*revoke_all)(void *h, int64_t *removed, char *err, size_t errlen);
    int (*import)(void *h, const struct store_grant *g, char *err, size_t errlen);
    int (*list)(void *h, int64_t now, int all, store_list_cb cb, void *ctx, char *err,
                size_t errlen);
    int (*stats)(void *h, int64_t now, struct store_stats *out, char *err, size_t errlen);
    int (*position_get)(void *h, const char *source, struct store_position *out, char *err,
                        size_t errlen);
    int (*position_put)(void *h, const char *source, const struct store_position *pos, char *err,
                        size_t errlen);
    int (*positions)(void *h, store_position_cb cb, void *ctx, char *err, size_t errlen);
    int (*counter_add)(void *h, const char *source, const char *name, int64_t delta, char *err,
                       size_t errlen);
    int (*counters)(void *h, store_counter_cb cb, void *ctx, char *err, size_t errlen);
};

#define STORE_SECRET_MAX 512 /* bytes of the user and of the password, NUL included */
#define STORE_NODE_MAX   66  /* bytes of redis_node_name, NUL included, one spare */

/* store_configure's result, for the backends */
struct store_settings {
    char user[STORE_SECRET_MAX];     /* "" for the default user */
    char password[STORE_SECRET_MAX]; /* "" for none */
    char node[STORE_NODE_MAX];
    int wait_replicas;
    int timeout_ms;
};

/* store_settings - the settings of the last store_configure (defaults without one) */
const struct store_settings *store_settings(void);

extern const struct store_backend store_backend_sqlite;
extern const struct store_backend store_backend_redis;
extern const struct store_backend store_backend_redis_sentinel;

#endif
