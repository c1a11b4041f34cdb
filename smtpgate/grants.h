/*
 * grants - smtpgate's side of the grant store: a read-only handle opened lazily, and a
 * lookup that always answers, so the policy server never has to care whether the store
 * is there.
 *
 * The store is opened READ-ONLY at the first lookup. When the open or a lookup fails the
 * answer is GRANT_ERROR carrying the store's message (the decision turns that into
 * defer), the handle is closed, and a new open is tried at most once per second; in
 * between, lookups answer GRANT_ERROR at once. So smtpgate keeps running while the store
 * is missing, locked or corrupt, and recovers by itself when it is fixed.
 *
 * A SQLite lookup answers at once, from a local file. A Redis lookup is a round trip to
 * another host: on a handle made with a loop, it goes through db/redis_reader.h, which
 * never blocks the loop, and its answer comes later through a callback; the reader
 * connects, fails closed and reconnects by itself. A handle made without a loop
 * (popauthctl check) asks every store with blocking calls.
 *
 * Ownership: grants_new copies the URI; the strings in a struct decision_grant filled by
 * grants_lookup, or handed to a grants_done_fn, belong to the struct grants and stay valid
 * until its next answer. A struct grants_wait is the caller's, left alone while it waits.
 */
#ifndef POPAUTH_GRANTS_H
#define POPAUTH_GRANTS_H

#include <stdint.h>

#include <ev.h>

#include "db/redis_reader.h"
#include "shared/addr.h"
#include "shared/decide.h"

#define GRANTS_RETRY        1.0  /* seconds between attempts to open a failing store */
#define GRANTS_STAT_EVERY   0.1  /* seconds between questions whether the handle is stale */
#define GRANTS_SNAPSHOT_MAX 0.01 /* seconds one read snapshot serves lookups, at most */

struct grants; /* opaque */

/* grants_done_fn - the answer to a lookup that waited (grant valid during the call) */
typedef void (*grants_done_fn)(void *ctx, const struct decision_grant *grant);

/* A lookup waiting for the store; embedded in the caller's session. */
struct grants_wait {
    struct redis_reader_wait rw;
    struct grants *g;
    struct grants_wait *prev, *next; /* in g's list of waiting lookups */
    int waiting;                     /* 1 from a lookup that waits until its answer */
    grants_done_fn done;
    void *ctx;
};

/* grants_new - a lazily opened read-only view of the store at uri; with loop (not NULL),
 * Redis lookups wait on it instead of blocking */
struct grants *grants_new(struct ev_loop *loop, const char *uri);
/* grants_release - end the read snapshot that lookups share, so that the next lookup
 * sees every grant and revocation committed until then */
void grants_release(struct grants *g);
/*
 * grants_release_due - called before the loop waits: end the read snapshot if it began
 * GRANTS_SNAPSHOT_MAX or more ago, and return 0; or return the seconds until it is due,
 * for the caller to end it then with grants_release (0 too if none is open). So a busy
 * loop takes the store's read lock once per GRANTS_SNAPSHOT_MAX rather than once per
 * iteration, and a grant or a revocation is seen at most that long after its commit.
 */
double grants_release_due(struct grants *g);
/* grants_free - close the store and release g; NULL is allowed */
void grants_free(struct grants *g);
/* grants_set_uri - use uri from the next lookup on (reopens only if it changed; lookups
 * waiting on the old store are answered GRANT_ERROR) */
void grants_set_uri(struct grants *g, const char *uri);
/*
 * grants_lookup - what the store says about client at unix time now: GRANT_ACTIVE with
 * user and expiry, GRANT_NONE, or GRANT_ERROR with the reason. 0: *out is the answer. 1
 * (only with w, on a handle with a loop): the answer comes later, done(ctx, grant) from
 * the loop, unless grants_cancel(g, w) comes first. Reopen attempts are timed with the
 * monotonic clock, read only while the store is failing.
 */
int grants_lookup(struct grants *g, const struct addr *client, int64_t now,
                  struct decision_grant *out, struct grants_wait *w, grants_done_fn done,
                  void *ctx);
/* grants_cancel - take back w if it waits: done is never called for it */
void grants_cancel(struct grants *g, struct grants_wait *w);

#endif
