/*
 * listen - the daemons' listening sockets, one per policy_listen, proxy_listen or
 * metrics_listen entry:
 *
 *   inet:HOST:PORT      a numeric IPv4 address ("0.0.0.0" for all)
 *   inet:[V6]:PORT      a numeric IPv6 address ("[::]" for all; IPV6_V6ONLY is set)
 *   unix:PATH[:mode=0660][:owner=USER][:group=GROUP]
 *                       an absolute path; a stale socket file there is removed first
 *                       (anything else there is an error); mode, owner and group are
 *                       applied after bind, and the socket is created with umask 0177
 *                       so that it is never more open than asked in between
 *
 * listen_parse is the one parser of these entries; smtpgate also uses it for proxy_backend
 * (where options are refused). Sockets are non-blocking and close-on-exec. Opening happens at
 * start-up, before any privilege is dropped; errors go into (err, errlen) naming the parameter and
 * the entry.
 *
 * Socket activation: listen_inherit, called once before the first listen_open, takes the
 * sockets the service manager passed (sd_listen_fds: LISTEN_FDS, fd 3 on). From then on
 * listen_open uses an inherited socket for the entry whose address it is bound to (the
 * inet address and port, or the unix path) instead of opening one: nothing is bound,
 * chmod-ed or chown-ed, and listen_close leaves its file alone (the manager owns it).
 * Fail closed: after the last listen_open, listen_inherit_done refuses any inherited
 * socket that no entry took, so that a socket the config does not name is never served;
 * an entry that two inherited sockets match, or an inherited socket that is not a
 * listening stream socket, is an error too. While sockets were inherited, an existing
 * socket file at a unix entry's path is never removed (it may be the manager's socket
 * under another spelling of its path): that is an error. An inherited IPv6 socket keeps
 * the manager's IPV6_V6ONLY choice (systemd's BindIPv6Only=); an IPv4 client on a
 * dual-stack socket arrives as ::ffff:a.b.c.d, which the decision takes as a.b.c.d.
 */
#ifndef POPAUTH_LISTEN_H
#define POPAUTH_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LISTEN_BACKLOG     1024
#define LISTEN_NAME_MAX    160
#define LISTEN_INHERIT_MAX 16 /* sockets taken from the service manager */

struct listen_socket {
    int fd;                     /* -1 once closed */
    char name[LISTEN_NAME_MAX]; /* the entry, for logs */
    char path[108];             /* unix sockets: the file to remove at close; "" for inet */
    dev_t dev;                  /* unix sockets: the file we created */
    ino_t ino;
    int inherited; /* passed by the service manager (listen_inherit): not ours to remove */
};

/*
 * listen_parse - parse spec, an entry of the parameter param, into the socket address *ss
 * of *sslen bytes (inet: numeric hosts, no lookups; unix: the path); *opts is the
 * ":name=value..." part of a unix: entry, NULL if none. -1 and err, which names param and
 * spec, if it is bad. Nothing is opened.
 */
int listen_parse(const char *param, const char *spec, struct sockaddr_storage *ss, socklen_t *sslen,
                 const char **opts, char *err, size_t errlen);
/*
 * listen_open - parse spec, an entry of the parameter param ("policy_listen",
 * "proxy_listen"), and open its listening socket into *ls; -1 and err, which names param
 * and spec, if it is bad or cannot be opened
 */
int listen_open(const char *param, const char *spec, struct listen_socket *ls, char *err,
                size_t errlen);
/*
 * listen_check - check spec, an entry of param, as far as listen_open would without
 * opening anything: the entry parses, a unix: entry's options are valid (owner and group
 * exist), its directory exists and nothing but a socket is at its path. -1 and err, which
 * names param and spec, if not.
 */
int listen_check(const char *param, const char *spec, char *err, size_t errlen);
/* listen_close - close the socket and remove its file if it is still ours */
void listen_close(struct listen_socket *ls);
/*
 * listen_inherit - take the listening sockets the service manager passed (sd_listen_fds,
 * which also removes LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES from the environment) for
 * listen_open to use; their number (0 without socket activation), or -1 and err, which
 * names the fd and its address, if one is not a listening stream socket or there are
 * more than LISTEN_INHERIT_MAX. Start-up only, once.
 */
int listen_inherit(char *err, size_t errlen);
/*
 * listen_inherit_done - after the last listen_open: log which entries came from the
 * service manager; -1 and err, which names the fd and its address, if an inherited socket
 * was taken by no entry (the caller exits: never serve a socket the config does not name)
 */
int listen_inherit_done(char *err, size_t errlen);

#endif
