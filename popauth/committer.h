/*
 * committer - writes the ingest core's batches to the store on a thread of its own, so
 * that popauth's event loop never waits for SQLite or the disk.
 *
 * A batch is everything one store transaction holds: the grants (one per client
 * address), and for each source that produced them its position and counter deltas.
 * committer_write is that transaction; the committer thread runs it for one batch at a
 * time, in the order the batches were submitted, and then calls the wake function (from
 * its own thread), so the event loop can collect the result and hand over the next
 * batch. While a batch is submitted the thread owns it, and the submitter reads and
 * writes neither the batch nor the store until committer_collect has returned its
 * result. Like Redis's background I/O threads, the thread only does the slow system
 * work; every decision (what to grant, what to retry) stays on the loop's thread.
 */
#ifndef POPAUTH_COMMITTER_H
#define POPAUTH_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "db/store.h"
#include "popauth/source.h"
#include "shared/addr.h"

#define COMMITTER_MAX_SOURCES 64 /* sources in one batch */

/* One row to write: the newest login of one client address. */
struct committer_grant {
    struct addr client;
    char user[STORE_USER_MAX];
    const char *source; /* format name, static */
    int64_t time;       /* the login's time */
    int64_t expires;    /* set when the batch is submitted */
};

/* What one source contributes to a batch: where it stopped, and its counter deltas. */
struct committer_source {
    char name[sizeof(((struct source *)0)->name)];
    int has_position; /* position is saved with the grants (followed files, journal) */
    struct store_position position;
    struct source_counters counters;
};

/* A grant's address in text, and where the grant is: committer_write's sort keys. */
struct committer_row {
    char text[ADDR_STRLEN];
    uint32_t grant;
};

/* A batch: grants[0..ngrants) and sources[0..nsources). rows is room for
 * committer_write, which writes the grants in address order (fewer B-tree pages
 * touched); grants and rows each hold capacity entries. */
struct committer_batch {
    struct committer_grant *grants;
    struct committer_row *rows;
    size_t ngrants, capacity;
    struct committer_source sources[COMMITTER_MAX_SOURCES];
    size_t nsources;
};

struct committer; /* opaque */

/* committer_batch_init - allocate a batch of capacity grants (free with _free) */
void committer_batch_init(struct committer_batch *b, size_t capacity);
/* committer_batch_free - release what committer_batch_init allocated */
void committer_batch_free(struct committer_batch *b);
/* How committer_write brackets a batch: a batch of its own is BEGIN | COMMIT; a bulk
 * transaction (popauth --once) begins with the first batch and commits with the last. */
#define COMMITTER_BEGIN  1 /* start the transaction before the batch */
#define COMMITTER_COMMIT 2 /* commit it after the batch */

/* committer_write - write b inside a store transaction, bracketed as flags say; on
 * failure the whole transaction is rolled back, and -1 and err returned. Runs on the
 * caller's thread. */
int committer_write(struct store *st, struct committer_batch *b, int flags, char *err,
                    size_t errlen);

/* committer_new - start the thread writing to st; wake(arg), if not NULL, is called from
 * the thread after each batch. NULL and err if the thread cannot be created. */
struct committer *committer_new(struct store *st, void (*wake)(void *), void *arg, char *err,
                                size_t errlen);
/* committer_submit - hand b to the thread, to write as committer_write(b, flags); the
 * committer must be idle (nothing submitted, or the last result collected) */
void committer_submit(struct committer *c, struct committer_batch *b, int flags);
/* committer_busy - 1 while a submitted batch is being written */
int committer_busy(struct committer *c);
/*
 * committer_collect - the result of the submitted batch: 1 committed, -1 failed (err
 * says why), 0 if nothing was submitted or (wait 0) it is still being written. With
 * wait 1 it blocks until the batch is done. After a non-zero return the committer is
 * idle and the batch belongs to the caller again.
 */
int committer_collect(struct committer *c, int wait, char *err, size_t errlen);
/* committer_free - wait for a submitted batch, stop the thread and release it; NULL is
 * allowed */
void committer_free(struct committer *c);

#endif
