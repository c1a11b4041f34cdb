#!/usr/bin/env bash
# smtpgate's policy server end to end: the real binary over TCP and unix sockets, driven
# by policy_client, against fresh stores made with popauthctl. Covers the decisions, the
# reply texts, pipelining, byte-at-a-time input, every protocol limit (close, no reply),
# 1,000 concurrent connections, the idle timeout, policy_max_connections, a unix socket
# with a mode, a missing / locked / corrupt store (defer, never OK, and recovery),
# SIGHUP without dropping a connection, and SIGTERM (exit 0 after answering).
# Usage: policyd.sh BINDIR
set -u
bindir=${1:?usage: policyd.sh BINDIR}
. "$(dirname "$0")/lib.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
require_built "$bindir" smtpgate popauthctl policy_client

work=$(mktemp -d /tmp/policyd-test.XXXXXX)
pids=()
cleanup()
{
    local p
    exec 7>&- 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
ulimit -n 4096 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null

port=$((12000 + ($$ % 1900) * 10)) # below the ephemeral range
OKTEXT="action=OK"
REJECT="action=REJECT 5.7.1 Relay access denied"
DEFER="action=DEFER_IF_PERMIT 4.3.0 Relay authorization unavailable"
DUNNO="action=DUNNO"

ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$1" "${@:2}"; }
pc() { "$bindir/policy_client" "$@"; }

# req STATE CLIENT RECIPIENT - one request as Postfix would send it
req()
{
    printf 'request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n' "$1"
    printf 'client_address=%s\nclient_name=unknown\nhelo_name=h.test\nsender=s@far.test\n' "$2"
    printf 'recipient=%s\nrecipient_count=0\nqueue_id=\nsize=0\nsasl_username=\n\n' "$3"
}

# start NAME ARGS... - run smtpgate in the background (log in $work/NAME.log), set gate
start()
{
    local name=$1 i
    shift
    "$bindir/smtpgate" "$@" 2>"$work/$name.log" 7>&- &
    gate=$!
    pids+=("$gate")
    for i in $(seq 50); do
        grep -q "action=start" "$work/$name.log" && return 0
        kill -0 "$gate" 2>/dev/null || break
        sleep 0.1
    done
    echo "smtpgate $name did not start:"
    cat "$work/$name.log"
    return 1
}

# stop PID - SIGTERM and wait; status gets smtpgate's exit status
stop()
{
    kill -TERM "$1"
    wait "$1"
    status=$?
}

db=$work/auth.db
run ctl "$db" allow 192.0.2.7 --user alice
expect_status 0 "popauthctl allow makes the store"

# Most of this test runs smtpgate in the mode where it refuses relaying itself (an explicit
# REJECT, which needs local_domains); the defaults, which leave refusals to Postfix, are
# checked on their own below.
refuse=(-o "policy_reject_action=${REJECT#action=}" -o "policy_defer_action=${DEFER#action=}")
common=(-c /dev/null -o "database=$db" -o local_domains=local.test -o local_networks=10.0.0.0/8
    "${refuse[@]}")

# --- decisions over TCP --------------------------------------------------------------
P=$((port += 1))
start main "${common[@]}" -o "policy_listen=inet:127.0.0.1:$P" || exit 1
main=$gate

run pc -p $P < <(req RCPT 192.0.2.7 u@far.test)
expect_status 0 "granted client answered"
expect_out "$OKTEXT" "granted client to a foreign recipient: OK"
run pc -p $P < <(req RCPT 192.0.2.8 u@far.test)
expect_out "$REJECT" "unknown client to a foreign recipient: REJECT"
expect_no_out "$OKTEXT" "unknown client never OK"
run pc -p $P < <(req RCPT 192.0.2.8 alice@local.test)
expect_out "$DUNNO" "local recipient: DUNNO"
run pc -p $P < <(req RCPT 10.9.8.7 u@far.test)
expect_out "$OKTEXT" "local network: OK"
run pc -p $P < <(req DATA 192.0.2.8 u@far.test)
expect_out "$DUNNO" "non-RCPT state: DUNNO"
run pc -p $P < <(req RCPT 'not-an-ip' u@far.test)
expect_out "$REJECT" "bad client_address: REJECT"
run pc -p $P < <(req RCPT '' u@far.test)
expect_out "$REJECT" "missing client_address: REJECT"
run pc -p $P < <(req RCPT 192.0.2.8 'u%far.test@local.test')
expect_no_out "$OKTEXT" "percent hack from an unknown client is not OK"
run pc -p $P < <(req RCPT 192.0.2.8 'x" reason="forged@far.test')
expect_out "$REJECT" "quote in the recipient: REJECT"
if grep -q 'reason="forged' "$work/main.log"; then
    fail "request data reached the log unsanitized"
else
    pass "request data in the log is sanitized"
fi
if grep -q 'action=permit-grant client=192.0.2.7 recipient=u@far.test reason="' "$work/main.log"; then
    pass "decision logged on one line"
else
    fail "decision log line missing"
fi

# pipelining: three requests in one write, three replies in order
run pc -p $P < <(
    req RCPT 192.0.2.7 u@far.test
    req RCPT 192.0.2.8 u@far.test
    req RCPT 192.0.2.8 u@local.test
)
want=$(printf '%s\n\n%s\n\n%s\n\n' "$OKTEXT" "$REJECT" "$DUNNO")
if [ "$status" -eq 0 ] && [ "$out" == "$(printf '%s' "$want")" ]; then
    pass "pipelined requests answered in order"
else
    fail "pipelined requests answered in order"
fi

run pc -p $P --one-byte < <(req RCPT 192.0.2.7 u@far.test; req RCPT 192.0.2.9 u@far.test)
expect_status 0 "one byte at a time: both answered"
expect_out "$OKTEXT" "one byte at a time: OK"
expect_out "$REJECT" "one byte at a time: REJECT"

# every limit closes the connection without a reply
limit()
{
    run pc -p $P --expect-close -t 5 <"$work/limit"
    if [ "$status" -eq 0 ] && grep -q "^closed after" <<<"$out" && ! grep -q "action=" <<<"$out"; then
        pass "$1: closed without a reply"
    else
        fail "$1: closed without a reply"
    fi
}
{ printf 'request=smtpd_access_policy\nx='; head -c 8200 /dev/zero | tr '\0' a; printf '\n\n'; } >"$work/limit"
limit "line over 8 KiB"
{ printf 'request=smtpd_access_policy\n'; for i in $(seq 70); do printf 'x%d=' "$i"; head -c 1000 /dev/zero | tr '\0' b; printf '\n'; done; printf '\n'; } >"$work/limit"
limit "request over 64 KiB"
{ printf 'request=smtpd_access_policy\n'; for i in $(seq 128); do printf 'a%d=%d\n' "$i" "$i"; done; printf '\n'; } >"$work/limit"
limit "129 attributes"
printf 'request=smtpd_access_policy\nrecipient=a\0b@far.test\n\n' >"$work/limit"
limit "NUL byte"
printf 'protocol_state=RCPT\nclient_address=192.0.2.7\nrecipient=u@far.test\n\n' >"$work/limit"
limit "missing request="
printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nnoequals\n\n' >"$work/limit"
limit "line without '='"
printf 'request=smtpd_access_policy\r\nprotocol_state=RCPT\r\n\r\n' >"$work/limit"
limit "CRLF line ends"
if grep -q 'action=close peer=127.0.0.1:[0-9]* reason="protocol error: line over 8192' "$work/main.log"; then
    pass "protocol error logged with its reason"
else
    fail "protocol error logged with its reason"
fi

# 1,000 concurrent connections, each answered
req RCPT 192.0.2.7 u@far.test >"$work/one"
run pc -p $P -n 1000 -t 30 <"$work/one"
expect_out "connections=1000 answered=1000" "1,000 concurrent connections answered"
kill -0 "$main" 2>/dev/null && pass "smtpgate still up" || fail "smtpgate died"

# SIGTERM: the request already sent is answered, then the connection closes, exit 0
{ req RCPT 192.0.2.7 u@far.test; printf '@wait\n@sleep 1\n'; } >"$work/term"
pc -p $P --expect-close -t 5 <"$work/term" >"$work/term.out" 2>&1 &
client=$!
sleep 0.5
stop "$main"
expect_status 0 "SIGTERM: exit 0"
wait "$client"
status=$? out=$(cat "$work/term.out")
expect_out "$OKTEXT" "SIGTERM: the request was answered"
expect_out "closed after" "SIGTERM: the open connection was closed"
run pc -p $P <"$work/one"
expect_status 2 "SIGTERM: the listener is closed"

# --- idle timeout and max connections --------------------------------------------------
P=$((port += 1))
start limits "${common[@]}" -o "policy_listen=inet:127.0.0.1:$P" -o policy_idle_timeout=1s \
    -o policy_max_connections=5 || exit 1
limits=$gate
run pc -p $P --expect-close -t 5 <"$work/one"
secs=$(sed -n 's/^closed after \([0-9.]*\) s$/\1/p' <<<"$out")
expect_out "$OKTEXT" "idle: the request is answered"
if [ -n "$secs" ] && awk -v s="$secs" 'BEGIN { exit !(s >= 0.7 && s <= 3) }'; then
    pass "idle connection closed after ~1 s ($secs s)"
else
    fail "idle connection closed after ~1 s"
fi
run pc -p $P -n 6 -t 5 <"$work/one"
expect_out "connections=6 answered=5 closed=1" "policy_max_connections=5: the 6th is closed"
if grep -q 'action=refuse .*policy_max_connections (5)' "$work/limits.log"; then
    pass "refused connection logged"
else
    fail "refused connection logged"
fi
stop "$limits"

# --- unix socket with a mode -------------------------------------------------------------
sock=$work/policy.sock
start unix "${common[@]}" -o "policy_listen=unix:$sock:mode=0660" || exit 1
unixgw=$gate
[ "$(stat -c %a "$sock")" = 660 ] && pass "unix socket mode 0660" || fail "unix socket mode 0660"
run pc -u "$sock" <"$work/one"
expect_out "$OKTEXT" "unix socket: OK"
kill -KILL "$unixgw"
wait "$unixgw" 2>/dev/null
start unix2 "${common[@]}" -o "policy_listen=unix:$sock:mode=0600" || exit 1
unixgw=$gate
run pc -u "$sock" <"$work/one"
expect_out "$OKTEXT" "a stale socket file is replaced"
stop "$unixgw"
[ ! -e "$sock" ] && pass "socket file removed at exit" || fail "socket file removed at exit"
: >"$work/notasocket"
run "$bindir/smtpgate" "${common[@]}" -o "policy_listen=unix:$work/notasocket"
expect_status 2 "a regular file in the way is refused"
expect_err "is not a socket" "the error names the problem"

# --- the defaults: OK for a grant or a local network, Postfix decides the rest ----------
P=$((port += 1))
start defaults -c /dev/null -o "database=$db" -o "policy_listen=inet:127.0.0.1:$P" || exit 1
run pc -p $P < <(req RCPT 192.0.2.7 u@far.test)
expect_out "$OKTEXT" "defaults: granted client: OK"
run pc -p $P < <(req RCPT 127.0.0.1 u@far.test)
expect_out "$OKTEXT" "defaults: local network: OK"
run pc -p $P < <(req RCPT 192.0.2.8 u@far.test)
expect_out "$DUNNO" "defaults: unknown client to a foreign recipient: DUNNO"
run pc -p $P < <(req RCPT 192.0.2.8 postmaster@our.test)
expect_out "$DUNNO" "defaults: unknown client to our own domain (local_domains empty): DUNNO"
run pc -p $P < <(req RCPT 'not-an-ip' u@far.test)
expect_out "$DUNNO" "defaults: bad client_address: DUNNO"
stop "$gate"
out=$(grep 'action=reject client=192.0.2.8 recipient=u@far.test' "$work/defaults.log") err=
expect_out 'reply=DUNNO' "defaults: the log says the refusal was answered DUNNO"
out=$(grep 'action=permit-grant client=192.0.2.7' "$work/defaults.log") err=
expect_out 'reply=OK' "defaults: the log says the grant was answered OK"
P=$((port += 1))
start defaults_missing -c /dev/null -o "database=$work/absent.db" \
    -o "policy_listen=inet:127.0.0.1:$P" || exit 1
run pc -p $P < <(req RCPT 192.0.2.7 u@far.test)
expect_out "action=DEFER_IF_REJECT 4.3.0 Relay authorization unavailable" \
    "defaults: store missing: DEFER_IF_REJECT (Postfix defers only what it would refuse)"
stop "$gate"

# --- log_level, and priorities for the journal ---------------------------------------------
# Under systemd, stderr is the journal stream named by JOURNAL_STREAM (device:inode): each
# line then starts with its sd-daemon priority, so that journalctl -p warning filters.
P=$((port += 1))
jlog=$work/journal-stream.log
: >"$jlog"
JOURNAL_STREAM=$(stat -c '%d:%i' "$jlog") "$bindir/smtpgate" -c /dev/null \
    -o "database=$work/absent.db" -o "policy_listen=inet:127.0.0.1:$P" -o log_level=warning \
    2>>"$jlog" &
gate=$!
pids+=("$gate")
for i in $(seq 50); do nc -z 127.0.0.1 $P 2>/dev/null && break; sleep 0.1; done
run pc -p $P < <(req RCPT 192.0.2.7 u@far.test)
expect_out "action=DEFER_IF_REJECT" "log_level=warning: the store is missing, the request defers"
run pc -p $P < <(req RCPT 127.0.0.1 u@far.test)
expect_out "$OKTEXT" "log_level=warning: a local network still permits"
stop "$gate"
out=$(cat "$jlog") err=
expect_out "<4>smtpgate: warning: action=defer client=192.0.2.7" \
    "journal stream: the defer is a warning with priority <4>"
expect_no_out "permit-localnet" "log_level=warning: an ordinary decision is not logged"
expect_no_out "info:" "log_level=warning: info lines are not logged"
if grep -qv '^<[0-7]>smtpgate: ' "$jlog"; then
    fail "journal stream: every line has a priority prefix"
    cat "$jlog"
else
    pass "journal stream: every line has a priority prefix"
fi
P=$((port += 1))
start debug -c /dev/null -o "database=$db" -o "policy_listen=inet:127.0.0.1:$P" \
    -o log_level=debug || exit 1
run pc -p $P < <(req RCPT 192.0.2.7 u@far.test)
stop "$gate"
out=$(cat "$work/debug.log") err=
expect_out "debug: action=request protocol_state=RCPT client_address=192.0.2.7 recipient=u@far.test sender=s@far.test" \
    "log_level=debug: a decision's inputs are logged"
expect_out "info: action=permit-grant client=192.0.2.7" "log_level=debug: and its outcome"
expect_no_out "<6>" "no priority prefix when stderr is not the journal"
run "$bindir/smtpgate" -c /dev/null -o "database=$db" -o log_level=verbose -t
expect_status 2 "log_level=verbose: refused"
expect_err "log_level: bad log level 'verbose' (error, warning, info or debug)" \
    "log_level: the error names the setting and the choices"

for bad in REJECT "554 5.7.1 No" DEFER_IF_PERMIT; do
    run "$bindir/smtpgate" -c /dev/null -o "database=$db" -o "policy_reject_action=$bad" -t
    expect_status 2 "policy_reject_action=$bad with empty local_domains: refused"
    expect_err "local_domains is empty" "the refusal names local_domains ($bad)"
done
run "$bindir/smtpgate" -c /dev/null -o "database=$db" -o "policy_defer_action=DEFER 4.3.0 x" -t
expect_status 2 "policy_defer_action=DEFER with empty local_domains: refused"
run "$bindir/smtpgate" -c /dev/null -o "database=$db" -o "policy_reject_action=OK" \
    -o local_domains=local.test -t
expect_status 2 "policy_reject_action=OK: refused (it would relay)"
expect_err "is not a refusal" "the error says why"
run "$bindir/smtpgate" -c /dev/null -o "database=$db" -o "policy_reject_action=REJECT" \
    -o local_domains=local.test -t
expect_status 0 "policy_reject_action=REJECT with local_domains: accepted"

# --- a revocation is seen on an open connection within moments ---------------------------
# Lookups share one read snapshot for at most 10 ms; one left open when the loop went idle
# is ended by a timer, so the second request, a second after the revocation, sees it.
P=$((port += 1))
start revoke -c /dev/null -o "database=$db" -o "policy_listen=inet:127.0.0.1:$P" || exit 1
run ctl "$db" allow 192.0.2.77 --user rita
{
    req RCPT 192.0.2.77 u@far.test
    printf '@wait\n@sleep 1.5\n'
    req RCPT 192.0.2.77 u@far.test
} >"$work/revoke"
pc -p $P -t 10 <"$work/revoke" >"$work/revoke.out" 2>&1 &
client=$!
sleep 0.5
ctl "$db" revoke 192.0.2.77 >/dev/null
wait "$client"
status=$? out=$(cat "$work/revoke.out") err=
want=$(printf '%s\n\n%s' "$OKTEXT" "$DUNNO")
if [ "$status" -eq 0 ] && [ "$out" == "$want" ]; then
    pass "a grant revoked between two requests on one connection: OK, then DUNNO"
else
    fail "a grant revoked between two requests on one connection: OK, then DUNNO"
fi
stop "$gate"

# --- store missing, then created -----------------------------------------------------------
newdb=$work/new.db
P=$((port += 1))
start missing -c /dev/null -o "database=$newdb" -o local_domains=local.test "${refuse[@]}" \
    -o "policy_listen=inet:127.0.0.1:$P" || exit 1
missing=$gate
run pc -p $P <"$work/one"
expect_out "$DEFER" "store missing: defer"
kill -0 "$missing" 2>/dev/null && pass "store missing: smtpgate stays up" || fail "smtpgate died"
run ctl "$newdb" allow 192.0.2.7 --user alice
ok=0
for i in $(seq 8); do
    sleep 0.3
    run pc -p $P <"$work/one"
    grep -qF "$OKTEXT" <<<"$out" && ok=1 && break
done
[ $ok = 1 ] && pass "store created: the grant permits within ~2 s" || fail "store created: grant"
stop "$missing"

# --- store locked ----------------------------------------------------------------------
lockdb=$work/lock.db
ctl "$lockdb" allow 192.0.2.7 --user alice >/dev/null
mkfifo "$work/fifo"
sqlite3 "$lockdb" <"$work/fifo" >"$work/sqlite.out" 2>&1 &
locker=$!
pids+=("$locker")
exec 7>"$work/fifo"
printf 'PRAGMA locking_mode=EXCLUSIVE;\nBEGIN EXCLUSIVE;\nUPDATE auth SET user=user;\nSELECT 42;\n' >&7
for i in $(seq 50); do grep -q 42 "$work/sqlite.out" && break; sleep 0.1; done
P=$((port += 1))
start locked -c /dev/null -o "database=$lockdb" -o local_domains=local.test "${refuse[@]}" \
    -o "policy_listen=inet:127.0.0.1:$P" || exit 1
locked=$gate
run pc -p $P -t 20 <"$work/one"
expect_out "$DEFER" "store locked: defer"
expect_no_out "$OKTEXT" "store locked: never OK"
run pc -p $P -t 20 <"$work/one"
expect_out "$DEFER" "store locked, within the retry second: defer at once"
exec 7>&-
wait "$locker"
ok=0
for i in $(seq 8); do
    sleep 0.3
    run pc -p $P -t 20 <"$work/one"
    grep -qF "$OKTEXT" <<<"$out" && ok=1 && break
done
[ $ok = 1 ] && pass "store unlocked: recovers" || fail "store unlocked: recovers"

# --- store corrupt ---------------------------------------------------------------------
head -c 65536 /dev/urandom >"$lockdb"
rm -f "$lockdb-wal" "$lockdb-shm"
for i in 1 2 3; do
    run pc -p $P -t 20 <"$work/one"
    expect_no_out "$OKTEXT" "store overwritten with garbage while open: never OK ($i)"
    sleep 0.6
done
expect_out "$DEFER" "store overwritten with garbage: defer"
stop "$locked"
P=$((port += 1))
start corrupt -c /dev/null -o "database=$lockdb" -o local_domains=local.test "${refuse[@]}" \
    -o "policy_listen=inet:127.0.0.1:$P" || exit 1
run pc -p $P -t 20 <"$work/one"
expect_out "$DEFER" "corrupt store at start: defer"
stop "$gate"

# --- SIGHUP ------------------------------------------------------------------------------
conf=$work/popauth.conf
hup_port=$((port += 1))
printf 'database = %s\nlocal_domains = local.test\npolicy_listen = inet:127.0.0.1:%s\n%s\n' \
    "$db" "$hup_port" "policy_reject_action = ${REJECT#action=}" >"$conf"
start hup -c "$conf" || exit 1
hup=$gate
{
    req RCPT 192.0.2.8 bob@new.test
    printf '@wait\n@sleep 1.5\n'
    req RCPT 192.0.2.8 bob@new.test
} >"$work/hup"
pc -p $hup_port -t 10 <"$work/hup" >"$work/hup.out" 2>&1 &
client=$!
sleep 0.5
printf 'database = %s\nlocal_domains = local.test new.test\npolicy_listen = inet:127.0.0.1:%s\n%s\n' \
    "$db" "$((hup_port + 1000))" "policy_reject_action = ${REJECT#action=}" >"$conf"
kill -HUP "$hup"
wait "$client"
status=$? out=$(cat "$work/hup.out")
want=$(printf '%s\n\n%s' "$REJECT" "$DUNNO")
if [ "$status" -eq 0 ] && [ "$out" == "$want" ]; then
    pass "SIGHUP: the next request on the same connection sees the new local_domains"
else
    fail "SIGHUP: the next request on the same connection sees the new local_domains"
    cat "$work/hup.log"
fi
grep -q "policy_listen changed" "$work/hup.log" && pass "SIGHUP: a changed policy_listen is logged" ||
    fail "SIGHUP: a changed policy_listen is logged"
run pc -p $hup_port <"$work/one"
expect_out "$OKTEXT" "SIGHUP: the listener stays"
printf 'database = %s\nlocal_domains = local.test\npolicy_permit_action = OK\nbogus = 1\n' "$db" >"$conf"
kill -HUP "$hup"
sleep 0.3
run pc -p $hup_port < <(req RCPT 192.0.2.8 bob@new.test)
expect_out "$DUNNO" "SIGHUP with a bad config keeps the running one"
stop "$hup"
expect_status 0 "SIGTERM after reloads: exit 0"

finish
