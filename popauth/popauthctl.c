/*
 * popauthctl - the administrator's view of the grant store: list, show, allow, revoke and
 * purge grants, print store statistics and the effective configuration.
 *
 * Usage: popauthctl [-c FILE] [-o name=value]... COMMAND [ARGS]
 * Exit status: 0 success, 1 a negative answer (no such grant), 2 bad usage or an error,
 * always with a one-line message on stderr. JSON output is a single JSON document.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db/store.h"
#include "shared/addr.h"
#include "shared/cidr.h"
#include "shared/cli.h"
#include "shared/config.h"
#include "shared/decide.h"
#include "shared/json.h"
#include "shared/rcpt.h"
#include "shared/util.h"

#define CTL_PROG      "popauthctl"
#define CTL_MAX_ARGS  8
#define CTL_EXIT_OK   0
#define CTL_EXIT_NO   1
#define CTL_EXIT_FAIL 2

/* The options a command accepts; any other option is a usage error. */
#define CTL_OPT_ALL      0x01
#define CTL_OPT_JSON     0x02
#define CTL_OPT_N        0x04
#define CTL_OPT_USER     0x08
#define CTL_OPT_LIFETIME 0x10

/* The parsed command line of one command: its flags and positional arguments. */
struct ctl_args {
    struct cli_config cli;
    unsigned seen; /* CTL_OPT_* given */
    int all, json, explicit_only;
    const char *user;
    const char *lifetime;
    const char *pos[CTL_MAX_ARGS];
    int npos;
};

struct ctl_command {
    const char *name;
    const char *usage;
    int npos;         /* positional arguments required */
    unsigned options; /* CTL_OPT_* accepted */
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

/* ctl_open - open the configured store, read-only unless the command writes */
static struct store *ctl_open(const struct config *cfg, enum store_mode mode)
{
    char err[512];
    struct store *st = store_open(cfg->database, mode, err, sizeof(err));

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
    int64_t now;
    long count;
};

/* ctl_list_row - print one row of `list` */
static int ctl_list_row(const struct store_grant *g, void *ctx)
{
    struct ctl_list_walk *w = ctx;
    char first[32], last[32], exp[32], user[STORE_USER_MAX];

    if (w->json) {
        printf("%s\n  ", w->count ? "," : "");
        ctl_print_json(g);
    } else {
        printf("%-39s %-20s %-10s %-20s %-20s %6lld %s%s\n", g->address,
               ctl_user_text(g->user, user, sizeof(user)), g->source,
               util_format_time(g->first_login, first, sizeof(first)),
               util_format_time(g->last_login, last, sizeof(last)), (long long)g->logins,
               util_format_time(g->expires, exp, sizeof(exp)),
               g->expires > w->now ? "" : " (expired)");
    }
    w->count++;
    return 0;
}

/* ctl_cmd_list - list active grants (or every row with --all) */
static int ctl_cmd_list(struct config *cfg, struct ctl_args *a)
{
    struct ctl_list_walk w = {a->json, time(NULL), 0};
    struct store *st = ctl_open(cfg, STORE_READONLY);
    char err[512];
    int rc;

    if (st == NULL)
        return CTL_EXIT_FAIL;
    if (a->json)
        printf("[");
    else
        printf("%-39s %-20s %-10s %-20s %-20s %6s %s\n", "address", "user", "source", "first_login",
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

/* ctl_cmd_allow - grant relay to an address, as an administrator */
static int ctl_cmd_allow(struct config *cfg, struct ctl_args *a)
{
    char address[ADDR_STRLEN], err[512], exp[32];
    int64_t lifetime = cfg->grant_lifetime, now = time(NULL);
    const char *user = a->user ? a->user : "";
    struct addr parsed;
    struct store *st;

    if (ctl_address(a->pos[0], address, sizeof(address)) < 0)
        return CTL_EXIT_FAIL;
    if (a->lifetime && config_parse_duration(a->lifetime, &lifetime, err, sizeof(err)) < 0)
        return ctl_fail("--lifetime: %s", err);
    if (lifetime <= 0)
        return ctl_fail("--lifetime: must be more than 0 seconds");
    if (ctl_check_user(user) != 0)
        return CTL_EXIT_FAIL;
    if (addr_parse(address, strlen(address), &parsed, err, sizeof(err)) < 0)
        return ctl_fail("%s", err);
    if (cidr_list_match(cfg->never_grant, &parsed))
        return ctl_fail("%s is in never_grant: no grant made", address);
    if ((st = ctl_open(cfg, STORE_ADMIN)) == NULL)
        return CTL_EXIT_FAIL;
    if (store_grant(st, address, user, "admin", now, now + lifetime, err, sizeof(err)) < 0) {
        store_close(st);
        return ctl_fail("%s", err);
    }
    store_close(st);
    printf("allowed %s until %s\n", address, util_format_time(now + lifetime, exp, sizeof(exp)));
    return CTL_EXIT_OK;
}

/* ctl_cmd_revoke - delete the grant of an address; 1 if there was none */
static int ctl_cmd_revoke(struct config *cfg, struct ctl_args *a)
{
    char address[ADDR_STRLEN], err[512];
    struct store *st;
    int rc;

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

/* ctl_cmd_stats - print store counts and sizes, and each source's counters */
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
        printf("%s}}\n", w.source[0] ? "}\n  " : "");
    else if (w.source[0])
        printf("\n");
    return rc < 0 ? ctl_fail("%s", err) : CTL_EXIT_OK;
}

/* ctl_cmd_config - print the effective configuration, like postconf */
static int ctl_cmd_config(struct config *cfg, struct ctl_args *a)
{
    config_print(cfg, stdout, a->explicit_only);
    return CTL_EXIT_OK;
}

/* ctl_cmd_check - the relay decision for CLIENT sending to RECIPIENT; 1 if refused */
static int ctl_cmd_check(struct config *cfg, struct ctl_args *a)
{
    const char *rcpt = a->pos[1];
    struct decision d;
    char err[512], oerr[400], client[ADDR_STRLEN], show[RCPT_MAX + 1], why[2 * sizeof(d.reason)];
    struct decision_grant grant = {GRANT_NONE, NULL, 0, NULL};
    struct store_grant g;
    struct addr addr;
    struct store *st;
    size_t i, n = 0;
    int rc;

    if (addr_parse(a->pos[0], strlen(a->pos[0]), &addr, err, sizeof(err)) < 0)
        return ctl_fail("client: %s", err);
    addr_format(&addr, client, sizeof(client));
    decide(cfg, &addr, rcpt, strlen(rcpt), NULL, &d);
    if (d.outcome == DECISION_NEED_GRANT) {
        /* a store that cannot be opened (or does not exist yet) is a store error: defer */
        if ((st = store_open(cfg->database, STORE_READONLY, oerr, sizeof(oerr))) == NULL) {
            snprintf(err, sizeof(err), "store not available, so the decision defers: %s", oerr);
            rc = -1;
        } else {
            rc = store_lookup(st, client, time(NULL), &g, err, sizeof(err));
            store_close(st);
        }
        if (rc < 0)
            grant.state = GRANT_ERROR, grant.error = err;
        else if (rc > 0)
            grant.state = GRANT_ACTIVE, grant.user = g.user, grant.expires = g.expires;
        decide(cfg, &addr, rcpt, strlen(rcpt), &grant, &d);
    }
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
    {"list", "list [--all] [--json]", 0, CTL_OPT_ALL | CTL_OPT_JSON, ctl_cmd_list},
    {"show", "show ADDRESS [--json]", 1, CTL_OPT_JSON, ctl_cmd_show},
    {"allow", "allow ADDRESS [--user NAME] [--lifetime DURATION]", 1,
     CTL_OPT_USER | CTL_OPT_LIFETIME, ctl_cmd_allow},
    {"revoke", "revoke ADDRESS", 1, 0, ctl_cmd_revoke},
    {"purge", "purge", 0, 0, ctl_cmd_purge},
    {"stats", "stats [--json]", 0, CTL_OPT_JSON, ctl_cmd_stats},
    {"config", "config [-n]", 0, CTL_OPT_N, ctl_cmd_config},
    {"check", "check CLIENT RECIPIENT", 2, 0, ctl_cmd_check},
};

/* ctl_usage - print the usage summary to fp */
static void ctl_usage(FILE *fp)
{
    size_t i;

    fprintf(fp, "usage: %s [-c FILE] [-o name=value]... COMMAND [ARGS]\ncommands:\n", CTL_PROG);
    for (i = 0; i < UTIL_ARRAY_LEN(ctl_commands); i++)
        fprintf(fp, "  %s\n", ctl_commands[i].usage);
}

/* ctl_value - the argument of an option that takes one; NULL after reporting */
static const char *ctl_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        ctl_fail("option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

/* ctl_parse - options and arguments, before or after the command; -1 on bad usage */
static int ctl_parse(int argc, char **argv, struct ctl_args *a, const char **command)
{
    int i;

    for (i = 1; i < argc; i++) {
        const char *opt = argv[i], *v;

        if (opt[0] != '-' || opt[1] == '\0') {
            if (*command == NULL)
                *command = opt;
            else if (a->npos < CTL_MAX_ARGS)
                a->pos[a->npos++] = opt;
            else
                return ctl_fail("too many arguments");
            continue;
        }
        if (strcmp(opt, "-c") == 0 || strcmp(opt, "-o") == 0) {
            if ((v = ctl_value(argc, argv, &i)) == NULL)
                return -1;
            cli_config_option(&a->cli, opt[1], v);
        } else if (strcmp(opt, "--all") == 0) {
            a->all = 1, a->seen |= CTL_OPT_ALL;
        } else if (strcmp(opt, "--json") == 0) {
            a->json = 1, a->seen |= CTL_OPT_JSON;
        } else if (strcmp(opt, "-n") == 0) {
            a->explicit_only = 1, a->seen |= CTL_OPT_N;
        } else if (strcmp(opt, "--user") == 0) {
            if ((a->user = ctl_value(argc, argv, &i)) == NULL)
                return -1;
            a->seen |= CTL_OPT_USER;
        } else if (strcmp(opt, "--lifetime") == 0) {
            if ((a->lifetime = ctl_value(argc, argv, &i)) == NULL)
                return -1;
            a->seen |= CTL_OPT_LIFETIME;
        } else if (strcmp(opt, "-h") == 0 || strcmp(opt, "--help") == 0) {
            ctl_usage(stdout);
            exit(CTL_EXIT_OK);
        } else {
            return ctl_fail("unknown option '%s' (try --help)", opt);
        }
    }
    return 0;
}

/* main - parse the command line, load the config and run one command */
int main(int argc, char **argv)
{
    struct ctl_args a;
    const char *command = NULL;
    struct config *cfg;
    size_t i;
    int rc;

    memset(&a, 0, sizeof(a));
    cli_config_init(&a.cli);
    if (ctl_parse(argc, argv, &a, &command) < 0)
        return CTL_EXIT_FAIL;
    if (command == NULL) {
        ctl_usage(stderr);
        return CTL_EXIT_FAIL;
    }
    for (i = 0; i < UTIL_ARRAY_LEN(ctl_commands); i++)
        if (strcmp(command, ctl_commands[i].name) == 0)
            break;
    if (i == UTIL_ARRAY_LEN(ctl_commands))
        return ctl_fail("unknown command '%s' (try --help)", command);
    if (a.npos != ctl_commands[i].npos || (a.seen & ~ctl_commands[i].options) != 0)
        return ctl_fail("usage: %s %s", CTL_PROG, ctl_commands[i].usage);
    cfg = cli_config_load(&a.cli, CTL_PROG);
    rc = ctl_commands[i].run(cfg, &a);
    config_free(cfg);
    return rc;
}
