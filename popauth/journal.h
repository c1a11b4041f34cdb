/*
 * journal - a log source that reads the systemd journal (log_sources entry
 * "journal:FIELD=VALUE"), or the journal files in journal_directory.
 *
 * Only entries whose FIELD equals VALUE are read, and FIELD must be one of the fields
 * journald itself sets from the sending process (_SYSTEMD_UNIT, _COMM, _EXE, _UID,
 * _GID, _PID, _SYSTEMD_SLICE, _TRANSPORT): a local user can write any MESSAGE and any
 * SYSLOG_IDENTIFIER (logger -t dovecot), but cannot put an entry into dovecot.service.
 * _COMM, _PID and _TRANSPORT are accepted with a warning at start-up: a local user can
 * name a program "dovecot", a pid is reused, and everyone's logger(1) uses the syslog
 * transport.
 * Each entry is handed to the ingest core as a split line: the journal's own receive
 * time (__REALTIME_TIMESTAMP, not the client-supplied _SOURCE_REALTIME_TIMESTAMP), the
 * SYSLOG_IDENTIFIER as the tag, and MESSAGE. The position is the journal cursor.
 *
 * Ownership: journal_source_new returns a source that its ops->stop closes and frees.
 * The caller registers it with ingest_add_source, fills src->position from the store
 * before ops->start or ops->drain, and calls ingest_remove_source before ops->stop.
 */
#ifndef POPAUTH_JOURNAL_H
#define POPAUTH_JOURNAL_H

#include <stddef.h>

#include "popauth/ingest.h"
#include "popauth/source.h"
#include "shared/config.h"

#define JOURNAL_SPEC_MAX 200 /* bytes of FIELD=VALUE */

/* journal_spec_check - 0 if spec is FIELD=VALUE with a trusted FIELD; -1 and err if not */
int journal_spec_check(const char *spec, char *err, size_t errlen);
/* journal_source_new - a source for spec (the text after "journal:"); NULL and err if bad */
struct source *journal_source_new(const char *spec, const struct config *cfg, struct ingest *ing,
                                  char *err, size_t errlen);

#endif
