#!/usr/bin/env bash
# A mail cluster on one Redis store with Sentinel, all real servers, each host a network
# namespace of its own on one LAN (redis_lib.sh):
#   r1, r2          a Redis primary and its replica (requirepass, and an ACL user "gate"
#                   that may only read popauth's keys)
#   s1, s2, s3      three Sentinels (quorum 2, down-after-milliseconds 1000)
#   popa, popb      Dovecot (POP3, IMAP) and popauth following Dovecot's log, on
#                   database = redis-sentinel://s1,s2,s3/popauth, redis_wait_replicas = 1,
#                   redis_node_name A or B, the password in a one-line file
#   gatea, gateb    Postfix asking smtpgate (policy front on 127.0.0.1:10040), smtpgate on
#                   the same Sentinels as the ACL user "gate" (a two-line password file)
#   client          the roaming user (.50, and more addresses for more logins)
#   third           a third party (.51) that never logs in
# Checks:
#   1. a POP3 login on popa lets the client relay through gateb and gatea (swaks, 250),
#      and smtpgate logged permit-grant; refused (554) before the login; the same through
#      gatea's SMTP proxy front, and gateb's milter front (which its Postfix also asks)
#      permitted it;
#   2. `popauthctl revoke` on popb takes effect on both gates (554), and a new login (on
#      popb) grants again on both;
#   3. while the primary is stopped (SIGSTOP, under half a second), a gate answers a question
#      that needs no store at once on another connection, and the question waiting for
#      the grant is answered after SIGCONT: smtpgate never blocks on Redis; three
#      questions sent at once on one connection are answered in their order;
#   4. the primary is SIGKILLed: Sentinel promotes the replica; while no Sentinel names the
#      new primary both gates defer (4xx through Postfix, DEFER_IF_REJECT from smtpgate),
#      never permit, the granted client; afterwards both permit it again; every grant
#      that was on the replica before the kill is on the new primary; logins made on both
#      POP hosts during the switch are granted once the old primary is back as a replica
#      (the commits wait for one replica), each login counted once although its batch was
#      sent again; popauth logs the failed commit and the recovery, its log positions in
#      Redis reach the end of Dovecot's log, and its counters match Dovecot's logins; the
#      restarted old primary, an empty primary until Sentinel demotes it, is never read;
#   5. the third party is refused at both gates before, during and after the failover.
# Needs root, redis-server, redis-sentinel, redis-tools, postfix, swaks, dovecot-pop3d,
# dovecot-imapd, netcat-openbsd, iproute2, jq. Takes about 30 s.
# Usage: redis_cluster.sh BINDIR
set -u
bindir=${1:?usage: redis_cluster.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"
# shellcheck source=tests/integration/redis_lib.sh
. "$here/redis_lib.sh"

# Logs shown after a failure (only those that exist).
show_logs()
{
    local h
    [ -n "${work:-}" ] || return 0
    for h in popa popb; do show_tails "$work/$h/popauth.err" "$work/$h/dovecot.log"; done
    for h in gatea gateb; do show_tails "$work/$h/smtpgate.err" "$work/$h/postfix/log/maillog"; done
    for h in r1 r2 s1 s2 s3; do show_tails "$work/$h/$h.log"; done
}

die()
{
    echo "FAIL - $*"
    show_logs
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

require_built "$bindir" popauth popauthctl smtpgate policy_client
require_packages redis-server redis-sentinel redis-tools postfix swaks dovecot-pop3d \
    dovecot-imapd netcat-openbsd iproute2 jq
require_commands redis-server redis-sentinel redis-cli jq swaks postfix

work=$(mktemp -d /tmp/pa-rcl.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
# cluster_setup chains this after netns.sh's cleanup. Not "$work": the trap may run inside
# netns.sh's dovecot_start or postfix_start, whose own local "work" would hide ours.
rcl_work=$work
trap 'rm -rf "$rcl_work"' EXIT

t_start=$(date +%s)
REDIS_PASS=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
gate_pass=$(head -c 18 /dev/urandom | base64 | tr -d '+/=')
master=popauth
port=10040 proxy_port=2525 milter_port=10041
far=u@far.test

cluster_setup || die "could not set up the LAN namespace"
N=$CLUSTER_NET
r1=$N.11 r2=$N.12
roam=$N.50 third=$N.51
if ! { cluster_host r1 "$r1" && cluster_host r2 "$r2" \
    && cluster_host s1 "$N.21" && cluster_host s2 "$N.22" && cluster_host s3 "$N.23" \
    && cluster_host popa "$N.31" && cluster_host popb "$N.32" \
    && cluster_host gatea "$N.41" && cluster_host gateb "$N.42" \
    && cluster_host client "$roam" "$N.52" "$N.53" "$N.54" "$N.55" "$N.56" \
    && cluster_host third "$third"; }; then
    die "could not make the hosts"
fi
declare -A addr=([popa]=$N.31 [popb]=$N.32 [gatea]=$N.41 [gateb]=$N.42)
pass "11 hosts on LAN $N.0/24 (namespaces ${NETNS_PREFIX}*)"

# --- Redis and Sentinel ---------------------------------------------------------------
# The same ACL on both servers (ACLs are not replicated): "gate" reads popauth's keys and
# may run only what smtpgate runs.
acl="user gate on >$gate_pass resetkeys %R~popauth:* resetchannels -@all +hmget +get +role +ping"
redis_start r1 "${CLUSTER_NS[r1]}" "$work/r1" "$r1" 6379 "$acl" || die "Redis r1 did not start"
redis_start r2 "${CLUSTER_NS[r2]}" "$work/r2" "$r2" 6379 "$acl" "replicaof $r1 6379" \
    || die "Redis r2 did not start"
for i in 1 2 3; do
    sentinel_start "s$i" "${CLUSTER_NS[s$i]}" "$work/s$i" "$N.2$i" "$master" "$r1" 6379 2 \
        || die "Sentinel s$i did not start"
done

# Ready for a failover: the replica is in sync, and every Sentinel knows the other two
# and the replica.
replica_online() { rcli "${CLUSTER_NS[$1]}" "$2" 6379 INFO replication | grep -q "^slave0:ip=$3,port=6379,state=online"; }
sentinels_ready()
{
    local i
    for i in 1 2 3; do
        timeout 5 ip netns exec "${CLUSTER_NS[s$i]}" redis-cli -h "$N.2$i" -p 26379 \
            SENTINEL ckquorum "$master" 2>/dev/null | grep -q '^OK 3 usable' || return 1
        timeout 5 ip netns exec "${CLUSTER_NS[s$i]}" redis-cli -h "$N.2$i" -p 26379 --raw \
            SENTINEL replicas "$master" 2>/dev/null | grep -qx "$r2" || return 1
    done
}
redis_wait "the replica in sync" 20 replica_online r1 "$r1" "$r2" || die "r2 is not r1's replica"
redis_wait "three Sentinels that know each other and the replica" 30 sentinels_ready \
    || die "the Sentinels are not ready"
pass "Redis primary $r1, replica $r2, three Sentinels (quorum 2) watching '$master'"

sentinels="redis-sentinel://$N.21:26379,$N.22:26379,$N.23:26379/$master"

# --- POP hosts: Dovecot and popauth ---------------------------------------------------
declare -A dlog=() ppid=() perr=()
for h in popa popb; do
    mkdir -p "$work/$h"
    NETNS_SERVER=${CLUSTER_NS[$h]} DOVECOT_PID=
    dovecot_start "$work/$h" "${addr[$h]}" || die "Dovecot on $h did not start"
    dlog[$h]=$DOVECOT_LOG
    printf '%s\n' "$REDIS_PASS" >"$work/$h/redis.pass"
    chmod 600 "$work/$h/redis.pass"
    node=A
    [ "$h" = popb ] && node=B
    cat >"$work/$h/popauth.conf" <<EOF
database = $sentinels
database_password_file = $work/$h/redis.pass
redis_node_name = $node
redis_wait_replicas = 1
redis_timeout_ms = 1000
log_sources = file:${dlog[$h]}
grant_lifetime = 30m
local_networks = 127.0.0.0/8
EOF
done
DOVECOT_PID="" NETNS_SERVER=""

for h in popa popb; do
    perr[$h]=$work/$h/popauth.err
    netns_bg "${CLUSTER_NS[$h]}" "$bindir/popauth" -c "$work/$h/popauth.conf" >"${perr[$h]}" 2>&1
    ppid[$h]=$NETNS_LAST_PID
done
for h in popa popb; do
    netns__wait "${ppid[$h]}" netns_has_open "${ppid[$h]}" "${dlog[$h]}" \
        || die "popauth on $h did not start following ${dlog[$h]}"
done
pass "Dovecot and popauth (redis_node_name A, B; redis_wait_replicas = 1) on popa and popb"

# --- Gates: smtpgate and Postfix -----------------------------------------------------
declare -A gerr=() gpid=()
for h in gatea gateb; do
    mkdir -p "$work/$h"
    printf 'gate\n%s\n' "$gate_pass" >"$work/$h/redis.pass"
    chmod 640 "$work/$h/redis.pass"
    # gatea also runs the SMTP proxy front in front of its Postfix (which then learns the
    # client from XCLIENT), gateb the milter front that its Postfix asks too: every front
    # reads Redis.
    if [ "$h" = gatea ]; then
        front="proxy_listen = inet:${addr[$h]}:$proxy_port
proxy_backend = inet:${addr[$h]}:25
proxy_client_identity = xclient" postfix_more=("smtpd_authorized_xclient_hosts = ${addr[$h]}")
    else
        front="milter_listen = inet:127.0.0.1:$milter_port"
        postfix_more=("smtpd_milters = inet:127.0.0.1:$milter_port" "milter_default_action = tempfail")
    fi
    cat >"$work/$h/smtpgate.conf" <<EOF
database = $sentinels
database_password_file = $work/$h/redis.pass
redis_timeout_ms = 1000
policy_listen = inet:127.0.0.1:$port
local_networks = 127.0.0.0/8
local_domains = local.test
$front
EOF
    smtpgate_start_conf "$bindir" "$work/$h/smtpgate.conf" "${CLUSTER_NS[$h]}" "$port" \
        "$work/$h/smtpgate.err" || die "smtpgate on $h did not start"
    gerr[$h]=$SMTPGATE_ERR gpid[$h]=$SMTPGATE_PID
    NETNS_SERVER=${CLUSTER_NS[$h]} POSTFIX_PID=
    postfix_start "$work/$h" "${addr[$h]}" "127.0.0.1:$port" "${postfix_more[@]}" \
        || die "Postfix on $h did not start"
done
POSTFIX_PID="" NETNS_SERVER=""
netns_wait_listen "${CLUSTER_NS[gatea]}" "$proxy_port" 1 10 || die "smtpgate's proxy front on gatea does not listen"
netns_wait_listen "${CLUSTER_NS[gateb]}" "$milter_port" 1 10 || die "smtpgate's milter front on gateb does not listen"
pass "Postfix and smtpgate (as ACL user gate) on gatea (policy, proxy) and gateb (policy, milter)"

# --- Helpers ---------------------------------------------------------------------------

# ctl HOST ARG...: popauthctl on HOST with HOST's configuration
ctl() { ip netns exec "${CLUSTER_NS[$1]}" "$bindir/popauthctl" -c "$work/$1/popauth.conf" "${@:2}"; }

# smtp LABEL FROM SRC GATE EXPECT: swaks from namespace FROM (client or third), bound to
# SRC, through GATE's Postfix to $far; the reply to RCPT TO must start with EXPECT
smtp()
{
    local label=$1 from=$2 src=$3 gate=$4 expect=$5 answer
    if ! answer=$(swaks_rcpt "${CLUSTER_NS[$from]}" "$src" "${addr[$gate]}" "$far" 2>"$work/swaks.err"); then
        answer="no reply to RCPT: $(tail -n 3 "$work/swaks.err" | tr '\n' ' ')"
    fi
    expect_prefix "$label: $src -> $gate's Postfix -> $far" "$expect" "$answer"
}

# ask GATE CLIENT...: smtpgate's answers on GATE for each CLIENT -> $far, the requests
# sent at once on one connection: the action lines, joined by " | "
ask()
{
    local gate=$1 c
    shift
    for c in "$@"; do
        printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=%s\nclient_name=unknown\nhelo_name=h.test\nsender=s@far.test\nrecipient=%s\nrecipient_count=0\nqueue_id=\nsize=0\nsasl_username=\n\n' "$c" "$far"
    done | ip netns exec "${CLUSTER_NS[$gate]}" "$bindir/policy_client" -p "$port" -t 5 2>&1 |
        grep -v '^$' | sed ':a;N;$!ba;s/\n/ | /g'
}

# login pop3|imap HOST USER SRC: log in from the client namespace
login()
{
    "${1}_login" "${CLUSTER_NS[client]}" "${addr[$2]}" "$3" secret "$4"
    status=$? out=$CLIENT_REPLY err=
    expect_status 0 "${1^^} login by $3 on $2 from $4"
}

# granted SRC USER [SECS]: the store (asked from popb) holds a grant for SRC to USER
granted()
{
    local src=$1 user=$2 secs=${3:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        ctl popb show "$src" >/dev/null 2>&1 && break
        sleep 0.1
    done
    run ctl popb show "$src" --json
    expect_json ".address == \"$src\" and .user == \"$user\"" "the store grants $src to $user"
}

# said GATE CLIENT ACTION: GATE's smtpgate logged its last decision for CLIENT -> $far
# with ACTION
said()
{
    local line
    line=$(grep -F " client=$2 recipient=$far " "${gerr[$1]}" | tail -n 1)
    expect_prefix "$1's smtpgate logged" "action=$3 client=$2 " "action=${line#*action=}"
}

# switched: some Sentinel names r2 as the primary
switched()
{
    local i
    for i in 1 2 3; do
        [ "$(sentinel_master "${CLUSTER_NS[s$i]}" "$N.2$i" "$master")" = "$r2 6379" ] && return 0
    done
    return 1
}
all_switched()
{
    local i
    for i in 1 2 3; do
        [ "$(sentinel_master "${CLUSTER_NS[s$i]}" "$N.2$i" "$master")" = "$r2 6379" ] || return 1
    done
}

# smtp_refused LABEL GATE: the third party's relay attempt through GATE's Postfix is
# refused (a 4xx or 5xx reply to RCPT TO)
smtp_refused()
{
    local answer
    answer=$(swaks_rcpt "${CLUSTER_NS[third]}" "$third" "${addr[$2]}" "$far" 2>"$work/swaks.err") ||
        answer="no reply to RCPT: $(tail -n 3 "$work/swaks.err" | tr '\n' ' ')"
    status=0 out=$answer err=
    if [[ $answer =~ ^[45][0-9][0-9]\  ]]; then
        pass "$1: $third -> $2's Postfix -> $far refused: '$answer'"
    else
        fail "$1: $third -> $2's Postfix -> $far refused: '$answer'"
    fi
}

# same LABEL WANT GOT: pass when GOT is WANT
same()
{
    status=0 out=$3 err=
    if [ "$2" = "$3" ]; then pass "$1: $3"; else fail "$1: $3 (wanted $2)"; fi
}

now_ms() { date +%s%3N; }
# secs_since T0 [T1]: seconds from T0 to T1 (now), in milliseconds both, as S.S
secs_since()
{
    local d=$((${2:-$(now_ms)} - $1))
    printf '%d.%d' $((d / 1000)) $((d % 1000 / 100))
}

refuse="554 5.7.1"

# --- 1. A login on popa: relay through both gates ---------------------------------------
echo "# 1. before any login: refused; a POP3 login on popa grants relay at both gates"
for g in gatea gateb; do
    smtp "before login" client "$roam" "$g" "$refuse"
    smtp "third party, before" third "$third" "$g" "$refuse"
done
SWAKS_PORT=$proxy_port smtp "before login, gatea's proxy front" client "$roam" gatea "$refuse"
login pop3 popa alice "$roam"
granted "$roam" alice
smtp "after the login on popa" client "$roam" gateb 250
said gateb "$roam" permit-grant
run grep -F " client=$roam recipient=$far " "${gerr[gateb]}"
expect_out "reply=accept" "gateb's milter front permitted $roam too"
smtp "after the login on popa" client "$roam" gatea 250
said gatea "$roam" permit-grant
SWAKS_PORT=$proxy_port smtp "after the login on popa, gatea's proxy front" client "$roam" gatea 250
said gatea "$roam" permit-grant
for g in gatea gateb; do smtp "third party" third "$third" "$g" "$refuse"; done
SWAKS_PORT=$proxy_port smtp "third party, gatea's proxy front" third "$third" gatea "$refuse"
# Who is connected to the primary: the gates as the ACL user of their two-line password
# files, the popauths as the default user of their one-line files.
run rcli "${CLUSTER_NS[r1]}" "$r1" 6379 CLIENT LIST
clients=$out
for h in gatea gateb popa popb; do
    u=default
    [[ $h == gate* ]] && u=gate
    out=$(grep -E "addr=${addr[$h]//./\\.}:[0-9]+ .* user=$u " <<<"$clients")
    expect_out "user=$u" "$h is connected to the primary as user $u"
done

# --- 2. Revoke on popb ------------------------------------------------------------------
echo "# 2. popauthctl revoke on popb: both gates refuse; a new login (on popb) grants again"
run ctl popb revoke "$roam"
expect_status 0 "popauthctl revoke $roam on popb"
for g in gatea gateb; do smtp "after the revoke" client "$roam" "$g" "$refuse"; done
login pop3 popb bob "$roam"
granted "$roam" bob
for g in gatea gateb; do smtp "after a new login on popb" client "$roam" "$g" 250; done
for g in gatea gateb; do smtp "third party" third "$third" "$g" "$refuse"; done

# --- 3. A gate never waits for Redis in its event loop --------------------------------
echo "# 3. the primary stops answering for a moment: smtpgate serves other questions meanwhile"
# r1 is stopped for under half a second, well within redis_timeout_ms and the Sentinels'
# down-after-milliseconds: the question that needs a grant waits for Redis, while a
# question from a local network, which needs no store, is answered on another
# connection at once; after SIGCONT the first one gets its answer.
kill -STOP "${REDIS_PID[r1]}"
t_stop=$(now_ms)
ask gatea "$roam" >"$work/waiting.out" &
waiting=$!
# Three questions at once on one connection: the first two need Redis, the last one not;
# the answers must come in their order (the third party's is the reject action, DUNNO).
ask gatea "$third" 127.0.0.9 "$roam" >"$work/pipelined.out" &
pipelined=$!
sleep 0.1
fast=$(ask gatea 127.0.0.9)
t_fast=$(now_ms)
status=0
kill -0 "$waiting" 2>/dev/null || status=1
sleep 0.3
kill -CONT "${REDIS_PID[r1]}"
t_cont=$(now_ms)
wait "$waiting"
wait "$pipelined"
out=$(cat "$work/waiting.out") err=""
expect_status 0 "the question for $roam, which needs Redis, was still waiting when the local one was answered"
expect_prefix "the question for $roam after SIGCONT (r1 stopped $((t_cont - t_stop)) ms)" "action=OK" "$out"
same "three questions on one connection ($third, 127.0.0.9, $roam), answered in their order" \
    "action=DUNNO | action=OK | action=OK" "$(cat "$work/pipelined.out")"
same "a local-network question on another connection while Redis was stopped" action=OK "$fast"
status=0
[ $((t_fast - t_stop)) -lt 350 ] || status=1
out="" err=""
expect_status 0 "it was answered $((t_fast - t_stop)) ms after the stop, before the SIGCONT"

# --- 4. Failover ------------------------------------------------------------------------
echo "# 4. the primary is killed: Sentinel promotes the replica"
login pop3 popa alice "$N.54"
login imap popb bob "$N.55"
granted "$N.54" alice
granted "$N.55" bob
run ctl popb list --json
before=$out
expect_json "[\"$roam\", \"$N.54\", \"$N.55\"] - map(.address) == []" \
    "before the kill the store holds the grants of $roam, $N.54 and $N.55"
# With redis_wait_replicas = 1 a commit returns once the replica has it.
on_replica()
{
    local a
    for a in $(jq -r '.[].address' <<<"$before"); do
        [ "$(rcli "${CLUSTER_NS[r2]}" "$r2" 6379 EXISTS "popauth:grant:$a")" = 1 ] || return 1
    done
}
run redis_wait "every grant on the replica" 5 on_replica
expect_status 0 "the replica holds every grant before the kill ($(jq -r 'map(.address) | join(", ")' <<<"$before"))"
for h in popa popb; do
    same "popauth on $h: failed commits before the kill" 0 "$(grep -c 'action=commit status=failed' "${perr[$h]}")"
done

kill -KILL "${REDIS_PID[r1]}"
{ wait "${REDIS_PID[r1]}"; } 2>/dev/null
t_kill=$(now_ms)
pass "SIGKILL to the primary r1 (PID ${REDIS_PID[r1]})"

# probe_round: ask each gate that has not permitted the granted client again about it and
# about the third party. An answer given while no Sentinel named the new primary, before
# and after the request, must be a deferral; once one names it, a permit ends the probing
# of that gate. Anything else for the granted client (DUNNO: no grant) is wrong.
declare -A defers=() permit_at=()
bad=0 third_ok=0 rounds=0
probe_round()
{
    local g s0 s1 a b
    rounds=$((rounds + 1))
    for g in gatea gateb; do
        [ -n "${permit_at[$g]:-}" ] && continue
        s0=0 s1=0
        switched && s0=1
        a=$(ask "$g" "$roam")
        b=$(ask "$g" "$third")
        switched && s1=1
        case $a in
            "action=DEFER_IF_REJECT 4.3.0 "*) defers[$g]=$((${defers[$g]:-0} + 1)) ;;
            action=OK)
                if [ "$s0$s1" = 00 ]; then
                    bad=1
                    echo "# $g permitted $roam while no Sentinel named a new primary"
                else
                    permit_at[$g]=$(now_ms)
                fi
                ;;
            *)
                bad=1
                echo "# $g answered '$a' for $roam"
                ;;
        esac
        [[ $b == action=OK* ]] && third_ok=1
    done
    return 0
}
probe_round

# Through Postfix: the granted client is deferred (450), never relayed. Judged only if no
# Sentinel named the new primary before and after the session.
for g in gatea gateb; do
    s0=0 s1=0
    switched && s0=1
    run swaks_rcpt "${CLUSTER_NS[client]}" "$roam" "${addr[$g]}" "$far"
    switched && s1=1
    if [ "$s0$s1" = 00 ]; then
        expect_prefix "during the switch: $roam -> $g's Postfix -> $far" 4 "$out"
    else
        echo "# note: a Sentinel named the new primary around that session: '$out' not judged"
    fi
done

# Logins on both POP hosts while the primary is down: Dovecot serves them, popauth's
# commits fail and are retried.
switched && echo "# note: a Sentinel already names the new primary"
login pop3 popa alice "$N.52"
login imap popb bob "$N.53"
for g in gatea gateb; do smtp_refused "third party, during the switch" "$g"; done

# Until both gates permit the granted client again.
while [ -z "${permit_at[gatea]:-}" ] || [ -z "${permit_at[gateb]:-}" ]; do
    [ $(($(now_ms) - t_kill)) -gt 40000 ] && break
    sleep 0.2
    probe_round
done
status=$bad out="" err=""
expect_status 0 "every answer for $roam was DEFER_IF_REJECT until a Sentinel named the new primary ($rounds rounds)"
status=$third_ok
expect_status 0 "no gate permitted the third party $third during the switch"
for g in gatea gateb; do
    status=0
    [ "${defers[$g]:-0}" -gt 0 ] || status=1
    expect_status 0 "$g deferred $roam ${defers[$g]:-0} times during the switch"
    if [ -n "${permit_at[$g]:-}" ]; then
        status=0 out="" err=""
        pass "$g permits $roam again, $(secs_since "$t_kill" "${permit_at[$g]}") s after the kill"
    else
        status=1 out="" err=""
        fail "$g does not permit $roam again within 40 s of the kill"
    fi
done
run redis_wait "all three Sentinels naming r2" 20 all_switched
expect_status 0 "all three Sentinels name the new primary $r2"
run rcli "${CLUSTER_NS[r2]}" "$r2" 6379 ROLE
expect_prefix "r2's ROLE" master "$(head -n 1 <<<"$out")"

# Nothing committed before the kill is lost: ask the new primary itself.
newdb="redis://$r2:6379"
run ctl popb -o "database=$newdb" list --json
after=$out
lost=$(jq -n --argjson b "$before" --argjson a "$after" \
    '[$b[] | . as $g | select([$a[] | select(.address == $g.address and .expires >= $g.expires)] | length == 0) | .address]')
out=$lost
expect_json 'length == 0' "the new primary holds every grant made before the kill ($(jq length <<<"$before"))"
for a in "$roam" "$N.54" "$N.55"; do
    run ctl popb -o "database=$newdb" show "$a"
    expect_status 0 "popauthctl show $a on the new primary"
done

for g in gatea gateb; do
    smtp "after the failover" client "$roam" "$g" 250
    smtp "third party, after the failover" third "$third" "$g" "$refuse"
done

for h in popa popb; do
    run grep 'action=commit status=failed' "${perr[$h]}"
    expect_out "action=commit status=failed" "popauth on $h logged the failed commit"
done

# The new primary has no replica: commits that wait for one keep failing (and are retried).
sleep 2.5
for h in popa popb; do
    same "popauth on $h: recoveries while the new primary has no replica" 0 "$(grep -c 'action=commit status=recovered' "${perr[$h]}")"
done
for a in "$N.52" "$N.53"; do
    if ctl popb show "$a" >/dev/null 2>&1; then
        echo "# note: $a is already granted: the script ran on the new primary, only its WAIT failed"
    else
        echo "# note: $a is not granted yet"
    fi
done

# The old primary comes back with its own configuration, an empty primary, until Sentinel
# turns it into a replica of the new one. Meanwhile the gates must keep asking r2.
redis_restart r1 "${CLUSTER_NS[r1]}" "$work/r1" "$r1" 6379 || die "r1 did not restart"
t_back=$(now_ms)
role1=$(rcli "${CLUSTER_NS[r1]}" "$r1" 6379 ROLE | head -n 1)
declare -A probe=()
for g in gatea gateb; do probe[$g]=$(ask "$g" "$roam"); done
role2=$(rcli "${CLUSTER_NS[r1]}" "$r1" 6379 ROLE | head -n 1)
if [ "$role1 $role2" = "master master" ]; then
    for g in gatea gateb; do
        expect_prefix "$g, while the restarted r1 is an empty primary, for $roam" action=OK "${probe[$g]}"
    done
else
    echo "# note: r1 was a replica again at once ($role1, $role2): nothing to judge"
fi
run redis_wait "r1 as r2's replica" 40 replica_online r2 "$r2" "$r1"
expect_status 0 "Sentinel made the restarted r1 a replica of $r2 ($(secs_since "$t_back") s)"

recovered() { grep -q 'action=commit status=recovered' "${perr[$1]}"; }
for h in popa popb; do
    run redis_wait "popauth's recovery on $h" 10 recovered "$h"
    expect_status 0 "popauth on $h logged the recovery of its commits"
done
granted "$N.52" alice
granted "$N.53" bob
smtp "login on popa during the switch" client "$N.52" gateb 250
smtp "login on popb during the switch" client "$N.53" gatea 250
# Their batches were sent again until a replica confirmed them (INSTALL 7.3: with the
# token of the first sending, so nothing is counted twice): one login each.
for a in "$N.52" "$N.53"; do
    run ctl popb show "$a" --json
    expect_json '.logins == 1' "$a: one login, counted once after its batch was sent again"
done

# The positions in Redis reached the end of each Dovecot log.
position_at_end()
{
    local h=$1 node=$2 off
    off=$(rcli "${CLUSTER_NS[r2]}" "$r2" 6379 HGET "popauth:position:$node:file:${dlog[$h]}" offset)
    [ "$off" = "$(stat -c %s "${dlog[$h]}")" ]
}
run redis_wait "A's position" 5 position_at_end popa A
expect_status 0 "popauth A's position in Redis is the end of popa's Dovecot log"
run redis_wait "B's position" 5 position_at_end popb B
expect_status 0 "popauth B's position in Redis is the end of popb's Dovecot log"

# A login after the recovery is granted at once.
login pop3 popa alice "$N.56"
granted "$N.56" alice 5
for g in gatea gateb; do
    smtp "after the recovery" client "$N.56" "$g" 250
    smtp "third party, at the end" third "$third" "$g" "$refuse"
done

# The counters in Redis: as many logins as Dovecot logged, none counted twice.
for h in popa popb; do
    n=$(grep -c -- '-login: Info: Login: ' "${dlog[$h]}")
    run ctl popb stats --json
    expect_json ".sources[\"file:${dlog[$h]}\"].logins == $n" \
        "$h: popauth counted the $n logins Dovecot logged ($(jq -c ".sources[\"file:${dlog[$h]}\"]" <<<"$out" 2>/dev/null))"
done

# Both daemons stop cleanly while Redis still runs: exit 0, nothing left uncommitted.
for h in popa popb; do
    n=$(grep -c 'action=commit status=failed' "${perr[$h]}")
    stop_expect0 "popauth on $h" "${ppid[$h]}"
    same "popauth on $h: failed commits logged, none since the recovery" "$n" "$(grep -c 'action=commit status=failed' "${perr[$h]}")"
done
for h in gatea gateb; do stop_expect0 "smtpgate on $h" "${gpid[$h]}"; done

echo "# took $(($(date +%s) - t_start)) s"
[ "$failed" -eq 0 ] || show_logs
finish
