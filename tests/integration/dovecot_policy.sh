#!/usr/bin/env bash
# popauth's Dovecot auth-policy source against a real Dovecot: Dovecot runs in a private
# network namespace with auth_policy_server_url pointing at popauth (also in that
# namespace, on its loopback, as nobody, with no log source at all), and clients log in
# over POP3 and IMAP from a second namespace.
# Checks: POP3 (IPv4) and IMAP (IPv6) logins are granted within a second (the time is
# printed) with user and source "dovecot-policy"; a wrong password, a proxy passdb with
# nopassword (any password logs in) and a nologin entry grant nothing; a user
# name that carries JSON ("remote":"6.6.6.6") and an IMAP ID x-originating-ip from an
# untrusted client never grant the forged address; requests without the secret or with a
# wrong one get 401 and grant nothing, a malformed report 400; with popauth stopped
# Dovecot's logins still succeed (its policy client fails open), and the first login after
# popauth is back is granted; popauth exits 0 on SIGTERM; a unix listener (mode 0600, no
# secret) grants for a report its owner sends and is closed to other users.
# Needs root, dovecot-pop3d, dovecot-imapd, netcat-openbsd, iproute2, jq, curl.
# Usage: dovecot_policy.sh BINDIR
set -u
bindir=${1:?usage: dovecot_policy.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "0 passed, 1 failed"; exit 1; }

require_built "$bindir" popauth popauthctl
require_packages dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq curl
require_commands jq curl

work=$(mktemp -d /tmp/pa-dpolicy.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT
netns_setup || die "could not set up the network namespaces"

port=10051
secret=Zp4t7Qm2Xc9Lw3Rk8Hv6
url=http://127.0.0.1:$port
# A user name that would move "remote" if Dovecot's JSON were pasted together unescaped.
# A passwd-file cannot hold a ':' in a name, so a static passdb (tried after it) takes any
# name with the password jsonpass.
json_user='x","remote":"6.6.6.6","success":true,"y":"'
# Users for whom this Dovecot checks no password: dave goes to a proxy passdb (proxy=y
# nopassword=y, as on a proxy or director), nina's entry authenticates and then refuses
# the login (nologin).
DOVECOT_EXTRA_USERS+=('nina:secret::::::nologin=y reason=locked')
# Dovecot asks before and after authentication (command=allow) and reports the outcome.
# As INSTALL 5.5 says, the settings with the secret are in a file only root can read.
# The request attributes are INSTALL 5.5's, read from it, so the test checks the recipe.
attributes=$(sed -n 's/^    auth_policy_request_attributes = //p' "$here/../../INSTALL")
[ -n "$attributes" ] || die "INSTALL has no auth_policy_request_attributes line"
policy_conf=$work/95-popauth.conf
cat >"$policy_conf" <<EOF
auth_policy_server_url = $url/
auth_policy_server_api_header = X-API-Key: $secret
auth_policy_hash_nonce = popauth-test-nonce
auth_policy_check_before_auth = yes
auth_policy_check_after_auth = yes
auth_policy_report_after_auth = yes
auth_policy_server_timeout_msecs = 2000
auth_policy_request_attributes = $attributes
EOF
chmod 0600 "$policy_conf" || die "chmod $policy_conf failed"
DOVECOT_EXTRA_CONF="!include $policy_conf
passdb {
  driver = static
  args = proxy=y nopassword=y host=127.0.0.1 port=1
  username_filter = dave
}
passdb {
  driver = static
  args = password=jsonpass
}"
dovecot_start "$work" "$NETNS_SERVER_ADDR" "$NETNS_SERVER_ADDR6" || die "Dovecot did not start"
pass "Dovecot listens on $NETNS_SERVER_ADDR and $NETNS_SERVER_ADDR6 (ports 110, 143)"
xid_addr=$NETNS_NET.52
netns_add_addr "$NETNS_CLIENT" "$xid_addr/24" || die "could not add $xid_addr"

store=$work/store
{ mkdir -p "$store" && chown nobody:nogroup "$store"; } || die "could not make $store"
db=$store/auth.db
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }

show_logs()
{
    echo "  --- popauth stderr:"
    tail -n 20 "$work/popauth.err" | sed 's/^/  /'
    echo "  --- dovecot log:"
    grep -i 'polic\|auth' "$DOVECOT_LOG" | tail -n 20 | sed 's/^/  /'
}

# popauth in the server namespace: no log source, only the Dovecot listener; as nobody.
popauth_up()
{
    netns_bg "$NETNS_SERVER" "$bindir/popauth" -c /dev/null -o "database=$db" -o log_sources= \
        -o "dovecot_policy_listen=inet:127.0.0.1:$port" -o "dovecot_policy_secret=$secret" \
        -o run_user=nobody -o grant_lifetime=10m >>"$work/popauth.err" 2>&1
    popauth_pid=$NETNS_LAST_PID
    netns_wait_listen "$NETNS_SERVER" "$port"
}

# SIGTERM to popauth; its exit status in $status (999 if it still runs after 10 s, when
# the cleanup kills it)
stop_popauth()
{
    local i
    kill -TERM "$popauth_pid"
    for ((i = 0; i < 100; i++)); do
        [ "$(ps -o stat= -p "$popauth_pid" 2>/dev/null | cut -c1)" = Z ] && break
        kill -0 "$popauth_pid" 2>/dev/null || break
        sleep 0.1
    done
    status=999
    if ! kill -0 "$popauth_pid" 2>/dev/null || [ "$(ps -o stat= -p "$popauth_pid" | cut -c1)" = Z ]; then
        wait "$popauth_pid"
        status=$?
    fi
}

# Runs a login function; records the server's replies as "stdout" for lib.sh's report.
login()
{
    "$@"
    status=$? out=$CLIENT_REPLY err=
}

# Polls `show ADDR` every 10 ms for up to 5 s until it exits 0; leaves the last
# show --json in $out and the milliseconds waited in $waited_ms.
wait_grant()
{
    local i t0 t1
    t0=$(date +%s%N)
    for ((i = 0; i < 500; i++)); do
        ctl show "$1" >/dev/null 2>&1 && break
        sleep 0.01
    done
    t1=$(date +%s%N)
    waited_ms=$(((t1 - t0) / 1000000))
    run ctl show "$1" --json
}

# The number of report requests popauth has counted (the source's lines counter).
reports() { ctl stats --json 2>/dev/null | jq '.sources["dovecot-policy"].lines // 0'; }

# Waits (5 s at most) until popauth has counted more than $1 reports.
wait_reports()
{
    local i
    for ((i = 0; i < 500; i++)); do
        [ "$(reports)" -gt "$1" ] && return 0
        sleep 0.01
    done
    return 1
}

# post HEADER... -- BODY QUERY: a request to popauth from the server namespace; the
# status code in $code
post()
{
    local -a h=()
    while [ "$1" != -- ]; do
        h+=(-H "$1")
        shift
    done
    code=$(ip netns exec "$NETNS_SERVER" curl -s -o "$work/curl.out" -w '%{http_code}' \
        --max-time 5 -X POST "${h[@]}" -H 'Content-Type: application/json' --data-binary "$2" \
        "$url/?command=$3")
}

: >"$work/popauth.err"
popauth_up || { show_logs; die "popauth does not listen on 127.0.0.1:$port in $NETNS_SERVER"; }
pass "popauth listens on 127.0.0.1:$port with no log source"
run ctl stats
expect_no_out "source file:" "no log source is configured"

# 1. POP3 login by alice from the client's IPv4 address.
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login by alice from $NETNS_CLIENT_ADDR"
wait_grant "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login from $NETNS_CLIENT_ADDR is granted"
expect_json ".address == \"$NETNS_CLIENT_ADDR\" and .user == \"alice\" and .source == \"dovecot-policy\"" \
    "grant for $NETNS_CLIENT_ADDR names alice and source dovecot-policy"
echo "# grant readable ${waited_ms} ms after the POP3 session ended (polled every 10 ms)"
run test "$waited_ms" -lt 1000
expect_status 0 "the POP3 grant is readable within a second (${waited_ms} ms)"

# 2. IMAP login by bob from the client's IPv6 address.
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" bob secret "$NETNS_CLIENT_ADDR6"
expect_status 0 "IMAP login by bob from $NETNS_CLIENT_ADDR6"
wait_grant "$NETNS_CLIENT_ADDR6"
expect_status 0 "IMAP login from $NETNS_CLIENT_ADDR6 is granted"
echo "# grant readable ${waited_ms} ms after the IMAP session ended"
expect_json ".address == \"$NETNS_CLIENT_ADDR6\" and .user == \"bob\" and .source == \"dovecot-policy\"" \
    "grant for $NETNS_CLIENT_ADDR6 names bob and source dovecot-policy"

# 3. A wrong password: Dovecot reports success=false; nothing is granted.
before=$(reports)
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice wrong "$NETNS_THIRD_ADDR"
expect_status 1 "POP3 login with a wrong password from $NETNS_THIRD_ADDR is refused"
run wait_reports "$before"
expect_status 0 "popauth received Dovecot's report of the failed login"
run ctl show "$NETNS_THIRD_ADDR"
expect_status 1 "the failed login from $NETNS_THIRD_ADDR grants nothing"

# 3b. No password checked here: dave (proxy, nopassword) with any password, nina (nologin).
before=$(reports)
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" dave anything "$NETNS_THIRD_ADDR"
echo "# dave's login, proxied to a port where nothing listens, ended with status $status"
run wait_reports "$before"
expect_status 0 "popauth received Dovecot's report of dave's login"
run ctl show "$NETNS_THIRD_ADDR"
expect_status 1 "a login no password was checked for grants nothing"
before=$(reports)
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" nina secret "$NETNS_THIRD_ADDR6"
expect_status 1 "IMAP login by nina (nologin) is refused by Dovecot"
run wait_reports "$before"
expect_status 0 "popauth received Dovecot's report of nina's authentication"
run ctl show "$NETNS_THIRD_ADDR6"
expect_status 1 "a nologin account's authentication grants nothing"

# 4. A user name carrying JSON: granted to its real address and exact name only.
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" "$json_user" jsonpass "$NETNS_THIRD_ADDR6"
expect_status 0 "IMAP login as '$json_user' from $NETNS_THIRD_ADDR6"
wait_grant "$NETNS_THIRD_ADDR6"
expect_status 0 "that login is granted to its real address $NETNS_THIRD_ADDR6"
expect_json ".user == $(jq -n --arg u "$json_user" '$u')" "the grant names the exact user"

# 5. IMAP ID x-originating-ip from an untrusted client is ignored by Dovecot.
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$xid_addr" \
    'ID ("x-originating-ip" "6.6.6.7" "x-originating-port" "4242")'
expect_status 0 "IMAP login by alice from $xid_addr after ID x-originating-ip 6.6.6.7"
wait_grant "$xid_addr"
expect_status 0 "that login is granted to its real address $xid_addr"
for a in 6.6.6.6 6.6.6.7; do
    run ctl show "$a"
    expect_status 1 "the forged address $a is not granted"
done

# 6. Requests that are not Dovecot's: no secret, a wrong one, a malformed report.
attrs='"nopassword":"-","nologin":"-","proxy":"-","mech":"PLAIN"'
good='{"login":"eve","remote":"192.0.2.77","success":true,"policy_reject":false,'$attrs'}'
post -- "$good" report
run test "$code" = 401
expect_status 0 "a report without X-API-Key gets 401 (got $code)"
post "X-API-Key: wrong-secret-0123456789" -- "$good" report
run test "$code" = 401
expect_status 0 "a report with a wrong X-API-Key gets 401 (got $code)"
post "X-API-Key: $secret" -- '{"login":"eve","remote":"192.0.2.078","success":true,"policy_reject":false,'"$attrs"'}' report
run test "$code" = 400
expect_status 0 "a report with a non-canonical remote gets 400 (got $code)"
out=$(cat "$work/curl.out") err=
expect_out "not an IP address" "the 400 says what is wrong"
post "X-API-Key: $secret" -- '{"login":"eve","remote":"192.0.2.79","success":true}' report
run test "$code" = 400
expect_status 0 "a report without policy_reject gets 400 (got $code)"
for a in 192.0.2.77 192.0.2.78 192.0.2.79; do
    run ctl show "$a"
    expect_status 1 "refused request grants nothing for $a"
done
run ctl stats --json
expect_json '.sources["dovecot-policy"].rejected == 2' "the two 401s are counted as rejected"

run ctl list --json
expect_json "(map(.address) - [\"$NETNS_CLIENT_ADDR\", \"$NETNS_CLIENT_ADDR6\", \"$NETNS_THIRD_ADDR6\", \"$xid_addr\"]) == []" \
    "no grant for any address but the real logins"

# 7. popauth stopped: Dovecot's logins still work; after popauth is back they grant again.
stop_popauth
expect_status 0 "popauth exits 0 on SIGTERM"
ctl revoke "$NETNS_CLIENT_ADDR" >/dev/null
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login by alice succeeds while popauth is stopped"
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" bob secret "$NETNS_CLIENT_ADDR6"
expect_status 0 "IMAP login by bob succeeds while popauth is stopped"
run ctl show "$NETNS_CLIENT_ADDR"
expect_status 1 "no grant appears while popauth is stopped"
popauth_up || { show_logs; die "popauth did not come back"; }
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login by alice after popauth is back"
wait_grant "$NETNS_CLIENT_ADDR"
expect_status 0 "the first login after popauth is back is granted (${waited_ms} ms)"

stop_popauth
expect_status 0 "popauth exits 0 on SIGTERM again"

# 8. A unix listener without a secret: its mode is the guard.
sock=$store/policy.sock
netns_bg "$NETNS_SERVER" "$bindir/popauth" -c /dev/null -o "database=$db" -o log_sources= \
    -o "dovecot_policy_listen=unix:$sock:mode=0600" -o dovecot_policy_max_connections=1 \
    >>"$work/popauth.err" 2>&1
popauth_pid=$NETNS_LAST_PID
for ((i = 0; i < 100; i++)); do
    [ -S "$sock" ] && break
    sleep 0.05
done
run test -S "$sock"
expect_status 0 "popauth listens on $sock"
run stat -c %a "$sock"
expect_out 600 "the socket has mode 0600"
# Three requests one after the other, each on a connection of its own: with
# dovecot_policy_max_connections = 1 each must still be served at once.
codes=
for n in 1 2 3; do
    codes+=$(curl -s -o "$work/curl.out" -w '%{http_code}' --max-time 3 --unix-socket "$sock" \
        -X POST --data-binary '{"login":"carol","remote":"192.0.2.80","success":true,"policy_reject":false,'"$attrs"'}' \
        'http://localhost/?command=report')" "
done
run test "$codes" = "200 200 200 "
expect_status 0 "three reports in turn over the unix socket (no secret, one connection at a time) get 200 (got $codes)"
wait_grant 192.0.2.80
expect_status 0 "that report is granted"
expect_json '.user == "carol" and .source == "dovecot-policy"' "the grant names carol and dovecot-policy"
run runuser -u nobody -- curl -s --max-time 5 --unix-socket "$sock" -X POST --data-binary \
    '{"login":"m","remote":"192.0.2.81","success":true,"policy_reject":false,'"$attrs"'}' 'http://localhost/?command=report'
run ctl show 192.0.2.81
expect_status 1 "another user cannot reach the 0600 socket: nothing granted"
stop_popauth
expect_status 0 "popauth exits 0 on SIGTERM (unix listener)"
run test -e "$sock"
expect_status 1 "the socket file is removed at exit"

[ "$failed" -eq 0 ] || show_logs
finish
