/*
 * torture_listen - unit tests for socket activation in shared/listen.c. Each case sets
 * up what systemd would (listening sockets at fd 3 on, LISTEN_PID and LISTEN_FDS) in this
 * process and checks what listen_inherit, listen_open, listen_inherit_done and
 * listen_close make of it: an inherited unix or inet socket stands in for the entry bound
 * to its address (and its file is never removed), an entry without one is opened as
 * usual, and every way of serving a socket the config does not name is refused: an
 * inherited socket no entry takes, two inherited sockets bound to one entry's address,
 * one socket taken by two entries, a socket that is not listening.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared/listen.h"

#define TORTURE_LISTEN_FD0  3   /* SD_LISTEN_FDS_START */
#define TORTURE_LISTEN_HIGH 200 /* where the sockets wait while fd 3 on are freed */

static char torture_listen_dir[64];

/* torture_listen_path - a socket path in the test directory */
static const char *torture_listen_path(const char *name)
{
    static char buf[4][128];
    static int next;
    char *p = buf[next++ % 4];

    snprintf(p, sizeof(buf[0]), "%s/%s", torture_listen_dir, name);
    return p;
}

/* torture_listen_unix - a unix stream socket bound to path, listening if listening */
static int torture_listen_unix(const char *path, int listening)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    unlink(path);
    assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    if (listening)
        assert_int_equal(listen(fd, 8), 0);
    return fd;
}

/* torture_listen_inet - a listening TCP socket on 127.0.0.1 and a free port, in *port */
static int torture_listen_inet(unsigned *port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 8), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    *port = ntohs(sin.sin_port);
    return fd;
}

/* torture_listen_pass - put the n sockets fds at fd 3 on and set LISTEN_PID and
 * LISTEN_FDS as systemd does */
static void torture_listen_pass(const int *fds, int n)
{
    char buf[32];
    int i;

    for (i = 0; i < n; i++) {
        assert_int_equal(dup2(fds[i], TORTURE_LISTEN_HIGH + i), TORTURE_LISTEN_HIGH + i);
        close(fds[i]);
    }
    for (i = 0; i < n; i++) {
        assert_int_equal(dup2(TORTURE_LISTEN_HIGH + i, TORTURE_LISTEN_FD0 + i),
                         TORTURE_LISTEN_FD0 + i);
        close(TORTURE_LISTEN_HIGH + i);
    }
    snprintf(buf, sizeof(buf), "%ld", (long)getpid());
    setenv("LISTEN_PID", buf, 1);
    snprintf(buf, sizeof(buf), "%d", n);
    setenv("LISTEN_FDS", buf, 1);
}

/* torture_listen_close_passed - close fd 3 on after a case (n sockets) */
static void torture_listen_close_passed(int n)
{
    int i;

    for (i = 0; i < n; i++)
        close(TORTURE_LISTEN_FD0 + i);
}

/* test_no_activation - without LISTEN_FDS nothing is inherited and entries are opened */
static void test_no_activation(void **state)
{
    const char *path = torture_listen_path("n");
    struct listen_socket ls;
    char spec[160], err[512];
    struct stat sb;

    (void)state;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    assert_int_equal(listen_inherit(err, sizeof(err)), 0);
    snprintf(spec, sizeof(spec), "unix:%s:mode=0600", path);
    assert_int_equal(listen_open("policy_listen", spec, &ls, err, sizeof(err)), 0);
    assert_false(ls.inherited);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(listen_inherit_done(err, sizeof(err)), 0);
    listen_close(&ls);
    assert_int_equal(stat(path, &sb), -1); /* its own socket is removed */
}

/* test_unix_inherited - the inherited unix socket stands in for its entry; its file
 * stays after listen_close; the variables are gone */
static void test_unix_inherited(void **state)
{
    const char *path = torture_listen_path("a");
    char spec[160], err[512];
    struct listen_socket ls;
    struct stat sb;
    int fd = torture_listen_unix(path, 1);

    (void)state;
    assert_int_equal(chmod(path, 0660), 0);
    torture_listen_pass(&fd, 1);
    assert_int_equal(listen_inherit(err, sizeof(err)), 1);
    assert_null(getenv("LISTEN_FDS"));
    assert_null(getenv("LISTEN_PID"));
    snprintf(spec, sizeof(spec), "unix:%s:mode=0600", path);
    assert_int_equal(listen_open("policy_listen", spec, &ls, err, sizeof(err)), 0);
    assert_int_equal(ls.fd, TORTURE_LISTEN_FD0);
    assert_true(ls.inherited);
    assert_true((fcntl(ls.fd, F_GETFL) & O_NONBLOCK) != 0);
    assert_true((fcntl(ls.fd, F_GETFD) & FD_CLOEXEC) != 0);
    assert_int_equal(listen_inherit_done(err, sizeof(err)), 0);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0660); /* no chmod */
    listen_close(&ls);
    assert_int_equal(stat(path, &sb), 0); /* not removed */
    unlink(path);
}

/* test_inet_inherited - an inherited inet socket stands in for the entry with its
 * address and port, not for another address on the same port; an entry without one is
 * opened */
static void test_inet_inherited(void **state)
{
    struct listen_socket ls, other;
    char spec[160], err[512];
    unsigned port;
    int fd = torture_listen_inet(&port);

    (void)state;
    torture_listen_pass(&fd, 1);
    assert_int_equal(listen_inherit(err, sizeof(err)), 1);
    snprintf(spec, sizeof(spec), "unix:%s", torture_listen_path("b"));
    assert_int_equal(listen_open("policy_listen", spec, &other, err, sizeof(err)), 0);
    assert_false(other.inherited);
    assert_true(other.fd > TORTURE_LISTEN_FD0);
    snprintf(spec, sizeof(spec), "inet:127.0.0.1:%u", port);
    assert_int_equal(listen_open("metrics_listen", spec, &ls, err, sizeof(err)), 0);
    assert_int_equal(ls.fd, TORTURE_LISTEN_FD0);
    assert_true(ls.inherited);
    assert_int_equal(listen_inherit_done(err, sizeof(err)), 0);
    listen_close(&ls);
    listen_close(&other);
}

/* test_unnamed - an inherited socket that no entry takes is refused, naming the fd and
 * its address */
static void test_unnamed(void **state)
{
    struct listen_socket ls;
    char spec[160], err[512], want[256];
    unsigned port;
    int fd = torture_listen_inet(&port);

    (void)state;
    torture_listen_pass(&fd, 1);
    assert_int_equal(listen_inherit(err, sizeof(err)), 1);
    snprintf(spec, sizeof(spec), "inet:0.0.0.0:%u", port == 65535 ? 65534 : port + 1);
    (void)listen_open("policy_listen", spec, &ls, err, sizeof(err));
    assert_int_equal(listen_inherit_done(err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "fd 3 (inet:127.0.0.1:%u) is named by no", port);
    assert_non_null(strstr(err, want));
    if (ls.fd >= 0)
        listen_close(&ls);
    torture_listen_close_passed(1);
}

/* test_matched_twice - two inherited sockets bound to one path: the entry is refused */
static void test_matched_twice(void **state)
{
    const char *path = torture_listen_path("c");
    char spec[160], err[512];
    struct listen_socket ls;
    int fds[2];

    (void)state;
    fds[0] = torture_listen_unix(path, 1);
    fds[1] = torture_listen_unix(path, 1); /* unlinks the first one's file */
    torture_listen_pass(fds, 2);
    assert_int_equal(listen_inherit(err, sizeof(err)), 2);
    snprintf(spec, sizeof(spec), "unix:%s", path);
    assert_int_equal(listen_open("policy_listen", spec, &ls, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "two sockets for it: fd 3 and fd 4"));
    torture_listen_close_passed(2);
    unlink(path);
}

/* test_taken_twice - two entries with the address of one inherited socket: the second
 * is refused */
static void test_taken_twice(void **state)
{
    const char *path = torture_listen_path("d");
    char spec[160], err[512];
    struct listen_socket ls, again;
    int fd = torture_listen_unix(path, 1);

    (void)state;
    torture_listen_pass(&fd, 1);
    assert_int_equal(listen_inherit(err, sizeof(err)), 1);
    snprintf(spec, sizeof(spec), "unix:%s", path);
    assert_int_equal(listen_open("policy_listen", spec, &ls, err, sizeof(err)), 0);
    assert_int_equal(listen_open("metrics_listen", spec, &again, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "taken already by policy_listen"));
    listen_close(&ls);
    unlink(path);
}

/* test_not_listening - an inherited socket that does not listen is refused at once */
static void test_not_listening(void **state)
{
    const char *path = torture_listen_path("e");
    char err[512], want[256];
    int fd = torture_listen_unix(path, 0);

    (void)state;
    torture_listen_pass(&fd, 1);
    assert_int_equal(listen_inherit(err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "fd 3 (unix:%s) is not a listening stream socket", path);
    assert_non_null(strstr(err, want));
    torture_listen_close_passed(1);
    unlink(path);
}

/* torture_listen_setup - a private directory for the sockets */
static int torture_listen_setup(void **state)
{
    (void)state;
    snprintf(torture_listen_dir, sizeof(torture_listen_dir), "/tmp/torture_listen.XXXXXX");
    return mkdtemp(torture_listen_dir) != NULL ? 0 : -1;
}

/* torture_listen_teardown - remove the directory */
static int torture_listen_teardown(void **state)
{
    (void)state;
    return rmdir(torture_listen_dir);
}

/* main - run every case */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_activation),  cmocka_unit_test(test_unix_inherited),
        cmocka_unit_test(test_inet_inherited), cmocka_unit_test(test_unnamed),
        cmocka_unit_test(test_matched_twice),  cmocka_unit_test(test_taken_twice),
        cmocka_unit_test(test_not_listening),
    };

    return cmocka_run_group_tests(tests, torture_listen_setup, torture_listen_teardown);
}
