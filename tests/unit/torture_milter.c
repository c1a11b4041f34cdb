/*
 * torture_milter - unit tests for smtpgate/milter.c, the milter protocol core: framing
 * bounds, the option negotiation as Postfix and Sendmail offer it (and an old MTA
 * without macro lists), the client address of each connect packet (IPv4, Sendmail's
 * "IPv6:" form, IPv4-mapped, unix and unknown families, garbage) with and without a
 * reply to it, {auth_authen} counted
 * only for the RCPT or the message it came with, the recipient taken from its packet,
 * the fixed replies of every outcome, and the protocol errors that close a connection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtpgate/milter.h"

#define TORTURE_PKT 512

/* A packet built by the test. */
struct torture_pkt {
    unsigned char b[TORTURE_PKT];
    size_t len;
};

/* torture_pkt - the packet cmd with len bytes of data */
static struct torture_pkt torture_pkt(char cmd, const void *data, size_t len)
{
    struct torture_pkt p;
    size_t n = len + 1;

    assert_true(len + 5 <= sizeof(p.b));
    p.b[0] = (unsigned char)(n >> 24), p.b[1] = (unsigned char)(n >> 16);
    p.b[2] = (unsigned char)(n >> 8), p.b[3] = (unsigned char)n;
    p.b[4] = (unsigned char)cmd;
    if (len > 0)
        memcpy(p.b + 5, data, len);
    p.len = len + 5;
    return p;
}

/* torture_send - feed cmd with len bytes of data to m; the step */
static enum milter_step torture_send(struct milter *m, char cmd, const void *data, size_t len)
{
    struct torture_pkt p = torture_pkt(cmd, data, len);
    char err[160] = "";
    enum milter_step step;

    assert_int_equal(milter_frame(p.b, p.len, err, sizeof(err)), (long)p.len);
    step = milter_packet(m, p.b, p.len, err, sizeof(err));
    if (step == MILTER_ERROR)
        assert_true(err[0] != '\0');
    return step;
}

/* torture_be32 - 4 big-endian bytes of n into p */
static void torture_be32(unsigned char *p, uint32_t n)
{
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
}

/* torture_optneg - negotiate version, actions and steps as an MTA offers them */
static enum milter_step torture_optneg(struct milter *m, uint32_t version, uint32_t actions,
                                       uint32_t steps)
{
    unsigned char d[12];

    torture_be32(d, version), torture_be32(d + 4, actions), torture_be32(d + 8, steps);
    return torture_send(m, 'O', d, sizeof(d));
}

/* torture_ready - a connection negotiated as Postfix 3.7 offers (version 6) */
static void torture_ready(struct milter *m)
{
    milter_init(m);
    assert_int_equal(torture_optneg(m, 6, 0x1ff, 0x1fffff), MILTER_SEND);
}

/* torture_connect - a connect packet for family and address text (NULL: none) */
static enum milter_step torture_connect(struct milter *m, char family, const char *text)
{
    unsigned char d[256];
    size_t n = 0;

    memcpy(d, "client.example\0", 15), n = 15;
    d[n++] = (unsigned char)family;
    if (text != NULL) {
        d[n++] = 0x30, d[n++] = 0x39; /* port 12345 */
        memcpy(d + n, text, strlen(text) + 1);
        n += strlen(text) + 1;
    }
    return torture_send(m, 'C', d, n);
}

/* torture_rcpt - a recipient packet for rcpt (one argument) */
static enum milter_step torture_rcpt(struct milter *m, const char *rcpt)
{
    return torture_send(m, 'R', rcpt, strlen(rcpt) + 1);
}

/* torture_macro - a macro packet for stage with one name and value */
static enum milter_step torture_macro(struct milter *m, char stage, const char *name,
                                      const char *value)
{
    unsigned char d[256];
    size_t n = 0;

    d[n++] = (unsigned char)stage;
    memcpy(d + n, name, strlen(name) + 1), n += strlen(name) + 1;
    memcpy(d + n, value, strlen(value) + 1), n += strlen(value) + 1;
    return torture_send(m, 'D', d, n);
}

/* torture_reply_is - m's reply is the packet cmd with len bytes of data */
static void torture_reply_is(const struct milter *m, char cmd, const void *data, size_t len)
{
    struct torture_pkt p = torture_pkt(cmd, data, len);

    assert_int_equal(m->outlen, p.len);
    assert_memory_equal(m->out, p.b, p.len);
}

/* framing: a length of 0 or over the bound is an error; a partial packet waits */
static void test_frame(void **state)
{
    unsigned char b[8] = {0, 0, 0, 3, 'c', 'x', 'y', 'z'};
    char err[160];

    (void)state;
    assert_int_equal(milter_frame(b, 3, err, sizeof(err)), 0);
    assert_int_equal(milter_frame(b, 6, err, sizeof(err)), 0);
    assert_int_equal(milter_frame(b, 7, err, sizeof(err)), 7);
    assert_int_equal(milter_frame(b, 8, err, sizeof(err)), 7);
    torture_be32(b, 0);
    assert_int_equal(milter_frame(b, 8, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "out of bounds"));
    torture_be32(b, MILTER_PACKET_MAX);
    assert_int_equal(milter_frame(b, 8, err, sizeof(err)), 0);
    torture_be32(b, MILTER_PACKET_MAX + 1);
    assert_int_equal(milter_frame(b, 8, err, sizeof(err)), -1);
    torture_be32(b, 0xffffffffu);
    assert_int_equal(milter_frame(b, 8, err, sizeof(err)), -1);
}

/* the answer to a version 6 MTA with macro lists: only RCPT's {auth_authen} */
static void test_optneg_v6(void **state)
{
    static const unsigned char want[] = {
        0, 0, 0, 6, 0,   0,   1,   0,   0,   0,   0x13, 0x76,              /* v, acts, steps */
        0, 0, 0, 0, 0,   0,   0,   0,   1,   0,   0,    0,    0,   2,   0, /* connect..mail */
        0, 0, 0, 3, '{', 'a', 'u', 't', 'h', '_', 'a',  'u',  't', 'h', 'e', 'n', '}', 0, /* rcpt */
        0, 0, 0, 4, 0,   0,   0,   0,   5,   0,   0,    0,    0,   6,   0}; /* data..eoh */
    struct milter m;

    (void)state;
    torture_ready(&m);
    assert_true(m.negotiated);
    assert_true(m.symlist);
    torture_reply_is(&m, 'O', want, sizeof(want));
}

/* only the steps the MTA offered to leave out are left out; an older version keeps MAIL
 * (its macros bring {auth_authen}) and gets no macro lists */
static void test_optneg_old(void **state)
{
    static const unsigned char v2[] = {0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0x72};
    static const unsigned char nolist[] = {0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0x13, 0x72};
    struct milter m;

    (void)state;
    milter_init(&m);
    assert_int_equal(torture_optneg(&m, 2, 0x3f, 0x7f), MILTER_SEND);
    assert_false(m.symlist);
    torture_reply_is(&m, 'O', v2, sizeof(v2));
    milter_init(&m);
    assert_int_equal(torture_optneg(&m, 7, 0xff, 0x1fffff), MILTER_SEND);
    assert_int_equal(m.version, 6);
    torture_reply_is(&m, 'O', nolist, sizeof(nolist));
}

/* protocol errors around the negotiation */
static void test_optneg_errors(void **state)
{
    struct milter m;
    unsigned char d[12] = {0};

    (void)state;
    milter_init(&m);
    assert_int_equal(torture_optneg(&m, 1, 0x3f, 0x3f), MILTER_ERROR);
    milter_init(&m);
    assert_int_equal(torture_send(&m, 'O', d, 11), MILTER_ERROR);
    milter_init(&m);
    assert_int_equal(torture_connect(&m, '4', "192.0.2.1"), MILTER_ERROR);
    milter_init(&m);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_ERROR);
    torture_ready(&m);
    assert_int_equal(torture_optneg(&m, 6, 0x1ff, 0x1fffff), MILTER_ERROR);
}

/* the client address of each family */
static void test_connect(void **state)
{
    static const struct {
        char family;
        const char *text;
        enum milter_step step;
        int has_client, local;
        unsigned char first; /* the address's first byte, when there is one */
    } cases[] = {
        {'4', "192.0.2.7", MILTER_SEND, 1, 0, 192},
        {'6', "2001:db8::7", MILTER_SEND, 1, 0, 0x20},
        {'6', "IPv6:2001:db8::7", MILTER_SEND, 1, 0, 0x20},
        {'6', "ipv6:2001:DB8::7", MILTER_SEND, 1, 0, 0x20},
        {'6', "::ffff:192.0.2.7", MILTER_SEND, 1, 0, 192},
        {'6', "IPv6:::ffff:192.0.2.7", MILTER_SEND, 1, 0, 192},
        {'4', "::ffff:192.0.2.7", MILTER_SEND, 1, 0, 192},
        {'4', "2001:db8::7", MILTER_SEND, 0, 0, 0},      /* IPv6 text for IPv4: unknown */
        {'4', "IPv6:2001:db8::7", MILTER_SEND, 0, 0, 0}, /* the prefix is IPv6's only */
        {'4', "192.0.2.7 ", MILTER_SEND, 0, 0, 0},
        {'4', "unknown", MILTER_SEND, 0, 0, 0},
        {'4', "", MILTER_SEND, 0, 0, 0},
        {'L', "/var/run/mta.sock", MILTER_SEND, 0, 1, 0},
        {'U', NULL, MILTER_SEND, 0, 1, 0},
        {'X', "192.0.2.7", MILTER_ERROR, 0, 0, 0},
    };
    struct milter m;
    size_t i;
    int quiet;

    (void)state;
    for (quiet = 0; quiet <= 1; quiet++) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            milter_init(&m);
            assert_int_equal(torture_optneg(&m, 6, 0x1ff, quiet ? 0x1fffff : 0x3ff), MILTER_SEND);
            assert_int_equal(m.quiet_connect, quiet);
            if (cases[i].step == MILTER_ERROR || !quiet)
                assert_int_equal(torture_connect(&m, cases[i].family, cases[i].text),
                                 cases[i].step);
            else
                assert_int_equal(torture_connect(&m, cases[i].family, cases[i].text), MILTER_NONE);
            assert_int_equal(m.has_client, cases[i].has_client);
            assert_int_equal(m.local, cases[i].local);
            if (cases[i].has_client)
                assert_int_equal(m.client.bytes[0], cases[i].first);
            if (cases[i].step == MILTER_SEND && !quiet)
                torture_reply_is(&m, cases[i].local ? 'a' : 'c', NULL, 0);
        }
    }
}

/* truncated connect packets are errors */
static void test_connect_truncated(void **state)
{
    struct milter m;

    (void)state;
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'C', "host", 4), MILTER_ERROR); /* no NUL */
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'C', "host\0", 5), MILTER_ERROR); /* no family */
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'C',
                                  "host\0"
                                  "4\0\x19",
                                  8),
                     MILTER_ERROR); /* no addr */
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'C',
                                  "host\0"
                                  "4\0\x19"
                                  "1.2.3.4",
                                  15),
                     MILTER_ERROR);
}

/* a recipient: one pair of brackets off, the first argument only; a local connection's
 * message is accepted at its first recipient, without a decision */
static void test_rcpt(void **state)
{
    struct milter m;

    (void)state;
    torture_ready(&m);
    assert_int_equal(torture_connect(&m, '4', "192.0.2.7"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_int_equal(m.rcptlen, 10);
    assert_memory_equal(m.rcpt, "u@far.test", 10);
    assert_int_equal(torture_send(&m, 'R', "<a@b>\0NOTIFY=NEVER\0", 19), MILTER_DECIDE);
    assert_int_equal(m.rcptlen, 3);
    assert_memory_equal(m.rcpt, "a@b", 3);
    assert_int_equal(torture_rcpt(&m, "u@far.test"), MILTER_DECIDE);
    assert_int_equal(m.rcptlen, 10);
    assert_int_equal(torture_rcpt(&m, "<<u@far.test>>"), MILTER_DECIDE);
    assert_memory_equal(m.rcpt, "<u@far.test>", 12);
    assert_int_equal(torture_rcpt(&m, "<>"), MILTER_DECIDE);
    assert_int_equal(m.rcptlen, 0);
    assert_int_equal(torture_send(&m, 'R', "<u@far.test>", 12), MILTER_ERROR);
    torture_ready(&m);
    assert_int_equal(torture_connect(&m, 'L', "/run/x"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_SEND);
    torture_reply_is(&m, 'a', NULL, 0);
    /* a new connection on the same socket starts unknown again */
    assert_int_equal(torture_send(&m, 'K', NULL, 0), MILTER_NONE);
    assert_false(m.local);
    assert_false(m.has_client);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
}

/* {auth_authen}: with the RCPT it came with only; with MAIL until the message ends */
static void test_auth(void **state)
{
    struct milter m;

    (void)state;
    torture_ready(&m);
    assert_int_equal(torture_connect(&m, '4', "192.0.2.7"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    assert_int_equal(torture_macro(&m, 'R', "{auth_authen}", "alice"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_true(m.authenticated);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    assert_int_equal(torture_macro(&m, 'R', "{auth_authen}", ""), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    assert_int_equal(torture_macro(&m, 'R', "{auth_type}", "PLAIN"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    /* other stages do not count */
    assert_int_equal(torture_macro(&m, 'C', "{auth_authen}", "alice"), MILTER_NONE);
    assert_int_equal(torture_macro(&m, 'H', "{auth_authen}", "alice"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    /* MAIL's macros hold for the message, until its end or abort */
    assert_int_equal(torture_macro(&m, 'M', "auth_authen", "alice"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_true(m.authenticated);
    assert_int_equal(torture_rcpt(&m, "<v@far.test>"), MILTER_DECIDE);
    assert_true(m.authenticated);
    assert_int_equal(torture_send(&m, 'E', NULL, 0), MILTER_SEND);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    assert_int_equal(torture_macro(&m, 'M', "{auth_authen}", "alice"), MILTER_NONE);
    assert_int_equal(torture_send(&m, 'A', NULL, 0), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
    /* a new connect forgets it too */
    assert_int_equal(torture_macro(&m, 'M', "{auth_authen}", "alice"), MILTER_NONE);
    assert_int_equal(torture_connect(&m, '4', "192.0.2.8"), MILTER_NONE);
    assert_int_equal(torture_rcpt(&m, "<u@far.test>"), MILTER_DECIDE);
    assert_false(m.authenticated);
}

/* malformed macro packets are errors */
static void test_macro_errors(void **state)
{
    struct milter m;

    (void)state;
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'D', NULL, 0), MILTER_ERROR);
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'D', "R{auth_authen}", 14), MILTER_ERROR);
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'D', "R{auth_authen}\0alice", 20), MILTER_ERROR);
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'D', "R", 1), MILTER_NONE);
}

/* the replies of every outcome are fixed: a permit accepts the message, a local
 * recipient continues, a refusal or deferral is a constant text */
static void test_verdict(void **state)
{
    static const char reject[] = "554 5.7.1 Relay access denied";
    static const char defer[] = "451 4.3.0 Relay authorization unavailable, try again later";
    struct milter m;

    (void)state;
    torture_ready(&m);
    assert_string_equal(milter_verdict(&m, DECISION_PERMIT_LOCALNET), "accept");
    torture_reply_is(&m, 'a', NULL, 0);
    assert_string_equal(milter_verdict(&m, DECISION_PERMIT_GRANT), "accept");
    torture_reply_is(&m, 'a', NULL, 0);
    assert_string_equal(milter_verdict(&m, DECISION_PERMIT_AUTH), "accept");
    torture_reply_is(&m, 'a', NULL, 0);
    assert_string_equal(milter_verdict(&m, DECISION_LOCAL), "continue");
    torture_reply_is(&m, 'c', NULL, 0);
    assert_string_equal(milter_verdict(&m, DECISION_REJECT), "554");
    torture_reply_is(&m, 'y', reject, sizeof(reject));
    assert_string_equal(milter_verdict(&m, DECISION_DEFER), "451");
    torture_reply_is(&m, 'y', defer, sizeof(defer));
    assert_string_equal(milter_verdict(&m, DECISION_NEED_GRANT), "451");
    torture_reply_is(&m, 'y', defer, sizeof(defer));
}

/* the other commands: continue, nothing, close, or an error */
static void test_commands(void **state)
{
    static const char cont[] = "HMTLNBU";
    struct milter m;
    size_t i;

    (void)state;
    torture_ready(&m);
    for (i = 0; cont[i] != '\0'; i++) {
        assert_int_equal(torture_send(&m, cont[i], "x", 2), MILTER_SEND);
        torture_reply_is(&m, 'c', NULL, 0);
    }
    assert_int_equal(torture_send(&m, 'A', NULL, 0), MILTER_NONE);
    assert_int_equal(torture_send(&m, 'Q', NULL, 0), MILTER_CLOSE);
    torture_ready(&m);
    assert_int_equal(torture_send(&m, 'Z', NULL, 0), MILTER_ERROR);
    torture_ready(&m);
    assert_int_equal(torture_send(&m, '\0', NULL, 0), MILTER_ERROR);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame),        cmocka_unit_test(test_optneg_v6),
        cmocka_unit_test(test_optneg_old),   cmocka_unit_test(test_optneg_errors),
        cmocka_unit_test(test_connect),      cmocka_unit_test(test_connect_truncated),
        cmocka_unit_test(test_rcpt),         cmocka_unit_test(test_auth),
        cmocka_unit_test(test_macro_errors), cmocka_unit_test(test_verdict),
        cmocka_unit_test(test_commands),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
