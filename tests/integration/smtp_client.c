/*
 * smtp_client - a test driver for smtpgate's SMTP proxy: a byte-exact SMTP client (for
 * smuggling vectors, pipelining in one write, a command in the same packet as STARTTLS,
 * slow senders), a connection-limit prober, and a recording SMTP backend that keeps every
 * byte the proxy sent it.
 *
 * Client:   smtp_client [-b SRC] [-t SECONDS] [-v] HOST PORT STEP...
 *   Connects to HOST:PORT (numeric IPv4 or IPv6), from source address SRC if given, runs
 *   the steps in order and copies everything received to stdout as it came; -v first
 *   prints "local ADDR PORT" (the connection's own end) to stderr. Steps:
 *     send TEXT        TEXT in one write (escapes: \r \n \t \0 \\ \xHH)
 *     file PATH        the bytes of file PATH as they are
 *     slow SECS TEXT   TEXT one byte per write, SECS apart
 *     recv N           wait for N more complete replies (a reply ends with a line that
 *                      is a 3-digit code followed by a space or by nothing)
 *     sleep SECS       pause
 *     close            wait for the server to close the connection, then print
 *                      "closed after S.SSS s" (counted from the last byte sent)
 *   Waiting steps give up after SECONDS (-t, default 10); sleep steps read (and print)
 *   what arrives meanwhile. If the server closes the connection during a send or sleep
 *   step, the steps up to the next close step are skipped. Exit status: 0 if every step
 *   succeeded, 1 if one did not (the reason on stderr, naming the step), 2 on a usage or
 *   connect error.
 *
 * Prober:   smtp_client -n N [-b SRC] [-t SECONDS] [--hold SECONDS] HOST PORT
 *   Opens N connections one after the other, reads the first reply of each, prints its
 *   first line as "N: LINE" (or "N: closed") and then the summary "connections=N
 *   greeted=G refused=R other=O closed=C" (greeted: a 2xx reply, refused: a 421 reply,
 *   closed: no reply before the close), then keeps the connections open for --hold
 *   seconds. Exit status 0, or 2 if a connect failed.
 *
 * Backend:  smtp_client -l [-r DIR] [--silent] [-w SECONDS] HOST PORT
 *   Listens on HOST:PORT and serves each connection in a child process, which appends
 *   every byte received to DIR/conn.N (N counts connections from 1) and creates
 *   DIR/conn.N.end when the connection has ended. It greets, answers
 *   XCLIENT with a fresh 220, advertises PIPELINING, SIZE, STARTTLS, CHUNKING, XCLIENT,
 *   XFORWARD, 8BITMIME, AUTH, SMTPUTF8, X-EXPERIMENTAL, DSN and ENHANCEDSTATUSCODES,
 *   accepts every MAIL and RCPT, accepts AUTH PLAIN only for user "user" with password
 *   "secret", and says nothing to a leading PROXY line. Like many MTAs it is lenient: a
 *   bare LF ends a line and a line "." (with or without CR) ends DATA, so whatever
 *   smuggling gets through to it shows. -w delays each reply to MAIL; --silent accepts
 *   and never writes a byte. It runs until killed; its children die with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "shared/ascii.h"
#include "shared/util.h"
#include "tests/integration/netaddr.h"

#define CLIENT_LINE_MAX 16384              /* bytes of one line kept for parsing; more is cut */
#define CLIENT_TEXT_MAX 1048576            /* bytes of one decoded send TEXT */
#define CLIENT_FILE_MAX 268435456          /* bytes of one file step */
#define CLIENT_CONN_MAX 4096               /* connections of the prober */
#define CLIENT_AUTH_OK  "AHVzZXIAc2VjcmV0" /* base64 of "\0user\0secret" */

/* What the command line asked for. */
struct client_opts {
    const char *src;
    const char *host;
    int port;
    double timeout;
    int verbose;
    int connections; /* prober: N > 0 */
    double hold;
    int listen;
    const char *record_dir;
    int silent;
    double mail_delay;
};

/* A stream of received bytes cut into lines, counting complete replies. */
struct client_lines {
    char line[CLIENT_LINE_MAX];
    size_t len;
    size_t replies;  /* complete replies seen */
    int first_code;  /* code of the first complete reply, 0 before it */
    char first[256]; /* the first line received, line end removed */
};

/* client_usage - print the usage summary and exit with status */
static void client_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: smtp_client [-b SRC] [-t SECONDS] [-v] HOST PORT STEP...\n"
            "       smtp_client -n N [-b SRC] [-t SECONDS] [--hold SECONDS] HOST PORT\n"
            "       smtp_client -l [-r DIR] [--silent] [-w SECONDS] HOST PORT\n"
            "steps: send TEXT | file PATH | slow SECS TEXT | recv N | sleep SECS | close\n");
    exit(status);
}

/* client_connect - a connected socket to the server, from o->src if set; -1 on error */
static int client_connect(const struct client_opts *o)
{
    struct sockaddr_storage ss, src;
    socklen_t len, srclen;
    int fd, one = 1;

    if (netaddr_sockaddr(o->host, o->port, &ss, &len) < 0) {
        fprintf(stderr, "smtp_client: bad host %s (numeric only)\n", o->host);
        return -1;
    }
    if ((fd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0) {
        fprintf(stderr, "smtp_client: socket: %s\n", strerror(errno));
        return -1;
    }
    if (o->src != NULL) {
        if (netaddr_sockaddr(o->src, 0, &src, &srclen) < 0 || src.ss_family != ss.ss_family) {
            fprintf(stderr, "smtp_client: bad source address %s\n", o->src);
            close(fd);
            return -1;
        }
        if (bind(fd, (struct sockaddr *)&src, srclen) < 0) {
            fprintf(stderr, "smtp_client: bind %s: %s\n", o->src, strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
        fprintf(stderr, "smtp_client: connect %s port %d: %s\n", o->host, o->port, strerror(errno));
        close(fd);
        return -1;
    }
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (o->verbose) {
        char text[INET6_ADDRSTRLEN];
        int port;

        srclen = sizeof(src);
        if (getsockname(fd, (struct sockaddr *)&src, &srclen) == 0) {
            if (src.ss_family == AF_INET) {
                struct sockaddr_in *sin = (struct sockaddr_in *)&src;
                inet_ntop(AF_INET, &sin->sin_addr, text, sizeof(text));
                port = ntohs(sin->sin_port);
            } else {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&src;
                inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text));
                port = ntohs(sin6->sin6_port);
            }
            fprintf(stderr, "local %s %d\n", text, port);
        }
    }
    return fd;
}

/* client_unescape - decode TEXT's escapes into a new buffer; NULL on a bad escape */
static char *client_unescape(const char *text, size_t *outlen)
{
    size_t n = strlen(text), i, o = 0;
    char *out;

    if (n > CLIENT_TEXT_MAX)
        return NULL;
    out = xmalloc(n + 1);
    for (i = 0; i < n; i++) {
        if (text[i] != '\\') {
            out[o++] = text[i];
            continue;
        }
        switch (text[++i]) {
        case 'r':
            out[o++] = '\r';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case '0':
            out[o++] = '\0';
            break;
        case '\\':
            out[o++] = '\\';
            break;
        case 'x': {
            int hi = ascii_hex((unsigned char)text[i + 1]),
                lo = hi < 0 ? -1 : ascii_hex((unsigned char)text[i + 2]);
            if (lo < 0)
                goto bad;
            out[o++] = (char)(hi * 16 + lo);
            i += 2;
            break;
        }
        default:
            goto bad;
        }
    }
    *outlen = o;
    return out;
bad:
    free(out);
    return NULL;
}

/* client_send - write all of data to fd, one byte per write `gap` seconds apart if gap > 0 */
static int client_send(int fd, const char *data, size_t len, double gap)
{
    size_t off = 0;

    while (off < len) {
        ssize_t n = send(fd, data + off, gap > 0 ? 1 : len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        off += (size_t)n;
        if (gap > 0 && off < len)
            util_sleep(gap);
    }
    return 0;
}

/* client_lines_feed - cut received bytes into lines and count the replies they finish */
static void client_lines_feed(struct client_lines *cl, const char *data, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        if (data[i] != '\n') {
            if (cl->len < sizeof(cl->line))
                cl->line[cl->len++] = data[i];
            continue;
        }
        size_t n = cl->len;
        if (n > 0 && cl->line[n - 1] == '\r')
            n--;
        if (cl->first[0] == '\0')
            snprintf(cl->first, sizeof(cl->first), "%.*s", (int)n, cl->line);
        if (n >= 3 && cl->line[0] >= '0' && cl->line[0] <= '9' && cl->line[1] >= '0' &&
            cl->line[1] <= '9' && cl->line[2] >= '0' && cl->line[2] <= '9' &&
            (n == 3 || cl->line[3] == ' ')) {
            if (cl->replies++ == 0)
                cl->first_code =
                    (cl->line[0] - '0') * 100 + (cl->line[1] - '0') * 10 + (cl->line[2] - '0');
        }
        cl->len = 0;
    }
}

/*
 * client_read - wait up to the deadline for input on fd, copy it to out (if not NULL) and
 * feed it to cl. 1 if bytes came, 0 on timeout, -1 when the peer closed (*reset set if
 * it was a reset).
 */
static int client_read(int fd, struct client_lines *cl, FILE *out, double deadline, int *reset)
{
    char buf[65536];
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    double left = deadline - util_now();
    ssize_t n;

    if (left <= 0)
        return 0;
    if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
        return 0;
    n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0) {
        *reset = n < 0;
        return -1;
    }
    if (out != NULL) {
        fwrite(buf, 1, (size_t)n, out);
        fflush(out);
    }
    client_lines_feed(cl, buf, (size_t)n);
    return 1;
}

/* client_read_file - the contents of path in a new buffer; NULL (and a message) on error */
static char *client_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    size_t cap = 65536, n = 0, r;
    char *buf;

    if (f == NULL) {
        fprintf(stderr, "smtp_client: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    buf = xmalloc(cap);
    while ((r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            if (cap >= CLIENT_FILE_MAX) {
                fprintf(stderr, "smtp_client: %s: over %d bytes\n", path, CLIENT_FILE_MAX);
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = xrealloc(buf, cap *= 2);
        }
    }
    fclose(f);
    *len = n;
    return buf;
}

/* client_arity - how many arguments step takes */
static int client_arity(const char *step)
{
    if (strcmp(step, "slow") == 0)
        return 2;
    return strcmp(step, "close") == 0 ? 0 : 1;
}

/* client_next_close - the index of the first "close" step from step index i on, or -1 */
static int client_next_close(int nsteps, char **steps, int i)
{
    for (; i < nsteps; i += 1 + client_arity(steps[i]))
        if (strcmp(steps[i], "close") == 0)
            return i;
    return -1;
}

/* client_wait_until - read (and print) until the deadline or the peer closes; 1 if it closed */
static int client_wait_until(int fd, struct client_lines *cl, double deadline, int *reset)
{
    int r;

    while ((r = client_read(fd, cl, stdout, deadline, reset)) > 0)
        ;
    return r < 0;
}

/*
 * client_steps - the client role: run the steps on one connection; the exit status. When
 * the server closes the connection during a send or sleep step, the steps up to the next
 * "close" step are skipped (that step then reports the close); without one, it is a
 * failure.
 */
static int client_steps(const struct client_opts *o, int nsteps, char **steps)
{
    static struct client_lines cl;
    double last_send;
    int fd, i, closed = 0, reset = 0;
    size_t want = 0;

    if ((fd = client_connect(o)) < 0)
        return 2;
    last_send = util_now();
    for (i = 0; i < nsteps; i++) {
        const char *step = steps[i];
        int stepno = i + 1, early = 0;

        if (strcmp(step, "send") == 0 || strcmp(step, "slow") == 0 || strcmp(step, "file") == 0) {
            double gap = 0;
            size_t len;
            char *data;

            if (i + (step[1] == 'l' ? 2 : 1) >= nsteps)
                client_usage(2);
            if (step[1] == 'l')
                gap = strtod(steps[++i], NULL);
            if (step[0] == 'f') {
                if ((data = client_read_file(steps[++i], &len)) == NULL)
                    return 2;
            } else if ((data = client_unescape(steps[++i], &len)) == NULL) {
                fprintf(stderr, "smtp_client: step %d: bad escape in '%s'\n", stepno, steps[i]);
                return 2;
            }
            if (closed || client_send(fd, data, len, gap) < 0) {
                if (!closed && errno != EPIPE && errno != ECONNRESET) {
                    fprintf(stderr, "smtp_client: step %d (%s): send failed: %s\n", stepno, step,
                            strerror(errno));
                    free(data);
                    return 1;
                }
                early = 1;
            } else {
                last_send = util_now();
            }
            free(data);
        } else if (strcmp(step, "recv") == 0) {
            double deadline = util_now() + o->timeout;

            if (i + 1 >= nsteps)
                client_usage(2);
            want += (size_t)strtoul(steps[++i], NULL, 10);
            while (cl.replies < want && !closed) {
                int r = client_read(fd, &cl, stdout, deadline, &reset);
                if (r == 0)
                    break;
                closed = r < 0;
            }
            if (cl.replies < want) {
                fprintf(stderr, "smtp_client: step %d (recv %s): %s with %zu of %zu replies\n",
                        stepno, steps[i], closed ? "connection closed" : "timed out", cl.replies,
                        want);
                return 1;
            }
        } else if (strcmp(step, "sleep") == 0) {
            if (i + 1 >= nsteps)
                client_usage(2);
            if (!closed)
                closed = client_wait_until(fd, &cl, util_now() + strtod(steps[++i], NULL), &reset);
            early = closed;
        } else if (strcmp(step, "close") == 0) {
            if (!closed)
                closed = client_wait_until(fd, &cl, util_now() + o->timeout, &reset);
            if (!closed) {
                fprintf(stderr, "smtp_client: step %d (close): still open after %.1f s\n", stepno,
                        o->timeout);
                return 1;
            }
            printf("closed after %.3f s%s\n", util_now() - last_send, reset ? " (reset)" : "");
            fflush(stdout);
        } else {
            fprintf(stderr, "smtp_client: unknown step '%s'\n", step);
            client_usage(2);
        }
        if (early) {
            int next = client_next_close(nsteps, steps, i + 1);

            if (next < 0) {
                fprintf(stderr, "smtp_client: step %d (%s): the server closed the connection\n",
                        stepno, step);
                return 1;
            }
            if (!closed)
                closed = client_wait_until(fd, &cl, util_now() + o->timeout, &reset);
            i = next - 1;
        }
    }
    close(fd);
    return 0;
}

/* client_probe - the prober role: N connections, each classified by its first reply */
static int client_probe(const struct client_opts *o)
{
    int *fds = xcalloc((size_t)o->connections, sizeof(*fds));
    int i, greeted = 0, refused = 0, other = 0, closed = 0, rc = 0;

    for (i = 0; i < o->connections; i++) {
        struct client_lines *cl = xcalloc(1, sizeof(*cl));
        double deadline = util_now() + o->timeout;
        int r = 1, reset = 0;

        if ((fds[i] = client_connect(o)) < 0) {
            free(cl);
            rc = 2;
            break;
        }
        while (cl->replies == 0 && r > 0)
            r = client_read(fds[i], cl, NULL, deadline, &reset);
        printf("%d: %s\n", i + 1, cl->replies > 0 ? cl->first : "closed");
        if (cl->replies == 0)
            closed++;
        else if (cl->first_code / 100 == 2)
            greeted++;
        else if (cl->first_code == 421)
            refused++;
        else
            other++;
        free(cl);
    }
    printf("connections=%d greeted=%d refused=%d other=%d closed=%d\n", o->connections, greeted,
           refused, other, closed);
    fflush(stdout);
    util_sleep(o->hold);
    for (i = 0; i < o->connections; i++)
        if (fds[i] > 0)
            close(fds[i]);
    free(fds);
    return rc;
}

/* A backend session: the connection, its record file, and where the dialogue is. */
struct client_backend_session {
    int fd;
    int record;
    const struct client_opts *o;
    int in_data;
    int auth_wait; /* AUTH without an initial response: the next line is the response */
    int lines;     /* lines received so far */
    size_t len;
    char line[CLIENT_LINE_MAX];
};

/* client_backend_say - write a reply (CRLF-terminated lines) to the proxy */
static void client_backend_say(struct client_backend_session *s, const char *text)
{
    (void)client_send(s->fd, text, strlen(text), 0);
}

/* client_backend_auth - answer an AUTH PLAIN response */
static void client_backend_auth(struct client_backend_session *s, const char *resp)
{
    client_backend_say(s, strcmp(resp, CLIENT_AUTH_OK) == 0
                              ? "235 2.7.0 Authentication successful\r\n"
                              : "535 5.7.8 Authentication failed\r\n");
}

/* client_backend_line - act on one line (line end removed); 1 to end the session */
static int client_backend_line(struct client_backend_session *s, char *line)
{
    static const char ehlo[] = "250-recorder\r\n"
                               "250-PIPELINING\r\n"
                               "250-SIZE 10240000\r\n"
                               "250-STARTTLS\r\n"
                               "250-CHUNKING\r\n"
                               "250-XCLIENT ADDR PORT NAME HELO\r\n"
                               "250-XFORWARD NAME ADDR PROTO HELO\r\n"
                               "250-8BITMIME\r\n"
                               "250-AUTH PLAIN\r\n"
                               "250-SMTPUTF8\r\n"
                               "250-X-EXPERIMENTAL\r\n"
                               "250-DSN\r\n"
                               "250 ENHANCEDSTATUSCODES\r\n";

    if (s->lines++ == 0 && strncmp(line, "PROXY ", 6) == 0)
        return 0;
    if (s->in_data) {
        if (strcmp(line, ".") == 0) {
            s->in_data = 0;
            client_backend_say(s, "250 2.0.0 Ok: queued\r\n");
        }
        return 0;
    }
    if (s->auth_wait) {
        s->auth_wait = 0;
        client_backend_auth(s, line);
        return 0;
    }
    if (strncasecmp(line, "EHLO", 4) == 0)
        client_backend_say(s, ehlo);
    else if (strncasecmp(line, "HELO", 4) == 0)
        client_backend_say(s, "250 recorder\r\n");
    else if (strncasecmp(line, "XCLIENT", 7) == 0)
        client_backend_say(s, "220 recorder ESMTP\r\n");
    else if (strncasecmp(line, "MAIL", 4) == 0) {
        util_sleep(s->o->mail_delay);
        client_backend_say(s, "250 2.1.0 Ok\r\n");
    } else if (strncasecmp(line, "RCPT", 4) == 0)
        client_backend_say(s, "250 2.1.5 Ok\r\n");
    else if (strncasecmp(line, "DATA", 4) == 0) {
        s->in_data = 1;
        client_backend_say(s, "354 End data with <CR><LF>.<CR><LF>\r\n");
    } else if (strncasecmp(line, "RSET", 4) == 0 || strncasecmp(line, "NOOP", 4) == 0)
        client_backend_say(s, "250 2.0.0 Ok\r\n");
    else if (strncasecmp(line, "AUTH PLAIN ", 11) == 0)
        client_backend_auth(s, line + 11);
    else if (strncasecmp(line, "AUTH PLAIN", 10) == 0 && line[10] == '\0') {
        s->auth_wait = 1;
        client_backend_say(s, "334 \r\n");
    } else if (strncasecmp(line, "STARTTLS", 8) == 0)
        client_backend_say(s, "220 2.0.0 Ready to start TLS\r\n");
    else if (strncasecmp(line, "VRFY", 4) == 0)
        client_backend_say(s, "252 2.0.0 Send some mail, I'll try my best\r\n");
    else if (strncasecmp(line, "QUIT", 4) == 0) {
        client_backend_say(s, "221 2.0.0 Bye\r\n");
        return 1;
    } else
        client_backend_say(s, "500 5.5.2 Error: command not recognized\r\n");
    return 0;
}

/* client_backend_serve - one connection: record every byte, answer every line; never returns */
static void client_backend_serve(const struct client_opts *o, int fd, unsigned long n)
{
    struct client_backend_session *s = xcalloc(1, sizeof(*s));
    char path[4096], buf[65536];
    ssize_t r;

    s->fd = fd;
    s->o = o;
    s->record = -1;
    if (o->record_dir != NULL) {
        snprintf(path, sizeof(path), "%s/conn.%lu", o->record_dir, n);
        if ((s->record = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) < 0) {
            fprintf(stderr, "smtp_client: %s: %s\n", path, strerror(errno));
            _exit(1);
        }
    }
    if (!o->silent)
        client_backend_say(s, "220 recorder ESMTP\r\n");
    while ((r = recv(fd, buf, sizeof(buf), 0)) != 0) {
        ssize_t i;

        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (s->record >= 0 && write(s->record, buf, (size_t)r) != r)
            _exit(1);
        if (o->silent)
            continue;
        for (i = 0; i < r; i++) {
            if (buf[i] != '\n') {
                if (s->len < sizeof(s->line) - 1)
                    s->line[s->len++] = buf[i];
                continue;
            }
            if (s->len > 0 && s->line[s->len - 1] == '\r')
                s->len--;
            s->line[s->len] = '\0';
            s->len = 0;
            if (client_backend_line(s, s->line))
                goto out;
        }
    }
out:
    close(fd);
    if (o->record_dir != NULL) {
        /* conn.N.end tells the test that the session is over and conn.N complete */
        snprintf(path, sizeof(path), "%s/conn.%lu.end", o->record_dir, n);
        close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
    }
    _exit(0);
}

/* client_backend - the backend role: accept forever, one child per connection */
static int client_backend(const struct client_opts *o)
{
    struct sockaddr_storage ss;
    struct sigaction sa;
    socklen_t len;
    unsigned long n = 0;
    int lfd, one = 1;

    if (netaddr_sockaddr(o->host, o->port, &ss, &len) < 0) {
        fprintf(stderr, "smtp_client: bad listen address %s\n", o->host);
        return 2;
    }
    if ((lfd = socket(ss.ss_family, SOCK_STREAM, 0)) < 0 ||
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(lfd, (struct sockaddr *)&ss, len) < 0 || listen(lfd, 128) < 0) {
        fprintf(stderr, "smtp_client: listen %s port %d: %s\n", o->host, o->port, strerror(errno));
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = SA_NOCLDWAIT;
    sigaction(SIGCHLD, &sa, NULL);
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        pid_t pid;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            fprintf(stderr, "smtp_client: accept: %s\n", strerror(errno));
            return 1;
        }
        n++;
        if ((pid = fork()) == 0) {
            close(lfd);
            prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (getppid() == 1)
                _exit(0);
            client_backend_serve(o, fd, n);
        }
        if (pid < 0)
            fprintf(stderr, "smtp_client: fork: %s\n", strerror(errno));
        close(fd);
    }
}

/* main - options, then the client, prober or backend role */
int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"hold", required_argument, NULL, 'H'},
        {"silent", no_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct client_opts o = {.timeout = 10.0};
    int opt;

    while ((opt = getopt_long(argc, argv, "+b:t:vn:lr:w:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            o.src = optarg;
            break;
        case 't':
            o.timeout = strtod(optarg, NULL);
            break;
        case 'v':
            o.verbose = 1;
            break;
        case 'n':
            o.connections = atoi(optarg);
            break;
        case 'H':
            o.hold = strtod(optarg, NULL);
            break;
        case 'l':
            o.listen = 1;
            break;
        case 'r':
            o.record_dir = optarg;
            break;
        case 's':
            o.silent = 1;
            break;
        case 'w':
            o.mail_delay = strtod(optarg, NULL);
            break;
        default:
            client_usage(opt == 'h' ? 0 : 2);
        }
    }
    if (argc - optind < 2 || o.timeout <= 0 || o.connections < 0 || o.connections > CLIENT_CONN_MAX)
        client_usage(2);
    o.host = argv[optind];
    o.port = atoi(argv[optind + 1]);
    if (o.port <= 0 || o.port > 65535)
        client_usage(2);
    if ((o.listen || o.connections > 0) && argc - optind != 2)
        client_usage(2);
    signal(SIGPIPE, SIG_IGN);
    if (o.listen)
        return client_backend(&o);
    if (o.connections > 0)
        return client_probe(&o);
    return client_steps(&o, argc - optind - 2, argv + optind + 2);
}
