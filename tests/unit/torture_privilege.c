/*
 * torture_privilege - unit tests for shared/privilege.c. Each drop runs in a child
 * process (a drop cannot be undone): as root, becoming "nobody" must leave the child
 * with nobody's uid and gid in all three slots, no supplementary groups but the primary
 * one, no capabilities and no way back to root; an unknown user, root itself and an
 * empty name are checked in the test process itself. The tests need root, which the suite runs as;
 * without it they fail rather than skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <cmocka.h>

#include "shared/privilege.h"

/* torture_privilege_capeff - the effective capability set of this process (CapEff) */
static unsigned long long torture_privilege_capeff(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    unsigned long long caps = ~0ULL;
    char line[256];

    if (fp == NULL)
        return caps;
    while (fgets(line, sizeof(line), fp) != NULL)
        if (sscanf(line, "CapEff: %llx", &caps) == 1)
            break;
    fclose(fp);
    return caps;
}

/* torture_privilege_child - in a child: drop to user and check the result; exit code
 * 0 if every check held, else the number of the first that failed */
static int torture_privilege_child(const char *user, uid_t uid, gid_t gid)
{
    uid_t r, e, s;
    gid_t rg, eg, sg, groups[8];
    char err[256];
    int n;

    if (privilege_drop(user, err, sizeof(err)) < 0)
        return 1;
    if (getresuid(&r, &e, &s) < 0 || r != uid || e != uid || s != uid)
        return 2;
    if (getresgid(&rg, &eg, &sg) < 0 || rg != gid || eg != gid || sg != gid)
        return 3;
    n = getgroups(8, groups);
    if (n < 0 || n > 1 || (n == 1 && groups[0] != gid))
        return 4;
    if (setuid(0) == 0 || seteuid(0) == 0)
        return 5;
    if (torture_privilege_capeff() != 0)
        return 6;
    return 0;
}

/* torture_privilege_run - fork, drop in the child, return its exit code */
static int torture_privilege_run(const char *user, uid_t uid, gid_t gid)
{
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(torture_privilege_child(user, uid, gid));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* torture_privilege_drop - by name and by number, root becomes nobody for good */
static void torture_privilege_drop(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    char num[32];

    (void)state;
    assert_int_equal(geteuid(), 0); /* the suite runs as root: this test needs it */
    assert_non_null(pw);
    assert_int_equal(torture_privilege_run("nobody", pw->pw_uid, pw->pw_gid), 0);
    snprintf(num, sizeof(num), "%u", (unsigned)pw->pw_uid);
    assert_int_equal(torture_privilege_run(num, pw->pw_uid, pw->pw_gid), 0);
}

/* torture_privilege_errors - unknown users are errors naming the user; "" is a no-op */
static void torture_privilege_errors(void **state)
{
    char err[256] = "";

    (void)state;
    assert_int_equal(privilege_drop("no-such-user-popauth", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "run_user"));
    assert_non_null(strstr(err, "no-such-user-popauth"));
    assert_int_equal(privilege_drop("4294967295", err, sizeof(err)), -1);
    assert_int_equal(privilege_drop("root", err, sizeof(err)), -1);
    assert_non_null(strstr(err, "is root"));
    assert_int_equal(privilege_drop("0", err, sizeof(err)), -1);
    assert_int_equal(privilege_drop("", err, sizeof(err)), 0);
    assert_int_equal(privilege_drop(NULL, err, sizeof(err)), 0);
    assert_int_equal(geteuid(), 0); /* nothing was dropped here */
}

/* main - run the privilege tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_privilege_drop),
        cmocka_unit_test(torture_privilege_errors),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
