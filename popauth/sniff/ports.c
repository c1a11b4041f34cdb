/*
 * ports - sniff_ports parsed, and the capture filter text for it (see ports.h). The
 * filter is a libpcap expression; the tagged forms repeat the untagged one after
 * "vlan", which moves every later offset by one tag.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "popauth/sniff/packet.h"
#include "popauth/sniff/ports.h"
#include "shared/ascii.h"
#include "shared/util.h"

/* ports_entry - parse one "proto:port" entry; -1 if it is not one */
static int ports_entry(const char *s, enum pop3imap_proto *proto, uint16_t *port)
{
    const char *colon = strchr(s, ':'), *p;
    uint64_t n;

    if (colon == NULL)
        return -1;
    if (colon - s == 4 && strncasecmp(s, "pop3", 4) == 0)
        *proto = POP3IMAP_POP3;
    else if (colon - s == 4 && strncasecmp(s, "imap", 4) == 0)
        *proto = POP3IMAP_IMAP;
    else
        return -1;
    p = colon + 1;
    if (*p < '1' || *p > '9' || ascii_uint(p, strlen(p), 65535, &n) < 0)
        return -1;
    *port = (uint16_t)n;
    return 0;
}

/* ports_parse - the sniff_ports list into out; -1 and err naming the entry */
int ports_parse(const struct strlist *list, struct ports *out, char *err, size_t errlen)
{
    size_t i, j;

    memset(out, 0, sizeof(*out));
    if (list->count == 0)
        return util_seterr(err, errlen, "sniff_ports: no ports (want pop3:PORT and/or imap:PORT)");
    if (list->count > PORTS_MAX)
        return util_seterr(err, errlen, "sniff_ports: more than %d entries", PORTS_MAX);
    for (i = 0; i < list->count; i++) {
        enum pop3imap_proto proto;
        uint16_t port;
        char shown[80];

        util_printable(list->items[i], strlen(list->items[i]), shown, sizeof(shown));
        if (ports_entry(list->items[i], &proto, &port) < 0)
            return util_seterr(err, errlen,
                               "sniff_ports: bad entry '%s' (want pop3:PORT or imap:PORT, "
                               "PORT 1-65535)",
                               shown);
        for (j = 0; j < out->count; j++)
            if (out->port[j] == port)
                return util_seterr(err, errlen, "sniff_ports: port %u is listed twice ('%s')",
                                   (unsigned)port, shown);
        out->port[out->count] = port;
        out->proto[out->count] = proto;
        out->count++;
    }
    return 0;
}

/* ports_append - append formatted text to buf[*off], bounded by len; -1 if it does not fit */
static int ports_append(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int ports_append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (*off >= len)
        return -1;
    va_start(ap, fmt);
    n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= len - *off)
        return -1;
    *off += (size_t)n;
    return 0;
}

/* ports_filter_core - TCP on the ports, IPv4 fragments, IPv6 with extension headers */
static int ports_filter_core(const struct ports *ports, char *buf, size_t len, size_t *off)
{
    size_t i;

    for (i = 0; i < ports->count; i++)
        if (ports_append(buf, len, off, "%stcp port %u", i ? " or " : "",
                         (unsigned)ports->port[i]) < 0)
            return -1;
    /* fragments (MF set or an offset) and the IPv6 headers packet.c skips or counts:
     * hop-by-hop (0), routing (43), fragment (44), destination options (60) */
    return ports_append(buf, len, off,
                        " or (ip[6:2] & 0x3fff != 0) or (ip6 and (ip6[6] == 0 or ip6[6] == 43 or "
                        "ip6[6] == 44 or ip6[6] == 60))");
}

/* ports_filter - the capture filter expression for ports on link type dlt */
int ports_filter(const struct ports *ports, int dlt, char *buf, size_t len)
{
    size_t off = 0;

    if (len == 0)
        return -1;
    buf[0] = '\0';
    if (ports_filter_core(ports, buf, len, &off) < 0)
        return -1;
    if (dlt != PACKET_DLT_EN10MB)
        return 0;
    /* "vlan" moves every later offset by one tag, so the tagged forms come last */
    if (ports_append(buf, len, &off, " or (vlan and (") < 0 ||
        ports_filter_core(ports, buf, len, &off) < 0 ||
        ports_append(buf, len, &off, " or (vlan and (") < 0 ||
        ports_filter_core(ports, buf, len, &off) < 0 || ports_append(buf, len, &off, "))))") < 0)
        return -1;
    return 0;
}
