/*
 * thread - starting helper threads with signals blocked (see thread.h).
 */
#include <time.h>

#include "shared/thread.h"

/* thread_signals_block - block every signal in this thread, the old mask into *old */
void thread_signals_block(sigset_t *old)
{
    sigset_t all;

    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, old);
}

/* thread_signals_restore - put back the mask thread_signals_block saved */
void thread_signals_restore(const sigset_t *old)
{
    pthread_sigmask(SIG_SETMASK, old, NULL);
}

/* thread_start - start fn(arg) with every signal blocked (a new thread inherits the
 * mask); 0 or an errno value */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t old;
    int rc;

    thread_signals_block(&old);
    rc = pthread_create(t, NULL, fn, arg);
    thread_signals_restore(&old);
    return rc;
}

/* thread_stop - set *quit under lock, wake every waiter on cond, wait for t to end */
void thread_stop(pthread_t t, pthread_mutex_t *lock, pthread_cond_t *cond, int *quit)
{
    pthread_mutex_lock(lock);
    *quit = 1;
    pthread_cond_broadcast(cond);
    pthread_mutex_unlock(lock);
    pthread_join(t, NULL);
}

/* thread_cond_init - a condition variable whose timed waits use CLOCK_MONOTONIC */
void thread_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t attr;

    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &attr);
    pthread_condattr_destroy(&attr);
}
