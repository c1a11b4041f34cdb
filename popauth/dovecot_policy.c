/*
 * dovecot_policy - the Dovecot auth-policy source (see dovecot_policy.h): libmicrohttpd
 * in its external-loop epoll mode, driven by an ev_io on its epoll descriptor and an
 * ev_timer for its connection timeouts, so that every request is handled on popauth's
 * loop thread and its login goes straight to the ingest core. The access handler reads
 * the body into a bounded buffer and answers from fixed texts; dovecot_report.c says
 * what the request means.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ev.h>
#include <microhttpd.h>

#include "popauth/dovecot_policy.h"
#include "popauth/dovecot_report.h"
#include "popauth/ingest.h"
#include "shared/listen.h"
#include "shared/log.h"
#include "shared/metrics.h"
#include "shared/util.h"

#if MHD_VERSION < 0x00097002
typedef int MHD_RESULT;
#else
typedef enum MHD_Result MHD_RESULT;
#endif

#define DOVECOT_POLICY_MEMORY  (8 * 1024) /* libmicrohttpd's memory per connection */
#define DOVECOT_POLICY_TYPE    "application/json"
#define DOVECOT_POLICY_TICK_MS 250 /* libmicrohttpd runs at least this often */

/* How a request ended, a label of the requests metric. */
enum dovecot_status {
    DOVECOT_OK,           /* 200 */
    DOVECOT_BAD_REQUEST,  /* 400 */
    DOVECOT_UNAUTHORIZED, /* 401 */
    DOVECOT_BAD_METHOD,   /* 405 */
    DOVECOT_TOO_LARGE,    /* 413 */
    DOVECOT_NSTATUS
};

static const char *const dovecot_status_names[DOVECOT_NSTATUS] = {
    "200", "400", "401", "405", "413",
};
static const char *const dovecot_command_names[] = {"other", "allow", "report"};

struct dovecot_policy {
    struct source src; /* first: the ingest core sees this */
    struct listen_socket ls;
    char secret[DOVECOT_REPORT_SECRET_MAX + 1]; /* "" on a unix socket without one */
    unsigned max_connections;
    struct MHD_Daemon *daemon;
    struct ev_loop *loop;
    ev_io io_w;       /* libmicrohttpd's epoll descriptor is readable */
    ev_timer timer_w; /* its next connection timeout */
    struct metric *requests[3][DOVECOT_NSTATUS];
    int64_t dropped_logged; /* when the last "store behind" warning was logged */
    int64_t refused_logged; /* when the last refusal was logged */
};

/* One request being read. */
struct dovecot_request {
    enum dovecot_command command;
    int64_t arrived;  /* unix time of its first byte's handling */
    int too_large;    /* the body went past DOVECOT_REPORT_BODY_MAX */
    size_t len, size; /* of body */
    char *body;
};

static const char dovecot_allow[] = "{\"status\":0,\"msg\":\"\"}";

/* dovecot_policy_needs_secret - 1 if every local user can reach the listener of spec:
 * an inet socket, or a unix: entry whose mode= lets others connect */
static int dovecot_policy_needs_secret(const char *spec)
{
    const char *mode = strstr(spec, ":mode=");

    if (strncmp(spec, "inet:", 5) == 0)
        return 1;
    return mode != NULL && (strtol(mode + 6, NULL, 8) & 02) != 0;
}

/* dovecot_policy_check_file - the problem of a secret in a configuration file that every
 * local user can read */
int dovecot_policy_check_file(const struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct stat st;

    if (cfg->dovecot_policy_secret[0] == '\0' || stat(path, &st) < 0 || !S_ISREG(st.st_mode) ||
        (st.st_mode & S_IROTH) == 0)
        return 0;
    return util_seterr(err, errlen,
                       "dovecot_policy_secret: %s is readable by every local user (mode %04o), "
                       "who could then grant any address: chmod o-r %s (e.g. 0640, group "
                       "popauth)",
                       path, (unsigned)(st.st_mode & 07777), path);
}

/* dovecot_policy_secret_problem - the problem of secret for the listener of spec; -1
 * and err if there is one */
static int dovecot_policy_secret_problem(const char *spec, const char *secret, char *err,
                                         size_t errlen)
{
    const char *why = dovecot_report_secret_check(secret);

    if (secret[0] == '\0' && dovecot_policy_needs_secret(spec))
        return util_seterr(err, errlen,
                           "dovecot_policy_secret: required with dovecot_policy_listen %s "
                           "(an inet socket, or a unix one every user may connect to): "
                           "whoever can POST there can grant any address",
                           spec);
    if (secret[0] != '\0' && why[0] != '\0')
        return util_seterr(err, errlen, "dovecot_policy_secret: %s", why);
    return 0;
}

/* dovecot_policy_check - the problems of the dovecot_policy_* settings */
int dovecot_policy_check(const struct config *cfg, char *err, size_t errlen)
{
    const char *spec = cfg->dovecot_policy_listen;

    if (spec[0] == '\0')
        return 0;
    if (listen_check("dovecot_policy_listen", spec, err, errlen) < 0)
        return -1;
    return dovecot_policy_secret_problem(spec, cfg->dovecot_policy_secret, err, errlen);
}

/* dovecot_policy_reply - queue an answer (text: a fixed text, or made of fixed texts),
 * counted */
static MHD_RESULT dovecot_policy_reply(struct dovecot_policy *dp, struct MHD_Connection *conn,
                                       enum dovecot_command command, enum dovecot_status status,
                                       const char *text)
{
    static const unsigned codes[DOVECOT_NSTATUS] = {200, 400, 401, 405, 413};
    struct MHD_Response *r;
    MHD_RESULT rc;

    metric_inc(dp->requests[command][status]);
    if (status == DOVECOT_UNAUTHORIZED)
        dp->src.counters.rejected++;
    else if (status != DOVECOT_OK)
        dp->src.counters.errors++;
    r = MHD_create_response_from_buffer(strlen(text), (void *)(uintptr_t)text,
                                        MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            status == DOVECOT_OK ? DOVECOT_POLICY_TYPE : "text/plain");
    if (status == DOVECOT_BAD_METHOD)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    rc = MHD_queue_response(conn, codes[status], r);
    MHD_destroy_response(r);
    return rc;
}

/* dovecot_policy_refuse - answer a request that is not taken, logged with why (a fixed
 * text) */
static MHD_RESULT dovecot_policy_refuse(struct dovecot_policy *dp, struct MHD_Connection *conn,
                                        enum dovecot_command command, enum dovecot_status status,
                                        const char *why)
{
    static const char *const texts[DOVECOT_NSTATUS] = {
        "", "bad request", "unauthorized: wrong or missing X-API-Key",
        "method not allowed: POST only", "request body too large"};
    int64_t now = (int64_t)time(NULL);
    char text[256];

    if (now != dp->refused_logged) /* at most one a second; the counters count them all */
        log_warnx("action=refuse source=%s status=%s command=%s reason=\"%s\"", dp->src.name,
                  dovecot_status_names[status], dovecot_command_names[command], why);
    dp->refused_logged = now;
    if (status == DOVECOT_BAD_REQUEST)
        snprintf(text, sizeof(text), "%s: %s\n", texts[status], why);
    else
        snprintf(text, sizeof(text), "%s\n", texts[status]);
    return dovecot_policy_reply(dp, conn, command, status, text);
}

/* dovecot_policy_grant - hand a successful report's login to the ingest core */
static void dovecot_policy_grant(struct dovecot_policy *dp, const struct dovecot_report *rep,
                                 int64_t arrived)
{
    struct login lg;
    char addr[ADDR_STRLEN];

    memset(&lg, 0, sizeof(lg));
    lg.client = rep->remote;
    memcpy(lg.user, rep->login, sizeof(lg.user));
    lg.time = arrived;
    lg.source = DOVECOT_POLICY_SOURCE;
    if (ingest_offer(dp->src.ingest, &dp->src, &lg, arrived) >= 0)
        return;
    dp->src.counters.errors++;
    if (arrived != dp->dropped_logged) /* at most once a second */
        log_error("action=grant status=dropped source=%s client=%s reason=\"the store is "
                  "behind or failing; the login is not granted\"",
                  dp->src.name, addr_format(&rep->remote, addr, sizeof(addr)));
    dp->dropped_logged = arrived;
}

/* dovecot_policy_finish - the whole body is there: answer the request */
static MHD_RESULT dovecot_policy_finish(struct dovecot_policy *dp, struct MHD_Connection *conn,
                                        struct dovecot_request *req)
{
    struct dovecot_report rep;
    enum dovecot_verdict v;
    const char *why;

    if (req->too_large)
        return dovecot_policy_refuse(dp, conn, req->command, DOVECOT_TOO_LARGE,
                                     "the body is too large");
    if (req->command == DOVECOT_COMMAND_ALLOW)
        return dovecot_policy_reply(dp, conn, req->command, DOVECOT_OK, dovecot_allow);
    dp->src.counters.lines++;
    v = dovecot_report_parse(req->body, req->len, &rep, &why);
    if (v == DOVECOT_REPORT_BAD)
        return dovecot_policy_refuse(dp, conn, req->command, DOVECOT_BAD_REQUEST, why);
    if (v == DOVECOT_REPORT_GRANT)
        dovecot_policy_grant(dp, &rep, req->arrived);
    return dovecot_policy_reply(dp, conn, req->command, DOVECOT_OK, dovecot_allow);
}

/* dovecot_policy_begin - the headers are there: check them; a request to read, or an
 * answer queued at once (NULL) */
static struct dovecot_request *dovecot_policy_begin(struct dovecot_policy *dp,
                                                    struct MHD_Connection *conn, const char *method,
                                                    MHD_RESULT *rc)
{
    enum dovecot_command command =
        dovecot_report_command(MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "command"));
    const char *clen =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, DOVECOT_REPORT_HEADER);
    struct dovecot_request *req;

    if (dp->secret[0] != '\0' && !dovecot_report_secret_ok(key, dp->secret))
        *rc = dovecot_policy_refuse(dp, conn, command, DOVECOT_UNAUTHORIZED,
                                    key == NULL ? "no X-API-Key header" : "wrong X-API-Key");
    else if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        *rc = dovecot_policy_refuse(dp, conn, command, DOVECOT_BAD_METHOD, "not a POST");
    else if (command == DOVECOT_COMMAND_BAD)
        *rc = dovecot_policy_refuse(dp, conn, command, DOVECOT_BAD_REQUEST,
                                    "the query has no command=allow or command=report");
    else if (clen != NULL && strtoull(clen, NULL, 10) > DOVECOT_REPORT_BODY_MAX)
        *rc = dovecot_policy_refuse(dp, conn, command, DOVECOT_TOO_LARGE,
                                    "Content-Length is too large");
    else {
        req = xcalloc(1, sizeof(*req));
        req->command = command;
        req->arrived = (int64_t)time(NULL);
        return req;
    }
    return NULL;
}

/* dovecot_policy_body - keep a piece of the body, up to DOVECOT_REPORT_BODY_MAX bytes */
static void dovecot_policy_body(struct dovecot_request *req, const char *data, size_t n)
{
    if (req->too_large || n > DOVECOT_REPORT_BODY_MAX - req->len) {
        req->too_large = 1;
        return;
    }
    if (req->len + n > req->size) {
        req->size = req->size == 0 ? 1024 : req->size;
        while (req->size < req->len + n)
            req->size *= 2;
        req->body = xrealloc(req->body, req->size);
    }
    memcpy(req->body + req->len, data, n);
    req->len += n;
}

/* dovecot_policy_answer - libmicrohttpd's access handler: called with the headers, with
 * each piece of the body, and once more at its end */
static MHD_RESULT dovecot_policy_answer(void *cls, struct MHD_Connection *conn, const char *url,
                                        const char *method, const char *version, const char *data,
                                        size_t *size, void **state)
{
    struct dovecot_policy *dp = cls;
    struct dovecot_request *req = *state;
    MHD_RESULT rc = MHD_YES;

    (void)url, (void)version;
    if (req == NULL) {
        if ((*state = dovecot_policy_begin(dp, conn, method, &rc)) == NULL)
            *state = dp; /* answered: the remaining calls only drain the body */
        return rc;
    }
    if (*state == (void *)dp) {
        *size = 0;
        return MHD_YES;
    }
    if (*size > 0) {
        dovecot_policy_body(req, data, *size);
        *size = 0;
        return MHD_YES;
    }
    return dovecot_policy_finish(dp, conn, req);
}

/* dovecot_policy_done - libmicrohttpd's completion callback: free the request */
static void dovecot_policy_done(void *cls, struct MHD_Connection *conn, void **state,
                                enum MHD_RequestTerminationCode code)
{
    struct dovecot_request *req = *state;

    (void)conn, (void)code;
    if (req != NULL && *state != cls) {
        free(req->body);
        free(req);
    }
    *state = NULL;
}

/* dovecot_policy_run - let libmicrohttpd work, then arm the timer for its next timeout */
static void dovecot_policy_run(struct dovecot_policy *dp)
{
    MHD_UNSIGNED_LONG_LONG ms;

    MHD_run(dp->daemon);
    ev_timer_stop(dp->loop, &dp->timer_w);
    /* Always again within DOVECOT_POLICY_TICK: at dovecot_policy_max_connections
     * libmicrohttpd stops watching the listening socket and watches it again only at
     * the start of a later MHD_run, which nothing else would call once the connections
     * are idle or gone. */
    if (MHD_get_timeout(dp->daemon, &ms) != MHD_YES || ms > DOVECOT_POLICY_TICK_MS)
        ms = DOVECOT_POLICY_TICK_MS;
    ev_timer_set(&dp->timer_w, (double)ms / 1000, 0);
    ev_timer_start(dp->loop, &dp->timer_w);
}

/* dovecot_policy_io_cb - the epoll descriptor is readable */
static void dovecot_policy_io_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop, (void)revents;
    dovecot_policy_run(w->data);
}

/* dovecot_policy_timer_cb - a connection timeout is due */
static void dovecot_policy_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop, (void)revents;
    dovecot_policy_run(w->data);
}

/* dovecot_policy_mhd_log - libmicrohttpd's own complaints, to popauth's log */
__attribute__((format(printf, 2, 0))) static void dovecot_policy_mhd_log(void *cls, const char *fmt,
                                                                         va_list ap)
{
    struct dovecot_policy *dp = cls;
    char text[512], clean[512];
    size_t n;

    vsnprintf(text, sizeof(text), fmt, ap);
    n = strcspn(text, "\n");
    for (size_t i = 0; i < n; i++) /* its text may quote the request's URL */
        if (text[i] == '"' || text[i] == '\\')
            text[i] = '\'';
    log_warnx("action=http source=%s reason=\"%s\"", dp->src.name,
              util_printable(text, n, clean, sizeof(clean)));
}

/* dovecot_policy_start - start libmicrohttpd on the socket and watch it from loop */
static int dovecot_policy_start(struct source *src, struct ev_loop *loop, char *err, size_t errlen)
{
    struct dovecot_policy *dp = (struct dovecot_policy *)src;
    const union MHD_DaemonInfo *info;

    /* libmicrohttpd closes the socket it is given when it stops: give it its own */
    int fd = fcntl(dp->ls.fd, F_DUPFD_CLOEXEC, 0);

    if (fd < 0)
        return util_seterr(err, errlen, "%s: dup of the socket of %s: %s", src->name, dp->ls.name,
                           strerror(errno));
    dp->daemon = MHD_start_daemon(
        MHD_USE_EPOLL, 0, NULL, NULL, dovecot_policy_answer, dp, MHD_OPTION_LISTEN_SOCKET,
        (MHD_socket)fd, MHD_OPTION_CONNECTION_LIMIT, dp->max_connections,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)DOVECOT_POLICY_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)DOVECOT_POLICY_IDLE, MHD_OPTION_NOTIFY_COMPLETED,
        dovecot_policy_done, dp, MHD_OPTION_EXTERNAL_LOGGER, dovecot_policy_mhd_log, dp,
        MHD_OPTION_END);
    if (dp->daemon == NULL) {
        close(fd);
        return util_seterr(err, errlen, "%s: cannot start the HTTP server on %s", src->name,
                           dp->ls.name);
    }
    info = MHD_get_daemon_info(dp->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (info == NULL)
        return util_seterr(err, errlen, "%s: the HTTP server has no epoll descriptor", src->name);
    dp->loop = loop;
    ev_io_init(&dp->io_w, dovecot_policy_io_cb, info->epoll_fd, EV_READ);
    ev_init(&dp->timer_w, dovecot_policy_timer_cb);
    dp->io_w.data = dp->timer_w.data = dp;
    ev_io_start(loop, &dp->io_w);
    log_info("action=listen source=%s listen=%s", src->name, dp->ls.name);
    return 0;
}

/* dovecot_policy_drain - nothing waits to be read: requests are answered as they come */
static int dovecot_policy_drain(struct source *src, char *err, size_t errlen)
{
    (void)src, (void)err, (void)errlen;
    return 0;
}

/* dovecot_policy_reload - SIGHUP: take the new secret (the socket changes at a restart) */
static int dovecot_policy_reload(struct source *src, const struct config *cfg, char *err,
                                 size_t errlen)
{
    struct dovecot_policy *dp = (struct dovecot_policy *)src;
    char why[512];

    /* the running socket's entry: a new dovecot_policy_listen waits for a restart */
    if (dovecot_policy_secret_problem(dp->ls.name, cfg->dovecot_policy_secret, why, sizeof(why)) <
        0)
        return util_seterr(err, errlen, "%s (keeping the running secret)", why);
    util_strlcpy(dp->secret, cfg->dovecot_policy_secret, sizeof(dp->secret));
    return 0;
}

/* dovecot_policy_stop - stop serving, close the socket and free the source */
static void dovecot_policy_stop(struct source *src, struct ev_loop *loop)
{
    struct dovecot_policy *dp = (struct dovecot_policy *)src;

    if (loop != NULL && dp->daemon != NULL) {
        ev_io_stop(loop, &dp->io_w);
        ev_timer_stop(loop, &dp->timer_w);
    }
    if (dp->daemon != NULL)
        MHD_stop_daemon(dp->daemon);
    listen_close(&dp->ls);
    explicit_bzero(dp->secret, sizeof(dp->secret));
    free(dp);
}

static const struct source_ops dovecot_policy_ops = {
    .start = dovecot_policy_start,
    .drain = dovecot_policy_drain,
    .reload = dovecot_policy_reload,
    .stop = dovecot_policy_stop,
};

/* dovecot_policy_new - the source, its socket open */
struct source *dovecot_policy_new(const struct config *cfg, char *err, size_t errlen)
{
    struct dovecot_policy *dp;
    size_t c, s;

    if (dovecot_policy_check(cfg, err, errlen) < 0)
        return NULL;
    dp = xcalloc(1, sizeof(*dp));
    dp->ls.fd = -1;
    util_strlcpy(dp->src.name, DOVECOT_POLICY_SOURCE, sizeof(dp->src.name));
    dp->src.ops = &dovecot_policy_ops;
    util_strlcpy(dp->secret, cfg->dovecot_policy_secret, sizeof(dp->secret));
    dp->max_connections = (unsigned)cfg->dovecot_policy_max_connections;
    for (c = 0; c < 3; c++)
        for (s = 0; s < DOVECOT_NSTATUS; s++)
            dp->requests[c][s] = metrics_counter(
                metrics_process(), "popauth_dovecot_policy_requests_total",
                "Requests of Dovecot's auth policy client, by command and HTTP status.", "command",
                dovecot_command_names[c], "status", dovecot_status_names[s], NULL);
    if (listen_open("dovecot_policy_listen", cfg->dovecot_policy_listen, &dp->ls, err, errlen) <
        0) {
        free(dp);
        return NULL;
    }
    return &dp->src;
}
