/*
 * log - syslog or stderr logging with a level check, as key=value lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "shared/log.h"

#define LOG_BUFFER_SIZE (64 * 1024)
#define LOG_LINE_MAX    2048 /* bytes of one message; longer is cut */

int log_level_current = LOG_LEVEL_INFO;
static const char *log_prog = "popauth";
static int log_to_stderr = 1;
static int log_buffered;
static char log_buf[LOG_BUFFER_SIZE];
static size_t log_len;
static int log_journal; /* stderr is the journal: each line starts with "<PRIORITY>" */
static const char *const log_names[] = {"error", "warning", "info", "debug"};
static const char log_prio[] = {'3', '4', '6', '7'}; /* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */

/* log_level_parse - the level named by len bytes of s, or -1 */
int log_level_parse(const char *s, size_t len)
{
    size_t i;

    for (i = 0; i < sizeof(log_names) / sizeof(log_names[0]); i++)
        if (strlen(log_names[i]) == len && strncmp(log_names[i], s, len) == 0)
            return (int)i;
    return -1;
}

/* log_buffer - stderr only: keep lines until log_flush; errors still go at once */
void log_buffer(int on)
{
    log_flush();
    log_buffered = on;
}

/* log_flush - write out buffered lines */
void log_flush(void)
{
    size_t off = 0;
    ssize_t n;

    while (off < log_len) {
        n = write(STDERR_FILENO, log_buf + off, log_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* nowhere to log to: drop rather than block the daemon */
        off += (size_t)n;
    }
    log_len = 0;
}

/* log_on_journal - 1 if stderr is the stream systemd connected to the journal: its
 * device and inode are those JOURNAL_STREAM names (sd-daemon(3), systemd.exec(5)) */
static int log_on_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat sb;
    int n = 0;

    if (env == NULL || sscanf(env, "%llu:%llu%n", &dev, &ino, &n) != 2 || env[n] != '\0')
        return 0;
    if (fstat(STDERR_FILENO, &sb) < 0)
        return 0;
    return (unsigned long long)sb.st_dev == dev && (unsigned long long)sb.st_ino == ino;
}

/* log_open - start logging as prog, to stderr (to_stderr) or syslog, up to level */
void log_open(const char *prog, int to_stderr, int level)
{
    log_prog = prog;
    log_to_stderr = to_stderr;
    log_level_current = level;
    log_journal = to_stderr && log_on_journal();
    if (!to_stderr)
        openlog(prog, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

/* log_set_level - log up to level from now on (the log_level setting) */
void log_set_level(int level)
{
    if (level >= LOG_LEVEL_ERROR && level <= LOG_LEVEL_DEBUG)
        log_level_current = level;
}

/* log_append - add "[<P>]prog: level: text\n" to the buffer (the caller checked it is
 * on) */
static void log_append(int level, const char *text, size_t len)
{
    const char *name = log_names[level];
    size_t plen = strlen(log_prog), nlen = strlen(name);

    if (len > LOG_LINE_MAX - 1)
        len = LOG_LINE_MAX - 1;
    if (log_len + plen + nlen + len + 9 > sizeof(log_buf))
        log_flush();
    if (log_journal) {
        log_buf[log_len++] = '<';
        log_buf[log_len++] = log_prio[level];
        log_buf[log_len++] = '>';
    }
    memcpy(log_buf + log_len, log_prog, plen);
    memcpy(log_buf + log_len + plen, ": ", 2);
    memcpy(log_buf + log_len + plen + 2, name, nlen);
    memcpy(log_buf + log_len + plen + 2 + nlen, ": ", 2);
    memcpy(log_buf + log_len + plen + nlen + 4, text, len);
    log_len += plen + nlen + 4 + len;
    log_buf[log_len++] = '\n';
}

/* log_vmsg - format and emit one message */
static void log_vmsg(int level, int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void log_vmsg(int level, int with_errno, const char *fmt, va_list ap)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    int saved = errno;
    char buf[2048];
    int n;

    n = vsnprintf(buf, sizeof(buf), fmt, ap);
    if (with_errno && n >= 0 && (size_t)n < sizeof(buf))
        snprintf(buf + n, sizeof(buf) - (size_t)n, ": %s", strerror(saved));
    if (log_to_stderr && log_buffered && level > LOG_LEVEL_ERROR) {
        log_append(level, buf, strlen(buf));
    } else if (log_to_stderr) {
        log_flush();
        if (log_journal)
            fprintf(stderr, "<%c>", log_prio[level]);
        fprintf(stderr, "%s: %s: %s\n", log_prog, log_names[level], buf);
    } else {
        syslog(prio[level], "%s", buf);
    }
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

/* log_text - write one finished message at level, without printf formatting */
void log_text(int level, const char *text, size_t len)
{
    if (level > log_level_current)
        return;
    if (log_to_stderr && log_buffered && level > LOG_LEVEL_ERROR)
        log_append(level, text, len);
    else
        log_msg(level, 0, "%.*s", (int)(len < LOG_LINE_MAX ? len : LOG_LINE_MAX - 1), text);
}

/* fatal - log an error and exit with status 2 */
void fatal(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vmsg(LOG_LEVEL_ERROR, 0, fmt, ap);
    va_end(ap);
    log_flush();
    exit(2);
}
