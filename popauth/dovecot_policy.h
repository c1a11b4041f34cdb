/*
 * dovecot_policy - the Dovecot auth-policy source: an HTTP listener (libmicrohttpd, run by
 * popauth's event loop through its epoll descriptor) for Dovecot's auth policy client, so
 * that a login is granted as Dovecot authenticates it, with nothing to parse from a log.
 *
 * dovecot_policy_listen names the socket (inet:HOST:PORT, inet:[V6]:PORT or
 * unix:PATH[:mode=...], opened at start-up before root is dropped). Each request is
 * answered at once, never after a store write:
 *   - command=allow: 200 {"status":0,...} ("allow"), whatever the body: popauth never
 *     blocks a login;
 *   - command=report: a successful login (dovecot_report.h) is handed to the ingest core
 *     (ingest_offer: the same filters and writer as every source, source name
 *     "dovecot-policy", the grant dated when the request arrived) and answered 200; a
 *     report that grants nothing, 200; a malformed one, 400 with a fixed text saying why;
 *   - a wrong or missing secret (X-API-Key; required on an inet socket, checked on a unix
 *     one when dovecot_policy_secret is set): 401; a method other than POST: 405; a body
 *     over DOVECOT_REPORT_BODY_MAX: 413.
 * Connections are bounded (dovecot_policy_max_connections; idle ones close after
 * DOVECOT_POLICY_IDLE seconds; refusals are logged at most once a second). The
 * counters: lines (reports), logins (successful
 * reports), grants, rejected (401s) and errors (400, 405, 413, and grants dropped because
 * the store is behind), with popauth_dovecot_policy_requests_total{command,status}.
 * SIGHUP takes a new dovecot_policy_secret; the socket changes at a restart.
 */
#ifndef POPAUTH_DOVECOT_POLICY_H
#define POPAUTH_DOVECOT_POLICY_H

#include <stddef.h>

#include "popauth/source.h"
#include "shared/config.h"

#define DOVECOT_POLICY_SOURCE "dovecot-policy" /* the source and the grants' source name */
#define DOVECOT_POLICY_IDLE   15               /* seconds an idle connection is kept */

/* dovecot_policy_check - the problems of the dovecot_policy_* settings, without opening
 * anything; -1 and err if there is one */
int dovecot_policy_check(const struct config *cfg, char *err, size_t errlen);
/* dovecot_policy_check_file - -1 and err if dovecot_policy_secret is set and the
 * configuration file path (a regular file) is readable by every local user */
int dovecot_policy_check_file(const struct config *cfg, const char *path, char *err, size_t errlen);
/* dovecot_policy_new - the source, its socket open; NULL and err if it cannot be */
struct source *dovecot_policy_new(const struct config *cfg, char *err, size_t errlen);

#endif
