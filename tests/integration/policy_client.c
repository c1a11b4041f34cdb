/*
 * policy_client - a test driver for smtpgate's policy server: sends what it reads on
 * stdin over one or many connections and reports the replies.
 *
 *   policy_client (-u PATH | [-H HOST] -p PORT) [-n N] [--one-byte] [--expect-close]
 *                 [-t SECONDS] < requests
 *
 * One connection (the default): stdin is sent as it is, except for lines that start with
 * '@', which are directives: "@sleep SECONDS" pauses, "@wait" waits until every request
 * sent so far has its reply. --one-byte sends one byte per write, 1 ms apart. Then the
 * client waits for as many replies as requests were sent (a request or a reply is
 * counted at each empty line) and prints everything received to stdout. With
 * --expect-close it instead waits for the server to close the connection and prints
 * "closed after S.SSS s" (the time since the last byte was sent) as the last line.
 *
 * N connections (-n N, N > 1): all N connect first, then each sends all of stdin (no
 * directives), then the client waits for every connection to be answered or closed and
 * prints "connections=N answered=A closed=C unanswered=U".
 *
 * Exit status: 0 if every connection was answered in full (with --expect-close: was
 * closed), 1 otherwise (including a timeout, default 10 s), 2 on a usage or set-up error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "shared/util.h"
#include "tests/integration/netaddr.h"

/* What the command line asked for. */
struct client_opts {
    const char *unix_path;
    const char *host;
    int port;
    int connections;
    int one_byte;
    int expect_close;
    double timeout;
};

/* One connection's progress. */
struct client_conn {
    int fd;
    size_t replies; /* empty lines received */
    int prev_nl;    /* the last byte received was LF */
    int closed;     /* EOF or reset seen */
    int done;       /* answered or closed: no longer polled */
};

/* client_usage - print the usage summary and exit with status */
static void client_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: policy_client (-u PATH | [-H HOST] -p PORT) [-n N] [--one-byte]\n"
            "                     [--expect-close] [-t SECONDS] < requests\n");
    exit(status);
}

/* client_connect - a connected socket to the server; exits 2 on failure */
static int client_connect(const struct client_opts *o)
{
    int fd, one = 1;

    if (o->unix_path != NULL) {
        struct sockaddr_un sun;

        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        util_strlcpy(sun.sun_path, o->unix_path, sizeof(sun.sun_path));
        if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 ||
            connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
            fprintf(stderr, "policy_client: connect %s: %s\n", o->unix_path, strerror(errno));
            exit(2);
        }
        return fd;
    }
    struct sockaddr_storage ss;
    socklen_t len;

    if (netaddr_sockaddr(o->host, o->port, &ss, &len) < 0) {
        fprintf(stderr, "policy_client: bad host %s (numeric only)\n", o->host);
        exit(2);
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&ss, len) < 0) {
        fprintf(stderr, "policy_client: connect %s:%d: %s\n", o->host, o->port, strerror(errno));
        exit(2);
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return fd;
}

/* client_read_all - stdin into a new buffer; *len gets its size */
static char *client_read_all(size_t *len)
{
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    size_t r;

    while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
        n += r;
        if (n == cap)
            buf = xrealloc(buf, cap *= 2);
    }
    *len = n;
    return buf;
}

/* client_count - count empty lines in data, carrying *prev_nl across calls */
static size_t client_count(const char *data, size_t len, int *prev_nl)
{
    size_t i, n = 0;

    for (i = 0; i < len; i++) {
        if (data[i] == '\n' && *prev_nl)
            n++;
        *prev_nl = data[i] == '\n';
    }
    return n;
}

/* client_send - write all of data to fd (one byte per write if one_byte); -1 on error */
static int client_send(int fd, const char *data, size_t len, int one_byte)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(fd, data + off, one_byte ? 1 : len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
        if (one_byte)
            util_sleep(0.001);
    }
    return 0;
}

/* client_recv - read what is there on c; out (may be NULL) collects it */
static void client_recv(struct client_conn *c, FILE *out)
{
    char buf[65536];
    ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    if (n <= 0) {
        c->closed = 1;
        return;
    }
    if (out != NULL)
        fwrite(buf, 1, (size_t)n, out);
    c->replies += client_count(buf, (size_t)n, &c->prev_nl);
}

/* client_wait - poll conns until each has want replies (or closed, if until_close) */
static void client_wait(struct client_conn *conns, int nconns, size_t want, int until_close,
                        double deadline, FILE *out)
{
    struct pollfd *pfd = xcalloc((size_t)nconns, sizeof(*pfd));
    int *map = xcalloc((size_t)nconns, sizeof(*map));

    for (;;) {
        int i, n = 0, ready, ms;
        double left = deadline - util_now();

        for (i = 0; i < nconns; i++) {
            struct client_conn *c = &conns[i];
            c->done = 0;
            if (c->closed || (!until_close && c->replies >= want))
                c->done = 1;
            if (c->done)
                continue;
            pfd[n].fd = c->fd;
            pfd[n].events = POLLIN;
            map[n++] = i;
        }
        if (n == 0 || left <= 0)
            break;
        ms = (int)(left * 1000) + 1;
        if ((ready = poll(pfd, (nfds_t)n, ms)) < 0 && errno != EINTR)
            break;
        for (i = 0; ready > 0 && i < n; i++)
            if (pfd[i].revents != 0)
                client_recv(&conns[map[i]], out);
    }
    free(pfd);
    free(map);
}

/* client_one - the single-connection mode with directives; returns the exit status */
static int client_one(const struct client_opts *o, const char *data, size_t len)
{
    struct client_conn c;
    size_t off = 0, sent_requests = 0;
    int sent_prev_nl = 0;
    double last_send;

    memset(&c, 0, sizeof(c));
    c.fd = client_connect(o);
    last_send = util_now();
    while (off < len) {
        const char *line = data + off;
        const char *nl = memchr(line, '\n', len - off);
        size_t linelen = nl ? (size_t)(nl - line) + 1 : len - off;

        if (line[0] == '@' && (off == 0 || data[off - 1] == '\n')) {
            if (strncmp(line, "@sleep ", 7) == 0)
                util_sleep(strtod(line + 7, NULL));
            else if (strncmp(line, "@wait", 5) == 0)
                client_wait(&c, 1, sent_requests, 0, util_now() + o->timeout, stdout);
            off += linelen;
            continue;
        }
        /* send up to the next directive line */
        size_t end = off;
        while (end < len && !(data[end] == '@' && (end == 0 || data[end - 1] == '\n'))) {
            const char *e = memchr(data + end, '\n', len - end);
            end = e ? (size_t)(e - data) + 1 : len;
        }
        if (client_send(c.fd, data + off, end - off, o->one_byte) < 0)
            break;
        sent_requests += client_count(data + off, end - off, &sent_prev_nl);
        last_send = util_now();
        off = end;
    }
    client_wait(&c, 1, o->expect_close ? (size_t)-1 : sent_requests, o->expect_close,
                util_now() + o->timeout, stdout);
    fflush(stdout);
    if (o->expect_close) {
        if (!c.closed) {
            printf("not closed within %.1f s\n", o->timeout);
            return 1;
        }
        printf("closed after %.3f s\n", util_now() - last_send);
        return 0;
    }
    if (c.replies < sent_requests) {
        fprintf(stderr, "policy_client: got %zu of %zu replies%s\n", c.replies, sent_requests,
                c.closed ? " (closed)" : "");
        return 1;
    }
    return 0;
}

/* client_many - N connections each sending data; returns the exit status */
static int client_many(const struct client_opts *o, const char *data, size_t len)
{
    struct client_conn *conns = xcalloc((size_t)o->connections, sizeof(*conns));
    int prev = 0, i, answered = 0, closed = 0, unanswered = 0;
    size_t want = client_count(data, len, &prev);

    for (i = 0; i < o->connections; i++)
        conns[i].fd = client_connect(o);
    for (i = 0; i < o->connections; i++)
        if (client_send(conns[i].fd, data, len, 0) < 0)
            conns[i].closed = 1;
    client_wait(conns, o->connections, o->expect_close ? (size_t)-1 : want, o->expect_close,
                util_now() + o->timeout, NULL);
    for (i = 0; i < o->connections; i++) {
        if (conns[i].replies >= want && want > 0)
            answered++;
        else if (conns[i].closed)
            closed++;
        else
            unanswered++;
        close(conns[i].fd);
    }
    printf("connections=%d answered=%d closed=%d unanswered=%d\n", o->connections, answered, closed,
           unanswered);
    free(conns);
    if (o->expect_close)
        return closed == o->connections ? 0 : 1;
    return answered == o->connections ? 0 : 1;
}

/* main - options, stdin, then one or many connections */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"connections", required_argument, NULL, 'n'},
        {"one-byte", no_argument, NULL, 'b'},
        {"expect-close", no_argument, NULL, 'x'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct client_opts o = {.host = "127.0.0.1", .connections = 1, .timeout = 10.0};
    size_t len;
    char *data;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "u:H:p:n:t:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'u':
            o.unix_path = optarg;
            break;
        case 'H':
            o.host = optarg;
            break;
        case 'p':
            o.port = atoi(optarg);
            break;
        case 'n':
            o.connections = atoi(optarg);
            break;
        case 'b':
            o.one_byte = 1;
            break;
        case 'x':
            o.expect_close = 1;
            break;
        case 't':
            o.timeout = strtod(optarg, NULL);
            break;
        default:
            client_usage(opt == 'h' ? 0 : 2);
        }
    }
    if (optind != argc || o.connections < 1 || o.timeout <= 0 ||
        (o.unix_path == NULL && (o.port <= 0 || o.port > 65535)))
        client_usage(2);
    signal(SIGPIPE, SIG_IGN);
    data = client_read_all(&len);
    rc = o.connections == 1 ? client_one(&o, data, len) : client_many(&o, data, len);
    free(data);
    return rc;
}
