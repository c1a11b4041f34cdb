/*
 * log - syslog or stderr logging with a level check, as key=value lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "shared/log.h"

int log_level_current = LOG_LEVEL_INFO;
static const char *log_prog = "popauth";
static int log_to_stderr = 1;

/* log_open - start logging as prog, to stderr (to_stderr) or syslog, up to level */
void log_open(const char *prog, int to_stderr, int level)
{
    log_prog = prog;
    log_to_stderr = to_stderr;
    log_level_current = level;
    if (!to_stderr)
        openlog(prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_vmsg - format and emit one message */
static void log_vmsg(int level, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_vmsg(int level, int with_errno, const char *fmt, va_list ap)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    static const char *names[] = {"error", "warning", "info", "debug"};
    int saved = errno;
    char buf[2048];
    int n;

    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", strerror(saved));
    if (log_to_stderr)
        fprintf(stderr, "%s: %s: %s\n", log_prog, names[level], buf);
    else
        syslog(prio[level], "%s", buf);
    errno = saved;
}

/* log_msg - write one message at level (use the macros in log.h) */
void log_msg(int level, int with_errno, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(level, with_errno, fmt, ap);
    va_end(ap);
}

/* fatal - log an error and exit with status 2 */
void fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERROR, 0, fmt, ap);
    va_end(ap);
    exit(2);
}
