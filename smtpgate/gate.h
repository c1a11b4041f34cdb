/*
 * gate - the relay decision as every front asks for it (the policy server, the SMTP
 * proxy, `popauthctl check`, and any later front), and the one log line that records it.
 *
 * gate_decide runs decide() (shared/decide.h) and, only when it asks for the store's
 * answer, looks the client up through grants.h and decides again: one lookup at most, no
 * allocation. The fronts on the event loop use gate_decide_start instead, where a Redis
 * lookup does not block: the second decide() comes with the store's answer, through
 * gate_decide_grant. The log line is built without printf, since it is written for every
 * decision:
 *
 *   action=OUTCOME client=CLIENT recipient=RCPT reason="REASON"[ reply=WORD]
 *
 * Every field taken from a request is made safe: bytes outside printable ASCII, '"' and
 * '\' become '?', and so do spaces outside the quoted reason; a field is cut at
 * GATE_LOG_FIELD bytes (the reason at its own size); an empty unquoted field is "-".
 *
 * Ownership: the strings in a struct decision filled by gate_decide are its own; the
 * grants handle is the caller's.
 */
#ifndef POPAUTH_GATE_H
#define POPAUTH_GATE_H

#include <stddef.h>
#include <stdint.h>

#include "shared/config.h"
#include "shared/decide.h"
#include "shared/metrics.h"
#include "smtpgate/grants.h"

#define GATE_LOG_FIELD 256 /* bytes of request data shown in one log field, NUL included */
#define GATE_LOG_EMPTY "-" /* an empty unquoted field */
/* The help texts of the series every front keeps, labelled front="policy", "proxy", ... */
#define GATE_HELP_DECISIONS "Relay decisions by front and outcome."
#define GATE_HELP_LATENCY                                                                          \
    "Time from a request parsed (policy), a RCPT TO read (proxy) or a recipient packet read "      \
    "(milter) to its answer queued."
#define GATE_HELP_REFUSED "Connections closed at once: a connection limit was reached."
#define GATE_LOG_MAX      (2 * GATE_LOG_FIELD + sizeof(((struct decision *)0)->reason) + 128)

/* One decision line's fields; reply NULL leaves the reply field out. */
struct gate_log {
    const char *key;    /* the first field's name: NULL is "action" */
    const char *action; /* its value: decide_name(outcome), or the front's own ("limit") */
    const char *client; /* the client address as text */
    const char *rcpt;   /* the recipient, rcptlen bytes, as the client sent it */
    size_t rcptlen;
    const char *reason; /* NUL-terminated */
    const char *reply;  /* the first word of the answer sent, or NULL */
};

/*
 * gate_decide - the decision for in under cfg: decide(), and if it needs the store, one
 * grants_lookup of in->client at unix time now and decide() again. in->authenticated
 * (SMTP AUTH at the MTA) permits without a lookup. out is filled on every path. For a
 * grants handle without a loop (its lookups block).
 */
void gate_decide(const struct config *cfg, struct grants *grants, const struct decision_input *in,
                 int64_t now, struct decision *out);
/*
 * gate_decide_start - gate_decide for the fronts on the loop: 0 and *out filled, or 1 if
 * the lookup waits for the store (Redis): then done(ctx, grant) comes later from the loop
 * (grants_cancel(grants, w) takes it back), and the front finishes with gate_decide_grant
 * under its config of then, keeping in's strings unchanged until that.
 */
int gate_decide_start(const struct config *cfg, struct grants *grants,
                      const struct decision_input *in, int64_t now, struct decision *out,
                      struct grants_wait *w, grants_done_fn done, void *ctx);
/* gate_decide_grant - the decision for in once the store has answered with grant */
void gate_decide_grant(const struct config *cfg, const struct decision_input *in,
                       const struct decision_grant *grant, struct decision *out);
/* The decision series of one front: a counter per outcome, and the time to decide. */
struct gate_metrics {
    struct metric *outcome[DECISION_NEED_GRANT + 1]; /* DECISION_NEED_GRANT counts as defer */
    struct metric *latency;
};

/* gate_metrics_init - register m's series for front ("milter", "proxy") in the process
 * registry: smtpgate_decisions_total{front,outcome} and
 * smtpgate_request_duration_seconds{front} */
void gate_metrics_init(struct gate_metrics *m, const char *front);
/* gate_clean - at most len bytes of s made safe for one log field into dst (see above) */
const char *gate_clean(const char *s, size_t len, char *dst, size_t dstlen, int quoted);
/* gate_log_format - the decision line of l into buf (size bytes, at least 1); its length */
size_t gate_log_format(const struct gate_log *l, char *buf, size_t size);
/* gate_log - log the decision line of l at level, if that level is logged */
void gate_log(int level, const struct gate_log *l);

#endif
