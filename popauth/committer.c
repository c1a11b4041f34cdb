/*
 * committer - the store transaction of one ingest batch, and the thread that runs it.
 *
 * The thread waits on a condition variable for a submitted batch, writes it with
 * committer_write, records the result and calls the wake function. The mutex guards
 * only the hand-over fields (job, done, result); the batch and the store are used by
 * one thread at a time, the hand-over through the mutex ordering their accesses. The
 * thread never logs: its error text travels back with the result.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "popauth/committer.h"
#include "shared/log.h"
#include "shared/util.h"

struct committer {
    struct store *st;
    void (*wake)(void *);
    void *arg;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;         /* job submitted, job done, or quit */
    struct committer_batch *job; /* submitted and not yet collected */
    int flags;                   /* how to write it */
    int done;                    /* job has been written */
    int result;                  /* its committer_write return */
    int quit;                    /* committer_free asks the thread to end */
    char err[1024];              /* its error text */
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

/* committer_main - the thread: write each submitted batch, report, wake the loop */
static void *committer_main(void *arg)
{
    struct committer *c = arg;
    struct committer_batch *job;
    char err[sizeof(c->err)];
    int rc, flags;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->quit && (c->job == NULL || c->done))
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->quit)
            break;
        job = c->job;
        flags = c->flags;
        pthread_mutex_unlock(&c->lock);
        err[0] = '\0';
        rc = committer_write(c->st, job, flags, err, sizeof(err));
        pthread_mutex_lock(&c->lock);
        c->result = rc;
        memcpy(c->err, err, sizeof(err));
        c->done = 1;
        pthread_cond_broadcast(&c->cond);
        if (c->wake != NULL)
            c->wake(c->arg);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* committer_new - start the thread writing to st */
struct committer *committer_new(struct store *st, void (*wake)(void *), void *arg, char *err,
                                size_t errlen)
{
    struct committer *c = xcalloc(1, sizeof(*c));
    int rc;

    c->st = st;
    c->wake = wake;
    c->arg = arg;
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    if ((rc = pthread_create(&c->thread, NULL, committer_main, c)) != 0) {
        util_seterr(err, errlen, "cannot start the store thread: %s", strerror(rc));
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    return c;
}

/* committer_submit - hand b to the thread; the committer must be idle */
void committer_submit(struct committer *c, struct committer_batch *b, int flags)
{
    pthread_mutex_lock(&c->lock);
    if (c->job != NULL)
        fatal("committer: a batch was submitted while another is being written");
    c->job = b;
    c->flags = flags;
    c->done = 0;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
}

/* committer_busy - 1 while a submitted batch is being written */
int committer_busy(struct committer *c)
{
    int busy;

    pthread_mutex_lock(&c->lock);
    busy = c->job != NULL && !c->done;
    pthread_mutex_unlock(&c->lock);
    return busy;
}

/* committer_collect - the result of the submitted batch (see committer.h) */
int committer_collect(struct committer *c, int wait, char *err, size_t errlen)
{
    int rc = 0;

    pthread_mutex_lock(&c->lock);
    while (wait && c->job != NULL && !c->done)
        pthread_cond_wait(&c->cond, &c->lock);
    if (c->job != NULL && c->done) {
        rc = c->result < 0 ? -1 : 1;
        if (rc < 0)
            util_strlcpy(err, c->err, errlen);
        c->job = NULL;
        c->done = 0;
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
    c->quit = 1;
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
