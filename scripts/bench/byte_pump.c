/*
 * byte_pump - the floor for scripts/bench-proxy: a TCP relay with no logic at all. One
 * libev loop, like smtpgate; for each accepted connection it connects to the backend and
 * copies bytes both ways, one read and one write per event, without looking at them. What
 * a proxy costs beyond this is what its parsing costs; what this costs is the price of
 * having any process in the middle. TCP_NODELAY is set on both sides, as smtpgate does.
 * A side that ends or fails closes both. A write that is not taken whole keeps the rest
 * and stops reading the other side until it has gone (backpressure).
 * Usage: byte_pump LISTEN_HOST LISTEN_PORT BACKEND_HOST BACKEND_PORT   (IPv4, numeric)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

#define PUMP_BUF 16384 /* bytes in flight per direction, as one smtpgate buffer */

/* One direction: bytes read from src_fd go to dst_fd. */
struct pump_dir {
    ev_io rd; /* src_fd readable */
    ev_io wr; /* dst_fd writable, only while rest of buf waits */
    struct pump_conn *conn;
    size_t off, len; /* buf[off..len) waits for dst_fd */
    char buf[PUMP_BUF];
};

struct pump_conn {
    int cfd, bfd;
    struct pump_dir up;   /* client -> backend */
    struct pump_dir down; /* backend -> client */
};

static struct sockaddr_in pump_backend;

/* pump_close - stop every watcher of c, close both sides, free c */
static void pump_close(struct ev_loop *loop, struct pump_conn *c)
{
    ev_io_stop(loop, &c->up.rd);
    ev_io_stop(loop, &c->up.wr);
    ev_io_stop(loop, &c->down.rd);
    ev_io_stop(loop, &c->down.wr);
    close(c->cfd);
    close(c->bfd);
    free(c);
}

/* pump_send - write what waits in d once; 0, or -1 if the connection failed */
static int pump_send(struct ev_loop *loop, struct pump_dir *d)
{
    ssize_t n = send(d->wr.fd, d->buf + d->off, d->len - d->off, MSG_NOSIGNAL);

    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
        return -1;
    if (n > 0)
        d->off += (size_t)n;
    if (d->off < d->len) {
        ev_io_stop(loop, &d->rd);
        ev_io_start(loop, &d->wr);
    } else {
        d->off = d->len = 0;
        ev_io_stop(loop, &d->wr);
        ev_io_start(loop, &d->rd);
    }
    return 0;
}

/* pump_read_cb - one read from the source, one write to the destination */
static void pump_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pump_dir *d = (struct pump_dir *)(void *)((char *)w - offsetof(struct pump_dir, rd));
    ssize_t n = recv(w->fd, d->buf, sizeof(d->buf), 0);

    (void)revents;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (n <= 0) {
        pump_close(loop, d->conn);
        return;
    }
    d->off = 0;
    d->len = (size_t)n;
    if (pump_send(loop, d) < 0)
        pump_close(loop, d->conn);
}

/* pump_write_cb - the destination can take the rest */
static void pump_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct pump_dir *d = (struct pump_dir *)(void *)((char *)w - offsetof(struct pump_dir, wr));

    (void)revents;
    if (pump_send(loop, d) < 0)
        pump_close(loop, d->conn);
}

/* pump_dir_init - set up direction d from src to dst of c */
static void pump_dir_init(struct pump_dir *d, struct pump_conn *c, int src, int dst)
{
    d->conn = c;
    d->off = d->len = 0;
    ev_io_init(&d->rd, pump_read_cb, src, EV_READ);
    ev_io_init(&d->wr, pump_write_cb, dst, EV_WRITE);
}

/* pump_accept_cb - take the waiting connections and connect each to the backend */
static void pump_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    int one = 1;

    (void)revents;
    for (;;) {
        int cfd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), bfd;
        struct pump_conn *c;

        if (cfd < 0)
            return;
        bfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (bfd < 0 || (connect(bfd, (struct sockaddr *)&pump_backend, sizeof(pump_backend)) < 0 &&
                        errno != EINPROGRESS)) {
            perror("byte_pump: backend");
            if (bfd >= 0)
                close(bfd);
            close(cfd);
            continue;
        }
        (void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        (void)setsockopt(bfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        if ((c = malloc(sizeof(*c))) == NULL) {
            close(bfd);
            close(cfd);
            continue;
        }
        c->cfd = cfd;
        c->bfd = bfd;
        pump_dir_init(&c->up, c, cfd, bfd);
        pump_dir_init(&c->down, c, bfd, cfd);
        ev_io_start(loop, &c->up.rd);
        ev_io_start(loop, &c->down.rd);
    }
}

/* pump_addr - sin from a numeric IPv4 host and a port; -1 if bad */
static int pump_addr(struct sockaddr_in *sin, const char *host, const char *port)
{
    long p = strtol(port, NULL, 10);

    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons((uint16_t)p);
    return p > 0 && p < 65536 && inet_pton(AF_INET, host, &sin->sin_addr) == 1 ? 0 : -1;
}

/* main - listen and relay until killed */
int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct sockaddr_in sa;
    int fd, one = 1;
    ev_io accept_w;

    if (argc != 5 || pump_addr(&sa, argv[1], argv[2]) < 0 ||
        pump_addr(&pump_backend, argv[3], argv[4]) < 0) {
        fprintf(stderr, "usage: byte_pump LISTEN_HOST LISTEN_PORT BACKEND_HOST BACKEND_PORT\n");
        return 2;
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1024) < 0) {
        perror("byte_pump");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ev_io_init(&accept_w, pump_accept_cb, fd, EV_READ);
    ev_io_start(loop, &accept_w);
    ev_run(loop, 0);
    return 0;
}
