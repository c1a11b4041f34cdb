/*
 * bench_store - throughput of the grant store's two hot paths, through the public API.
 *
 * Grants: a fresh store in a temporary directory takes ROWS distinct addresses (half IPv4,
 * half IPv6, canonical text, in shuffled order) in batches of BATCH grants, each batch one
 * store_begin/store_commit transaction, as popauth writes them. Logins arrive at BENCH_RATE
 * a second of simulated time and each lasts BENCH_LIFETIME, so expiry times rise as they
 * do in real traffic. Each run starts from a new empty store, so every run measures
 * inserts, never re-grants.
 * Lookups: on the store the last grant run filled, LOOKUPS random store_lookup calls, 80%
 * for stored addresses and 20% for addresses never stored, as smtpgate reads them (a
 * read-only handle).
 * Each measurement runs RUNS times; every run and the median are printed. Not a test:
 * scripts/bench-store builds it in Release mode and runs it.
 *
 * usage: bench_store [-n rows] [-l lookups] [-b batch] [-r runs] [-d tmpdir]
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db/store.h"
#include "shared/util.h"

#define BENCH_ROWS     1000000
#define BENCH_LOOKUPS  1000000
#define BENCH_BATCH    1000
#define BENCH_RUNS     5
#define BENCH_MAXRUNS  99
#define BENCH_NOW      1700000000 /* the first login; lookups happen at this time */
#define BENCH_RATE     100        /* logins per second of simulated time */
#define BENCH_LIFETIME 3600       /* each grant lasts an hour from its login */

struct bench_opts {
    long rows, lookups, batch;
    int runs;
    const char *tmpdir;
};

/* bench_die - print a message and exit: this is a benchmark, not the request path */
static void bench_die(const char *what, const char *err)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, err);
    exit(1);
}

/* bench_rand - xorshift64*: fast, reproducible, good enough to pick addresses */
static uint64_t bench_rand(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ULL;
}

/* bench_address - the canonical text of address number k (even: IPv4, odd: IPv6) */
static void bench_address(long k, char *buf, size_t buflen)
{
    unsigned long h = (unsigned long)k >> 1;

    if ((k & 1) == 0)
        snprintf(buf, buflen, "10.%lu.%lu.%lu", (h >> 16) & 255, (h >> 8) & 255, h & 255);
    else
        snprintf(buf, buflen, "2001:db8:%lx:%lx::1", 1 + h / 65535, 1 + h % 65535);
}

/* bench_cmp - qsort order of doubles */
static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* bench_report - print the runs and their median under label */
static void bench_report(const char *label, const double *rates, int runs)
{
    double sorted[BENCH_MAXRUNS];
    int i;

    memcpy(sorted, rates, sizeof(double) * (size_t)runs);
    qsort(sorted, (size_t)runs, sizeof(double), bench_cmp);
    printf("%s: median %.0f (runs:", label, sorted[runs / 2]);
    for (i = 0; i < runs; i++)
        printf(" %.0f", rates[i]);
    printf(")\n");
    fflush(stdout);
}

/* bench_rmdir - remove the store files and the temporary directory */
static void bench_rmdir(const char *dir)
{
    struct dirent *de;
    char p[4096 + 256 + 2];
    DIR *d;

    if ((d = opendir(dir)) == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof(p), "%s/%s", dir, de->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* bench_grants - fill a fresh store at path; returns grants per second */
static double bench_grants(const struct bench_opts *o, const char *path, const long *order)
{
    char err[512], addr[ADDR_STRLEN];
    struct store *st;
    int64_t login;
    double t0, t1;
    long i;

    unlink(path);
    if ((st = store_open(path, STORE_READWRITE, err, sizeof(err))) == NULL)
        bench_die("open", err);
    t0 = util_now();
    for (i = 0; i < o->rows; i++) {
        if (i % o->batch == 0 && store_begin(st, err, sizeof(err)) < 0)
            bench_die("begin", err);
        bench_address(order[i], addr, sizeof(addr));
        login = BENCH_NOW + i / BENCH_RATE;
        if (store_grant(st, addr, "user", "dovecot", login, login + BENCH_LIFETIME, err,
                        sizeof(err)) < 0)
            bench_die("grant", err);
        if ((i % o->batch == o->batch - 1 || i == o->rows - 1) &&
            store_commit(st, err, sizeof(err)) < 0)
            bench_die("commit", err);
    }
    t1 = util_now();
    store_close(st);
    return (double)o->rows / (t1 - t0);
}

/* bench_lookups - random lookups, 80% hits; returns lookups per second */
static double bench_lookups(const struct bench_opts *o, const char *path, uint64_t seed)
{
    char err[512], (*addrs)[ADDR_STRLEN];
    struct store_grant g;
    long i, hits = 0, want = 0;
    struct store *st;
    double t0, t1;
    int rc;

    /* the addresses are chosen and formatted before the clock starts */
    addrs = malloc(sizeof(*addrs) * (size_t)o->lookups);
    if (addrs == NULL)
        bench_die("malloc", "out of memory");
    for (i = 0; i < o->lookups; i++) {
        uint64_t r = bench_rand(&seed);
        if (r % 100 < 80) {
            bench_address((long)((r >> 8) % (uint64_t)o->rows), addrs[i], ADDR_STRLEN);
            want++;
        } else {
            bench_address(o->rows + (long)((r >> 8) % (uint64_t)o->rows), addrs[i], ADDR_STRLEN);
        }
    }
    if ((st = store_open(path, STORE_READONLY, err, sizeof(err))) == NULL)
        bench_die("open", err);
    t0 = util_now();
    for (i = 0; i < o->lookups; i++) {
        if ((rc = store_lookup(st, addrs[i], BENCH_NOW, &g, err, sizeof(err))) < 0)
            bench_die("lookup", err);
        hits += rc;
    }
    t1 = util_now();
    store_close(st);
    free(addrs);
    if (hits != want) {
        fprintf(stderr, "bench_store: %ld hits, expected %ld\n", hits, want);
        exit(1);
    }
    return (double)o->lookups / (t1 - t0);
}

/* bench_usage - print the usage line and exit */
static void bench_usage(void)
{
    fprintf(stderr, "usage: bench_store [-n rows] [-l lookups] [-b batch] [-r runs] [-d tmpdir]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct bench_opts o = {BENCH_ROWS, BENCH_LOOKUPS, BENCH_BATCH, BENCH_RUNS, NULL};
    double grant_rates[BENCH_MAXRUNS], lookup_rates[BENCH_MAXRUNS];
    char dir[4096], path[4200], label[128];
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    long *order, i, j, t;
    int c, r;

    while ((c = getopt(argc, argv, "n:l:b:r:d:")) != -1) {
        switch (c) {
        case 'n':
            o.rows = atol(optarg);
            break;
        case 'l':
            o.lookups = atol(optarg);
            break;
        case 'b':
            o.batch = atol(optarg);
            break;
        case 'r':
            o.runs = atoi(optarg);
            break;
        case 'd':
            o.tmpdir = optarg;
            break;
        default:
            bench_usage();
        }
    }
    if (optind != argc || o.rows < 1 || o.lookups < 1 || o.batch < 1 || o.runs < 1 ||
        o.runs > BENCH_MAXRUNS)
        bench_usage();
    if (o.tmpdir == NULL && (o.tmpdir = getenv("TMPDIR")) == NULL)
        o.tmpdir = "/tmp";
    snprintf(dir, sizeof(dir), "%s/bench_store.XXXXXX", o.tmpdir);
    if (mkdtemp(dir) == NULL)
        bench_die(dir, "cannot create the temporary directory");
    snprintf(path, sizeof(path), "%s/popauth.db", dir);

    /* insertion order: a shuffle, as logins arrive from all over the address space */
    if ((order = malloc(sizeof(*order) * (size_t)o.rows)) == NULL)
        bench_die("malloc", "out of memory");
    for (i = 0; i < o.rows; i++)
        order[i] = i;
    for (i = o.rows - 1; i > 0; i--) {
        j = (long)(bench_rand(&seed) % (uint64_t)(i + 1));
        t = order[i];
        order[i] = order[j];
        order[j] = t;
    }

    printf("bench_store: %ld rows, %ld lookups, batches of %ld, %d runs, store in %s\n", o.rows,
           o.lookups, o.batch, o.runs, dir);
    fflush(stdout);
    for (r = 0; r < o.runs; r++) {
        grant_rates[r] = bench_grants(&o, path, order);
        printf("  grant run %d (fresh store): %.0f grants/s\n", r + 1, grant_rates[r]);
        fflush(stdout);
    }
    snprintf(label, sizeof(label), "grants/s (batched %ld, fresh store each run)", o.batch);
    bench_report(label, grant_rates, o.runs);

    for (r = 0; r < o.runs; r++) {
        lookup_rates[r] = bench_lookups(&o, path, seed + (uint64_t)r);
        printf("  lookup run %d: %.0f lookups/s\n", r + 1, lookup_rates[r]);
        fflush(stdout);
    }
    snprintf(label, sizeof(label), "lookups/s (80%% hits, %ld-row store, read-only handle)",
             o.rows);
    bench_report(label, lookup_rates, o.runs);

    free(order);
    bench_rmdir(dir);
    return 0;
}
