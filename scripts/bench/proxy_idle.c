/*
 * proxy_idle - idle SMTP clients for scripts/bench-proxy's memory figure: opens COUNT
 * connections to HOST:PORT, reads each one's whole greeting (so smtpgate has connected
 * its backend and passed the greeting on), prints "open COUNT", then holds every
 * connection without a word until it is killed. Exits 1 if a connection or greeting
 * fails, naming which.
 * Usage: proxy_idle HOST PORT COUNT
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define IDLE_TIMEOUT 10 /* seconds to wait for a greeting */

/* idle_greeting - read fd's greeting up to its last line ("220 ..."); 0, or -1 */
static int idle_greeting(int fd)
{
    char buf[4096];
    size_t len = 0;

    for (;;) {
        ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
        char *line = buf;
        char *eol;

        if (n <= 0)
            return -1;
        len += (size_t)n;
        buf[len] = '\0';
        while ((eol = strstr(line, "\r\n")) != NULL) {
            if (eol - line >= 4 && line[3] == ' ')
                return strncmp(line, "220", 3) == 0 ? 0 : -1;
            line = eol + 2;
        }
        if (len == sizeof(buf) - 1)
            return -1;
    }
}

/* main - open the connections, then wait to be killed */
int main(int argc, char **argv)
{
    struct sockaddr_in sin;
    struct timeval tv = {IDLE_TIMEOUT, 0};
    long count, i;

    if (argc != 4 || (count = strtol(argv[3], NULL, 10)) <= 0) {
        fprintf(stderr, "usage: proxy_idle HOST PORT COUNT\n");
        return 2;
    }
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
        fprintf(stderr, "proxy_idle: %s is not an IPv4 address\n", argv[1]);
        return 2;
    }
    for (i = 0; i < count; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);

        if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
            connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
            fprintf(stderr, "proxy_idle: connection %ld: ", i + 1);
            perror("connect");
            return 1;
        }
        if (idle_greeting(fd) < 0) {
            fprintf(stderr, "proxy_idle: connection %ld: no 220 greeting\n", i + 1);
            return 1;
        }
    }
    printf("open %ld\n", count);
    fflush(stdout);
    for (;;)
        pause();
}
