/*
 * purger - the thread that deletes expired grants in bounded steps (see purger.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "popauth/purger.h"
#include "shared/thread.h"
#include "shared/util.h"

struct purger {
    struct store *st;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond; /* on CLOCK_MONOTONIC */
    int64_t interval;    /* under lock */
    int quit;            /* under lock */
    int changed;         /* under lock: the interval changed, start waiting again */
    int has_result;      /* under lock */
    struct purger_result result;
    void (*wake)(void *);
    void *arg;
    struct metric *removed, *errors, *steps;
};

/* purger_deadline - now (CLOCK_MONOTONIC) plus secs seconds into *ts */
static void purger_deadline(struct timespec *ts, double secs)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)secs;
    ts->tv_nsec += (long)((secs - (double)(time_t)secs) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* purger_sleep - wait secs seconds (called with the lock held); 1 if asked to quit
 * meanwhile, 2 if the interval changed (when wake_on_change), 0 when the time is up */
static int purger_sleep(struct purger *p, double secs, int wake_on_change)
{
    struct timespec until;

    purger_deadline(&until, secs);
    for (;;) {
        if (p->quit)
            return 1;
        if (wake_on_change && p->changed)
            return 2;
        if (pthread_cond_timedwait(&p->cond, &p->lock, &until) == ETIMEDOUT)
            return p->quit;
    }
}

/* purger_round - on the thread, with the lock held: one purge of the whole table, step
 * by step, pausing between steps; into *r */
static void purger_round(struct purger *p, struct purger_result *r)
{
    char cursor[ADDR_STRLEN + 1] = "";
    int64_t now = time(NULL), removed;
    uint64_t t0, took;
    int more = 1;

    memset(r, 0, sizeof(*r));
    while (more && !p->quit) {
        pthread_mutex_unlock(&p->lock);
        t0 = metrics_now_ns();
        more = store_purge_step(p->st, now, cursor, sizeof(cursor), PURGER_STEP, &removed, r->err,
                                sizeof(r->err));
        took = metrics_now_ns() - t0;
        pthread_mutex_lock(&p->lock);
        if (more < 0) {
            metric_inc(p->errors);
            return;
        }
        r->steps++;
        r->removed += removed;
        metric_inc(p->steps);
        metric_add(p->removed, (uint64_t)removed);
        r->total_steps += (double)took / 1e9;
        if ((double)took / 1e9 > r->longest_step)
            r->longest_step = (double)took / 1e9;
        if (more && purger_sleep(p,
                                 took * 2 / 1e9 > PURGER_PAUSE_MS / 1e3 ? took * 2 / 1e9
                                                                        : PURGER_PAUSE_MS / 1e3,
                                 0))
            return;
    }
    r->ok = !more;
}

/* purger_main - the thread: sleep an interval (none while it is 0), purge, report, again */
static void *purger_main(void *arg)
{
    struct purger *p = arg;
    struct purger_result r;
    int rc;

    pthread_mutex_lock(&p->lock);
    while (!p->quit) {
        p->changed = 0;
        if (p->interval <= 0) {
            pthread_cond_wait(&p->cond, &p->lock);
            continue;
        }
        if ((rc = purger_sleep(p, (double)p->interval, 1)) != 0) {
            if (rc == 1)
                break;
            continue;
        }
        purger_round(p, &r);
        if (p->quit)
            break;
        p->result = r;
        p->has_result = 1;
        if (p->wake != NULL)
            p->wake(p->arg);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* purger_new - start the thread purging st every interval seconds, or not while it is 0
 * (see purger.h) */
struct purger *purger_new(struct store *st, int64_t interval, struct metrics *m,
                          void (*wake)(void *), void *arg, char *err, size_t errlen)
{
    struct purger *p = xcalloc(1, sizeof(*p));
    int rc;

    p->st = st;
    p->interval = interval;
    p->wake = wake;
    p->arg = arg;
    p->removed = metrics_counter(m, "popauth_purged_grants_total",
                                 "Expired grants deleted by purge_interval housekeeping.", NULL);
    p->steps = metrics_counter(m, "popauth_purge_steps_total",
                               "Write transactions of the housekeeping purge.", NULL);
    p->errors = metrics_counter(m, "popauth_purge_errors_total",
                                "Housekeeping purges the store refused (tried again later).", NULL);
    pthread_mutex_init(&p->lock, NULL);
    thread_cond_init(&p->cond);
    rc = thread_start(&p->thread, purger_main, p);
    if (rc != 0) {
        util_seterr(err, errlen, "cannot start the purge thread: %s", strerror(rc));
        pthread_cond_destroy(&p->cond);
        pthread_mutex_destroy(&p->lock);
        store_close(st);
        free(p);
        return NULL;
    }
    return p;
}

/* purger_set_interval - purge every interval seconds from the next purge on */
void purger_set_interval(struct purger *p, int64_t interval)
{
    pthread_mutex_lock(&p->lock);
    if (p->interval != interval) {
        p->interval = interval;
        p->changed = 1;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
}

/* purger_result - 1 and *out if a purge finished since the last call, else 0 */
int purger_result(struct purger *p, struct purger_result *out)
{
    int has;

    pthread_mutex_lock(&p->lock);
    has = p->has_result;
    if (has)
        *out = p->result;
    p->has_result = 0;
    pthread_mutex_unlock(&p->lock);
    return has;
}

/* purger_free - stop the thread, close its store, release p; NULL is allowed */
void purger_free(struct purger *p)
{
    if (p == NULL)
        return;
    thread_stop(p->thread, &p->lock, &p->cond, &p->quit);
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    store_close(p->st);
    free(p);
}
