/*
 * privilege - drop root to run_user with setgroups/setresgid/setresuid, checked as one
 * step, and clear every capability left (see privilege.h).
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "shared/log.h"
#include "shared/privilege.h"
#include "shared/util.h"

/* privilege_clear_caps - give up every capability: ambient, then effective, permitted and
 * inheritable (a daemon started with capabilities by its service manager keeps none
 * once its privileged set-up is done) */
static int privilege_clear_caps(char *err, size_t errlen)
{
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];

    memset(data, 0, sizeof(data));
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
        return util_seterr(err, errlen, "run_user: cannot clear ambient capabilities: %s",
                           strerror(errno));
    if (syscall(SYS_capset, &hdr, data) < 0)
        return util_seterr(err, errlen, "run_user: cannot clear capabilities: %s", strerror(errno));
    return 0;
}

/* privilege_lookup - the uid and primary gid of user (a name or a number) */
static int privilege_lookup(const char *user, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
    struct passwd *pw;
    char *end;
    unsigned long n;

    errno = 0;
    if ((pw = getpwnam(user)) == NULL && user[0] >= '0' && user[0] <= '9') {
        n = strtoul(user, &end, 10);
        if (*end == '\0' && n < 0xffffffffUL)
            pw = getpwuid((uid_t)n);
    }
    if (pw == NULL) {
        util_seterr(err, errlen, "run_user: unknown user '%s'", user);
        return -1;
    }
    *uid = pw->pw_uid;
    *gid = pw->pw_gid;
    return 0;
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
        return privilege_clear_caps(err, errlen);
    }
    if (privilege_lookup(user, &uid, &gid, err, errlen) < 0)
        return -1;
    if (uid == 0)
        return util_seterr(err, errlen, "run_user: '%s' is root; name an unprivileged user", user);
    if (geteuid() != 0 && geteuid() == uid && getegid() == gid)
        return privilege_clear_caps(err, errlen); /* already that user (a service manager) */
    if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
        util_seterr(err, errlen, "run_user: cannot become '%s': %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || seteuid(0) == 0) {
        util_seterr(err, errlen, "run_user: '%s' could regain root after the drop", user);
        return -1;
    }
    return privilege_clear_caps(err, errlen);
}
