/*
 * patterns - the administrator's own login patterns (log_patterns), compiled with PCRE2.
 *
 * Each non-blank, non-comment line of the file is one pattern. It is compiled without
 * DOTALL or MULTILINE, with $ matching only at the very end of the line, with \C and
 * (*UTF) refused (lines are bytes, not text), and then JIT-compiled where the platform
 * allows (silently interpreted where it does not). Its named groups must be exactly
 * (?<ip>...) and optionally (?<user>...) and (?<time>...): an unknown name is almost
 * always a typo that would silently drop the user or the time.
 *
 * A bad pattern must not be able to hang popauth: every match runs under a match limit,
 * a depth limit and a heap limit (PATTERNS_MATCH_LIMIT and friends), and a match that
 * hits a limit counts as no match. The JIT stack and the match data are allocated once
 * per pattern set, so that matching a line allocates nothing (the interpreter keeps its
 * backtracking frames in the match data, grown once and reused). Because of that shared
 * match data, one pattern set must not be matched from two threads at once.
 *
 * patterns_match is pure apart from that scratch space: it reads the line and returns a
 * verdict; the fields of the winning pattern are checked as strictly as the built-in
 * formats check theirs (addr_parse for ip, printable bytes for user, a whole timestamp
 * for time), and a pattern that matched with a bad field gives FORMATS_REJECTED.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <errno.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "popauth/logline.h"
#include "popauth/patterns.h"
#include "shared/addr.h"
#include "shared/log.h"
#include "shared/util.h"

#define PATTERNS_FILE_MAX    (1024 * 1024) /* bytes in a log_patterns file */
#define PATTERNS_LENGTH_MAX  4096          /* bytes in one pattern */
#define PATTERNS_MATCH_LIMIT 200000        /* pcre2_set_match_limit: backtracking steps */
#define PATTERNS_DEPTH_LIMIT 20000         /* pcre2_set_depth_limit (interpreter only) */
#define PATTERNS_HEAP_LIMIT  16384         /* pcre2_set_heap_limit, KiB (interpreter only) */
#define PATTERNS_JIT_STACK   (512 * 1024)  /* largest JIT stack, bytes */
#define PATTERNS_OPTIONS     (PCRE2_DOLLAR_ENDONLY | PCRE2_NEVER_BACKSLASH_C | PCRE2_NEVER_UTF)

/* One compiled pattern and the numbers of its named groups (0: the group is absent). */
struct patterns_one {
    pcre2_code *code;
    uint32_t ip, user, time;
};

struct patterns {
    struct patterns_one *v;
    size_t n;
    pcre2_match_data *md;        /* sized for the pattern with the most groups */
    pcre2_match_context *mctx;   /* the limits, and the JIT stack */
    pcre2_jit_stack *jit_stack;  /* NULL if JIT is unavailable */
    pcre2_compile_context *cctx; /* used while compiling only */
    uint32_t maxgroups;
};

/* patterns_new - an empty set with its contexts */
static struct patterns *patterns_new(void)
{
    struct patterns *p = xcalloc(1, sizeof(*p));

    p->cctx = pcre2_compile_context_create(NULL);
    p->mctx = pcre2_match_context_create(NULL);
    if (p->cctx == NULL || p->mctx == NULL)
        fatal("patterns: out of memory");
    pcre2_set_max_pattern_length(p->cctx, PATTERNS_LENGTH_MAX);
    pcre2_set_match_limit(p->mctx, PATTERNS_MATCH_LIMIT);
    pcre2_set_depth_limit(p->mctx, PATTERNS_DEPTH_LIMIT);
    pcre2_set_heap_limit(p->mctx, PATTERNS_HEAP_LIMIT);
    return p;
}

/* patterns_group - the number of the group called name in code, or 0 if it has none */
static uint32_t patterns_group(const pcre2_code *code, const char *name)
{
    int n = pcre2_substring_number_from_name(code, (PCRE2_SPTR)name);

    return n > 0 ? (uint32_t)n : 0;
}

/* patterns_check_names - -1 and err if code has a named group other than ip, user, time */
static int patterns_check_names(const pcre2_code *code, const char *where, size_t lineno, char *err,
                                size_t errlen)
{
    uint32_t count = 0, size = 0, i;
    PCRE2_SPTR table = NULL;
    char show[64];

    pcre2_pattern_info(code, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(code, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(code, PCRE2_INFO_NAMETABLE, &table);
    for (i = 0; i < count; i++) {
        const char *name = (const char *)(table + (size_t)i * size + 2);
        if (strcmp(name, "ip") != 0 && strcmp(name, "user") != 0 && strcmp(name, "time") != 0) {
            util_printable(name, strlen(name), show, sizeof(show));
            return util_seterr(err, errlen,
                               "%s:%zu: log_patterns: unknown named group (?<%s>...); only ip, "
                               "user and time are known",
                               where, lineno, show);
        }
    }
    return 0;
}

/* patterns_add - compile one pattern of len bytes from line lineno into p */
static int patterns_add(struct patterns *p, const char *where, size_t lineno, const char *text,
                        size_t len, char *err, size_t errlen)
{
    struct patterns_one one = {0};
    PCRE2_UCHAR msg[256];
    PCRE2_SIZE offset = 0;
    uint32_t groups = 0;
    int code;

    if (p->n >= PATTERNS_MAX)
        return util_seterr(err, errlen, "%s:%zu: log_patterns: more than %d patterns", where,
                           lineno, PATTERNS_MAX);
    one.code = pcre2_compile((PCRE2_SPTR)text, len, PATTERNS_OPTIONS, &code, &offset, p->cctx);
    if (one.code == NULL) {
        if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
            snprintf((char *)msg, sizeof(msg), "error %d", code);
        return util_seterr(err, errlen, "%s:%zu: log_patterns: %s at offset %zu", where, lineno,
                           (const char *)msg, (size_t)offset);
    }
    if (patterns_check_names(one.code, where, lineno, err, errlen) != 0)
        goto fail;
    one.ip = patterns_group(one.code, "ip");
    one.user = patterns_group(one.code, "user");
    one.time = patterns_group(one.code, "time");
    if (one.ip == 0) {
        util_seterr(err, errlen, "%s:%zu: log_patterns: pattern has no (?<ip>...) group", where,
                    lineno);
        goto fail;
    }
    (void)pcre2_jit_compile(one.code, PCRE2_JIT_COMPLETE); /* interpreted if this fails */
    pcre2_pattern_info(one.code, PCRE2_INFO_CAPTURECOUNT, &groups);
    if (groups > p->maxgroups)
        p->maxgroups = groups;
    p->v = xrealloc(p->v, (p->n + 1) * sizeof(*p->v));
    p->v[p->n++] = one;
    return 0;
fail:
    pcre2_code_free(one.code);
    return -1;
}

/* patterns_finish - allocate the match data and the JIT stack once all are compiled */
static void patterns_finish(struct patterns *p)
{
    p->md = pcre2_match_data_create(p->maxgroups + 1, NULL);
    if (p->md == NULL)
        fatal("patterns: out of memory");
    p->jit_stack = pcre2_jit_stack_create(32 * 1024, PATTERNS_JIT_STACK, NULL);
    if (p->jit_stack != NULL) /* NULL when JIT is not built in: the default stack is fine */
        pcre2_jit_stack_assign(p->mctx, NULL, p->jit_stack);
    pcre2_compile_context_free(p->cctx);
    p->cctx = NULL;
}

/* patterns_blank - 1 if the line is empty, white space only, or a # comment */
static int patterns_blank(const char *s, size_t len)
{
    size_t i;

    if (len > 0 && s[0] == '#')
        return 1;
    for (i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

/* patterns_compile - compile patterns from text (where names it in errors) */
struct patterns *patterns_compile(const char *where, const char *text, size_t len, char *err,
                                  size_t errlen)
{
    struct patterns *p = patterns_new();
    const char *s = text, *end = text + len;
    size_t lineno = 0;

    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);

        lineno++;
        if (n > 0 && s[n - 1] == '\r')
            n--;
        if (!patterns_blank(s, n) && patterns_add(p, where, lineno, s, n, err, errlen) != 0) {
            patterns_free(p);
            return NULL;
        }
        if (nl == NULL)
            break;
        s = nl + 1;
    }
    patterns_finish(p);
    return p;
}

/* patterns_load - compile every pattern of path; NULL and "FILE:LINE: ..." in err */
struct patterns *patterns_load(const char *path, char *err, size_t errlen)
{
    struct patterns *p = NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *fp;

    fp = fopen(path, "rb");
    if (fp == NULL) {
        util_seterr(err, errlen, "%s: log_patterns: %s", path, strerror(errno));
        return NULL;
    }
    buf = xmalloc(PATTERNS_FILE_MAX + 1);
    len = fread(buf, 1, PATTERNS_FILE_MAX + 1, fp);
    if (ferror(fp))
        util_seterr(err, errlen, "%s: log_patterns: read error: %s", path, strerror(errno));
    else if (len > PATTERNS_FILE_MAX)
        util_seterr(err, errlen, "%s: log_patterns: file larger than %d bytes", path,
                    PATTERNS_FILE_MAX);
    else
        p = patterns_compile(path, buf, len, err, errlen);
    fclose(fp);
    free(buf);
    return p;
}

/* patterns_span - start and length of group g in the last match; 0 if it is unset */
static int patterns_span(const struct patterns *p, int rc, uint32_t g, size_t len, size_t *start,
                         size_t *n)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);

    if (g == 0 || (int)g >= rc || ov[2 * g] == PCRE2_UNSET || ov[2 * g + 1] == PCRE2_UNSET ||
        ov[2 * g] > ov[2 * g + 1] || ov[2 * g + 1] > len)
        return 0;
    *start = ov[2 * g];
    *n = ov[2 * g + 1] - ov[2 * g];
    return 1;
}

/* patterns_fields - fill *out from the groups of the pattern that matched line */
static enum formats_verdict patterns_fields(const struct patterns *p,
                                            const struct patterns_one *one, int rc,
                                            const char *line, size_t len, int64_t line_time,
                                            int64_t now, struct login *out)
{
    size_t start, n, used, i;
    char err[128];
    int64_t t;

    memset(out, 0, sizeof(*out));
    if (!patterns_span(p, rc, one->ip, len, &start, &n) ||
        addr_parse(line + start, n, &out->client, err, sizeof(err)) != 0)
        return FORMATS_REJECTED;
    if (patterns_span(p, rc, one->user, len, &start, &n)) {
        if (n > STORE_USER_MAX - 1)
            return FORMATS_REJECTED;
        for (i = 0; i < n; i++) {
            unsigned char c = (unsigned char)line[start + i];
            if (c < 0x20 || c == 0x7f)
                return FORMATS_REJECTED;
        }
        memcpy(out->user, line + start, n);
        out->user[n] = '\0';
    }
    if (patterns_span(p, rc, one->time, len, &start, &n)) {
        if (logline_parse_time(line + start, n, now, &t, &used) != 0 || used != n)
            return FORMATS_REJECTED;
        out->time = t;
    } else {
        out->time = line_time != 0 ? line_time : now;
    }
    out->source = "custom";
    return FORMATS_LOGIN;
}

/* patterns_match - FORMATS_LOGIN and *out if a pattern matches line, else FORMATS_NONE
 * (FORMATS_REJECTED when a pattern matched but its ip or time group is not valid) */
enum formats_verdict patterns_match(const struct patterns *p, const char *line, size_t len,
                                    int64_t line_time, int64_t now, struct login *out)
{
    size_t i;
    int rc;

    if (p == NULL)
        return FORMATS_NONE;
    for (i = 0; i < p->n; i++) {
        rc = pcre2_match(p->v[i].code, (PCRE2_SPTR)line, len, 0, 0, p->md, p->mctx);
        if (rc > 0) /* first match wins; limit errors and other failures are no match */
            return patterns_fields(p, &p->v[i], rc, line, len, line_time, now, out);
    }
    return FORMATS_NONE;
}

/* patterns_count - number of patterns compiled */
size_t patterns_count(const struct patterns *p)
{
    return p != NULL ? p->n : 0;
}

/* patterns_free - release everything; NULL is allowed */
void patterns_free(struct patterns *p)
{
    size_t i;

    if (p == NULL)
        return;
    for (i = 0; i < p->n; i++)
        pcre2_code_free(p->v[i].code);
    free(p->v);
    pcre2_match_data_free(p->md);
    pcre2_match_context_free(p->mctx);
    pcre2_jit_stack_free(p->jit_stack);
    pcre2_compile_context_free(p->cctx);
    free(p);
}
