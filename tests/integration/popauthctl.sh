#!/usr/bin/env bash
# popauthctl end to end: drives the built binary against a fresh store and checks exit
# statuses, output, JSON validity, never_grant, expiry and config errors.
# Usage: popauthctl.sh BINDIR
set -u
bindir=${1:?usage: popauthctl.sh BINDIR}
. "$(dirname "$0")/lib.sh"

work=$(mktemp -d /tmp/popauthctl-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
db=$work/auth.db
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }

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
run ctl list --user x
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

finish
