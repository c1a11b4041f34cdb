/*
 * committer - the store transaction of ingest batches, and the thread that runs it.
 *
 * The thread waits on a condition variable for a submitted batch, writes it with
 * committer_write, records the result and calls the wake function. The mutex guards
 * the hand-over fields (job, keep_open, done, result, err, quit); the batch and the
 * store are used by one thread at a time, the hand-over through the mutex ordering
 * their accesses. The state of a kept-open transaction (txn_*) and of a lost one
 * belongs to the thread alone. The thread never logs: its error text travels back
 * with the result. It runs with every signal blocked, so signals reach the loop's
 * thread.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "popauth/committer.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/thread.h"
#include "shared/util.h"

struct committer {
    struct store *st;
    void (*wake)(void *);
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* job submitted, job done, or quit */
    struct committer_batch *job; /* submitted and not yet collected */
    int keep_open;               /* leave its transaction open for the next batch */
    int done;                    /* job has been written (read without the lock too) */
    int result;                  /* 0, or committer_collect's -1 or -2 */
    int quit;                    /* committer_free asks the thread to end */
    char err[1024];              /* why the job failed */
    /* the thread's own: */
    int txn_open;                 /* a kept-open transaction holds written batches */
    struct timespec txn_deadline; /* when it commits at the latest (CLOCK_MONOTONIC) */
    size_t txn_grants;            /* grants in it */
    int lost;                     /* its commit at the deadline failed: report it */
    char lost_err[1024];
    struct metric *latency, *batches, *rows, *errors; /* the thread writes them */
};

/* committer_batch_init - allocate a batch of capacity grants (free with _free) */
void committer_batch_init(struct committer_batch *b, size_t capacity)
{
    memset(b, 0, sizeof(*b));
    b->grants = xcalloc(capacity, sizeof(*b->grants));
    b->rows = xcalloc(capacity, sizeof(*b->rows));
    b->capacity = capacity;
}

/* committer_batch_free - release what committer_batch_init allocated */
void committer_batch_free(struct committer_batch *b)
{
    free(b->grants);
    free(b->rows);
    memset(b, 0, sizeof(*b));
}

/* committer_row_compare - qsort order of rows: by address text, as the store sorts */
static int committer_row_compare(const void *a, const void *b)
{
    return strcmp(((const struct committer_row *)a)->text, ((const struct committer_row *)b)->text);
}

/* committer_write_counters - add one source's counter deltas to the store */
static int committer_write_counters(struct store *st, const struct committer_source *s, char *err,
                                    size_t errlen)
{
    const struct {
        const char *name;
        int64_t value;
    } c[] = {{"lines", s->counters.lines},   {"logins", s->counters.logins},
             {"grants", s->counters.grants}, {"rejected", s->counters.rejected},
             {"errors", s->counters.errors}, {"truncated", s->counters.truncated}};
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(c); i++)
        if (c[i].value != 0 &&
            store_counter_add(st, s->name, c[i].name, c[i].value, err, errlen) < 0)
            return -1;
    return 0;
}

/* committer_write_rows - inside the open transaction: grants, positions, counters */
static int committer_write_rows(struct store *st, struct committer_batch *b, char *err,
                                size_t errlen)
{
    size_t i;

    for (i = 0; i < b->ngrants; i++) {
        addr_format(&b->grants[i].client, b->rows[i].text, sizeof(b->rows[i].text));
        b->rows[i].grant = (uint32_t)i;
    }
    qsort(b->rows, b->ngrants, sizeof(*b->rows), committer_row_compare);
    for (i = 0; i < b->ngrants; i++) {
        const struct committer_grant *g = &b->grants[b->rows[i].grant];
        if (store_grant(st, b->rows[i].text, g->user, g->source, g->time, g->expires, err, errlen) <
            0)
            return -1;
    }
    for (i = 0; i < b->nsources; i++) {
        const struct committer_source *s = &b->sources[i];
        if (s->has_position && store_position_put(st, s->name, &s->position, err, errlen) < 0)
            return -1;
        if (committer_write_counters(st, s, err, errlen) < 0)
            return -1;
    }
    return 0;
}

/* committer_write - write b inside a store transaction, bracketed as flags say */
int committer_write(struct store *st, struct committer_batch *b, int flags, char *err,
                    size_t errlen)
{
    char rberr[256];

    if ((flags & COMMITTER_BEGIN) && store_begin(st, err, errlen) < 0)
        return -1;
    if (committer_write_rows(st, b, err, errlen) < 0 ||
        ((flags & COMMITTER_COMMIT) && store_commit(st, err, errlen) < 0)) {
        store_rollback(st, rberr, sizeof(rberr));
        return -1;
    }
    return 0;
}

/* committer_due - 1 if the kept-open transaction's deadline has passed */
static int committer_due(const struct committer *c)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > c->txn_deadline.tv_sec ||
           (now.tv_sec == c->txn_deadline.tv_sec && now.tv_nsec >= c->txn_deadline.tv_nsec);
}

/* committer_run - on the thread, without the lock: write job, keeping its transaction
 * open if asked and allowed; 0, -1 (nothing of it stayed) or -2 (earlier batches lost) */
static int committer_run(struct committer *c, struct committer_batch *job, int keep_open, char *err,
                         size_t errlen)
{
    int flags = 0, rc;

    if (c->lost) { /* the last transaction's commit failed: its batches are gone */
        c->lost = 0;
        util_strlcpy(err, c->lost_err, errlen);
        return -2;
    }
    if (!c->txn_open) {
        flags |= COMMITTER_BEGIN;
        clock_gettime(CLOCK_MONOTONIC, &c->txn_deadline);
        c->txn_deadline.tv_sec += COMMITTER_TXN_SECONDS;
    }
    if (!keep_open || c->txn_grants + job->ngrants >= COMMITTER_TXN_GRANTS || committer_due(c))
        flags |= COMMITTER_COMMIT;
    rc = committer_write(c->st, job, flags, err, errlen);
    if (rc < 0)
        rc = c->txn_open ? -2 : -1;
    c->txn_open = rc == 0 && !(flags & COMMITTER_COMMIT);
    c->txn_grants = c->txn_open ? c->txn_grants + job->ngrants : 0;
    return rc;
}

/* committer_close_txn - on the thread, without the lock: commit (or, when quitting,
 * roll back) the kept-open transaction; a failed commit is reported with the next job */
static void committer_close_txn(struct committer *c, int commit)
{
    char err[sizeof(c->lost_err)];

    c->txn_open = 0;
    c->txn_grants = 0;
    if (!commit) {
        store_rollback(c->st, err, sizeof(err));
        return;
    }
    if (store_commit(c->st, c->lost_err, sizeof(c->lost_err)) < 0) {
        store_rollback(c->st, err, sizeof(err));
        c->lost = 1;
    }
}

/* committer_main - the thread: write each submitted batch, report, wake the loop; commit
 * a kept-open transaction at its deadline if no batch comes */
static void *committer_main(void *arg)
{
    struct committer *c = arg;
    struct committer_batch *job;
    char err[sizeof(c->err)];
    int rc, keep_open;
    uint64_t t0;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->quit && (c->job == NULL || c->done)) {
            if (!c->txn_open)
                pthread_cond_wait(&c->cond, &c->lock);
            else if (pthread_cond_timedwait(&c->cond, &c->lock, &c->txn_deadline) == ETIMEDOUT &&
                     !c->quit && (c->job == NULL || c->done)) {
                pthread_mutex_unlock(&c->lock);
                committer_close_txn(c, 1);
                pthread_mutex_lock(&c->lock);
            }
        }
        if (c->quit)
            break;
        job = c->job;
        keep_open = c->keep_open;
        pthread_mutex_unlock(&c->lock);
        err[0] = '\0';
        t0 = metrics_now_ns();
        rc = committer_run(c, job, keep_open, err, sizeof(err));
        metric_observe(c->latency, metrics_now_ns() - t0);
        metric_inc(rc == 0 ? c->batches : c->errors);
        if (rc == 0)
            metric_add(c->rows, job->ngrants);
        pthread_mutex_lock(&c->lock);
        c->result = rc;
        memcpy(c->err, err, sizeof(err));
        __atomic_store_n(&c->done, 1, __ATOMIC_RELEASE);
        pthread_cond_broadcast(&c->cond);
        if (c->wake != NULL)
            c->wake(c->arg);
    }
    pthread_mutex_unlock(&c->lock);
    if (c->txn_open) /* nobody asked for the commit: what it held is read again */
        committer_close_txn(c, 0);
    return NULL;
}

/* committer_new - start the thread writing to st, with every signal blocked */
struct committer *committer_new(struct store *st, void (*wake)(void *), void *arg, char *err,
                                size_t errlen)
{
    struct committer *c = xcalloc(1, sizeof(*c));
    int rc;

    c->st = st;
    c->wake = wake;
    c->arg = arg;
    c->latency = metrics_histogram(metrics_process(), "popauth_commit_duration_seconds",
                                   "Time to write one batch of grants, positions and counters.",
                                   metrics_latency_ns, metrics_latency_count, NULL);
    c->batches = metrics_counter(metrics_process(), "popauth_commits_total",
                                 "Batches written to the store.", NULL);
    c->rows =
        metrics_counter(metrics_process(), "popauth_grants_written_total",
                        "Grants written to the store (one per client address and batch).", NULL);
    c->errors = metrics_counter(metrics_process(), "popauth_store_errors_total",
                                "Batches the store refused (kept and written again later).", NULL);
    pthread_mutex_init(&c->lock, NULL);
    thread_cond_init(&c->cond);
    rc = thread_start(&c->thread, committer_main, c);
    if (rc != 0) {
        util_seterr(err, errlen, "cannot start the store thread: %s", strerror(rc));
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    return c;
}

/* committer_submit - hand b to the thread; the committer must be idle */
void committer_submit(struct committer *c, struct committer_batch *b, int keep_open)
{
    pthread_mutex_lock(&c->lock);
    if (c->job != NULL) {
        pthread_mutex_unlock(&c->lock);
        fatal("committer: a batch was submitted while another is being written");
    }
    c->job = b;
    c->keep_open = keep_open;
    __atomic_store_n(&c->done, 0, __ATOMIC_RELAXED);
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* committer_collect - the result of the submitted batch (see committer.h) */
int committer_collect(struct committer *c, int wait, char *err, size_t errlen)
{
    int rc = 0;

    if (!wait && !__atomic_load_n(&c->done, __ATOMIC_ACQUIRE))
        return 0; /* still being written (or nothing submitted): no need to lock */
    pthread_mutex_lock(&c->lock);
    while (wait && c->job != NULL && !c->done)
        pthread_cond_wait(&c->cond, &c->lock);
    if (c->job != NULL && c->done) {
        rc = c->result == 0 ? 1 : c->result;
        if (rc < 0)
            util_strlcpy(err, c->err, errlen);
        c->job = NULL;
        __atomic_store_n(&c->done, 0, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* committer_free - wait for a submitted batch, stop the thread and release it */
void committer_free(struct committer *c)
{
    if (c == NULL)
        return;
    pthread_mutex_lock(&c->lock);
    while (c->job != NULL && !c->done)
        pthread_cond_wait(&c->cond, &c->lock);
    pthread_mutex_unlock(&c->lock);
    thread_stop(c->thread, &c->lock, &c->cond, &c->quit);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
