/*
 * ingest - the core of popauth: turns lines from the sources into grants.
 *
 * For each line: split it (logline), try the enabled built-in formats and the custom
 * patterns, drop logins from local_networks (they need no grant) and never_grant, and
 * logins older than grant_lifetime; the rest join the pending batch, one entry per
 * client address. ingest_flush hands the batch, with every source's position and
 * counters, to the committer thread, which writes it in one store transaction while the
 * sources go on reading into the next batch. The daemon calls it once per event-loop
 * iteration, so a grant is readable a few milliseconds after its line was appended, and
 * a burst of logins from one address costs one write.
 *
 * With dry_run set, everything happens except the store writes. The core reads no clock:
 * each line or login comes with the time its source read it.
 */
#ifndef POPAUTH_INGEST_H
#define POPAUTH_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "db/store.h"
#include "popauth/formats.h"
#include "popauth/logline.h"
#include "popauth/source.h"
#include "shared/config.h"

struct patterns;
struct ingest;

/* ingest_new - a core writing to st (may be NULL with dry_run) under cfg */
struct ingest *ingest_new(const struct config *cfg, struct store *st,
                          const struct patterns *patterns, unsigned formats, int dry_run);
/*
 * ingest_start - from now on batches are written by a committer thread (committer.h);
 * wake(arg), if not NULL, is called from that thread after each batch so the event
 * loop can call ingest_flush. Call it after the privilege drop, so that the thread
 * holds no more privilege than the loop. Before it, flushes write on the caller's
 * thread. With bulk set (popauth --once: nobody waits for a single grant), batches
 * join a transaction kept open for up to COMMITTER_TXN_SECONDS or COMMITTER_TXN_GRANTS,
 * and ingest_sync commits it; a write that fails inside such a transaction takes the
 * earlier batches with it (and their positions), so nothing more is written: ingest_full
 * stays 1 and ingest_flush and ingest_sync return -1. -1 and err if the thread cannot
 * start.
 */
int ingest_start(struct ingest *ing, void (*wake)(void *), void *arg, int bulk, char *err,
                 size_t errlen);
/* ingest_set_config - use a new config (SIGHUP); the caller keeps ownership */
void ingest_set_config(struct ingest *ing, const struct config *cfg,
                       const struct patterns *patterns, unsigned formats);
/* ingest_add_source - register a source so that flush saves its position and counters */
void ingest_add_source(struct ingest *ing, struct source *src);
/* ingest_remove_source - forget a source (before it is freed) */
void ingest_remove_source(struct ingest *ing, struct source *src);
/*
 * ingest_full - 1 while the batch is full and its commit failed (or bulk writing ended).
 * A source checks it before each line and, while it is 1, hands over nothing and keeps
 * its position, so a store outage loses nothing; the daemon's retry commits and then
 * resumes the sources.
 */
int ingest_full(const struct ingest *ing);
/*
 * ingest_line - process one raw log line (no newline) read by src at unix time now (the
 * caller's clock: it dates year-less timestamps and decides which logins are too old or
 * too far ahead)
 */
void ingest_line(struct ingest *ing, struct source *src, const char *line, size_t len, int64_t now);
/* ingest_logline - process a line already split into time, tag and message (journal),
 * read at unix time now */
void ingest_logline(struct ingest *ing, struct source *src, const struct logline *ll,
                    const char *raw, size_t rawlen, int64_t now);
/*
 * ingest_login - a login recognised by src itself (the sniffer): counted, filtered like
 * a log line's login (local_networks, never_grant, age) and added to the batch; 1 if it
 * became a grant, judged at unix time now. lg->time may be adjusted (a time in the future
 * becomes now).
 */
int ingest_login(struct ingest *ing, struct source *src, struct login *lg, int64_t now);
/*
 * ingest_offer - ingest_login for a source that cannot hold a login back (the Dovecot
 * auth-policy listener must answer at once): it never waits for the store. -1, with
 * nothing taken or counted, while the batch is full (a store slower than the logins, or
 * failing); else as ingest_login. A batch that this login fills is handed over by the
 * next ingest_flush.
 */
int ingest_offer(struct ingest *ing, struct source *src, struct login *lg, int64_t now);
/*
 * ingest_flush - never waits for a write in progress: takes the result of a finished
 * one, then hands the pending grants, positions and counters to the committer if it is
 * idle (before ingest_start: writes them here). A batch whose commit failed is kept and
 * handed over again by the next call, before anything newer. -1 and err while the last
 * commit has failed (until one succeeds), else 0.
 */
int ingest_flush(struct ingest *ing, char *err, size_t errlen);
/* ingest_sync - wait until everything taken is committed; -1 and err if a commit failed
 * (what it held is kept for the next call, as with ingest_flush, unless bulk writing
 * ended: see ingest_start) */
int ingest_sync(struct ingest *ing, char *err, size_t errlen);
/* ingest_pending - grants taken and not yet written: in the filling batch, or in the
 * one being written or kept after a failure */
size_t ingest_pending(const struct ingest *ing);
/* ingest_free - stop the committer and release the core (pending work is dropped: sync
 * first) */
void ingest_free(struct ingest *ing);

#endif
