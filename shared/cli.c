/*
 * cli - shared handling of -c, -o and --version, and the exit-2-on-bad-config rule.
 */
#include <stdio.h>
#include <stdlib.h>

#include "shared/cli.h"

/* cli_config_init - start with the default config path and no overrides */
void cli_config_init(struct cli_config *cc)
{
    cc->path = POPAUTH_DEFAULT_CONFIG;
    cc->explicit_path = 0;
    cc->noverrides = 0;
}

/* cli_config_option - take option 'c' or 'o' with its argument; 0 if opt is neither */
int cli_config_option(struct cli_config *cc, int opt, const char *arg)
{
    if (opt == 'c') {
        cc->path = arg;
        cc->explicit_path = 1;
        return 1;
    }
    if (opt == 'o') {
        if (cc->noverrides >= CLI_MAX_OVERRIDES) {
            fprintf(stderr, "too many -o options (at most %d)\n", CLI_MAX_OVERRIDES);
            exit(2);
        }
        cc->overrides[cc->noverrides++] = arg;
        return 1;
    }
    return 0;
}

/* cli_config_load - build the config or exit 2 with the error on stderr */
struct config *cli_config_load(const struct cli_config *cc, const char *prog)
{
    char err[1024];
    struct config *cfg;

    cfg =
        config_build(cc->path, cc->explicit_path, cc->overrides, cc->noverrides, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "%s: %s\n", prog, err);
        exit(2);
    }
    return cfg;
}

/* cli_version - print "PROG VERSION" on stdout and exit 0 */
void cli_version(const char *prog)
{
    printf("%s %s\n", prog, POPAUTH_VERSION);
    exit(0);
}
