/*
 * gate - lookup-and-decide and the decision log line, shared by every front (see gate.h).
 * Both run for every recipient, so neither allocates nor formats with printf.
 */
#include <string.h>

#include "shared/ascii.h"
#include "shared/log.h"
#include "shared/util.h"
#include "smtpgate/gate.h"

/* gate_decide_start - decide for in, with one store lookup if decide asks for it; 1 if
 * that lookup waits (see gate.h) */
int gate_decide_start(const struct config *cfg, struct grants *grants,
                      const struct decision_input *in, int64_t now, struct decision *out,
                      struct grants_wait *w, grants_done_fn done, void *ctx)
{
    struct decision_grant grant;

    decide(cfg, in, NULL, out);
    if (out->outcome != DECISION_NEED_GRANT)
        return 0;
    if (grants_lookup(grants, in->client, now, &grant, w, done, ctx))
        return 1;
    decide(cfg, in, &grant, out);
    return 0;
}

/* gate_decide - gate_decide_start with lookups that answer at once */
void gate_decide(const struct config *cfg, struct grants *grants, const struct decision_input *in,
                 int64_t now, struct decision *out)
{
    gate_decide_start(cfg, grants, in, now, out, NULL, NULL, NULL);
}

/* gate_decide_grant - the decision for in once the store has answered: decided again in
 * full under cfg (a reload may have come meanwhile), then with grant if it still asks */
void gate_decide_grant(const struct config *cfg, const struct decision_input *in,
                       const struct decision_grant *grant, struct decision *out)
{
    decide(cfg, in, NULL, out);
    if (out->outcome == DECISION_NEED_GRANT)
        decide(cfg, in, grant, out);
}

/* gate_metrics_init - register a front's decision series (gate.h) */
void gate_metrics_init(struct gate_metrics *m, const char *front)
{
    static const enum decision_outcome outcomes[] = {
        DECISION_PERMIT_LOCALNET, DECISION_PERMIT_GRANT, DECISION_PERMIT_AUTH,
        DECISION_LOCAL,           DECISION_REJECT,       DECISION_DEFER};
    struct metrics *reg = metrics_process();
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(outcomes); i++)
        m->outcome[outcomes[i]] =
            metrics_counter(reg, "smtpgate_decisions_total", GATE_HELP_DECISIONS, "front", front,
                            "outcome", decide_name(outcomes[i]), NULL);
    m->outcome[DECISION_NEED_GRANT] = m->outcome[DECISION_DEFER];
    m->latency = metrics_histogram(reg, "smtpgate_request_duration_seconds", GATE_HELP_LATENCY,
                                   metrics_latency_ns, metrics_latency_count, "front", front, NULL);
}

/* gate_clean - at most len bytes of s made safe for one log field into dst, in one pass */
const char *gate_clean(const char *s, size_t len, char *dst, size_t dstlen, int quoted)
{
    size_t i, n = len < dstlen - 1 ? len : dstlen - 1;

    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];

        dst[i] = ascii_is_print(c) && c != '"' && c != '\\' && (quoted || c != ' ') ? (char)c : '?';
    }
    dst[n] = '\0';
    if (n == 0 && !quoted)
        util_strlcpy(dst, GATE_LOG_EMPTY, dstlen);
    return dst;
}

/* gate_put - append s to a line being built in buf[*len], bounded by size */
static void gate_put(char *buf, size_t *len, size_t size, const char *s)
{
    size_t n = strlen(s);

    if (n > size - 1 - *len)
        n = size - 1 - *len;
    memcpy(buf + *len, s, n);
    *len += n;
}

/* gate_log_format - the decision line of l into buf (size bytes, at least 1); its length */
size_t gate_log_format(const struct gate_log *l, char *buf, size_t size)
{
    char field[GATE_LOG_FIELD], why[sizeof(((struct decision *)0)->reason)];
    size_t len = 0;

    gate_put(buf, &len, size, l->key != NULL ? l->key : "action");
    gate_put(buf, &len, size, "=");
    gate_put(buf, &len, size, l->action);
    gate_put(buf, &len, size, " client=");
    gate_put(buf, &len, size, gate_clean(l->client, strlen(l->client), field, sizeof(field), 0));
    gate_put(buf, &len, size, " recipient=");
    gate_put(buf, &len, size, gate_clean(l->rcpt, l->rcptlen, field, sizeof(field), 0));
    gate_put(buf, &len, size, " reason=\"");
    gate_put(buf, &len, size, gate_clean(l->reason, strlen(l->reason), why, sizeof(why), 1));
    gate_put(buf, &len, size, "\"");
    if (l->reply != NULL) {
        gate_put(buf, &len, size, " reply=");
        gate_put(buf, &len, size, l->reply[0] != '\0' ? l->reply : GATE_LOG_EMPTY);
    }
    buf[len] = '\0';
    return len;
}

/* gate_log - log the decision line of l at level, if that level is logged */
void gate_log(int level, const struct gate_log *l)
{
    char line[GATE_LOG_MAX];
    size_t len;

    if (log_level_current < level)
        return;
    len = gate_log_format(l, line, sizeof(line));
    log_text(level, line, len);
}
