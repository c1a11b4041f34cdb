/*
 * fuzz_milter - libFuzzer target for the milter protocol core (smtpgate/milter.c). The
 * input is what an MTA sends, framed by milter_frame and taken by milter_packet as the
 * milter front does; each recipient step is answered with an outcome drawn from the
 * input. It aborts when an invariant fails: a frame is 0 (more needed), -1 (with a
 * printable message) or a length within the input and the bounds; a step is one of the
 * enum's; an error has a printable message; a reply is a whole packet of at most
 * MILTER_REPLY_MAX bytes whose command is 'O' (the negotiation, once, first, version 2 to
 * 6, asking for no action but macro lists and for no step the MTA did not offer, with
 * the fixed macro lists), 'a' (a connection with no address or from a unix socket, or a
 * recipient decided as a permit), 'c', or 'y' with one of the two fixed texts (a
 * recipient's reply is the one its outcome calls for; a connect step gets a reply
 * exactly when the negotiation did not agree on none); a recipient to decide lies
 * inside its packet and never for a local connection; nothing is decided before the
 * negotiation.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "smtpgate/milter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_milter_reject[] = "554 5.7.1 Relay access denied";
static const char fuzz_milter_defer[] =
    "451 4.3.0 Relay authorization unavailable, try again later";

/* fuzz_milter_be32 - the big-endian number at p */
static uint32_t fuzz_milter_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* fuzz_milter_printable - a message is non-empty printable text */
static void fuzz_milter_printable(const char *s)
{
    if (s[0] == '\0')
        abort();
    for (; *s != '\0'; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
            abort();
}

/* fuzz_milter_optneg - the negotiation's reply asks for nothing it may not; steps is
 * what the MTA offered */
static void fuzz_milter_optneg(const struct milter *m, uint32_t steps)
{
    static const unsigned char lists[] = {
        0, 0, 0, 0,   0,   0,   0,   0,   1,   0,   0,   0,   0,   2,   0,   0,
        0, 0, 3, '{', 'a', 'u', 't', 'h', '_', 'a', 'u', 't', 'h', 'e', 'n', '}',
        0, 0, 0, 0,   4,   0,   0,   0,   0,   5,   0,   0,   0,   0,   6,   0};
    const unsigned char *d = m->out + 5;
    uint32_t version = fuzz_milter_be32(d), actions = fuzz_milter_be32(d + 4);
    size_t rest = m->outlen - 5 - 12;

    if (version < MILTER_VERSION_MIN || version > MILTER_VERSION || version != m->version)
        abort();
    if ((actions & ~0x100u) != 0 || (fuzz_milter_be32(d + 8) & ~steps) != 0)
        abort();
    if (m->symlist != (actions != 0) ||
        (rest != 0 && (rest != sizeof(lists) || memcmp(d + 12, lists, rest) != 0)) ||
        (rest == 0) == (m->symlist != 0))
        abort();
}

/* fuzz_milter_reply - the reply of the last step is one of the allowed packets */
static void fuzz_milter_reply(const struct milter *m)
{
    size_t dlen;

    if (m->outlen < 5 || m->outlen > MILTER_REPLY_MAX || fuzz_milter_be32(m->out) != m->outlen - 4)
        abort();
    dlen = m->outlen - 5;
    switch (m->out[4]) {
    case 'a':
    case 'c':
        if (dlen != 0)
            abort();
        break;
    case 'y':
        if (!(dlen == sizeof(fuzz_milter_reject) &&
              memcmp(m->out + 5, fuzz_milter_reject, dlen) == 0) &&
            !(dlen == sizeof(fuzz_milter_defer) &&
              memcmp(m->out + 5, fuzz_milter_defer, dlen) == 0))
            abort();
        break;
    case 'O':
        break;
    default:
        abort();
    }
}

/* fuzz_milter_command - the reply command a recipient's outcome calls for */
static char fuzz_milter_command(enum decision_outcome outcome)
{
    switch (outcome) {
    case DECISION_PERMIT_LOCALNET:
    case DECISION_PERMIT_GRANT:
    case DECISION_PERMIT_AUTH:
        return 'a';
    case DECISION_LOCAL:
        return 'c';
    default:
        return 'y';
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct milter m;
    char err[160];
    size_t off = 0;
    unsigned draw = 0;

    milter_init(&m);
    while (off < size) {
        long n;
        enum milter_step step;
        enum decision_outcome outcome;
        int was_negotiated = m.negotiated;

        err[0] = '\0';
        n = milter_frame(data + off, size - off, err, sizeof(err));
        if (n == 0)
            break;
        if (n < 0) {
            if (n != -1)
                abort();
            fuzz_milter_printable(err);
            break;
        }
        if ((size_t)n > size - off || n < MILTER_HEADER + 1 ||
            n > MILTER_HEADER + MILTER_PACKET_MAX)
            abort();
        step = milter_packet(&m, data + off, (size_t)n, err, sizeof(err));
        switch (step) {
        case MILTER_ERROR:
            fuzz_milter_printable(err);
            return 0;
        case MILTER_NONE:
            if (data[off + 4] == 'C' && !m.quiet_connect) /* a connect step is answered */
                abort();
            break;
        case MILTER_CLOSE:
            break;
        case MILTER_SEND:
            fuzz_milter_reply(&m);
            if ((m.out[4] == 'a' && !m.local) || (data[off + 4] == 'C' && m.quiet_connect))
                abort();
            if (m.out[4] == 'O') {
                if (was_negotiated || data[off + 4] != 'O')
                    abort();
                fuzz_milter_optneg(&m, fuzz_milter_be32(data + off + 13));
            }
            break;
        case MILTER_DECIDE:
            if (!m.negotiated || m.local || m.rcpt < (const char *)data + off + 5 ||
                m.rcpt + m.rcptlen > (const char *)data + off + n ||
                memchr(m.rcpt, '\0', m.rcptlen) != NULL)
                abort();
            outcome = (enum decision_outcome)(draw++ % (DECISION_NEED_GRANT + 1));
            milter_verdict(&m, outcome);
            fuzz_milter_reply(&m);
            if (m.out[4] != fuzz_milter_command(outcome))
                abort();
            break;
        default:
            abort();
        }
        if (!m.negotiated)
            abort();
        off += (size_t)n;
        if (step == MILTER_CLOSE)
            break;
    }
    return 0;
}
