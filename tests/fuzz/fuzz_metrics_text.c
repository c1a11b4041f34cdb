/*
 * fuzz_metrics_text - libFuzzer target for the parsers `popauthctl stats` runs on what
 * smtpgate's /metrics answers: metrics_http_body (the HTTP response) and
 * metrics_text_parse (the text exposition format). It aborts when an invariant fails:
 * a body lies inside the response; every sample's name is a non-empty NUL-terminated
 * name of metric characters, its labels at most METRICS_SAMPLE_LABELS with bounded,
 * terminated names and values; an error message is non-empty printable text; a parse
 * of the input's first half delivers no sample the whole input's parse does not.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "shared/metrics.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_metrics_printable - an error message is non-empty printable text */
static void fuzz_metrics_printable(const char *err)
{
    size_t i;

    if (err[0] == '\0')
        abort();
    for (i = 0; err[i] != '\0'; i++)
        if ((unsigned char)err[i] < 0x20 || (unsigned char)err[i] >= 0x7f)
            abort();
}

/* fuzz_metrics_name - a name is 1..METRICS_NAME_MAX-1 metric characters */
static void fuzz_metrics_name(const char *s, size_t max)
{
    size_t i, len = strnlen(s, max);

    if (len == 0 || len == max || isdigit((unsigned char)s[0]))
        abort();
    for (i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != ':')
            abort();
}

/* fuzz_metrics_sample - check one sample and count it */
static int fuzz_metrics_sample(const struct metrics_sample *s, void *ctx)
{
    size_t i;

    fuzz_metrics_name(s->name, sizeof(s->name));
    if (s->nlabels > METRICS_SAMPLE_LABELS)
        abort();
    for (i = 0; i < s->nlabels; i++) {
        fuzz_metrics_name(s->labels[i].name, sizeof(s->labels[i].name));
        if (strchr(s->labels[i].name, ':') != NULL)
            abort();
        if (strnlen(s->labels[i].value, sizeof(s->labels[i].value)) == sizeof(s->labels[i].value))
            abort();
    }
    (*(size_t *)ctx)++;
    return 0;
}

/* LLVMFuzzerTestOneInput - split the input as a response, then parse it (and its body,
 * and its first half) as the text format */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data, *body;
    size_t bodylen, whole = 0, half = 0;
    char err[256];
    int rc, rch;

    err[0] = '\0';
    if (metrics_http_body(text, size, &body, &bodylen, err, sizeof(err)) == 0) {
        if (body < text || body + bodylen != text + size)
            abort();
        err[0] = '\0';
        if (metrics_text_parse(body, bodylen, fuzz_metrics_sample, &whole, err, sizeof(err)) < 0)
            fuzz_metrics_printable(err);
    } else {
        fuzz_metrics_printable(err);
    }
    whole = 0;
    err[0] = '\0';
    rc = metrics_text_parse(text, size, fuzz_metrics_sample, &whole, err, sizeof(err));
    if (rc < 0)
        fuzz_metrics_printable(err);
    else if (rc != 0)
        abort();
    /* cut at a line end, the first half's samples are a prefix of the whole's */
    {
        const char *nl = size > 0 ? memchr(text, '\n', size / 2) : NULL;
        if (nl != NULL) {
            rch = metrics_text_parse(text, (size_t)(nl - text) + 1, fuzz_metrics_sample, &half, err,
                                     sizeof(err));
            if (rc == 0 && (rch != 0 || half > whole))
                abort();
        }
    }
    return 0;
}
