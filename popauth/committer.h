/*
 * committer - writes the ingest core's batches to the store on a thread of its own, so
 * that popauth's event loop waits for SQLite and the disk only when a batch fills up
 * while the one before it is still being written.
 *
 * A batch is what the ingest core collected between two hand-overs: the grants (one per
 * client address), and for each source that produced them its position and counter
 * deltas. committer_write writes one inside a store transaction; the committer thread
 * runs it for one batch at a time, in the order the batches were submitted, and then
 * calls the wake function (from its own thread), so the event loop can collect the
 * result and hand over the next batch. While a batch is submitted the thread owns it
 * and the store, and the submitter touches neither until committer_collect has
 * returned its result. Like Redis's background I/O threads, the thread only does the
 * slow system work; every decision (what to grant, what to retry) stays on the loop's
 * thread, and the thread never logs.
 *
 * A batch commits on its own, unless it is submitted with keep_open (popauth --once,
 * where nobody waits for a single grant): then the next batches join its transaction,
 * which saves rewriting the same store pages once per batch. The thread commits such a
 * transaction after COMMITTER_TXN_SECONDS or COMMITTER_TXN_GRANTS grants, or with the
 * first batch submitted without keep_open, and also on its own when the deadline
 * passes with no batch to write, so that it never holds the store's write lock longer
 * than that, even while the sources wait for input.
 */
#ifndef POPAUTH_COMMITTER_H
#define POPAUTH_COMMITTER_H

#include <stddef.h>
#include <stdint.h>

#include "db/store.h"
#include "popauth/source.h"
#include "shared/addr.h"

#define COMMITTER_MAX_SOURCES 64    /* sources in one batch */
#define COMMITTER_TXN_SECONDS 1     /* a kept-open transaction commits after this long */
#define COMMITTER_TXN_GRANTS  65536 /* or once it holds this many grants */

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

/* How committer_write brackets a batch in its transaction. */
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
/* committer_submit - hand b to the thread (see above for keep_open); the committer
 * must be idle (nothing submitted, or the last result collected) */
void committer_submit(struct committer *c, struct committer_batch *b, int keep_open);
/*
 * committer_collect - the result of the submitted batch: 1 written (and committed,
 * unless its transaction was kept open), 0 if nothing was submitted or (wait 0) it is
 * still being written; -1 and err if it failed and nothing of it stayed, so it may be
 * submitted again; -2 and err if it failed and took with it the earlier batches of its
 * kept-open transaction (or that transaction's commit had failed before): they are
 * lost, with their positions. With wait 1 it blocks until the batch is done. After a
 * non-zero return the committer is idle and the batch belongs to the caller again.
 */
int committer_collect(struct committer *c, int wait, char *err, size_t errlen);
/* committer_free - wait for a submitted batch, stop the thread (rolling back a
 * transaction still kept open) and release it; NULL is allowed */
void committer_free(struct committer *c);

#endif
