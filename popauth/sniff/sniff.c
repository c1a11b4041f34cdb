/*
 * sniff - the capture source (see sniff.h): opens the libpcap handles, moves packets from
 * them into the wire pipeline, and hands the logins it confirms to the ingest core.
 *
 * The per-packet work is the pipeline's: the pcap callback only converts the capture
 * time. Counters are brought up to date once per dispatch call, not per packet. When
 * the ingest batch is full (the store is failing), the reading pauses (pcap_breakloop,
 * or wire_pause for a file read here) right after the packet that filled it, and
 * resumes when popauth's retry commits (drain); a live interface's kernel buffer
 * meanwhile fills and drops, which is counted and logged like any drop.
 *
 * A classic pcap file is read here rather than by libpcap, which would copy each packet
 * twice through stdio: pread into a buffer of SNIFF_FILE_BUFFER bytes, SNIFF_FILE_READ
 * at a time (what was just read is used while it is still in the cache), records
 * parsed in place and handed to the pipeline SNIFF_RECORDS at a time.
 */
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <pcap/pcap.h>

#include "popauth/ingest.h"
#include "popauth/sniff/packet.h"
#include "popauth/sniff/pcapfile.h"
#include "popauth/sniff/ports.h"
#include "popauth/sniff/sniff.h"
#include "popauth/sniff/wire.h"
#include "shared/cidr.h"
#include "shared/hash.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"

#define SNIFF_SNAPLEN     65535
#define SNIFF_BUFFER      (4 * 1024 * 1024) /* kernel capture buffer per interface */
#define SNIFF_FILE_BUFFER (512 * 1024)      /* read buffer of a capture file */
#define SNIFF_FILE_READ   (128 * 1024)      /* bytes read at a time */
#define SNIFF_RECORDS     64                /* records of a file handed over at once */
#define SNIFF_TICK        1.0               /* seconds between sweeps and drop checks (live) */
#define SNIFF_DROP_QUIET  10.0              /* seconds between two drop warnings of one interface */
#define SNIFF_BATCH_LIVE  10000             /* packets per read of a live handle */
#define SNIFF_BATCH_FILE  65536 /* packets per loop iteration for a file in daemon mode */
#define SNIFF_DRAIN_LIVE  64    /* reads of a live handle in one drain (popauth --once) */

struct sniff {
    struct source src; /* first: the ingest core sees only this */
    pcap_t *pcap;      /* NULL once a file is finished */
    struct wire *wire; /* NULL once a file is finished */
    int dlt;
    int live;
    int failed;             /* a live capture stopped with an error */
    char *device;           /* interface name or file path */
    uint8_t *iobuf;         /* file: the read buffer (own) or stdio's (libpcap) */
    int own;                /* file: a classic pcap read here, not by libpcap */
    int fd;                 /* own: the file (libpcap's FILE holds it open) */
    int eof;                /* own: the file was read to its end */
    int pause;              /* own: stop after this packet (the batch is full) */
    size_t have, pos;       /* own: bytes in iobuf, and where the next record is */
    off_t offset;           /* own: where the next read of the file starts */
    struct pcapfile format; /* own: how the file stores its records */
    char readerr[160];      /* own: why reading stopped with an error */
    struct wire_stats seen; /* what the counters already hold */
    struct sniff_metrics {  /* the pipeline's totals (the loop's thread writes) */
        struct metric *packets, *flows, *desynced, *evicted, *dropped, *opaque, *foreign;
        struct metric *tls, *logins;
    } m;                             /* registered at the first sniff_account */
    uint64_t lost, lost_shown;       /* logins not recorded: the batch was full */
    unsigned drop_base, ifdrop_base; /* pcap_stats at the last check */
    uint64_t dropped, ifdropped;     /* totals since the handle was opened */
    uint64_t drops_warned;           /* dropped + ifdropped at the last warning */
    uint64_t drops_noted;            /* dropped + ifdropped last told to the pipeline */
    double drop_warned;              /* ev_now of the last drop warning, 0 if none */
    struct cidr_list *self;          /* live: this host's addresses, read at start and reload */
    struct wire_hosts hosts;         /* whose conversations the pipeline follows */
    unsigned ifindex;                /* live, through "any": the interface's index, else 0 */
    struct ev_loop *loop;
    ev_io io_w;      /* live: the handle is readable */
    ev_timer tick_w; /* live: sweep, drops */
    ev_idle more_w;  /* file (daemon): read the next batch */
};

/* sniff_iobuf_drop - clear (it holds captured payload, passwords too) and release the
 * file read buffer; libpcap must be done with it */
static void sniff_iobuf_drop(struct sniff *s)
{
    if (s->iobuf != NULL) {
        explicit_bzero(s->iobuf, SNIFF_FILE_BUFFER);
        free(s->iobuf);
    }
    s->iobuf = NULL;
}

/* sniff_metric - register one series of the capture source name */
static struct metric *sniff_metric(const char *metric, const char *help, const char *name)
{
    return metrics_counter(metrics_process(), metric, help, "source", name, NULL);
}

/* sniff_metrics - set the source's series to the pipeline's totals in now */
static void sniff_metrics(struct sniff *s, const struct wire_stats *now)
{
    struct sniff_metrics *m = &s->m;

    if (m->packets == NULL) {
        const char *n = s->src.name;
        m->packets = sniff_metric("popauth_sniff_packets_total", "Frames captured.", n);
        m->flows = sniff_metric("popauth_sniff_flows_total", "TCP conversations followed.", n);
        m->desynced = sniff_metric("popauth_sniff_desynchronised_total",
                                   "Conversations that lost track (they grant nothing).", n);
        m->evicted = sniff_metric("popauth_sniff_evicted_total",
                                  "Conversations ended because the flow table was full.", n);
        m->dropped = sniff_metric("popauth_sniff_kernel_drops_total",
                                  "Packets the kernel or the interface dropped before popauth "
                                  "read them.",
                                  n);
        m->opaque = sniff_metric("popauth_sniff_opaque_total",
                                 "Packets that may hold TCP the decoder cannot reach.", n);
        m->foreign = sniff_metric("popauth_sniff_foreign_total",
                                  "Conversations with a server not in sniff_servers (ignored).", n);
        m->tls = sniff_metric("popauth_sniff_tls_total", "Conversations that switched to TLS.", n);
        m->logins = sniff_metric("popauth_sniff_logins_total", "Logins confirmed on the wire.", n);
    }
    metric_set(m->packets, (int64_t)now->packets);
    metric_set(m->flows, (int64_t)now->flows.flows);
    metric_set(m->desynced, (int64_t)now->desynced);
    metric_set(m->evicted, (int64_t)now->flows.evicted);
    metric_set(m->dropped, (int64_t)(s->dropped + s->ifdropped));
    metric_set(m->opaque, (int64_t)now->opaque);
    metric_set(m->foreign, (int64_t)now->foreign);
    metric_set(m->tls, (int64_t)now->tls);
    metric_set(m->logins, (int64_t)now->logins);
}

/* sniff_account - bring the source's counters up to the pipeline's */
static void sniff_account(struct sniff *s)
{
    struct wire_stats now;

    if (s->wire == NULL)
        return;
    wire_stats(s->wire, &now);
    sniff_metrics(s, &now);
    s->src.counters.lines += (int64_t)(now.segments - s->seen.segments);
    s->src.counters.errors += (int64_t)(now.desynced - s->seen.desynced);
    s->seen = now;
    if (s->lost > s->lost_shown) {
        log_warnx("source=%s action=drop-logins count=%llu reason=\"the store is failing and "
                  "the batch is full\"",
                  s->src.name, (unsigned long long)(s->lost - s->lost_shown));
        s->lost_shown = s->lost;
    }
}

/* sniff_break - stop reading after the current packet (the ingest batch is full) */
static void sniff_break(struct sniff *s)
{
    if (s->own) {
        s->pause = 1;
        wire_pause(s->wire);
    } else {
        pcap_breakloop(s->pcap);
    }
}

/* sniff_login - the pipeline confirmed a login: hand it to the ingest core */
static void sniff_login(void *ctx, const struct wire_login *wl)
{
    struct sniff *s = ctx;
    struct ingest *ing = s->src.ingest;
    struct login lg;

    if (ingest_full(ing)) { /* the store is failing and the batch is full: lost */
        s->lost++;
        sniff_break(s);
        return;
    }
    memset(&lg, 0, sizeof(lg));
    lg.client = *wl->client;
    util_strlcpy(lg.user, wl->user, sizeof(lg.user));
    lg.time = wl->usec / 1000000;
    lg.source = wl->proto == POP3IMAP_POP3 ? SNIFF_SOURCE_POP3 : SNIFF_SOURCE_IMAP;
    ingest_login(ing, &s->src, &lg, (int64_t)time(NULL)); /* it logs the login at debug level */
    if (ingest_full(ing))
        sniff_break(s); /* the commit failed: read no further until it works */
}

/* sniff_desync - a conversation lost track (debug log only: this is not rare) */
static void sniff_desync(void *ctx, const struct wire_conv *conv, const char *why)
{
    struct sniff *s = ctx;
    char addr[ADDR_STRLEN];

    if (log_level_current >= LOG_LEVEL_DEBUG)
        log_debug("source=%s action=desync client=%s client_port=%u port=%u reason=\"%s\"",
                  s->src.name, addr_format(conv->client, addr, sizeof(addr)),
                  (unsigned)conv->client_port, (unsigned)conv->server_port, why);
}

/* sniff_packet - pcap callback: one frame into the pipeline */
static void sniff_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *bytes)
{
    struct sniff *s = (struct sniff *)user;

    wire_packet(s->wire, bytes, h->caplen, h->len,
                packet_time((int64_t)h->ts.tv_sec, (int64_t)h->ts.tv_usec));
}

/* sniff_fill - own: move the unread bytes to the front of the buffer and read more after
 * them; 0, or -1 with readerr set */
static int sniff_fill(struct sniff *s)
{
    size_t room;
    ssize_t n;

    if (s->pos > 0) {
        memmove(s->iobuf, s->iobuf + s->pos, s->have - s->pos);
        s->have -= s->pos;
        s->pos = 0;
    }
    room = SNIFF_FILE_BUFFER - s->have; /* a long record takes several reads */
    if (room > SNIFF_FILE_READ)
        room = SNIFF_FILE_READ; /* what is read is soon used: keep it in the cache */
    do
        n = pread(s->fd, s->iobuf + s->have, room, s->offset);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        snprintf(s->readerr, sizeof(s->readerr), "error reading the file: %s", strerror(errno));
        return -1;
    }
    s->eof = n == 0;
    s->have += (size_t)n;
    s->offset += n;
    return 0;
}

/* sniff_own_dispatch - own: read up to count records (-1: to the end of the file, or a
 * pause) into the pipeline; pcap_dispatch's result: packets read, 0 at the end of the
 * file, -1 on an error (readerr) */
static int sniff_own_dispatch(struct sniff *s, int count)
{
    struct pcapfile_record rec[SNIFF_RECORDS];
    size_t k, taken, i, at;
    int n = 0, rc = 0;

    s->pause = 0;
    while ((count < 0 || n < count) && !s->pause) {
        /* the complete records in the buffer, up to SNIFF_RECORDS */
        for (k = 0, at = s->pos; k < SNIFF_RECORDS && (count < 0 || n + (int)k < count); k++) {
            rc = pcapfile_record(&s->format, s->iobuf + at, s->have - at, &rec[k]);
            if (rc <= 0)
                break;
            at += rec[k].size;
        }
        if (k > 0) {
            taken = wire_packets(s->wire, rec, k);
            for (i = 0; i < taken; i++)
                s->pos += rec[i].size;
            n += (int)taken;
            continue;
        }
        if (rc < 0) {
            snprintf(s->readerr, sizeof(s->readerr),
                     "a record is longer than %d bytes: the file is corrupt", PCAPFILE_MAX_CAPLEN);
            return -1;
        }
        if (s->eof) {
            if (s->pos == s->have)
                break;
            snprintf(s->readerr, sizeof(s->readerr),
                     "the file ends inside a record (only %zu bytes of it are there)",
                     s->have - s->pos);
            return -1;
        }
        if (sniff_fill(s) < 0)
            return -1;
    }
    return n;
}

/* sniff_dispatch - read up to count packets (-1: a bufferful, or a whole file); the
 * pcap_dispatch result */
static int sniff_dispatch(struct sniff *s, int count)
{
    int n = s->own ? sniff_own_dispatch(s, count)
                   : pcap_dispatch(s->pcap, count, sniff_packet, (u_char *)s);

    sniff_account(s);
    return n;
}

/* sniff_read_error - why reading s stopped with an error */
static const char *sniff_read_error(struct sniff *s)
{
    return s->own ? s->readerr : pcap_geterr(s->pcap);
}

/* sniff_summary - one line with what the source saw */
static void sniff_summary(struct sniff *s, const char *action)
{
    struct wire_stats st;

    if (s->wire == NULL)
        return;
    wire_stats(s->wire, &st);
    log_info("source=%s action=%s packets=%llu segments=%llu logins=%llu flows=%llu joined=%llu "
             "desynced=%llu tls=%llu evicted=%llu fragments=%llu opaque=%llu malformed=%llu "
             "dropped=%llu foreign=%llu",
             s->src.name, action, (unsigned long long)st.packets, (unsigned long long)st.segments,
             (unsigned long long)st.logins, (unsigned long long)st.flows.flows,
             (unsigned long long)st.flows.joined, (unsigned long long)st.desynced,
             (unsigned long long)st.tls, (unsigned long long)st.flows.evicted,
             (unsigned long long)st.fragments, (unsigned long long)st.opaque,
             (unsigned long long)st.malformed, (unsigned long long)(s->dropped + s->ifdropped),
             (unsigned long long)st.foreign);
}

/* sniff_file_end - a file was read to its end (or could not be read further): forget its
 * conversations, close it, and mark the source finished */
static void sniff_file_end(struct sniff *s)
{
    sniff_account(s);
    sniff_summary(s, "finish");
    if (s->loop != NULL)
        ev_idle_stop(s->loop, &s->more_w);
    wire_free(s->wire);
    s->wire = NULL;
    pcap_close(s->pcap); /* closes the file: its buffer can go */
    s->pcap = NULL;
    sniff_iobuf_drop(s);
    s->src.finished = 1;
}

/* sniff_file_read - read up to count packets (-1: to the end) while the ingest core takes
 * logins; 0, or -1 and err on a read error (the source is then finished) */
static int sniff_file_read(struct sniff *s, int count, char *err, size_t errlen)
{
    while (!s->src.finished && !ingest_full(s->src.ingest)) {
        int n = sniff_dispatch(s, count);

        if (n == 0) {
            sniff_file_end(s);
            return 0;
        }
        if (n == PCAP_ERROR_BREAK)
            continue; /* a pause asked for earlier: ingest_full decides */
        if (n < 0) {
            util_seterr(err, errlen, "%s: %s", s->src.name, sniff_read_error(s));
            sniff_file_end(s);
            return -1;
        }
        if (count > 0)
            return 0;
    }
    return 0;
}

/* sniff_more_cb - daemon: read the next batch of the file, one batch per loop iteration
 * so that commits happen in between */
static void sniff_more_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct sniff *s = w->data;
    char err[PCAP_ERRBUF_SIZE + 300];

    (void)revents;
    if (sniff_file_read(s, SNIFF_BATCH_FILE, err, sizeof(err)) < 0)
        log_error("source=%s action=read reason=\"%s\"", s->src.name, err);
    if (!s->src.finished && ingest_full(s->src.ingest))
        ev_idle_stop(loop, w); /* drain resumes it after a commit */
}

/* sniff_live_fail - a live capture failed (interface gone): stop reading it */
static void sniff_live_fail(struct sniff *s)
{
    log_error("source=%s action=capture status=failed reason=\"%s\" (no more logins from this "
              "interface until popauth restarts)",
              s->src.name, pcap_geterr(s->pcap));
    s->failed = 1;
    if (s->loop != NULL)
        ev_io_stop(s->loop, &s->io_w);
}

/* sniff_io_cb - a live handle is readable: read one batch (the loop comes back if more) */
static void sniff_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct sniff *s = w->data;

    (void)revents;
    if (ingest_full(s->src.ingest)) {
        ev_io_stop(loop, w); /* drain restarts it after a commit */
        return;
    }
    if (sniff_dispatch(s, SNIFF_BATCH_LIVE) == PCAP_ERROR)
        sniff_live_fail(s);
}

/* sniff_check_drops - count what the kernel and the interface dropped; warn when it grew
 * (at most once per SNIFF_DROP_QUIET seconds, with the growth since the last warning) */
static void sniff_check_drops(struct sniff *s, double now)
{
    struct pcap_stat ps;
    uint64_t total;

    if (pcap_stats(s->pcap, &ps) < 0)
        return;
    s->dropped += (unsigned)(ps.ps_drop - s->drop_base); /* unsigned: wrapping counters */
    s->ifdropped += (unsigned)(ps.ps_ifdrop - s->ifdrop_base);
    s->drop_base = ps.ps_drop;
    s->ifdrop_base = ps.ps_ifdrop;
    total = s->dropped + s->ifdropped;
    if (total != s->drops_noted) { /* some conversation open now may have lost a copy */
        wire_note_loss(s->wire, (int64_t)(now * 1e6));
        s->drops_noted = total;
    }
    if (total == s->drops_warned || (s->drop_warned > 0 && now - s->drop_warned < SNIFF_DROP_QUIET))
        return;
    log_warnx("source=%s action=capture interface=%s dropped=%llu total_dropped=%llu "
              "total_ifdropped=%llu reason=\"packets lost before popauth read them: the "
              "conversations they belonged to grant nothing\"",
              s->src.name, s->device, (unsigned long long)(total - s->drops_warned),
              (unsigned long long)s->dropped, (unsigned long long)s->ifdropped);
    s->drops_warned = total;
    s->drop_warned = now;
}

/* sniff_tick_cb - live, every second: sweep idle conversations, check drops */
static void sniff_tick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct sniff *s = w->data;

    (void)revents;
    if (s->failed)
        return;
    wire_expire(s->wire, (int64_t)(ev_now(loop) * 1e6));
    sniff_account(s);
    sniff_check_drops(s, ev_time());
}

/* sniff_before_login - the pipeline is about to confirm a login: a live capture first
 * asks the kernel whether it dropped packets since the last look */
static void sniff_before_login(void *ctx)
{
    struct sniff *s = ctx;

    if (s->live && !s->failed)
        sniff_check_drops(s, ev_time());
}

/* sniff_start - begin reading: a live handle when readable, a file in batches */
static int sniff_start(struct source *src, struct ev_loop *loop, char *err, size_t errlen)
{
    struct sniff *s = (struct sniff *)src;
    const char *link = pcap_datalink_val_to_name(s->dlt);

    (void)err, (void)errlen;
    s->loop = loop;
    if (!s->live) {
        log_info("source=%s action=start file=%s link=%s", src->name, s->device,
                 link != NULL ? link : "?");
        ev_idle_init(&s->more_w, sniff_more_cb);
        s->more_w.data = s;
        ev_idle_start(loop, &s->more_w);
        return 0;
    }
    log_info("source=%s action=start interface=%s%s link=%s", src->name, s->device,
             s->ifindex != 0 ? " through=any" : "", link != NULL ? link : "?");
    ev_io_init(&s->io_w, sniff_io_cb, pcap_get_selectable_fd(s->pcap), EV_READ);
    s->io_w.data = s;
    ev_io_start(loop, &s->io_w);
    ev_timer_init(&s->tick_w, sniff_tick_cb, SNIFF_TICK, SNIFF_TICK);
    s->tick_w.data = s;
    ev_timer_start(loop, &s->tick_w);
    return 0;
}

/* sniff_drain - popauth --once: read a file to its end, or what a live handle holds now;
 * daemon: resume reading after a pause for a full batch */
static int sniff_drain(struct source *src, char *err, size_t errlen)
{
    struct sniff *s = (struct sniff *)src;
    int i, n;

    if (s->src.finished || s->failed)
        return 0;
    if (s->loop != NULL) {
        if (s->live && !ev_is_active(&s->io_w))
            ev_io_start(s->loop, &s->io_w);
        if (!s->live && !ev_is_active(&s->more_w))
            ev_idle_start(s->loop, &s->more_w);
        return 0;
    }
    if (!s->live)
        return sniff_file_read(s, -1, err, errlen);
    for (i = 0; i < SNIFF_DRAIN_LIVE && !ingest_full(s->src.ingest); i++) {
        n = sniff_dispatch(s, SNIFF_BATCH_LIVE);
        if (n == 0)
            break;
        if (n == PCAP_ERROR) {
            util_seterr(err, errlen, "%s: %s", s->src.name, pcap_geterr(s->pcap));
            s->failed = 1;
            return -1;
        }
    }
    return 0;
}

/* sniff_free - close the handle and release the source (started or not) */
static void sniff_free(struct sniff *s)
{
    wire_free(s->wire);
    if (s->pcap != NULL)
        pcap_close(s->pcap);
    sniff_iobuf_drop(s);
    cidr_list_free(s->self);
    free(s->device);
    free(s);
}

/* sniff_stop - stop watching, log what was seen, close the handle, free the source */
static void sniff_stop(struct source *src, struct ev_loop *loop)
{
    struct sniff *s = (struct sniff *)src;

    if (loop != NULL && s->loop != NULL) {
        if (s->live) {
            ev_io_stop(loop, &s->io_w);
            ev_timer_stop(loop, &s->tick_w);
        } else {
            ev_idle_stop(loop, &s->more_w);
        }
    }
    sniff_account(s);
    sniff_summary(s, "stop");
    sniff_free(s);
}

/* sniff_loopback_add - remember the index of a loopback interface (once) */
static void sniff_loopback_add(struct wire_hosts *hosts, unsigned idx)
{
    size_t i;

    for (i = 0; i < hosts->nloopback; i++)
        if (hosts->loopback[i] == idx)
            return;
    if (hosts->nloopback < WIRE_MAX_LOOPBACK)
        hosts->loopback[hosts->nloopback++] = idx;
}

/* sniff_self_read - this host's addresses, as a new list, and the indexes of its loopback
 * interfaces into hosts; NULL and err if they cannot be read */
static struct cidr_list *sniff_self_read(struct wire_hosts *hosts, char *err, size_t errlen)
{
    struct ifaddrs *all, *ifa;
    struct cidr_list *list;
    char text[INET6_ADDRSTRLEN];
    unsigned idx;

    if (getifaddrs(&all) < 0) {
        util_seterr(err, errlen, "sniff_servers: cannot read this host's addresses: %s",
                    strerror(errno));
        return NULL;
    }
    list = cidr_list_new();
    hosts->nloopback = 0;
    for (ifa = all; ifa != NULL; ifa = ifa->ifa_next) {
        const struct sockaddr *sa = ifa->ifa_addr;
        const void *a;

        if (sa == NULL)
            continue;
        if ((ifa->ifa_flags & IFF_LOOPBACK) && (idx = if_nametoindex(ifa->ifa_name)) != 0)
            sniff_loopback_add(hosts, idx);
        if (sa->sa_family == AF_INET)
            a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
        else if (sa->sa_family == AF_INET6)
            a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        else
            continue;
        if (inet_ntop(sa->sa_family, a, text, sizeof(text)) != NULL)
            (void)cidr_list_add(list, text, strlen(text), err, errlen); /* cannot fail */
    }
    freeifaddrs(all);
    cidr_list_finish(list);
    return list;
}

/*
 * sniff_hosts - whose conversations s follows under cfg: sniff_servers, or (live, when it
 * is empty) this host's own addresses, read anew into s->self; -1 and err if they cannot
 * be read (s is then unchanged)
 */
static int sniff_hosts(struct sniff *s, const struct config *cfg, struct wire_hosts *hosts,
                       char *err, size_t errlen)
{
    struct cidr_list *self = NULL;

    memset(hosts, 0, sizeof(*hosts));
    hosts->servers = cfg->sniff_servers;
    if (s->live) {
        if ((self = sniff_self_read(hosts, err, errlen)) == NULL)
            return -1;
        cidr_list_free(s->self);
        s->self = self;
        hosts->local = self;
        if (cidr_list_count(cfg->sniff_servers) == 0)
            hosts->servers = self;
    } else if (cidr_list_count(cfg->sniff_servers) == 0) {
        return util_seterr(err, errlen,
                           "sniff_servers: empty; a capture file (sniff_file) needs the "
                           "addresses of the servers whose replies it may trust "
                           "(sniff_servers = ADDRESS[/PREFIX], ...)");
    }
    return 0;
}

/* sniff_reload - SIGHUP: follow the new config's sniff_servers (or this host's addresses,
 * read anew); the config must stay valid until the next reload or stop */
static int sniff_reload(struct source *src, const struct config *cfg, char *err, size_t errlen)
{
    struct sniff *s = (struct sniff *)src;
    struct wire_hosts hosts;
    int rc = 0;

    if (s->wire == NULL)
        return 0; /* a file already read */
    if (sniff_hosts(s, cfg, &hosts, err, errlen) < 0) {
        hosts = s->hosts; /* this host as it was read last; the old config's list goes */
        hosts.servers =
            s->live && cidr_list_count(cfg->sniff_servers) == 0 ? s->self : cfg->sniff_servers;
        rc = -1;
    }
    s->hosts = hosts;
    wire_set_hosts(s->wire, &hosts);
    return rc;
}

static const struct source_ops sniff_ops = {
    .start = sniff_start,
    .drain = sniff_drain,
    .reload = sniff_reload,
    .stop = sniff_stop,
};

/* sniff_new - the part common to both kinds: settings, and the source itself */
static struct sniff *sniff_new(const char *device, int live, const struct config *cfg,
                               struct ports *ports, char *err, size_t errlen)
{
    struct sniff *s;

    if (ports_parse(&cfg->sniff_ports, ports, err, errlen) < 0)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    snprintf(s->src.name, sizeof(s->src.name), "sniff:%s%s", live ? "" : "file:", device);
    s->src.ops = &sniff_ops;
    s->src.persistent = 0;
    s->device = xstrdup(device);
    s->live = live;
    return s;
}

/* sniff_link - check the handle's link type and build the pipeline for it */
static int sniff_link(struct sniff *s, const char *param, const struct config *cfg,
                      const struct ports *ports, char *err, size_t errlen)
{
    static const struct wire_events events = {
        .login = sniff_login, .desync = sniff_desync, .before_login = sniff_before_login};
    struct wire_limits limits;
    const char *name;

    s->dlt = pcap_datalink(s->pcap);
    if (!packet_link_supported(s->dlt)) {
        name = pcap_datalink_val_to_name(s->dlt);
        return util_seterr(err, errlen,
                           "%s: %s: link type %s (%d) is not supported (Ethernet, Linux cooked "
                           "v1/v2, raw IP, loopback)",
                           param, s->device, name != NULL ? name : "unknown", s->dlt);
    }
    limits.max_flows = (size_t)cfg->sniff_max_flows;
    limits.flow_timeout_usec = cfg->sniff_flow_timeout * 1000000;
    limits.max_line = (size_t)cfg->sniff_max_line;
    if (hash_seed(&limits.seed) < 0)
        return util_seterr(err, errlen, "%s: %s: cannot draw a random seed: %s", param, s->device,
                           strerror(errno));
    s->wire = wire_new(s->dlt, ports, &limits, &s->hosts, &events, s);
    return 0;
}

/* sniff_filter - compile the sniff_ports filter and set it on a live handle */
static int sniff_filter(struct sniff *s, const struct ports *ports, char *err, size_t errlen)
{
    char core[PORTS_FILTER_MAX], text[PORTS_FILTER_MAX + 32];
    struct bpf_program prog;

    if (ports_filter(ports, s->dlt, core, sizeof(core)) < 0)
        return util_seterr(err, errlen, "sniff_ports: the capture filter is too long");
    if (s->ifindex != 0) /* captured through "any": this interface's packets only */
        snprintf(text, sizeof(text), "ifindex %u and (%s)", s->ifindex, core);
    else
        snprintf(text, sizeof(text), "%s", core);
    if (pcap_compile(s->pcap, &prog, text, 1, PCAP_NETMASK_UNKNOWN) < 0)
        return util_seterr(err, errlen, "sniff_interfaces: %s: cannot compile the filter: %s",
                           s->device, pcap_geterr(s->pcap));
    if (pcap_setfilter(s->pcap, &prog) < 0) {
        util_seterr(err, errlen, "sniff_interfaces: %s: cannot set the filter: %s", s->device,
                    pcap_geterr(s->pcap));
        pcap_freecode(&prog);
        return -1;
    }
    pcap_freecode(&prog);
    return 0;
}

/* sniff_open - a live handle on device, activated with the capture settings; NULL and
 * err naming ifname (the interface asked for) if it cannot be had */
static pcap_t *sniff_open(const char *device, const char *ifname, const struct config *cfg,
                          char *err, size_t errlen)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    const char *why, *status;
    pcap_t *p;
    int rc;

    if ((p = pcap_create(device, errbuf)) == NULL) {
        util_seterr(err, errlen, "sniff_interfaces: %s: %s", ifname, errbuf);
        return NULL;
    }
    if (pcap_set_snaplen(p, SNIFF_SNAPLEN) != 0 ||
        pcap_set_promisc(p, cfg->sniff_promiscuous ? 1 : 0) != 0 ||
        pcap_set_immediate_mode(p, 1) != 0 || pcap_set_buffer_size(p, SNIFF_BUFFER) != 0) {
        util_seterr(err, errlen, "sniff_interfaces: %s: cannot set up the capture", ifname);
        pcap_close(p);
        return NULL;
    }
    if ((rc = pcap_activate(p)) < 0) {
        why = pcap_geterr(p), status = pcap_statustostr(rc);
        if (why[0] == '\0' || strcmp(why, status) == 0 || rc == PCAP_ERROR)
            util_seterr(err, errlen, "sniff_interfaces: cannot capture on %s: %s", ifname,
                        why[0] != '\0' ? why : status);
        else
            util_seterr(err, errlen, "sniff_interfaces: cannot capture on %s: %s (%s)", ifname,
                        status, why);
        pcap_close(p);
        return NULL;
    }
    if (rc > 0)
        log_warnx("source=sniff:%s action=open warning=\"%s\"", ifname, pcap_statustostr(rc));
    return p;
}

/*
 * sniff_cooked_index - the index of the interface s captures, if it is to be captured
 * through "any" as Linux cooked v2 (whose packet type says whether a packet arrived or
 * left), else 0: a loopback interface (every packet there is this host's own), an
 * interface in promiscuous mode ("any" has none), or one that does not exist (the open
 * names it)
 */
static unsigned sniff_cooked_index(const struct sniff *s, const struct config *cfg)
{
    unsigned idx = if_nametoindex(s->device);
    size_t i;

    if (cfg->sniff_promiscuous || idx == 0)
        return 0;
    for (i = 0; i < s->hosts.nloopback; i++)
        if (s->hosts.loopback[i] == idx)
            return 0;
    return idx;
}

/* sniff_interface_new - open live capture on ifname: through "any" as Linux cooked v2
 * where that tells directions (falling back to ifname itself, with a warning, where
 * libpcap cannot), else on ifname */
struct source *sniff_interface_new(const char *ifname, const struct config *cfg, char *err,
                                   size_t errlen)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    struct ports ports;
    struct sniff *s;
    int any;

    if ((s = sniff_new(ifname, 1, cfg, &ports, err, errlen)) == NULL)
        return NULL;
    if (sniff_hosts(s, cfg, &s->hosts, err, errlen) < 0)
        goto fail;
    any = strcmp(ifname, "any") == 0;
    s->ifindex = any ? 0 : sniff_cooked_index(s, cfg);
    if ((s->pcap = sniff_open(s->ifindex != 0 ? "any" : ifname, ifname, cfg, err, errlen)) == NULL)
        goto fail;
    if ((any || s->ifindex != 0) && pcap_set_datalink(s->pcap, PACKET_DLT_LINUX_SLL2) < 0) {
        log_warnx("source=%s action=open warning=\"cannot capture as Linux cooked v2 (%s): the "
                  "direction of packets is unknown, so a forged server reply arriving from "
                  "outside cannot be told from a real one\"",
                  s->src.name, pcap_geterr(s->pcap));
        if (s->ifindex != 0) {
            pcap_close(s->pcap);
            s->ifindex = 0;
            if ((s->pcap = sniff_open(ifname, ifname, cfg, err, errlen)) == NULL)
                goto fail;
        }
    }
    if (sniff_link(s, "sniff_interfaces", cfg, &ports, err, errlen) < 0 ||
        sniff_filter(s, &ports, err, errlen) < 0)
        goto fail;
    if (pcap_setnonblock(s->pcap, 1, errbuf) < 0) {
        util_seterr(err, errlen, "sniff_interfaces: %s: %s", ifname, errbuf);
        goto fail;
    }
    if (pcap_get_selectable_fd(s->pcap) < 0) {
        util_seterr(err, errlen, "sniff_interfaces: %s: no descriptor to wait on", ifname);
        goto fail;
    }
    return &s->src;
fail:
    sniff_free(s);
    return NULL;
}

/* sniff_file_new - open the capture file path (pcap or pcapng) */
struct source *sniff_file_new(const char *path, const struct config *cfg, char *err, size_t errlen)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    uint8_t head[PCAPFILE_HEADER];
    struct ports ports;
    struct sniff *s;
    FILE *fp;
    int snap;

    if ((s = sniff_new(path, 0, cfg, &ports, err, errlen)) == NULL)
        return NULL;
    if ((fp = fopen(path, "rbe")) == NULL) {
        util_seterr(err, errlen, "sniff_file: cannot read %s: %s", path, strerror(errno));
        goto fail;
    }
    /* A classic pcap file is read here, in large reads straight into one buffer;
     * libpcap would copy every packet twice through stdio. libpcap still checks its
     * header and gives its link type and snapshot length. Other formats get libpcap,
     * with a large stdio buffer. */
    s->fd = fileno(fp);
    s->iobuf = xmalloc(SNIFF_FILE_BUFFER);
    s->own = pread(s->fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
             pcapfile_header(head, sizeof(head), &s->format) == 0;
    if (!s->own) /* glibc ignores the size without a buffer */
        setvbuf(fp, (char *)s->iobuf, _IOFBF, SNIFF_FILE_BUFFER);
    if ((s->pcap = pcap_fopen_offline(fp, errbuf)) == NULL) {
        fclose(fp);
        util_seterr(err, errlen, "sniff_file: cannot read %s: %s", path, errbuf);
        goto fail;
    }
    if (sniff_hosts(s, cfg, &s->hosts, err, errlen) < 0 ||
        sniff_link(s, "sniff_file", cfg, &ports, err, errlen) < 0)
        goto fail;
    if (s->own) {
        snap = pcap_snapshot(s->pcap);
        s->format.snaplen =
            snap > 0 && snap < PCAPFILE_MAX_CAPLEN ? (uint32_t)snap : PCAPFILE_MAX_CAPLEN;
        s->offset = PCAPFILE_HEADER;
        (void)posix_fadvise(s->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    }
    return &s->src;
fail:
    sniff_free(s);
    return NULL;
}
