/*
 * policy - the Postfix policy-delegation request parser (see policy.h for the contract).
 *
 * Bytes are copied, line by line, into one buffer per connection that holds the current
 * request; each line's LF becomes a NUL so that the attribute values the caller needs are
 * C strings inside that buffer. The buffer starts small, grows (up to POLICY_MAX_REQUEST
 * + 1 bytes) only when a request needs it, and is reused for every later request, so a
 * steady stream of requests allocates nothing.
 *
 * Line endings: Postfix ends lines with LF only. A CR byte anywhere is a protocol error
 * (never stripped), as is a NUL byte. Each attribute the decision reads (request,
 * protocol_state, client_address, recipient) must appear at most once: a repeat is an
 * error rather than a guess at which copy counts. After an error the parser stays failed.
 */
#include <stdlib.h>
#include <string.h>

#include "smtpgate/policy.h"
#include "shared/util.h"

#define POLICY_INITIAL_SIZE 4096

/* The attributes the parser keeps, by index into policy_parser.value. */
enum policy_attr {
    POLICY_ATTR_REQUEST,
    POLICY_ATTR_STATE,
    POLICY_ATTR_CLIENT,
    POLICY_ATTR_RECIPIENT,
    POLICY_ATTR_SENDER,
    POLICY_ATTR_SASL,
    POLICY_NATTR
};

static const struct policy_attr_name {
    const char *name;
    size_t len;
    int unique; /* the decision depends on it: a repeat is an error */
} policy_attr_names[POLICY_NATTR] = {
    [POLICY_ATTR_REQUEST] = {"request", 7, 1},
    [POLICY_ATTR_STATE] = {"protocol_state", 14, 1},
    [POLICY_ATTR_CLIENT] = {"client_address", 14, 1},
    [POLICY_ATTR_RECIPIENT] = {"recipient", 9, 1},
    [POLICY_ATTR_SENDER] = {"sender", 6, 0},
    [POLICY_ATTR_SASL] = {"sasl_username", 13, 0},
};

struct policy_parser {
    char *buf;                  /* the current request, lines NUL-terminated */
    size_t size;                /* allocated bytes of buf */
    size_t used;                /* bytes of the current request stored in buf */
    size_t line_start;          /* offset of the current line in buf */
    unsigned nattrs;            /* attribute lines of the current request */
    size_t value[POLICY_NATTR]; /* offset + 1 of each kept value; 0 if absent */
    int returned;               /* the last call returned a request: reset first */
    int failed;                 /* a protocol error happened: refuse everything */
    char failure[128];          /* the error, repeated on later calls */
};

/* policy_parser_new - a parser for one connection; free with policy_parser_free */
struct policy_parser *policy_parser_new(void)
{
    struct policy_parser *p = xcalloc(1, sizeof(*p));

    p->size = POLICY_INITIAL_SIZE;
    p->buf = xmalloc(p->size);
    return p;
}

/* policy_parser_free - release the parser; NULL is allowed */
void policy_parser_free(struct policy_parser *p)
{
    if (p == NULL)
        return;
    free(p->buf);
    free(p);
}

/* policy_reset - forget the current request, keep the buffer */
static void policy_reset(struct policy_parser *p)
{
    p->used = p->line_start = 0;
    p->nattrs = 0;
    memset(p->value, 0, sizeof(p->value));
    p->returned = 0;
}

/* policy_fail - enter the failed state with a message; returns -1 */
static long policy_fail(struct policy_parser *p, char *err, size_t errlen, const char *msg)
{
    p->failed = 1;
    util_strlcpy(p->failure, msg, sizeof(p->failure));
    return util_seterr(err, errlen, "%s", msg);
}

/* policy_reserve - make room for need bytes in buf (need <= POLICY_MAX_REQUEST + 1) */
static void policy_reserve(struct policy_parser *p, size_t need)
{
    size_t size = p->size;

    if (need <= size)
        return;
    while (size < need)
        size *= 2;
    if (size > POLICY_MAX_REQUEST + 1)
        size = POLICY_MAX_REQUEST + 1;
    p->buf = xrealloc(p->buf, size);
    p->size = size;
}

/* policy_value - the kept value of attribute a, or "" if the request had none */
static const char *policy_value(const struct policy_parser *p, enum policy_attr a)
{
    return p->value[a] ? p->buf + p->value[a] - 1 : "";
}

/* policy_line - take the complete line at line_start; 1 at the end of a request, 0, -1 */
static int policy_line(struct policy_parser *p, char *err, size_t errlen)
{
    char *line = p->buf + p->line_start;
    size_t len = p->used - p->line_start - 1; /* without the NUL that replaced the LF */
    const char *eq;
    size_t namelen, i;

    if (len == 0) {
        if (p->nattrs == 0)
            return (int)policy_fail(p, err, errlen, "empty request");
        if (!p->value[POLICY_ATTR_REQUEST] ||
            strcmp(policy_value(p, POLICY_ATTR_REQUEST), "smtpd_access_policy") != 0)
            return (int)policy_fail(p, err, errlen, "request without request=smtpd_access_policy");
        return 1;
    }
    if (++p->nattrs > POLICY_MAX_ATTRS)
        return (int)policy_fail(p, err, errlen, "request over 128 attributes");
    if ((eq = memchr(line, '=', len)) == NULL)
        return (int)policy_fail(p, err, errlen, "line without '='");
    namelen = (size_t)(eq - line);
    for (i = 0; i < POLICY_NATTR; i++) {
        const struct policy_attr_name *an = &policy_attr_names[i];

        if (an->len != namelen || memcmp(line, an->name, namelen) != 0)
            continue;
        if (an->unique && p->value[i])
            return (int)policy_fail(p, err, errlen, "attribute repeated in one request");
        p->value[i] = (size_t)(eq + 1 - p->buf) + 1;
        break;
    }
    p->line_start = p->used;
    return 0;
}

/* policy_check_bytes - fail on a NUL or CR among the len bytes this call consumed: one
 * search per call rather than two per line, done before any request is returned */
static int policy_check_bytes(struct policy_parser *p, const char *data, size_t len, char *err,
                              size_t errlen)
{
    if (memchr(data, '\0', len) != NULL)
        return (int)policy_fail(p, err, errlen, "NUL byte in request");
    if (memchr(data, '\r', len) != NULL)
        return (int)policy_fail(p, err, errlen, "CR byte in request (lines end with LF only)");
    return 0;
}

/* policy_feed - consume up to len bytes; see policy.h */
long policy_feed(struct policy_parser *p, const char *data, size_t len, struct policy_request *req,
                 int *complete, char *err, size_t errlen)
{
    size_t pos = 0;

    *complete = 0;
    if (p->failed)
        return util_seterr(err, errlen, "%s", p->failure);
    if (p->returned)
        policy_reset(p);
    while (pos < len) {
        const char *seg = data + pos;
        const char *nl = memchr(seg, '\n', len - pos);
        size_t seglen = nl ? (size_t)(nl - seg) : len - pos;
        size_t linelen = p->used - p->line_start + seglen;
        int rc;

        if (linelen > POLICY_MAX_LINE)
            return policy_fail(p, err, errlen, "line over 8192 bytes");
        if (p->used + seglen + (nl != NULL) > POLICY_MAX_REQUEST)
            return policy_fail(p, err, errlen, "request over 65536 bytes");
        policy_reserve(p, p->used + seglen + 1);
        memcpy(p->buf + p->used, seg, seglen);
        p->used += seglen;
        pos += seglen;
        if (nl == NULL)
            break;
        p->buf[p->used++] = '\0';
        pos++;
        if ((rc = policy_line(p, err, errlen)) < 0) {
            policy_check_bytes(p, data, pos, err, errlen); /* a CR or NUL is the better reason */
            return -1;
        }
        if (rc == 1) {
            if (policy_check_bytes(p, data, pos, err, errlen) < 0)
                return -1;
            req->protocol_state = policy_value(p, POLICY_ATTR_STATE);
            req->client_address = policy_value(p, POLICY_ATTR_CLIENT);
            req->recipient = policy_value(p, POLICY_ATTR_RECIPIENT);
            req->sender = policy_value(p, POLICY_ATTR_SENDER);
            req->sasl_username = policy_value(p, POLICY_ATTR_SASL);
            p->returned = 1;
            *complete = 1;
            return (long)pos;
        }
    }
    if (policy_check_bytes(p, data, pos, err, errlen) < 0)
        return -1;
    return (long)pos;
}
