/*
 * fuzz_smtp - libFuzzer target for the SMTP proxy's parsing core (smtpgate/smtp.c) and
 * its session core (smtpgate/session.c).
 *
 * The first byte chooses the mode, the second seeds chunk sizes and limits; the rest is
 * the input. It aborts when an invariant breaks:
 *   0 command stream: the session core (smtpgate/session.c, driven by
 *     tests/fuzz/session_driver.h with a scripted backend) gives the same replies, backend
 *     bytes and log however the client's bytes arrive, always ends once the client has
 *     closed, and every reply is a CRLF line with a code; every line smtp_line_find finds
 *     ends with its only CRLF and every discard count is exact; every parsed command
 *     formats into a line that smtp_line_find takes whole and that parses back to the
 *     same command and formats identically;
 *   1 DATA: smtp_data_scan gives the same verdict and offset fed whole, in random chunks
 *     and byte by byte, and agrees with a byte-by-byte reference model;
 *   2 replies: smtp_reply_feed keeps text well-formed and bounded, one code throughout;
 *   3 EHLO: the filtered reply is a well-formed 250 reply whose extension lines are only
 *     the kept keywords, each at most once; the bits returned name exactly those;
 *     filtering is idempotent;
 *   4 identity: XCLIENT and PROXY lines are single printable lines within their limits
 *     and the HELO value decodes back to a prefix of the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpgate/session.h"
#include "smtpgate/smtp.h"
#include "tests/fuzz/session_driver.h"
#include "tests/fuzz/smtp_reference.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SMTP_BUF 70000 /* above the largest line limit used */

/* fuzz_smtp_check - abort unless cond holds */
static void fuzz_smtp_check(int cond)
{
    if (!cond)
        abort();
}

/* fuzz_smtp_special - 1 for CR, LF and NUL */
static int fuzz_smtp_special(unsigned char c)
{
    return c == '\r' || c == '\n' || c == '\0';
}

/* fuzz_smtp_plain - 1 if s[0..n) holds no CR, LF or NUL */
static int fuzz_smtp_plain(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (fuzz_smtp_special((unsigned char)s[i]))
            return 0;
    return 1;
}

/* fuzz_smtp_rand - the next pseudo-random number from seed */
static uint32_t fuzz_smtp_rand(uint32_t *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

/* fuzz_smtp_hash - fold s[0..n) into h */
static uint32_t fuzz_smtp_hash(uint32_t h, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 16777619u;
    return (h ^ 0xff) * 16777619u;
}

/* fuzz_smtp_fields - a command's text fields lie in line[0..len) (or are "") and are printable */
static void fuzz_smtp_fields(const struct smtp_command *c, const char *line, size_t len)
{
    const char *f[3] = {c->arg, c->path, c->params};
    size_t n[3] = {c->arglen, c->pathlen, c->paramslen}, i, j;

    for (i = 0; i < 3; i++) {
        fuzz_smtp_check(f[i] != NULL);
        if (n[i] == 0)
            continue;
        fuzz_smtp_check(f[i] >= line && f[i] + n[i] <= line + len);
        for (j = 0; j < n[i]; j++)
            fuzz_smtp_check((unsigned char)f[i][j] >= 0x20 && (unsigned char)f[i][j] < 0x7f);
    }
}

/* fuzz_smtp_command - parse one line, check it, and fold what the proxy would send into h */
static uint32_t fuzz_smtp_command(const char *line, size_t len, size_t max, uint32_t h)
{
    static char out[FUZZ_SMTP_BUF], again[FUZZ_SMTP_BUF];
    struct smtp_command c, r;
    enum smtp_error err = smtp_command_parse(line, len, &c), e2;
    const char *reply = smtp_error_reply(err);
    size_t n, m;

    fuzz_smtp_check(err >= SMTP_ERR_NONE && err <= SMTP_ERR_NOT_IMPL);
    fuzz_smtp_check(c.verb >= SMTP_HELO && c.verb <= SMTP_UNKNOWN);
    fuzz_smtp_check((err == SMTP_ERR_UNKNOWN) == (c.verb == SMTP_UNKNOWN));
    fuzz_smtp_check(err == SMTP_ERR_NONE || err == SMTP_ERR_SYNTAX || err == SMTP_ERR_UNKNOWN ||
                    err == SMTP_ERR_NOT_IMPL);
    fuzz_smtp_fields(&c, line, len);
    if (smtp_auth_line_ok(line, len))
        for (n = 0; n < len; n++)
            fuzz_smtp_check(line[n] == '*' || line[n] == '=' || line[n] == '+' || line[n] == '/' ||
                            (line[n] >= '0' && line[n] <= '9') ||
                            (line[n] >= 'A' && line[n] <= 'Z') ||
                            (line[n] >= 'a' && line[n] <= 'z'));
    if (err != SMTP_ERR_NONE) {
        fuzz_smtp_check(c.arglen == 0 && c.pathlen == 0 && c.paramslen == 0);
        fuzz_smtp_check(reply[0] == '5' && strlen(reply) > 2 &&
                        memcmp(reply + strlen(reply) - 2, "\r\n", 2) == 0);
        return fuzz_smtp_hash(h, reply, strlen(reply));
    }
    fuzz_smtp_check(c.verb != SMTP_STARTTLS && c.verb != SMTP_BDAT);
    /* the canonical line is never longer than the client's, and parses back the same */
    n = smtp_command_format(&c, out, sizeof(out));
    fuzz_smtp_check(n >= 6 && n <= len + 2 && out[n - 2] == '\r' && out[n - 1] == '\n');
    fuzz_smtp_check(smtp_line_find(out, n, max, &e2) == n && e2 == SMTP_ERR_NONE);
    fuzz_smtp_check(smtp_command_parse(out, n - 2, &r) == SMTP_ERR_NONE);
    fuzz_smtp_check(r.verb == c.verb && r.pathlen == c.pathlen &&
                    memcmp(r.path, c.path, c.pathlen) == 0);
    if (c.verb != SMTP_AUTH)
        fuzz_smtp_check(r.arglen == c.arglen && memcmp(r.arg, c.arg, c.arglen) == 0);
    fuzz_smtp_check(r.paramslen <= c.paramslen && r.arglen <= c.arglen);
    m = smtp_command_format(&r, again, sizeof(again));
    fuzz_smtp_check(m == n && memcmp(out, again, n) == 0);
    fuzz_smtp_check(smtp_command_format(&c, again, n - 1) == 0);
    return fuzz_smtp_hash(h, out, n);
}

/* fuzz_smtp_find_checked - smtp_line_find with its contract checked */
static size_t fuzz_smtp_find_checked(const char *buf, size_t len, size_t max, enum smtp_error *err)
{
    size_t n = smtp_line_find(buf, len, max, err);
    size_t eff = max < 2 ? 2 : max;

    fuzz_smtp_check(n <= len);
    switch (*err) {
    case SMTP_ERR_NONE:
        if (n == 0) {
            fuzz_smtp_check(len < eff);
            fuzz_smtp_check(len == 0 || fuzz_smtp_plain(buf, len) ||
                            (fuzz_smtp_plain(buf, len - 1) && buf[len - 1] == '\r'));
        } else {
            fuzz_smtp_check(n >= 2 && n <= eff && fuzz_smtp_plain(buf, n - 2));
            fuzz_smtp_check(buf[n - 2] == '\r' && buf[n - 1] == '\n');
        }
        break;
    case SMTP_ERR_TOO_LONG:
        fuzz_smtp_check(n > 0);
        if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
            fuzz_smtp_check(n > eff && fuzz_smtp_plain(buf, n - 2));
        else
            fuzz_smtp_check(n + 1 >= eff && fuzz_smtp_plain(buf, n) &&
                            (n == len || fuzz_smtp_special((unsigned char)buf[n])));
        break;
    case SMTP_ERR_BARE_EOL:
        fuzz_smtp_check(n > 0 && n < eff && fuzz_smtp_plain(buf, n - 1));
        fuzz_smtp_check(buf[n - 1] == '\n' || (buf[n - 1] == '\r' && n < len && buf[n] != '\n'));
        break;
    case SMTP_ERR_NUL:
        fuzz_smtp_check(n > 0 && n < eff && fuzz_smtp_plain(buf, n - 1) && buf[n - 1] == '\0');
        break;
    default:
        abort();
    }
    return n;
}

/* fuzz_smtp_walk - every line smtp_line_find takes from in[0..len), checked, and its
 * command parsed and formatted with the contracts checked */
static void fuzz_smtp_walk(const char *in, size_t len, size_t max)
{
    size_t pos = 0;

    while (pos < len) {
        enum smtp_error err;
        size_t n = fuzz_smtp_find_checked(in + pos, len - pos, max, &err);

        if (n == 0)
            break;
        if (err == SMTP_ERR_NONE)
            (void)fuzz_smtp_command(in + pos, n - 2, max, 0);
        pos += n;
    }
}

/* fuzz_smtp_replies_ok - t holds CRLF lines that each start with a reply code */
static void fuzz_smtp_replies_ok(const struct driver_text *t)
{
    size_t pos = 0;

    while (pos < t->len) {
        const char *line = t->text + pos;
        const char *lf = memchr(line, '\n', t->len - pos);

        if (lf == NULL) {
            fuzz_smtp_check(t->len == DRIVER_TEXT - 1); /* cut off */
            return;
        }
        fuzz_smtp_check(lf - line >= 4 && lf[-1] == '\r');
        fuzz_smtp_check(line[0] >= '2' && line[0] <= '5' && line[1] >= '0' && line[1] <= '9' &&
                        line[2] >= '0' && line[2] <= '9');
        fuzz_smtp_check(fuzz_smtp_plain(line, (size_t)(lf - line) - 1));
        pos += (size_t)(lf - line) + 1;
    }
}

/* fuzz_smtp_session - the session core over in[0..len) read step bytes at a time */
static void fuzz_smtp_session(struct driver *d, const char *in, size_t len, size_t max,
                              uint8_t knob, size_t step)
{
    static const char grants[] = "prdpprddrpdrprpdprrdppdrpdrpprdprdpddrprpdrpdrpdprdrpd";

    driver_init(d, max, knob & 8 ? 2 : 100, SESSION_ID_NONE);
    d->grants = knob & 4 ? grants : NULL;
    driver_start(d, "220 mx.test ESMTP\r\n");
    driver_feed(d, in, len, step, 1);
    fuzz_smtp_check(session_finished(&d->s));
    fuzz_smtp_replies_ok(&d->client);
}

/* fuzz_smtp_lines - mode 0: the session core gives the same client replies, backend bytes
 * and log however the client's bytes arrive, and ends; smtp_line_find keeps its contract */
static void fuzz_smtp_lines(const char *in, size_t len, uint8_t knob)
{
    static const size_t maxes[4] = {SMTP_LINE_MIN, 16, 64, SMTP_AUTH_LINE};
    static struct driver whole, split;
    size_t max = maxes[knob & 3];

    fuzz_smtp_walk(in, len, max);
    fuzz_smtp_session(&whole, in, len, max, knob, 0);
    fuzz_smtp_session(&split, in, len, max, knob, 1u + (knob >> 4));
    fuzz_smtp_check(whole.client.hash == split.client.hash && whole.client.len == split.client.len);
    fuzz_smtp_check(whole.events.hash == split.events.hash);
    fuzz_smtp_check(whole.backend.hash == split.backend.hash ||
                    strstr(whole.events.text, "in message") != NULL);
}

/* fuzz_smtp_data_run - scan in chunks drawn from seed (0: whole; 1: byte by byte) */
static enum smtp_data_state fuzz_smtp_data_run(const char *in, size_t len, uint32_t seed,
                                               size_t *total)
{
    struct smtp_data d;
    enum smtp_data_state st = SMTP_DATA_MORE;
    size_t off = 0;

    smtp_data_init(&d);
    *total = 0;
    while (st == SMTP_DATA_MORE && off < len) {
        size_t chunk = len - off, used;

        if (seed == 1)
            chunk = 1;
        else if (seed != 0)
            chunk = 1 + fuzz_smtp_rand(&seed) % (chunk < 700 ? chunk : 700);
        st = smtp_data_scan(&d, in + off, chunk, &used);
        fuzz_smtp_check(used <= chunk);
        fuzz_smtp_check(st != SMTP_DATA_MORE || used == chunk);
        fuzz_smtp_check(st != SMTP_DATA_END || used >= 1);
        *total += used;
        off += chunk;
    }
    fuzz_smtp_check(d.bytes == *total);
    if (st != SMTP_DATA_MORE) {
        size_t used = 1;
        fuzz_smtp_check(smtp_data_scan(&d, ".\r\n", 3, &used) == st && used == 0);
    }
    return st;
}

/* fuzz_smtp_data - mode 1: every way of feeding agrees with the reference */
static void fuzz_smtp_data(const char *in, size_t len, uint8_t knob)
{
    size_t want, total;
    enum smtp_data_state ref = reference_data_scan(in, len, &want);

    fuzz_smtp_check(fuzz_smtp_data_run(in, len, 0, &total) == ref && total == want);
    fuzz_smtp_check(fuzz_smtp_data_run(in, len, 1, &total) == ref && total == want);
    fuzz_smtp_check(fuzz_smtp_data_run(in, len, 2u + knob, &total) == ref && total == want);
}

/* fuzz_smtp_reply_ok - r->text is well-formed: CRLF lines, one code, '-' but on the last */
static void fuzz_smtp_reply_ok(const struct smtp_reply *r)
{
    size_t pos = 0;

    fuzz_smtp_check(r->len <= SMTP_REPLY_MAX);
    fuzz_smtp_check(r->code >= 200 && r->code <= 599);
    while (pos < r->len) {
        const char *line = r->text + pos;
        const char *cr = memchr(line, '\r', r->len - pos);
        size_t n;

        fuzz_smtp_check(cr != NULL);
        n = (size_t)(cr - line);
        fuzz_smtp_check(n >= 3 && n + 2 <= SMTP_REPLY_LINE && pos + n + 2 <= r->len);
        fuzz_smtp_check(cr[1] == '\n' && fuzz_smtp_plain(line, n));
        fuzz_smtp_check((line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') == r->code);
        pos += n + 2;
        if (pos < r->len || !r->done)
            fuzz_smtp_check(n > 3 && line[3] == '-');
        else
            fuzz_smtp_check(n == 3 || line[3] == ' ');
    }
}

/* fuzz_smtp_replies - mode 2: feed LF-separated lines; check the reply as it grows */
static void fuzz_smtp_replies(const char *in, size_t len)
{
    static struct smtp_reply r;
    size_t pos = 0;

    smtp_reply_init(&r);
    while (pos < len) {
        const char *nl = memchr(in + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - in - pos) : len - pos;
        size_t before = r.len;
        int rc = smtp_reply_feed(&r, in + pos, n);

        fuzz_smtp_check(rc >= -1 && rc <= 1);
        if (rc < 0) {
            fuzz_smtp_check(r.len == before);
            break;
        }
        fuzz_smtp_check(r.len == before + n + 2 && r.done == rc);
        fuzz_smtp_reply_ok(&r);
        if (rc == 1) {
            (void)smtp_ehlo_filter(&r);
            fuzz_smtp_reply_ok(&r);
            fuzz_smtp_check(r.done == 1);
            smtp_reply_init(&r);
        }
        pos += n + 1;
    }
}

/* fuzz_smtp_ehlo - mode 3: lines become a 250 reply; check what the filter leaves */
static void fuzz_smtp_ehlo(const char *in, size_t len)
{
    static const char *const kept[] = {"PIPELINING",          "SIZE", "8BITMIME",
                                       "ENHANCEDSTATUSCODES", "DSN",  "AUTH"};
    static struct smtp_reply r, copy;
    char line[SMTP_REPLY_LINE];
    size_t pos = 0, i;
    unsigned seen = 0;
    unsigned got, got2, want = 0;
    int first = 1;

    smtp_reply_init(&r);
    while (pos < len && !r.done) {
        const char *nl = memchr(in + pos, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - in - pos) : len - pos;

        if (n > sizeof(line) - 6)
            n = sizeof(line) - 6;
        memcpy(line, nl == NULL ? "250 " : "250-", 4);
        memcpy(line + 4, in + pos, n);
        if (smtp_reply_feed(&r, line, n + 4) < 0)
            return;
        pos += n + 1;
    }
    if (!r.done)
        return;
    got = smtp_ehlo_filter(&r);
    fuzz_smtp_reply_ok(&r);
    fuzz_smtp_check(r.done == 1 && r.code == 250);
    for (pos = 0; pos < r.len;) {
        const char *l = r.text + pos;
        size_t n = (size_t)((const char *)memchr(l, '\r', r.len - pos) - l), kw;
        const char *s = l + 4;

        pos += n + 2;
        if (first) {
            first = 0;
            continue;
        }
        fuzz_smtp_check(n > 4);
        for (kw = 0; kw < n - 4 && s[kw] != ' '; kw++)
            ;
        for (i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
            if (strlen(kept[i]) == kw && memcmp(s, kept[i], kw) == 0)
                break;
        fuzz_smtp_check(i < sizeof(kept) / sizeof(kept[0]));
        fuzz_smtp_check(!(seen & (1u << i)));
        seen |= 1u << i;
        want |= 1u << i; /* kept[] is in the order of the SMTP_EHLO_* bits */
        if (i == 1)      /* SIZE alone or with digits */
            for (kw = 5; kw < n - 4; kw++)
                fuzz_smtp_check(s[kw] >= '0' && s[kw] <= '9');
        if (i != 1 && i != 5)
            fuzz_smtp_check(kw == n - 4);
    }
    fuzz_smtp_check(got == want);
    copy = r;
    got2 = smtp_ehlo_filter(&copy);
    fuzz_smtp_check(got2 == got && copy.len == r.len && memcmp(copy.text, r.text, r.len) == 0);
}

/* fuzz_smtp_xtext_decode - decode xtext s[0..n) into out; its length, or -1 */
static long fuzz_smtp_xtext_decode(const char *s, size_t n, char *out)
{
    size_t i, o = 0;

    for (i = 0; i < n; i++) {
        if (s[i] == '+') {
            unsigned v = 0, k;

            if (i + 2 >= n)
                return -1;
            for (k = 1; k <= 2; k++) {
                char c = s[i + k];

                if (c >= '0' && c <= '9')
                    v = v * 16 + (unsigned)(c - '0');
                else if (c >= 'A' && c <= 'F')
                    v = v * 16 + (unsigned)(c - 'A' + 10);
                else
                    return -1;
            }
            out[o++] = (char)v;
            i += 2;
        } else if (s[i] == '=' || (unsigned char)s[i] < 33 || (unsigned char)s[i] > 126) {
            return -1;
        } else {
            out[o++] = s[i];
        }
    }
    return (long)o;
}

/* fuzz_smtp_identity - mode 4: XCLIENT with the input as HELO; PROXY with it as address */
static void fuzz_smtp_identity(const char *in, size_t len, uint8_t knob)
{
    static char buf[1024], dec[1024], addr[80];
    static const char head[] = "XCLIENT ADDR=IPV6:2001:db8::7 PORT=40123 NAME=[TEMPUNAVAIL] HELO=";
    size_t n, i, hl = sizeof(head) - 1;
    long d;

    n = smtp_xclient_format(buf, sizeof(buf), "2001:db8::7", 1, 40123, in, len);
    fuzz_smtp_check(n > 0 && n <= SMTP_LINE_MIN && buf[n - 2] == '\r' && buf[n - 1] == '\n');
    for (i = 0; i + 2 < n; i++)
        fuzz_smtp_check((unsigned char)buf[i] >= 0x20 && (unsigned char)buf[i] < 0x7f);
    if (len == 0) {
        fuzz_smtp_check(n == hl - 6 + 2);
    } else {
        fuzz_smtp_check(n >= hl + 2 && memcmp(buf, head, hl) == 0 && n - hl - 2 <= 255);
        d = fuzz_smtp_xtext_decode(buf + hl, n - hl - 2, dec);
        fuzz_smtp_check(d >= 0 && (size_t)d <= len && memcmp(dec, in, (size_t)d) == 0);
        fuzz_smtp_check((size_t)d == len || n - hl - 2 > 252);
    }
    /* the input as an address: refused, or a clean single line */
    n = len < sizeof(addr) - 1 ? len : sizeof(addr) - 1;
    memcpy(addr, in, n);
    addr[n] = '\0';
    n = smtp_haproxy_format(buf, sizeof(buf), knob & 1, addr, "192.0.2.1", 1, 25);
    if (n > 0) {
        fuzz_smtp_check(n <= 107 && buf[n - 2] == '\r' && buf[n - 1] == '\n');
        fuzz_smtp_check(fuzz_smtp_plain(buf, n - 2));
    }
    n = smtp_xclient_format(buf, sizeof(buf), addr, knob & 1, 25, NULL, 0);
    if (n > 0)
        fuzz_smtp_check(n <= SMTP_LINE_MIN && fuzz_smtp_plain(buf, n - 2) &&
                        memchr(buf + 13, ' ', strlen(addr)) == NULL);
}

/* LLVMFuzzerTestOneInput - run the mode chosen by the first byte */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in;
    size_t len;
    uint8_t knob;

    if (size < 2)
        return 0;
    knob = data[1];
    in = (const char *)data + 2;
    len = size - 2;
    switch (data[0] % 5) {
    case 0:
        fuzz_smtp_lines(in, len, knob);
        break;
    case 1:
        fuzz_smtp_data(in, len, knob);
        break;
    case 2:
        fuzz_smtp_replies(in, len);
        break;
    case 3:
        fuzz_smtp_ehlo(in, len);
        break;
    default:
        fuzz_smtp_identity(in, len, knob);
        break;
    }
    return 0;
}
