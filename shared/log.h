/*
 * log - the programs' logging: syslog (facility mail) by default, stderr when running in
 * the foreground or from the command line. Messages are key=value lines that a person and
 * a script can both read. The level check happens before the arguments are evaluated.
 * When systemd connected stderr to the journal (JOURNAL_STREAM names it), each line
 * starts with its sd-daemon priority prefix ("<3>" error ... "<7>" debug), so that
 * journalctl -p filters by level.
 * log_warn appends the errno text; log_warnx does not. fatal is for start-up failures and
 * broken invariants only: it logs and exits with status 2.
 */
#ifndef POPAUTH_LOG_H
#define POPAUTH_LOG_H

#include <stddef.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

extern int log_level_current;

/* log_level_parse - the level named by len bytes of s ("error", "warning", "info",
 * "debug"), or -1 */
int log_level_parse(const char *s, size_t len);
/* log_open - start logging as prog, to stderr (to_stderr) or syslog, up to level */
void log_open(const char *prog, int to_stderr, int level);
/* log_set_level - log up to level from now on (the log_level setting) */
void log_set_level(int level);
/* log_buffer - stderr only: keep lines in a buffer until log_flush (or until it fills),
 * so that a busy event loop writes its log once per iteration; errors still go at once */
void log_buffer(int on);
/* log_flush - write out buffered lines */
void log_flush(void);
/* log_msg - write one message at level (use the macros below) */
void log_msg(int level, int with_errno, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* log_text - write one finished message at level, without printf formatting (hot paths) */
void log_text(int level, const char *text, size_t len);
/* fatal - log an error and exit with status 2 */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#define log_at(level, errno_, ...)                                                                 \
    do {                                                                                           \
        if (log_level_current >= (level))                                                          \
            log_msg((level), (errno_), __VA_ARGS__);                                               \
    } while (0)
#define log_error(...) log_at(LOG_LEVEL_ERROR, 0, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LEVEL_WARN, 1, __VA_ARGS__)
#define log_warnx(...) log_at(LOG_LEVEL_WARN, 0, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LEVEL_INFO, 0, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LEVEL_DEBUG, 0, __VA_ARGS__)

#endif
