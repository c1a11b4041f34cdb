/*
 * source - what every log source (file, stdin, journal) has in common, as the ingest
 * core sees it. A source reads lines, hands each complete line to the ingest core
 * (ingest_line, or ingest_logline for sources that deliver fields already split), and
 * keeps the position just after the last line it handed over. The ingest core saves
 * that position in the same store transaction as the grants those lines produced, so a
 * restart resumes exactly after the last committed line: none processed twice, none
 * skipped.
 *
 * Each concrete source embeds struct source as its first member and fills in ops.
 */
#ifndef POPAUTH_SOURCE_H
#define POPAUTH_SOURCE_H

#include <stdint.h>

#include "db/store.h"
#include "popauth/logline.h"

struct config;
struct ev_loop;
struct ingest;

/* Counters kept per source, saved in the store and shown by `popauthctl stats`. */
struct source_counters {
    int64_t lines;     /* lines read */
    int64_t logins;    /* successful logins recognised */
    int64_t grants;    /* logins that became a grant */
    int64_t rejected;  /* login-shaped lines refused by a strictness check */
    int64_t errors;    /* lines that could not be parsed at all (too long, no tag...) */
    int64_t truncated; /* times a followed file was found truncated (copytruncate) */
};

struct source;

struct source_ops {
    /* start - restore the saved position and begin watching (daemon mode) */
    int (*start)(struct source *src, struct ev_loop *loop, char *err, size_t errlen);
    /* drain - read everything available now, without blocking (--once, and shutdown) */
    int (*drain)(struct source *src, char *err, size_t errlen);
    /* reload - SIGHUP: take what may change without a restart from the new config, which
     * stays valid until the next reload or stop; NULL if nothing does. -1 and err: a part
     * could not be taken (the source goes on) */
    int (*reload)(struct source *src, const struct config *cfg, char *err, size_t errlen);
    /* stop - stop watching and release everything; the source is freed */
    void (*stop)(struct source *src, struct ev_loop *loop);
};

struct source {
    char name[256]; /* "file:/var/log/mail.log", "stdin", "journal:..." */
    const struct source_ops *ops;
    struct ingest *ingest;           /* where lines go */
    struct store_position position;  /* after the last line handed over */
    int position_dirty;              /* position changed since the last flush */
    int persistent;                  /* position is saved (not for stdin) */
    int position_saved;              /* position was restored from the store before start */
    int finished;                    /* no more lines will come (stdin at end of file) */
    struct source_counters counters; /* since the last flush (deltas) */
    struct logline_cache stamps;     /* the source's last converted timestamp */
};

#endif
