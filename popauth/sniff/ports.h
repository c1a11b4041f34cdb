/*
 * ports - the sniffed server ports and the capture filter built from them, without I/O.
 *
 * sniff_ports lists the server ports to watch and the protocol spoken on each
 * ("pop3:110", "imap:143", ...); ports_parse reads it once, at start-up and by the
 * start-up checks, and the pipeline (wire.h) tells a segment's side by these ports.
 *
 * The capture filter (ports_filter) only lets through what may matter: TCP on the
 * sniffed ports, IP fragments and IPv6 packets with extension headers (so that they
 * are decoded and counted), and on Ethernet the same inside one or two VLAN tags. The
 * exact port check is the pipeline's, after decoding.
 */
#ifndef POPAUTH_PORTS_H
#define POPAUTH_PORTS_H

#include <stddef.h>
#include <stdint.h>

#include "popauth/sniff/pop3imap.h"
#include "shared/config.h"

#define PORTS_MAX        32   /* entries in sniff_ports */
#define PORTS_FILTER_MAX 8192 /* bytes of a capture filter expression, NUL included */

/* The sniffed server ports and the protocol spoken on each. */
struct ports {
    size_t count;
    uint16_t port[PORTS_MAX];
    enum pop3imap_proto proto[PORTS_MAX];
};

/*
 * ports_parse - the sniff_ports list ("pop3:110", "imap:143", ...) into out; -1 and err
 * naming the parameter and the entry if an entry is bad, a port repeats or the list is
 * empty or too long
 */
int ports_parse(const struct strlist *list, struct ports *out, char *err, size_t errlen);
/* ports_filter - the capture filter expression for ports on link type dlt, into buf;
 * -1 if it does not fit in len bytes */
int ports_filter(const struct ports *ports, int dlt, char *buf, size_t len);

#endif
