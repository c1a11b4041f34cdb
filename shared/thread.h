/*
 * thread - the daemons' helper threads (popauth's committer, purger and WAL checkpointer,
 * the /metrics server) start the same way: with every signal blocked, so that signals
 * reach the event loop's thread only, and with condition variables timed on the
 * monotonic clock; those that wait on a condition variable stop the same way too.
 */
#ifndef POPAUTH_THREAD_H
#define POPAUTH_THREAD_H

#include <pthread.h>
#include <signal.h>

/* thread_signals_block - block every signal in this thread, the old mask into *old */
void thread_signals_block(sigset_t *old);
/* thread_signals_restore - put back the mask thread_signals_block saved */
void thread_signals_restore(const sigset_t *old);
/* thread_start - start fn(arg) with every signal blocked; 0 or an errno value */
int thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* thread_stop - set *quit under lock, wake every waiter on cond, wait for t to end */
void thread_stop(pthread_t t, pthread_mutex_t *lock, pthread_cond_t *cond, int *quit);
/* thread_cond_init - a condition variable whose timed waits use CLOCK_MONOTONIC */
void thread_cond_init(pthread_cond_t *cond);

#endif
