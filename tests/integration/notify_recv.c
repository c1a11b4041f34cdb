/*
 * notify_recv - a test stand-in for the service manager's end of sd_notify: binds a
 * datagram socket at PATH (the NOTIFY_SOCKET a daemon is given; mode 0666, so that a
 * daemon running as any user can send) and prints each message it receives as one line,
 * "pid=PID uid=UID FIELD FIELD...", the sender's pid and uid as the kernel reports them
 * (SO_PASSCRED) and the message's newline-separated fields separated by spaces.
 *
 *   notify_recv PATH
 *
 * Runs until SIGTERM or SIGINT, then removes PATH and exits 0; 2 on a usage or set-up
 * error. stdout is flushed after each line, so a test can wait for a line in a file.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  /* struct ucred, SCM_CREDENTIALS; also built alone by packaging/install-check \
                      */
#endif
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define NOTIFY_RECV_MAX 4096 /* longer messages are cut */

static volatile sig_atomic_t notify_recv_stop;

/* notify_recv_signal - SIGTERM/SIGINT: leave the receive loop */
static void notify_recv_signal(int sig)
{
    (void)sig;
    notify_recv_stop = 1;
}

/* notify_recv_print - print one message with its sender's credentials as one line */
static void notify_recv_print(const struct ucred *cred, const char *buf, size_t len)
{
    size_t i;

    if (cred != NULL)
        printf("pid=%ld uid=%ld", (long)cred->pid, (long)cred->uid);
    else
        printf("pid=? uid=?");
    putchar(' ');
    for (i = 0; i < len; i++)
        putchar(buf[i] == '\n' ? ' ' : (buf[i] >= 0x20 && buf[i] < 0x7f) ? buf[i] : '?');
    putchar('\n');
    fflush(stdout);
}

/* notify_recv_one - receive one message on fd and print it; -1 on error */
static int notify_recv_one(int fd)
{
    char buf[NOTIFY_RECV_MAX];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(struct ucred))];
    } control;
    struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = control.buf,
                         .msg_controllen = sizeof(control.buf)};
    const struct ucred *cred = NULL;
    struct cmsghdr *c;
    ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

    if (n < 0)
        return errno == EINTR ? 0 : -1;
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
            c->cmsg_len == CMSG_LEN(sizeof(struct ucred)))
            cred = (const struct ucred *)(const void *)CMSG_DATA(c);
    while (n > 0 && buf[n - 1] == '\n')
        n--;
    notify_recv_print(cred, buf, (size_t)n);
    return 0;
}

/* main - bind PATH, print every message until a signal */
int main(int argc, char **argv)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    struct sigaction sa;
    int fd, one = 1;

    if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "usage: notify_recv PATH\n");
        return 2;
    }
    memcpy(sun.sun_path, argv[1], strlen(argv[1]) + 1);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = notify_recv_signal; /* no SA_RESTART: recvmsg returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0) {
        perror("notify_recv: socket");
        return 2;
    }
    unlink(sun.sun_path);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || chmod(sun.sun_path, 0666) < 0) {
        fprintf(stderr, "notify_recv: %s: %s\n", sun.sun_path, strerror(errno));
        return 2;
    }
    while (!notify_recv_stop)
        if (notify_recv_one(fd) < 0) {
            perror("notify_recv: recvmsg");
            break;
        }
    unlink(sun.sun_path);
    close(fd);
    return 0;
}
