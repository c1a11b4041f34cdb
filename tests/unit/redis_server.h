/*
 * redis_server - a real redis-server for the unit tests that need one: started by
 * fork/execv of Debian's /usr/bin/redis-server on a unix socket in the test's temporary
 * directory (and on a TCP port of 127.0.0.1 if asked), waited for until its socket
 * answers, stopped by PID; blocking hiredis commands run on it directly, an ACL user
 * added to it, and the files the tests write next to it (password files, a Sentinel's
 * configuration). Shared by tests/unit/torture_store_redis.c and
 * tests/unit/torture_redis_reader.c. A missing redis-server (or redis-sentinel) fails the
 * test with a message naming the package (the program's own name); it never skips it. The
 * extra arguments of redis_server_start end with NULL; it waits up to 2 s for the socket.
 */
#ifndef POPAUTH_REDIS_SERVER_H
#define POPAUTH_REDIS_SERVER_H

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#define REDIS_SERVER_BIN "/usr/bin/redis-server"

/* redis_server_dir_make - a new temporary directory /tmp/name.XXXXXX into dir */
static inline void redis_server_dir_make(char *dir, size_t size, const char *name)
{
    snprintf(dir, size, "/tmp/%s.XXXXXX", name);
    assert_non_null(mkdtemp(dir));
}

/* redis_server_dir_remove - remove the directory dir and all in it */
static inline void redis_server_dir_remove(const char *dir)
{
    char cmd[128];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* redis_server_spawn - run argv (NULL-ended), output to /dev/null; its PID; fails if missing */
static inline pid_t redis_server_spawn(const char *const *argv)
{
    pid_t pid;

    if (access(argv[0], X_OK) < 0)
        fail_msg("%s: %s (the %s package; scripts/install-deps installs it)", argv[0],
                 strerror(errno), strrchr(argv[0], '/') + 1);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

/* redis_server_connect - a blocking connection to unix socket sock (NULL: none listens) */
static inline redisContext *redis_server_connect(const char *sock)
{
    redisContext *c = redisConnectUnix(sock);

    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* redis_server_start - redis-server in dir on sock (+127.0.0.1:port unless 0), extras; its PID */
static inline pid_t redis_server_start(const char *dir, const char *sock, int port, ...)
{
    char portstr[16], rdb[160];
    const char *argv[40] = {REDIS_SERVER_BIN,
                            "--port",
                            portstr,
                            "--bind",
                            "127.0.0.1",
                            "--unixsocket",
                            sock,
                            "--save",
                            "",
                            "--appendonly",
                            "no",
                            "--dir",
                            dir,
                            "--dbfilename",
                            rdb,
                            "--daemonize",
                            "no"};
    int argc = 17, i;
    va_list ap;
    pid_t pid;

    snprintf(portstr, sizeof(portstr), "%d", port);
    snprintf(rdb, sizeof(rdb), "%s.rdb", strrchr(sock, '/') + 1);
    va_start(ap, port);
    while (argc < 39 && (argv[argc] = va_arg(ap, const char *)) != NULL)
        argc++;
    va_end(ap);
    argv[argc] = NULL;
    unlink(sock);
    pid = redis_server_spawn(argv);
    for (i = 0; i < 200; i++) { /* up to 2 s for the socket */
        redisContext *c = redis_server_connect(sock);
        redisFree(c);
        if (c != NULL)
            return pid;
        usleep(10000);
    }
    fail_msg("redis-server did not listen on %s", sock);
    return pid;
}

/* redis_server_stop - stop the process *pid with sig, wait for it, and set *pid to 0 */
static inline void redis_server_stop(pid_t *pid, int sig)
{
    if (*pid > 0) {
        kill(*pid, sig);
        if (sig != SIGKILL)
            kill(*pid, SIGCONT);
        waitpid(*pid, NULL, 0);
    }
    *pid = 0;
}

/* redis_server_cmd - run a command on the server at sock directly; the reply (free it) */
static inline redisReply *redis_server_cmd(const char *sock, const char *fmt, ...)
{
    redisContext *c = redis_server_connect(sock);
    redisReply *r;
    va_list ap;

    if (c == NULL)
        fail_msg("connect %s: it does not listen", sock);
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

/* redis_server_add_user - AUTH password, then ACL user with user_password, all on popauth:* */
static inline void redis_server_add_user(const char *sock, const char *password, const char *user,
                                         const char *user_password)
{
    redisContext *c = redis_server_connect(sock);
    redisReply *r;

    if (c == NULL)
        fail_msg("connect %s: it does not listen", sock);
    r = redisCommand(c, "AUTH %s", password);
    freeReplyObject(r);
    r = redisCommand(c, "ACL SETUSER %s on >%s ~popauth:* +@all", user, user_password);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STATUS);
    freeReplyObject(r);
    redisFree(c);
}

/* redis_server_write_file - a file at path of mode with text */
static inline void redis_server_write_file(const char *path, mode_t mode, const char *text)
{
    FILE *fp = fopen(path, "w");

    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(chmod(path, mode), 0);
}

#endif
