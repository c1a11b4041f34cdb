/*
 * torture_session - unit tests for smtpgate/session.c, the SMTP proxy's session core,
 * without sockets (tests/fuzz/session_driver.h stands in for the proxy's shell and for
 * the backend).
 *
 * A table of client dialogues with what the client, the backend and the log must get,
 * each replayed in every way of splitting the client's bytes: pipelining order with the
 * proxy's own replies among the backend's, DATA with dot-stuffing and its end, AUTH
 * pass-through, the line, recipient and error limits, the local replies and the grant
 * answers (permit, reject, defer). Then the greeting with XCLIENT and PROXY, every
 * timeout, backend failures, backpressure, draining, the end after QUIT, the rare ends
 * (failures while a reply or an answer is awaited), the line framer
 * on its own, and last that the tests reached every state and made every transition of
 * session.h's diagram (seen through session_ops.moved).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "shared/util.h"
#include "smtpgate/session.h"
#include "tests/fuzz/session_driver.h"

#define GREETING   "220 mx.test ESMTP\r\n"
#define OK         "250 2.0.0 Ok\r\n"
#define EHLO_OUT   "250-mx.test\r\n250-PIPELINING\r\n250 AUTH PLAIN\r\n"
#define GO         "354 End data with <CR><LF>.<CR><LF>\r\n"
#define QUEUED     "250 2.0.0 Ok: queued\r\n"
#define BYE        "221 2.0.0 Bye\r\n"
#define LONG60     "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define WITHLEN(s) s, sizeof(s) - 1
#define QUITTED    "close, backend closes first\nlinger after QUIT\n"
#define CLOSED     "close backend\nlinger\n"

static unsigned states_seen;                    /* every state any test reached */
static unsigned states_moves[SESSION_DEAD + 1]; /* by state: every state it was entered from */

/* torture_note - add what d's session went through to what every test reached */
static void torture_note(const struct driver *d)
{
    int i;

    states_seen |= d->seen;
    for (i = SESSION_GREETING; i <= SESSION_DEAD; i++)
        states_moves[i] |= d->moves[i];
}

/* torture_init - note what d's last session went through, then start a new one in d */
static void torture_init(struct driver *d, size_t max_line, uint32_t max_rcpts,
                         enum session_identity identity)
{
    torture_note(d);
    driver_init(d, max_line, max_rcpts, identity);
}

/* One client dialogue and what it must give, however its bytes arrive. */
struct dialogue {
    const char *name;
    const char *input;
    size_t len; /* 0: strlen(input) */
    size_t max_line;
    uint32_t max_rcpts;
    const char *grants;
    const char *answer_verb, *answer_text; /* one backend reply changed */
    const char *ehlo;                      /* the backend's EHLO reply (NULL: PIPELINING) */
    const char *client;                    /* what the client gets after the greeting */
    const char *backend;                   /* what the backend gets (NULL: not checked) */
    const char *events;                    /* the log lines and the end */
};

static const struct dialogue dialogues[] = {
    {"pipelined session",
     "EHLO client.example\r\nMAIL FROM:<a@far.test>\r\nRCPT TO:<u@local.test>\r\n"
     "RCPT TO:<x@far.test>\r\nDATA\r\nSubject: x\r\n..dot\r\n.x\r\n.\r\nQUIT\r\n",
     0, 512, 50, "pr", NULL, NULL, NULL,
     EHLO_OUT OK OK "554 5.7.1 Relay access denied\r\n" GO QUEUED BYE,
     "EHLO client.example\r\nMAIL FROM:<a@far.test>\r\nRCPT TO:<u@local.test>\r\nDATA\r\n"
     "Subject: x\r\n..dot\r\n.x\r\n.\r\nQUIT\r\n",
     QUITTED},
    {"canonical forms",
     "ehlo client.example\r\nmail from: <x@far.test>  size=10\r\nrcpt to:<u@local.test>   \r\n"
     "quit\r\n",
     0, 512, 50, NULL, NULL, NULL, NULL, EHLO_OUT OK OK BYE,
     "EHLO client.example\r\nMAIL FROM:<x@far.test> size=10\r\nRCPT TO:<u@local.test>\r\n"
     "QUIT\r\n",
     QUITTED},
    {"grant answers",
     "MAIL FROM:<>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\nRCPT TO:<c@x.test>\r\n"
     "QUIT\r\n",
     0, 512, 50, "prd", NULL, NULL, NULL,
     OK OK "554 5.7.1 Relay access denied\r\n"
           "451 4.3.0 Relay authorization unavailable, try again later\r\n" BYE,
     "MAIL FROM:<>\r\nRCPT TO:<a@x.test>\r\nQUIT\r\n", QUITTED},
    {"recipient limit, reset by RSET",
     "MAIL FROM:<a@b.test>\r\nRCPT TO:<1@l.test>\r\nRCPT TO:<2@l.test>\r\nRCPT TO:<3@l.test>\r\n"
     "RSET\r\nRCPT TO:<4@l.test>\r\nQUIT\r\n",
     0, 512, 2, NULL, NULL, NULL, NULL, OK OK OK "452 4.5.3 Too many recipients\r\n" OK OK BYE,
     "MAIL FROM:<a@b.test>\r\nRCPT TO:<1@l.test>\r\nRCPT TO:<2@l.test>\r\nRSET\r\n"
     "RCPT TO:<4@l.test>\r\nQUIT\r\n",
     "limit 3@l.test\n" QUITTED},
    {"local replies", "HELP\r\nVRFY root\r\nSTARTTLS\r\nBDAT 10 LAST\r\nXCLIENT A=1\r\nQUIT\r\n", 0,
     512, 50, NULL, NULL, NULL, NULL,
     "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT AUTH VRFY HELP\r\n"
     "252 2.5.0 Cannot VRFY user, but will accept message and attempt delivery\r\n"
     "502 5.5.1 Command not implemented\r\n502 5.5.1 Command not implemented\r\n"
     "500 5.5.1 Command unrecognized\r\n" BYE,
     "QUIT\r\n", QUITTED},
    {"errors then commands", "XCLIENT ADDR=127.0.0.1\r\nSTARTTLS\r\nRCPT TO:<>\r\nQUIT\r\n", 0, 512,
     50, NULL, NULL, NULL, NULL,
     "500 5.5.1 Command unrecognized\r\n502 5.5.1 Command not implemented\r\n"
     "501 5.5.4 Syntax error in parameters or arguments\r\n" BYE,
     "QUIT\r\n", QUITTED},
    {"command in the packet after STARTTLS", "STARTTLS\r\nRCPT TO:<u@local.test>\r\n", 0, 512, 50,
     NULL, NULL, NULL, NULL, "502 5.5.1 Command not implemented\r\n" OK,
     "RCPT TO:<u@local.test>\r\n", CLOSED},
    {"long line with its CRLF", LONG60 "\r\nQUIT\r\n", 0, 32, 50, NULL, NULL, NULL, NULL,
     "500 5.5.2 Line too long\r\n" BYE, "QUIT\r\n", QUITTED},
    {"long line's tail is not a command", LONG60 "RCPT TO:<u@far.test>\r\nQUIT\r\n", 0, 32, 50,
     NULL, NULL, NULL, NULL, "500 5.5.2 Line too long\r\n" BYE, "QUIT\r\n", QUITTED},
    {"long line with a bare LF", LONG60 "\nRCPT TO:<u@far.test>\r\n", 0, 32, 50, NULL, NULL, NULL,
     NULL, "500 5.5.2 Line too long\r\n500 5.5.2 Bare CR or LF not allowed\r\n", "",
     "action=close client=192.0.2.7 reason=\"bare CR or LF in a command line\"\n" CLOSED},
    {"long line with a NUL", WITHLEN(LONG60 "\0RCPT TO:<u@far.test>\r\n"), 32, 50, NULL, NULL, NULL,
     NULL, "500 5.5.2 Line too long\r\n500 5.5.2 NUL not allowed\r\n", "",
     "action=close client=192.0.2.7 reason=\"NUL in a command line\"\n" CLOSED},
    {"bare LF closes", "NOOP\r\nQUIT\nRCPT TO:<u@far.test>\r\n", 0, 512, 50, NULL, NULL, NULL, NULL,
     OK "500 5.5.2 Bare CR or LF not allowed\r\n", "NOOP\r\n",
     "action=close client=192.0.2.7 reason=\"bare CR or LF in a command line\"\n" CLOSED},
    {"bare CR closes", "NOOP\r\nRSET\rRCPT TO:<u@far.test>\r\n", 0, 512, 50, NULL, NULL, NULL, NULL,
     OK "500 5.5.2 Bare CR or LF not allowed\r\n", "NOOP\r\n",
     "action=close client=192.0.2.7 reason=\"bare CR or LF in a command line\"\n" CLOSED},
    {"NUL closes", WITHLEN("NOOP\r\nRS\0ET\r\nQUIT\r\n"), 512, 50, NULL, NULL, NULL, NULL,
     OK "500 5.5.2 NUL not allowed\r\n", "NOOP\r\n",
     "action=close client=192.0.2.7 reason=\"NUL in a command line\"\n" CLOSED},
    {"AUTH accepted",
     "EHLO c.test\r\nAUTH PLAIN\r\ndGVzdAB0ZXN0AHRlc3Q=\r\nMAIL FROM:<>\r\nRCPT TO:<x@far.test>\r\n"
     "QUIT\r\n",
     0, 512, 50, NULL, NULL, NULL, NULL,
     EHLO_OUT "334 \r\n235 2.7.0 Authentication successful\r\n" OK OK BYE,
     "EHLO c.test\r\nAUTH PLAIN\r\ndGVzdAB0ZXN0AHRlc3Q=\r\nMAIL FROM:<>\r\nRCPT TO:<x@far.test>\r\n"
     "QUIT\r\n",
     "action=auth client=192.0.2.7 status=accepted\n" QUITTED},
    {"AUTH continuation not base64", "AUTH LOGIN\r\nnot base64!\r\nQUIT\r\n", 0, 512, 50, NULL,
     NULL, NULL, NULL, "334 \r\n501 5.7.0 Authentication aborted\r\n" BYE,
     "AUTH LOGIN\r\n*\r\nQUIT\r\n", QUITTED},
    {"AUTH with an initial response", "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\nQUIT\r\n", 0, 512, 50,
     NULL, "AUTH", "235 2.7.0 Authentication successful\r\n", NULL,
     "235 2.7.0 Authentication successful\r\n" BYE, "AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\nQUIT\r\n",
     "action=auth client=192.0.2.7 status=accepted\n" QUITTED},
    {"AUTH refused", "AUTH PLAIN\r\nQUIT\r\n", 0, 512, 50, NULL, "AUTH",
     "504 5.5.4 Unrecognized authentication type\r\n", NULL,
     "504 5.5.4 Unrecognized authentication type\r\n" BYE, "AUTH PLAIN\r\nQUIT\r\n", QUITTED},
    {"DATA refused: the next line is a command", "DATA\r\nQUIT\r\n", 0, 512, 50, NULL, "DATA",
     "554 5.5.1 Error: no valid recipients\r\n", NULL,
     "554 5.5.1 Error: no valid recipients\r\n" BYE, "DATA\r\nQUIT\r\n", QUITTED},
    {"commands after the end of the message",
     "DATA\r\n.\r\n\r\n.\r\nNOOP\r\nDATA\r\nline\r\n.\r\nQUIT\r\n", 0, 512, 50, NULL, NULL, NULL,
     NULL,
     GO QUEUED
     "500 5.5.1 Command unrecognized\r\n500 5.5.1 Command unrecognized\r\n" OK GO QUEUED BYE,
     "DATA\r\n.\r\nNOOP\r\nDATA\r\nline\r\n.\r\nQUIT\r\n", QUITTED},
    {"bare LF in a message", "DATA\r\nline\r\nbad\nline\r\n.\r\nQUIT\r\n", 0, 512, 50, NULL, NULL,
     NULL, NULL, GO "554 5.5.0 Bare CR or LF or NUL in message, connection closed\r\n", NULL,
     "action=close client=192.0.2.7 reason=\"bare CR or LF or NUL in message\" bytes=9\n" CLOSED},
    {"client gone during DATA", "DATA\r\nline\r\n", 0, 512, 50, NULL, NULL, NULL, NULL, GO,
     "DATA\r\nline\r\n",
     "action=close client=192.0.2.7 reason=\"client closed during DATA\"\n" CLOSED},
    {"backend closes with 421", "MAIL FROM:<a@b.test>\r\nRCPT TO:<u@l.test>\r\n", 0, 512, 50, NULL,
     "MAIL", "421 4.3.0 Server closing\r\n", NULL, "421 4.3.0 Server closing\r\n",
     "MAIL FROM:<a@b.test>\r\n",
     "action=close client=192.0.2.7 reason=\"backend closed with 421\"\n" CLOSED},
    {"EHLO filtered, no PIPELINING", "EHLO c.test\r\nNOOP\r\nQUIT\r\n", 0, 512, 50, NULL, NULL,
     NULL, "250-mx.test\r\n250-STARTTLS\r\n250-CHUNKING\r\n250-XCLIENT NAME\r\n250 SIZE 100\r\n",
     "250-mx.test\r\n250 SIZE 100\r\n" OK BYE, "EHLO c.test\r\nNOOP\r\nQUIT\r\n", QUITTED},
};

/* dialogue_run - one dialogue with the client's bytes step at a time (0: all at once) */
static void dialogue_run(struct driver *d, const struct dialogue *tc, size_t step)
{
    size_t len = tc->len ? tc->len : strlen(tc->input);

    torture_init(d, tc->max_line, tc->max_rcpts, SESSION_ID_NONE);
    d->grants = tc->grants;
    d->answer_verb = tc->answer_verb;
    d->answer_text = tc->answer_text;
    d->ehlo = tc->ehlo;
    driver_start(d, GREETING);
    driver_feed(d, tc->input, len, step, 1);
    torture_note(d);
}

/* test_dialogues - every dialogue, in every split, gives exactly what the table says */
static void test_dialogues(void **state)
{
    static struct driver d;
    size_t i, step;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(dialogues); i++) {
        const struct dialogue *tc = &dialogues[i];
        size_t len = tc->len ? tc->len : strlen(tc->input);

        for (step = 0; step <= len; step++) {
            dialogue_run(&d, tc, step);
            if (strncmp(d.client.text, GREETING, strlen(GREETING)) != 0 ||
                strcmp(d.client.text + strlen(GREETING), tc->client) != 0)
                fail_msg("%s (step %zu): client got '%s'", tc->name, step, d.client.text);
            if (tc->backend != NULL && strcmp(d.backend.text, tc->backend) != 0)
                fail_msg("%s (step %zu): backend got '%s'", tc->name, step, d.backend.text);
            if (strcmp(d.events.text, tc->events) != 0)
                fail_msg("%s (step %zu): events '%s'", tc->name, step, d.events.text);
            if (!session_finished(&d.s))
                fail_msg("%s (step %zu): not finished, state %d", tc->name, step,
                         (int)session_state(&d.s));
        }
    }
    torture_note(&d);
}

/* test_too_many_errors - the 20th error reply is followed by 421 and the end */
static void test_too_many_errors(void **state)
{
    static struct driver d;
    char in[512] = "", want[2048] = "";
    int i;

    (void)state;
    for (i = 0; i < 25; i++) {
        strcat(in, "FOO\r\n");
        if (i < SESSION_MAX_ERRORS)
            strcat(want, "500 5.5.1 Command unrecognized\r\n");
    }
    strcat(want, "421 4.7.0 Too many errors\r\n");
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, in, strlen(in), 0, 0);
    assert_string_equal(d.client.text + strlen(GREETING), want);
    assert_string_equal(
        d.events.text,
        "action=close client=192.0.2.7 reason=\"too many errors\" errors=20\n" CLOSED);
    assert_string_equal(d.backend.text, "");
    torture_note(&d);
}

/* test_auth_too_long - an over-long AUTH continuation cancels the exchange ("*") and the
 * rest of it is dropped, not read as commands */
static void test_auth_too_long(void **state)
{
    static struct driver d;
    static char in[SMTP_AUTH_LINE + 200];
    size_t n;

    (void)state;
    strcpy(in, "AUTH LOGIN\r\n");
    n = strlen(in);
    memset(in + n, 'Q', SMTP_AUTH_LINE + 50);
    n += SMTP_AUTH_LINE + 50;
    memcpy(in + n, "\r\nQUIT\r\n", 8);
    n += 8;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, in, n, 0, 0);
    assert_string_equal(d.backend.text, "AUTH LOGIN\r\n*\r\nQUIT\r\n");
    assert_string_equal(d.client.text, GREETING "334 \r\n501 5.7.0 Authentication aborted\r\n" BYE);
    torture_note(&d);
}

/* test_pipelining_waits - without PIPELINING a command waits for the reply before it; with
 * it they go at once, and replies still leave in command order */
static void test_pipelining_waits(void **state)
{
    static struct driver d;
    static const char in[] = "EHLO c.test\r\nMAIL FROM:<>\r\nVRFY x\r\nRCPT TO:<a@l.test>\r\n";
    size_t mark;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.hold = 1;
    driver_feed(&d, in, sizeof(in) - 1, 0, 0);
    assert_string_equal(d.backend.text, "EHLO c.test\r\n");
    assert_int_equal(session_reads_client(&d.s), 0);
    assert_int_equal(session_timer(&d.s, d.now, 0), 60); /* the backend's turn */
    driver_release(&d);
    driver_feed(&d, "", 0, 0, 0);
    assert_string_equal(d.backend.text, "EHLO c.test\r\nMAIL FROM:<>\r\nRCPT TO:<a@l.test>\r\n");
    assert_string_equal(d.client.text, GREETING EHLO_OUT OK
                        "252 2.5.0 Cannot VRFY user, but will accept message and attempt "
                        "delivery\r\n" OK);
    /* the backend offers PIPELINING now: commands go out before their replies come */
    mark = d.client.len;
    d.hold = 1;
    driver_feed(&d, "RSET\r\nNOOP\r\nHELP\r\n", 18, 0, 0);
    assert_string_equal(d.backend.text + 47, "RSET\r\nNOOP\r\n");
    assert_int_equal(d.client.len, mark); /* HELP's reply waits its turn */
    driver_release(&d);
    assert_string_equal(d.client.text + mark,
                        OK OK "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT AUTH "
                              "VRFY HELP\r\n");
    torture_note(&d);
}

/* test_queue_full - at most SESSION_PIPELINE replies owed: reading pauses, then goes on */
static void test_queue_full(void **state)
{
    static struct driver d;
    static char in[SESSION_PIPELINE * 2 * 6 + 1];
    size_t i;

    (void)state;
    for (i = 0; i < SESSION_PIPELINE * 2; i++)
        memcpy(in + i * 6, "NOOP\r\n", 6);
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, "EHLO c\r\n", 8, 0, 0);
    d.hold = 1;
    driver_feed(&d, in, sizeof(in) - 1, 0, 0);
    /* a line is taken only while two more entries fit */
    assert_int_equal(d.backend.len, 8 + (SESSION_PIPELINE - 1) * 6);
    assert_int_equal(session_reads_client(&d.s), 0);
    driver_release(&d);
    assert_int_equal(d.backend.len, 8 + SESSION_PIPELINE * 2 * 6);
    assert_int_equal(d.client.len, strlen(GREETING EHLO_OUT) + SESSION_PIPELINE * 2 * strlen(OK));
    torture_note(&d);
}

/* test_backpressure - a reply waits for room at the client; the backend is not read then */
static void test_backpressure(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    d.cwin = strlen(GREETING) + 5;
    driver_start(&d, GREETING);
    driver_feed(&d, "NOOP\r\nNOOP\r\n", 12, 0, 0);
    assert_string_equal(d.client.text, GREETING);
    assert_string_equal(d.backend.text, "NOOP\r\n");
    assert_int_equal(session_reads_backend(&d.s), 0);
    assert_int_equal(session_reads_client(&d.s), 0);
    driver_client_take(&d);
    assert_string_equal(d.client.text, GREETING OK);
    d.cpending = 0;
    driver_feed(&d, "", 0, 0, 0);
    assert_string_equal(d.backend.text, "NOOP\r\nNOOP\r\n");
    assert_string_equal(d.client.text, GREETING OK OK);
    assert_int_equal(session_reads_backend(&d.s), 1);
    /* a fixed reply that does not fit waits in the queue, before later replies */
    d.cwin = 10;
    d.cpending = 0;
    driver_feed(&d, "HELP\r\nNOOP\r\n", 12, 0, 0);
    assert_string_equal(d.client.text, GREETING OK OK);
    d.cwin = 0;
    driver_client_take(&d);
    driver_feed(&d, "", 0, 0, 0);
    assert_string_equal(d.client.text + strlen(GREETING OK OK),
                        "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT AUTH VRFY "
                        "HELP\r\n" OK);
    torture_note(&d);
}

/* test_greeting - nothing is read before the backend's greeting; it starts the commands */
static void test_greeting(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    assert_int_equal(session_state(&d.s), SESSION_GREETING);
    driver_start(&d, NULL);
    assert_int_equal(session_state(&d.s), SESSION_GREETING);
    assert_int_equal(session_reads_client(&d.s), 0);
    assert_int_equal(session_reads_backend(&d.s), 1);
    assert_true(session_timer(&d.s, d.now, 0) == 60);
    driver_reply(&d, GREETING);
    driver_service(&d);
    assert_int_equal(session_state(&d.s), SESSION_COMMANDS);
    assert_string_equal(d.client.text, GREETING);
    assert_true(session_timer(&d.s, d.now, 0) == 300);
    assert_true(session_timer(&d.s, d.now, 1) == 60); /* bytes for the backend wait */
    assert_int_equal(session_reads_client(&d.s), 1);
    assert_string_equal(session_text(SESSION_T_TOO_MANY_CONNS),
                        "421 4.7.0 Too many connections\r\n");
    assert_string_equal(session_text(SESSION_T_NONE), "");
    torture_note(&d);
}

/* test_xclient - XCLIENT after the first greeting; the second 220 is the client's */
static void test_xclient(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_XCLIENT);
    driver_start(&d, GREETING);
    assert_string_equal(d.backend.text, "XCLIENT ADDR=192.0.2.7 PORT=40123 NAME=[TEMPUNAVAIL]\r\n");
    assert_string_equal(d.client.text, "220 mx.test ESMTP\r\n");
    assert_int_equal(session_state(&d.s), SESSION_COMMANDS);
    /* refused: the backend does not trust the proxy */
    torture_init(&d, 512, 50, SESSION_ID_XCLIENT);
    d.answer_verb = "XCLIENT";
    d.answer_text = "550 5.7.0 Insufficient authorization\r\n";
    driver_start(&d, GREETING);
    assert_string_equal(d.client.text, "421 4.3.2 Service not available\r\n");
    assert_string_equal(d.events.text,
                        "action=close client=192.0.2.7 reason=\"backend answered XCLIENT with 550 "
                        "(is smtpgate in its smtpd_authorized_xclient_hosts?)\"\n" CLOSED);
    /* a first greeting that is not 220 */
    torture_init(&d, 512, 50, SESSION_ID_XCLIENT);
    driver_start(&d, "554 5.3.2 Not now\r\n");
    assert_string_equal(d.client.text, "421 4.3.2 Service not available\r\n");
    assert_string_equal(d.backend.text, "");
    assert_string_equal(
        d.events.text,
        "action=close client=192.0.2.7 reason=\"backend greeting 554, not 220\"\n" CLOSED);
    /* without XCLIENT a 554 greeting is the client's to see */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, "554 5.3.2 Not now\r\n");
    assert_string_equal(d.client.text, "554 5.3.2 Not now\r\n");
    assert_int_equal(session_state(&d.s), SESSION_COMMANDS);
    torture_note(&d);
}

/* test_haproxy - the PROXY header goes first; without this end's address the session ends */
static void test_haproxy(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_HAPROXY);
    driver_start(&d, GREETING);
    assert_string_equal(d.backend.text, "PROXY TCP4 192.0.2.7 192.0.2.1 40123 25\r\n");
    assert_string_equal(d.client.text, GREETING);
    torture_init(&d, 512, 50, SESSION_ID_HAPROXY);
    session_start(&d.s, NULL, 0);
    driver_service(&d);
    assert_string_equal(d.client.text, "421 4.3.2 Service not available\r\n");
    assert_string_equal(d.events.text, "action=close client=192.0.2.7 reason=\"cannot build the "
                                       "PROXY header\"\n" CLOSED);
    torture_note(&d);
}

/* How a timeout case is set up before the timer fires. */
enum timeout_setup { T_GREETING, T_IDLE, T_BACKEND, T_DATA, T_SLOW, T_CLOSING };

struct timeout_case {
    const char *name;
    enum timeout_setup setup;
    double min_rate;
    double advance; /* seconds between the setup and the check of the timer */
    double timer;   /* what session_timer must say then */
    const char *reply;
    const char *event;
};

static const struct timeout_case timeout_cases[] = {
    {"greeting", T_GREETING, 0, 0, 60, "421 4.4.2 Service not available\r\n",
     "action=close client=192.0.2.7 reason=\"backend timeout before its greeting\"\n" CLOSED},
    {"command", T_IDLE, 0, 0, 300, "421 4.4.2 Timeout exceeded\r\n",
     "action=close client=192.0.2.7 reason=\"command timeout\"\n" CLOSED},
    {"backend reply", T_BACKEND, 0, 0, 60, "451 4.4.2 Backend not responding\r\n",
     "action=close client=192.0.2.7 reason=\"backend timeout\"\n" CLOSED},
    {"data", T_DATA, 0, 0, 600, "421 4.4.2 Timeout exceeded\r\n",
     "action=close client=192.0.2.7 reason=\"data timeout\"\n" CLOSED},
    {"data rate", T_SLOW, 100, 500, 110, "421 4.4.2 Message transfer too slow\r\n",
     "action=close client=192.0.2.7 reason=\"message slower than proxy_min_data_rate\" "
     "bytes=1000\n" CLOSED},
    {"closing", T_CLOSING, 0, 0, SESSION_LINGER_TIME, "", CLOSED},
};

/* test_timeouts - each wait has its timer; when it fires, its reply and log line */
static void test_timeouts(void **state)
{
    static struct driver d;
    static char msg[1000];
    size_t i;

    (void)state;
    memset(msg, 'm', sizeof(msg));
    for (i = 0; i < UTIL_ARRAY_LEN(timeout_cases); i++) {
        const struct timeout_case *tc = &timeout_cases[i];
        size_t before;
        double t;

        torture_init(&d, 512, 50, SESSION_ID_NONE);
        d.s.cfg.min_rate = tc->min_rate;
        driver_start(&d, tc->setup == T_GREETING ? NULL : GREETING);
        if (tc->setup == T_BACKEND) {
            d.hold = 1;
            driver_feed(&d, "NOOP\r\n", 6, 0, 0);
        } else if (tc->setup == T_DATA || tc->setup == T_SLOW) {
            driver_feed(&d, "DATA\r\n", 6, 0, 0);
            assert_int_equal(session_state(&d.s), SESSION_DATA);
            if (tc->setup == T_SLOW)
                driver_feed(&d, msg, sizeof(msg), 0, 0);
        } else if (tc->setup == T_CLOSING) {
            driver_feed(&d, "NOOP\r\n", 6, 0, 1);
            assert_int_equal(session_state(&d.s), SESSION_LINGER);
        }
        before = d.client.len;
        d.now += tc->advance;
        t = session_timer(&d.s, d.now, 0);
        if (t < tc->timer - 1e-6 || t > tc->timer + 1e-6)
            fail_msg("%s: timer %f, want %f", tc->name, t, tc->timer);
        if (tc->setup == T_CLOSING)
            assert_true(session_timer(&d.s, d.now, 0) == 0); /* armed once, not again */
        d.now += t;
        d.events.len = 0;
        d.events.text[0] = '\0';
        session_timeout(&d.s, d.now, 0);
        driver_service(&d);
        assert_string_equal(d.client.text + before, tc->reply);
        if (tc->setup == T_CLOSING) {
            assert_int_equal(session_state(&d.s), SESSION_DEAD);
            assert_true(session_finished(&d.s));
        } else {
            assert_string_equal(d.events.text, tc->event);
            assert_int_equal(session_state(&d.s), SESSION_LINGER);
        }
    }
    torture_note(&d);
}

/* test_backend_failures - what the backend can do wrong ends the session with 421 or 451 */
static void test_backend_failures(void **state)
{
    static struct driver d;

    (void)state;
    /* not SMTP */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, "hello\r\n");
    assert_string_equal(d.client.text, "421 4.3.2 Service not available\r\n");
    assert_string_equal(
        d.events.text,
        "action=close client=192.0.2.7 reason=\"backend: malformed reply\"\n" CLOSED);
    /* a reply nobody asked for */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING "250 surprise\r\n");
    assert_string_equal(d.client.text, GREETING "421 4.3.2 Service not available\r\n");
    assert_string_equal(d.events.text, "action=close client=192.0.2.7 reason=\"backend: reply "
                                       "without a command\"\n" CLOSED);
    /* the backend's own 421 while idle is passed on */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING "421 4.4.2 Idle timeout\r\n");
    assert_string_equal(d.client.text, GREETING "421 4.4.2 Idle timeout\r\n");
    assert_string_equal(
        d.events.text, "action=close client=192.0.2.7 reason=\"backend closed with 421\"\n" CLOSED);
    /* the backend closes */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    session_backend_eof(&d.s);
    driver_service(&d);
    assert_string_equal(d.client.text, GREETING "421 4.3.2 Service not available\r\n");
    assert_string_equal(d.events.text, "action=close client=192.0.2.7 reason=\"backend closed the "
                                       "connection\"\n" CLOSED);
    /* writing to it fails while a reply is owed: 451; reading fails: 421 */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.hold = 1;
    driver_feed(&d, "NOOP\r\n", 6, 0, 0);
    session_backend_error(&d.s, 1);
    driver_service(&d);
    assert_string_equal(d.client.text, GREETING "451 4.4.2 Backend not responding\r\n");
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, NULL);
    session_backend_error(&d.s, 1);
    driver_service(&d);
    assert_string_equal(d.client.text, "421 4.3.2 Service not available\r\n");
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    session_backend_error(&d.s, 0);
    driver_service(&d);
    assert_string_equal(d.client.text, GREETING "421 4.3.2 Service not available\r\n");
    /* the client's connection fails */
    session_client_gone(&d.s);
    assert_int_equal(session_state(&d.s), SESSION_DEAD);
    assert_true(session_finished(&d.s));
    torture_note(&d);
}

/* test_drain - a draining proxy reads no more commands, finishes what is in flight, then
 * closes with 421 */
static void test_drain(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    session_drain(&d.s);
    driver_service(&d);
    assert_string_equal(d.client.text, GREETING "421 4.3.2 Service shutting down\r\n");
    /* before the greeting */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, NULL);
    session_drain(&d.s);
    driver_service(&d);
    assert_string_equal(d.client.text, "421 4.3.2 Service shutting down\r\n");
    /* with a command in flight, and one more waiting that is not read */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.hold = 1;
    driver_feed(&d, "NOOP\r\n", 6, 0, 0);
    session_drain(&d.s);
    driver_feed(&d, "RSET\r\n", 6, 0, 0);
    assert_int_equal(session_reads_client(&d.s), 0);
    driver_release(&d);
    assert_string_equal(d.client.text, GREETING OK "421 4.3.2 Service shutting down\r\n");
    assert_string_equal(d.backend.text, "NOOP\r\n");
    /* a message being sent is finished */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, "DATA\r\n", 6, 0, 0);
    session_drain(&d.s);
    assert_int_equal(session_reads_client(&d.s), 1);
    driver_feed(&d, "x\r\n.\r\nNOOP\r\n", 12, 0, 0);
    assert_string_equal(d.client.text, GREETING GO QUEUED "421 4.3.2 Service shutting down\r\n");
    assert_string_equal(d.backend.text, "DATA\r\nx\r\n.\r\n");
    torture_note(&d);
}

/* test_drain_rcpt - a drain while a RCPT TO waits for its decision (a lookup in Redis):
 * the recipient is answered first, then 421 */
static void test_drain_rcpt(void **state)
{
    static struct driver d;
    static const char rcpt[] = "RCPT TO:<x@far.test>\r\n";
    size_t taken = 0;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("MAIL FROM:<a@far.test>\r\n"), 0, 0);
    session_client_input(&d.s, rcpt, sizeof(rcpt) - 1, &taken);
    assert_int_equal(session_state(&d.s), SESSION_RCPT);
    session_drain(&d.s);
    session_settle(&d.s);
    assert_int_equal(session_state(&d.s), SESSION_RCPT);
    assert_string_equal(d.client.text, GREETING OK);
    session_grant(&d.s, SESSION_REJECT);
    driver_service(&d);
    assert_string_equal(d.client.text, GREETING OK "554 5.7.1 Relay access denied\r\n"
                                                   "421 4.3.2 Service shutting down\r\n");
    torture_note(&d);
}

/* test_quit - QUIT: the backend closes first, then the session is done */
static void test_quit(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.cwin = 1000;
    d.hold = 1;
    driver_feed(&d, "QUIT\r\n", 6, 0, 0);
    assert_int_equal(session_state(&d.s), SESSION_QUIT);
    assert_int_equal(session_reads_client(&d.s), 0);
    d.cpending = 1; /* the 221 does not leave at once */
    driver_release(&d);
    assert_int_equal(session_state(&d.s), SESSION_QUITTING);
    assert_int_equal(session_reads_backend(&d.s), 1);
    assert_true(session_timer(&d.s, d.now, 0) == SESSION_LINGER_TIME);
    driver_client_take(&d);
    assert_int_equal(session_state(&d.s), SESSION_LINGER);
    assert_true(session_finished(&d.s));
    torture_note(&d);
}

/* test_auth_state - only the backend's 235 to AUTH marks the session authenticated (what
 * permits every recipient): not a refused or cancelled AUTH, not a 235 to another command */
static void test_auth_state(void **state)
{
    static struct driver d;

    (void)state;
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("AUTH PLAIN\r\ndGVzdAB0ZXN0AHRlc3Q=\r\n"), 0, 0);
    assert_int_equal(session_authenticated(&d.s), 1);
    /* cancelled with "*": 501 */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("AUTH PLAIN\r\n*\r\n"), 0, 0);
    assert_int_equal(session_state(&d.s), SESSION_COMMANDS);
    assert_int_equal(session_authenticated(&d.s), 0);
    /* refused */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    d.answer_verb = "AUTH";
    d.answer_text = "535 5.7.8 Authentication failed\r\n";
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n"), 0, 0);
    assert_int_equal(session_authenticated(&d.s), 0);
    /* a 235 that answers another command */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    d.answer_verb = "NOOP";
    d.answer_text = "235 2.7.0 Authentication successful\r\n";
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("NOOP\r\nRCPT TO:<u@far.test>\r\n"), 0, 0);
    assert_int_equal(session_authenticated(&d.s), 0);
    torture_note(&d);
}

/* test_rare_ends - the ends no dialogue above reaches: a bad line during AUTH, a shutdown
 * while a recipient waits for its answer, the backend failing while DATA, AUTH or QUIT
 * waits, and the client's connection failing mid-session or while closing */
static void test_rare_ends(void **state)
{
    static struct driver d;
    size_t taken;

    (void)state;
    /* AUTH -> BYE: a bare LF in the continuation line */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("AUTH PLAIN\r\n"), 0, 0);
    assert_int_equal(session_state(&d.s), SESSION_AUTH);
    driver_feed(&d, WITHLEN("abc\ndef\r\n"), 0, 0);
    assert_true(d.moves[SESSION_BYE] & (1u << SESSION_AUTH));
    assert_true(session_closing(&d.s) || session_state(&d.s) == SESSION_DEAD);
    /* RCPT -> CLOSING: the proxy shuts down before it answers the recipient */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("MAIL FROM:<>\r\n"), 0, 0);
    (void)session_client_input(&d.s, WITHLEN("RCPT TO:<u@far.test>\r\n"), &taken);
    assert_int_equal(session_state(&d.s), SESSION_RCPT);
    session_shutdown(&d.s, SESSION_T_SHUTDOWN);
    assert_int_equal(session_state(&d.s), SESSION_CLOSING);
    driver_service(&d);
    assert_string_equal(d.client.text, GREETING OK "421 4.3.2 Service shutting down\r\n");
    assert_string_equal(d.backend.text, "MAIL FROM:<>\r\n");
    /* SYNC -> CLOSING: reading the backend fails while DATA waits for its 354 */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.hold = 1;
    driver_feed(&d, WITHLEN("DATA\r\n"), 0, 0);
    assert_int_equal(session_state(&d.s), SESSION_SYNC);
    session_backend_error(&d.s, 0);
    driver_service(&d);
    assert_true(d.moves[SESSION_CLOSING] & (1u << SESSION_SYNC));
    assert_int_equal(session_state(&d.s), SESSION_LINGER);
    /* AUTH -> CLOSING: the client never sends its continuation */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    driver_feed(&d, WITHLEN("AUTH PLAIN\r\n"), 0, 0);
    assert_int_equal(session_state(&d.s), SESSION_AUTH);
    d.now += 1000;
    session_timeout(&d.s, d.now, 0);
    driver_service(&d);
    assert_true(d.moves[SESSION_CLOSING] & (1u << SESSION_AUTH));
    /* QUIT -> CLOSING: the backend closes before its 221 */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.hold = 1;
    driver_feed(&d, WITHLEN("QUIT\r\n"), 0, 0);
    assert_int_equal(session_state(&d.s), SESSION_QUIT);
    session_backend_eof(&d.s);
    driver_service(&d);
    assert_true(d.moves[SESSION_CLOSING] & (1u << SESSION_QUIT));
    /* COMMANDS -> DEAD: the client's connection fails mid-session */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    session_client_gone(&d.s);
    assert_int_equal(session_state(&d.s), SESSION_DEAD);
    /* CLOSING -> DEAD: it fails while the last reply waits to go */
    torture_init(&d, 512, 50, SESSION_ID_NONE);
    driver_start(&d, GREETING);
    d.cwin = 1000;
    d.cpending = 1;
    session_shutdown(&d.s, SESSION_T_SHUTDOWN);
    driver_service(&d);
    assert_int_equal(session_state(&d.s), SESSION_CLOSING);
    session_client_gone(&d.s);
    assert_int_equal(session_state(&d.s), SESSION_DEAD);
    torture_note(&d);
}

/* test_framer - the line framer on its own: a long line is refused once and skipped to
 * its CRLF across calls; a bare LF while skipping is an error */
static void test_framer(void **state)
{
    struct session_framer f = {0};
    struct session_frame fr;

    (void)state;
    session_frame_find(&f, "ABCDEFGHIJ", 10, 8, &fr);
    assert_int_equal(fr.kind, SESSION_PIECE_ERROR);
    assert_int_equal(fr.err, SMTP_ERR_TOO_LONG);
    assert_int_equal(fr.len, 10);
    session_frame_take(&f, &fr, "ABCDEFGHIJ");
    assert_int_equal(f.skipping, 1);
    session_frame_find(&f, "KL\r", 3, 8, &fr);
    assert_int_equal(fr.kind, SESSION_PIECE_NONE);
    assert_int_equal(fr.len, 2);
    session_frame_take(&f, &fr, "KL\r");
    assert_int_equal(f.skipping, 1);
    session_frame_find(&f, "\r\nQUIT\r\n", 8, 8, &fr);
    assert_int_equal(fr.kind, SESSION_PIECE_TAIL);
    assert_int_equal(fr.len, 2);
    session_frame_take(&f, &fr, "\r\nQUIT\r\n");
    assert_int_equal(f.skipping, 0);
    session_frame_find(&f, "QUIT\r\n", 6, 8, &fr);
    assert_int_equal(fr.kind, SESSION_PIECE_LINE);
    assert_int_equal(fr.len, 6);
    /* a long line with its CRLF is dropped whole */
    session_frame_find(&f, "ABCDEFGHIJ\r\nX", 13, 8, &fr);
    assert_int_equal(fr.kind, SESSION_PIECE_ERROR);
    assert_int_equal(fr.len, 12);
    session_frame_take(&f, &fr, "ABCDEFGHIJ\r\nX");
    assert_int_equal(f.skipping, 0);
    f.skipping = 1;
    session_frame_find(&f, "ab\ncd", 5, 8, &fr);
    assert_int_equal(fr.kind, SESSION_PIECE_ERROR);
    assert_int_equal(fr.err, SMTP_ERR_BARE_EOL);
    assert_int_equal(fr.len, 3);
    session_frame_take(&f, &fr, "ab\ncd");
    assert_int_equal(f.skipping, 0);
}

/* test_every_state - the tests above reached every state of the session */
static void test_every_state(void **state)
{
    int i;

    (void)state;
    for (i = SESSION_GREETING; i <= SESSION_DEAD; i++)
        if (!(states_seen & (1u << i)))
            fail_msg("state %d was never reached", i);
}

/* test_every_transition - the tests above made every transition of session.h's diagram
 * (a state re-entered from itself aside) */
static void test_every_transition(void **state)
{
#define T(x) (1u << SESSION_##x)
    static const unsigned want[SESSION_DEAD + 1] = {
        [SESSION_COMMANDS] = T(GREETING) | T(RCPT) | T(SYNC) | T(DATA),
        [SESSION_RCPT] = T(COMMANDS),
        [SESSION_SYNC] = T(COMMANDS) | T(AUTH),
        [SESSION_AUTH] = T(SYNC),
        [SESSION_DATA] = T(SYNC),
        [SESSION_QUIT] = T(COMMANDS),
        [SESSION_BYE] = T(COMMANDS) | T(AUTH),
        [SESSION_CLOSING] =
            T(GREETING) | T(COMMANDS) | T(RCPT) | T(SYNC) | T(AUTH) | T(DATA) | T(QUIT) | T(BYE),
        [SESSION_QUITTING] = T(QUIT),
        [SESSION_LINGER] = T(CLOSING) | T(QUITTING),
        [SESSION_DEAD] = T(COMMANDS) | T(CLOSING) | T(LINGER),
    };
#undef T
    int to, from, missing = 0;

    (void)state;
    for (to = SESSION_GREETING; to <= SESSION_DEAD; to++)
        for (from = SESSION_GREETING; from <= SESSION_DEAD; from++)
            if ((want[to] & (1u << from)) && !(states_moves[to] & (1u << from))) {
                print_message("transition %d -> %d was never made\n", from, to);
                missing++;
            }
    assert_int_equal(missing, 0);
}

/* main - run the tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dialogues),        cmocka_unit_test(test_too_many_errors),
        cmocka_unit_test(test_auth_too_long),    cmocka_unit_test(test_pipelining_waits),
        cmocka_unit_test(test_queue_full),       cmocka_unit_test(test_backpressure),
        cmocka_unit_test(test_greeting),         cmocka_unit_test(test_xclient),
        cmocka_unit_test(test_haproxy),          cmocka_unit_test(test_timeouts),
        cmocka_unit_test(test_backend_failures), cmocka_unit_test(test_drain),
        cmocka_unit_test(test_drain_rcpt),       cmocka_unit_test(test_quit),
        cmocka_unit_test(test_auth_state),       cmocka_unit_test(test_rare_ends),
        cmocka_unit_test(test_framer),           cmocka_unit_test(test_every_state),
        cmocka_unit_test(test_every_transition),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
