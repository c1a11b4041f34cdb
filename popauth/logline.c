/*
 * logline - the pure line splitter in front of every log-format parser: it finds the
 * timestamp, the program tag and the message of one raw log line, and turns the
 * timestamp into unix seconds. No I/O, no allocation, no state: the pointers it hands
 * back point into the caller's line.
 *
 * Recognised shapes are listed in logline.h. Everything is checked byte by byte with
 * fixed-size fields (month names, two-digit hours, ...); a field out of range, a line
 * longer than LOGLINE_MAX or a NUL byte anywhere makes the line unparsable (-1), so that
 * no later stage sees a half-understood line.
 *
 * Local time: BSD and Dovecot timestamps carry no zone. They are converted like
 * mktime() with tm_isdst = -1 would, but by calendar arithmetic plus one or two
 * localtime_r() calls for the zone offset: glibc's mktime() re-reads the zone on every
 * call (about 2 us when TZ is unset), which alone would make popauth slower than grep on
 * a busy log. The zone is the one the C library loaded (call tzset() at start-up); in
 * the repeated hour when clocks go back either reading may be chosen, as with mktime.
 */
#include <string.h>
#include <time.h>

#include "popauth/logline.h"
#include "shared/ascii.h"

#define LOGLINE_DAY      86400
#define LOGLINE_YEAR_MIN 1970
#define LOGLINE_PRI_MAX  191 /* RFC 5424: facility 23, severity 7 */
#define LOGLINE_PID_MAX  10  /* digits of a [pid] */

/* logline_m3 - three bytes as one number, to compare month names in one step */
#define logline_m3(a, b, c) (((uint32_t)(a) << 16) | ((uint32_t)(b) << 8) | (uint32_t)(c))

/* Three-letter month names of BSD syslog, in order. */
static const uint32_t logline_months[12] = {
    logline_m3('J', 'a', 'n'), logline_m3('F', 'e', 'b'), logline_m3('M', 'a', 'r'),
    logline_m3('A', 'p', 'r'), logline_m3('M', 'a', 'y'), logline_m3('J', 'u', 'n'),
    logline_m3('J', 'u', 'l'), logline_m3('A', 'u', 'g'), logline_m3('S', 'e', 'p'),
    logline_m3('O', 'c', 't'), logline_m3('N', 'o', 'v'), logline_m3('D', 'e', 'c')};

/* Days in each month of a common year. */
static const unsigned char logline_mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* logline_num - value of n (1 to 9) digits at s, or -1 if any of them is not a digit */
static int logline_num(const char *s, size_t n)
{
    uint64_t v;

    return ascii_uint(s, n, INT32_MAX, &v) < 0 ? -1 : (int)v;
}

/* logline_leap - 1 if y is a Gregorian leap year */
static int logline_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* logline_mday_ok - 1 if day d exists in month m (1-12) of year y */
static int logline_mday_ok(int64_t y, int m, int d)
{
    int max = logline_mdays[m - 1] + (m == 2 && logline_leap(y));

    return d >= 1 && d <= max;
}

/* logline_days - days from 1970-01-01 to y-m-d (proleptic Gregorian, m 1-12) */
static int64_t logline_days(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* logline_offset - the local zone's UTC offset in seconds at time t */
static int64_t logline_offset(int64_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL)
        return 0;
    return tm.tm_gmtoff;
}

/* logline_guess - a first guess of the local offset: the zone's standard offset, which
 * tzset() leaves in the C library's `timezone`; right for most of the year, and when it
 * is not, logline_local corrects it with one more localtime_r() */
static int64_t logline_guess(void)
{
    return -(int64_t)timezone;
}

/* logline_local - unix time of a local wall-clock time (seconds since 1970 as if UTC),
 * like mktime with tm_isdst = -1; guess is a first guess of the offset */
static int64_t logline_local(int64_t wall, int64_t guess)
{
    int64_t t = wall - guess;
    int64_t off = logline_offset(t);

    if (off != guess) {
        t = wall - off;
        if (logline_offset(t) != off) /* in a gap: keep the first reading */
            t = wall - guess;
    }
    return t;
}

/* logline_year - the Gregorian year of day number days (days since 1970-01-01) */
static int64_t logline_year(int64_t days)
{
    int64_t y = 1970 + (days >= 0 ? days : days - 146096) * 400 / 146097;

    while (logline_days(y + 1, 1, 1) <= days)
        y++;
    while (logline_days(y, 1, 1) > days)
        y--;
    return y;
}

/* logline_hms - parse "hh:mm:ss" at s into seconds of the day; -1 if malformed */
static int64_t logline_hms(const char *s)
{
    int h, m, sec;

    if (s[2] != ':' || s[5] != ':')
        return -1;
    h = logline_num(s, 2);
    m = logline_num(s + 3, 2);
    sec = logline_num(s + 6, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60)
        return -1;
    return (int64_t)h * 3600 + m * 60 + sec;
}

/* logline_bsd - parse "Mmm dd hh:mm:ss" (15 bytes), inferring the year from now */
static int logline_bsd(const char *s, size_t len, int64_t now, int64_t *out)
{
    int mon, day, i;
    int64_t hms, guess, nowwall, year;
    uint32_t key;

    if (len < 15 || s[3] != ' ' || s[6] != ' ')
        return -1;
    key = logline_m3((unsigned char)s[0], (unsigned char)s[1], (unsigned char)s[2]);
    for (mon = 0; mon < 12; mon++)
        if (logline_months[mon] == key)
            break;
    if (mon == 12)
        return -1;
    if (s[4] == ' ')
        day = logline_num(s + 5, 1);
    else
        day = logline_num(s + 4, 2);
    if (day < 1 || day > 31 || (hms = logline_hms(s + 7)) < 0)
        return -1;
    guess = logline_guess();
    nowwall = now + guess;
    year = logline_year((nowwall >= 0 ? nowwall : nowwall - (LOGLINE_DAY - 1)) / LOGLINE_DAY);
    /* the latest year that puts the line at most one day after now (Feb 29: up to 8
     * years back); years clearly too far ahead are skipped without a conversion */
    for (i = 1; i >= -8; i--) {
        int64_t y = year + i, wall, t;

        if (!logline_mday_ok(y, mon + 1, day))
            continue;
        wall = logline_days(y, mon + 1, day) * LOGLINE_DAY + hms;
        if (wall - nowwall > 3 * LOGLINE_DAY)
            continue;
        t = logline_local(wall, guess);
        if (t - now <= LOGLINE_DAY) {
            *out = t;
            return 0;
        }
    }
    return -1;
}

/* logline_iso - parse "YYYY-MM-DDThh:mm:ss[.frac]ZONE" or "YYYY-MM-DD hh:mm:ss[.frac]";
 * zone (Z, +hh:mm or +hhmm) is required after 'T' and absent after ' ' (local time);
 * *used gets the length */
static int logline_iso(const char *s, size_t len, int64_t *out, size_t *used)
{
    int y, mo, d, zh, zm, colon;
    int64_t hms, t;
    size_t p = 19, f;

    if (len < 19 || s[4] != '-' || s[7] != '-')
        return -1;
    y = logline_num(s, 4);
    mo = logline_num(s + 5, 2);
    d = logline_num(s + 8, 2);
    if (y < LOGLINE_YEAR_MIN || mo < 1 || mo > 12 || d < 1 || !logline_mday_ok(y, mo, d))
        return -1;
    if ((hms = logline_hms(s + 11)) < 0)
        return -1;
    t = logline_days(y, mo, d) * LOGLINE_DAY + hms;
    if (p < len && s[p] == '.') {
        f = p + 1 + ascii_span_digits(s + p + 1, len - p - 1);
        if (f - p - 1 < 1 || f - p - 1 > 9)
            return -1;
        p = f;
    }
    if (s[10] == ' ') {
        *out = logline_local(t, logline_guess());
        *used = p;
        return 0;
    }
    if (s[10] != 'T' && s[10] != 't')
        return -1;
    if (p < len && (s[p] == 'Z' || s[p] == 'z')) {
        *out = t;
        *used = p + 1;
        return 0;
    }
    /* "+hh:mm" (RFC 3339), or "+hhmm" as strftime's %z writes it (journalctl -o
     * short-iso, systemd's format_timestamp_style(): "%Y-%m-%dT%H:%M:%S%z") */
    if (p + 5 > len || (s[p] != '+' && s[p] != '-'))
        return -1;
    colon = s[p + 3] == ':';
    if (colon && p + 6 > len)
        return -1;
    zh = logline_num(s + p + 1, 2);
    zm = logline_num(s + p + 3 + colon, 2);
    if (zh < 0 || zh > 23 || zm < 0 || zm > 59)
        return -1;
    t -= (s[p] == '+' ? 1 : -1) * ((int64_t)zh * 3600 + zm * 60);
    *out = t;
    *used = p + 5 + colon;
    return 0;
}

/* logline_parse_time - parse a timestamp in any shape above; *used gets its length */
int logline_parse_time(const char *text, size_t len, int64_t now, int64_t *out, size_t *used)
{
    if (len >= 15 && text[0] >= 'A' && text[0] <= 'Z') {
        if (logline_bsd(text, len, now, out) < 0)
            return -1;
        *used = 15;
        return 0;
    }
    if (len >= 19 && ascii_is_digit((unsigned char)text[0]))
        return logline_iso(text, len, out, used);
    return -1;
}

/* logline_token - length of the run of non-space bytes at s[0..len) */
static size_t logline_token(const char *s, size_t len)
{
    const char *sp = memchr(s, ' ', len);

    return sp == NULL ? len : (size_t)(sp - s);
}

/* logline_printus - 1 if s[0..n) is one or more printable US-ASCII bytes, no space */
static int logline_printus(const char *s, size_t n)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* logline_tag - if s[0..n) is "tag:" or "tag[pid]:", set the tag length and return 1 */
static int logline_tag(const char *s, size_t n, size_t *taglen)
{
    size_t t;

    if (n < 2 || s[n - 1] != ':')
        return 0;
    for (t = 0; t < n - 1; t++) {
        unsigned char c = (unsigned char)s[t];
        if (c == '[')
            break;
        if (c <= ' ' || c >= 0x7f || c == ':' || c == ']')
            return 0;
    }
    if (t == 0)
        return 0;
    if (t < n - 1) { /* "[pid]:" */
        if (s[n - 2] != ']' || n - 2 - (t + 1) < 1 || n - 2 - (t + 1) > LOGLINE_PID_MAX)
            return 0;
        if (!ascii_digits(s + t + 1, n - 2 - (t + 1)))
            return 0;
    }
    *taglen = t;
    return 1;
}

/* logline_msg - set the message from the bytes after a tag's ':' (": msg" or nothing) */
static int logline_msg(const char *line, size_t len, size_t p, struct logline *out)
{
    if (p == len) {
        out->msg = line + p;
        out->msglen = 0;
        return 0;
    }
    if (line[p] != ' ')
        return -1;
    out->msg = line + p + 1;
    out->msglen = len - p - 1;
    return 0;
}

/* logline_sd - skip RFC 5424 structured data at s[0..len): "-" or "[...]..."; its length,
 * or 0 if malformed */
static size_t logline_sd(const char *s, size_t len)
{
    size_t p = 0;

    if (len >= 1 && s[0] == '-')
        return 1;
    while (p < len && s[p] == '[') {
        int quoted = 0;

        for (p++; p < len; p++) {
            if (quoted) {
                if (s[p] == '\\')
                    p++;
                else if (s[p] == '"')
                    quoted = 0;
            } else if (s[p] == '"') {
                quoted = 1;
            } else if (s[p] == ']') {
                break;
            }
        }
        if (p >= len)
            return 0;
        p++;
    }
    return p;
}

/* logline_5424 - split "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [MSG]" */
static int logline_5424(const char *line, size_t len, struct logline *out)
{
    size_t p = 1, n, used, i;
    uint64_t pri;

    n = ascii_span_digits(line + p, len - p < 3 ? len - p : 3);
    if (ascii_uint(line + p, n, LOGLINE_PRI_MAX, &pri) < 0)
        return -1;
    p += n;
    if (len - p < 3 || memcmp(line + p, ">1 ", 3) != 0)
        return -1;
    p += 3;
    if (len - p < 19 || line[p + 10] == ' ')
        return -1; /* nil ("-") or zone-less timestamps are refused */
    if (logline_iso(line + p, len - p, &out->time, &used) < 0)
        return -1;
    p += used;
    /* HOST, APP, PROCID, MSGID: each a non-empty token after one space */
    for (i = 0; i < 4; i++) {
        if (p >= len || line[p] != ' ')
            return -1;
        p++;
        n = logline_token(line + p, len - p);
        if (!logline_printus(line + p, n))
            return -1;
        if (i == 1) {
            if (n == 1 && line[p] == '-')
                return -1; /* no app name: no tag */
            out->tag = line + p;
            out->taglen = n;
        }
        p += n;
    }
    if (p >= len || line[p] != ' ')
        return -1;
    p++;
    if ((n = logline_sd(line + p, len - p)) == 0)
        return -1;
    p += n;
    if (p < len) {
        if (line[p] != ' ')
            return -1;
        p++;
        /* rsyslog's RSYSLOG_SyslogProtocol23Format writes "%STRUCTURED-DATA% %msg%", and
         * the msg property of a BSD-style message keeps the space after "tag:": one
         * more space before the message (rsyslog template.c, msg property) */
        if (p < len && line[p] == ' ')
            p++;
        if (len - p >= 3 && memcmp(line + p, "\xEF\xBB\xBF", 3) == 0)
            p += 3;
    }
    out->msg = line + p;
    out->msglen = len - p;
    return 0;
}

/* logline_dovecot1 - split Dovecot 1.x's own log file line "dovecot: STAMP message":
 * the master writes its fixed prefix "dovecot: " before log_timestamp (1.1
 * src/master/main.c: i_set_failure_file(log_path, "dovecot: "); src/lib/failures.c:
 * log_prefix_add() writes the prefix, then the stamp) */
static int logline_dovecot1(const char *line, size_t len, int64_t now, struct logline *out)
{
    static const char prefix[] = "dovecot: ";
    size_t p = sizeof(prefix) - 1, used;

    if (len <= p || memcmp(line, prefix, p) != 0)
        return -1;
    if (logline_parse_time(line + p, len - p, now, &out->time, &used) < 0)
        return -1;
    p += used;
    if (p + 1 >= len || line[p] != ' ')
        return -1;
    out->tag = line;
    out->taglen = 7;
    out->msg = line + p + 1;
    out->msglen = len - p - 1;
    return 0;
}

/* logline_parse - split line; 0 on success, -1 if it has no timestamp or no tag */
int logline_parse(const char *line, size_t len, int64_t now, struct logline *out)
{
    return logline_parse_cached(line, len, now, NULL, out);
}

/* logline_stamp - the line's time and the length of its stamp, through the cache */
static int logline_stamp(const char *line, size_t len, int64_t now, struct logline_cache *cache,
                         int64_t *out, size_t *used)
{
    if (cache != NULL && cache->used > 0 && cache->now == now && len > cache->used &&
        line[cache->used] == ' ' && memcmp(line, cache->stamp, cache->used) == 0) {
        *out = cache->time;
        *used = cache->used;
        return 0;
    }
    if (logline_parse_time(line, len, now, out, used) < 0)
        return -1;
    if (cache != NULL && *used < sizeof(cache->stamp)) {
        memcpy(cache->stamp, line, *used);
        cache->used = *used;
        cache->now = now;
        cache->time = *out;
    }
    return 0;
}

/* logline_parse_cached - logline_parse, reusing cache when the timestamp is the last one */
int logline_parse_cached(const char *line, size_t len, int64_t now, struct logline_cache *cache,
                         struct logline *out)
{
    size_t p, n, taglen;

    if (len == 0 || len > LOGLINE_MAX || memchr(line, '\0', len) != NULL)
        return -1;
    if (line[0] == '<')
        return logline_5424(line, len, out);
    if (line[0] == 'd')
        return logline_dovecot1(line, len, now, out);
    if (logline_stamp(line, len, now, cache, &out->time, &p) < 0)
        return -1;
    if (p >= len || line[p] != ' ')
        return -1;
    p++;
    n = logline_token(line + p, len - p);
    if (!logline_tag(line + p, n, &taglen)) {
        /* a host name, then the tag */
        if (n == 0 || p + n >= len)
            return -1;
        p += n + 1;
        n = logline_token(line + p, len - p);
        if (!logline_tag(line + p, n, &taglen))
            return -1;
    }
    out->tag = line + p;
    out->taglen = taglen;
    return logline_msg(line, len, p + n, out);
}
