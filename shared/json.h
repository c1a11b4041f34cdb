/*
 * json - minimal JSON output for popauthctl: strings escaped per RFC 8259, with bytes
 * that are not valid UTF-8 replaced by U+FFFD so that the output is always valid JSON,
 * whatever a log line put into a user name.
 */
#ifndef POPAUTH_JSON_H
#define POPAUTH_JSON_H

#include <stdio.h>

/* json_write_string - write s as a quoted, escaped JSON string */
void json_write_string(FILE *fp, const char *s);

#endif
