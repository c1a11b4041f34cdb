/*
 * listen - parse policy_listen, proxy_listen and metrics_listen entries and open their
 * listening sockets, or take the ones the service manager passed (see listen.h). Every
 * error names the parameter the caller gave and the entry, or the inherited fd and its
 * address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "shared/ascii.h"
#include "shared/listen.h"
#include "shared/log.h"
#include "shared/util.h"

/* Options of a unix: entry. */
struct listen_unix_opts {
    mode_t mode;
    int has_mode;
    uid_t uid;
    gid_t gid;
    int has_owner, has_group;
};

/* A socket passed by the service manager, and the entry that took it. */
struct listen_inherited {
    int fd;
    struct sockaddr_storage ss; /* the address it is bound to */
    char addr[LISTEN_NAME_MAX]; /* that address as an entry would spell it, for messages */
    char param[32];             /* the parameter of the entry that took it; "" until then */
    char entry[LISTEN_NAME_MAX];
};

/* The sockets listen_inherit took (start-up state, read by listen_open). */
static struct listen_inherited listen_inherited_fds[LISTEN_INHERIT_MAX];
static size_t listen_ninherited;

/* listen_number - a decimal (base 10) or octal (base 8) number of at most 10 digits in
 * [0, max]; -1 if bad */
static long listen_number(const char *s, size_t len, unsigned base, long max)
{
    uint64_t v;

    if (len > 10 || ascii_uint_base(s, len, base, (uint64_t)max, &v) < 0)
        return -1;
    return (long)v;
}

/* listen_socket_new - a non-blocking, close-on-exec socket; -1 and err on failure */
static int listen_socket_new(int family, const char *param, const char *spec, char *err,
                             size_t errlen)
{
    int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    if (fd < 0)
        util_seterr(err, errlen, "%s %s: socket: %s", param, spec, strerror(errno));
    return fd;
}

/* listen_parse_inet - inet:HOST:PORT or inet:[V6]:PORT (rest is after "inet:") into *ss */
static int listen_parse_inet(const char *param, const char *spec, const char *rest,
                             struct sockaddr_storage *ss, socklen_t *sslen, char *err,
                             size_t errlen)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    const char *colon, *host = rest;
    char hostbuf[64];
    size_t hostlen;
    long port;
    int family;

    if (*rest == '[') {
        const char *close = strchr(rest, ']');
        if (close == NULL || close[1] != ':')
            return util_seterr(err, errlen, "%s %s: expected inet:[IPV6]:PORT", param, spec);
        host = rest + 1;
        hostlen = (size_t)(close - host);
        colon = close + 1;
        family = AF_INET6;
    } else {
        if ((colon = strrchr(rest, ':')) == NULL)
            return util_seterr(err, errlen, "%s %s: expected inet:HOST:PORT", param, spec);
        hostlen = (size_t)(colon - rest);
        family = AF_INET;
    }
    port = listen_number(colon + 1, strlen(colon + 1), 10, 65535);
    if (port <= 0)
        return util_seterr(err, errlen, "%s %s: bad port '%s'", param, spec, colon + 1);
    if (hostlen == 0 || hostlen >= sizeof(hostbuf))
        return util_seterr(err, errlen, "%s %s: bad host", param, spec);
    memcpy(hostbuf, host, hostlen);
    hostbuf[hostlen] = '\0';
    if (family == AF_INET) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)port);
        *sslen = sizeof(*sin);
        if (inet_pton(AF_INET, hostbuf, &sin->sin_addr) != 1)
            return util_seterr(err, errlen,
                               "%s %s: '%s' is not a numeric IPv4 address "
                               "(use inet:[V6]:PORT for IPv6)",
                               param, spec, hostbuf);
    } else {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof(*sin6);
        if (inet_pton(AF_INET6, hostbuf, &sin6->sin6_addr) != 1)
            return util_seterr(err, errlen, "%s %s: '%s' is not a numeric IPv6 address", param,
                               spec, hostbuf);
    }
    return 0;
}

/* listen_parse_unix - unix:PATH[:options] (rest is after "unix:") into *ss; *opts is the
 * ":options" part or NULL */
static int listen_parse_unix(const char *param, const char *spec, const char *rest,
                             struct sockaddr_storage *ss, socklen_t *sslen, const char **opts,
                             char *err, size_t errlen)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    const char *p = strchr(rest, ':');
    size_t pathlen = p ? (size_t)(p - rest) : strlen(rest);

    if (pathlen == 0 || rest[0] != '/')
        return util_seterr(err, errlen, "%s %s: the path must be absolute", param, spec);
    if (pathlen >= sizeof(sun->sun_path))
        return util_seterr(err, errlen, "%s %s: path too long", param, spec);
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, rest, pathlen);
    *sslen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + pathlen + 1);
    *opts = p;
    return 0;
}

/* listen_parse - parse spec, an entry of param, into a socket address; see listen.h */
int listen_parse(const char *param, const char *spec, struct sockaddr_storage *ss, socklen_t *sslen,
                 const char **opts, char *err, size_t errlen)
{
    memset(ss, 0, sizeof(*ss));
    *sslen = 0;
    *opts = NULL;
    if (strncmp(spec, "inet:", 5) == 0)
        return listen_parse_inet(param, spec, spec + 5, ss, sslen, err, errlen);
    if (strncmp(spec, "unix:", 5) == 0)
        return listen_parse_unix(param, spec, spec + 5, ss, sslen, opts, err, errlen);
    return util_seterr(err, errlen,
                       "%s: bad entry '%s' (inet:HOST:PORT, inet:[V6]:PORT or "
                       "unix:PATH[:mode=..][:owner=..][:group=..])",
                       param, spec);
}

/* listen_inet - open the inet socket address ss of spec */
static int listen_inet(const char *param, const char *spec, const struct sockaddr_storage *ss,
                       socklen_t sslen, struct listen_socket *ls, char *err, size_t errlen)
{
    int fd, one = 1, family = ss->ss_family;

    if ((fd = listen_socket_new(family, param, spec, err, errlen)) < 0)
        return -1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)ss, sslen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        util_seterr(err, errlen, "%s %s: %s", param, spec, strerror(errno));
        close(fd);
        return -1;
    }
    ls->fd = fd;
    return 0;
}

/* listen_unix_option - apply one ":name=value" option of a unix: entry to o */
static int listen_unix_option(const char *param, const char *spec, const char *opt, size_t len,
                              struct listen_unix_opts *o, char *err, size_t errlen)
{
    const char *eq = memchr(opt, '=', len);
    char value[64];
    size_t nlen, vlen;
    long n;

    if (eq == NULL)
        return util_seterr(err, errlen, "%s %s: option '%.*s' without '='", param, spec, (int)len,
                           opt);
    nlen = (size_t)(eq - opt);
    vlen = len - nlen - 1;
    if (vlen == 0 || vlen >= sizeof(value))
        return util_seterr(err, errlen, "%s %s: bad value in '%.*s'", param, spec, (int)len, opt);
    memcpy(value, eq + 1, vlen);
    value[vlen] = '\0';
    if (nlen == 4 && strncmp(opt, "mode", 4) == 0) {
        if ((n = listen_number(value, vlen, 8, 07777)) < 0)
            return util_seterr(err, errlen, "%s %s: bad mode '%s' (octal)", param, spec, value);
        o->mode = (mode_t)n;
        o->has_mode = 1;
    } else if (nlen == 5 && strncmp(opt, "owner", 5) == 0) {
        struct passwd *pw = getpwnam(value);
        if (pw != NULL)
            o->uid = pw->pw_uid;
        else if ((n = listen_number(value, vlen, 10, 0x7fffffffL)) >= 0)
            o->uid = (uid_t)n;
        else
            return util_seterr(err, errlen, "%s %s: unknown user '%s'", param, spec, value);
        o->has_owner = 1;
    } else if (nlen == 5 && strncmp(opt, "group", 5) == 0) {
        struct group *gr = getgrnam(value);
        if (gr != NULL)
            o->gid = gr->gr_gid;
        else if ((n = listen_number(value, vlen, 10, 0x7fffffffL)) >= 0)
            o->gid = (gid_t)n;
        else
            return util_seterr(err, errlen, "%s %s: unknown group '%s'", param, spec, value);
        o->has_group = 1;
    } else {
        return util_seterr(err, errlen, "%s %s: unknown option '%.*s' (mode, owner, group)", param,
                           spec, (int)nlen, opt);
    }
    return 0;
}

/* listen_unix_options - parse every ":name=value" option of p (NULL: none) into *o */
static int listen_unix_options(const char *param, const char *spec, const char *p,
                               struct listen_unix_opts *o, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    while (p != NULL) {
        const char *next = strchr(p + 1, ':');
        size_t len = next ? (size_t)(next - p - 1) : strlen(p + 1);
        if (listen_unix_option(param, spec, p + 1, len, o, err, errlen) < 0)
            return -1;
        p = next;
    }
    return 0;
}

/* listen_unix - open the unix socket address ss of spec, then apply its options p */
static int listen_unix(const char *param, const char *spec, struct sockaddr_storage *ss,
                       socklen_t sslen, const char *p, struct listen_socket *ls, char *err,
                       size_t errlen)
{
    struct listen_unix_opts o;
    struct sockaddr_un *sun = (struct sockaddr_un *)ss;
    size_t pathlen = strlen(sun->sun_path);
    struct stat sb;
    mode_t old;
    int fd, rc;

    if (pathlen >= sizeof(ls->path))
        return util_seterr(err, errlen, "%s %s: path too long", param, spec);
    if (listen_unix_options(param, spec, p, &o, err, errlen) < 0)
        return -1;
    if (lstat(sun->sun_path, &sb) == 0) {
        if (!S_ISSOCK(sb.st_mode))
            return util_seterr(err, errlen, "%s %s: %s exists and is not a socket", param, spec,
                               sun->sun_path);
        /* Under socket activation the file may be the service manager's socket, under a
         * path spelt differently: never remove it */
        if (listen_ninherited > 0)
            return util_seterr(err, errlen,
                               "%s %s: a socket exists at %s and the service manager passed "
                               "sockets: not removing it (is this the socket unit's "
                               "ListenStream= path, spelt the same?)",
                               param, spec, sun->sun_path);
        if (unlink(sun->sun_path) < 0)
            return util_seterr(err, errlen, "%s %s: removing the stale socket: %s", param, spec,
                               strerror(errno));
    }
    if ((fd = listen_socket_new(AF_UNIX, param, spec, err, errlen)) < 0)
        return -1;
    old = umask(0177);
    rc = bind(fd, (struct sockaddr *)sun, sslen);
    umask(old);
    if (rc < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
        util_seterr(err, errlen, "%s %s: %s", param, spec, strerror(errno));
        goto fail;
    }
    if (o.has_mode && chmod(sun->sun_path, o.mode) < 0) {
        util_seterr(err, errlen, "%s %s: chmod: %s", param, spec, strerror(errno));
        goto fail_unlink;
    }
    if ((o.has_owner || o.has_group) && chown(sun->sun_path, o.has_owner ? o.uid : (uid_t)-1,
                                              o.has_group ? o.gid : (gid_t)-1) < 0) {
        util_seterr(err, errlen, "%s %s: chown: %s", param, spec, strerror(errno));
        goto fail_unlink;
    }
    if (lstat(sun->sun_path, &sb) == 0) {
        ls->dev = sb.st_dev;
        ls->ino = sb.st_ino;
    }
    memcpy(ls->path, sun->sun_path, pathlen + 1);
    ls->fd = fd;
    return 0;
fail_unlink:
    unlink(sun->sun_path);
fail:
    close(fd);
    return -1;
}

/* listen_same_address - 1 if the parsed entry address a names the bound address b */
static int listen_same_address(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return 0;
    if (a->ss_family == AF_INET) {
        const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
        return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    if (a->ss_family == AF_INET6) {
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port == y->sin6_port &&
               memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
    }
    if (a->ss_family == AF_UNIX) {
        const struct sockaddr_un *x = (const void *)a, *y = (const void *)b;
        return x->sun_path[0] != '\0' &&
               strncmp(x->sun_path, y->sun_path, sizeof(x->sun_path)) == 0;
    }
    return 0;
}

/* listen_format_address - ss, of sslen bytes, as an entry would spell it, into buf */
static void listen_format_address(const struct sockaddr_storage *ss, socklen_t sslen, char *buf,
                                  size_t buflen)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *sin = (const void *)ss;
        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        snprintf(buf, buflen, "inet:%s:%u", host, (unsigned)ntohs(sin->sin_port));
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const void *)ss;
        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        snprintf(buf, buflen, "inet:[%s]:%u", host, (unsigned)ntohs(sin6->sin6_port));
    } else if (ss->ss_family == AF_UNIX) {
        const struct sockaddr_un *sun = (const void *)ss;
        if (sslen <= offsetof(struct sockaddr_un, sun_path))
            snprintf(buf, buflen, "unix: (unnamed)");
        else if (sun->sun_path[0] == '\0')
            snprintf(buf, buflen, "unix: (abstract)");
        else
            snprintf(buf, buflen, "unix:%.*s", (int)sizeof(sun->sun_path), sun->sun_path);
    } else {
        snprintf(buf, buflen, "address family %d", (int)ss->ss_family);
    }
}

/* listen_inherit - take the sockets the service manager passed; see listen.h */
int listen_inherit(char *err, size_t errlen)
{
    int n = sd_listen_fds(1), i;

    listen_ninherited = 0;
    if (n < 0)
        return util_seterr(err, errlen, "socket activation: %s", strerror(-n));
    if (n > LISTEN_INHERIT_MAX)
        return util_seterr(err, errlen, "socket activation: %d sockets passed, at most %d", n,
                           LISTEN_INHERIT_MAX);
    for (i = 0; i < n; i++) {
        struct listen_inherited *in = &listen_inherited_fds[i];
        socklen_t sslen = sizeof(in->ss);
        int rc;

        memset(in, 0, sizeof(*in));
        in->fd = SD_LISTEN_FDS_START + i;
        if (getsockname(in->fd, (struct sockaddr *)&in->ss, &sslen) < 0)
            return util_seterr(err, errlen, "socket activation: fd %d is not a socket: %s", in->fd,
                               strerror(errno));
        listen_format_address(&in->ss, sslen, in->addr, sizeof(in->addr));
        if ((rc = sd_is_socket(in->fd, AF_UNSPEC, SOCK_STREAM, 1)) <= 0)
            return util_seterr(err, errlen,
                               "socket activation: fd %d (%s) is not a listening stream socket%s%s",
                               in->fd, in->addr, rc < 0 ? ": " : "", rc < 0 ? strerror(-rc) : "");
        if (fcntl(in->fd, F_SETFL, fcntl(in->fd, F_GETFL) | O_NONBLOCK) < 0 ||
            fcntl(in->fd, F_SETFD, FD_CLOEXEC) < 0)
            return util_seterr(err, errlen, "socket activation: fd %d (%s): %s", in->fd, in->addr,
                               strerror(errno));
        listen_ninherited++;
    }
    return n;
}

/* listen_take_inherited - the inherited socket bound to ss, the address of spec, into
 * *ls: 1 if there is one, 0 if none, -1 and err if two are */
static int listen_take_inherited(const char *param, const char *spec,
                                 const struct sockaddr_storage *ss, struct listen_socket *ls,
                                 char *err, size_t errlen)
{
    struct listen_inherited *found = NULL;
    size_t i;

    for (i = 0; i < listen_ninherited; i++) {
        struct listen_inherited *in = &listen_inherited_fds[i];
        if (!listen_same_address(ss, &in->ss))
            continue;
        if (found != NULL)
            return util_seterr(err, errlen,
                               "%s %s: socket activation passed two sockets for it: fd %d and "
                               "fd %d (%s)",
                               param, spec, found->fd, in->fd, in->addr);
        if (in->param[0] != '\0')
            return util_seterr(err, errlen,
                               "%s %s: fd %d (%s) from socket activation is taken already by "
                               "%s %s",
                               param, spec, in->fd, in->addr, in->param, in->entry);
        found = in;
    }
    if (found == NULL)
        return 0;
    util_strlcpy(found->param, param, sizeof(found->param));
    util_strlcpy(found->entry, spec, sizeof(found->entry));
    ls->fd = found->fd;
    ls->inherited = 1;
    return 1;
}

/* listen_inherit_done - refuse inherited sockets no entry took; log those taken */
int listen_inherit_done(char *err, size_t errlen)
{
    size_t i;

    for (i = 0; i < listen_ninherited; i++) {
        const struct listen_inherited *in = &listen_inherited_fds[i];
        if (in->param[0] == '\0')
            return util_seterr(err, errlen,
                               "socket activation: fd %d (%s) is named by no policy_listen, "
                               "proxy_listen or metrics_listen entry: refusing to serve it",
                               in->fd, in->addr);
    }
    for (i = 0; i < listen_ninherited; i++) {
        const struct listen_inherited *in = &listen_inherited_fds[i];
        log_info("action=listen %s=%s fd=%d from=systemd", in->param, in->entry, in->fd);
    }
    return 0;
}

/* listen_open - parse spec, an entry of param, and open its listening socket into *ls, or
 * take the inherited socket bound to its address */
int listen_open(const char *param, const char *spec, struct listen_socket *ls, char *err,
                size_t errlen)
{
    struct listen_unix_opts o;
    struct sockaddr_storage ss;
    socklen_t sslen;
    const char *opts;
    int rc;

    memset(ls, 0, sizeof(*ls));
    ls->fd = -1;
    util_strlcpy(ls->name, spec, sizeof(ls->name));
    if (listen_parse(param, spec, &ss, &sslen, &opts, err, errlen) < 0)
        return -1;
    if (ss.ss_family == AF_UNIX && listen_unix_options(param, spec, opts, &o, err, errlen) < 0)
        return -1;
    if ((rc = listen_take_inherited(param, spec, &ss, ls, err, errlen)) != 0)
        return rc < 0 ? -1 : 0;
    if (ss.ss_family == AF_UNIX)
        return listen_unix(param, spec, &ss, sslen, opts, ls, err, errlen);
    return listen_inet(param, spec, &ss, sslen, ls, err, errlen);
}

/* listen_check - parse spec, an entry of param, as listen_open would, without opening */
int listen_check(const char *param, const char *spec, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    struct listen_unix_opts o;
    struct sockaddr_un *sun = (struct sockaddr_un *)&ss;
    socklen_t sslen;
    const char *opts, *slash;
    struct stat sb;
    char dir[sizeof(sun->sun_path)];

    if (listen_parse(param, spec, &ss, &sslen, &opts, err, errlen) < 0)
        return -1;
    if (ss.ss_family != AF_UNIX)
        return 0;
    if (listen_unix_options(param, spec, opts, &o, err, errlen) < 0)
        return -1;
    if (lstat(sun->sun_path, &sb) == 0 && !S_ISSOCK(sb.st_mode))
        return util_seterr(err, errlen, "%s %s: %s exists and is not a socket", param, spec,
                           sun->sun_path);
    slash = strrchr(sun->sun_path, '/'); /* the path is absolute */
    util_strlcpy(dir, sun->sun_path,
                 (size_t)(slash - sun->sun_path) + (slash == sun->sun_path) + 1);
    if (stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return util_seterr(err, errlen, "%s %s: no directory %s", param, spec, dir);
    return 0;
}

/* listen_close - close the socket and remove its file if it is still ours */
void listen_close(struct listen_socket *ls)
{
    struct stat sb;

    if (ls->fd >= 0)
        close(ls->fd);
    ls->fd = -1;
    if (ls->path[0] != '\0' && lstat(ls->path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
        sb.st_dev == ls->dev && sb.st_ino == ls->ino)
        unlink(ls->path);
    ls->path[0] = '\0';
}
