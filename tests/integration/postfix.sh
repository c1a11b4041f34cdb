#!/usr/bin/env bash
# popauth and smtpgate behind a real Postfix: Dovecot (POP3, IMAP) and Postfix run in a
# private network namespace, popauth follows Dovecot's log, smtpgate answers Postfix's
# check_policy_service on the server namespace's 127.0.0.1, and swaks speaks SMTP from a
# second namespace. The story is relay_scenario in netns.sh (shared with scripts/demo):
# relaying to u@far.test is refused (554) before a login, accepted (250) after a POP3
# login from that address and refused again once the grant expires; a third party is
# refused throughout; alice@local.test is accepted from everyone; the same over IPv6 with
# an IMAP login. Finally smtpgate and popauth exit 0 on SIGTERM.
# Needs root, postfix, swaks, dovecot-pop3d, dovecot-imapd, netcat-openbsd, iproute2, jq.
# Usage: postfix.sh BINDIR
set -u
bindir=${1:?usage: postfix.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

require_built "$bindir" popauth popauthctl smtpgate
require_packages postfix swaks libio-socket-inet6-perl dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq
require_commands jq swaks postfix

work=$(mktemp -d /tmp/pa-postfix.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

show_logs() { show_tails "$work/popauth.err" "$work/smtpgate.err" "$DOVECOT_LOG" "${POSTFIX_LOG:-}"; }

relay_note() { echo "# $1"; }
relay_report()
{
    status=0 out=$2 err=
    if [ "$1" = OK ]; then pass "$2"; else status=1 && fail "$2"; fi
}

if ! relay_world_start "$bindir" "$work" 8s; then
    show_logs
    die "could not start Dovecot, popauth, smtpgate and Postfix (see above)"
fi
pass "Dovecot, popauth, smtpgate and Postfix are running"

relay_scenario "$bindir"

# smtpgate and popauth stop cleanly on SIGTERM.
stop_expect0 smtpgate "$SMTPGATE_PID"
stop_expect0 popauth "$POPAUTH_PID"
postfix_stop
dovecot_stop

[ "$failed" -eq 0 ] || show_logs
finish
