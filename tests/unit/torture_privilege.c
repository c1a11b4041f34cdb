/*
 * torture_privilege - unit tests for shared/privilege.c. Each drop runs in a child
 * process (a drop cannot be undone): as root, becoming "nobody" must leave the child
 * with nobody's uid and gid in all three slots, no supplementary groups but the primary
 * one, no capabilities and no way back to root; an unknown user, root itself and an
 * empty name are checked in the test process itself. privilege_become_owner, also in
 * children, must make root the owner of a file (or of the directory of a missing one)
 * with that user's groups, keep root for a root-owned file, refuse a file whose owner
 * has no user name, and do nothing for a process that is not root. The tests need root,
 * which the suite runs as; without it they fail rather than skip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* torture_privilege_exit - wait for the child pid (fork's answer); its exit code */
static int torture_privilege_exit(pid_t pid)
{
    int status;

    assert_true(pid >= 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* torture_privilege_run - fork, drop in the child, return its exit code */
static int torture_privilege_run(const char *user, uid_t uid, gid_t gid)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(torture_privilege_child(user, uid, gid));
    return torture_privilege_exit(pid);
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

/* The files of the owner tests: a directory owned by nobody, a file in it and a name in
 * it that does not exist yet. */
struct torture_privilege_files {
    char dir[64];
    char file[96];
    char missing[96];
};

/* torture_privilege_files_make - the directory and the file, both given to uid */
static void torture_privilege_files_make(struct torture_privilege_files *t, uid_t uid, gid_t gid)
{
    FILE *fp;

    snprintf(t->dir, sizeof(t->dir), "/tmp/torture_privilege.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->file, sizeof(t->file), "%s/owned", t->dir);
    snprintf(t->missing, sizeof(t->missing), "%s/missing", t->dir);
    assert_non_null(fp = fopen(t->file, "w"));
    fclose(fp);
    assert_int_equal(chown(t->dir, uid, gid), 0);
    assert_int_equal(chown(t->file, uid, gid), 0);
}

/* torture_privilege_files_remove - remove what torture_privilege_files_make made */
static void torture_privilege_files_remove(const struct torture_privilege_files *t)
{
    unlink(t->missing);
    unlink(t->file);
    rmdir(t->dir);
}

/* torture_privilege_owner_child - in a child: become the owner of path, which must be
 * pw, then create the file made; exit code 0 if every check held */
static int torture_privilege_owner_child(const char *path, const struct passwd *pw,
                                         const char *made)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    struct stat sb;
    char err[256];
    FILE *fp;

    if (privilege_become_owner(path, err, sizeof(err)) < 0)
        return 1;
    if (getresuid(&r, &e, &s) < 0 || r != pw->pw_uid || e != pw->pw_uid || s != pw->pw_uid)
        return 2;
    if (getresgid(&rg, &eg, &sg) < 0 || rg != pw->pw_gid || eg != pw->pw_gid || sg != pw->pw_gid)
        return 3;
    if (setuid(0) == 0 || seteuid(0) == 0)
        return 4;
    if (torture_privilege_capeff() != 0)
        return 5;
    if ((fp = fopen(made, "w")) == NULL)
        return 6;
    fclose(fp);
    if (stat(made, &sb) < 0 || sb.st_uid != pw->pw_uid)
        return 7;
    return 0;
}

/* torture_privilege_owner_run - fork, become the owner of path in the child, return its
 * exit code */
static int torture_privilege_owner_run(const char *path, const struct passwd *pw, const char *made)
{
    pid_t pid = fork();

    if (pid == 0)
        _exit(torture_privilege_owner_child(path, pw, made));
    return torture_privilege_exit(pid);
}

/* torture_privilege_owner - root becomes the owner of a file, or of the directory of a
 * file that is not there yet, and what it creates then belongs to that owner */
static void torture_privilege_owner(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    struct torture_privilege_files t;
    struct passwd copy;

    (void)state;
    assert_int_equal(geteuid(), 0); /* the suite runs as root: this test needs it */
    assert_non_null(pw);
    copy = *pw;
    torture_privilege_files_make(&t, copy.pw_uid, copy.pw_gid);
    assert_int_equal(torture_privilege_owner_run(t.file, &copy, t.missing), 0);
    unlink(t.missing);
    assert_int_equal(torture_privilege_owner_run(t.missing, &copy, t.missing), 0);
    torture_privilege_files_remove(&t);
}

/* torture_privilege_owner_stays - root keeps root for its own file; a file of a uid
 * without a user name is refused with a message naming the uid; nothing happens for a
 * process that is not root */
static void torture_privilege_owner_stays(void **state)
{
    struct passwd *pw = getpwnam("nobody");
    struct torture_privilege_files t;
    char err[256] = "", want[64];
    uid_t unknown = 54321;
    pid_t pid;

    (void)state;
    assert_non_null(pw);
    while (getpwuid(unknown) != NULL)
        unknown++;
    torture_privilege_files_make(&t, 0, 0);
    assert_int_equal(privilege_become_owner(t.file, err, sizeof(err)), 0);
    assert_int_equal(privilege_become_owner(t.missing, err, sizeof(err)), 0);
    assert_int_equal(privilege_become_owner(NULL, err, sizeof(err)), 0);
    assert_int_equal(geteuid(), 0);

    assert_int_equal(chown(t.file, unknown, 0), 0);
    assert_int_equal(privilege_become_owner(t.file, err, sizeof(err)), -1);
    snprintf(want, sizeof(want), "belongs to uid %u, which has no user name", (unsigned)unknown);
    assert_non_null(strstr(err, want));
    assert_non_null(strstr(err, t.file));
    assert_int_equal(geteuid(), 0);

    pid = fork(); /* not root: nothing to do, whoever owns the file */
    if (pid == 0)
        _exit(privilege_drop("nobody", err, sizeof(err)) == 0 &&
                      privilege_become_owner(t.file, err, sizeof(err)) == 0 &&
                      geteuid() == pw->pw_uid
                  ? 0
                  : 1);
    assert_int_equal(torture_privilege_exit(pid), 0);
    torture_privilege_files_remove(&t);
}

/* main - run the privilege tests */
int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(torture_privilege_drop),
        cmocka_unit_test(torture_privilege_errors),
        cmocka_unit_test(torture_privilege_owner),
        cmocka_unit_test(torture_privilege_owner_stays),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
