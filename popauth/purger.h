/*
 * purger - popauth's housekeeping: every purge_interval, a thread of its own deletes the
 * grants that have expired, so that the store does not grow with every address that
 * ever logged in.
 *
 * A purge walks the table in address order in bounded steps (store_purge_step): each
 * step is one short write transaction over PURGER_STEP rows, and the thread pauses
 * between steps for at least PURGER_PAUSE_MS and twice the step's own time, so that the
 * committer's batches (which wait for the write lock) get the store in between. A step's
 * time, as the log line gives it (mean and longest), also counts waiting for another
 * writer's lock and SQLite's automatic WAL checkpoint after some commits, during which
 * no lock is held: the write lock itself is held for the scan and deletes of one step.
 * The thread has its own store handle, opened by the caller (before privileges are
 * dropped) and owned by the purger from then on. It never logs: after each purge it records the
 * result and calls the wake function, and the event loop's thread takes the result with
 * purger_result and logs it.
 */
#ifndef POPAUTH_PURGER_H
#define POPAUTH_PURGER_H

#include <stddef.h>
#include <stdint.h>

#include "db/store.h"
#include "shared/metrics.h"

#define PURGER_STEP     500 /* rows looked at in one write transaction */
#define PURGER_PAUSE_MS 10  /* at least this long between two steps */

/* What one purge did. */
struct purger_result {
    int ok;              /* 1 if it walked the whole table */
    int64_t removed;     /* rows deleted */
    int64_t steps;       /* write transactions */
    double longest_step; /* seconds, the longest of them */
    double total_steps;  /* seconds, all of them */
    char err[512];       /* !ok: why it stopped (it is tried again next interval) */
};

struct purger; /* opaque */

/* purger_new - start the thread purging st (which it now owns) every interval seconds
 * (never while it is 0), the first time one interval from now; wake(arg) is called from the thread
 * after each purge. NULL and err if the thread cannot be created (st is closed then). */
struct purger *purger_new(struct store *st, int64_t interval, struct metrics *m,
                          void (*wake)(void *), void *arg, char *err, size_t errlen);
/* purger_set_interval - purge every interval seconds (0: never), counted from now */
void purger_set_interval(struct purger *p, int64_t interval);
/* purger_result - 1 and *out if a purge finished since the last call, else 0 */
int purger_result(struct purger *p, struct purger_result *out);
/* purger_free - stop the thread (after the step it is in), close its store, release p;
 * NULL is allowed */
void purger_free(struct purger *p);

#endif
