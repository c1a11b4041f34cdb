/*
 * torture_pcapfile - unit tests for popauth/sniff/pcapfile.c: which file headers are read
 * here and how (byte order, precision, versions left to libpcap), records complete or
 * not, cut to the snapshot length, too long, and their times; and every record of files
 * in both byte orders and both precisions read as libpcap itself reads it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <pcap/pcap.h>

#include "popauth/sniff/packet.h"
#include "popauth/sniff/pcapfile.h"
#include "shared/util.h"
#include "tests/unit/be_bytes.h"

/* pcapfile_t_put - 32 bits in little-endian (be = 0) or big-endian order */
static void pcapfile_t_put(uint8_t *p, uint32_t v, int be)
{
    if (be) {
        be_put32(p, v);
    } else {
        p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16);
        p[3] = (uint8_t)(v >> 24);
    }
}

/* pcapfile_t_file_header - a classic pcap file header */
static void pcapfile_t_file_header(uint8_t *p, uint32_t magic, int be, unsigned major,
                                   unsigned minor, uint32_t snaplen, uint32_t linktype)
{
    memset(p, 0, PCAPFILE_HEADER);
    pcapfile_t_put(p, magic, be);
    if (be) {
        be_put16(p + 4, major);
        be_put16(p + 6, minor);
    } else {
        p[4] = (uint8_t)major, p[6] = (uint8_t)minor;
    }
    pcapfile_t_put(p + 16, snaplen, be);
    pcapfile_t_put(p + 20, linktype, be);
}

/* pcapfile_t_host_be - 1 if this host is big-endian */
static int pcapfile_t_host_be(void)
{
    const uint16_t one = 1;

    return *(const uint8_t *)&one == 0;
}

/* test_pcapfile_header - which headers are read here, and how */
static void test_pcapfile_header(void **state)
{
    static const struct {
        uint32_t magic;
        int be;
        unsigned major, minor;
        int ok, nsec;
    } cases[] = {
        {0xa1b2c3d4, 0, 2, 4, 1, 0},   {0xa1b2c3d4, 1, 2, 4, 1, 0}, {0xa1b23c4d, 0, 2, 4, 1, 1},
        {0xa1b23c4d, 1, 2, 4, 1, 1},   {0xa1b2c3d4, 0, 2, 3, 0, 0}, {0xa1b2c3d4, 1, 2, 2, 0, 0},
        {0xa1b2c3d4, 0, 543, 0, 0, 0}, {0xa1b2cd34, 0, 2, 4, 0, 0}, /* Kuznetzov's */
        {0x0a0d0d0a, 0, 1, 0, 0, 0},                                /* pcapng */
        {0xa12b3c4d, 0, 2, 4, 0, 0},                                /* Navtel */
    };
    uint8_t h[PCAPFILE_HEADER];
    struct pcapfile pc;
    size_t i;

    (void)state;
    for (i = 0; i < UTIL_ARRAY_LEN(cases); i++) {
        memset(&pc, 0x55, sizeof(pc));
        pcapfile_t_file_header(h, cases[i].magic, cases[i].be, cases[i].major, cases[i].minor,
                               65535, 1);
        assert_int_equal(pcapfile_header(h, sizeof(h), &pc), cases[i].ok ? 0 : -1);
        if (!cases[i].ok)
            continue;
        assert_int_equal(pc.swapped, cases[i].be != pcapfile_t_host_be());
        assert_int_equal(pc.nsec, cases[i].nsec);
        assert_int_equal(pcapfile_header(h, sizeof(h) - 1, &pc), -1);
    }
}

/* pcapfile_t_record - append a record to buf at *off: times, lengths, then caplen bytes */
static void pcapfile_t_record(uint8_t *buf, size_t *off, int be, uint32_t sec, uint32_t frac,
                              uint32_t caplen, uint32_t len)
{
    size_t i;

    pcapfile_t_put(buf + *off, sec, be);
    pcapfile_t_put(buf + *off + 4, frac, be);
    pcapfile_t_put(buf + *off + 8, caplen, be);
    pcapfile_t_put(buf + *off + 12, len, be);
    for (i = 0; i < caplen; i++)
        buf[*off + PCAPFILE_RECORD + i] = (uint8_t)(i * 7 + caplen);
    *off += PCAPFILE_RECORD + caplen;
}

/* test_pcapfile_record - records as libpcap reads them: complete or not, cut to the
 * snapshot length, too long, and their times */
static void test_pcapfile_record(void **state)
{
    static uint8_t buf[PCAPFILE_MAX_CAPLEN + 2 * PCAPFILE_RECORD + 200];
    struct pcapfile pc = {!pcapfile_t_host_be(), 0, 100};
    struct pcapfile_record r;
    size_t off = 0, n;

    (void)state;
    pcapfile_t_record(buf, &off, 1, 1700000000, 123456, 60, 1514);
    n = off;
    assert_int_equal(pcapfile_record(&pc, buf, n, &r), 1);
    assert_ptr_equal(r.frame, buf + PCAPFILE_RECORD);
    assert_int_equal(r.caplen, 60);
    assert_int_equal(r.wirelen, 1514);
    assert_int_equal(r.usec, 1700000000123456LL);
    assert_int_equal(r.size, PCAPFILE_RECORD + 60);
    assert_int_equal(pcapfile_record(&pc, buf, n - 1, &r), 0);
    assert_int_equal(pcapfile_record(&pc, buf, PCAPFILE_RECORD - 1, &r), 0);
    pc.nsec = 1; /* nanoseconds, divided down */
    assert_int_equal(pcapfile_record(&pc, buf, n, &r), 1);
    assert_int_equal(r.usec, 1700000000000123LL);
    pc.nsec = 0;

    off = 0; /* longer than the snapshot length: cut, and the rest skipped */
    pcapfile_t_record(buf, &off, 1, 5, 0, 150, 150);
    assert_int_equal(pcapfile_record(&pc, buf, off, &r), 1);
    assert_int_equal(r.caplen, 100);
    assert_int_equal(r.wirelen, 150);
    assert_int_equal(r.size, PCAPFILE_RECORD + 150);

    off = 0; /* 2^31 seconds: in 2038 in a swapped file, before 1970 (0) in a native one */
    pcapfile_t_record(buf, &off, 1, 0x80000000u, 5, 1, 1);
    assert_int_equal(pcapfile_record(&pc, buf, off, &r), 1);
    assert_int_equal(r.usec, pc.swapped ? 0x80000000LL * 1000000 + 5 : 0);
    off = 0;
    pcapfile_t_record(buf, &off, !pc.swapped, 0x80000000u, 5, 1, 1);
    pc.swapped = !pc.swapped;
    assert_int_equal(pcapfile_record(&pc, buf, off, &r), 1);
    assert_int_equal(r.usec, pc.swapped ? 0x80000000LL * 1000000 + 5 : 0);
    pc.swapped = !pc.swapped;
    off = 0;
    pcapfile_t_record(buf, &off, 1, 7, 2000000, 1, 1); /* a fraction over a second: clamped */
    assert_int_equal(pcapfile_record(&pc, buf, off, &r), 1);
    assert_int_equal(r.usec, 7999999);

    pc.snaplen = PCAPFILE_MAX_CAPLEN;
    off = 0; /* the largest record libpcap reads; one byte more is a corrupt file */
    pcapfile_t_record(buf, &off, 1, 1, 0, PCAPFILE_MAX_CAPLEN, PCAPFILE_MAX_CAPLEN);
    assert_int_equal(pcapfile_record(&pc, buf, off, &r), 1);
    assert_int_equal(r.caplen, PCAPFILE_MAX_CAPLEN);
    off = 0;
    pcapfile_t_record(buf, &off, 1, 1, 0, PCAPFILE_MAX_CAPLEN + 1, 10);
    assert_int_equal(pcapfile_record(&pc, buf, off, &r), -1);
    assert_int_equal(pcapfile_record(&pc, buf, PCAPFILE_RECORD, &r), -1); /* known at once */
}

/* test_pcapfile_like_libpcap - files in both byte orders and both precisions, with
 * records cut to the snapshot length and odd times: every record as libpcap reads it */
static void test_pcapfile_like_libpcap(void **state)
{
    static uint8_t file[1 << 16];
    static const uint32_t times[][2] = {{1700000000, 999999}, {0, 0},           {0x7fffffff, 1},
                                        {0x80000000u, 7},     {3, 0xffffffffu}, {9, 1999999999}};
    int be, nsec;

    (void)state;
    for (be = 0; be < 2; be++) {
        for (nsec = 0; nsec < 2; nsec++) {
            char errbuf[PCAP_ERRBUF_SIZE];
            struct pcap_pkthdr *h;
            const u_char *data;
            struct pcapfile pc;
            struct pcapfile_record r;
            size_t off = PCAPFILE_HEADER, pos = PCAPFILE_HEADER, i;
            FILE *fp;
            pcap_t *p;
            int rc;

            pcapfile_t_file_header(file, nsec ? 0xa1b23c4d : 0xa1b2c3d4, be, 2, 4, 96, 1);
            for (i = 0; i < UTIL_ARRAY_LEN(times); i++)
                pcapfile_t_record(file, &off, be, times[i][0], times[i][1], (uint32_t)(40 + 30 * i),
                                  (uint32_t)(60 + 30 * i));
            assert_int_equal(pcapfile_header(file, off, &pc), 0);
            fp = fmemopen(file, off, "rb");
            assert_non_null(fp);
            p = pcap_fopen_offline(fp, errbuf);
            assert_non_null(p);
            pc.snaplen = (uint32_t)pcap_snapshot(p);
            assert_int_equal(pc.snaplen, 96);
            for (i = 0; (rc = pcap_next_ex(p, &h, &data)) == 1; i++) {
                assert_int_equal(pcapfile_record(&pc, file + pos, off - pos, &r), 1);
                assert_int_equal(r.caplen, h->caplen);
                assert_int_equal(r.wirelen, h->len);
                assert_int_equal(r.usec,
                                 packet_time((int64_t)h->ts.tv_sec, (int64_t)h->ts.tv_usec));
                assert_memory_equal(r.frame, data, h->caplen);
                pos += r.size;
            }
            assert_int_equal(rc, PCAP_ERROR_BREAK); /* the end of the file */
            assert_int_equal(i, UTIL_ARRAY_LEN(times));
            assert_int_equal(pos, off);
            pcap_close(p);
        }
    }
}

/* main - run every test */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pcapfile_header),
        cmocka_unit_test(test_pcapfile_record),
        cmocka_unit_test(test_pcapfile_like_libpcap),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
