#!/usr/bin/env bash
# The shipped Exim recipe with a real Exim: Debian's exim4-daemon-light (unpacked by
# scripts/install-deps) runs in the server namespace on a private configuration whose
# acl_check_rcpt includes scripts/mta/exim4.conf verbatim (.include), before Debian's
# "require message = relay not permitted". popauth and smtpgate run on
# scripts/popauth.conf.example copied verbatim with only the paths appended; popauth
# follows a real Dovecot's log; swaks speaks SMTP from the client namespace. Over IPv4
# and over IPv6:
#   - a stranger's mail to the local domain (Exim's local_domains) is accepted (250),
#     and smtpgate is not asked about it
#   - a stranger's relay attempt is refused (550, Exim's own relay check), smtpgate having
#     answered DUNNO
#   - a roaming user relays (250) after a real POP3 (IPv4) or IMAP (IPv6) login, and is
#     refused again once the grant has expired
#   - with the store unreadable (smtpgate answers DEFER_IF_REJECT) and with smtpgate
#     stopped, a relay attempt is deferred (451 4.3.0), and local mail is still accepted
#   - fail closed: with a stand-in policy server, only an exact "action=OK" and empty line
#     accepts (not without the empty line, twice, with text, in lower case, after a CR,
#     as REJECT or as no answer); DEFER_IF_PERMIT and a 4xx code defer, and so does a
#     smtpgate that hangs (SIGSTOP), after the fragment's 5 s
#   - POPAUTH_POLICY_SOCKET names another address: a unix socket, and inet:[::1]
# Exim's log must show each permit and defer of the fragment, and smtpgate's log each
# decision, so the test cannot pass without the fragment in place.
# Exim runs as root with -C (root keeps its privilege with any -C file, so it binds port
# 25); the user it switches to, Debian-exim, which the unpacked package does not create,
# is given to it in its own mount namespace by a private copy of /etc/passwd and
# /etc/group bound over the real ones.
# Needs root, the unpacked exim4-daemon-light and its libraries, swaks, dovecot-pop3d,
# dovecot-imapd, netcat-openbsd, iproute2, jq.
# Usage: exim.sh BINDIR
set -euo pipefail
bindir=${1:?usage: exim.sh BINDIR}
bindir=$(cd "$bindir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

# Where scripts/install-deps unpacks Debian's exim4-daemon-light.
exim_root=/var/lib/popauth-tests/exim4
exim_bin=$exim_root/usr/sbin/exim4

require_packages swaks libio-socket-inet6-perl dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq \
    libcrypt1 libdb5.3 libgnutls-dane0 libgnutls30 libidn12 libidn2-0 libnsl2
require_built "$bindir" popauth popauthctl smtpgate
require_commands jq swaks
[ -x "$exim_bin" ] || die "$exim_bin is missing (scripts/install-deps unpacks exim4-daemon-light there)"

fragment=$srcdir/scripts/mta/exim4.conf
example=$srcdir/scripts/popauth.conf.example
[ -f "$fragment" ] || die "$fragment is missing"
[ -f "$example" ] || die "$example is missing"

work=$(mktemp -d /tmp/pa-exim.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup

# From here on each check counts a failure and goes on (the helpers return a status that
# every call tests), so errexit is off: a failing check must not skip the cleanup or the
# checks after it.
set +e
netns_setup || die "could not set up the network namespaces"

srv=$NETNS_SERVER_ADDR srv6=$NETNS_SERVER_ADDR6
roam=$NETNS_CLIENT_ADDR roam6=$NETNS_CLIENT_ADDR6
stranger=$NETNS_THIRD_ADDR stranger6=$NETNS_THIRD_ADDR6
far=u@far.test
local=alice@local.test
db=$work/auth.db
conf=$work/popauth.conf
lifetime=8
EXIM_PID=
EXIM_DIR=$work/exim
EXIM_LOG=$EXIM_DIR/log/mainlog

show_logs() { show_tails "${POPAUTH_ERR:-}" "$work/smtpgate.err" "${DOVECOT_LOG:-}" "$EXIM_LOG" \
    "$EXIM_DIR/log/paniclog" "$EXIM_DIR/stderr"; }

# exim_said LABEL FROM TEXT: a line of Exim's main log after line FROM contains TEXT
exim_said()
{
    local label=$1 from=$2 text=$3 line
    line=$(tail -n +"$((from + 1))" "$EXIM_LOG" 2>/dev/null | grep -F -- "$text" | tail -n 1)
    if [ -n "$line" ]; then
        expect_prefix "$label: Exim's log" "$text" "$text${line#*"$text"}"
    else
        expect_prefix "$label: Exim's log" "$text" "no such line"
    fi
}

smtpgate_lines() { wc -l <"$SMTPGATE_ERR"; }
exim_lines() { if [ -f "$EXIM_LOG" ]; then wc -l <"$EXIM_LOG"; else echo 0; fi; }

# exim__ready: Exim listens on port 25 of both server addresses
exim__ready() { netns__all_listening "$NETNS_SERVER" "$srv:25" "[$srv6]:25"; }

# exim_start [LINE...]: write Exim's private configuration into EXIM_DIR, with each LINE
# added to its main section, and run the daemon in the foreground (-bdf) in the server
# namespace; waits until it listens on port 25 of both server addresses. Sets EXIM_PID
# and EXIM_VERSION
exim_start()
{
    local spool=$EXIM_DIR/spool logdir=$EXIM_DIR/log user=Debian-exim
    mkdir -p "$spool" "$logdir" || return 1
    # Debian-exim is compiled into the binary (EXIM_USER=ref:Debian-exim) and looked up
    # before the configuration is read. Where exim4-base never ran, the daemon gets it
    # from private copies of /etc/passwd and /etc/group, bound over the real ones in the
    # mount namespace of its own ip netns exec; it is nobody's uid and group by another
    # name.
    local uid gid
    uid=$(id -u nobody) gid=$(getent group nogroup | cut -d: -f3)
    cp /etc/passwd "$EXIM_DIR/passwd" && cp /etc/group "$EXIM_DIR/group" || return 1
    if ! getent passwd "$user" >/dev/null; then
        echo "$user:x:$uid:$gid:Exim (popauth test):/nonexistent:/usr/sbin/nologin" >>"$EXIM_DIR/passwd"
    else
        uid=$(id -u "$user")
    fi
    if ! getent group "$user" >/dev/null; then
        echo "$user:x:$gid:" >>"$EXIM_DIR/group"
    else
        gid=$(getent group "$user" | cut -d: -f3)
    fi
    chmod 644 "$EXIM_DIR/passwd" "$EXIM_DIR/group"
    # Exim reads an included file as its own user, who may not reach the source tree
    # (under /root, say): it includes a copy, checked to be the shipped file byte for byte.
    cp "$fragment" "$EXIM_DIR/popauth-rcpt.acl" && chmod 644 "$EXIM_DIR/popauth-rcpt.acl" &&
        cmp -s "$fragment" "$EXIM_DIR/popauth-rcpt.acl" || return 1
    chown "$uid:$gid" "$spool" "$logdir" || return 1
    # Called by root, Exim keeps root with any -C file (the spec's -C option); the file is
    # root's and writable by no one else all the same, as an installed one would be.
    cat >"$EXIM_DIR/exim.conf" <<EOF || return 1
# Private Exim for popauth's exim.sh test. Nothing is delivered: every message that got
# through would stay in the queue (queue_only), and no queue runner is started.
primary_hostname = mx.local.test
domainlist local_domains = local.test
domainlist relay_to_domains =
hostlist relay_from_hosts = 127.0.0.1 : ::::1
local_interfaces = <; $srv ; $srv6
spool_directory = $spool
log_file_path = $logdir/%slog
queue_only = true
tls_advertise_hosts =
host_lookup =
rfc1413_query_timeout = 0s
keep_environment =
acl_smtp_rcpt = acl_check_rcpt
$(printf '%s\n' "$@")

begin acl

# The order of Debian's acl_check_rcpt (conf.d/acl/30_exim4-config_check_rcpt), with the
# fragment where its header comment says: before the "relay not permitted" require.
acl_check_rcpt:
  accept
    hosts = :
  accept
    local_parts = postmaster
    domains = +local_domains : +relay_to_domains
  accept
    hosts = +relay_from_hosts
  accept
    authenticated = *

.include $EXIM_DIR/popauth-rcpt.acl

  require
    message = relay not permitted
    domains = +local_domains : +relay_to_domains
  accept
EOF
    chmod 644 "$EXIM_DIR/exim.conf"
    # shellcheck disable=SC2016 # expanded by the bash -c below, from its arguments
    local mount='mount --bind "$1" /etc/passwd && mount --bind "$2" /etc/group'
    local check
    # shellcheck disable=SC2016
    if ! check=$(ip netns exec "$NETNS_SERVER" bash -c "$mount"' && exec "$3" -C "$4" -bV' \
        exim-check "$EXIM_DIR/passwd" "$EXIM_DIR/group" "$exim_bin" "$EXIM_DIR/exim.conf" 2>&1); then
        netns__die "Exim rejects $EXIM_DIR/exim.conf: $(grep -v -e '^[A-Z][A-Za-z ]*:' \
            -e '^ ' -e '^Copyright' <<<"$check" | tail -n 5)"
        return 1
    fi
    EXIM_VERSION=$(sed -n '1s/^Exim version \([^ ]*\).*/\1/p' <<<"$check")
    # -oX 25 (the port): a daemon started so writes no pid file, and so at SIGTERM does not
    # re-exec the binary by its installed path (/usr/sbin/exim4, absent) to remove one.
    # shellcheck disable=SC2016
    netns_bg "$NETNS_SERVER" bash -c "$mount"' && exec "$3" -C "$4" -bdf -oX 25' exim-start \
        "$EXIM_DIR/passwd" "$EXIM_DIR/group" "$exim_bin" "$EXIM_DIR/exim.conf" \
        >"$EXIM_DIR/stderr" 2>&1
    EXIM_PID=$NETNS_LAST_PID
    netns__wait "$EXIM_PID" exim__ready && return 0
    {
        if kill -0 "$EXIM_PID" 2>/dev/null; then
            echo "exim.sh: Exim does not listen on $srv:25 and [$srv6]:25 after 10 s"
        else
            echo "exim.sh: Exim exited at start"
        fi
    } >&2
    return 1
}

# --- Dovecot, popauth and smtpgate on the shipped configuration, Exim --------------------
echo "# Dovecot (POP3, IMAP) on $srv and $srv6 in $NETNS_SERVER"
dovecot_start "$work" "$srv" "$srv6" || { show_logs; die "could not start Dovecot"; }
{
    cat "$example"
    printf '\n# Paths of this test (the only lines not shipped):\n'
    printf 'database = %s\n' "$db"
    printf 'log_sources = file:%s\n' "$DOVECOT_LOG"
} >"$conf"
run diff "$example" <(head -n "$(wc -l <"$example")" "$conf")
expect_status 0 "popauth.conf is scripts/popauth.conf.example verbatim, plus the paths"

# grant_lifetime is the one thing not from the file: a few seconds instead of 30m, so the
# expiry can be waited for.
echo "# popauth -c popauth.conf -o grant_lifetime=${lifetime}s, following $DOVECOT_LOG"
popauth_start_conf "$bindir" "$conf" "$db" "$DOVECOT_LOG" -o "grant_lifetime=${lifetime}s" ||
    { show_logs; die "could not start popauth"; }
# The example leaves policy_listen at its default, inet:127.0.0.1:10040: the address the
# fragment asks. smtpgate runs in the server namespace, beside Exim.
echo "# smtpgate -c popauth.conf in $NETNS_SERVER (policy_listen left at its default)"
smtpgate_start_conf "$bindir" "$conf" "$NETNS_SERVER" 10040 "$work/smtpgate.err" ||
    { show_logs; die "could not start smtpgate on the shipped configuration"; }
exim_start || { show_logs; die "could not start Exim"; }
echo "# Exim $EXIM_VERSION on $srv and $srv6 port 25: local_domains = local.test," \
    "acl_check_rcpt includes scripts/mta/exim4.conf"
pass "Dovecot, popauth, smtpgate and Exim are running"

# --- 1. Strangers: local mail accepted, relaying refused by Exim --------------------------
echo "# 1. Strangers ($stranger, $stranger6): local mail is accepted, relaying is not"
for pair in "$stranger $srv" "$stranger6 $srv6"; do
    read -r src server <<<"$pair"
    from=$(smtpgate_lines)
    swaks_expect "stranger $src" "$src" "$server" "$local" 250
    swaks_expect "stranger $src" "$src" "$server" postmaster@local.test 250
    smtpgate_said "stranger's local mail (Exim's own local_domains)" "$from" "$src" "$local" none
    swaks_expect "stranger $src" "$src" "$server" "$far" "550 relay not permitted"
    smtpgate_said "stranger's relay attempt (DUNNO)" "$from" "$src" "$far" reject
done
swaks_expect "roaming user $roam (before any login)" "$roam" "$srv" "$far" "550 relay not permitted"
swaks_expect "roaming user $roam6 (before any login)" "$roam6" "$srv6" "$far" "550 relay not permitted"

# --- 2. The roaming user logs in (POP3 over IPv4, IMAP over IPv6) and relays --------------
# wait_grant ADDR USER: popauth has granted ADDR to USER (10 s at most)
wait_grant()
{
    local json='' i
    for ((i = 0; i < 100; i++)); do
        json=$("$bindir/popauthctl" -c "$conf" show "$1" --json 2>/dev/null) && break
        json=
        sleep 0.1
    done
    expect_prefix "popauth's grant for $1" "$2" "$(jq -r '.user // empty' <<<"${json:-null}" 2>/dev/null)"
}
# login_expect pop3|imap USER SERVER SRC: a real login to Dovecot on SERVER from SRC
# (password "secret"); the server's answer must be +OK (POP3) or the tagged "a OK" (IMAP)
login_expect()
{
    local proto=$1 user=$2 server=$3 src=$4 want=+OK got
    [ "$proto" = imap ] && want="a OK"
    if ! "${proto}_login" "$NETNS_CLIENT" "$server" "$user" secret "$src"; then
        got=$(tr '\n' ' ' <<<"$CLIENT_REPLY")
    elif [ "$proto" = imap ]; then
        got=$(grep -m1 '^a ' <<<"$CLIENT_REPLY")
    else
        got=$(sed -n 3p <<<"$CLIENT_REPLY")
    fi
    expect_prefix "${proto^^} login by $user from $src" "$want" "$got"
}

echo "# 2. The roaming user logs in to Dovecot: POP3 (alice from $roam), IMAP (bob from $roam6)"
login_expect pop3 alice "$srv" "$roam"
wait_grant "$roam" alice
login_expect imap bob "$srv6" "$roam6"
wait_grant "$roam6" bob
from=$(smtpgate_lines) efrom=$(exim_lines)
swaks_expect "roaming user $roam (after POP3 login)" "$roam" "$srv" "$far" 250
smtpgate_said "roaming user's relay" "$from" "$roam" "$far" permit-grant
exim_said "roaming user's relay" "$efrom" "popauth: relay permitted by smtpgate: client=$roam recipient=$far"
swaks_expect "roaming user $roam6 (after IMAP login)" "$roam6" "$srv6" "$far" 250
smtpgate_said "roaming user's relay over IPv6" "$from" "$roam6" "$far" permit-grant
exim_said "roaming user's relay over IPv6" "$efrom" "popauth: relay permitted by smtpgate: client=$roam6 recipient=$far"
swaks_expect "stranger $stranger (meanwhile)" "$stranger" "$srv" "$far" "550 relay not permitted"
swaks_expect "stranger $stranger6 (meanwhile)" "$stranger6" "$srv6" "$far" "550 relay not permitted"

# --- 3. The grants expire ------------------------------------------------------------------
echo "# 3. The grants expire (grant_lifetime=${lifetime}s on popauth's command line)"
for a in "$roam" "$roam6"; do
    for ((i = 0; i < (lifetime + 15) * 10; i++)); do
        "$bindir/popauthctl" -c "$conf" show "$a" >/dev/null 2>&1 || break
        sleep 0.1
    done
done
sleep 1 # so no clock rounding anywhere can keep them alive
for a in "$roam" "$roam6"; do
    if "$bindir/popauthctl" -c "$conf" show "$a" >/dev/null 2>&1; then
        expect_prefix "the grant for $a" "expired" "still valid $((lifetime + 16))s after the login"
    else
        expect_prefix "the grant for $a" "expired" "expired"
    fi
done
from=$(smtpgate_lines)
swaks_expect "roaming user $roam (after expiry)" "$roam" "$srv" "$far" "550 relay not permitted"
smtpgate_said "expired user's relay attempt (DUNNO)" "$from" "$roam" "$far" reject
swaks_expect "roaming user $roam6 (after expiry)" "$roam6" "$srv6" "$far" "550 relay not permitted"
smtpgate_said "expired user's relay attempt over IPv6 (DUNNO)" "$from" "$roam6" "$far" reject
swaks_expect "roaming user $roam (after expiry)" "$roam" "$srv" "$local" 250

# --- 4. The store cannot answer, then smtpgate is gone: 451 for relaying -------------------
deferred="451 4.3.0 Relay authorization unavailable"
echo "# 4. The store cannot answer (moved away): smtpgate answers DEFER_IF_REJECT"
mkdir "$work/away" && mv "$db" "$db"-* "$work/away"/ 2>/dev/null
[ -e "$db" ] && fail "could not move the store away"
sleep 0.3 # smtpgate notices a replaced or missing store within 0.1 s
from=$(smtpgate_lines) efrom=$(exim_lines)
swaks_expect "stranger $stranger (store unreadable)" "$stranger" "$srv" "$far" "$deferred"
smtpgate_said "relay attempt with the store unreadable" "$from" "$stranger" "$far" defer
exim_said "relay attempt with the store unreadable" "$efrom" "popauth: relay deferred: smtpgate answered defer"
swaks_expect "stranger $stranger6 (store unreadable)" "$stranger6" "$srv6" "$far" "$deferred"
swaks_expect "stranger $stranger (store unreadable)" "$stranger" "$srv" "$local" 250
mv "$work/away"/* "$work"/
# smtpgate tries the store again at most once a second.
for ((i = 0; i < 50; i++)); do
    r=$(swaks_rcpt "$NETNS_CLIENT" "$stranger" "$srv" "$far" 2>/dev/null)
    [[ $r == 550* ]] && break
    sleep 0.2
done
expect_prefix "stranger $stranger -> $far (store back)" "550 relay not permitted" "$r"

echo "# 5. smtpgate is stopped: Exim cannot reach it"
netns_stop_pid "$SMTPGATE_PID" 5
efrom=$(exim_lines)
swaks_expect "stranger $stranger (smtpgate stopped)" "$stranger" "$srv" "$far" "$deferred"
exim_said "relay attempt with smtpgate stopped" "$efrom" "popauth: relay deferred: smtpgate unreachable"
swaks_expect "stranger $stranger6 (smtpgate stopped)" "$stranger6" "$srv6" "$far" "$deferred"
swaks_expect "roaming user $roam (smtpgate stopped)" "$roam" "$srv" "$far" "$deferred"
swaks_expect "stranger $stranger (smtpgate stopped)" "$stranger" "$srv" "$local" 250
swaks_expect "stranger $stranger6 (smtpgate stopped)" "$stranger6" "$srv6" "$local" 250

# --- 6. Answers smtpgate never gives: nothing but an exact "action=OK" accepts -----------
# fake_policy LABEL WANT ANSWER: a one-shot policy server on 127.0.0.1:10040 (nc) answers
# the next request with ANSWER (printf %b); the roaming user's relay attempt through Exim
# must get a reply starting with WANT
fake_policy()
{
    local label=$1 expect=$2 answer=$3 pid
    printf '%b' "$answer" >"$work/answer"
    # Started here rather than by netns_bg: a background command's standard input is
    # /dev/null unless the command itself redirects it.
    ip netns exec "$NETNS_SERVER" nc -N -l 127.0.0.1 10040 <"$work/answer" >/dev/null 2>&1 &
    pid=$!
    netns_track_pid "$pid"
    if ! netns__wait "$pid" netns__listening "$NETNS_SERVER" 127.0.0.1:10040; then
        status=1 out='' err=''
        fail "$label: the stand-in policy server does not listen on 127.0.0.1:10040"
        netns_stop_pid "$pid" 2
        return 1
    fi
    swaks_expect "$label" "$roam" "$srv" "$far" "$expect"
    netns_stop_pid "$pid" 2
}
echo "# 6. A stand-in policy server with answers smtpgate never gives: only action=OK accepts"
fake_policy "answer 'action=OK' (the stand-in works)" 250 'action=OK\n\n'
fake_policy "answer 'action=OK' without the empty line" "550 relay not permitted" 'action=OK\n'
fake_policy "answer 'action=OK' twice" "550 relay not permitted" 'action=OK\n\naction=OK\n\n'
fake_policy "answer 'action=OK text'" "550 relay not permitted" 'action=OK text\n\n'
fake_policy "answer 'action=ok'" "550 relay not permitted" 'action=ok\n\n'
fake_policy "answer 'OK' (no action=)" "550 relay not permitted" 'OK\n\n'
fake_policy "answer 'action=OK' after a CR" "550 relay not permitted" 'action=OK\r\n\r\n'
fake_policy "answer 'action=REJECT'" "550 relay not permitted" 'action=REJECT 5.7.1 no\n\n'
fake_policy "no answer (connection closed)" "550 relay not permitted" ''
fake_policy "answer 'action=DEFER_IF_PERMIT'" "$deferred" 'action=DEFER_IF_PERMIT 4.3.0 later\n\n'
fake_policy "answer 'action=450 ...'" "$deferred" 'action=450 4.7.1 later\n\n'
# A smtpgate that hangs (SIGSTOP): the kernel still completes the connection, but no
# answer comes; readsocket gives up after the fragment's 5 s.
if smtpgate_start_conf "$bindir" "$conf" "$NETNS_SERVER" 10040 "$work/smtpgate.err"; then
    kill -STOP "$SMTPGATE_PID"
    efrom=$(exim_lines) t0=$(date +%s)
    swaks_expect "roaming user $roam (smtpgate hangs)" "$roam" "$srv" "$far" "$deferred"
    t=$(($(date +%s) - t0))
    if [ "$t" -ge 5 ]; then
        pass "time to the reply (smtpgate hangs): expected 5 s or more, got $t s"
    else
        status=1 out='' err=''
        fail "time to the reply (smtpgate hangs): expected 5 s or more, got $t s"
    fi
    exim_said "relay attempt with smtpgate hanging" "$efrom" "popauth: relay deferred: smtpgate unreachable"
    kill -CONT "$SMTPGATE_PID"
    netns_stop_pid "$SMTPGATE_PID" 5
else
    show_logs
    die "could not start smtpgate again"
fi

# --- 7. Another address, named to Exim with POPAUTH_POLICY_SOCKET --------------------------
# A unix socket (group nogroup, which is Exim's user's group here, mode 0660), then
# IPv6 loopback. Nothing listens on 127.0.0.1:10040, the fragment's default, any more: an
# Exim that asked there would defer. (With the unix socket, the inet listener on 10041
# only tells that smtpgate is ready.)
sock=$work/policy.sock
for how in "unix:$sock:mode=0660:group=nogroup, inet:127.0.0.1:10041|$sock" \
    "inet:[::1]:10041|inet:[::1]:10041"; do
    listen=${how%%|*} macro=${how#*|}
    echo "# 7. smtpgate on policy_listen = $listen, Exim with POPAUTH_POLICY_SOCKET = $macro"
    netns_stop_pid "$EXIM_PID" 10
    smtpgate_start_conf "$bindir" "$conf" "$NETNS_SERVER" 10041 "$work/smtpgate.err" \
        -o "policy_listen=$listen" || { show_logs; die "could not start smtpgate on $listen"; }
    if exim_start "POPAUTH_POLICY_SOCKET = $macro"; then
        pass "Exim runs with POPAUTH_POLICY_SOCKET = $macro"
    else
        show_logs
        die "could not start Exim with POPAUTH_POLICY_SOCKET = $macro"
    fi
    login_expect pop3 alice "$srv" "$roam"
    wait_grant "$roam" alice
    from=$(smtpgate_lines) efrom=$(exim_lines)
    swaks_expect "roaming user $roam ($macro)" "$roam" "$srv" "$far" 250
    smtpgate_said "roaming user's relay ($macro)" "$from" "$roam" "$far" permit-grant
    exim_said "roaming user's relay ($macro)" "$efrom" \
        "popauth: relay permitted by smtpgate: client=$roam recipient=$far"
    swaks_expect "stranger $stranger6 ($macro)" "$stranger6" "$srv6" "$far" "550 relay not permitted"
    smtpgate_said "stranger's relay attempt ($macro)" "$from" "$stranger6" "$far" reject
    netns_stop_pid "$SMTPGATE_PID" 5
    swaks_expect "roaming user $roam ($macro gone)" "$roam" "$srv" "$far" "$deferred"
done

# Nothing went wrong inside Exim along the way.
if [ -s "$EXIM_DIR/log/paniclog" ]; then
    status=1 out=$(tail -n 5 "$EXIM_DIR/log/paniclog") err=
    fail "Exim's panic log: expected empty, got lines"
else
    pass "Exim's panic log: expected empty, got empty"
fi

netns_stop_pid "$EXIM_PID" 10
dovecot_stop
[ "$failed" -eq 0 ] || show_logs
finish
