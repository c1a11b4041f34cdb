# Network-namespace test hosts and a private, real Dovecot for the integration tests
# (sourced by bash scripts, not run; needs root, iproute2, dovecot-pop3d/-imapd and
# netcat-openbsd for the POP3/IMAP clients).
#
# API (every function fails loudly, with a message on stderr, and returns non-zero):
#   netns_setup                 make a server and a client namespace joined by a veth pair;
#                               sets the NETNS_* variables below and installs the cleanup trap
#   netns_cleanup               kill tracked PIDs, delete namespaces and links (idempotent)
#   netns_at_exit CMD           run CMD (eval'd) at cleanup, after the processes are killed
#   netns_exec NS CMD...        run CMD inside namespace NS
#   netns_bg NS CMD...          start CMD in NS in the background; its PID is tracked for
#                               cleanup and left in NETNS_LAST_PID (do not call in $(...))
#   netns_track_pid PID         kill PID (TERM, then KILL) at cleanup
#   netns_stop_pid PID [SECS]   TERM PID, wait up to SECS (5) for it, then KILL
#   netns_add_addr NS ADDR/LEN  add another address to NS's veth end (IPv6 with nodad)
#   netns_wait_port NS ADDR PORT [SECS]  wait until a TCP connect from NS succeeds (10 s)
#   netns_wait_listen NS PORT [COUNT] [SECS]  wait until COUNT (1) TCP sockets listen on
#                               PORT in NS, without connecting (10 s)
#   dovecot_start WORKDIR ADDR [ADDR6]   write a private config into WORKDIR, run Dovecot
#                               in the server namespace, wait for ports 110/143; sets
#                               DOVECOT_CONF, DOVECOT_LOG, DOVECOT_BASE, DOVECOT_PID;
#                               DOVECOT_EXTRA_CONF, if set, is appended to the config
#   dovecot_stop                stop that Dovecot (also done by netns_cleanup)
#   dovecot_add_user NAME PASS  add a passwd-file user (anything but ':' and newline;
#                               Dovecot lowercases login names, so use lowercase); best
#                               before dovecot_start, else it sleeps 1.1 s for the reload
#   dovecot_wait_log PATTERN [SECS]  wait until Dovecot's log has a line matching the
#                               grep -E PATTERN (10 s)
#   pop3_login NS ADDR USER PASS [SRC]  USER/PASS/QUIT on ADDR:110 from namespace NS,
#                               bound to source address SRC if given; succeeds only on
#                               "+OK" to PASS. The server's lines are left in CLIENT_REPLY.
#   imap_login NS ADDR USER PASS [SRC] [CMD]  a LOGIN "USER" "PASS" / b LOGOUT on
#                               ADDR:143, after "i CMD" if given (e.g. an ID); succeeds
#                               only on a tagged "a OK".
#   postfix_start WORKDIR SERVER_ADDR[,ADDR6] POLICY_ADDR:PORT|none [main.cf line...]
#                               write a private Postfix instance into WORKDIR/postfix and run
#                               its master in the server namespace (listening on port 25 of
#                               each SERVER_ADDR); smtpd_relay_restrictions = permit_mynetworks,
#                               check_policy_service inet:POLICY_ADDR:PORT,
#                               reject_unauth_destination (none: no such line, for the
#                               extra lines to set). Extra lines are appended to main.cf
#                               (a later setting wins). Sets POSTFIX_DIR, POSTFIX_CONF (the
#                               config directory), POSTFIX_LOG, POSTFIX_PID. /etc/postfix is
#                               never touched: the instance sees its own directory bind-mounted
#                               there, in the mount namespace of its own `ip netns exec`.
#   postfix_stop                stop that Postfix (also done by netns_cleanup)
#   swaks_rcpt NS SRC SERVER RCPT [FROM]  EHLO/MAIL/RCPT with swaks from NS, bound to SRC,
#                               to SERVER:${SWAKS_PORT:-25} (--quit-after RCPT); prints the server's reply to
#                               RCPT (its last line, e.g. "250 2.1.5 Ok") and returns 0 when
#                               there was one (whatever the code), 1 otherwise (the transcript
#                               goes to stderr then). The full transcript is left in
#                               SWAKS_TRANSCRIPT unless called in $(...).
#   popauth_start BINDIR DB LOGFILE [-o name=value...]  run popauth (root namespace) on
#                               store DB following LOGFILE; waits until it has LOGFILE open
#                               and DB exists. Sets POPAUTH_PID, POPAUTH_ERR (its stderr file)
#   popauth_capture BINDIR DIR [-o name=value...]  run popauth in the server namespace,
#                               capturing live on its veth as run_user=nobody, store
#                               DIR/auth.db (DIR made writable by nobody); waits until it
#                               runs as nobody (real, effective, saved and fs uid). Sets
#                               POPAUTH_PID, POPAUTH_ERR, POPAUTH_UID_LINE (its Uid: line)
#   smtpgate_start BINDIR DB NS ADDR PORT [-o name=value...]  run smtpgate in namespace NS,
#                               policy_listen=inet:ADDR:PORT, on store DB; waits for the port.
#                               Sets SMTPGATE_PID, SMTPGATE_ERR
#   swaks_expect LABEL SRC SERVER RCPT WANT  swaks_rcpt from SRC; the reply to RCPT TO
#                               must start with WANT (expect_prefix); left in SWAKS_REPLY
#   smtpgate_said LABEL FROM CLIENT RCPT WANT  smtpgate's decision for CLIENT and RCPT,
#                               logged after line FROM of SMTPGATE_ERR, is action=WANT
#                               ("none": not logged)
#   popauth_start_conf BINDIR CONF DB LOG [-o name=value...]  popauth_start on the
#                               configuration file CONF (which names DB and follows LOG)
#   smtpgate_start_conf BINDIR CONF NS PORT ERRFILE [-o name=value...]  smtpgate in NS on
#                               the configuration file CONF (policy_listen on PORT), stderr
#                               to ERRFILE; waits for PORT. Sets SMTPGATE_PID, SMTPGATE_ERR
#   relay_world_start BINDIR WORKDIR LIFETIME  Dovecot (POP3+IMAP, IPv4+IPv6), popauth on
#                               Dovecot's log with grant_lifetime=LIFETIME, smtpgate on the
#                               server namespace's 127.0.0.1:10040 and Postfix asking it; users
#                               alice and bob (password "secret"); local domain local.test
#   relay_scenario BINDIR       the end-to-end POP/IMAP-before-SMTP story against that world
#                               (see the function); reports each step through the caller's
#                               relay_report OK|FAIL TEXT function and relay_note TEXT (default:
#                               echo "# TEXT"); returns 0 only if every step went as expected
#   postfix_reconfigure 'NAME = VALUE'...  change settings of the running Postfix (postconf
#                               -e on its main.cf), signal its master and wait (10 s) for
#                               the reload to be logged
#   smtpgate_proxy_start BINDIR DB NS LISTEN BACKEND ERRFILE [-o name=value...]  run smtpgate
#                               in NS as an SMTP proxy only (policy_listen empty):
#                               proxy_listen=LISTEN (inet:A:P[,inet:[A6]:P...]),
#                               proxy_backend=BACKEND, store DB, stderr to ERRFILE; waits
#                               until every LISTEN address listens. Sets PROXY_PID
#   smtp_sink_start NS ADDR PORT DIR [smtp-sink option...]  run Postfix's smtp-sink in NS on
#                               ADDR:PORT as user nobody, logging every command it receives
#                               (-v) to DIR/log and appending each transaction, envelope and
#                               content, to DIR/dump (-D); waits for the port. Sets SINK_PID,
#                               SINK_LOG, SINK_DUMP
#
# Variables set by netns_setup:
#   NETNS_PREFIX (unique per run), NETNS_SERVER, NETNS_CLIENT (namespace names),
#   NETNS_SERVER_IF, NETNS_CLIENT_IF (the veth ends), NETNS_NET (10.X.Y, no last octet),
#   NETNS_SERVER_ADDR (.1), NETNS_CLIENT_ADDR (.50), NETNS_THIRD_ADDR (.51),
#   NETNS_NET6 (fd00:X:Y:), NETNS_SERVER_ADDR6 (::1), NETNS_CLIENT_ADDR6 (::50),
#   NETNS_THIRD_ADDR6 (::51). The client and the third party share the client namespace.
#
# Traps: netns_setup traps EXIT (and turns INT, TERM, HUP into an exit), running
# netns_cleanup first and then whatever EXIT trap was set before it, so set your own
# EXIT trap (e.g. 'rm -rf "$work"') BEFORE calling netns_setup, or register more with
# netns_at_exit. If you replace the EXIT trap after netns_setup, your trap must call
# netns_cleanup itself. Call netns_setup in the main shell, never inside $(...).
#
# Scripted mail sessions, Dovecot reconfiguration, packet capture (they fail loudly too):
#   mail_open NS ADDR PORT [SRC]  open a TCP connection from namespace NS to ADDR:PORT,
#                               bound to source address SRC if given, for the calls below
#                               (one session at a time); MAIL_TRANSCRIPT collects the
#                               session ("C: " lines sent, "S: " lines received)
#   mail_send LINE              send LINE and CRLF
#   mail_expect GLOB            read the next server line (10 s at most) and succeed if it
#                               matches the shell pattern GLOB (e.g. '+OK*', 'a OK*'); IMAP
#                               untagged "* " lines are skipped unless GLOB starts with '*'.
#                               The line (without CR) is left in MAIL_LINE
#   mail_close                  close the connection (the client's FIN) and reap the client
#   dovecot_reconfigure LINE... stop the running Dovecot, append each LINE to its config (a
#                               later setting wins; a block may be appended too), start it
#                               again on the same addresses and wait for its ports
#   tcpdump_start NS IFACE FILE  record every packet on IFACE in namespace NS into FILE
#                               (tcpdump --immediate-mode -U -w, full packets); returns once
#                               tcpdump is capturing. Sets TCPDUMP_PID and TCPDUMP_ERR
#   tcpdump_stop                wait until FILE has stopped growing (0.5 s, at most 10 s),
#                               then SIGTERM that tcpdump and wait, so FILE is complete; fails
#                               if the kernel dropped packets (the count is in TCPDUMP_ERR)

NETNS_PREFIX=
NETNS_PIDS=()
NETNS_CREATED=() # namespaces and root-namespace links this run made (only these are removed)
NETNS_AT_EXIT=()
NETNS_PREV_EXIT_TRAP=
NETNS_LAST_PID=
DOVECOT_PID=
DOVECOT_EXTRA_USERS=()
CLIENT_REPLY=
POSTFIX_PID=
POPAUTH_PID=
SMTPGATE_PID=
SWAKS_TRANSCRIPT=

netns__die() { echo "netns.sh: $*" >&2; return 1; }

# netns__traps: clean up at exit (and on INT, TERM, HUP), after an EXIT trap the caller
# set before
netns__traps()
{
    local prev
    prev=$(trap -p EXIT)
    if [ -n "$prev" ]; then
        prev=${prev#"trap -- "}
        prev=${prev%" EXIT"}
        eval "NETNS_PREV_EXIT_TRAP=$prev"
    fi
    trap netns__on_exit EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    trap 'exit 129' HUP
}

netns__on_exit()
{
    local rc=$?
    trap '' INT TERM HUP # a signal now would cut the cleanup short
    netns_cleanup
    [ -n "$NETNS_PREV_EXIT_TRAP" ] && eval "$NETNS_PREV_EXIT_TRAP"
    exit "$rc"
}

# netns__wait PID CMD...: run CMD every 0.1 s, for at most 10 s and while PID lives; 0
# as soon as CMD succeeds, 1 if it never did
netns__wait()
{
    local pid=$1 i
    shift
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        "$@" && return 0
        sleep 0.1
    done
    return 1
}

# netns__listening NS HOSTPORT: HOSTPORT (A:P or [A6]:P) is a listening TCP socket in NS.
netns__listening()
{
    ip netns exec "$1" ss -Hltn | awk -v want="$2" '$4 == want { found = 1 } END { exit !found }'
}

# netns__port_listening NS PORT: a TCP socket listens on PORT (any address) in NS
netns__port_listening()
{
    [ "$(ip netns exec "$1" ss -Hltn "sport = :$2" | wc -l)" -ge 1 ]
}

# netns__all_listening NS HOSTPORT...: every HOSTPORT listens in NS
netns__all_listening()
{
    local ns=$1 hp
    shift
    for hp in "$@"; do
        netns__listening "$ns" "$hp" || return 1
    done
}

# netns__pop_ports NS N: at least N sockets listen on ports 110 and 143 in NS
netns__pop_ports()
{
    [ "$(ip netns exec "$1" ss -Hltn '( sport = :110 or sport = :143 )' | wc -l)" -ge "$2" ]
}

netns_setup()
{
    [ "$(id -u)" -eq 0 ] || { netns__die "must run as root"; return 1; }
    command -v ip >/dev/null || { netns__die "ip (iproute2) is not installed"; return 1; }
    [ -z "$NETNS_PREFIX" ] || { netns__die "netns_setup called twice"; return 1; }

    netns__traps

    # Interface names are limited to 15 characters: "pa" + PID (<= 7) + 4 hex + "vs".
    NETNS_PREFIX=pa$$$(printf '%04x' $((RANDOM & 0xffff)))
    NETNS_SERVER=${NETNS_PREFIX}s
    NETNS_CLIENT=${NETNS_PREFIX}c
    NETNS_SERVER_IF=${NETNS_PREFIX}vs
    NETNS_CLIENT_IF=${NETNS_PREFIX}vc
    local x=$(((($$ >> 8) % 254) + 1)) y=$((($$ % 254) + 1))
    NETNS_NET=10.$x.$y
    NETNS_NET6=$(printf 'fd00:%x:%x:' "$x" "$y")
    NETNS_SERVER_ADDR=$NETNS_NET.1
    NETNS_CLIENT_ADDR=$NETNS_NET.50
    NETNS_THIRD_ADDR=$NETNS_NET.51
    NETNS_SERVER_ADDR6=$NETNS_NET6:1
    NETNS_CLIENT_ADDR6=$NETNS_NET6:50
    NETNS_THIRD_ADDR6=$NETNS_NET6:51

    local ns
    for ns in "$NETNS_SERVER" "$NETNS_CLIENT"; do
        ip netns add "$ns" || { netns__die "ip netns add $ns failed"; return 1; }
        NETNS_CREATED+=("ns:$ns")
        ip -n "$ns" link set lo up || { netns__die "lo up in $ns failed"; return 1; }
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=0 \
            net.ipv6.conf.default.disable_ipv6=0 >/dev/null 2>&1
    done
    ip link add "$NETNS_SERVER_IF" type veth peer name "$NETNS_CLIENT_IF" \
        || { netns__die "creating veth pair $NETNS_SERVER_IF failed"; return 1; }
    NETNS_CREATED+=("link:$NETNS_SERVER_IF")
    ip link set "$NETNS_SERVER_IF" netns "$NETNS_SERVER" \
        && ip link set "$NETNS_CLIENT_IF" netns "$NETNS_CLIENT" \
        || { netns__die "moving the veth ends into the namespaces failed"; return 1; }
    ip -n "$NETNS_SERVER" addr add "$NETNS_SERVER_ADDR/24" dev "$NETNS_SERVER_IF" \
        && ip -n "$NETNS_SERVER" addr add "$NETNS_SERVER_ADDR6/64" dev "$NETNS_SERVER_IF" nodad \
        && ip -n "$NETNS_CLIENT" addr add "$NETNS_CLIENT_ADDR/24" dev "$NETNS_CLIENT_IF" \
        && ip -n "$NETNS_CLIENT" addr add "$NETNS_THIRD_ADDR/24" dev "$NETNS_CLIENT_IF" \
        && ip -n "$NETNS_CLIENT" addr add "$NETNS_CLIENT_ADDR6/64" dev "$NETNS_CLIENT_IF" nodad \
        && ip -n "$NETNS_CLIENT" addr add "$NETNS_THIRD_ADDR6/64" dev "$NETNS_CLIENT_IF" nodad \
        && ip -n "$NETNS_SERVER" link set "$NETNS_SERVER_IF" up \
        && ip -n "$NETNS_CLIENT" link set "$NETNS_CLIENT_IF" up \
        || { netns__die "configuring addresses failed"; return 1; }

    # Both ends must be up (carrier) before the first packet; bounded wait.
    local i
    for ((i = 0; i < 50; i++)); do
        if ip -n "$NETNS_SERVER" link show "$NETNS_SERVER_IF" | grep -q 'state UP' \
            && ip -n "$NETNS_CLIENT" link show "$NETNS_CLIENT_IF" | grep -q 'state UP'; then
            return 0
        fi
        sleep 0.1
    done
    netns__die "veth pair did not come up"
}

netns_exec()
{
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# Start time of PID (clock ticks since boot), so a PID that was reused is never signalled.
netns__starttime()
{
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    # shellcheck disable=SC2086
    set -- $stat
    echo "${20}"
}

netns_track_pid() { NETNS_PIDS+=("$1:$(netns__starttime "$1")"); }

netns_bg()
{
    local ns=$1
    shift
    # ip netns exec execs CMD after entering the namespace, so $! is CMD's PID.
    ip netns exec "$ns" "$@" &
    NETNS_LAST_PID=$!
    netns_track_pid "$NETNS_LAST_PID"
}

netns_at_exit() { NETNS_AT_EXIT+=("$1"); }

netns_stop_pid()
{
    local pid=$1 secs=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        # Reap it if it is our child, so it does not linger as a zombie.
        if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
            wait "$pid" 2>/dev/null
            break
        fi
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; then
        echo "netns.sh: PID $pid ignored SIGTERM for ${secs}s; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    return 0
}

netns_cleanup()
{
    local pid ns i cmd
    for pid in "${NETNS_PIDS[@]}"; do
        # Skip a PID that has gone and been given to another process since.
        [ "$(netns__starttime "${pid%%:*}")" = "${pid#*:}" ] || continue
        netns_stop_pid "${pid%%:*}" 5
    done
    NETNS_PIDS=()
    DOVECOT_PID='' POSTFIX_PID='' POPAUTH_PID='' SMTPGATE_PID=''
    local item
    for item in "${NETNS_CREATED[@]}"; do
        [ "${item%%:*}" = ns ] || continue
        ns=${item#ns:}
        # Anything still inside our own, uniquely named namespace was started by this test
        # (e.g. a Dovecot child process): stop it by PID so the namespace really goes.
        for ((i = 0; i < 20; i++)); do
            pid=$(ip netns pids "$ns" 2>/dev/null)
            [ -z "$pid" ] && break
            [ "$i" -eq 0 ] && echo "netns.sh: stopping leftover processes in $ns: $pid" >&2
            # shellcheck disable=SC2086
            kill -TERM $pid 2>/dev/null
            # shellcheck disable=SC2086
            [ "$i" -ge 10 ] && kill -KILL $pid 2>/dev/null
            sleep 0.1
        done
        ip netns delete "$ns" 2>/dev/null || echo "netns.sh: could not delete namespace $ns" >&2
    done
    # The veth pair dies with its namespace; remove it here if setup stopped half-way.
    for item in "${NETNS_CREATED[@]}"; do
        [ "${item%%:*}" = link ] || continue
        ip link show "${item#link:}" >/dev/null 2>&1 && ip link delete "${item#link:}" 2>/dev/null
    done
    NETNS_CREATED=()
    NETNS_PREFIX=
    for cmd in "${NETNS_AT_EXIT[@]}"; do
        eval "$cmd"
    done
    NETNS_AT_EXIT=()
    return 0
}

netns_add_addr()
{
    local ns=$1 addr=$2 dev extra=()
    case $ns in
        "$NETNS_SERVER") dev=$NETNS_SERVER_IF ;;
        "$NETNS_CLIENT") dev=$NETNS_CLIENT_IF ;;
        *) netns__die "netns_add_addr: unknown namespace $ns"; return 1 ;;
    esac
    case $addr in *:*) extra=(nodad) ;; esac
    ip -n "$ns" addr add "$addr" dev "$dev" "${extra[@]}" \
        || { netns__die "adding $addr in $ns failed"; return 1; }
}

netns_wait_port()
{
    local ns=$1 addr=$2 port=$3 secs=${4:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        ip netns exec "$ns" nc -z -w 1 "$addr" "$port" 2>/dev/null && return 0
        sleep 0.1
    done
    netns__die "nothing answers on [$addr]:$port in $ns after ${secs}s"
}

netns_wait_listen()
{
    local ns=$1 port=$2 count=${3:-1} secs=${4:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        [ "$(ip netns exec "$ns" ss -Hltn "sport = :$port" | wc -l)" -ge "$count" ] && return 0
        sleep 0.1
    done
    netns__die "fewer than $count listeners on port $port in $ns after ${secs}s"
}

# --- Dovecot -------------------------------------------------------------------------

dovecot_start()
{
    local work=$1 addr=$2 addr6=${3:-} u
    [ -n "$NETNS_PREFIX" ] || { netns__die "dovecot_start: call netns_setup first"; return 1; }
    [ -z "$DOVECOT_PID" ] || { netns__die "dovecot_start: a Dovecot is already running"; return 1; }
    command -v dovecot >/dev/null \
        || { netns__die "dovecot is not installed (packages dovecot-pop3d dovecot-imapd)"; return 1; }
    [ -x /usr/lib/dovecot/pop3 ] && [ -x /usr/lib/dovecot/imap ] \
        || { netns__die "dovecot-pop3d and dovecot-imapd must be installed"; return 1; }
    for u in dovecot dovenull nobody; do
        getent passwd "$u" >/dev/null \
            || { netns__die "user '$u' is missing (the dovecot-core package creates dovecot and dovenull)"; return 1; }
    done
    getent group nogroup >/dev/null || { netns__die "group 'nogroup' is missing"; return 1; }

    work=$(cd "$work" && pwd) || { netns__die "dovecot_start: no directory $1"; return 1; }
    DOVECOT_BASE=$work/run
    DOVECOT_CONF=$work/dovecot.conf
    DOVECOT_LOG=$work/dovecot.log
    DOVECOT_USERS=$work/users
    mkdir -p "$DOVECOT_BASE" "$work/home" || return 1
    chown nobody:nogroup "$work/home" && chmod 755 "$work/home" || return 1
    # Dovecot's unprivileged processes (dovenull, nobody) must reach base_dir and the homes:
    # make WORKDIR searchable and insist that every directory above it already is.
    chmod o+x "$work" || return 1
    local d=$work
    while [ "$d" != / ]; do
        d=$(dirname "$d")
        runuser -u nobody -- test -x "$d" \
            || { netns__die "directory $d is not searchable by nobody; use a WORKDIR under /tmp"; return 1; }
    done
    # base_dir holds unix sockets: their paths must stay under 108 bytes.
    [ ${#DOVECOT_BASE} -lt 60 ] || { netns__die "WORKDIR path too long for Dovecot's sockets: $work"; return 1; }

    printf 'alice:secret\nbob:secret\n' >"$DOVECOT_USERS"
    local line
    for line in "${DOVECOT_EXTRA_USERS[@]}"; do
        printf '%s\n' "$line" >>"$DOVECOT_USERS"
    done
    chmod 644 "$DOVECOT_USERS"
    : >"$DOVECOT_LOG"
    local listen=$addr
    [ -n "$addr6" ] && listen="$addr, $addr6"
    # A complete config of its own: nothing from /etc/dovecot is read (no !include).
    cat >"$DOVECOT_CONF" <<EOF
# Private Dovecot for popauth's integration tests (written by tests/integration/netns.sh).
protocols = pop3 imap
listen = $listen
base_dir = $DOVECOT_BASE
instance_name = dovecot-$NETNS_PREFIX
log_path = $DOVECOT_LOG
info_log_path = $DOVECOT_LOG
debug_log_path = $DOVECOT_LOG
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_failure_delay = 0
# Accept any character in user names, so tests can try to forge log fields through them.
auth_username_chars =
default_login_user = dovenull
default_internal_user = dovecot
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DOVECOT_USERS
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=$work/home/%u
}
service pop3-login {
  inet_listener pop3 {
    port = 110
  }
  inet_listener pop3s {
    port = 0
  }
}
service imap-login {
  inet_listener imap {
    port = 143
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
    [ -z "${DOVECOT_EXTRA_CONF:-}" ] || printf '%s\n' "$DOVECOT_EXTRA_CONF" >>"$DOVECOT_CONF"
    local check
    check=$(doveconf -c "$DOVECOT_CONF" -n 2>&1 >/dev/null) \
        || { netns__die "doveconf rejects $DOVECOT_CONF: $check"; return 1; }

    # -F keeps the master in the foreground, so $! is the master's own PID.
    netns_bg "$NETNS_SERVER" dovecot -F -c "$DOVECOT_CONF" >"$work/dovecot.stderr" 2>&1
    DOVECOT_PID=$NETNS_LAST_PID

    # Wait until the master listens on every address and port and has written its pid
    # (it writes master.pid after opening the listeners). ss looks at the sockets
    # without connecting, so the log holds no probe connections.
    local want=2
    [ -n "$addr6" ] && want=4
    if ! netns__wait "$DOVECOT_PID" dovecot__back "$want" \
        || ! kill -0 "$DOVECOT_PID" 2>/dev/null; then
        {
            if kill -0 "$DOVECOT_PID" 2>/dev/null; then
                echo "netns.sh: Dovecot does not listen on 110/143 after 10 s (config $DOVECOT_CONF)"
            else
                echo "netns.sh: Dovecot exited at start (config $DOVECOT_CONF)"
            fi
            echo "--- tail of $DOVECOT_LOG:"
            tail -n 20 "$DOVECOT_LOG"
            echo "--- dovecot's stderr:"
            tail -n 20 "$work/dovecot.stderr"
        } >&2
        return 1
    fi
    local master
    master=$(cat "$DOVECOT_BASE/master.pid" 2>/dev/null)
    if [ "$master" != "$DOVECOT_PID" ]; then
        netns__die "Dovecot's master.pid ($master) is not the PID we started ($DOVECOT_PID)"
        return 1
    fi
    return 0
}

dovecot_stop()
{
    [ -n "$DOVECOT_PID" ] || return 0
    netns_stop_pid "$DOVECOT_PID" 10
    DOVECOT_PID=
}

dovecot_add_user()
{
    case $1$2 in *:* | *$'\n'*) netns__die "dovecot_add_user: no ':' or newline allowed"; return 1 ;; esac
    if [ -z "$DOVECOT_PID" ]; then
        DOVECOT_EXTRA_USERS+=("$1:$2")
    else
        printf '%s:%s\n' "$1" "$2" >>"$DOVECOT_USERS"
        # passwd-file notices a change by mtime, at most once a second.
        sleep 1.1
    fi
}

dovecot_wait_log()
{
    local pattern=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE -- "$pattern" "$DOVECOT_LOG" && return 0
        sleep 0.1
    done
    netns__die "no line matching '$pattern' in $DOVECOT_LOG after ${secs}s"
}

# --- Clients -------------------------------------------------------------------------

# Opens a TCP connection from namespace $1 to $2:$3 (source $4 if set) as coprocess
# NETNS_CO; netns__send/netns__recv talk to it.
netns__connect()
{
    local ns=$1 addr=$2 port=$3 src=${4:-}
    command -v nc >/dev/null \
        || { netns__die "nc is not installed (package netcat-openbsd)"; return 1; }
    local -a nc=(nc -N -w 10)
    [ -n "$src" ] && nc+=(-s "$src")
    CLIENT_REPLY=
    coproc NETNS_CO { exec ip netns exec "$ns" "${nc[@]}" "$addr" "$port" 2>&1; }
    NETNS_CO_IN=${NETNS_CO[1]} NETNS_CO_OUT=${NETNS_CO[0]}
}

netns__send() { printf '%s\r\n' "$1" >&"$NETNS_CO_IN"; }

# Reads one line (10 s at most) into REPLY, without its CR; appends it to CLIENT_REPLY.
netns__recv()
{
    IFS= read -r -t 10 -u "$NETNS_CO_OUT" REPLY || { REPLY=; return 1; }
    REPLY=${REPLY%$'\r'}
    CLIENT_REPLY+=$REPLY$'\n'
}

netns__close()
{
    local pid=$NETNS_CO_PID
    { exec {NETNS_CO_IN}>&- {NETNS_CO_OUT}<&-; } 2>/dev/null # the shell keeps its stderr
    [ -n "$pid" ] && netns_stop_pid "$pid" 5
}

pop3_login()
{
    local ns=$1 addr=$2 user=$3 pass=$4 src=${5:-} ok=1
    netns__connect "$ns" "$addr" 110 "$src" || return 1
    if netns__recv && [[ $REPLY == "+OK"* ]]; then
        netns__send "USER $user"
        if netns__recv && [[ $REPLY == "+OK"* ]]; then
            netns__send "PASS $pass"
            netns__recv && [[ $REPLY == "+OK"* ]] && ok=0
        fi
        netns__send QUIT
        netns__recv
    fi
    netns__close
    return $ok
}

netns__imap_quote()
{
    local s=${1//\\/\\\\}
    printf '"%s"' "${s//\"/\\\"}"
}

imap_login()
{
    local ns=$1 addr=$2 user=$3 pass=$4 src=${5:-} first=${6:-} ok=1
    netns__connect "$ns" "$addr" 143 "$src" || return 1
    if netns__recv && [[ $REPLY == "* OK"* ]]; then
        if [ -n "$first" ]; then
            netns__send "i $first"
            while netns__recv && [[ $REPLY != "i "* ]]; do :; done
        fi
        netns__send "a LOGIN $(netns__imap_quote "$user") $(netns__imap_quote "$pass")"
        while netns__recv; do
            if [[ $REPLY == "a "* ]]; then
                [[ $REPLY == "a OK"* ]] && ok=0
                break
            fi
        done
        netns__send "b LOGOUT"
        while netns__recv; do
            [[ $REPLY == "b "* ]] && break
        done
    fi
    netns__close
    return $ok
}

# --- Postfix -------------------------------------------------------------------------

postfix_start()
{
    local work=$1 addrs=$2 policy=$3
    shift 3
    [ -n "$NETNS_PREFIX" ] || { netns__die "postfix_start: call netns_setup first"; return 1; }
    [ -z "$POSTFIX_PID" ] || { netns__die "postfix_start: a Postfix is already running"; return 1; }
    local daemon_dir=/usr/lib/postfix/sbin
    command -v postfix >/dev/null && command -v postconf >/dev/null && [ -x "$daemon_dir/master" ] \
        || { netns__die "postfix is not installed (package postfix)"; return 1; }
    [ -f /usr/share/postfix/master.cf.dist ] && [ -f /etc/postfix/postfix-script ] \
        || { netns__die "the postfix package's files are missing (master.cf.dist, postfix-script)"; return 1; }
    [ -d /etc/postfix ] || { netns__die "/etc/postfix is missing (package postfix)"; return 1; }
    getent passwd postfix >/dev/null && getent group postdrop >/dev/null \
        || { netns__die "user 'postfix' or group 'postdrop' is missing (package postfix)"; return 1; }
    local relay="smtpd_relay_restrictions = permit_mynetworks, check_policy_service inet:$policy, reject_unauth_destination"
    case $policy in
        none) relay='' ;;
        *:[0-9]*) ;;
        *) netns__die "postfix_start: POLICY must be ADDR:PORT or none, not '$policy'"; return 1 ;;
    esac

    work=$(cd "$work" && pwd) || { netns__die "postfix_start: no directory $1"; return 1; }
    POSTFIX_DIR=$work/postfix
    POSTFIX_CONF=$POSTFIX_DIR/etc
    POSTFIX_LOG=$POSTFIX_DIR/log/maillog
    local spool=$POSTFIX_DIR/spool data=$POSTFIX_DIR/data
    mkdir -p "$POSTFIX_CONF" "$spool" "$data" "${POSTFIX_LOG%/*}" || return 1
    chown postfix "$data" || return 1
    chmod 755 "$POSTFIX_DIR" "$POSTFIX_CONF" "$spool" "${POSTFIX_LOG%/*}" || return 1
    # The postfix user must reach the queue and data directories: make WORKDIR searchable
    # and insist that every directory above it already is.
    chmod o+x "$work" || return 1
    local d=$work
    while [ "$d" != / ]; do
        d=$(dirname "$d")
        runuser -u postfix -- test -x "$d" \
            || { netns__die "directory $d is not searchable by postfix; use a WORKDIR under /tmp"; return 1; }
    done
    # Unix sockets live in spool/private and spool/public: keep their paths short.
    [ ${#spool} -lt 70 ] || { netns__die "WORKDIR path too long for Postfix's sockets: $work"; return 1; }

    # The files Postfix's own scripts read from the config (= meta) directory.
    local f
    for f in post-install postfix-files postfix-files.d postfix-script dynamicmaps.cf.d; do
        [ -e "/etc/postfix/$f" ] && { cp -a "/etc/postfix/$f" "$POSTFIX_CONF/" || return 1; }
    done
    if [ -f /etc/postfix/dynamicmaps.cf ]; then
        cp /etc/postfix/dynamicmaps.cf "$POSTFIX_CONF/" || return 1
    elif [ -f /usr/share/postfix/dynamicmaps.cf ]; then
        cp /usr/share/postfix/dynamicmaps.cf "$POSTFIX_CONF/" || return 1
    fi
    cp /usr/share/postfix/master.cf.dist "$POSTFIX_CONF/master.cf" || return 1

    # Addresses: "A" or "A,B" (IPv6 ones get brackets in inet_interfaces).
    local a ifaces='' protocols=ipv4 n=0
    for a in ${addrs//,/ }; do
        case $a in
            *:*) ifaces+="${ifaces:+, }[$a]" protocols=all ;;
            *) ifaces+="${ifaces:+, }$a" ;;
        esac
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || { netns__die "postfix_start: no server address"; return 1; }

    {
        cat <<EOF2
# Private Postfix for popauth's integration tests (written by tests/integration/netns.sh).
compatibility_level = 3.6
queue_directory = $spool
data_directory = $data
maillog_file = $POSTFIX_LOG
maillog_file_prefixes = $POSTFIX_DIR
myhostname = mx.local.test
mydomain = local.test
myorigin = local.test
mydestination = local.test
mynetworks = 127.0.0.0/8
inet_interfaces = $ifaces
inet_protocols = $protocols
# Nothing leaves the namespace: every delivery is discarded, no DNS, no peer-name lookup.
default_transport = discard
relay_transport = discard
local_transport = discard
alias_maps =
alias_database =
local_recipient_maps =
smtpd_peername_lookup = no
disable_dns_lookups = yes
smtp_dns_support_level = disabled
biff = no
smtpd_banner = \$myhostname ESMTP popauth-test
smtpd_recipient_restrictions =
$relay
EOF2
        local line
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$POSTFIX_CONF/main.cf" || return 1
    # No service runs chrooted: the chroot would lack /etc/services and friends.
    postconf -c "$POSTFIX_CONF" -F '*/*/chroot = n' >/dev/null 2>&1 \
        || { netns__die "postconf could not edit $POSTFIX_CONF/master.cf"; return 1; }
    local check
    check=$(postconf -c "$POSTFIX_CONF" -n 2>&1 >/dev/null)
    [ -z "$check" ] || { netns__die "postconf complains about $POSTFIX_CONF/main.cf: $check"; return 1; }
    : >"$POSTFIX_LOG"

    # ip netns exec runs in a mount namespace of its own: bind our config directory over
    # /etc/postfix there (so Postfix needs no -c and no alternate_config_directories in the
    # system's main.cf), create the queue directories (postfix check), then exec the master
    # in the foreground, so the PID we track is the master's own.
    netns_bg "$NETNS_SERVER" bash -c 'mount --bind "$1" /etc/postfix && postfix check && exec "$2"/master -s' \
        postfix-start "$POSTFIX_CONF" "$daemon_dir" >"$POSTFIX_DIR/stderr" 2>&1
    POSTFIX_PID=$NETNS_LAST_PID

    local i ok=0
    for ((i = 0; i < 150; i++)); do
        kill -0 "$POSTFIX_PID" 2>/dev/null || break
        if [ "$(ip netns exec "$NETNS_SERVER" ss -Hltn 'sport = :25' | wc -l)" -ge "$n" ] \
            && [ "$(cat "$spool/pid/master.pid" 2>/dev/null | tr -d ' ')" = "$POSTFIX_PID" ]; then
            ok=1
            break
        fi
        sleep 0.1
    done
    if [ "$ok" -ne 1 ]; then
        {
            if kill -0 "$POSTFIX_PID" 2>/dev/null; then
                echo "netns.sh: Postfix does not listen on $addrs port 25 after 15 s (config $POSTFIX_CONF)"
            else
                echo "netns.sh: Postfix exited at start (config $POSTFIX_CONF)"
            fi
            echo "--- tail of $POSTFIX_LOG:"
            tail -n 20 "$POSTFIX_LOG"
            echo "--- postfix's stderr:"
            tail -n 20 "$POSTFIX_DIR/stderr"
        } >&2
        postfix_stop
        return 1
    fi
    return 0
}

postfix_stop()
{
    [ -n "$POSTFIX_PID" ] || return 0
    # The master TERMs its own children (its process group) before it exits.
    netns_stop_pid "$POSTFIX_PID" 10
    POSTFIX_PID=
}

swaks_rcpt()
{
    local ns=$1 src=$2 server=$3 rcpt=$4 from=${5:-sender@far.test}
    command -v swaks >/dev/null || { netns__die "swaks is not installed (package swaks)"; return 1; }
    case $server in *:*) server="[$server]" ;; esac
    SWAKS_TRANSCRIPT=$(ip netns exec "$ns" swaks --server "$server" --port "${SWAKS_PORT:-25}" \
        --local-interface "$src" --helo client.far.test --from "$from" --to "$rcpt" \
        --quit-after RCPT --timeout 30 2>&1)
    # Server lines read "<- CODE..." (or "<** CODE..." for 4xx/5xx); the reply to RCPT is
    # the run of server lines after " -> RCPT TO:"; its last line is "CODE text".
    local line seen=0 reply=
    while IFS= read -r line; do
        line=${line%$'\r'}
        if [[ $line == " -> RCPT TO:"* ]]; then
            seen=1 reply=
        elif [ "$seen" -eq 1 ]; then
            if [[ $line =~ ^(\<-|\<\*\*)\ +([0-9]{3}[\ -].*)$ ]]; then
                reply=${BASH_REMATCH[2]}
                [[ $reply == [0-9][0-9][0-9]" "* ]] && break
            elif [ -n "$reply" ]; then
                break
            fi
        fi
    done <<<"$SWAKS_TRANSCRIPT"
    if [ -z "$reply" ]; then
        {
            echo "netns.sh: no reply to RCPT TO:<$rcpt> from $server (source $src); swaks said:"
            printf '%s\n' "$SWAKS_TRANSCRIPT" | tail -n 20
        } >&2
        return 1
    fi
    printf '%s\n' "$reply"
}

# --- popauth and smtpgate ------------------------------------------------------------

# netns_has_open PID FILE: process PID has FILE open. Compared by device and inode: the
# path readlink shows for a process in another mount namespace (ip netns exec makes one)
# may not be the path this shell knows, in a chroot
netns_has_open()
{
    local fd want
    want=$(stat -c %d:%i "$2" 2>/dev/null) || return 1
    for fd in /proc/"$1"/fd/*; do
        [ "$(stat -L -c %d:%i "$fd" 2>/dev/null)" = "$want" ] && return 0
    done
    return 1
}

# popauth__ready PID DB LOG: DB exists and process PID has LOG open
popauth__ready()
{
    [ -e "$2" ] && netns_has_open "$1" "$3"
}

popauth_start()
{
    local bindir=$1 db=$2 log=$3
    shift 3
    popauth__launch "$bindir" "$db" "$log" -c /dev/null -o "database=$db" \
        -o "log_sources=file:$log" "$@"
}

# popauth__launch BINDIR DB LOG ARGS...: run popauth ARGS (root namespace), which name
# store DB and follow LOG; wait (bounded) until the store exists and it has LOG open
popauth__launch()
{
    local bindir=$1 db=$2 log=$3
    shift 3
    [ -x "$bindir/popauth" ] || { netns__die "$bindir/popauth is not built"; return 1; }
    POPAUTH_ERR=$(dirname "$db")/popauth.err
    "$bindir/popauth" "$@" >"$POPAUTH_ERR" 2>&1 &
    POPAUTH_PID=$!
    netns_track_pid "$POPAUTH_PID"
    netns__wait "$POPAUTH_PID" popauth__ready "$POPAUTH_PID" "$db" "$log" && return 0
    {
        echo "netns.sh: popauth ($*) did not open $log and $db within 10 s"
        tail -n 20 "$POPAUTH_ERR"
    } >&2
    return 1
}

# popauth__nobody PID: process PID runs as nobody (every uid), its Uid: line in
# POPAUTH_UID_LINE
popauth__nobody()
{
    local n
    n=$(id -u nobody)
    POPAUTH_UID_LINE=$(awk '$1 == "Uid:"' "/proc/$1/status" 2>/dev/null)
    [ "$(awk '{ print $2, $3, $4, $5 }' <<<"$POPAUTH_UID_LINE")" = "$n $n $n $n" ]
}

popauth_capture()
{
    local bindir=$1 dir=$2
    shift 2
    [ -x "$bindir/popauth" ] || { netns__die "$bindir/popauth is not built"; return 1; }
    mkdir -p "$dir" && chown nobody:nogroup "$dir" && chmod 755 "$dir" && chmod o+x "$(dirname "$dir")" ||
        { netns__die "could not make $dir writable by nobody"; return 1; }
    POPAUTH_ERR=$dir/popauth.err
    netns_bg "$NETNS_SERVER" "$bindir/popauth" -c /dev/null -o "database=$dir/auth.db" \
        -o log_sources= -o "sniff_interfaces=$NETNS_SERVER_IF" -o run_user=nobody \
        -o local_networks=127.0.0.0/8 "$@" >"$dir/popauth.out" 2>"$POPAUTH_ERR"
    POPAUTH_PID=$NETNS_LAST_PID
    # Ready once it runs as nobody: the capture handle is opened before the drop.
    netns__wait "$POPAUTH_PID" popauth__nobody "$POPAUTH_PID" && return 0
    {
        echo "netns.sh: popauth did not run as nobody within 10 s ($POPAUTH_UID_LINE)"
        tail -n 5 "$POPAUTH_ERR"
    } >&2
    return 1
}

smtpgate_start()
{
    local bindir=$1 db=$2 ns=$3 addr=$4 port=$5
    shift 5
    local hp=$addr:$port
    case $addr in *:*) hp="[$addr]:$port" ;; esac
    smtpgate__launch "$bindir" "$ns" "$port" "$(dirname "$db")/smtpgate.err" -c /dev/null \
        -o "database=$db" -o "policy_listen=inet:$hp" "$@"
}

# smtpgate__launch BINDIR NS PORT ERRFILE ARGS...: run smtpgate ARGS in namespace NS,
# stderr to ERRFILE; wait (bounded) until PORT listens there
smtpgate__launch()
{
    local bindir=$1 ns=$2 port=$3
    SMTPGATE_ERR=$4
    shift 4
    [ -x "$bindir/smtpgate" ] || { netns__die "$bindir/smtpgate is not built"; return 1; }
    netns_bg "$ns" "$bindir/smtpgate" "$@" >"$SMTPGATE_ERR" 2>&1
    SMTPGATE_PID=$NETNS_LAST_PID
    netns__wait "$SMTPGATE_PID" netns__port_listening "$ns" "$port" && return 0
    {
        if kill -0 "$SMTPGATE_PID" 2>/dev/null; then
            echo "netns.sh: smtpgate ($*) does not listen on port $port in $ns after 10 s"
        else
            echo "netns.sh: smtpgate exited at start (it must run in the foreground until SIGTERM)"
        fi
        tail -n 20 "$SMTPGATE_ERR"
    } >&2
    return 1
}

# --- The end-to-end relay story (scripts/demo and tests/integration/postfix.sh) ------

RELAY_POLICY_PORT=10040

relay_world_start()
{
    local bindir=$1 work=$2 lifetime=$3
    RELAY_DB=$work/auth.db
    RELAY_WORK_ERR=$work/swaks.err
    RELAY_LIFETIME=$lifetime
    relay__note "Dovecot (POP3, IMAP) on $NETNS_SERVER_ADDR and $NETNS_SERVER_ADDR6 in namespace $NETNS_SERVER"
    dovecot_start "$work" "$NETNS_SERVER_ADDR" "$NETNS_SERVER_ADDR6" || return 1
    relay__note "popauth follows $DOVECOT_LOG (grant_lifetime = $lifetime)"
    popauth_start "$bindir" "$RELAY_DB" "$DOVECOT_LOG" -o "grant_lifetime=$lifetime" || return 1
    relay__note "smtpgate answers policy requests on 127.0.0.1:$RELAY_POLICY_PORT in $NETNS_SERVER"
    smtpgate_start "$bindir" "$RELAY_DB" "$NETNS_SERVER" 127.0.0.1 "$RELAY_POLICY_PORT" \
        -o local_domains=local.test -o local_networks=127.0.0.0/8 || return 1
    relay__note "Postfix on $NETNS_SERVER_ADDR and $NETNS_SERVER_ADDR6 port 25: mydestination = local.test, mynetworks = 127.0.0.0/8,"
    relay__note "  smtpd_relay_restrictions = permit_mynetworks, check_policy_service inet:127.0.0.1:$RELAY_POLICY_PORT, reject_unauth_destination"
    postfix_start "$work" "$NETNS_SERVER_ADDR,$NETNS_SERVER_ADDR6" "127.0.0.1:$RELAY_POLICY_PORT" || return 1
    return 0
}

relay__note() { if declare -F relay_note >/dev/null; then relay_note "$1"; else echo "# $1"; fi; }

# relay__rcpt SRC SERVER RCPT WANT WHO [WHEN]: one swaks RCPT, reported as
# "WHO -> RCPT WHEN: reply"; the reply must start with WANT (e.g. "250", "554 5.7.1").
relay__rcpt()
{
    local src=$1 server=$2 rcpt=$3 want=$4 label="$5 -> $3${6:+ $6}" reply
    if ! reply=$(swaks_rcpt "$NETNS_CLIENT" "$src" "$server" "$rcpt" 2>"$RELAY_WORK_ERR"); then
        relay_report FAIL "$label: no reply to RCPT (wanted $want): $(tail -n 3 "$RELAY_WORK_ERR" | tr '\n' ' ')"
        return 1
    fi
    if [[ $reply == "$want"* ]]; then
        relay_report OK "$label: $reply"
    else
        relay_report FAIL "$label: $reply (wanted $want)"
        return 1
    fi
}

# relay__login pop3|imap SERVER USER SRC: log in, then wait until popauth granted SRC.
relay__login()
{
    local proto=$1 server=$2 user=$3 src=$4 i json reply
    if "${proto}_login" "$NETNS_CLIENT" "$server" "$user" secret "$src"; then
        # The reply to PASS (the third POP3 line) or to the tagged LOGIN.
        if [ "$proto" = pop3 ]; then
            reply=$(sed -n 3p <<<"$CLIENT_REPLY")
        else
            reply=$(grep -m1 '^a ' <<<"$CLIENT_REPLY" | sed 's/\[CAPABILITY [^]]*\] //')
        fi
        relay_report OK "${proto^^} login by $user from $src: $reply"
    else
        relay_report FAIL "${proto^^} login by $user from $src failed: $(printf '%s' "$CLIENT_REPLY" | tr '\n' ' ')"
        return 1
    fi
    for ((i = 0; i < 100; i++)); do
        json=$("$RELAY_BIN/popauthctl" -c /dev/null -o "database=$RELAY_DB" show "$src" --json 2>/dev/null) && break
        json=
        sleep 0.1
    done
    if [ -n "$json" ] && jq -e --arg a "$src" --arg u "$user" '.address == $a and .user == $u' >/dev/null <<<"$json"; then
        relay_report OK "popauth granted $src to $user until $(date -d "@$(jq -r .expires <<<"$json")" '+%H:%M:%S')"
    else
        relay_report FAIL "popauth did not grant $src to $user within 10 s (show: ${json:-nothing}; popauth: $(tail -n 3 "$POPAUTH_ERR" | tr '\n' ' '))"
        return 1
    fi
}

# relay__expire SRC: wait (bounded) until SRC's grant has expired in the store.
relay__expire()
{
    local src=$1 i limit rc
    limit=$(( ($(netns__seconds "$RELAY_LIFETIME") + 15) * 10 ))
    for ((i = 0; i < limit; i++)); do
        # exit 1 is "no active grant"; 2 (a busy store, say) is no answer: ask again
        rc=0
        "$RELAY_BIN/popauthctl" -c /dev/null -o "database=$RELAY_DB" show "$src" >/dev/null 2>&1 ||
            rc=$?
        [ "$rc" -eq 1 ] && break
        sleep 0.1
    done
    if [ "$i" -ge "$limit" ]; then
        relay_report FAIL "the grant for $src did not expire"
        return 1
    fi
    # A second more, so no clock rounding anywhere can keep it alive.
    sleep 1
    relay_report OK "the grant for $src has expired ($RELAY_LIFETIME after the login)"
}

# Seconds in a duration like 5s, 2m, 1h or a plain number.
netns__seconds()
{
    case $1 in
        *s) echo "${1%s}" ;;
        *m) echo $((${1%m} * 60)) ;;
        *h) echo $((${1%h} * 3600)) ;;
        *) echo "$1" ;;
    esac
}

relay_scenario()
{
    RELAY_BIN=$1
    [ -n "${RELAY_DB:-}" ] || { netns__die "relay_scenario: call relay_world_start first"; return 1; }
    local rc=0 roam=$NETNS_CLIENT_ADDR third=$NETNS_THIRD_ADDR srv=$NETNS_SERVER_ADDR
    local roam6=$NETNS_CLIENT_ADDR6 third6=$NETNS_THIRD_ADDR6 srv6=$NETNS_SERVER_ADDR6
    local far=u@far.test local=alice@local.test no="554 5.7.1"

    relay__note "1. Nobody has logged in: relaying is refused, local mail is accepted"
    relay__rcpt "$roam" "$srv" "$far" "$no" "roaming client $roam" "before login" || rc=1
    relay__rcpt "$third" "$srv" "$far" "$no" "third party $third" || rc=1
    relay__rcpt "$roam" "$srv" "$local" 250 "roaming client $roam" || rc=1
    relay__rcpt "$third" "$srv" "$local" 250 "third party $third" || rc=1
    relay__rcpt "$roam6" "$srv6" "$far" "$no" "roaming client $roam6" "before login" || rc=1

    relay__note "2. The roaming client checks its mail over POP3 (alice, from $roam)"
    relay__login pop3 "$srv" alice "$roam" || rc=1
    relay__rcpt "$roam" "$srv" "$far" 250 "roaming client $roam" "after POP3 login" || rc=1
    relay__rcpt "$third" "$srv" "$far" "$no" "third party $third" || rc=1
    relay__rcpt "$third" "$srv" "$local" 250 "third party $third" || rc=1
    relay__rcpt "$roam6" "$srv6" "$far" "$no" "roaming client $roam6" "(no login from it)" || rc=1

    relay__note "3. The grant runs out ($RELAY_LIFETIME): relaying is refused again"
    relay__expire "$roam" || rc=1
    relay__rcpt "$roam" "$srv" "$far" "$no" "roaming client $roam" "after expiry" || rc=1
    relay__rcpt "$roam" "$srv" "$local" 250 "roaming client $roam" "after expiry" || rc=1

    relay__note "4. Over IPv6: an IMAP login (bob, from $roam6)"
    relay__login imap "$srv6" bob "$roam6" || rc=1
    relay__rcpt "$roam6" "$srv6" "$far" 250 "roaming client $roam6" "after IMAP login" || rc=1
    relay__rcpt "$third6" "$srv6" "$far" "$no" "third party $third6" || rc=1
    relay__rcpt "$roam" "$srv" "$far" "$no" "roaming client $roam" "(its grant expired)" || rc=1
    relay__expire "$roam6" || rc=1
    relay__rcpt "$roam6" "$srv6" "$far" "$no" "roaming client $roam6" "after expiry" || rc=1

    return $rc
}

# --- Scripted mail sessions, Dovecot reconfiguration, packet capture ------------------

MAIL_TRANSCRIPT=
MAIL_LINE=
TCPDUMP_PID=
TCPDUMP_ERR=
TCPDUMP_FILE=

mail_open()
{
    local ns=$1 addr=$2 port=$3 src=${4:-}
    MAIL_TRANSCRIPT='' MAIL_LINE=''
    netns__connect "$ns" "$addr" "$port" "$src"
}

mail_send()
{
    MAIL_TRANSCRIPT+="C: $1"$'\n'
    netns__send "$1"
}

mail_expect()
{
    local glob=$1 n
    for ((n = 0; n < 1000; n++)); do
        if ! netns__recv; then
            MAIL_LINE=
            netns__die "mail_expect: no line matching '$glob' (closed, or 10 s without a line)"
            return 1
        fi
        # shellcheck disable=SC2034 # read by the caller
        MAIL_LINE=$REPLY
        MAIL_TRANSCRIPT+="S: $REPLY"$'\n'
        # shellcheck disable=SC2053 # GLOB is a pattern
        if [[ $glob != '*'* && $REPLY == '* '* ]]; then
            continue
        elif [[ $REPLY == $glob ]]; then
            return 0
        fi
        netns__die "mail_expect: wanted '$glob', got '$REPLY'"
        return 1
    done
    netns__die "mail_expect: no line matching '$glob' in 1000 untagged lines"
}

mail_close()
{
    local pid=$NETNS_CO_PID
    # The braces scope the 2>/dev/null (a closed descriptor is not an error here); the
    # closes themselves stay in effect.
    { exec {NETNS_CO_IN}>&- {NETNS_CO_OUT}<&-; } 2>/dev/null
    [ -n "$pid" ] && netns_stop_pid "$pid" 5
    return 0
}

# dovecot__back N: the restarted master listens on N sockets and has written its pid
dovecot__back()
{
    netns__pop_ports "$NETNS_SERVER" "$1" \
        && [ "$(cat "$DOVECOT_BASE/master.pid" 2>/dev/null)" = "$DOVECOT_PID" ]
}

dovecot_reconfigure()
{
    [ -n "$DOVECOT_PID" ] || { netns__die "dovecot_reconfigure: no Dovecot is running"; return 1; }
    local n line check stderr=${DOVECOT_CONF%/*}/dovecot.stderr
    n=$(ip netns exec "$NETNS_SERVER" ss -Hltn '( sport = :110 or sport = :143 )' | wc -l)
    dovecot_stop
    for line in "$@"; do
        printf '%s\n' "$line" >>"$DOVECOT_CONF" || return 1
    done
    check=$(doveconf -c "$DOVECOT_CONF" -n 2>&1 >/dev/null) \
        || { netns__die "doveconf rejects $DOVECOT_CONF: $check"; return 1; }
    netns_bg "$NETNS_SERVER" dovecot -F -c "$DOVECOT_CONF" >>"$stderr" 2>&1
    DOVECOT_PID=$NETNS_LAST_PID
    if ! netns__wait "$DOVECOT_PID" dovecot__back "$n"; then
        {
            echo "netns.sh: Dovecot did not come back with the new settings (config $DOVECOT_CONF)"
            echo "--- tail of $DOVECOT_LOG:"
            tail -n 20 "$DOVECOT_LOG"
            echo "--- dovecot's stderr:"
            tail -n 20 "$stderr"
        } >&2
        return 1
    fi
    return 0
}

tcpdump_start()
{
    local ns=$1 iface=$2 file=$3
    command -v tcpdump >/dev/null || { netns__die "tcpdump is not installed (package tcpdump)"; return 1; }
    [ -z "$TCPDUMP_PID" ] || { netns__die "tcpdump_start: a tcpdump is already running"; return 1; }
    TCPDUMP_ERR=$file.stderr
    : >"$TCPDUMP_ERR"
    # --immediate-mode: each packet is handed over (and, with -U, written) as it arrives,
    # not when a kernel buffer block fills or times out, so nothing waits to be lost at
    # SIGTERM. -Z root: write FILE as root (the default would switch to user tcpdump).
    netns_bg "$ns" tcpdump -n -i "$iface" -s 0 --immediate-mode -U -Z root -w "$file" \
        2>"$TCPDUMP_ERR"
    TCPDUMP_FILE=$file
    TCPDUMP_PID=$NETNS_LAST_PID
    netns__wait "$TCPDUMP_PID" grep -q 'listening on' "$TCPDUMP_ERR" && return 0
    {
        echo "netns.sh: tcpdump is not capturing on $iface in $ns after 10 s"
        cat "$TCPDUMP_ERR"
    } >&2
    return 1
}

tcpdump_stop()
{
    [ -n "$TCPDUMP_PID" ] || { netns__die "tcpdump_stop: no tcpdump is running"; return 1; }
    local size prev=-1 i
    for ((i = 0; i < 20; i++)); do
        size=$(stat -c %s "$TCPDUMP_FILE" 2>/dev/null || echo 0)
        [ "$size" = "$prev" ] && break
        prev=$size
        sleep 0.5
    done
    netns_stop_pid "$TCPDUMP_PID" 10
    TCPDUMP_PID=
    local dropped
    dropped=$(sed -n 's/^\([0-9]*\) packets\{0,1\} dropped by kernel$/\1/p' "$TCPDUMP_ERR")
    [ -n "$dropped" ] || { netns__die "tcpdump did not report its counts: $(tr '\n' ' ' <"$TCPDUMP_ERR")"; return 1; }
    [ "$dropped" -eq 0 ] || { netns__die "the kernel dropped $dropped packets during the capture"; return 1; }
    return 0
}

# --- The SMTP proxy's test servers (tests/integration/proxy.sh) ----------------------

postfix_reconfigure()
{
    [ -n "$POSTFIX_PID" ] || { netns__die "postfix_reconfigure: no Postfix is running"; return 1; }
    local before line i
    for line in "$@"; do
        postconf -c "$POSTFIX_CONF" -e "$line" \
            || { netns__die "postconf -e '$line' failed on $POSTFIX_CONF"; return 1; }
    done
    before=$(grep -c 'postfix/master\[[0-9]*\]: reload' "$POSTFIX_LOG")
    kill -HUP "$POSTFIX_PID" || { netns__die "cannot signal Postfix's master $POSTFIX_PID"; return 1; }
    for ((i = 0; i < 100; i++)); do
        [ "$(grep -c 'postfix/master\[[0-9]*\]: reload' "$POSTFIX_LOG")" -gt "$before" ] && return 0
        sleep 0.1
    done
    netns__die "Postfix did not log a reload within 10 s ($POSTFIX_LOG)"
}


smtpgate_proxy_start()
{
    local bindir=$1 db=$2 ns=$3 listen=$4 backend=$5 errfile=$6
    shift 6
    [ -x "$bindir/smtpgate" ] || { netns__die "$bindir/smtpgate is not built"; return 1; }
    local item hp want=()
    for item in ${listen//,/ }; do
        hp=${item#inet:}
        [ "$hp" != "$item" ] || { netns__die "smtpgate_proxy_start: '$item' is not inet:HOST:PORT"; return 1; }
        want+=("$hp")
    done
    netns_bg "$ns" "$bindir/smtpgate" -c /dev/null -o "database=$db" -o policy_listen= \
        -o "proxy_listen=$listen" -o "proxy_backend=$backend" "$@" >"$errfile" 2>&1
    PROXY_PID=$NETNS_LAST_PID
    netns__wait "$PROXY_PID" netns__all_listening "$ns" "${want[@]}" && return 0
    {
        if kill -0 "$PROXY_PID" 2>/dev/null; then
            echo "netns.sh: smtpgate does not listen on $listen in $ns after 10 s"
        else
            echo "netns.sh: smtpgate (proxy_listen=$listen) exited at start"
        fi
        tail -n 20 "$errfile"
    } >&2
    return 1
}

smtp_sink_start()
{
    local ns=$1 addr=$2 port=$3 dir=$4
    shift 4
    command -v smtp-sink >/dev/null || { netns__die "smtp-sink is not installed (package postfix)"; return 1; }
    mkdir -p "$dir" && chown nobody "$dir" || { netns__die "cannot make $dir for smtp-sink"; return 1; }
    local d=$dir
    while [ "$d" != / ]; do
        d=$(dirname "$d")
        runuser -u nobody -- test -x "$d" \
            || { netns__die "directory $d is not searchable by nobody; use a DIR under /tmp"; return 1; }
    done
    SINK_LOG=$dir/log SINK_DUMP=$dir/dump
    local hp=$addr:$port
    case $addr in *:*) hp="[$addr]:$port" ;; esac
    netns_bg "$ns" smtp-sink -u nobody -v -D "$SINK_DUMP" "$@" "inet:$hp" 256 >"$SINK_LOG" 2>&1
    SINK_PID=$NETNS_LAST_PID
    netns__wait "$SINK_PID" netns__listening "$ns" "$hp" && return 0
    {
        echo "netns.sh: smtp-sink does not listen on $hp in $ns after 10 s"
        tail -n 20 "$SINK_LOG"
    } >&2
    return 1
}

# --- The daemons on a configuration file (postfix_shipped.sh, exim.sh) ---------------

# swaks_expect LABEL SRC SERVER RCPT WANT: one SMTP session from SRC in the client
# namespace to SERVER:25 (swaks_rcpt); its reply to RCPT TO must start with WANT
# (lib.sh's expect_prefix). The reply is left in SWAKS_REPLY
swaks_expect()
{
    local label=$1 src=$2 server=$3 to=$4 expect=$5 errfile
    errfile=$(mktemp) || return 1
    if ! SWAKS_REPLY=$(swaks_rcpt "$NETNS_CLIENT" "$src" "$server" "$to" 2>"$errfile"); then
        SWAKS_REPLY="no reply to RCPT: $(tail -n 3 "$errfile" | tr '\n' ' ')"
    fi
    rm -f "$errfile"
    expect_prefix "$label -> $to" "$expect" "$SWAKS_REPLY"
}

# smtpgate_said LABEL FROM CLIENT RCPT WANT: smtpgate's decision line for CLIENT and RCPT,
# among the lines of SMTPGATE_ERR after line FROM, must carry action=WANT (WANT "none":
# no such line at all)
smtpgate_said()
{
    local label=$1 from=$2 client=$3 to=$4 expect=$5 line
    line=$(tail -n +"$((from + 1))" "$SMTPGATE_ERR" |
        grep -F " client=$client recipient=$to " | tail -n 1)
    [ -n "$line" ] && line=action=${line#*action=}
    if [ "$expect" = none ]; then
        expect_prefix "$label: smtpgate's log" "no decision" \
            "${line:-no decision logged for $client -> $to}"
    else
        expect_prefix "$label: smtpgate's log" "action=$expect client=$client recipient=$to " \
            "${line:-no decision logged for $client -> $to}"
    fi
}

# popauth_start_conf BINDIR CONF DB LOG [-o name=value...]: run popauth (root namespace)
# on the configuration file CONF, which names store DB and follows LOG; waits until it has
# LOG open and DB exists. Sets POPAUTH_PID, POPAUTH_ERR (its stderr, beside DB)
popauth_start_conf()
{
    local bindir=$1 conf=$2 db=$3 log=$4
    shift 4
    popauth__launch "$bindir" "$db" "$log" -c "$conf" "$@"
}

# smtpgate_start_conf BINDIR CONF NS PORT ERRFILE [-o name=value...]: run smtpgate in
# namespace NS on the configuration file CONF (its policy_listen must listen on PORT),
# stderr to ERRFILE; waits until PORT listens. Sets SMTPGATE_PID, SMTPGATE_ERR
smtpgate_start_conf()
{
    local bindir=$1 conf=$2 ns=$3 port=$4 errfile=$5
    shift 5
    smtpgate__launch "$bindir" "$ns" "$port" "$errfile" -c "$conf" "$@"
}
