/*
 * smtp_reference - a second, plain model of the DATA scanner's verdict (smtpgate/smtp.h,
 * smtp_data_scan), written byte by byte from the rules rather than from the scanner's
 * code: only CRLF ends a line, a bare CR, a bare LF or a NUL is bad, and the line "."
 * ends the message. The unit test (tests/unit/torture_smtp.c) and the fuzz target
 * (tests/fuzz/fuzz_smtp.c) both compare the scanner with it.
 */
#ifndef POPAUTH_SMTP_REFERENCE_H
#define POPAUTH_SMTP_REFERENCE_H

#include <stddef.h>

#include "smtpgate/smtp.h"

/* reference_data_scan - the verdict on in[0..len) at the start of a message; *used: the
 * bytes up to the end of the message (END), all of them (MORE) or up to the bad byte */
static inline enum smtp_data_state reference_data_scan(const char *in, size_t len, size_t *used)
{
    size_t i, line = 0;

    for (i = 0; i < len; i++) {
        char c = in[i];

        if (c == '\0' || (i > 0 && in[i - 1] == '\r' && c != '\n'))
            break;
        if (c == '\n') {
            if (i == 0 || in[i - 1] != '\r')
                break;
            if (i - line == 2 && in[line] == '.') {
                *used = i + 1;
                return SMTP_DATA_END;
            }
            line = i + 1;
        }
    }
    *used = i;
    return i == len ? SMTP_DATA_MORE : SMTP_DATA_BAD;
}

#endif
