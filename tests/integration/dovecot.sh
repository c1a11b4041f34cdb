#!/usr/bin/env bash
# popauth against a real Dovecot: Dovecot runs in a private network namespace, clients log
# in over POP3 and IMAP from a second namespace, and popauth follows Dovecot's own log file.
# Checks: successful POP3 (IPv4) and IMAP (IPv6) logins are granted with user and source
# "dovecot"; a failed login grants nothing; user names that try to forge a rip= field never
# grant the forged address; popauth exits 0 on SIGTERM.
# Needs root, dovecot-pop3d, dovecot-imapd, netcat-openbsd, iproute2, jq.
# Usage: dovecot.sh BINDIR
set -u
bindir=${1:?usage: dovecot.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "0 passed, 1 failed"; exit 1; }

require_built "$bindir" popauth popauthctl
require_packages dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq
require_commands jq

work=$(mktemp -d /tmp/pa-dovecot.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

# User names that put a rip= into Dovecot's log line (accepted because the test config
# sets auth_username_chars empty; Dovecot lowercases names, so they are lowercase).
xrip_user='xrip=6.6.6.6'
forged_user='a>, method=plain, rip=6.6.6.6, lip=1.1.1.1, mpid=1, x=<'
dovecot_add_user "$xrip_user" secret
dovecot_add_user "$forged_user" secret
dovecot_start "$work" "$NETNS_SERVER_ADDR" "$NETNS_SERVER_ADDR6" || die "Dovecot did not start"
pass "Dovecot listens on $NETNS_SERVER_ADDR and $NETNS_SERVER_ADDR6 (ports 110, 143)"

# A fourth client address for the xrip= login, so each forged login has its own source.
xrip_addr=$NETNS_NET.52
netns_add_addr "$NETNS_CLIENT" "$xrip_addr/24" || die "could not add $xrip_addr"

db=$work/auth.db
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }

show_logs()
{
    echo "  --- popauth stderr:"
    tail -n 20 "$work/popauth.err" | sed 's/^/  /'
    echo "  --- dovecot log:"
    tail -n 20 "$DOVECOT_LOG" | sed 's/^/  /'
}

# Runs a login function; records the server's replies as "stdout" for lib.sh's report.
login()
{
    "$@"
    status=$? out=$CLIENT_REPLY err=
}

# Polls `show ADDR` for up to 5 s until it exits 0; leaves the last show --json in $out.
wait_grant()
{
    local i
    for ((i = 0; i < 50; i++)); do
        ctl show "$1" >/dev/null 2>&1 && break
        kill -0 "$popauth_pid" 2>/dev/null || break
        sleep 0.1
    done
    run ctl show "$1" --json
}

"$bindir/popauth" -c /dev/null -o "database=$db" -o "log_sources=file:$DOVECOT_LOG" \
    -o grant_lifetime=10m >"$work/popauth.out" 2>"$work/popauth.err" &
popauth_pid=$!
netns_track_pid "$popauth_pid"

# Ready once it has Dovecot's log open (bounded).
ready=0
for ((i = 0; i < 50; i++)); do
    kill -0 "$popauth_pid" 2>/dev/null || break
    for fd in /proc/"$popauth_pid"/fd/*; do
        [ "$(readlink "$fd" 2>/dev/null)" = "$DOVECOT_LOG" ] && ready=1
    done
    [ "$ready" -eq 1 ] && break
    sleep 0.1
done
if [ "$ready" -ne 1 ]; then
    show_logs
    die "popauth did not open $DOVECOT_LOG within 5 s (alive: $(kill -0 "$popauth_pid" 2>/dev/null && echo yes || echo no))"
fi
pass "popauth follows $DOVECOT_LOG"
sleep 0.3

# 1. POP3 login by alice from the client's IPv4 address.
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login by alice from $NETNS_CLIENT_ADDR"
wait_grant "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login from $NETNS_CLIENT_ADDR is granted"
expect_json ".address == \"$NETNS_CLIENT_ADDR\" and .user == \"alice\" and .source == \"dovecot\"" \
    "grant for $NETNS_CLIENT_ADDR names alice and source dovecot"

# 2. A failed POP3 login from the third party; wait until Dovecot has logged it.
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice wrong "$NETNS_THIRD_ADDR"
expect_status 1 "POP3 login with a wrong password from $NETNS_THIRD_ADDR is refused"
run dovecot_wait_log "auth failed.*rip=$NETNS_THIRD_ADDR,"
expect_status 0 "Dovecot logged the failed login from $NETNS_THIRD_ADDR"

# 3. Logins whose user names carry a rip= field (Dovecot accepts them: they are users).
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" "$xrip_user" secret "$xrip_addr"
expect_status 0 "POP3 login as '$xrip_user' from $xrip_addr"
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" "$forged_user" secret "$NETNS_THIRD_ADDR6"
expect_status 0 "IMAP login as '$forged_user' from $NETNS_THIRD_ADDR6"
run dovecot_wait_log "imap-login: .*Login: user=<a>, method=plain, rip=6\.6\.6\.6, .*rip=$NETNS_THIRD_ADDR6,"
expect_status 0 "Dovecot logged the forged-looking IMAP login line"

# 4. IMAP login by bob from the client's IPv6 address. It is logged after everything above,
# so once it is granted popauth has read all the earlier lines too.
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" bob secret "$NETNS_CLIENT_ADDR6"
expect_status 0 "IMAP login by bob from $NETNS_CLIENT_ADDR6"
wait_grant "$NETNS_CLIENT_ADDR6"
expect_status 0 "IMAP login from $NETNS_CLIENT_ADDR6 is granted"
expect_json ".address == \"$NETNS_CLIENT_ADDR6\" and .user == \"bob\" and .source == \"dovecot\"" \
    "grant for $NETNS_CLIENT_ADDR6 names bob and source dovecot"

run ctl show "$NETNS_THIRD_ADDR"
expect_status 1 "failed login from $NETNS_THIRD_ADDR grants nothing"
for a in 6.6.6.6 1.1.1.1; do
    run ctl show "$a"
    expect_status 1 "address $a forged through a user name is not granted"
done

# The forged names' real sources may be granted (to exactly that user) or rejected as
# ambiguous; either is acceptable, a grant to anyone else is not.
for pair in "$xrip_addr|$xrip_user" "$NETNS_THIRD_ADDR6|$forged_user"; do
    a=${pair%%|*} u=${pair#*|}
    run ctl show "$a" --json
    if [ "$status" -eq 0 ]; then
        expect_json ".user == $(jq -n --arg u "$u" '$u')" "$a is granted to its real user '$u'"
        echo "# note: login as '$u' from $a was granted"
    else
        expect_status 1 "$a is not granted (login line rejected as ambiguous)"
        echo "# note: login as '$u' from $a was rejected as ambiguous"
    fi
done

run ctl list --json
expect_json "(map(.address) - [\"$NETNS_CLIENT_ADDR\", \"$NETNS_CLIENT_ADDR6\", \"$xrip_addr\", \"$NETNS_THIRD_ADDR6\"]) == []" \
    "no grant for any address but the real login sources"

# 5. SIGTERM: popauth commits and exits 0 (bounded wait; cleanup KILLs it otherwise).
if [ "$(ps -o ppid= -p "$popauth_pid" 2>/dev/null | tr -d ' ')" != "$$" ]; then
    wait "$popauth_pid"
    status=$? out=$(cat "$work/popauth.out") err=$(cat "$work/popauth.err")
    fail "popauth exited before SIGTERM"
    show_logs
    finish
    exit
fi
kill -TERM "$popauth_pid"
for ((i = 0; i < 50; i++)); do
    [ "$(ps -o stat= -p "$popauth_pid" 2>/dev/null | cut -c1)" = Z ] && break
    kill -0 "$popauth_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$popauth_pid" 2>/dev/null && [ "$(ps -o stat= -p "$popauth_pid" | cut -c1)" != Z ]; then
    status=999 out=$(cat "$work/popauth.out") err=$(cat "$work/popauth.err")
    fail "popauth still runs 5 s after SIGTERM"
else
    wait "$popauth_pid"
    status=$? out=$(cat "$work/popauth.out") err=$(cat "$work/popauth.err")
    expect_status 0 "popauth exits 0 on SIGTERM"
fi

[ "$failed" -eq 0 ] || show_logs
finish
