/*
 * sqlite_checkpointer - WAL checkpoints on a thread of their own (see sqlite_checkpointer.h).
 *
 * The WAL hook runs on the writer's thread after each commit and only sets a flag under
 * the mutex (or, past the hard bound, checkpoints inline); the thread waits on the
 * condition variable for the flag and checkpoints with the mutex released.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/sqlite_checkpointer.h"
#include "shared/thread.h"
#include "shared/util.h"

struct sqlite_checkpointer {
    sqlite3 *writer; /* the writer's connection, whose hook this is */
    sqlite3 *db;     /* the thread's own connection to the same file */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int wanted; /* under lock: the WAL reached SQLITE_CHECKPOINTER_PAGES since the last run */
    int quit;   /* under lock */
    int next;   /* the writer's: WAL pages that wake the thread next */
};

/* sqlite_checkpointer_hook - after a commit on the writer's thread: frames is the WAL's
 * length in pages */
static int sqlite_checkpointer_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct sqlite_checkpointer *c = arg;

    if (frames >= SQLITE_CHECKPOINTER_HARD) {
        /* the thread fell behind: copy the rest here, so that the next write restarts
         * the WAL (busy if the thread is at it right now: then the next commit tries) */
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (frames < c->next - SQLITE_CHECKPOINTER_PAGES) {
        c->next = SQLITE_CHECKPOINTER_PAGES; /* the WAL was restarted */
    } else if (frames >= c->next) {
        c->next = frames + SQLITE_CHECKPOINTER_PAGES;
        pthread_mutex_lock(&c->lock);
        c->wanted = 1;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->lock);
    }
    return SQLITE_OK;
}

/* sqlite_checkpointer_main - the thread: a passive checkpoint each time one is wanted */
static void *sqlite_checkpointer_main(void *arg)
{
    struct sqlite_checkpointer *c = arg;

    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->wanted && !c->quit)
            pthread_cond_wait(&c->cond, &c->lock);
        if (c->quit)
            break;
        c->wanted = 0;
        pthread_mutex_unlock(&c->lock);
        (void)sqlite3_wal_checkpoint_v2(c->db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* sqlite_checkpointer_start - see the header */
struct sqlite_checkpointer *sqlite_checkpointer_start(sqlite3 *writer, const char *path, char *err,
                                                      size_t errlen)
{
    struct sqlite_checkpointer *c = xcalloc(1, sizeof(*c));
    int persist = 1, rc;

    c->writer = writer;
    c->next = SQLITE_CHECKPOINTER_PAGES;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        /* closing it must neither checkpoint nor remove the WAL: the writer owns both */
        sqlite3_db_config(c->db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL) != SQLITE_OK ||
        sqlite3_file_control(c->db, "main", SQLITE_FCNTL_PERSIST_WAL, &persist) != SQLITE_OK ||
        /* a first read opens the WAL: until then a checkpoint finds none and does nothing */
        sqlite3_exec(c->db, "PRAGMA schema_version", NULL, NULL, NULL) != SQLITE_OK) {
        util_seterr(err, errlen, "database %s: opening the checkpoint connection: %s", path,
                    c->db != NULL ? sqlite3_errmsg(c->db) : "out of memory");
        sqlite3_close_v2(c->db);
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->lock, NULL);
    thread_cond_init(&c->cond);
    if ((rc = thread_start(&c->thread, sqlite_checkpointer_main, c)) != 0) {
        util_seterr(err, errlen, "database %s: starting the checkpoint thread: %s", path,
                    strerror(rc));
        pthread_cond_destroy(&c->cond);
        pthread_mutex_destroy(&c->lock);
        sqlite3_close_v2(c->db);
        free(c);
        return NULL;
    }
    sqlite3_wal_hook(writer, sqlite_checkpointer_hook, c);
    return c;
}

/* sqlite_checkpointer_stop - see the header */
void sqlite_checkpointer_stop(struct sqlite_checkpointer *c)
{
    if (c == NULL)
        return;
    sqlite3_wal_autocheckpoint(c->writer, SQLITE_CHECKPOINTER_PAGES); /* replaces the hook */
    pthread_mutex_lock(&c->lock);
    c->quit = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    pthread_join(c->thread, NULL);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    sqlite3_close_v2(c->db);
    free(c);
}
