/*
 * pop3imap - the sniffer's POP3/IMAP login detector (see pop3imap.h for the contract and
 * for the rules that decide what pairs with what).
 *
 * Shape: each side has a line gatherer (pop3imap_take_line) that hands out whole lines,
 * in place when a line lies inside the caller's bytes and from a per-side buffer when it
 * straddles calls; the buffer starts at POP3IMAP_BUF_MIN bytes, doubles up to max_line
 * and is cleared and freed as soon as its line is handled. Literal bytes (IMAP) are
 * never gathered: the client's are counted (and, for a LOGIN user name, copied into the
 * name), the server's are skipped. Commands wait in a small array queue (end offset in
 * the client stream, kind, flags, and for IMAP the exact tag, kept in one shared
 * POP3IMAP_TAG_SPACE area); the user name of the login command in flight lives in one
 * heap buffer of POP3IMAP_USER_MAX bytes that exists only while such a command does.
 * Client offsets are 32-bit and lengths too, to keep an idle conversation small (the
 * sniffer holds up to sniff_max_flows of them); a POP3 command with a line over 255
 * octets is flagged (POP3IMAP_F_LONG) for the rule in pop3imap_pop3_server.
 *
 * Client modes: reading commands (C_CMD); IMAP only, inside a command after a literal
 * (C_ARGS), waiting for the server's "+" after a synchronizing literal header
 * (C_WAITLIT), reading literal bytes (C_LIT); SASL (POP3 AUTH, IMAP AUTHENTICATE and
 * IDLE): waiting for the server (C_SASLWAIT) or a client response line due (C_SASLRESP).
 * Client bytes that arrive while the client should be waiting are a desync.
 *
 * After a reported login the conversation is finished: a POP3 session in TRANSACTION
 * state or an authenticated IMAP session cannot log in again, so nothing after it is
 * parsed (pipelined commands, message bodies, APPENDs).
 */
#include <stdlib.h>
#include <string.h>

#include "popauth/sniff/pop3imap.h"
#include "shared/ascii.h"
#include "shared/util.h"

#define POP3IMAP_TAG_MAX    32          /* bytes of an IMAP tag; longer is a desync */
#define POP3IMAP_TAG_SPACE  128         /* bytes of all pending tags together */
#define POP3IMAP_POP3_CMD   255         /* RFC 2449: a POP3 command line, CRLF included */
#define POP3IMAP_BUF_MIN    64          /* first size of a line buffer */
#define POP3IMAP_LIT_DIGITS 18          /* digits of a literal size (fits in 63 bits) */
#define POP3IMAP_OPEN       UINT32_MAX  /* end offset of a command not yet complete */
#define POP3IMAP_CLIENT_MAX 0xfffffff0u /* client bytes followed; more is a desync */
#define POP3IMAP_LINE_LIMIT (1u << 30)  /* max_line is cut to this */
#define POP3IMAP_WHY_LONG   "line too long"

/* Where a conversation is: only ALIVE parses; the others are reported once. */
enum pop3imap_phase { POP3IMAP_ALIVE, POP3IMAP_DONE, POP3IMAP_FAILED, POP3IMAP_ENDTLS };

/* What the client stream holds next. */
enum pop3imap_cmode {
    POP3IMAP_C_CMD,      /* a command line */
    POP3IMAP_C_ARGS,     /* IMAP: the rest of a command after a literal */
    POP3IMAP_C_WAITLIT,  /* IMAP: nothing until the server's "+" for a {n} literal */
    POP3IMAP_C_LIT,      /* IMAP: clit literal bytes */
    POP3IMAP_C_SASLWAIT, /* nothing until the server's "+" or final reply */
    POP3IMAP_C_SASLRESP, /* one SASL response line (IMAP IDLE: its DONE line) */
};

/* What the server stream holds next. */
enum pop3imap_smode {
    POP3IMAP_S_LINE,  /* a reply line */
    POP3IMAP_S_MULTI, /* POP3: the body of a multi-line reply, up to its "." line */
    POP3IMAP_S_LIT,   /* IMAP: slit literal bytes of an untagged response */
};

/* What a pending command is, for the reply to it. */
enum pop3imap_kind {
    POP3IMAP_K_OTHER, /* anything whose reply matters only for pairing */
    POP3IMAP_K_MULTI, /* POP3: answered +OK with a multi-line body */
    POP3IMAP_K_USER,  /* POP3 USER */
    POP3IMAP_K_PASS,  /* POP3 PASS */
    POP3IMAP_K_APOP,  /* POP3 APOP */
    POP3IMAP_K_AUTH,  /* POP3 AUTH mech, IMAP AUTHENTICATE */
    POP3IMAP_K_LOGIN, /* IMAP LOGIN */
    POP3IMAP_K_TLS,   /* POP3 STLS, IMAP STARTTLS */
    POP3IMAP_K_IDLE,  /* IMAP IDLE */
};

/* Flags of a pending command. */
#define POP3IMAP_F_NONSYNC 0x01 /* IMAP: carried a {n+} literal */
#define POP3IMAP_F_LONG    0x02 /* POP3: a line of it was over POP3IMAP_POP3_CMD octets */

/* pop3imap_pending's mask bit for a kind */
#define POP3IMAP_BIT(k) (1u << (k))

/* SASL mechanisms whose responses carry the user name. */
enum pop3imap_mech { POP3IMAP_M_OTHER, POP3IMAP_M_PLAIN, POP3IMAP_M_LOGIN };

/* Reply status words. */
enum pop3imap_status {
    POP3IMAP_ST_BAD_LINE,
    POP3IMAP_ST_OK,
    POP3IMAP_ST_NO,
    POP3IMAP_ST_BAD,
    POP3IMAP_ST_CONT
};

/* A line that straddles calls. */
struct pop3imap_buf {
    uint8_t *data; /* NULL while no line is incomplete */
    uint32_t len, cap;
};

/* One conversation. Client offsets are 32-bit: a client that sends POP3IMAP_CLIENT_MAX
 * bytes without logging in is given up. */
struct pop3imap {
    uint64_t slit;                      /* server literal bytes still to come */
    uint32_t coff;                      /* client bytes consumed so far */
    uint32_t wait_end;                  /* client offset a "+" must have acknowledged */
    uint32_t clit;                      /* client literal bytes still to come */
    uint32_t end[POP3IMAP_MAX_PENDING]; /* client offset after each pending command */
    uint32_t max_line;
    uint32_t cmdlen;             /* IMAP: bytes of the command in progress so far */
    struct pop3imap_buf line[2]; /* by side */
    char *name;                  /* user name of the login in flight, or NULL */
    const char *why;             /* the desync reason */
    uint8_t kind[POP3IMAP_MAX_PENDING];
    uint8_t flags[POP3IMAP_MAX_PENDING];
    uint8_t tagoff[POP3IMAP_MAX_PENDING];
    uint8_t taglen[POP3IMAP_MAX_PENDING];
    char tags[POP3IMAP_TAG_SPACE]; /* pending tags, in queue order */
    uint8_t npending, tagused;
    uint8_t proto, joined, phase, cmode, smode;
    uint8_t skip[2];   /* joined: discard up to the first LF on this side */
    uint8_t greeted;   /* POP3: the server's first line was seen */
    uint8_t scont;     /* IMAP: the next server line continues a response after a literal */
    uint8_t name_len;  /* bytes in name */
    uint8_t name_ok;   /* POP3: USER was accepted */
    uint8_t mech;      /* SASL mechanism of the AUTH in flight */
    uint8_t sasl_have; /* the SASL response that names the user was seen */
    uint8_t argi;      /* IMAP LOGIN: arguments read */
    uint8_t bad;       /* IMAP: the command in progress is malformed */
    uint8_t capture;   /* IMAP: the literal in progress is the LOGIN user name */
};

_Static_assert(sizeof(struct pop3imap) <= POP3IMAP_IDLE_BYTES, "conversation state too large");
_Static_assert(POP3IMAP_USER_MAX - 1 <= UINT8_MAX, "name_len is one byte");

/* pop3imap_size - the bytes a detector takes, for pop3imap_init */
size_t pop3imap_size(void)
{
    return sizeof(struct pop3imap);
}

/* pop3imap_new - a detector for one conversation; joined: picked up mid-session */
struct pop3imap *pop3imap_new(enum pop3imap_proto proto, size_t max_line, int joined)
{
    struct pop3imap *s = xmalloc(sizeof(*s));

    pop3imap_init(s, proto, max_line, joined);
    return s;
}

/* pop3imap_init - a detector in the caller's memory (pop3imap_size bytes, aligned) */
void pop3imap_init(struct pop3imap *s, enum pop3imap_proto proto, size_t max_line, int joined)
{
    memset(s, 0, sizeof(*s));
    s->proto = (uint8_t)proto;
    s->max_line = (uint32_t)(max_line < POP3IMAP_LINE_LIMIT ? max_line : POP3IMAP_LINE_LIMIT);
    s->joined = joined != 0;
    s->skip[POP3IMAP_CLIENT] = s->skip[POP3IMAP_SERVER] = s->joined;
    s->greeted = s->joined;
}

/* pop3imap_buf_drop - clear and release a side's line buffer */
static void pop3imap_buf_drop(struct pop3imap_buf *b)
{
    if (b->data != NULL) {
        explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}

/* pop3imap_name_drop - forget the user name of the login in flight */
static void pop3imap_name_drop(struct pop3imap *s)
{
    if (s->name != NULL) {
        explicit_bzero(s->name, POP3IMAP_USER_MAX);
        free(s->name);
    }
    s->name = NULL;
    s->name_len = 0;
    s->name_ok = 0;
}

/* pop3imap_release - drop every buffer once the conversation is finished */
static void pop3imap_release(struct pop3imap *s)
{
    pop3imap_buf_drop(&s->line[0]);
    pop3imap_buf_drop(&s->line[1]);
    pop3imap_name_drop(s);
}

/* pop3imap_fini - release what a detector made by pop3imap_init holds, and clear it */
void pop3imap_fini(struct pop3imap *s)
{
    pop3imap_release(s);
    explicit_bzero(s, sizeof(*s));
}

/* pop3imap_free - release s, clearing any buffered bytes; NULL is allowed */
void pop3imap_free(struct pop3imap *s)
{
    if (s == NULL)
        return;
    pop3imap_fini(s);
    free(s);
}

/* pop3imap_done - 1 once nothing more can be reported (after LOGIN, DESYNC or TLS) */
int pop3imap_done(const struct pop3imap *s)
{
    return s->phase != POP3IMAP_ALIVE;
}

/* pop3imap_area - add one area to pop3imap_areas' answer if there is room */
static void pop3imap_area(const void *p, size_t n, const void **ptr, size_t *len, size_t max,
                          size_t *k)
{
    if (p == NULL || *k >= max)
        return;
    ptr[*k] = p;
    len[*k] = n;
    (*k)++;
}

/* pop3imap_areas - the memory s holds now; see pop3imap.h */
size_t pop3imap_areas(const struct pop3imap *s, const void **ptr, size_t *len, size_t max)
{
    size_t k = 0;

    pop3imap_area(s, sizeof(*s), ptr, len, max, &k);
    pop3imap_area(s->name, POP3IMAP_USER_MAX, ptr, len, max, &k);
    pop3imap_area(s->line[0].data, s->line[0].cap, ptr, len, max, &k);
    pop3imap_area(s->line[1].data, s->line[1].cap, ptr, len, max, &k);
    return k;
}

/* pop3imap_buffered - the bytes s holds besides its struct; see pop3imap.h */
size_t pop3imap_buffered(const struct pop3imap *s)
{
    return (s->name != NULL ? POP3IMAP_USER_MAX : 0) + (size_t)s->line[0].cap +
           (size_t)s->line[1].cap;
}

/* pop3imap_fail - lose track: the conversation never reports a login afterwards */
static void pop3imap_fail(struct pop3imap *s, const char *why)
{
    if (s->phase == POP3IMAP_ALIVE) {
        s->phase = POP3IMAP_FAILED;
        s->why = why;
    }
}

/* pop3imap_ieq - 1 if p[0..n) is the upper-case word w, ignoring case */
static int pop3imap_ieq(const uint8_t *p, size_t n, const char *w)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (w[i] == '\0' || ascii_upper(p[i]) != (uint8_t)w[i])
            return 0;
    return w[n] == '\0';
}

/* pop3imap_word - 1 if p[0..n) starts with word w (exact case) ending at SP or the end */
static int pop3imap_word(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);

    return n >= k && memcmp(p, w, k) == 0 && (n == k || p[k] == ' ');
}

/* pop3imap_iword - pop3imap_word ignoring case (w in upper case) */
static int pop3imap_iword(const uint8_t *p, size_t n, const char *w)
{
    size_t k = strlen(w);

    return n >= k && pop3imap_ieq(p, k, w) && (n == k || p[k] == ' ');
}

/* pop3imap_name_new - start an empty user name for a login command */
static void pop3imap_name_new(struct pop3imap *s)
{
    if (s->name == NULL)
        s->name = xmalloc(POP3IMAP_USER_MAX);
    s->name[0] = '\0';
    s->name_len = 0;
    s->name_ok = 0;
}

/* pop3imap_name_put - append byte c to the user name, cleaned by ascii_user_byte; cut at
 * the max */
static void pop3imap_name_put(struct pop3imap *s, uint8_t c)
{
    if (s->name == NULL || s->name_len >= POP3IMAP_USER_MAX - 1)
        return;
    s->name[s->name_len++] = ascii_user_byte(c);
    s->name[s->name_len] = '\0';
}

/* pop3imap_name_set - the user name is p[0..n) */
static void pop3imap_name_set(struct pop3imap *s, const uint8_t *p, size_t n)
{
    size_t i;

    pop3imap_name_new(s);
    for (i = 0; i < n; i++)
        pop3imap_name_put(s, p[i]);
}

/* pop3imap_b64 - the value of base64 digit c, or -1 */
static int pop3imap_b64(uint8_t c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * pop3imap_sasl_identity - take the user name from a base64 SASL response: LOGIN's first
 * response is the name; PLAIN's is authzid NUL authcid NUL passwd, and decoding stops at
 * the second NUL so that no password byte is decoded (a PLAIN response without both NULs
 * gives no name). Returns 1 if the response held any byte.
 */
static int pop3imap_sasl_identity(struct pop3imap *s, const uint8_t *p, size_t n)
{
    uint8_t field[2][POP3IMAP_USER_MAX];
    size_t flen[2] = {0, 0}, i, total = 0;
    uint32_t acc = 0;
    unsigned bits = 0, fi = 0;
    int v;

    for (i = 0; i < n && fi < 2; i++) {
        uint8_t c;

        if ((v = pop3imap_b64(p[i])) < 0)
            break;
        acc = ((acc << 6) | (uint32_t)v) & 0xffffff;
        bits += 6;
        if (bits < 8)
            continue;
        bits -= 8;
        c = (uint8_t)(acc >> bits);
        total++;
        if (s->mech == POP3IMAP_M_PLAIN && c == '\0')
            fi++;
        else if (flen[fi] < POP3IMAP_USER_MAX - 1)
            field[fi][flen[fi]++] = c;
    }
    explicit_bzero(&acc, sizeof(acc));
    if (s->mech == POP3IMAP_M_LOGIN)
        pop3imap_name_set(s, field[0], flen[0]);
    else if (fi == 2)
        pop3imap_name_set(s, flen[0] > 0 ? field[0] : field[1], flen[0] > 0 ? flen[0] : flen[1]);
    explicit_bzero(field, sizeof(field));
    return total > 0;
}

/*
 * pop3imap_sasl_response - a client SASL response (or initial response) of the AUTH in
 * flight. LOGIN: the first response is the user name, even when empty ("=": an empty
 * initial response), so that a later response (the password) is never taken for it.
 * PLAIN: the first response with content, and only its identities. "*" cancels.
 */
static void pop3imap_sasl_response(struct pop3imap *s, const uint8_t *p, size_t n)
{
    if (s->sasl_have || s->mech == POP3IMAP_M_OTHER || (n == 1 && p[0] == '*'))
        return;
    if (n == 1 && p[0] == '=') {
        s->sasl_have = s->mech == POP3IMAP_M_LOGIN;
        return;
    }
    s->sasl_have = (uint8_t)(pop3imap_sasl_identity(s, p, n) || s->mech == POP3IMAP_M_LOGIN);
}

/* pop3imap_push - queue a command; returns 0, or -1 (desync) when the queue is full */
static int pop3imap_push(struct pop3imap *s, enum pop3imap_kind kind, const uint8_t *tag,
                         size_t taglen)
{
    uint8_t i = s->npending;

    if (i >= POP3IMAP_MAX_PENDING || s->tagused + taglen > POP3IMAP_TAG_SPACE) {
        pop3imap_fail(s, "too many commands pending");
        return -1;
    }
    s->kind[i] = (uint8_t)kind;
    s->flags[i] = 0;
    s->end[i] = POP3IMAP_OPEN;
    s->tagoff[i] = s->tagused;
    s->taglen[i] = (uint8_t)taglen;
    if (taglen > 0)
        memcpy(s->tags + s->tagused, tag, taglen);
    s->tagused = (uint8_t)(s->tagused + taglen);
    s->npending++;
    return 0;
}

/* pop3imap_pop - remove pending command i (its reply came) */
static void pop3imap_pop(struct pop3imap *s, unsigned i)
{
    unsigned off = s->tagoff[i], len = s->taglen[i], k, rest = s->npending - i - 1u;

    memmove(s->tags + off, s->tags + off + len, s->tagused - off - len);
    s->tagused = (uint8_t)(s->tagused - len);
    memmove(&s->end[i], &s->end[i + 1], rest * sizeof(s->end[0]));
    memmove(&s->kind[i], &s->kind[i + 1], rest);
    memmove(&s->flags[i], &s->flags[i + 1], rest);
    memmove(&s->tagoff[i], &s->tagoff[i + 1], rest);
    memmove(&s->taglen[i], &s->taglen[i + 1], rest);
    s->npending--;
    for (k = i; k < s->npending; k++)
        s->tagoff[k] = (uint8_t)(s->tagoff[k] - len);
}

/* pop3imap_find_tag - the pending command with this exact tag, or -1 */
static int pop3imap_find_tag(const struct pop3imap *s, const uint8_t *tag, size_t len)
{
    unsigned i;

    for (i = 0; i < s->npending; i++)
        if (s->taglen[i] == len && memcmp(s->tags + s->tagoff[i], tag, len) == 0)
            return (int)i;
    return -1;
}

/* pop3imap_pending - 1 if a command of one of the kinds in mask (bit per kind) waits */
static int pop3imap_pending(const struct pop3imap *s, unsigned mask)
{
    unsigned i;

    for (i = 0; i < s->npending; i++)
        if (mask & POP3IMAP_BIT(s->kind[i]))
            return 1;
    return 0;
}

/*
 * pop3imap_take_line - the next line of one side, without its LF: 1 with *line and *n
 * (in place, or in the side's buffer when *buffered), 0 when every byte was kept for
 * later, -1 when the line would be over max_line bytes (LF included). Advances *pos.
 */
static int pop3imap_take_line(struct pop3imap *s, int side, const uint8_t *bytes, size_t len,
                              size_t *pos, const uint8_t **line, size_t *n, int *buffered)
{
    struct pop3imap_buf *b = &s->line[side];
    size_t avail = len - *pos, window, seg;
    const uint8_t *start = bytes + *pos, *lf;

    if (b->len >= s->max_line)
        return -1;
    window = s->max_line - b->len;
    lf = memchr(start, '\n', avail < window ? avail : window);
    if (lf == NULL && avail >= window)
        return -1;
    seg = lf != NULL ? (size_t)(lf - start) : avail;
    if (b->len == 0 && lf != NULL) { /* the whole line is here: use it in place */
        *line = start;
        *n = seg;
        *buffered = 0;
        *pos += seg + 1;
        return 1;
    }
    if (b->len + seg > b->cap) {
        size_t cap = b->cap ? b->cap : POP3IMAP_BUF_MIN; /* all below max_line: 32 bits */
        uint8_t *grown;

        while (cap < b->len + seg)
            cap *= 2;
        if (cap > s->max_line)
            cap = s->max_line;
        grown = xmalloc(cap);
        if (b->data != NULL) {
            memcpy(grown, b->data, b->len);
            explicit_bzero(b->data, b->cap);
            free(b->data);
        }
        b->data = grown;
        b->cap = (uint32_t)cap;
    }
    if (seg > 0)
        memcpy(b->data + b->len, start, seg);
    b->len += (uint32_t)seg;
    if (lf == NULL) {
        *pos = len;
        return 0;
    }
    *line = b->data;
    *n = b->len;
    *buffered = 1;
    *pos += seg + 1;
    return 1;
}

/* pop3imap_client_text - strip a client line's CR; -1 (desync) on a bare LF, or a CR or
 * NUL inside the line: the server may split such a line where this parser would not */
static int pop3imap_client_text(struct pop3imap *s, const uint8_t *p, size_t *n)
{
    if (*n == 0 || p[*n - 1] != '\r') {
        pop3imap_fail(s, "client line ended by a bare LF");
        return -1;
    }
    (*n)--;
    if (memchr(p, '\r', *n) != NULL || memchr(p, '\0', *n) != NULL) {
        pop3imap_fail(s, "CR or NUL inside a client line");
        return -1;
    }
    return 0;
}

/* pop3imap_acked_ok - a reply may pair: the server did not acknowledge client bytes that
 * were never seen here (one more is its FIN) */
static int pop3imap_acked_ok(struct pop3imap *s, uint64_t acked)
{
    if (acked > (uint64_t)s->coff + 1) {
        pop3imap_fail(s, "reply acknowledges client bytes not seen");
        return 0;
    }
    return 1;
}

/* pop3imap_grant - a login was confirmed: report it (or refuse it in a joined conversation) */
static void pop3imap_grant(struct pop3imap *s, char *user)
{
    if (s->joined) {
        pop3imap_fail(s, "login in a conversation joined mid-session is not trusted");
        return;
    }
    if (user != NULL)
        util_strlcpy(user, s->name != NULL ? s->name : "", POP3IMAP_USER_MAX);
    s->phase = POP3IMAP_DONE;
}

/* ---- POP3 ---- */

/* pop3imap_pop3_kind - the kind of a POP3 command from its keyword and arguments */
static enum pop3imap_kind pop3imap_pop3_kind(const uint8_t *kw, size_t kwlen, int args)
{
    if (pop3imap_ieq(kw, kwlen, "USER"))
        return POP3IMAP_K_USER;
    if (pop3imap_ieq(kw, kwlen, "PASS"))
        return POP3IMAP_K_PASS;
    if (pop3imap_ieq(kw, kwlen, "APOP"))
        return POP3IMAP_K_APOP;
    if (pop3imap_ieq(kw, kwlen, "AUTH")) /* without a mechanism: the list of mechanisms */
        return args ? POP3IMAP_K_AUTH : POP3IMAP_K_MULTI;
    if (pop3imap_ieq(kw, kwlen, "STLS"))
        return POP3IMAP_K_TLS;
    if (pop3imap_ieq(kw, kwlen, "CAPA") || pop3imap_ieq(kw, kwlen, "RETR") ||
        pop3imap_ieq(kw, kwlen, "TOP"))
        return POP3IMAP_K_MULTI;
    if (pop3imap_ieq(kw, kwlen, "LIST") || pop3imap_ieq(kw, kwlen, "UIDL") ||
        pop3imap_ieq(kw, kwlen, "LANG"))
        return args ? POP3IMAP_K_OTHER : POP3IMAP_K_MULTI;
    return POP3IMAP_K_OTHER;
}

/* pop3imap_mech_of - the SASL mechanism named by p[0..n) */
static enum pop3imap_mech pop3imap_mech_of(const uint8_t *p, size_t n)
{
    if (pop3imap_ieq(p, n, "PLAIN"))
        return POP3IMAP_M_PLAIN;
    if (pop3imap_ieq(p, n, "LOGIN"))
        return POP3IMAP_M_LOGIN;
    return POP3IMAP_M_OTHER;
}

/* pop3imap_pop3_client - one complete POP3 client line (without its LF) ending at coff */
static void pop3imap_pop3_client(struct pop3imap *s, const uint8_t *p, size_t n)
{
    const uint8_t *sp, *args;
    size_t raw = n + 1, kwlen, alen, k;
    enum pop3imap_kind kind;
    unsigned login_bits = POP3IMAP_BIT(POP3IMAP_K_USER) | POP3IMAP_BIT(POP3IMAP_K_PASS) |
                          POP3IMAP_BIT(POP3IMAP_K_APOP) | POP3IMAP_BIT(POP3IMAP_K_AUTH);

    if (pop3imap_client_text(s, p, &n) < 0)
        return;
    if (s->cmode == POP3IMAP_C_SASLRESP) {
        pop3imap_sasl_response(s, p, n);
        s->end[s->npending - 1] = s->coff;
        if (raw > POP3IMAP_POP3_CMD)
            s->flags[s->npending - 1] |= POP3IMAP_F_LONG;
        s->cmode = POP3IMAP_C_SASLWAIT;
        return;
    }
    if (n == 0) {
        pop3imap_fail(s, "empty POP3 command line");
        return;
    }
    if (s->smode == POP3IMAP_S_MULTI || pop3imap_pending(s, POP3IMAP_BIT(POP3IMAP_K_MULTI))) {
        pop3imap_fail(s, "command pipelined after a multi-line request");
        return;
    }
    sp = memchr(p, ' ', n);
    kwlen = sp != NULL ? (size_t)(sp - p) : n;
    args = sp != NULL ? sp + 1 : p + n;
    alen = (size_t)(p + n - args);
    for (k = 0; k < alen && args[k] == ' '; k++)
        ;
    kind = pop3imap_pop3_kind(p, kwlen, k < alen); /* spaces alone are no argument */
    if (kind == POP3IMAP_K_AUTH && k > 0) {        /* "AUTH  PLAIN": a mechanism, or the list? */
        pop3imap_fail(s, "malformed AUTH command");
        return;
    }
    if ((kind == POP3IMAP_K_USER || kind == POP3IMAP_K_APOP || kind == POP3IMAP_K_AUTH) &&
        pop3imap_pending(s, login_bits)) {
        pop3imap_fail(s, "login commands pipelined");
        return;
    }
    if (pop3imap_push(s, kind, NULL, 0) < 0)
        return;
    s->end[s->npending - 1] = s->coff;
    if (raw > POP3IMAP_POP3_CMD)
        s->flags[s->npending - 1] |= POP3IMAP_F_LONG;
    switch (kind) {
    case POP3IMAP_K_USER:
        pop3imap_name_set(s, args, alen);
        break;
    case POP3IMAP_K_APOP: /* APOP name digest: the digest is never copied */
        sp = memchr(args, ' ', alen);
        pop3imap_name_set(s, args, sp != NULL ? (size_t)(sp - args) : alen);
        break;
    case POP3IMAP_K_AUTH:
        sp = memchr(args, ' ', alen);
        pop3imap_name_new(s);
        s->mech = (uint8_t)pop3imap_mech_of(args, sp != NULL ? (size_t)(sp - args) : alen);
        s->sasl_have = 0;
        if (sp != NULL)
            pop3imap_sasl_response(s, sp + 1, (size_t)(p + n - sp - 1));
        s->cmode = POP3IMAP_C_SASLWAIT;
        break;
    default:
        break;
    }
}

/* pop3imap_pop3_status - the status of a POP3 reply line */
static enum pop3imap_status pop3imap_pop3_status(const uint8_t *p, size_t n)
{
    if (pop3imap_word(p, n, "+OK"))
        return POP3IMAP_ST_OK;
    if (pop3imap_word(p, n, "-ERR"))
        return POP3IMAP_ST_NO;
    if (pop3imap_word(p, n, "+"))
        return POP3IMAP_ST_CONT;
    return POP3IMAP_ST_BAD_LINE;
}

/* pop3imap_pop3_confirms - 1 if reply st to a command of this kind confirms a login */
static int pop3imap_pop3_confirms(enum pop3imap_kind kind, enum pop3imap_status st)
{
    return st == POP3IMAP_ST_OK &&
           (kind == POP3IMAP_K_PASS || kind == POP3IMAP_K_APOP || kind == POP3IMAP_K_AUTH);
}

/*
 * pop3imap_pop3_server - one complete POP3 server line (without its LF). A command with a
 * line over 255 octets may have been read by the server as two or more commands, each
 * answered: only the first of those replies pairs with it, and is trusted only as what
 * that server said to the command's start; the others would shift every later pairing.
 * So such a command's reply ends the conversation (desync) unless it confirms the login.
 */
static void pop3imap_pop3_server(struct pop3imap *s, const uint8_t *p, size_t n, uint64_t acked,
                                 char *user)
{
    enum pop3imap_status st;
    enum pop3imap_kind kind;

    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (s->smode == POP3IMAP_S_MULTI) {
        if (n == 1 && p[0] == '.')
            s->smode = POP3IMAP_S_LINE;
        return;
    }
    st = pop3imap_pop3_status(p, n);
    if (!s->greeted) {
        s->greeted = 1;
        if (st != POP3IMAP_ST_OK && st != POP3IMAP_ST_NO)
            pop3imap_fail(s, "malformed POP3 greeting");
        return;
    }
    if (s->npending == 0 || acked < s->end[0]) {
        if (!s->joined)
            pop3imap_fail(s, "reply without a command");
        return;
    }
    if (!pop3imap_acked_ok(s, acked))
        return;
    if (st == POP3IMAP_ST_BAD_LINE) {
        pop3imap_fail(s, "malformed POP3 reply");
        return;
    }
    kind = (enum pop3imap_kind)s->kind[0];
    if (st == POP3IMAP_ST_CONT) {
        if (kind != POP3IMAP_K_AUTH || s->cmode != POP3IMAP_C_SASLWAIT)
            pop3imap_fail(s, "continuation without a SASL exchange");
        else
            s->cmode = POP3IMAP_C_SASLRESP;
        return;
    }
    if (kind == POP3IMAP_K_AUTH && st == POP3IMAP_ST_OK && s->cmode == POP3IMAP_C_SASLRESP) {
        pop3imap_fail(s, "+OK while a SASL response was due");
        return;
    }
    if ((s->flags[0] & POP3IMAP_F_LONG) && !pop3imap_pop3_confirms(kind, st)) {
        pop3imap_fail(s, "reply to a POP3 line over 255 octets, not a login");
        return;
    }
    pop3imap_pop(s, 0);
    switch (kind) {
    case POP3IMAP_K_USER:
        if (st == POP3IMAP_ST_OK)
            s->name_ok = 1;
        else
            pop3imap_name_drop(s);
        break;
    case POP3IMAP_K_PASS:
        if (st == POP3IMAP_ST_OK) {
            if (s->name == NULL || !s->name_ok) {
                pop3imap_fail(s, "PASS accepted without an accepted USER");
                return;
            }
            pop3imap_grant(s, user);
            return;
        }
        pop3imap_name_drop(s);
        break;
    case POP3IMAP_K_AUTH:
        s->cmode = POP3IMAP_C_CMD;
        /* fall through */
    case POP3IMAP_K_APOP:
        if (st == POP3IMAP_ST_OK) {
            pop3imap_grant(s, user);
            return;
        }
        pop3imap_name_drop(s);
        break;
    case POP3IMAP_K_TLS:
        if (st == POP3IMAP_ST_OK)
            s->phase = POP3IMAP_ENDTLS;
        break;
    case POP3IMAP_K_MULTI:
        if (st == POP3IMAP_ST_OK)
            s->smode = POP3IMAP_S_MULTI;
        break;
    default:
        break;
    }
}

/* ---- IMAP ---- */

/* pop3imap_tag_char - 1 if c may appear in an IMAP tag (ASTRING-CHAR but "+") */
static int pop3imap_tag_char(uint8_t c)
{
    return c > 0x20 && c < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' &&
           c != '"' && c != '\\' && c != '+';
}

/* pop3imap_astring_char - 1 if c may appear in an IMAP atom used as an astring */
static int pop3imap_astring_char(uint8_t c)
{
    return c == '+' || pop3imap_tag_char(c);
}

/*
 * pop3imap_literal_at - the literal header "{digits}" or "{digits+}" that ends the piece
 * p[0..n): the index of its '{' with *size and *nonsync set, or -1 if the piece does not
 * end like one. *big is set (and *size left 0) when the size has more than
 * POP3IMAP_LIT_DIGITS digits.
 */
static long pop3imap_literal_at(const uint8_t *p, size_t n, uint64_t *size, int *nonsync, int *big)
{
    size_t end, i;
    uint64_t v;

    *size = 0;
    *nonsync = *big = 0;
    if (n < 3 || p[n - 1] != '}')
        return -1;
    end = n - 1;
    if (p[end - 1] == '+') {
        *nonsync = 1;
        end--;
    }
    for (i = end; i > 0 && ascii_is_digit(p[i - 1]); i--)
        ;
    if (i == end || i == 0 || p[i - 1] != '{')
        return -1;
    if (end - i > POP3IMAP_LIT_DIGITS) {
        *big = 1;
        return (long)(i - 1);
    }
    if (ascii_uint(p + i, end - i, UINT64_MAX, &v) == 0) /* digits, at most LIT_DIGITS */
        *size = v;
    return (long)(i - 1);
}

/*
 * pop3imap_token_start - 1 if the '{' at index b of a client piece begins a literal token:
 * outside any quoted string (quotes are followed from index from, the end of the command
 * name or the start of a piece after a literal) and after SP, "(" or a "~" that follows
 * one of them (literal8).
 */
static int pop3imap_token_start(const uint8_t *p, size_t from, size_t b)
{
    size_t i;
    int inquote = 0;

    for (i = from; i < b; i++) {
        if (inquote) {
            if (p[i] == '\\')
                i++;
            else if (p[i] == '"')
                inquote = 0;
        } else if (p[i] == '"') {
            inquote = 1;
        }
    }
    if (inquote || i > b || b <= from)
        return 0;
    if (p[b - 1] == ' ' || p[b - 1] == '(')
        return 1;
    return p[b - 1] == '~' && b - 1 > from && (p[b - 2] == ' ' || p[b - 2] == '(');
}

/*
 * pop3imap_login_args - read LOGIN's arguments from p[i..n): each after one SP, an atom, a
 * quoted string, or a literal header that must end the piece (its bytes follow, and are
 * the user name when it is the first argument). The password is skipped, never copied.
 */
static void pop3imap_login_args(struct pop3imap *s, const uint8_t *p, size_t i, size_t n)
{
    uint64_t size;
    int nonsync, big;
    size_t j;

    while (i < n && !s->bad) {
        if (s->argi >= 2 || p[i] != ' ' || i + 1 >= n) {
            s->bad = 1;
            break;
        }
        i++;
        if (p[i] == '"') {
            if (s->argi == 0)
                pop3imap_name_new(s);
            for (j = i + 1; j < n && p[j] != '"'; j++) {
                if (p[j] == '\\') {
                    if (j + 1 >= n || (p[j + 1] != '"' && p[j + 1] != '\\'))
                        break;
                    j++;
                }
                if (s->argi == 0)
                    pop3imap_name_put(s, p[j]);
            }
            if (j >= n || p[j] != '"') {
                s->bad = 1;
                break;
            }
            i = j + 1;
        } else if (p[i] == '{') {
            if (pop3imap_literal_at(p, n, &size, &nonsync, &big) != (long)i) {
                s->bad = 1;
                break;
            }
            s->capture = s->argi == 0;
            if (s->capture)
                pop3imap_name_new(s);
            i = n;
        } else {
            for (j = i; j < n && pop3imap_astring_char(p[j]); j++)
                ;
            if (j == i) {
                s->bad = 1;
                break;
            }
            if (s->argi == 0)
                pop3imap_name_set(s, p + i, j - i);
            i = j;
        }
        s->argi++;
    }
}

/* pop3imap_imap_authenticate - AUTHENTICATE's mechanism and optional initial response in
 * p[i..n) */
static void pop3imap_imap_authenticate(struct pop3imap *s, const uint8_t *p, size_t i, size_t n)
{
    const uint8_t *sp;
    size_t mlen;

    if (i + 1 >= n || p[i] != ' ') {
        s->bad = 1;
        return;
    }
    i++;
    sp = memchr(p + i, ' ', n - i);
    mlen = sp != NULL ? (size_t)(sp - (p + i)) : n - i;
    if (mlen == 0) {
        s->bad = 1;
        return;
    }
    pop3imap_name_new(s);
    s->mech = (uint8_t)pop3imap_mech_of(p + i, mlen);
    s->sasl_have = 0;
    if (sp != NULL)
        pop3imap_sasl_response(s, sp + 1, (size_t)(p + n - sp - 1));
}

/*
 * pop3imap_imap_piece_end - after a piece of a command (its first line, or the text after
 * a literal): wait for or read the literal it announces, or complete the command. A piece
 * that ends like a literal header where this parser sees none (inside a quoted string,
 * glued to an atom) is a desync: the server might read it either way.
 */
static void pop3imap_imap_piece_end(struct pop3imap *s, const uint8_t *p, size_t from, size_t n)
{
    unsigned last = s->npending - 1u;
    enum pop3imap_kind kind = (enum pop3imap_kind)s->kind[last];
    uint64_t size;
    int nonsync, big;
    long b = pop3imap_literal_at(p, n, &size, &nonsync, &big);

    if (b >= 0) {
        if (!pop3imap_token_start(p, from, (size_t)b)) {
            pop3imap_fail(s, "ambiguous literal in a command");
            return;
        }
        if (big || size > s->max_line - s->cmdlen) {
            pop3imap_fail(s, POP3IMAP_WHY_LONG);
            return;
        }
        s->cmdlen += (uint32_t)size;
        if (kind != POP3IMAP_K_LOGIN && kind != POP3IMAP_K_OTHER)
            s->bad = 1;
        s->clit = (uint32_t)size;
        if (nonsync) {
            s->flags[last] |= POP3IMAP_F_NONSYNC;
            s->cmode = size > 0 ? POP3IMAP_C_LIT : POP3IMAP_C_ARGS;
        } else {
            s->cmode = POP3IMAP_C_WAITLIT;
            s->wait_end = s->coff;
        }
        return;
    }
    s->end[last] = s->coff;
    s->cmdlen = 0;
    s->capture = 0;
    if (kind == POP3IMAP_K_LOGIN && s->argi != 2)
        s->bad = 1;
    if (s->bad && kind != POP3IMAP_K_OTHER) { /* malformed: its reply grants nothing */
        if (kind == POP3IMAP_K_LOGIN || kind == POP3IMAP_K_AUTH)
            pop3imap_name_drop(s);
        s->kind[last] = POP3IMAP_K_OTHER;
        kind = POP3IMAP_K_OTHER;
    }
    if (kind == POP3IMAP_K_AUTH || kind == POP3IMAP_K_IDLE) {
        s->cmode = POP3IMAP_C_SASLWAIT;
        s->wait_end = s->coff;
    } else {
        s->cmode = POP3IMAP_C_CMD;
    }
}

/* pop3imap_imap_command - the first line of an IMAP command (CRLF stripped): tag, name,
 * arguments */
static void pop3imap_imap_command(struct pop3imap *s, const uint8_t *p, size_t n)
{
    enum pop3imap_kind kind = POP3IMAP_K_OTHER;
    unsigned login_bits = POP3IMAP_BIT(POP3IMAP_K_LOGIN) | POP3IMAP_BIT(POP3IMAP_K_AUTH);
    size_t t, c, from;

    for (t = 0; t < n && p[t] != ' '; t++) {
        if (!pop3imap_tag_char(p[t])) {
            pop3imap_fail(s, "malformed IMAP tag");
            return;
        }
    }
    if (t == 0) {
        pop3imap_fail(s, "malformed IMAP tag");
        return;
    }
    if (t > POP3IMAP_TAG_MAX) {
        pop3imap_fail(s, "IMAP tag too long");
        return;
    }
    if (pop3imap_find_tag(s, p, t) >= 0) {
        pop3imap_fail(s, "IMAP tag reused while pending");
        return;
    }
    c = t < n ? t + 1 : n;
    for (from = c; from < n && pop3imap_astring_char(p[from]); from++)
        ;
    if (pop3imap_ieq(p + c, from - c, "LOGIN"))
        kind = POP3IMAP_K_LOGIN;
    else if (pop3imap_ieq(p + c, from - c, "AUTHENTICATE"))
        kind = POP3IMAP_K_AUTH;
    else if (pop3imap_ieq(p + c, from - c, "STARTTLS"))
        kind = POP3IMAP_K_TLS;
    else if (pop3imap_ieq(p + c, from - c, "IDLE"))
        kind = POP3IMAP_K_IDLE;
    if ((kind == POP3IMAP_K_LOGIN || kind == POP3IMAP_K_AUTH) && pop3imap_pending(s, login_bits)) {
        pop3imap_fail(s, "two logins pending");
        return;
    }
    if (pop3imap_push(s, kind, p, t) < 0)
        return;
    s->bad = 0;
    s->argi = 0;
    s->capture = 0;
    if (kind == POP3IMAP_K_LOGIN)
        pop3imap_login_args(s, p, from, n);
    else if (kind == POP3IMAP_K_AUTH)
        pop3imap_imap_authenticate(s, p, from, n);
    else if ((kind == POP3IMAP_K_TLS || kind == POP3IMAP_K_IDLE) && from != n)
        s->bad = 1;
    pop3imap_imap_piece_end(s, p, from, n);
}

/* pop3imap_imap_client - one complete IMAP client line (without its LF) ending at coff */
static void pop3imap_imap_client(struct pop3imap *s, const uint8_t *p, size_t n)
{
    size_t raw = n + 1;
    unsigned last = s->npending - 1u;

    if (pop3imap_client_text(s, p, &n) < 0)
        return;
    switch (s->cmode) {
    case POP3IMAP_C_SASLRESP: /* an AUTHENTICATE response, or the DONE that ends IDLE */
        if (s->kind[last] == POP3IMAP_K_AUTH)
            pop3imap_sasl_response(s, p, n);
        s->end[last] = s->coff;
        s->wait_end = s->coff;
        s->cmode = POP3IMAP_C_SASLWAIT;
        break;
    case POP3IMAP_C_ARGS:
        s->cmdlen += (uint32_t)raw;
        if (s->cmdlen > s->max_line) {
            pop3imap_fail(s, POP3IMAP_WHY_LONG);
            return;
        }
        if (s->kind[last] == POP3IMAP_K_LOGIN)
            pop3imap_login_args(s, p, 0, n);
        pop3imap_imap_piece_end(s, p, 0, n);
        break;
    default:
        if (n == 0) /* an empty line is no command */
            return;
        s->cmdlen = (uint32_t)raw;
        pop3imap_imap_command(s, p, n);
        break;
    }
}

/* pop3imap_imap_status - the status word that starts p[0..n) */
static enum pop3imap_status pop3imap_imap_status(const uint8_t *p, size_t n)
{
    if (pop3imap_iword(p, n, "OK"))
        return POP3IMAP_ST_OK;
    if (pop3imap_iword(p, n, "NO"))
        return POP3IMAP_ST_NO;
    if (pop3imap_iword(p, n, "BAD"))
        return POP3IMAP_ST_BAD;
    return POP3IMAP_ST_BAD_LINE;
}

/* pop3imap_imap_server_literal - an untagged response piece that ends with "{n}": its n
 * literal bytes follow, then the rest of the same response */
static void pop3imap_imap_server_literal(struct pop3imap *s, const uint8_t *p, size_t n)
{
    uint64_t size;
    int nonsync, big;

    if (pop3imap_literal_at(p, n, &size, &nonsync, &big) < 0 || nonsync)
        return;
    if (big) {
        pop3imap_fail(s, "server literal too large");
        return;
    }
    s->slit = size;
    s->scont = 1;
    if (size > 0)
        s->smode = POP3IMAP_S_LIT;
}

/* pop3imap_imap_continuation - a "+" line: the go-ahead for the literal or SASL step the
 * client waits for */
static void pop3imap_imap_continuation(struct pop3imap *s, uint64_t acked)
{
    if ((s->cmode != POP3IMAP_C_WAITLIT && s->cmode != POP3IMAP_C_SASLWAIT) ||
        acked < s->wait_end) {
        if (!s->joined)
            pop3imap_fail(s, "continuation without a request");
        return;
    }
    if (!pop3imap_acked_ok(s, acked))
        return;
    if (s->cmode == POP3IMAP_C_WAITLIT)
        s->cmode = s->clit > 0 ? POP3IMAP_C_LIT : POP3IMAP_C_ARGS;
    else
        s->cmode = POP3IMAP_C_SASLRESP;
}

/* pop3imap_imap_refused - a tagged reply to command i before it ended: only a NO or BAD
 * instead of the "+" for a {n} literal (the client then sends no literal) is valid */
static void pop3imap_imap_refused(struct pop3imap *s, unsigned i, enum pop3imap_status st,
                                  uint64_t acked)
{
    enum pop3imap_kind kind = (enum pop3imap_kind)s->kind[i];

    if (i + 1u != s->npending || s->cmode != POP3IMAP_C_WAITLIT || acked < s->wait_end) {
        if (!s->joined)
            pop3imap_fail(s, "reply before its command ended");
        return;
    }
    if (!pop3imap_acked_ok(s, acked))
        return;
    if (st == POP3IMAP_ST_OK || (st == POP3IMAP_ST_BAD && (s->flags[i] & POP3IMAP_F_NONSYNC))) {
        pop3imap_fail(s, "reply before its command ended");
        return;
    }
    pop3imap_pop(s, i);
    if (kind == POP3IMAP_K_LOGIN || kind == POP3IMAP_K_AUTH)
        pop3imap_name_drop(s);
    s->cmode = POP3IMAP_C_CMD;
    s->cmdlen = 0;
    s->capture = 0;
}

/* pop3imap_imap_tagged - the tagged reply st to pending command i */
static void pop3imap_imap_tagged(struct pop3imap *s, unsigned i, enum pop3imap_status st,
                                 uint64_t acked, char *user)
{
    enum pop3imap_kind kind = (enum pop3imap_kind)s->kind[i];
    int last = i + 1u == s->npending;

    if (s->end[i] == POP3IMAP_OPEN) {
        pop3imap_imap_refused(s, i, st, acked);
        return;
    }
    if (acked < s->end[i]) {
        if (!s->joined)
            pop3imap_fail(s, "reply before its command was acknowledged");
        return;
    }
    if (!pop3imap_acked_ok(s, acked))
        return;
    if (last && s->cmode == POP3IMAP_C_SASLRESP && st == POP3IMAP_ST_OK) {
        pop3imap_fail(s, "OK while a SASL response was due");
        return;
    }
    if (st == POP3IMAP_ST_BAD && (s->flags[i] & POP3IMAP_F_NONSYNC)) {
        pop3imap_fail(s, "BAD to a command with a non-synchronizing literal");
        return;
    }
    pop3imap_pop(s, i);
    if (last)
        s->cmode = POP3IMAP_C_CMD;
    if (st == POP3IMAP_ST_OK) {
        if (kind == POP3IMAP_K_LOGIN || kind == POP3IMAP_K_AUTH)
            pop3imap_grant(s, user);
        else if (kind == POP3IMAP_K_TLS)
            s->phase = POP3IMAP_ENDTLS;
    } else if (kind == POP3IMAP_K_LOGIN || kind == POP3IMAP_K_AUTH) {
        pop3imap_name_drop(s);
    }
}

/* pop3imap_imap_server - one complete IMAP server line (without its LF) */
static void pop3imap_imap_server(struct pop3imap *s, const uint8_t *p, size_t n, uint64_t acked,
                                 char *user)
{
    enum pop3imap_status st = POP3IMAP_ST_BAD_LINE;
    size_t t;
    int i;

    if (n > 0 && p[n - 1] == '\r')
        n--;
    if (s->scont) { /* the rest of an untagged response after a literal */
        s->scont = 0;
        pop3imap_imap_server_literal(s, p, n);
        return;
    }
    if (pop3imap_word(p, n, "+")) {
        pop3imap_imap_continuation(s, acked);
        return;
    }
    if (n >= 2 && p[0] == '*' && p[1] == ' ') {
        if (pop3imap_iword(p + 2, n - 2, "BAD"))
            pop3imap_fail(s, "untagged BAD: the server could not read a command");
        else if (pop3imap_imap_status(p + 2, n - 2) == POP3IMAP_ST_BAD_LINE &&
                 !pop3imap_iword(p + 2, n - 2, "BYE") && !pop3imap_iword(p + 2, n - 2, "PREAUTH"))
            pop3imap_imap_server_literal(s, p, n); /* data, which may carry literals */
        return;
    }
    for (t = 0; t < n && p[t] != ' '; t++)
        ;
    if (t < n)
        st = pop3imap_imap_status(p + t + 1, n - t - 1);
    if (t == 0 || st == POP3IMAP_ST_BAD_LINE) {
        if (!s->joined)
            pop3imap_fail(s, "malformed IMAP reply");
        return;
    }
    if ((i = pop3imap_find_tag(s, p, t)) < 0) {
        if (!s->joined)
            pop3imap_fail(s, "tagged reply for no pending command");
        return;
    }
    pop3imap_imap_tagged(s, (unsigned)i, st, acked, user);
}

/* ---- both ---- */

/* pop3imap_client - consume client bytes */
static void pop3imap_client(struct pop3imap *s, const uint8_t *bytes, size_t len)
{
    size_t pos = 0;

    while (pos < len && s->phase == POP3IMAP_ALIVE) {
        size_t start = pos, n, k, i;
        const uint8_t *line, *lf;
        int buffered, rc;

        if (s->skip[POP3IMAP_CLIENT]) {
            lf = memchr(bytes + pos, '\n', len - pos);
            pos = lf != NULL ? (size_t)(lf - bytes) + 1 : len;
            s->skip[POP3IMAP_CLIENT] = lf == NULL;
            s->coff += (uint32_t)(pos - start);
            continue;
        }
        if (s->cmode == POP3IMAP_C_WAITLIT || s->cmode == POP3IMAP_C_SASLWAIT) {
            pop3imap_fail(s, "client sent before the server's go-ahead");
            break;
        }
        if (s->cmode == POP3IMAP_C_LIT) {
            k = len - pos < s->clit ? len - pos : (size_t)s->clit;
            for (i = 0; s->capture && i < k && s->name_len < POP3IMAP_USER_MAX - 1; i++)
                pop3imap_name_put(s, bytes[pos + i]);
            pos += k;
            s->clit -= (uint32_t)k;
            s->coff += (uint32_t)k;
            if (s->clit == 0) {
                s->cmode = POP3IMAP_C_ARGS;
                s->capture = 0;
            }
            continue;
        }
        rc = pop3imap_take_line(s, POP3IMAP_CLIENT, bytes, len, &pos, &line, &n, &buffered);
        s->coff += (uint32_t)(pos - start);
        if (rc < 0)
            pop3imap_fail(s, POP3IMAP_WHY_LONG);
        if (rc <= 0)
            break;
        if (s->proto == POP3IMAP_POP3)
            pop3imap_pop3_client(s, line, n);
        else
            pop3imap_imap_client(s, line, n);
        if (buffered)
            pop3imap_buf_drop(&s->line[POP3IMAP_CLIENT]);
    }
}

/* pop3imap_server - consume server bytes up to the end or a reported login (*pos) */
static void pop3imap_server(struct pop3imap *s, const uint8_t *bytes, size_t len, uint64_t acked,
                            size_t *pos, char *user)
{
    while (*pos < len && s->phase == POP3IMAP_ALIVE) {
        const uint8_t *line, *lf;
        size_t n, k;
        int buffered, rc;

        if (s->skip[POP3IMAP_SERVER]) {
            lf = memchr(bytes + *pos, '\n', len - *pos);
            *pos = lf != NULL ? (size_t)(lf - bytes) + 1 : len;
            s->skip[POP3IMAP_SERVER] = lf == NULL;
            continue;
        }
        if (s->smode == POP3IMAP_S_LIT) {
            k = len - *pos < s->slit ? len - *pos : (size_t)s->slit;
            *pos += k;
            s->slit -= k;
            if (s->slit == 0)
                s->smode = POP3IMAP_S_LINE;
            continue;
        }
        rc = pop3imap_take_line(s, POP3IMAP_SERVER, bytes, len, pos, &line, &n, &buffered);
        if (rc < 0)
            pop3imap_fail(s, POP3IMAP_WHY_LONG);
        if (rc <= 0)
            break;
        if (s->proto == POP3IMAP_POP3)
            pop3imap_pop3_server(s, line, n, acked, user);
        else
            pop3imap_imap_server(s, line, n, acked, user);
        if (buffered)
            pop3imap_buf_drop(&s->line[POP3IMAP_SERVER]);
    }
}

/* pop3imap_feed - consume up to len in-order bytes from side; see pop3imap.h */
enum pop3imap_event pop3imap_feed(struct pop3imap *s, enum pop3imap_side side, const uint8_t *bytes,
                                  size_t len, uint64_t acked, size_t *used, char *user,
                                  const char **why)
{
    size_t pos = 0;

    *used = len;
    if (s->phase != POP3IMAP_ALIVE)
        return POP3IMAP_NONE;
    if (side == POP3IMAP_CLIENT && len > POP3IMAP_CLIENT_MAX - s->coff)
        pop3imap_fail(s, "too many client bytes without a login");
    else if (side == POP3IMAP_CLIENT)
        pop3imap_client(s, bytes, len);
    else
        pop3imap_server(s, bytes, len, acked, &pos, user);
    if (s->phase == POP3IMAP_ALIVE)
        return POP3IMAP_NONE;
    pop3imap_release(s);
    if (s->phase == POP3IMAP_DONE) {
        *used = pos;
        return POP3IMAP_LOGIN;
    }
    if (s->phase == POP3IMAP_ENDTLS)
        return POP3IMAP_TLS;
    if (why != NULL)
        *why = s->why;
    return POP3IMAP_DESYNC;
}
