/*
 * dunno_server - the ceiling for scripts/bench-policy: a policy server with no logic.
 * One libev loop, like smtpgate; it reads requests and answers each complete one
 * (an empty line ends it) with "action=DUNNO", in order, on persistent connections.
 * Usage: dunno_server HOST PORT
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ev.h>

struct dunno_conn {
    ev_io io;
    int newline; /* the last byte seen was '\n' */
};

/* dunno_read_cb - answer every request that ended in what arrived */
static void dunno_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    static const char reply[] = "action=DUNNO\n\n";
    struct dunno_conn *c = (struct dunno_conn *)w;
    char buf[65536], out[65536];
    size_t nout = 0;
    ssize_t n, i;

    (void)revents;
    n = read(w->fd, buf, sizeof(buf));
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        ev_io_stop(loop, w);
        close(w->fd);
        free(c);
        return;
    }
    for (i = 0; i < n; i++) {
        if (buf[i] == '\n' && c->newline && nout + sizeof(reply) < sizeof(out)) {
            memcpy(out + nout, reply, sizeof(reply) - 1);
            nout += sizeof(reply) - 1;
        }
        c->newline = buf[i] == '\n';
    }
    if (nout > 0 && write(w->fd, out, nout) < 0)
        perror("write");
}

/* dunno_accept_cb - a new connection */
static void dunno_accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    int fd = accept(w->fd, NULL, NULL);
    struct dunno_conn *c;

    (void)revents;
    if (fd < 0)
        return;
    c = calloc(1, sizeof(*c));
    ev_io_init(&c->io, dunno_read_cb, fd, EV_READ);
    ev_io_start(loop, &c->io);
}

/* main - listen and serve until killed */
int main(int argc, char **argv)
{
    struct ev_loop *loop = ev_default_loop(0);
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    ev_io accept_w;

    if (argc != 3) {
        fprintf(stderr, "usage: dunno_server HOST PORT\n");
        return 2;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)atoi(argv[2]));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
        perror("dunno_server");
        return 2;
    }
    ev_io_init(&accept_w, dunno_accept_cb, fd, EV_READ);
    ev_io_start(loop, &accept_w);
    ev_run(loop, 0);
    return 0;
}
