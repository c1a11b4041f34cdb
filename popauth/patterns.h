/*
 * patterns - custom login patterns from the file named by log_patterns: one PCRE2
 * pattern per line (blank lines and # comments skipped), each with a named group
 * (?<ip>...) and optionally (?<user>...) and (?<time>...), compiled with JIT. A line
 * that a pattern matches is a successful login of source "custom". The ip group must be
 * a valid address (addr_parse), the time group a timestamp logline_parse_time accepts
 * (without one the line's own syslog time, or now, is used).
 *
 * Patterns match the raw line as read from a file or stdin, and the MESSAGE field of a
 * journal entry. They are the administrator's responsibility: anchor them on the program
 * tag and on text the server writes (see INSTALL).
 */
#ifndef POPAUTH_PATTERNS_H
#define POPAUTH_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "popauth/formats.h"

#define PATTERNS_MAX 256 /* patterns in one file */

struct patterns;

/* patterns_load - compile every pattern of path; NULL and "FILE:LINE: ..." in err */
struct patterns *patterns_load(const char *path, char *err, size_t errlen);
/* patterns_compile - compile patterns from text (where names it in errors) */
struct patterns *patterns_compile(const char *where, const char *text, size_t len, char *err,
                                  size_t errlen);
/* patterns_match - FORMATS_LOGIN and *out if a pattern matches line, else FORMATS_NONE
 * (FORMATS_REJECTED when a pattern matched but its ip or time group is not valid) */
enum formats_verdict patterns_match(const struct patterns *p, const char *line, size_t len,
                                    int64_t line_time, int64_t now, struct login *out);
/* patterns_count - number of patterns compiled */
size_t patterns_count(const struct patterns *p);
/* patterns_free - release everything; NULL is allowed */
void patterns_free(struct patterns *p);

#endif
