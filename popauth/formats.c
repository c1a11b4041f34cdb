/*
 * formats - the six built-in parsers that recognise a successful POP3/IMAP login in a
 * split log line (logline.h): Dovecot, Courier, Cyrus, UW imapd/ipop3d, Qpopper and
 * Perdition. Pure functions, no I/O, no allocation.
 *
 * The relay decision rests on these parsers, so they are written to fail closed
 * (SECURITY.md, promise 1). formats_parse first dispatches on the program tag with
 * length-and-memcmp comparisons: a line from any other program (postfix, sendmail,
 * exim, ...) is NONE after looking at its tag only, however its message reads. A parser
 * then requires the server's own wording at the start of the message (the anchor), and
 * takes the client address from the field the server writes at a fixed place. Any
 * marker the address position depends on ("rip=", "ip=[", "[", " host=", ...) must
 * occur exactly once in the message, so that a user name or a reverse-DNS name holding
 * a copy of it makes the line ambiguous: FORMATS_REJECTED, never a grant. A line with
 * the anchor whose fields do not have their exact shape is also REJECTED. Lines of the
 * right program that are not successful logins (failures, logouts) are NONE.
 */
#include <string.h>

#include "popauth/formats.h"
#include "shared/ascii.h"
#include "shared/util.h"

/* formats_lit - 1 if s[0..n) is exactly the string literal lit */
#define formats_lit(s, n, lit) ((n) == sizeof(lit) - 1 && memcmp((s), (lit), (n)) == 0)
/* formats_starts - 1 if s[0..n) starts with the string literal lit */
#define formats_starts(s, n, lit)                                                                  \
    ((n) >= sizeof(lit) - 1 && memcmp((s), (lit), sizeof(lit) - 1) == 0)

static const char *const formats_names[FORMAT_COUNT] = {
    [FORMAT_DOVECOT] = "dovecot", [FORMAT_COURIER] = "courier", [FORMAT_CYRUS] = "cyrus",
    [FORMAT_UW] = "uw",           [FORMAT_QPOPPER] = "qpopper", [FORMAT_PERDITION] = "perdition",
};

/* formats_ident - 1 if c can be part of a field name (so a marker after it is not one) */
static int formats_ident(char c)
{
    return ascii_is_alnum((unsigned char)c) || c == '_';
}

/* formats_count - occurrences of marker in s[0..n), not counting those inside a longer
 * field name ("real_rip=" is no "rip="); the offset of the first goes to *first */
static size_t formats_count(const char *s, size_t n, const char *marker, size_t mlen, size_t *first)
{
    size_t count = 0, p = 0;
    const char *hit;

    *first = n;
    while (p < n && (hit = memmem(s + p, n - p, marker, mlen)) != NULL) {
        size_t at = (size_t)(hit - s);

        if (at == 0 || !formats_ident(marker[0]) || !formats_ident(s[at - 1])) {
            if (count++ == 0)
                *first = at;
        }
        p = at + 1;
    }
    return count;
}

/* formats_bytes - occurrences of byte c in s[0..n) */
static size_t formats_bytes(const char *s, size_t n, char c)
{
    size_t count = 0;
    const char *hit;

    while (n > 0 && (hit = memchr(s, c, n)) != NULL) {
        count++;
        n -= (size_t)(hit - s) + 1;
        s = hit + 1;
    }
    return count;
}

/* formats_user - copy s[0..n) into user, cleaned by ascii_user_byte and cut to
 * STORE_USER_MAX - 1 bytes */
static void formats_user(char *user, const char *s, size_t n)
{
    size_t i;

    if (n > STORE_USER_MAX - 1)
        n = STORE_USER_MAX - 1;
    for (i = 0; i < n; i++)
        user[i] = ascii_user_byte((unsigned char)s[i]);
    user[n] = '\0';
}

/* formats_addr - parse s[0..n) as a client address; 0 or -1 */
static int formats_addr(const char *s, size_t n, struct addr *a)
{
    if (n == 0)
        return -1;
    return addr_parse(s, n, a, NULL, 0);
}

/* formats_word - 1 if s[0..n) is non-empty and has no space and none of the bytes in bad */
static int formats_word(const char *s, size_t n, const char *bad)
{
    size_t i;

    if (n == 0)
        return 0;
    for (i = 0; i < n; i++)
        if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || strchr(bad, s[i]) != NULL)
            return 0;
    return 1;
}

/* formats_field_start - 1 if offset at of s starts a ", "-separated field */
static int formats_field_start(const char *s, size_t at)
{
    return at == 0 || (at >= 2 && s[at - 2] == ',' && s[at - 1] == ' ');
}

/* formats_dovecot_fields - the fields after "Login: ": user=<U> and rip=IP, each once */
static enum formats_verdict formats_dovecot_fields(const char *f, size_t n, struct login *out)
{
    size_t u, r, v, e, re;
    const char *gt, *comma;

    if (formats_count(f, n, "user=<", 6, &u) != 1 || !formats_field_start(f, u))
        return FORMATS_REJECTED;
    v = u + 6;
    if ((gt = memchr(f + v, '>', n - v)) == NULL)
        return FORMATS_REJECTED;
    e = (size_t)(gt - f);
    if (e + 1 < n && (e + 2 >= n || f[e + 1] != ',' || f[e + 2] != ' '))
        return FORMATS_REJECTED;
    if (formats_count(f, n, "rip=", 4, &r) != 1 || !formats_field_start(f, r) || (r >= u && r <= e))
        return FORMATS_REJECTED;
    comma = memchr(f + r + 4, ',', n - r - 4);
    re = comma == NULL ? n : (size_t)(comma - f);
    if (re < n && (re + 1 >= n || f[re + 1] != ' '))
        return FORMATS_REJECTED;
    if (formats_addr(f + r + 4, re - r - 4, &out->client) < 0)
        return FORMATS_REJECTED;
    formats_user(out->user, f + v, e - v);
    return FORMATS_LOGIN;
}

/* formats_dovecot - "[pop3|imap]-login: [Info: ]Login: user=<U>, ..., rip=IP, ..."
 * under tag dovecot, or the same without the service prefix under tag pop3-login or
 * imap-login (Dovecot's own log file); "Logged in: " is Dovecot 2.4's anchor. Dovecot
 * 1.x's own log file puts "Info: " before the service ("dovecot: STAMP Info: imap-login:
 * Login: ...", 1.1 src/master/log.c log_read() adds "imap-login: " after
 * failures.c's "Info: "). The fields are the same from 1.0 on: client-common.c
 * client_syslog_real() / 2.x client_get_log_str() join login_log_format_elements
 * with ", " ("user=<%u> method=%m rip=%r lip=%l %c" in 1.x, "mpid=%e" from 2.0,
 * "session=<%{session}>" from 2.2), so lines without mpid or session are the same shape */
static enum formats_verdict formats_dovecot(const struct logline *ll, struct login *out)
{
    const char *m = ll->msg;
    size_t n = ll->msglen;
    int info = 0;

    if (ll->taglen == 7) { /* "dovecot": the service is the message's prefix */
        if (formats_starts(m, n, "Info: ")) {
            info = 1;
            m += 6;
            n -= 6;
        }
        if (!formats_starts(m, n, "pop3-login: ") && !formats_starts(m, n, "imap-login: "))
            return FORMATS_NONE;
        m += 12;
        n -= 12;
    }
    if (!info && formats_starts(m, n, "Info: ")) {
        m += 6;
        n -= 6;
    }
    if (formats_starts(m, n, "Login: ")) {
        m += 7;
        n -= 7;
    } else if (formats_starts(m, n, "Logged in: ")) {
        m += 11;
        n -= 11;
    } else {
        return FORMATS_NONE;
    }
    return formats_dovecot_fields(m, n, out);
}

/* formats_courier - "LOGIN, user=U, ip=[IP], port=[N]" with optional ", more" after */
static enum formats_verdict formats_courier(const struct logline *ll, struct login *out)
{
    const char *m = ll->msg, *rb;
    size_t n = ll->msglen, i, c, p;

    if (!formats_starts(m, n, "LOGIN, user="))
        return FORMATS_NONE;
    if (formats_count(m, n, "ip=[", 4, &i) != 1 || i < 14 || m[i - 2] != ',' || m[i - 1] != ' ')
        return FORMATS_REJECTED;
    if ((rb = memchr(m + i + 4, ']', n - i - 4)) == NULL)
        return FORMATS_REJECTED;
    c = (size_t)(rb - m);
    if (formats_addr(m + i + 4, c - i - 4, &out->client) < 0)
        return FORMATS_REJECTED;
    p = c + 1;
    if (p < n) {
        if (n - p < 2 || m[p] != ',' || m[p + 1] != ' ')
            return FORMATS_REJECTED;
        p += 2;
        if (formats_starts(m + p, n - p, "port=[")) {
            const char *pe = memchr(m + p + 6, ']', n - p - 6);
            size_t q;

            if (pe == NULL || !ascii_digits(m + p + 6, (size_t)(pe - m) - p - 6))
                return FORMATS_REJECTED;
            q = (size_t)(pe - m) + 1;
            if (q < n && (n - q < 2 || m[q] != ',' || m[q + 1] != ' '))
                return FORMATS_REJECTED;
        }
    }
    formats_user(out->user, m + 12, i - 2 - 12);
    return FORMATS_LOGIN;
}

/* formats_host_addr - at m[*p], "HOST [ADDR]" or "[ADDR]" as Cyrus and UW write it: the
 * host a single word without brackets (a name, "unknown" or an address), the client
 * address taken from the brackets; *p moves past ']'; -1 if the shape is not exact */
static int formats_host_addr(const char *m, size_t n, size_t *p, struct addr *client)
{
    const char *sp, *rb;
    size_t q = *p, c;

    if (q < n && m[q] != '[') {
        if ((sp = memchr(m + q, ' ', n - q)) == NULL ||
            !formats_word(m + q, (size_t)(sp - m) - q, "[]"))
            return -1;
        q = (size_t)(sp - m) + 1;
    }
    if (q >= n || m[q] != '[' || (rb = memchr(m + q, ']', n - q)) == NULL)
        return -1;
    c = (size_t)(rb - m);
    if (formats_addr(m + q + 1, c - q - 1, client) < 0)
        return -1;
    *p = c + 1;
    return 0;
}

/* formats_cyrus - "login: [HOST ][IP] USER MECH User logged in[ SESSIONID=<ID>]" */
static enum formats_verdict formats_cyrus(const struct logline *ll, struct login *out)
{
    static const char done[] = " User logged in";
    const char *m = ll->msg, *sp, *s;
    size_t n = ll->msglen, p = 7, end, c;

    if (!formats_starts(m, n, "login: "))
        return FORMATS_NONE;
    if (formats_bytes(m, n, '[') != 1 || formats_bytes(m, n, ']') != 1)
        return FORMATS_REJECTED;
    if (formats_host_addr(m, n, &p, &out->client) < 0)
        return FORMATS_REJECTED;
    if (p >= n || m[p] != ' ')
        return FORMATS_REJECTED;
    p++;
    /* the end: " User logged in", optionally followed by " SESSIONID=<ID>" */
    end = n;
    if (n > 0 && m[n - 1] == '>') {
        s = memmem(m + p, n - p, " SESSIONID=<", 12);
        if (s == NULL || !formats_word(s + 12, (size_t)(m + n - 1 - s) - 12, "<>"))
            return FORMATS_REJECTED;
        end = (size_t)(s - m);
    }
    if (end - p < sizeof(done) - 1 ||
        memcmp(m + end - (sizeof(done) - 1), done, sizeof(done) - 1) != 0)
        return FORMATS_REJECTED;
    end -= sizeof(done) - 1;
    /* between: exactly "USER MECH" */
    if ((sp = memchr(m + p, ' ', end - p)) == NULL)
        return FORMATS_REJECTED;
    c = (size_t)(sp - m);
    if (!formats_word(m + p, c - p, "") || !formats_word(m + c + 1, end - c - 1, ""))
        return FORMATS_REJECTED;
    formats_user(out->user, m + p, c - p);
    return FORMATS_LOGIN;
}

/* formats_uw - "[Admin ]Login|Auth|APOP|Authenticated user=U host=[NAME ][IP]" with an
 * optional " nmsgs=N/N" or " no mailbox" (ipop3d, ipop2d) or " mech=M" (imapd) after.
 * Confirmed in UW imap-2007f: ipop3d.c pass_login() "%sLogin user=%.80s host=%.80s
 * nmsgs=%lu/%lu" and "... no mailbox" with "Admin " for "user*admin", main() "Auth
 * user=" / "APOP user=" likewise; ipop2d.c c_helo() "%sLogin user=%.80s host=%.80s";
 * imapd.c main() "Login user=%.80s host=%.80s" and "Authenticated user=%.80s
 * host=%.80s mech=%.80s" (older imapd: no mech). Host is tcp_unix.c tcp_clienthost():
 * "name [addr]" or "[addr]", the name checked by tcp_name_valid() (alnum, '.', '-').
 * "no mailbox" is written after server_login()/mail_auth()/apop_login() succeeded and
 * only mbxopen("INBOX") failed (lock held, no spool): the credentials were verified, so
 * it is a login. Not logins: "Login anonymous=", "Authenticated anonymous=",
 * "Preauthenticated", "IMAP login to host=" (ipop3d's proxy, not checked here), failures */
static enum formats_verdict formats_uw(const struct logline *ll, struct login *out)
{
    static const char nomailbox[] = " no mailbox";
    const char *m = ll->msg;
    size_t n = ll->msglen, a, h, p, admin = 0;

    if (formats_starts(m, n, "Admin Login user=")) /* ipop3d/ipop2d only */
        admin = 6;
    if (formats_starts(m + admin, n - admin, "Login user="))
        a = admin + 11;
    else if (admin == 0 &&
             (formats_starts(m, n, "Auth user=") || formats_starts(m, n, "APOP user=")))
        a = 10;
    else if (admin == 0 && formats_starts(m, n, "Authenticated user="))
        a = 19;
    else
        return FORMATS_NONE;
    if (formats_bytes(m, n, '[') != 1 || formats_bytes(m, n, ']') != 1 ||
        formats_count(m, n, "host=", 5, &h) != 1 || h < a + 1 || m[h - 1] != ' ')
        return FORMATS_REJECTED;
    p = h + 5;
    if (formats_host_addr(m, n, &p, &out->client) < 0)
        return FORMATS_REJECTED;
    if (p < n) {
        if (formats_starts(m + p, n - p, " nmsgs=")) {
            const char *sl = memchr(m + p + 7, '/', n - p - 7);

            if (sl == NULL || !ascii_digits(m + p + 7, (size_t)(sl - m) - p - 7) ||
                !ascii_digits(sl + 1, (size_t)(m + n - sl) - 1))
                return FORMATS_REJECTED;
        } else if (formats_starts(m + p, n - p, " mech=")) {
            if (!formats_word(m + p + 6, n - p - 6, ""))
                return FORMATS_REJECTED;
        } else if (!formats_lit(m + p, n - p, nomailbox)) {
            return FORMATS_REJECTED;
        }
    }
    formats_user(out->user, m + a, h - 1 - a);
    return FORMATS_LOGIN;
}

/* formats_qpopper_whence - the length of m[0..n) without the " [FILE:LINE]" that
 * Qpopper 4 builds with debugging append to every message (pop_log.c pop_logv():
 * "if (DEBUGGING && fn != NULL) ... Qsprintf(whence, \" [%s:%lu]\", fn, ln)", fn being
 * __FILE__); n if there is none. Only the last bracket counts: the address before it
 * holds none, so one a user name carries is never the last */
static size_t formats_qpopper_whence(const char *m, size_t n)
{
    const char *lb, *colon;
    size_t b, c;

    if (n < 5 || m[n - 1] != ']' || (lb = memrchr(m, '[', n)) == NULL)
        return n;
    b = (size_t)(lb - m);
    if (b == 0 || m[b - 1] != ' ' || (colon = memrchr(lb, ':', n - b)) == NULL)
        return n;
    c = (size_t)(colon - m);
    if (c == b + 1 || !formats_word(m + b + 1, c - b - 1, "[]:\"()") || n - 1 - c - 1 < 1 ||
        n - 1 - c - 1 > 6 || !ascii_digits(m + c + 1, n - 1 - c - 1))
        return n;
    return b - 1;
}

/* formats_qpopper - "(vVER) POP login by user \"U\" at (HOST) IP[ [FILE:LINE]]"; IP
 * is the last token. Qpopper 4 pop_log.c do_log_login() with the default log-login
 * string "(v%0) POP login by user \"%1\" at (%2) %3" (pop_init.c: VERSION, p->user,
 * p->client, p->ipaddr); the tag is p->myname, argv[0]'s base name (pop_init.c):
 * "popper", "qpopper", or "in.qpopper" as Debian's inetd.conf starts it */
static enum formats_verdict formats_qpopper(const struct logline *ll, struct login *out)
{
    static const char anchor[] = ") POP login by user \"";
    const char *m = ll->msg, *rp, *sp;
    size_t n = ll->msglen, p, u, at, ip;

    if (!formats_starts(m, n, "(v") || (rp = memchr(m, ')', n)) == NULL)
        return FORMATS_NONE;
    p = (size_t)(rp - m);
    if (!formats_word(m + 2, p - 2, "()\"") || !formats_starts(m + p, n - p, anchor))
        return FORMATS_NONE;
    u = p + sizeof(anchor) - 1;
    n = formats_qpopper_whence(m, n);
    if (n <= u || (sp = memrchr(m + u, ' ', n - u)) == NULL)
        return FORMATS_REJECTED;
    ip = (size_t)(sp - m) + 1;
    if (formats_addr(m + ip, n - ip, &out->client) < 0)
        return FORMATS_REJECTED;
    /* the user ends at the one "\" at (", the host name runs to the ") " before IP */
    if (formats_count(m + u, n - u, "\" at (", 6, &at) != 1)
        return FORMATS_REJECTED;
    at += u;
    if (ip < 2 || m[ip - 2] != ')' || ip - 2 < at + 6 ||
        !formats_word(m + at + 6, ip - 2 - at - 6, "()"))
        return FORMATS_REJECTED;
    formats_user(out->user, m + u, at - u);
    return FORMATS_LOGIN;
}

/* formats_perdition_v6port - the client in "IPv6:PORT" without brackets, as Perdition
 * writes it since 1.19 (perdition.c main(): getnameinfo(NI_NUMERICHOST |
 * NI_NUMERICSERV), then from_host_str ":" from_serv_str "->" ...; 2009-09 to 2010-04
 * wrote the address without ":PORT"). The last ':' starts the port only if the text
 * is not an address as a whole: "2001:db8::25:51234" (a five-digit port is no hex
 * group) is 2001:db8::25, "2001:db8::25" is itself, and "2001:db8::25:1234", which
 * both readings fit, is ambiguous: -1, never a grant */
static int formats_perdition_v6port(const char *s, size_t n, struct addr *a)
{
    const char *colon = memrchr(s, ':', n);
    size_t c = (size_t)(colon - s), plen = n - c - 1;
    struct addr whole, split;
    int w, sp;

    w = formats_addr(s, n, &whole);
    sp = plen >= 1 && plen <= 5 && ascii_digits(colon + 1, plen) ? formats_addr(s, c, &split) : -1;
    if (w == 0 && sp == 0)
        return -1;
    if (w < 0 && sp < 0)
        return -1;
    *a = w == 0 ? whole : split;
    return 0;
}

/* formats_perdition_client - the client in "CLIENT->": IP, IPv4:PORT, IPv6:PORT, [IPv6]
 * or [IPv6]:PORT */
static int formats_perdition_client(const char *s, size_t n, struct addr *a)
{
    const char *colon;
    size_t colons;

    if (n > 0 && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        size_t c;

        if (rb == NULL)
            return -1;
        c = (size_t)(rb - s);
        if (c + 1 < n && (s[c + 1] != ':' || !ascii_digits(s + c + 2, n - c - 2)))
            return -1;
        return formats_addr(s + 1, c - 1, a);
    }
    colons = formats_bytes(s, n, ':');
    if (colons == 1) { /* IPv4:port */
        colon = memchr(s, ':', n);
        if (!ascii_digits(colon + 1, (size_t)(s + n - colon) - 1))
            return -1;
        n = (size_t)(colon - s);
    } else if (colons > 1) {
        return formats_perdition_v6port(s, n, a);
    }
    return formats_addr(s, n, a);
}

/* formats_perdition - "Auth: CLIENT->SERVER key=value ... status=\"ok\"": every token
 * is key=bare or key="quoted" without quotes inside, and status is the last one */
static enum formats_verdict formats_perdition(const struct logline *ll, struct login *out)
{
    const char *m = ll->msg, *arrow, *sp;
    const char *user = NULL, *status = NULL;
    size_t n = ll->msglen, p, ulen = 0, slen = 0, nstatus = 0, nuser = 0;
    int have_auth_id = 0;

    if (!formats_starts(m, n, "Auth: "))
        return FORMATS_NONE;
    if ((sp = memchr(m + 6, ' ', n - 6)) == NULL ||
        (arrow = memmem(m + 6, (size_t)(sp - m) - 6, "->", 2)) == NULL)
        return FORMATS_REJECTED;
    if (formats_perdition_client(m + 6, (size_t)(arrow - m) - 6, &out->client) < 0 ||
        !formats_word(arrow + 2, (size_t)(sp - arrow) - 2, "\""))
        return FORMATS_REJECTED;
    p = (size_t)(sp - m) + 1;
    while (p < n) {
        size_t k = p, klen, v, e;
        int quoted = 0;

        while (p < n && ((m[p] >= 'a' && m[p] <= 'z') || m[p] == '_' || m[p] == '-'))
            p++;
        klen = p - k;
        if (klen == 0 || p >= n || m[p] != '=')
            return FORMATS_REJECTED;
        p++;
        if (p < n && m[p] == '"') {
            const char *q = memchr(m + p + 1, '"', n - p - 1);

            if (q == NULL)
                return FORMATS_REJECTED;
            quoted = 1;
            v = p + 1;
            e = (size_t)(q - m);
            p = e + 1;
        } else {
            v = p;
            while (p < n && m[p] != ' ' && m[p] != '"')
                p++;
            e = p;
            if (p < n && m[p] == '"')
                return FORMATS_REJECTED;
        }
        if (p < n) {
            if (m[p] != ' ' || p + 1 == n)
                return FORMATS_REJECTED;
            p++;
        }
        if (formats_lit(m + k, klen, "status")) {
            if (!quoted || p < n) /* status is quoted, and the last token */
                return FORMATS_REJECTED;
            nstatus++;
            status = m + v;
            slen = e - v;
        } else if (formats_lit(m + k, klen, "authentication_id") && quoted) {
            have_auth_id++;
            user = m + v;
            ulen = e - v;
        } else if (formats_lit(m + k, klen, "user") && quoted) {
            nuser++;
            if (!have_auth_id) {
                user = m + v;
                ulen = e - v;
            }
        }
    }
    if (nstatus != 1 || have_auth_id > 1 || nuser > 1)
        return FORMATS_REJECTED;
    if (!formats_lit(status, slen, "ok"))
        return FORMATS_NONE;
    if (user == NULL)
        return FORMATS_REJECTED;
    formats_user(out->user, user, ulen);
    return FORMATS_LOGIN;
}

/* formats_run - run one parser if its format is enabled, and finish its login */
static enum formats_verdict formats_run(enum format_id id, unsigned enabled,
                                        enum formats_verdict (*parse)(const struct logline *,
                                                                      struct login *),
                                        const struct logline *ll, struct login *out)
{
    struct login l;
    enum formats_verdict v;

    if (!(enabled & (1u << id)))
        return FORMATS_NONE;
    v = parse(ll, &l);
    if (v != FORMATS_LOGIN)
        return v;
    l.time = ll->time;
    l.source = formats_names[id];
    *out = l;
    return FORMATS_LOGIN;
}

/* formats_cyrus_service - 1 if tag is Cyrus's "SOMETHING/imap" ("/pop3", "/imaps",
 * "/pop3s") form */
static int formats_cyrus_service(const char *t, size_t n)
{
    const char *slash = memrchr(t, '/', n);
    size_t s;

    if (slash == NULL || slash == t)
        return 0;
    s = (size_t)(slash - t) + 1;
    return formats_lit(t + s, n - s, "imap") || formats_lit(t + s, n - s, "pop3") ||
           formats_lit(t + s, n - s, "imaps") || formats_lit(t + s, n - s, "pop3s");
}

/* formats_parse - recognise a successful login in a split line of an enabled format */
enum formats_verdict formats_parse(const struct logline *ll, unsigned enabled, struct login *out)
{
    const char *t = ll->tag;
    size_t n = ll->taglen;

    switch (n) {
    case 4:
        if (formats_lit(t, n, "imap") || formats_lit(t, n, "pop3"))
            return formats_run(FORMAT_CYRUS, enabled, formats_cyrus, ll, out);
        return FORMATS_NONE;
    case 5:
        if (formats_lit(t, n, "imapd")) { /* Courier's and UW's: tell them by the text */
            if (ll->msglen > 0 && ll->msg[0] == 'L' && ll->msglen > 1 && ll->msg[1] == 'O')
                return formats_run(FORMAT_COURIER, enabled, formats_courier, ll, out);
            return formats_run(FORMAT_UW, enabled, formats_uw, ll, out);
        }
        if (formats_lit(t, n, "pop3d"))
            return formats_run(FORMAT_COURIER, enabled, formats_courier, ll, out);
        if (formats_lit(t, n, "imaps") || formats_lit(t, n, "pop3s"))
            return formats_run(FORMAT_CYRUS, enabled, formats_cyrus, ll, out);
        return FORMATS_NONE;
    case 6:
        if (formats_lit(t, n, "ipop3d") || formats_lit(t, n, "ipop2d"))
            return formats_run(FORMAT_UW, enabled, formats_uw, ll, out);
        if (formats_lit(t, n, "popper"))
            return formats_run(FORMAT_QPOPPER, enabled, formats_qpopper, ll, out);
        break;
    case 7:
        if (formats_lit(t, n, "dovecot"))
            return formats_run(FORMAT_DOVECOT, enabled, formats_dovecot, ll, out);
        if (formats_lit(t, n, "qpopper"))
            return formats_run(FORMAT_QPOPPER, enabled, formats_qpopper, ll, out);
        break;
    case 9:
        /* "imaplogin": Courier-IMAP before courierlogger (imaplogin.c logged under its
         * own name; cf. "courierpop3login") */
        if (formats_lit(t, n, "imapd-ssl") || formats_lit(t, n, "pop3d-ssl") ||
            formats_lit(t, n, "imaplogin"))
            return formats_run(FORMAT_COURIER, enabled, formats_courier, ll, out);
        if (formats_lit(t, n, "perdition"))
            return formats_run(FORMAT_PERDITION, enabled, formats_perdition, ll, out);
        break;
    case 10:
        if (formats_lit(t, n, "pop3-login") || formats_lit(t, n, "imap-login"))
            return formats_run(FORMAT_DOVECOT, enabled, formats_dovecot, ll, out);
        if (formats_lit(t, n, "in.qpopper")) /* Debian's inetd name */
            return formats_run(FORMAT_QPOPPER, enabled, formats_qpopper, ll, out);
        break;
    case 14:
    case 15:
    case 16:
        if (formats_lit(t, n, "perdition.pop3") || formats_lit(t, n, "perdition.pop3s") ||
            formats_lit(t, n, "perdition.imap4") || formats_lit(t, n, "perdition.imap4s"))
            return formats_run(FORMAT_PERDITION, enabled, formats_perdition, ll, out);
        if (formats_lit(t, n, "courierpop3login"))
            return formats_run(FORMAT_COURIER, enabled, formats_courier, ll, out);
        break;
    default:
        break;
    }
    if (n > 5 && (t[n - 1] == 'p' || t[n - 1] == '3' || t[n - 1] == 's') &&
        formats_cyrus_service(t, n))
        return formats_run(FORMAT_CYRUS, enabled, formats_cyrus, ll, out);
    return FORMATS_NONE;
}

/* formats_name - the name of a format ("dovecot", "courier", ...) */
const char *formats_name(enum format_id id)
{
    if ((unsigned)id >= FORMAT_COUNT)
        return "unknown";
    return formats_names[id];
}

/* formats_mask - the set named by a log_formats list ("all" or names); -1 and err if bad */
int formats_mask(const struct strlist *names, unsigned *mask, char *err, size_t errlen)
{
    unsigned m = 0;
    size_t i;
    int id;

    for (i = 0; i < names->count; i++) {
        const char *name = names->items[i];

        if (strcmp(name, "all") == 0) {
            m |= FORMATS_ALL;
            continue;
        }
        for (id = 0; id < FORMAT_COUNT; id++)
            if (strcmp(name, formats_names[id]) == 0)
                break;
        if (id == FORMAT_COUNT) {
            char show[65];

            util_printable(name, strlen(name), show, sizeof(show));
            return util_seterr(err, errlen,
                               "log_formats: unknown format '%s' (known: all dovecot courier "
                               "cyrus uw qpopper perdition)",
                               show);
        }
        m |= 1u << id;
    }
    *mask = m;
    return 0;
}
