/*
 * formats - the built-in parsers for successful POP3/IMAP logins, one per server:
 * Dovecot, Courier, Cyrus, UW imapd/ipop3d, Qpopper and Perdition. Pure functions: a
 * split log line (logline.h) in, a login (client address, user, time) out.
 *
 * Strictness is the point of this module (see SECURITY.md): each parser is anchored on
 * the program tag and on text the server writes itself, takes the address from its
 * fixed field, and refuses any line where a field it relies on is ambiguous (a marker
 * appearing twice, a bracket inside the user name, trailing text where none belongs).
 * A line that looks like a login of a known program but fails these checks is reported
 * as FORMATS_REJECTED, so that it can be counted; it never grants.
 */
#ifndef POPAUTH_FORMATS_H
#define POPAUTH_FORMATS_H

#include <stdint.h>

#include "db/store.h"
#include "popauth/logline.h"
#include "shared/addr.h"
#include "shared/config.h"

enum format_id {
    FORMAT_DOVECOT,
    FORMAT_COURIER,
    FORMAT_CYRUS,
    FORMAT_UW,
    FORMAT_QPOPPER,
    FORMAT_PERDITION,
    FORMAT_COUNT
};

#define FORMATS_ALL ((1u << FORMAT_COUNT) - 1)

enum formats_verdict {
    FORMATS_NONE,     /* not a login line of an enabled format */
    FORMATS_LOGIN,    /* a successful login: *out is filled */
    FORMATS_REJECTED, /* shaped like a login, but failed a strictness check */
};

struct login {
    struct addr client;
    char user[STORE_USER_MAX]; /* printable bytes only; may be empty */
    int64_t time;              /* the line's own time */
    const char *source;        /* format name, static */
};

/* formats_parse - recognise a successful login in a split line of an enabled format */
enum formats_verdict formats_parse(const struct logline *ll, unsigned enabled, struct login *out);
/* formats_name - the name of a format ("dovecot", "courier", ...) */
const char *formats_name(enum format_id id);
/* formats_mask - the set named by a log_formats list ("all" or names); -1 and err if bad */
int formats_mask(const struct strlist *names, unsigned *mask, char *err, size_t errlen);

#endif
