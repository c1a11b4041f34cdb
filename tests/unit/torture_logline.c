/*
 * torture_logline - unit tests for popauth/logline.c: tables of timestamps in every
 * shape (BSD with year inference across New Year both ways, RFC 3339 with zones,
 * Dovecot's local date), bad fields, and whole lines with and without host and pid,
 * Dovecot's own log file and RFC 5424. Local time is checked against mktime() in zones
 * with daylight saving time. Runs in TZ=UTC unless a test says otherwise.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "popauth/logline.h"
#include "shared/util.h"

#define TORTURE_NOW INT64_C(1795878000) /* 2026-11-28T15:00:00Z */

/* A timestamp, the time it is read at, and what must come out (rc -1: refused). */
struct logline_time_case {
    const char *text;
    int64_t now;
    int rc;
    int64_t time;
    size_t used;
};

static const struct logline_time_case logline_time_cases[] = {
    /* BSD syslog, year from now */
    {"Nov 28 14:24:53", TORTURE_NOW, 0, 1795875893, 15},
    {"Nov 28 14:24:53 host tag: x", TORTURE_NOW, 0, 1795875893, 15},
    {"Nov  1 00:00:00", TORTURE_NOW, 0, 1793491200, 15},
    {"Nov 01 00:00:00", TORTURE_NOW, 0, 1793491200, 15},
    {"Nov 28 14:24:60", TORTURE_NOW, 0, 1795875900, 15},
    {"Nov 29 14:00:00", TORTURE_NOW, 0, 1795960800, 15}, /* < 1 day ahead: this year */
    {"Nov 29 15:00:00", TORTURE_NOW, 0, 1795964400, 15}, /* exactly 1 day ahead */
    {"Nov 29 15:00:01", TORTURE_NOW, 0, 1764428401, 15}, /* more: last year */
    {"Dec 31 23:59:59", 1767225605, 0, 1767225599, 15},  /* read on Jan 1: last year */
    {"Jan  1 00:00:10", 1767225590, 0, 1767225610, 15},  /* read on Dec 31: next year */
    {"Jan  1 00:00:00", 1767225600, 0, 1767225600, 15},  /* New Year exactly */
    {"Feb 29 12:00:00", TORTURE_NOW, 0, 1709208000, 15}, /* 2024, the last leap year */
    {"Feb 29 12:00:00", 1835481600, 0, 1835438400, 15},  /* read on 2028-03-01 */
    {"Nov 31 00:00:00", TORTURE_NOW, -1, 0, 0},
    {"Nov 00 00:00:00", TORTURE_NOW, -1, 0, 0},
    {"Nov 32 00:00:00", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 24:00:00", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 23:60:00", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 23:59:61", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 1:02:03 ", TORTURE_NOW, -1, 0, 0},
    {"Nov 2814:24:53 ", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 14-24-53", TORTURE_NOW, -1, 0, 0},
    {"Nov  a 14:24:53", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 14:24:5", TORTURE_NOW, -1, 0, 0},
    {"Foo 28 14:24:53", TORTURE_NOW, -1, 0, 0},
    {"NOV 28 14:24:53", TORTURE_NOW, -1, 0, 0},
    {"nov 28 14:24:53", TORTURE_NOW, -1, 0, 0},
    {"Nov 28 +4:24:53", TORTURE_NOW, -1, 0, 0},
    /* RFC 3339 */
    {"2026-11-28T14:24:53Z", 0, 0, 1795875893, 20},
    {"2026-11-28T14:24:53Z host tag: x", 0, 0, 1795875893, 20},
    {"2026-11-28t14:24:53z", 0, 0, 1795875893, 20},
    {"2026-11-28T14:24:53.123456+01:00", 0, 0, 1795872293, 32},
    {"2026-11-28T14:24:53-05:00", 0, 0, 1795893893, 25},
    {"2026-11-28T14:24:53.1-00:00", 0, 0, 1795875893, 27},
    {"2026-11-28T14:24:53.123456789Z", 0, 0, 1795875893, 30},
    {"2024-02-29T00:00:00Z", 0, 0, 1709164800, 20},
    {"1970-01-01T00:00:00Z", 0, 0, 0, 20},
    {"9999-12-31T23:59:59Z", 0, 0, INT64_C(253402300799), 20},
    {"2026-11-28T14:24:53", 0, -1, 0, 0},
    {"2026-11-28T14:24:53 ", 0, -1, 0, 0},
    {"2026-11-28T14:24:53.Z", 0, -1, 0, 0},
    {"2026-11-28T14:24:53.1234567890Z", 0, -1, 0, 0},
    /* strftime's %z, as journalctl -o short-iso and short-iso-precise write it */
    {"2026-11-28T14:24:53+0100", 0, 0, 1795872293, 24},
    {"2026-11-28T14:24:53-0530 host tag: x", 0, 0, 1795895693, 24},
    {"2026-11-28T14:24:53.123456+0000", 0, 0, 1795875893, 31},
    {"2026-11-28T14:24:53+2400", 0, -1, 0, 0},
    {"2026-11-28T14:24:53+0160", 0, -1, 0, 0},
    {"2026-11-28T14:24:53+010", 0, -1, 0, 0},
    {"2026-11-28T14:24:53+01:0", 0, -1, 0, 0},
    {"2026-11-28T14:24:53+01", 0, -1, 0, 0},
    {"2026-11-28T14:24:53+24:00", 0, -1, 0, 0},
    {"2026-11-28T14:24:53+01:60", 0, -1, 0, 0},
    {"2026-11-28T14:24:53Y", 0, -1, 0, 0},
    {"2026-13-01T00:00:00Z", 0, -1, 0, 0},
    {"2026-00-01T00:00:00Z", 0, -1, 0, 0},
    {"2026-02-29T00:00:00Z", 0, -1, 0, 0},
    {"2026-04-31T00:00:00Z", 0, -1, 0, 0},
    {"2026-11-28T25:00:00Z", 0, -1, 0, 0},
    {"1969-12-31T23:59:59Z", 0, -1, 0, 0},
    {"2026-11-28X14:24:53Z", 0, -1, 0, 0},
    {"2026/11/28T14:24:53Z", 0, -1, 0, 0},
    {"20261128T142453Z", 0, -1, 0, 0},
    {"+026-11-28T14:24:53Z", 0, -1, 0, 0},
    /* Dovecot's "YYYY-MM-DD hh:mm:ss", local time (UTC here) */
    {"2026-11-28 14:24:53", 0, 0, 1795875893, 19},
    {"2026-11-28 14:24:53 imap-login: x", 0, 0, 1795875893, 19},
    {"2026-11-28 14:24:53.250", 0, 0, 1795875893, 23},
    {"2026-11-28 14:24:5", 0, -1, 0, 0},
    {"2026-11-28  14:24:53", 0, -1, 0, 0},
    /* neither */
    {"", 0, -1, 0, 0},
    {"-", 0, -1, 0, 0},
    {"<34>1 2026-11-28T14:24:53Z", 0, -1, 0, 0},
    {"1795875893", 0, -1, 0, 0},
};

/* torture_logline_times - the timestamp table */
static void torture_logline_times(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(logline_time_cases); i++) {
        const struct logline_time_case *c = &logline_time_cases[i];
        int64_t t = -7;
        size_t used = 9999;
        int rc = logline_parse_time(c->text, strlen(c->text), c->now, &t, &used);

        if (rc != c->rc || (rc == 0 && (t != c->time || used != c->used))) {
            print_error("'%s': want rc %d time %lld used %zu, got rc %d time %lld used %zu\n",
                        c->text, c->rc, (long long)c->time, c->used, rc, (long long)t, used);
            fail();
        }
    }
}

/* torture_logline_short - a timestamp cut anywhere is refused, never read past its end */
static void torture_logline_short(void **state)
{
    static const char *const full[] = {"Nov 28 14:24:53", "2026-11-28T14:24:53.123+01:00",
                                       "2026-11-28T14:24:53.123+0100", "2026-11-28 14:24:53"};
    size_t i, n;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(full); i++) {
        size_t len = strlen(full[i]);

        for (n = 0; n < len; n++) {
            char *copy = malloc(n + 1);
            int64_t t;
            size_t used = 0;
            int rc;

            memcpy(copy, full[i], n);
            copy[n] = '\0';
            rc = logline_parse_time(copy, n, TORTURE_NOW, &t, &used);
            /* the fraction may be cut after one digit, and is still a time */
            if (rc == 0)
                assert_true(used <= n && n > 19);
            free(copy);
        }
    }
}

/* torture_logline_zone - local time in zones with DST agrees with mktime(isdst = -1) */
static void torture_logline_zone(void **state)
{
    static const char *const zones[] = {"Europe/Berlin", "America/New_York", "Australia/Lord_Howe",
                                        "Asia/Kolkata"};
    size_t z;
    int64_t start = 1767225600; /* 2026-01-01 */

    (void)state;
    for (z = 0; z < UTIL_ARRAY_LEN(zones); z++) {
        int64_t t;
        int mismatches = 0;

        setenv("TZ", zones[z], 1);
        tzset();
        for (t = start; t < start + 366 * 86400; t += 900) {
            time_t tt = (time_t)t;
            struct tm tm, tm2;
            char text[32];
            int64_t got;
            size_t used;

            localtime_r(&tt, &tm);
            strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S", &tm);
            assert_int_equal(logline_parse_time(text, strlen(text), t, &got, &used), 0);
            tm2 = tm;
            tm2.tm_isdst = -1;
            if (got != (int64_t)mktime(&tm2)) {
                /* only the repeated hour may differ: then both are correct readings */
                time_t g = (time_t)got;
                struct tm back;

                localtime_r(&g, &back);
                assert_int_equal(back.tm_hour, tm.tm_hour);
                assert_int_equal(back.tm_min, tm.tm_min);
                mismatches++;
            }
            /* and the same wall time in BSD form, read an hour later */
            strftime(text, sizeof(text), "%b %e %H:%M:%S", &tm);
            assert_int_equal(logline_parse_time(text, strlen(text), t + 3600, &got, &used), 0);
            assert_true(got == t || llabs((long long)(got - t)) <= 3600);
        }
        print_message("# zone %s: %d ambiguous readings differ from mktime\n", zones[z],
                      mismatches);
        assert_true(mismatches <= 16);
    }
    setenv("TZ", "UTC", 1);
    tzset();
}

/* A line and how it must split (rc -1: refused). */
struct logline_case {
    const char *line;
    int rc;
    int64_t time;
    const char *tag;
    const char *msg;
};

static const struct logline_case logline_cases[] = {
    {"Nov 28 14:24:53 mail dovecot[123]: pop3-login: Login: user=<a>", 0, 1795875893, "dovecot",
     "pop3-login: Login: user=<a>"},
    {"Nov 28 14:24:53 mail dovecot: imap-login: x", 0, 1795875893, "dovecot", "imap-login: x"},
    {"Nov  8 14:24:53 mail.example.org postfix/smtpd[7]: connect from x[1.2.3.4]", 0, 1794147893,
     "postfix/smtpd", "connect from x[1.2.3.4]"},
    {"Nov 28 14:24:53 mail service/imap[7]: login: h [10.0.0.1] a b User logged in", 0, 1795875893,
     "service/imap", "login: h [10.0.0.1] a b User logged in"},
    {"Nov 28 14:24:53 mail perdition.pop3[7]: Auth: x", 0, 1795875893, "perdition.pop3", "Auth: x"},
    {"Nov 28 14:24:53 mail tag:", 0, 1795875893, "tag", ""},
    {"Nov 28 14:24:53 mail tag: ", 0, 1795875893, "tag", ""},
    {"Nov 28 14:24:53 mail tag:  two", 0, 1795875893, "tag", " two"},
    /* Dovecot's own log file: no host */
    {"Nov 28 14:24:53 pop3-login: Info: Login: user=<alice>, method=PLAIN, rip=10.77.0.50", 0,
     1795875893, "pop3-login", "Info: Login: user=<alice>, method=PLAIN, rip=10.77.0.50"},
    {"Nov 28 14:24:53 dovecot[1]: pop3-login: x", 0, 1795875893, "dovecot", "pop3-login: x"},
    {"2026-11-28 14:24:53 imap-login: Info: Login: user=<a>", 0, 1795875893, "imap-login",
     "Info: Login: user=<a>"},
    {"2026-11-28 14:24:53.123 imap-login: x", 0, 1795875893, "imap-login", "x"},
    /* rsyslog's RFC 3339 file format */
    {"2026-11-28T14:24:53.123456+01:00 mail dovecot[5]: pop3-login: x", 0, 1795872293, "dovecot",
     "pop3-login: x"},
    {"2026-11-28T14:24:53Z mail dovecot: x", 0, 1795875893, "dovecot", "x"},
    /* journalctl -o short-iso: zone without a colon */
    {"2026-11-28T15:24:53+0100 mail dovecot[5]: pop3-login: x", 0, 1795875893, "dovecot",
     "pop3-login: x"},
    {"2026-11-28T15:24:53+01 mail dovecot[5]: pop3-login: x", -1, 0, NULL, NULL},
    /* Dovecot 1.x's own log file: "dovecot: " before the stamp */
    {"dovecot: Nov 28 14:24:53 Info: imap-login: Login: user=<a>", 0, 1795875893, "dovecot",
     "Info: imap-login: Login: user=<a>"},
    {"dovecot: 2026-11-28 14:24:53 Info: pop3-login: x", 0, 1795875893, "dovecot",
     "Info: pop3-login: x"},
    {"dovecot: Nov 28 14:24:53", -1, 0, NULL, NULL},
    {"dovecot: Nov 28 14:24:53 ", -1, 0, NULL, NULL},
    {"dovecot: Nov 28 14:24:53Info: x", -1, 0, NULL, NULL},
    {"dovecot:  Nov 28 14:24:53 Info: x", -1, 0, NULL, NULL},
    {"dovecot Nov 28 14:24:53 Info: x", -1, 0, NULL, NULL},
    {"dovecott: Nov 28 14:24:53 Info: x", -1, 0, NULL, NULL},
    {"dovecot: mail Nov 28 14:24:53 Info: x", -1, 0, NULL, NULL},
    /* RFC 5424 */
    {"<34>1 2026-11-28T14:24:53Z mail dovecot 123 - - pop3-login: Login: x", 0, 1795875893,
     "dovecot", "pop3-login: Login: x"},
    {"<0>1 2026-11-28T14:24:53.5-01:00 h app - ID47 [a@1 b=\"x\\]y\" c=\"\\\"\"][z@2] msg", 0,
     1795879493, "app", "msg"},
    {"<191>1 2026-11-28T14:24:53Z h app 1 2 - \xEF\xBB\xBFmsg", 0, 1795875893, "app", "msg"},
    {"<13>1 2026-11-28T14:24:53Z h app 1 2 -", 0, 1795875893, "app", ""},
    {"<13>1 2026-11-28T14:24:53Z h app 1 2 [x]", 0, 1795875893, "app", ""},
    /* rsyslog's RSYSLOG_SyslogProtocol23Format: "-" PROCID and MSGID, and the space the
     * msg property keeps after "tag:"; only one such space is dropped */
    {"<22>1 2026-11-28T14:24:53.000123+00:00 mail in.qpopper - - -  (v4.0.9) POP", 0, 1795875893,
     "in.qpopper", "(v4.0.9) POP"},
    {"<22>1 2026-11-28T14:24:53+00:00 mail dovecot 812 - -  imap-login: x", 0, 1795875893,
     "dovecot", "imap-login: x"},
    {"<22>1 2026-11-28T14:24:53+00:00 mail dovecot 812 - -   imap-login: x", 0, 1795875893,
     "dovecot", " imap-login: x"},
    {"<22>1 2026-11-28T14:24:53+00:00 mail dovecot 812 - -  ", 0, 1795875893, "dovecot", ""},
    {"<13>1 2026-11-28T14:24:53Z h - 1 2 - msg", -1, 0, NULL, NULL},
    {"<13>1 - h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<192>1 2026-11-28T14:24:53Z h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<1345>1 2026-11-28T14:24:53Z h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<>1 2026-11-28T14:24:53Z h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<13>2 2026-11-28T14:24:53Z h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28 14:24:53 h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<13>1 Nov 28 14:24:53 h app 1 2 - msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h app 1 2 [x msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h app 1 2 [x=\"]\" msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h app 1 2 -msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h app 1  - msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h app 1 2", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h \xe1pp 1 2 - msg", -1, 0, NULL, NULL},
    {"<13>1 2026-11-28T14:24:53Z h app 1 \x7f - msg", -1, 0, NULL, NULL},
    {"<13>Nov 28 14:24:53 h app: msg", -1, 0, NULL, NULL},
    /* no tag, bad tag, bad pid */
    {"Nov 28 14:24:53 mail message without a tag", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail tag:x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail  tag: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53  tag: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail :x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail tag[]: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail tag[12a]: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail tag[12345678901]: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail tag[1]x: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail ta:g: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail tag]: x", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 mail ", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53 ", -1, 0, NULL, NULL},
    {"Nov 28 14:24:53tag: x", -1, 0, NULL, NULL},
    {"Nov 31 14:24:53 mail tag: x", -1, 0, NULL, NULL},
    {"2026-11-28T14:24:53 mail tag: x", -1, 0, NULL, NULL},
    {"mail tag: x", -1, 0, NULL, NULL},
    {"", -1, 0, NULL, NULL},
};

/* torture_logline_lines - the line table */
static void torture_logline_lines(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(logline_cases); i++) {
        const struct logline_case *c = &logline_cases[i];
        struct logline ll;
        int rc = logline_parse(c->line, strlen(c->line), TORTURE_NOW, &ll);

        if (rc != c->rc) {
            print_error("'%s': want rc %d, got %d\n", c->line, c->rc, rc);
            fail();
        }
        if (rc != 0)
            continue;
        assert_int_equal(ll.time, c->time);
        assert_int_equal(ll.taglen, strlen(c->tag));
        assert_memory_equal(ll.tag, c->tag, ll.taglen);
        assert_int_equal(ll.msglen, strlen(c->msg));
        assert_memory_equal(ll.msg, c->msg, ll.msglen);
        assert_true(ll.msg + ll.msglen == c->line + strlen(c->line));
    }
}

/* torture_logline_limits - NUL bytes and lines longer than LOGLINE_MAX are refused */
static void torture_logline_limits(void **state)
{
    static const char head[] = "Nov 28 14:24:53 mail tag: ";
    char *line = malloc(LOGLINE_MAX + 2);
    struct logline ll;

    (void)state;
    memcpy(line, head, sizeof(head) - 1);
    memset(line + sizeof(head) - 1, 'x', LOGLINE_MAX + 1 - (sizeof(head) - 1));
    assert_int_equal(logline_parse(line, LOGLINE_MAX, TORTURE_NOW, &ll), 0);
    assert_int_equal(ll.msglen, LOGLINE_MAX - (sizeof(head) - 1));
    assert_int_equal(logline_parse(line, LOGLINE_MAX + 1, TORTURE_NOW, &ll), -1);
    line[100] = '\0';
    assert_int_equal(logline_parse(line, 200, TORTURE_NOW, &ll), -1);
    line[100] = 'x';
    line[5] = '\0';
    assert_int_equal(logline_parse(line, 200, TORTURE_NOW, &ll), -1);
    free(line);
    assert_int_equal(logline_parse("Nov 28 14:24:53 h t: a\0b", 24, TORTURE_NOW, &ll), -1);
}

/* main - run every test in TZ=UTC */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_logline_times),  cmocka_unit_test(torture_logline_short),
        cmocka_unit_test(torture_logline_zone),   cmocka_unit_test(torture_logline_lines),
        cmocka_unit_test(torture_logline_limits),
    };

    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
