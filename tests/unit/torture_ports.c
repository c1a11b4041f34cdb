/*
 * torture_ports - unit tests for popauth/sniff/ports.c: the sniff_ports parser (a table
 * of good and bad lists, with the error each must give) and its entry limit. What the
 * capture filter lets through is tested with crafted frames in torture_wire.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "popauth/sniff/ports.h"
#include "shared/util.h"

struct ports_case {
    const char *items[4];
    int count;
    const char *error; /* substring of the error, NULL if the list is good */
    uint16_t port[3];
    enum pop3imap_proto proto[3];
};

static const struct ports_case ports_cases[] = {
    {{"pop3:110", "imap:143"}, 2, NULL, {110, 143}, {POP3IMAP_POP3, POP3IMAP_IMAP}},
    {{"IMAP:1143"}, 1, NULL, {1143}, {POP3IMAP_IMAP}},
    {{"pop3:65535", "imap:1"}, 2, NULL, {65535, 1}, {POP3IMAP_POP3, POP3IMAP_IMAP}},
    {{NULL}, 0, "sniff_ports: no ports", {0}, {0}},
    {{"pop3:0"}, 1, "sniff_ports: bad entry 'pop3:0'", {0}, {0}},
    {{"pop3:65536"}, 1, "bad entry 'pop3:65536'", {0}, {0}},
    {{"pop3:0110"}, 1, "bad entry 'pop3:0110'", {0}, {0}},
    {{"pop3:"}, 1, "bad entry 'pop3:'", {0}, {0}},
    {{"pop3"}, 1, "bad entry 'pop3'", {0}, {0}},
    {{"smtp:25"}, 1, "bad entry 'smtp:25'", {0}, {0}},
    {{"pop3:110x"}, 1, "bad entry 'pop3:110x'", {0}, {0}},
    {{"pop3:-1"}, 1, "bad entry 'pop3:-1'", {0}, {0}},
    {{"imap:143", "pop3:143"}, 2, "sniff_ports: port 143 is listed twice ('pop3:143')", {0}, {0}},
    {{"pop3:110", "imap:99999999999999999999"},
     2,
     "bad entry 'imap:99999999999999999999'",
     {0},
     {0}},
};

/* test_ports_parse - every case of the table */
static void test_ports_parse(void **state)
{
    size_t i;
    int j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(ports_cases); i++) {
        const struct ports_case *c = &ports_cases[i];
        char *items[4];
        struct strlist list = {items, (size_t)c->count};
        struct ports ports;
        char err[256] = "";
        int rc;

        for (j = 0; j < c->count; j++)
            items[j] = xstrdup(c->items[j]);
        rc = ports_parse(&list, &ports, err, sizeof(err));
        if (c->error != NULL) {
            if (rc != -1 || strstr(err, c->error) == NULL)
                fail_msg("case %zu: want error '%s', got rc %d '%s'", i, c->error, rc, err);
        } else {
            if (rc != 0)
                fail_msg("case %zu: unexpected error '%s'", i, err);
            assert_int_equal(ports.count, c->count);
            for (j = 0; j < c->count; j++) {
                assert_int_equal(ports.port[j], c->port[j]);
                assert_int_equal(ports.proto[j], c->proto[j]);
            }
        }
        for (j = 0; j < c->count; j++)
            free(items[j]);
    }
}

/* test_ports_limit - PORTS_MAX entries are fine, one more is not */
static void test_ports_limit(void **state)
{
    char *items[PORTS_MAX + 1];
    struct strlist list = {items, PORTS_MAX};
    struct ports ports;
    char err[256];
    size_t i;

    (void)state;
    for (i = 0; i <= PORTS_MAX; i++) {
        char text[32];
        snprintf(text, sizeof(text), "%s:%zu", i % 2 ? "imap" : "pop3", 1000 + i);
        items[i] = xstrdup(text);
    }
    assert_int_equal(ports_parse(&list, &ports, err, sizeof(err)), 0);
    assert_int_equal(ports.count, PORTS_MAX);
    list.count++;
    assert_int_equal(ports_parse(&list, &ports, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "more than"));
    for (i = 0; i <= PORTS_MAX; i++)
        free(items[i]);
}

/* main - run every test */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ports_parse),
        cmocka_unit_test(test_ports_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
