/*
 * smtpgate - the gate daemon: answers the MTA's question "may this client relay to this
 * recipient?" from the grant store, which it only ever reads.
 *
 * This file holds main(): option and config binding and the start-up order. At this
 * stage smtpgate checks its configuration and that the store opens read-only, then
 * exits; its fronts (policy server, SMTP proxy) plug in after the store.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/store.h"
#include "shared/cli.h"
#include "shared/config.h"
#include "shared/log.h"

#define SMTPGATE_PROG "smtpgate"

/* smtpgate_usage - print the usage summary and exit with status */
static void smtpgate_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [-c FILE] [-o name=value]...\n"
            "  -c FILE          configuration file (default %s)\n"
            "  -o name=value    override one setting\n",
            SMTPGATE_PROG, POPAUTH_DEFAULT_CONFIG);
    exit(status);
}

/* main - load the config and check the store opens read-only */
int main(int argc, char **argv)
{
    struct cli_config cc;
    struct config *cfg;
    struct store *st;
    char err[512];
    int opt;

    cli_config_init(&cc);
    while ((opt = getopt(argc, argv, "c:o:h")) != -1) {
        if (cli_config_option(&cc, opt, optarg))
            continue;
        smtpgate_usage(opt == 'h' ? 0 : 2);
    }
    if (optind != argc)
        smtpgate_usage(2);
    cfg = cli_config_load(&cc, SMTPGATE_PROG);
    log_open(SMTPGATE_PROG, 1, LOG_LEVEL_INFO);
    if ((st = store_open(cfg->database, STORE_READONLY, err, sizeof(err))) == NULL)
        fatal("%s", err);
    store_close(st);
    config_free(cfg);
    return 0;
}
