# Helpers for the milter tests (milter_postfix.sh, milter_sendmail.sh): sourced after
# lib.sh, netns.sh and battery.sh, not run. A real MTA with smtpgate's milter front in the
# server namespace, clients in the client namespace.
#
# API (the test sets bindir, work, db, lan and lan6 first; battery_hosts sets the last two):
#   ctl ARGS...                 popauthctl on the test's store
#   smtpgate_lines              lines in smtpgate's log so far
#   gate_start                  smtpgate with the milter front only (below)
#   smtp_try, transcript_has, wait_grant, login  (below)
# shellcheck shell=bash
# shellcheck disable=SC2154 # bindir, work, db, lan, lan6: the sourcing test's
# shellcheck disable=SC2034 # status, out, err: read by lib.sh's pass and fail

ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }
smtpgate_lines() { wc -l <"$SMTPGATE_ERR"; }

# gate_start: smtpgate in the server namespace, the milter front on 127.0.0.1:10041 only
# (the address of the shipped recipe); waits until it listens. Sets SMTPGATE_PID and
# SMTPGATE_ERR (appended to, across restarts)
gate_start()
{
    SMTPGATE_ERR=$work/smtpgate.err
    netns_bg "$NETNS_SERVER" "$bindir/smtpgate" -c /dev/null -o "database=$db" -o policy_listen= \
        -o milter_listen=inet:127.0.0.1:10041 -o local_domains=local.test \
        -o "local_networks=127.0.0.0/8, $lan/32, $lan6/128" >>"$SMTPGATE_ERR" 2>&1
    SMTPGATE_PID=$NETNS_LAST_PID
    if ! netns_wait_listen "$NETNS_SERVER" 10041 1 10 || ! kill -0 "$SMTPGATE_PID" 2>/dev/null; then
        tail -n 20 "$SMTPGATE_ERR" >&2
        return 1
    fi
}

# smtp_try LABEL SRC SERVER RCPT WANT [SWAKS-OPTION...]: one swaks session from SRC to
# SERVER:25 for RCPT (sender x@far.test). The reply to RCPT TO, or, when the session
# ended before it, the first 4xx or 5xx reply (to MAIL FROM, say), must start with WANT.
# The transcript is left in SWAKS_OUT
smtp_try()
{
    local label=$1 src=$2 server=$3 rcpt=$4 expect=$5 line seen=0 reply="" first=""
    shift 5
    case $server in *:*) server="[$server]" ;; esac
    SWAKS_OUT=$(ip netns exec "$NETNS_CLIENT" swaks --server "$server" --port 25 \
        --local-interface "$src" --helo client.far.test --from x@far.test --to "$rcpt" \
        --quit-after RCPT --timeout 30 "$@" 2>&1)
    while IFS= read -r line; do
        line=${line%$'\r'}
        if [[ $line =~ ^\ (-\>|~\>)\ RCPT\ TO: ]]; then
            seen=1
        elif [[ $line =~ ^(\<-|\<~|\<\*\*|\<~\*)\ +([0-9]{3})([\ -])(.*)$ ]]; then
            if [ "$seen" -eq 1 ] && [ "${BASH_REMATCH[3]}" = " " ]; then
                reply="${BASH_REMATCH[2]} ${BASH_REMATCH[4]}"
                break
            fi
            [ -z "$first" ] && [[ ${BASH_REMATCH[2]} == [45]* ]] &&
                first="${BASH_REMATCH[2]} ${BASH_REMATCH[4]}"
        fi
    done <<<"$SWAKS_OUT"
    status=0 out=$SWAKS_OUT err=
    expect_prefix "$label -> $rcpt" "$expect" "${reply:-${first:-no reply}}"
}

# transcript_has LABEL PATTERN: SWAKS_OUT has a line matching the grep -E PATTERN
transcript_has()
{
    status=0 out=$SWAKS_OUT err=
    if grep -qE -- "$2" <<<"$SWAKS_OUT"; then pass "$1"; else fail "$1 (no '$2' in the transcript)"; fi
}

# wait_grant ADDR USER: popauth granted ADDR to USER (10 s at most)
wait_grant()
{
    local i json=
    for ((i = 0; i < 100; i++)); do
        json=$(ctl show "$1" --json 2>/dev/null) && break
        json=
        sleep 0.1
    done
    status=0 out=$json err=
    if [ -n "$json" ] && jq -e --arg u "$2" '.user == $u' >/dev/null <<<"$json"; then
        pass "popauth granted $1 to $2 after the login"
    else
        fail "popauth granted $1 to $2 after the login"
    fi
}

# login pop3|imap SERVER USER SRC: a real login to Dovecot, then wait for the grant
login()
{
    local proto=$1 server=$2 user=$3 src=$4
    status=0 out='' err=
    if "${proto}_login" "$NETNS_CLIENT" "$server" "$user" secret "$src"; then
        pass "${proto^^} login by $user from $src"
    else
        out=$CLIENT_REPLY
        fail "${proto^^} login by $user from $src"
    fi
    wait_grant "$src" "$user"
}
