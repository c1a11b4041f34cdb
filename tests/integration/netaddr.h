/*
 * netaddr - numeric host addresses for the test clients (smtp_client, policy_client,
 * tcp_insert): they connect only to addresses the test gave them, never to names.
 */
#ifndef POPAUTH_TEST_NETADDR_H
#define POPAUTH_TEST_NETADDR_H

#include <sys/socket.h>

/* netaddr_sockaddr - fill ss and *len from a numeric IPv4 or IPv6 host and a port; 0, or
 * -1 if host is not numeric */
int netaddr_sockaddr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len);

#endif
