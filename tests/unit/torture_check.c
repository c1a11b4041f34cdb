/*
 * torture_check - unit tests of the configuration checks that popauth -t, smtpgate -t,
 * popauthctl config --check and the daemons' start-up share: check_run_user,
 * popauth_start_check and smtpgate_start_check. Table-driven: each case is a set of
 * settings (applied as -o would apply them, over a base that is fine) and the problem
 * lines it must produce, by the text each must hold; a fine config produces none. The
 * checks must open nothing: no store, no socket is left behind. Each run works in its own
 * temporary directory ("@" in a setting stands for it). A reload's run skips the checks of
 * what the reloading daemon applies only at a restart; a word setting (an enum) never
 * reaches the checks with a bad value, since the config refuses it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "popauth/popauth_start.h"
#include "shared/check.h"
#include "shared/config.h"
#include "shared/log.h"
#include "shared/util.h"
#include "smtpgate/smtpgate_start.h"

#define T_MAX_SETTINGS 4
#define T_MAX_PROBLEMS 4

/* The problem lines of the run under way, one after another. */
static char t_problems[T_MAX_PROBLEMS * CHECK_LINE_MAX];
static unsigned t_nproblems;

/* t_report - a check report_cb that keeps the problems in t_problems */
static void t_report(const char *prog, const char *problem)
{
    size_t n = strlen(t_problems);

    assert_string_equal(prog, "torture");
    snprintf(t_problems + n, sizeof(t_problems) - n, "%s\n", problem);
    t_nproblems++;
}

/* t_dir - the temporary directory of this run, with the files the cases name */
static char t_dir[64];

/* t_write - write text to the file name inside t_dir */
static void t_write(const char *name, const void *text, size_t len)
{
    char path[128];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", t_dir, name);
    assert_non_null(fp = fopen(path, "w"));
    assert_int_equal(fwrite(text, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

/* t_setup - the temporary directory: a plain file, a bad pattern file and an empty
 * capture file (a classic pcap header, Ethernet) */
static int t_setup(void **state)
{
    static const unsigned char pcap[24] = {0xd4, 0xc3, 0xb2, 0xa1, 2,    0,    4, 0, 0, 0, 0, 0,
                                           0,    0,    0,    0,    0xff, 0xff, 0, 0, 1, 0, 0, 0};

    (void)state;
    snprintf(t_dir, sizeof(t_dir), "/tmp/torture_check.XXXXXX");
    assert_non_null(mkdtemp(t_dir));
    t_write("plain", "x\n", 2);
    t_write("bad.patterns", "# one bad pattern\nfoo(\n", 23);
    t_write("good.patterns", "^dovecot: login ip=(?<ip>\\S+)$\n", 31);
    t_write("empty.pcap", pcap, sizeof(pcap));
    return 0;
}

/* t_teardown - remove the directory and what the cases left in it */
static int t_teardown(void **state)
{
    static const char *const names[] = {"plain",      "bad.patterns", "good.patterns",
                                        "empty.pcap", "auth.db",      "policy.sock"};
    char path[128];
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(names); i++) {
        snprintf(path, sizeof(path), "%s/%s", t_dir, names[i]);
        unlink(path);
    }
    assert_int_equal(rmdir(t_dir), 0); /* nothing else was created */
    return 0;
}

/* t_config - the base config (a store in t_dir, stdin as the source, the default policy
 * listener) with settings applied; "@" in a setting is t_dir */
static struct config *t_config(const char *const *settings)
{
    char err[512], text[512], *at;
    struct config *cfg = config_new();
    size_t i;

    snprintf(text, sizeof(text), "database=%s/auth.db", t_dir);
    assert_int_equal(config_set(cfg, text, err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "log_sources=stdin", err, sizeof(err)), 0);
    for (i = 0; i < T_MAX_SETTINGS && settings[i] != NULL; i++) {
        util_strlcpy(text, settings[i], sizeof(text));
        if ((at = strchr(text, '@')) != NULL)
            snprintf(at, sizeof(text) - (size_t)(at - text), "%s%s", t_dir,
                     strchr(settings[i], '@') + 1);
        if (config_set(cfg, text, err, sizeof(err)) != 0)
            fail_msg("config_set %s: %s", text, err);
    }
    return cfg;
}

/* t_run - every check on cfg, as popauthctl config --check runs them */
static void t_run(const struct config *cfg)
{
    struct check chk;

    t_problems[0] = '\0';
    t_nproblems = 0;
    check_init(&chk, t_report, "torture");
    check_run_user(&chk, cfg);
    popauth_start_check(cfg, &chk, NULL, NULL);
    smtpgate_start_check(cfg, &chk);
    assert_int_equal(chk.problems, t_nproblems);
}

/* test_cases - each case's problems, in order, and nothing else */
static void test_cases(void **state)
{
    static const struct {
        const char *settings[T_MAX_SETTINGS + 1];
        const char *problems[T_MAX_PROBLEMS + 1]; /* a text each line must hold */
    } cases[] = {
        {{NULL}, {NULL}},
        {{"run_user=root"}, {"run_user: 'root' is root"}},
        {{"run_user=no-such-user-x"}, {"run_user: unknown user 'no-such-user-x'"}},
        {{"run_user=root", "log_formats=dovecot, nonesuch"},
         {"run_user: 'root' is root", "log_formats: unknown format 'nonesuch'"}},
        {{"log_patterns=@/good.patterns"}, {NULL}},
        {{"log_patterns=@/bad.patterns"}, {"bad.patterns:2: log_patterns: "}},
        {{"log_patterns=@/missing"}, {"missing: log_patterns: No such file"}},
        {{"database=@/no/auth.db"}, {"database "}},
        {{"database=@/no/auth.db", "dry_run=yes"}, {NULL}},
        {{"database=mysql:x"}, {"unknown store type 'mysql'"}},
        {{"log_sources="}, {"no source configured"}},
        {{"log_sources=file:relative"}, {"log_sources: bad source 'file:relative'"}},
        {{"log_sources=file:/var/log/a, stdin, file:/var/log/a"},
         {"log_sources: 'file:/var/log/a' is listed twice"}},
        {{"log_sources=journal:MESSAGE=x"}, {"log_sources: journal:MESSAGE=x: MESSAGE is not"}},
        {{"log_sources=journal:_SYSTEMD_UNIT=dovecot.service", "journal_directory=@/none"},
         {"cannot open the journal in "}},
        {{"sniff_interfaces=no-such-if0"}, {"sniff_interfaces: no-such-if0: no such interface"}},
        {{"sniff_interfaces=lo, any, lo"}, {"sniff_interfaces: 'lo' is listed twice"}},
        {{"sniff_interfaces=lo", "sniff_ports=pop3:110, smtp:25"},
         {"sniff_ports: bad entry 'smtp:25'"}},
        {{"sniff_file=@/missing.pcap", "sniff_servers=192.0.2.25"}, {"sniff_file: cannot read "}},
        {{"sniff_file=@/plain", "sniff_servers=192.0.2.25"}, {"sniff_file: cannot read "}},
        {{"sniff_file=@/empty.pcap"}, {"sniff_servers: empty; a capture file"}},
        {{"sniff_file=@/empty.pcap", "sniff_servers=192.0.2.25", "log_sources="}, {NULL}},
        {{"policy_listen="}, {"policy_listen, milter_listen, proxy_listen: at least one"}},
        {{"policy_listen=", "milter_listen=inet:127.0.0.1:10041"},
         {"milter_listen: the milter front refuses every recipient"}},
        {{"policy_listen=", "milter_listen=inet:127.0.0.1:10041", "local_domains=example.net"},
         {NULL}},
        {{"milter_listen=inet:127.0.0.1:10041, inet:127.0.0:1", "local_domains=example.net"},
         {"milter_listen inet:127.0.0:1: '127.0.0'"}},
        {{"policy_listen=inet:192.0.2:10040"}, {"policy_listen inet:192.0.2:10040: '192.0.2'"}},
        {{"policy_listen=inet:127.0.0.1:10040, unix:@/policy.sock:mode=0660"}, {NULL}},
        {{"policy_listen=unix:@/no/policy.sock"}, {"no directory "}},
        {{"policy_listen=unix:@/policy.sock:owner=no-such-user-x"},
         {"unknown user 'no-such-user-x'"}},
        {{"policy_listen=unix:@/policy.sock:mode=999"}, {"bad mode '999'"}},
        {{"policy_listen=unix:@/plain"}, {"exists and is not a socket"}},
        {{"policy_reject_action=x", "policy_defer_action= "}, {"policy_defer_action: must be"}},
        {{"proxy_listen=inet:127.0.0.1:2525"}, {"proxy_backend: must be set"}},
        {{"proxy_listen=inet:127.0.0.1:2525", "proxy_backend=inet:127.0.0.1:25"},
         {"local_domains: must be set when proxy_listen is"}},
        {{"proxy_listen=inet:127.0.0.1:2525", "proxy_backend=inet:127.0.0.1:25",
          "local_domains=example.net"},
         {NULL}},
        {{"policy_reject_action=REJECT 5.7.1 No"},
         {"policy_reject_action: 'REJECT 5.7.1 No' refuses by itself, but local_domains is empty"}},
        {{"policy_reject_action=REJECT", "local_domains=example.net"}, {NULL}},
        {{"policy_defer_action=DEFER_IF_PERMIT 4.3.0 x"},
         {"policy_defer_action: 'DEFER_IF_PERMIT 4.3.0 x' refuses by itself"}},
        {{"policy_reject_action=OK", "local_domains=example.net"},
         {"policy_reject_action: 'OK' is not a refusal"}},
        {{"policy_reject_action=ok", "policy_listen="},
         {"policy_listen, milter_listen, proxy_listen: at least"}},
        {{"proxy_listen=inet:127.0.0.1:2525", "proxy_backend=inet:127.0.0.1:none"},
         {"proxy_backend inet:127.0.0.1:none: bad port"}},
        {{"proxy_listen=inet:127.0.0.1:2525, inet:[::1]:x", "proxy_backend=unix:@/b.sock",
          "local_domains=example.net"},
         {"proxy_listen inet:[::1]:x: bad port"}},
        {{"proxy_listen=unix:@/p.sock", "proxy_backend=unix:@/b.sock"},
         {"proxy_listen: bad entry"}},
        {{"metrics_listen=popauth=inet:127.0.0.1:9101, smtpgate=unix:@/m.sock:mode=0660"}, {NULL}},
        {{"metrics_listen=exim=inet:127.0.0.1:9101"},
         {"metrics_listen: unknown program 'exim' in",
          "metrics_listen: unknown program 'exim' in"}},
        {{"metrics_listen=smtpgate=inet:127.0.0.1:9101, smtpgate=inet:127.0.0.1:9102"},
         {"metrics_listen: smtpgate is listed twice", "metrics_listen: smtpgate is listed twice"}},
        {{"metrics_listen=popauth=inet:127.0.0.1:x"},
         {"metrics_listen inet:127.0.0.1:x: bad port 'x'"}},
        {{"metrics_listen=smtpgate=unix:@/no/m.sock"}, {"/no/m.sock: no directory "}},
        {{"proxy_client_identity=HAProxy", "proxy_listen=inet:127.0.0.1:2525",
          "proxy_backend=inet:127.0.0.1:25", "local_domains=example.net"},
         {NULL}},
    };
    struct config *cfg;
    struct stat sb;
    char path[128];
    size_t i, j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        const char *line = t_problems;

        cfg = t_config(cases[i].settings);
        t_run(cfg);
        config_free(cfg);
        for (j = 0; cases[i].problems[j] != NULL; j++) {
            const char *end = strchr(line, '\n');
            if (end == NULL || memmem(line, (size_t)(end - line), cases[i].problems[j],
                                      strlen(cases[i].problems[j])) == NULL)
                fail_msg("case %zu: problem %zu should hold \"%s\"; got:\n%s", i, j,
                         cases[i].problems[j], t_problems);
            line = end + 1;
        }
        if (*line != '\0')
            fail_msg("case %zu: unexpected problems:\n%s", i, line);
    }
    snprintf(path, sizeof(path), "%s/auth.db", t_dir);
    assert_int_equal(stat(path, &sb), -1); /* the store was not created */
    snprintf(path, sizeof(path), "%s/policy.sock", t_dir);
    assert_int_equal(stat(path, &sb), -1); /* nor a socket */
}

/* test_keep_sources - with somewhere to put them, the sources are created and kept, in
 * the order of the settings, for popauth to run */
static void test_keep_sources(void **state)
{
    static const char *const settings[] = {"log_sources=stdin, file:/var/log/mail.log",
                                           "sniff_file=@/empty.pcap", "sniff_servers=192.0.2.25",
                                           NULL};
    struct source *sources[POPAUTH_MAX_SOURCES];
    struct config *cfg = t_config(settings);
    struct check chk;
    size_t n = 0, i;

    (void)state;
    t_problems[0] = '\0';
    t_nproblems = 0;
    check_init(&chk, t_report, "torture");
    popauth_start_check(cfg, &chk, sources, &n);
    assert_int_equal(chk.problems, 0);
    assert_int_equal(n, 3);
    assert_string_equal(sources[0]->name, "stdin");
    assert_string_equal(sources[1]->name, "file:/var/log/mail.log");
    assert_non_null(strstr(sources[2]->name, "empty.pcap"));
    for (i = 0; i < n; i++)
        sources[i]->ops->stop(sources[i], NULL);
    config_free(cfg);
}

/* test_reload_skips - a reload's run leaves out run_user, which both daemons apply only
 * at a restart, and still checks the rest; a start-up run checks run_user */
static void test_reload_skips(void **state)
{
    static const char *const settings[] = {"run_user=root", "policy_listen=inet:192.0.2:10040",
                                           NULL};
    static const unsigned programs[] = {PARAM_POPAUTH, PARAM_SMTPGATE};
    struct config *cfg = t_config(settings);
    struct check chk;
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(programs); i++) {
        t_problems[0] = '\0';
        t_nproblems = 0;
        check_init_reload(&chk, t_report, "torture", programs[i]);
        check_run_user(&chk, cfg);
        smtpgate_start_check(cfg, &chk);
        assert_int_equal(chk.problems, 1);
        assert_non_null(strstr(t_problems, "policy_listen inet:192.0.2:10040: '192.0.2'"));
    }
    t_run(cfg);
    assert_int_equal(t_nproblems, 2);
    assert_non_null(strstr(t_problems, "run_user: 'root' is root"));
    config_free(cfg);
}

/* test_enum_refused - a bad proxy_client_identity is the config's error, which names the
 * setting and the words, before any check runs */
static void test_enum_refused(void **state)
{
    struct config *cfg = config_new();
    char err[512];

    (void)state;
    assert_int_equal(config_set(cfg, "proxy_client_identity=maybe", err, sizeof(err)), -1);
    assert_string_equal(err, "-o proxy_client_identity: 'maybe' is not xclient, haproxy or none");
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_cases, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_keep_sources, t_setup, t_teardown),
        cmocka_unit_test_setup_teardown(test_reload_skips, t_setup, t_teardown),
        cmocka_unit_test(test_enum_refused),
    };

    log_open("torture_check", 1, LOG_LEVEL_WARN); /* not the sources' info lines */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
