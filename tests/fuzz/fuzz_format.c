/*
 * fuzz_format - libFuzzer target for one built-in login parser, chosen at compile time
 * with -DFUZZ_FORMAT=FORMAT_DOVECOT (..._COURIER, _CYRUS, _UW, _QPOPPER, _PERDITION); the
 * build compiles it once per format. The first input byte picks one of the format's
 * program tags (and whether the line has a host and a pid), the rest is the message.
 * The line is split with logline_parse and given to formats_parse, and the target
 * aborts when a property fails: a LOGIN has the format's own name as source, the line's
 * time, a user of printable bytes shorter than STORE_USER_MAX, and an AF_INET/AF_INET6
 * address that some address-shaped run of the message spells (so it was read from the
 * text, not made up); the format's bit decides whether it can log in at all; a line of
 * the same message under a foreign tag (postfix/smtpd) is never a login. The raw input
 * is also split as a whole line, with a fixed now.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "popauth/formats.h"
#include "popauth/logline.h"

#ifndef FUZZ_FORMAT
#define FUZZ_FORMAT FORMAT_DOVECOT
#endif

#define FUZZ_NOW INT64_C(1795878000) /* 2026-11-28T15:00:00Z */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_format_tags[FORMAT_COUNT][6] = {
    [FORMAT_DOVECOT] = {"dovecot", "pop3-login", "imap-login"},
    [FORMAT_COURIER] = {"pop3d", "pop3d-ssl", "imapd", "imapd-ssl", "courierpop3login",
                        "imaplogin"},
    [FORMAT_CYRUS] = {"pop3", "imap", "pop3s", "imaps", "cyrus/imap", "service/pop3s"},
    [FORMAT_UW] = {"ipop3d", "imapd", "ipop2d"},
    [FORMAT_QPOPPER] = {"popper", "qpopper", "in.qpopper"},
    [FORMAT_PERDITION] = {"perdition", "perdition.imap4", "perdition.imap4s", "perdition.pop3",
                          "perdition.pop3s"},
};

/* fuzz_format_addrchar - 1 if c can be part of an address's text */
static int fuzz_format_addrchar(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
}

/* fuzz_format_spelled - 1 if a maximal address-shaped run of s (or the run without a
 * ":port" tail) parses to a */
static int fuzz_format_spelled(const char *s, size_t n, const struct addr *a)
{
    size_t i = 0, j, k;
    struct addr b;

    while (i < n) {
        if (!fuzz_format_addrchar(s[i])) {
            i++;
            continue;
        }
        for (j = i; j < n && fuzz_format_addrchar(s[j]); j++)
            ;
        if (addr_parse(s + i, j - i, &b, NULL, 0) == 0 && addr_compare(a, &b) == 0)
            return 1;
        for (k = j; k > i && s[k - 1] >= '0' && s[k - 1] <= '9'; k--)
            ;
        if (k > i + 1 && k < j && s[k - 1] == ':' &&
            addr_parse(s + i, k - 1 - i, &b, NULL, 0) == 0 && addr_compare(a, &b) == 0)
            return 1;
        i = j;
    }
    return 0;
}

/* fuzz_format_check_login - the properties of a LOGIN verdict for line ll */
static void fuzz_format_check_login(const struct logline *ll, const struct login *l)
{
    size_t i, ulen;

    if (l->client.family != AF_INET && l->client.family != AF_INET6)
        abort();
    if (!fuzz_format_spelled(ll->msg, ll->msglen, &l->client))
        abort();
    ulen = strnlen(l->user, STORE_USER_MAX);
    if (ulen >= STORE_USER_MAX)
        abort();
    for (i = 0; i < ulen; i++)
        if ((unsigned char)l->user[i] < 0x20 || (unsigned char)l->user[i] >= 0x7f)
            abort();
    if (l->time != ll->time || l->source == NULL)
        abort();
}

/* LLVMFuzzerTestOneInput - byte 0 picks tag and shape, the rest is the message */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char line[LOGLINE_MAX + 256];
    const char *const *tags = fuzz_format_tags[FUZZ_FORMAT];
    const char *msg = (const char *)data + 1;
    size_t ntags = 0, msglen, n;
    struct logline ll;
    struct login l;
    enum formats_verdict v;
    unsigned sel;
    int64_t t;
    size_t used;

    /* the raw input as a whole line */
    if (logline_parse((const char *)data, size, FUZZ_NOW, &ll) == 0 &&
        formats_parse(&ll, FORMATS_ALL, &l) == FORMATS_LOGIN)
        fuzz_format_check_login(&ll, &l);

    if (size < 1 || size - 1 > LOGLINE_MAX)
        return 0;
    while (ntags < 6 && tags[ntags] != NULL)
        ntags++;
    sel = data[0];
    msglen = size - 1;
    n = (size_t)snprintf(line, sizeof(line), "Nov 28 14:24:53 %s%s%s: ", sel & 0x40 ? "" : "mail ",
                         tags[(sel & 0x3f) % ntags], sel & 0x80 ? "[4711]" : "");
    memcpy(line + n, msg, msglen);
    n += msglen;
    if (logline_parse(line, n, FUZZ_NOW, &ll) < 0)
        return 0;
    if (logline_parse_time(line, n, FUZZ_NOW, &t, &used) != 0 || ll.time != t ||
        ll.msg != line + n - msglen || ll.msglen != msglen)
        abort();

    v = formats_parse(&ll, 1u << FUZZ_FORMAT, &l);
    if (v == FORMATS_LOGIN) {
        fuzz_format_check_login(&ll, &l);
        if (strcmp(l.source, formats_name(FUZZ_FORMAT)) != 0)
            abort();
        /* all formats on: the same verdict */
        if (formats_parse(&ll, FORMATS_ALL, &l) != FORMATS_LOGIN)
            abort();
    } else if (v != FORMATS_NONE && v != FORMATS_REJECTED) {
        abort();
    }
    /* this format off: never a login of this format */
    v = formats_parse(&ll, FORMATS_ALL & ~(1u << FUZZ_FORMAT), &l);
    if (v == FORMATS_LOGIN) {
        fuzz_format_check_login(&ll, &l);
        if (strcmp(l.source, formats_name(FUZZ_FORMAT)) == 0)
            abort();
    }
    if (formats_parse(&ll, 0, &l) != FORMATS_NONE)
        abort();

    /* the same message under an MTA's tag is never a login */
    n = (size_t)snprintf(line, sizeof(line), "Nov 28 14:24:53 mail postfix/smtpd[1]: ");
    memcpy(line + n, msg, msglen);
    n += msglen;
    if (logline_parse(line, n, FUZZ_NOW, &ll) == 0 &&
        formats_parse(&ll, FORMATS_ALL, &l) != FORMATS_NONE)
        abort();
    return 0;
}
