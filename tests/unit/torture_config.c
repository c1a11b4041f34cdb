/*
 * torture_config - unit tests for the configuration module: good and bad files (each
 * written to a temporary file and read through config_build, so errors carry a real
 * path), -o overrides, config_print, durations and their bounds, the typed parsers, the
 * enum parameters and the restart column of the table.
 *
 * Like libssh's torture tests, this file includes config.c itself so that it can reach
 * the static parsers for the types no table entry uses yet (PARAM_BOOL, PARAM_INT,
 * PARAM_LIST). It defines every symbol config.o exports, so the linker never pulls
 * config.o from the library and there is exactly one copy of each.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "shared/config.c"

#define TORTURE_ERRLEN 1024

/* Indexes into config_params, checked against the names in test_table_layout. */
enum { T_DATABASE, T_GRANT, T_LOCAL_NETS, T_LOCAL_DOMAINS, T_NEVER };

/* torture_write - write len bytes to a new temporary file; returns its malloc'd path */
static char *torture_write(const char *text, size_t len)
{
    char *path = xstrdup("/tmp/torture_config.XXXXXX");
    int fd = mkstemp(path);
    size_t off = 0;

    assert_true(fd >= 0);
    while (off < len) {
        ssize_t n = write(fd, text + off, len - off);
        assert_true(n > 0);
        off += (size_t)n;
    }
    assert_int_equal(close(fd), 0);
    return path;
}

/* torture_remove - unlink and free a path made by torture_write */
static void torture_remove(char *path)
{
    unlink(path);
    free(path);
}

/* torture_join - the items of a strlist joined by commas, in a static buffer */
static const char *torture_join(const struct strlist *l)
{
    static char buf[4096];
    size_t i;

    buf[0] = '\0';
    for (i = 0; i < l->count; i++) {
        if (i > 0)
            strcat(buf, ",");
        strcat(buf, l->items[i]);
    }
    return buf;
}

/* torture_print - config_print into a malloc'd string */
static char *torture_print(const struct config *cfg, int only_explicit)
{
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    assert_non_null(fp);
    config_print(cfg, fp, only_explicit);
    assert_int_equal(fclose(fp), 0);
    return out;
}

/* torture_match - 1 if the address text lies in list */
static int torture_match(const struct cidr_list *list, const char *text)
{
    struct addr a;
    char err[256];

    assert_int_equal(addr_parse(text, strlen(text), &a, err, sizeof(err)), 0);
    return cidr_list_match(list, &a);
}

/* torture_lines - number of lines in text */
static size_t torture_lines(const char *text)
{
    size_t n = 0;

    for (; *text; text++)
        n += *text == '\n';
    return n;
}

/* torture_prefix - assert that text starts with prefix */
static void torture_prefix(const char *text, const char *prefix)
{
    if (strncmp(text, prefix, strlen(prefix)) != 0)
        fail_msg("output:\n%s\ndoes not start with:\n%s", text, prefix);
}

/* test_table_layout - the table starts with the five foundation names in order */
static void test_table_layout(void **state)
{
    (void)state;
    assert_true(config_nparams >= 5);
    assert_string_equal(config_params[T_DATABASE].name, "database");
    assert_string_equal(config_params[T_GRANT].name, "grant_lifetime");
    assert_string_equal(config_params[T_LOCAL_NETS].name, "local_networks");
    assert_string_equal(config_params[T_LOCAL_DOMAINS].name, "local_domains");
    assert_string_equal(config_params[T_NEVER].name, "never_grant");
}

/* test_defaults - config_new holds every default and nothing is marked explicit */
static void test_defaults(void **state)
{
    struct config *cfg = config_new();
    size_t i;

    (void)state;
    assert_string_equal(cfg->database, "/var/lib/popauth/auth.db");
    assert_int_equal(cfg->grant_lifetime, 1800);
    assert_int_equal(cidr_list_count(cfg->local_networks), 2);
    assert_true(torture_match(cfg->local_networks, "127.0.0.1"));
    assert_true(torture_match(cfg->local_networks, "::1"));
    assert_false(torture_match(cfg->local_networks, "192.0.2.1"));
    assert_int_equal(cfg->local_domains.count, 0);
    assert_non_null(cfg->never_grant);
    assert_int_equal(cidr_list_count(cfg->never_grant), 0);
    assert_false(torture_match(cfg->never_grant, "192.0.2.1"));
    for (i = 0; i < config_nparams; i++) {
        assert_string_equal(cfg->values[i], config_params[i].defval);
        assert_int_equal(cfg->explicit_set[i], 0);
    }
    config_free(cfg);
    config_free(NULL);
}

/* One good file and what it must produce. NULL/-1 fields mean "the default". */
struct good_case {
    const char *label;
    const char *text;
    const char *database;
    int64_t grant;
    const char *domains;
    int nlocal, nnever;
    uint64_t explicit_mask; /* bit i: config_params[i] set explicitly */
    const char *domains_value;
};

static const struct good_case good_cases[] = {
    {"empty file", "", NULL, -1, "", -1, -1, 0, NULL},
    {"only comments and blanks", "# a comment\n\n   # indented comment\n\t\n  \n", NULL, -1, "", -1,
     -1, 0, NULL},
    {"plain assignment", "grant_lifetime = 1h\n", NULL, 3600, "", -1, -1, 1u << T_GRANT, NULL},
    {"no spaces around =", "grant_lifetime=2h\n", NULL, 7200, "", -1, -1, 1u << T_GRANT, NULL},
    {"tabs around =", "grant_lifetime\t=\t90\n", NULL, 90, "", -1, -1, 1u << T_GRANT, NULL},
    {"no final newline", "grant_lifetime = 45s", NULL, 45, "", -1, -1, 1u << T_GRANT, NULL},
    {"CRLF lines", "grant_lifetime = 1d\r\ndatabase = /x.db\r\n", "/x.db", 86400, "", -1, -1,
     (1u << T_GRANT) | (1u << T_DATABASE), NULL},
    {"hash inside a value", "database = /var/db/a#b # not a comment\n",
     "/var/db/a#b # not a comment", -1, "", -1, -1, 1u << T_DATABASE, NULL},
    {"string trimmed", "database =   sqlite:/tmp/x.db  \t \n", "sqlite:/tmp/x.db", -1, "", -1, -1,
     1u << T_DATABASE, NULL},
    {"empty string", "database =\n", "", -1, "", -1, -1, 1u << T_DATABASE, NULL},
    {"last assignment wins", "grant_lifetime = 1h\ndatabase = /a\ngrant_lifetime = 2h\n", "/a",
     7200, "", -1, -1, (1u << T_GRANT) | (1u << T_DATABASE), NULL},
    {"continuation lines", "local_domains = example.com,\n  example.org\n\texample.net\n", NULL, -1,
     "example.com,example.org,example.net", -1, -1, 1u << T_LOCAL_DOMAINS,
     "example.com, example.org example.net"},
    {"continuation across comment and blank", "local_domains = a.example\n# c\n\n  b.example\n",
     NULL, -1, "a.example,b.example", -1, -1, 1u << T_LOCAL_DOMAINS, "a.example b.example"},
    {"continuation of an empty value", "local_domains =\n    a.example\n", NULL, -1, "a.example",
     -1, -1, 1u << T_LOCAL_DOMAINS, "a.example"},
    {"continuation of a duration", "grant_lifetime =\n 10m\n", NULL, 600, "", -1, -1, 1u << T_GRANT,
     NULL},
    {"commas and spaces", "local_domains = ,, a.example ,,b.example,\n", NULL, -1,
     "a.example,b.example", -1, -1, 1u << T_LOCAL_DOMAINS, ",, a.example ,,b.example,"},
    {"domains normalised",
     "local_domains = Example.COM. .Sub.Example.org [192.0.2.1] [IPv6:2001:DB8::1] "
     "[2001:db8:0::2] [::ffff:192.0.2.9] xn--bcher-kva.example 3com.example\n",
     NULL, -1,
     "example.com,.sub.example.org,[192.0.2.1],[2001:db8::1],[2001:db8::2],[192.0.2.9],"
     "xn--bcher-kva.example,3com.example",
     -1, -1, 1u << T_LOCAL_DOMAINS, NULL},
    {"networks", "never_grant = 192.0.2.0/24, 2001:db8::/32 10.0.0.1\nlocal_networks =\n", NULL, -1,
     "", 0, 3, (1u << T_NEVER) | (1u << T_LOCAL_NETS), NULL},
    {"every setting",
     "database = sqlite:/srv/a.db\ngrant_lifetime = 90\nlocal_networks = 10.0.0.0/8\n"
     "local_domains = example.com\nnever_grant = 10.9.9.9\n",
     "sqlite:/srv/a.db", 90, "example.com", 1, 1, 0x1f, "example.com"},
};

/* test_good_files - each good file loads and sets exactly what it says */
static void test_good_files(void **state)
{
    size_t i, j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(good_cases); i++) {
        const struct good_case *c = &good_cases[i];
        char err[TORTURE_ERRLEN] = "";
        char *path = torture_write(c->text, strlen(c->text));
        struct config *cfg = config_build(path, 1, NULL, 0, err, sizeof(err));

        print_message("good: %s\n", c->label);
        if (cfg == NULL)
            fail_msg("%s: %s", c->label, err);
        assert_string_equal(cfg->database, c->database ? c->database : "/var/lib/popauth/auth.db");
        assert_int_equal(cfg->grant_lifetime, c->grant >= 0 ? c->grant : 1800);
        assert_string_equal(torture_join(&cfg->local_domains), c->domains);
        assert_int_equal(cidr_list_count(cfg->local_networks), c->nlocal >= 0 ? c->nlocal : 2);
        assert_int_equal(cidr_list_count(cfg->never_grant), c->nnever >= 0 ? c->nnever : 0);
        for (j = 0; j < config_nparams; j++)
            assert_int_equal(cfg->explicit_set[j], j < 64 ? (c->explicit_mask >> j) & 1 : 0);
        if (c->domains_value != NULL)
            assert_string_equal(cfg->values[T_LOCAL_DOMAINS], c->domains_value);
        config_free(cfg);
        torture_remove(path);
    }
}

/* test_networks_match - a networks setting really matches what it lists */
static void test_networks_match(void **state)
{
    static const char text[] = "never_grant = 192.0.2.0/24, 2001:db8::/32\n  10.0.0.1\n";
    char err[TORTURE_ERRLEN];
    struct config *cfg = config_new();

    (void)state;
    assert_int_equal(config_load_text(cfg, "t", text, strlen(text), err, sizeof(err)), 0);
    assert_true(torture_match(cfg->never_grant, "192.0.2.200"));
    assert_true(torture_match(cfg->never_grant, "2001:db8:1::5"));
    assert_true(torture_match(cfg->never_grant, "10.0.0.1"));
    assert_false(torture_match(cfg->never_grant, "10.0.0.2"));
    assert_false(torture_match(cfg->never_grant, "198.51.100.1"));
    assert_string_equal(cfg->values[T_NEVER], "192.0.2.0/24, 2001:db8::/32 10.0.0.1");
    config_free(cfg);
}

/* test_domain_limits - 63-character labels and 253-character names are the limits */
static void test_domain_limits(void **state)
{
    char label63[64], name253[254], text[1024], err[TORTURE_ERRLEN];
    struct config *cfg;

    (void)state;
    memset(label63, 'a', 63);
    label63[63] = '\0';
    /* 4 labels of 61 + 3 dots = 247, then ".ab.cd" = 253 */
    memset(name253, 'b', sizeof(name253));
    name253[61] = name253[123] = name253[185] = name253[247] = name253[250] = '.';
    name253[253] = '\0';
    assert_int_equal(strlen(name253), 253);
    snprintf(text, sizeof(text), "local_domains = %s.example .%s %s.\n", label63, name253, name253);
    cfg = config_new();
    if (config_load_text(cfg, "t", text, strlen(text), err, sizeof(err)) < 0)
        fail_msg("%s", err);
    assert_int_equal(cfg->local_domains.count, 3);
    assert_int_equal(strlen(cfg->local_domains.items[1]), 254);
    assert_string_equal(cfg->local_domains.items[2], name253);
    config_free(cfg);
}

/* One bad file: the line and the name the error must carry, and the rest of the message. */
struct bad_case {
    const char *text;
    size_t len; /* 0: strlen(text) */
    int line;
    const char *name;   /* NULL: the message has no name */
    const char *expect; /* the message after "PATH:LINE: " (and "NAME: ") */
};

static const struct bad_case bad_cases[] = {
    {"grant_lifetime = abc\n", 0, 1, "grant_lifetime",
     "bad duration 'abc' (a number with optional s, m, h or d)"},
    {"# c\n\ngrant_lifetime = 5x\n", 0, 3, "grant_lifetime",
     "bad duration '5x' (a number with optional s, m, h or d)"},
    {"grant_lifetime = 0\n", 0, 1, "grant_lifetime", "bad duration '0' (must be more than zero)"},
    {"grant_lifetime = -5\n", 0, 1, "grant_lifetime",
     "bad duration '-5' (a number with optional s, m, h or d)"},
    {"grant_lifetime = 367d\n", 0, 1, "grant_lifetime",
     "duration '367d' out of range (1s to 366d)"},
    {"grant_lifetime = 99999999999999999999\n", 0, 1, "grant_lifetime",
     "bad duration '99999999999999999999' (too large)"},
    {"grant_lifetime =\n", 0, 1, "grant_lifetime",
     "bad duration '' (a number with optional s, m, h or d)"},
    {"grant_lifetime = 1h\ngrant_lifetim = 2h\n", 0, 2, NULL, "unknown setting 'grant_lifetim'"},
    {"# c\njunk\n", 0, 2, NULL, "expected 'name = value'"},
    {"grant_lifetime 1h\n", 0, 1, NULL, "expected 'name = value'"},
    {"= 1h\n", 0, 1, NULL, "expected 'name = value'"},
    {"Grant_lifetime = 1h\n", 0, 1, NULL, "expected 'name = value'"},
    {"grant-lifetime = 1h\n", 0, 1, NULL, "expected 'name = value'"},
    {"\rgrant_lifetime = 1h\n", 0, 1, NULL, "expected 'name = value'"},
    {"  grant_lifetime = 1h\n", 0, 1, NULL, "continuation line with no setting before it"},
    {"# comment\n\n\tcontinued\n", 0, 3, NULL, "continuation line with no setting before it"},
    {"grant_lifetime = 1h\nda\0tabase = x\n", 34, 2, NULL, "NUL byte"},
    {"database = /a\n  b\0\n", 19, 2, NULL, "NUL byte"},
    {"database = a\x01z\n", 0, 1, "database", "control character in value 'a?z'"},
    {"local_networks = 10.0.0.0/8\n  999.1.1.1\n", 0, 1, "local_networks",
     "bad network '999.1.1.1'"},
    {"never_grant = 10.0.0.0/33\n", 0, 1, "never_grant", "bad network '10.0.0.0/33'"},
    {"local_domains = exa_mple.com\n", 0, 1, "local_domains",
     "bad domain 'exa_mple.com' (only letters, digits, '-' and '.' are allowed)"},
    {"local_domains = a..example\n", 0, 1, "local_domains",
     "bad domain 'a..example' (empty label)"},
    {"local_domains = .\n", 0, 1, "local_domains", "bad domain '.' (empty name)"},
    {"local_domains = ..\n", 0, 1, "local_domains", "bad domain '..' (empty name)"},
    {"local_domains = -a.example\n", 0, 1, "local_domains",
     "bad domain '-a.example' (a label may not start or end with '-')"},
    {"local_domains = a-.example\n", 0, 1, "local_domains",
     "bad domain 'a-.example' (a label may not start or end with '-')"},
    {"local_domains = 192.0.2.1\n", 0, 1, "local_domains",
     "bad domain '192.0.2.1' (the last label is a number; write an address as [ADDR])"},
    {"local_domains = [192.0.2.1\n", 0, 1, "local_domains",
     "bad domain '[192.0.2.1' (an address literal ends with ']')"},
    {"local_domains = [300.1.1.1]\n", 0, 1, "local_domains", "bad domain '[300.1.1.1]' ("},
    {"local_domains = []\n", 0, 1, "local_domains", "bad domain '[]' ("},
    {"local_domains = [IPv6:192.0.2.1]\n", 0, 1, "local_domains",
     "bad domain '[IPv6:192.0.2.1]' ([IPv6:...] needs an IPv6 address)"},
    {"local_domains = .[192.0.2.1]\n", 0, 1, "local_domains", "bad domain '.[192.0.2.1]' ("},
    {"local_domains = \xff\xfe.example\n", 0, 1, "local_domains",
     "bad domain '??.example' (only letters, digits, '-' and '.' are allowed)"},
    {"database = x\nlocal_domains = ok.example\n  a.example,\n  bad!\n", 0, 2, "local_domains",
     "bad domain 'bad!'"},
    {"database = x\nproxy_client_identity = maybe\n", 0, 2, "proxy_client_identity",
     "'maybe' is not xclient, haproxy or none"},
    {"proxy_client_identity = x client\n", 0, 1, "proxy_client_identity",
     "'x client' is not xclient, haproxy or none"},
    {"proxy_client_identity =\n", 0, 1, "proxy_client_identity",
     "'' is not xclient, haproxy or none"},
    {"log_level = INFO\n", 0, 1, "log_level",
     "bad log level 'INFO' (error, warning, info or debug)"},
};

/* torture_expect_error - err is "WHERE:LINE: [NAME: ]EXPECT..." */
static void torture_expect_error(const char *err, const char *where, int line, const char *name,
                                 const char *expect)
{
    char want[TORTURE_ERRLEN];

    if (name != NULL)
        snprintf(want, sizeof(want), "%s:%d: %s: %s", where, line, name, expect);
    else
        snprintf(want, sizeof(want), "%s:%d: %s", where, line, expect);
    if (strncmp(err, want, strlen(want)) != 0)
        fail_msg("error\n  got:  %s\n  want: %s", err, want);
}

/* test_bad_files - each bad file fails with the file, line, name and reason */
static void test_bad_files(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(bad_cases); i++) {
        const struct bad_case *c = &bad_cases[i];
        size_t len = c->len ? c->len : strlen(c->text);
        char err[TORTURE_ERRLEN] = "";
        char *path = torture_write(c->text, len);
        struct config *cfg = config_build(path, 1, NULL, 0, err, sizeof(err));

        print_message("bad: %s\n", err);
        assert_null(cfg);
        torture_expect_error(err, path, c->line, c->name, c->expect);
        torture_remove(path);
    }
}

/* test_value_too_long - one long line and many continuations both hit CONFIG_MAX_VALUE */
static void test_value_too_long(void **state)
{
    size_t cap = 2 * CONFIG_MAX_VALUE, len, i;
    char *text = xmalloc(cap), *path;
    char err[TORTURE_ERRLEN];
    struct config *cfg;

    (void)state;
    /* exactly CONFIG_MAX_VALUE bytes is fine */
    len = (size_t)snprintf(text, cap, "# c\ndatabase = ");
    memset(text + len, 'x', CONFIG_MAX_VALUE);
    len += CONFIG_MAX_VALUE;
    path = torture_write(text, len);
    cfg = config_build(path, 1, NULL, 0, err, sizeof(err));
    assert_non_null(cfg);
    assert_int_equal(strlen(cfg->database), CONFIG_MAX_VALUE);
    config_free(cfg);
    torture_remove(path);

    /* one byte more is not */
    text[len++] = 'x';
    path = torture_write(text, len);
    assert_null(config_build(path, 1, NULL, 0, err, sizeof(err)));
    torture_expect_error(err, path, 2, "database", "value longer than 65536 bytes");
    torture_remove(path);

    /* continuation lines count, with the joining spaces */
    len = (size_t)snprintf(text, cap, "local_domains = a.example\n");
    for (i = 0; len + 1100 < cap && i < 100; i++) {
        memcpy(text + len, "  ", 2);
        memset(text + len + 2, 'b', 1000);
        text[len + 1002] = '\n';
        len += 1003;
    }
    path = torture_write(text, len);
    assert_null(config_build(path, 1, NULL, 0, err, sizeof(err)));
    torture_expect_error(err, path, 1, "local_domains", "value longer than 65536 bytes");
    torture_remove(path);
    free(text);
}

/* test_file_too_large - a file over CONFIG_MAX_FILE is refused, from disk and as text */
static void test_file_too_large(void **state)
{
    size_t len = CONFIG_MAX_FILE + 1, i;
    char *text = xmalloc(len), *path;
    char err[TORTURE_ERRLEN];
    struct config *cfg;

    (void)state;
    for (i = 0; i < len; i++)
        text[i] = (i % 64 == 63) ? '\n' : '#';
    /* exactly the limit is fine */
    path = torture_write(text, len - 1);
    cfg = config_build(path, 1, NULL, 0, err, sizeof(err));
    assert_non_null(cfg);
    config_free(cfg);
    torture_remove(path);

    path = torture_write(text, len);
    assert_null(config_build(path, 1, NULL, 0, err, sizeof(err)));
    assert_int_equal(strncmp(err, path, strlen(path)), 0);
    assert_string_equal(err + strlen(path), ": file larger than 1048576 bytes");
    torture_remove(path);

    cfg = config_new();
    assert_int_equal(config_load_text(cfg, "big", text, len, err, sizeof(err)), -1);
    assert_string_equal(err, "big: file larger than 1048576 bytes");
    config_free(cfg);
    free(text);
}

/* test_error_text_bounded - bad text in errors is printable and cut short */
static void test_error_text_bounded(void **state)
{
    char text[1024], err[TORTURE_ERRLEN], want[256];
    struct config *cfg = config_new();
    size_t i;

    (void)state;
    memcpy(text, "grant_lifetime = ", 17);
    for (i = 0; i < 300; i++)
        text[17 + i] = (i % 3 == 0) ? '\x1b' : (i % 3 == 1) ? '\xe9' : 'q';
    text[317] = '\0';
    assert_int_equal(config_load_text(cfg, "t", text, strlen(text), err, sizeof(err)), -1);
    for (i = 0; err[i] != '\0'; i++)
        assert_true(err[i] >= 0x20 && err[i] < 0x7f);
    assert_true(strlen(err) < 140);
    assert_non_null(strstr(err, "t:1: grant_lifetime: control character in value '??q??q"));
    assert_non_null(strstr(err, "...'"));

    /* a long unknown name */
    memset(text, 'z', 500);
    memcpy(text + 500, " = 1\n", 6);
    assert_int_equal(config_load_text(cfg, "t", text, strlen(text), err, sizeof(err)), -1);
    memset(want, 'z', 64);
    memcpy(want + 64, "...'", 5);
    assert_non_null(strstr(err, "t:1: unknown setting 'zzz"));
    assert_non_null(strstr(err, want));
    assert_true(strlen(err) < 120);

    /* an unprintable file name */
    assert_int_equal(config_load_text(cfg, "a\nb", "x", 1, err, sizeof(err)), -1);
    assert_string_equal(err, "a?b:1: expected 'name = value'");

    /* a tiny error buffer is still terminated */
    assert_int_equal(config_load_text(cfg, "t", "x", 1, err, 5), -1);
    assert_string_equal(err, "t:1:");
    config_free(cfg);
}

/* test_missing_files - a missing default file is fine, a missing explicit file is not */
static void test_missing_files(void **state)
{
    char err[TORTURE_ERRLEN] = "";
    struct config *cfg;
    char o1[] = "grant_lifetime=5m";
    char *over[] = {o1};

    (void)state;
    cfg = config_build("/nonexistent/popauth.conf", 0, NULL, 0, err, sizeof(err));
    assert_non_null(cfg);
    assert_int_equal(cfg->grant_lifetime, 1800);
    config_free(cfg);

    cfg = config_build("/nonexistent/popauth.conf", 0, (const char *const *)over, 1, err,
                       sizeof(err));
    assert_non_null(cfg);
    assert_int_equal(cfg->grant_lifetime, 300);
    assert_int_equal(cfg->explicit_set[T_GRANT], 1);
    config_free(cfg);

    cfg = config_build(NULL, 0, NULL, 0, err, sizeof(err));
    assert_non_null(cfg);
    config_free(cfg);

    assert_null(config_build("/nonexistent/popauth.conf", 1, NULL, 0, err, sizeof(err)));
    assert_string_equal(err, "cannot read /nonexistent/popauth.conf: No such file or directory");

    assert_null(config_build("/tmp", 0, NULL, 0, err, sizeof(err)));
    assert_string_equal(err, "cannot read /tmp: Is a directory");

    /* missing_ok covers only a missing file */
    cfg = config_new();
    assert_int_equal(config_load_file(cfg, "/nonexistent/x", 1, err, sizeof(err)), 0);
    assert_int_equal(config_load_file(cfg, "/tmp", 1, err, sizeof(err)), -1);
    config_free(cfg);
}

/* One -o list applied over a file, and what must come out. */
struct override_case {
    const char *overrides[3];
    int64_t grant;     /* when error is NULL */
    const char *error; /* exact message, or NULL */
};

static const struct override_case override_cases[] = {
    {{"grant_lifetime=2h"}, 7200, NULL},
    {{" grant_lifetime = 3h "}, 10800, NULL},
    {{"grant_lifetime=2h", "grant_lifetime=4h"}, 14400, NULL},
    {{"database=/srv/o.db"}, 3600, NULL},
    {{"grant_lifetime=abc"},
     0,
     "-o grant_lifetime: bad duration 'abc' (a number with optional s, m, h or d)"},
    {{"grant_lifetime=2h", "grant_lifetime=0"},
     0,
     "-o grant_lifetime: bad duration '0' (must be more than zero)"},
    {{"grant_lifetime=400d"}, 0, "-o grant_lifetime: duration '400d' out of range (1s to 366d)"},
    {{"grant_lifetime"}, 0, "-o: expected name=value"},
    {{"=5"}, 0, "-o: expected name=value"},
    {{"Grant_lifetime=5"}, 0, "-o: expected name=value"},
    {{"grant_lifetim=5"}, 0, "-o: unknown setting 'grant_lifetim'"},
    {{"database=a\nb"}, 0, "-o database: control character in value 'a?b'"},
    {{"never_grant=10.0.0.0/8,bogus"}, 0, "-o never_grant: bad network 'bogus'"},
};

/* test_overrides - -o beats the file, applies in order, and names itself in errors */
static void test_overrides(void **state)
{
    static const char text[] = "grant_lifetime = 1h\ndatabase = /srv/f.db\n";
    char *path = torture_write(text, strlen(text));
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(override_cases); i++) {
        const struct override_case *c = &override_cases[i];
        char *over[3];
        size_t n = 0;
        char err[TORTURE_ERRLEN] = "";
        struct config *cfg;

        while (n < 3 && c->overrides[n] != NULL) {
            over[n] = xstrdup(c->overrides[n]);
            n++;
        }
        cfg = config_build(path, 1, (const char *const *)over, n, err, sizeof(err));
        print_message("override: %s -> %s\n", c->overrides[0], cfg ? "ok" : err);
        if (c->error == NULL) {
            if (cfg == NULL)
                fail_msg("%s", err);
            assert_int_equal(cfg->grant_lifetime, c->grant);
            assert_int_equal(cfg->explicit_set[T_GRANT], 1);
            assert_int_equal(cfg->explicit_set[T_DATABASE], 1);
            assert_int_equal(cfg->explicit_set[T_NEVER], 0);
            config_free(cfg);
        } else {
            assert_null(cfg);
            assert_int_equal(strncmp(err, c->error, strlen(c->error)), 0);
        }
        while (n > 0)
            free(over[--n]);
    }
    torture_remove(path);
}

/* test_print - config_print shows every setting, or only the explicit ones, in order */
static void test_print(void **state)
{
    static const char text[] = "local_domains = Example.com,\n  b.example\ngrant_lifetime = 1h\n";
    char o1[] = "never_grant = 192.0.2.0/24";
    char *over[] = {o1};
    char err[TORTURE_ERRLEN];
    char *path = torture_write(text, strlen(text)), *out;
    struct config *cfg = config_build(path, 1, (const char *const *)over, 1, err, sizeof(err));

    (void)state;
    assert_non_null(cfg);
    out = torture_print(cfg, 0);
    torture_prefix(out, "database = /var/lib/popauth/auth.db\n"
                        "grant_lifetime = 1h\n"
                        "local_networks = 127.0.0.0/8, ::1/128\n"
                        "local_domains = Example.com, b.example\n"
                        "never_grant = 192.0.2.0/24\n");
    assert_int_equal(torture_lines(out), config_nparams);
    free(out);
    out = torture_print(cfg, 1);
    assert_string_equal(out, "grant_lifetime = 1h\n"
                             "local_domains = Example.com, b.example\n"
                             "never_grant = 192.0.2.0/24\n");
    free(out);
    config_free(cfg);

    cfg = config_new();
    out = torture_print(cfg, 1);
    assert_string_equal(out, "");
    free(out);
    out = torture_print(cfg, 0);
    torture_prefix(out, "database = /var/lib/popauth/auth.db\n"
                        "grant_lifetime = 30m\n"
                        "local_networks = 127.0.0.0/8, ::1/128\n"
                        "local_domains = \n"
                        "never_grant = \n");
    assert_int_equal(torture_lines(out), config_nparams);
    free(out);
    config_free(cfg);
    torture_remove(path);
}

/* test_print_round_trip - printed output reads back to the same config */
static void test_print_round_trip(void **state)
{
    static const char text[] = "database = /a b#c\t d\ngrant_lifetime = 2d\n"
                               "local_networks = 10.0.0.0/8\n\t2001:db8::/32\n"
                               "local_domains = A.example.\n";
    char err[TORTURE_ERRLEN];
    struct config *a = config_new(), *b = config_new();
    char *out1, *out2;

    (void)state;
    assert_int_equal(config_load_text(a, "a", text, strlen(text), err, sizeof(err)), 0);
    out1 = torture_print(a, 0);
    assert_int_equal(config_load_text(b, "b", out1, strlen(out1), err, sizeof(err)), 0);
    out2 = torture_print(b, 0);
    assert_string_equal(out1, out2);
    assert_string_equal(b->database, "/a b#c\t d");
    assert_string_equal(torture_join(&b->local_domains), "a.example");
    assert_int_equal(cidr_list_count(b->local_networks), 2);
    free(out1);
    free(out2);
    config_free(a);
    config_free(b);
}

/* A duration and its value in seconds, or -1 for refused. */
struct duration_case {
    const char *text;
    int64_t secs;
};

static const struct duration_case duration_cases[] = {
    {"30m", 1800},
    {"1h", 3600},
    {"2d", 172800},
    {"90", 90},
    {"90s", 90},
    {"1", 1},
    {"007m", 420},
    {"9223372036854775807", INT64_MAX},
    {"9223372036854775807s", INT64_MAX},
    {"106751991167300d", 106751991167300LL * 86400},
    {"0", -1},
    {"0s", -1},
    {"00h", -1},
    {"-5", -1},
    {"-5m", -1},
    {"+5", -1},
    {"5x", -1},
    {"m", -1},
    {"s", -1},
    {"", -1},
    {" 5", -1},
    {"5 ", -1},
    {"5 m", -1},
    {"5M", -1},
    {"1.5h", -1},
    {"1h30m", -1},
    {"0x10", -1},
    {"9223372036854775808", -1},
    {"9223372036854775808s", -1},
    {"153722867280912931m", -1},
    {"2562047788015216h", -1},
    {"106751991167301d", -1},
    {"99999999999999999999999999", -1},
};

/* test_durations - config_parse_duration accepts and refuses what the table says */
static void test_durations(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(duration_cases); i++) {
        const struct duration_case *c = &duration_cases[i];
        char err[TORTURE_ERRLEN] = "";
        int64_t out = -42;
        int rc = config_parse_duration(c->text, &out, err, sizeof(err));

        print_message("duration '%s' -> %d %" PRId64 " %s\n", c->text, rc, out, err);
        if (c->secs < 0) {
            assert_int_equal(rc, -1);
            assert_int_equal(out, -42);
            assert_int_equal(strncmp(err, "bad duration '", 14), 0);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(out, c->secs);
        }
    }
}

/* test_duration_bounds - grant_lifetime keeps to the table's 1s .. 366d */
static void test_duration_bounds(void **state)
{
    static const struct {
        const char *value;
        int64_t secs; /* -1: out of range */
    } cases[] = {
        {"1", 1},
        {"1s", 1},
        {"366d", 31622400},
        {"31622400", 31622400},
        {"8784h", 31622400},
        {"367d", -1},
        {"31622401", -1},
        {"8785h", -1},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        char assign[64], err[TORTURE_ERRLEN] = "", want[128];
        struct config *cfg = config_new();
        int rc;

        snprintf(assign, sizeof(assign), "grant_lifetime=%s", cases[i].value);
        rc = config_set(cfg, assign, err, sizeof(err));
        if (cases[i].secs < 0) {
            assert_int_equal(rc, -1);
            snprintf(want, sizeof(want),
                     "-o grant_lifetime: duration '%s' out of range (1s to 366d)", cases[i].value);
            assert_string_equal(err, want);
            assert_int_equal(cfg->grant_lifetime, 1800);
            assert_string_equal(cfg->values[T_GRANT], "30m");
            assert_int_equal(cfg->explicit_set[T_GRANT], 0);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(cfg->grant_lifetime, cases[i].secs);
            assert_string_equal(cfg->values[T_GRANT], cases[i].value);
        }
        config_free(cfg);
    }
}

/* test_failed_set_keeps_value - a bad assignment leaves the previous value in place */
static void test_failed_set_keeps_value(void **state)
{
    char err[TORTURE_ERRLEN];
    struct config *cfg = config_new();

    (void)state;
    assert_int_equal(config_set(cfg, "local_domains=a.example", err, sizeof(err)), 0);
    assert_int_equal(config_set(cfg, "local_domains=b.example bad_domain", err, sizeof(err)), -1);
    assert_string_equal(torture_join(&cfg->local_domains), "a.example");
    assert_string_equal(cfg->values[T_LOCAL_DOMAINS], "a.example");
    assert_int_equal(config_set(cfg, "never_grant=10.0.0.0/8 nonsense", err, sizeof(err)), -1);
    assert_int_equal(cidr_list_count(cfg->never_grant), 0);
    config_free(cfg);
}

/* A value for one of the types no table entry uses yet, and its expected outcome. */
struct typed_case {
    enum param_type type;
    int64_t min, max;
    const char *text;
    int ok;
    int64_t num;        /* PARAM_BOOL, PARAM_INT */
    const char *joined; /* PARAM_LIST: items joined by commas; or the error's start */
};

static const struct typed_case typed_cases[] = {
    {PARAM_BOOL, 0, 0, "yes", 1, 1, NULL},
    {PARAM_BOOL, 0, 0, "YES", 1, 1, NULL},
    {PARAM_BOOL, 0, 0, "no", 1, 0, NULL},
    {PARAM_BOOL, 0, 0, "True", 1, 1, NULL},
    {PARAM_BOOL, 0, 0, "false", 1, 0, NULL},
    {PARAM_BOOL, 0, 0, "on", 1, 1, NULL},
    {PARAM_BOOL, 0, 0, "OFF", 1, 0, NULL},
    {PARAM_BOOL, 0, 0, "1", 1, 1, NULL},
    {PARAM_BOOL, 0, 0, "0", 1, 0, NULL},
    {PARAM_BOOL, 0, 0, "y", 0, 0, "bad boolean 'y' (yes or no)"},
    {PARAM_BOOL, 0, 0, "yess", 0, 0, "bad boolean 'yess' (yes or no)"},
    {PARAM_BOOL, 0, 0, "", 0, 0, "bad boolean '' (yes or no)"},
    {PARAM_BOOL, 0, 0, "2", 0, 0, "bad boolean '2' (yes or no)"},
    {PARAM_INT, 0, 0, "0", 1, 0, NULL},
    {PARAM_INT, 0, 0, "123", 1, 123, NULL},
    {PARAM_INT, 1, 10, "10", 1, 10, NULL},
    {PARAM_INT, 1, 10, "11", 0, 0, "number '11' out of range (1 to 10)"},
    {PARAM_INT, 1, 10, "0", 0, 0, "number '0' out of range (1 to 10)"},
    {PARAM_INT, 0, 0, "-1", 0, 0, "bad number '-1'"},
    {PARAM_INT, 0, 0, "1k", 0, 0, "bad number '1k'"},
    {PARAM_INT, 0, 0, "", 0, 0, "bad number ''"},
    {PARAM_INT, 0, 0, "99999999999999999999", 0, 0, "bad number '99999999999999999999'"},
    {PARAM_DURATION, 60, 3600, "1m", 1, 60, NULL},
    {PARAM_DURATION, 60, 3600, "59s", 0, 0, "duration '59s' out of range (1m to 1h)"},
    {PARAM_DURATION, 0, 0, "400d", 1, 400 * 86400, NULL},
    {PARAM_LIST, 0, 0, "a, b\tc,,d ,", 1, 0, "a,b,c,d"},
    {PARAM_LIST, 0, 0, "", 1, 0, ""},
    {PARAM_LIST, 0, 0, " , ,", 1, 0, ""},
    {PARAM_STRING, 0, 0, "x\x7fy", 0, 0, "control character in value 'x?y'"},
};

/* test_typed_values - the parsers for every parameter type, through a made-up table entry */
static void test_typed_values(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(typed_cases); i++) {
        const struct typed_case *c = &typed_cases[i];
        struct param p = {"x", c->type, "", 0, c->min, c->max, NULL, 0};
        struct config_value v = {0};
        char err[TORTURE_ERRLEN] = "";
        int rc = config_parse_value(&p, c->text, strlen(c->text), &v, err, sizeof(err));

        print_message("typed %d '%s' -> %d %s\n", (int)c->type, c->text, rc, err);
        if (!c->ok) {
            assert_int_equal(rc, -1);
            assert_int_equal(strncmp(err, c->joined, strlen(c->joined)), 0);
        } else {
            assert_int_equal(rc, 0);
            if (c->type == PARAM_BOOL)
                assert_int_equal(v.flag, c->num);
            else if (c->type == PARAM_LIST)
                assert_string_equal(torture_join(&v.list), c->joined);
            else
                assert_int_equal(v.num, c->num);
        }
        config_value_free(&v);
    }
}

/* One value of an enum parameter, through -o, and its outcome. */
struct enum_case {
    const char *assignment;
    int value;          /* the field's value, or -1 for an error */
    const char *expect; /* the setting's text, or the whole error */
};

static const struct enum_case enum_cases[] = {
    {"proxy_client_identity=xclient", PROXY_ID_XCLIENT, "xclient"},
    {"proxy_client_identity=haproxy", PROXY_ID_HAPROXY, "haproxy"},
    {"proxy_client_identity=none", PROXY_ID_NONE, "none"},
    {"proxy_client_identity=XClient", PROXY_ID_XCLIENT, "XClient"},
    {"proxy_client_identity=HAPROXY", PROXY_ID_HAPROXY, "HAPROXY"},
    {"proxy_client_identity=  None  ", PROXY_ID_NONE, "None"},
    {"proxy_client_identity=maybe", -1,
     "-o proxy_client_identity: 'maybe' is not xclient, haproxy or none"},
    {"proxy_client_identity=", -1, "-o proxy_client_identity: '' is not xclient, haproxy or none"},
    {"proxy_client_identity=xclientx", -1,
     "-o proxy_client_identity: 'xclientx' is not xclient, haproxy or none"},
    {"proxy_client_identity=xclien", -1,
     "-o proxy_client_identity: 'xclien' is not xclient, haproxy or none"},
    {"proxy_client_identity=xclient,haproxy", -1,
     "-o proxy_client_identity: 'xclient,haproxy' is not xclient, haproxy or none"},
};

/* test_enum_values - each word of proxy_client_identity in any case sets its value (and
 * keeps its text); any other text is refused with the words listed, and the field keeps
 * what it had */
static void test_enum_values(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(enum_cases); i++) {
        const struct enum_case *c = &enum_cases[i];
        struct config *cfg = config_new();
        char err[TORTURE_ERRLEN] = "";
        int rc;

        assert_int_equal(cfg->proxy_client_identity, PROXY_ID_NONE); /* the default */
        assert_int_equal(config_set(cfg, "proxy_client_identity=haproxy", err, sizeof(err)), 0);
        rc = config_set(cfg, c->assignment, err, sizeof(err));
        print_message("enum: %s -> %d %s\n", c->assignment, rc, err);
        if (c->value < 0) {
            assert_int_equal(rc, -1);
            assert_string_equal(err, c->expect);
            assert_int_equal(cfg->proxy_client_identity, PROXY_ID_HAPROXY);
            assert_string_equal(config_text(cfg, "proxy_client_identity"), "haproxy");
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(cfg->proxy_client_identity, c->value);
            assert_string_equal(config_text(cfg, "proxy_client_identity"), c->expect);
        }
        config_free(cfg);
    }
}

/* test_enum_parser - the words of any enum entry: listed in the table's order in errors
 * ("a", "a or b", "a, b or c"), matched whole and in any case */
static void test_enum_parser(void **state)
{
    static const struct param_word one[] = {{"only", 7}, {NULL, 0}};
    static const struct param_word two[] = {{"left", 1}, {"right", 2}, {NULL, 0}};
    static const struct {
        const struct param_word *words;
        const char *text;
        int value; /* -1: an error */
        const char *error;
    } cases[] = {
        {one, "only", 7, NULL},
        {one, "ONLY", 7, NULL},
        {one, "on", -1, "'on' is not only"},
        {two, "Right", 2, NULL},
        {two, "left", 1, NULL},
        {two, "middle", -1, "'middle' is not left or right"},
        {two, "left\x01", -1, "control character in value 'left?'"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        struct param p = {"x", PARAM_ENUM, "", 0, 0, 0, cases[i].words, 0};
        struct config_value v = {0};
        char err[TORTURE_ERRLEN] = "";
        int rc = config_parse_value(&p, cases[i].text, strlen(cases[i].text), &v, err, sizeof(err));

        if (cases[i].value < 0) {
            assert_int_equal(rc, -1);
            assert_string_equal(err, cases[i].error);
        } else {
            assert_int_equal(rc, 0);
            assert_int_equal(v.flag, cases[i].value);
        }
        config_value_free(&v);
    }
}

/* test_enum_table - every enum entry has words, its default among them; only enums have
 * words */
static void test_enum_table(void **state)
{
    size_t i, j, nenums = 0;

    (void)state;
    for (i = 0; i < config_nparams; i++) {
        const struct param *p = &config_params[i];
        int found = 0;

        if (p->type != PARAM_ENUM) {
            assert_null(p->words);
            continue;
        }
        nenums++;
        assert_non_null(p->words);
        assert_non_null(p->words[0].word);
        for (j = 0; p->words[j].word != NULL; j++)
            found |= strcasecmp(p->words[j].word, p->defval) == 0;
        assert_true(found);
    }
    assert_int_equal(nenums, 1);
    assert_non_null(config_param("proxy_client_identity"));
    assert_string_equal(config_param("proxy_client_identity")->name, "proxy_client_identity");
    assert_int_equal(config_param("proxy_client_identity")->type, PARAM_ENUM);
    assert_string_equal(config_param("proxy_client_identity")->defval, "none");
    assert_ptr_equal(config_param("database"), &config_params[T_DATABASE]);
    assert_null(config_param("no_such_setting"));
}

/* What each daemon applies only at a restart: popauth's list is the one its SIGHUP
 * warning names ("database, log_sources, journal_directory, sniff_* (but sniff_servers),
 * run_user, dry_run, metrics_listen, dovecot_policy_listen or dovecot_policy_max_connections");
 * smtpgate's are the names its warnings carry. */
static const char *const restart_popauth[] = {
    "database",
    "database_password_file",
    "redis_node_name",
    "redis_wait_replicas",
    "redis_timeout_ms",
    "log_sources",
    "journal_directory",
    "dry_run",
    "sniff_interfaces",
    "sniff_file",
    "sniff_ports",
    "sniff_promiscuous",
    "sniff_max_flows",
    "sniff_flow_timeout",
    "sniff_max_line",
    "run_user",
    "metrics_listen",
    "dovecot_policy_listen",
    "dovecot_policy_max_connections",
};
static const char *const restart_smtpgate[] = {
    "policy_listen",  "milter_listen",          "proxy_listen",     "run_user",
    "metrics_listen", "database_password_file", "redis_timeout_ms",
};

/* torture_listed - 1 if name is one of the n names */
static int torture_listed(const char *name, const char *const *names, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return 1;
    return 0;
}

/* test_restart_table - the restart column holds exactly the settings each daemon's reload
 * leaves for the next restart, and no bits beyond the two daemons */
static void test_restart_table(void **state)
{
    size_t i, npop = 0, nsg = 0;

    (void)state;
    for (i = 0; i < config_nparams; i++) {
        const struct param *p = &config_params[i];

        assert_int_equal(p->restart & ~(unsigned)(PARAM_POPAUTH | PARAM_SMTPGATE), 0);
        assert_int_equal((p->restart & PARAM_POPAUTH) != 0,
                         torture_listed(p->name, restart_popauth, UTIL_ARRAY_LEN(restart_popauth)));
        assert_int_equal(
            (p->restart & PARAM_SMTPGATE) != 0,
            torture_listed(p->name, restart_smtpgate, UTIL_ARRAY_LEN(restart_smtpgate)));
        npop += (p->restart & PARAM_POPAUTH) != 0;
        nsg += (p->restart & PARAM_SMTPGATE) != 0;
        /* popauth's warning says "sniff_* (but sniff_servers)" */
        if (strncmp(p->name, "sniff_", 6) == 0)
            assert_int_equal((p->restart & PARAM_POPAUTH) != 0,
                             strcmp(p->name, "sniff_servers") != 0);
    }
    assert_int_equal(npop, UTIL_ARRAY_LEN(restart_popauth));
    assert_int_equal(nsg, UTIL_ARRAY_LEN(restart_smtpgate));
}

/* test_restart_changes - config_restart_next finds, in table order, exactly the changed
 * settings the daemon applies only at a restart: for every parameter alone, and for a
 * reload that changes several */
static void test_restart_changes(void **state)
{
    static const unsigned programs[] = {PARAM_POPAUTH, PARAM_SMTPGATE};
    static const char *const several[] = {
        "metrics_listen=popauth=inet:127.0.0.1:9101",
        "sniff_servers=192.0.2.0/24",
        "policy_listen=inet:127.0.0.1:10041",
        "database=/srv/other.db",
        "grant_lifetime=1h",
        "sniff_ports=pop3:1110",
        "run_user=nobody",
        "proxy_client_identity=XCLIENT",
    };
    struct config *cur = config_new(), *next;
    char err[TORTURE_ERRLEN];
    size_t i, j, k;

    (void)state;
    for (i = 0; i < config_nparams; i++) {
        next = config_new();
        free(next->values[i]);
        next->values[i] = xstrdup("changed"); /* only the text is compared */
        for (k = 0; k < UTIL_ARRAY_LEN(programs); k++) {
            j = 0;
            if ((config_params[i].restart & programs[k]) != 0) {
                assert_int_equal(config_restart_next(cur, next, programs[k], &j), 1);
                assert_int_equal(j, i);
                j++;
            }
            assert_int_equal(config_restart_next(cur, next, programs[k], &j), 0);
        }
        config_free(next);
    }
    j = 0;
    assert_int_equal(config_restart_next(cur, cur, PARAM_POPAUTH | PARAM_SMTPGATE, &j), 0);

    next = config_new();
    for (i = 0; i < UTIL_ARRAY_LEN(several); i++)
        if (config_set(next, several[i], err, sizeof(err)) < 0)
            fail_msg("%s: %s", several[i], err);
    {
        static const char *const want_popauth[] = {"database", "sniff_ports", "run_user",
                                                   "metrics_listen"};
        static const char *const want_smtpgate[] = {"policy_listen", "run_user", "metrics_listen"};
        const char *const *want[] = {want_popauth, want_smtpgate};
        size_t nwant[] = {UTIL_ARRAY_LEN(want_popauth), UTIL_ARRAY_LEN(want_smtpgate)};

        for (k = 0; k < UTIL_ARRAY_LEN(programs); k++) {
            size_t n = 0;

            for (j = 0; config_restart_next(cur, next, programs[k], &j); j++) {
                assert_true(n < nwant[k]);
                assert_string_equal(config_params[j].name, want[k][n]);
                n++;
            }
            assert_int_equal(n, nwant[k]);
        }
    }
    config_free(next);
    config_free(cur);
}

/* main - run every test */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_layout),       cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_good_files),         cmocka_unit_test(test_networks_match),
        cmocka_unit_test(test_domain_limits),      cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_value_too_long),     cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_error_text_bounded), cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_overrides),          cmocka_unit_test(test_print),
        cmocka_unit_test(test_print_round_trip),   cmocka_unit_test(test_durations),
        cmocka_unit_test(test_duration_bounds),    cmocka_unit_test(test_failed_set_keeps_value),
        cmocka_unit_test(test_typed_values),       cmocka_unit_test(test_enum_values),
        cmocka_unit_test(test_enum_parser),        cmocka_unit_test(test_enum_table),
        cmocka_unit_test(test_restart_table),      cmocka_unit_test(test_restart_changes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
