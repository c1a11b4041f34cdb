/*
 * smtpgate_start - what smtpgate needs of its settings before it serves: at least one
 * front (policy_listen, proxy_listen), every listening entry usable as listen_open would
 * take it (listen.h), the policy server's action texts and the proxy's settings, its
 * backend included. smtpgate checks a new config with it at start-up and at SIGHUP, and
 * so do `smtpgate -t` and `popauthctl config --check`, so that what they accept is what
 * smtpgate starts with. run_user is checked by check_run_user (shared/check.h).
 */
#ifndef POPAUTH_SMTPGATE_START_H
#define POPAUTH_SMTPGATE_START_H

#include "shared/check.h"
#include "shared/config.h"

/* smtpgate_start_check - report to c every problem smtpgate would refuse in cfg */
void smtpgate_start_check(const struct config *cfg, struct check *c);

#endif
