/*
 * smtp - the SMTP proxy's parsing core (see smtp.h for the contract): command lines,
 * backend replies, the EHLO filter, the DATA scanner and the client-identity headers.
 *
 * Everything here is a pure function of its arguments or of a small caller-owned struct:
 * no allocation, no I/O, no clock. Line ends are found by one scanner for CR, LF and NUL
 * that looks at eight bytes at a time (smtp_plain_len), used both for command lines and
 * for DATA, which is the proxy's hot path.
 *
 * The command grammar is RFC 5321 4.1.1 with Postfix's tolerance of one space after
 * "FROM:"/"TO:", of runs of spaces between words and of trailing spaces. A path must be
 * in angle brackets; inside it, outside quotes, only the characters of an RFC 5321
 * address are allowed (atext, '.', '@', ',', ':' and one level of '[...]'), so a space, a
 * stray '<', '>' or '"', a backslash, a comment or a control character ends the parse
 * with a syntax error rather than a guess. What the path means (routing, quoted local
 * parts, source routes) is for rcpt_parse to judge: it is returned as it came.
 */
#include <stdio.h>
#include <string.h>

#include "shared/ascii.h"
#include "smtpgate/smtp.h"

#define SMTP_MECH_MAX    20  /* RFC 4422 3.1: characters of a SASL mechanism name */
#define SMTP_XTEXT_MAX   255 /* bytes of the encoded XCLIENT HELO value */
#define SMTP_ADDR_TEXT   64  /* bytes of an address in XCLIENT or PROXY headers */
#define SMTP_PORT_MAX    65535u
#define SMTP_SIZE_DIGITS 20 /* digits of the EHLO SIZE value */

/* Positions in the DATA automaton (struct smtp_data.state). */
enum smtp_data_pos {
    SMTP_DPOS_LINE,   /* at the start of a line (also just after the 354) */
    SMTP_DPOS_MID,    /* inside a line */
    SMTP_DPOS_CR,     /* after a CR inside a line */
    SMTP_DPOS_DOT,    /* after a '.' at the start of a line */
    SMTP_DPOS_DOT_CR, /* after "." CR at the start of a line */
    SMTP_DPOS_END,    /* CRLF.CRLF seen */
    SMTP_DPOS_BAD,    /* bare CR, bare LF or NUL seen */
};

static const struct smtp_verb_name {
    const char *name;
    size_t len;
    enum smtp_verb verb;
} smtp_verbs[] = {
    {"HELO", 4, SMTP_HELO}, {"EHLO", 4, SMTP_EHLO}, {"MAIL", 4, SMTP_MAIL},
    {"RCPT", 4, SMTP_RCPT}, {"DATA", 4, SMTP_DATA}, {"RSET", 4, SMTP_RSET},
    {"NOOP", 4, SMTP_NOOP}, {"QUIT", 4, SMTP_QUIT}, {"VRFY", 4, SMTP_VRFY},
    {"HELP", 4, SMTP_HELP}, {"AUTH", 4, SMTP_AUTH}, {"STARTTLS", 8, SMTP_STARTTLS},
    {"BDAT", 4, SMTP_BDAT},
};

/* The EHLO extensions that survive smtp_ehlo_filter, by bit in a "seen" mask (the bits
 * of enum smtp_ehlo_ext). */
enum smtp_ext {
    SMTP_EXT_PIPELINING,
    SMTP_EXT_SIZE,
    SMTP_EXT_8BITMIME,
    SMTP_EXT_ENHANCED,
    SMTP_EXT_DSN,
    SMTP_EXT_AUTH,
    SMTP_NEXT
};
_Static_assert(SMTP_EHLO_PIPELINING == 1u << SMTP_EXT_PIPELINING &&
                   SMTP_EHLO_SIZE == 1u << SMTP_EXT_SIZE &&
                   SMTP_EHLO_8BITMIME == 1u << SMTP_EXT_8BITMIME &&
                   SMTP_EHLO_ENHANCED == 1u << SMTP_EXT_ENHANCED &&
                   SMTP_EHLO_DSN == 1u << SMTP_EXT_DSN && SMTP_EHLO_AUTH == 1u << SMTP_EXT_AUTH,
               "smtp_ehlo_filter's result bits are its seen mask");

static const struct smtp_ext_name {
    const char *name;
    size_t len;
} smtp_exts[SMTP_NEXT] = {
    [SMTP_EXT_PIPELINING] = {"PIPELINING", 10},
    [SMTP_EXT_SIZE] = {"SIZE", 4},
    [SMTP_EXT_8BITMIME] = {"8BITMIME", 8},
    [SMTP_EXT_ENHANCED] = {"ENHANCEDSTATUSCODES", 19},
    [SMTP_EXT_DSN] = {"DSN", 3},
    [SMTP_EXT_AUTH] = {"AUTH", 4},
};

/* Output being written into a caller's buffer; ok drops to 0 when it does not fit. */
struct smtp_out {
    char *buf;
    size_t size;
    size_t len;
    int ok;
};

/* smtp_is_graph - 1 if c is printable ASCII other than space (33..126) */
static int smtp_is_graph(unsigned char c)
{
    return c > 0x20 && c < 0x7f;
}

/* smtp_is_print - 1 if c is printable ASCII or space (32..126) */
static int smtp_is_print(unsigned char c)
{
    return c >= 0x20 && c < 0x7f;
}

/* smtp_is_path_char - 1 if c may stand unquoted in a path: atext and . @ , : */
static int smtp_is_path_char(unsigned char c)
{
    return ascii_is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~.@,:", c) != NULL);
}

/* smtp_is_mech_char - 1 if c may appear in a SASL mechanism name (any case) */
static int smtp_is_mech_char(unsigned char c)
{
    return ascii_is_alnum(c) || c == '-' || c == '_';
}

/* smtp_is_base64_char - 1 if c is in the base64 alphabet, padding excluded */
static int smtp_is_base64_char(unsigned char c)
{
    return ascii_is_alnum(c) || c == '+' || c == '/';
}

/* smtp_is_special - 1 for the bytes that end or break a line: CR, LF, NUL */
static int smtp_is_special(unsigned char c)
{
    return c == '\r' || c == '\n' || c == '\0';
}

/* smtp_has_zero - nonzero if one of the eight bytes of v is zero */
static uint64_t smtp_has_zero(uint64_t v)
{
    return (v - UINT64_C(0x0101010101010101)) & ~v & UINT64_C(0x8080808080808080);
}

/* smtp_plain_len - the number of leading bytes of p[0..n) that are not CR, LF or NUL */
static size_t smtp_plain_len(const char *p, size_t n)
{
    const uint64_t cr = UINT64_C(0x0d0d0d0d0d0d0d0d), lf = UINT64_C(0x0a0a0a0a0a0a0a0a);
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t v;

        memcpy(&v, p + i, sizeof(v));
        if (smtp_has_zero(v) | smtp_has_zero(v ^ cr) | smtp_has_zero(v ^ lf))
            break;
    }
    while (i < n && !smtp_is_special((unsigned char)p[i]))
        i++;
    return i;
}

/* smtp_base64_ok - 1 if s[0..n) is padded base64 (n may be 0) */
static int smtp_base64_ok(const char *s, size_t n)
{
    size_t i, pad = 0;

    if (n % 4 != 0)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '=') {
            if (++pad > 2)
                return 0;
        } else if (pad > 0 || !smtp_is_base64_char(c)) {
            return 0;
        }
    }
    return 1;
}

/*
 * smtp_line_stop - the end of a line at buf[k], the first byte that is not plain text: the
 * bytes up to and including the CRLF there (*err SMTP_ERR_NONE), or up to and including a
 * NUL, a bare LF or a bare CR (*err says which); 0 if buf[k] is a CR that ends buf
 */
static size_t smtp_line_stop(const char *buf, size_t len, size_t k, enum smtp_error *err)
{
    switch (buf[k]) {
    case '\0':
        *err = SMTP_ERR_NUL;
        return k + 1;
    case '\n':
        *err = SMTP_ERR_BARE_EOL;
        return k + 1;
    default: /* CR */
        if (k + 1 == len)
            return 0;
        if (buf[k + 1] == '\n')
            return k + 2;
        *err = SMTP_ERR_BARE_EOL;
        return k + 1;
    }
}

/* smtp_line_find - the first complete line in buf, or why it cannot be one; see smtp.h */
size_t smtp_line_find(const char *buf, size_t len, size_t max, enum smtp_error *err)
{
    size_t k = smtp_plain_len(buf, len);

    *err = SMTP_ERR_NONE;
    if (max < 2)
        max = 2;
    if (k == len) {
        if (len < max)
            return 0;
        *err = SMTP_ERR_TOO_LONG;
        return len;
    }
    if (k + 2 > max) {
        /* even a CRLF right here would end the line after max bytes */
        *err = SMTP_ERR_TOO_LONG;
        if (buf[k] == '\r' && k + 1 < len && buf[k + 1] == '\n')
            return k + 2;
        return k;
    }
    return smtp_line_stop(buf, len, k, err);
}

/* smtp_line_skip - how much of the rest of an over-long line to drop; see smtp.h */
size_t smtp_line_skip(const char *buf, size_t len, int *done, enum smtp_error *err)
{
    size_t k = smtp_plain_len(buf, len), n;

    *done = 0;
    *err = SMTP_ERR_NONE;
    if (k == len)
        return len;
    if ((n = smtp_line_stop(buf, len, k, err)) == 0)
        return k; /* a CR at the end: its LF is still to come */
    *done = *err == SMTP_ERR_NONE;
    return n;
}

/* smtp_command_clear - an empty command of the given verb: every text field "" */
static void smtp_command_clear(struct smtp_command *out, enum smtp_verb verb)
{
    out->verb = verb;
    out->arg = out->path = out->params = "";
    out->arglen = out->pathlen = out->paramslen = 0;
}

/* smtp_path_end - offset of the '>' that closes the path starting at a[from], or 0 */
static size_t smtp_path_end(const char *a, size_t n, size_t from)
{
    int quoted = 0, literal = 0;
    size_t i;

    for (i = from; i < n; i++) {
        unsigned char c = (unsigned char)a[i];

        if (!smtp_is_print(c))
            return 0;
        if (quoted) {
            if (c == '\\') {
                if (++i >= n || !smtp_is_print((unsigned char)a[i]))
                    return 0;
            } else if (c == '"') {
                quoted = 0;
            }
        } else if (literal) {
            if (c == ']')
                literal = 0;
            else if (!smtp_is_path_char(c))
                return 0;
        } else if (c == '>') {
            return i;
        } else if (c == '"') {
            quoted = 1;
        } else if (c == '[') {
            literal = 1;
        } else if (!smtp_is_path_char(c)) {
            return 0;
        }
    }
    return 0;
}

/* smtp_params_ok - 1 if a[0..n) is ESMTP parameters separated by runs of spaces */
static int smtp_params_ok(const char *a, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t v;

        if (!ascii_is_alnum((unsigned char)a[i]))
            return 0;
        while (i < n && (ascii_is_alnum((unsigned char)a[i]) || a[i] == '-'))
            i++;
        if (i < n && a[i] == '=') {
            v = ++i;
            while (i < n && smtp_is_graph((unsigned char)a[i]) && a[i] != '=')
                i++;
            if (i == v)
                return 0;
        }
        if (i == n)
            break;
        if (a[i] != ' ')
            return 0;
        while (i < n && a[i] == ' ')
            i++;
    }
    return 1;
}

/* smtp_parse_path_cmd - "FROM:<path> params" or "TO:<path> params" into out */
static enum smtp_error smtp_parse_path_cmd(const char *a, size_t n, const char *kw, size_t kwlen,
                                           int null_ok, struct smtp_command *out)
{
    size_t p, end;

    if (n < kwlen || !ascii_ieq(a, kw, kwlen))
        return SMTP_ERR_SYNTAX;
    p = kwlen;
    if (p < n && a[p] == ' ')
        p++;
    if (p >= n || a[p] != '<')
        return SMTP_ERR_SYNTAX;
    if ((end = smtp_path_end(a, n, p + 1)) == 0)
        return SMTP_ERR_SYNTAX;
    if (end == p + 1 && !null_ok)
        return SMTP_ERR_SYNTAX;
    out->path = a + p + 1;
    out->pathlen = end - p - 1;
    p = end + 1;
    if (p == n)
        return SMTP_ERR_NONE;
    if (a[p] != ' ')
        return SMTP_ERR_SYNTAX;
    while (p < n && a[p] == ' ')
        p++;
    if (!smtp_params_ok(a + p, n - p))
        return SMTP_ERR_SYNTAX;
    out->params = a + p;
    out->paramslen = n - p;
    return SMTP_ERR_NONE;
}

/* smtp_parse_auth - "MECH [initial-response]" into out->arg */
static enum smtp_error smtp_parse_auth(const char *a, size_t n, struct smtp_command *out)
{
    size_t m = 0, r;

    while (m < n && smtp_is_mech_char((unsigned char)a[m]))
        m++;
    if (m == 0 || m > SMTP_MECH_MAX)
        return SMTP_ERR_SYNTAX;
    if (m < n) {
        if (a[m] != ' ')
            return SMTP_ERR_SYNTAX;
        for (r = m; r < n && a[r] == ' '; r++)
            ;
        if (!(n - r == 1 && a[r] == '=') && !smtp_base64_ok(a + r, n - r))
            return SMTP_ERR_SYNTAX;
    }
    out->arg = a;
    out->arglen = n;
    return SMTP_ERR_NONE;
}

/* smtp_parse_args - check the arguments a[0..n) of a recognised verb and fill out */
static enum smtp_error smtp_parse_args(enum smtp_verb verb, const char *a, size_t n,
                                       struct smtp_command *out)
{
    size_t i;

    switch (verb) {
    case SMTP_HELO:
    case SMTP_EHLO:
        if (n == 0)
            return SMTP_ERR_SYNTAX;
        for (i = 0; i < n; i++)
            if (!smtp_is_graph((unsigned char)a[i]))
                return SMTP_ERR_SYNTAX;
        out->arg = a;
        out->arglen = n;
        return SMTP_ERR_NONE;
    case SMTP_MAIL:
        return smtp_parse_path_cmd(a, n, "FROM:", 5, 1, out);
    case SMTP_RCPT:
        return smtp_parse_path_cmd(a, n, "TO:", 3, 0, out);
    case SMTP_DATA:
    case SMTP_RSET:
    case SMTP_QUIT:
        return n == 0 ? SMTP_ERR_NONE : SMTP_ERR_SYNTAX;
    case SMTP_NOOP:
    case SMTP_VRFY:
    case SMTP_HELP:
        for (i = 0; i < n; i++)
            if (!smtp_is_print((unsigned char)a[i]))
                return SMTP_ERR_SYNTAX;
        out->arg = a;
        out->arglen = n;
        return SMTP_ERR_NONE;
    case SMTP_AUTH:
        return n == 0 ? SMTP_ERR_SYNTAX : smtp_parse_auth(a, n, out);
    case SMTP_STARTTLS:
        return n == 0 ? SMTP_ERR_NOT_IMPL : SMTP_ERR_SYNTAX;
    case SMTP_BDAT:
        return SMTP_ERR_NOT_IMPL;
    case SMTP_UNKNOWN:
    default:
        return SMTP_ERR_UNKNOWN;
    }
}

/* smtp_command_parse - parse one line (CRLF removed) into out; see smtp.h */
enum smtp_error smtp_command_parse(const char *line, size_t len, struct smtp_command *out)
{
    enum smtp_verb verb = SMTP_UNKNOWN;
    enum smtp_error rc;
    size_t vlen = 0, i;

    smtp_command_clear(out, SMTP_UNKNOWN);
    while (len > 0 && line[len - 1] == ' ')
        len--;
    while (vlen < len && line[vlen] != ' ')
        vlen++;
    for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++) {
        if (smtp_verbs[i].len == vlen && ascii_ieq(line, smtp_verbs[i].name, vlen)) {
            verb = smtp_verbs[i].verb;
            break;
        }
    }
    if (verb == SMTP_UNKNOWN)
        return SMTP_ERR_UNKNOWN;
    out->verb = verb;
    while (vlen < len && line[vlen] == ' ')
        vlen++;
    rc = smtp_parse_args(verb, line + vlen, len - vlen, out);
    if (rc != SMTP_ERR_NONE)
        smtp_command_clear(out, verb);
    return rc;
}

/* smtp_put - append n bytes to o, or mark it as not fitting */
static void smtp_put(struct smtp_out *o, const char *s, size_t n)
{
    if (!o->ok || n > o->size - o->len) {
        o->ok = 0;
        return;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

/* smtp_puts - append the C string s to o */
static void smtp_puts(struct smtp_out *o, const char *s)
{
    smtp_put(o, s, strlen(s));
}

/* smtp_put_words - append s[0..n) with every run of spaces collapsed to one */
static void smtp_put_words(struct smtp_out *o, const char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        size_t w = i;

        while (w < n && s[w] != ' ')
            w++;
        smtp_put(o, s + i, w - i);
        while (w < n && s[w] == ' ')
            w++;
        if (w < n)
            smtp_put(o, " ", 1);
        i = w;
    }
}

/* smtp_finish - terminate o with a NUL when there is room; its length, or 0 */
static size_t smtp_finish(struct smtp_out *o)
{
    if (!o->ok)
        return 0;
    if (o->len < o->size)
        o->buf[o->len] = '\0';
    return o->len;
}

/* smtp_verb_text - the upper-case name of a verb */
static const char *smtp_verb_text(enum smtp_verb verb)
{
    size_t i;

    for (i = 0; i < sizeof(smtp_verbs) / sizeof(smtp_verbs[0]); i++)
        if (smtp_verbs[i].verb == verb)
            return smtp_verbs[i].name;
    return "";
}

/* smtp_command_format - the canonical form of cmd for the backend; see smtp.h */
size_t smtp_command_format(const struct smtp_command *cmd, char *buf, size_t size)
{
    struct smtp_out o = {buf, size, 0, 1};
    struct smtp_command check;

    switch (cmd->verb) {
    case SMTP_MAIL:
    case SMTP_RCPT:
        smtp_puts(&o, cmd->verb == SMTP_MAIL ? "MAIL FROM:<" : "RCPT TO:<");
        smtp_put(&o, cmd->path, cmd->pathlen);
        smtp_put(&o, ">", 1);
        if (cmd->paramslen > 0) {
            smtp_put(&o, " ", 1);
            smtp_put_words(&o, cmd->params, cmd->paramslen);
        }
        break;
    case SMTP_HELO:
    case SMTP_EHLO:
    case SMTP_AUTH:
    case SMTP_NOOP:
    case SMTP_VRFY:
    case SMTP_HELP:
        smtp_puts(&o, smtp_verb_text(cmd->verb));
        if (cmd->arglen > 0) {
            smtp_put(&o, " ", 1);
            if (cmd->verb == SMTP_AUTH)
                smtp_put_words(&o, cmd->arg, cmd->arglen);
            else
                smtp_put(&o, cmd->arg, cmd->arglen);
        }
        break;
    case SMTP_DATA:
    case SMTP_RSET:
    case SMTP_QUIT:
        smtp_puts(&o, smtp_verb_text(cmd->verb));
        break;
    default:
        return 0;
    }
    if (!o.ok)
        return 0;
    /* only what parses again into the same command may reach the backend */
    if (smtp_command_parse(buf, o.len, &check) != SMTP_ERR_NONE || check.verb != cmd->verb ||
        check.pathlen != cmd->pathlen || memcmp(check.path, cmd->path, cmd->pathlen) != 0)
        return 0;
    if (cmd->verb != SMTP_AUTH &&
        (check.arglen != cmd->arglen || memcmp(check.arg, cmd->arg, cmd->arglen) != 0))
        return 0;
    smtp_put(&o, "\r\n", 2);
    return smtp_finish(&o);
}

/* smtp_error_reply - the fixed reply text (CRLF included) for an error */
const char *smtp_error_reply(enum smtp_error err)
{
    switch (err) {
    case SMTP_ERR_TOO_LONG:
        return "500 5.5.2 Line too long\r\n";
    case SMTP_ERR_BARE_EOL:
        return "500 5.5.2 Bare CR or LF not allowed\r\n";
    case SMTP_ERR_NUL:
        return "500 5.5.2 NUL not allowed\r\n";
    case SMTP_ERR_SYNTAX:
        return "501 5.5.4 Syntax error in parameters or arguments\r\n";
    case SMTP_ERR_UNKNOWN:
        return "500 5.5.1 Command unrecognized\r\n";
    case SMTP_ERR_NOT_IMPL:
        return "502 5.5.1 Command not implemented\r\n";
    case SMTP_ERR_NONE:
    default:
        return "451 4.3.0 Internal error\r\n";
    }
}

/* smtp_auth_line_ok - 1 if line is a valid AUTH continuation: base64 or "*" */
int smtp_auth_line_ok(const char *line, size_t len)
{
    if (len == 1 && line[0] == '*')
        return 1;
    return smtp_base64_ok(line, len);
}

/* smtp_reply_init - start assembling a new reply */
void smtp_reply_init(struct smtp_reply *r)
{
    r->code = 0;
    r->done = 0;
    r->len = 0;
}

/* smtp_reply_feed - add one backend line (CRLF removed); see smtp.h */
int smtp_reply_feed(struct smtp_reply *r, const char *line, size_t len)
{
    uint64_t code;

    if (r->done || len < 3 || len + 2 > SMTP_REPLY_LINE || len + 2 > SMTP_REPLY_MAX - r->len)
        return -1;
    if (line[0] < '2' || line[0] > '5' || ascii_uint(line, 3, 599, &code) < 0)
        return -1;
    if (len > 3 && line[3] != '-' && line[3] != ' ')
        return -1;
    if (smtp_plain_len(line, len) != len)
        return -1;
    if (r->len > 0 && (int)code != r->code)
        return -1;
    r->code = (int)code;
    memcpy(r->text + r->len, line, len);
    memcpy(r->text + r->len + len, "\r\n", 2);
    r->len += len + 2;
    r->done = len == 3 || line[3] == ' ';
    return r->done;
}

/* smtp_ext_lookup - the kept extension named s[0..n), or SMTP_NEXT */
static enum smtp_ext smtp_ext_lookup(const char *s, size_t n)
{
    int i;

    for (i = 0; i < SMTP_NEXT; i++)
        if (smtp_exts[i].len == n && ascii_ieq(s, smtp_exts[i].name, n))
            return (enum smtp_ext)i;
    return SMTP_NEXT;
}

/* smtp_ehlo_params - write the parameters of kept extension ext; 0 to drop the line */
static int smtp_ehlo_params(struct smtp_out *o, enum smtp_ext ext, const char *s, size_t n)
{
    size_t i = 0, kept = 0;

    if (ext == SMTP_EXT_SIZE) {
        if (n == 0)
            return 1;
        if (n > SMTP_SIZE_DIGITS || !ascii_digits(s, n))
            return 0;
        smtp_put(o, " ", 1);
        smtp_put(o, s, n);
        return 1;
    }
    if (ext != SMTP_EXT_AUTH)
        return 1;
    while (i < n) {
        size_t w = i, j;
        int good;

        while (w < n && s[w] != ' ')
            w++;
        good = w - i <= SMTP_MECH_MAX;
        for (j = i; j < w && good; j++)
            good = smtp_is_mech_char((unsigned char)s[j]);
        if (good) {
            smtp_put(o, " ", 1);
            smtp_put(o, s + i, w - i);
            kept++;
        }
        while (w < n && s[w] == ' ')
            w++;
        i = w;
    }
    return kept > 0;
}

/* smtp_ehlo_filter - keep only the EHLO extensions the proxy understands; see smtp.h */
unsigned smtp_ehlo_filter(struct smtp_reply *r)
{
    char out[SMTP_REPLY_MAX];
    struct smtp_out o = {out, sizeof(out), 0, 1};
    unsigned seen = 0;
    size_t pos = 0, last = 0;

    if (!r->done || r->code != 250 || r->len == 0)
        return 0;
    while (pos < r->len) {
        const char *line = r->text + pos;
        const char *cr = memchr(line, '\r', r->len - pos);
        size_t linelen = cr != NULL ? (size_t)(cr - line) : 0;
        const char *s = line + (linelen > 3 ? 4 : 3);
        size_t n = linelen > 3 ? linelen - 4 : 0, kw = 0, mark = o.len;
        enum smtp_ext ext;

        if (linelen < 3 || linelen + 2 > r->len - pos)
            return 0; /* not built by smtp_reply_feed: leave it alone */
        pos += linelen + 2;
        while (n > 0 && s[n - 1] == ' ')
            n--;
        if (mark == 0) {
            /* the greeting, kept as it is */
            smtp_put(&o, "250-", 4);
            smtp_put(&o, s, n);
            smtp_put(&o, "\r\n", 2);
            continue;
        }
        while (kw < n && s[kw] != ' ')
            kw++;
        ext = smtp_ext_lookup(s, kw);
        if (ext == SMTP_NEXT || (seen & (1u << ext)))
            continue;
        while (kw < n && s[kw] == ' ')
            kw++;
        smtp_put(&o, "250-", 4);
        smtp_puts(&o, smtp_exts[ext].name);
        if (!smtp_ehlo_params(&o, ext, s + kw, n - kw)) {
            o.len = mark;
            continue;
        }
        smtp_put(&o, "\r\n", 2);
        seen |= 1u << ext;
        last = mark;
    }
    if (!o.ok) /* cannot happen: the output is never longer than the input */
        return 0;
    if (o.len == last + 6) {
        /* a last line without text: "250" alone */
        memcpy(out + last + 3, "\r\n", 2);
        o.len = last + 5;
    } else {
        out[last + 3] = ' ';
    }
    memcpy(r->text, out, o.len);
    r->len = o.len;
    return seen;
}

/* smtp_data_init - start scanning a new message (just after the 354 reply) */
void smtp_data_init(struct smtp_data *d)
{
    d->state = SMTP_DPOS_LINE;
    d->bytes = 0;
}

/* smtp_data_scan - scan len bytes of DATA for CRLF.CRLF and bad line ends; see smtp.h */
enum smtp_data_state smtp_data_scan(struct smtp_data *d, const char *buf, size_t len, size_t *used)
{
    unsigned st = d->state;
    size_t i = 0;

    *used = 0;
    if (st == SMTP_DPOS_END)
        return SMTP_DATA_END;
    if (st == SMTP_DPOS_BAD)
        return SMTP_DATA_BAD;
    while (i < len) {
        unsigned char c;

        if (st == SMTP_DPOS_MID) {
            i += smtp_plain_len(buf + i, len - i);
            if (i == len)
                break;
        }
        c = (unsigned char)buf[i];
        switch (st) {
        case SMTP_DPOS_LINE:
        case SMTP_DPOS_DOT:
            if (c == '\r')
                st = st == SMTP_DPOS_DOT ? SMTP_DPOS_DOT_CR : SMTP_DPOS_CR;
            else if (c == '\n' || c == '\0')
                goto bad;
            else
                st = (st == SMTP_DPOS_LINE && c == '.') ? SMTP_DPOS_DOT : SMTP_DPOS_MID;
            break;
        case SMTP_DPOS_MID: /* only CR, LF and NUL get here */
            if (c != '\r')
                goto bad;
            st = SMTP_DPOS_CR;
            break;
        case SMTP_DPOS_CR:
            if (c != '\n')
                goto bad;
            st = SMTP_DPOS_LINE;
            break;
        case SMTP_DPOS_DOT_CR:
            if (c != '\n')
                goto bad;
            i++;
            d->state = SMTP_DPOS_END;
            d->bytes += i;
            *used = i;
            return SMTP_DATA_END;
        default:
            goto bad;
        }
        i++;
    }
    d->state = st;
    d->bytes += len;
    *used = len;
    return SMTP_DATA_MORE;
bad:
    d->state = SMTP_DPOS_BAD;
    d->bytes += i;
    *used = i;
    return SMTP_DATA_BAD;
}

/* smtp_addr_ok - 1 if addr is plausible IP address text (digits, hex, '.', ':') */
static int smtp_addr_ok(const char *addr, int ipv6)
{
    size_t i, n = strnlen(addr, SMTP_ADDR_TEXT);

    if (n == 0 || n >= SMTP_ADDR_TEXT)
        return 0;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)addr[i];

        if (ascii_is_digit(c) || c == '.')
            continue;
        if (ipv6 && (c == ':' || ascii_hex(c) >= 0))
            continue;
        return 0;
    }
    return 1;
}

/* smtp_put_uint - append the decimal text of v */
static void smtp_put_uint(struct smtp_out *o, unsigned v)
{
    char num[16];
    int n = snprintf(num, sizeof(num), "%u", v);

    smtp_put(o, num, (size_t)n);
}

/* smtp_put_xtext - append s[0..n) xtext-encoded (RFC 3461), at most max encoded bytes */
static void smtp_put_xtext(struct smtp_out *o, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i, out = 0;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c >= 33 && c <= 126 && c != '+' && c != '=') {
            if (out + 1 > max)
                return;
            smtp_put(o, (const char *)&s[i], 1);
            out += 1;
        } else {
            char esc[3] = {'+', hex[c >> 4], hex[c & 15]};

            if (out + 3 > max)
                return;
            smtp_put(o, esc, 3);
            out += 3;
        }
    }
}

/* smtp_xclient_format - Postfix's XCLIENT command for the real client; see smtp.h */
size_t smtp_xclient_format(char *buf, size_t size, const char *addr, int ipv6, unsigned port,
                           const char *helo, size_t helolen)
{
    struct smtp_out o = {buf, size, 0, 1};

    if (!smtp_addr_ok(addr, ipv6) || port > SMTP_PORT_MAX)
        return 0;
    smtp_puts(&o, ipv6 ? "XCLIENT ADDR=IPV6:" : "XCLIENT ADDR=");
    smtp_puts(&o, addr);
    smtp_puts(&o, " PORT=");
    smtp_put_uint(&o, port);
    /* no lookup was made: a transient "unknown" ([UNAVAILABLE] would say that the lookup
     * failed for good; no NAME would leave the backend its own lookup of smtpgate) */
    smtp_puts(&o, " NAME=[TEMPUNAVAIL]");
    if (helo != NULL && helolen > 0) {
        smtp_puts(&o, " HELO=");
        smtp_put_xtext(&o, helo, helolen, SMTP_XTEXT_MAX);
    }
    smtp_put(&o, "\r\n", 2);
    return smtp_finish(&o);
}

/* smtp_haproxy_format - the PROXY protocol v1 header; see smtp.h */
size_t smtp_haproxy_format(char *buf, size_t size, int ipv6, const char *src, const char *dst,
                           unsigned sport, unsigned dport)
{
    struct smtp_out o = {buf, size, 0, 1};

    if (!smtp_addr_ok(src, ipv6) || !smtp_addr_ok(dst, ipv6) || sport > SMTP_PORT_MAX ||
        dport > SMTP_PORT_MAX)
        return 0;
    smtp_puts(&o, ipv6 ? "PROXY TCP6 " : "PROXY TCP4 ");
    smtp_puts(&o, src);
    smtp_put(&o, " ", 1);
    smtp_puts(&o, dst);
    smtp_put(&o, " ", 1);
    smtp_put_uint(&o, sport);
    smtp_put(&o, " ", 1);
    smtp_put_uint(&o, dport);
    smtp_put(&o, "\r\n", 2);
    return smtp_finish(&o);
}
