/*
 * util - allocation that never returns NULL, bounded copies and error buffers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/ascii.h"
#include "shared/log.h"
#include "shared/util.h"

/* xmalloc - malloc that aborts the program when memory runs out */
void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);

    if (p == NULL)
        fatal("out of memory allocating %zu bytes", size);
    return p;
}

/* xcalloc - calloc that aborts the program when memory runs out */
void *xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        fatal("out of memory allocating %zu x %zu bytes", nmemb, size);
    return p;
}

/* xrealloc - realloc that aborts the program when memory runs out */
void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);

    if (p == NULL)
        fatal("out of memory reallocating %zu bytes", size);
    return p;
}

/* xstrdup - strdup that aborts the program when memory runs out */
char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

/* xstrndup - copy at most n bytes of s into a new NUL-terminated string */
char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);

    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

/* util_strlcpy - copy src into dst of size bytes, always terminated; returns strlen(src) */
size_t util_strlcpy(char *dst, const char *src, size_t size)
{
    size_t len = strlen(src);

    if (size > 0) {
        size_t n = len < size - 1 ? len : size - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
    }
    return len;
}

/* util_seterr - format an error message into err (may be NULL); always returns -1 */
int util_seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err != NULL && errlen > 0) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* util_printable - copy at most max bytes of s into dst, replacing unprintable bytes */
const char *util_printable(const char *s, size_t len, char *dst, size_t dstlen)
{
    size_t i, n = 0;

    if (dstlen == 0)
        return dst;
    for (i = 0; i < len && n + 1 < dstlen; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[n++] = ascii_is_print(c) ? (char)c : '?';
    }
    dst[n] = '\0';
    return dst;
}

/* util_put_digits - v as exactly n decimal digits at p (v < 10^n); returns the end */
static char *util_put_digits(char *p, unsigned v, int n)
{
    int i;

    for (i = n - 1; i >= 0; i--, v /= 10)
        p[i] = (char)('0' + v % 10);
    return p + n;
}

/* util_now - seconds on the monotonic clock */
double util_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* util_sleep - pause for seconds (nothing if <= 0), resuming after a signal */
void util_sleep(double seconds)
{
    struct timespec ts;

    if (seconds <= 0)
        return;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/*
 * util_format_time - unix seconds as ISO 8601 UTC ("2026-11-28T16:30:00Z") into buf.
 * The calendar arithmetic is done here (days to civil date, proleptic Gregorian) rather
 * than with gmtime_r and strftime: the policy server formats a time for every permit.
 */
char *util_format_time(int64_t t, char *buf, size_t buflen)
{
    int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400), secs = t - days * 86400;
    int64_t z = days + 719468, era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097, yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
    int64_t day = doy - (153 * mp + 2) / 5 + 1, month = mp < 10 ? mp + 3 : mp - 9;
    int64_t year = yoe + era * 400 + (month <= 2);
    char tmp[24], *p = tmp;

    if (year < 0 || year > 9999 || buflen < sizeof("YYYY-MM-DDThh:mm:ssZ")) {
        snprintf(buf, buflen, "%lld", (long long)t);
        return buf;
    }
    p = util_put_digits(p, (unsigned)year, 4);
    *p++ = '-';
    p = util_put_digits(p, (unsigned)month, 2);
    *p++ = '-';
    p = util_put_digits(p, (unsigned)day, 2);
    *p++ = 'T';
    p = util_put_digits(p, (unsigned)(secs / 3600), 2);
    *p++ = ':';
    p = util_put_digits(p, (unsigned)(secs / 60 % 60), 2);
    *p++ = ':';
    p = util_put_digits(p, (unsigned)(secs % 60), 2);
    *p++ = 'Z';
    *p = '\0';
    memcpy(buf, tmp, (size_t)(p - tmp) + 1);
    return buf;
}
