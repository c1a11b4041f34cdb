/*
 * metrics_stats - smtpgate's counters in `popauthctl stats`: its /metrics page is fetched
 * (metrics_fetch), split and parsed (metrics_http_body, metrics_text_parse), and the
 * samples this file knows (a fixed table of names, fronts and outcomes) are printed as
 * text or JSON. Nothing else of the page is printed, so whatever answers on the socket
 * can put no text of its own into the output, only numbers in known places.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/json.h"
#include "shared/metrics.h"
#include "shared/util.h"

#define METRICS_STATS_TIMEOUT 3.0 /* seconds for the whole fetch */

static const char *const metrics_stats_fronts[] = {"policy", "milter", "proxy"};
static const char *const metrics_stats_outcomes[] = {
    "permit-localnet", "permit-grant", "permit-auth", "local", "reject", "defer", "limit"};

/* The single series shown: name (and front label), group and key in the output. */
static const struct metrics_stats_scalar {
    const char *name, *front, *group, *key;
} metrics_stats_scalars[] = {
    {"smtpgate_policy_requests_total", NULL, "policy", "requests"},
    {"smtpgate_policy_connections_total", NULL, "policy", "connections"},
    {"smtpgate_policy_connections", NULL, "policy", "open"},
    {"smtpgate_refused_connections_total", "policy", "policy", "refused"},
    {"smtpgate_policy_protocol_errors_total", NULL, "policy", "protocol_errors"},
    {"smtpgate_milter_connections_total", NULL, "milter", "connections"},
    {"smtpgate_milter_connections", NULL, "milter", "open"},
    {"smtpgate_refused_connections_total", "milter", "milter", "refused"},
    {"smtpgate_milter_protocol_errors_total", NULL, "milter", "protocol_errors"},
    {"smtpgate_proxy_sessions_total", NULL, "proxy", "sessions"},
    {"smtpgate_proxy_sessions", NULL, "proxy", "open"},
    {"smtpgate_refused_connections_total", "proxy", "proxy", "refused"},
    {"smtpgate_store_errors_total", NULL, "store", "errors"},
    {"smtpgate_store_retries_total", NULL, "store", "retries"},
    {"smtpgate_store_reopens_total", NULL, "store", "reopens"},
    {"smtpgate_store_unavailable_total", NULL, "store", "unavailable"},
};

#define METRICS_STATS_NF UTIL_ARRAY_LEN(metrics_stats_fronts)
#define METRICS_STATS_NO UTIL_ARRAY_LEN(metrics_stats_outcomes)
#define METRICS_STATS_NS UTIL_ARRAY_LEN(metrics_stats_scalars)

/* What the page said, of the samples shown. */
struct metrics_stats {
    int has_decision[METRICS_STATS_NF][METRICS_STATS_NO];
    long long decision[METRICS_STATS_NF][METRICS_STATS_NO];
    int has_scalar[METRICS_STATS_NS];
    long long scalar[METRICS_STATS_NS];
};

/* metrics_stats_index - the index of s in the n strings of list, -1 if absent */
static int metrics_stats_index(const char *const *list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; s != NULL && i < n; i++)
        if (strcmp(list[i], s) == 0)
            return (int)i;
    return -1;
}

/* metrics_stats_value - a sample's value as a count (a non-number or negative: 0) */
static long long metrics_stats_value(double v)
{
    return isfinite(v) && v > 0 && v < 9e18 ? (long long)v : 0;
}

/* metrics_stats_sample - keep one sample if it is one of those shown */
static int metrics_stats_sample(const struct metrics_sample *s, void *ctx)
{
    struct metrics_stats *st = ctx;
    const char *front = metrics_sample_label(s, "front");
    size_t i;

    if (strcmp(s->name, "smtpgate_decisions_total") == 0) {
        int f = metrics_stats_index(metrics_stats_fronts, METRICS_STATS_NF, front);
        int o = metrics_stats_index(metrics_stats_outcomes, METRICS_STATS_NO,
                                    metrics_sample_label(s, "outcome"));
        if (f >= 0 && o >= 0) {
            st->has_decision[f][o] = 1;
            st->decision[f][o] = metrics_stats_value(s->value);
        }
        return 0;
    }
    for (i = 0; i < METRICS_STATS_NS; i++) {
        const struct metrics_stats_scalar *sc = &metrics_stats_scalars[i];
        if (strcmp(s->name, sc->name) == 0 &&
            (sc->front == NULL || (front != NULL && strcmp(front, sc->front) == 0))) {
            st->has_scalar[i] = 1;
            st->scalar[i] = metrics_stats_value(s->value);
        }
    }
    return 0;
}

/* metrics_stats_get - fetch and parse prog's page into st; -1 and err if there is none */
static int metrics_stats_get(const struct strlist *list, const char *prog, struct metrics_stats *st,
                             const char **spec, char *err, size_t errlen)
{
    const char *body;
    size_t len, blen;
    char *resp;
    int rc;

    memset(st, 0, sizeof(*st));
    if (metrics_listen_spec(list, prog, spec, err, errlen) < 0)
        return -1;
    if (*spec == NULL)
        return util_seterr(err, errlen, "metrics_listen has no %s entry", prog);
    if (metrics_fetch(*spec, METRICS_STATS_TIMEOUT, &resp, &len, err, errlen) < 0)
        return -1;
    rc = metrics_http_body(resp, len, &body, &blen, err, errlen);
    if (rc == 0)
        rc = metrics_text_parse(body, blen, metrics_stats_sample, st, err, errlen);
    free(resp);
    return rc;
}

/* A group of key=value pairs being printed, as text or JSON. */
struct metrics_stats_out {
    FILE *fp;
    int json;
    int groups; /* groups printed so far */
    int keys;   /* keys printed in the open group, -1 if none is open */
};

/* metrics_stats_key - print one key and value, opening the group title first */
static void metrics_stats_key(struct metrics_stats_out *o, const char *title, const char *key,
                              long long value)
{
    if (o->keys < 0) {
        if (o->json)
            fprintf(o->fp, "%s\"%s\":{", o->groups ? "," : "", title);
        else
            fprintf(o->fp, "  %s:", title);
        o->keys = 0;
    }
    if (o->json)
        fprintf(o->fp, "%s\"%s\":%lld", o->keys ? "," : "", key, value);
    else
        fprintf(o->fp, " %s=%lld", key, value);
    o->keys++;
}

/* metrics_stats_close - end the open group, if any */
static void metrics_stats_close(struct metrics_stats_out *o)
{
    if (o->keys < 0)
        return;
    fprintf(o->fp, o->json ? "}" : "\n");
    o->groups++;
    o->keys = -1;
}

/* metrics_stats_body - every group that the page had samples of */
static void metrics_stats_body(const struct metrics_stats *st, struct metrics_stats_out *o)
{
    static const char *const groups[] = {"policy", "milter", "proxy", "store"};
    char title[64];
    size_t f, k, g, i;

    for (f = 0; f < METRICS_STATS_NF; f++) {
        snprintf(title, sizeof(title), o->json ? "%s_decisions" : "%s decisions",
                 metrics_stats_fronts[f]);
        for (k = 0; k < METRICS_STATS_NO; k++)
            if (st->has_decision[f][k])
                metrics_stats_key(o, title, metrics_stats_outcomes[k], st->decision[f][k]);
        metrics_stats_close(o);
    }
    for (g = 0; g < UTIL_ARRAY_LEN(groups); g++) {
        for (i = 0; i < METRICS_STATS_NS; i++)
            if (st->has_scalar[i] && strcmp(metrics_stats_scalars[i].group, groups[g]) == 0)
                metrics_stats_key(o, groups[g], metrics_stats_scalars[i].key, st->scalar[i]);
        metrics_stats_close(o);
    }
}

/* metrics_stats_print - the counters of prog in popauthctl stats; see metrics.h */
void metrics_stats_print(const struct strlist *list, const char *prog, int json, FILE *fp)
{
    struct metrics_stats_out o = {fp, json, 0, -1};
    struct metrics_stats st;
    const char *spec = NULL;
    char err[512];

    if (metrics_stats_get(list, prog, &st, &spec, err, sizeof(err)) < 0) {
        if (json) {
            fprintf(fp, "{\"error\":");
            json_write_string(fp, err);
            fprintf(fp, "}");
        } else {
            fprintf(fp, "%s counters: not shown: %s\n", prog, err);
        }
        return;
    }
    if (json) {
        fprintf(fp, "{\"listen\":");
        json_write_string(fp, spec);
        o.groups = 1;
    } else {
        fprintf(fp, "%s counters (%s):\n", prog, spec);
    }
    metrics_stats_body(&st, &o);
    if (json)
        fprintf(fp, "}");
}
