/*
 * privilege - drop root to run_user, or to the owner of a file for an admin tool, with
 * setgroups/setresgid/setresuid checked as one step, and clear every capability left
 * (see privilege.h).
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shared/ascii.h"
#include "shared/log.h"
#include "shared/privilege.h"
#include "shared/util.h"

/* privilege_clear_caps - give up every capability: ambient, then effective, permitted and
 * inheritable (a daemon started with capabilities by its service manager keeps none
 * once its privileged set-up is done) */
static int privilege_clear_caps(const char *what, char *err, size_t errlen)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return util_seterr(err, errlen, "%s: cannot clear ambient capabilities: %s", what,
                           strerror(errno));
    if (syscall(SYS_capset, &hdr, data) < 0)
        return util_seterr(err, errlen, "%s: cannot clear capabilities: %s", what, strerror(errno));
    return 0;
}

/* privilege_lookup - the uid and primary gid of user (a name or a number) */
static int privilege_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    struct passwd *pw;
    uint64_t n;

    errno = 0;
    if ((pw = getpwnam(user)) == NULL && ascii_uint(user, strlen(user), 0xfffffffeU, &n) == 0)
        pw = getpwuid((uid_t)n);
    if (pw == NULL) {
        util_seterr(err, errlen, "run_user: unknown user '%s'", user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
}

/* privilege_target - the uid and gid of user, which must be known and not root */
static int privilege_target(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    if (privilege_lookup(user, uid, gid, err, errlen) < 0)
        return -1;
    if (*uid == 0)
        return util_seterr(err, errlen, "run_user: '%s' is root; name an unprivileged user", user);
    return 0;
}

/* privilege_check - 0 if privilege_drop could become user; -1 and err if not */
int privilege_check(const char *user, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;

    if (user == NULL || user[0] == '\0')
        return 0;
    return privilege_target(user, &uid, &gid, err, errlen);
}

/* privilege_switch - become uid with gid and either the user's every group (all_groups)
 * or gid alone, as one checked step, with no way back to root and no capabilities;
 * what starts each error */
static int privilege_switch(const char *user, uid_t uid, gid_t gid, int all_groups,
                            const char *what, char *err, size_t errlen)
{
    int rc = all_groups ? initgroups(user, gid) : setgroups(1, &gid);

    if (rc < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
        return util_seterr(err, errlen, "%s: cannot become '%s': %s", what, user, strerror(errno));
    if (setuid(0) == 0 || seteuid(0) == 0)
        return util_seterr(err, errlen, "%s: '%s' could regain root after the drop", what, user);
    return privilege_clear_caps(what, err, errlen);
}

/* privilege_drop - become user with its primary group and no supplementary groups */
int privilege_drop(const char *user, char *err, size_t errlen)
{
    uid_t uid;
    gid_t gid;

    if (user == NULL || user[0] == '\0') {
        if (geteuid() == 0) {
            log_warnx("action=start running as root: set run_user to drop root after start-up");
            return 0;
        }
        return privilege_clear_caps("run_user", err, errlen);
    }
    if (privilege_target(user, &uid, &gid, err, errlen) < 0)
        return -1;
    if (geteuid() != 0 && geteuid() == uid && getegid() == gid)
        return privilege_clear_caps("run_user", err, errlen); /* already that user */
    return privilege_switch(user, uid, gid, 0, "run_user", err, errlen);
}

/* privilege_owner_stat - stat path, or while it does not exist the directory that would
 * hold it; *owned names the one that was found. -1 if neither can be read. */
static int privilege_owner_stat(const char *path, char *dir, size_t dirlen, const char **owned,
                                struct stat *sb)
{
    const char *slash = strrchr(path, '/');

    *owned = path;
    if (stat(path, sb) == 0)
        return 0;
    if (errno != ENOENT)
        return -1;
    if (slash == NULL)
        *owned = ".";
    else if (slash == path)
        *owned = "/";
    else if (snprintf(dir, dirlen, "%.*s", (int)(slash - path), path) < (int)dirlen)
        *owned = dir;
    else
        return -1;
    return stat(*owned, sb);
}

/* privilege_become_owner - as root, become the user who owns path (or, while path does
 * not exist, its directory), with that user's groups */
int privilege_become_owner(const char *path, char *err, size_t errlen)
{
    char dir[PATH_MAX], what[PATH_MAX + 64];
    const char *owned;
    struct passwd *pw;
    struct stat sb;

    if (path == NULL || geteuid() != 0)
        return 0;
    if (privilege_owner_stat(path, dir, sizeof(dir), &owned, &sb) < 0)
        return 0; /* opening it will say why */
    if (sb.st_uid == 0)
        return 0;
    if ((pw = getpwuid(sb.st_uid)) == NULL)
        return util_seterr(err, errlen,
                           "%s belongs to uid %u, which has no user name: run this as that"
                           " user, or give %s to a known user",
                           owned, (unsigned)sb.st_uid, owned);
    snprintf(what, sizeof(what), "%s belongs to user '%s' (uid %u)", owned, pw->pw_name,
             (unsigned)pw->pw_uid);
    return privilege_switch(pw->pw_name, pw->pw_uid, pw->pw_gid, 1, what, err, errlen);
}
