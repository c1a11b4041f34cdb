/*
 * popauth_start - the checks of popauth's settings before it runs, and the creation of
 * its sources (see popauth_start.h).
 */
#include <net/if.h>
#include <string.h>

#include "db/store.h"
#include "popauth/dovecot_policy.h"
#include "popauth/formats.h"
#include "popauth/journal.h"
#include "popauth/logtail.h"
#include "popauth/patterns.h"
#include "popauth/popauth_start.h"
#include "popauth/sniff/sniff.h"
#include "popauth/sniff/ports.h"
#include "shared/metrics.h"
#include "shared/util.h"

/* The sources created so far, and whether they are kept for the caller. */
struct popauth_start_sources {
    struct source **out; /* NULL: check only */
    struct source *made[POPAUTH_MAX_SOURCES];
    size_t count;
    int too_many; /* reported */
};

/* popauth_start_log_source - the source named by one log_sources entry; NULL and err if
 * it is bad or cannot be opened */
static struct source *popauth_start_log_source(const char *spec, const struct config *cfg,
                                               char *err, size_t errlen)
{
    char inner[1024];
    struct source *src;

    if (strncmp(spec, "file:", 5) == 0 && spec[5] == '/')
        return logtail_file_new(spec + 5, cfg);
    if (strcmp(spec, "stdin") == 0)
        return logtail_stdin_new();
    if (strncmp(spec, "journal:", 8) == 0) {
        if ((src = journal_source_new(spec + 8, cfg, NULL, inner, sizeof(inner))) == NULL)
            util_seterr(err, errlen, "log_sources: %s", inner);
        return src;
    }
    util_seterr(err, errlen,
                "log_sources: bad source '%s' (file:/ABSOLUTE/PATH, stdin or journal:FIELD=VALUE)",
                spec);
    return NULL;
}

/* popauth_start_add - keep src, the source of entry in param, unless its name is taken
 * or there are too many */
static void popauth_start_add(struct popauth_start_sources *ss, struct source *src,
                              const char *param, const char *entry, struct check *c)
{
    size_t i;

    for (i = 0; i < ss->count; i++)
        if (strcmp(ss->made[i]->name, src->name) == 0)
            break;
    if (i < ss->count) {
        check_problem(c, "%s: '%s' is listed twice", param, entry);
    } else if (ss->count == POPAUTH_MAX_SOURCES) {
        if (!ss->too_many)
            check_problem(c, "%s: more than %d sources in all", param, POPAUTH_MAX_SOURCES);
        ss->too_many = 1;
    } else {
        ss->made[ss->count++] = src;
        return;
    }
    src->ops->stop(src, NULL);
}

/* popauth_start_sniff - the capture sources: sniff_ports, then each interface (opened
 * only when the sources are kept) and sniff_file */
static void popauth_start_sniff(const struct config *cfg, struct popauth_start_sources *ss,
                                struct check *c)
{
    const struct strlist *ifs = &cfg->sniff_interfaces;
    struct ports ports;
    struct source *src;
    char err[1024];
    size_t i, j;

    if (ifs->count == 0 && cfg->sniff_file[0] == '\0')
        return;
    if (check_result(c, ports_parse(&cfg->sniff_ports, &ports, err, sizeof(err)), err) < 0)
        return; /* every capture source would fail on it again */
    for (i = 0; i < ifs->count; i++) {
        const char *ifname = ifs->items[i];

        for (j = 0; j < i && strcmp(ifs->items[j], ifname) != 0; j++)
            ;
        if (j < i) {
            check_problem(c, "sniff_interfaces: '%s' is listed twice", ifname);
        } else if (ss->out == NULL) { /* only checking: no capture is opened */
            if (strcmp(ifname, "any") != 0 && if_nametoindex(ifname) == 0)
                check_problem(c, "sniff_interfaces: %s: no such interface", ifname);
        } else if ((src = sniff_interface_new(ifname, cfg, err, sizeof(err))) == NULL) {
            check_problem(c, "%s", err);
        } else {
            popauth_start_add(ss, src, "sniff_interfaces", ifname, c);
        }
    }
    if (cfg->sniff_file[0] == '\0')
        return;
    if ((src = sniff_file_new(cfg->sniff_file, cfg, err, sizeof(err))) == NULL)
        check_problem(c, "%s", err);
    else
        popauth_start_add(ss, src, "sniff_file", cfg->sniff_file, c);
}

/* popauth_start_dovecot - the Dovecot auth-policy source, its socket opened only when
 * the sources are kept */
static void popauth_start_dovecot(const struct config *cfg, struct popauth_start_sources *ss,
                                  struct check *c)
{
    struct source *src;
    char err[1024];

    if (cfg->dovecot_policy_listen[0] == '\0')
        return;
    if (ss->out == NULL)
        check_result(c, dovecot_policy_check(cfg, err, sizeof(err)), err);
    else if ((src = dovecot_policy_new(cfg, err, sizeof(err))) == NULL)
        check_problem(c, "%s", err);
    else
        popauth_start_add(ss, src, "dovecot_policy_listen", cfg->dovecot_policy_listen, c);
}

/* popauth_start_check - report every problem popauth would refuse in cfg; see the header
 * for what happens to the sources */
void popauth_start_check(const struct config *cfg, struct check *c, struct source **sources,
                         size_t *nsources)
{
    struct popauth_start_sources ss;
    const struct strlist *logs = &cfg->log_sources;
    struct patterns *patterns;
    struct source *src;
    unsigned formats;
    char err[1024];
    size_t i;

    memset(&ss, 0, sizeof(ss));
    ss.out = sources;
    check_result(c, formats_mask(&cfg->log_formats, &formats, err, sizeof(err)), err);
    if (cfg->log_patterns[0] != '\0') {
        if ((patterns = patterns_load(cfg->log_patterns, err, sizeof(err))) == NULL)
            check_problem(c, "%s", err);
        patterns_free(patterns);
    }
    if (!cfg->dry_run)
        check_result(c, store_check(cfg->database, err, sizeof(err)), err);
    if (logs->count == 0 && cfg->sniff_interfaces.count == 0 && cfg->sniff_file[0] == '\0' &&
        cfg->dovecot_policy_listen[0] == '\0')
        check_problem(c, "log_sources, sniff_interfaces, sniff_file, dovecot_policy_listen: no "
                         "source configured; set at least one");
    for (i = 0; i < logs->count; i++) {
        if ((src = popauth_start_log_source(logs->items[i], cfg, err, sizeof(err))) == NULL)
            check_problem(c, "%s", err);
        else
            popauth_start_add(&ss, src, "log_sources", logs->items[i], c);
    }
    popauth_start_sniff(cfg, &ss, c);
    popauth_start_dovecot(cfg, &ss, c);
    check_result(c, metrics_listen_check(&cfg->metrics_listen, "popauth", err, sizeof(err)), err);
    if (sources == NULL) {
        for (i = 0; i < ss.count; i++)
            ss.made[i]->ops->stop(ss.made[i], NULL);
        return;
    }
    memcpy(sources, ss.made, ss.count * sizeof(ss.made[0]));
    *nsources = ss.count;
}
