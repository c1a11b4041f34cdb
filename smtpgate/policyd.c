/*
 * policyd - the libev policy server (see policyd.h for what it does and its limits).
 *
 * Reply texts are built once per config generation ("action=TEXT\n\n") and copied into
 * a connection's output buffer; nothing from a request ever reaches a reply. Every
 * failure on the decision path (bad client address, store error, an outcome the policy
 * server does not expect) answers the reject or defer text, never the permit text.
 *
 * A decision that waits for the store (Redis) holds its connection: reading stops, the
 * bytes already read after the request are kept, and the request's strings stay in the
 * parser, untouched, until the answer comes (policyd_decided); then the reply is queued
 * and the kept bytes are taken, in order. Replies thus keep the order of the requests.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "shared/addr.h"
#include "shared/ascii.h"
#include "shared/decide.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"
#include "smtpgate/front.h"
#include "smtpgate/gate.h"
#include "smtpgate/policy.h"
#include "smtpgate/policyd.h"

#define POLICYD_OUT_INITIAL 1024 /* first size of a connection's output buffer */

/* One reply text: "action=TEXT\n\n", and TEXT's first word for the log. */
struct policyd_reply {
    char text[POLICYD_ACTION_MAX + 16];
    size_t len;
    char word[64];
};

struct policyd_conn {
    struct policyd *pd;
    struct policyd_conn *prev, *next;
    int fd;
    ev_io read_w;
    ev_io write_w;
    ev_timer idle_w;
    struct policy_parser *parser;
    char *out; /* replies not yet written: out[outoff..outlen) */
    size_t outcap, outlen, outoff;
    int eof; /* no more input will be read: close once the output is written */
    char peer[ADDR_STRLEN + 8];
    struct grants_wait wait;   /* the store lookup of the request being decided */
    struct policy_request req; /* that request (its strings are the parser's) */
    struct addr client;        /* its client */
    uint64_t t0;               /* when it was parsed */
    char *held;                /* bytes read after it, taken once it is answered */
    size_t heldlen;
};

struct policyd {
    struct ev_loop *loop;
    const struct config *cfg;
    struct grants *grants;
    struct policyd_reply permit, local, reject, defer, dunno;
    struct front front;
    struct policyd_conn *conns;
    struct policyd_metrics {
        struct metric *outcome[DECISION_NEED_GRANT + 1]; /* decisions of RCPT requests */
        struct metric *requests, *latency, *active, *connections, *refused, *errors;
    } m; /* written by the loop's thread (metrics.h) */
    char inbuf[POLICYD_READ_CHUNK];
};

/* policyd_check_action - one action text must be non-empty printable ASCII and short */
static int policyd_check_action(const char *name, const char *text, char *err, size_t errlen)
{
    size_t i, len = strlen(text);

    if (len == 0 || len > POLICYD_ACTION_MAX)
        return util_seterr(err, errlen, "%s: must be 1 to %d characters", name, POLICYD_ACTION_MAX);
    for (i = 0; i < len; i++)
        if ((unsigned char)text[i] < 0x20 || (unsigned char)text[i] > 0x7e)
            return util_seterr(err, errlen, "%s: only printable ASCII is allowed", name);
    return 0;
}

enum policyd_action_kind {
    POLICYD_ACTION_PASSES,  /* leaves the decision to Postfix: DUNNO, DEFER_IF_REJECT */
    POLICYD_ACTION_REFUSES, /* refuses by itself: REJECT, DEFER, DEFER_IF_PERMIT, 4XX, 5XX */
    POLICYD_ACTION_OTHER,   /* accepts (OK) or anything else: never for a refusal */
};

/* policyd_action_kind - what a checked action text does with the recipient in Postfix
 * (access(5)), judged by its first word */
static enum policyd_action_kind policyd_action_kind(const char *text)
{
    static const struct {
        const char *word;
        enum policyd_action_kind kind;
    } words[] = {
        {"DUNNO", POLICYD_ACTION_PASSES},
        {"DEFER_IF_REJECT", POLICYD_ACTION_PASSES},
        {"REJECT", POLICYD_ACTION_REFUSES},
        {"DEFER", POLICYD_ACTION_REFUSES},
        {"DEFER_IF_PERMIT", POLICYD_ACTION_REFUSES},
    };
    size_t len = strcspn(text, " \t"), i;

    for (i = 0; i < UTIL_ARRAY_LEN(words); i++)
        if (strlen(words[i].word) == len && strncasecmp(words[i].word, text, len) == 0)
            return words[i].kind;
    if (len == 3 && (text[0] == '4' || text[0] == '5') && ascii_is_digit(text[1]) &&
        ascii_is_digit(text[2]))
        return POLICYD_ACTION_REFUSES;
    return POLICYD_ACTION_OTHER;
}

/* policyd_check_refusal - the reject or defer action (param) must never accept, and may
 * refuse by itself only when local_domains says which mail is ours */
static int policyd_check_refusal(const struct config *cfg, const char *param, const char *text,
                                 char *err, size_t errlen)
{
    switch (policyd_action_kind(text)) {
    case POLICYD_ACTION_PASSES:
        return 0;
    case POLICYD_ACTION_REFUSES:
        if (cfg->local_domains.count > 0)
            return 0;
        return util_seterr(err, errlen,
                           "%s: '%s' refuses by itself, but local_domains is empty, so mail for "
                           "your own domains would be refused too: set local_domains, or leave "
                           "%s to Postfix (DUNNO or DEFER_IF_REJECT)",
                           param, text, param);
    case POLICYD_ACTION_OTHER:
        break;
    }
    return util_seterr(err, errlen,
                       "%s: '%s' is not a refusal (DUNNO, DEFER_IF_REJECT, REJECT, DEFER, "
                       "DEFER_IF_PERMIT or a 4XX/5XX code)",
                       param, text);
}

/* policyd_check_config - 0 if cfg's policy_*_action texts are usable; -1 and err if not */
int policyd_check_config(const struct config *cfg, char *err, size_t errlen)
{
    if (policyd_check_action("policy_permit_action", cfg->policy_permit_action, err, errlen) < 0 ||
        policyd_check_action("policy_local_action", cfg->policy_local_action, err, errlen) < 0 ||
        policyd_check_action("policy_reject_action", cfg->policy_reject_action, err, errlen) < 0 ||
        policyd_check_action("policy_defer_action", cfg->policy_defer_action, err, errlen) < 0)
        return -1;
    if (cfg->policy_listen.count == 0)
        return 0;
    if (policyd_check_refusal(cfg, "policy_reject_action", cfg->policy_reject_action, err, errlen) <
            0 ||
        policyd_check_refusal(cfg, "policy_defer_action", cfg->policy_defer_action, err, errlen) <
            0)
        return -1;
    return 0;
}

/* policyd_reply_set - build "action=TEXT\n\n" (TEXT was checked, so it fits) */
static void policyd_reply_set(struct policyd_reply *r, const char *text)
{
    int n = snprintf(r->text, sizeof(r->text), "action=%s\n\n", text);
    size_t w = strcspn(text, " \t");

    r->len = n > 0 && (size_t)n < sizeof(r->text) ? (size_t)n : 0;
    snprintf(r->word, sizeof(r->word), "%.*s", (int)(w < sizeof(r->word) ? w : 0), text);
}

/* policyd_set_config - decide the next requests under cfg (checked); connections stay */
void policyd_set_config(struct policyd *pd, const struct config *cfg)
{
    pd->cfg = cfg;
    policyd_reply_set(&pd->permit, cfg->policy_permit_action);
    policyd_reply_set(&pd->local, cfg->policy_local_action);
    policyd_reply_set(&pd->reject, cfg->policy_reject_action);
    policyd_reply_set(&pd->defer, cfg->policy_defer_action);
    policyd_reply_set(&pd->dunno, "DUNNO");
}

/* policyd_append - queue len bytes of reply on c */
static void policyd_append(struct policyd_conn *c, const char *text, size_t len)
{
    if (c->outlen + len > c->outcap && c->outoff > 0) {
        memmove(c->out, c->out + c->outoff, c->outlen - c->outoff);
        c->outlen -= c->outoff;
        c->outoff = 0;
    }
    if (c->outlen + len > c->outcap) {
        size_t cap = c->outcap ? c->outcap : POLICYD_OUT_INITIAL;
        while (cap < c->outlen + len)
            cap *= 2;
        c->out = xrealloc(c->out, cap);
        c->outcap = cap;
    }
    memcpy(c->out + c->outlen, text, len);
    c->outlen += len;
}

/* policyd_reply_for - the reply for an outcome; anything unexpected defers */
static const struct policyd_reply *policyd_reply_for(struct policyd *pd,
                                                     enum decision_outcome outcome)
{
    switch (outcome) {
    case DECISION_PERMIT_LOCALNET:
    case DECISION_PERMIT_GRANT:
        return &pd->permit;
    case DECISION_LOCAL:
        return &pd->local;
    case DECISION_REJECT:
        return &pd->reject;
    default:
        return &pd->defer;
    }
}

/* policyd_log_request - debug: a decision's inputs as the request gave them */
static void policyd_log_request(const struct policy_request *req)
{
    char state[64], client[GATE_LOG_FIELD], rcpt[GATE_LOG_FIELD], sender[GATE_LOG_FIELD];
    char sasl[GATE_LOG_FIELD];

    log_debug(
        "action=request protocol_state=%s client_address=%s recipient=%s sender=%s "
        "sasl_username=%s",
        gate_clean(req->protocol_state, strlen(req->protocol_state), state, sizeof(state), 0),
        gate_clean(req->client_address, strlen(req->client_address), client, sizeof(client), 0),
        gate_clean(req->recipient, strlen(req->recipient), rcpt, sizeof(rcpt), 0),
        gate_clean(req->sender, strlen(req->sender), sender, sizeof(sender), 0),
        gate_clean(req->sasl_username, strlen(req->sasl_username), sasl, sizeof(sasl), 0));
}

/* policyd_finish - queue the reply to the RCPT request req of client, decided as d, and
 * log it */
static void policyd_finish(struct policyd_conn *c, const struct policy_request *req,
                           const struct addr *client, const struct decision *d)
{
    struct policyd *pd = c->pd;
    const struct policyd_reply *r = policyd_reply_for(pd, d->outcome);
    struct gate_log l = {NULL, NULL, NULL, req->recipient, strlen(req->recipient), NULL, NULL};
    char text[ADDR_STRLEN];
    int level = d->outcome == DECISION_DEFER ? LOG_LEVEL_WARN : LOG_LEVEL_INFO;

    policyd_append(c, r->text, r->len);
    metric_inc(pd->m.outcome[d->outcome]);
    if (r == &pd->defer && d->outcome != DECISION_DEFER) {
        log_error("action=defer client=%s reason=\"unexpected outcome %s\"",
                  addr_format(client, text, sizeof(text)), decide_name(d->outcome));
    } else if (log_level_current >= level) {
        l.action = decide_name(d->outcome), l.client = addr_format(client, text, sizeof(text));
        l.reason = d->reason, l.reply = r->word;
        gate_log(level, &l);
    }
}

/* policyd_input - the decision input of the RCPT request req from client */
static struct decision_input policyd_input(const struct policy_request *req,
                                           const struct addr *client)
{
    struct decision_input in = {client, req->recipient, strlen(req->recipient), 0};

    return in;
}

static void policyd_decided(void *ctx, const struct decision_grant *grant);

/* policyd_answer - decide one complete request and queue its reply; 1 if the decision
 * waits for the store (c holds the request until policyd_decided) */
static int policyd_answer(struct policyd_conn *c, const struct policy_request *req)
{
    struct policyd *pd = c->pd;
    struct decision d;
    struct decision_input in;
    struct gate_log l = {NULL, NULL, NULL, req->recipient, strlen(req->recipient), NULL, NULL};
    char err[256];

    if (log_level_current >= LOG_LEVEL_DEBUG)
        policyd_log_request(req);
    if (strcmp(req->protocol_state, "RCPT") != 0) {
        policyd_append(c, pd->dunno.text, pd->dunno.len);
        return 0;
    }
    if (addr_parse(req->client_address, strlen(req->client_address), &c->client, err, sizeof(err)) <
        0) {
        policyd_append(c, pd->reject.text, pd->reject.len);
        metric_inc(pd->m.outcome[DECISION_REJECT]);
        l.action = "reject", l.client = req->client_address;
        l.reason = "unusable client_address", l.reply = pd->reject.word;
        gate_log(LOG_LEVEL_INFO, &l);
        return 0;
    }
    in = policyd_input(req, &c->client);
    if (gate_decide_start(pd->cfg, pd->grants, &in, (int64_t)ev_now(pd->loop), &d, &c->wait,
                          policyd_decided, c)) {
        c->req = *req;
        ev_io_stop(pd->loop, &c->read_w);
        return 1;
    }
    policyd_finish(c, req, &c->client, &d);
    return 0;
}

/* policyd_close - close c and release it; a draining server may now be done */
static void policyd_close(struct policyd_conn *c)
{
    struct policyd *pd = c->pd;

    ev_io_stop(pd->loop, &c->read_w);
    ev_io_stop(pd->loop, &c->write_w);
    ev_timer_stop(pd->loop, &c->idle_w);
    grants_cancel(pd->grants, &c->wait);
    close(c->fd);
    policy_parser_free(c->parser);
    free(c->out);
    free(c->held);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        pd->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    front_closed(&pd->front);
}

/* policyd_flush - write what is queued; 0, or -1 if c was closed */
static int policyd_flush(struct policyd_conn *c)
{
    struct policyd *pd = c->pd;

    while (c->outoff < c->outlen) {
        ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* the peer is slow: pause reading until it has taken the replies */
            ev_io_stop(pd->loop, &c->read_w);
            ev_io_start(pd->loop, &c->write_w);
            return 0;
        }
        if (n <= 0) {
            log_debug("action=close peer=%s reason=\"write: %s\"", c->peer, strerror(errno));
            policyd_close(c);
            return -1;
        }
        c->outoff += (size_t)n;
        ev_timer_again(pd->loop, &c->idle_w);
    }
    c->outoff = c->outlen = 0;
    ev_io_stop(pd->loop, &c->write_w);
    if (c->wait.waiting)
        return 0; /* reading resumes once the decision is made */
    if (c->eof) {
        policyd_close(c);
        return -1;
    }
    ev_io_start(pd->loop, &c->read_w);
    return 0;
}

/* policyd_feed - hand len bytes to the parser and answer each complete request; a
 * decision that waits keeps the rest of the bytes for later */
static int policyd_feed(struct policyd_conn *c, const char *data, size_t len)
{
    struct policy_request req;
    char err[160];
    size_t off = 0;

    while (off < len) {
        int complete;
        long n;

        if (c->wait.waiting) {
            c->held = xmalloc(len - off);
            memcpy(c->held, data + off, len - off);
            c->heldlen = len - off;
            return 0;
        }
        n = policy_feed(c->parser, data + off, len - off, &req, &complete, err, sizeof(err));
        if (n < 0) {
            log_warnx("action=close peer=%s reason=\"protocol error: %s\"", c->peer, err);
            metric_inc(c->pd->m.errors);
            return -1;
        }
        off += (size_t)n;
        if (complete) {
            c->t0 = metrics_now_ns();
            if (policyd_answer(c, &req))
                continue;
            metric_inc(c->pd->m.requests);
            metric_observe(c->pd->m.latency, metrics_now_ns() - c->t0);
        }
    }
    return 0;
}

/* policyd_decided - the store answered the held request: reply, take the bytes kept
 * after it, write */
static void policyd_decided(void *ctx, const struct decision_grant *grant)
{
    struct policyd_conn *c = ctx;
    struct policyd *pd = c->pd;
    struct decision_input in = policyd_input(&c->req, &c->client);
    struct decision d;
    char *held = c->held;
    size_t heldlen = c->heldlen;
    int rc;

    gate_decide_grant(pd->cfg, &in, grant, &d);
    policyd_finish(c, &c->req, &c->client, &d);
    metric_inc(pd->m.requests);
    metric_observe(pd->m.latency, metrics_now_ns() - c->t0);
    c->held = NULL, c->heldlen = 0;
    rc = policyd_feed(c, held, heldlen);
    free(held);
    if (rc < 0) {
        policyd_close(c);
        return;
    }
    policyd_flush(c);
}

/* policyd_read - read one chunk from c and answer it; 0, or -1 if c was closed */
static int policyd_read(struct policyd_conn *c)
{
    struct policyd *pd = c->pd;
    ssize_t n;

    do
        n = recv(c->fd, pd->inbuf, sizeof(pd->inbuf), 0);
    while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    if (n < 0) {
        log_debug("action=close peer=%s reason=\"read: %s\"", c->peer, strerror(errno));
        policyd_close(c);
        return -1;
    }
    if (n == 0) {
        c->eof = 1;
        ev_io_stop(pd->loop, &c->read_w);
        return policyd_flush(c);
    }
    c->idle_w.repeat = (double)pd->cfg->policy_idle_timeout;
    ev_timer_again(pd->loop, &c->idle_w);
    if (policyd_feed(c, pd->inbuf, (size_t)n) < 0) {
        policyd_close(c);
        return -1;
    }
    return policyd_flush(c);
}

/* policyd_read_cb - the connection is readable */
static void policyd_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    policyd_read(FRONT_OWNER(w, struct policyd_conn, read_w));
}

/* policyd_write_cb - the connection can take more of its pending replies */
static void policyd_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    policyd_flush(FRONT_OWNER(w, struct policyd_conn, write_w));
}

/* policyd_idle_cb - nothing moved on the connection for policy_idle_timeout */
static void policyd_idle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct policyd_conn *c = FRONT_OWNER(w, struct policyd_conn, idle_w);

    (void)loop, (void)revents;
    log_debug("action=close peer=%s reason=\"idle timeout\"", c->peer);
    policyd_close(c);
}

/* policyd_conn_new - start serving the accepted socket fd */
static void policyd_conn_new(struct policyd *pd, int fd, const struct sockaddr_storage *ss)
{
    struct policyd_conn *c = xcalloc(1, sizeof(*c));

    c->pd = pd;
    c->fd = fd;
    c->parser = policy_parser_new();
    front_peer(ss, c->peer, sizeof(c->peer));
    ev_io_init(&c->read_w, policyd_read_cb, fd, EV_READ);
    ev_io_init(&c->write_w, policyd_write_cb, fd, EV_WRITE);
    ev_init(&c->idle_w, policyd_idle_cb);
    c->idle_w.repeat = (double)pd->cfg->policy_idle_timeout;
    ev_timer_again(pd->loop, &c->idle_w);
    ev_io_start(pd->loop, &c->read_w);
    c->next = pd->conns;
    if (pd->conns != NULL)
        pd->conns->prev = c;
    pd->conns = c;
    front_opened(&pd->front);
}

/* policyd_on_accept - serve the accepted socket fd, or refuse it over the limit */
static void policyd_on_accept(void *ctx, int fd, const struct sockaddr_storage *ss)
{
    struct policyd *pd = ctx;
    char peer[ADDR_STRLEN + 8];

    if (front_live(&pd->front) < (size_t)pd->cfg->policy_max_connections) {
        policyd_conn_new(pd, fd, ss);
        return;
    }
    front_peer(ss, peer, sizeof(peer));
    front_refuse(&pd->front, fd, NULL, "peer", peer, "policy_max_connections",
                 (long long)pd->cfg->policy_max_connections);
}

/* policyd_expire - the drain deadline passed: close what is left */
static void policyd_expire(void *ctx)
{
    struct policyd *pd = ctx;

    while (pd->conns != NULL)
        policyd_close(pd->conns);
}

/* What the policy server tells the front skeleton about itself. */
static const struct front_ops policyd_front_ops = {
    .param = "policy_listen",
    .unit = "connections",
    .drain_timeout = POLICYD_DRAIN_TIMEOUT,
    .accept = policyd_on_accept,
    .expire = policyd_expire,
};

/* policyd_metrics_init - register the policy server's series */
static void policyd_metrics_init(struct policyd_metrics *m)
{
    struct metrics *reg = metrics_process();
    static const enum decision_outcome outcomes[] = {DECISION_PERMIT_LOCALNET,
                                                     DECISION_PERMIT_GRANT, DECISION_LOCAL,
                                                     DECISION_REJECT, DECISION_DEFER};
    size_t i;

    /* an outcome the policy server does not expect is answered (and counted) as defer */
    for (i = 0; i <= DECISION_NEED_GRANT; i++)
        m->outcome[i] = NULL;
    for (i = 0; i < UTIL_ARRAY_LEN(outcomes); i++)
        m->outcome[outcomes[i]] =
            metrics_counter(reg, "smtpgate_decisions_total", GATE_HELP_DECISIONS, "front", "policy",
                            "outcome", decide_name(outcomes[i]), NULL);
    for (i = 0; i <= DECISION_NEED_GRANT; i++)
        if (m->outcome[i] == NULL)
            m->outcome[i] = m->outcome[DECISION_DEFER];
    m->requests = metrics_counter(reg, "smtpgate_policy_requests_total",
                                  "Policy requests answered (RCPT and other states).", NULL);
    m->latency =
        metrics_histogram(reg, "smtpgate_request_duration_seconds", GATE_HELP_LATENCY,
                          metrics_latency_ns, metrics_latency_count, "front", "policy", NULL);
    m->active =
        metrics_gauge(reg, "smtpgate_policy_connections", "Policy connections open now.", NULL);
    m->connections = metrics_counter(reg, "smtpgate_policy_connections_total",
                                     "Policy connections accepted.", NULL);
    m->refused = metrics_counter(reg, "smtpgate_refused_connections_total", GATE_HELP_REFUSED,
                                 "front", "policy", NULL);
    m->errors = metrics_counter(reg, "smtpgate_policy_protocol_errors_total",
                                "Policy connections closed for a protocol error.", NULL);
}

/* policyd_new - a server on loop deciding under cfg (checked) with grants */
struct policyd *policyd_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants)
{
    struct policyd *pd = xcalloc(1, sizeof(*pd));
    struct front_metrics fm;

    pd->loop = loop;
    pd->grants = grants;
    policyd_metrics_init(&pd->m);
    policyd_set_config(pd, cfg);
    fm.active = pd->m.active, fm.opened = pd->m.connections, fm.refused = pd->m.refused;
    front_init(&pd->front, loop, &policyd_front_ops, &fm, pd);
    return pd;
}

/* policyd_listen - accept connections on the listening socket fd (name for logs) */
int policyd_listen(struct policyd *pd, int fd, const char *name, char *err, size_t errlen)
{
    return front_listen(&pd->front, fd, name, err, errlen);
}

/* policyd_drain - stop accepting, answer what arrived, flush and close; see policyd.h */
void policyd_drain(struct policyd *pd, policyd_done_fn done, void *ctx)
{
    struct policyd_conn *c, *next;

    if (!front_drain(&pd->front, done, ctx))
        return;
    for (c = pd->conns; c != NULL; c = next) {
        next = c->next;
        /* answer what the kernel already holds, unless output is backed up or a decision
         * waits (then the connection closes once it is answered) */
        if (!ev_is_active(&c->write_w) && !c->wait.waiting && policyd_read(c) < 0)
            continue;
        c->eof = 1;
        ev_io_stop(pd->loop, &c->read_w);
        if (!ev_is_active(&c->write_w))
            policyd_flush(c);
    }
}

/* policyd_connections - connections open now */
size_t policyd_connections(const struct policyd *pd)
{
    return front_live(&pd->front);
}

/* policyd_free - close every connection and release pd; NULL is allowed */
void policyd_free(struct policyd *pd)
{
    if (pd == NULL)
        return;
    front_free(&pd->front);
    while (pd->conns != NULL)
        policyd_close(pd->conns);
    free(pd);
}
