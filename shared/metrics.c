/*
 * metrics - the registry of counters, gauges and histograms, its renderer to the
 * Prometheus text format, the metrics_listen entry lookup, and the parser of the text
 * format for popauthctl (see metrics.h for the threading rules).
 *
 * The series live in one array allocated with the registry, so a struct metric never
 * moves. count is published with a release store after the new series is complete, and
 * a family's next links the same way; the renderer loads both with acquire.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shared/ascii.h"
#include "shared/listen.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"

struct metrics {
    struct metric *series; /* METRICS_MAX_SERIES of them */
    size_t count;          /* registered (published with release) */
};

/* The programs that may have a metrics_listen entry. */
static const char *const metrics_programs[] = {"popauth", "smtpgate"};

/* 50us .. 1s: a policy answer takes tens of microseconds, a commit milliseconds. */
const uint64_t metrics_latency_ns[] = {
    50000ULL,    100000ULL,   250000ULL,   500000ULL,    1000000ULL,   2500000ULL,   5000000ULL,
    10000000ULL, 25000000ULL, 50000000ULL, 100000000ULL, 250000000ULL, 500000000ULL, 1000000000ULL,
};
const size_t metrics_latency_count = sizeof(metrics_latency_ns) / sizeof(metrics_latency_ns[0]);

static struct metrics *metrics_the_process;

/* metrics_new - an empty registry */
struct metrics *metrics_new(void)
{
    struct metrics *m = xcalloc(1, sizeof(*m));

    m->series = xcalloc(METRICS_MAX_SERIES, sizeof(*m->series));
    return m;
}

/* metrics_free - release a registry and its histograms' buckets; NULL is allowed */
void metrics_free(struct metrics *m)
{
    size_t i;

    if (m == NULL)
        return;
    for (i = 0; i < m->count; i++)
        free(m->series[i].buckets);
    free(m->series);
    free(m);
}

/* metrics_process - the process's registry, created at the first call */
struct metrics *metrics_process(void)
{
    if (metrics_the_process == NULL)
        metrics_the_process = metrics_new();
    return metrics_the_process;
}

/* metrics_name_ok - s is a Prometheus metric or label name that fits */
static int metrics_name_ok(const char *s, int label)
{
    size_t i, len = strlen(s);

    if (len == 0 || len >= METRICS_NAME_MAX || ascii_is_digit((unsigned char)s[0]))
        return 0;
    for (i = 0; i < len; i++)
        if (!(ascii_is_alnum((unsigned char)s[i]) || s[i] == '_' || (!label && s[i] == ':')))
            return 0;
    return 1;
}

/* metrics_labels - render the NULL-ended name, value pairs of ap as name="value",...
 * (values: printable ASCII, \ " escaped; anything else becomes '?'; a value longer than
 * METRICS_VALUE_MAX bytes keeps its last ones after "...", a file source's path being
 * told apart by its end); fatal if a name is bad or the labels do not fit */
static void metrics_labels(const char *metric, va_list ap, char *out, size_t outlen)
{
    const char *name, *value;
    size_t n = 0, vlen;

    out[0] = '\0';
    while ((name = va_arg(ap, const char *)) != NULL) {
        value = va_arg(ap, const char *);
        if (!metrics_name_ok(name, 1) || strcmp(name, "le") == 0 || value == NULL)
            fatal("metrics: %s: bad label '%s'", metric, name);
        if (n + strlen(name) + 4 >= outlen)
            fatal("metrics: %s: labels too long", metric);
        n += (size_t)snprintf(out + n, outlen - n, "%s%s=\"", n ? "," : "", name);
        if ((vlen = strlen(value)) > METRICS_VALUE_MAX && n + 4 < outlen) {
            memcpy(out + n, "...", 3);
            n += 3;
            value += vlen - (METRICS_VALUE_MAX - 3);
        }
        for (; *value != '\0' && n + 4 < outlen; value++) {
            unsigned char c = (unsigned char)*value;
            if (c == '\\' || c == '"')
                out[n++] = '\\';
            out[n++] = c >= 0x20 && c < 0x7f ? (char)c : '?';
        }
        out[n++] = '"'; /* a value with many escapes may have been cut short: room is left */
        out[n] = '\0';
    }
}

/* metrics_register - find or add the series name{labels} of type */
static struct metric *metrics_register(struct metrics *m, enum metric_type type, const char *name,
                                       const char *help, const uint64_t *le, size_t nbounds,
                                       va_list ap)
{
    char labels[METRICS_LABELS_MAX];
    struct metric *mt, *head = NULL, *tail = NULL;
    size_t i;

    if (!metrics_name_ok(name, 0))
        fatal("metrics: bad metric name '%s'", name);
    metrics_labels(name, ap, labels, sizeof(labels));
    for (i = 0; i < m->count; i++) {
        mt = &m->series[i];
        if (strcmp(mt->name, name) != 0)
            continue;
        if (mt->type != type)
            fatal("metrics: %s registered with two types", name);
        if (strcmp(mt->labels, labels) == 0)
            return mt;
        if (head == NULL)
            head = mt;
        tail = mt;
    }
    if (m->count == METRICS_MAX_SERIES)
        fatal("metrics: more than %d series", METRICS_MAX_SERIES);
    if (nbounds > METRICS_MAX_BUCKETS)
        fatal("metrics: %s: more than %d buckets", name, METRICS_MAX_BUCKETS);
    mt = &m->series[m->count];
    util_strlcpy(mt->name, name, sizeof(mt->name));
    memcpy(mt->labels, labels, sizeof(labels));
    mt->help = help;
    mt->type = type;
    mt->le = le;
    mt->nbounds = nbounds;
    if (type == METRIC_HISTOGRAM)
        mt->buckets = xcalloc(nbounds + 1, sizeof(*mt->buckets));
    mt->head = head == NULL;
    __atomic_store_n(&m->count, m->count + 1, __ATOMIC_RELEASE);
    if (tail != NULL)
        __atomic_store_n(&tail->next, mt, __ATOMIC_RELEASE);
    return mt;
}

/* metrics_counter - register (or find) a counter series */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, ...)
{
    struct metric *mt;
    va_list ap;

    va_start(ap, help);
    mt = metrics_register(m, METRIC_COUNTER, name, help, NULL, 0, ap);
    va_end(ap);
    return mt;
}

/* metrics_gauge - register (or find) a gauge series */
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, ...)
{
    struct metric *mt;
    va_list ap;

    va_start(ap, help);
    mt = metrics_register(m, METRIC_GAUGE, name, help, NULL, 0, ap);
    va_end(ap);
    return mt;
}

/* metrics_histogram - register (or find) a histogram series */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const uint64_t *le, size_t nbounds, ...)
{
    struct metric *mt;
    va_list ap;

    va_start(ap, nbounds);
    mt = metrics_register(m, METRIC_HISTOGRAM, name, help, le, nbounds, ap);
    va_end(ap);
    return mt;
}

/* metric_value - a counter's or gauge's value now */
int64_t metric_value(const struct metric *mt)
{
    return (int64_t)__atomic_load_n(&mt->value, __ATOMIC_RELAXED);
}

/* metrics_now_ns - the monotonic clock in nanoseconds */
uint64_t metrics_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* A text being rendered: what fits goes into buf, len counts all of it. */
struct metrics_out {
    char *buf;
    size_t cap, len;
};

/* metrics_put - append len bytes of s */
static void metrics_put(struct metrics_out *o, const char *s, size_t len)
{
    if (o->len < o->cap) {
        size_t room = o->cap - o->len;
        memcpy(o->buf + o->len, s, len < room ? len : room);
    }
    o->len += len;
}

/* metrics_puts - append the string s */
static void metrics_puts(struct metrics_out *o, const char *s)
{
    metrics_put(o, s, strlen(s));
}

/* metrics_put_u64 - append v in decimal */
static void metrics_put_u64(struct metrics_out *o, uint64_t v)
{
    char tmp[24];
    size_t n = sizeof(tmp);

    do
        tmp[--n] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    metrics_put(o, tmp + n, sizeof(tmp) - n);
}

/* metrics_put_seconds - append ns nanoseconds as decimal seconds ("0.00005", "1") */
static void metrics_put_seconds(struct metrics_out *o, uint64_t ns)
{
    char frac[10];
    int n = 9;

    metrics_put_u64(o, ns / 1000000000ULL);
    snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(ns % 1000000000ULL));
    while (n > 0 && frac[n - 1] == '0')
        n--;
    if (n > 0) {
        metrics_put(o, ".", 1);
        metrics_put(o, frac, (size_t)n);
    }
}

/* metrics_put_help - append a HELP text, escaping \ and newline */
static void metrics_put_help(struct metrics_out *o, const char *s)
{
    for (; *s != '\0'; s++) {
        if (*s == '\\')
            metrics_put(o, "\\\\", 2);
        else if (*s == '\n')
            metrics_put(o, "\\n", 2);
        else
            metrics_put(o, s, 1);
    }
}

/* metrics_put_series - append name[suffix]{labels[,extra]} */
static void metrics_put_series(struct metrics_out *o, const struct metric *mt, const char *suffix,
                               const char *extra, uint64_t le, int inf)
{
    metrics_puts(o, mt->name);
    metrics_puts(o, suffix);
    if (mt->labels[0] == '\0' && extra == NULL)
        return;
    metrics_put(o, "{", 1);
    metrics_puts(o, mt->labels);
    if (extra != NULL) {
        if (mt->labels[0] != '\0')
            metrics_put(o, ",", 1);
        metrics_puts(o, extra);
        metrics_put(o, "=\"", 2);
        if (inf)
            metrics_puts(o, "+Inf");
        else
            metrics_put_seconds(o, le);
        metrics_put(o, "\"", 1);
    }
    metrics_put(o, "}", 1);
}

/* metrics_render_one - append the sample lines of one series */
static void metrics_render_one(struct metrics_out *o, const struct metric *mt)
{
    uint64_t total = 0;
    size_t i;

    if (mt->type != METRIC_HISTOGRAM) {
        uint64_t v = __atomic_load_n(&mt->value, __ATOMIC_RELAXED);
        metrics_put_series(o, mt, "", NULL, 0, 0);
        metrics_put(o, " ", 1);
        if (mt->type == METRIC_GAUGE && (int64_t)v < 0) {
            metrics_put(o, "-", 1);
            v = (uint64_t)0 - v;
        }
        metrics_put_u64(o, v);
        metrics_put(o, "\n", 1);
        return;
    }
    for (i = 0; i <= mt->nbounds; i++) {
        total += __atomic_load_n(&mt->buckets[i], __ATOMIC_RELAXED);
        metrics_put_series(o, mt, "_bucket", "le", i < mt->nbounds ? mt->le[i] : 0,
                           i == mt->nbounds);
        metrics_put(o, " ", 1);
        metrics_put_u64(o, total);
        metrics_put(o, "\n", 1);
    }
    metrics_put_series(o, mt, "_sum", NULL, 0, 0);
    metrics_put(o, " ", 1);
    metrics_put_seconds(o, __atomic_load_n(&mt->sum, __ATOMIC_RELAXED));
    metrics_put(o, "\n", 1);
    metrics_put_series(o, mt, "_count", NULL, 0, 0);
    metrics_put(o, " ", 1);
    metrics_put_u64(o, total);
    metrics_put(o, "\n", 1);
}

/* metrics_render - the text exposition of every series of m; see metrics.h */
size_t metrics_render(const struct metrics *m, char *buf, size_t cap)
{
    static const char *const types[] = {"counter", "gauge", "histogram"};
    struct metrics_out o = {buf, cap, 0};
    size_t i, n = __atomic_load_n(&m->count, __ATOMIC_ACQUIRE);

    for (i = 0; i < n; i++) {
        const struct metric *mt = &m->series[i];
        if (!mt->head)
            continue;
        metrics_puts(&o, "# HELP ");
        metrics_puts(&o, mt->name);
        metrics_put(&o, " ", 1);
        metrics_put_help(&o, mt->help);
        metrics_puts(&o, "\n# TYPE ");
        metrics_puts(&o, mt->name);
        metrics_put(&o, " ", 1);
        metrics_puts(&o, types[mt->type]);
        metrics_put(&o, "\n", 1);
        for (; mt != NULL; mt = __atomic_load_n(&mt->next, __ATOMIC_ACQUIRE))
            metrics_render_one(&o, mt);
    }
    if (cap > 0)
        buf[o.len < cap ? o.len : cap - 1] = '\0';
    return o.len;
}

/* metrics_listen_spec - prog's SPEC in the metrics_listen list; see metrics.h */
int metrics_listen_spec(const struct strlist *list, const char *prog, const char **spec, char *err,
                        size_t errlen)
{
    size_t i, j, k;

    *spec = NULL;
    for (i = 0; i < list->count; i++) {
        const char *entry = list->items[i], *eq = strchr(entry, '=');
        size_t plen = eq != NULL ? (size_t)(eq - entry) : 0;

        if (eq == NULL || eq[1] == '\0')
            return util_seterr(err, errlen,
                               "metrics_listen: bad entry '%s' (PROGRAM=SPEC, e.g. "
                               "popauth=inet:127.0.0.1:9101)",
                               entry);
        for (k = 0; k < UTIL_ARRAY_LEN(metrics_programs); k++)
            if (strlen(metrics_programs[k]) == plen &&
                strncmp(entry, metrics_programs[k], plen) == 0)
                break;
        if (k == UTIL_ARRAY_LEN(metrics_programs))
            return util_seterr(err, errlen,
                               "metrics_listen: unknown program '%.*s' in '%s' (popauth or "
                               "smtpgate)",
                               (int)plen, entry, entry);
        for (j = 0; j < i; j++)
            if (strncmp(list->items[j], entry, plen + 1) == 0)
                return util_seterr(err, errlen, "metrics_listen: %.*s is listed twice", (int)plen,
                                   entry);
        if (strcmp(metrics_programs[k], prog) == 0)
            *spec = eq + 1;
    }
    return 0;
}

/* metrics_listen_check - metrics_listen_spec, then listen_check on prog's SPEC */
int metrics_listen_check(const struct strlist *list, const char *prog, char *err, size_t errlen)
{
    const char *spec;

    if (metrics_listen_spec(list, prog, &spec, err, errlen) < 0)
        return -1;
    return spec != NULL ? listen_check("metrics_listen", spec, err, errlen) : 0;
}

/* metrics_name_len - length of the metric or label name at s (within len), 0 if none */
static size_t metrics_name_len(const char *s, size_t len, int label)
{
    size_t i = 0;

    while (i < len && (ascii_is_alpha((unsigned char)s[i]) || s[i] == '_' ||
                       (!label && s[i] == ':') || (i > 0 && ascii_is_digit((unsigned char)s[i]))))
        i++;
    return i < METRICS_NAME_MAX ? i : 0;
}

/* metrics_number - the number token s[0..len): a float (+Inf, -Inf, NaN too) into *v */
static int metrics_number(const char *s, size_t len, double *v)
{
    char tmp[64], *end;
    size_t i;

    if (len == 0 || len >= sizeof(tmp))
        return -1;
    for (i = 0; i < len; i++)
        if (!(ascii_is_alnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '+' || s[i] == '-'))
            return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    *v = strtod(tmp, &end);
    return *end == '\0' ? 0 : -1;
}

/* metrics_parse_labels - the {..} at line[*pos] (just after '{') into s; -1 if bad */
static int metrics_parse_labels(const char *line, size_t len, size_t *pos, struct metrics_sample *s)
{
    size_t p = *pos;

    for (;;) {
        size_t n, v = 0;

        while (p < len && line[p] == ' ')
            p++;
        if (p < len && line[p] == '}')
            break;
        if (s->nlabels == METRICS_SAMPLE_LABELS)
            return -1;
        n = metrics_name_len(line + p, len - p, 1);
        if (n == 0 || p + n + 1 >= len || line[p + n] != '=' || line[p + n + 1] != '"')
            return -1;
        memcpy(s->labels[s->nlabels].name, line + p, n);
        s->labels[s->nlabels].name[n] = '\0';
        for (p += n + 2; p < len && line[p] != '"'; p++) {
            char c = line[p];
            if (c == '\\') {
                if (++p == len)
                    return -1;
                c = line[p] == 'n' ? '\n' : line[p];
                if (line[p] != 'n' && line[p] != '\\' && line[p] != '"')
                    return -1;
            }
            if (v + 1 >= sizeof(s->labels[0].value))
                return -1;
            s->labels[s->nlabels].value[v++] = c;
        }
        if (p == len)
            return -1;
        s->labels[s->nlabels++].value[v] = '\0';
        p++; /* the closing quote */
        while (p < len && line[p] == ' ')
            p++;
        if (p < len && line[p] == ',')
            p++;
        else if (p >= len || line[p] != '}')
            return -1;
    }
    *pos = p + 1;
    return 0;
}

/* metrics_parse_line - one sample line (no newline) into s; -1 if malformed */
static int metrics_parse_line(const char *line, size_t len, struct metrics_sample *s)
{
    size_t p, n, start;
    double ts;

    memset(s, 0, sizeof(*s));
    n = metrics_name_len(line, len, 0);
    if (n == 0)
        return -1;
    memcpy(s->name, line, n);
    s->name[n] = '\0';
    p = n;
    if (p < len && line[p] == '{') {
        p++;
        if (metrics_parse_labels(line, len, &p, s) < 0)
            return -1;
    }
    if (p == len || (line[p] != ' ' && line[p] != '\t'))
        return -1;
    while (p < len && (line[p] == ' ' || line[p] == '\t'))
        p++;
    for (start = p; p < len && line[p] != ' ' && line[p] != '\t'; p++)
        ;
    if (metrics_number(line + start, p - start, &s->value) < 0)
        return -1;
    while (p < len && (line[p] == ' ' || line[p] == '\t'))
        p++;
    if (p == len)
        return 0;
    for (start = p; p < len && line[p] != ' ' && line[p] != '\t'; p++)
        ;
    if (metrics_number(line + start, p - start, &ts) < 0 || isnan(ts))
        return -1;
    while (p < len && (line[p] == ' ' || line[p] == '\t'))
        p++;
    return p == len ? 0 : -1;
}

/* metrics_text_parse - parse the text exposition format; see metrics.h */
int metrics_text_parse(const char *text, size_t len, metrics_sample_cb cb, void *ctx, char *err,
                       size_t errlen)
{
    struct metrics_sample s;
    size_t off = 0, lineno = 0;

    while (off < len) {
        const char *line = text + off, *nl = memchr(line, '\n', len - off);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - off;

        off += n + (nl != NULL);
        lineno++;
        if (memchr(line, '\0', n) != NULL)
            return util_seterr(err, errlen, "metrics line %zu: NUL byte", lineno);
        if (n == 0 || line[0] == '#')
            continue;
        if (metrics_parse_line(line, n, &s) < 0)
            return util_seterr(err, errlen, "metrics line %zu: malformed sample", lineno);
        if (cb(&s, ctx) != 0)
            break;
    }
    return 0;
}

/* metrics_sample_label - the value of label name in s, NULL if it has none */
const char *metrics_sample_label(const struct metrics_sample *s, const char *name)
{
    size_t i;

    for (i = 0; i < s->nlabels; i++)
        if (strcmp(s->labels[i].name, name) == 0)
            return s->labels[i].value;
    return NULL;
}

/* metrics_http_body - the body of a 200 response; see metrics.h */
int metrics_http_body(const char *resp, size_t len, const char **body, size_t *bodylen, char *err,
                      size_t errlen)
{
    size_t i;

    if (len < 12 || memcmp(resp, "HTTP/1.", 7) != 0 || (resp[7] != '0' && resp[7] != '1') ||
        resp[8] != ' ' || !ascii_digits(resp + 9, 3) ||
        (len > 12 && resp[12] != ' ' && resp[12] != '\r'))
        return util_seterr(err, errlen, "not an HTTP response");
    if (memcmp(resp + 9, "200", 3) != 0)
        return util_seterr(err, errlen, "HTTP status %.3s", resp + 9);
    for (i = 12; i + 4 <= len; i++) {
        if (memcmp(resp + i, "\r\n\r\n", 4) == 0) {
            *body = resp + i + 4;
            *bodylen = len - i - 4;
            return 0;
        }
    }
    return util_seterr(err, errlen, "the HTTP response ends in its headers");
}
