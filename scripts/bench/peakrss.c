/*
 * peakrss - runs a command and prints its peak resident memory, for scripts/bench-sniff.
 * Usage: peakrss COMMAND [ARG...]
 * Prints "peak_rss_kib=N status=S" on standard error after the command ends (N from
 * wait4's ru_maxrss, S its exit status, or 128+signal) and exits with the command's
 * status.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* main - fork, exec, wait4, report */
int main(int argc, char **argv)
{
    struct rusage ru;
    pid_t pid;
    int status, rc;

    if (argc < 2) {
        fprintf(stderr, "usage: peakrss COMMAND [ARG...]\n");
        return 2;
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror(argv[1]);
        _exit(127);
    }
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    fprintf(stderr, "peak_rss_kib=%ld status=%d\n", ru.ru_maxrss, rc);
    return rc;
}
