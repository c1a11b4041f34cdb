/*
 * torture_metrics - unit tests of the metrics registry and its text rendering (a golden
 * page: HELP and TYPE once per family, histogram buckets cumulative, label values and
 * help texts escaped), the metrics_listen PROGRAM=SPEC lookup (table-driven), the parser
 * of the text format (a rendered page parses back to the same values; malformed lines
 * are refused), the HTTP response splitter, and the endpoint itself on a unix socket:
 * GET /metrics answers the page, other paths 404, other methods 405, a body 413.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared/listen.h"
#include "shared/metrics.h"
#include "shared/metrics_http.h"
#include "shared/util.h"

static const uint64_t t_bounds[] = {1000, 500000, 2000000000ULL};

/* t_registry - a registry with one series of each kind, registered out of family order */
static struct metrics *t_registry(void)
{
    struct metrics *m = metrics_new();
    struct metric *a, *b, *g, *h;

    a = metrics_counter(m, "t_decisions_total", "Decisions.", "front", "policy", "outcome",
                        "reject", NULL);
    g = metrics_gauge(m, "t_active", "Active now, with a \\ and a\nnewline.", NULL);
    b = metrics_counter(m, "t_decisions_total", "ignored", "front", "proxy", "outcome", "local",
                        NULL);
    h = metrics_histogram(m, "t_latency_seconds", "Latency.", t_bounds, 3, "front", "policy", NULL);
    metric_add(a, 3);
    metric_inc(b);
    metric_set(g, 5);
    metric_gauge_add(g, -7);
    metric_observe(h, 1000);       /* on the first bound: counted in it */
    metric_observe(h, 1001);       /* just above */
    metric_observe(h, 3000000000); /* above every bound */
    return m;
}

static const char t_golden[] = "# HELP t_decisions_total Decisions.\n"
                               "# TYPE t_decisions_total counter\n"
                               "t_decisions_total{front=\"policy\",outcome=\"reject\"} 3\n"
                               "t_decisions_total{front=\"proxy\",outcome=\"local\"} 1\n"
                               "# HELP t_active Active now, with a \\\\ and a\\nnewline.\n"
                               "# TYPE t_active gauge\n"
                               "t_active -2\n"
                               "# HELP t_latency_seconds Latency.\n"
                               "# TYPE t_latency_seconds histogram\n"
                               "t_latency_seconds_bucket{front=\"policy\",le=\"0.000001\"} 1\n"
                               "t_latency_seconds_bucket{front=\"policy\",le=\"0.0005\"} 2\n"
                               "t_latency_seconds_bucket{front=\"policy\",le=\"2\"} 2\n"
                               "t_latency_seconds_bucket{front=\"policy\",le=\"+Inf\"} 3\n"
                               "t_latency_seconds_sum{front=\"policy\"} 3.000002001\n"
                               "t_latency_seconds_count{front=\"policy\"} 3\n";

/* test_render_golden - the page of t_registry, byte for byte */
static void test_render_golden(void **state)
{
    struct metrics *m = t_registry();
    char buf[4096];
    size_t n;

    (void)state;
    n = metrics_render(m, buf, sizeof(buf));
    assert_string_equal(buf, t_golden);
    assert_int_equal(n, strlen(t_golden));
    metrics_free(m);
}

/* test_render_short - a short buffer: the full length is returned, the text cut and
 * terminated */
static void test_render_short(void **state)
{
    struct metrics *m = t_registry();
    char buf[20];
    size_t n;

    (void)state;
    memset(buf, 'x', sizeof(buf));
    n = metrics_render(m, buf, sizeof(buf));
    assert_int_equal(n, strlen(t_golden));
    assert_int_equal(buf[sizeof(buf) - 1], '\0');
    assert_memory_equal(buf, t_golden, sizeof(buf) - 1);
    assert_int_equal(metrics_render(m, NULL, 0), strlen(t_golden));
    metrics_free(m);
}

/* test_same_series - registering a series again returns it; labels are escaped and made
 * printable */
static void test_same_series(void **state)
{
    struct metrics *m = metrics_new();
    struct metric *a, *b, *c;
    char buf[1024];

    (void)state;
    a = metrics_counter(m, "t_lines_total", "Lines.", "source", "file:/a \"b\"\\c\n", NULL);
    b = metrics_counter(m, "t_lines_total", "Lines.", "source", "file:/a \"b\"\\c\n", NULL);
    c = metrics_counter(m, "t_lines_total", "Lines.", "source", "stdin", NULL);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
    metric_add(a, 2);
    metric_add(b, 3);
    assert_int_equal(metric_value(a), 5);
    metrics_render(m, buf, sizeof(buf));
    assert_non_null(strstr(buf, "t_lines_total{source=\"file:/a \\\"b\\\"\\\\c?\"} 5\n"));
    assert_non_null(strstr(buf, "t_lines_total{source=\"stdin\"} 0\n"));
    metrics_free(m);
}

/* test_long_label - a label value too long to keep whole keeps its end after "...", and
 * one full of escapes is cut short: neither stops the program */
static void test_long_label(void **state)
{
    struct metrics *m = metrics_new();
    char path[600], quotes[300], buf[4096], want[300];

    (void)state;
    memset(path, 'a', sizeof(path) - 1);
    path[sizeof(path) - 1] = '\0';
    memcpy(path, "file:/", 6);
    memcpy(path + sizeof(path) - 9, "/end.log", 8);
    memset(quotes, '"', sizeof(quotes) - 1);
    quotes[sizeof(quotes) - 1] = '\0';
    metric_inc(metrics_counter(m, "t_lines_total", "Lines.", "source", path, NULL));
    metric_inc(metrics_counter(m, "t_quotes_total", "Quotes.", "source", quotes, NULL));
    metrics_render(m, buf, sizeof(buf));
    snprintf(want, sizeof(want), "t_lines_total{source=\"...%s\"} 1\n",
             path + strlen(path) - (METRICS_VALUE_MAX - 3));
    assert_non_null(strstr(buf, want));
    assert_non_null(strstr(buf, "t_quotes_total{source=\"...\\\"\\\""));
    metrics_free(m);
}

/* One metrics_listen case: the list, the program asked for, and what comes back. */
struct t_spec_case {
    const char *entries[3];
    const char *prog;
    int rc;
    const char *spec; /* rc 0: the SPEC found, NULL for none */
    const char *err;  /* rc -1: text the error holds */
};

static const struct t_spec_case t_spec_cases[] = {
    {{NULL}, "popauth", 0, NULL, NULL},
    {{"popauth=inet:127.0.0.1:9101", "smtpgate=unix:/run/s.sock:mode=0660"},
     "smtpgate",
     0,
     "unix:/run/s.sock:mode=0660",
     NULL},
    {{"popauth=inet:127.0.0.1:9101", "smtpgate=unix:/run/s.sock"},
     "popauth",
     0,
     "inet:127.0.0.1:9101",
     NULL},
    {{"smtpgate=inet:127.0.0.1:9102"}, "popauth", 0, NULL, NULL},
    {{"inet:127.0.0.1:9101"}, "popauth", -1, NULL, "bad entry 'inet:127.0.0.1:9101'"},
    {{"popauth"}, "popauth", -1, NULL, "bad entry 'popauth'"},
    {{"popauth="}, "popauth", -1, NULL, "bad entry"},
    {{"smtpgat=inet:127.0.0.1:1"}, "smtpgate", -1, NULL, "unknown program 'smtpgat'"},
    {{"popauth=inet:127.0.0.1:1", "popauth=inet:127.0.0.1:2"},
     "smtpgate",
     -1,
     NULL,
     "popauth is listed twice"},
    {{"popauthx=inet:127.0.0.1:1"}, "popauth", -1, NULL, "unknown program"},
};

/* test_listen_spec - the metrics_listen table */
static void test_listen_spec(void **state)
{
    size_t i, n;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(t_spec_cases); i++) {
        const struct t_spec_case *tc = &t_spec_cases[i];
        char *items[3];
        struct strlist list = {items, 0};
        const char *spec = "unset";
        char err[256] = "";
        int rc;

        for (n = 0; n < 3 && tc->entries[n] != NULL; n++)
            items[n] = (char *)(uintptr_t)tc->entries[n];
        list.count = n;
        rc = metrics_listen_spec(&list, tc->prog, &spec, err, sizeof(err));
        if (rc != tc->rc)
            fail_msg("case %zu: rc %d, expected %d (%s)", i, rc, tc->rc, err);
        if (rc == 0 && tc->spec == NULL)
            assert_null(spec);
        else if (rc == 0)
            assert_string_equal(spec, tc->spec);
        else if (strstr(err, tc->err) == NULL)
            fail_msg("case %zu: error '%s' lacks '%s'", i, err, tc->err);
    }
}

/* test_listen_check - a bad SPEC of the program's own entry is refused, another's not */
static void test_listen_check(void **state)
{
    char bad[] = "popauth=inet:nothost:1", rel[] = "smtpgate=unix:relative",
         good[] = "popauth=inet:127.0.0.1:9101";
    char *items[] = {bad, rel};
    struct strlist list = {items, 2};
    char err[256];

    (void)state;
    assert_int_equal(metrics_listen_check(&list, "popauth", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "metrics_listen"));
    assert_int_equal(metrics_listen_check(&list, "smtpgate", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "absolute"));
    items[0] = good;
    assert_int_equal(metrics_listen_check(&list, "popauth", err, sizeof(err)), 0);
}

/* The samples of a parse, flattened to "name{a=b,...} value" lines. */
struct t_flat {
    char text[8192];
    size_t len;
    int stop_after; /* stop the parse after this many samples (0: never) */
    int seen;
};

/* t_flat_cb - append one sample to the flat text */
static int t_flat_cb(const struct metrics_sample *s, void *ctx)
{
    struct t_flat *f = ctx;
    size_t i;

    f->len += (size_t)snprintf(f->text + f->len, sizeof(f->text) - f->len, "%s{", s->name);
    for (i = 0; i < s->nlabels; i++)
        f->len += (size_t)snprintf(f->text + f->len, sizeof(f->text) - f->len, "%s%s=%s",
                                   i ? "," : "", s->labels[i].name, s->labels[i].value);
    f->len += (size_t)snprintf(f->text + f->len, sizeof(f->text) - f->len, "} %g\n", s->value);
    return ++f->seen == f->stop_after;
}

/* test_parse_render - the golden page parses back to its values */
static void test_parse_render(void **state)
{
    struct t_flat f;
    char err[256];

    (void)state;
    memset(&f, 0, sizeof(f));
    assert_int_equal(
        metrics_text_parse(t_golden, strlen(t_golden), t_flat_cb, &f, err, sizeof(err)), 0);
    assert_string_equal(f.text, "t_decisions_total{front=policy,outcome=reject} 3\n"
                                "t_decisions_total{front=proxy,outcome=local} 1\n"
                                "t_active{} -2\n"
                                "t_latency_seconds_bucket{front=policy,le=0.000001} 1\n"
                                "t_latency_seconds_bucket{front=policy,le=0.0005} 2\n"
                                "t_latency_seconds_bucket{front=policy,le=2} 2\n"
                                "t_latency_seconds_bucket{front=policy,le=+Inf} 3\n"
                                "t_latency_seconds_sum{front=policy} 3\n"
                                "t_latency_seconds_count{front=policy} 3\n");
    memset(&f, 0, sizeof(f));
    f.stop_after = 2;
    assert_int_equal(
        metrics_text_parse(t_golden, strlen(t_golden), t_flat_cb, &f, err, sizeof(err)), 0);
    assert_int_equal(f.seen, 2);
}

/* test_parse_forms - accepted forms and malformed lines */
static void test_parse_forms(void **state)
{
    static const struct {
        const char *text;
        int rc;
        const char *flat;
    } cases[] = {
        {"a 1\n", 0, "a{} 1\n"},
        {"a 1", 0, "a{} 1\n"},
        {"a{} 2 1700000000000\n", 0, "a{} 2\n"},
        {"a{b=\"x\\\"y\\\\z\\n\",} +Inf\n", 0, "a{b=x\"y\\z\n} inf\n"},
        {"a{ b=\"1\" , c=\"2\" } -3.5e2\n", 0, "a{b=1,c=2} -350\n"},
        {"# HELP a x\n\n# TYPE a counter\na 7\n", 0, "a{} 7\n"},
        {"a:b_c 1\n", 0, "a:b_c{} 1\n"},
        {"a\n", -1, NULL},
        {"1a 1\n", -1, NULL},
        {"a{b=1} 1\n", -1, NULL},
        {"a{b=\"1\" 1\n", -1, NULL},
        {"a{b=\"1\\x\"} 1\n", -1, NULL},
        {"a{b:c=\"1\"} 1\n", -1, NULL},
        {"a 1 2 3\n", -1, NULL},
        {"a one\n", -1, NULL},
        {"a 1 NaN\n", -1, NULL},
        {"a{b=\"1\"}1\n", -1, NULL},
        {"ok 1\na\0 1\n", -1, "ok{} 1\n"},
        {"a{l1=\"\",l2=\"\",l3=\"\",l4=\"\",l5=\"\",l6=\"\",l7=\"\",l8=\"\",l9=\"\"} 1\n", -1,
         NULL},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct t_flat f;
        char err[256] = "";
        size_t len = strlen(cases[i].text);
        int rc;

        if (strcmp(cases[i].text, "ok 1\na") == 0)
            len = 11; /* the case with a NUL in it */
        memset(&f, 0, sizeof(f));
        rc = metrics_text_parse(cases[i].text, len, t_flat_cb, &f, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("case %zu (%s): rc %d, expected %d", i, cases[i].text, rc, cases[i].rc);
        if (rc < 0 && strstr(err, "metrics line") == NULL)
            fail_msg("case %zu: error '%s'", i, err);
        if (cases[i].flat != NULL)
            assert_string_equal(f.text, cases[i].flat);
    }
}

/* test_http_body - the response splitter */
static void test_http_body(void **state)
{
    static const char ok[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\na 1\n";
    static const char nf[] = "HTTP/1.1 404 Not Found\r\n\r\nx";
    const char *body;
    size_t len;
    char err[128];

    (void)state;
    assert_int_equal(metrics_http_body(ok, strlen(ok), &body, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(body, "a 1\n", 4);
    assert_int_equal(metrics_http_body(nf, strlen(nf), &body, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "HTTP status 404");
    assert_int_equal(metrics_http_body("HTTP/1.0 200 OK\r\n", 17, &body, &len, err, sizeof(err)),
                     -1);
    assert_int_equal(metrics_http_body("SSH-2.0-x\r\n\r\n", 13, &body, &len, err, sizeof(err)), -1);
    assert_string_equal(err, "not an HTTP response");
    assert_int_equal(metrics_http_body("HTTP/1.0 2000\r\n\r\n", 17, &body, &len, err, sizeof(err)),
                     -1);
}

/* t_raw - send req to the unix socket path and return the status line's code */
static int t_raw(const char *path, const char *req)
{
    struct sockaddr_un sun;
    char resp[4096];
    size_t have = 0;
    ssize_t n;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0), code = -1;

    assert_true(fd >= 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    assert_int_equal(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
    while (have < sizeof(resp) - 1 && (n = recv(fd, resp + have, sizeof(resp) - 1 - have, 0)) > 0)
        have += (size_t)n;
    resp[have] = '\0';
    if (have >= 12 && strncmp(resp, "HTTP/1.", 7) == 0)
        code = atoi(resp + 9);
    close(fd);
    return code;
}

/* test_http_server - the endpoint on a unix socket, fetched with metrics_fetch */
static void test_http_server(void **state)
{
    char dir[] = "/tmp/torture_metrics.XXXXXX", spec[128], err[256];
    struct metrics *m = t_registry();
    struct listen_socket ls;
    struct metrics_http *h;
    const char *body;
    size_t len, blen;
    char *resp;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(spec, sizeof(spec), "unix:%s/m.sock", dir);
    assert_int_equal(listen_open("metrics_listen", spec, &ls, err, sizeof(err)), 0);
    h = metrics_http_start(m, ls.fd, NULL, NULL, err, sizeof(err));
    if (h == NULL)
        fail_msg("%s", err);
    if (metrics_fetch(spec, 5.0, &resp, &len, err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(metrics_http_body(resp, len, &body, &blen, err, sizeof(err)), 0);
    assert_int_equal(blen, strlen(t_golden));
    assert_memory_equal(body, t_golden, blen);
    assert_non_null(strstr(resp, "text/plain; version=0.0.4"));
    free(resp);
    assert_int_equal(t_raw(ls.path, "GET /other HTTP/1.0\r\n\r\n"), 404);
    assert_int_equal(t_raw(ls.path, "POST /metrics HTTP/1.0\r\nContent-Length: 1\r\n\r\nx"), 405);
    assert_int_equal(t_raw(ls.path, "GET /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"), 413);
    assert_int_equal(t_raw(ls.path, "HEAD /metrics HTTP/1.0\r\n\r\n"), 200);
    metrics_http_stop(h);
    listen_close(&ls);
    rmdir(dir);
    metrics_free(m);
}

/* main - run every test */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_golden), cmocka_unit_test(test_render_short),
        cmocka_unit_test(test_same_series),   cmocka_unit_test(test_long_label),
        cmocka_unit_test(test_listen_spec),   cmocka_unit_test(test_listen_check),
        cmocka_unit_test(test_parse_render),  cmocka_unit_test(test_parse_forms),
        cmocka_unit_test(test_http_body),     cmocka_unit_test(test_http_server),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
