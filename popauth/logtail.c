/*
 * logtail - follows log files like tail -F, and reads standard input, handing complete
 * lines to the ingest core with the position just after each line.
 *
 * The read loop keeps a buffer whose first byte is at file offset `base`; complete lines
 * are handed over and dropped from the front, a partial line stays for the next read.
 * Rotation, truncation and a missing file are noticed by logtail_check, called from the
 * ev_stat watcher (inotify) and from a periodic timer.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>

#include "popauth/ingest.h"
#include "popauth/logtail.h"
#include "shared/log.h"
#include "shared/util.h"

struct logtail {
    struct source src; /* first: the ingest core sees only this */
    char *path;        /* NULL for stdin */
    int fd;            /* -1 while the file is missing */
    int64_t base;      /* file offset of buf[0] */
    size_t len;        /* bytes in buf */
    int skipping;      /* inside a line longer than the buffer */
    double recheck;    /* seconds between periodic checks */
    int64_t last_size; /* the open file's size at the last check */
    int rotating;      /* the path no longer names the open file */
    int64_t quiet_at;  /* read position of the old file when last seen growing */
    double quiet_since;
    struct ev_loop *loop;
    ev_stat stat_w;
    ev_timer timer_w;
    ev_io io_w;
    char buf[LOGTAIL_BUF];
};

/* logtail_head_hash - hex FNV-1a hash of a first line, into out[STORE_HEAD_MAX] */
static void logtail_head_hash(const char *line, size_t len, char *out)
{
    uint64_t h = 1469598103934665603ULL;
    size_t i;

    for (i = 0; i < len; i++)
        h = (h ^ (unsigned char)line[i]) * 1099511628211ULL;
    snprintf(out, STORE_HEAD_MAX, "%016llx", (unsigned long long)h);
}

/* logtail_head - the identity of a file: the hash of at most LOGLINE_MAX bytes of its
 * first line (the same prefix logtail_same_head reads back) */
static void logtail_head(const char *line, size_t n, char *out)
{
    logtail_head_hash(line, n < LOGLINE_MAX ? n : LOGLINE_MAX, out);
}

/* logtail_lines - hand complete lines over, while the ingest core takes them; keep the
 * rest (a partial line, or lines held back while the store is behind) for later */
static void logtail_lines(struct logtail *t)
{
    char *p = t->buf, *end = t->buf + t->len, *nl;
    int64_t now = (int64_t)time(NULL);

    if (t->base == 0 && t->src.persistent && t->src.position.head[0] == '\0' &&
        t->len >= LOGLINE_MAX) /* a first line too long to end in the buffer */
        logtail_head(t->buf, t->len, t->src.position.head);
    while (!ingest_full(t->src.ingest) && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        size_t n = (size_t)(nl - p);
        if (t->base == 0 && p == t->buf && t->src.persistent)
            logtail_head(p, n, t->src.position.head);
        t->src.position.offset = t->base + (nl + 1 - t->buf);
        t->src.position_dirty = 1;
        if (n > 0 && p[n - 1] == '\r')
            n--;
        if (t->skipping)
            t->skipping = 0; /* the end of an over-long line: dropped, counted */
        else
            ingest_line(t->src.ingest, &t->src, p, n, now);
        p = nl + 1;
    }
    t->base += p - t->buf;
    t->len = (size_t)(end - p);
    memmove(t->buf, p, t->len);
    if (t->len == sizeof(t->buf) && memchr(t->buf, '\n', t->len) == NULL) {
        /* no newline in a full buffer: an over-long line, dropped and counted */
        if (!t->skipping) {
            t->src.counters.lines++;
            t->src.counters.errors++;
        }
        t->skipping = 1;
        t->base += t->len;
        t->len = 0;
    }
}

/* logtail_read - read what is there now; 0 at end of data (or while the ingest core is
 * full), -1 on a read error */
static int logtail_read(struct logtail *t)
{
    ssize_t n;

    logtail_lines(t); /* lines held back by a full ingest core go first */
    while (t->fd >= 0 && !ingest_full(t->src.ingest) && t->len < sizeof(t->buf)) {
        n = read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        if (n < 0) {
            log_warn("source=%s action=read", t->src.name);
            return -1;
        }
        if (n == 0)
            return 0;
        t->len += (size_t)n;
        logtail_lines(t);
    }
    return 0;
}

/* logtail_reset - start over at offset 0 of the open file (new file, or truncated) */
static void logtail_reset(struct logtail *t, const struct stat *sb)
{
    t->base = 0;
    t->len = 0;
    t->skipping = 0;
    t->src.position.device = (int64_t)sb->st_dev;
    t->src.position.inode = (int64_t)sb->st_ino;
    t->src.position.offset = 0;
    t->src.position.head[0] = '\0';
    t->src.position_dirty = 1;
    t->last_size = 0;
}

/* logtail_open - open path for reading; -1 if it is not there (errno set) */
static int logtail_open(const char *path, struct stat *sb)
{
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

    if (fd < 0)
        return -1;
    if (fstat(fd, sb) < 0 || !S_ISREG(sb->st_mode)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    return fd;
}

/* logtail_same_head - 1 if the file's first line hashes to head (or head is unknown) */
static int logtail_same_head(int fd, const char *head)
{
    char line[LOGLINE_MAX], hash[STORE_HEAD_MAX];
    ssize_t n;
    char *nl;

    if (head[0] == '\0')
        return 1;
    n = pread(fd, line, sizeof(line), 0);
    if (n <= 0)
        return 0;
    nl = memchr(line, '\n', (size_t)n);
    if (nl == NULL && (size_t)n < sizeof(line))
        return 0; /* the first line is not complete: not the file we hashed */
    logtail_head(line, nl != NULL ? (size_t)(nl - line) : (size_t)n, hash);
    return strcmp(hash, head) == 0;
}

/* logtail_finish_rotated - read the rest of PATH.1 if it is the file we stopped in */
static void logtail_finish_rotated(struct logtail *t)
{
    char old[4096];
    struct stat sb;

    snprintf(old, sizeof(old), "%s.1", t->path);
    t->len = 0;
    t->fd = logtail_open(old, &sb);
    if (t->fd < 0)
        return;
    if ((int64_t)sb.st_dev == t->src.position.device &&
        (int64_t)sb.st_ino == t->src.position.inode && sb.st_size >= t->src.position.offset &&
        logtail_same_head(t->fd, t->src.position.head) &&
        lseek(t->fd, t->src.position.offset, SEEK_SET) >= 0) {
        log_info("source=%s action=resume file=%s offset=%lld reason=rotated", t->src.name, old,
                 (long long)t->src.position.offset);
        t->base = t->src.position.offset;
        logtail_read(t);
    }
    close(t->fd);
    t->fd = -1;
}

/* logtail_attach - open the file at path, resuming at the saved position if it is ours */
static void logtail_attach(struct logtail *t)
{
    const struct store_position *pos = &t->src.position;
    struct stat sb;

    t->fd = logtail_open(t->path, &sb);
    if (t->fd < 0) {
        if (errno != ENOENT)
            log_warn("source=%s action=open", t->src.name);
        else if (t->src.position_saved)
            logtail_finish_rotated(t); /* rotated, not yet recreated: finish the old file */
        return;
    }
    if (t->src.position_saved && (int64_t)sb.st_dev == pos->device &&
        (int64_t)sb.st_ino == pos->inode && sb.st_size >= pos->offset &&
        logtail_same_head(t->fd, pos->head) && lseek(t->fd, pos->offset, SEEK_SET) >= 0) {
        t->base = pos->offset;
        t->len = 0;
        t->last_size = (int64_t)sb.st_size;
        t->src.position_saved = 0;
        log_info("source=%s action=resume offset=%lld", t->src.name, (long long)pos->offset);
        return;
    }
    if (t->src.position_saved) {
        close(t->fd);
        logtail_finish_rotated(t);
        t->fd = logtail_open(t->path, &sb);
        if (t->fd < 0)
            return;
        log_info("source=%s action=start offset=0 reason=\"not the file of the saved position\"",
                 t->src.name);
    }
    t->src.position_saved = 0;
    logtail_reset(t, &sb);
}

/*
 * logtail_rotated - the path no longer names the open file (renamed, removed, replaced).
 * The writer may go on appending to the old file until it reopens its log, so the old
 * file is read until it has been quiet for one re-check interval and a new file exists;
 * only then does the source switch, reading the new file from its start.
 */
static void logtail_rotated(struct logtail *t, int path_exists)
{
    int64_t pos = t->base + (int64_t)t->len;
    double now = ev_now(t->loop);

    if (!t->rotating) {
        log_info("source=%s action=finish-old-file reason=%s", t->src.name,
                 path_exists ? "rotated" : "missing");
        t->rotating = 1;
        t->quiet_at = pos;
        t->quiet_since = now;
        return;
    }
    if (pos != t->quiet_at) {
        t->quiet_at = pos;
        t->quiet_since = now;
        return;
    }
    if (!path_exists || now - t->quiet_since < t->recheck)
        return;
    log_info("source=%s action=reopen", t->src.name);
    close(t->fd);
    t->fd = -1;
    t->rotating = 0;
    t->src.position_saved = 0;
    logtail_attach(t);
    logtail_read(t);
}

/* logtail_check - read new lines, and notice rotation, truncation or a missing file */
static void logtail_check(struct logtail *t)
{
    struct stat now, open_sb;
    int exists;

    if (t->fd < 0) {
        logtail_attach(t);
        if (t->fd >= 0)
            log_info("source=%s action=open", t->src.name);
        logtail_read(t);
        return;
    }
    if (fstat(t->fd, &open_sb) < 0)
        return;
    exists = stat(t->path, &now) == 0;
    if (exists && now.st_dev == open_sb.st_dev && now.st_ino == open_sb.st_ino) {
        t->rotating = 0;
        /* Truncated (copytruncate)? Checked before reading, so that a file that was
         * truncated and has grown again is not read from the middle of a line. */
        if (open_sb.st_size < t->base + (int64_t)t->len || open_sb.st_size < t->last_size ||
            !logtail_same_head(t->fd, t->src.position.head)) {
            log_warnx("source=%s action=restart offset=0 reason=truncated", t->src.name);
            t->src.counters.truncated++;
            lseek(t->fd, 0, SEEK_SET);
            logtail_reset(t, &open_sb);
        }
        t->last_size = (int64_t)open_sb.st_size;
        logtail_read(t);
        return;
    }
    logtail_read(t);
    logtail_rotated(t, exists);
}

/* logtail_stat_cb - the file changed (inotify) */
static void logtail_stat_cb(struct ev_loop *loop, ev_stat *w, int revents)
{
    (void)loop, (void)revents;
    logtail_check((struct logtail *)w->data);
}

/* logtail_timer_cb - the periodic re-check, for changes inotify did not report */
static void logtail_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    logtail_check((struct logtail *)w->data);
}

/* logtail_file_start - resume at the saved position and start watching */
static int logtail_file_start(struct source *src, struct ev_loop *loop, char *err, size_t errlen)
{
    struct logtail *t = (struct logtail *)src;

    (void)err, (void)errlen;
    t->loop = loop;
    logtail_attach(t);
    if (t->fd < 0)
        log_warnx("source=%s action=wait reason=\"file not there yet\"", src->name);
    logtail_read(t);
    ev_stat_init(&t->stat_w, logtail_stat_cb, t->path, t->recheck);
    t->stat_w.data = t;
    ev_stat_start(loop, &t->stat_w);
    ev_timer_init(&t->timer_w, logtail_timer_cb, t->recheck, t->recheck);
    t->timer_w.data = t;
    ev_timer_start(loop, &t->timer_w);
    return 0;
}

/* logtail_file_drain - read the file to its current end (popauth --once) */
static int logtail_file_drain(struct source *src, char *err, size_t errlen)
{
    struct logtail *t = (struct logtail *)src;

    if (t->loop != NULL) {
        logtail_check(t);
        return 0;
    }
    if (t->fd < 0) {
        logtail_attach(t);
        if (t->fd < 0)
            return util_seterr(err, errlen, "%s: cannot open the file", src->name);
    }
    return logtail_read(t) < 0 ? util_seterr(err, errlen, "%s: read error", src->name) : 0;
}

/* logtail_stop - stop watching and free the source */
static void logtail_stop(struct source *src, struct ev_loop *loop)
{
    struct logtail *t = (struct logtail *)src;

    if (loop != NULL && t->path != NULL) {
        ev_stat_stop(loop, &t->stat_w);
        ev_timer_stop(loop, &t->timer_w);
    }
    if (loop != NULL && t->path == NULL)
        ev_io_stop(loop, &t->io_w);
    if (t->fd >= 0 && t->path != NULL)
        close(t->fd);
    free(t->path);
    free(t);
}

static const struct source_ops logtail_file_ops = {
    .start = logtail_file_start,
    .drain = logtail_file_drain,
    .stop = logtail_stop,
};

/* logtail_file_new - a source following the file at path */
struct source *logtail_file_new(const char *path, const struct config *cfg)
{
    struct logtail *t = xcalloc(1, sizeof(*t));

    snprintf(t->src.name, sizeof(t->src.name), "file:%s", path);
    t->src.ops = &logtail_file_ops;
    t->src.persistent = 1;
    t->path = xstrdup(path);
    t->fd = -1;
    t->recheck = (double)cfg->log_recheck_interval;
    return &t->src;
}

/* logtail_stdin_read - read standard input; at its end the source is finished */
static void logtail_stdin_read(struct logtail *t)
{
    for (;;) {
        ssize_t n;

        logtail_lines(t);
        if (ingest_full(t->src.ingest) || t->len == sizeof(t->buf))
            return; /* the store is behind: read on after the next commit */
        n = read(t->fd, t->buf + t->len, sizeof(t->buf) - t->len);
        if (n > 0) {
            t->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n < 0)
            log_warn("source=stdin action=read");
        if (t->len > 0 && !t->skipping) /* a last line without a newline is still a line */
            ingest_line(t->src.ingest, &t->src, t->buf, t->len, (int64_t)time(NULL));
        t->len = 0;
        t->src.finished = 1;
        if (t->loop != NULL)
            ev_io_stop(t->loop, &t->io_w);
        return;
    }
}

/* logtail_stdin_cb - standard input is readable */
static void logtail_stdin_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    logtail_stdin_read((struct logtail *)w->data);
}

/* logtail_stdin_start - watch standard input */
static int logtail_stdin_start(struct source *src, struct ev_loop *loop, char *err, size_t errlen)
{
    struct logtail *t = (struct logtail *)src;
    int flags = fcntl(t->fd, F_GETFL);

    if (flags < 0 || fcntl(t->fd, F_SETFL, flags | O_NONBLOCK) < 0)
        return util_seterr(err, errlen, "stdin: %s", strerror(errno));
    t->loop = loop;
    ev_io_init(&t->io_w, logtail_stdin_cb, t->fd, EV_READ);
    t->io_w.data = t;
    ev_io_start(loop, &t->io_w);
    return 0;
}

/* logtail_stdin_drain - read standard input to its end (popauth --once) */
static int logtail_stdin_drain(struct source *src, char *err, size_t errlen)
{
    struct logtail *t = (struct logtail *)src;

    (void)err, (void)errlen;
    if (t->loop != NULL) { /* the daemon: stdin is non-blocking, take what is there */
        logtail_stdin_read(t);
        return 0;
    }
    while (!t->src.finished && !ingest_full(t->src.ingest))
        logtail_stdin_read(t);
    return 0;
}

static const struct source_ops logtail_stdin_ops = {
    .start = logtail_stdin_start,
    .drain = logtail_stdin_drain,
    .stop = logtail_stop,
};

/* logtail_stdin_new - a source reading lines from standard input */
struct source *logtail_stdin_new(void)
{
    struct logtail *t = xcalloc(1, sizeof(*t));

    util_strlcpy(t->src.name, "stdin", sizeof(t->src.name));
    t->src.ops = &logtail_stdin_ops;
    t->fd = STDIN_FILENO;
    return &t->src;
}
