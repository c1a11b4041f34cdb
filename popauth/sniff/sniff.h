/*
 * sniff - the capture source: POP3/IMAP logins read off the wire with libpcap, live on
 * an interface (one source per sniff_interfaces entry, named "sniff:IFACE") or from a
 * pcap/pcapng file (sniff_file, named "sniff:file:PATH"). Frames go through the wire
 * pipeline (wire.h: decode, flow table, login detector); each login the server confirmed
 * goes to the ingest core as a login of source "sniff-pop3" or "sniff-imap", at the
 * packet's capture time; like a login read from a log it is counted, and logged only at
 * debug level (action=login ... grant=yes|no).
 *
 * Whose conversations count: those whose server is in sniff_servers; when that is empty,
 * a live capture takes this host's own addresses (getifaddrs, read when the source is
 * created and again at each reload), and a capture file is refused (it could hold
 * anyone's servers). This host's addresses and loopback interfaces also tell the
 * pipeline which conversations' recorded direction to judge (wire.h).
 *
 * The capture handle is opened when the source is created, which popauth does before it
 * drops root (run_user); start only adds watchers. Live handles: snapshot length 65535,
 * promiscuous as sniff_promiscuous, immediate delivery, a 4 MiB kernel buffer, non-
 * blocking, and a BPF filter built from sniff_ports (ports_filter). An interface is
 * captured through the "any" device as Linux cooked v2, with "ifindex N" in the filter,
 * so that each packet says whether it arrived or left (libpcap has no cooked mode on an
 * Ethernet device); a loopback interface (all its packets are this host's) and any
 * interface with sniff_promiscuous (which "any" lacks) are opened themselves, as is one
 * where libpcap refuses cooked v2 (with a warning). An ev_io on the handle's descriptor
 * reads what is there in batches, and a one-second timer sweeps idle conversations and
 * checks pcap_stats: when the kernel dropped packets, a warning names the interface and
 * the count, and the pipeline refuses the logins of every conversation open by then (the
 * kernel is asked again just before each login). Files are read without a filter (the
 * pipeline's own port check is the exact one): by popauth --once to their end; by the
 * daemon once, at start, in batches between commits, after which the source is finished
 * and its conversations are forgotten. libpcap opens every file and checks its header; a
 * classic pcap file (as tcpdump -w writes it) is then read here, in large reads into one
 * buffer, by libpcap's rules (pcapfile.h), and its frames are handed to the
 * pipeline in groups (wire_packets); pcapng and older formats are read by libpcap. A
 * file that ends inside a record, or holds a record longer than libpcap accepts, is read
 * up to there and reported as a read error. A link type the decoder does not know is a
 * start-up error.
 *
 * Counters (popauthctl stats): lines = TCP segments to or from a sniffed port, logins,
 * grants, errors = conversations that lost track. A capture has no position to save:
 * after a restart the file is read again, and live capture starts with what comes (a
 * conversation already open is followed from its next line, but grants nothing: see
 * pop3imap.h; its user's next login does).
 */
#ifndef POPAUTH_SNIFF_H
#define POPAUTH_SNIFF_H

#include <stddef.h>

#include "popauth/source.h"
#include "shared/config.h"

#define SNIFF_SOURCE_POP3 "sniff-pop3" /* struct login source of a sniffed POP3 login */
#define SNIFF_SOURCE_IMAP "sniff-imap" /* struct login source of a sniffed IMAP login */

/* sniff_interface_new - open live capture on ifname under cfg's sniff_* settings; NULL
 * and err naming the interface if it cannot be opened or its link type is unknown */
struct source *sniff_interface_new(const char *ifname, const struct config *cfg, char *err,
                                   size_t errlen);
/* sniff_file_new - open the capture file path; NULL and err naming it on failure */
struct source *sniff_file_new(const char *path, const struct config *cfg, char *err, size_t errlen);

#endif
