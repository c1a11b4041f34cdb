#!/usr/bin/env bash
# popauthctl end to end: drives the built binary against a fresh store and checks exit
# statuses, output, JSON validity, never_grant, expiry, config errors and config --restart;
# the command line as a Unix tool takes it (usage errors change nothing, --name=value and --name value,
# --help, --version); allow --source (the grant's source, a strictly checked name; "admin"
# by default); list --user, revoke --user and revoke --all; and the configuration
# checks that popauthctl config --check, popauth -t and smtpgate -t share.
# Needs jq and sqlite3.
# Usage: popauthctl.sh BINDIR
set -u
bindir=${1:?usage: popauthctl.sh BINDIR}
# shellcheck source=tests/integration/lib.sh
. "$(dirname "$0")/lib.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
require_built "$bindir" popauthctl popauth smtpgate
require_packages jq sqlite3
require_commands jq sqlite3

work=$(mktemp -d /tmp/popauthctl-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
db=$work/auth.db
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }
# every row of the store, to tell that a command changed nothing
rows() { sqlite3 "$db" "select address, user, source, logins, expires from auth order by address"; }
expect_no_stdout() { if [ -z "$out" ]; then pass "$1"; else fail "$1 (wanted no stdout)"; fi; }

run ctl allow 2001:DB8::1 --user alice
expect_status 0 "allow 2001:DB8::1"
expect_out "allowed 2001:db8::1 until" "allow prints the canonical address"

run ctl show 2001:db8::1
expect_status 0 "show 2001:db8::1"
expect_out "user:        alice" "show prints the user"
expect_out "source:      admin" "show prints the source"

run ctl show 2001:0db8:0:0::1 --json
expect_status 0 "show in another spelling"
expect_json '.address == "2001:db8::1" and .user == "alice" and .logins == 1' "show --json fields"

run ctl allow 192.0.2.1
expect_status 0 "allow 192.0.2.1"
run ctl show ::ffff:192.0.2.1
expect_status 0 "show ::ffff:192.0.2.1 finds the IPv4 grant"
expect_out "address:     192.0.2.1" "mapped address shown in IPv4 form"

run ctl show 192.0.2.2
expect_status 1 "show of an address without a grant"
expect_err "no active grant for 192.0.2.2" "negative answer says why"

run ctl allow 198.51.100.7 --user bob --lifetime 1s
expect_status 0 "allow with a 1s lifetime"
sleep 2
run ctl list
expect_status 0 "list"
expect_out "2001:db8::1" "list shows an active grant"
expect_no_out "198.51.100.7" "list hides the expired grant"
run ctl list --all
expect_out "198.51.100.7" "list --all shows the expired grant"
expect_out "(expired)" "list --all marks it expired"
run ctl list --all --json
expect_json 'length == 3 and (map(.address) | sort) == ["192.0.2.1","198.51.100.7","2001:db8::1"]' "list --all --json is one document"
run ctl show 198.51.100.7
expect_status 1 "show of an expired grant"

run ctl stats --json
expect_json '.active == 2 and .expired == 1 and .schema_version >= 1 and .database_bytes > 0' "stats --json"
run ctl purge
expect_status 0 "purge"
expect_out "purged 1 expired grants" "purge prints how many"
run ctl stats
expect_out "expired rows:    0" "purge removed the expired row"

run ctl allow 10.1.1.1 -o never_grant=10.0.0.0/8
expect_status 2 "allow inside never_grant"
expect_err "never_grant" "never_grant refusal names the setting"
run ctl show 10.1.1.1
expect_status 1 "no grant was made inside never_grant"

run ctl allow 2001:db8::1 --user carol
run ctl show 2001:db8::1 --json
expect_json '.user == "carol" and .logins == 2' "re-grant updates user and counts logins"

run ctl revoke 2001:db8::1
expect_status 0 "revoke"
run ctl revoke 2001:db8::1
expect_status 1 "revoke of a missing grant"
run ctl show 2001:db8::1
expect_status 1 "revoked grant is gone"

run sqlite3 "$db" "select address, user, expires from auth"
expect_status 0 "sqlite3 shell reads the store"
expect_out "192.0.2.1|" "sqlite3 sees the canonical address"
run sqlite3 "$db" "pragma journal_mode"
expect_out "wal" "store is in WAL mode"

for bad in 1.2.3 01.2.3.4 1.2.3.4.5 ::g "1.2.3.4 x" "[::1]"; do
    run ctl show "$bad"
    expect_status 2 "show '$bad' is bad usage"
done
run ctl show
expect_status 2 "show without an address"
run ctl show 192.0.2.1 --user x
expect_status 2 "option the command does not take"
run ctl frobnicate
expect_status 2 "unknown command"
run ctl allow 192.0.2.9 --lifetime 5x
expect_status 2 "bad --lifetime"

printf 'database = %s\ngrant_lifetim = 5m\n' "$db" > "$work/bad.conf"
run "$bindir/popauthctl" -c "$work/bad.conf" list
expect_status 2 "unknown setting in the config file"
expect_err "$work/bad.conf:2" "config error names file and line"
expect_err "grant_lifetim" "config error names the setting"
run "$bindir/popauthctl" -c "$work/missing.conf" list
expect_status 2 "missing explicit config file"
run "$bindir/popauthctl" -c /dev/null -o grant_lifetime=soon config
expect_status 2 "bad -o value"
expect_err "grant_lifetime" "-o error names the setting"

printf '# test config\ndatabase = %s\ngrant_lifetime = 10m\nlocal_networks = 10.0.0.0/8,\n    192.168.0.0/16\n' "$db" > "$work/good.conf"
run "$bindir/popauthctl" -c "$work/good.conf" config
expect_status 0 "config"
expect_out "grant_lifetime = 10m" "config prints the file's value"
expect_out "local_domains = " "config prints defaults too"
run "$bindir/popauthctl" -c "$work/good.conf" -o local_domains=local.test config -n
expect_out "local_domains = local.test" "config -n prints overrides"
expect_no_out "never_grant" "config -n hides defaults"
run "$bindir/popauthctl" -c "$work/good.conf" config --restart
expect_status 0 "config --restart"
expect_out "database popauth" "config --restart: popauth keeps its store until a restart"
expect_out "policy_listen smtpgate" "config --restart: smtpgate keeps its listeners"
expect_out "run_user popauth,smtpgate" "config --restart: both keep their user"
expect_no_out "grant_lifetime" "config --restart: a reload applies grant_lifetime"
expect_no_out "local_networks" "config --restart: a reload applies local_networks"

# --- the command line: a usage error prints the usage, exits 2 and does nothing ----------
ctl allow 192.0.2.60 --user dave --lifetime 1s >/dev/null
sleep 1.1 # an expired row: what purge would remove
before=$(rows)
grep -qF "192.0.2.60|dave" <<<"$before" || fail "the expired row is there before the usage errors"
usage_error()
{
    local want=$1
    shift
    run ctl "$@"
    expect_status 2 "'$*' is a usage error"
    expect_err "$want" "'$*' says why"
    expect_err "usage: popauthctl" "'$*' prints the usage on stderr"
    expect_no_stdout "'$*' prints nothing on stdout"
    if [ "$(rows)" = "$before" ]; then pass "'$*' changed nothing"; else fail "'$*' changed the store"; fi
}
usage_error "unknown option '--dry-run'" purge --dry-run
usage_error "unknown option '--dry-run'" --dry-run purge
usage_error "unknown option '-x'" purge -x
usage_error "purge does not take --all" purge --all
usage_error "unknown option '--al'" revoke --al
usage_error "unknown option '--bogus'" revoke 192.0.2.1 --bogus
usage_error "option '--user' needs a value" revoke --user
usage_error "--all and --user cannot be given together" revoke --all --user dave
usage_error "unexpected argument '192.0.2.1'" revoke --all 192.0.2.1
usage_error "unexpected argument '192.0.2.1'" revoke --user=dave 192.0.2.1
usage_error "revoke needs 1 argument" revoke
usage_error "unexpected argument '192.0.2.2'" revoke 192.0.2.1 192.0.2.2
usage_error "option '--lifetime' needs a value" allow 192.0.2.61 --lifetime
usage_error "allow does not take --json" allow 192.0.2.61 --json
usage_error "allow needs 1 argument" allow
usage_error "option '--all' takes no value" list --all=yes
usage_error "option '--json' takes no value" list --json=
usage_error "no command given" --user=dave
usage_error "option '-c' needs a value" list -c
usage_error "check needs 2 arguments" check 192.0.2.1
usage_error "--check and -n cannot be given together" config -n --check
usage_error "--check and --restart cannot be given together" config --restart --check
usage_error "no command given" --json
usage_error "unknown command 'frobnicate'" frobnicate --all
run ctl
expect_status 2 "no arguments at all"
expect_err "usage: popauthctl" "no arguments: the usage on stderr"
run "$bindir/popauthctl" -c /dev/null -o "database=$db" -o grant_lifetime=soon purge
expect_status 2 "a bad -o value stops purge"
if [ "$(rows)" = "$before" ]; then pass "a bad -o value purged nothing"; else fail "a bad -o value changed the store"; fi
run ctl purge
expect_out "purged 1 expired grants" "purge alone still purges"

run ctl --help
expect_status 0 "--help"
expect_out "usage: popauthctl" "--help: the usage on stdout"
expect_out "revoke ADDRESS | --user NAME | --all" "--help lists every command"
for prog in popauthctl popauth smtpgate; do
    run "$bindir/$prog" --version
    expect_status 0 "$prog --version"
    if [[ $out =~ ^$prog\ [0-9]+\.[0-9]+\.[0-9]+$ ]]; then pass "$prog --version: '$out'"; else fail "$prog --version prints PROG VERSION"; fi
done
for prog in popauth smtpgate; do
    run timeout 10 "$bindir/$prog" -c /dev/null -o "database=$db" --bogus
    expect_status 2 "$prog with an unknown option"
    expect_err "usage: $prog" "$prog with an unknown option prints the usage"
    run timeout 10 "$bindir/$prog" -t -c
    expect_status 2 "$prog with a missing option value"
    run timeout 10 "$bindir/$prog" --syslog=yes
    expect_status 2 "$prog with a value on a flag"
done
run ctl purge --version
expect_status 0 "--version after a command"
expect_no_out "purged" "--version after a command does not run it"

# --- --name=value and --name value, -cFILE and -c FILE ------------------------------------
run ctl allow 192.0.2.70 --user=erin --lifetime=2h
expect_status 0 "allow --user=NAME --lifetime=DURATION"
run ctl allow 192.0.2.71 --user erin --lifetime 2h
expect_status 0 "allow --user NAME --lifetime DURATION"
run ctl --user=erin --lifetime 3h allow 192.0.2.72
expect_status 0 "options before the command"
run ctl list --json --user=erin
expect_json 'length == 3 and all(.[]; .user == "erin") and (map(.expires - .first_login) | sort) == [7200,7200,10800]' \
    "both spellings took the user and the lifetime"
printf 'database = %s\n' "$db" >"$work/db.conf"
run "$bindir/popauthctl" "-c$work/db.conf" show 192.0.2.70
expect_status 0 "-cFILE"
run "$bindir/popauthctl" -c /dev/null "-odatabase=$db" show -- 192.0.2.71
expect_status 0 "-oname=value, and -- before an argument"

# --- allow --source: the grant's source (default "admin"), a strictly checked name ---------
# shellcheck disable=SC2016 # shell syntax kept literal on purpose
run ctl allow 192.0.2.90 --source dovecot-postlogin --user='-x$(touch y);`z`'
expect_status 0 "allow --source NAME"
run ctl show 192.0.2.90 --json
# shellcheck disable=SC2016 # shell syntax kept literal on purpose
expect_json '.source == "dovecot-postlogin" and .user == "-x$(touch y);`z`"' \
    "allow --source records the source, and the user as given"
run ctl list
expect_out "dovecot-postlogin" "list prints the source"
run ctl allow --source=A.b_c:d-9 -- 192.0.2.91
expect_status 0 "allow --source=NAME, every allowed character, -- before the address"
run ctl show 192.0.2.91
expect_out "source:      A.b_c:d-9" "show prints the source"
before=$(rows)
# shellcheck disable=SC2016 # shell syntax kept literal on purpose
for bad in "" "-x" "bad name" "a;b" 'a$(b)' "a/b" "$(printf 'a\tb')" "ünï" \
    "$(printf 'a%.0s' {1..32})"; do
    run ctl allow 192.0.2.92 --source "$bad"
    expect_status 2 "allow --source '$bad' is refused"
    expect_err "--source: bad name '" "allow --source '$bad': the error names the value"
done
run ctl allow 192.0.2.92 --source "$(printf 'a%.0s' {1..31})"
expect_status 0 "allow --source of 31 bytes, the longest"
run ctl show 192.0.2.92 --json
expect_json ".source == \"$(printf 'a%.0s' {1..31})\"" "the 31-byte source is kept whole"
run ctl revoke 192.0.2.92
expect_status 0 "revoke the 31-byte source's grant"
if [ "$(rows)" = "$before" ]; then pass "refused --source names changed nothing"; else fail "a refused --source changed the store"; fi
usage_error "option '--source' needs a value" allow 192.0.2.93 --source
usage_error "show does not take --source" show 192.0.2.90 --source admin
run ctl allow 192.0.2.94
run ctl show 192.0.2.94 --json
expect_json '.source == "admin"' "allow without --source: source admin"
run ctl --help
expect_out "allow ADDRESS [--user NAME] [--source NAME] [--lifetime DURATION]" "--help shows --source"

# --- list --user, revoke --user, revoke --all -----------------------------------------------
ctl allow 192.0.2.80 --user frank >/dev/null
ctl allow 2001:db8::80 --user frank >/dev/null
ctl allow 192.0.2.81 --user frankie >/dev/null
ctl allow 192.0.2.82 --user frank --lifetime 1s >/dev/null
sleep 1.1
run ctl list --user frank
expect_status 0 "list --user"
expect_out "192.0.2.80" "list --user shows the user's grant"
expect_out "2001:db8::80" "list --user shows each of the user's grants"
expect_no_out "192.0.2.81" "list --user leaves out a user whose name only starts the same"
expect_no_out "192.0.2.70" "list --user leaves out other users"
expect_no_out "192.0.2.82" "list --user leaves out the user's expired grant"
run ctl list --user frank --all --json
expect_json 'length == 3 and all(.[]; .user == "frank")' "list --user --all --json: the user's rows, expired too"
run ctl list --user nobody-here --json
expect_status 0 "list --user of a user without grants"
expect_json 'length == 0' "list --user of a user without grants is an empty list"
run ctl list --user ""
expect_status 2 "list --user with an empty name"
before=$(rows)
run ctl revoke --user frank
expect_status 0 "revoke --user"
expect_out "revoked 3 grants of user frank" "revoke --user says how many (expired rows too)"
run ctl list --all --json
expect_json '(map(select(.user == "frank")) | length) == 0 and (map(select(.user == "frankie")) | length) == 1 and (map(select(.user == "erin")) | length) == 3' \
    "revoke --user removed that user's rows and no other"
run ctl revoke --user=frank
expect_status 1 "revoke --user of a user without grants"
expect_err "no grant for user frank" "revoke --user without grants says so"
left=$(rows | wc -l)
run ctl revoke --all
expect_status 0 "revoke --all"
expect_out "revoked $left grants" "revoke --all says how many"
run ctl list --all --json
expect_json 'length == 0' "revoke --all leaves no row"
run ctl revoke --all
expect_status 0 "revoke --all on an empty store"
expect_out "revoked 0 grants" "revoke --all on an empty store revokes 0"

# --- config --check, popauth -t, smtpgate -t ---------------------------------------------
run ctl config --check
expect_status 0 "config --check of a good configuration"
expect_out "configuration ok" "config --check says ok"
for prog in popauth smtpgate; do
    run timeout 10 "$bindir/$prog" -t -c /dev/null -o "database=$db" -o log_sources=stdin
    expect_status 0 "$prog -t of a good configuration"
    expect_out "configuration ok" "$prog -t says ok"
done
newdb=$work/new/auth.db
mkdir "$work/new"
printf 'foo(\n' >"$work/bad.patterns"
: >"$work/plain"
check_bad=(-c /dev/null -o "database=$newdb" -o run_user=no-such-user-x
    -o "log_patterns=$work/bad.patterns" -o "log_sources=stdin, file:relative"
    -o "sniff_file=$work/missing.pcap" -o sniff_servers=192.0.2.25
    -o "policy_listen=inet:127.0.0.1:10040, inet:192.0.2:1, unix:$work/plain"
    -o proxy_listen=inet:127.0.0.1:2525)
run "$bindir/popauthctl" "${check_bad[@]}" config --check
expect_status 2 "config --check of a bad configuration"
expect_no_stdout "config --check of a bad configuration: no 'ok'"
expect_err "popauthctl: run_user: unknown user 'no-such-user-x'" "config --check: run_user"
expect_err "popauthctl: $work/bad.patterns:1: log_patterns:" "config --check: log_patterns, its file and line"
expect_err "popauthctl: log_sources: bad source 'file:relative'" "config --check: log_sources"
expect_err "popauthctl: sniff_file: cannot read $work/missing.pcap" "config --check: sniff_file"
expect_err "popauthctl: policy_listen inet:192.0.2:1: '192.0.2' is not a numeric IPv4 address" \
    "config --check: a policy_listen address"
expect_err "popauthctl: policy_listen unix:$work/plain: $work/plain exists and is not a socket" \
    "config --check: a unix policy_listen in the way"
expect_err "popauthctl: proxy_backend: must be set when proxy_listen is" "config --check: proxy_backend"
if [ "$(grep -c '^popauthctl: ' <<<"$err")" -eq 7 ]; then pass "config --check: one line per problem"; else fail "config --check: one line per problem (wanted 7)"; fi
run timeout 10 "$bindir/popauth" -t "${check_bad[@]}"
expect_status 2 "popauth -t of a bad configuration"
expect_err "popauth: run_user: unknown user" "popauth -t: run_user"
expect_err "popauth: log_sources: bad source" "popauth -t: its own settings"
expect_no_out "configuration ok" "popauth -t: no 'ok'"
if grep -q "listen\|proxy" <<<"$err"; then fail "popauth -t checks only popauth's settings"; else pass "popauth -t checks only popauth's settings"; fi
run timeout 10 "$bindir/smtpgate" -t "${check_bad[@]}"
expect_status 2 "smtpgate -t of a bad configuration"
expect_err "smtpgate: run_user: unknown user" "smtpgate -t: run_user"
expect_err "smtpgate: policy_listen inet:192.0.2:1:" "smtpgate -t: its own settings"
if grep -q "log_\|sniff" <<<"$err"; then fail "smtpgate -t checks only smtpgate's settings"; else pass "smtpgate -t checks only smtpgate's settings"; fi
if [ ! -e "$newdb" ]; then pass "the checks never create the store"; else fail "the checks created the store"; fi
run "$bindir/popauth" --once "${check_bad[@]}"
expect_status 2 "popauth refuses to start on what -t reports"
expect_err "popauth: error: run_user: unknown user" "popauth's start-up reports the same problems"
if [ ! -e "$newdb" ]; then pass "a refused start-up leaves no store"; else fail "a refused start-up created the store"; fi
run "$bindir/popauthctl" -c /dev/null -o "database=$work/no/such/dir.db" -o policy_listen= config --check
expect_status 2 "config --check: a store directory that is missing, no front"
expect_err "database $work/no/such/dir.db: directory $work/no/such: No such file" "config --check: database"
expect_err "policy_listen, milter_listen, proxy_listen: at least one of them must be set" "config --check: no front"
run "$bindir/popauthctl" -c /dev/null -o grant_lifetime=soon config --check
expect_status 2 "config --check of a config that does not parse"
expect_err "grant_lifetime" "config --check names the setting that does not parse"

finish
