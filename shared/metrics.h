/*
 * metrics - the daemons' counters, gauges and histograms, served in the Prometheus text
 * exposition format (version 0.0.4) on metrics_listen (metrics_http.h).
 *
 * A registry holds at most METRICS_MAX_SERIES series. A series is one metric name with
 * a fixed set of label values given when it is registered (front="policy",
 * outcome="reject"; source="file:/var/log/mail.log"), so nothing on the hot path formats
 * or looks anything up: the code that counts keeps the struct metric pointer it got at
 * start-up. Series of the same name form a family, rendered together under one HELP and
 * TYPE line, whatever order they were registered in. Registering the same name and
 * labels again returns the same series. Labels show counts only: never addresses, user
 * names or secrets.
 *
 * Threads: every series has one writer thread (the event loop, popauth's committer
 * thread, or the HTTP thread itself); updates are relaxed atomic loads and stores, never
 * a read-modify-write or a lock, and the renderer, on the HTTP thread, reads them with
 * relaxed loads. Registration happens on one thread (the main thread) and publishes
 * each new series with a release store, so it may go on while the HTTP thread renders.
 * Values are what they were at some moment of the scrape; a histogram's _count is the
 * sum of the buckets read, so the rendered buckets are always consistent.
 *
 * Ownership: the process registry (metrics_process) lives until exit. A registration
 * that finds the registry full, or a name or label name that is not a valid Prometheus
 * name, is a programming error and fatal.
 *
 * metrics_text_parse is the other direction: the pure parser of the text format that
 * `popauthctl stats` uses on smtpgate's /metrics (fetched with metrics_fetch).
 */
#ifndef POPAUTH_METRICS_H
#define POPAUTH_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shared/config.h"

#define METRICS_MAX_SERIES  1024          /* series in one registry */
#define METRICS_MAX_BUCKETS 16            /* upper bounds of one histogram, +Inf not counted */
#define METRICS_NAME_MAX    96            /* bytes of a metric name, NUL included */
#define METRICS_LABELS_MAX  320           /* bytes of a series' rendered labels, NUL included */
#define METRICS_VALUE_MAX   160           /* bytes of one label value kept (its end) */
#define METRICS_HELP_MAX    200           /* bytes of a help text, NUL included */
#define METRICS_RENDER_MAX  (1024 * 1024) /* bytes of a rendered page, at most */
#define METRICS_FETCH_MAX   (1024 * 1024) /* bytes of a fetched page, headers included */

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

struct metric {
    char name[METRICS_NAME_MAX];
    char labels[METRICS_LABELS_MAX]; /* name="escaped value",... without braces; "" none */
    const char *help;                /* static text */
    enum metric_type type;
    uint64_t value;     /* counter; a gauge's int64_t, bit for bit */
    uint64_t sum;       /* histogram: sum of the observations, in nanoseconds */
    const uint64_t *le; /* histogram: nbounds ascending upper bounds in nanoseconds */
    size_t nbounds;
    uint64_t *buckets;   /* histogram: nbounds + 1 counts, the last for +Inf (not cumulative) */
    struct metric *next; /* the next series of the same family (published atomically) */
    int head;            /* the first series of its family */
};

struct metrics; /* opaque */

/* Latency buckets for request and commit histograms: 50us to 1s. */
extern const uint64_t metrics_latency_ns[];
extern const size_t metrics_latency_count;

/* metrics_new - an empty registry (tests; the daemons use metrics_process) */
struct metrics *metrics_new(void);
/* metrics_free - release a registry from metrics_new; NULL is allowed */
void metrics_free(struct metrics *m);
/* metrics_process - the process's registry, created at the first call (main thread) */
struct metrics *metrics_process(void);

/*
 * metrics_counter, metrics_gauge - register (or find) the series name{labels} in m; the
 * variable arguments are label name and value pairs, ended by NULL. help is a static
 * text, shared by the family (the first registration's is kept).
 */
struct metric *metrics_counter(struct metrics *m, const char *name, const char *help, ...);
struct metric *metrics_gauge(struct metrics *m, const char *name, const char *help, ...);
/* metrics_histogram - the same for a histogram with nbounds ascending bounds le
 * (nanoseconds, static) */
struct metric *metrics_histogram(struct metrics *m, const char *name, const char *help,
                                 const uint64_t *le, size_t nbounds, ...);

/* metric_add - a counter grows by n (its one writer thread only) */
static inline void metric_add(struct metric *mt, uint64_t n)
{
    __atomic_store_n(&mt->value, __atomic_load_n(&mt->value, __ATOMIC_RELAXED) + n,
                     __ATOMIC_RELAXED);
}

/* metric_inc - a counter grows by one */
static inline void metric_inc(struct metric *mt)
{
    metric_add(mt, 1);
}

/* metric_set - a gauge becomes v; also a counter copied from a running total */
static inline void metric_set(struct metric *mt, int64_t v)
{
    __atomic_store_n(&mt->value, (uint64_t)v, __ATOMIC_RELAXED);
}

/* metric_gauge_add - a gauge moves by delta (its one writer thread only) */
static inline void metric_gauge_add(struct metric *mt, int64_t delta)
{
    metric_add(mt, (uint64_t)delta); /* two's complement: a negative delta subtracts */
}

/* metric_observe - a histogram counts one observation of ns nanoseconds */
static inline void metric_observe(struct metric *mt, uint64_t ns)
{
    size_t i = 0;

    while (i < mt->nbounds && ns > mt->le[i])
        i++;
    __atomic_store_n(&mt->buckets[i], __atomic_load_n(&mt->buckets[i], __ATOMIC_RELAXED) + 1,
                     __ATOMIC_RELAXED);
    __atomic_store_n(&mt->sum, __atomic_load_n(&mt->sum, __ATOMIC_RELAXED) + ns, __ATOMIC_RELAXED);
}

/* metric_value - a counter's or gauge's value now (tests, popauthctl) */
int64_t metric_value(const struct metric *mt);

/* metrics_now_ns - the monotonic clock in nanoseconds, for latencies */
uint64_t metrics_now_ns(void);

/*
 * metrics_render - the text exposition of every series of m into buf of cap bytes
 * (NUL-terminated if cap > 0); returns the length of the whole text, which did not fit
 * if it is >= cap (as snprintf). Pure: reads the series, nothing else.
 */
size_t metrics_render(const struct metrics *m, char *buf, size_t cap);

/*
 * metrics_listen_spec - the SPEC of prog ("popauth", "smtpgate") in the metrics_listen
 * list of PROGRAM=SPEC entries: *spec points into list, NULL if prog has none. -1 and err
 * naming the entry if any entry is not PROGRAM=SPEC, names an unknown program or repeats
 * a program. SPEC itself is not checked (metrics_listen_check does).
 */
int metrics_listen_spec(const struct strlist *list, const char *prog, const char **spec, char *err,
                        size_t errlen);
/* metrics_listen_check - metrics_listen_spec, then listen_check on prog's SPEC */
int metrics_listen_check(const struct strlist *list, const char *prog, char *err, size_t errlen);

/* One sample of a parsed exposition. Label values are unescaped; all strings bounded. */
#define METRICS_SAMPLE_LABELS 8
struct metrics_sample {
    char name[METRICS_NAME_MAX];
    size_t nlabels;
    struct {
        char name[METRICS_NAME_MAX];
        char value[256];
    } labels[METRICS_SAMPLE_LABELS];
    double value;
};

/* metrics_sample_cb - called once per sample; non-zero stops the parse */
typedef int (*metrics_sample_cb)(const struct metrics_sample *s, void *ctx);

/*
 * metrics_text_parse - parse len bytes of the text exposition format: comment lines are
 * skipped, each other non-empty line is NAME[{LABEL="VALUE",...}] VALUE [TIMESTAMP] and
 * goes to cb. -1 and err naming the line on the first malformed line (samples before it
 * were delivered), else 0. Pure.
 */
int metrics_text_parse(const char *text, size_t len, metrics_sample_cb cb, void *ctx, char *err,
                       size_t errlen);
/* metrics_sample_label - the value of label name in s, NULL if it has none */
const char *metrics_sample_label(const struct metrics_sample *s, const char *name);

/*
 * metrics_http_body - split an HTTP/1.x response of len bytes: 0 and the body
 * (*body, *bodylen, pointing into resp) if the status is 200; -1 and err otherwise. Pure.
 */
int metrics_http_body(const char *resp, size_t len, const char **body, size_t *bodylen, char *err,
                      size_t errlen);
/*
 * metrics_fetch - GET /metrics from spec (inet:HOST:PORT, inet:[V6]:PORT or unix:PATH, as
 * in metrics_listen) within timeout seconds, reading at most METRICS_FETCH_MAX bytes:
 * the whole response in *resp (free it) of *len bytes; -1 and err if it cannot.
 */
int metrics_fetch(const char *spec, double timeout, char **resp, size_t *len, char *err,
                  size_t errlen);

/*
 * metrics_stats_print - prog's counters for `popauthctl stats`: fetched from prog's
 * metrics_listen entry and printed to fp as text lines, or (json) as one JSON object
 * without a newline. When there is no entry or nothing usable answers, one line (or
 * {"error":"..."}) says why.
 */
void metrics_stats_print(const struct strlist *list, const char *prog, int json, FILE *fp);

#endif
