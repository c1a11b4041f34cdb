/*
 * torture_pop3imap - unit tests for popauth/sniff/pop3imap.c: a table of POP3 and IMAP
 * transcripts (client and server steps, each server step with the acked offset it
 * carries) and the one event each must give (a login with its user name, a desync with
 * its reason, TLS, or nothing) at the step where it must come. Every transcript is fed
 * step by step whole, byte by byte, and in pseudo-random splits; the event must not
 * depend on the split. Separate tests: no password byte in the detector's memory after
 * the line that carried it, user names cut and cleaned, memory released when idle, and
 * the behaviour after an event.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "popauth/sniff/pop3imap.h"
#include "shared/util.h"

#define TORTURE_MAX_STEPS 24
#define TORTURE_ACKED_ALL (-1) /* acked: every client byte fed so far */

/* One step of a transcript: bytes from one side. */
struct torture_step {
    int side; /* POP3IMAP_CLIENT, POP3IMAP_SERVER; -1 ends the list */
    const char *text;
    long long acked; /* server steps: TORTURE_ACKED_ALL, or an explicit offset */
};

/* clang-format off */
#define C(t)        {POP3IMAP_CLIENT, t, 0}
#define S(t)        {POP3IMAP_SERVER, t, TORTURE_ACKED_ALL}
#define SA(t, a)    {POP3IMAP_SERVER, t, a}
#define TORTURE_END {-1, NULL, 0}
/* clang-format on */
#define POP3   POP3IMAP_POP3
#define IMAP   POP3IMAP_IMAP
#define NONE   POP3IMAP_NONE
#define LOGIN  POP3IMAP_LOGIN
#define DESYNC POP3IMAP_DESYNC
#define TLS    POP3IMAP_TLS
#define GREET  S("+OK POP3 ready\r\n")
/* 256 bytes of filler, and 256 of base64 that decode to 'p's: for POP3 lines over 255 octets */
#define F64    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define F256   F64 F64 F64 F64
#define B16    "cHBwcHBwcHBwcHBw"
#define B256   B16 B16 B16 B16 B16 B16 B16 B16 B16 B16 B16 B16 B16 B16 B16 B16
#define IGREET S("* OK [CAPABILITY IMAP4rev1 LITERAL+ SASL-IR] ready\r\n")

/* A transcript and the one event it must give. */
struct torture_case {
    const char *name;
    enum pop3imap_proto proto;
    int joined;
    size_t max_line; /* 0: 8192 */
    struct torture_step steps[TORTURE_MAX_STEPS];
    enum pop3imap_event event; /* NONE: no event at all */
    const char *detail;        /* LOGIN: the user name; DESYNC: a part of the reason */
    int at;                    /* the step index where the event comes */
};

/* clang-format off */
static const struct torture_case torture_cases[] = {
    /* ---- POP3: USER/PASS ---- */
    {"pop3 user pass", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("PASS secret\r\n"), S("+OK logged in\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 lower-case commands", POP3, 0, 0,
     {GREET, C("user bob\r\n"), S("+OK\r\n"), C("pass secret\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 pass refused", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("PASS wrong\r\n"), S("-ERR [AUTH] failed\r\n"),
      C("QUIT\r\n"), S("+OK bye\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 +OK to USER only", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK send PASS\r\n"), C("QUIT\r\n"), S("+OK\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 user refused then pass accepted", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("-ERR no\r\n"), C("PASS x\r\n"), S("+OK\r\n"), TORTURE_END},
     DESYNC, "without an accepted USER", 4},
    {"pop3 retry after failure", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("PASS a\r\n"), S("-ERR\r\n"),
      C("USER carol\r\n"), S("+OK\r\n"), C("PASS b\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "carol", 8},
    {"pop3 pipelined user pass", POP3, 0, 0,
     {GREET, C("USER bob\r\nPASS secret\r\nSTAT\r\n"), S("+OK\r\n+OK\r\n+OK 1 2\r\n"), TORTURE_END},
     LOGIN, "bob", 2},
    {"pop3 pipelined, the pass refused", POP3, 0, 0,
     {GREET, C("NOOP\r\nUSER bob\r\nPASS x\r\n"), S("+OK\r\n+OK\r\n-ERR\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 user name cleaned", POP3, 0, 0,
     {GREET, C("USER b\x01o b\x7f\xc3\xa9\r\n"), S("+OK\r\n"), C("PASS x\r\n"), S("+OK\r\n"),
      TORTURE_END},
     LOGIN, "b?o b???", 4},
    /* ---- POP3: APOP ---- */
    {"pop3 apop", POP3, 0, 0,
     {S("+OK <1896.697170952@dbc.mtview.ca.us>\r\n"),
      C("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"), S("+OK maildrop has 1 message\r\n"),
      TORTURE_END},
     LOGIN, "mrose", 2},
    {"pop3 apop refused", POP3, 0, 0,
     {GREET, C("APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\n"), S("-ERR permission denied\r\n"),
      TORTURE_END},
     NONE, NULL, 0},
    /* ---- POP3: AUTH ---- */
    {"pop3 auth plain with initial response", POP3, 0, 0,
     {GREET, C("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), S("+OK\r\n"), TORTURE_END}, LOGIN, "bob", 2},
    {"pop3 auth plain authzid", POP3, 0, 0,
     {GREET, C("AUTH PLAIN YWRtaW4AYm9iAHB3\r\n"), S("+OK\r\n"), TORTURE_END}, LOGIN, "admin", 2},
    {"pop3 auth plain with a challenge", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\n"), S("+ \r\n"), C("AGJvYgBzZWNyZXQ=\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 auth plain with an empty challenge line", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\n"), S("+\r\n"), C("AGJvYgBzZWNyZXQ=\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 auth plain without NULs names no one", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\n"), S("+ \r\n"), C("c2VjcmV0\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "", 4},
    {"pop3 auth login", POP3, 0, 0,
     {GREET, C("AUTH LOGIN\r\n"), S("+ VXNlcm5hbWU6\r\n"), C("Ym9i\r\n"), S("+ UGFzc3dvcmQ6\r\n"),
      C("c2VjcmV0\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"pop3 auth login with initial response", POP3, 0, 0,
     {GREET, C("AUTH LOGIN Ym9i\r\n"), S("+ UGFzc3dvcmQ6\r\n"), C("c2VjcmV0\r\n"), S("+OK\r\n"),
      TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 auth login: an empty first response names no one", POP3, 0, 0,
     {GREET, C("AUTH LOGIN\r\n"), S("+ VXNlcm5hbWU6\r\n"), C("\r\n"), S("+ UGFzc3dvcmQ6\r\n"),
      C("c2VjcmV0\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "", 6},
    {"pop3 auth login: an empty initial response names no one", POP3, 0, 0,
     {GREET, C("AUTH LOGIN =\r\n"), S("+ UGFzc3dvcmQ6\r\n"), C("c2VjcmV0\r\n"), S("+OK\r\n"),
      TORTURE_END},
     LOGIN, "", 4},
    {"pop3 auth other mechanism", POP3, 0, 0,
     {GREET, C("AUTH CRAM-MD5\r\n"), S("+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2U+\r\n"),
      C("dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "", 4},
    {"pop3 auth refused", POP3, 0, 0,
     {GREET, C("AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n"), S("-ERR [AUTH] failed\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 auth cancelled, then user pass", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\n"), S("+ \r\n"), C("*\r\n"), S("-ERR cancelled\r\n"),
      C("USER bob\r\n"), S("+OK\r\n"), C("PASS x\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 8},
    {"pop3 auth: client did not wait", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n"), S("+ \r\n"), S("+OK\r\n"), TORTURE_END},
     DESYNC, "go-ahead", 1},
    {"pop3 auth: +OK while a response was due", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\n"), S("+ \r\n+OK\r\n"), TORTURE_END}, DESYNC, "SASL response", 2},
    {"pop3 auth without mechanism is a multi-line list", POP3, 0, 0,
     {GREET, C("AUTH\r\n"), S("+OK\r\nPLAIN\r\n+OK\r\n.\r\n"), C("USER bob\r\n"), S("+OK\r\n"),
      C("PASS x\r\n"), S("-ERR\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 auth with two spaces", POP3, 0, 0,
     {GREET, C("AUTH  PLAIN\r\n"), S("+OK\r\nPLAIN\r\n.\r\n"), TORTURE_END}, DESYNC, "malformed AUTH", 1},
    {"pop3 auth with only a space is the list", POP3, 0, 0,
     {GREET, C("AUTH \r\n"), S("+OK\r\nPLAIN\r\n.\r\n"), C("USER bob\r\n"), S("+OK\r\n"),
      C("PASS x\r\n"), S("-ERR\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 list with only a space is multi-line", POP3, 0, 0,
     {GREET, C("LIST \r\n"), S("+OK\r\n1 2\r\n.\r\n"), C("NOOP\r\n"), S("+OK\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 single-line +OK where a body was due", POP3, 0, 0,
     {GREET, C("AUTH\r\n"), S("+OK\r\n"), C("USER bob\r\n"), S("+OK\r\n"), TORTURE_END},
     DESYNC, "multi-line", 3},
    /* ---- POP3: STLS ---- */
    {"pop3 stls", POP3, 0, 0, {GREET, C("STLS\r\n"), S("+OK begin TLS\r\n"), TORTURE_END}, TLS, NULL, 2},
    {"pop3 stls refused", POP3, 0, 0,
     {GREET, C("STLS\r\n"), S("-ERR no\r\n"), C("USER bob\r\n"), S("+OK\r\n"), C("PASS x\r\n"),
      S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    /* ---- POP3: multi-line replies ---- */
    {"pop3 capa body holding +OK lines", POP3, 0, 0,
     {GREET, C("CAPA\r\n"), S("+OK capabilities\r\nUSER\r\n+OK\r\n..\r\n.+OK\r\nSASL PLAIN\r\n"),
      S("+OK\r\n.\r\n"), C("USER bob\r\n"), S("+OK\r\n"), C("PASS x\r\n"), S("-ERR\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 capa then login", POP3, 0, 0,
     {GREET, C("CAPA\r\n"), S("+OK\r\nUSER\r\n+OK\r\n.\r\n"), C("USER bob\r\n"), S("+OK\r\n"),
      C("PASS x\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"pop3 capa refused is one line", POP3, 0, 0,
     {GREET, C("CAPA\r\n"), S("-ERR unknown\r\n"), C("USER bob\r\n"), S("+OK\r\n"), C("PASS x\r\n"),
      S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"pop3 list with argument is one line", POP3, 0, 0,
     {GREET, C("LIST 1\r\n"), S("+OK 1 120\r\n"), C("USER bob\r\n"), S("+OK\r\n"), C("PASS x\r\n"),
      S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"pop3 uidl without argument is multi-line", POP3, 0, 0,
     {GREET, C("UIDL\r\n"), S("+OK\r\n1 abc\r\n+OK\r\n.\r\n"), C("USER bob\r\n"), S("+OK\r\n"),
      C("PASS x\r\n"), S("-ERR\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 command pipelined after capa", POP3, 0, 0,
     {GREET, C("CAPA\r\nUSER bob\r\n"), S("+OK\r\n.\r\n+OK\r\n"), TORTURE_END},
     DESYNC, "multi-line", 1},
    /* ---- POP3: pairing ---- */
    {"pop3 reply without a command", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n+OK\r\n"), TORTURE_END}, DESYNC, "without a command", 2},
    {"pop3 reply before the command was acknowledged", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), SA("+OK\r\n", 4), TORTURE_END}, DESYNC, "without a command", 2},
    {"pop3 reply acknowledging unseen bytes", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), SA("+OK\r\n", 200), TORTURE_END}, DESYNC, "not seen", 2},
    {"pop3 reply acknowledging the FIN", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("PASS x\r\n"), SA("+OK\r\n", 19), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 greeting after the first command", POP3, 0, 0,
     {C("CAPA\r\n"), S("+OK hello\r\n"), S("-ERR\r\n"), C("USER bob\r\n"), S("+OK\r\n"),
      C("PASS x\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"pop3 malformed greeting", POP3, 0, 0, {S("* OK imap\r\n"), TORTURE_END}, DESYNC, "greeting", 0},
    {"pop3 malformed reply", POP3, 0, 0,
     {GREET, C("NOOP\r\n"), S("+OKAY\r\n"), TORTURE_END}, DESYNC, "malformed", 2},
    {"pop3 continuation for USER", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+ go on\r\n"), TORTURE_END}, DESYNC, "continuation", 2},
    {"pop3 two USER pipelined", POP3, 0, 0,
     {GREET, C("USER a\r\nPASS x\r\nUSER b\r\n"), TORTURE_END}, DESYNC, "pipelined", 1},
    /* ---- POP3: bounds and line ends ---- */
    {"pop3 line at max_line", POP3, 0, 64,
     {GREET, C("USER bob\r\n"), S("+OK 4567890123456789012345678901234567890123456789012345678901\r\n"),
      C("PASS x\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 server line over max_line", POP3, 0, 64,
     {GREET, C("USER bob\r\n"),
      S("+OK 45678901234567890123456789012345678901234567890123456789012\r\n"), TORTURE_END},
     DESYNC, "too long", 2},
    {"pop3 client line over max_line", POP3, 0, 64,
     {GREET, C("USER bob5678901234567890123456789012345678901234567890123456789\r\n"), TORTURE_END},
     DESYNC, "too long", 1},
    {"pop3 unterminated long line", POP3, 0, 64,
     {GREET, C("USER bob56789012345678901234567890123456789012345678901234567890"), TORTURE_END},
     DESYNC, "too long", 1},
    /* POP3 lines over 255 octets (RFC 2449's limit) are read up to max_line ... */
    {"pop3 PASS over 255 octets", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("PASS " F256 "\r\n"), S("+OK Logged in.\r\n"),
      TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 AUTH PLAIN with an initial response over 255 octets", POP3, 0, 0,
     {GREET, C("AUTH PLAIN AGJvYgBw" B256 "\r\n"), S("+OK Logged in.\r\n"), TORTURE_END},
     LOGIN, "bob", 2},
    {"pop3 AUTH PLAIN with a response over 255 octets", POP3, 0, 0,
     {GREET, C("AUTH PLAIN\r\n"), S("+ \r\n"), C("AGJvYgBw" B256 "\r\n"), S("+OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"pop3 APOP over 255 octets", POP3, 0, 0,
     {GREET, C("APOP bob " F256 "\r\n"), S("+OK\r\n"), TORTURE_END}, LOGIN, "bob", 2},
    /* ... but a server with a shorter line buffer may read one as two commands and answer
     * each: only a login confirmed by the reply to the long command itself is trusted */
    {"pop3 long PASS split by the server: -ERR, then the extra reply", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("PASS " F256 "\r\n"), S("-ERR [AUTH] failed\r\n"),
      S("-ERR unknown command\r\n"), TORTURE_END},
     DESYNC, "255", 4},
    {"pop3 split line: the extra reply would pair with a PASS pipelined after it", POP3, 0, 0,
     /* the server reads "NOOP <filler>" and "USER eve" and answers both; the +OK to
      * "USER eve" goes out late (Nagle), acknowledging the PASS sent meanwhile: paired by
      * order and acked alone, it would be the +OK to that wrong PASS */
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("NOOP " F256 "USER eve\r\n"), S("-ERR\r\n"),
      C("PASS wrong\r\n"), S("+OK\r\n"), S("-ERR [AUTH] failed\r\n"), TORTURE_END},
     DESYNC, "255", 4},
    {"pop3 split line answered +OK, pipelined PASS", POP3, 0, 0,
     {GREET, C("USER bob\r\n"), S("+OK\r\n"), C("NOOP " F256 "USER eve\r\nPASS wrong\r\n"),
      S("+OK\r\n+OK\r\n-ERR\r\n"), TORTURE_END},
     DESYNC, "255", 4},
    {"pop3 long USER, then PASS", POP3, 0, 0,
     {GREET, C("USER bob" F256 "\r\n"), S("+OK\r\n"), C("PASS x\r\n"), S("+OK\r\n"), TORTURE_END},
     DESYNC, "255", 2},
    {"pop3 long SASL response answered by a challenge, then -ERR", POP3, 0, 0,
     {GREET, C("AUTH LOGIN\r\n"), S("+ VXNlcm5hbWU6\r\n"), C("Ym9i" B256 "\r\n"),
      S("+ UGFzc3dvcmQ6\r\n"), C("d3Jvbmc=\r\n"), S("-ERR\r\n"), S("+OK\r\n"), TORTURE_END},
     DESYNC, "255", 6},
    {"pop3 bare LF", POP3, 0, 0, {GREET, C("USER bob\nPASS x\r\n"), TORTURE_END}, DESYNC, "bare LF", 1},
    {"pop3 stray CR", POP3, 0, 0, {GREET, C("USER b\rob\r\n"), TORTURE_END}, DESYNC, "CR or NUL", 1},
    {"pop3 empty command", POP3, 0, 0, {GREET, C("\r\n"), TORTURE_END}, DESYNC, "empty", 1},
    {"pop3 server LF-only lines", POP3, 0, 0,
     {S("+OK hi\n"), C("USER bob\r\n"), S("+OK\n"), C("PASS x\r\n"), S("+OK\n"), TORTURE_END},
     LOGIN, "bob", 4},
    /* ---- POP3: joined ---- */
    {"pop3 joined mid-line on both sides", POP3, 1, 0,
     {C("ER old\r\nUSER bob\r\n"), S("K old reply\r\n"), S("+OK\r\n"), C("PASS x\r\n"),
      S("+OK\r\n"), TORTURE_END},
     DESYNC, "joined", 4},
    {"pop3 joined: a stale reply does not pair", POP3, 1, 0,
     {C("junk\r\nUSER bob\r\nPASS x\r\n"), SA("x\r\n+OK stale\r\n", 3), S("+OK\r\n"),
      S("-ERR\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"pop3 joined: replies without a command are ignored", POP3, 1, 0,
     {S("body line\r\n+OK\r\n-ERR\r\nrandom text\r\n.\r\n"), C("x\r\nNOOP\r\n"), S("+OK\r\n"),
      TORTURE_END},
     NONE, NULL, 0},
    {"pop3 joined: a reply to a command before the join is not a grant", POP3, 1, 0,
     {C("OP\r\nUSER bob\r\nPASS wrong\r\n"), S("-ERR delayed\r\n+OK\r\n+OK\r\n-ERR\r\n"), TORTURE_END},
     DESYNC, "joined", 1},
    {"pop3 joined stls", POP3, 1, 0,
     {C("\r\nSTLS\r\n"), S("\r\n+OK\r\n"), TORTURE_END}, TLS, NULL, 1},

    /* ---- IMAP: LOGIN ---- */
    {"imap login atoms", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob secret\r\n"), S("a1 OK LOGIN completed\r\n"), TORTURE_END},
     LOGIN, "bob", 2},
    {"imap login lower case", IMAP, 0, 0,
     {IGREET, C("a1 login bob secret\r\n"), S("a1 ok done\r\n"), TORTURE_END}, LOGIN, "bob", 2},
    {"imap login quoted", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN \"b\\\"o\\\\b\" \"pa ss\\\"\"\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "b\"o\\b", 2},
    {"imap login quoted user with a space", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN \"bob smith\" x\r\n"), S("a1 OK\r\n"), TORTURE_END}, LOGIN, "bob smith", 2},
    {"imap login literals", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\n"), S("+ Ready\r\n"), C("bob {6}\r\n"), S("+ Ready\r\n"),
      C("secret\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"imap login literal password holding CRLF", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob {8}\r\n"), S("+ \r\n"), C("se\r\ncret\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap login literal user holding CRLF", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {5}\r\n"), S("+\r\n"), C("b\r\nob secret\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "b??ob", 4},
    {"imap login NO instead of continuation", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\n"), S("a1 NO literal refused\r\n"), C("a2 LOGIN bob x\r\n"),
      S("a2 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap login BAD instead of continuation", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\n"), S("a1 BAD no\r\n"), C("a2 LOGIN bob x\r\n"), S("a2 OK\r\n"),
      TORTURE_END},
     LOGIN, "bob", 4},
    {"imap login OK instead of continuation", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\n"), S("a1 OK\r\n"), TORTURE_END}, DESYNC, "ended", 2},
    {"imap reply in the middle of a literal", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3+}\r\nbo"), S("a1 NO\r\n"), TORTURE_END}, DESYNC, "ended", 2},
    {"imap reply before the literal header was acknowledged", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\n"), SA("a1 NO\r\n", 3), TORTURE_END}, DESYNC, "ended", 2},
    {"imap login non-synchronizing literals", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3+}\r\nbob {6+}\r\nsecret\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 2},
    {"imap login zero-length literals", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {0+}\r\n {0}\r\n"), S("+ \r\n"), C("\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "", 4},
    {"imap login refused", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob wrong\r\n"), S("a1 NO [AUTHENTICATIONFAILED] failed\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap login BAD", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob\r\n"), S("a1 BAD missing argument\r\n"), TORTURE_END}, NONE, NULL, 0},
    {"imap login without password grants nothing", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob\r\n"), S("a1 OK\r\n"), TORTURE_END}, NONE, NULL, 0},
    {"imap malformed login grants nothing", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob pw extra\r\n"), S("a1 OK\r\n"), TORTURE_END}, NONE, NULL, 0},
    {"imap untagged OK", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob x\r\n"), S("* OK still here\r\n"), TORTURE_END}, NONE, NULL, 0},
    {"imap tagged OK for another tag", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob x\r\na2 NOOP\r\n"), S("a2 OK\r\n"), S("a1 NO\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap OK with a tag prefix", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob x\r\n"), S("a10 OK\r\n"), TORTURE_END}, DESYNC, "no pending", 2},
    {"imap pipelined commands", IMAP, 0, 0,
     {IGREET, C("a1 CAPABILITY\r\na2 LOGIN bob x\r\na3 SELECT INBOX\r\n"),
      S("* CAPABILITY IMAP4rev1\r\na1 OK\r\n"), S("a2 OK\r\n* 3 EXISTS\r\na3 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 3},
    {"imap replies out of order", IMAP, 0, 0,
     {IGREET, C("a1 NOOP\r\na2 LOGIN bob x\r\n"), S("a2 OK\r\n"), TORTURE_END}, LOGIN, "bob", 2},
    /* ---- IMAP: AUTHENTICATE ---- */
    {"imap authenticate plain with SASL-IR", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 2},
    {"imap authenticate plain with a continuation", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN\r\n"), S("+ \r\n"), C("YWRtaW4AYm9iAHB3\r\n"),
      S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "admin", 4},
    {"imap authenticate plain with an empty initial response", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN =\r\n"), S("+ \r\n"), C("AGJvYgBzZWNyZXQ=\r\n"),
      S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap authenticate login", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE LOGIN\r\n"), S("+ VXNlcm5hbWU6\r\n"), C("Ym9i\r\n"),
      S("+ UGFzc3dvcmQ6\r\n"), C("c2VjcmV0\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"imap authenticate refused", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n"), S("a1 NO failed\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap authenticate cancelled, then login", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN\r\n"), S("+ \r\n"), C("*\r\n"), S("a1 BAD cancelled\r\n"),
      C("a2 LOGIN bob x\r\n"), S("a2 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    {"imap authenticate: client did not wait", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n"), TORTURE_END}, DESYNC, "go-ahead", 1},
    {"imap authenticate: OK while a response was due", IMAP, 0, 0,
     {IGREET, C("a1 AUTHENTICATE PLAIN\r\n"), S("+ \r\n"), S("a1 OK\r\n"), TORTURE_END},
     DESYNC, "SASL response", 3},
    {"imap two logins pending", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN a x\r\na2 LOGIN b y\r\n"), TORTURE_END}, DESYNC, "two logins", 1},
    /* ---- IMAP: STARTTLS, IDLE ---- */
    {"imap starttls", IMAP, 0, 0,
     {IGREET, C("a1 STARTTLS\r\n"), S("a1 OK Begin TLS negotiation now\r\n"), TORTURE_END}, TLS, NULL, 2},
    {"imap starttls refused", IMAP, 0, 0,
     {IGREET, C("a1 STARTTLS\r\n"), S("a1 NO\r\n"), C("a2 LOGIN bob x\r\n"), S("a2 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap idle", IMAP, 0, 0,
     {IGREET, C("a1 IDLE\r\n"), S("+ idling\r\n* 3 EXISTS\r\n"), C("DONE\r\n"), S("a1 OK\r\n"),
      C("a2 LOGIN bob x\r\n"), S("a2 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 6},
    /* ---- IMAP: server literals ---- */
    {"imap fetch literal holding a tagged OK", IMAP, 0, 0,
     {IGREET, C("a0 FETCH 1 BODY[]\r\na1 LOGIN bob wrong\r\n"),
      S("* 1 FETCH (BODY[] {32}\r\na1 OK fake\r\n* 2 FETCH {5}\r\n+ x\r\n)\r\n"), S("a0 OK\r\n"),
      S("a1 NO\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap two literals in one response", IMAP, 0, 0,
     {IGREET, C("a0 FETCH 1 (BODY[1] BODY[2])\r\na1 LOGIN bob wrong\r\n"),
      S("* 1 FETCH (BODY[1] {9}\r\na1 OK x\r\n BODY[2] ~{9}\r\na1 OK y\r\n)\r\n"),
      S("a0 OK\r\na1 NO\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap empty literal in a response", IMAP, 0, 0,
     {IGREET, C("a0 NOOP\r\n"), S("* 1 FETCH (BODY[] {0}\r\n)\r\na0 OK\r\n"),
      C("a1 LOGIN bob x\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap status response text is not a literal", IMAP, 0, 0,
     {S("* OK hello {5}\r\n"), C("a1 LOGIN bob x\r\n"), S("a1 OK\r\n"), TORTURE_END}, LOGIN, "bob", 2},
    /* ---- IMAP: pairing and safety ---- */
    {"imap reply before the command was acknowledged", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob x\r\n"), SA("a1 OK\r\n", 5), TORTURE_END}, DESYNC, "acknowledged", 2},
    {"imap reply acknowledging unseen bytes", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN bob x\r\n"), SA("a1 OK\r\n", 400), TORTURE_END}, DESYNC, "not seen", 2},
    {"imap continuation before the request was acknowledged", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\n"), SA("+ go\r\n", 3), TORTURE_END}, DESYNC, "continuation", 2},
    {"imap continuation without a request", IMAP, 0, 0,
     {IGREET, C("a1 NOOP\r\n"), S("+ what\r\n"), TORTURE_END}, DESYNC, "continuation", 2},
    {"imap client did not wait for the continuation", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN {3}\r\nbob x\r\n"), S("+ go\r\n"), TORTURE_END}, DESYNC, "go-ahead", 1},
    {"imap tag reused while pending", IMAP, 0, 0,
     {IGREET, C("a1 NOOP\r\na1 LOGIN bob x\r\n"), TORTURE_END}, DESYNC, "reused", 1},
    {"imap tag reused after its reply", IMAP, 0, 0,
     {IGREET, C("a1 NOOP\r\n"), S("a1 OK\r\n"), C("a1 LOGIN bob x\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap literal header inside a quoted string", IMAP, 0, 0,
     {IGREET, C("a NOOP \"abc{12+}\r\nx CAPABILITY\r\nx LOGIN bob wrong\r\n"), TORTURE_END},
     DESYNC, "ambiguous", 1},
    {"imap literal header after a space inside a quoted string", IMAP, 0, 0,
     {IGREET, C("a NOOP \"abc {12+}\r\nx CAPABILITY\r\nx LOGIN bob wrong\r\n"), TORTURE_END},
     DESYNC, "ambiguous", 1},
    {"imap literal header after an escaped quote", IMAP, 0, 0,
     {IGREET, C("a NOOP \"a\\\" {3}\r\n"), TORTURE_END}, DESYNC, "ambiguous", 1},
    {"imap literal header after a closed quoted string", IMAP, 0, 0,
     {IGREET, C("a1 LOGIN \"b\\\\\" {3}\r\n"), S("+ \r\n"), C("pwd\r\n"), S("a1 OK\r\n"),
      TORTURE_END},
     LOGIN, "b\\", 4},
    {"imap literal header glued to an atom", IMAP, 0, 0,
     {IGREET, C("a NOOP x{5}\r\n"), TORTURE_END}, DESYNC, "ambiguous", 1},
    {"imap BAD to a non-synchronizing literal", IMAP, 0, 0,
     {IGREET, C("a NOOP {12+}\r\nx CAPABILITY\r\nx LOGIN bob wrong\r\n"),
      S("a BAD\r\nx OK\r\nx NO\r\n"), TORTURE_END},
     DESYNC, "non-synchronizing", 2},
    {"imap untagged BAD", IMAP, 0, 0,
     {IGREET, C("a1 NOOP\r\n"), S("* BAD what\r\n"), TORTURE_END}, DESYNC, "untagged BAD", 2},
    {"imap malformed tag", IMAP, 0, 0, {IGREET, C("a\"1 NOOP\r\n"), TORTURE_END}, DESYNC, "tag", 1},
    {"imap tag too long", IMAP, 0, 0,
     {IGREET, C("a12345678901234567890123456789012 NOOP\r\n"), TORTURE_END}, DESYNC, "tag too long", 1},
    {"imap too many commands", IMAP, 0, 0,
     {IGREET, C("a1 NOOP\r\na2 NOOP\r\na3 NOOP\r\na4 NOOP\r\na5 NOOP\r\na6 NOOP\r\na7 NOOP\r\n"
                "a8 NOOP\r\na9 NOOP\r\nb1 NOOP\r\nb2 NOOP\r\nb3 NOOP\r\nb4 NOOP\r\nb5 NOOP\r\n"
                "b6 NOOP\r\nb7 NOOP\r\nb8 NOOP\r\n"),
      TORTURE_END},
     DESYNC, "too many", 1},
    {"imap empty lines are no commands", IMAP, 0, 0,
     {IGREET, C("\r\n\r\na1 LOGIN bob x\r\n"), S("a1 OK\r\n"), TORTURE_END}, LOGIN, "bob", 2},
    {"imap command with its literals at max_line", IMAP, 0, 64,
     {S("* OK\r\n"), C("a1 LOGIN bob {43}\r\n"), S("+ \r\n"),
      C("1234567890123456789012345678901234567890123\r\n"), S("a1 OK\r\n"), TORTURE_END},
     LOGIN, "bob", 4},
    {"imap command with its literals one over max_line", IMAP, 0, 64,
     {S("* OK\r\n"), C("a1 LOGIN bob {44}\r\n"), S("+ \r\n"),
      C("12345678901234567890123456789012345678901234\r\n"), S("a1 OK\r\n"), TORTURE_END},
     DESYNC, "too long", 3},
    {"imap literal announced over max_line", IMAP, 0, 64,
     {S("* OK\r\n"), C("a1 LOGIN bob {46}\r\n"), TORTURE_END}, DESYNC, "too long", 1},
    {"imap huge literal size", IMAP, 0, 0,
     {IGREET, C("a1 APPEND INBOX {1234567890123456789012}\r\n"), TORTURE_END}, DESYNC, "too long", 1},
    /* ---- IMAP: joined ---- */
    {"imap joined mid-line on both sides", IMAP, 1, 0,
     {C("GIN x y\r\na1 LOGIN bob x\r\n"), S("aa OK done\r\n"), S("a1 OK\r\n"), TORTURE_END},
     DESYNC, "joined", 2},
    {"imap joined inside a server literal", IMAP, 1, 0,
     {S("ody line\r\na1 OK fake\r\n"), C("x\r\na1 LOGIN bob x\r\n"), S("a1 NO\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap joined: reply acked below the command's end", IMAP, 1, 0,
     {C("x\r\na1 LOGIN bob x\r\n"), SA("\r\na1 OK old\r\n", 2), S("a1 NO\r\n"), TORTURE_END},
     NONE, NULL, 0},
    {"imap joined: a tag reused across the join is not a grant", IMAP, 1, 0,
     {C("ITY\r\nx LOGIN bob wrong\r\n"), S("a NO delayed\r\nx OK\r\nx NO\r\n"), TORTURE_END},
     DESYNC, "joined", 1},
    {"imap joined starttls", IMAP, 1, 0,
     {C("\r\nb STARTTLS\r\n"), S("\r\nb OK\r\n"), TORTURE_END}, TLS, NULL, 1},
};
/* clang-format on */

/* What one run of a transcript saw. */
struct torture_result {
    int nevents;
    enum pop3imap_event event;
    int at;
    char user[POP3IMAP_USER_MAX];
    char why[128];
};

/* torture_next - the next pseudo-random number of a simple generator */
static uint32_t torture_next(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

/* torture_run - feed a transcript; step 0: each step whole; 1: byte by byte; else random splits
 * seeded with step */
static void torture_run(const struct torture_case *tc, uint32_t mode, struct torture_result *r)
{
    struct pop3imap *s = pop3imap_new(tc->proto, tc->max_line ? tc->max_line : 8192, tc->joined);
    uint64_t client = 0;
    uint32_t seed = mode;
    int i;

    memset(r, 0, sizeof(*r));
    for (i = 0; tc->steps[i].side >= 0; i++) {
        const struct torture_step *st = &tc->steps[i];
        const uint8_t *p = (const uint8_t *)st->text;
        size_t len = strlen(st->text);
        uint64_t acked;

        if (st->side == POP3IMAP_SERVER)
            acked = st->acked == TORTURE_ACKED_ALL ? client : (uint64_t)st->acked;
        else
            acked = 0;
        while (len > 0) {
            size_t chunk = len, used = 0;

            if (mode == 1)
                chunk = 1;
            else if (mode > 1)
                chunk = 1 + torture_next(&seed) % 23;
            if (chunk > len)
                chunk = len;
            while (chunk > 0) {
                char user[POP3IMAP_USER_MAX];
                const char *why = NULL;
                enum pop3imap_event ev;

                memset(user, 'Z', sizeof(user));
                ev = pop3imap_feed(s, (enum pop3imap_side)st->side, p, chunk, acked, &used, user,
                                   &why);
                if (used > chunk)
                    fail_msg("%s: used %zu of %zu", tc->name, used, chunk);
                if (ev == POP3IMAP_NONE && used != chunk)
                    fail_msg("%s: NONE with %zu of %zu used", tc->name, used, chunk);
                if (ev != POP3IMAP_NONE) {
                    if (!pop3imap_done(s))
                        fail_msg("%s: not done after an event", tc->name);
                    if (r->nevents++ == 0) {
                        r->event = ev;
                        r->at = i;
                        if (ev == POP3IMAP_LOGIN)
                            util_strlcpy(r->user, user, sizeof(r->user));
                        if (ev == POP3IMAP_DESYNC) {
                            assert_non_null(why);
                            util_strlcpy(r->why, why, sizeof(r->why));
                        }
                    }
                    if (ev != POP3IMAP_LOGIN && used != chunk)
                        fail_msg("%s: event %d with %zu of %zu used", tc->name, ev, used, chunk);
                    if (ev == POP3IMAP_LOGIN && used == 0)
                        fail_msg("%s: LOGIN without progress", tc->name);
                }
                p += used;
                len -= used;
                chunk -= used;
                if (st->side == POP3IMAP_CLIENT)
                    client += used;
            }
        }
    }
    pop3imap_free(s);
}

/* torture_check - a run must have given exactly the expected event */
static void torture_check(const struct torture_case *tc, uint32_t mode,
                          const struct torture_result *r)
{
    if (tc->event == POP3IMAP_NONE) {
        if (r->nevents != 0)
            fail_msg("%s (mode %u): unexpected event %d at step %d (user '%s', why '%s')", tc->name,
                     mode, r->event, r->at, r->user, r->why);
        return;
    }
    if (r->nevents != 1 || r->event != tc->event)
        fail_msg("%s (mode %u): %d events, first %d at step %d (why '%s'); want %d", tc->name, mode,
                 r->nevents, r->event, r->at, r->why, tc->event);
    if (r->at != tc->at)
        fail_msg("%s (mode %u): event at step %d, want %d", tc->name, mode, r->at, tc->at);
    if (tc->event == POP3IMAP_LOGIN && strcmp(r->user, tc->detail) != 0)
        fail_msg("%s (mode %u): user '%s', want '%s'", tc->name, mode, r->user, tc->detail);
    if (tc->event == POP3IMAP_DESYNC && strstr(r->why, tc->detail) == NULL)
        fail_msg("%s (mode %u): reason '%s' lacks '%s'", tc->name, mode, r->why, tc->detail);
}

/* test_pop3imap_table - every transcript whole, byte by byte and in 40 random splits */
static void test_pop3imap_table(void **state)
{
    size_t i;
    uint32_t mode;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(torture_cases); i++) {
        for (mode = 0; mode < 42; mode++) {
            struct torture_result r;

            torture_run(&torture_cases[i], mode, &r);
            torture_check(&torture_cases[i], mode, &r);
        }
    }
}

/* torture_holds - 1 if any area of s contains needle */
static int torture_holds(const struct pop3imap *s, const char *needle)
{
    const void *ptr[8];
    size_t len[8], k, n = pop3imap_areas(s, ptr, len, 8);

    for (k = 0; k < n; k++)
        if (memmem(ptr[k], len[k], needle, strlen(needle)) != NULL)
            return 1;
    return 0;
}

/* torture_feed_bytes - feed text one byte at a time; after each line end (LF) check that no
 * area of s holds the secret; returns the last event */
static enum pop3imap_event torture_feed_bytes(struct pop3imap *s, int side, const char *text,
                                              uint64_t acked, char *user, const char *secret)
{
    enum pop3imap_event ev = POP3IMAP_NONE, e;
    size_t i, used;

    for (i = 0; text[i] != '\0'; i++) {
        const char *why;

        e = pop3imap_feed(s, (enum pop3imap_side)side, (const uint8_t *)text + i, 1, acked, &used,
                          user, &why);
        if (e != POP3IMAP_NONE)
            ev = e;
        if (text[i] == '\n' && torture_holds(s, secret))
            fail_msg("secret held after the line ending at byte %zu of '%s'", i, text);
    }
    return ev;
}

/* One login whose secret must not be kept. */
struct torture_secret {
    enum pop3imap_proto proto;
    const char *client[4]; /* client lines, each answered by the server line beside it */
    const char *server[4];
};

/* test_pop3imap_no_secret_kept - after each line that carried a password, no byte of it in memory
 */
static void test_pop3imap_no_secret_kept(void **state)
{
    static const struct torture_secret cases[] = {
        {POP3, {"USER bob\r\n", "PASS S3cr3tPw\r\n"}, {"+OK\r\n", "+OK\r\n"}},
        {POP3, {"USER bob\r\n", "PASS S3cr3tPw\r\n"}, {"+OK\r\n", "-ERR\r\n"}},
        {POP3, {"APOP bob S3cr3tPw\r\n"}, {"+OK\r\n"}},
        {POP3, {"AUTH PLAIN AGJvYgBTM2NyM3RQdw==\r\n"}, {"+OK\r\n"}},
        {POP3,
         {"AUTH LOGIN\r\n", "Ym9i\r\n", "UzNjcjN0UHc=\r\n"},
         {"+ x\r\n", "+ y\r\n", "+OK\r\n"}},
        {IMAP, {"a LOGIN bob S3cr3tPw\r\n"}, {"a OK\r\n"}},
        {IMAP, {"a LOGIN \"bob\" \"S3cr3tPw\"\r\n"}, {"a NO\r\n"}},
        {IMAP, {"a LOGIN bob {8}\r\n", "S3cr3tPw\r\n"}, {"+ \r\n", "a OK\r\n"}},
        {IMAP, {"a LOGIN bob {8+}\r\nS3cr3tPw\r\n"}, {"a OK\r\n"}},
        {IMAP, {"a AUTHENTICATE PLAIN AGJvYgBTM2NyM3RQdw==\r\n"}, {"a OK\r\n"}},
        {IMAP, {"a AUTHENTICATE PLAIN\r\n", "AGJvYgBTM2NyM3RQdw==\r\n"}, {"+ \r\n", "a OK\r\n"}},
    };
    const char *secrets[] = {"S3cr", "3cr3", "r3tP", "tPw", "UzNj", "TM2N"};
    size_t i, k, j;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        for (j = 0; j < UTIL_ARRAY_LEN(secrets); j++) {
            struct pop3imap *s = pop3imap_new(cases[i].proto, 8192, 0);
            char user[POP3IMAP_USER_MAX] = "";
            uint64_t client = 0;
            enum pop3imap_event ev = POP3IMAP_NONE, e;

            e = torture_feed_bytes(s, POP3IMAP_SERVER,
                                   cases[i].proto == POP3 ? "+OK\r\n" : "* OK\r\n", 0, user,
                                   secrets[j]);
            assert_int_equal(e, POP3IMAP_NONE);
            for (k = 0; k < 4 && cases[i].client[k] != NULL; k++) {
                e = torture_feed_bytes(s, POP3IMAP_CLIENT, cases[i].client[k], 0, user, secrets[j]);
                assert_int_equal(e, POP3IMAP_NONE);
                client += strlen(cases[i].client[k]);
                e = torture_feed_bytes(s, POP3IMAP_SERVER, cases[i].server[k], client, user,
                                       secrets[j]);
                if (e != POP3IMAP_NONE)
                    ev = e;
            }
            if (ev == POP3IMAP_LOGIN)
                assert_string_equal(user, "bob");
            else
                assert_int_equal(ev, POP3IMAP_NONE);
            assert_null(strstr(user, secrets[j]));
            pop3imap_free(s);
        }
    }
}

/* test_pop3imap_partial_line_buffered - an incomplete line is kept (only) until its end, then its
 * buffer is released */
static void test_pop3imap_partial_line_buffered(void **state)
{
    struct pop3imap *s = pop3imap_new(POP3, 8192, 0);
    const void *ptr[8];
    size_t len[8], used;
    const char *why;
    char user[POP3IMAP_USER_MAX];

    (void)state;
    assert_int_equal(
        pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)"+OK\r\n", 5, 0, &used, user, &why),
        POP3IMAP_NONE);
    assert_int_equal(
        pop3imap_feed(s, POP3IMAP_CLIENT, (const uint8_t *)"PASS S3cr", 9, 0, &used, user, &why),
        POP3IMAP_NONE);
    assert_int_equal(pop3imap_areas(s, ptr, len, 8), 2); /* the struct and the line */
    assert_int_equal(pop3imap_buffered(s), len[1]);      /* what a budget counts */
    assert_true(torture_holds(s, "S3cr"));
    assert_int_equal(
        pop3imap_feed(s, POP3IMAP_CLIENT, (const uint8_t *)"3tPw\r\n", 6, 0, &used, user, &why),
        POP3IMAP_NONE);
    assert_int_equal(pop3imap_areas(s, ptr, len, 8), 1);
    assert_int_equal(pop3imap_buffered(s), 0);
    assert_false(torture_holds(s, "S3cr"));
    pop3imap_free(s);
}

/* test_pop3imap_idle_memory - an idle conversation holds only its struct, within the bound */
static void test_pop3imap_idle_memory(void **state)
{
    static const char *steps[][2] = {
        {NULL, "* OK ready\r\n"},
        {"a1 CAPABILITY\r\n", "* CAPABILITY IMAP4rev1\r\na1 OK\r\n"},
        {"a2 LOGIN bob {3}\r\n", "+ go\r\n"},
        {"pw \r\n", "a2 NO\r\n"},
    };
    struct pop3imap *s = pop3imap_new(IMAP, 8192, 0);
    const void *ptr[8];
    size_t len[8], used, i;
    uint64_t client = 0;
    const char *why;
    char user[POP3IMAP_USER_MAX];

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(steps); i++) {
        if (steps[i][0] != NULL) {
            assert_int_equal(pop3imap_feed(s, POP3IMAP_CLIENT, (const uint8_t *)steps[i][0],
                                           strlen(steps[i][0]), 0, &used, user, &why),
                             POP3IMAP_NONE);
            client += strlen(steps[i][0]);
        }
        assert_int_equal(pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)steps[i][1],
                                       strlen(steps[i][1]), client, &used, user, &why),
                         POP3IMAP_NONE);
    }
    assert_int_equal(pop3imap_areas(s, ptr, len, 8), 1);
    assert_true(len[0] <= POP3IMAP_IDLE_BYTES);
    assert_false(pop3imap_done(s));
    pop3imap_free(s);
}

/* test_pop3imap_after_event - a login is reported once; the rest of the bytes are used up quietly;
 * a desync is reported once with its reason */
static void test_pop3imap_after_event(void **state)
{
    static const char login[] = "+OK\r\n-ERR junk after\r\n";
    struct pop3imap *s = pop3imap_new(POP3, 8192, 0);
    const char *why = NULL;
    char user[POP3IMAP_USER_MAX];
    size_t used;

    (void)state;
    pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)"+OK\r\n", 5, 0, &used, user, &why);
    pop3imap_feed(s, POP3IMAP_CLIENT, (const uint8_t *)"APOP bob d\r\n", 12, 0, &used, user, &why);
    assert_int_equal(pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)login, sizeof(login) - 1,
                                   12, &used, user, &why),
                     POP3IMAP_LOGIN);
    assert_int_equal(used, 5);
    assert_string_equal(user, "bob");
    assert_true(pop3imap_done(s));
    assert_int_equal(pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)login + 5,
                                   sizeof(login) - 6, 12, &used, user, &why),
                     POP3IMAP_NONE);
    assert_int_equal(used, sizeof(login) - 6);
    pop3imap_free(s);

    s = pop3imap_new(IMAP, 8192, 0);
    assert_int_equal(
        pop3imap_feed(s, POP3IMAP_CLIENT, (const uint8_t *)"a\nb\r\n", 5, 0, &used, user, &why),
        POP3IMAP_DESYNC);
    assert_int_equal(used, 5);
    assert_non_null(why);
    assert_non_null(strstr(why, "bare LF"));
    assert_int_equal(
        pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)"a OK\r\n", 6, 5, &used, user, &why),
        POP3IMAP_NONE);
    assert_true(pop3imap_done(s));
    pop3imap_free(s);
    pop3imap_free(NULL);
}

/* torture_login - feed a greeting, one client text and one server text (acking all of the
 * client's) whole; returns the event of the last feed */
static enum pop3imap_event torture_login(enum pop3imap_proto proto, const char *client,
                                         const char *server, char *user, const char **why)
{
    struct pop3imap *s = pop3imap_new(proto, 8192, 0);
    const char *greet = proto == POP3 ? "+OK\r\n" : "* OK\r\n";
    enum pop3imap_event ev;
    size_t used;

    pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)greet, strlen(greet), 0, &used, user, why);
    ev = pop3imap_feed(s, POP3IMAP_CLIENT, (const uint8_t *)client, strlen(client), 0, &used, user,
                       why);
    if (ev == POP3IMAP_NONE)
        ev = pop3imap_feed(s, POP3IMAP_SERVER, (const uint8_t *)server, strlen(server),
                           strlen(client), &used, user, why);
    pop3imap_free(s);
    return ev;
}

/* test_pop3imap_user_cut - user names are cut to POP3IMAP_USER_MAX - 1 bytes; POP3 commands of
 * 255 octets and more are read */
static void test_pop3imap_user_cut(void **state)
{
    char client[1024], name[400], user[POP3IMAP_USER_MAX];
    const char *why = NULL;

    (void)state;
    memset(name, 'x', 300);
    name[300] = '\0';
    snprintf(client, sizeof(client), "a1 LOGIN {300+}\r\n%s pw\r\n", name);
    assert_int_equal(torture_login(IMAP, client, "a1 OK\r\n", user, &why), POP3IMAP_LOGIN);
    assert_int_equal(strlen(user), POP3IMAP_USER_MAX - 1);
    assert_int_equal(strspn(user, "x"), POP3IMAP_USER_MAX - 1);

    snprintf(client, sizeof(client), "a1 LOGIN \"%s\" pw\r\n", name);
    assert_int_equal(torture_login(IMAP, client, "a1 OK\r\n", user, &why), POP3IMAP_LOGIN);
    assert_int_equal(strlen(user), POP3IMAP_USER_MAX - 1);

    name[248] = '\0'; /* "APOP " + 248 + " d" + CRLF = 257; "USER " + 248 + CRLF = 255 */
    snprintf(client, sizeof(client), "USER %s\r\nPASS x\r\n", name);
    assert_int_equal(torture_login(POP3, client, "+OK\r\n+OK\r\n", user, &why), POP3IMAP_LOGIN);
    assert_string_equal(user, name);
    snprintf(client, sizeof(client), "APOP %s d\r\n", name);
    assert_int_equal(torture_login(POP3, client, "+OK\r\n", user, &why), POP3IMAP_LOGIN);
    assert_string_equal(user, name);
}

/* test_pop3imap_nul_in_command - a NUL byte in a client line is a desync */
static void test_pop3imap_nul_in_command(void **state)
{
    static const uint8_t line[] = "a1 LOGIN b\0b x\r\n";
    struct pop3imap *s = pop3imap_new(IMAP, 8192, 0);
    const char *why = NULL;
    char user[POP3IMAP_USER_MAX];
    size_t used;

    (void)state;
    assert_int_equal(
        pop3imap_feed(s, POP3IMAP_CLIENT, line, sizeof(line) - 1, 0, &used, user, &why),
        POP3IMAP_DESYNC);
    assert_non_null(strstr(why, "NUL"));
    pop3imap_free(s);
}

/* main - run the tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pop3imap_table),
        cmocka_unit_test(test_pop3imap_no_secret_kept),
        cmocka_unit_test(test_pop3imap_partial_line_buffered),
        cmocka_unit_test(test_pop3imap_idle_memory),
        cmocka_unit_test(test_pop3imap_after_event),
        cmocka_unit_test(test_pop3imap_user_cut),
        cmocka_unit_test(test_pop3imap_nul_in_command),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
