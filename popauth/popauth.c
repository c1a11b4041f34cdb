/*
 * popauth - the ingest daemon: turns successful POP3/IMAP logins into relay grants.
 *
 * This file holds main(): option and config binding and the start-up order. At this
 * stage popauth checks its configuration and prepares the store (creating and
 * migrating it), then exits; its log and packet sources plug in after the store.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "db/store.h"
#include "shared/cli.h"
#include "shared/config.h"
#include "shared/log.h"

#define POPAUTH_PROG "popauth"

/* popauth_usage - print the usage summary and exit with status */
static void popauth_usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: %s [-c FILE] [-o name=value]...\n"
            "  -c FILE          configuration file (default %s)\n"
            "  -o name=value    override one setting\n",
            POPAUTH_PROG, POPAUTH_DEFAULT_CONFIG);
    exit(status);
}

/* main - load the config and prepare the store */
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
        popauth_usage(opt == 'h' ? 0 : 2);
    }
    if (optind != argc)
        popauth_usage(2);
    cfg = cli_config_load(&cc, POPAUTH_PROG);
    log_open(POPAUTH_PROG, 1, LOG_LEVEL_INFO);
    if ((st = store_open(cfg->database, STORE_READWRITE, err, sizeof(err))) == NULL)
        fatal("%s", err);
    store_close(st);
    config_free(cfg);
    return 0;
}
