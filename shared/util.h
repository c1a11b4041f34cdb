/*
 * util - small helpers every program uses: allocation that never returns NULL
 * (failure is fatal, so callers need not check), bounded string copies, and the
 * error-buffer convention.
 *
 * Error buffers: functions that can fail take (char *err, size_t errlen), return -1 and
 * write a one-line message naming the bad input. They never log; the caller decides.
 */
#ifndef POPAUTH_UTIL_H
#define POPAUTH_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define UTIL_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* xmalloc - malloc that aborts the program when memory runs out */
void *xmalloc(size_t size);
/* xcalloc - calloc that aborts the program when memory runs out */
void *xcalloc(size_t nmemb, size_t size);
/* xrealloc - realloc that aborts the program when memory runs out */
void *xrealloc(void *ptr, size_t size);
/* xstrdup - strdup that aborts the program when memory runs out */
char *xstrdup(const char *s);
/* xstrndup - copy at most n bytes of s into a new NUL-terminated string */
char *xstrndup(const char *s, size_t n);

/* util_strlcpy - copy src into dst of size bytes, always terminated; returns strlen(src) */
size_t util_strlcpy(char *dst, const char *src, size_t size);
/* util_seterr - format an error message into err (may be NULL); always returns -1 */
int util_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* util_printable - copy at most len bytes of s into dst, replacing unprintable bytes */
const char *util_printable(const char *s, size_t len, char *dst, size_t dstlen);

/* util_now - seconds on the monotonic clock (for intervals and deadlines) */
double util_now(void);
/* util_sleep - pause for seconds (nothing if <= 0), resuming after a signal */
void util_sleep(double seconds);

/* util_format_time - unix seconds as ISO 8601 UTC ("2026-11-28T16:30:00Z") into buf */
char *util_format_time(int64_t t, char *buf, size_t buflen);

#endif
