/*
 * logtail - the line sources: a followed log file (file:PATH) and standard input.
 *
 * A followed file behaves like `tail -F`: appends are read at once (libev ev_stat, which
 * uses inotify, plus a periodic re-check every log_recheck_interval); after a rotation
 * by rename the old file is read to its end before the new one is opened; when the file
 * shrinks below the read position (copytruncate) reading starts again at 0; a missing
 * file is waited for. A trailing partial line waits for its newline. The position saved
 * with each commit is (device, inode, offset after the last complete line, hash of the
 * first line): at start-up the file resumes there if it is still the same file; if it
 * was rotated meanwhile and PATH.1 is the old file, that is finished first.
 *
 * Standard input (stdin) has no position; at its end the source is finished.
 */
#ifndef POPAUTH_LOGTAIL_H
#define POPAUTH_LOGTAIL_H

#include <stddef.h>

#include "popauth/source.h"
#include "shared/config.h"

#define LOGTAIL_BUF (256 * 1024) /* read buffer; a longer line is skipped and counted */

/* logtail_file_new - a source following the file at path */
struct source *logtail_file_new(const char *path, const struct config *cfg);
/* logtail_stdin_new - a source reading lines from standard input */
struct source *logtail_stdin_new(void);

#endif
