/*
 * util - allocation that never returns NULL, bounded copies and error buffers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
        dst[n++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    dst[n] = '\0';
    return dst;
}

/* util_format_time - unix seconds as ISO 8601 UTC ("2026-11-28T16:30:00Z") into buf */
char *util_format_time(int64_t t, char *buf, size_t buflen)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (gmtime_r(&tt, &tm) == NULL || strftime(buf, buflen, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(buf, buflen, "%lld", (long long)t);
    return buf;
}
