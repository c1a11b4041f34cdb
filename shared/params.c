/*
 * params - the table of every configuration name the product knows, with its type, its
 * default and the struct config field it binds to, the words of an enum and which daemons
 * apply a change only at a restart. One table serves all three programs, so that one file
 * can configure them all, a misspelt name is always an error, and what a reload cannot
 * change is said once.
 */
#include <stddef.h>

#include "shared/config.h"

/*
 * P binds a name to the struct config field of the same name. PARAM_CHECK_<type> makes a
 * mismatch between the declared type and the field's C type a compile error: strings bind
 * char * (secrets too), durations and integers int64_t, booleans int, lists and domains struct
 * strlist, networks struct cidr_list *, log levels and enums int.
 */
#define PARAM_FIELD(name) (((struct config *)0)->name)
#define PARAM_IS(name, ctype)                                                                      \
    (0 * sizeof(char[_Generic(PARAM_FIELD(name), ctype : 1, default : -1)]))
#define PARAM_CHECK_PARAM_STRING(name)   PARAM_IS(name, char *)
#define PARAM_CHECK_PARAM_DURATION(name) PARAM_IS(name, int64_t)
#define PARAM_CHECK_PARAM_INT(name)      PARAM_IS(name, int64_t)
#define PARAM_CHECK_PARAM_BOOL(name)     PARAM_IS(name, int)
#define PARAM_CHECK_PARAM_LIST(name)     PARAM_IS(name, struct strlist)
#define PARAM_CHECK_PARAM_DOMAINS(name)  PARAM_IS(name, struct strlist)
#define PARAM_CHECK_PARAM_NETWORKS(name) PARAM_IS(name, struct cidr_list *)
#define PARAM_CHECK_PARAM_LEVEL(name)    PARAM_IS(name, int)
#define PARAM_CHECK_PARAM_ENUM(name)     PARAM_IS(name, int)
#define PARAM_CHECK_PARAM_SECRET(name)   PARAM_IS(name, char *)

#define PARAM_OFFSET(name, type) (offsetof(struct config, name) + PARAM_CHECK_##type(name))
/*
 * The restart column: the daemons that apply a change of the parameter only at a
 * restart (a SIGHUP reload logs that it keeps the running value). A daemon that does not
 * use a parameter does not list it.
 */
#define NONE     0
#define POPAUTH  PARAM_POPAUTH
#define SMTPGATE PARAM_SMTPGATE
#define BOTH     (PARAM_POPAUTH | PARAM_SMTPGATE)

/* clang-format off */
#define P(name, type, def, lo, hi, restart)                                                        \
    {#name, type, def, PARAM_OFFSET(name, type), lo, hi, NULL, restart}
#define E(name, words, def, restart)                                                               \
    {#name, PARAM_ENUM, def, PARAM_OFFSET(name, PARAM_ENUM), 0, 0, words, restart}
/* clang-format on */

/* proxy_client_identity, in the order an error lists them */
static const struct param_word params_identity[] = {
    {"xclient", PROXY_ID_XCLIENT},
    {"haproxy", PROXY_ID_HAPROXY},
    {"none", PROXY_ID_NONE},
    {NULL, 0},
};

const struct param config_params[] = {
    P(database, PARAM_STRING, "/var/lib/popauth/auth.db", 0, 0, POPAUTH),
    P(grant_lifetime, PARAM_DURATION, "30m", 1, 366LL * 86400, NONE),
    P(local_networks, PARAM_NETWORKS, "127.0.0.0/8, ::1/128", 0, 0, NONE),
    P(local_domains, PARAM_DOMAINS, "", 0, 0, NONE),
    P(never_grant, PARAM_NETWORKS, "", 0, 0, NONE),
    P(log_sources, PARAM_LIST, "file:/var/log/mail.log", 0, 0, POPAUTH),
    P(log_formats, PARAM_LIST, "all", 0, 0, NONE),
    P(log_patterns, PARAM_STRING, "", 0, 0, NONE),
    P(journal_directory, PARAM_STRING, "", 0, 0, POPAUTH),
    P(log_recheck_interval, PARAM_DURATION, "1s", 1, 3600, NONE),
    P(dry_run, PARAM_BOOL, "no", 0, 0, POPAUTH),
    P(policy_listen, PARAM_LIST, "inet:127.0.0.1:10040", 0, 0, SMTPGATE),
    P(policy_permit_action, PARAM_STRING, "OK", 0, 0, NONE),
    P(policy_local_action, PARAM_STRING, "DUNNO", 0, 0, NONE),
    P(policy_reject_action, PARAM_STRING, "DUNNO", 0, 0, NONE),
    P(policy_defer_action, PARAM_STRING, "DEFER_IF_REJECT 4.3.0 Relay authorization unavailable", 0,
      0, NONE),
    P(policy_idle_timeout, PARAM_DURATION, "300s", 1, 86400, NONE),
    P(policy_max_connections, PARAM_INT, "1000", 1, 100000, NONE),
    P(milter_listen, PARAM_LIST, "", 0, 0, SMTPGATE),
    P(milter_idle_timeout, PARAM_DURATION, "1h", 1, 86400, NONE),
    P(milter_max_connections, PARAM_INT, "1000", 1, 100000, NONE),
    P(proxy_listen, PARAM_LIST, "", 0, 0, SMTPGATE),
    P(proxy_backend, PARAM_STRING, "", 0, 0, NONE),
    E(proxy_client_identity, params_identity, "none", NONE),
    P(proxy_max_line, PARAM_INT, "512", 512, 65536, NONE),
    P(proxy_max_connections, PARAM_INT, "500", 1, 100000, NONE),
    P(proxy_max_connections_per_client, PARAM_INT, "20", 1, 100000, NONE),
    P(proxy_max_recipients, PARAM_INT, "1000", 100, 100000, NONE),
    P(proxy_command_timeout, PARAM_DURATION, "300s", 1, 86400, NONE),
    P(proxy_data_timeout, PARAM_DURATION, "180s", 1, 86400, NONE),
    P(proxy_min_data_rate, PARAM_INT, "256", 0, 1000000000, NONE),
    P(proxy_backend_timeout, PARAM_DURATION, "60s", 1, 3600, NONE),
    P(sniff_interfaces, PARAM_LIST, "", 0, 0, POPAUTH),
    P(sniff_file, PARAM_STRING, "", 0, 0, POPAUTH),
    P(sniff_ports, PARAM_LIST, "pop3:110, imap:143", 0, 0, POPAUTH),
    P(sniff_promiscuous, PARAM_BOOL, "no", 0, 0, POPAUTH),
    P(sniff_max_flows, PARAM_INT, "65536", 16, 16777216, POPAUTH),
    P(sniff_flow_timeout, PARAM_DURATION, "10m", 1, 86400, POPAUTH),
    P(sniff_max_line, PARAM_INT, "8192", 512, 1048576, POPAUTH),
    P(sniff_servers, PARAM_NETWORKS, "", 0, 0, NONE),
    P(dovecot_policy_listen, PARAM_STRING, "", 0, 0, POPAUTH),
    P(dovecot_policy_secret, PARAM_SECRET, "", 0, 0, NONE),
    P(dovecot_policy_max_connections, PARAM_INT, "100", 1, 100000, POPAUTH),
    P(run_user, PARAM_STRING, "", 0, 0, BOTH),
    P(log_level, PARAM_LEVEL, "info", 0, 0, NONE),
    P(metrics_listen, PARAM_LIST, "", 0, 0, BOTH),
    P(purge_interval, PARAM_DURATION, "1h", 0, 7LL * 86400, NONE),
    P(database_password_file, PARAM_STRING, "", 0, 0, BOTH),
    P(redis_node_name, PARAM_STRING, "", 0, 0, POPAUTH),
    P(redis_wait_replicas, PARAM_INT, "0", 0, 64, POPAUTH),
    P(redis_timeout_ms, PARAM_INT, "1000", 10, 60000, BOTH),
};

const size_t config_nparams = sizeof(config_params) / sizeof(config_params[0]);
