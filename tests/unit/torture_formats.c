/*
 * torture_formats - unit tests for popauth/formats.c: per-parser tables of real-shaped
 * lines, the golden files tests/data/formats/<name>.log / .expected, formats_mask and
 * formats_name, the user-name rules, and a throughput figure (printed, not asserted).
 *
 * Verdict text, used by the tables and by every line of a .expected file (one line per
 * input line of the .log file, in order):
 *   LOGIN <address> <user> <time>   a successful login: canonical address (addr_format),
 *                                   the user as stored (may be empty or hold spaces),
 *                                   the line's time in unix seconds
 *   NONE                            not a login line of an enabled format
 *   REJECTED                        shaped like a login, failed a strictness check
 *   BADLINE                         logline_parse refused the line (no time or no tag)
 * All lines are read with now = 2026-11-28T15:00:00Z (TORTURE_NOW) and TZ=UTC. A .log
 * line starting with '#' is a comment (where a variant was confirmed) and has no
 * verdict line.
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

#include "popauth/formats.h"
#include "popauth/logline.h"
#include "shared/util.h"

#ifndef TESTS_DATA_DIR
#define TESTS_DATA_DIR "tests/data"
#endif

#define TORTURE_NOW     INT64_C(1795878000)         /* 2026-11-28T15:00:00Z */
#define TORTURE_T(m, s) (1795874400 + (m)*60 + (s)) /* 2026-11-28 14:m:s UTC */

/* One line and the verdict it must get. */
struct formats_case {
    const char *line;
    const char *expect;
};

/* torture_formats_verdict - the verdict text for line under mask into buf; the login's
 * source name (or NULL) into *source */
static void torture_formats_verdict(const char *line, size_t len, unsigned mask, char *buf,
                                    size_t buflen, const char **source)
{
    struct logline ll;
    struct login login;
    char a[ADDR_STRLEN];

    *source = NULL;
    if (logline_parse(line, len, TORTURE_NOW, &ll) < 0) {
        snprintf(buf, buflen, "BADLINE");
        return;
    }
    memset(&login, 0xa5, sizeof(login));
    switch (formats_parse(&ll, mask, &login)) {
    case FORMATS_NONE:
        snprintf(buf, buflen, "NONE");
        break;
    case FORMATS_REJECTED:
        snprintf(buf, buflen, "REJECTED");
        break;
    case FORMATS_LOGIN:
        *source = login.source;
        snprintf(buf, buflen, "LOGIN %s %s %lld", addr_format(&login.client, a, sizeof(a)),
                 login.user, (long long)login.time);
        break;
    default:
        snprintf(buf, buflen, "BAD VERDICT");
        break;
    }
}

/* torture_formats_check - run one table row; the source of a login must be want */
static void torture_formats_check(const struct formats_case *c, const char *want)
{
    char got[512];
    const char *source;

    torture_formats_verdict(c->line, strlen(c->line), FORMATS_ALL, got, sizeof(got), &source);
    if (strcmp(got, c->expect) != 0) {
        print_error("line: %s\n want: %s\n  got: %s\n", c->line, c->expect, got);
        fail();
    }
    if (source != NULL)
        assert_string_equal(source, want);
}

static const struct formats_case dovecot_cases[] = {
    {"Nov 28 14:20:01 mail dovecot: pop3-login: Login: user=<alice>, method=PLAIN, "
     "rip=203.0.113.7, lip=198.51.100.1, mpid=123, TLS, session=<abc>",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 mail dovecot[9]: imap-login: Logged in: user=<a>, rip=2001:DB8:0::1",
     "LOGIN 2001:db8::1 a 1795875601"},
    {"Nov 28 14:20:01 dovecot: imap-login: Info: Login: user=<a>, rip=::ffff:10.0.0.1",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 imap-login: Login: user=<>, method=EXTERNAL, rip=10.0.0.1",
     "LOGIN 10.0.0.1  1795875601"},
    {"Nov 28 14:20:01 pop3-login: Info: Logged in: session=<x>, rip=10.0.0.2, user=<b>",
     "LOGIN 10.0.0.2 b 1795875601"},
    /* injections and ambiguity */
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<rip=6.6.6.6>, rip=10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x, rip=6.6.6.6>, rip=10.0.0.1",
     "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>, rip=6.6.6.6>, rip=10.0.0.1",
     "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x, rip=6.6.6.6>", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>y, rip=10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x, rip=10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>, rip=10.0.0.1,lip=1.2.3.4",
     "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>, rip=", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>, rip=10.0.0.1/8", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>", "REJECTED"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<x>, real_rip=6.6.6.6, rip=10.0.0.1",
     "LOGIN 10.0.0.1 x 1795875601"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<a\x01\x7f\xc3\xa9>, rip=10.0.0.1",
     "LOGIN 10.0.0.1 a???? 1795875601"},
    /* failures, other services, other programs */
    {"Nov 28 14:20:01 h dovecot: pop3-login: Aborted login (auth failed, 1 attempts in 2 "
     "secs): user=<Login: user=<x>, method=PLAIN, rip=6.6.6.6>, rip=10.0.0.1",
     "NONE"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: Disconnected (auth failed, 1 attempts in 2 secs): "
     "user=<Login: user=<x>, method=PLAIN, rip=6.6.6.6>, method=PLAIN, rip=10.0.0.1",
     "NONE"},
    {"Nov 28 14:20:01 h dovecot: imap-login: Login aborted: Connection closed (auth failed) "
     "(auth_failed): user=<x>, rip=6.6.6.6",
     "NONE"},
    {"Nov 28 14:20:01 h dovecot: pop3(alice): Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h dovecot: submission-login: Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h dovecot: LOGIN, user=alice, ip=[6.6.6.6], port=[1]", "NONE"},
    {"Nov 28 14:20:01 h dovecot: Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h postfix/smtpd[1]: pop3-login: Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h dovecott: pop3-login: Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h Dovecot: pop3-login: Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h dovecot: pop3-login:  Login: user=<x>, rip=6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h dovecot: pop3-login: login: user=<x>, rip=6.6.6.6", "NONE"},
};

static const struct formats_case courier_cases[] = {
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=alice, ip=[::ffff:203.0.113.7], port=[51234]",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 h imapd: LOGIN, user=a, ip=[2001:db8::1], port=[1], protocol=IMAP",
     "LOGIN 2001:db8::1 a 1795875601"},
    {"Nov 28 14:20:01 h imapd-ssl: LOGIN, user=, ip=[10.0.0.1]", "LOGIN 10.0.0.1  1795875601"},
    {"Nov 28 14:20:01 h courierpop3login: LOGIN, user=a b, ip=[10.0.0.1], protocol=POP3",
     "LOGIN 10.0.0.1 a b 1795875601"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x, ip=[6.6.6.6], ip=[10.0.0.1], port=[1]", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=ip=[6.6.6.6], ip=[10.0.0.1], port=[1]", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x,ip=[6.6.6.6], ip=[10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x, ip=[10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x, ip=[10.0.0.1], port=[]", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x, ip=[10.0.0.1], port=[1]x", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x, ip=[10.0.0.1],", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN, user=x ip=[10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h pop3d: LOGIN FAILED, user=LOGIN, user=x, ip=[6.6.6.6], ip=[10.0.0.1]",
     "NONE"},
    {"Nov 28 14:20:01 h pop3d: LOGOUT, user=a, ip=[10.0.0.1], top=0, retr=0, time=1", "NONE"},
    {"Nov 28 14:20:01 h pop3d-ssl: Connection, ip=[::ffff:10.0.0.1]", "NONE"},
    {"Nov 28 14:20:01 h exim[1]: LOGIN, user=x, ip=[6.6.6.6], port=[1]", "NONE"},
};

static const struct formats_case cyrus_cases[] = {
    {"Nov 28 14:20:01 h cyrus/imap[1]: login: h.example [203.0.113.7] alice plaintext User "
     "logged in SESSIONID=<cyrus-1-2-3>",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 h imap[1]: login: unknown [::ffff:10.0.0.1] a PLAIN+TLS User logged in",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h pop3: login: [2001:db8::5] a plaintext User logged in",
     "LOGIN 2001:db8::5 a 1795875601"},
    {"Nov 28 14:20:01 h service/pop3s[1]: login: h [10.0.0.1] a b User logged in",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h imaps: login: h [10.0.0.1] a b User logged in",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h x/imaps: login: h [10.0.0.1] a b User logged in",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h /imap: login: h [10.0.0.1] a b User logged in", "NONE"},
    {"Nov 28 14:20:01 h cyrus/imapd: login: h [10.0.0.1] a b User logged in", "NONE"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [6.6.6.6] [10.0.0.1] b User logged in", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1] a] b User logged in", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1] a b c User logged in", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1] a  User logged in", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1] a b User logged in x", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1] a b User logged in SESSIONID=<>",
     "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h  [10.0.0.1] a b User logged in", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: login: h [10.0.0.1] User logged in", "REJECTED"},
    {"Nov 28 14:20:01 h cyrus/imap: badlogin: h [10.0.0.1] plaintext a SASL(-13)", "NONE"},
    {"Nov 28 14:20:01 h cyrus/lmtpd: login: h [6.6.6.6] a b User logged in", "NONE"},
    {"Nov 28 14:20:01 h postfix/smtpd: login: h [6.6.6.6] a b User logged in", "NONE"},
};

static const struct formats_case uw_cases[] = {
    {"Nov 28 14:20:01 h ipop3d[1]: Login user=alice host=h.example [203.0.113.7] nmsgs=3/3",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=alice host=h.example [203.0.113.7]",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 h imapd[1]: Authenticated user=a host=[2001:db8::1]",
     "LOGIN 2001:db8::1 a 1795875601"},
    {"Nov 28 14:20:01 h imapd[1]: Authenticated user=a host=h [10.0.0.1] mech=PLAIN",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a host=h [::ffff:10.0.0.1]",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a host=x [6.6.6.6] host=h [10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a [6.6.6.6] host=h [10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=host=h host=h [10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a host=h 10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a host=h  [10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a host=h [10.0.0.1] x", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=a host=h [10.0.0.1]x", "REJECTED"},
    {"Nov 28 14:20:01 h ipop3d[1]: Login user=a host=h [10.0.0.1] nmsgs=1/", "REJECTED"},
    {"Nov 28 14:20:01 h ipop3d[1]: Login user=a host=h [10.0.0.1] nmsgs=/1", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login user=ahost=h [10.0.0.1]", "REJECTED"},
    {"Nov 28 14:20:01 h imapd[1]: Login failed user=a auth=a host=h [10.0.0.1]", "NONE"},
    {"Nov 28 14:20:01 h imapd[1]: Logout user=a host=h [10.0.0.1]", "NONE"},
    {"Nov 28 14:20:01 h imapd[1]: Preauthenticated user=a host=h [10.0.0.1]", "NONE"},
    {"Nov 28 14:20:01 h sendmail[1]: Login user=a host=h [6.6.6.6]", "NONE"},
};

static const struct formats_case qpopper_cases[] = {
    {"Nov 28 14:20:01 h popper[1]: (v4.0.9) POP login by user \"alice\" at (h.example) "
     "203.0.113.7",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 h qpopper[1]: (v4.1.0) POP login by user \"a\" at (h) ::ffff:10.0.0.1",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"a\" at (h) 2001:db8::1",
     "LOGIN 2001:db8::1 a 1795875601"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"a) 6.6.6.6\" at (h) 10.0.0.1",
     "LOGIN 10.0.0.1 a) 6.6.6.6 1795875601"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" at (h) 6.6.6.6\" at (h) "
     "10.0.0.1",
     "REJECTED"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" at (h) 6.6.6.6) 10.0.0.1",
     "REJECTED"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" at () 10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" at (h) 10.0.0.1 ", "REJECTED"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" at (h) 10.0.0.1:1", "REJECTED"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" at h 10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h popper: (v4.1.0) POP login by user \"x\" 10.0.0.1", "REJECTED"},
    {"Nov 28 14:20:01 h popper: POP login by user \"x\" at (h) 10.0.0.1", "NONE"},
    {"Nov 28 14:20:01 h popper: (v) POP login by user \"x\" at (h) 10.0.0.1", "NONE"},
    {"Nov 28 14:20:01 h popper: (v4.0.9) APOP login by user \"x\" at (h) 10.0.0.1", "NONE"},
    {"Nov 28 14:20:01 h popper: Stats: a 0 0 0 0 h 10.0.0.1", "NONE"},
    {"Nov 28 14:20:01 h sendmail[2]: AA: from=POP login by user \"admin\" at (h) 6.6.6.6", "NONE"},
    {"Nov 28 14:20:01 h postfix/smtpd[2]: (v4.0.9) POP login by user \"admin\" at (h) 6.6.6.6",
     "NONE"},
};

static const struct formats_case perdition_cases[] = {
    {"Nov 28 14:20:01 h perdition.pop3[1]: Auth: 203.0.113.7->198.51.100.1 "
     "client-secure=plaintext authorisation_id=NONE authentication_id=\"alice\" "
     "server=\"10.0.0.1:110\" protocol=POP3 server-secure=plaintext status=\"ok\"",
     "LOGIN 203.0.113.7 alice 1795875601"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1:1234->10.0.0.2:110 user=\"a\" status=\"ok\"",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h perdition.imap4: Auth: [2001:db8::1]:5->[2001:db8::2]:143 user=\"a\" "
     "status=\"ok\"",
     "LOGIN 2001:db8::1 a 1795875601"},
    {"Nov 28 14:20:01 h perdition.imap4s: Auth: [::ffff:10.0.0.1]->x user=\"a\" status=\"ok\"",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h perdition.pop3s: Auth: 2001:db8::1->2001:db8::2 user=\"a\" status=\"ok\"",
     "LOGIN 2001:db8::1 a 1795875601"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"u\" authentication_id=\"a\" "
     "status=\"ok\"",
     "LOGIN 10.0.0.1 a 1795875601"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a\" status=\"failed: nope\"", "NONE"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a\" status=\"ok\" x=1", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a\" status=\"ok\" status=\"ok\"",
     "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a\" status=ok", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a\"b status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1->x user=\"a\"  status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 10.0.0.1:->x user=\"a\" status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: [10.0.0.1->x user=\"a\" status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: 6.6.6.6 user=\"a->b\" status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Auth: ->x user=\"a\" status=\"ok\"", "REJECTED"},
    {"Nov 28 14:20:01 h perdition: Connect: 10.0.0.1->10.0.0.2", "NONE"},
    {"Nov 28 14:20:01 h exim: Auth: 6.6.6.6->x user=\"a\" status=\"ok\"", "NONE"},
};

/* torture_formats_table - run a table of cases for one format */
static void torture_formats_table(const struct formats_case *t, size_t n, const char *name)
{
    size_t i;

    for (i = 0; i < n; i++)
        torture_formats_check(&t[i], name);
}

/* torture_formats_dovecot - the Dovecot table */
static void torture_formats_dovecot(void **state)
{
    (void)state;
    torture_formats_table(dovecot_cases, UTIL_ARRAY_LEN(dovecot_cases), "dovecot");
}

/* torture_formats_courier - the Courier table */
static void torture_formats_courier(void **state)
{
    (void)state;
    torture_formats_table(courier_cases, UTIL_ARRAY_LEN(courier_cases), "courier");
}

/* torture_formats_cyrus - the Cyrus table */
static void torture_formats_cyrus(void **state)
{
    (void)state;
    torture_formats_table(cyrus_cases, UTIL_ARRAY_LEN(cyrus_cases), "cyrus");
}

/* torture_formats_uw - the UW imapd/ipop3d table */
static void torture_formats_uw(void **state)
{
    (void)state;
    torture_formats_table(uw_cases, UTIL_ARRAY_LEN(uw_cases), "uw");
}

/* torture_formats_qpopper - the Qpopper table */
static void torture_formats_qpopper(void **state)
{
    (void)state;
    torture_formats_table(qpopper_cases, UTIL_ARRAY_LEN(qpopper_cases), "qpopper");
}

/* torture_formats_perdition - the Perdition table */
static void torture_formats_perdition(void **state)
{
    (void)state;
    torture_formats_table(perdition_cases, UTIL_ARRAY_LEN(perdition_cases), "perdition");
}

/* torture_formats_chomp - strip the newline of a line read by fgets; its length */
static size_t torture_formats_chomp(char *s)
{
    size_t n = strlen(s);

    if (n > 0 && s[n - 1] == '\n')
        s[--n] = '\0';
    return n;
}

/* torture_formats_golden - every line of tests/data/formats/NAME.log against .expected,
 * with all formats, with only NAME, and with every format but NAME */
static void torture_formats_golden(void **state)
{
    int id;

    (void)state;
    for (id = 0; id < FORMAT_COUNT; id++) {
        const char *name = formats_name((enum format_id)id);
        char path[1024], line[LOGLINE_MAX + 2], want[1024], got[1024];
        FILE *log, *exp;
        int n = 0, lineno = 0, logins = 0, rejected = 0;

        snprintf(path, sizeof(path), "%s/formats/%s.log", TESTS_DATA_DIR, name);
        log = fopen(path, "r");
        assert_non_null(log);
        snprintf(path, sizeof(path), "%s/formats/%s.expected", TESTS_DATA_DIR, name);
        exp = fopen(path, "r");
        assert_non_null(exp);
        while (fgets(line, sizeof(line), log) != NULL) {
            size_t len = torture_formats_chomp(line);
            const char *source;

            lineno++;
            if (line[0] == '#')
                continue;
            n++;
            if (fgets(want, sizeof(want), exp) == NULL) {
                print_error("%s.expected: no verdict for line %d\n", name, n);
                fail();
            }
            torture_formats_chomp(want);
            torture_formats_verdict(line, len, FORMATS_ALL, got, sizeof(got), &source);
            if (strcmp(got, want) != 0) {
                print_error("%s.log:%d: %s\n want: %s\n  got: %s\n", name, lineno, line, want, got);
                fail();
            }
            if (source != NULL)
                assert_string_equal(source, name);
            logins += strncmp(got, "LOGIN ", 6) == 0;
            rejected += strcmp(got, "REJECTED") == 0;
            torture_formats_verdict(line, len, 1u << id, got, sizeof(got), &source);
            assert_string_equal(got, want);
            torture_formats_verdict(line, len, FORMATS_ALL & ~(1u << id), got, sizeof(got),
                                    &source);
            if (strcmp(want, "BADLINE") != 0)
                assert_string_equal(got, "NONE");
        }
        assert_null(fgets(want, sizeof(want), exp));
        assert_true(n >= 10);
        assert_true(logins >= 4);
        assert_true(rejected >= 2);
        fclose(log);
        fclose(exp);
    }
}

/* torture_formats_user - users are cut to STORE_USER_MAX - 1 printable bytes */
static void torture_formats_user(void **state)
{
    char line[2048], want[STORE_USER_MAX];
    struct logline ll;
    struct login login;
    int n;

    (void)state;
    memset(want, 'u', sizeof(want) - 1);
    want[sizeof(want) - 1] = '\0';
    n = snprintf(line, sizeof(line), "Nov 28 14:20:01 h dovecot: pop3-login: Login: user=<");
    memset(line + n, 'u', 600);
    n += 600;
    n += snprintf(line + n, sizeof(line) - (size_t)n, ">, rip=10.0.0.1");
    assert_int_equal(logline_parse(line, (size_t)n, TORTURE_NOW, &ll), 0);
    assert_int_equal(formats_parse(&ll, FORMATS_ALL, &login), FORMATS_LOGIN);
    assert_string_equal(login.user, want);
    assert_int_equal(login.time, TORTURE_T(20, 1));
}

/* torture_formats_mask - log_formats names to a mask, and the error for a bad name */
static void torture_formats_mask(void **state)
{
    char w_all[] = "all", w_dovecot[] = "dovecot", w_perdition[] = "perdition";
    char w_bad[] = "exim\x01", w_one[32];
    char *all[] = {w_all}, *two[] = {w_dovecot, w_perdition}, *bad[] = {w_dovecot, w_bad};
    char *none[1] = {NULL};
    struct strlist l;
    unsigned mask = 0;
    char err[256];
    int id;

    (void)state;
    l.items = all;
    l.count = 1;
    assert_int_equal(formats_mask(&l, &mask, err, sizeof(err)), 0);
    assert_int_equal(mask, FORMATS_ALL);
    l.items = two;
    l.count = 2;
    assert_int_equal(formats_mask(&l, &mask, err, sizeof(err)), 0);
    assert_int_equal(mask, (1u << FORMAT_DOVECOT) | (1u << FORMAT_PERDITION));
    l.items = none;
    l.count = 0;
    assert_int_equal(formats_mask(&l, &mask, err, sizeof(err)), 0);
    assert_int_equal(mask, 0);
    l.items = bad;
    l.count = 2;
    mask = 7;
    assert_int_equal(formats_mask(&l, &mask, err, sizeof(err)), -1);
    assert_int_equal(mask, 7);
    assert_string_equal(err, "log_formats: unknown format 'exim?' (known: all dovecot courier "
                             "cyrus uw qpopper perdition)");
    for (id = 0; id < FORMAT_COUNT; id++) {
        char *one[1] = {w_one};

        util_strlcpy(w_one, formats_name((enum format_id)id), sizeof(w_one));
        l.items = one;
        l.count = 1;
        assert_int_equal(formats_mask(&l, &mask, err, sizeof(err)), 0);
        assert_int_equal(mask, 1u << id);
    }
    assert_string_equal(formats_name(FORMAT_UW), "uw");
    assert_string_equal(formats_name(FORMAT_COUNT), "unknown");
}

/* torture_formats_rate - lines per second for n copies of line (split and parse) */
static double torture_formats_rate(const char *line, int n, int *logins)
{
    struct timespec a, b;
    size_t len = strlen(line);
    struct logline ll;
    struct login login;
    int i;
    double s;

    *logins = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (i = 0; i < n; i++)
        if (logline_parse(line, len, TORTURE_NOW, &ll) == 0 &&
            formats_parse(&ll, FORMATS_ALL, &login) == FORMATS_LOGIN)
            (*logins)++;
    clock_gettime(CLOCK_MONOTONIC, &b);
    s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    return s > 0 ? n / s : 0;
}

/* torture_formats_bench - print throughput on noise and on login lines (not asserted) */
static void torture_formats_bench(void **state)
{
    static const char *const lines[] = {
        "Nov 28 14:20:01 mail postfix/smtpd[2345]: connect from unknown[203.0.113.66]",
        "Nov 28 14:20:01 mail postfix/cleanup[2346]: 4Xyz: message-id=<a@b.example>",
        "Nov 28 14:20:01 mail dovecot: pop3-login: Login: user=<alice>, method=PLAIN, "
        "rip=203.0.113.7, lip=198.51.100.1, mpid=10625, TLS, session=<SR238FZh7K4KTQAy>",
        "Nov 28 14:20:01 mail perdition.pop3[701]: Auth: 203.0.113.7->198.51.100.1 "
        "client-secure=plaintext authorisation_id=NONE authentication_id=\"alice\" "
        "server=\"10.0.0.1:110\" protocol=POP3 server-secure=plaintext status=\"ok\"",
    };
    size_t i;
    int logins;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(lines); i++) {
        double r = torture_formats_rate(lines[i], 200000, &logins);
        printf("# bench: %.2f M lines/s (%s) %.40s...\n", r / 1e6, logins ? "login" : "noise",
               lines[i]);
    }
}

/* main - run every test in TZ=UTC */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_formats_dovecot), cmocka_unit_test(torture_formats_courier),
        cmocka_unit_test(torture_formats_cyrus),   cmocka_unit_test(torture_formats_uw),
        cmocka_unit_test(torture_formats_qpopper), cmocka_unit_test(torture_formats_perdition),
        cmocka_unit_test(torture_formats_golden),  cmocka_unit_test(torture_formats_user),
        cmocka_unit_test(torture_formats_mask),    cmocka_unit_test(torture_formats_bench),
    };

    setenv("TZ", "UTC", 1);
    tzset();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
