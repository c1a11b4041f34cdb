/*
 * popauth_start - what popauth needs of its settings before it runs, and the one place
 * where its sources are created from them: log_formats and log_patterns usable, the store
 * where a writer can open it (unless dry_run), at least one source, every log_sources
 * entry well formed and openable (a journal, its journal_directory), no source listed
 * twice, the sniffer's sniff_ports, its interfaces present and its sniff_file readable
 * with the sniff_servers it needs. popauth runs it at start-up and keeps the sources it
 * created; `popauth -t` and `popauthctl config --check` run it to report, so that what
 * they accept is what popauth starts with. run_user is checked by check_run_user
 * (shared/check.h).
 */
#ifndef POPAUTH_POPAUTH_START_H
#define POPAUTH_POPAUTH_START_H

#include <stddef.h>

#include "popauth/source.h"
#include "shared/check.h"
#include "shared/config.h"

#define POPAUTH_MAX_SOURCES 64 /* sources of all kinds */

/*
 * popauth_start_check - report to c every problem popauth would refuse in cfg.
 * With sources NULL the sources are created only to be checked, then freed, and live
 * captures and the Dovecot auth-policy socket are not opened (their interfaces must
 * exist; the socket's entry must be one listen_open could open). Otherwise they are
 * opened too (captures need root or CAP_NET_RAW) and every source created is left in
 * sources[POPAUTH_MAX_SOURCES], *nsources of them, for the caller to run and stop.
 */
void popauth_start_check(const struct config *cfg, struct check *c, struct source **sources,
                         size_t *nsources);

#endif
