/*
 * push_load - drives popauth's Dovecot auth-policy listener for scripts/bench-push, as
 * Dovecot's auth policy client would: CLIENTS threads, each with one keep-alive HTTP/1.1
 * connection, send "POST /?command=COMMAND" requests (X-API-Key, the JSON body Dovecot
 * 2.3 sends with INSTALL 5.5's attributes) back to back, one in flight per connection:
 * write the request, read the whole response (by its Content-Length), check that it is
 * 200 {"status":0,"msg":""}, then send the next. Every request names a fresh client
 * address, 10.0.0.0/8 from ADDR_BASE on, so that every report is a new grant and a store
 * write. With -r RATE the load is paced instead: each connection sends its next request
 * at its share of RATE requests/s (CLIENTS / RATE seconds after its previous one was
 * due; at once if that time has passed), so the connections together offer RATE
 * requests/s for as long as popauth keeps up.
 *
 * With -d DATABASE, a prober thread on a connection of its own measures the latency
 * from Dovecot's authentication to the grant: every INTERVAL ms while the load runs it
 * takes t0 (CLOCK_MONOTONIC), writes a report for a fresh address (198.18.0.0/15 from
 * PROBE_BASE on), reads the answer, then polls the store through its own read-only handle
 * with store_lookup (smtpgate's lookup) until the grant is there, and records t1 - t0.
 * The load then runs until the prober has PROBES samples, however long that takes past
 * SECONDS.
 *
 * Errors are loud: a status other than 200, an unexpected body, a closed or reset
 * connection, no answer within PUSH_LOAD_TIMEOUT seconds, or a grant still missing after
 * that long end the program with status 1 and a message saying which.
 *
 * Prints one line: requests answered, seconds, requests/s, then the prober's samples and
 * their p50, p99 and maximum in milliseconds (zeros without -d).
 * Usage: push_load [-c CLIENTS] [-t SECONDS | -n COUNT] [-r RATE] [-a ADDR_BASE]
 *                  [-d DATABASE [-p PROBES] [-i INTERVAL_MS] [-b PROBE_BASE]]
 *                  HOST PORT SECRET allow|report
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "db/store.h"
#include "shared/util.h"

#define PUSH_LOAD_MAX_CLIENTS 256
#define PUSH_LOAD_TIMEOUT     5.0        /* seconds to wait for an answer, or for a grant */
#define PUSH_LOAD_LOAD_ADDRS  (1u << 24) /* 10.0.0.0/8 */
#define PUSH_LOAD_PROBE_ADDRS (1u << 17) /* 198.18.0.0/15 */
#define PUSH_LOAD_POLL_US     100        /* between two lookups of the prober */
#define PUSH_LOAD_BUF         4096

/* popauth's answer to both commands, the one Dovecot expects */
static const char push_load_answer[] = "{\"status\":0,\"msg\":\"\"}";

/* The run's settings, set by main before any thread starts. */
struct push_load_opts {
    const char *host, *secret, *command, *database;
    int port, clients, probes, interval_ms;
    double seconds, rate;
    unsigned long count, addr_base, probe_base;
};

/* One keep-alive connection and what it has read past the last response. */
struct push_load_conn {
    int fd;
    size_t have;
    char buf[PUSH_LOAD_BUF];
    char date[64]; /* the Date header, as Dovecot's HTTP client sends one */
};

static struct push_load_opts push_load_opts = {
    .clients = 16,
    .probes = 1000,
    .interval_ms = 2,
    .seconds = 5.0,
};
static atomic_ulong push_load_next;     /* the next load request's number */
static atomic_ulong push_load_answered; /* load requests answered 200 */
static atomic_int push_load_stop;       /* set by main: the load is over */
static atomic_int push_load_probed;     /* set by the prober once it has its samples */
static struct push_load_conn
    push_load_conns[PUSH_LOAD_MAX_CLIENTS + 1]; /* the load's, then the prober's */
static double *push_load_samples;               /* the prober's latencies, ms */
static int push_load_nsamples;

/* push_load_die - print a message naming what failed and end the run with status 1 */
static void push_load_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void push_load_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("push_load: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* push_load_connect - a connected TCP socket with TCP_NODELAY and a receive timeout */
static void push_load_connect(struct push_load_conn *c)
{
    struct sockaddr_in sa;
    struct timeval tv = {.tv_sec = (time_t)PUSH_LOAD_TIMEOUT};
    int one = 1;
    time_t now = time(NULL);
    struct tm tm;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)push_load_opts.port);
    if (inet_pton(AF_INET, push_load_opts.host, &sa.sin_addr) != 1)
        push_load_die("%s: not an IPv4 address", push_load_opts.host);
    if ((c->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        push_load_die("connect to %s:%d: %s", push_load_opts.host, push_load_opts.port,
                      strerror(errno));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    c->have = 0;
    gmtime_r(&now, &tm);
    strftime(c->date, sizeof(c->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* push_load_request - the request for client address addr (n numbers the login) into
 * buf; its length */
static int push_load_request(const struct push_load_conn *c, char *buf, size_t len,
                             const char *addr, unsigned long n)
{
    char body[512];
    int blen;

    blen = snprintf(body, sizeof(body),
                    "{\"login\":\"user%lu\",\"mech\":\"PLAIN\",\"nologin\":\"-\","
                    "\"nopassword\":\"-\",\"protocol\":\"imap\",\"proxy\":\"-\",\"remote\":\"%s\","
                    "\"success\":true,\"policy_reject\":false,\"tls\":false}",
                    n % 1000, addr);
    return snprintf(buf, len,
                    "POST /?command=%s HTTP/1.1\r\nHost: %s:%d\r\nDate: %s\r\n"
                    "X-API-Key: %s\r\nContent-Type: application/json\r\n"
                    "Content-Length: %d\r\n\r\n%s",
                    push_load_opts.command, push_load_opts.host, push_load_opts.port, c->date,
                    push_load_opts.secret, blen, body);
}

/* push_load_header - the value of header name in the header block hdr (hlen bytes), or
 * NULL */
static const char *push_load_header(const char *hdr, size_t hlen, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = hdr, *end = hdr + hlen, *eol;

    while (p < end && (eol = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        if ((size_t)(eol - p) > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':')
            return p + nlen + 1;
        p = eol + 1;
    }
    return NULL;
}

/* push_load_exchange - send one request for addr on c and read its whole response; 0 if
 * it is 200 with the expected body, else -1 and why */
static int push_load_exchange(struct push_load_conn *c, const char *addr, unsigned long n,
                              char *why, size_t whylen)
{
    char req[1024];
    int len = push_load_request(c, req, sizeof(req), addr, n), status;
    size_t off = 0, hlen = 0, total = 0;
    const char *clen, *hend = NULL;

    while (off < (size_t)len) {
        ssize_t w = send(c->fd, req + off, (size_t)len - off, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return util_seterr(why, whylen, "write: %s", strerror(errno));
        off += (size_t)w;
    }
    for (;;) {
        ssize_t r;
        if (hend == NULL && (hend = memmem(c->buf, c->have, "\r\n\r\n", 4)) != NULL) {
            hlen = (size_t)(hend - c->buf) + 4;
            clen = push_load_header(c->buf, hlen, "Content-Length");
            if (clen == NULL)
                return util_seterr(why, whylen, "a response without Content-Length: '%.*s'",
                                   (int)hlen, c->buf);
            total = hlen + strtoul(clen, NULL, 10);
            if (total > sizeof(c->buf))
                return util_seterr(why, whylen, "a response of %zu bytes", total);
        }
        if (hend != NULL && c->have >= total)
            break;
        if (c->have == sizeof(c->buf))
            return util_seterr(why, whylen, "a response header over %zu bytes", c->have);
        r = recv(c->fd, c->buf + c->have, sizeof(c->buf) - c->have, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            return util_seterr(why, whylen, "connection closed by popauth");
        if (r < 0)
            return util_seterr(why, whylen, "read: %s",
                               errno == EAGAIN ? "no answer within the timeout" : strerror(errno));
        c->have += (size_t)r;
    }
    if (sscanf(c->buf, "HTTP/1.%*d %d", &status) != 1 || status != 200 ||
        total - hlen != sizeof(push_load_answer) - 1 ||
        memcmp(c->buf + hlen, push_load_answer, total - hlen) != 0)
        return util_seterr(why, whylen, "unexpected response: '%.*s'", (int)total, c->buf);
    memmove(c->buf, c->buf + total, c->have - total);
    c->have -= total;
    return 0;
}

/* push_load_addr - the text of address number i of the range starting at base (host
 * order) */
static void push_load_addr(uint32_t base, unsigned long i, char *buf, size_t len)
{
    struct in_addr a = {.s_addr = htonl(base + (uint32_t)i)};

    inet_ntop(AF_INET, &a, buf, (socklen_t)len);
}

/* push_load_pace - with a rate, wait until *next (CLOCK_MONOTONIC seconds), then move
 * *next on by this connection's share of the interval; no wait if it is late */
static void push_load_pace(double *next)
{
    double now = util_now();

    if (push_load_opts.rate <= 0)
        return;
    if (*next > now)
        util_sleep(*next - now);
    *next += push_load_opts.clients / push_load_opts.rate;
}

/* push_load_client - one load connection: requests back to back (or paced to its share
 * of RATE) until the load ends */
static void *push_load_client(void *arg)
{
    struct push_load_conn *c = arg;
    char addr[INET_ADDRSTRLEN], why[1024];
    unsigned long n;
    double next = util_now();

    if (push_load_opts.rate > 0) /* the connections' first requests spread over one interval */
        next += (double)(c - push_load_conns) / push_load_opts.rate;

    while (!atomic_load(&push_load_stop)) {
        push_load_pace(&next);
        n = atomic_fetch_add(&push_load_next, 1);
        if (push_load_opts.count > 0 && n >= push_load_opts.count)
            break;
        if (push_load_opts.addr_base + n >= PUSH_LOAD_LOAD_ADDRS)
            push_load_die("out of load addresses (10.0.0.0/8): lower ADDR_BASE or the load");
        push_load_addr(0x0a000000u, push_load_opts.addr_base + n, addr, sizeof(addr));
        if (push_load_exchange(c, addr, n, why, sizeof(why)) < 0)
            push_load_die("command=%s for %s: %s", push_load_opts.command, addr, why);
        atomic_fetch_add(&push_load_answered, 1);
    }
    return NULL;
}

/* push_load_prober - the latency samples: a report, then polling the store for its grant */
static void *push_load_prober(void *arg)
{
    struct push_load_conn *c = arg;
    struct store *st;
    char addr[INET_ADDRSTRLEN], why[1024], err[512];
    int i, rc;

    if ((st = store_open(push_load_opts.database, STORE_READONLY, err, sizeof(err))) == NULL)
        push_load_die("%s", err);
    util_sleep(0.1); /* sample under load, not while the connections start */
    for (i = 0; i < push_load_opts.probes && !atomic_load(&push_load_stop); i++) {
        unsigned long k = push_load_opts.probe_base + (unsigned long)i;
        double t0;

        if (k >= PUSH_LOAD_PROBE_ADDRS)
            push_load_die("out of probe addresses (198.18.0.0/15): lower PROBE_BASE");
        push_load_addr(0xc6120000u, k, addr, sizeof(addr));
        t0 = util_now();
        if (push_load_exchange(c, addr, k, why, sizeof(why)) < 0)
            push_load_die("prober: command=report for %s: %s", addr, why);
        while ((rc = store_lookup(st, addr, time(NULL), NULL, err, sizeof(err))) != 1) {
            if (rc < 0)
                push_load_die("prober: lookup of %s: %s", addr, err);
            if (util_now() - t0 > PUSH_LOAD_TIMEOUT)
                push_load_die("prober: no grant for %s %.0f s after its report", addr,
                              PUSH_LOAD_TIMEOUT);
            usleep(PUSH_LOAD_POLL_US);
        }
        push_load_samples[push_load_nsamples++] = (util_now() - t0) * 1000.0;
        usleep((useconds_t)push_load_opts.interval_ms * 1000);
    }
    store_close(st);
    atomic_store(&push_load_probed, 1);
    return NULL;
}

/* push_load_cmp - qsort order for doubles */
static int push_load_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* push_load_usage - the usage message; exits with status 2 */
static void push_load_usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "push_load: %s\n", why);
    fprintf(stderr,
            "usage: push_load [-c CLIENTS] [-t SECONDS | -n COUNT] [-r RATE] [-a ADDR_BASE]\n"
            "                 [-d DATABASE [-p PROBES] [-i INTERVAL_MS] [-b PROBE_BASE]]\n"
            "                 HOST PORT SECRET allow|report\n");
    exit(2);
}

/* push_load_options - read the command line into push_load_opts */
static void push_load_options(int argc, char **argv)
{
    struct push_load_opts *o = &push_load_opts;
    int ch;

    while ((ch = getopt(argc, argv, "c:t:n:r:a:d:p:i:b:")) != -1) {
        switch (ch) {
        case 'c':
            o->clients = atoi(optarg);
            break;
        case 't':
            o->seconds = atof(optarg);
            break;
        case 'n':
            o->count = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            o->rate = atof(optarg);
            break;
        case 'a':
            o->addr_base = strtoul(optarg, NULL, 10);
            break;
        case 'd':
            o->database = optarg;
            break;
        case 'p':
            o->probes = atoi(optarg);
            break;
        case 'i':
            o->interval_ms = atoi(optarg);
            break;
        case 'b':
            o->probe_base = strtoul(optarg, NULL, 10);
            break;
        default:
            push_load_usage(NULL);
        }
    }
    if (argc - optind != 4)
        push_load_usage(NULL);
    o->host = argv[optind];
    o->port = atoi(argv[optind + 1]);
    o->secret = argv[optind + 2];
    o->command = argv[optind + 3];
    if (o->clients < 0 || o->clients > PUSH_LOAD_MAX_CLIENTS ||
        (o->clients == 0 && o->database == NULL))
        push_load_usage("CLIENTS must be 1-256 (0: the prober alone, with -d)");
    if (o->rate < 0)
        push_load_usage("RATE must not be negative");
    if (o->seconds <= 0 || o->probes < 1 || o->interval_ms < 0 || o->port <= 0)
        push_load_usage("SECONDS, PROBES and PORT must be positive, INTERVAL_MS not negative");
    if (strcmp(o->command, "allow") != 0 && strcmp(o->command, "report") != 0)
        push_load_usage("the command is allow or report");
    if (o->database != NULL && (o->count > 0 || strcmp(o->command, "report") != 0))
        push_load_usage("-d goes with command report and a duration (-t), not a count (-n)");
}

/* main - start the clients (and the prober), wait for the end, print the figures */
int main(int argc, char **argv)
{
    struct push_load_conn *conns = push_load_conns;
    pthread_t threads[PUSH_LOAD_MAX_CLIENTS + 1];
    struct push_load_opts *o = &push_load_opts;
    int i, nthreads;
    double start, end, elapsed;
    double p50 = 0, p99 = 0, max = 0;

    push_load_options(argc, argv);
    for (i = 0; i < o->clients; i++)
        push_load_connect(&conns[i]);
    nthreads = o->clients;
    if (o->database != NULL) {
        push_load_samples = xcalloc((size_t)o->probes, sizeof(*push_load_samples));
        push_load_connect(&conns[nthreads++]);
    }
    start = util_now();
    end = start + o->seconds;
    for (i = 0; i < nthreads; i++) {
        void *(*fn)(void *) = i < o->clients ? push_load_client : push_load_prober;
        if (pthread_create(&threads[i], NULL, fn, &conns[i]) != 0)
            push_load_die("cannot start a thread");
    }
    /* a count ends the load by itself; a duration, once the prober is done too */
    if (o->count == 0) {
        while (util_now() < end || (o->database != NULL && !atomic_load(&push_load_probed)))
            util_sleep(0.01);
        atomic_store(&push_load_stop, 1);
    }
    for (i = 0; i < nthreads; i++)
        pthread_join(threads[i], NULL);
    elapsed = util_now() - start;
    if (push_load_nsamples > 0) {
        int n = push_load_nsamples;
        qsort(push_load_samples, (size_t)n, sizeof(double), push_load_cmp);
        p50 = push_load_samples[(n + 1) / 2 - 1];
        p99 = push_load_samples[(n * 99 + 99) / 100 - 1]; /* nearest rank */
        max = push_load_samples[n - 1];
    }
    printf("%lu %.3f %.0f %d %.3f %.3f %.3f\n", atomic_load(&push_load_answered), elapsed,
           (double)atomic_load(&push_load_answered) / elapsed, push_load_nsamples, p50, p99, max);
    for (i = 0; i < nthreads; i++)
        close(conns[i].fd);
    free(push_load_samples);
    return 0;
}
