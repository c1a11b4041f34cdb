/*
 * latency - measures popauth's append-to-grant latency for scripts/bench-ingest: appends
 * one Dovecot login line (a fresh client address each time) to the followed log file,
 * then polls the store through its own read-only handle until the grant is readable,
 * COUNT times; prints p50, p99 and the maximum in milliseconds.
 * Usage: latency LOGFILE DATABASE [COUNT]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/store.h"
#include "shared/util.h"

#define LATENCY_TIMEOUT 5.0 /* seconds to wait for one grant */

/* latency_cmp - qsort order for doubles */
static int latency_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* main - append, poll, repeat; print the percentiles */
int main(int argc, char **argv)
{
    int count = argc > 3 ? atoi(argv[3]) : 1000, i, fd;
    double *ms;
    char err[512];
    struct store *st = NULL;

    if (argc < 3 || count <= 0) {
        fprintf(stderr, "usage: latency LOGFILE DATABASE [COUNT]\n");
        return 2;
    }
    if ((fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT, 0644)) < 0) {
        perror(argv[1]);
        return 2;
    }
    ms = calloc((size_t)count, sizeof(*ms));
    for (i = 0; i < 200 && st == NULL; i++) {
        st = store_open(argv[2], STORE_READONLY, err, sizeof(err));
        if (st == NULL)
            usleep(50000);
    }
    if (st == NULL || ms == NULL) {
        fprintf(stderr, "latency: %s\n", err);
        return 2;
    }
    for (i = 0; i < count; i++) {
        char line[512], addr[64], stamp[32];
        time_t t = time(NULL);
        struct tm tm;
        double t0;
        int n, rc;

        localtime_r(&t, &tm);
        strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
        snprintf(addr, sizeof(addr), "198.18.%d.%d", i / 250, 1 + i % 250);
        n = snprintf(line, sizeof(line),
                     "%s mx dovecot: pop3-login: Login: user=<lat%d>, method=PLAIN, rip=%s, "
                     "lip=192.0.2.1, mpid=1, session=<l%d>\n",
                     stamp, i, addr, i);
        t0 = util_now();
        if (write(fd, line, (size_t)n) != n) {
            perror("write");
            return 2;
        }
        while ((rc = store_lookup(st, addr, time(NULL), NULL, err, sizeof(err))) != 1) {
            if (util_now() - t0 > LATENCY_TIMEOUT) {
                fprintf(stderr, "latency: no grant for %s after %.0f s (%s)\n", addr,
                        LATENCY_TIMEOUT, rc < 0 ? err : "not found");
                return 1;
            }
            usleep(100);
        }
        ms[i] = (util_now() - t0) * 1000.0;
    }
    qsort(ms, (size_t)count, sizeof(*ms), latency_cmp);
    printf("append-to-grant latency over %d logins: p50 %.2f ms, p99 %.2f ms, max %.2f ms\n", count,
           ms[count / 2], ms[(count * 99) / 100 - (count >= 100 ? 1 : 0)], ms[count - 1]);
    store_close(st);
    free(ms);
    close(fd);
    return 0;
}
