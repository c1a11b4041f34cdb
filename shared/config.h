/*
 * config - the one configuration file that popauth, smtpgate and popauthctl share.
 *
 * Syntax (like Postfix's main.cf): "name = value" lines; "#" starts a comment line;
 * a line that starts with white space continues the previous value; lists are separated
 * by commas and/or white space; durations are a number with an optional s, m, h or d
 * suffix (plain numbers are seconds). A later assignment of the same name wins.
 * "-o name=value" on any program's command line overrides the file.
 *
 * Every name is declared once in the parameter table (params.c): its type, its default,
 * the struct config field it binds to, the words it allows if it is an enum, and the
 * daemons that apply a change of it only at a restart. An unknown name or a bad value is
 * an error naming the file, the line and the name (or "-o NAME" for overrides). What a
 * daemon's SIGHUP reload leaves for the next restart (config_restart_next) and which
 * checks a reload skips (check.h) come from the table's restart column.
 *
 * Ownership: config_build returns a struct config that the caller frees with config_free;
 * every pointer inside belongs to it. A reload builds a whole new config and swaps it.
 */
#ifndef POPAUTH_CONFIG_H
#define POPAUTH_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "shared/cidr.h"

#define CONFIG_MAX_FILE  (1024 * 1024) /* bytes in a config file */
#define CONFIG_MAX_VALUE (64 * 1024)   /* bytes in one value, continuations included */

struct strlist {
    char **items;
    size_t count;
};

enum param_type {
    PARAM_STRING,   /* any text, trimmed */
    PARAM_DURATION, /* seconds, from "90", "90s", "30m", "2h", "1d" */
    PARAM_BOOL,     /* yes/no, true/false, on/off, 1/0 */
    PARAM_INT,      /* non-negative decimal integer within [min, max] */
    PARAM_LIST,     /* strlist of words */
    PARAM_DOMAINS,  /* strlist of lower-cased domain names, trailing dot removed */
    PARAM_NETWORKS, /* cidr_list, finished */
    PARAM_LEVEL,    /* a log level: error, warning, info or debug (enum log_level) */
    PARAM_ENUM,     /* one of the parameter's words, in any case: the word's value */
    PARAM_SECRET,   /* PARAM_STRING never printed: config_print shows "(hidden)" */
};

/* The daemons, as bits of struct param's restart field. */
enum param_program {
    PARAM_POPAUTH = 1 << 0,
    PARAM_SMTPGATE = 1 << 1,
};

/* proxy_client_identity: what the SMTP proxy tells its backend about the client */
enum proxy_identity { PROXY_ID_NONE, PROXY_ID_XCLIENT, PROXY_ID_HAPROXY };

struct config {
    char *database;               /* store URI: PATH, sqlite:PATH, redis://, redis-sentinel:// */
    char *database_password_file; /* the Redis password (and user): see store_configure */
    char *redis_node_name;        /* whose log positions, in a shared store */
    int64_t redis_wait_replicas;  /* replicas that must confirm a commit */
    int64_t redis_timeout_ms;     /* connect and reply timeout of the Redis store */
    int64_t grant_lifetime;       /* seconds a login grants relay */
    struct cidr_list *local_networks; /* clients that relay without a grant */
    struct strlist local_domains;     /* recipient domains that are ours */
    struct cidr_list *never_grant;    /* clients that must never receive a grant */

    /* popauth: log sources */
    struct strlist log_sources;   /* file:PATH, stdin, journal:FIELD=VALUE */
    struct strlist log_formats;   /* built-in formats to recognise, or "all" */
    char *log_patterns;           /* file of custom PCRE2 patterns, "" for none */
    char *journal_directory;      /* read journal files here instead of the system journal */
    int64_t log_recheck_interval; /* stat followed files this often, besides inotify */
    int dry_run;                  /* parse and count, but write nothing to the store */

    /* smtpgate: the Postfix policy server */
    struct strlist policy_listen;   /* inet:HOST:PORT, inet:[V6]:PORT, unix:PATH[:mode=..] */
    char *policy_permit_action;     /* reply for permit-localnet and permit-grant */
    char *policy_local_action;      /* reply for a local recipient */
    char *policy_reject_action;     /* reply for relay denied */
    char *policy_defer_action;      /* reply when the store cannot answer */
    int64_t policy_idle_timeout;    /* close idle connections after this long */
    int64_t policy_max_connections; /* connections served at once */

    /* smtpgate: the milter front (Sendmail, Postfix) */
    struct strlist milter_listen;   /* inet:HOST:PORT, inet:[V6]:PORT, unix:PATH[:mode=..] */
    int64_t milter_idle_timeout;    /* close a connection without a packet this long */
    int64_t milter_max_connections; /* connections served at once */

    /* smtpgate: the SMTP proxy front */
    struct strlist proxy_listen;              /* inet:HOST:PORT, inet:[V6]:PORT */
    char *proxy_backend;                      /* inet:HOST:PORT, inet:[V6]:PORT or unix:PATH */
    int proxy_client_identity;                /* enum proxy_identity */
    int64_t proxy_max_line;                   /* bytes in a command line, CRLF included */
    int64_t proxy_max_connections;            /* client connections at once */
    int64_t proxy_max_connections_per_client; /* client connections at once per address */
    int64_t proxy_max_recipients;             /* RCPT TO accepted per message */
    int64_t proxy_command_timeout;            /* waiting for a command or a reply */
    int64_t proxy_data_timeout;               /* waiting for each block of DATA */
    int64_t proxy_min_data_rate;              /* bytes/s a DATA transfer must average */
    int64_t proxy_backend_timeout;            /* connecting to the backend, its greeting */

    /* popauth: the POP3/IMAP sniffer */
    struct strlist sniff_interfaces; /* capture live on these interfaces */
    char *sniff_file;                /* or read this pcap/pcapng file */
    struct strlist sniff_ports;      /* pop3:PORT and imap:PORT entries */
    int sniff_promiscuous;           /* put the interfaces in promiscuous mode */
    int64_t sniff_max_flows;         /* TCP conversations followed at once */
    int64_t sniff_flow_timeout;      /* forget a conversation idle this long */
    int64_t sniff_max_line;          /* bytes in a POP3/IMAP line */
    struct cidr_list *sniff_servers; /* our POP/IMAP servers; empty: this host's addresses */

    /* popauth: the Dovecot auth-policy source */
    char *dovecot_policy_listen;            /* inet:HOST:PORT, inet:[V6]:PORT, unix:PATH[:..] */
    char *dovecot_policy_secret;            /* the X-API-Key Dovecot must send */
    int64_t dovecot_policy_max_connections; /* connections served at once */

    /* both daemons */
    char *run_user; /* drop root to this user after start-up; "" keeps the current user */
    int log_level;  /* enum log_level: the most detailed level logged */
    struct strlist metrics_listen; /* PROGRAM=SPEC: where popauth, smtpgate serve /metrics */
    int64_t purge_interval;        /* popauth: delete expired grants this often; 0 never */

    char **values;               /* effective text of every parameter, indexed like the table */
    unsigned char *explicit_set; /* 1 where the file or -o set the parameter */
};

/* One word a PARAM_ENUM parameter allows, and the value its field takes for it. */
struct param_word {
    const char *word;
    int value;
};

struct param {
    const char *name;
    enum param_type type;
    const char *defval;
    size_t offset;                  /* of the bound field in struct config */
    int64_t min, max;               /* PARAM_INT and PARAM_DURATION bounds */
    const struct param_word *words; /* PARAM_ENUM: the words allowed, ended by a NULL word */
    unsigned restart;               /* enum param_program bits: the daemons that apply a
                                       change of this parameter only at a restart */
};

extern const struct param config_params[];
extern const size_t config_nparams;

/* config_new - a config holding every default (never fails) */
struct config *config_new(void);
/* config_load_file - read path into cfg; missing_ok: a missing file leaves cfg as is */
int config_load_file(struct config *cfg, const char *path, int missing_ok, char *err,
                     size_t errlen);
/* config_load_text - parse len bytes of config text; where names the source in errors */
int config_load_text(struct config *cfg, const char *where, const char *text, size_t len, char *err,
                     size_t errlen);
/* config_set - apply "name=value" from the command line (-o) */
int config_set(struct config *cfg, const char *assignment, char *err, size_t errlen);
/* config_build - defaults, then path (missing is fine unless explicit), then overrides */
struct config *config_build(const char *path, int explicit_path, const char *const *overrides,
                            size_t noverrides, char *err, size_t errlen);
/* config_print - "name = value" for every parameter, or only those set explicitly */
void config_print(const struct config *cfg, FILE *fp, int only_explicit);
/* config_text - the effective text of the setting name ("" if there is no such name) */
const char *config_text(const struct config *cfg, const char *name);
/* config_param - the table entry of the parameter called name, or NULL */
const struct param *config_param(const char *name);
/* config_restart_next - find, from index *i on, a parameter whose text differs between cur
 * and next and that program (an enum param_program bit) applies only at a restart; 1 with
 * *i its index, or 0 when there is none */
int config_restart_next(const struct config *cur, const struct config *next, unsigned program,
                        size_t *i);
/* config_free - release cfg and everything it owns; NULL is allowed */
void config_free(struct config *cfg);

/* config_parse_duration - "30m" to 1800; -1 and err on bad text */
int config_parse_duration(const char *text, int64_t *out, char *err, size_t errlen);

#endif
