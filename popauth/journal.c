/*
 * journal - the systemd journal as a log source (see journal.h for what is trusted).
 *
 * The journal is opened when the source is created (so that a missing journal_directory
 * is a start-up error), with one match, FIELD=VALUE. Reading starts after the saved
 * cursor; without one, at the head (the ingest core drops logins older than
 * grant_lifetime); with one the journal no longer knows (vacuumed, or another machine's
 * journal), at the tail, with a warning: new entries only, never a replay.
 *
 * In daemon mode an ev_io watches sd_journal_get_fd; each wake-up reads at most
 * JOURNAL_BATCH entries and, if more are waiting, lets an ev_idle continue on the next
 * loop iteration, so that the ingest core flushes between batches and a large backlog
 * never stalls the loop. drain (--once, shutdown) reads everything there is.
 *
 * sd_journal_get_data returns pointers into the journal's memory maps that the next call
 * may invalidate, so MESSAGE and SYSLOG_IDENTIFIER are copied into fixed buffers in the
 * source; reading an entry allocates only the cursor string. An entry without MESSAGE,
 * with a MESSAGE longer than LOGLINE_MAX, or with a NUL, CR or LF inside it (a file
 * source could never deliver such a line) is counted as an error and skipped.
 */
#include <errno.h>
#include <ev.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <systemd/sd-journal.h>

#include "popauth/journal.h"
#include "popauth/logline.h"
#include "shared/ascii.h"
#include "shared/log.h"
#include "shared/util.h"

#define JOURNAL_BATCH   1000 /* entries read per loop iteration in daemon mode */
#define JOURNAL_TAG_MAX 256  /* bytes of SYSLOG_IDENTIFIER, NUL included */

struct journal_source {
    struct source src; /* first: the ingest core sees a struct source */
    sd_journal *j;
    struct ev_loop *loop;
    ev_io io;          /* sd_journal_get_fd */
    ev_idle more;      /* a batch left entries unread */
    int positioned;    /* the saved cursor has been applied */
    int cursor_warned; /* a cursor too long to save was logged */
    char tag[JOURNAL_TAG_MAX];
    char msg[LOGLINE_MAX + 1];
};

/* A field journald sets itself from the sending process, and what a local user can still
 * do with it (NULL: nothing; the others are allowed, with a warning at start-up). */
struct journal_field_rule {
    const char *name;
    const char *weakness;
};

static const struct journal_field_rule journal_trusted[] = {
    {"_SYSTEMD_UNIT", NULL},
    {"_COMM", "it is the process name, and any local user can run a program of that name"},
    {"_EXE", NULL},
    {"_UID", NULL},
    {"_GID", NULL},
    {"_PID", "process ids are reused when the server restarts"},
    {"_SYSTEMD_SLICE", NULL},
    {"_TRANSPORT", "every local user's logger(1) messages come by the same transport"},
};

/* journal_rule - the rule for the field of spec (FIELD=...), or NULL if it is untrusted */
static const struct journal_field_rule *journal_rule(const char *spec, size_t flen)
{
    size_t i;

    for (i = 0; i < UTIL_ARRAY_LEN(journal_trusted); i++)
        if (strlen(journal_trusted[i].name) == flen &&
            memcmp(journal_trusted[i].name, spec, flen) == 0)
            return &journal_trusted[i];
    return NULL;
}

/* journal_spec_check - 0 if spec is FIELD=VALUE with a trusted FIELD; -1 and err if not */
int journal_spec_check(const char *spec, char *err, size_t errlen)
{
    const struct journal_field_rule *rule;
    const char *eq = strchr(spec, '=');
    char show[JOURNAL_SPEC_MAX + 1];
    int numeric = 0;

    util_printable(spec, strlen(spec), show, sizeof(show));
    if (strlen(spec) > JOURNAL_SPEC_MAX)
        return util_seterr(err, errlen, "journal:%s...: longer than %d bytes", show,
                           JOURNAL_SPEC_MAX);
    if (eq == NULL || eq == spec || eq[1] == '\0')
        return util_seterr(err, errlen,
                           "journal:%s: want journal:FIELD=VALUE, e.g. "
                           "journal:_SYSTEMD_UNIT=dovecot.service",
                           show);
    rule = journal_rule(spec, (size_t)(eq - spec));
    if (rule == NULL)
        return util_seterr(err, errlen,
                           "journal:%s: %.*s is not a trusted field: any local user can write "
                           "journal entries with any value in it (logger -t sets "
                           "SYSLOG_IDENTIFIER); use one that journald sets itself, best "
                           "_SYSTEMD_UNIT (also _EXE, _UID, _GID, _SYSTEMD_SLICE, _COMM, _PID, "
                           "_TRANSPORT)",
                           show, (int)(eq - spec), show);
    numeric = strcmp(rule->name, "_UID") == 0 || strcmp(rule->name, "_GID") == 0 ||
              strcmp(rule->name, "_PID") == 0;
    for (eq++; *eq != '\0'; eq++) {
        unsigned char c = (unsigned char)*eq;
        if (c <= 0x20 || c == 0x7f || (numeric && !ascii_is_digit(c)))
            return util_seterr(err, errlen, "journal:%s: bad value for %s", show, rule->name);
    }
    return 0;
}

/* journal_save_cursor - make the current entry the source's position */
static void journal_save_cursor(struct journal_source *js)
{
    char *cursor = NULL;

    if (sd_journal_get_cursor(js->j, &cursor) < 0 || cursor == NULL)
        return;
    if (strlen(cursor) < sizeof(js->src.position.cursor)) {
        memcpy(js->src.position.cursor, cursor, strlen(cursor) + 1);
        js->src.position_dirty = 1;
    } else if (!js->cursor_warned) {
        js->cursor_warned = 1;
        log_warnx("source=%s event=cursor-too-long length=%zu", js->src.name, strlen(cursor));
    }
    free(cursor);
}

/* journal_seek - apply the saved cursor (or start at the head) before the first read */
static void journal_seek(struct journal_source *js)
{
    const char *cursor = js->src.position.cursor;
    int r;

    js->positioned = 1;
    if (cursor[0] == '\0') {
        sd_journal_seek_head(js->j);
        return;
    }
    r = sd_journal_seek_cursor(js->j, cursor);
    if (r >= 0 && sd_journal_next(js->j) > 0 && sd_journal_test_cursor(js->j, cursor) > 0)
        return; /* on the last entry handed over: the next read returns the one after */
    log_warnx("source=%s event=cursor-lost action=seek-tail reason=\"%s\"", js->src.name,
              r < 0 ? strerror(-r) : "entry no longer in the journal");
    /* Save the new place at once, so that a run that reads nothing does not lose the
     * entries that arrive before the next one; an empty journal restarts at the head. */
    sd_journal_seek_tail(js->j);
    if (sd_journal_previous(js->j) > 0) {
        journal_save_cursor(js);
    } else {
        js->src.position.cursor[0] = '\0';
        js->src.position_dirty = 1;
    }
}

/* journal_field - copy the value of field into buf (trailing newlines dropped); its length,
 * -1 if absent, -2 if too long, -3 if it holds a NUL, CR or LF */
static ssize_t journal_field(sd_journal *j, const char *field, char *buf, size_t bufsize)
{
    size_t flen = strlen(field), len, i;
    const void *data;
    const char *v;
    int r;

    r = sd_journal_get_data(j, field, &data, &len);
    if (r < 0 || len <= flen || ((const char *)data)[flen] != '=')
        return -1;
    v = (const char *)data + flen + 1;
    len -= flen + 1;
    if (len > bufsize) /* maybe cut at the data threshold */
        return -2;
    while (len > 0 && v[len - 1] == '\n') /* syslog(3) callers often end with one */
        len--;
    if (len >= bufsize)
        return -2;
    for (i = 0; i < len; i++)
        if (v[i] == '\0' || v[i] == '\n' || v[i] == '\r')
            return -3;
    memcpy(buf, v, len);
    buf[len] = '\0';
    return (ssize_t)len;
}

/* journal_entry - hand the current entry, read at now, to the ingest core and move the
 * position */
static void journal_entry(struct journal_source *js, int64_t now)
{
    struct logline ll = {0};
    uint64_t usec = 0;
    ssize_t msglen, taglen;

    js->src.counters.lines++;
    journal_save_cursor(js); /* before ingest: a flush inside it must carry this cursor */
    msglen = journal_field(js->j, "MESSAGE", js->msg, sizeof(js->msg));
    taglen = journal_field(js->j, "SYSLOG_IDENTIFIER", js->tag, sizeof(js->tag));
    if (msglen < 0 || taglen < -1 || sd_journal_get_realtime_usec(js->j, &usec) < 0) {
        js->src.counters.errors++;
    } else {
        ll.time = (int64_t)(usec / 1000000);
        ll.tag = taglen > 0 ? js->tag : "";
        ll.taglen = taglen > 0 ? (size_t)taglen : 0;
        ll.msg = js->msg;
        ll.msglen = (size_t)msglen;
        ingest_logline(js->src.ingest, &js->src, &ll, js->msg, (size_t)msglen, now);
    }
}

/* journal_read - hand over at most max entries (0: all); 1 if more may be waiting, 0 if
 * not, -1 and err on a read error */
static int journal_read(struct journal_source *js, size_t max, char *err, size_t errlen)
{
    size_t n = 0;
    int r;

    if (!js->positioned)
        journal_seek(js);
    while (max == 0 || n < max) {
        if (ingest_full(js->src.ingest))
            return 0; /* the store is behind: read on after the next commit */
        r = sd_journal_next(js->j);
        if (r < 0)
            return util_seterr(err, errlen, "%s: cannot read the journal: %s", js->src.name,
                               strerror(-r));
        if (r == 0)
            return 0;
        journal_entry(js, (int64_t)time(NULL));
        n++;
    }
    return 1;
}

/* journal_batch - one batch in daemon mode; 1 if more may be waiting */
static int journal_batch(struct journal_source *js)
{
    char err[512];
    int r = journal_read(js, JOURNAL_BATCH, err, sizeof(err));

    if (r < 0)
        log_warnx("source=%s event=read-error reason=\"%s\"", js->src.name, err);
    return r > 0;
}

/* journal_more_cb - continue a batch that journal_io_cb left unfinished */
static void journal_more_cb(struct ev_loop *loop, ev_idle *w, int revents)
{
    struct journal_source *js =
        (struct journal_source *)((char *)w - offsetof(struct journal_source, more));

    (void)revents;
    if (!journal_batch(js))
        ev_idle_stop(loop, w);
}

/* journal_io_cb - the journal changed: let it process inotify events, then read */
static void journal_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    struct journal_source *js =
        (struct journal_source *)((char *)w - offsetof(struct journal_source, io));

    (void)revents;
    sd_journal_process(js->j);
    if (journal_batch(js))
        ev_idle_start(loop, &js->more);
}

/* journal_start - watch the journal; the backlog after the saved cursor is read in batches */
static int journal_start(struct source *src, struct ev_loop *loop, char *err, size_t errlen)
{
    struct journal_source *js = (struct journal_source *)src;
    int fd;

    js->loop = loop;
    if (loop == NULL)
        return 0;
    fd = sd_journal_get_fd(js->j);
    if (fd < 0)
        return util_seterr(err, errlen, "%s: cannot watch the journal: %s", src->name,
                           strerror(-fd));
    ev_io_init(&js->io, journal_io_cb, fd, EV_READ);
    ev_io_start(loop, &js->io);
    ev_idle_init(&js->more, journal_more_cb);
    ev_idle_start(loop, &js->more); /* the backlog, in batches */
    return 0;
}

/* journal_drain - read every entry there is now */
static int journal_drain(struct source *src, char *err, size_t errlen)
{
    struct journal_source *js = (struct journal_source *)src;

    sd_journal_process(js->j);
    return journal_read(js, 0, err, errlen) < 0 ? -1 : 0;
}

/* journal_stop - stop watching, close the journal and free the source */
static void journal_stop(struct source *src, struct ev_loop *loop)
{
    struct journal_source *js = (struct journal_source *)src;

    if (loop == NULL)
        loop = js->loop;
    if (loop != NULL && js->loop != NULL) {
        ev_io_stop(loop, &js->io);
        ev_idle_stop(loop, &js->more);
    }
    sd_journal_close(js->j);
    free(js);
}

static const struct source_ops journal_ops = {
    .start = journal_start,
    .drain = journal_drain,
    .stop = journal_stop,
};

/* journal_source_new - a source for spec (the text after "journal:"); NULL and err if bad */
struct source *journal_source_new(const char *spec, const struct config *cfg, struct ingest *ing,
                                  char *err, size_t errlen)
{
    const char *dir = cfg->journal_directory;
    const struct journal_field_rule *rule;
    struct journal_source *js;
    int r;

    if (journal_spec_check(spec, err, errlen) != 0)
        return NULL;
    rule = journal_rule(spec, (size_t)(strchr(spec, '=') - spec));
    if (rule->weakness != NULL)
        log_warnx("source=journal:%s event=weak-match reason=\"%s is not proof of the "
                  "server: %s; prefer _SYSTEMD_UNIT\"",
                  spec, rule->name, rule->weakness);
    js = xcalloc(1, sizeof(*js));
    snprintf(js->src.name, sizeof(js->src.name), "journal:%s", spec);
    js->src.ops = &journal_ops;
    js->src.ingest = ing;
    js->src.persistent = 1;
    if (dir != NULL && dir[0] != '\0')
        r = sd_journal_open_directory(&js->j, dir, 0);
    else
        r = sd_journal_open(&js->j, SD_JOURNAL_LOCAL_ONLY);
    if (r < 0) {
        util_seterr(err, errlen, "%s: cannot open the journal%s%s: %s", js->src.name,
                    dir != NULL && dir[0] != '\0' ? " in " : "", dir != NULL ? dir : "",
                    strerror(-r));
        free(js);
        return NULL;
    }
    /* A message longer than the threshold may come back cut at it: then it is too long. */
    sd_journal_set_data_threshold(js->j, strlen("MESSAGE=") + LOGLINE_MAX + 2);
    r = sd_journal_add_match(js->j, spec, 0);
    if (r < 0) {
        util_seterr(err, errlen, "%s: bad journal match: %s", js->src.name, strerror(-r));
        sd_journal_close(js->j);
        free(js);
        return NULL;
    }
    return &js->src;
}
