/*
 * notify - tell the service manager what a daemon is doing, over sd_notify, for systemd's
 * Type=notify units: READY=1 once the daemon serves, RELOADING=1 when a SIGHUP reload
 * starts and READY=1 when it is over (with a STATUS= line saying whether the new config
 * was taken), STOPPING=1 when SIGTERM or SIGINT arrives. Every message is a fixed text:
 * nothing from the config or from requests goes into it. Without NOTIFY_SOCKET in the
 * environment (not started by systemd) every call does nothing; a failure to send is
 * ignored, since the daemon serves either way.
 */
#ifndef POPAUTH_NOTIFY_H
#define POPAUTH_NOTIFY_H

/* notify_ready - the daemon serves: READY=1 and a STATUS= line saying so */
void notify_ready(void);
/* notify_reloading - a SIGHUP reload starts: RELOADING=1 (with MONOTONIC_USEC=) */
void notify_reloading(void);
/* notify_reloaded - the reload is over: READY=1 and a STATUS= line saying whether the new
 * config was taken (taken != 0) or refused and the running one kept */
void notify_reloaded(int taken);
/* notify_stopping - SIGTERM or SIGINT: STOPPING=1 */
void notify_stopping(void);

#endif
