/*
 * genlog - writes a realistic mail log for scripts/bench-ingest: BSD syslog lines over
 * the last minutes, about 10% successful POP3/IMAP logins (Dovecot mostly, some Courier
 * and Cyrus) from about 40,000 client addresses (a tenth of them IPv6), the rest failed
 * logins, logouts and MTA noise. Deterministic for a given seed.
 * Usage: genlog LINES [SEED] > FILE
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define GENLOG_ADDRESSES 40000

static uint64_t genlog_state = 88172645463325252ULL;

/* genlog_rand - xorshift64 */
static uint64_t genlog_rand(void)
{
    genlog_state ^= genlog_state << 13;
    genlog_state ^= genlog_state >> 7;
    genlog_state ^= genlog_state << 17;
    return genlog_state;
}

/* genlog_addr - the text of client address number n */
static const char *genlog_addr(unsigned n, char *buf, size_t len)
{
    if (n % 10 == 0)
        snprintf(buf, len, "2001:db8:%x::%x", n >> 8, n & 0xff);
    else
        snprintf(buf, len, "%u.%u.%u.%u", 100 + (n >> 16) % 100, (n >> 8) & 0xff, n & 0xff,
                 1 + n % 250);
    return buf;
}

/* main - write the requested number of lines */
int main(int argc, char **argv)
{
    long lines = argc > 1 ? atol(argv[1]) : 1000000, i;
    time_t start = time(NULL) - 600;
    char ts[32], ip[64];

    if (argc > 2)
        genlog_state ^= (uint64_t)atoll(argv[2]) * 0x9e3779b97f4a7c15ULL;
    for (i = 0; i < lines; i++) {
        time_t t = start + (time_t)(i * 600 / (lines ? lines : 1));
        unsigned r = (unsigned)(genlog_rand() % 100), n;
        unsigned pid = 1000 + (unsigned)(genlog_rand() % 30000);
        struct tm tm;

        localtime_r(&t, &tm);
        strftime(ts, sizeof(ts), "%b %e %H:%M:%S", &tm);
        n = (unsigned)(genlog_rand() % GENLOG_ADDRESSES);
        genlog_addr(n, ip, sizeof(ip));
        if (r < 7)
            printf("%s mx dovecot[%u]: %s-login: Login: user=<user%u>, method=PLAIN, rip=%s, "
                   "lip=192.0.2.1, mpid=%u, TLS, session=<k%08x>\n",
                   ts, pid, r < 4 ? "pop3" : "imap", n, ip, pid + 1, (unsigned)genlog_rand());
        else if (r < 9)
            printf("%s mx pop3d: LOGIN, user=user%u, ip=[::ffff:%s], port=[%u], protocol=POP3\n",
                   ts, n, n % 10 == 0 ? "198.51.100.7" : ip, pid);
        else if (r < 10)
            printf("%s mx imap[%u]: login: host%u.example [%s] user%u plaintext User logged in "
                   "SESSIONID=<mx-%u>\n",
                   ts, pid, n, ip, n, pid);
        else if (r < 20)
            printf("%s mx dovecot[%u]: pop3-login: Aborted login (auth failed, 1 attempts in 2 "
                   "secs): user=<user%u>, method=PLAIN, rip=%s, lip=192.0.2.1, TLS, "
                   "session=<f%08x>\n",
                   ts, pid, n, ip, (unsigned)genlog_rand());
        else if (r < 30)
            printf("%s mx dovecot[%u]: pop3(user%u)<%u><k%08x>: Disconnected: Logged out top=0/0, "
                   "retr=1/2048, del=1/1, size=2048\n",
                   ts, pid, n, pid, (unsigned)genlog_rand());
        else if (r < 55)
            printf("%s mx postfix/smtpd[%u]: connect from unknown[%s]\n", ts, pid, ip);
        else if (r < 75)
            printf("%s mx postfix/smtpd[%u]: %08X: client=unknown[%s]\n", ts, pid,
                   (unsigned)genlog_rand(), ip);
        else if (r < 90)
            printf("%s mx postfix/qmgr[%u]: %08X: from=<sender%u@example.org>, size=%u, "
                   "nrcpt=1 (queue active)\n",
                   ts, pid, (unsigned)genlog_rand(), n, 1000 + pid);
        else
            printf("%s mx postfix/smtp[%u]: %08X: to=<rcpt%u@example.net>, relay=mx.example.net"
                   "[203.0.113.%u]:25, delay=0.3, delays=0.1/0/0.1/0.1, dsn=2.0.0, status=sent "
                   "(250 2.0.0 Ok: queued)\n",
                   ts, pid, (unsigned)genlog_rand(), n, n % 250);
    }
    return 0;
}
