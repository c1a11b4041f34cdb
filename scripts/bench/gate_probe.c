/*
 * gate_probe - measures, for scripts/bench-cluster, the time from a login line written to
 * a log file that popauth follows to the grant being answered by a Postfix policy server
 * (smtpgate) that reads the same store, possibly on another host: COUNT times, for a
 * fresh client address each time (172.16.0.0/12, number FIRST on), it asks the policy
 * server once about that address (the answer must be action=DUNNO, smtpgate's default
 * policy_reject_action: no grant yet), takes t0 (CLOCK_MONOTONIC) just before it appends
 * one Dovecot login line for the address to LOGFILE, then sends the same RCPT request
 * (a recipient that is not local) on its one persistent connection, one request in flight,
 * GATE_PROBE_POLL_US apart, until the answer is action=OK (policy_permit_action), and
 * records t1 - t0, taken when that answer has been read. INTERVAL_MS pass between two
 * samples.
 *
 * Errors are loud: any other answer (a deferral: the store failed), a closed connection,
 * no answer within GATE_PROBE_TIMEOUT seconds, or no permit that long after the line was
 * written end the program with status 1 and a message saying which.
 *
 * Prints one line: samples, p50, p99 (nearest rank) and maximum in milliseconds, and the
 * policy requests sent; with -o FILE it also appends every sample (ms) to FILE, one a line.
 * Usage: gate_probe [-b FIRST] [-i INTERVAL_MS] [-o FILE] LOGFILE HOST PORT COUNT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shared/util.h"

#define GATE_PROBE_TIMEOUT 5.0     /* seconds to wait for an answer, or for the permit */
#define GATE_PROBE_POLL_US 100     /* between two requests about the same address */
#define GATE_PROBE_ADDRS   1048576 /* 172.16.0.0/12 */

/* gate_probe_die - print a message naming what failed and end the run with status 1 */
static void gate_probe_die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void gate_probe_die(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fputs("gate_probe: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

/* gate_probe_connect - a connected TCP socket with TCP_NODELAY and a receive timeout */
static int gate_probe_connect(const char *host, int port)
{
    struct sockaddr_in sa;
    struct timeval tv = {.tv_sec = (time_t)GATE_PROBE_TIMEOUT};
    int fd, one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
        gate_probe_die("%s: not an IPv4 address", host);
    if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        gate_probe_die("connect to %s:%d: %s", host, port, strerror(errno));
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* gate_probe_ask - one Postfix-shaped RCPT request about addr on fd; its answer's action
 * (the text after "action=", without the blank line) into action */
static void gate_probe_ask(int fd, const char *addr, unsigned n, char *action, size_t len)
{
    char req[1024], reply[512];
    int rlen = snprintf(req, sizeof(req),
                        "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                        "client_address=%s\nclient_name=unknown\nclient_port=%u\n"
                        "reverse_client_name=unknown\nserver_address=192.0.2.1\nserver_port=25\n"
                        "helo_name=client.example\nsender=probe%u@example.org\n"
                        "recipient=someone@far.example\nrecipient_count=0\nqueue_id=\n"
                        "instance=%x\nsize=0\nsasl_method=\nsasl_username=\n\n",
                        addr, 1024 + n % 60000, n, n);
    size_t got = 0;

    if (send(fd, req, (size_t)rlen, MSG_NOSIGNAL) != rlen)
        gate_probe_die("write: %s", strerror(errno));
    while (got < 2 || memcmp(reply + got - 2, "\n\n", 2) != 0) {
        ssize_t r = recv(fd, reply + got, sizeof(reply) - 1 - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0)
            gate_probe_die("connection closed by the policy server");
        if (r < 0)
            gate_probe_die("read: %s",
                           errno == EAGAIN ? "no answer within the timeout" : strerror(errno));
        got += (size_t)r;
        if (got == sizeof(reply) - 1)
            gate_probe_die("an answer over %zu bytes", got);
    }
    reply[got - 2] = '\0';
    if (strncmp(reply, "action=", 7) != 0 || strchr(reply, '\n') != NULL)
        gate_probe_die("unexpected answer for %s: '%s'", addr, reply);
    util_strlcpy(action, reply + 7, len);
}

/* gate_probe_cmp - qsort order for doubles */
static int gate_probe_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* gate_probe_usage - the usage message; exits with status 2 */
static void gate_probe_usage(void)
{
    fprintf(stderr, "usage: gate_probe [-b FIRST] [-i INTERVAL_MS] [-o FILE] LOGFILE HOST PORT "
                    "COUNT\n");
    exit(2);
}

/* main - ask, append, poll until permitted, COUNT times; print the percentiles */
int main(int argc, char **argv)
{
    unsigned long first = 0;
    int interval_ms = 2, count, port, logfd, fd, i, ch;
    unsigned long requests = 0;
    const char *out_path = NULL;
    FILE *out = NULL;
    double *ms;

    while ((ch = getopt(argc, argv, "b:i:o:")) != -1) {
        switch (ch) {
        case 'b':
            first = strtoul(optarg, NULL, 10);
            break;
        case 'i':
            interval_ms = atoi(optarg);
            break;
        case 'o':
            out_path = optarg;
            break;
        default:
            gate_probe_usage();
        }
    }
    if (argc - optind != 4)
        gate_probe_usage();
    port = atoi(argv[optind + 2]);
    count = atoi(argv[optind + 3]);
    if (count < 1 || port < 1 || interval_ms < 0)
        gate_probe_usage();
    if (first + (unsigned long)count > GATE_PROBE_ADDRS)
        gate_probe_die("out of probe addresses (172.16.0.0/12): lower FIRST or COUNT");
    if ((logfd = open(argv[optind], O_WRONLY | O_APPEND)) < 0)
        gate_probe_die("%s: %s", argv[optind], strerror(errno));
    if (out_path != NULL && (out = fopen(out_path, "a")) == NULL)
        gate_probe_die("%s: %s", out_path, strerror(errno));
    fd = gate_probe_connect(argv[optind + 1], port);
    ms = xcalloc((size_t)count, sizeof(*ms));
    for (i = 0; i < count; i++) {
        unsigned long k = first + (unsigned long)i;
        struct in_addr a = {.s_addr = htonl(0xac100000u + (uint32_t)k)};
        char addr[INET_ADDRSTRLEN], action[256], line[512], stamp[32];
        time_t now = time(NULL);
        struct tm tm;
        double t0;
        int n;

        inet_ntop(AF_INET, &a, addr, sizeof(addr));
        gate_probe_ask(fd, addr, (unsigned)k, action, sizeof(action));
        requests++;
        if (strcmp(action, "DUNNO") != 0)
            gate_probe_die("%s: answered '%s' before its login, not DUNNO", addr, action);
        localtime_r(&now, &tm);
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        n = snprintf(line, sizeof(line),
                     "%s mx dovecot: pop3-login: Login: user=<probe%lu>, method=PLAIN, rip=%s, "
                     "lip=192.0.2.1, mpid=1, session=<p%lu>\n",
                     stamp, k, addr, k);
        t0 = util_now();
        if (write(logfd, line, (size_t)n) != n)
            gate_probe_die("write to %s: %s", argv[optind], strerror(errno));
        for (;;) {
            gate_probe_ask(fd, addr, (unsigned)k, action, sizeof(action));
            requests++;
            if (strcmp(action, "OK") == 0)
                break;
            if (strcmp(action, "DUNNO") != 0)
                gate_probe_die("%s: answered '%s' after its login", addr, action);
            if (util_now() - t0 > GATE_PROBE_TIMEOUT)
                gate_probe_die("%s: not permitted %.0f s after its login line was written", addr,
                               GATE_PROBE_TIMEOUT);
            usleep(GATE_PROBE_POLL_US);
        }
        ms[i] = (util_now() - t0) * 1000.0;
        if (out != NULL)
            fprintf(out, "%.3f\n", ms[i]);
        usleep((useconds_t)interval_ms * 1000);
    }
    qsort(ms, (size_t)count, sizeof(*ms), gate_probe_cmp);
    printf("%d %.3f %.3f %.3f %lu\n", count, ms[(count + 1) / 2 - 1],
           ms[(count * 99 + 99) / 100 - 1], ms[count - 1], requests);
    if (out != NULL && fclose(out) != 0)
        gate_probe_die("%s: %s", out_path, strerror(errno));
    free(ms);
    close(fd);
    close(logfd);
    return 0;
}
