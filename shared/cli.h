/*
 * cli - the command-line options every program shares: "-c FILE" picks the config file
 * and "-o name=value" (repeatable) overrides one setting. Each program feeds its options
 * here and loads its config with cli_config_load, which exits with status 2 and a message
 * naming the file, line and setting when the config is bad. --version is the same in all
 * three: "PROG VERSION" on stdout, exit 0.
 */
#ifndef POPAUTH_CLI_H
#define POPAUTH_CLI_H

#include <stddef.h>

#include "shared/config.h"

#define CLI_MAX_OVERRIDES 256

#ifndef POPAUTH_VERSION
#define POPAUTH_VERSION "unknown"
#endif

#ifndef POPAUTH_DEFAULT_CONFIG
#define POPAUTH_DEFAULT_CONFIG "/etc/popauth/popauth.conf"
#endif

struct cli_config {
    const char *path;  /* config file; the default unless -c was given */
    int explicit_path; /* -c was given: a missing file is an error */
    const char *overrides[CLI_MAX_OVERRIDES];
    size_t noverrides;
};

/* cli_config_init - start with the default config path and no overrides */
void cli_config_init(struct cli_config *cc);
/* cli_config_option - take option 'c' or 'o' with its argument; 0 if opt is neither */
int cli_config_option(struct cli_config *cc, int opt, const char *arg);
/* cli_config_load - build the config or exit 2 with the error on stderr */
struct config *cli_config_load(const struct cli_config *cc, const char *prog);
/* cli_version - print "PROG VERSION" on stdout and exit 0 */
void cli_version(const char *prog) __attribute__((noreturn));

#endif
