#!/usr/bin/env bash
# smtpgate's SMTP proxy front, end to end, in network namespaces (netns.sh): smtpgate
# listens on the server namespace's addresses, its backends run on that namespace's
# loopback, and the clients speak from the client namespace with five source addresses:
# a third party (.51, ::51) that never logs in, a roaming user (.50, ::50) who is granted
# relay with `popauthctl allow`, and a host in local_networks (.52, ::52).
#
# 1. A real Postfix behind smtpgate (proxy_client_identity = xclient). Postfix itself
#    relays for every test address, so each refusal below is smtpgate's own. The
#    open-relay battery of SECURITY.md (18 recipient shapes, 4 senders) is refused with
#    smtpgate's "554 5.7.1 Relay access denied" for the third party and for the roaming
#    user before the grant, and reaches Postfix (250) from the local network and after
#    the grant; local recipients are accepted from everyone; Postfix's log names the real
#    client (XCLIENT) and shows that refused recipients never reached it; a whole message
#    from a granted client is relayed; the EHLO reply lacks XCLIENT and CHUNKING.
# 2. smtp-sink and a recording backend (smtp_client -l, which keeps every byte it gets):
#    pipelined sessions with replies in order (smtpgate's own 554 mixed with a backend
#    that answers slowly); a 2 MB message that arrives byte for byte; each SMTP smuggling
#    vector inside DATA followed by a smuggled MAIL/RCPT: 554 5.5.0 and close, and the
#    backend never receives the smuggled bytes nor an end of data; bare LF, bare CR and
#    NUL in commands; STARTTLS with commands in the same packet; the EHLO reply cut down;
#    AUTH; a line too long; proxy_max_recipients; proxy_max_connections and _per_client
#    (IPv6 clients counted per /64); 20 errors answered by smtpgate, then 421 and close;
#    the command and data timeouts, a slow but steady sender, a sender below
#    proxy_min_data_rate; a backend that is down, one that never speaks and one that
#    stops answering; the PROXY v1 header of proxy_client_identity = haproxy over IPv4
#    and IPv6. Finally every smtpgate is still running, logged no sanitizer error, kept no
#    password in its log, and exits 0 on SIGTERM.
# Needs root, postfix (smtp-sink), swaks, iproute2, perl, jq.
# Usage: proxy.sh BINDIR
set -u
bindir=${1:?usage: proxy.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"
# shellcheck source=tests/integration/battery.sh
. "$here/battery.sh"

die()
{
    echo "FAIL - $*"
    show_logs
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

require_built "$bindir" smtpgate popauthctl smtp_client
require_packages postfix swaks libio-socket-inet6-perl iproute2 perl jq
require_commands swaks postfix postconf smtp-sink perl jq ss

work=$(mktemp -d /tmp/pa-proxy.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

battery_hosts || die "could not add the local network's addresses"

db=$work/auth.db
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }
ctl purge >/dev/null || die "popauthctl could not create the store $db"

DENIED="554 5.7.1 Relay access denied"
rules=(-o "local_domains=local.test,[$srv],[IPv6:$srv6]" -o "local_networks=$lan/32,$lan6/128")

gates=() # "NAME PID" of every smtpgate started
show_logs() { show_tails "$work"/gate-*.err "${POSTFIX_LOG:-}" "$work/sink/log"; }

# gate NAME LISTEN BACKEND [-o name=value...]: start one smtpgate proxy (stderr in
# $work/gate-NAME.err); dies if it does not come up.
gate()
{
    local name=$1 listen=$2 backend=$3
    shift 3
    smtpgate_proxy_start "$bindir" "$db" "$NETNS_SERVER" "$listen" "$backend" \
        "$work/gate-$name.err" "${rules[@]}" "$@" || die "smtpgate '$name' did not start"
    gates+=("$name $PROXY_PID")
}

# recorder NAME PORT [smtp_client -l options...]: a recording backend on 127.0.0.1:PORT
# in the server namespace, recording into $work/rec-NAME.
recorder()
{
    local name=$1 port=$2 i
    shift 2
    mkdir -p "$work/rec-$name"
    netns_bg "$NETNS_SERVER" "$bindir/smtp_client" -l -r "$work/rec-$name" "$@" 127.0.0.1 "$port" \
        2>"$work/rec-$name.err"
    for ((i = 0; i < 100; i++)); do
        netns__listening "$NETNS_SERVER" "127.0.0.1:$port" && return 0
        kill -0 "$NETNS_LAST_PID" 2>/dev/null || break
        sleep 0.1
    done
    die "recording backend $name does not listen on 127.0.0.1:$port: $(cat "$work/rec-$name.err")"
}

# rec_next NAME: the record file the next connection to recorder NAME will write
rec_next()
{
    local n
    n=$(find "$work/rec-$1" -name 'conn.*' ! -name '*.end' | wc -l)
    echo "$work/rec-$1/conn.$((n + 1))"
}

# rec_wait FILE: wait (5 s) until the backend session recorded in FILE has ended
rec_wait()
{
    local i
    for ((i = 0; i < 50; i++)); do
        [ -e "$1.end" ] && return 0
        sleep 0.1
    done
    return 1
}

# sc SRC [smtp_client options] HOST PORT STEP...: smtp_client from SRC in the client namespace
sc()
{
    local src=$1
    shift
    ip netns exec "$NETNS_CLIENT" "$bindir/smtp_client" -b "$src" "$@"
}

# codes: the code of every complete reply in $out, space-separated
codes() { tr -d '\r' <<<"$out" | grep -E '^[0-9]{3}( |$)' | cut -c1-3 | paste -sd' '; }
# final N: the Nth complete reply line in $out (1-based), without CR
final() { tr -d '\r' <<<"$out" | grep -E '^[0-9]{3}( |$)' | sed -n "${1}p"; }
# closed_after: the seconds smtp_client reported before the server closed
closed_after() { sed -n 's/^closed after \([0-9.]*\) s.*$/\1/p' <<<"$out"; }
# between X LO HI: LO <= X <= HI
between() { [ -n "$1" ] && awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x <= hi) }'; }
# expect_codes WANT NAME: the replies in $out have exactly the codes WANT
expect_codes()
{
    local got
    got=$(codes)
    if [ "$got" = "$1" ]; then pass "$2"; else fail "$2 (replies '$got', wanted '$1')"; fi
}
# file_lacks FILE STRING NAME
file_lacks()
{
    if [ ! -e "$1" ]; then
        fail "$3 ($1 does not exist)"
    elif grep -qaF -- "$2" "$1"; then
        fail "$3 ('$2' is in $1)"
    else
        pass "$3"
    fi
}

# --- servers ---------------------------------------------------------------------------

# Postfix on the server namespace's loopback. mynetworks covers every test address:
# Postfix would relay for all of them, so what is refused is refused by smtpgate. It
# trusts XCLIENT from smtpgate's address only.
postfix_start "$work" "127.0.0.1,::1" 127.0.0.1:10040 "smtpd_authorized_xclient_hosts = 127.0.0.1" ||
    die "could not start Postfix"
postfix_reconfigure "mynetworks = 127.0.0.0/8, [::1]/128, $NETNS_NET.0/24, [${NETNS_NET6}:]/64" ||
    die "could not reconfigure Postfix"
gate postfix "inet:$srv:25,inet:[$srv6]:25" inet:127.0.0.1:25 -o proxy_client_identity=xclient

smtp_sink_start "$NETNS_SERVER" 127.0.0.1 2525 "$work/sink" || die "could not start smtp-sink"
gate sink "inet:$srv:2526,inet:[$srv6]:2526" inet:127.0.0.1:2525 -o proxy_command_timeout=2s \
    -o proxy_data_timeout=4s -o proxy_max_recipients=100
recorder main 2527 -w 0.3 # answers MAIL 0.3 s late: smtpgate's own replies must wait their turn
gate rec "inet:$srv:2528,inet:[$srv6]:2528" inet:127.0.0.1:2527
recorder hap 2529
gate haproxy "inet:$srv:2530,inet:[$srv6]:2530" inet:127.0.0.1:2529 -o proxy_client_identity=haproxy
gate limits "inet:$srv:2532,inet:[$srv6]:2532" inet:127.0.0.1:2525 -o proxy_max_connections=5 \
    -o proxy_max_connections_per_client=3
netns__listening "$NETNS_SERVER" 127.0.0.1:2599 && die "something listens on 127.0.0.1:2599"
gate down "inet:$srv:2534" inet:127.0.0.1:2599
recorder silent 2535 --silent
gate hang "inet:$srv:2536" inet:127.0.0.1:2535 -o proxy_backend_timeout=2s
recorder stuck 2537 -w 60
gate stuck "inet:$srv:2538" inet:127.0.0.1:2537 -o proxy_backend_timeout=2s
pass "Postfix, smtp-sink, the recording backends and $((${#gates[@]})) smtpgate proxies are running"

# --- 1. Postfix behind smtpgate, XCLIENT ---------------------------------------------------


echo "# 1. Postfix behind smtpgate (XCLIENT)"
battery_senders "third party $third" "$third" "$srv" refused
battery_senders "third party $third6" "$third6" "$srv6" refused
battery_check "roaming user $roam before the grant" "$roam" "$srv" "x@far.test" refused
battery_senders "local network $lan" "$lan" "$srv" accepted
battery_senders "local network $lan6" "$lan6" "$srv6" accepted

if grep -q '^<-  220 mx.local.test ESMTP popauth-test' <<<"$SWAKS_OUT"; then
    pass "the client sees Postfix's own greeting"
else
    status=1 out=$SWAKS_OUT err=
    fail "the client sees Postfix's own greeting"
fi
ehlo=$(sed -n '/^ -> EHLO/,/^ -> MAIL/p' <<<"$SWAKS_OUT")
if grep -q '250-PIPELINING' <<<"$ehlo" && ! grep -qE 'XCLIENT|CHUNKING|STARTTLS|XFORWARD' <<<"$ehlo"; then
    pass "Postfix's EHLO reply reaches the client without XCLIENT and CHUNKING"
else
    status=1 out=$ehlo err=
    fail "Postfix's EHLO reply reaches the client without XCLIENT and CHUNKING"
fi

run ctl allow "$roam" --user alice
expect_status 0 "popauthctl allow $roam"
run ctl allow "$roam6" --user alice
expect_status 0 "popauthctl allow $roam6"
battery_senders "roaming user $roam after the grant" "$roam" "$srv" accepted
battery_senders "roaming user $roam6 after the grant" "$roam6" "$srv6" accepted

# A whole message from the granted client, relayed by Postfix (discard transport).
msg=$(ip netns exec "$NETNS_CLIENT" swaks --server "$srv" --port 25 --local-interface "$roam" \
    --helo roaming.far.test --from x@far.test --to u@far.test --timeout 30 2>&1)
qid=$(sed -n 's/^<-  250 2.0.0 Ok: queued as \([0-9A-F]*\).*$/\1/p' <<<"$msg")
if [ -n "$qid" ]; then
    pass "a granted client's message to u@far.test is queued by Postfix ($qid)"
else
    status=1 out=$msg err=
    fail "a granted client's message to u@far.test is queued by Postfix"
fi
for ((i = 0; i < 100; i++)); do
    grep -q "$qid: to=<u@far.test>, relay=none.*status=sent" "$POSTFIX_LOG" && break
    sleep 0.1
done
if [ -n "$qid" ] && grep -q "$qid: to=<u@far.test>, relay=none.*status=sent" "$POSTFIX_LOG"; then
    pass "Postfix relayed it ($qid: status=sent)"
else
    status=1 out=$(tail -n 10 "$POSTFIX_LOG") err=
    fail "Postfix relayed it"
fi
if [ -n "$qid" ] && grep -qF "$qid: client=unknown[$roam]" "$POSTFIX_LOG"; then
    pass "Postfix's log names the real client: $qid: client=unknown[$roam] (XCLIENT)"
else
    status=1 out=$(grep "$qid" "$POSTFIX_LOG") err=
    fail "Postfix's log names the real client $roam (XCLIENT)"
fi
for a in "$lan" "$lan6" "$roam6"; do
    if grep -qF "client=unknown[$a]" "$POSTFIX_LOG"; then
        pass "Postfix's log names the real client $a"
    else
        status=1 out=$(grep 'client=' "$POSTFIX_LOG" | tail -n 5) err=
        fail "Postfix's log names the real client $a"
    fi
done
if grep -qE 'client=[^ ]*\[(127\.0\.0\.1|::1)\]' "$POSTFIX_LOG"; then
    status=1 out=$(grep -E 'client=[^ ]*\[(127\.0\.0\.1|::1)\]' "$POSTFIX_LOG" | head -n 3) err=
    fail "no transaction in Postfix's log is from smtpgate's own address"
else
    pass "no transaction in Postfix's log is from smtpgate's own address"
fi
# Postfix counts each session's RCPTs when it ends: from the third party only the two
# local recipients ever arrived.
for a in "$third" "$third6"; do
    lines=$(grep -F "disconnect from unknown[$a] " "$POSTFIX_LOG")
    n=$(grep -c . <<<"$lines")
    if [ "$n" -eq 4 ] && ! grep -qv ' rcpt=2 ' <<<"$lines"; then
        pass "Postfix received only the 2 local RCPTs of each of $a's 4 sessions"
    else
        status=1 out=$lines err=
        fail "Postfix received only the 2 local RCPTs of each of $a's 4 sessions ($n sessions)"
    fi
done

run ctl revoke "$roam"
expect_status 0 "popauthctl revoke $roam"
battery_check "roaming user $roam after the revoke" "$roam" "$srv" "x@local.test" refused

# --- 2. smtp-sink and the recording backend --------------------------------------------

echo "# 2. smtp-sink and the recording backend"
sink_sessions() { grep -c '^smtp-sink: disconnect' "$SINK_LOG"; }
sink_ends() { grep -c '^smtp-sink: \.$' "$SINK_LOG"; }
# sink_settle N: wait (5 s) until smtp-sink has ended N sessions
sink_settle()
{
    local i
    for ((i = 0; i < 50; i++)); do
        [ "$(sink_sessions)" -ge "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

open_data='MAIL FROM:<x@far.test>\r\nRCPT TO:<alice@local.test>\r\nDATA\r\n'

# Pipelining through smtp-sink: one write, replies in order, smtpgate's 554s among them.
pipe='MAIL FROM:<x@far.test>\r\nRCPT TO:<alice@local.test>\r\nRCPT TO:<u@far.test>\r\nRCPT TO:<bob@local.test>\r\nNOOP\r\nRCPT TO:<v@far.test>\r\nDATA\r\n'
s0=$(sink_sessions)
run sc "$third" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$pipe" recv 7 \
    send 'Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n' recv 2 close
expect_codes "220 250 250 250 554 250 250 554 354 250 221" "sink, third party: 7 pipelined commands answered in order"
[ "$(final 5)" = "$DENIED" ] && pass "sink, third party: the refusal is '$DENIED'" ||
    fail "sink, third party: the refusal is '$DENIED' (got '$(final 5)')"
sink_settle $((s0 + 1)) || fail "smtp-sink did not end the pipelined session"
file_lacks "$SINK_LOG" "u@far.test" "sink: the refused RCPT u@far.test never reached the backend"
file_lacks "$SINK_LOG" "v@far.test" "sink: the refused RCPT v@far.test never reached the backend"
if grep -qF 'X-Rcpt-Args: <alice@local.test>' "$SINK_DUMP" && grep -qF 'X-Rcpt-Args: <bob@local.test>' "$SINK_DUMP" &&
    grep -qF 'Subject: pipelined' "$SINK_DUMP"; then
    pass "sink: the pipelined message arrived with both local recipients"
else
    status=1 out=$(tail -n 20 "$SINK_DUMP") err=
    fail "sink: the pipelined message arrived with both local recipients"
fi
run sc "$lan" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$pipe" recv 7 \
    send 'Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n' recv 2 close
expect_codes "220 250 250 250 250 250 250 250 354 250 221" "sink, local network: 7 pipelined commands, all accepted, in order"
run sc "$third6" -t 10 "$srv6" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$pipe" recv 7 \
    send 'Subject: pipelined\r\n\r\nhello\r\n.\r\nQUIT\r\n' recv 2 close
expect_codes "220 250 250 250 554 250 250 554 354 250 221" "sink, third party over IPv6: pipelined, in order"

# The backend answers MAIL 0.3 s late: the 554 for the next RCPT must still come after it.
run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send 'MAIL FROM:<x@far.test>\r\nRCPT TO:<u@far.test>\r\nRCPT TO:<alice@local.test>\r\nRSET\r\nQUIT\r\n' \
    recv 5 close
expect_codes "220 250 250 554 250 250 221" "slow backend: smtpgate's own 554 waits for the backend's earlier reply"

# A 2 MB message, with a 100 KB line and dot-stuffed lines, streams through unchanged:
# the backend receives exactly the commands as sent and the message byte for byte.
big=$work/big.msg
perl -e 'print "Subject: big\r\n\r\n"; print "x" x 70, "\r\n" for 1 .. 30000;
    print "y" x 100000, "\r\n", "..stuffed\r\n", "..\r\n", "z\r\n.\r\n"' >"$big"
rec=$(rec_next main)
run sc "$lan" -t 20 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$open_data" recv 3 \
    file "$big" recv 1 send 'QUIT\r\n' recv 1 close
expect_codes "220 250 250 250 354 250 221" "a 2 MB message with a 100 KB line: accepted"
rec_wait "$rec" || fail "2 MB message: the backend session did not end"
{ printf 'EHLO client.far.test\r\n%b' "$open_data"; cat "$big"; printf 'QUIT\r\n'; } >"$work/big.want"
if cmp -s "$work/big.want" "$rec"; then
    pass "a 2 MB message: the backend received the session byte for byte"
else
    status=1 out=$(cmp "$work/big.want" "$rec" 2>&1) err=
    fail "a 2 MB message: the backend received the session byte for byte"
fi

# Smuggling: each vector inside DATA, then a smuggled transaction for a foreign domain.
vectors=('\n.\n' '\r.\r' '\r.\n' '\n.\r' '\n.\r\n' '\r\n.\n' '\r\n.\r' '\r\n\0.\r\n')
smuggled='MAIL FROM:<smuggler@far.test>\r\nRCPT TO:<smuggled@far.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\nQUIT\r\n'
for v in "${vectors[@]}"; do
    s0=$(sink_sessions) e0=$(sink_ends)
    run sc "$third" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$open_data" \
        recv 3 send "Subject: vector\\r\\n\\r\\nhello$v$smuggled" recv 1 close
    if [ "$status" -eq 0 ] && [[ $(final 6) == "554 5.5.0"* ]] && grep -q '^closed after' <<<"$out"; then
        pass "sink, vector $v: 554 5.5.0 and the connection is closed"
    else
        fail "sink, vector $v: 554 5.5.0 and the connection is closed"
    fi
    sink_settle $((s0 + 1)) || fail "sink, vector $v: smtp-sink did not see the session end"
    file_lacks "$SINK_LOG" "smuggled@far.test" "sink, vector $v: the smuggled RCPT never reached the backend"
    file_lacks "$SINK_DUMP" "smuggled" "sink, vector $v: no smuggled byte reached the backend"
    if [ "$(sink_ends)" -eq "$e0" ]; then
        pass "sink, vector $v: the backend saw no end of data"
    else
        fail "sink, vector $v: the backend saw no end of data"
    fi
done
# The same, one byte per write, against the recording backend: the raw bytes it got.
for v in "${vectors[@]}"; do
    rec=$(rec_next main)
    run sc "$third" -t 15 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$open_data" \
        recv 3 slow 0.002 "Subject: vector\\r\\n\\r\\nhello$v$smuggled" recv 1 close
    if [ "$status" -eq 0 ] && [[ $(final 6) == "554 5.5.0"* ]] && grep -q '^closed after' <<<"$out"; then
        pass "recorder, vector $v byte by byte: 554 5.5.0 and the connection is closed"
    else
        fail "recorder, vector $v byte by byte: 554 5.5.0 and the connection is closed"
    fi
    rec_wait "$rec" || fail "recorder, vector $v: the backend session did not end"
    file_lacks "$rec" "smuggled" "recorder, vector $v: no smuggled byte reached the backend"
    if [ -e "$rec" ] && perl -0777 -ne 'exit((/\r(?!\n)|(?<!\r)\n|\0/ || /\r\n\.\r\n/) ? 1 : 0)' "$rec"; then
        pass "recorder, vector $v: no bare CR, bare LF, NUL or end of data reached the backend"
    else
        status=1 out=$(od -c "$rec" 2>&1 | tail -n 8) err=
        fail "recorder, vector $v: no bare CR, bare LF, NUL or end of data reached the backend"
    fi
done

# Bare LF, bare CR and NUL in command lines.
for bad in 'NOOP\nRCPT TO:<smuggled@far.test>\r\n' 'NOOP\rRCPT TO:<smuggled@far.test>\r\n' \
    'RCPT TO:<alice@local.test>\0RCPT TO:<smuggled@far.test>\r\n'; do
    rec=$(rec_next main)
    run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
        send 'MAIL FROM:<x@far.test>\r\n' recv 1 send "$bad" recv 1 close
    if [ "$status" -eq 0 ] && [[ $(final 4) == "500 5.5.2"* ]] && grep -q '^closed after' <<<"$out"; then
        pass "command line '$bad': 500 5.5.2 and the connection is closed"
    else
        fail "command line '$bad': 500 5.5.2 and the connection is closed"
    fi
    rec_wait "$rec" || fail "command line '$bad': the backend session did not end"
    file_lacks "$rec" "smuggled" "command line '$bad': nothing of it reached the backend"
done

# The EHLO reply, cut down to what smtpgate understands.
run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 send 'QUIT\r\n' recv 1 close
ehlo=$(tr -d '\r' <<<"$out" | sed -n '/^250-recorder/,/^250 /p')
missing='' present=''
for k in PIPELINING 'SIZE 10240000' 8BITMIME DSN ENHANCEDSTATUSCODES 'AUTH PLAIN'; do
    grep -qE "^250[- ]$k\$" <<<"$ehlo" || missing+=" $k"
done
for k in STARTTLS CHUNKING XCLIENT XFORWARD SMTPUTF8 X-EXPERIMENTAL; do
    grep -q "$k" <<<"$ehlo" && present+=" $k"
done
[ -z "$missing" ] && pass "EHLO keeps PIPELINING, SIZE, 8BITMIME, DSN, ENHANCEDSTATUSCODES, AUTH" ||
    fail "EHLO keeps PIPELINING, SIZE, 8BITMIME, DSN, ENHANCEDSTATUSCODES, AUTH (missing:$missing)"
[ -z "$present" ] && pass "EHLO drops STARTTLS, CHUNKING, XCLIENT, XFORWARD, SMTPUTF8 and unknown keywords" ||
    fail "EHLO drops STARTTLS, CHUNKING, XCLIENT, XFORWARD, SMTPUTF8 and unknown keywords (kept:$present)"

# STARTTLS with commands in the same packet: 502, then the rest as ordinary commands.
rec=$(rec_next main)
run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send 'STARTTLS\r\nMAIL FROM:<x@far.test>\r\nRCPT TO:<alice@local.test>\r\nRCPT TO:<u@far.test>\r\n' \
    recv 4 send 'BDAT 10 LAST\r\nQUIT\r\n' recv 2 close
expect_codes "220 250 502 250 250 554 502 221" "STARTTLS + 3 commands in one packet: 502, then the commands as pipelined"
[[ $(final 3) == "502 5.5.1"* ]] && pass "STARTTLS: 502 5.5.1" || fail "STARTTLS: 502 5.5.1 (got '$(final 3)')"
rec_wait "$rec" || fail "STARTTLS: the backend session did not end"
file_lacks "$rec" "STARTTLS" "STARTTLS never reaches the backend"
file_lacks "$rec" "BDAT" "BDAT never reaches the backend"
if [ -e "$rec" ] && [ "$(grep -c 'MAIL FROM:<x@far.test>' "$rec")" -eq 1 ]; then
    pass "the command after STARTTLS reached the backend once, in plain text"
else
    fail "the command after STARTTLS reached the backend once, in plain text"
fi

# SMTP AUTH: a 235 from the backend permits relaying on that connection.
run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send 'AUTH PLAIN AHVzZXIAc2VjcmV0\r\n' recv 1 send 'MAIL FROM:<x@far.test>\r\nRCPT TO:<u@far.test>\r\nQUIT\r\n' \
    recv 3 close
expect_codes "220 250 235 250 250 221" "AUTH accepted by the backend (235): relaying is permitted"
run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send 'AUTH PLAIN\r\n' recv 1 send 'AHVzZXIAc2VjcmV0\r\n' recv 1 \
    send 'MAIL FROM:<x@far.test>\r\nRCPT TO:<u@far.test>\r\nQUIT\r\n' recv 3 close
expect_codes "220 250 334 235 250 250 221" "AUTH with a continuation line (334, 235): relaying is permitted"
run sc "$third" -t 10 "$srv" 2528 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send 'AUTH PLAIN AGJhZABiYWRwYXNz\r\n' recv 1 send 'MAIL FROM:<x@far.test>\r\nRCPT TO:<u@far.test>\r\nQUIT\r\n' \
    recv 3 close
expect_codes "220 250 535 250 554 221" "AUTH refused by the backend (535): relaying is refused"
if grep -q 'permit-auth' "$work/gate-rec.err"; then pass "smtpgate logs permit-auth"; else fail "smtpgate logs permit-auth"; fi

# A line too long: 500 5.5.2, and the session goes on.
long=$(printf 'a%.0s' $(seq 600))
run sc "$third" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send "MAIL FROM:<$long@far.test>\\r\\nNOOP\\r\\nQUIT\\r\\n" recv 3 close
expect_codes "220 250 500 250 221" "a 620-byte command: refused, the session goes on"
[[ $(final 3) == "500 5.5.2"* ]] && pass "a 620-byte command: 500 5.5.2" ||
    fail "a 620-byte command: 500 5.5.2 (got '$(final 3)')"
file_lacks "$SINK_LOG" "aaaaaaaaaaaaaaaaaaaa" "the long line never reached the backend"

# proxy_max_recipients = 100: the 101st RCPT is refused and never forwarded.
rcpts=''
for i in $(seq 101); do rcpts+="RCPT TO:<r$i@local.test>\\r\\n"; done
s0=$(sink_sessions)
run sc "$lan" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send "MAIL FROM:<x@far.test>\\r\\n${rcpts}QUIT\\r\\n" recv 103 close
# Replies: greeting, EHLO, MAIL, RCPT 1..100 (4th to 103rd), RCPT 101, QUIT.
n250=$(codes | tr ' ' '\n' | sed -n '4,103p' | grep -c '^250$')
if [ "$n250" -eq 100 ] && [[ $(final 104) == 452* ]]; then
    pass "proxy_max_recipients=100: 100 RCPTs accepted, the 101st gets 452"
else
    fail "proxy_max_recipients=100: 100 RCPTs accepted, the 101st gets 452 ($n250 accepted, then '$(final 104)')"
fi
sink_settle $((s0 + 1)) || fail "smtp-sink did not end the max_recipients session"
if grep -qF 'RCPT TO:<r100@local.test>' "$SINK_LOG" && ! grep -qF 'r101@local.test' "$SINK_LOG"; then
    pass "proxy_max_recipients=100: the backend got RCPT 100 but not 101"
else
    fail "proxy_max_recipients=100: the backend got RCPT 100 but not 101"
fi

# proxy_max_connections = 5, proxy_max_connections_per_client = 3.
sc "$third" -t 5 -n 4 --hold 4 "$srv" 2532 >"$work/limits.out" 2>&1 &
holder=$!
for ((i = 0; i < 100; i++)); do
    grep -q '^connections=' "$work/limits.out" && break
    sleep 0.1
done
status=0 out=$(cat "$work/limits.out") err=
expect_out "connections=4 greeted=3 refused=1 other=0 closed=0" "per client: 3 connections from $third served, the 4th refused"
expect_out "4: 421 4.7.0 Too many connections" "per client: the refusal is 421 4.7.0"
run sc "$roam" -t 5 -n 3 "$srv" 2532
expect_out "connections=3 greeted=2 refused=1 other=0 closed=0" "in all: 2 more from $roam served, the 6th connection refused"
expect_out "3: 421 4.7.0 Too many connections" "in all: the refusal is 421 4.7.0"
wait "$holder"
ok=0
for ((i = 0; i < 30; i++)); do
    run sc "$third" -t 5 -n 3 "$srv" 2532
    grep -q "greeted=3" <<<"$out" && ok=1 && break
    sleep 0.1
done
[ "$ok" -eq 1 ] && pass "connections closed: their slots are free again" ||
    fail "connections closed: their slots are free again"

# IPv6 clients count per /64: $third6 and $roam6 share one, so they share the limit of 3.
sc "$third6" -t 5 -n 3 --hold 4 "$srv6" 2532 >"$work/limits6.out" 2>&1 &
holder=$!
for ((i = 0; i < 100; i++)); do
    grep -q '^connections=' "$work/limits6.out" && break
    sleep 0.1
done
status=0 out=$(cat "$work/limits6.out") err=
expect_out "connections=3 greeted=3 refused=0 other=0 closed=0" "per /64: 3 connections from $third6 served"
run sc "$roam6" -t 5 -n 1 "$srv6" 2532
expect_out "connections=1 greeted=0 refused=1 other=0 closed=0" "per /64: $roam6, in the same /64 as $third6, is refused"
expect_out "1: 421 4.7.0 Too many connections" "per /64: the refusal is 421 4.7.0"
run sc "$third" -t 5 -n 1 "$srv" 2532
expect_out "connections=1 greeted=1 refused=0 other=0 closed=0" "per /64: an IPv4 client is still served meanwhile"
wait "$holder"

# SESSION_MAX_ERRORS = 20 errors answered by smtpgate itself (here 10 refused RCPTs and 10
# unknown commands): the 20th is followed by "421 4.7.0 Too many errors" and the close;
# the NOOP after them is never answered nor forwarded.
errs='MAIL FROM:<x@far.test>\r\n'
for i in $(seq 10); do errs+="RCPT TO:<e$i@far.test>\\r\\nXYZZY$i\\r\\n"; done
s0=$(sink_sessions)
run sc "$third" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 \
    send "${errs}NOOP errors\\r\\n" recv 22 close
want="220 250 250$(for i in $(seq 10); do printf ' 554 500'; done) 421"
expect_codes "$want" "20 errors answered by smtpgate: then 421 and nothing more"
if [[ $(final 24) == "421 4.7.0 Too many errors"* ]] && grep -q '^closed after' <<<"$out"; then
    pass "20 errors: 421 4.7.0 Too many errors, and the connection is closed"
else
    fail "20 errors: 421 4.7.0 Too many errors, and the connection is closed (got '$(final 24)')"
fi
grep -q "reason=\"too many errors\" errors=20" "$work/gate-sink.err" &&
    pass "20 errors: smtpgate logs the close" || fail "20 errors: smtpgate logs the close"
sink_settle $((s0 + 1)) || fail "smtp-sink did not end the too-many-errors session"
file_lacks "$SINK_LOG" "NOOP errors" "20 errors: the command after them never reached the backend"

# Timeouts (in parallel): command 2 s, data 4 s per block, a slow but steady sender,
# and a sender below proxy_min_data_rate (256 bytes/s).
line=$(head -c 98 /dev/zero | tr '\0' x)
block=''
for i in $(seq 10); do block+="$line\\r\\n"; done
steady=()
for i in 1 2 3 4 5 6; do steady+=(send "$block" sleep 1); done
trickle=() # 15 s at 4 bytes/s: DATA may last 4 s + bytes / 256, so it must be cut after ~4 s
for i in $(seq 60); do trickle+=(send x sleep 0.25); done
sc "$third" -t 10 "$srv" 2526 recv 1 close >"$work/t-cmd.out" 2>&1 &
t_cmd=$!
sc "$third" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$open_data" recv 3 \
    send 'Subject: slow\r\n\r\npartial' close >"$work/t-data.out" 2>&1 &
t_data=$!
sc "$lan" -t 10 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$open_data" recv 3 \
    send 'Subject: steady\r\n\r\n' "${steady[@]}" send '.\r\nQUIT\r\n' recv 2 close >"$work/t-steady.out" 2>&1 &
t_steady=$!
sc "$third" -t 40 "$srv" 2526 recv 1 send 'EHLO client.far.test\r\n' recv 1 send "$open_data" recv 3 \
    send 'Subject: trickle\r\n\r\n' "${trickle[@]}" close >"$work/t-rate.out" 2>&1 &
t_rate=$!
# Backends that fail: down, never speaking, stopping mid-session (also in parallel).
sc "$third" -t 10 "$srv" 2534 recv 1 close >"$work/b-down.out" 2>&1 &
b_down=$!
sc "$third" -t 10 "$srv" 2536 recv 1 close >"$work/b-hang.out" 2>&1 &
b_hang=$!
sc "$third" -t 10 "$srv" 2538 recv 1 send 'EHLO client.far.test\r\n' recv 1 send 'MAIL FROM:<x@far.test>\r\n' \
    recv 1 close >"$work/b-stuck.out" 2>&1 &
b_stuck=$!

wait "$t_cmd"
status=$? out=$(cat "$work/t-cmd.out") err=
secs=$(closed_after)
[[ $(final 2) == "421 4.4.2"* ]] && between "$secs" 1.5 4 &&
    pass "proxy_command_timeout=2s: an idle client gets 421 4.4.2 and is closed after $secs s" ||
    fail "proxy_command_timeout=2s: an idle client gets 421 4.4.2 and is closed after ~2 s"
wait "$t_data"
status=$? out=$(cat "$work/t-data.out") err=
secs=$(closed_after)
[[ $(final 6) == "421 4.4.2"* ]] && between "$secs" 3.5 7 &&
    pass "proxy_data_timeout=4s: a stalled DATA gets 421 4.4.2 and is closed after $secs s" ||
    fail "proxy_data_timeout=4s: a stalled DATA gets 421 4.4.2 and is closed after ~4 s"
wait "$t_steady"
status=$? out=$(cat "$work/t-steady.out") err=
expect_codes "220 250 250 250 354 250 221" "6 s of DATA in 1 KB blocks a second apart: accepted (the timeout is per block)"
wait "$t_rate"
status=$? out=$(cat "$work/t-rate.out") err=
secs=$(closed_after) # since the last byte sent: under 1 s if it was cut while sending
if [[ $(final 6) == 421* ]] && between "$secs" 0 1; then
    pass "DATA at 4 bytes/s (proxy_min_data_rate=256): cut off while sending, with 421"
else
    fail "DATA at 4 bytes/s (proxy_min_data_rate=256): cut off while sending, with 421"
fi
wait "$b_down"
status=$? out=$(cat "$work/b-down.out") err=
secs=$(closed_after)
[[ $(final 1) == "421 4.3.2"* ]] && between "$secs" 0 3 &&
    pass "backend down: 421 4.3.2 at connect, closed after $secs s" ||
    fail "backend down: 421 4.3.2 at connect, closed at once"
wait "$b_hang"
status=$? out=$(cat "$work/b-hang.out") err=
secs=$(closed_after)
[[ $(final 1) == "421 4.4.2"* ]] && between "$secs" 1.5 5 &&
    pass "backend never speaks (proxy_backend_timeout=2s): 421 4.4.2 and closed after $secs s" ||
    fail "backend never speaks (proxy_backend_timeout=2s): 421 4.4.2 and closed after ~2 s"
wait "$b_stuck"
status=$? out=$(cat "$work/b-stuck.out") err=
secs=$(closed_after)
[[ $(final 3) == "451 4.4.2"* ]] && between "$secs" 1.5 5 &&
    pass "backend stops answering MAIL (proxy_backend_timeout=2s): 451 4.4.2 and closed after $secs s" ||
    fail "backend stops answering MAIL (proxy_backend_timeout=2s): 451 4.4.2 and closed after ~2 s"

# proxy_client_identity = haproxy: a PROXY v1 line first, then the dialogue.
for pair in "$third $srv TCP4" "$third6 $srv6 TCP6"; do
    read -r src dst proto <<<"$pair"
    rec=$(rec_next hap)
    run sc "$src" -v -t 10 "$dst" 2530 recv 1 send 'EHLO client.far.test\r\n' recv 1 send 'QUIT\r\n' recv 1 close
    sport=$(sed -n 's/^local [^ ]* \([0-9]*\)$/\1/p' <<<"$err")
    expect_codes "220 250 221" "haproxy $proto: the session works"
    rec_wait "$rec" || fail "haproxy $proto: the backend session did not end"
    header="PROXY $proto $src $dst $sport 2530"
    first=$(head -n 1 "$rec" 2>/dev/null)
    if [ "$first" = "$header"$'\r' ] && [ "$(grep -c '^PROXY ' "$rec")" -eq 1 ]; then
        pass "haproxy $proto: the backend's first line is '$header'"
    else
        status=1 out=$(od -c "$rec" 2>&1 | head -n 6) err=
        fail "haproxy $proto: the backend's first line is '$header' (got '${first%$'\r'}')"
    fi
    if [ "$(sed -n 2p "$rec" 2>/dev/null)" = $'EHLO client.far.test\r' ]; then
        pass "haproxy $proto: the client's EHLO follows it"
    else
        fail "haproxy $proto: the client's EHLO follows it"
    fi
done

# --- every smtpgate ------------------------------------------------------------------------

for g in "${gates[@]}"; do
    read -r name pid <<<"$g"
    f=$work/gate-$name.err
    if kill -0 "$pid" 2>/dev/null; then pass "smtpgate $name still runs"; else fail "smtpgate $name still runs"; fi
    if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$f"; then
        status=1 out=$(grep -m3 -E 'Sanitizer|runtime error' "$f") err=
        fail "smtpgate $name: no sanitizer report"
    else
        pass "smtpgate $name: no sanitizer report"
    fi
    file_lacks "$f" "AHVzZXIAc2VjcmV0" "smtpgate $name: no AUTH credentials in its log"
done
file_lacks "$work/gate-rec.err" "AGJhZABiYWRwYXNz" "smtpgate rec: no refused AUTH credentials in its log"
for g in "${gates[@]}"; do
    read -r name pid <<<"$g"
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; then
        status=999 out='' err=$(tail -n 5 "$work/gate-$name.err")
        fail "smtpgate $name still runs 5 s after SIGTERM"
    else
        wait "$pid"
        status=$? out='' err=$(tail -n 5 "$work/gate-$name.err")
        expect_status 0 "smtpgate $name exits 0 on SIGTERM"
    fi
done
postfix_stop

[ "$failed" -eq 0 ] || show_logs
finish
