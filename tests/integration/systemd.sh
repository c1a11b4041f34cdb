#!/usr/bin/env bash
# The daemons under systemd, without a running systemd: socket activation through the
# real systemd-socket-activate (LISTEN_FDS, LISTEN_PID, fd 3) and readiness through a
# NOTIFY_SOCKET that notify_recv (a stand-in for the service manager's end) listens on.
#   - smtpgate.socket's recipe: a unix socket that systemd made, owned by postfix:postfix
#     with mode 0660, passed to smtpgate running as nobody (which could never chown it,
#     nor even connect to it): a policy request over it gets the right answer; smtpgate
#     logs that the entry came from systemd; after SIGTERM the socket is still there, the
#     same file with the same owner and mode (systemd owns it), although nobody could
#     remove it from its directory
#   - an inherited inet socket (IPv4 and IPv6) serves policy_listen, and an entry with no
#     inherited socket is opened as without systemd
#   - an inherited socket that no entry names makes smtpgate exit 2 with one line naming
#     the fd and its address, before it serves; the same for popauth, which serves an
#     inherited metrics_listen socket
#   - READY=1 from smtpgate and from popauth (the sender's pid, as the kernel reports it,
#     is the daemon's), RELOADING=1 then READY=1 after SIGHUP with a STATUS= saying
#     whether the new config was taken or refused, STOPPING=1 after SIGTERM
#   - the shipped units (popauth.service, smtpgate.service, smtpgate.socket) pass
#     systemd-analyze verify without a word, and say Type=notify and the socket's recipe
# Needs root, systemd (systemd-socket-activate, systemd-analyze), postfix (its user owns
# the socket, as in smtpgate.socket) and util-linux's setpriv.
# Usage: systemd.sh BINDIR
set -euo pipefail
bindir=${1:?usage: systemd.sh BINDIR}
bindir=$(cd "$bindir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

require_packages systemd postfix
require_built "$bindir" smtpgate popauth popauthctl policy_client notify_recv
require_commands systemd-socket-activate systemd-analyze setpriv
getent passwd postfix >/dev/null || die "no user postfix (the postfix package makes it)"
getent passwd nobody >/dev/null || die "no user nobody"

work=$(mktemp -d /tmp/pa-systemd.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
pids=()
cleanup()
{
    local p
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

# From here on each check counts a failure and goes on.
set +e
port=$((15000 + ($$ % 1900) * 10)) # below the ephemeral range
nobody_uid=$(id -u nobody)
as_nobody=(setpriv --reuid=nobody --regid=nogroup --clear-groups --no-new-privs --)

# req CLIENT - a policy request for CLIENT to relay to u@far.test, as Postfix sends it
req()
{
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n'
    printf 'client_address=%s\nclient_name=unknown\nhelo_name=h.test\nsender=s@far.test\n' "$1"
    printf 'recipient=u@far.test\n\n'
}

# wait_for CMD... - retry CMD for up to 10 s; its status
wait_for()
{
    local i
    for i in $(seq 100); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@" >/dev/null 2>&1
}

# exited PID - PID is gone (or a zombie)
exited() { ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

# reap PID - wait for PID (SIGKILL after 10 s); status gets its exit status
reap()
{
    wait_for exited "$1" || kill -KILL "$1" 2>/dev/null
    wait "$1"
    status=$?
}

# check LABEL COND... - pass if COND succeeds, else fail with LABEL and what was seen
check()
{
    local label=$1
    shift
    if "$@"; then pass "$label"; else fail "$label"; fi
}

# The service manager's end of NOTIFY_SOCKET: one line per message, with the sender's pid.
notify=$work/notify
"$bindir/notify_recv" "$notify" >"$work/notify.log" 2>&1 &
pids+=($!)
wait_for test -S "$notify" || die "notify_recv did not bind $notify: $(cat "$work/notify.log")"

# notified PID UID TEXT [SKIP] - a message from PID (as UID) containing TEXT arrived after
# the first SKIP lines of the notify log (waits up to 10 s)
notified() { wait_for notified_now "$@"; }
notified_now() { tail -n +$((${4:-0} + 1)) "$work/notify.log" | grep -qF "pid=$1 uid=$2 " &&
    tail -n +$((${4:-0} + 1)) "$work/notify.log" | grep "pid=$1 uid=$2 " | grep -qF -- "$3"; }
# notify_lines - how many messages arrived so far
notify_lines() { wc -l <"$work/notify.log"; }
# expect_notified LABEL PID UID TEXT [SKIP] - notified, counted, with the log on failure
expect_notified()
{
    status=0 out=$(tail -n +$((${5:-0} + 1)) "$work/notify.log") err=
    if notified "$2" "$3" "$4" "${5:-0}"; then
        pass "$1: '$4' from pid $2 (uid $3)"
    else
        fail "$1: wanted '$4' from pid $2 (uid $3) in the messages shown as stdout"
    fi
}
# expect_order LABEL PID FIRST THEN SKIP - after SKIP lines, PID's first message holding
# FIRST comes before its first holding THEN
expect_order()
{
    local a b
    out=$(tail -n +$(($5 + 1)) "$work/notify.log" | grep "pid=$2 ")
    a=$(grep -nF -- "$3" <<<"$out" | head -n 1 | cut -d: -f1)
    b=$(grep -nF -- "$4" <<<"$out" | head -n 1 | cut -d: -f1)
    if [ -n "$a" ] && [ -n "$b" ] && [ "$a" -lt "$b" ]; then
        pass "$1: '$3' (message $a) then '$4' (message $b)"
    else
        fail "$1: wanted '$3' then '$4' from pid $2 (got them at '${a:-none}' and '${b:-none}')"
    fi
}

# The store smtpgate reads, as nobody: the directory and files belong to nobody.
mkdir "$work/db"
"$bindir/popauthctl" -c /dev/null -o "database=$work/db/auth.db" allow 192.0.2.7 --user alice \
    >/dev/null || die "popauthctl allow could not make the store"
chown -R nobody:nogroup "$work/db"

# --- smtpgate.socket's recipe: a unix socket owned by postfix, mode 0660 ----------------
# The directory belongs to nobody, so smtpgate could remove the socket if it tried.
spool=$work/spool/private
sock=$spool/popauth
mkdir -p "$spool"
chown nobody:nogroup "$spool"
conf=$work/smtpgate.conf
cat >"$conf" <<EOF
database = $work/db/auth.db
local_domains = local.test
policy_listen = unix:$sock
EOF
chmod 644 "$conf"
cp "$conf" "$conf.good"

systemd-socket-activate -l "$sock" -E "NOTIFY_SOCKET=$notify" -- \
    "${as_nobody[@]}" "$bindir/smtpgate" -c "$conf" 2>"$work/unix.log" &
gate=$!
pids+=("$gate")
# systemd makes the socket as SocketUser=, SocketGroup=, SocketMode= say, before any
# connection (systemd-socket-activate cannot set them: they are set here, as systemd would)
wait_for test -S "$sock" || die "systemd-socket-activate made no socket: $(cat "$work/unix.log")"
chown postfix:postfix "$sock" && chmod 0660 "$sock" || die "could not give $sock to postfix"
inode=$(stat -c %i "$sock")
# The first connection starts smtpgate (systemd-socket-activate execs it, same pid).
run "$bindir/policy_client" -u "$sock" < <(req 192.0.2.7)
expect_out "action=OK" "unix socket from systemd: the granted client is answered OK"
wait_for grep -q "action=start" "$work/unix.log"
out=$(cat "$work/unix.log")
expect_out "action=listen policy_listen=unix:$sock fd=3 from=systemd" \
    "smtpgate logs that policy_listen came from systemd"
status=0 out=$(grep -E '^(Uid|Gid):' "/proc/$gate/status" 2>&1)
check "smtpgate runs as nobody ($out)" \
    test "$(awk '$1 == "Uid:" { print $2 }' "/proc/$gate/status")" = "$nobody_uid"
status=0 out=$(runuser -u nobody -- "$bindir/policy_client" -u "$sock" -t 2 < <(req 192.0.2.7) 2>&1)
check "nobody itself cannot connect to the socket (0660 postfix:postfix): $out" \
    test "$(grep -c 'action=' <<<"$out")" = 0
run "$bindir/policy_client" -u "$sock" < <(req 198.51.100.7)
expect_out "action=" "unix socket from systemd: a stranger is answered"
expect_no_out "action=OK" "unix socket from systemd: a stranger is not OK"
expect_notified "smtpgate READY=1 once it serves" "$gate" "$nobody_uid" "READY=1"
expect_notified "smtpgate says it serves" "$gate" "$nobody_uid" "STATUS=serving"

n=$(notify_lines)
kill -HUP "$gate"
expect_notified "smtpgate: SIGHUP with a good config ends in READY=1, reloaded" \
    "$gate" "$nobody_uid" "READY=1 STATUS=serving; configuration reloaded" "$n"
expect_order "smtpgate: SIGHUP sends RELOADING=1 before READY=1" "$gate" "RELOADING=1" \
    "READY=1" "$n"
n=$(notify_lines)
echo "no_such_setting = 1" >>"$conf"
kill -HUP "$gate"
expect_notified "smtpgate: SIGHUP with a bad config ends in READY=1, refused" \
    "$gate" "$nobody_uid" "READY=1 STATUS=serving; reload refused" "$n"
expect_order "smtpgate: a refused reload sends RELOADING=1 before READY=1" "$gate" \
    "RELOADING=1" "READY=1" "$n"
cp "$conf.good" "$conf"
run "$bindir/policy_client" -u "$sock" < <(req 192.0.2.7)
expect_out "action=OK" "after the reloads the inherited socket still answers OK"

n=$(notify_lines)
kill -TERM "$gate"
reap "$gate"
expect_status 0 "smtpgate exits 0 after SIGTERM"
expect_notified "smtpgate STOPPING=1 after SIGTERM" "$gate" "$nobody_uid" "STOPPING=1" "$n"
status=0 out=$(stat -c '%a %U:%G inode %i' "$sock" 2>&1)
check "after SIGTERM the socket is still there, the same file, 660 postfix:postfix ($out)" \
    test "$out" = "660 postfix:postfix inode $inode"

# --- inherited inet sockets; an entry without one is opened as usual ------------------
P1=$((port + 1)) P2=$((port + 2)) P3=$((port + 3))
systemd-socket-activate -l "127.0.0.1:$P1" -l "[::1]:$P2" -- "${as_nobody[@]}" \
    "$bindir/smtpgate" -c /dev/null -o "database=$work/db/auth.db" -o local_domains=local.test \
    -o "policy_listen=inet:127.0.0.1:$P1 inet:[::1]:$P2 inet:127.0.0.1:$P3" 2>"$work/inet.log" &
gate=$!
pids+=("$gate")
wait_for grep -q "Listening on .*:$P2" "$work/inet.log" || die "no inet sockets: $(cat "$work/inet.log")"
run "$bindir/policy_client" -p "$P1" < <(req 192.0.2.7)
expect_out "action=OK" "inet 127.0.0.1 from systemd: the granted client is answered OK"
run "$bindir/policy_client" -H ::1 -p "$P2" < <(req 192.0.2.7)
expect_out "action=OK" "inet [::1] from systemd: the granted client is answered OK"
run "$bindir/policy_client" -p "$P3" < <(req 192.0.2.7)
expect_out "action=OK" "an entry with no inherited socket is opened by smtpgate and answers"
out=$(cat "$work/inet.log")
expect_out "action=listen policy_listen=inet:127.0.0.1:$P1 fd=3 from=systemd" "the IPv4 entry came from systemd (fd 3)"
expect_out "action=listen policy_listen=inet:[::1]:$P2 fd=4 from=systemd" "the IPv6 entry came from systemd (fd 4)"
expect_no_out "policy_listen=inet:127.0.0.1:$P3 fd=" "the third entry did not come from systemd"
kill -TERM "$gate"
reap "$gate"
expect_status 0 "smtpgate with inet sockets from systemd exits 0 after SIGTERM"

# --- fail closed: a socket the config does not name -----------------------------------
# only_daemon_lines FILE - FILE without systemd-socket-activate's own lines
only_daemon_lines() { grep -vE '^(Listening on|Communication attempt|Execing) ' "$1"; }
P4=$((port + 4)) P5=$((port + 5))
systemd-socket-activate -l "127.0.0.1:$P4" -- "${as_nobody[@]}" "$bindir/smtpgate" -c /dev/null \
    -o "database=$work/db/auth.db" -o "policy_listen=inet:127.0.0.1:$P5" 2>"$work/stray.log" &
gate=$!
pids+=("$gate")
wait_for grep -q "Listening on" "$work/stray.log" || die "no stray socket: $(cat "$work/stray.log")"
run "$bindir/policy_client" -p "$P4" -t 5 < <(req 192.0.2.7)
expect_no_out "action=" "a socket no entry names is never answered on"
reap "$gate"
expect_status 2 "smtpgate exits 2 when systemd passes a socket no entry names"
status=0 out=$(only_daemon_lines "$work/stray.log") err=
expect_out "fd 3 (inet:127.0.0.1:$P4) is named by no policy_listen, proxy_listen or metrics_listen entry" \
    "the line names the fd and its address"
check "smtpgate said one line" test "$(wc -l <<<"$out")" = 1

: >"$work/mail.log"
systemd-socket-activate -l "$work/stray.sock" -- "$bindir/popauth" -c /dev/null \
    -o "database=$work/popauth.db" -o "log_sources=file:$work/mail.log" 2>"$work/pstray.log" &
pa=$!
pids+=("$pa")
wait_for test -S "$work/stray.sock" || die "no stray unix socket: $(cat "$work/pstray.log")"
run "$bindir/policy_client" -u "$work/stray.sock" -t 5 < <(req 192.0.2.7)
reap "$pa"
expect_status 2 "popauth exits 2 when systemd passes a socket no entry names"
status=0 out=$(only_daemon_lines "$work/pstray.log") err=
expect_out "fd 3 (unix:$work/stray.sock) is named by no" "popauth's line names the fd and its address"
check "popauth said one line" test "$(wc -l <<<"$out")" = 1

# The manager's unix socket named by a differently spelt path (a doubled slash): smtpgate
# must not take it for a stale socket of its own and remove it.
mkdir -p "$work/sa"
systemd-socket-activate -l "$work/sa/policy" -- "$bindir/smtpgate" -c /dev/null \
    -o "database=$work/db/auth.db" -o "policy_listen=unix:$work/sa//policy" 2>"$work/spelt.log" &
gate=$!
pids+=("$gate")
wait_for test -S "$work/sa/policy" || die "no socket: $(cat "$work/spelt.log")"
inode=$(stat -c %i "$work/sa/policy")
run "$bindir/policy_client" -u "$work/sa/policy" -t 5 < <(req 192.0.2.7)
reap "$gate"
expect_status 2 "a unix entry spelt unlike the inherited socket's path: smtpgate exits 2"
status=0 out=$(only_daemon_lines "$work/spelt.log") err=
expect_out "not removing it" "the line says the manager's socket was left alone"
status=0 out=$(stat -c %i "$work/sa/policy" 2>&1) err=
check "the manager's socket file is still the same one (inode $inode, now $out)" \
    test "$out" = "$inode"

# --- popauth: its metrics_listen socket from systemd ----------------------------------
# scrape PORT - GET /metrics from 127.0.0.1:PORT, the whole answer on stdout
scrape()
{
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    timeout 5 cat <&3
    exec 3>&-
}
P6=$((port + 6))
systemd-socket-activate -l "127.0.0.1:$P6" -- "$bindir/popauth" -c /dev/null \
    -o "database=$work/popauth.db" -o "log_sources=file:$work/mail.log" \
    -o "metrics_listen=popauth=inet:127.0.0.1:$P6" 2>"$work/pmetrics.log" &
pa=$!
pids+=("$pa")
wait_for grep -q "Listening on" "$work/pmetrics.log" || die "no metrics socket: $(cat "$work/pmetrics.log")"
run scrape "$P6"
expect_out "HTTP/1.1 200" "popauth serves /metrics on the socket from systemd"
expect_out "# TYPE popauth_" "the page is popauth's metrics"
out=$(cat "$work/pmetrics.log")
expect_out "action=listen metrics_listen=inet:127.0.0.1:$P6 fd=3 from=systemd" \
    "popauth logs that metrics_listen came from systemd"
kill -TERM "$pa"
reap "$pa"
expect_status 0 "popauth with its metrics socket from systemd exits 0 after SIGTERM"

# --- popauth: readiness, reload, stop -------------------------------------------------
pconf=$work/popauth.conf
printf 'database = %s\nlog_sources = file:%s\n' "$work/popauth.db" "$work/mail.log" >"$pconf"
cp "$pconf" "$pconf.good"
NOTIFY_SOCKET=$notify "$bindir/popauth" -c "$pconf" 2>"$work/popauth.log" &
pa=$!
pids+=("$pa")
expect_notified "popauth READY=1 once its sources and store are ready" "$pa" 0 "READY=1 STATUS=serving"
status=0 out=$(cat "$work/popauth.log") err=
expect_out "action=start" "popauth had started when it said READY=1"
n=$(notify_lines)
kill -HUP "$pa"
expect_notified "popauth: SIGHUP with a good config ends in READY=1, reloaded" "$pa" 0 \
    "READY=1 STATUS=serving; configuration reloaded" "$n"
expect_order "popauth: SIGHUP sends RELOADING=1 before READY=1" "$pa" "RELOADING=1" "READY=1" "$n"
n=$(notify_lines)
echo "no_such_setting = 1" >>"$pconf"
kill -HUP "$pa"
expect_notified "popauth: SIGHUP with a bad config ends in READY=1, refused" "$pa" 0 \
    "READY=1 STATUS=serving; reload refused" "$n"
cp "$pconf.good" "$pconf"
n=$(notify_lines)
kill -TERM "$pa"
reap "$pa"
expect_status 0 "popauth exits 0 after SIGTERM"
expect_notified "popauth STOPPING=1 after SIGTERM" "$pa" 0 "STOPPING=1" "$n"

# Without NOTIFY_SOCKET nothing is sent and nothing fails.
n=$(notify_lines)
"$bindir/popauth" -c "$pconf" 2>"$work/popauth2.log" &
pa=$!
pids+=("$pa")
wait_for grep -q "action=start" "$work/popauth2.log"
kill -TERM "$pa"
reap "$pa"
expect_status 0 "popauth without NOTIFY_SOCKET starts and stops as before"
status=0 out=$(tail -n +$((n + 1)) "$work/notify.log") err=
check "nothing was sent without NOTIFY_SOCKET" test -z "$out"

# --- the shipped units -----------------------------------------------------------------
mkdir "$work/units"
for u in popauth.service smtpgate.service smtpgate.socket; do
    sed -e "s|@CMAKE_INSTALL_FULL_SBINDIR@|$bindir|g" -e "s|@POPAUTH_CONFIG_FILE@|$conf|g" \
        "$srcdir/scripts/systemd/$u.in" >"$work/units/$u"
done
run sh -c "cd '$work/units' && systemd-analyze verify --man=no ./popauth.service ./smtpgate.service ./smtpgate.socket"
expect_status 0 "systemd-analyze verify accepts the units"
check "systemd-analyze verify has nothing to say about them" test -z "$out$err"
for u in popauth.service smtpgate.service; do
    out=$(grep -E '^(Type|NotifyAccess|ExecReload)=' "$work/units/$u")
    expect_out "Type=notify" "$u is Type=notify"
    expect_out "NotifyAccess=main" "$u takes notifications from its main process only"
    expect_out 'ExecReload=/bin/kill -HUP $MAINPID' "$u reloads with SIGHUP"
done
out=$(grep -E '^[A-Za-z]+=' "$work/units/smtpgate.socket")
expect_out "ListenStream=/var/spool/postfix/private/popauth" "smtpgate.socket listens in Postfix's private/"
expect_out "SocketUser=postfix" "smtpgate.socket gives the socket to postfix"
expect_out "SocketGroup=postfix" "smtpgate.socket's group is postfix"
expect_out "SocketMode=0660" "smtpgate.socket's mode is 0660"
out=$(cat "$work/units/smtpgate.socket")
expect_out "policy_listen = unix:/var/spool/postfix/private/popauth" "smtpgate.socket says what to set in popauth.conf"
expect_out "check_policy_service unix:private/popauth" "smtpgate.socket says what to set in main.cf"

finish
