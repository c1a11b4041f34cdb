/*
 * pcapfile - the records of a classic pcap file, read from the caller's buffer without
 * I/O and without libpcap. The capture source (sniff.c) reads capture files in this
 * format itself, in large blocks, and hands whole runs of records to the pipeline
 * (wire_packets); the pcap fuzz target does the same.
 *
 * Classic pcap files (format 2.4, as tcpdump -w writes them: either byte order,
 * microsecond or nanosecond times) are read by libpcap's (1.10) rules for each record:
 * times are 32-bit seconds and fractions, signed in a file of this host's byte order and
 * unsigned in one of the other (nanoseconds are divided down to microseconds), a record
 * longer than PCAPFILE_MAX_CAPLEN is corrupt, and one longer than the file's snapshot
 * length is cut to it. Other formats (pcapng, older or modified pcap) go through
 * libpcap. The file header's link type and snapshot length are libpcap's to read.
 */
#ifndef POPAUTH_PCAPFILE_H
#define POPAUTH_PCAPFILE_H

#include <stddef.h>
#include <stdint.h>

#define PCAPFILE_HEADER     24     /* bytes of the file header */
#define PCAPFILE_RECORD     16     /* bytes of a record header */
#define PCAPFILE_MAX_CAPLEN 262144 /* libpcap's largest snapshot length */

/* How a classic pcap file stores its records. */
struct pcapfile {
    int swapped;      /* written in the other byte order */
    int nsec;         /* nanosecond time stamps */
    uint32_t snaplen; /* records are cut to this many bytes (1 to PCAPFILE_MAX_CAPLEN) */
};

/* One record of a classic pcap file. */
struct pcapfile_record {
    const uint8_t *frame; /* into the caller's buffer */
    size_t caplen, wirelen;
    int64_t usec; /* packet_time of its time stamp */
    size_t size;  /* bytes of the record in the file, its header included */
};

/* pcapfile_header - 0 and out->swapped, out->nsec if the len bytes at hdr start a
 * classic pcap file of format 2.4; -1 if they do not (out->snaplen is left alone) */
int pcapfile_header(const uint8_t *hdr, size_t len, struct pcapfile *out);
/* pcapfile_record - the record at buf[0..len): 1 and *out, 0 if it is not complete in
 * len bytes, -1 if its length is over PCAPFILE_MAX_CAPLEN (the file is corrupt) */
int pcapfile_record(const struct pcapfile *pc, const uint8_t *buf, size_t len,
                    struct pcapfile_record *out);

#endif
