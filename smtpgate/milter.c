/*
 * milter - the milter protocol's pure core (see milter.h): framing, the option
 * negotiation, the connect, macro and recipient packets, and the fixed replies.
 *
 * Constants are the protocol's own (libmilter's mfdef.h names them; Postfix's milter8.c
 * and Sendmail's milter.c are the MTA sides).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "shared/util.h"
#include "smtpgate/milter.h"

/* Commands from the MTA. */
#define SMFIC_ABORT   'A'
#define SMFIC_BODY    'B'
#define SMFIC_CONNECT 'C'
#define SMFIC_MACRO   'D'
#define SMFIC_BODYEOB 'E'
#define SMFIC_HELO    'H'
#define SMFIC_QUIT_NC 'K'
#define SMFIC_HEADER  'L'
#define SMFIC_MAIL    'M'
#define SMFIC_EOH     'N'
#define SMFIC_OPTNEG  'O'
#define SMFIC_QUIT    'Q'
#define SMFIC_RCPT    'R'
#define SMFIC_DATA    'T'
#define SMFIC_UNKNOWN 'U'

/* Replies. */
#define SMFIR_ACCEPT    'a'
#define SMFIR_CONTINUE  'c'
#define SMFIR_REPLYCODE 'y'

/* Address families of SMFIC_CONNECT. */
#define SMFIA_UNKNOWN 'U'
#define SMFIA_UNIX    'L'
#define SMFIA_INET    '4'
#define SMFIA_INET6   '6'

/* Actions: the only one asked for is sending macro lists. */
#define SMFIF_SETSYMLIST 0x100u

/* Protocol steps the filter does not want. */
#define SMFIP_NOHELO    0x002u
#define SMFIP_NOMAIL    0x004u
#define SMFIP_NOBODY    0x010u
#define SMFIP_NOHDRS    0x020u
#define SMFIP_NOEOH     0x040u
#define SMFIP_NOUNKNOWN 0x100u
#define SMFIP_NODATA    0x200u
#define SMFIP_NR_CONN   0x1000u /* no reply to SMFIC_CONNECT (version 6) */

#define MILTER_NOT_WANTED                                                                          \
    (SMFIP_NOHELO | SMFIP_NOBODY | SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOUNKNOWN | SMFIP_NODATA)

#define MILTER_AUTH_MACRO "{auth_authen}"

/*
 * The macro lists of the negotiation (version 6): for each stage (SMFIM_CONNECT 0 to
 * SMFIM_EOH 6), its number and the names wanted; an empty list is "none".
 */
static const char *const milter_macro_lists[] = {"", "", "", MILTER_AUTH_MACRO, "", "", ""};

#define MILTER_T_REJECT "554 5.7.1 Relay access denied"
#define MILTER_T_DEFER  "451 4.3.0 Relay authorization unavailable, try again later"

/* milter_be32 - the 32-bit big-endian number at p */
static uint32_t milter_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* milter_put32 - n as 4 big-endian bytes at p */
static void milter_put32(unsigned char *p, uint32_t n)
{
    p[0] = (unsigned char)(n >> 24), p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8), p[3] = (unsigned char)n;
}

/* milter_reply - m->out becomes the packet cmd with len bytes of data (they fit) */
static enum milter_step milter_reply(struct milter *m, char cmd, const void *data, size_t len)
{
    milter_put32(m->out, (uint32_t)(len + 1));
    m->out[MILTER_HEADER] = (unsigned char)cmd;
    if (len > 0)
        memcpy(m->out + MILTER_HEADER + 1, data, len);
    m->outlen = MILTER_HEADER + 1 + len;
    return MILTER_SEND;
}

/* milter_init - a fresh connection state */
void milter_init(struct milter *m)
{
    memset(m, 0, sizeof(*m));
}

/* milter_frame - the length of the whole packet at buf once it is all there (milter.h) */
long milter_frame(const unsigned char *buf, size_t len, char *err, size_t errlen)
{
    uint32_t n;

    if (len < MILTER_HEADER)
        return 0;
    n = milter_be32(buf);
    if (n == 0 || n > MILTER_PACKET_MAX) {
        util_seterr(err, errlen, "packet length %lu is out of bounds (1 to %d)", (unsigned long)n,
                    MILTER_PACKET_MAX);
        return -1;
    }
    return len - MILTER_HEADER < n ? 0 : (long)(MILTER_HEADER + n);
}

/* milter_optneg - answer the MTA's offer: version, actions and steps, then macro lists */
static enum milter_step milter_optneg(struct milter *m, const unsigned char *d, size_t len,
                                      char *err, size_t errlen)
{
    unsigned char buf[MILTER_REPLY_MAX - MILTER_HEADER - 1], *p = buf;
    uint32_t version, actions, steps, want = MILTER_NOT_WANTED;
    size_t i;

    if (m->negotiated)
        return util_seterr(err, errlen, "a second option negotiation"), MILTER_ERROR;
    if (len < 12)
        return util_seterr(err, errlen, "option negotiation of %zu bytes (12 needed)", len),
               MILTER_ERROR;
    version = milter_be32(d), actions = milter_be32(d + 4), steps = milter_be32(d + 8);
    if (version < MILTER_VERSION_MIN)
        return util_seterr(err, errlen, "MTA protocol version %lu (%d or later needed)",
                           (unsigned long)version, MILTER_VERSION_MIN),
               MILTER_ERROR;
    m->version = version < MILTER_VERSION ? version : MILTER_VERSION;
    m->symlist = m->version >= 6 && (actions & SMFIF_SETSYMLIST) != 0;
    if (m->symlist)
        want |= SMFIP_NOMAIL;
    if (m->version >= 6)
        want |= SMFIP_NR_CONN;
    m->quiet_connect = (want & steps & SMFIP_NR_CONN) != 0;
    milter_put32(p, m->version);
    milter_put32(p + 4, m->symlist ? SMFIF_SETSYMLIST : 0);
    milter_put32(p + 8, want & steps);
    p += 12;
    for (i = 0; m->symlist && i < UTIL_ARRAY_LEN(milter_macro_lists); i++) {
        size_t n = strlen(milter_macro_lists[i]) + 1;
        milter_put32(p, (uint32_t)i);
        memcpy(p + 4, milter_macro_lists[i], n);
        p += 4 + n;
    }
    m->negotiated = 1;
    return milter_reply(m, SMFIC_OPTNEG, buf, (size_t)(p - buf));
}

/* milter_field - the NUL-terminated string at d[*off..len): its start, *off moved past
 * its NUL; NULL if it has no NUL before len */
static const char *milter_field(const unsigned char *d, size_t len, size_t *off)
{
    const unsigned char *s = d + *off, *nul;

    if (*off >= len || (nul = memchr(s, '\0', len - *off)) == NULL)
        return NULL;
    *off += (size_t)(nul - s) + 1;
    return (const char *)s;
}

/* milter_macros - the macros of one stage: only {auth_authen} of MAIL and RCPT matter */
static enum milter_step milter_macros(struct milter *m, const unsigned char *d, size_t len,
                                      char *err, size_t errlen)
{
    size_t off = 1;
    int *auth;

    if (len < 1)
        return util_seterr(err, errlen, "macro packet without a stage"), MILTER_ERROR;
    auth = d[0] == SMFIC_RCPT ? &m->auth_rcpt : d[0] == SMFIC_MAIL ? &m->auth_mail : NULL;
    if (auth != NULL)
        *auth = 0;
    while (off < len) {
        const char *name = milter_field(d, len, &off), *value;
        if (name == NULL || (value = milter_field(d, len, &off)) == NULL)
            return util_seterr(err, errlen, "macro packet with an unterminated name or value"),
                   MILTER_ERROR;
        if (auth != NULL &&
            (strcmp(name, MILTER_AUTH_MACRO) == 0 || strcmp(name, "auth_authen") == 0))
            *auth = value[0] != '\0';
    }
    return MILTER_NONE;
}

/* milter_connect - the client of a new SMTP session: hostname, family, port, address */
static enum milter_step milter_connect(struct milter *m, const unsigned char *d, size_t len,
                                       char *err, size_t errlen)
{
    char why[128];
    const char *host, *text;
    size_t off = 0;
    unsigned char family;

    m->has_client = m->local = m->auth_mail = m->auth_rcpt = 0;
    if ((host = milter_field(d, len, &off)) == NULL || off >= len)
        return util_seterr(err, errlen, "connect packet without an address family"), MILTER_ERROR;
    (void)host;
    family = d[off++];
    if (family == SMFIA_UNIX || family == SMFIA_UNKNOWN) {
        m->local = 1;
        return m->quiet_connect ? MILTER_NONE : milter_reply(m, SMFIR_ACCEPT, NULL, 0);
    }
    if (family != SMFIA_INET && family != SMFIA_INET6)
        return util_seterr(err, errlen, "connect packet with address family 0x%02x", family),
               MILTER_ERROR;
    off += 2; /* the port */
    if ((text = milter_field(d, len, &off)) == NULL)
        return util_seterr(err, errlen, "connect packet with an unterminated address"),
               MILTER_ERROR;
    if (family == SMFIA_INET6 && strncasecmp(text, "IPv6:", 5) == 0)
        text += 5;
    if (addr_parse(text, strlen(text), &m->client, why, sizeof(why)) == 0)
        m->has_client = family == SMFIA_INET6 || m->client.family == AF_INET;
    return m->quiet_connect ? MILTER_NONE : milter_reply(m, SMFIR_CONTINUE, NULL, 0);
}

/* milter_rcpt - a recipient to decide: its first argument, one pair of brackets off */
static enum milter_step milter_rcpt(struct milter *m, const unsigned char *d, size_t len, char *err,
                                    size_t errlen)
{
    size_t off = 0;
    const char *arg = milter_field(d, len, &off);

    if (arg == NULL)
        return util_seterr(err, errlen, "recipient packet with an unterminated address"),
               MILTER_ERROR;
    m->rcpt = arg;
    m->rcptlen = off - 1;
    if (m->rcptlen >= 2 && arg[0] == '<' && arg[m->rcptlen - 1] == '>')
        m->rcpt++, m->rcptlen -= 2;
    m->authenticated = m->auth_rcpt || m->auth_mail;
    m->auth_rcpt = 0;
    if (m->local)
        return milter_reply(m, SMFIR_ACCEPT, NULL, 0);
    return MILTER_DECIDE;
}

/* milter_packet - take one whole packet and say what to do (milter.h) */
enum milter_step milter_packet(struct milter *m, const unsigned char *pkt, size_t len, char *err,
                               size_t errlen)
{
    const unsigned char *d = pkt + MILTER_HEADER + 1;
    size_t dlen;
    unsigned char cmd;

    if (len < MILTER_HEADER + 1)
        return util_seterr(err, errlen, "empty packet"), MILTER_ERROR;
    cmd = pkt[MILTER_HEADER], dlen = len - MILTER_HEADER - 1;
    if (!m->negotiated && cmd != SMFIC_OPTNEG)
        return util_seterr(err, errlen, "command 0x%02x before the option negotiation", cmd),
               MILTER_ERROR;
    switch (cmd) {
    case SMFIC_OPTNEG:
        return milter_optneg(m, d, dlen, err, errlen);
    case SMFIC_MACRO:
        return milter_macros(m, d, dlen, err, errlen);
    case SMFIC_CONNECT:
        return milter_connect(m, d, dlen, err, errlen);
    case SMFIC_RCPT:
        return milter_rcpt(m, d, dlen, err, errlen);
    case SMFIC_BODYEOB:
        m->auth_mail = 0;
        return milter_reply(m, SMFIR_CONTINUE, NULL, 0);
    case SMFIC_HELO:
    case SMFIC_MAIL:
    case SMFIC_DATA:
    case SMFIC_HEADER:
    case SMFIC_EOH:
    case SMFIC_BODY:
    case SMFIC_UNKNOWN:
        return milter_reply(m, SMFIR_CONTINUE, NULL, 0);
    case SMFIC_ABORT:
        m->auth_mail = m->auth_rcpt = 0;
        return MILTER_NONE;
    case SMFIC_QUIT_NC:
        m->has_client = m->local = m->auth_mail = m->auth_rcpt = 0;
        return MILTER_NONE;
    case SMFIC_QUIT:
        return MILTER_CLOSE;
    default:
        return util_seterr(err, errlen, "unknown command 0x%02x", cmd), MILTER_ERROR;
    }
}

/* milter_verdict - the reply to a MILTER_DECIDE step's recipient for outcome; its name
 * for the log */
const char *milter_verdict(struct milter *m, enum decision_outcome outcome)
{
    switch (outcome) {
    case DECISION_PERMIT_LOCALNET:
    case DECISION_PERMIT_GRANT:
    case DECISION_PERMIT_AUTH:
        milter_reply(m, SMFIR_ACCEPT, NULL, 0);
        return "accept";
    case DECISION_LOCAL:
        milter_reply(m, SMFIR_CONTINUE, NULL, 0);
        return "continue";
    case DECISION_REJECT:
        milter_reply(m, SMFIR_REPLYCODE, MILTER_T_REJECT, sizeof(MILTER_T_REJECT));
        return "554";
    default:
        milter_reply(m, SMFIR_REPLYCODE, MILTER_T_DEFER, sizeof(MILTER_T_DEFER));
        return "451";
    }
}
