# shellcheck shell=bash
# A small network of test hosts around one LAN, and Redis with Sentinel on it, for the
# integration tests of the Redis store (sourced after netns.sh, not run; needs root,
# iproute2, redis-server, redis-sentinel, redis-tools).
#
# Every host is a network namespace of its own with one interface, eth0, whose other end
# is a port of the bridge br0 in the LAN namespace: nothing is added to the host's own
# network (the veth pairs are created with both ends already inside namespaces). It builds
# on netns.sh's own machinery: its cleanup (netns_cleanup, run by cluster_setup's EXIT
# trap), which stops the tracked PIDs (netns_bg), then anything left in the namespaces
# listed in NETNS_CREATED (by PID), and deletes them; NETNS_PREFIX names the run. netns.sh's single-server helpers
# (dovecot_start, postfix_start, smtpgate_start_conf) then work on any host: set
# NETNS_SERVER to its namespace (and DOVECOT_PID or POSTFIX_PID to "") before each call.
#
# API (every function fails loudly, with a message on stderr, and returns non-zero):
#   cluster_setup               make the LAN namespace and its bridge; picks the prefix and
#                               the network, and installs the cleanup trap (set your own
#                               EXIT trap first, as with netns_setup: it runs after the
#                               cleanup; INT, TERM and HUP exit). Sets CLUSTER_NET
#                               (10.X.Y, no last octet), NETNS_PREFIX
#   cluster_host NAME ADDR...   a host namespace NAME (prefixed) on the LAN with the
#                               addresses ADDR (/24 each); prints nothing, sets
#                               CLUSTER_NS[NAME] to the namespace's real name
#   redis_start NAME NS DIR ADDR PORT [LINE...]  write DIR/redis.conf (bind ADDR, port PORT,
#                               no persistence, requirepass and masterauth REDIS_PASS, and
#                               each LINE) and run redis-server on it in NS; waits until it
#                               answers PING. Sets REDIS_PID[NAME]
#   redis_restart NAME NS DIR ADDR PORT [ARG...]  run redis-server again on DIR/redis.conf
#                               with ARG (e.g. --replicaof H P); waits for PING
#   sentinel_start NAME NS DIR ADDR MASTER MADDR MPORT QUORUM  write DIR/sentinel.conf
#                               (port 26379, down-after-milliseconds 1000, failover-timeout
#                               5000, auth-pass REDIS_PASS) and run redis-sentinel in NS;
#                               waits until it names MADDR:MPORT. Sets REDIS_PID[NAME]
#   rcli NS ADDR PORT ARG...    redis-cli in NS as the default user (REDIS_PASS), raw output
#   sentinel_master NS ADDR MASTER  "HOST PORT" as the Sentinel at ADDR:26379 names MASTER
#   redis_wait NAME SECS CMD...  run CMD every 0.1 s until it succeeds (at most SECS); on
#                               failure say "NAME not reached after SECS s" and return 1
#
# Variables the caller sets first: REDIS_PASS (the default user's password).

# shellcheck disable=SC2034 # CLUSTER_NS and CLUSTER_NET are for the sourcing script
declare -A CLUSTER_NS=()
declare -A REDIS_PID=()
# shellcheck disable=SC2034
CLUSTER_NET=
CLUSTER_LAN=
CLUSTER_N=0

cluster__die() { echo "redis_lib.sh: $*" >&2; return 1; }

# cluster__on_exit: netns.sh's cleanup, then the caller's earlier EXIT trap, with INT, TERM
# and HUP ignored meanwhile: a signal during the cleanup would otherwise run its "exit"
# trap and end the shell half-way, leaving namespaces and servers behind. The cleanup is
# bounded (each tracked process gets TERM, then KILL after 5 s).
cluster_setup()
{
    [ "$(id -u)" -eq 0 ] || { cluster__die "must run as root"; return 1; }
    [ -z "$NETNS_PREFIX" ] || { cluster__die "the namespaces are already set up"; return 1; }
    netns__traps

    NETNS_PREFIX=pa$$$(printf '%04x' $((RANDOM & 0xffff)))
    local x=$(((($$ >> 8) % 254) + 1)) y=$((($$ % 254) + 1))
    CLUSTER_NET=10.$x.$y
    CLUSTER_LAN=${NETNS_PREFIX}lan
    ip netns add "$CLUSTER_LAN" || { cluster__die "ip netns add $CLUSTER_LAN failed"; return 1; }
    NETNS_CREATED+=("ns:$CLUSTER_LAN")
    if ! { ip -n "$CLUSTER_LAN" link set lo up \
        && ip -n "$CLUSTER_LAN" link add br0 type bridge \
        && ip -n "$CLUSTER_LAN" link set br0 up; }; then
        cluster__die "could not make the bridge in $CLUSTER_LAN"
        return 1
    fi
}

cluster_host()
{
    local name=$1 ns=$NETNS_PREFIX$1 port addr i
    shift
    [ -n "$CLUSTER_LAN" ] || { cluster__die "cluster_host: call cluster_setup first"; return 1; }
    CLUSTER_N=$((CLUSTER_N + 1))
    port=p$CLUSTER_N
    ip netns add "$ns" || { cluster__die "ip netns add $ns failed"; return 1; }
    NETNS_CREATED+=("ns:$ns")
    CLUSTER_NS[$name]=$ns
    if ! { ip -n "$ns" link set lo up \
        && ip link add name eth0 netns "$ns" type veth peer name "$port" netns "$CLUSTER_LAN" \
        && ip -n "$CLUSTER_LAN" link set "$port" master br0 \
        && ip -n "$CLUSTER_LAN" link set "$port" up; }; then
        cluster__die "could not join $ns to the LAN"
        return 1
    fi
    for addr in "$@"; do
        ip -n "$ns" addr add "$addr/24" dev eth0 || { cluster__die "adding $addr in $ns failed"; return 1; }
    done
    ip -n "$ns" link set eth0 up || { cluster__die "eth0 up in $ns failed"; return 1; }
    for ((i = 0; i < 50; i++)); do
        ip -n "$ns" link show eth0 | grep -q 'state UP' && return 0
        sleep 0.1
    done
    cluster__die "eth0 in $ns did not come up"
}

rcli()
{
    local ns=$1 addr=$2 port=$3
    shift 3
    REDISCLI_AUTH=$REDIS_PASS timeout 5 ip netns exec "$ns" redis-cli --raw -h "$addr" -p "$port" "$@"
}

sentinel_master()
{
    local ns=$1 addr=$2 master=$3
    timeout 5 ip netns exec "$ns" redis-cli --raw -h "$addr" -p 26379 \
        SENTINEL get-master-addr-by-name "$master" 2>/dev/null | paste -sd ' '
}

redis_wait()
{
    local name=$1 secs=$2 i
    shift 2
    for ((i = 0; i < secs * 10; i++)); do
        "$@" && return 0
        sleep 0.1
    done
    cluster__die "$name not reached after $secs s"
}

# redis__pong NS ADDR PORT: the server answers PING
redis__pong() { [ "$(rcli "$1" "$2" "$3" PING 2>/dev/null)" = PONG ]; }

# redis__launch NAME NS DIR ADDR PORT PROG ARG...: run PROG ARG in NS (output appended
# to DIR/NAME.log), wait until ADDR:PORT answers PING
redis__launch()
{
    local name=$1 ns=$2 dir=$3 addr=$4 port=$5 i
    shift 5
    netns_bg "$ns" "$@" >>"$dir/$name.log" 2>&1
    REDIS_PID[$name]=$NETNS_LAST_PID
    for ((i = 0; i < 100; i++)); do
        kill -0 "${REDIS_PID[$name]}" 2>/dev/null || break
        redis__pong "$ns" "$addr" "$port" && return 0
        sleep 0.1
    done
    {
        echo "redis_lib.sh: $name ($1) does not answer on $addr:$port after 10 s"
        tail -n 20 "$dir/$name.log"
    } >&2
    return 1
}

redis_start()
{
    local name=$1 ns=$2 dir=$3 addr=$4 port=$5 line
    shift 5
    command -v redis-server >/dev/null || { cluster__die "redis-server is not installed (package redis-server)"; return 1; }
    mkdir -p "$dir" || return 1
    {
        cat <<EOF
# $name: written by tests/integration/redis_lib.sh
bind $addr
port $port
protected-mode no
daemonize no
dir $dir
save ""
appendonly no
requirepass $REDIS_PASS
masterauth $REDIS_PASS
repl-diskless-sync yes
repl-diskless-sync-delay 0
EOF
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$dir/redis.conf" || return 1
    chmod 600 "$dir/redis.conf"
    redis__launch "$name" "$ns" "$dir" "$addr" "$port" redis-server "$dir/redis.conf"
}

redis_restart()
{
    local name=$1 ns=$2 dir=$3 addr=$4 port=$5
    shift 5
    redis__launch "$name" "$ns" "$dir" "$addr" "$port" redis-server "$dir/redis.conf" "$@"
}

# sentinel__names NS ADDR MASTER HOST PORT: the Sentinel names HOST PORT for MASTER
sentinel__names() { [ "$(sentinel_master "$1" "$2" "$3")" = "$4 $5" ]; }

sentinel_start()
{
    local name=$1 ns=$2 dir=$3 addr=$4 master=$5 maddr=$6 mport=$7 quorum=$8
    command -v redis-sentinel >/dev/null || { cluster__die "redis-sentinel is not installed (package redis-sentinel)"; return 1; }
    mkdir -p "$dir" || return 1
    # Sentinel rewrites its own file: it must be writable, and each has its own.
    cat >"$dir/sentinel.conf" <<EOF || return 1
# $name: written by tests/integration/redis_lib.sh
bind $addr
port 26379
protected-mode no
daemonize no
dir $dir
sentinel resolve-hostnames no
sentinel monitor $master $maddr $mport $quorum
sentinel auth-pass $master $REDIS_PASS
sentinel down-after-milliseconds $master 1000
sentinel failover-timeout $master 5000
sentinel parallel-syncs $master 1
EOF
    chmod 600 "$dir/sentinel.conf"
    netns_bg "$ns" redis-sentinel "$dir/sentinel.conf" >>"$dir/$name.log" 2>&1
    REDIS_PID[$name]=$NETNS_LAST_PID
    local i
    for ((i = 0; i < 100; i++)); do
        kill -0 "${REDIS_PID[$name]}" 2>/dev/null || break
        sentinel__names "$ns" "$addr" "$master" "$maddr" "$mport" && return 0
        sleep 0.1
    done
    {
        echo "redis_lib.sh: Sentinel $name does not name $maddr:$mport for $master after 10 s"
        tail -n 20 "$dir/$name.log"
    } >&2
    return 1
}
