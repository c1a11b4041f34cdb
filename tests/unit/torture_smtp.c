/*
 * torture_smtp - unit tests for smtpgate/smtp.c, the SMTP proxy's parsing core.
 *
 * Tables of command lines with the command (or the error) each must give and the
 * canonical line the backend would see, which must parse back to the same command; the
 * open-relay battery from SECURITY.md as RCPT paths, handed to rcpt_parse unchanged;
 * line splitting with its exact discard counts (the session core's framer built on it is
 * driven in every split by torture_session); backend replies and the EHLO filter with what
 * it reports kept; the DATA scanner on
 * every smuggling vector, whole, byte by byte and split at every position, and against
 * a reference model on every short input over the bytes that matter; and the XCLIENT and
 * PROXY headers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "smtpgate/smtp.h"
#include "tests/fuzz/smtp_reference.h"
#include "shared/rcpt.h"
#include "shared/util.h"

/* ---- smtp_line_find ---- */

/* One buffer and what smtp_line_find must say about it. */
struct line_case {
    const char *input;
    size_t len; /* 0: strlen(input) */
    size_t max;
    size_t ret;
    enum smtp_error err;
    int skip; /* 1: a case of smtp_line_skip (max unused), which must also say done */
    int done;
};

#define LC(in, max, ret, err)                                                                      \
    {                                                                                              \
        in, sizeof(in) - 1, max, ret, err, 0, 0                                                    \
    }
#define SC(in, ret, done, err)                                                                     \
    {                                                                                              \
        in, sizeof(in) - 1, 0, ret, err, 1, done                                                   \
    }

static const struct line_case line_cases[] = {
    LC("QUIT\r\n", 512, 6, SMTP_ERR_NONE),
    LC("QUIT\r\nNOOP\r\n", 512, 6, SMTP_ERR_NONE),
    LC("\r\n", 512, 2, SMTP_ERR_NONE),
    LC("", 512, 0, SMTP_ERR_NONE),
    LC("QUIT", 512, 0, SMTP_ERR_NONE),
    LC("QUIT\r", 512, 0, SMTP_ERR_NONE),
    LC("\r", 512, 0, SMTP_ERR_NONE),
    LC("QUIT\n", 512, 5, SMTP_ERR_BARE_EOL),
    LC("\n", 512, 1, SMTP_ERR_BARE_EOL),
    LC("QU\nIT\r\n", 512, 3, SMTP_ERR_BARE_EOL),
    LC("QUIT\rX\r\n", 512, 5, SMTP_ERR_BARE_EOL),
    LC("QUIT\r\r\n", 512, 5, SMTP_ERR_BARE_EOL),
    LC("\r.\r\n", 512, 1, SMTP_ERR_BARE_EOL),
    LC("QU\0IT\r\n", 512, 3, SMTP_ERR_NUL),
    LC("\0", 512, 1, SMTP_ERR_NUL),
    LC("QUIT\r\0\n", 512, 5, SMTP_ERR_BARE_EOL),
    /* limits: max = 8 allows six bytes and the CRLF */
    LC("ABCDEF\r\n", 8, 8, SMTP_ERR_NONE),
    LC("ABCDEF\r\nX", 8, 8, SMTP_ERR_NONE),
    LC("ABCDEF\r", 8, 0, SMTP_ERR_NONE),
    LC("ABCDEFG", 8, 0, SMTP_ERR_NONE),
    LC("ABCDEFG\r\n", 8, 9, SMTP_ERR_TOO_LONG),
    LC("ABCDEFG\r", 8, 7, SMTP_ERR_TOO_LONG),
    LC("ABCDEFGH", 8, 8, SMTP_ERR_TOO_LONG),
    LC("ABCDEFGHIJ", 8, 10, SMTP_ERR_TOO_LONG),
    LC("ABCDEFGHIJ\r\nQUIT\r\n", 8, 12, SMTP_ERR_TOO_LONG),
    LC("ABCDEFGHIJ\nQUIT\r\n", 8, 10, SMTP_ERR_TOO_LONG),
    LC("ABCDEFGHIJ\0QUIT\r\n", 8, 10, SMTP_ERR_TOO_LONG),
    LC("ABCDEFGHIJ\rQUIT\r\n", 8, 10, SMTP_ERR_TOO_LONG),
    LC("ABCDE\n", 8, 6, SMTP_ERR_BARE_EOL),
    LC("ABCDE\0", 8, 6, SMTP_ERR_NUL),
    /* max below 2 counts as 2 */
    LC("\r\n", 0, 2, SMTP_ERR_NONE),
    LC("A\r\n", 1, 3, SMTP_ERR_TOO_LONG),
    LC("A", 0, 0, SMTP_ERR_NONE),
    LC("AB", 0, 2, SMTP_ERR_TOO_LONG),
    /* smtp_line_skip: the rest of an over-long line */
    SC("", 0, 0, SMTP_ERR_NONE),
    SC("abc", 3, 0, SMTP_ERR_NONE),
    SC("abc\r", 3, 0, SMTP_ERR_NONE),
    SC("\r", 0, 0, SMTP_ERR_NONE),
    SC("abc\r\nQUIT\r\n", 5, 1, SMTP_ERR_NONE),
    SC("\r\nQUIT\r\n", 2, 1, SMTP_ERR_NONE),
    SC("abc\nQUIT\r\n", 4, 0, SMTP_ERR_BARE_EOL),
    SC("abc\rQUIT\r\n", 4, 0, SMTP_ERR_BARE_EOL),
    SC("abc\0QUIT\r\n", 4, 0, SMTP_ERR_NUL),
};

/* test_line_find - the table (smtp_line_find and smtp_line_skip): return value, error and
 * done exactly */
static void test_line_find(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(line_cases); i++) {
        const struct line_case *tc = &line_cases[i];
        enum smtp_error err = (enum smtp_error) - 1;
        int done = -1;
        size_t n = tc->skip ? smtp_line_skip(tc->input, tc->len, &done, &err)
                            : smtp_line_find(tc->input, tc->len, tc->max, &err);

        if (n != tc->ret || err != tc->err || (tc->skip && done != tc->done))
            fail_msg("line case %zu: got %zu/%d/%d, want %zu/%d/%d", i, n, (int)err, done, tc->ret,
                     (int)tc->err, tc->done);
    }
}

/* test_line_limit - at the default limit: 512 bytes with the CRLF pass, 513 do not */
static void test_line_limit(void **state)
{
    char buf[SMTP_LINE_MIN + 8];
    enum smtp_error err;

    (void)state;
    memset(buf, 'A', sizeof(buf));
    memcpy(buf + SMTP_LINE_MIN - 2, "\r\n", 2);
    assert_int_equal(smtp_line_find(buf, SMTP_LINE_MIN, SMTP_LINE_MIN, &err), SMTP_LINE_MIN);
    assert_int_equal(err, SMTP_ERR_NONE);
    memset(buf, 'A', sizeof(buf));
    memcpy(buf + SMTP_LINE_MIN - 1, "\r\n", 2);
    assert_int_equal(smtp_line_find(buf, SMTP_LINE_MIN + 1, SMTP_LINE_MIN, &err),
                     SMTP_LINE_MIN + 1);
    assert_int_equal(err, SMTP_ERR_TOO_LONG);
    /* 511 plain bytes: no line can end within 512 any more, but 512 are not there yet */
    assert_int_equal(smtp_line_find(buf, SMTP_LINE_MIN - 1, SMTP_LINE_MIN, &err), 0);
    assert_int_equal(smtp_line_find(buf, SMTP_LINE_MIN, SMTP_LINE_MIN, &err), SMTP_LINE_MIN - 1);
    assert_int_equal(err, SMTP_ERR_TOO_LONG);
}

/* ---- smtp_command_parse and smtp_command_format ---- */

/* One command line and what it must parse into. */
struct cmd_case {
    const char *line;
    size_t len; /* 0: strlen(line) */
    enum smtp_error err;
    enum smtp_verb verb;
    const char *arg, *path, *params;
    const char *canon; /* the formatted line (CRLF left out here), NULL on error */
};

#define OK(l, v, a, p, pa, c)                                                                      \
    {                                                                                              \
        l, 0, SMTP_ERR_NONE, v, a, p, pa, c                                                        \
    }
#define NO(l, e, v)                                                                                \
    {                                                                                              \
        l, 0, e, v, "", "", "", NULL                                                               \
    }
#define NOLEN(l, e, v)                                                                             \
    {                                                                                              \
        l, sizeof(l) - 1, e, v, "", "", "", NULL                                                   \
    }
#define SYN(l, v) NO(l, SMTP_ERR_SYNTAX, v)
#define UNK(l)    NO(l, SMTP_ERR_UNKNOWN, SMTP_UNKNOWN)

static const struct cmd_case cmd_cases[] = {
    /* HELO and EHLO */
    OK("HELO client.example", SMTP_HELO, "client.example", "", "", "HELO client.example"),
    OK("helo client.example", SMTP_HELO, "client.example", "", "", "HELO client.example"),
    OK("EhLo client.example", SMTP_EHLO, "client.example", "", "", "EHLO client.example"),
    OK("EHLO [192.0.2.1]", SMTP_EHLO, "[192.0.2.1]", "", "", "EHLO [192.0.2.1]"),
    OK("EHLO [IPv6:2001:db8::1]", SMTP_EHLO, "[IPv6:2001:db8::1]", "", "",
       "EHLO [IPv6:2001:db8::1]"),
    OK("EHLO   client   ", SMTP_EHLO, "client", "", "", "EHLO client"),
    SYN("EHLO", SMTP_EHLO),
    SYN("EHLO ", SMTP_EHLO),
    SYN("EHLO a b", SMTP_EHLO),
    SYN("EHLO a\tb", SMTP_EHLO),
    SYN("EHLO caf\xc3\xa9", SMTP_EHLO),
    SYN("HELO a\x7f", SMTP_HELO),
    NOLEN("HELO a\0b", SMTP_ERR_SYNTAX, SMTP_HELO),
    /* MAIL */
    OK("MAIL FROM:<a@b.example>", SMTP_MAIL, "", "a@b.example", "", "MAIL FROM:<a@b.example>"),
    OK("mail from:<a@b.example>", SMTP_MAIL, "", "a@b.example", "", "MAIL FROM:<a@b.example>"),
    OK("MAIL FROM: <a@b>", SMTP_MAIL, "", "a@b", "", "MAIL FROM:<a@b>"),
    OK("MAIL   FROM:<a@b>", SMTP_MAIL, "", "a@b", "", "MAIL FROM:<a@b>"),
    OK("MAIL FROM:<>", SMTP_MAIL, "", "", "", "MAIL FROM:<>"),
    OK("MAIL FROM:<> ", SMTP_MAIL, "", "", "", "MAIL FROM:<>"),
    OK("MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME", SMTP_MAIL, "", "a@b", "SIZE=1000 BODY=8BITMIME",
       "MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME"),
    OK("MAIL FROM:<a@b>   SIZE=1000    BODY=8BITMIME   ", SMTP_MAIL, "", "a@b",
       "SIZE=1000    BODY=8BITMIME", "MAIL FROM:<a@b> SIZE=1000 BODY=8BITMIME"),
    OK("MAIL FROM:<a@b> X-Y=1 SMTPUTF8", SMTP_MAIL, "", "a@b", "X-Y=1 SMTPUTF8",
       "MAIL FROM:<a@b> X-Y=1 SMTPUTF8"),
    OK("MAIL FROM:<a@b> AUTH=<>", SMTP_MAIL, "", "a@b", "AUTH=<>", "MAIL FROM:<a@b> AUTH=<>"),
    OK("MAIL FROM:<a@b> ENVID=a+2Bb RET=HDRS", SMTP_MAIL, "", "a@b", "ENVID=a+2Bb RET=HDRS",
       "MAIL FROM:<a@b> ENVID=a+2Bb RET=HDRS"),
    OK("MAIL FROM:<\"a b\"@c>", SMTP_MAIL, "", "\"a b\"@c", "", "MAIL FROM:<\"a b\"@c>"),
    OK("MAIL FROM:<\"a>b\"@c>", SMTP_MAIL, "", "\"a>b\"@c", "", "MAIL FROM:<\"a>b\"@c>"),
    OK("MAIL FROM:<\"a\\\"b\"@c>", SMTP_MAIL, "", "\"a\\\"b\"@c", "", "MAIL FROM:<\"a\\\"b\"@c>"),
    OK("MAIL FROM:<a@[192.0.2.1]>", SMTP_MAIL, "", "a@[192.0.2.1]", "",
       "MAIL FROM:<a@[192.0.2.1]>"),
    OK("MAIL FROM:<@a,@b:u@d>", SMTP_MAIL, "", "@a,@b:u@d", "", "MAIL FROM:<@a,@b:u@d>"),
    SYN("MAIL", SMTP_MAIL),
    SYN("MAIL FROM:", SMTP_MAIL),
    SYN("MAIL FROM:  <a@b>", SMTP_MAIL),
    SYN("MAIL FROM :<a@b>", SMTP_MAIL),
    SYN("MAIL FROM:a@b", SMTP_MAIL),
    SYN("MAIL FROM:<a@b", SMTP_MAIL),
    SYN("MAIL FROM:<a@b>>", SMTP_MAIL),
    SYN("MAIL FROM:<<a@b>", SMTP_MAIL),
    SYN("MAIL FROM:<<a@b>>", SMTP_MAIL),
    SYN("MAIL FROM:<a@b>x", SMTP_MAIL),
    SYN("MAIL FROM:<a@b>SIZE=1", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> SIZE=", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> SIZE==1", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> SIZE=1=2", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> =1", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> -X", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> X_Y", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> SIZE=1\x80", SMTP_MAIL),
    SYN("MAIL FROM:<a@b> SIZE=1\t", SMTP_MAIL),
    SYN("MAIL FROM:<a b@c>", SMTP_MAIL),
    SYN("MAIL FROM:< a@b>", SMTP_MAIL),
    SYN("MAIL FROM:<\"ab@c>", SMTP_MAIL),
    SYN("MAIL FROM:<a\\b@c>", SMTP_MAIL),
    SYN("MAIL FROM:<a(comment)@c>", SMTP_MAIL),
    SYN("MAIL FROM:<a;b@c>", SMTP_MAIL),
    SYN("MAIL FROM:<a@[192.0.2.1>", SMTP_MAIL),
    SYN("MAIL FROM:<a@[[1]]>", SMTP_MAIL),
    SYN("MAIL FROM:<a@b]>", SMTP_MAIL),
    SYN("MAIL FROM:<a@b\x01>", SMTP_MAIL),
    SYN("MAIL FROM:<a@b\x7f>", SMTP_MAIL),
    SYN("MAIL FROM:<a@b\xc3\xa9>", SMTP_MAIL),
    SYN("MAIL FROM:<\"a\x01\"@b>", SMTP_MAIL),
    SYN("MAIL FROM:<\"a\\", SMTP_MAIL),
    NOLEN("MAIL FROM:<a\0@b>", SMTP_ERR_SYNTAX, SMTP_MAIL),
    SYN("MAIL TO:<a@b>", SMTP_MAIL),
    /* RCPT */
    OK("RCPT TO:<u@local.test>", SMTP_RCPT, "", "u@local.test", "", "RCPT TO:<u@local.test>"),
    OK("rcpt to:<U@Local.Test.>", SMTP_RCPT, "", "U@Local.Test.", "", "RCPT TO:<U@Local.Test.>"),
    OK("RCPT TO: <u@local.test>", SMTP_RCPT, "", "u@local.test", "", "RCPT TO:<u@local.test>"),
    OK("RCPT TO:<postmaster>", SMTP_RCPT, "", "postmaster", "", "RCPT TO:<postmaster>"),
    OK("RCPT TO:<u@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@x", SMTP_RCPT, "", "u@x",
       "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@x",
       "RCPT TO:<u@x> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u@x"),
    SYN("RCPT TO:<>", SMTP_RCPT),
    SYN("RCPT TO:", SMTP_RCPT),
    SYN("RCPT TO:u@far.test", SMTP_RCPT),
    SYN("RCPT FROM:<u@x>", SMTP_RCPT),
    SYN("RCPT TO:<u@x> <v@y>", SMTP_RCPT),
    SYN("RCPT TO:<u@x>,<v@y>", SMTP_RCPT),
    SYN("RCPT TO:<u@local.test>\rRCPT TO:<u@far.test>", SMTP_RCPT),
    SYN("RCPT TO:<u@local.test> X=\nRCPT", SMTP_RCPT),
    /* no arguments */
    OK("DATA", SMTP_DATA, "", "", "", "DATA"),
    OK("data", SMTP_DATA, "", "", "", "DATA"),
    OK("DATA  ", SMTP_DATA, "", "", "", "DATA"),
    OK("RSET", SMTP_RSET, "", "", "", "RSET"),
    OK("QUIT", SMTP_QUIT, "", "", "", "QUIT"),
    SYN("DATA x", SMTP_DATA),
    SYN("RSET x", SMTP_RSET),
    SYN("QUIT now", SMTP_QUIT),
    /* optional text */
    OK("NOOP", SMTP_NOOP, "", "", "", "NOOP"),
    OK("noop hello  world", SMTP_NOOP, "hello  world", "", "", "NOOP hello  world"),
    OK("VRFY alice", SMTP_VRFY, "alice", "", "", "VRFY alice"),
    OK("VRFY \"John Smith\"", SMTP_VRFY, "\"John Smith\"", "", "", "VRFY \"John Smith\""),
    OK("HELP", SMTP_HELP, "", "", "", "HELP"),
    OK("help mail", SMTP_HELP, "mail", "", "", "HELP mail"),
    SYN("NOOP a\x01", SMTP_NOOP),
    SYN("VRFY caf\xc3\xa9", SMTP_VRFY),
    /* AUTH */
    OK("AUTH PLAIN", SMTP_AUTH, "PLAIN", "", "", "AUTH PLAIN"),
    OK("auth login", SMTP_AUTH, "login", "", "", "AUTH login"),
    OK("AUTH PLAIN AGFsaWNlAHNlY3JldA==", SMTP_AUTH, "PLAIN AGFsaWNlAHNlY3JldA==", "", "",
       "AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
    OK("AUTH PLAIN  AGFsaWNlAHNlY3JldA==", SMTP_AUTH, "PLAIN  AGFsaWNlAHNlY3JldA==", "", "",
       "AUTH PLAIN AGFsaWNlAHNlY3JldA=="),
    OK("AUTH EXTERNAL =", SMTP_AUTH, "EXTERNAL =", "", "", "AUTH EXTERNAL ="),
    OK("AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM", SMTP_AUTH,
       "SCRAM-SHA-256 biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM", "", "",
       "AUTH SCRAM-SHA-256 biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM"),
    OK("AUTH ABCDEFGHIJKLMNOPQRST", SMTP_AUTH, "ABCDEFGHIJKLMNOPQRST", "", "",
       "AUTH ABCDEFGHIJKLMNOPQRST"),
    SYN("AUTH", SMTP_AUTH),
    SYN("AUTH ABCDEFGHIJKLMNOPQRSTU", SMTP_AUTH),
    SYN("AUTH PL@IN", SMTP_AUTH),
    SYN("AUTH PLAIN abc", SMTP_AUTH),
    SYN("AUTH PLAIN a=bc", SMTP_AUTH),
    SYN("AUTH PLAIN ab==cd==", SMTP_AUTH),
    SYN("AUTH PLAIN a===", SMTP_AUTH),
    SYN("AUTH PLAIN AAAA BBBB", SMTP_AUTH),
    SYN("AUTH PLAIN ==", SMTP_AUTH),
    SYN("AUTH PLAIN *", SMTP_AUTH),
    /* refused without being forwarded */
    NO("STARTTLS", SMTP_ERR_NOT_IMPL, SMTP_STARTTLS),
    NO("starttls", SMTP_ERR_NOT_IMPL, SMTP_STARTTLS),
    NO("STARTTLS ", SMTP_ERR_NOT_IMPL, SMTP_STARTTLS),
    SYN("STARTTLS x", SMTP_STARTTLS),
    NO("BDAT 100 LAST", SMTP_ERR_NOT_IMPL, SMTP_BDAT),
    NO("BDAT", SMTP_ERR_NOT_IMPL, SMTP_BDAT),
    UNK(""),
    UNK("   "),
    UNK(" QUIT"),
    UNK("QUIT\t"),
    UNK("QUITX"),
    UNK("MAILFROM:<a@b>"),
    UNK("MAIL\tFROM:<a@b>"),
    UNK("EXPN staff"),
    UNK("ETRN example.net"),
    UNK("TURN"),
    UNK("XCLIENT ADDR=127.0.0.1"),
    UNK("XFORWARD ADDR=127.0.0.1"),
    UNK("HELO\x80 x"),
    UNK("H\xc3\x89LO x"),
    NOLEN("QUIT\0", SMTP_ERR_UNKNOWN, SMTP_UNKNOWN),
};

/* cmd_check_fields - every text field is non-NULL and printable ASCII */
static void cmd_check_fields(const struct smtp_command *c)
{
    const char *f[3] = {c->arg, c->path, c->params};
    size_t n[3] = {c->arglen, c->pathlen, c->paramslen}, i, j;

    for (i = 0; i < 3; i++) {
        assert_non_null(f[i]);
        for (j = 0; j < n[i]; j++)
            assert_true((unsigned char)f[i][j] >= 0x20 && (unsigned char)f[i][j] < 0x7f);
    }
}

/* cmd_field_equal - the field s[0..n) is the C string want */
static int cmd_field_equal(const char *s, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(s, want, n) == 0;
}

/* cmd_roundtrip - format c, check against canon, re-parse and re-format identically */
static void cmd_roundtrip(const char *name, const struct smtp_command *c, const char *canon)
{
    char buf[1024], again[1024], small[1024];
    struct smtp_command r;
    size_t n, m, size;

    n = smtp_command_format(c, buf, sizeof(buf));
    if (n == 0)
        fail_msg("'%s': format failed", name);
    assert_int_equal(strlen(buf), n);
    assert_true(n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n');
    if (canon != NULL && (n - 2 != strlen(canon) || memcmp(buf, canon, n - 2) != 0))
        fail_msg("'%s': formatted as '%s', want '%s'", name, buf, canon);
    assert_int_equal(smtp_command_parse(buf, n - 2, &r), SMTP_ERR_NONE);
    cmd_check_fields(&r);
    assert_int_equal(r.verb, c->verb);
    assert_int_equal(r.pathlen, c->pathlen);
    assert_memory_equal(r.path, c->path, c->pathlen);
    if (c->verb != SMTP_AUTH) {
        assert_int_equal(r.arglen, c->arglen);
        assert_memory_equal(r.arg, c->arg, c->arglen);
    }
    m = smtp_command_format(&r, again, sizeof(again));
    assert_int_equal(m, n);
    assert_memory_equal(again, buf, n);
    /* too small a buffer gives 0; exactly the length fits without the NUL */
    for (size = 0; size < n; size++)
        assert_int_equal(smtp_command_format(c, small, size), 0);
    memset(small, 'x', sizeof(small));
    assert_int_equal(smtp_command_format(c, small, n), n);
    assert_memory_equal(small, buf, n);
    assert_int_equal(small[n], 'x');
}

/* test_command_table - the table: error, verb, fields, canonical form, round trip */
static void test_command_table(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cmd_cases); i++) {
        const struct cmd_case *tc = &cmd_cases[i];
        size_t len = tc->len ? tc->len : strlen(tc->line);
        struct smtp_command c;
        enum smtp_error err = smtp_command_parse(tc->line, len, &c);

        if (err != tc->err || c.verb != tc->verb)
            fail_msg("'%s': got error %d verb %d, want %d %d", tc->line, (int)err, (int)c.verb,
                     (int)tc->err, (int)tc->verb);
        cmd_check_fields(&c);
        if (!cmd_field_equal(c.arg, c.arglen, tc->arg) ||
            !cmd_field_equal(c.path, c.pathlen, tc->path) ||
            !cmd_field_equal(c.params, c.paramslen, tc->params))
            fail_msg("'%s': fields '%.*s' '%.*s' '%.*s'", tc->line, (int)c.arglen, c.arg,
                     (int)c.pathlen, c.path, (int)c.paramslen, c.params);
        if (err == SMTP_ERR_NONE) {
            cmd_roundtrip(tc->line, &c, tc->canon);
        } else if (c.verb == SMTP_STARTTLS || c.verb == SMTP_BDAT || c.verb == SMTP_UNKNOWN) {
            char buf[64];
            assert_int_equal(smtp_command_format(&c, buf, sizeof(buf)), 0);
        }
    }
}

/* test_format_refuses - hand-built commands that must never reach the backend */
static void test_format_refuses(void **state)
{
    static const struct {
        enum smtp_verb verb;
        const char *arg, *path, *params;
    } bad[] = {
        {SMTP_RCPT, "", "a> NOTIFY=NEVER", ""},
        {SMTP_RCPT, "", "u@local.test>\r\nRCPT TO:<u@far.test", ""},
        {SMTP_RCPT, "", "", ""},
        {SMTP_RCPT, "", "a b@c", ""},
        {SMTP_MAIL, "", "a@b", "SIZE=1\r\nRCPT TO:<u@far.test>"},
        {SMTP_MAIL, "", "a@b", "SIZE="},
        {SMTP_HELO, "", "", ""},
        {SMTP_HELO, "a b", "", ""},
        {SMTP_EHLO, "x\r\nRCPT TO:<u@far.test>", "", ""},
        {SMTP_NOOP, "x\r\nRCPT TO:<u@far.test>", "", ""},
        {SMTP_NOOP, "trailing ", "", ""},
        {SMTP_VRFY, "\x01", "", ""},
        {SMTP_AUTH, "", "", ""},
        {SMTP_AUTH, "PLAIN\r\nRCPT", "", ""},
        {SMTP_AUTH, "PLAIN abc", "", ""},
        {SMTP_STARTTLS, "", "", ""},
        {SMTP_BDAT, "10 LAST", "", ""},
        {SMTP_UNKNOWN, "", "", ""},
        {(enum smtp_verb)99, "", "", ""},
    };
    char buf[256];
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct smtp_command c = {bad[i].verb,          bad[i].arg,          strlen(bad[i].arg),
                                 bad[i].path,          strlen(bad[i].path), bad[i].params,
                                 strlen(bad[i].params)};

        if (smtp_command_format(&c, buf, sizeof(buf)) != 0)
            fail_msg("case %zu formatted as '%s'", i, buf);
    }
}

/* ---- the open-relay battery as RCPT paths ---- */

#define BATTERY_IP "192.0.2.25"

/* The recipients; the last two are plainly local, the others must not look local. */
static const char *const battery_rcpts[] = {
    "u@far.test",
    "u%far.test@[" BATTERY_IP "]",
    "u%far.test@local.test",
    "\"u@far.test\"",
    "\"u%far.test\"",
    "u@far.test@[" BATTERY_IP "]",
    "\"u@far.test\"@[" BATTERY_IP "]",
    "u@far.test@local.test",
    "@[" BATTERY_IP "]:u@far.test",
    "@local.test:u@far.test",
    "far.test!u",
    "far.test!u@[" BATTERY_IP "]",
    "far.test!u@local.test",
    "u@far.test.",
    "U@FAR.TEST",
    "u@[192.0.2.9]",
    "u@[IPv6:2001:db8::9]",
    "u@192.0.2.9",
    "alice@local.test",
    "ALICE@Local.Test.",
};

static const char *const battery_senders[] = {
    "<>",
    "<x@far.test>",
    "<x@local.test>",
    "<x@[" BATTERY_IP "]>",
};

/* rcpt_plain_local - 1 if rcpt_parse takes path as plainly for local.test */
static int rcpt_plain_local(const char *path, size_t len)
{
    struct rcpt r;
    char err[256];

    memset(&r, 0, sizeof(r));
    if (rcpt_parse(path, len, &r, err, sizeof(err)) < 0)
        return 0;
    return !r.routed && !r.literal && strcmp(r.domain, "local.test") == 0;
}

/* test_relay_battery - every battery shape parses, its path is the shape unchanged */
static void test_relay_battery(void **state)
{
    static const struct {
        const char *head, *tail;
    } forms[] = {
        {"RCPT TO:<", ">"},
        {"rcpt to: <", ">"},
        {"RCPT TO:<", "> NOTIFY=NEVER"},
        {"Rcpt To:<", ">   "},
    };
    size_t i, j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(battery_rcpts); i++) {
        const char *shape = battery_rcpts[i];

        for (j = 0; j < UTIL_ARRAY_LEN(forms); j++) {
            char line[256], want[256];
            struct smtp_command c;
            int n = snprintf(line, sizeof(line), "%s%s%s", forms[j].head, shape, forms[j].tail);

            assert_int_equal(smtp_command_parse(line, (size_t)n, &c), SMTP_ERR_NONE);
            assert_int_equal(c.verb, SMTP_RCPT);
            if (!cmd_field_equal(c.path, c.pathlen, shape))
                fail_msg("'%s': path '%.*s'", line, (int)c.pathlen, c.path);
            /* what the proxy hands to the decision is read as the client meant it */
            assert_int_equal(rcpt_plain_local(c.path, c.pathlen),
                             i + 2 >= UTIL_ARRAY_LEN(battery_rcpts));
            snprintf(want, sizeof(want), j == 2 ? "RCPT TO:<%s> NOTIFY=NEVER" : "RCPT TO:<%s>",
                     shape);
            cmd_roundtrip(line, &c, want);
        }
        for (j = 0; j < UTIL_ARRAY_LEN(battery_senders); j++) {
            char line[256];
            struct smtp_command c;
            int n = snprintf(line, sizeof(line), "MAIL FROM:%s", battery_senders[j]);

            assert_int_equal(smtp_command_parse(line, (size_t)n, &c), SMTP_ERR_NONE);
            assert_int_equal(c.verb, SMTP_MAIL);
            cmd_roundtrip(line, &c, line);
        }
    }
}

/* test_relay_battery_malformed - broken spellings of battery shapes are refused */
static void test_relay_battery_malformed(void **state)
{
    static const char *const bad[] = {
        "RCPT TO:u@far.test",
        "RCPT TO:<u@far.test",
        "RCPT TO:u@far.test>",
        "RCPT TO:<u@far.test>>",
        "RCPT TO:<<u@far.test>",
        "RCPT TO:<u @far.test>",
        "RCPT TO:<u@far.test >",
        "RCPT TO:<\"u@far.test>",
        "RCPT TO:<u@[" BATTERY_IP ">",
        "RCPT TO:<u@far.test(x)@local.test>",
        "RCPT TO:<u\\@far.test@local.test>",
        "RCPT TO:<u@local.test>,<u@far.test>",
        "RCPT TO:<u@local.test><u@far.test>",
        "RCPT TO:<u@local.test> <u@far.test>",
        "RCPT TO:  <u@far.test>",
        "RCPT TO :<u@far.test>",
        "RCPT TO:<u@far.test>\x0bx",
        "RCPT TO:<u@far.test\x0b>",
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(bad); i++) {
        struct smtp_command c;

        if (smtp_command_parse(bad[i], strlen(bad[i]), &c) != SMTP_ERR_SYNTAX)
            fail_msg("'%s' was not refused", bad[i]);
        assert_int_equal(c.verb, SMTP_RCPT);
    }
}

/* ---- replies ---- */

/* test_error_replies - each error's fixed text */
static void test_error_replies(void **state)
{
    static const struct {
        enum smtp_error err;
        const char *text;
    } want[] = {
        {SMTP_ERR_TOO_LONG, "500 5.5.2 Line too long\r\n"},
        {SMTP_ERR_BARE_EOL, "500 5.5.2 Bare CR or LF not allowed\r\n"},
        {SMTP_ERR_NUL, "500 5.5.2 NUL not allowed\r\n"},
        {SMTP_ERR_SYNTAX, "501 5.5.4 Syntax error in parameters or arguments\r\n"},
        {SMTP_ERR_UNKNOWN, "500 5.5.1 Command unrecognized\r\n"},
        {SMTP_ERR_NOT_IMPL, "502 5.5.1 Command not implemented\r\n"},
        {SMTP_ERR_NONE, "451 4.3.0 Internal error\r\n"},
        {(enum smtp_error)77, "451 4.3.0 Internal error\r\n"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(want); i++)
        assert_string_equal(smtp_error_reply(want[i].err), want[i].text);
}

/* test_auth_lines - AUTH continuation lines */
static void test_auth_lines(void **state)
{
    static const struct {
        const char *line;
        int ok;
    } cases[] = {
        {"*", 1},        {"", 1},      {"AGFsaWNlAHNlY3JldA==", 1},
        {"YWxpY2U=", 1}, {"YWxp", 1},  {"+/+/", 1},
        {"YWxpY2U", 0},  {"YWxp=", 0}, {"=", 0},
        {"==", 0},       {"a===", 0},  {"YW=p", 0},
        {"**", 0},       {"* ", 0},    {"YWxp ", 0},
        {"YW\r\n", 0},   {"-_-_", 0},  {"YWxpY2U9\x80", 0},
        {"cancel", 0},
    };
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        if (smtp_auth_line_ok(cases[i].line, strlen(cases[i].line)) != cases[i].ok)
            fail_msg("auth line '%s'", cases[i].line);
    }
    assert_int_equal(smtp_auth_line_ok("YWxp\0", 5), 0);
}

/* A backend reply as lines, with what each feed must return. */
struct reply_case {
    const char *name;
    const char *lines[6];
    int rc[6];
    int code;
};

static const struct reply_case reply_cases[] = {
    {"greeting", {"220 mx.example ESMTP"}, {1}, 220},
    {"multi-line", {"250-mx", "250-PIPELINING", "250 DSN"}, {0, 0, 1}, 250},
    {"code alone", {"250"}, {1}, 250},
    {"empty continuation", {"250-", "250 ok"}, {0, 1}, 250},
    {"5xx", {"554-no", "554 really no"}, {0, 1}, 554},
    {"codes differ", {"250-a", "251 b"}, {0, -1}, 250},
    {"short", {"25"}, {-1}, 0},
    {"four digits", {"2500 x"}, {-1}, 0},
    {"no separator", {"250x"}, {-1}, 0},
    {"1xx", {"150 x"}, {-1}, 0},
    {"6xx", {"650 x"}, {-1}, 0},
    {"letter", {"2a0 x"}, {-1}, 0},
    {"tab", {"250\tx"}, {-1}, 0},
    {"line after the last", {"250 a", "250 b"}, {1, -1}, 250},
    {"CR inside", {"250 a\rb"}, {-1}, 0},
    {"LF inside", {"250-a", "250 a\nb"}, {0, -1}, 250},
};

/* test_reply_table - feed each case's lines */
static void test_reply_table(void **state)
{
    static struct smtp_reply r;
    size_t i, j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(reply_cases); i++) {
        const struct reply_case *tc = &reply_cases[i];
        char want[256] = "";

        smtp_reply_init(&r);
        for (j = 0; j < 6 && tc->lines[j] != NULL; j++) {
            int rc = smtp_reply_feed(&r, tc->lines[j], strlen(tc->lines[j]));

            if (rc != tc->rc[j])
                fail_msg("%s: line %zu gave %d", tc->name, j, rc);
            if (rc >= 0) {
                strcat(want, tc->lines[j]);
                strcat(want, "\r\n");
            }
            if (rc >= 0)
                assert_int_equal(r.done, rc);
        }
        assert_int_equal(r.code, tc->code);
        assert_int_equal(r.len, strlen(want));
        assert_memory_equal(r.text, want, r.len);
    }
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_feed(&r, "250 a\0b", 7), -1);
}

/* test_reply_limits - one line of 512 bytes with CRLF; a whole reply of 8192 */
static void test_reply_limits(void **state)
{
    static struct smtp_reply r;
    char line[SMTP_REPLY_LINE + 8];
    size_t total = 0, n;

    (void)state;
    memset(line, 'x', sizeof(line));
    memcpy(line, "250 ", 4);
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_feed(&r, line, SMTP_REPLY_LINE - 2), 1);
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_feed(&r, line, SMTP_REPLY_LINE - 1), -1);
    /* fill to exactly SMTP_REPLY_MAX with lines of 100 bytes plus CRLF, then one more */
    line[3] = '-';
    smtp_reply_init(&r);
    while (total + 102 <= SMTP_REPLY_MAX - 102) {
        assert_int_equal(smtp_reply_feed(&r, line, 100), 0);
        total += 102;
    }
    n = SMTP_REPLY_MAX - total - 2; /* the last line fills the reply exactly */
    assert_true(n + 2 <= SMTP_REPLY_LINE);
    line[3] = ' ';
    {
        static struct smtp_reply copy;

        copy = r;
        assert_int_equal(smtp_reply_feed(&copy, line, n + 1), -1);
        assert_int_equal(smtp_reply_feed(&r, line, n), 1);
        assert_int_equal(r.len, SMTP_REPLY_MAX);
    }
}

/* One EHLO reply and what the filter must leave of it. */
struct ehlo_case {
    const char *name;
    const char *in;
    const char *out;
    unsigned kept; /* SMTP_EHLO_* */
};

#define EHLO_ALL                                                                                   \
    (SMTP_EHLO_PIPELINING | SMTP_EHLO_SIZE | SMTP_EHLO_8BITMIME | SMTP_EHLO_ENHANCED |             \
     SMTP_EHLO_DSN | SMTP_EHLO_AUTH)

static const struct ehlo_case ehlo_cases[] = {
    {"postfix",
     "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-VRFY\r\n250-ETRN\r\n"
     "250-STARTTLS\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN\r\n"
     "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n250 CHUNKING\r\n",
     "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"
     "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250 DSN\r\n",
     EHLO_ALL},
    {"greeting alone", "250 mx.example\r\n", "250 mx.example\r\n", 0},
    {"code alone", "250\r\n", "250\r\n", 0},
    {"all removed",
     "250-mx.example Hello\r\n250-STARTTLS\r\n250-CHUNKING\r\n250-BINARYMIME\r\n"
     "250-XCLIENT NAME ADDR PROTO HELO\r\n250-XFORWARD NAME ADDR\r\n250-SMTPUTF8\r\n"
     "250-ETRN\r\n250-VRFY\r\n250-DELIVERBY 300\r\n250-X-EXPS GSSAPI\r\n250 AUTH=LOGIN\r\n",
     "250 mx.example Hello\r\n", 0},
    {"lower case and parameters",
     "250-mx\r\n250-pipelining\r\n250-Size\r\n250-dsn extra\r\n250 auth plain\r\n",
     "250-mx\r\n250-PIPELINING\r\n250-SIZE\r\n250-DSN\r\n250 AUTH plain\r\n",
     SMTP_EHLO_PIPELINING | SMTP_EHLO_SIZE | SMTP_EHLO_DSN | SMTP_EHLO_AUTH},
    {"whole words only",
     "250-mx\r\n250-PIPELININGX\r\n250-XPIPELINING\r\n250-PIPELINING=1\r\n250-SIZE=10\r\n"
     "250-AUTH=PLAIN\r\n250 DSNX\r\n",
     "250 mx\r\n", 0},
    {"bad SIZE dropped",
     "250-mx\r\n250-SIZE abc\r\n250-SIZE 1 2\r\n250-SIZE 123456789012345678901\r\n250 DSN\r\n",
     "250-mx\r\n250 DSN\r\n", SMTP_EHLO_DSN},
    {"AUTH mechanisms cleaned",
     "250-mx\r\n250-AUTH PLAIN L@GIN  CRAM-MD5 ABCDEFGHIJKLMNOPQRSTU\r\n250 DSN\r\n",
     "250-mx\r\n250-AUTH PLAIN CRAM-MD5\r\n250 DSN\r\n", SMTP_EHLO_AUTH | SMTP_EHLO_DSN},
    {"AUTH without mechanisms", "250-mx\r\n250-AUTH\r\n250 AUTH @\r\n", "250 mx\r\n", 0},
    {"repeats dropped",
     "250-mx\r\n250-PIPELINING\r\n250-SIZE 10\r\n250-PIPELINING\r\n250-SIZE 20\r\n"
     "250 AUTH LOGIN\r\n",
     "250-mx\r\n250-PIPELINING\r\n250-SIZE 10\r\n250 AUTH LOGIN\r\n",
     SMTP_EHLO_PIPELINING | SMTP_EHLO_SIZE | SMTP_EHLO_AUTH},
    {"last kept in the middle", "250-mx\r\n250-8BITMIME\r\n250-STARTTLS\r\n250 CHUNKING\r\n",
     "250-mx\r\n250 8BITMIME\r\n", SMTP_EHLO_8BITMIME},
    {"trailing spaces", "250-mx  \r\n250-SIZE 10  \r\n250 DSN \r\n",
     "250-mx\r\n250-SIZE 10\r\n250 DSN\r\n", SMTP_EHLO_SIZE | SMTP_EHLO_DSN},
    {"greeting that looks like a keyword", "250-STARTTLS\r\n250 STARTTLS\r\n", "250 STARTTLS\r\n",
     0},
    {"not 250", "550-no\r\n550 STARTTLS\r\n", "550-no\r\n550 STARTTLS\r\n", 0},
};

/* ehlo_build - assemble text (CRLF lines) into r with smtp_reply_feed */
static void ehlo_build(struct smtp_reply *r, const char *text)
{
    const char *p = text;
    int rc = 0;

    smtp_reply_init(r);
    while (*p != '\0') {
        const char *e = strstr(p, "\r\n");

        assert_non_null(e);
        rc = smtp_reply_feed(r, p, (size_t)(e - p));
        assert_true(rc >= 0);
        p = e + 2;
    }
    assert_int_equal(rc, 1);
}

/* test_ehlo_filter - the table, and the filter is idempotent */
static void test_ehlo_filter(void **state)
{
    static struct smtp_reply r;
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(ehlo_cases); i++) {
        const struct ehlo_case *tc = &ehlo_cases[i];
        unsigned kept;

        ehlo_build(&r, tc->in);
        kept = smtp_ehlo_filter(&r);
        if (r.len != strlen(tc->out) || memcmp(r.text, tc->out, r.len) != 0)
            fail_msg("%s: got '%.*s'", tc->name, (int)r.len, r.text);
        if (kept != tc->kept)
            fail_msg("%s: kept %#x, want %#x", tc->name, kept, tc->kept);
        assert_int_equal(r.done, 1);
        assert_int_equal(smtp_ehlo_filter(&r), tc->kept);
        assert_int_equal(r.len, strlen(tc->out));
        assert_memory_equal(r.text, tc->out, r.len);
        /* the result is itself a well-formed reply */
        ehlo_build(&r, tc->out);
    }
    /* an incomplete reply is left alone */
    smtp_reply_init(&r);
    assert_int_equal(smtp_reply_feed(&r, "250-mx", 6), 0);
    assert_int_equal(smtp_reply_feed(&r, "250-STARTTLS", 12), 0);
    assert_int_equal(smtp_ehlo_filter(&r), 0);
    assert_int_equal(r.len, 22);
    assert_memory_equal(r.text, "250-mx\r\n250-STARTTLS\r\n", 22);
}

/* ---- the DATA scanner ---- */

/* One DATA input and the scanner's verdict on it. */
struct data_case {
    const char *name;
    const char *input;
    size_t len; /* 0: strlen(input) */
    enum smtp_data_state state;
    size_t used;
};

#define DC(n, in, st, used)                                                                        \
    {                                                                                              \
        n, in, sizeof(in) - 1, st, used                                                            \
    }
#define PFX      "Subject: t\r\n\r\nhello"
#define PFXLEN   (sizeof(PFX) - 1)
#define SMUGGLED "MAIL FROM:<x@far.test>\r\nRCPT TO:<u@far.test>\r\nDATA\r\nspam\r\n.\r\n"

static const struct data_case data_cases[] = {
    DC("empty", "", SMTP_DATA_MORE, 0),
    DC("dot first", ".\r\n", SMTP_DATA_END, 3),
    DC("dot first, commands after", ".\r\nQUIT\r\n", SMTP_DATA_END, 3),
    DC("empty line then dot", "\r\n.\r\n", SMTP_DATA_END, 5),
    DC("message", "Subject: x\r\n\r\nbody\r\n.\r\n", SMTP_DATA_END, 23),
    DC("end then more", "a\r\n.\r\nMAIL FROM:<a@b>\r\n", SMTP_DATA_END, 6),
    DC("dot-stuffed line", "a\r\n..\r\n.\r\n", SMTP_DATA_END, 10),
    DC("dot-stuffed first line", "..\r\n", SMTP_DATA_MORE, 4),
    DC("dot then text", ".x\r\n", SMTP_DATA_MORE, 4),
    DC("dot in a line", "a.\r\n.a\r\n", SMTP_DATA_MORE, 8),
    DC("ends with dot CR", "a\r\n.\r", SMTP_DATA_MORE, 5),
    DC("ends with dot", "a\r\n.", SMTP_DATA_MORE, 4),
    DC("ends with CR", "a\r", SMTP_DATA_MORE, 2),
    DC("8-bit and tabs", "\xc3\xa9\t\x7f\r\n.\r\n", SMTP_DATA_END, 9),
    /* bare line ends and NUL */
    DC("bare LF first", "\n.\n", SMTP_DATA_BAD, 0),
    DC("dot LF first", ".\n", SMTP_DATA_BAD, 1),
    DC("dot CR x first", ".\rM", SMTP_DATA_BAD, 2),
    DC("CRLF dot LF first", "\r\n.\n", SMTP_DATA_BAD, 3),
    DC("CR CR LF", "a\r\r\n", SMTP_DATA_BAD, 2),
    DC("NUL first", "\0", SMTP_DATA_BAD, 0),
    DC("NUL inside", "a\0b", SMTP_DATA_BAD, 1),
    DC("NUL after CR", "a\r\0", SMTP_DATA_BAD, 2),
    DC("NUL after dot", "\r\n.\0", SMTP_DATA_BAD, 3),
    /* the smuggling vectors after some content, each followed by smuggled commands */
    DC("\\n.\\n", PFX "\n.\n" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 0),
    DC("\\r.\\r", PFX "\r.\r" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 1),
    DC("\\r.\\n", PFX "\r.\n" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 1),
    DC("\\n.\\r", PFX "\n.\r" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 0),
    DC("\\n.\\r\\n", PFX "\n.\r\n" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 0),
    DC("\\r\\n.\\n", PFX "\r\n.\n" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 3),
    DC("\\r\\n.\\r", PFX "\r\n.\r" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 4),
    DC("\\r\\n\\0.\\r\\n", PFX "\r\n\0.\r\n" SMUGGLED, SMTP_DATA_BAD, PFXLEN + 2),
    /* the same vectors as the whole message */
    DC("bare \\n.\\n", "\n.\n" SMUGGLED, SMTP_DATA_BAD, 0),
    DC("bare \\r.\\r", "\r.\r" SMUGGLED, SMTP_DATA_BAD, 1),
    DC("bare \\r.\\n", "\r.\n" SMUGGLED, SMTP_DATA_BAD, 1),
    DC("bare \\n.\\r", "\n.\r" SMUGGLED, SMTP_DATA_BAD, 0),
    DC("bare \\n.\\r\\n", "\n.\r\n" SMUGGLED, SMTP_DATA_BAD, 0),
    DC("bare \\r\\n.\\n", "\r\n.\n" SMUGGLED, SMTP_DATA_BAD, 3),
    DC("bare \\r\\n.\\r", "\r\n.\r" SMUGGLED, SMTP_DATA_BAD, 4),
    DC("bare \\r\\n\\0.\\r\\n", "\r\n\0.\r\n" SMUGGLED, SMTP_DATA_BAD, 2),
    /* a proper end followed by the same commands: END right after CRLF.CRLF */
    DC("CRLF.CRLF", PFX "\r\n.\r\n" SMUGGLED, SMTP_DATA_END, PFXLEN + 5),
};

/* data_run - scan in pieces: at split (0: none), then step bytes at a time (0: whole) */
static enum smtp_data_state data_run(const char *in, size_t len, size_t split, size_t step,
                                     size_t *total)
{
    struct smtp_data d;
    enum smtp_data_state st = SMTP_DATA_MORE;
    size_t off = 0;

    smtp_data_init(&d);
    *total = 0;
    while (st == SMTP_DATA_MORE && off < len) {
        size_t chunk = len - off, used = 99999;

        if (split > 0 && off < split)
            chunk = split - off;
        else if (step > 0 && chunk > step)
            chunk = step;
        st = smtp_data_scan(&d, in + off, chunk, &used);
        assert_true(used <= chunk);
        if (st == SMTP_DATA_MORE)
            assert_int_equal(used, chunk);
        *total += used;
        off += chunk;
    }
    assert_int_equal(d.bytes, *total);
    if (st != SMTP_DATA_MORE) {
        size_t used = 99999;

        /* the verdict sticks until smtp_data_init */
        assert_int_equal(smtp_data_scan(&d, "x\r\n.\r\n", 6, &used), st);
        assert_int_equal(used, 0);
        assert_int_equal(d.bytes, *total);
    }
    return st;
}

/* test_data_table - each case whole, byte by byte, and split at every position */
static void test_data_table(void **state)
{
    size_t i, split, total;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(data_cases); i++) {
        const struct data_case *tc = &data_cases[i];

        for (split = 0; split < tc->len; split++) {
            size_t step;

            for (step = 0; step <= 1; step++) {
                enum smtp_data_state st = data_run(tc->input, tc->len, split, step, &total);

                if (st != tc->state || total != tc->used)
                    fail_msg("%s (split %zu step %zu): got %d/%zu, want %d/%zu", tc->name, split,
                             step, (int)st, total, (int)tc->state, tc->used);
            }
        }
        assert_int_equal(data_run(tc->input, tc->len, 0, 0, &total), tc->state);
        assert_int_equal(total, tc->used);
    }
}

/* test_data_exhaustive - every input up to 7 bytes over {a . CR LF NUL} agrees with the
 * reference, fed whole, byte by byte and split in two */
static void test_data_exhaustive(void **state)
{
    static const char alphabet[5] = {'a', '.', '\r', '\n', '\0'};
    char in[8];
    size_t len, total, want;

    (void)state;
    for (len = 0; len <= 7; len++) {
        unsigned long n = 1, code, k;

        for (k = 0; k < len; k++)
            n *= 5;
        for (code = 0; code < n; code++) {
            unsigned long c = code;
            enum smtp_data_state ref;

            for (k = 0; k < len; k++, c /= 5)
                in[k] = alphabet[c % 5];
            ref = reference_data_scan(in, len, &want);
            assert_int_equal(data_run(in, len, 0, 0, &total), ref);
            assert_int_equal(total, want);
            assert_int_equal(data_run(in, len, 0, 1, &total), ref);
            assert_int_equal(total, want);
            assert_int_equal(data_run(in, len, len / 2, 0, &total), ref);
            assert_int_equal(total, want);
        }
    }
}

/* test_data_message - a 4 KiB message with the end split at every position */
static void test_data_message(void **state)
{
    char *msg = xmalloc(4096 + 256);
    size_t len = 0, split, total;

    (void)state;
    while (len < 4096) {
        len += (size_t)sprintf(msg + len, "line %zu of the message, some text to fill it\r\n", len);
        if (len % 7 == 0)
            len += (size_t)sprintf(msg + len, "..dot-stuffed\r\n");
    }
    memcpy(msg + len, ".\r\nQUIT\r\n", 9);
    for (split = 1; split < len + 9; split++) {
        assert_int_equal(data_run(msg, len + 9, split, 0, &total), SMTP_DATA_END);
        assert_int_equal(total, len + 3);
    }
    assert_int_equal(data_run(msg, len + 9, 0, 1, &total), SMTP_DATA_END);
    assert_int_equal(total, len + 3);
    free(msg);
}

/* ---- client identity ---- */

/* test_xclient - the XCLIENT command */
static void test_xclient(void **state)
{
    char buf[1024], helo[400], want[1024];
    size_t n, i;

    (void)state;
    n = smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 40123, "client.example", 14);
    assert_string_equal(
        buf, "XCLIENT ADDR=192.0.2.7 PORT=40123 NAME=[TEMPUNAVAIL] HELO=client.example\r\n");
    assert_int_equal(n, strlen(buf));
    smtp_xclient_format(buf, sizeof(buf), "2001:db8::7", 1, 25, NULL, 0);
    assert_string_equal(buf, "XCLIENT ADDR=IPV6:2001:db8::7 PORT=25 NAME=[TEMPUNAVAIL]\r\n");
    smtp_xclient_format(buf, sizeof(buf), "2001:db8::7", 1, 25, "x", 0);
    assert_string_equal(buf, "XCLIENT ADDR=IPV6:2001:db8::7 PORT=25 NAME=[TEMPUNAVAIL]\r\n");
    smtp_xclient_format(buf, sizeof(buf), "::ffff:192.0.2.7", 1, 0, "a+b=c", 5);
    assert_string_equal(
        buf, "XCLIENT ADDR=IPV6:::ffff:192.0.2.7 PORT=0 NAME=[TEMPUNAVAIL] HELO=a+2Bb+3Dc\r\n");
    smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 1, "\x01 \x7f\xff[x]", 7);
    assert_string_equal(
        buf, "XCLIENT ADDR=192.0.2.7 PORT=1 NAME=[TEMPUNAVAIL] HELO=+01+20+7F+FF[x]\r\n");
    /* the encoded HELO is cut to 255 bytes, never inside an escape */
    memset(helo, 'a', 300);
    n = smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 1, helo, 300);
    snprintf(want, sizeof(want), "XCLIENT ADDR=192.0.2.7 PORT=1 NAME=[TEMPUNAVAIL] HELO=%.255s\r\n",
             helo);
    assert_string_equal(buf, want);
    memset(helo, '+', 100);
    n = smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 1, helo, 100);
    assert_int_equal(n, strlen("XCLIENT ADDR=192.0.2.7 PORT=1 NAME=[TEMPUNAVAIL] HELO=") + 255 + 2);
    helo[0] = 'a';
    n = smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 1, helo, 100);
    assert_int_equal(n, strlen("XCLIENT ADDR=192.0.2.7 PORT=1 NAME=[TEMPUNAVAIL] HELO=") + 1 +
                            84 * 3 + 2);
    assert_memory_equal(buf + n - 5, "+2B\r\n", 5);
    /* the longest command still fits in an SMTP command line */
    memset(helo, '=', 300);
    n = smtp_xclient_format(buf, sizeof(buf), "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255", 1,
                            65535, helo, 300);
    assert_true(n > 0 && n <= SMTP_LINE_MIN);
    /* bad input gives 0 */
    assert_int_equal(smtp_xclient_format(buf, sizeof(buf), "", 0, 1, NULL, 0), 0);
    assert_int_equal(smtp_xclient_format(buf, sizeof(buf), "192.0.2.7 NAME=x", 0, 1, NULL, 0), 0);
    assert_int_equal(smtp_xclient_format(buf, sizeof(buf), "192.0.2.7\r\n", 0, 1, NULL, 0), 0);
    assert_int_equal(smtp_xclient_format(buf, sizeof(buf), "2001:db8::1", 0, 1, NULL, 0), 0);
    assert_int_equal(smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 65536, NULL, 0), 0);
    /* size: too small gives 0; exactly the length fits without the NUL */
    n = smtp_xclient_format(buf, sizeof(buf), "192.0.2.7", 0, 25, "h", 1);
    for (i = 0; i < n; i++)
        assert_int_equal(smtp_xclient_format(want, i, "192.0.2.7", 0, 25, "h", 1), 0);
    assert_int_equal(smtp_xclient_format(want, n, "192.0.2.7", 0, 25, "h", 1), n);
    assert_memory_equal(want, buf, n);
}

/* test_haproxy - the PROXY protocol v1 header */
static void test_haproxy(void **state)
{
    char buf[256];
    size_t n, i;

    (void)state;
    n = smtp_haproxy_format(buf, sizeof(buf), 0, "192.0.2.7", "192.0.2.1", 40123, 25);
    assert_string_equal(buf, "PROXY TCP4 192.0.2.7 192.0.2.1 40123 25\r\n");
    assert_int_equal(n, strlen(buf));
    smtp_haproxy_format(buf, sizeof(buf), 1, "2001:db8::7", "2001:db8::1", 1, 25);
    assert_string_equal(buf, "PROXY TCP6 2001:db8::7 2001:db8::1 1 25\r\n");
    n = smtp_haproxy_format(buf, sizeof(buf), 1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
                            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65535);
    assert_int_equal(n, 104);
    assert_true(n <= 107); /* the v1 specification's maximum */
    assert_int_equal(smtp_haproxy_format(buf, sizeof(buf), 0, "2001:db8::7", "192.0.2.1", 1, 25),
                     0);
    assert_int_equal(smtp_haproxy_format(buf, sizeof(buf), 0, "192.0.2.7", "", 1, 25), 0);
    assert_int_equal(smtp_haproxy_format(buf, sizeof(buf), 0, "1.2.3.4 5", "1.2.3.4", 1, 25), 0);
    assert_int_equal(smtp_haproxy_format(buf, sizeof(buf), 0, "1.2.3.4", "1.2.3.4", 65536, 25), 0);
    assert_int_equal(smtp_haproxy_format(buf, sizeof(buf), 0, "1.2.3.4", "1.2.3.4", 1, 70000), 0);
    n = smtp_haproxy_format(buf, sizeof(buf), 0, "1.2.3.4", "5.6.7.8", 1, 2);
    for (i = 0; i < n; i++)
        assert_int_equal(smtp_haproxy_format(buf, i, 0, "1.2.3.4", "5.6.7.8", 1, 2), 0);
    assert_int_equal(smtp_haproxy_format(buf, n, 0, "1.2.3.4", "5.6.7.8", 1, 2), n);
}

/* main - run the tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_find),       cmocka_unit_test(test_line_limit),
        cmocka_unit_test(test_command_table),   cmocka_unit_test(test_format_refuses),
        cmocka_unit_test(test_relay_battery),   cmocka_unit_test(test_relay_battery_malformed),
        cmocka_unit_test(test_error_replies),   cmocka_unit_test(test_auth_lines),
        cmocka_unit_test(test_reply_table),     cmocka_unit_test(test_reply_limits),
        cmocka_unit_test(test_ehlo_filter),     cmocka_unit_test(test_data_table),
        cmocka_unit_test(test_data_exhaustive), cmocka_unit_test(test_data_message),
        cmocka_unit_test(test_xclient),         cmocka_unit_test(test_haproxy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
