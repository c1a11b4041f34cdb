/*
 * notify - readiness, reload and stop notifications to the service manager (see
 * notify.h), a thin layer over libsystemd's sd_notify, which does nothing without
 * NOTIFY_SOCKET.
 */
#include <inttypes.h>
#include <stdint.h>
#include <time.h>

#include <systemd/sd-daemon.h>

#include "shared/notify.h"

/* notify_send - send one message; errors are ignored (the daemon serves either way) */
static void notify_send(const char *state)
{
    (void)sd_notify(0, state);
}

/* notify_ready - the daemon serves */
void notify_ready(void)
{
    notify_send("READY=1\nSTATUS=serving");
}

/* notify_reloading - a SIGHUP reload starts */
void notify_reloading(void)
{
    struct timespec ts;
    uint64_t usec;

    if (clock_gettime(CLOCK_MONOTONIC, &ts) < 0) {
        notify_send("RELOADING=1\nSTATUS=reloading the configuration");
        return;
    }
    usec = (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
    (void)sd_notifyf(0, "RELOADING=1\nSTATUS=reloading the configuration\nMONOTONIC_USEC=%" PRIu64,
                     usec);
}

/* notify_reloaded - the reload is over, the new config taken or refused */
void notify_reloaded(int taken)
{
    if (taken)
        notify_send("READY=1\nSTATUS=serving; configuration reloaded");
    else
        notify_send("READY=1\nSTATUS=serving; reload refused, the running configuration "
                    "kept (see the log)");
}

/* notify_stopping - SIGTERM or SIGINT */
void notify_stopping(void)
{
    notify_send("STOPPING=1\nSTATUS=stopping");
}
