# Helpers for the milter tests (milter_postfix.sh, milter_sendmail.sh): sourced after
# lib.sh, netns.sh and battery.sh, not run. A real MTA with smtpgate's milter front in the
# server namespace, clients in the client namespace.
#
# API (the test sets bindir, work, db, lan and lan6 first; battery_hosts sets the last two):
#   ctl ARGS...                 popauthctl on the test's store
#   smtpgate_lines              lines in smtpgate's log so far
#   gate_start                  smtpgate with the milter front only (below)
#   smtp_try, transcript_has, wait_grant, login, revoke_mid_session  (below)
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

# revoke_mid_session SRC SERVER: SRC gets an hour's grant (popauthctl allow, so only the
# revoke can end it), then one SMTP session from SRC to SERVER:25 sends a whole message
# to $far, the grant is revoked (popauthctl revoke), and the same session's next message
# to $far is refused (554 5.7.1): smtpgate's permit accepted the first message only, and
# the MTA asks about the next one again. The session is smtp_client's (the test builds
# it); its next MAIL FROM waits in a FIFO until the revoke is done
revoke_mid_session()
{
    local src=$1 server=$2 log=$work/mid-session.out fifo=$work/mid-session.fifo pid i from
    local replies line
    run ctl allow "$src" --user alice --lifetime 3600
    expect_status 0 "popauthctl allow $src for an hour"
    sleep 0.1 # smtpgate's read snapshot lasts 10 ms at most
    from=$(smtpgate_lines)
    rm -f "$fifo" && mkfifo "$fifo"
    ip netns exec "$NETNS_CLIENT" "$bindir/smtp_client" -t 30 -b "$src" "$server" 25 recv 1 \
        send 'EHLO client.far.test\r\n' recv 1 send 'MAIL FROM:<x@far.test>\r\n' recv 1 \
        send "RCPT TO:<$far>\\r\\n" recv 1 send 'DATA\r\n' recv 1 \
        send 'Subject: one\r\n\r\none\r\n.\r\n' recv 1 file "$fifo" recv 1 \
        send "RCPT TO:<$far>\\r\\n" recv 1 send 'QUIT\r\n' recv 1 >"$log" 2>&1 &
    pid=$!
    # the greeting, EHLO, MAIL, RCPT, DATA and the message: 6 replies (30 s at most)
    for ((i = 0; i < 300; i++)); do
        [ "$(grep -cE '^[0-9]{3} ' "$log")" -ge 6 ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    run ctl revoke "$src"
    expect_status 0 "popauthctl revoke $src, between two messages of one session"
    sleep 0.1
    # shellcheck disable=SC2016 # $1 is the inner shell's
    timeout 10 bash -c 'printf "MAIL FROM:<x@far.test>\r\n" >"$1"' fifo "$fifo"
    wait "$pid"
    status=$? out=$(cat "$log") err=
    mapfile -t replies < <(tr -d '\r' <"$log" | grep -E '^[0-9]{3} ')
    if [ "$status" -eq 0 ] && [[ ${replies[3]:-} == "250 "* && ${replies[5]:-} == "250 "* &&
        ${replies[7]:-} == "554 5.7.1 "* ]]; then
        pass "one session from $src: the first message relays, the next is refused after the revoke"
    else
        fail "one session from $src: the first message relays, the next is refused after the revoke"
    fi
    line=$(tail -n +"$((from + 1))" "$SMTPGATE_ERR" | grep -F " client=$src recipient=$far ")
    status=0 out=$line err=
    if [ "$(grep -c 'action=permit-grant .* reply=accept' <<<"$line")" -eq 1 ] &&
        [ "$(grep -c 'action=reject .* reply=554' <<<"$line")" -eq 1 ] &&
        [ "$(wc -l <<<"$line")" -eq 2 ]; then
        pass "smtpgate logged reply=accept for the first message and reply=554 for the next"
    else
        fail "smtpgate logged reply=accept for the first message and reply=554 for the next"
    fi
}
