/*
 * logline - splits one raw log line into its time, program tag and message, without
 * I/O: the first stage of every log-format parser.
 *
 * Accepted shapes (what syslog daemons and Dovecot write to files):
 *   Nov 28 14:24:53 host tag[pid]: message          BSD syslog (RFC 3164)
 *   Nov 28 14:24:53 tag: message                    Dovecot's own log file (no host)
 *   2026-11-28T14:24:53.123456+01:00 host tag: msg  rsyslog's RFC 3339 file format
 *   2026-11-28T14:24:53+0100 host tag[pid]: message journalctl -o short-iso (%z zone)
 *   <34>1 2026-11-28T14:24:53Z host tag pid - - msg RFC 5424
 *   <34>1 2026-11-28T14:24:53Z host tag - - -  msg  rsyslog's SyslogProtocol23Format
 *   2026-11-28 14:24:53 tag: message                Dovecot's log_timestamp with a date
 *   dovecot: Nov 28 14:24:53 Info: message          Dovecot 1.x's own log file (tag
 *                                                   "dovecot", message from "Info: ")
 * The tag is the program name without "[pid]" (so "dovecot[123]" gives "dovecot",
 * "service/imap[7]" gives "service/imap"). BSD timestamps have no year: it is inferred
 * from `now`, choosing the year that puts the line no more than one day in the future
 * (a December line read in January belongs to the year before). Times without a zone
 * are local time.
 *
 * The pointers in struct logline point into the caller's line; nothing is copied.
 */
#ifndef POPAUTH_LOGLINE_H
#define POPAUTH_LOGLINE_H

#include <stddef.h>
#include <stdint.h>

#define LOGLINE_MAX 8192 /* longer lines are not parsed */

/* The last timestamp converted, so that a run of lines with the same stamp is converted
 * once. Owned by the caller (one per source); zero-initialise before first use. */
struct logline_cache {
    char stamp[40];
    size_t used; /* length of stamp; 0: empty */
    int64_t now; /* the `now` it was converted at */
    int64_t time;
};

struct logline {
    int64_t time;    /* unix seconds of the line's timestamp */
    const char *tag; /* program name, without [pid] */
    size_t taglen;
    const char *msg; /* text after the tag's ": " */
    size_t msglen;
};

/* logline_parse - split line; 0 on success, -1 if it has no timestamp or no tag */
int logline_parse(const char *line, size_t len, int64_t now, struct logline *out);
/* logline_parse_cached - logline_parse, reusing cache when the timestamp is the last one */
int logline_parse_cached(const char *line, size_t len, int64_t now, struct logline_cache *cache,
                         struct logline *out);
/* logline_parse_time - parse a timestamp in any shape above; *used gets its length */
int logline_parse_time(const char *text, size_t len, int64_t now, int64_t *out, size_t *used);

#endif
