/*
 * config - reads the one configuration file (main.cf style) and -o overrides into a
 * struct config, checking every value against the typed parameter table in params.c.
 *
 * A file is split into logical lines: a line that starts with a space or tab continues
 * the setting before it (the pieces are trimmed and joined with one space); blank lines
 * and lines whose first non-blank byte is "#" are skipped and do not end a setting. Each
 * setting is parsed into its typed field as soon as it is complete, so an error names the
 * line where the setting starts; the first error stops the load. Applying one setting is
 * atomic (the new value is built before the old one is freed), but a load that fails part
 * way leaves the settings before the bad one in place: config_build discards the whole
 * config then, and reloads build a new config, so no caller sees a half-loaded one.
 *
 * Field types: PARAM_STRING and PARAM_SECRET bind char *, PARAM_DURATION and PARAM_INT bind
 * int64_t, PARAM_BOOL, PARAM_LEVEL and PARAM_ENUM bind int (0 or 1; enum log_level; the value of
 * the word given), PARAM_LIST and PARAM_DOMAINS bind struct strlist, PARAM_NETWORKS binds struct
 * cidr_list * (finished). params.c checks these at compile time. For PARAM_INT and
 * PARAM_DURATION, min = max = 0 means no bounds. An enum's words match in any case, as
 * booleans do; the error for any other text lists them.
 *
 * Values may not hold control characters other than tab, so that config_print's output
 * is one line per setting and reads back to the same config (except a secret's, which it
 * shows as "(hidden)").
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shared/addr.h"
#include "shared/ascii.h"
#include "shared/cidr.h"
#include "shared/config.h"
#include "shared/log.h"
#include "shared/util.h"

#define CONFIG_QUOTE_MAX  64 /* bytes of bad input quoted in an error */
#define CONFIG_QUOTE_SIZE (CONFIG_QUOTE_MAX + 4)
#define CONFIG_WHERE_MAX  512 /* bytes of a file name quoted in an error */
#define CONFIG_LOC_SIZE   (CONFIG_WHERE_MAX + 128)
#define CONFIG_MSG_SIZE   512 /* a type parser's message, before the location */
#define CONFIG_DOMAIN_MAX 253 /* characters in a domain name */
#define CONFIG_LABEL_MAX  63  /* characters in one label */

/* A parsed value before it replaces the field it is meant for. */
struct config_value {
    char *str;
    int64_t num;
    int flag;
    struct strlist list;
    struct cidr_list *nets;
};

/* config_quote - printable copy of len bytes of s, cut at CONFIG_QUOTE_MAX with "..." */
static const char *config_quote(const char *s, size_t len, char *buf, size_t buflen)
{
    if (len <= CONFIG_QUOTE_MAX || buflen < CONFIG_QUOTE_SIZE)
        return util_printable(s, len, buf, buflen);
    util_printable(s, CONFIG_QUOTE_MAX, buf, buflen);
    memcpy(buf + CONFIG_QUOTE_MAX, "...", 4);
    return buf;
}

/* config_is_blank - space or tab, the separators inside a line */
static int config_is_blank(int c)
{
    return c == ' ' || c == '\t';
}

/* config_is_trail - bytes trimmed from the end of a value (CR for CRLF files) */
static int config_is_trail(int c)
{
    return c == ' ' || c == '\t' || c == '\r';
}

/* config_is_name_char - a byte allowed in a parameter name: [a-z0-9_] */
static int config_is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || ascii_is_digit((unsigned char)c) || c == '_';
}

/* config_is_sep - a list separator: comma or white space */
static int config_is_sep(int c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\r';
}

/* config_trim - narrow [*s, *s + *len) to drop leading blanks and trailing blanks/CR */
static void config_trim(const char **s, size_t *len)
{
    while (*len > 0 && config_is_blank((unsigned char)**s)) {
        (*s)++;
        (*len)--;
    }
    while (*len > 0 && config_is_trail((unsigned char)(*s)[*len - 1]))
        (*len)--;
}

/* config_lookup - index of the parameter called name (len bytes), or -1 */
static ssize_t config_lookup(const char *name, size_t len)
{
    size_t i;

    for (i = 0; i < config_nparams; i++)
        if (strlen(config_params[i].name) == len && memcmp(config_params[i].name, name, len) == 0)
            return (ssize_t)i;
    return -1;
}

/* config_split - split "name = value" (already trimmed); -1 unless name is [a-z0-9_]+ */
static int config_split(const char *s, size_t len, size_t *nlen, const char **value, size_t *vlen)
{
    size_t n = 0, eq;

    while (n < len && config_is_name_char((unsigned char)s[n]))
        n++;
    for (eq = n; eq < len && config_is_blank((unsigned char)s[eq]); eq++)
        ;
    if (n == 0 || eq == len || s[eq] != '=')
        return -1;
    *nlen = n;
    *value = s + eq + 1;
    *vlen = len - eq - 1;
    config_trim(value, vlen);
    return 0;
}

/* config_format_duration - seconds as text in the largest unit that divides it */
static char *config_format_duration(int64_t secs, char *buf, size_t buflen)
{
    if (secs != 0 && secs % 86400 == 0)
        snprintf(buf, buflen, "%" PRId64 "d", secs / 86400);
    else if (secs != 0 && secs % 3600 == 0)
        snprintf(buf, buflen, "%" PRId64 "h", secs / 3600);
    else if (secs != 0 && secs % 60 == 0)
        snprintf(buf, buflen, "%" PRId64 "m", secs / 60);
    else
        snprintf(buf, buflen, "%" PRId64 "s", secs);
    return buf;
}

/* config_parse_number - a non-negative decimal of len bytes; -1 if empty, bad or too big */
static int config_parse_number(const char *s, size_t len, int64_t *out)
{
    uint64_t n;

    if (ascii_uint(s, len, INT64_MAX, &n) < 0)
        return -1;
    *out = (int64_t)n;
    return 0;
}

/* config_duration - parse len bytes as a duration in seconds, positive unless zero_ok; -1
 * and err if bad */
static int config_duration(const char *s, size_t len, int zero_ok, int64_t *out, char *err,
                           size_t errlen)
{
    char q[CONFIG_QUOTE_SIZE];
    int64_t n, mult = 1;
    size_t digits = len;

    if (len > 0) {
        switch (s[len - 1]) {
        case 's':
            digits = len - 1;
            break;
        case 'm':
            mult = 60;
            digits = len - 1;
            break;
        case 'h':
            mult = 3600;
            digits = len - 1;
            break;
        case 'd':
            mult = 86400;
            digits = len - 1;
            break;
        }
    }
    if (!ascii_digits(s, digits))
        return util_seterr(err, errlen, "bad duration '%s' (a number with optional s, m, h or d)",
                           config_quote(s, len, q, sizeof(q)));
    if (config_parse_number(s, digits, &n) < 0 || n > INT64_MAX / mult)
        return util_seterr(err, errlen, "bad duration '%s' (too large)",
                           config_quote(s, len, q, sizeof(q)));
    if (n == 0 && !zero_ok)
        return util_seterr(err, errlen, "bad duration '%s' (must be more than zero)",
                           config_quote(s, len, q, sizeof(q)));
    *out = n * mult;
    return 0;
}

/* config_parse_duration - "30m" to 1800; -1 and err on bad text */
int config_parse_duration(const char *text, int64_t *out, char *err, size_t errlen)
{
    return config_duration(text, strlen(text), 0, out, err, errlen);
}

/* config_check_bounds - -1 and err unless n lies within the parameter's [min, max] */
static int config_check_bounds(const struct param *p, int64_t n, const char *s, size_t len,
                               char *err, size_t errlen)
{
    char q[CONFIG_QUOTE_SIZE], lo[32], hi[32];

    if ((p->min == 0 && p->max == 0) || (n >= p->min && n <= p->max))
        return 0;
    if (p->type == PARAM_DURATION)
        return util_seterr(err, errlen, "duration '%s' out of range (%s to %s)",
                           config_quote(s, len, q, sizeof(q)),
                           config_format_duration(p->min, lo, sizeof(lo)),
                           config_format_duration(p->max, hi, sizeof(hi)));
    return util_seterr(err, errlen, "number '%s' out of range (%" PRId64 " to %" PRId64 ")",
                       config_quote(s, len, q, sizeof(q)), p->min, p->max);
}

/* config_parse_enum - one of p's words in any case, as its value; -1 and err listing the
 * words if not */
static int config_parse_enum(const struct param *p, const char *s, size_t len, int *out, char *err,
                             size_t errlen)
{
    char q[CONFIG_QUOTE_SIZE], words[CONFIG_MSG_SIZE / 2] = "";
    size_t i, n = 0;

    for (i = 0; p->words[i].word != NULL; i++) {
        if (strlen(p->words[i].word) == len && strncasecmp(p->words[i].word, s, len) == 0) {
            *out = p->words[i].value;
            return 0;
        }
    }
    for (i = 0; p->words[i].word != NULL; i++) {
        const char *sep = i == 0 ? "" : p->words[i + 1].word == NULL ? " or " : ", ";

        if (n < sizeof(words))
            n += (size_t)snprintf(words + n, sizeof(words) - n, "%s%s", sep, p->words[i].word);
    }
    return util_seterr(err, errlen, "'%s' is not %s", config_quote(s, len, q, sizeof(q)), words);
}

/* config_parse_bool - yes/no, true/false, on/off, 1/0 in any case; -1 and err if bad */
static int config_parse_bool(const char *s, size_t len, int *out, char *err, size_t errlen)
{
    static const struct {
        const char *word;
        int value;
    } words[] = {
        {"yes", 1}, {"no", 0}, {"true", 1}, {"false", 0}, {"on", 1}, {"off", 0}, {"1", 1}, {"0", 0},
    };
    char q[CONFIG_QUOTE_SIZE];
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(words); i++) {
        if (strlen(words[i].word) == len && strncasecmp(words[i].word, s, len) == 0) {
            *out = words[i].value;
            return 0;
        }
    }
    return util_seterr(err, errlen, "bad boolean '%s' (yes or no)",
                       config_quote(s, len, q, sizeof(q)));
}

/* config_strlist_add - append a copy of len bytes of s to list */
static void config_strlist_add(struct strlist *list, const char *s, size_t len)
{
    size_t n = list->count;

    /* the capacity is implied: 4, then doubled whenever count reaches a power of two */
    if (n == 0 || (n >= 4 && (n & (n - 1)) == 0))
        list->items = xrealloc(list->items, (n == 0 ? 4 : 2 * n) * sizeof(*list->items));
    list->items[list->count++] = xstrndup(s, len);
}

/* config_strlist_free - release the items of list and leave it empty */
static void config_strlist_free(struct strlist *list)
{
    size_t i;

    for (i = 0; i < list->count; i++)
        free(list->items[i]);
    free(list->items);
    list->items = NULL;
    list->count = 0;
}

/* config_next_word - find the next list word at or after *pos; 0 when none is left */
static int config_next_word(const char *s, size_t len, size_t *pos, const char **word, size_t *wlen)
{
    size_t i = *pos, start;

    while (i < len && config_is_sep((unsigned char)s[i]))
        i++;
    if (i == len)
        return 0;
    start = i;
    while (i < len && !config_is_sep((unsigned char)s[i]))
        i++;
    *word = s + start;
    *wlen = i - start;
    *pos = i;
    return 1;
}

/* config_check_label - why the LDH label of len bytes is bad, or NULL if it is good */
static const char *config_check_label(const char *s, size_t len)
{
    size_t i;

    if (len == 0)
        return "empty label";
    if (len > CONFIG_LABEL_MAX)
        return "label longer than 63 characters";
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || ascii_is_digit(c) || c == '-'))
            return "only letters, digits, '-' and '.' are allowed";
    }
    if (s[0] == '-' || s[len - 1] == '-')
        return "a label may not start or end with '-'";
    return NULL;
}

/* config_check_domain - why the (lower-case) domain of len bytes is bad, or NULL */
static const char *config_check_domain(const char *s, size_t len)
{
    const char *why;
    size_t start = 0, i, last = 0;

    if (len == 0)
        return "empty name";
    if (len > CONFIG_DOMAIN_MAX)
        return "longer than 253 characters";
    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '.')
            continue;
        if ((why = config_check_label(s + start, i - start)) != NULL)
            return why;
        last = start;
        start = i + 1;
    }
    if (!ascii_digits(s + last, len - last))
        return NULL;
    return "the last label is a number; write an address as [ADDR]";
}

/* config_domain_word - normalise and check one PARAM_DOMAINS word into list */
static int config_domain_word(struct strlist *list, const char *word, size_t wlen, char *err,
                              size_t errlen)
{
    char q[CONFIG_QUOTE_SIZE], aerr[CONFIG_MSG_SIZE], canon[ADDR_STRLEN + 2];
    char *w = xstrndup(word, wlen);
    const char *why = NULL;
    size_t len = wlen, i;
    int rc = -1;

    for (i = 0; i < len; i++)
        if (w[i] >= 'A' && w[i] <= 'Z')
            w[i] = (char)(w[i] - 'A' + 'a');
    if (len > 0 && w[len - 1] == '.')
        w[--len] = '\0';
    if (len > 0 && w[0] == '[') {
        char *a = w + 1;

        if (len < 2 || w[len - 1] != ']') {
            why = "an address literal ends with ']'";
            goto out;
        }
        w[len - 1] = '\0';
        if (strncmp(a, "ipv6:", 5) == 0) {
            a += 5;
            if (strchr(a, ':') == NULL) {
                why = "[IPv6:...] needs an IPv6 address";
                goto out;
            }
        }
        canon[0] = '[';
        if (addr_canonical(a, canon + 1, ADDR_STRLEN, aerr, sizeof(aerr)) < 0) {
            why = aerr;
            goto out;
        }
        i = strlen(canon);
        canon[i] = ']';
        canon[i + 1] = '\0';
        config_strlist_add(list, canon, i + 1);
        rc = 0;
        goto out;
    }
    why = config_check_domain(w[0] == '.' ? w + 1 : w, w[0] == '.' ? len - 1 : len);
    if (why == NULL) {
        config_strlist_add(list, w, len);
        rc = 0;
    }
out:
    if (rc < 0)
        util_seterr(err, errlen, "bad domain '%s' (%s)", config_quote(word, wlen, q, sizeof(q)),
                    why);
    free(w);
    return rc;
}

/* config_value_free - release whatever a parsed value holds */
static void config_value_free(struct config_value *v)
{
    free(v->str);
    v->str = NULL;
    config_strlist_free(&v->list);
    cidr_list_free(v->nets);
    v->nets = NULL;
}

/* config_parse_value - parse len bytes of text as p's type into v; -1 and err if bad */
static int config_parse_value(const struct param *p, const char *s, size_t len,
                              struct config_value *v, char *err, size_t errlen)
{
    char q[CONFIG_QUOTE_SIZE], nerr[CONFIG_MSG_SIZE];
    const char *word;
    size_t pos = 0, wlen, i;

    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (((c < 0x20 && c != '\t') || c == 0x7f) && p->type == PARAM_SECRET)
            return util_seterr(err, errlen, "control character in the (hidden) value");
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return util_seterr(err, errlen, "control character in value '%s'",
                               config_quote(s, len, q, sizeof(q)));
    }
    switch (p->type) {
    case PARAM_STRING:
    case PARAM_SECRET:
        v->str = xstrndup(s, len);
        return 0;
    case PARAM_DURATION:
        /* a lower bound of 0 (with an upper bound) lets 0 mean "never" */
        if (config_duration(s, len, p->min == 0 && p->max > 0, &v->num, err, errlen) < 0)
            return -1;
        return config_check_bounds(p, v->num, s, len, err, errlen);
    case PARAM_INT:
        if (config_parse_number(s, len, &v->num) < 0)
            return util_seterr(err, errlen, "bad number '%s' (a non-negative decimal integer)",
                               config_quote(s, len, q, sizeof(q)));
        return config_check_bounds(p, v->num, s, len, err, errlen);
    case PARAM_BOOL:
        return config_parse_bool(s, len, &v->flag, err, errlen);
    case PARAM_LEVEL:
        if ((v->flag = log_level_parse(s, len)) < 0)
            return util_seterr(err, errlen, "bad log level '%s' (error, warning, info or debug)",
                               config_quote(s, len, q, sizeof(q)));
        return 0;
    case PARAM_ENUM:
        return config_parse_enum(p, s, len, &v->flag, err, errlen);
    case PARAM_LIST:
        while (config_next_word(s, len, &pos, &word, &wlen))
            config_strlist_add(&v->list, word, wlen);
        return 0;
    case PARAM_DOMAINS:
        while (config_next_word(s, len, &pos, &word, &wlen))
            if (config_domain_word(&v->list, word, wlen, err, errlen) < 0)
                return -1;
        return 0;
    case PARAM_NETWORKS:
        v->nets = cidr_list_new();
        while (config_next_word(s, len, &pos, &word, &wlen)) {
            if (cidr_list_add(v->nets, word, wlen, nerr, sizeof(nerr)) < 0)
                return util_seterr(err, errlen, "%s", nerr); /* it quotes the word */
        }
        cidr_list_finish(v->nets);
        return 0;
    }
    return util_seterr(err, errlen, "unsupported parameter type %d", (int)p->type);
}

/* config_apply - set parameter idx from len bytes of text; loc prefixes any error */
static int config_apply(struct config *cfg, size_t idx, const char *s, size_t len, const char *loc,
                        char *err, size_t errlen)
{
    const struct param *p = &config_params[idx];
    struct config_value v = {0};
    char msg[CONFIG_MSG_SIZE];
    void *field = (char *)cfg + p->offset;

    if (config_parse_value(p, s, len, &v, msg, sizeof(msg)) < 0) {
        config_value_free(&v);
        return util_seterr(err, errlen, "%s: %s", loc, msg);
    }
    switch (p->type) {
    case PARAM_STRING:
    case PARAM_SECRET: {
        char **f = field;
        free(*f);
        *f = v.str;
        v.str = NULL;
        break;
    }
    case PARAM_DURATION:
    case PARAM_INT:
        *(int64_t *)field = v.num;
        break;
    case PARAM_BOOL:
    case PARAM_LEVEL:
    case PARAM_ENUM:
        *(int *)field = v.flag;
        break;
    case PARAM_LIST:
    case PARAM_DOMAINS: {
        struct strlist *f = field, old = *f;
        *f = v.list;
        v.list = old;
        break;
    }
    case PARAM_NETWORKS: {
        struct cidr_list **f = field, *old = *f;
        *f = v.nets;
        v.nets = old;
        break;
    }
    }
    config_value_free(&v);
    free(cfg->values[idx]);
    cfg->values[idx] = xstrndup(s, len);
    return 0;
}

/* config_new - a config holding every default (never fails) */
struct config *config_new(void)
{
    struct config *cfg = xcalloc(1, sizeof(*cfg));
    char err[CONFIG_LOC_SIZE + CONFIG_MSG_SIZE];
    size_t i;

    cfg->values = xcalloc(config_nparams, sizeof(*cfg->values));
    cfg->explicit_set = xcalloc(config_nparams, sizeof(*cfg->explicit_set));
    for (i = 0; i < config_nparams; i++) {
        const char *def = config_params[i].defval;
        if (config_apply(cfg, i, def, strlen(def), "default", err, sizeof(err)) < 0)
            fatal("config: bad default for %s: %s", config_params[i].name, err);
    }
    return cfg;
}

/*
 * A setting being read from a file: its parameter, the line it started on and its value
 * so far, and whether one is open at all.
 */
struct config_pending {
    size_t idx;
    size_t line;
    char *value;
    size_t len, cap;
    int open;
};

/* config_pending_append - add a piece to the open setting, joined by one space */
static int config_pending_append(struct config_pending *pd, const char *s, size_t len)
{
    size_t need = pd->len + (pd->len > 0 && len > 0 ? 1 : 0) + len;

    if (need > CONFIG_MAX_VALUE)
        return -1;
    if (need + 1 > pd->cap) {
        pd->cap = need + 1 < 256 ? 256 : 2 * (need + 1);
        if (pd->cap > CONFIG_MAX_VALUE + 1)
            pd->cap = CONFIG_MAX_VALUE + 1;
        pd->value = xrealloc(pd->value, pd->cap);
    }
    if (pd->len > 0 && len > 0)
        pd->value[pd->len++] = ' ';
    memcpy(pd->value + pd->len, s, len);
    pd->len += len;
    pd->value[pd->len] = '\0';
    return 0;
}

/* config_pending_flush - apply the open setting, if any, to cfg */
static int config_pending_flush(struct config *cfg, struct config_pending *pd, const char *where,
                                char *err, size_t errlen)
{
    char loc[CONFIG_LOC_SIZE];

    if (!pd->open)
        return 0;
    pd->open = 0;
    snprintf(loc, sizeof(loc), "%s:%zu: %s", where, pd->line, config_params[pd->idx].name);
    if (config_apply(cfg, pd->idx, pd->value ? pd->value : "", pd->len, loc, err, errlen) < 0)
        return -1;
    cfg->explicit_set[pd->idx] = 1;
    return 0;
}

/* config_load_text - parse len bytes of config text; where names the source in errors */
int config_load_text(struct config *cfg, const char *where, const char *text, size_t len, char *err,
                     size_t errlen)
{
    struct config_pending pd = {0};
    char wh[CONFIG_WHERE_MAX + 1], q[CONFIG_QUOTE_SIZE];
    size_t pos = 0, lineno = 0;
    int rc = -1;

    util_printable(where, strlen(where), wh, sizeof(wh));
    if (len > CONFIG_MAX_FILE) {
        util_seterr(err, errlen, "%s: file larger than %d bytes", wh, CONFIG_MAX_FILE);
        goto out;
    }
    while (pos < len) {
        const char *line = text + pos, *nl = memchr(line, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - line) : len - pos;
        const char *s = line, *value;
        size_t slen = llen, nlen, vlen;
        ssize_t idx;

        pos += llen + (nl ? 1 : 0);
        lineno++;
        if (memchr(line, '\0', llen) != NULL) {
            util_seterr(err, errlen, "%s:%zu: NUL byte", wh, lineno);
            goto out;
        }
        config_trim(&s, &slen);
        if (slen == 0 || s[0] == '#')
            continue;
        if (config_is_blank((unsigned char)line[0])) {
            if (!pd.open) {
                util_seterr(err, errlen, "%s:%zu: continuation line with no setting before it", wh,
                            lineno);
                goto out;
            }
            if (config_pending_append(&pd, s, slen) < 0)
                goto too_long;
            continue;
        }
        if (config_pending_flush(cfg, &pd, wh, err, errlen) < 0)
            goto out;
        if (config_split(s, slen, &nlen, &value, &vlen) < 0) {
            util_seterr(err, errlen, "%s:%zu: expected 'name = value'", wh, lineno);
            goto out;
        }
        if ((idx = config_lookup(s, nlen)) < 0) {
            util_seterr(err, errlen, "%s:%zu: unknown setting '%s'", wh, lineno,
                        config_quote(s, nlen, q, sizeof(q)));
            goto out;
        }
        pd.open = 1;
        pd.idx = (size_t)idx;
        pd.line = lineno;
        pd.len = 0;
        if (config_pending_append(&pd, value, vlen) < 0)
            goto too_long;
    }
    if (config_pending_flush(cfg, &pd, wh, err, errlen) < 0)
        goto out;
    rc = 0;
    goto out;
too_long:
    util_seterr(err, errlen, "%s:%zu: %s: value longer than %d bytes", wh, pd.line,
                config_params[pd.idx].name, CONFIG_MAX_VALUE);
out:
    free(pd.value);
    return rc;
}

/* config_load_file - read path into cfg; missing_ok: a missing file leaves cfg as is */
int config_load_file(struct config *cfg, const char *path, int missing_ok, char *err, size_t errlen)
{
    char wh[CONFIG_WHERE_MAX + 1];
    char *buf = NULL;
    size_t len = 0;
    ssize_t n;
    int fd, rc = -1, saved;

    util_printable(path, strlen(path), wh, sizeof(wh));
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT && missing_ok)
            return 0;
        return util_seterr(err, errlen, "cannot read %s: %s", wh, strerror(errno));
    }
    buf = xmalloc(CONFIG_MAX_FILE + 1);
    for (;;) {
        n = read(fd, buf + len, CONFIG_MAX_FILE + 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            saved = errno;
            util_seterr(err, errlen, "cannot read %s: %s", wh, strerror(saved));
            goto out;
        }
        if (n == 0)
            break;
        len += (size_t)n;
        if (len > CONFIG_MAX_FILE) {
            util_seterr(err, errlen, "%s: file larger than %d bytes", wh, CONFIG_MAX_FILE);
            goto out;
        }
    }
    rc = config_load_text(cfg, path, buf, len, err, errlen);
out:
    close(fd);
    free(buf);
    return rc;
}

/* config_set - apply "name=value" from the command line (-o) */
int config_set(struct config *cfg, const char *assignment, char *err, size_t errlen)
{
    const char *s = assignment, *value;
    char loc[CONFIG_LOC_SIZE], q[CONFIG_QUOTE_SIZE];
    size_t len = strlen(assignment), nlen, vlen;
    ssize_t idx;

    config_trim(&s, &len);
    if (config_split(s, len, &nlen, &value, &vlen) < 0)
        return util_seterr(err, errlen, "-o: expected name=value");
    if ((idx = config_lookup(s, nlen)) < 0)
        return util_seterr(err, errlen, "-o: unknown setting '%s'",
                           config_quote(s, nlen, q, sizeof(q)));
    snprintf(loc, sizeof(loc), "-o %s", config_params[idx].name);
    if (vlen > CONFIG_MAX_VALUE)
        return util_seterr(err, errlen, "%s: value longer than %d bytes", loc, CONFIG_MAX_VALUE);
    if (config_apply(cfg, (size_t)idx, value, vlen, loc, err, errlen) < 0)
        return -1;
    cfg->explicit_set[idx] = 1;
    return 0;
}

/* config_build - defaults, then path (missing is fine unless explicit), then overrides */
struct config *config_build(const char *path, int explicit_path, const char *const *overrides,
                            size_t noverrides, char *err, size_t errlen)
{
    struct config *cfg = config_new();
    size_t i;

    if (path != NULL && config_load_file(cfg, path, !explicit_path, err, errlen) < 0)
        goto fail;
    for (i = 0; i < noverrides; i++)
        if (config_set(cfg, overrides[i], err, errlen) < 0)
            goto fail;
    return cfg;
fail:
    config_free(cfg);
    return NULL;
}

/* config_print - "name = value" for every parameter, or only those set explicitly */
void config_print(const struct config *cfg, FILE *fp, int only_explicit)
{
    size_t i;

    for (i = 0; i < config_nparams; i++)
        if (!only_explicit || cfg->explicit_set[i])
            fprintf(fp, "%s = %s\n", config_params[i].name,
                    config_params[i].type == PARAM_SECRET && cfg->values[i][0] != '\0'
                        ? "(hidden)"
                        : cfg->values[i]);
}

/* config_free - release cfg and everything it owns; NULL is allowed */
void config_free(struct config *cfg)
{
    size_t i;

    if (cfg == NULL)
        return;
    for (i = 0; i < config_nparams; i++) {
        const struct param *p = &config_params[i];
        void *field = (char *)cfg + p->offset;

        switch (p->type) {
        case PARAM_STRING:
        case PARAM_SECRET:
            free(*(char **)field);
            break;
        case PARAM_LIST:
        case PARAM_DOMAINS:
            config_strlist_free(field);
            break;
        case PARAM_NETWORKS:
            cidr_list_free(*(struct cidr_list **)field);
            break;
        case PARAM_DURATION:
        case PARAM_INT:
        case PARAM_BOOL:
        case PARAM_LEVEL:
        case PARAM_ENUM:
            break;
        }
        free(cfg->values[i]);
    }
    free(cfg->values);
    free(cfg->explicit_set);
    free(cfg);
}

/* config_text - the effective text of the setting name ("" if there is no such name) */
const char *config_text(const struct config *cfg, const char *name)
{
    ssize_t i = config_lookup(name, strlen(name));

    return i < 0 ? "" : cfg->values[i];
}

/* config_param - the table entry of the parameter called name, or NULL */
const struct param *config_param(const char *name)
{
    ssize_t i = config_lookup(name, strlen(name));

    return i < 0 ? NULL : &config_params[i];
}

/* config_restart_next - from *i on, a parameter that next changes and program applies
 * only at a restart; 1 with *i its index, 0 when there is none */
int config_restart_next(const struct config *cur, const struct config *next, unsigned program,
                        size_t *i)
{
    for (; *i < config_nparams; (*i)++)
        if ((config_params[*i].restart & program) != 0 &&
            strcmp(cur->values[*i], next->values[*i]) != 0)
            return 1;
    return 0;
}
