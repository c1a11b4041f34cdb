/*
 * milterd - the milter front: a front (front.h) on the listening sockets of
 * milter_listen that speaks the milter protocol (milter.h) to Sendmail or Postfix, decides
 * each recipient with gate_decide (gate.h) for the client address of the connection,
 * logs each decision with gate_log, and answers accept (a permit: for the rest of the
 * message), continue (a local recipient) or a 554/451 reply for that recipient alone.
 * The MTA keeps SMTP, TLS and AUTH; nothing of the mail passes here.
 *
 * Each MTA connection (one per SMTP session) has one struct holding its read and write
 * watchers, its idle timer, its protocol state and its input and output buffers. Input
 * is read into the connection's buffer (grown up to one whole packet, MILTER_PACKET_MAX),
 * every whole packet is taken in order, and the replies are written once per read
 * event; while output is pending, reading pauses. Limits: milter_max_connections at
 * once (more are accepted and closed at once, logged at most once a second; the MTA then
 * applies its default action), milter_idle_timeout without a packet, and the protocol's
 * bounds (a protocol error closes the connection and logs why).
 *
 * Drain (SIGTERM): stop accepting, keep serving the open connections until the MTA ends
 * them (its SMTP session ends) or MILTERD_DRAIN_TIMEOUT passes, then close what is left.
 *
 * Ownership: as policyd.h: the config stays alive until the next milterd_set_config or
 * milterd_free; the grants handle and the listening descriptors stay the caller's.
 */
#ifndef POPAUTH_MILTERD_H
#define POPAUTH_MILTERD_H

#include <stddef.h>

#include <ev.h>

#include "shared/config.h"
#include "smtpgate/front.h"
#include "smtpgate/grants.h"

#define MILTERD_MAX_LISTENERS FRONT_MAX_LISTENERS
#define MILTERD_DRAIN_TIMEOUT 10.0 /* seconds a stopping front waits for the MTA's sessions */

struct milterd; /* opaque */

/* milterd_check_config - 0 if cfg suits the milter front; -1 and err if not */
int milterd_check_config(const struct config *cfg, char *err, size_t errlen);
/* milterd_new - a milter front on loop deciding under cfg (checked) with grants */
struct milterd *milterd_new(struct ev_loop *loop, const struct config *cfg, struct grants *grants);
/* milterd_listen - accept connections on the listening socket fd (name for logs) */
int milterd_listen(struct milterd *md, int fd, const char *name, char *err, size_t errlen);
/* milterd_set_config - decide the next recipients under cfg (checked); connections stay */
void milterd_set_config(struct milterd *md, const struct config *cfg);
/* milterd_drain - stop accepting; call done once the last connection has closed */
void milterd_drain(struct milterd *md, front_done_fn done, void *ctx);
/* milterd_connections - connections open now */
size_t milterd_connections(const struct milterd *md);
/* milterd_free - close every connection and release md; NULL is allowed */
void milterd_free(struct milterd *md);

#endif
