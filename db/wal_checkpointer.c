/*
 * wal_checkpointer - WAL checkpoints on a thread of their own (see wal_checkpointer.h).
 *
 * The WAL hook runs on the writer's thread after each commit: it starts the thread at
 * the first wake, then only sets a flag under the mutex (or, past the hard bound or
 * without a thread, checkpoints inline); the thread waits on the condition variable for
 * the flag and checkpoints with the mutex released.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "db/wal_checkpointer.h"
#include "shared/thread.h"
#include "shared/util.h"

#define WAL_CHECKPOINTER_BUSY_MS 5000 /* the connection's wait for a lock, as other writers' */

struct wal_checkpointer {
    sqlite3 *writer; /* the writer's connection, whose hook this is */
    sqlite3 *db;     /* the thread's own connection to the same file */
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int wanted;  /* under lock: the WAL grew by WAL_CHECKPOINTER_PAGES since the last run */
    int quit;    /* under lock */
    int started; /* the writer's: the thread runs */
    int next;    /* the writer's: WAL pages that wake the thread next */
    int last;    /* the writer's: WAL pages after the previous commit */
};

/* wal_checkpointer_main - the thread: a passive checkpoint each time one is wanted */
static void *wal_checkpointer_main(void *arg)
{
    struct wal_checkpointer *c = arg;

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

/* wal_checkpointer_hook - after a commit, on the writer's thread: frames is the WAL's
 * length in pages */
static int wal_checkpointer_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    struct wal_checkpointer *c = arg;

    if (frames < c->last)
        c->next = WAL_CHECKPOINTER_PAGES; /* the WAL was restarted */
    c->last = frames;
    if (frames < c->next)
        return SQLITE_OK;
    c->next = frames + WAL_CHECKPOINTER_PAGES;
    if (!c->started)
        c->started = thread_start(&c->thread, wal_checkpointer_main, c) == 0;
    if (frames >= WAL_CHECKPOINTER_HARD || !c->started) {
        /* no thread, or it fell behind: copy the rest here, so that the next write can
         * restart the WAL (busy if the thread is at it right now: the next wake tries) */
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    pthread_mutex_lock(&c->lock);
    c->wanted = 1;
    pthread_cond_signal(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return SQLITE_OK;
}

/* wal_checkpointer_start - open the thread's connection and take over writer's WAL hook */
struct wal_checkpointer *wal_checkpointer_start(sqlite3 *writer, const char *path, char *err,
                                                size_t errlen)
{
    struct wal_checkpointer *c = xcalloc(1, sizeof(*c));
    int persist = 1;

    c->writer = writer;
    c->next = WAL_CHECKPOINTER_PAGES;
    if (sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(c->db, WAL_CHECKPOINTER_BUSY_MS) != SQLITE_OK ||
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
    sqlite3_wal_hook(writer, wal_checkpointer_hook, c);
    return c;
}

/* wal_checkpointer_stop - end the thread, close its connection, restore autocheckpoint */
void wal_checkpointer_stop(struct wal_checkpointer *c)
{
    if (c == NULL)
        return;
    sqlite3_wal_autocheckpoint(c->writer, WAL_CHECKPOINTER_PAGES); /* replaces the hook */
    if (c->started)
        thread_stop(c->thread, &c->lock, &c->cond, &c->quit);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
    sqlite3_close_v2(c->db);
    free(c);
}
