/*
 * torture_patterns - unit tests for popauth/patterns.c: good and bad pattern files (each
 * error names the file and the line), a table of lines matched against one pattern set
 * (first pattern wins, optional groups missing, bad ip, user or time rejected), the
 * match limit (a catastrophic pattern gives no match quickly instead of hanging), and
 * journal_spec_check from popauth/journal.c, whose trusted-field rule is as small.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "popauth/journal.h"
#include "popauth/patterns.h"
#include "shared/util.h"

#define TORTURE_ERRLEN 1024
#define TORTURE_NOW    1800000000 /* 2027-01-15T08:00:00Z */

/* torture_write - write text to a new temporary file; returns its malloc'd path */
static char *torture_write(const char *text)
{
    char *path = xstrdup("/tmp/torture_patterns.XXXXXX");
    int fd = mkstemp(path);
    size_t len = strlen(text);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* test_load_good - comments and blank lines are skipped; every pattern is compiled */
static void test_load_good(void **state)
{
    char err[TORTURE_ERRLEN] = "";
    char *path = torture_write("# custom logins\n"
                               "\n"
                               "   \t\n"
                               "^popd\\[\\d+\\]: login user=(?<user>\\S+) ip=(?<ip>\\S+)$\r\n"
                               "#^ignored (?<ip>\n"
                               "^x (?<ip>\\S+) at (?<time>\\S+)$");
    struct patterns *p = patterns_load(path, err, sizeof(err));

    (void)state;
    assert_non_null(p);
    assert_int_equal(patterns_count(p), 2);
    patterns_free(p);
    patterns_free(NULL);
    assert_int_equal(patterns_count(NULL), 0);
    unlink(path);
    free(path);
}

/* A bad pattern file and what its error must say after "PATH:". */
struct torture_bad {
    const char *text;
    const char *error;
};

static const struct torture_bad torture_bad_table[] = {
    {"^x (?<ip>\\S+\n", ":1: log_patterns: missing closing parenthesis at offset 12"},
    {"# c\n\n^login from (?<ip>\\S+)$\n^no ip here (\\S+)$\n",
     ":4: log_patterns: pattern has no (?<ip>...) group"},
    {"^login (?<addr>\\S+)$",
     ":1: log_patterns: unknown named group (?<addr>...); only ip, user and time are known"},
    {"^login (?<ip>\\S+) (?<usr>\\S+)$",
     ":1: log_patterns: unknown named group (?<usr>...); only ip, user and time are known"},
    {"^(?<ip>\\S+) (?<ip>\\S+)$", ":1: log_patterns: two named subpatterns have the same name"},
    {"(*UTF)^(?<ip>\\S+)$", ":1: log_patterns: using UTF is disabled by the application"},
    {"^(?<ip>\\C+)$", ":1: log_patterns: using \\C is disabled by the application"},
    {"^(?<ip>[)$", ":1: log_patterns: missing terminating ] for character class at offset 10"},
};

/* test_load_bad - each bad file is refused with its path and line in the error */
static void test_load_bad(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(torture_bad_table); i++) {
        char err[TORTURE_ERRLEN] = "", want[TORTURE_ERRLEN];
        char *path = torture_write(torture_bad_table[i].text);

        assert_null(patterns_load(path, err, sizeof(err)));
        snprintf(want, sizeof(want), "%s%s", path, torture_bad_table[i].error);
        if (strncmp(err, want, strlen(want)) != 0)
            fail_msg("case %zu: got '%s', wanted '%s'", i, err, want);
        unlink(path);
        free(path);
    }
}

/* test_load_limits - a missing file, too many patterns, and an over-long pattern */
static void test_load_limits(void **state)
{
    char err[TORTURE_ERRLEN] = "", want[64];
    size_t size = (PATTERNS_MAX + 1) * 32 + 8192, off = 0, i;
    char *text = xmalloc(size);
    struct patterns *p;

    (void)state;
    assert_null(patterns_load("/nonexistent/patterns", err, sizeof(err)));
    assert_string_equal(err, "/nonexistent/patterns: log_patterns: No such file or directory");

    for (i = 0; i < PATTERNS_MAX; i++)
        off += (size_t)snprintf(text + off, size - off, "^p%zu (?<ip>\\S+)$\n", i);
    p = patterns_compile("many", text, off, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(patterns_count(p), PATTERNS_MAX);
    patterns_free(p);
    off += (size_t)snprintf(text + off, size - off, "^one too many (?<ip>\\S+)$\n");
    assert_null(patterns_compile("many", text, off, err, sizeof(err)));
    snprintf(want, sizeof(want), "many:%d: log_patterns: more than %d patterns", PATTERNS_MAX + 1,
             PATTERNS_MAX);
    assert_string_equal(err, want);

    off = (size_t)snprintf(text, size, "^(?<ip>\\S+)");
    memset(text + off, 'x', 5000);
    assert_null(patterns_compile("long", text, off + 5000, err, sizeof(err)));
    assert_true(strncmp(err, "long:1: log_patterns: ", 22) == 0);

    p = patterns_compile("empty", "# nothing\n", 10, err, sizeof(err));
    assert_non_null(p);
    assert_int_equal(patterns_count(p), 0);
    patterns_free(p);
    free(text);
}

/* One line matched against torture_set; time 0 means "expect line_time". */
struct torture_match {
    const char *line;
    int64_t line_time;
    enum formats_verdict verdict;
    const char *ip;
    const char *user;
    int64_t time;
};

/* The set: the first two overlap (the first must win), the third has 7 groups. */
static const char torture_set[] =
    "^popd\\[\\d+\\]: login user=(?<user>[^ ]*) ip=(?<ip>[^ ]+)$\n"
    "^popd\\[\\d+\\]: login .* ip=(?<ip>[^ ]+)$\n"
    "^imapd: (a)(b)(c)(d) ok (?<ip>[0-9.]+)(?: as (?<user>\\S+))?(?: at (?<time>\\S+))?$\n"
    "^bare (?<ip>.*)$\n";

static const struct torture_match torture_match_table[] = {
    /* the first pattern wins over the second */
    {"popd[12]: login user=alice ip=192.0.2.1", 0, FORMATS_LOGIN, "192.0.2.1", "alice", -1},
    {"popd[12]: login user= ip=192.0.2.2", 0, FORMATS_LOGIN, "192.0.2.2", "", -1},
    /* the second one: a user with a space */
    {"popd[12]: login user=a b ip=192.0.2.3", 0, FORMATS_LOGIN, "192.0.2.3", "", -1},
    /* addresses go through addr_parse: canonical form, strictness */
    {"popd[1]: login user=bob ip=2001:DB8::1", 0, FORMATS_LOGIN, "2001:db8::1", "bob", -1},
    {"popd[1]: login user=bob ip=::ffff:192.0.2.9", 0, FORMATS_LOGIN, "192.0.2.9", "bob", -1},
    {"popd[1]: login user=bob ip=192.0.2.010", 0, FORMATS_REJECTED, NULL, NULL, 0},
    {"popd[1]: login user=bob ip=192.0.2.1x", 0, FORMATS_REJECTED, NULL, NULL, 0},
    {"popd[1]: login user=bob ip=[192.0.2.1]", 0, FORMATS_REJECTED, NULL, NULL, 0},
    {"bare ", 0, FORMATS_REJECTED, NULL, NULL, 0},
    /* user: control bytes refused */
    {"popd[1]: login user=b\x01ob ip=192.0.2.4", 0, FORMATS_REJECTED, NULL, NULL, 0},
    {"popd[1]: login user=b\x7fob ip=192.0.2.4", 0, FORMATS_REJECTED, NULL, NULL, 0},
    {"popd[1]: login user=j\xc3\xbcrgen ip=192.0.2.4", 0, FORMATS_LOGIN, "192.0.2.4",
     "j\xc3\xbcrgen", -1},
    /* optional groups: missing user and time; time from the line, else now */
    {"imapd: abcd ok 198.51.100.7", 1700000000, FORMATS_LOGIN, "198.51.100.7", "", 1700000000},
    {"imapd: abcd ok 198.51.100.7", 0, FORMATS_LOGIN, "198.51.100.7", "", TORTURE_NOW},
    {"imapd: abcd ok 198.51.100.7 as carol", 5, FORMATS_LOGIN, "198.51.100.7", "carol", 5},
    {"imapd: abcd ok 198.51.100.7 as carol at 2026-11-28T14:24:53Z", 5, FORMATS_LOGIN,
     "198.51.100.7", "carol", 1795875893},
    {"imapd: abcd ok 198.51.100.7 at 2026-11-28T14:24:53Z", 5, FORMATS_LOGIN, "198.51.100.7", "",
     1795875893},
    {"imapd: abcd ok 198.51.100.7 at yesterday", 5, FORMATS_REJECTED, NULL, NULL, 0},
    {"imapd: abcd ok 198.51.100.7 at 2026-11-28T14:24:53Zjunk", 5, FORMATS_REJECTED, NULL, NULL, 0},
    /* no match: $ is the very end, no dotall, no partial match */
    {"imapd: abcd ok 198.51.100.7\n", 0, FORMATS_NONE, NULL, NULL, 0},
    {"xpopd[1]: login user=bob ip=192.0.2.1", 0, FORMATS_NONE, NULL, NULL, 0},
    {"popd[]: login user=bob ip=192.0.2.1", 0, FORMATS_NONE, NULL, NULL, 0},
    {"", 0, FORMATS_NONE, NULL, NULL, 0},
};

/* test_match - the table, against torture_set */
static void test_match(void **state)
{
    char err[TORTURE_ERRLEN] = "", ip[ADDR_STRLEN];
    struct patterns *p =
        patterns_compile("set", torture_set, strlen(torture_set), err, sizeof(err));
    size_t i;

    (void)state;
    assert_non_null(p);
    assert_int_equal(patterns_count(p), 4);
    for (i = 0; i < UTIL_ARRAY_LEN(torture_match_table); i++) {
        const struct torture_match *m = &torture_match_table[i];
        struct login out;
        enum formats_verdict v;

        memset(&out, 0xa5, sizeof(out));
        v = patterns_match(p, m->line, strlen(m->line), m->line_time, TORTURE_NOW, &out);
        if (v != m->verdict)
            fail_msg("case %zu '%s': verdict %d, wanted %d", i, m->line, v, m->verdict);
        if (v != FORMATS_LOGIN)
            continue;
        assert_string_equal(addr_format(&out.client, ip, sizeof(ip)), m->ip);
        assert_string_equal(out.user, m->user);
        assert_string_equal(out.source, "custom");
        assert_int_equal(out.time, m->time == -1 ? TORTURE_NOW : m->time);
    }
    /* a line with a NUL inside: the pattern sees every byte */
    {
        static const char nul[] = "popd[1]: login user=a\0b ip=192.0.2.5";
        struct login out;
        assert_int_equal(patterns_match(p, nul, sizeof(nul) - 1, 0, TORTURE_NOW, &out),
                         FORMATS_REJECTED);
    }
    patterns_free(p);
}

/* test_user_length - a user group of STORE_USER_MAX - 1 bytes passes, one more is refused */
static void test_user_length(void **state)
{
    static const char pat[] = "^u=(?<user>\\w+) ip=(?<ip>\\S+)$";
    char err[TORTURE_ERRLEN] = "", line[STORE_USER_MAX + 64];
    struct patterns *p = patterns_compile("user", pat, strlen(pat), err, sizeof(err));
    struct login out;
    int n;

    (void)state;
    assert_non_null(p);
    memcpy(line, "u=", 2);
    memset(line + 2, 'u', STORE_USER_MAX - 1);
    n = snprintf(line + 2 + STORE_USER_MAX - 1, 32, " ip=192.0.2.1") + 2 + STORE_USER_MAX - 1;
    assert_int_equal(patterns_match(p, line, (size_t)n, 0, TORTURE_NOW, &out), FORMATS_LOGIN);
    assert_int_equal(strlen(out.user), STORE_USER_MAX - 1);
    memcpy(line, "u=u", 3);
    memset(line + 3, 'u', STORE_USER_MAX - 1);
    n = snprintf(line + 2 + STORE_USER_MAX, 32, " ip=192.0.2.1") + 2 + STORE_USER_MAX;
    assert_int_equal(patterns_match(p, line, (size_t)n, 0, TORTURE_NOW, &out), FORMATS_REJECTED);
    patterns_free(p);
}

/* test_match_limit - catastrophic backtracking ends at the limit with no match */
static void test_match_limit(void **state)
{
    static const char pats[] = "^(a+)+$(?<ip>x)?\n"
                               "^(?:(a|aa)+)+c(?<ip>\\S+)\n"
                               "(?<ip>(?:a*)*b)c\n"
                               "^aaaa(?<ip>\\S+)$\n";
    char err[TORTURE_ERRLEN] = "", line[LOGLINE_MAX];
    struct patterns *p = patterns_compile("limit", pats, strlen(pats), err, sizeof(err));
    struct login out;
    double t0;
    size_t n;

    (void)state;
    assert_non_null(p);
    for (n = 30; n <= sizeof(line); n = n < 1000 ? n + 97 : n * 2) {
        memset(line, 'a', n - 1);
        line[n - 1] = 'b';
        t0 = util_now();
        /* the last pattern matches, but its ip "aa...b" is not an address */
        assert_int_equal(patterns_match(p, line, n, 0, TORTURE_NOW, &out), FORMATS_REJECTED);
        if (util_now() - t0 > 2.0)
            fail_msg("a line of %zu bytes took %.1f s", n, util_now() - t0);
    }
    patterns_free(p);
    /* and with only the catastrophic one, plainly no match */
    p = patterns_compile("limit", pats, strlen("^(a+)+$(?<ip>x)?\n"), err, sizeof(err));
    assert_non_null(p);
    memset(line, 'a', 4999);
    line[4999] = 'b';
    t0 = util_now();
    assert_int_equal(patterns_match(p, line, 5000, 0, TORTURE_NOW, &out), FORMATS_NONE);
    assert_true(util_now() - t0 < 2.0);
    patterns_free(p);
}

/* One spec for journal_spec_check: NULL error means accepted. */
struct torture_spec {
    const char *spec;
    const char *error; /* a part of the expected message */
};

static const struct torture_spec torture_spec_table[] = {
    {"_SYSTEMD_UNIT=dovecot.service", NULL},
    {"_SYSTEMD_UNIT=dovecot@imap-login.service", NULL},
    {"_COMM=dovecot", NULL},
    {"_EXE=/usr/sbin/dovecot", NULL},
    {"_UID=0", NULL},
    {"_GID=8", NULL},
    {"_PID=1234", NULL},
    {"_SYSTEMD_SLICE=system.slice", NULL},
    {"_TRANSPORT=syslog", NULL},
    {"SYSLOG_IDENTIFIER=dovecot", "SYSLOG_IDENTIFIER is not a trusted field"},
    {"MESSAGE=login", "MESSAGE is not a trusted field"},
    {"_systemd_unit=dovecot.service", "_systemd_unit is not a trusted field"},
    {"_SYSTEMD_UNITS=dovecot.service", "is not a trusted field"},
    {"_SYSTEMD_USER_UNIT=dovecot.service", "is not a trusted field"},
    {"_SYSTEMD_UNIT", "want journal:FIELD=VALUE"},
    {"_SYSTEMD_UNIT=", "want journal:FIELD=VALUE"},
    {"=dovecot.service", "want journal:FIELD=VALUE"},
    {"", "want journal:FIELD=VALUE"},
    {"_UID=root", "bad value for _UID"},
    {"_PID=-1", "bad value for _PID"},
    {"_SYSTEMD_UNIT=dove cot.service", "bad value for _SYSTEMD_UNIT"},
    {"_SYSTEMD_UNIT=dovecot\x01", "bad value for _SYSTEMD_UNIT"},
    {"_COMM="
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "xxxxxxxxxxxxxxxxxxxx",
     "longer than 200 bytes"},
};

/* test_journal_spec - trusted fields only, FIELD=VALUE shape, sane values */
static void test_journal_spec(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(torture_spec_table); i++) {
        const struct torture_spec *s = &torture_spec_table[i];
        char err[TORTURE_ERRLEN] = "";
        int r = journal_spec_check(s->spec, err, sizeof(err));

        if (s->error == NULL && r != 0)
            fail_msg("case %zu '%s' refused: %s", i, s->spec, err);
        if (s->error != NULL && (r != -1 || strstr(err, s->error) == NULL))
            fail_msg("case %zu '%s': got %d '%s', wanted '%s'", i, s->spec, r, err, s->error);
    }
}

/* main - run the patterns and journal spec tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_good),    cmocka_unit_test(test_load_bad),
        cmocka_unit_test(test_load_limits),  cmocka_unit_test(test_match),
        cmocka_unit_test(test_user_length),  cmocka_unit_test(test_match_limit),
        cmocka_unit_test(test_journal_spec),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
