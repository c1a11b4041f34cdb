#!/usr/bin/env bash
# popauth following a log file for real: appends, a partial line, rotation by rename,
# copytruncate, the file missing for a while, a restart mid-file and a rotation while
# stopped, and standard input. Every login line carries its own client address, so
# "no line lost" is every address granted and "none doubled" is every grant's login
# count being exactly 1, with the lines counter equal to the lines written.
# Usage: logtail.sh BINDIR
set -u
bindir=${1:?usage: logtail.sh BINDIR}
. "$(dirname "$0")/lib.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
require_built "$bindir" popauth popauthctl
require_packages jq

work=$(mktemp -d /tmp/popauth-logtail.XXXXXX)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
log=$work/mail.log
db=$work/auth.db
opts=(-c /dev/null -o "database=$db" -o "log_sources=file:$log" -o grant_lifetime=1h
      -o log_recheck_interval=1s)
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }
written=0

# login N: a Dovecot syslog line for a successful POP3 login from 192.0.2.N, now.
login() { printf '%s mx dovecot: pop3-login: Login: user=<u%s>, method=PLAIN, rip=192.0.2.%s, lip=10.0.0.1, mpid=%s, session=<s%s>\n' "$(date '+%b %e %H:%M:%S')" "$1" "$1" "$1" "$1"; }
noise() { printf '%s mx postfix/smtpd[7]: connect from unknown[198.51.100.%s]\n' "$(date '+%b %e %H:%M:%S')" "$1"; }
# add FILE N...: append login lines for each N (plus a noise line) to FILE.
add() { local f=$1 n; shift; for n in "$@"; do login "$n" >>"$f"; noise "$n" >>"$f"; written=$((written + 2)); done; }

# granted N: poll up to 5 s for 192.0.2.N's grant.
granted()
{
    local i
    for i in $(seq 50); do ctl show "192.0.2.$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
expect_granted() { if granted "$1"; then pass "$2"; else fail "$2 (no grant for 192.0.2.$1)"; fi; }
start() { "$bindir/popauth" "${opts[@]}" 2>>"$work/popauth.err" & pid=$!; }
stop()
{
    kill -TERM "$pid"; wait "$pid"; status=$?; pid=
    expect_status 0 "popauth exits 0 on SIGTERM"
}

start
sleep 0.3
add "$log" 1 2 3
expect_granted 3 "lines appended to a new file are granted"

printf '%s' "$(login 4)" >>"$log"
sleep 1.2
run ctl show 192.0.2.4
expect_status 1 "a partial line waits for its newline"
printf '\n' >>"$log"; noise 4 >>"$log"; written=$((written + 2))
expect_granted 4 "the line is processed once complete"

mv "$log" "$log.1"
add "$log.1" 5 6
add "$log" 7 8
expect_granted 6 "lines written to the renamed file are read to its end"
expect_granted 8 "the new file is followed after rotation by rename"

cp "$log" "$log.2" && : >"$log"
add "$log" 9
expect_granted 9 "copytruncate: reading starts again at 0"

rm -f "$log"
sleep 1.5
add "$log" 10
expect_granted 10 "a file missing for a while is picked up again"
stop

start
add "$log" 11
expect_granted 11 "a restarted popauth follows the same file"
stop

add "$log" 12 13
run "$bindir/popauth" "${opts[@]}" --once
expect_status 0 "popauth --once"
expect_granted 13 "--once resumes where the daemon stopped"

add "$log" 14
mv "$log" "$log.1"
add "$log" 15
run "$bindir/popauth" "${opts[@]}" --once
expect_granted 14 "rotated while stopped: the old file is finished first"
expect_granted 15 "rotated while stopped: then the new file is read"

doubled=0 missing=0
for n in $(seq 15); do
    run ctl show "192.0.2.$n" --json
    [ "$status" -eq 0 ] || missing=$((missing + 1))
    jq -e '.logins == 1' >/dev/null 2>&1 <<<"$out" || doubled=$((doubled + 1))
done
[ "$missing" -eq 0 ] && pass "no login line lost (15 of 15 granted)" || fail "$missing login lines lost"
[ "$doubled" -eq 0 ] && pass "no login line processed twice" || fail "$doubled addresses counted twice"
run ctl stats --json
expect_json ".sources[\"file:$log\"].lines == $written" "lines counter equals the $written lines written"
expect_json ".sources[\"file:$log\"].logins == 15" "logins counter equals the logins written"

# Standard input: --once reads to the end; the daemon exits 0 when its input ends.
{ login 101; login 102; printf 'junk without a newline'; } |
    "$bindir/popauth" -c /dev/null -o "database=$db" -o log_sources=stdin --once
status=$?
expect_status 0 "stdin --once"
expect_granted 102 "stdin lines are granted"
{ login 103; } | timeout 10 "$bindir/popauth" -c /dev/null -o "database=$db" -o log_sources=stdin
status=$?
expect_status 0 "the stdin daemon exits 0 at the end of its input"
expect_granted 103 "and commits what it read"

# Filters: local networks need no grant, never_grant gets none, old logins grant nothing.
{
    login 201 | sed 's/192.0.2.201/127.0.0.9/'
    login 202 | sed 's/192.0.2.202/10.9.9.9/'
    printf 'Jan  1 00:00:00 mx dovecot: pop3-login: Login: user=<old>, method=PLAIN, rip=192.0.2.203, lip=10.0.0.1, session=<x>\n'
    login 204 | sed 's/pop3-login: Login:/pop3-login: Aborted login (auth failed, 1 attempts):/'
} | "$bindir/popauth" -c /dev/null -o "database=$db" -o log_sources=stdin -o never_grant=10.0.0.0/8 --once
run ctl show 127.0.0.9
expect_status 1 "a local-network client gets no grant"
run ctl show 10.9.9.9
expect_status 1 "a never_grant client gets no grant"
run ctl show 192.0.2.203
expect_status 1 "a login older than grant_lifetime grants nothing"
run ctl show 192.0.2.204
expect_status 1 "a failed login grants nothing"

# SIGHUP: a changed config applies to the next line; a bad one is refused, the old kept.
conf=$work/popauth.conf
printf 'database = %s\nlog_sources = file:%s\ngrant_lifetime = 1h\n' "$db" "$log" >"$conf"
"$bindir/popauth" -c "$conf" 2>>"$work/popauth.err" & pid=$!
add "$log" 30
expect_granted 30 "daemon started from a config file"
printf 'never_grant = 192.0.2.31\n' >>"$conf"
kill -HUP "$pid"; sleep 0.5
add "$log" 31 32
expect_granted 32 "lines after SIGHUP are read"
run ctl show 192.0.2.31
expect_status 1 "never_grant added by SIGHUP applies to the next line"
printf 'no_such_setting = 1\n' >>"$conf"
kill -HUP "$pid"; sleep 0.5
add "$log" 33
expect_granted 33 "a bad config on SIGHUP keeps the running one"
if grep -q "action=reload status=failed.*no_such_setting" "$work/popauth.err"; then
    pass "the refused reload is logged with the bad setting"
else
    fail "the refused reload is logged with the bad setting"
fi
stop

run "$bindir/popauth" -c /dev/null -o "database=$db" -o log_sources=bogus --once
expect_status 2 "a bad log_sources entry is a start-up error"
expect_err "log_sources" "the error names the setting"

finish
