/*
 * smtpgate_start - the checks of smtpgate's settings before it serves (see
 * smtpgate_start.h). Nothing is opened: listening entries are parsed, not bound.
 */
#include "smtpgate/smtpgate_start.h"
#include "shared/listen.h"
#include "shared/metrics.h"
#include "smtpgate/milterd.h"
#include "smtpgate/policyd.h"
#include "smtpgate/proxy.h"

/* smtpgate_start_listen - report every entry of list, the parameter param, that
 * listen_open would refuse */
static void smtpgate_start_listen(const char *param, const struct strlist *list, struct check *c)
{
    char err[512];
    size_t i;

    for (i = 0; i < list->count; i++)
        check_result(c, listen_check(param, list->items[i], err, sizeof(err)), err);
}

/* smtpgate_start_check - report to c every problem smtpgate would refuse in cfg */
void smtpgate_start_check(const struct config *cfg, struct check *c)
{
    char err[512];

    if (cfg->policy_listen.count == 0 && cfg->milter_listen.count == 0 &&
        cfg->proxy_listen.count == 0)
        check_problem(
            c, "policy_listen, milter_listen, proxy_listen: at least one of them must be set");
    if (cfg->policy_listen.count > POLICYD_MAX_LISTENERS)
        check_problem(c, "policy_listen: at most %d entries are allowed", POLICYD_MAX_LISTENERS);
    else
        smtpgate_start_listen("policy_listen", &cfg->policy_listen, c);
    check_result(c, policyd_check_config(cfg, err, sizeof(err)), err);
    if (cfg->milter_listen.count > MILTERD_MAX_LISTENERS)
        check_problem(c, "milter_listen: at most %d entries are allowed", MILTERD_MAX_LISTENERS);
    else
        smtpgate_start_listen("milter_listen", &cfg->milter_listen, c);
    check_result(c, milterd_check_config(cfg, err, sizeof(err)), err);
    if (check_result(c, proxy_check_config(cfg, err, sizeof(err)), err) == 0)
        smtpgate_start_listen("proxy_listen", &cfg->proxy_listen, c);
    check_result(c, metrics_listen_check(&cfg->metrics_listen, "smtpgate", err, sizeof(err)), err);
}
