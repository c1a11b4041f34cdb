/*
 * rcpt - the recipient parser behind the relay decision. It answers two questions
 * about an RCPT TO path: which domain the mail finally goes to, and whether anything
 * in the address could route it on from there (a source route, or %, ! or @ in the
 * local part, the old percent hack, UUCP bang paths and nested addresses).
 *
 * It is strict on purpose. An address this parser accepts as plainly local must be
 * one that every MTA behind us also delivers locally; anything odd (comments, stray
 * brackets or quotes, white space, control characters, a numeric domain, an address
 * literal without its tag) is refused with the reason, and decide treats a refused
 * recipient as not local, so oddness can only cost a relay permit, never grant one.
 *
 * Grammar (RFC 5321 4.1.2, with RFC 6531 UTF-8 allowed in the local part only):
 *   path     = ["<"] [route ":"] mailbox [">"]  |  ["<"] "postmaster" [">"]
 *   route    = "@" domain *("," "@" domain)
 *   mailbox  = (dot-string | quoted-string) "@" (domain ["."] | "[" literal "]")
 *   literal  = IPv4 dotted quad | "IPv6:" IPv6 text   (both through addr_parse)
 * An unquoted local part may hold "@" here (as in u@far.test@local.test): the domain
 * starts after the last "@", and the "@" before it marks the recipient as routed.
 *
 * Pure and bounded: no allocation, no I/O; input is at most RCPT_MAX bytes and is read
 * by length, so it need not be NUL-terminated and may hold NUL (which it refuses).
 */
#include <string.h>
#include <strings.h>

#include "shared/addr.h"
#include "shared/ascii.h"
#include "shared/rcpt.h"
#include "shared/util.h"

#define RCPT_DOMAIN_LEN  (RCPT_DOMAIN_MAX - 1) /* bytes of a domain, trailing dot removed */
#define RCPT_LABEL_MAX   63                    /* bytes of one label */
#define RCPT_SHOW_MAX    64                    /* bytes of bad input quoted in an error */
#define RCPT_WHY_MAX     192                   /* bytes of the reason, before the quote */
#define RCPT_POSTMASTER  "postmaster"
#define RCPT_IPV6_TAG    "IPv6:"
#define RCPT_IPV6_TAGLEN 5

/* rcpt_fail - "WHY in 'TEXT'" into err, the text printable and cut; returns -1 */
static int rcpt_fail(const char *text, size_t len, const char *why, char *err, size_t errlen)
{
    char show[RCPT_SHOW_MAX + 1];

    util_printable(text, len < RCPT_SHOW_MAX ? len : RCPT_SHOW_MAX, show, sizeof(show));
    return util_seterr(err, errlen, "%s in '%s%s'", why, show, len > RCPT_SHOW_MAX ? "..." : "");
}

/* rcpt_is_atext - 1 if c may appear unquoted in a local part (RFC 5321 atext, UTF-8) */
static int rcpt_is_atext(unsigned char c)
{
    return ascii_is_alnum(c) || c >= 0x80 || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* rcpt_is_routing - 1 if c routes mail on from inside a local part */
static int rcpt_is_routing(unsigned char c)
{
    return c == '%' || c == '!' || c == '@';
}

/* rcpt_stray_why - why byte c cannot stand outside quotes where it was found */
static const char *rcpt_stray_why(unsigned char c)
{
    switch (c) {
    case ' ':
        return "space outside quotes";
    case '"':
        return "unbalanced quote";
    case '\\':
        return "backslash outside quotes";
    case '<':
    case '>':
        return "unbalanced angle bracket";
    case '[':
    case ']':
        return "unbalanced square bracket";
    default:
        return NULL;
    }
}

/* rcpt_literal - check an address literal "[...]" and write "[canonical]" to out */
static int rcpt_literal(const char *s, size_t len, char *out, size_t outlen, char *why,
                        size_t whylen)
{
    char aerr[128], text[ADDR_STRLEN];
    const char *a = s + 1;
    size_t alen;
    struct addr parsed;

    if (len < 2 || s[len - 1] != ']')
        return util_seterr(why, whylen, "unbalanced square bracket");
    alen = len - 2;
    if (memchr(a, '[', alen) != NULL || memchr(a, ']', alen) != NULL)
        return util_seterr(why, whylen, "unbalanced square bracket");
    if (alen == 0)
        return util_seterr(why, whylen, "empty address literal");
    if (alen >= RCPT_IPV6_TAGLEN && strncasecmp(a, RCPT_IPV6_TAG, RCPT_IPV6_TAGLEN) == 0) {
        a += RCPT_IPV6_TAGLEN;
        alen -= RCPT_IPV6_TAGLEN;
        if (memchr(a, ':', alen) == NULL)
            return util_seterr(why, whylen, "[IPv6:...] literal without an IPv6 address");
    } else if (memchr(a, ':', alen) != NULL) {
        return util_seterr(why, whylen, "address literal with a tag other than 'IPv6:'");
    }
    if (addr_parse(a, alen, &parsed, aerr, sizeof(aerr)) < 0)
        return util_seterr(why, whylen, "bad address literal (%s)", aerr);
    addr_format(&parsed, text, sizeof(text));
    if (strlen(text) + 3 > outlen)
        return util_seterr(why, whylen, "address literal too long");
    out[0] = '[';
    memcpy(out + 1, text, strlen(text));
    out[strlen(text) + 1] = ']';
    out[strlen(text) + 2] = '\0';
    return 0;
}

/* rcpt_name - check a domain name (LDH labels, one trailing dot) and lower-case it */
static int rcpt_name(const char *s, size_t len, char *out, size_t outlen, char *why, size_t whylen)
{
    size_t i, start = 0, digits = 0;

    if (len > 0 && s[len - 1] == '.')
        len--;
    if (len == 0)
        return util_seterr(why, whylen, "empty domain");
    if (len > RCPT_DOMAIN_LEN || len >= outlen)
        return util_seterr(why, whylen, "domain longer than %d bytes", RCPT_DOMAIN_LEN);
    for (i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)s[i] : '.';
        const char *stray;

        if (c == '.') {
            if (i == start)
                return util_seterr(why, whylen, "empty label in domain");
            if (i - start > RCPT_LABEL_MAX)
                return util_seterr(why, whylen, "domain label longer than %d bytes",
                                   RCPT_LABEL_MAX);
            if (s[start] == '-' || s[i - 1] == '-')
                return util_seterr(why, whylen, "domain label starts or ends with '-'");
            if (i < len) {
                out[i] = '.';
                digits = 0, start = i + 1;
            }
            continue;
        }
        if ((stray = rcpt_stray_why(c)) != NULL)
            return util_seterr(why, whylen, "%s", stray);
        if (!ascii_is_alnum(c) && c != '-')
            return util_seterr(why, whylen, "bad character in domain");
        if (ascii_is_digit(c))
            digits++;
        out[i] = (char)ascii_lower(c);
    }
    out[len] = '\0';
    if (digits == len - start)
        return util_seterr(why, whylen, "numeric domain (an address literal is written [ADDR])");
    return 0;
}

/* rcpt_domain - check a domain or address literal and write its normal form to out */
static int rcpt_domain(const char *s, size_t len, char *out, size_t outlen, int *literal, char *why,
                       size_t whylen)
{
    *literal = len > 0 && s[0] == '[';
    if (*literal)
        return rcpt_literal(s, len, out, outlen, why, whylen);
    return rcpt_name(s, len, out, outlen, why, whylen);
}

/* rcpt_route - skip a source route "@a,@b:" at s; its length, or -1 and why */
static int rcpt_route(const char *s, size_t len, size_t *used, char *why, size_t whylen)
{
    char domain[RCPT_DOMAIN_MAX], dwhy[RCPT_WHY_MAX];
    size_t i = 0, end;
    int literal;

    if (memchr(s, ':', len) == NULL)
        return util_seterr(why, whylen, "empty local part");
    for (;;) {
        if (i >= len || s[i] != '@')
            return util_seterr(why, whylen, "bad source route");
        end = ++i;
        if (end < len && s[end] == '[') {
            while (end < len && s[end] != ']')
                end++;
            if (end < len)
                end++;
        } else {
            while (end < len && s[end] != ',' && s[end] != ':')
                end++;
        }
        if (end >= len)
            return util_seterr(why, whylen, "source route without ':'");
        if (s[end] != ',' && s[end] != ':')
            return util_seterr(why, whylen, "bad source route");
        if (rcpt_domain(s + i, end - i, domain, sizeof(domain), &literal, dwhy, sizeof(dwhy)) < 0)
            return util_seterr(why, whylen, "%s in source route", dwhy);
        i = end + 1;
        if (s[end] == ':')
            break;
    }
    *used = i;
    return 0;
}

/* rcpt_quoted - scan a quoted local part at s; sets *end past the closing quote */
static int rcpt_quoted(const char *s, size_t len, size_t *end, int *routed, char *why,
                       size_t whylen)
{
    size_t i = 1, chars = 0;

    while (i < len && s[i] != '"') {
        unsigned char c = (unsigned char)s[i];

        if (c == '\\') {
            if (i + 1 >= len)
                return util_seterr(why, whylen, "unbalanced quote");
            c = (unsigned char)s[++i];
            if (c >= 0x80)
                return util_seterr(why, whylen, "bad escape in quoted local part");
        }
        if (rcpt_is_routing(c))
            *routed = 1;
        chars++;
        i++;
    }
    if (i >= len)
        return util_seterr(why, whylen, "unbalanced quote");
    if (chars == 0)
        return util_seterr(why, whylen, "empty local part");
    *end = i + 1;
    return 0;
}

/* rcpt_dotstring - check an unquoted local part (atoms joined by dots, @ allowed) */
static int rcpt_dotstring(const char *s, size_t len, int *routed, char *why, size_t whylen)
{
    size_t i;

    if (len == 0)
        return util_seterr(why, whylen, "empty local part");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *stray;

        if (c == '.') {
            if (i == 0 || i + 1 == len || s[i + 1] == '.')
                return util_seterr(why, whylen, "empty atom in local part (a stray dot)");
            continue;
        }
        if (rcpt_is_routing(c)) {
            *routed = 1;
            continue;
        }
        if ((stray = rcpt_stray_why(c)) != NULL)
            return util_seterr(why, whylen, "%s", stray);
        if (!rcpt_is_atext(c))
            return util_seterr(why, whylen, "bad character in local part");
    }
    return 0;
}

/* rcpt_mailbox - parse "local@domain" or bare postmaster in s[0..len) into out */
static int rcpt_mailbox(const char *s, size_t len, int route, struct rcpt *out, char *why,
                        size_t whylen)
{
    const char *at;
    size_t local = 0;

    if (len == 0)
        return util_seterr(why, whylen, route ? "nothing after the source route" : "empty");
    if (s[0] == '"') {
        if (rcpt_quoted(s, len, &local, &out->routed, why, whylen) < 0)
            return -1;
        if (local == len)
            return util_seterr(why, whylen, "no domain");
        if (s[local] != '@')
            return util_seterr(why, whylen, "text after the quoted local part");
    } else {
        for (at = NULL, local = len; local > 0; local--)
            if (s[local - 1] == '@') {
                at = s + local - 1;
                break;
            }
        if (at == NULL) {
            if (!route && len == strlen(RCPT_POSTMASTER) &&
                strncasecmp(s, RCPT_POSTMASTER, len) == 0) {
                out->postmaster = 1;
                return 0;
            }
            if (rcpt_dotstring(s, len, &out->routed, why, whylen) < 0)
                return -1;
            return util_seterr(why, whylen, "no domain");
        }
        local = (size_t)(at - s);
        if (rcpt_dotstring(s, local, &out->routed, why, whylen) < 0)
            return -1;
    }
    return rcpt_domain(s + local + 1, len - local - 1, out->domain, sizeof(out->domain),
                       &out->literal, why, whylen);
}

/* rcpt_check_bytes - refuse NUL and control bytes anywhere; -1 and why */
static int rcpt_check_bytes(const char *s, size_t len, char *why, size_t whylen)
{
    size_t i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];

        if (c == '\0')
            return util_seterr(why, whylen, "NUL byte");
        if (c < 0x20 || c == 0x7f)
            return util_seterr(why, whylen, "control character");
    }
    return 0;
}

/* rcpt_parse - parse len bytes of a recipient; -1 and err (naming why) if malformed */
int rcpt_parse(const char *text, size_t len, struct rcpt *out, char *err, size_t errlen)
{
    char why[RCPT_WHY_MAX];
    const char *s = text;
    size_t n = len, used = 0;
    int route = 0;

    memset(out, 0, sizeof(*out));
    if (text == NULL || len == 0) {
        util_seterr(err, errlen, "empty recipient");
        goto fail;
    }
    if (len > RCPT_MAX) {
        util_seterr(why, sizeof(why), "recipient longer than %d bytes", RCPT_MAX);
        goto bad;
    }
    if (rcpt_check_bytes(s, n, why, sizeof(why)) < 0)
        goto bad;
    if (s[0] == '<' || s[n - 1] == '>') {
        if (n < 2 || s[0] != '<' || s[n - 1] != '>') {
            util_seterr(why, sizeof(why), "unbalanced angle bracket");
            goto bad;
        }
        s++, n -= 2;
        if (n == 0) {
            util_seterr(why, sizeof(why), "empty path");
            goto bad;
        }
    }
    if (s[0] == '@') {
        if (rcpt_route(s, n, &used, why, sizeof(why)) < 0)
            goto bad;
        route = out->routed = 1;
    }
    if (rcpt_mailbox(s + used, n - used, route, out, why, sizeof(why)) < 0)
        goto bad;
    return 0;
bad:
    rcpt_fail(text, len, why, err, errlen);
fail:
    /* a caller that ignores -1 still sees a recipient that is never local */
    memset(out, 0, sizeof(*out));
    out->routed = 1;
    return -1;
}
