/*
 * pcapfile - classic pcap file headers and records (see pcapfile.h). Every field is read
 * with memcpy and swapped when the file was written in the other byte order, so the
 * buffer needs no alignment; a record is only looked at once its header and captured
 * bytes are all in the buffer.
 */
#include <string.h>

#include "popauth/sniff/packet.h"
#include "popauth/sniff/pcapfile.h"

/* pcapfile_get32 - the 32-bit value at p, in the file's byte order */
static uint32_t pcapfile_get32(const uint8_t *p, int swapped)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap32(v) : v;
}

/* pcapfile_get16 - the 16-bit value at p, in the file's byte order */
static uint16_t pcapfile_get16(const uint8_t *p, int swapped)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return swapped ? __builtin_bswap16(v) : v;
}

/* pcapfile_header - recognise a classic pcap file of format 2.4 */
int pcapfile_header(const uint8_t *hdr, size_t len, struct pcapfile *out)
{
    static const uint32_t magic[2] = {0xa1b2c3d4, 0xa1b23c4d}; /* micro-, nanoseconds */
    uint32_t m;
    int swapped, k;

    if (len < PCAPFILE_HEADER)
        return -1;
    for (swapped = 0; swapped < 2; swapped++) {
        m = pcapfile_get32(hdr, swapped);
        for (k = 0; k < 2; k++) {
            if (m != magic[k])
                continue;
            if (pcapfile_get16(hdr + 4, swapped) != 2 || pcapfile_get16(hdr + 6, swapped) != 4)
                return -1; /* another version: libpcap knows its quirks */
            out->swapped = swapped;
            out->nsec = k == 1;
            return 0;
        }
    }
    return -1;
}

/* pcapfile_record - one record of a classic pcap file; see pcapfile.h */
int pcapfile_record(const struct pcapfile *pc, const uint8_t *buf, size_t len,
                    struct pcapfile_record *out)
{
    uint32_t sec, frac, caplen;
    int64_t s64, f64;

    if (len < PCAPFILE_RECORD)
        return 0;
    caplen = pcapfile_get32(buf + 8, pc->swapped);
    if (caplen > PCAPFILE_MAX_CAPLEN)
        return -1;
    if (len - PCAPFILE_RECORD < caplen)
        return 0;
    sec = pcapfile_get32(buf, pc->swapped);
    frac = pcapfile_get32(buf + 4, pc->swapped);
    if (pc->swapped) { /* libpcap: unsigned in a swapped file, signed in a native one */
        s64 = sec;
        f64 = frac;
    } else {
        s64 = (int32_t)sec;
        f64 = (int32_t)frac;
    }
    if (pc->nsec)
        f64 /= 1000;
    out->frame = buf + PCAPFILE_RECORD;
    out->caplen = caplen < pc->snaplen ? caplen : pc->snaplen;
    out->wirelen = pcapfile_get32(buf + 12, pc->swapped);
    out->usec = packet_time(s64, f64);
    out->size = PCAPFILE_RECORD + (size_t)caplen;
    return 1;
}
