/*
 * check - one run of the configuration checks that `popauth -t`, `smtpgate -t`,
 * `popauthctl config --check` and the daemons' own start-up share. Each program's checks
 * (popauth/popauth_start.h, smtpgate/smtpgate_start.h, check_run_user here) report every
 * problem they find, one line each naming the setting, through the caller's report
 * function, and count them: the command-line checks print them and exit 2 if there was
 * any; a daemon logs them and refuses to start, as it would have done anyway. A daemon's
 * SIGHUP reload runs its checks in a run made by check_init_reload, in which
 * check_run_user looks up run_user's restart column in the parameter table and, since
 * the reloading daemon does not take a new run_user, leaves it to the restart.
 */
#ifndef POPAUTH_CHECK_H
#define POPAUTH_CHECK_H

#include "shared/config.h"

#define CHECK_LINE_MAX 1024 /* bytes of one problem line; longer is cut */

/* check_report_cb - called once per problem with its one-line text; prog is the
 * program's name, as given to check_init */
typedef void (*check_report_cb)(const char *prog, const char *problem);

struct check {
    check_report_cb report;
    const char *prog;
    unsigned problems; /* reported so far */
    unsigned reload;   /* 0, or the enum param_program bit of the daemon reloading */
};

/* check_init - start a run of prog that reports through report */
void check_init(struct check *c, check_report_cb report, const char *prog);
/* check_init_reload - start a run of prog, reloading as program (an enum param_program
 * bit), that reports through report */
void check_init_reload(struct check *c, check_report_cb report, const char *prog, unsigned program);
/* check_problem - report one problem and count it */
void check_problem(struct check *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* check_result - report err as a problem when rc < 0; returns rc */
int check_result(struct check *c, int rc, const char *err);
/* check_run_user - run_user names a user the daemons can become (known, not root); not
 * checked by a reload of a daemon that applies run_user only at a restart */
void check_run_user(struct check *c, const struct config *cfg);

/* check_to_stderr - a report_cb for the command line: "PROG: problem" on stderr */
void check_to_stderr(const char *prog, const char *problem);
/* check_to_log - a report_cb for a daemon: the problem logged as an error */
void check_to_log(const char *prog, const char *problem);
/* check_finish - the end of a command-line run: "configuration ok" on stdout and 0 when
 * nothing was reported, else 2 (the problems are already out) */
int check_finish(const struct check *c);

#endif
