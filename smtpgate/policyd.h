/*
 * policyd - the Postfix policy-delegation server: a front (front.h) on the listening
 * sockets it is given; it parses requests with policy_feed, decides RCPT requests with
 * gate_decide (gate.h), logs each with gate_log, and answers with one of the configured
 * action texts.
 *
 * Each connection has one struct holding its read and write watchers, its idle timer
 * (re-armed with ev_timer_again on every read or write progress), its parser and its
 * output buffer. Input is read in 64 KiB chunks into one buffer shared by all
 * connections (the parser keeps what it needs), every complete request in a chunk is
 * answered in order into the output buffer, and the output is written once per read
 * event; while output is pending, reading pauses. Limits: policy_max_connections at once
 * (more are accepted and closed at once, logged at most once a second), policy_idle_timeout
 * without progress, and the parser's limits (a protocol error closes the connection
 * without a reply and logs why).
 *
 * Ownership: the config passed to policyd_new or policyd_set_config must stay alive
 * until the next policyd_set_config or policyd_free; the grants handle belongs to the
 * caller. Listening descriptors stay the caller's: policyd only watches them.
 */
#ifndef POPAUTH_POLICYD_H
#define POPAUTH_POLICYD_H

#include <stddef.h>

#include <ev.h>

#include "shared/config.h"
#include "smtpgate/front.h"
#include "smtpgate/grants.h"

#define POLICYD_MAX_LISTENERS FRONT_MAX_LISTENERS
#define POLICYD_ACTION_MAX    512 /* bytes of a configured action text */
#define POLICYD_READ_CHUNK    65536
#define POLICYD_DRAIN_TIMEOUT 5.0 /* seconds a stopping server waits for output to flush */

struct policyd; /* opaque */

/* policyd_done_fn - called once a draining server has closed its last connection */
typedef void (*policyd_done_fn)(void *ctx);

/* policyd_check_config - 0 if cfg's policy_*_action texts are usable; -1 and err if not */
int policyd_check_config(const struct config *cfg, char *err, size_t errlen);
/* policyd_new - a server on loop deciding under cfg (checked) with grants */
struct policyd *policyd_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants);
/* policyd_listen - accept connections on the listening socket fd (name for logs) */
int policyd_listen(struct policyd *pd, int fd, const char *name, char *err, size_t errlen);
/* policyd_set_config - decide the next requests under cfg (checked); connections stay */
void policyd_set_config(struct policyd *pd, const struct config *cfg);
/*
 * policyd_drain - stop accepting, answer the complete requests already received, flush
 * and close every connection (forcibly after POLICYD_DRAIN_TIMEOUT), then call done.
 * The caller may close the listening descriptors once this returns.
 */
void policyd_drain(struct policyd *pd, policyd_done_fn done, void *ctx);
/* policyd_connections - connections open now */
size_t policyd_connections(const struct policyd *pd);
/* policyd_free - close every connection and release pd; NULL is allowed */
void policyd_free(struct policyd *pd);

#endif
