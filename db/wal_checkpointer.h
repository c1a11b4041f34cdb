/*
 * wal_checkpointer - the WAL checkpoints of one SQLite writer connection, run on a thread
 * of their own so that the writer's commits do not wait for them.
 *
 * SQLite's automatic checkpoint runs on the writer's connection, inside the commit that
 * brought the WAL to 1,000 pages: that commit (and every write queued behind it) waits
 * while the checkpoint copies the WAL into the database file and syncs both. With a
 * checkpointer, the writer's WAL hook only wakes the thread, each time the WAL has grown
 * by WAL_CHECKPOINTER_PAGES pages, and the thread runs a PASSIVE checkpoint (it never
 * waits for a lock, and holds none that writers need) on a connection of its own to the
 * same file; the writer keeps appending meanwhile. SQLite restarts the WAL from its
 * beginning at the first write after a checkpoint has copied all of it. Should the thread
 * fall behind (a writer that never pauses), the writer checkpoints by itself once the WAL
 * reaches WAL_CHECKPOINTER_HARD pages, as SQLite would, so the WAL stays bounded.
 * Durability is unchanged: a commit is in the WAL before it returns, whoever copies it on.
 *
 * wal_checkpointer_start opens the connection (so call it while the process may still
 * open the file); the thread itself starts at the first wake, on the writer's thread, so
 * that it has no more privilege than the writer has by then (a thread keeps the
 * capabilities it was started with). If it cannot start, the writer checkpoints by
 * itself, as SQLite would, and tries again at the next wake. The thread runs with every
 * signal blocked and never logs; a failed checkpoint is tried again at the next wake.
 * The caller uses the writer connection from one thread at a time, as before.
 */
#ifndef POPAUTH_WAL_CHECKPOINTER_H
#define POPAUTH_WAL_CHECKPOINTER_H

#include <stddef.h>

#include <sqlite3.h>

#define WAL_CHECKPOINTER_PAGES 1000  /* WAL growth in pages that wakes the thread */
#define WAL_CHECKPOINTER_HARD  10000 /* WAL pages at which the writer checkpoints itself */

struct wal_checkpointer; /* opaque */

/*
 * wal_checkpointer_start - checkpoint writer's WAL (the database file at path) on a
 * thread from now on; NULL and err if the thread's connection cannot be opened
 */
struct wal_checkpointer *wal_checkpointer_start(sqlite3 *writer, const char *path, char *err,
                                                size_t errlen);
/* wal_checkpointer_stop - end the thread (after its checkpoint, if one runs), close its
 * connection, give the writer back SQLite's automatic checkpoint; NULL is allowed */
void wal_checkpointer_stop(struct wal_checkpointer *c);

#endif
