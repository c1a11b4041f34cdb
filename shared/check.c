/*
 * check - counting and reporting configuration problems, and the check both daemons
 * share: run_user (see check.h), which a reload leaves to the restart when the parameter
 * table says the reloading daemon does not apply it.
 */
#include <stdarg.h>
#include <stdio.h>

#include "shared/check.h"
#include "shared/log.h"
#include "shared/privilege.h"

/* check_init - start a run of prog that reports through report */
void check_init(struct check *c, check_report_cb report, const char *prog)
{
    c->report = report;
    c->prog = prog;
    c->problems = 0;
    c->reload = 0;
}

/* check_init_reload - start a run of prog, reloading as program, that reports through
 * report */
void check_init_reload(struct check *c, check_report_cb report, const char *prog, unsigned program)
{
    check_init(c, report, prog);
    c->reload = program;
}

/* check_skips - 1 if this run is a reload that does not apply the setting name */
static int check_skips(const struct check *c, const char *name)
{
    const struct param *p = config_param(name);

    return c->reload != 0 && p != NULL && (p->restart & c->reload) != 0;
}

/* check_problem - report one problem and count it */
void check_problem(struct check *c, const char *fmt, ...)
{
    char line[CHECK_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    c->problems++;
    c->report(c->prog, line);
}

/* check_result - report err as a problem when rc < 0; returns rc */
int check_result(struct check *c, int rc, const char *err)
{
    if (rc < 0)
        check_problem(c, "%s", err);
    return rc;
}

/* check_run_user - run_user names a user the daemons can become (known, not root), unless
 * a reload leaves it for the restart */
void check_run_user(struct check *c, const struct config *cfg)
{
    char err[512];

    if (check_skips(c, "run_user"))
        return;
    check_result(c, privilege_check(cfg->run_user, err, sizeof(err)), err);
}

/* check_to_stderr - "PROG: problem" on stderr */
void check_to_stderr(const char *prog, const char *problem)
{
    fprintf(stderr, "%s: %s\n", prog, problem);
}

/* check_to_log - the problem logged as an error (the log names the program) */
void check_to_log(const char *prog, const char *problem)
{
    (void)prog;
    log_error("%s", problem);
}

/* check_finish - "configuration ok" and 0 when nothing was reported, else 2 */
int check_finish(const struct check *c)
{
    if (c->problems > 0)
        return 2;
    printf("configuration ok\n");
    return 0;
}
