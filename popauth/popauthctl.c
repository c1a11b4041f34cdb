/*
 * popauthctl - the administrator's view of the grant store: list, show, allow, revoke and
 * purge grants, print store statistics and the effective configuration, and check that
 * configuration as both daemons would at start (config --check).
 *
 * Usage: popauthctl [-c FILE] [-o name=value]... COMMAND [ARGS]
 * Options may come before or after the command; a long option takes its value as
 * --name=value or --name value, a short one as -c FILE or -cFILE; "--" ends the options.
 * The whole command line is checked before anything is done: an unknown option, a
 * missing value or argument, or an option the command does not take prints the error and
 * the usage on stderr and exits 2.
 * Exit status: 0 success, 1 a negative answer (no such grant), 2 bad usage or an error,
 * always with a one-line message on stderr. JSON output is a single JSON document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/store.h"
#include "popauth/popauth_start.h"
#include "shared/addr.h"
#include "shared/check.h"
#include "shared/cidr.h"
#include "shared/cli.h"
#include "shared/config.h"
#include "shared/decide.h"
#include "shared/json.h"
#include "shared/metrics.h"
#include "shared/log.h"
#include "shared/privilege.h"
#include "shared/rcpt.h"
#include "shared/util.h"
#include "smtpgate/gate.h"
#include "smtpgate/grants.h"
#include "smtpgate/smtpgate_start.h"

#define CTL_PROG      "popauthctl"
#define CTL_MAX_ARGS  8
#define CTL_EXIT_OK   0
#define CTL_EXIT_NO   1
#define CTL_EXIT_FAIL 2
/* The source of a grant made with allow, unless --source names another. */
#define CTL_SOURCE_DEFAULT "admin"

/* Every option; CTL_BIT(id) marks it in a command's set and in what was given. */
enum ctl_option_id {
    CTL_OPT_ALL,
    CTL_OPT_JSON,
    CTL_OPT_USER,
    CTL_OPT_LIFETIME,
    CTL_OPT_SOURCE,
    CTL_OPT_CHECK,
    CTL_OPT_RESTART,
    CTL_OPT_N,
    CTL_OPT_CONFIG,   /* -c FILE */
    CTL_OPT_OVERRIDE, /* -o name=value */
    CTL_OPT_HELP,
    CTL_OPT_VERSION,
};
#define CTL_BIT(id)    (1u << (id))
#define CTL_FIRST(set) ((enum ctl_option_id)__builtin_ctz(set)) /* of a non-empty set */
/* The options every command takes. */
#define CTL_GLOBAL                                                                                 \
    (CTL_BIT(CTL_OPT_CONFIG) | CTL_BIT(CTL_OPT_OVERRIDE) | CTL_BIT(CTL_OPT_HELP) |                 \
     CTL_BIT(CTL_OPT_VERSION))

struct ctl_option {
    enum ctl_option_id id;
    const char *name; /* long name without "--", or NULL */
    int letter;       /* short name, or 0 */
    int value;        /* takes a value */
};

static const struct ctl_option ctl_options[] = {
    {CTL_OPT_ALL, "all", 0, 0},           /* list: expired rows too; revoke: every grant */
    {CTL_OPT_JSON, "json", 0, 0},         /* list, show, stats */
    {CTL_OPT_USER, "user", 0, 1},         /* allow: the grant's user; list, revoke: whose */
    {CTL_OPT_LIFETIME, "lifetime", 0, 1}, /* allow */
    {CTL_OPT_SOURCE, "source", 0, 1},     /* allow: the grant's source */
    {CTL_OPT_CHECK, "check", 0, 0},       /* config */
    {CTL_OPT_RESTART, "restart", 0, 0},   /* config */
    {CTL_OPT_N, NULL, 'n', 0},            /* config */
    {CTL_OPT_CONFIG, NULL, 'c', 1},       /* every command */
    {CTL_OPT_OVERRIDE, NULL, 'o', 1},     /* every command */
    {CTL_OPT_HELP, "help", 'h', 0},       /* alone */
    {CTL_OPT_VERSION, "version", 0, 0},   /* alone */
};

/* The parsed command line of one command: its flags and positional arguments. */
struct ctl_args {
    struct cli_config cli;
    unsigned seen; /* CTL_BIT of every option given */
    int all, json, explicit_only, check, restart;
    const char *user;
    const char *lifetime;
    const char *source;
    const char *pos[CTL_MAX_ARGS];
    int npos;
};

struct ctl_command {
    const char *name;
    const char *usage;
    int npos;         /* positional arguments required */
    unsigned options; /* CTL_BIT of the options it takes besides CTL_GLOBAL */
    unsigned instead; /* options that stand for the positional arguments: at most one of
                         them, and then no positional argument */
    int (*run)(struct config *cfg, struct ctl_args *a);
};

/* ctl_fail - print a one-line error and return the error status */
static int ctl_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fprintf(stderr, "%s: ", CTL_PROG);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CTL_EXIT_FAIL;
}

/* ctl_open - open the configured store, read-only unless the command writes; as root,
 * as the store's owner, so that nothing it creates there belongs to root */
static struct store *ctl_open(const struct config *cfg, enum store_mode mode)
{
    char err[512];
    struct store *st = NULL;

    if (privilege_become_owner(store_file(cfg->database), err, sizeof(err)) == 0)
        st = store_open(cfg->database, mode, err, sizeof(err));
    if (st == NULL)
        ctl_fail("%s", err);
    return st;
}

/* ctl_address - canonicalise an address argument; -1 after printing why it is bad */
static int ctl_address(const char *text, char *buf, size_t buflen)
{
    char err[256];

    if (addr_canonical(text, buf, buflen, err, sizeof(err)) < 0) {
        ctl_fail("%s", err);
        return -1;
    }
    return 0;
}

/* ctl_print_json - one grant as a JSON object */
static void ctl_print_json(const struct store_grant *g)
{
    printf("{\"address\":");
    json_write_string(stdout, g->address);
    printf(",\"user\":");
    json_write_string(stdout, g->user);
    printf(",\"source\":");
    json_write_string(stdout, g->source);
    printf(",\"first_login\":%lld,\"last_login\":%lld,\"logins\":%lld,\"expires\":%lld}",
           (long long)g->first_login, (long long)g->last_login, (long long)g->logins,
           (long long)g->expires);
}

/* ctl_user_text - a user name made safe for a terminal line */
static const char *ctl_user_text(const char *user, char *buf, size_t buflen)
{
    if (*user == '\0')
        return "-";
    return util_printable(user, strlen(user), buf, buflen);
}

/* The state of one `list` walk. */
struct ctl_list_walk {
    int json;
    const char *user; /* only this user's rows; NULL for all */
    int64_t now;
    long count;
};

/* ctl_list_row - print one row of `list` */
static int ctl_list_row(const struct store_grant *g, void *ctx)
{
    struct ctl_list_walk *w = ctx;
    char first[32], last[32], exp[32], user[STORE_USER_MAX];

    if (w->user != NULL && strcmp(g->user, w->user) != 0)
        return 0;
    if (w->json) {
        printf("%s\n  ", w->count ? "," : "");
        ctl_print_json(g);
    } else {
        printf("%-39s %-20s %-17s %-20s %-20s %6lld %s%s\n", g->address,
               ctl_user_text(g->user, user, sizeof(user)), g->source,
               util_format_time(g->first_login, first, sizeof(first)),
               util_format_time(g->last_login, last, sizeof(last)), (long long)g->logins,
               util_format_time(g->expires, exp, sizeof(exp)),
               g->expires > w->now ? "" : " (expired)");
    }
    w->count++;
    return 0;
}

/* ctl_check_user - refuse user names that are too long or hold control characters */
static int ctl_check_user(const char *user)
{
    const unsigned char *p;

    if (strlen(user) >= STORE_USER_MAX)
        return ctl_fail("--user: name longer than %d bytes", STORE_USER_MAX - 1);
    for (p = (const unsigned char *)user; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return ctl_fail("--user: control character in name");
    return 0;
}

/* ctl_source_char - c is a letter or digit (alnum) or, unless alnum is set, one of . _ : -
 * (ASCII only, whatever the locale) */
static int ctl_source_char(char c, int alnum)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return 1;
    return !alnum && c != '\0' && strchr("._:-", c) != NULL;
}

/* ctl_check_source - a --source name: 1 to STORE_SOURCE_MAX - 1 bytes of letters, digits
 * and . _ : -, starting with a letter or a digit; the error names the bad value */
static int ctl_check_source(const char *source)
{
    char shown[2 * STORE_SOURCE_MAX];
    size_t len = strlen(source), i;

    for (i = 0; i < len && ctl_source_char(source[i], i == 0); i++)
        ;
    if (len > 0 && len < STORE_SOURCE_MAX && i == len)
        return 0;
    util_printable(source, len, shown, sizeof(shown));
    return ctl_fail("--source: bad name '%s%s': use 1 to %d of A-Z a-z 0-9 . _ : -, starting"
                    " with a letter or a digit",
                    shown, strlen(shown) < len ? "..." : "", STORE_SOURCE_MAX - 1);
}

/* ctl_check_selector - a --user that selects grants: a valid, non-empty name (or none) */
static int ctl_check_selector(const char *user)
{
    if (user == NULL)
        return 0;
    if (*user == '\0')
        return ctl_fail("--user: empty name");
    return ctl_check_user(user);
}

/* ctl_cmd_list - list active grants (or every row with --all), or one user's */
static int ctl_cmd_list(struct config *cfg, struct ctl_args *a)
{
    struct ctl_list_walk w = {a->json, a->user, time(NULL), 0};
    struct store *st;
    char err[512];
    int rc;

    if (ctl_check_selector(a->user) != 0 || (st = ctl_open(cfg, STORE_READONLY)) == NULL)
        return CTL_EXIT_FAIL;
    if (a->json)
        printf("[");
    else
        printf("%-39s %-20s %-17s %-20s %-20s %6s %s\n", "address", "user", "source", "first_login",
               "last_login", "logins", "expires");
    rc = store_list(st, w.now, a->all, ctl_list_row, &w, err, sizeof(err));
    if (a->json)
        printf("%s]\n", w.count ? "\n" : "");
    store_close(st);
    return rc < 0 ? ctl_fail("%s", err) : CTL_EXIT_OK;
}

/* ctl_cmd_show - print the active grant of one address; 1 if there is none */
static int ctl_cmd_show(struct config *cfg, struct ctl_args *a)
{
    char address[ADDR_STRLEN], err[512], t1[32], t2[32], t3[32], user[STORE_USER_MAX];
    struct store_grant g;
    struct store *st;
    int rc;

    if (ctl_address(a->pos[0], address, sizeof(address)) < 0)
        return CTL_EXIT_FAIL;
    if ((st = ctl_open(cfg, STORE_READONLY)) == NULL)
        return CTL_EXIT_FAIL;
    rc = store_lookup(st, address, time(NULL), &g, err, sizeof(err));
    store_close(st);
    if (rc < 0)
        return ctl_fail("%s", err);
    if (rc == 0) {
        fprintf(stderr, "%s: no active grant for %s\n", CTL_PROG, address);
        return CTL_EXIT_NO;
    }
    if (a->json) {
        ctl_print_json(&g);
        printf("\n");
        return CTL_EXIT_OK;
    }
    printf("address:     %s\nuser:        %s\nsource:      %s\nfirst_login: %s\n"
           "last_login:  %s\nlogins:      %lld\nexpires:     %s\n",
           g.address, ctl_user_text(g.user, user, sizeof(user)), g.source,
           util_format_time(g.first_login, t1, sizeof(t1)),
           util_format_time(g.last_login, t2, sizeof(t2)), (long long)g.logins,
           util_format_time(g.expires, t3, sizeof(t3)));
    return CTL_EXIT_OK;
}

/* ctl_cmd_allow - grant relay to an address, as an administrator or for a script that
 * records logins (--source names it, e.g. Dovecot's post-login script) */
static int ctl_cmd_allow(struct config *cfg, struct ctl_args *a)
{
    char address[ADDR_STRLEN], err[512], exp[32];
    int64_t lifetime = cfg->grant_lifetime, now = time(NULL);
    const char *user = a->user ? a->user : "";
    const char *source = a->source ? a->source : CTL_SOURCE_DEFAULT;
    struct addr parsed;
    struct store *st;

    if (ctl_address(a->pos[0], address, sizeof(address)) < 0)
        return CTL_EXIT_FAIL;
    if (a->lifetime && config_parse_duration(a->lifetime, &lifetime, err, sizeof(err)) < 0)
        return ctl_fail("--lifetime: %s", err);
    if (lifetime <= 0)
        return ctl_fail("--lifetime: must be more than 0 seconds");
    if (ctl_check_user(user) != 0 || ctl_check_source(source) != 0)
        return CTL_EXIT_FAIL;
    if (addr_parse(address, strlen(address), &parsed, err, sizeof(err)) < 0)
        return ctl_fail("%s", err);
    if (cidr_list_match(cfg->never_grant, &parsed))
        return ctl_fail("%s is in never_grant: no grant made", address);
    if ((st = ctl_open(cfg, STORE_ADMIN)) == NULL)
        return CTL_EXIT_FAIL;
    if (store_grant(st, address, user, source, now, now + lifetime, err, sizeof(err)) < 0) {
        store_close(st);
        return ctl_fail("%s", err);
    }
    store_close(st);
    printf("allowed %s until %s\n", address, util_format_time(now + lifetime, exp, sizeof(exp)));
    return CTL_EXIT_OK;
}

/* ctl_revoke_many - revoke --user NAME (1 if the user had no grant) or --all */
static int ctl_revoke_many(struct config *cfg, struct ctl_args *a)
{
    char err[512], buf[STORE_USER_MAX];
    const char *user;
    int64_t removed = 0;
    struct store *st;
    int rc;

    if (ctl_check_selector(a->user) != 0 || (st = ctl_open(cfg, STORE_ADMIN)) == NULL)
        return CTL_EXIT_FAIL;
    if (a->all)
        rc = store_revoke_all(st, &removed, err, sizeof(err));
    else
        rc = store_revoke_user(st, a->user, &removed, err, sizeof(err));
    store_close(st);
    if (rc < 0)
        return ctl_fail("%s", err);
    if (a->all) {
        printf("revoked %lld grants\n", (long long)removed);
        return CTL_EXIT_OK;
    }
    user = ctl_user_text(a->user, buf, sizeof(buf));
    if (removed == 0) {
        fprintf(stderr, "%s: no grant for user %s\n", CTL_PROG, user);
        return CTL_EXIT_NO;
    }
    printf("revoked %lld grants of user %s\n", (long long)removed, user);
    return CTL_EXIT_OK;
}

/* ctl_cmd_revoke - delete the grant of an address (1 if there was none), or many */
static int ctl_cmd_revoke(struct config *cfg, struct ctl_args *a)
{
    char address[ADDR_STRLEN], err[512];
    struct store *st;
    int rc;

    if (a->all || a->user != NULL)
        return ctl_revoke_many(cfg, a);
    if (ctl_address(a->pos[0], address, sizeof(address)) < 0)
        return CTL_EXIT_FAIL;
    if ((st = ctl_open(cfg, STORE_ADMIN)) == NULL)
        return CTL_EXIT_FAIL;
    rc = store_revoke(st, address, err, sizeof(err));
    store_close(st);
    if (rc < 0)
        return ctl_fail("%s", err);
    if (rc == 0) {
        fprintf(stderr, "%s: no grant for %s\n", CTL_PROG, address);
        return CTL_EXIT_NO;
    }
    printf("revoked %s\n", address);
    return CTL_EXIT_OK;
}

/* ctl_cmd_purge - delete expired rows and print how many */
static int ctl_cmd_purge(struct config *cfg, struct ctl_args *a)
{
    char err[512];
    int64_t removed = 0;
    struct store *st;
    int rc;

    (void)a;
    if ((st = ctl_open(cfg, STORE_ADMIN)) == NULL)
        return CTL_EXIT_FAIL;
    rc = store_purge(st, time(NULL), &removed, err, sizeof(err));
    store_close(st);
    if (rc < 0)
        return ctl_fail("%s", err);
    printf("purged %lld expired grants\n", (long long)removed);
    return CTL_EXIT_OK;
}

#define CTL_MIGRATE_BATCH 1000 /* grants per transaction of migrate */

/* What migrate copies into, and how far it got. */
struct ctl_migrate {
    struct store *to;
    int64_t grants, positions, counters, in_batch;
    char err[512];
};

/* ctl_migrate_commit - commit the open batch of grants, if any; -1 and m->err if it fails */
static int ctl_migrate_commit(struct ctl_migrate *m)
{
    if (m->in_batch == 0)
        return 0;
    m->in_batch = 0;
    return store_commit(m->to, m->err, sizeof(m->err));
}

/* ctl_migrate_grant - copy one grant (in batches); non-zero stops the walk on an error */
static int ctl_migrate_grant(const struct store_grant *g, void *ctx)
{
    struct ctl_migrate *m = ctx;

    if (m->in_batch == 0 && store_begin(m->to, m->err, sizeof(m->err)) < 0)
        return -1;
    if (store_import(m->to, g, m->err, sizeof(m->err)) < 0)
        return -1;
    m->grants++;
    if (++m->in_batch == CTL_MIGRATE_BATCH && ctl_migrate_commit(m) < 0)
        return -1;
    return 0;
}

/* ctl_migrate_position - copy one source's log position (this host's, in the copy) */
static int ctl_migrate_position(const char *source, const struct store_position *pos, void *ctx)
{
    struct ctl_migrate *m = ctx;

    if (store_position_put(m->to, source, pos, m->err, sizeof(m->err)) < 0)
        return -1;
    m->positions++;
    return 0;
}

/* ctl_migrate_counter - add one counter to the copy's */
static int ctl_migrate_counter(const char *source, const char *name, int64_t value, void *ctx)
{
    struct ctl_migrate *m = ctx;

    if (store_counter_add(m->to, source, name, value, m->err, sizeof(m->err)) < 0)
        return -1;
    m->counters++;
    return 0;
}

/* ctl_cmd_migrate - copy the store named on the command line (a SQLite one, say) into the
 * configured store: its active grants as they are, its log positions (as this host's)
 * and its counters (added) */
static int ctl_cmd_migrate(struct config *cfg, struct ctl_args *a)
{
    struct ctl_migrate m = {0};
    const char *from = a->pos[0];
    struct store *src;
    char err[512];
    int rc = 0;

    if (strcmp(from, cfg->database) == 0)
        return ctl_fail("migrate: %s is the configured database itself", from);
    if ((src = store_open(from, STORE_READONLY, err, sizeof(err))) == NULL)
        return ctl_fail("migrate: %s", err);
    if ((m.to = ctl_open(cfg, STORE_ADMIN)) == NULL) {
        store_close(src);
        return CTL_EXIT_FAIL;
    }
    if (store_list(src, (int64_t)time(NULL), 0, ctl_migrate_grant, &m, err, sizeof(err)) < 0 ||
        m.err[0] != '\0' || ctl_migrate_commit(&m) < 0 ||
        store_positions(src, ctl_migrate_position, &m, err, sizeof(err)) < 0 || m.err[0] != '\0' ||
        store_counters(src, ctl_migrate_counter, &m, err, sizeof(err)) < 0 || m.err[0] != '\0')
        rc = ctl_fail("migrate: %s (copied so far: %lld grants, %lld positions, %lld counters)",
                      m.err[0] != '\0' ? m.err : err, (long long)m.grants, (long long)m.positions,
                      (long long)m.counters);
    else
        printf("migrated %lld grants, %lld log positions and %lld counters from %s to %s\n",
               (long long)m.grants, (long long)m.positions, (long long)m.counters, from,
               cfg->database);
    if (m.in_batch > 0)
        store_rollback(m.to, err, sizeof(err));
    store_close(m.to);
    store_close(src);
    return rc;
}

/* The state of one walk over the per-source counters. */
struct ctl_counter_walk {
    int json;
    char source[256]; /* the source being printed, "" before the first */
};

/* ctl_counter_row - print one counter, grouped by source */
static int ctl_counter_row(const char *source, const char *name, int64_t value, void *ctx)
{
    struct ctl_counter_walk *w = ctx;
    int first = w->source[0] == '\0', same = strcmp(source, w->source) == 0;

    if (w->json) {
        if (!same) {
            printf("%s\n    ", first ? "" : "},");
            json_write_string(stdout, source);
            printf(": {");
        } else {
            printf(", ");
        }
        json_write_string(stdout, name);
        printf(": %lld", (long long)value);
    } else {
        char text[256];
        if (!same)
            printf("%ssource %s:", first ? "" : "\n",
                   util_printable(source, strlen(source), text, sizeof(text)));
        printf(" %s=%lld", name, (long long)value);
    }
    util_strlcpy(w->source, source, sizeof(w->source));
    return 0;
}

/* ctl_cmd_stats - print store counts and sizes, each source's counters, and smtpgate's
 * counters from its /metrics (metrics_listen) */
static int ctl_cmd_stats(struct config *cfg, struct ctl_args *a)
{
    struct ctl_counter_walk w = {a->json, ""};
    struct store_stats s;
    char err[512];
    struct store *st;
    int rc;

    if ((st = ctl_open(cfg, STORE_READONLY)) == NULL)
        return CTL_EXIT_FAIL;
    if (store_stats(st, time(NULL), &s, err, sizeof(err)) < 0) {
        store_close(st);
        return ctl_fail("%s", err);
    }
    if (a->json)
        printf("{\"active\":%lld,\"expired\":%lld,\"database_bytes\":%lld,"
               "\"schema_version\":%d,\"sources\":{",
               (long long)s.active, (long long)s.expired, (long long)s.database_bytes,
               s.schema_version);
    else
        printf("active grants:   %lld\nexpired rows:    %lld\ndatabase bytes:  %lld\n"
               "schema version:  %d\n",
               (long long)s.active, (long long)s.expired, (long long)s.database_bytes,
               s.schema_version);
    rc = store_counters(st, ctl_counter_row, &w, err, sizeof(err));
    store_close(st);
    if (a->json)
        printf("%s},\"smtpgate\":", w.source[0] ? "}\n  " : "");
    else if (w.source[0])
        printf("\n");
    metrics_stats_print(&cfg->metrics_listen, "smtpgate", a->json, stdout); /* over HTTP */
    if (a->json)
        printf("}\n");
    return rc < 0 ? ctl_fail("%s", err) : CTL_EXIT_OK;
}

/* ctl_check_report - check_to_stderr, but a problem both daemons' checks report (a
 * shared setting such as metrics_listen) is printed once */
static void ctl_check_report(const char *prog, const char *problem)
{
    static char seen[16][CHECK_LINE_MAX];
    static size_t nseen;
    size_t i;

    for (i = 0; i < nseen && i < UTIL_ARRAY_LEN(seen); i++)
        if (strcmp(problem, seen[i]) == 0)
            return;
    util_strlcpy(seen[nseen++ % UTIL_ARRAY_LEN(seen)], problem, sizeof(seen[0]));
    check_to_stderr(prog, problem);
}

/* ctl_restart_print - the settings a reload leaves for the next restart, each with the
 * daemons that do so (the restart column of the parameter table) */
static void ctl_restart_print(void)
{
    size_t i;

    for (i = 0; i < config_nparams; i++) {
        unsigned r = config_params[i].restart;

        if (r != 0)
            printf("%s %s%s%s\n", config_params[i].name, (r & PARAM_POPAUTH) ? "popauth" : "",
                   r == (PARAM_POPAUTH | PARAM_SMTPGATE) ? "," : "",
                   (r & PARAM_SMTPGATE) ? "smtpgate" : "");
    }
}

/* ctl_cmd_config - print the effective configuration, like postconf; with --check,
 * report every setting either daemon would refuse at start, as popauth -t and
 * smtpgate -t do; with --restart, the settings a reload does not apply */
static int ctl_cmd_config(struct config *cfg, struct ctl_args *a)
{
    struct check chk;

    if (a->restart) {
        ctl_restart_print();
        return CTL_EXIT_OK;
    }
    if (!a->check) {
        config_print(cfg, stdout, a->explicit_only);
        return CTL_EXIT_OK;
    }
    log_open(CTL_PROG, 1, LOG_LEVEL_WARN); /* the sources' warnings, not their info */
    check_init(&chk, ctl_check_report, CTL_PROG);
    check_run_user(&chk, cfg);
    popauth_start_check(cfg, &chk, NULL, NULL);
    smtpgate_start_check(cfg, &chk);
    return check_finish(&chk);
}

/* ctl_cmd_check - the relay decision for CLIENT sending to RECIPIENT; 1 if refused */
static int ctl_cmd_check(struct config *cfg, struct ctl_args *a)
{
    const char *rcpt = a->pos[1];
    struct decision d;
    char err[512], client[ADDR_STRLEN], show[RCPT_MAX + 1], why[2 * sizeof(d.reason)];
    struct decision_input in = {NULL, rcpt, strlen(rcpt), 0};
    struct grants *grants;
    struct addr addr;
    size_t i, n = 0;

    if (addr_parse(a->pos[0], strlen(a->pos[0]), &addr, err, sizeof(err)) < 0)
        return ctl_fail("client: %s", err);
    addr_format(&addr, client, sizeof(client));
    in.client = &addr;
    /* a store that cannot be opened (or does not exist yet) is a store error: defer */
    grants = grants_new(NULL, cfg->database);
    gate_decide(cfg, grants, &in, (int64_t)time(NULL), &d);
    grants_free(grants);
    for (i = 0; d.reason[i] != '\0'; i++) { /* the reason is printable; escape " and \ */
        if (d.reason[i] == '"' || d.reason[i] == '\\')
            why[n++] = '\\';
        why[n++] = d.reason[i];
    }
    why[n] = '\0';
    printf("outcome=%s client=%s recipient=%s reason=\"%s\"\n", decide_name(d.outcome), client,
           util_printable(rcpt, strlen(rcpt), show, sizeof(show)), why);
    return decide_accepts(d.outcome) ? CTL_EXIT_OK : CTL_EXIT_NO;
}

static const struct ctl_command ctl_commands[] = {
    {"list", "list [--all] [--json] [--user NAME]", 0,
     CTL_BIT(CTL_OPT_ALL) | CTL_BIT(CTL_OPT_JSON) | CTL_BIT(CTL_OPT_USER), 0, ctl_cmd_list},
    {"show", "show ADDRESS [--json]", 1, CTL_BIT(CTL_OPT_JSON), 0, ctl_cmd_show},
    {"allow", "allow ADDRESS [--user NAME] [--source NAME] [--lifetime DURATION]", 1,
     CTL_BIT(CTL_OPT_USER) | CTL_BIT(CTL_OPT_SOURCE) | CTL_BIT(CTL_OPT_LIFETIME), 0, ctl_cmd_allow},
    {"revoke", "revoke ADDRESS | --user NAME | --all", 1,
     CTL_BIT(CTL_OPT_USER) | CTL_BIT(CTL_OPT_ALL), CTL_BIT(CTL_OPT_USER) | CTL_BIT(CTL_OPT_ALL),
     ctl_cmd_revoke},
    {"purge", "purge", 0, 0, 0, ctl_cmd_purge},
    {"migrate", "migrate FROM_DATABASE", 1, 0, 0, ctl_cmd_migrate},
    {"stats", "stats [--json]", 0, CTL_BIT(CTL_OPT_JSON), 0, ctl_cmd_stats},
    {"config", "config [-n | --check | --restart]", 0,
     CTL_BIT(CTL_OPT_N) | CTL_BIT(CTL_OPT_CHECK) | CTL_BIT(CTL_OPT_RESTART),
     CTL_BIT(CTL_OPT_N) | CTL_BIT(CTL_OPT_CHECK) | CTL_BIT(CTL_OPT_RESTART), ctl_cmd_config},
    {"check", "check CLIENT RECIPIENT", 2, 0, 0, ctl_cmd_check},
};

/* ctl_usage - the usage of command c (NULL: of every command) to fp */
static void ctl_usage(FILE *fp, const struct ctl_command *c)
{
    size_t i;

    if (c != NULL) {
        fprintf(fp, "usage: %s [-c FILE] [-o name=value]... %s\n", CTL_PROG, c->usage);
        return;
    }
    fprintf(fp,
            "usage: %s [-c FILE] [-o name=value]... COMMAND [ARGS]\n"
            "       %s --help | --version\ncommands:\n",
            CTL_PROG, CTL_PROG);
    for (i = 0; i < UTIL_ARRAY_LEN(ctl_commands); i++)
        fprintf(fp, "  %s\n", ctl_commands[i].usage);
}

/* ctl_command_find - the command called name; NULL if there is none */
static const struct ctl_command *ctl_command_find(const char *name)
{
    size_t i;

    for (i = 0; name != NULL && i < UTIL_ARRAY_LEN(ctl_commands); i++)
        if (strcmp(name, ctl_commands[i].name) == 0)
            return &ctl_commands[i];
    return NULL;
}

/* ctl_option_find - the option called --name (len bytes) or -letter; NULL if none */
static const struct ctl_option *ctl_option_find(const char *name, size_t len, int letter)
{
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(ctl_options); i++) {
        const struct ctl_option *o = &ctl_options[i];
        if (name != NULL ? o->name != NULL && strlen(o->name) == len && !strncmp(o->name, name, len)
                         : o->letter == letter)
            return o;
    }
    return NULL;
}

/* ctl_option_text - how option id is written, for messages */
static const char *ctl_option_text(enum ctl_option_id id, char *buf, size_t buflen)
{
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(ctl_options) && ctl_options[i].id != id; i++)
        ;
    if (ctl_options[i].name != NULL)
        snprintf(buf, buflen, "--%s", ctl_options[i].name);
    else
        snprintf(buf, buflen, "-%c", ctl_options[i].letter);
    return buf;
}

/* ctl_apply - take option o, with its value v (NULL for a flag); --help and --version
 * answer and exit at once */
static void ctl_apply(struct ctl_args *a, const struct ctl_option *o, const char *v)
{
    a->seen |= CTL_BIT(o->id);
    switch (o->id) {
    case CTL_OPT_ALL:
        a->all = 1;
        break;
    case CTL_OPT_JSON:
        a->json = 1;
        break;
    case CTL_OPT_USER:
        a->user = v;
        break;
    case CTL_OPT_LIFETIME:
        a->lifetime = v;
        break;
    case CTL_OPT_SOURCE:
        a->source = v;
        break;
    case CTL_OPT_CHECK:
        a->check = 1;
        break;
    case CTL_OPT_RESTART:
        a->restart = 1;
        break;
    case CTL_OPT_N:
        a->explicit_only = 1;
        break;
    case CTL_OPT_CONFIG:
        cli_config_option(&a->cli, 'c', v);
        break;
    case CTL_OPT_OVERRIDE:
        cli_config_option(&a->cli, 'o', v);
        break;
    case CTL_OPT_HELP:
        ctl_usage(stdout, NULL);
        exit(CTL_EXIT_OK);
    case CTL_OPT_VERSION:
        cli_version(CTL_PROG);
    }
}

/* ctl_parse_long - argv[*i], "--name" or "--name=value" (the value may be the next
 * argument instead); -1 and why if it is not an option or its value is missing */
static int ctl_parse_long(int argc, char **argv, int *i, struct ctl_args *a, char *why,
                          size_t whylen)
{
    const char *arg = argv[*i], *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
    const struct ctl_option *o = ctl_option_find(name, len, 0);

    if (o == NULL)
        return util_seterr(why, whylen, "unknown option '--%.*s'", (int)len, name);
    if (!o->value && eq != NULL)
        return util_seterr(why, whylen, "option '--%s' takes no value", o->name);
    if (o->value && eq == NULL && *i + 1 >= argc)
        return util_seterr(why, whylen, "option '--%s' needs a value", o->name);
    ctl_apply(a, o, !o->value ? NULL : eq != NULL ? eq + 1 : argv[++*i]);
    return 0;
}

/* ctl_parse_short - argv[*i], one or more short options ("-n", "-cFILE", "-c FILE");
 * -1 and why if one is not an option or its value is missing */
static int ctl_parse_short(int argc, char **argv, int *i, struct ctl_args *a, char *why,
                           size_t whylen)
{
    const char *p;

    for (p = argv[*i] + 1; *p != '\0'; p++) {
        const struct ctl_option *o = ctl_option_find(NULL, 0, (unsigned char)*p);
        if (o == NULL)
            return util_seterr(why, whylen, "unknown option '-%c'", *p);
        if (!o->value) {
            ctl_apply(a, o, NULL);
            continue;
        }
        if (p[1] == '\0' && *i + 1 >= argc)
            return util_seterr(why, whylen, "option '-%c' needs a value", *p);
        ctl_apply(a, o, p[1] != '\0' ? p + 1 : argv[++*i]);
        break;
    }
    return 0;
}

/* ctl_parse - options and arguments, before or after the command; -1 and why on bad
 * usage */
static int ctl_parse(int argc, char **argv, struct ctl_args *a, const char **command, char *why,
                     size_t whylen)
{
    int i, options = 1;

    for (i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = 0;

        if (options && strcmp(arg, "--") == 0)
            options = 0;
        else if (options && arg[0] == '-' && arg[1] == '-')
            rc = ctl_parse_long(argc, argv, &i, a, why, whylen);
        else if (options && arg[0] == '-' && arg[1] != '\0')
            rc = ctl_parse_short(argc, argv, &i, a, why, whylen);
        else if (*command == NULL)
            *command = arg;
        else if (a->npos < CTL_MAX_ARGS)
            a->pos[a->npos++] = arg;
        else
            rc = util_seterr(why, whylen, "too many arguments");
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* ctl_misuse - 0 if the options and arguments fit command c; -1 and why if not */
static int ctl_misuse(const struct ctl_command *c, const struct ctl_args *a, char *why,
                      size_t whylen)
{
    unsigned extra = a->seen & ~(c->options | CTL_GLOBAL), instead = a->seen & c->instead;
    unsigned second = instead & (instead - 1); /* instead without its first option */
    int npos = instead != 0 ? 0 : c->npos;
    char t1[16], t2[16];

    if (extra != 0)
        return util_seterr(why, whylen, "%s does not take %s", c->name,
                           ctl_option_text(CTL_FIRST(extra), t1, sizeof(t1)));
    if (second != 0)
        return util_seterr(why, whylen, "%s and %s cannot be given together",
                           ctl_option_text(CTL_FIRST(instead), t1, sizeof(t1)),
                           ctl_option_text(CTL_FIRST(second), t2, sizeof(t2)));
    if (a->npos > npos)
        return util_seterr(why, whylen, "unexpected argument '%s'", a->pos[npos]);
    if (a->npos < npos)
        return util_seterr(why, whylen, "%s needs %d argument%s", c->name, npos,
                           npos > 1 ? "s" : "");
    return 0;
}

/* ctl_usage_error - the error why and the usage (of c, if known) on stderr; the status */
static int ctl_usage_error(const struct ctl_command *c, const char *why)
{
    fprintf(stderr, "%s: %s\n", CTL_PROG, why);
    ctl_usage(stderr, c);
    return CTL_EXIT_FAIL;
}

/* main - parse and check the whole command line, load the config and run one command */
int main(int argc, char **argv)
{
    struct ctl_args a;
    const struct ctl_command *c;
    const char *command = NULL;
    struct config *cfg;
    char why[1024];
    int rc;

    memset(&a, 0, sizeof(a));
    cli_config_init(&a.cli);
    if (ctl_parse(argc, argv, &a, &command, why, sizeof(why)) < 0)
        return ctl_usage_error(ctl_command_find(command), why);
    if (command == NULL)
        return ctl_usage_error(NULL, "no command given");
    if ((c = ctl_command_find(command)) == NULL) {
        snprintf(why, sizeof(why), "unknown command '%.64s'", command);
        return ctl_usage_error(NULL, why);
    }
    if (ctl_misuse(c, &a, why, sizeof(why)) < 0)
        return ctl_usage_error(c, why);
    cfg = cli_config_load(&a.cli, CTL_PROG);
    if (store_configure_from(cfg, why, sizeof(why)) < 0) {
        fprintf(stderr, "%s: %s\n", CTL_PROG, why);
        config_free(cfg);
        return 2;
    }
    rc = c->run(cfg, &a);
    config_free(cfg);
    return rc;
}
