#!/usr/bin/env bash
# The /metrics endpoints of both daemons, end to end on loopback. One config file for
# both, as installed: metrics_listen = popauth=unix:PATH:mode=0660, smtpgate=inet:..;
# popauth follows a log file, smtpgate runs its policy server and its SMTP proxy (in front
# of a recording backend, smtp_client -l). Every scrape is checked with
# `promtool check metrics` (any complaint fails the test).
#
# 1. Settings: a bad metrics_listen entry (unknown program, a program twice, a SPEC that
#    does not parse, a unix SPEC whose directory is missing) stops `smtpgate -t`,
#    `popauth -t` and `popauthctl config --check` with exit 2 and one line naming it.
# 2. Counters move with real traffic: a written Dovecot login line makes popauth count a
#    line read, a login and a grant and show one active grant; the policy server answers
#    a grant with OK (permit-grant) and a stranger with DUNNO (reject); the proxy refuses a
#    stranger's relay (554, reject) and relays for the granted address (permit-grant);
#    sessions, connections and latency histograms count them; `popauthctl stats` (text
#    and --json) shows smtpgate's counters, and says in one line when it cannot.
# 3. Bounds: another path is 404, POST is 405, a GET with a body is 413, an oversized
#    request header is refused, nothing of the request is echoed; 40 idle connections
#    (more than the limit of 16) do not delay the policy server, and once they are gone a
#    scrape answers again. Both daemons exit 0 on SIGTERM and popauth removes its socket.
# Needs curl, prometheus (promtool), jq.
# Usage: metrics.sh BINDIR
set -euo pipefail
bindir=${1:?usage: metrics.sh BINDIR}
bindir=$(cd "$bindir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# run_ - lib.sh's run, with errexit off while the command runs (its status is the result)
run_() { run "$@" || true; }

die()
{
    echo "FAIL - $*"
    for f in "${work:-/nonexistent}"/*.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }
    done
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

require_packages curl prometheus jq netcat-openbsd
require_commands curl promtool jq
require_built "$bindir" popauth smtpgate popauthctl policy_client smtp_client

work=$(mktemp -d /tmp/pa-metrics.XXXXXX)
pids=()
cleanup()
{
    local p
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

base=$((13000 + ($$ % 900) * 10)) # below the ephemeral range
policy_port=$base proxy_port=$((base + 1)) backend_port=$((base + 2)) sg_port=$((base + 3))
sg_spec=inet:127.0.0.1:$sg_port
pa_sock=$work/popauth-metrics.sock
conf=$work/popauth.conf
maillog=$work/mail.log
: >"$maillog"
cat >"$conf" <<EOF
database = $work/auth.db
log_sources = file:$maillog
local_domains = local.test
local_networks = 10.99.0.0/16
policy_listen = inet:127.0.0.1:$policy_port
proxy_listen = inet:127.0.0.1:$proxy_port
proxy_backend = inet:127.0.0.1:$backend_port
metrics_listen = popauth=unix:$pa_sock:mode=0660,
    smtpgate=$sg_spec
EOF
"$bindir/popauthctl" -c "$conf" purge >/dev/null || die "popauthctl could not create the store"

# --- 1. settings ------------------------------------------------------------------------
echo "# 1. metrics_listen settings"
run_ "$bindir/popauthctl" -c "$conf" config --check
expect_status 0 "popauthctl config --check accepts the two entries"
bad_entry()
{
    local value=$1 want=$2
    run_ "$bindir/smtpgate" -t -c "$conf" -o "metrics_listen=$value"
    [ "$status" -eq 2 ] && grep -qF -- "$want" <<<"$err" && pass "smtpgate -t refuses '$value'" ||
        fail "smtpgate -t refuses '$value' (wanted exit 2 and '$want')"
    run_ "$bindir/popauth" -t -c "$conf" -o "metrics_listen=$value"
    [ "$status" -eq 2 ] && grep -qF -- "$want" <<<"$err" && pass "popauth -t refuses '$value'" ||
        fail "popauth -t refuses '$value' (wanted exit 2 and '$want')"
    run_ "$bindir/popauthctl" -c "$conf" -o "metrics_listen=$value" config --check
    if [ "$status" -eq 2 ] && [ "$(grep -cF -- "$want" <<<"$err")" -eq 1 ]; then
        pass "popauthctl config --check names '$value' once"
    else
        fail "popauthctl config --check names '$value' once (wanted exit 2 and one '$want')"
    fi
}
bad_entry "smtpgat=$sg_spec" "unknown program 'smtpgat'"
bad_entry "popauth=unix:/x.sock, popauth=unix:/y.sock, smtpgate=unix:/z.sock" \
    "metrics_listen: popauth is listed twice"
bad_entry "$sg_spec" "metrics_listen: bad entry '$sg_spec'"
run_ "$bindir/smtpgate" -t -c "$conf" -o "metrics_listen=smtpgate=inet:localhost:1"
[ "$status" -eq 2 ] && grep -qF "metrics_listen inet:localhost:1" <<<"$err" &&
    pass "smtpgate -t refuses its own SPEC that does not parse" ||
    fail "smtpgate -t refuses its own SPEC that does not parse"
run_ "$bindir/popauth" -t -c "$conf" -o "metrics_listen=popauth=unix:$work/none/m.sock"
[ "$status" -eq 2 ] && grep -qF "no directory $work/none" <<<"$err" &&
    pass "popauth -t refuses a unix SPEC whose directory is missing" ||
    fail "popauth -t refuses a unix SPEC whose directory is missing"

# --- start ------------------------------------------------------------------------------
rec=$work/rec
mkdir -p "$rec"
"$bindir/smtp_client" -l -r "$rec" 127.0.0.1 "$backend_port" 2>"$work/backend.log" &
pids+=($!)
"$bindir/popauth" -c "$conf" 2>"$work/popauth.log" &
pa_pid=$!
pids+=("$pa_pid")
"$bindir/smtpgate" -c "$conf" 2>"$work/smtpgate.log" &
sg_pid=$!
pids+=("$sg_pid")
for i in $(seq 50); do
    grep -q "action=start" "$work/popauth.log" && grep -q "action=start" "$work/smtpgate.log" &&
        [ -S "$pa_sock" ] && break
    kill -0 "$pa_pid" 2>/dev/null || die "popauth did not start"
    kill -0 "$sg_pid" 2>/dev/null || die "smtpgate did not start"
    sleep 0.1
done
[ -S "$pa_sock" ] || die "popauth's metrics socket $pa_sock is not there"
pass "popauth and smtpgate are running with metrics_listen set"
mode=$(stat -c %a "$pa_sock")
[ "$mode" = 660 ] && pass "the unix metrics socket has mode 0660" ||
    fail "the unix metrics socket has mode 0660 (got $mode)"

# scrape NAME DAEMON - GET /metrics of popauth (unix) or smtpgate (inet) into
# $work/NAME.prom; promtool must accept it
nscrape=0
scrape()
{
    local name=$1 daemon=$2 code lint
    if [ "$daemon" = popauth ]; then
        code=$(curl -s -m 5 -o "$work/$name.prom" -w '%{http_code}' --unix-socket "$pa_sock" \
            http://localhost/metrics) || code=none
    else
        code=$(curl -s -m 5 -o "$work/$name.prom" -w '%{http_code}' \
            "http://127.0.0.1:$sg_port/metrics") || code=none
    fi
    [ "$code" = 200 ] || die "scrape $name of $daemon: wanted HTTP 200, got $code"
    nscrape=$((nscrape + 1))
    if lint=$(promtool check metrics <"$work/$name.prom" 2>&1) && [ -z "$lint" ]; then
        return 0
    fi
    fail "promtool check metrics accepts scrape $name of $daemon: $lint"
}

# value NAME SERIES - the value of SERIES (name{labels} as rendered) in scrape NAME, or
# "absent"
value()
{
    awk -v s="$2" '$1 == s { v = $2 } END { print (v == "" ? "absent" : v) }' "$work/$1.prom"
}

# expect_value NAME SERIES WANT WHAT
expect_value()
{
    local got
    got=$(value "$1" "$2")
    [ "$got" = "$3" ] && pass "$4 ($2 = $3)" || fail "$4 (wanted $2 = $3, got $got)"
}

# --- 2. counters move with traffic ----------------------------------------------------
echo "# 2. counters move with real traffic"
scrape pa0 popauth
scrape sg0 smtpgate
src="file:$maillog"
expect_value pa0 "popauth_source_lines_total{source=\"$src\"}" 0 "popauth before any line"
expect_value pa0 "popauth_grants_active" 0 "no active grant yet"
expect_value sg0 "smtpgate_decisions_total{front=\"policy\",outcome=\"permit-grant\"}" 0 \
    "smtpgate before any request"
expect_value sg0 "smtpgate_proxy_sessions_total" 0 "no proxy session yet"

printf '%s mail dovecot: pop3-login: Login: user=<alice>, method=PLAIN, rip=127.0.0.2, lip=127.0.0.1, mpid=4242, session=<m1>\n' \
    "$(date '+%b %e %H:%M:%S')" >>"$maillog"
printf '%s mail postfix/smtpd[7]: connect from unknown[203.0.113.9]\n' "$(date '+%b %e %H:%M:%S')" \
    >>"$maillog"
for i in $(seq 50); do
    scrape pa1 popauth
    [ "$(value pa1 popauth_grants_active)" = 1 ] && break
    sleep 0.1
done
expect_value pa1 "popauth_source_lines_total{source=\"$src\"}" 2 "popauth counted the lines read"
expect_value pa1 "popauth_source_logins_total{source=\"$src\"}" 1 "popauth counted the login"
expect_value pa1 "popauth_source_grants_total{source=\"$src\"}" 1 "popauth counted the grant"
expect_value pa1 "popauth_grants_active" 1 "the store holds one active grant"
c=$(value pa1 popauth_commit_duration_seconds_count)
[ "$c" != absent ] && [ "$c" -ge 1 ] && pass "the commit latency histogram counted commits ($c)" ||
    fail "the commit latency histogram counted commits (got $c)"
expect_value pa1 popauth_store_errors_total 0 "no store error"

# policy requests: the granted address and a stranger
req()
{
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n'
    printf 'client_address=%s\nclient_name=unknown\nhelo_name=h.test\nsender=s@far.test\n' "$1"
    printf 'recipient=%s\nrecipient_count=0\nqueue_id=\nsize=0\nsasl_username=\n\n' "$2"
}
run_ "$bindir/policy_client" -p "$policy_port" < <(req 127.0.0.2 u@far.test; req 192.0.2.99 u@far.test)
[ "$status" -eq 0 ] && [ "$out" = $'action=OK\n\naction=DUNNO' ] &&
    pass "policy: OK for the grant, DUNNO for a stranger" ||
    fail "policy: OK for the grant, DUNNO for a stranger"

# proxy sessions: a stranger (127.0.0.1) is refused, the granted address relays
session()
{
    run_ "$bindir/smtp_client" -t 5 -b "$1" 127.0.0.1 "$proxy_port" recv 1 send 'EHLO c.test\r\n' \
        recv 1 send 'MAIL FROM:<s@far.test>\r\n' recv 1 send 'RCPT TO:<u@far.test>\r\n' recv 1 \
        send 'QUIT\r\n' recv 1
}
session 127.0.0.1
[ "$status" -eq 0 ] && grep -q "^554 5.7.1" <<<"$out" && pass "proxy: a stranger's relay is refused" ||
    fail "proxy: a stranger's relay is refused"
session 127.0.0.2
[ "$status" -eq 0 ] && ! grep -q "^5" <<<"$out" && [ "$(grep -c '^250 ' <<<"$out")" -ge 3 ] &&
    pass "proxy: the granted address relays" || fail "proxy: the granted address relays"

scrape sg1 smtpgate
pd='smtpgate_decisions_total{front="policy",outcome='
px='smtpgate_decisions_total{front="proxy",outcome='
expect_value sg1 "${pd}\"permit-grant\"}" 1 "policy counted its permit-grant"
expect_value sg1 "${pd}\"reject\"}" 1 "policy counted its reject"
expect_value sg1 "${px}\"permit-grant\"}" 1 "proxy counted its permit-grant"
expect_value sg1 "${px}\"reject\"}" 1 "proxy counted its reject"
expect_value sg1 smtpgate_policy_requests_total 2 "policy counted its requests"
expect_value sg1 smtpgate_policy_connections_total 1 "policy counted its connection"
expect_value sg1 smtpgate_proxy_sessions_total 2 "proxy counted its sessions"
expect_value sg1 'smtpgate_request_duration_seconds_count{front="policy"}' 2 \
    "policy latency histogram counted both requests"
expect_value sg1 'smtpgate_request_duration_seconds_count{front="proxy"}' 2 \
    "proxy latency histogram counted both RCPT decisions"
expect_value sg1 smtpgate_store_errors_total 0 "smtpgate saw no store error"

# popauthctl stats shows smtpgate's counters
run_ "$bindir/popauthctl" -c "$conf" stats
expect_status 0 "popauthctl stats exits 0"
expect_out "smtpgate counters ($sg_spec):" "popauthctl stats names smtpgate's endpoint"
expect_out "policy decisions: permit-localnet=0 permit-grant=1 local=0 reject=1 defer=0" \
    "popauthctl stats shows the policy decisions"
expect_out "proxy: sessions=2" "popauthctl stats shows the proxy sessions"
expect_out "store: errors=0" "popauthctl stats shows smtpgate's store errors"
run_ "$bindir/popauthctl" -c "$conf" stats --json
expect_json '.active == 1 and .smtpgate.policy_decisions["permit-grant"] == 1 and
    .smtpgate.proxy_decisions.reject == 1 and .smtpgate.proxy.sessions == 2' \
    "popauthctl stats --json shows smtpgate's counters"
run_ "$bindir/popauthctl" -c "$conf" -o "metrics_listen=smtpgate=inet:127.0.0.1:$backend_port" \
    stats
[ "$status" -eq 0 ] && [ "$(grep -c '^smtpgate counters: not shown: ' <<<"$out")" -eq 1 ] &&
    grep -q "^active grants: *1" <<<"$out" &&
    pass "popauthctl stats says in one line that smtpgate's counters cannot be read" ||
    fail "popauthctl stats says in one line that smtpgate's counters cannot be read"
run_ "$bindir/popauthctl" -c "$conf" -o "metrics_listen=" stats --json
expect_json '.active == 1 and (.smtpgate.error | test("no smtpgate entry"))' \
    "popauthctl stats --json without an smtpgate entry says so"

# --- 3. bounds --------------------------------------------------------------------------
echo "# 3. bounds"
http()
{
    curl -s -m 5 -o "$work/http.out" -w '%{http_code}' "$@" || true
}
code=$(http "http://127.0.0.1:$sg_port/other?x=<script>")
[ "$code" = 404 ] && ! grep -q "script" "$work/http.out" && pass "another path is 404, not echoed" ||
    fail "another path is 404, not echoed (got $code)"
code=$(http --unix-socket "$pa_sock" http://localhost/)
[ "$code" = 404 ] && pass "popauth: / is 404" || fail "popauth: / is 404 (got $code)"
code=$(http -X POST --data-binary x "http://127.0.0.1:$sg_port/metrics")
[ "$code" = 405 ] && pass "POST is 405" || fail "POST is 405 (got $code)"
code=$(http -X PUT --data-binary x --unix-socket "$pa_sock" http://localhost/metrics)
[ "$code" = 405 ] && pass "popauth: PUT is 405" || fail "popauth: PUT is 405 (got $code)"
code=$(http -X GET --data-binary 'abc' "http://127.0.0.1:$sg_port/metrics")
[ "$code" = 413 ] && pass "a GET with a body is 413" || fail "a GET with a body is 413 (got $code)"
code=$(http -I "http://127.0.0.1:$sg_port/metrics")
[ "$code" = 200 ] && pass "HEAD /metrics is 200" || fail "HEAD /metrics is 200 (got $code)"
big=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(http -H "X-Big: $big" "http://127.0.0.1:$sg_port/metrics")
[ "$code" != 200 ] && ! grep -q aaaa "$work/http.out" &&
    pass "an oversized request header is refused (HTTP $code)" ||
    fail "an oversized request header is refused (got $code)"
grep -qi "content-type: text/plain; version=0.0.4" < <(curl -s -m 5 -D - -o /dev/null \
    "http://127.0.0.1:$sg_port/metrics") && pass "Content-Type is text/plain; version=0.0.4" ||
    fail "Content-Type is text/plain; version=0.0.4"

# 40 idle connections, more than the limit: the policy server must not notice
fds=()
for i in $(seq 40); do
    exec {fd}<>"/dev/tcp/127.0.0.1/$sg_port" || break
    fds+=("$fd")
done
[ "${#fds[@]}" -eq 40 ] && pass "40 idle connections to smtpgate's metrics are open" ||
    fail "40 idle connections to smtpgate's metrics are open (got ${#fds[@]})"
t0=$(date +%s.%N)
run_ "$bindir/policy_client" -t 2 -p "$policy_port" < <(req 127.0.0.2 u@far.test)
t1=$(date +%s.%N)
ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%d", (b - a) * 1000 }')
[ "$status" -eq 0 ] && [ "$out" = "action=OK" ] && [ "$ms" -lt 1000 ] &&
    pass "the policy server answers at once meanwhile (${ms} ms)" ||
    fail "the policy server answers at once meanwhile (took ${ms} ms)"
code=$(http "http://127.0.0.1:$sg_port/metrics")
[ "$code" != 200 ] && pass "a scrape beyond the connection limit is turned away (HTTP $code)" ||
    fail "a scrape beyond the connection limit is turned away (got 200)"
for fd in "${fds[@]}"; do exec {fd}>&-; done
for i in $(seq 50); do
    code=$(http "http://127.0.0.1:$sg_port/metrics")
    [ "$code" = 200 ] && break
    sleep 0.1
done
[ "$code" = 200 ] && pass "once they are closed, a scrape answers again" ||
    fail "once they are closed, a scrape answers again (got $code)"
scrape sg2 smtpgate
scrape pa2 popauth
expect_value sg2 "${pd}\"permit-grant\"}" 2 "the policy decision meanwhile was counted"

# --- stop ------------------------------------------------------------------------------
kill -TERM "$sg_pid" "$pa_pid"
st=0
wait "$sg_pid" || st=$?
[ "$st" -eq 0 ] && pass "smtpgate exits 0 on SIGTERM" || fail "smtpgate exits 0 on SIGTERM (got $st)"
st=0
wait "$pa_pid" || st=$?
[ "$st" -eq 0 ] && pass "popauth exits 0 on SIGTERM" || fail "popauth exits 0 on SIGTERM (got $st)"
[ ! -e "$pa_sock" ] && pass "popauth removed its metrics socket" ||
    fail "popauth removed its metrics socket"
echo "# $nscrape scrapes, each accepted by promtool check metrics"
finish
