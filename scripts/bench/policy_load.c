/*
 * policy_load - drives a Postfix policy server for scripts/bench-policy: CONNS persistent
 * connections, each sending one Postfix-shaped RCPT request at a time and waiting for the
 * reply, as Postfix's smtpd does, for SECONDS seconds. The requests mix granted clients
 * (198.18.0.0/15, which bench-policy fills with grants), local-network clients (10/8),
 * local recipients and refused clients. Prints requests/s and p50/p99 latency.
 * Usage: policy_load HOST PORT CONNS SECONDS
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shared/util.h"

#define LOAD_MAX_CONNS   256
#define LOAD_MAX_SAMPLES (8 * 1024 * 1024)

struct load_conn {
    int fd;
    double sent_at;
    size_t got; /* reply bytes so far */
    char reply[512];
};

static uint64_t load_state = 0x9e3779b97f4a7c15ULL;

/* load_rand - xorshift64 */
static uint64_t load_rand(void)
{
    load_state ^= load_state << 13;
    load_state ^= load_state >> 7;
    load_state ^= load_state << 17;
    return load_state;
}

/* load_request - one Postfix-shaped RCPT request into buf; returns its length */
static int load_request(char *buf, size_t len, unsigned n)
{
    char client[64];
    const char *rcpt = "someone@far.example";
    unsigned kind = n % 4, r = (unsigned)load_rand();

    if (kind == 0) /* granted: bench-policy grants 198.18.0.0 - 198.19.134.159 */
        snprintf(client, sizeof(client), "198.%u.%u.%u", 18 + (r % 100000) / 65536,
                 ((r % 100000) / 256) % 256, (r % 100000) % 256);
    else if (kind == 1) /* local network */
        snprintf(client, sizeof(client), "10.%u.%u.%u", r % 256, (r >> 8) % 256, (r >> 16) % 256);
    else /* refused, or a local recipient */
        snprintf(client, sizeof(client), "203.0.%u.%u", r % 256, (r >> 8) % 256);
    if (kind == 2)
        rcpt = "alice@local.test";
    return snprintf(buf, len,
                    "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
                    "client_address=%s\nclient_name=unknown\nclient_port=%u\n"
                    "reverse_client_name=unknown\nserver_address=192.0.2.1\nserver_port=25\n"
                    "helo_name=client.example\nsender=user%u@example.org\nrecipient=%s\n"
                    "recipient_count=0\nqueue_id=\ninstance=%x.%x\nsize=0\netrn_domain=\n"
                    "stress=\nsasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n"
                    "ccert_issuer=\nccert_fingerprint=\nccert_pubkey_fingerprint=\n"
                    "encryption_protocol=TLSv1.3\nencryption_cipher=TLS_AES_256_GCM_SHA384\n"
                    "encryption_keysize=256\npolicy_context=\ncompatibility_level=3.6\n"
                    "mail_version=3.7.11\n\n",
                    client, 1024 + r % 60000, r % 1000, rcpt, r, n);
}

/* load_connect - a connected, low-latency TCP socket */
static int load_connect(const char *host, int port)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    if (fd < 0 || inet_pton(AF_INET, host, &sa.sin_addr) != 1 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("connect");
        exit(2);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* load_send - send the next request on c */
static void load_send(struct load_conn *c, unsigned n)
{
    char buf[2048];
    int len = load_request(buf, sizeof(buf), n);

    c->got = 0;
    c->sent_at = util_now();
    if (write(c->fd, buf, (size_t)len) != len) {
        perror("write");
        exit(2);
    }
}

/* load_cmp - qsort order for doubles */
static int load_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* main - run the load and print the figures */
int main(int argc, char **argv)
{
    static struct load_conn conns[LOAD_MAX_CONNS];
    static struct pollfd pfd[LOAD_MAX_CONNS];
    int nconn, port, i;
    double seconds, start, end;
    double *samples = malloc(LOAD_MAX_SAMPLES * sizeof(double));
    size_t nsamples = 0;
    unsigned n = 0;

    if (argc != 5 || samples == NULL) {
        fprintf(stderr, "usage: policy_load HOST PORT CONNS SECONDS\n");
        return 2;
    }
    port = atoi(argv[2]);
    nconn = atoi(argv[3]);
    seconds = atof(argv[4]);
    if (nconn < 1 || nconn > LOAD_MAX_CONNS) {
        fprintf(stderr, "policy_load: CONNS must be 1-%d\n", LOAD_MAX_CONNS);
        return 2;
    }
    for (i = 0; i < nconn; i++) {
        conns[i].fd = load_connect(argv[1], port);
        pfd[i].fd = conns[i].fd;
        pfd[i].events = POLLIN;
    }
    start = util_now();
    end = start + seconds;
    for (i = 0; i < nconn; i++)
        load_send(&conns[i], n++);
    while (util_now() < end) {
        if (poll(pfd, (nfds_t)nconn, 1000) < 0 && errno != EINTR) {
            perror("poll");
            return 2;
        }
        for (i = 0; i < nconn; i++) {
            struct load_conn *c = &conns[i];
            ssize_t r;
            if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            r = read(c->fd, c->reply + c->got, sizeof(c->reply) - c->got - 1);
            if (r <= 0) {
                fprintf(stderr, "policy_load: connection %d closed by the server\n", i);
                return 1;
            }
            c->got += (size_t)r;
            if (c->got < 2 || memcmp(c->reply + c->got - 2, "\n\n", 2) != 0)
                continue;
            if (strncmp(c->reply, "action=", 7) != 0) {
                fprintf(stderr, "policy_load: bad reply '%.*s'\n", (int)c->got, c->reply);
                return 1;
            }
            if (nsamples < LOAD_MAX_SAMPLES)
                samples[nsamples++] = (util_now() - c->sent_at) * 1e6;
            load_send(c, n++);
        }
    }
    seconds = util_now() - start;
    qsort(samples, nsamples, sizeof(double), load_cmp);
    printf("%d %.0f %.1f %.1f\n", nconn, (double)nsamples / seconds, samples[nsamples / 2],
           samples[nsamples * 99 / 100]);
    for (i = 0; i < nconn; i++)
        close(conns[i].fd);
    free(samples);
    return 0;
}
