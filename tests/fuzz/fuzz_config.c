/*
 * fuzz_config - libFuzzer target for the configuration parser. Each input is loaded as a
 * config file into a fresh config. Besides the sanitizers' checks it enforces two
 * properties: an error message is one printable line, and a config that loads prints as
 * text that loads back into the same config (config_print round-trips). Linked with
 * replay.c it runs over the seed corpus as a plain regression test.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_print - config_print into a malloc'd string */
static char *fuzz_print(const struct config *cfg, size_t *len)
{
    char *out = NULL;
    FILE *fp = open_memstream(&out, len);

    if (fp == NULL)
        abort();
    config_print(cfg, fp, 0);
    if (fclose(fp) != 0)
        abort();
    return out;
}

/* fuzz_check_error - abort unless err is a non-empty line of printable ASCII */
static void fuzz_check_error(const char *err)
{
    size_t i;

    if (err[0] == '\0')
        abort();
    for (i = 0; err[i] != '\0'; i++)
        if (err[i] < 0x20 || err[i] > 0x7e)
            abort();
}

/* fuzz_round_trip - abort unless cfg's printed form loads back and prints the same */
static void fuzz_round_trip(const struct config *cfg)
{
    char err[512];
    size_t len1, len2, i;
    char *out1 = fuzz_print(cfg, &len1), *out2;
    struct config *again = config_new();

    if (config_load_text(again, "printed", out1, len1, err, sizeof(err)) < 0) {
        fprintf(stderr, "printed config does not load: %s\n", err);
        abort();
    }
    out2 = fuzz_print(again, &len2);
    if (len1 != len2 || memcmp(out1, out2, len1) != 0)
        abort();
    if (again->grant_lifetime != cfg->grant_lifetime ||
        again->proxy_client_identity != cfg->proxy_client_identity ||
        again->local_domains.count != cfg->local_domains.count ||
        strcmp(again->database, cfg->database) != 0)
        abort();
    for (i = 0; i < cfg->local_domains.count; i++)
        if (strcmp(again->local_domains.items[i], cfg->local_domains.items[i]) != 0)
            abort();
    free(out1);
    free(out2);
    config_free(again);
}

/* LLVMFuzzerTestOneInput - load one input as a config file */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct config *cfg = config_new();
    char err[512] = "";

    if (config_load_text(cfg, "fuzz", (const char *)data, size, err, sizeof(err)) < 0)
        fuzz_check_error(err);
    else
        fuzz_round_trip(cfg);
    config_free(cfg);
    return 0;
}
