/*
 * redis_reader - grant lookups in a Redis store that never block the caller's libev loop:
 * hiredis's asynchronous API on that loop (hiredis/adapters/libev.h). smtpgate's fronts
 * ask through it (smtpgate/grants.h); popauth, popauthctl and every caller without a
 * loop use the blocking store (db/store.h), which reads the same keys.
 *
 * Connecting starts in redis_reader_new: for redis-sentinel, the Sentinels are asked in
 * turn for the primary (SENTINEL get-master-addr-by-name), starting with the one that
 * answered last; then the primary is connected to, and AUTH (database_password_file),
 * SELECT, ROLE (must say master) and GET popauth:version (must be absent or known) are
 * sent ahead of any lookup. A lookup made while connecting waits, unsent, and goes out
 * once the primary's connection exists; an answer counts only if every set-up reply
 * before it passed, so a lookup is never answered by a replica or a refused server.
 *
 * Failing closed: every connect step and every reply must come within redis_timeout_ms
 * (store_configure). A timeout, a dropped connection, a set-up reply that fails, or an
 * error reply that says the server is not the writable primary (READONLY, LOADING,
 * MASTERDOWN, NOAUTH) drops the connection: every waiting lookup is answered -1 with
 * the reason, and the next connect starts REDIS_READER_RETRY seconds later (from its
 * timer, not from a lookup). Until it is connected again, a lookup is refused at once
 * (redis_reader_lookup returns -1). While connected, every REDIS_READER_ROLE_EVERY
 * seconds the reader asks ROLE, and with Sentinels one Sentinel which primary it names;
 * a server that is no longer the primary, or another primary named, drops the connection
 * and connects again at once, as Redis does not close its clients' connections when it
 * becomes a replica.
 *
 * Ownership: the caller embeds a struct redis_reader_wait per lookup and must leave it
 * alone while it waits; redis_reader_cancel takes it back without an answer. Callbacks
 * run from the loop; one may start lookups and cancel other waits, but not free the
 * reader. The password is sent in AUTH and nowhere else; an AUTH refusal keeps only the
 * first word of the server's answer.
 */
#ifndef POPAUTH_REDIS_READER_H
#define POPAUTH_REDIS_READER_H

#include <stddef.h>
#include <stdint.h>

#include <ev.h>

#include "db/store.h"
#include "shared/addr.h"

#define REDIS_READER_RETRY      1.0 /* seconds from a dropped connection to the next connect */
#define REDIS_READER_ROLE_EVERY 1.0 /* seconds between checks that the server is the primary */

struct redis_reader; /* opaque */

/* redis_reader_fn - the answer to one lookup: 1 and the active grant *g, 0 if there is
 * none, or -1 and err; g and err are valid during the call only */
typedef void (*redis_reader_fn)(void *ctx, int rc, const struct store_grant *g, const char *err);

/* One lookup's place in the reader's queue; embedded by the caller. */
struct redis_reader_wait {
    struct redis_reader_wait *prev, *next;
    uint64_t seq;   /* the command's number on the connection; 0 while unsent */
    double sent_at; /* ev_now when it was queued */
    int64_t now;    /* the time the grant must outlast */
    char address[ADDR_STRLEN];
    redis_reader_fn fn;
    void *ctx;
};

/* redis_reader_new - a reader of the store at location (the URI after "redis:", or after
 * "redis-sentinel:" if sentinel) on loop; it starts connecting at once. NULL and err
 * naming the URI if it does not parse. */
struct redis_reader *redis_reader_new(struct ev_loop *loop, const char *location, int sentinel,
                                      char *err, size_t errlen);
/*
 * redis_reader_lookup - ask for the grant of address (canonical text) active at now. 0:
 * fn(ctx, ...) is called later from the loop, exactly once, unless redis_reader_cancel(w)
 * comes first. -1 and err at once (fn is not called) while there is no connection and
 * none is being made.
 */
int redis_reader_lookup(struct redis_reader *r, struct redis_reader_wait *w, const char *address,
                        int64_t now, redis_reader_fn fn, void *ctx, char *err, size_t errlen);
/* redis_reader_cancel - take back a waiting lookup: its fn is never called */
void redis_reader_cancel(struct redis_reader *r, struct redis_reader_wait *w);
/* redis_reader_connected - 1 if lookups go to a checked primary now, else 0 */
int redis_reader_connected(const struct redis_reader *r);
/* redis_reader_free - close the connection and release r; waiting lookups are forgotten,
 * not answered; NULL is allowed */
void redis_reader_free(struct redis_reader *r);

#endif
