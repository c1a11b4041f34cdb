#!/usr/bin/env bash
# The journal source end to end (SECURITY.md promise 2): journal files are written from
# journal export format by systemd-journal-remote, then `popauth --once` reads them with
# journal_directory and log_sources=journal:_SYSTEMD_UNIT=dovecot.service. Checks that a
# Dovecot login from that unit grants; that the same text from another unit, under
# another SYSLOG_IDENTIFIER, with an old journal time (whatever the client-supplied
# _SOURCE_REALTIME_TIMESTAMP says) or with a newline inside MESSAGE does not; that a
# second run reads only new entries (the cursor was saved); that the daemon reads a file
# that appears while it runs; that a cursor the journal no longer knows restarts at the
# tail; and that an untrusted match field or a missing directory is refused at start-up.
# Usage: journal.sh BINDIR
set -u
bindir=${1:?usage: journal.sh BINDIR}
. "$(dirname "$0")/lib.sh"

remote=/lib/systemd/systemd-journal-remote
if [ ! -x "$remote" ]; then
    echo "FAIL - $remote is missing (package systemd-journal-remote; scripts/install-deps)"
    exit 1
fi

work=$(mktemp -d /tmp/journal-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
db=$work/auth.db
jdir=$work/journal
mkdir "$jdir"
boot=$(tr -d - </proc/sys/kernel/random/boot_id)
seq=0

popauth()
{
    "$bindir/popauth" -c /dev/null -o "database=$db" \
        -o log_sources=journal:_SYSTEMD_UNIT=dovecot.service -o "journal_directory=$jdir" \
        -o grant_lifetime=1h "$@"
}
ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }

# login IP - a Dovecot login message for client IP
login() { echo "pop3-login: Login: user=<alice>, method=PLAIN, rip=$1, lip=192.0.2.1, mpid=4242, TLS, session=<AbCdEf$seq>"; }

# entry AGE UNIT TAG MESSAGE [FIELD=VALUE...] - one entry in export format, AGE seconds old
entry()
{
    local age=$1 unit=$2 tag=$3 msg=$4 usec
    shift 4
    seq=$((seq + 1))
    usec=$(($(date +%s%6N) - age * 1000000))
    printf '__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=%s\n' \
        "$usec" "$(($(date +%s%6N) + seq))" "$boot"
    printf '_SYSTEMD_UNIT=%s\n_TRANSPORT=syslog\n_HOSTNAME=mx\n' "$unit"
    [ -n "$tag" ] && printf 'SYSLOG_IDENTIFIER=%s\n' "$tag"
    [ -n "$msg" ] && printf 'MESSAGE=%s\n' "$msg"
    for f in "$@"; do printf '%s\n' "$f"; done
    printf '\n'
}

# binary_entry UNIT TAG MESSAGE - an entry whose MESSAGE is in the binary export form
binary_entry()
{
    local n=${#3} i
    seq=$((seq + 1))
    printf '__REALTIME_TIMESTAMP=%s\n__MONOTONIC_TIMESTAMP=%s\n_BOOT_ID=%s\n' \
        "$(date +%s%6N)" "$(($(date +%s%6N) + seq))" "$boot"
    printf '_SYSTEMD_UNIT=%s\nSYSLOG_IDENTIFIER=%s\nMESSAGE\n' "$1" "$2"
    for i in 0 1 2 3 4 5 6 7; do
        printf "\\$(printf %03o $(((n >> (8 * i)) & 255)))"
    done
    printf '%s\n\n' "$3"
}

# write FILE - turn export format on stdin into the journal file FILE in $jdir
write()
{
    run "$remote" --output="$jdir/$1" --split-mode=none -
    if [ "$status" -ne 0 ]; then
        fail "systemd-journal-remote wrote $1"
        finish
        exit 1
    fi
}

{
    # an old login: its journal time is 2h ago; the client claims it is fresh
    entry 7200 dovecot.service dovecot "$(login 203.0.113.68)" \
        "_SOURCE_REALTIME_TIMESTAMP=$(date +%s%6N)"
    entry 0 dovecot.service dovecot "$(login 203.0.113.7)"
    entry 0 evil.service dovecot "$(login 203.0.113.66)"
    entry 0 dovecot.service logger "dovecot: $(login 203.0.113.67)"
    entry 0 dovecot.service evil "$(login 203.0.113.65)"
    entry 0 dovecot.service "" "$(login 203.0.113.64)"
    entry 0 dovecot.service dovecot ""
    binary_entry dovecot.service dovecot "$(login 203.0.113.69)
$(login 203.0.113.70)"
} | write one.journal

run popauth --once
expect_status 0 "popauth --once over the journal files"

run ctl show 203.0.113.7 --json
expect_status 0 "a login from dovecot.service grants"
expect_json '.address == "203.0.113.7" and .user == "alice" and .logins == 1' "grant fields"

for ip in 203.0.113.66 203.0.113.67 203.0.113.65 203.0.113.64 203.0.113.68 203.0.113.69 \
    203.0.113.70; do
    run ctl show $ip
    expect_status 1 "no grant for $ip"
done

run ctl stats --json
expect_status 0 "stats"
expect_json '.sources["journal:_SYSTEMD_UNIT=dovecot.service"] | .lines == 7 and .errors == 2 and .grants == 1' \
    "only dovecot.service entries were read; no MESSAGE and a newline in MESSAGE are errors"

run popauth --once
expect_status 0 "a second run with nothing new"
run ctl show 203.0.113.7 --json
expect_json '.logins == 1' "nothing read twice"

entry 0 dovecot.service dovecot "$(login 203.0.113.8)" | write two.journal
run popauth --once
expect_status 0 "a third run after a new journal file"
run ctl show 203.0.113.8 --json
expect_json '.address == "203.0.113.8" and .logins == 1' "the new entry grants"
run ctl show 203.0.113.7 --json
expect_json '.logins == 1' "the old entry was not read again: the cursor was saved"

# daemon mode: a journal file that appears while popauth runs is read at once
"$bindir/popauth" -c /dev/null -o "database=$db" -o grant_lifetime=1h \
    -o log_sources=journal:_SYSTEMD_UNIT=dovecot.service -o "journal_directory=$jdir" \
    >"$work/daemon.log" 2>&1 &
daemon=$!
sleep 1
entry 0 dovecot.service dovecot "$(login 203.0.113.9)" | write three.journal
for _ in $(seq 50); do
    ctl show 203.0.113.9 >/dev/null 2>&1 && break
    sleep 0.2
done
run ctl show 203.0.113.9 --json
expect_json '.address == "203.0.113.9" and .logins == 1' "the daemon reads a new journal file"
kill -TERM "$daemon"
wait "$daemon"
status=$?
out=$(cat "$work/daemon.log") err=
expect_status 0 "the daemon stops on SIGTERM"
run ctl show 203.0.113.7 --json
expect_json '.logins == 1' "the daemon did not read old entries again"

# the saved cursor is unknown to the journal: start at the tail, and save that place
rm -f "$jdir"/*.journal
entry 0 dovecot.service dovecot "$(login 203.0.113.10)" | write four.journal
run popauth --once
expect_status 0 "a run with a cursor the journal does not know"
expect_err "event=cursor-lost" "the lost cursor is logged"
run ctl show 203.0.113.10
expect_status 1 "after a lost cursor, entries already there are skipped"
entry 0 dovecot.service dovecot "$(login 203.0.113.11)" | write five.journal
run popauth --once
expect_status 0 "the run after that"
if grep -qF "cursor-lost" <<<"$err"; then fail "the cursor is known again"; else pass "the cursor is known again"; fi
run ctl show 203.0.113.11 --json
expect_json '.logins == 1' "entries after the tail position are read"

run "$bindir/popauth" -c /dev/null -o "database=$db" --once \
    -o log_sources=journal:SYSLOG_IDENTIFIER=dovecot -o "journal_directory=$jdir"
expect_status 2 "an untrusted match field is a start-up error"
expect_err "SYSLOG_IDENTIFIER is not a trusted field" "the error says why"

run "$bindir/popauth" -c /dev/null -o "database=$db" --once \
    -o log_sources=journal:_SYSTEMD_UNIT=dovecot.service -o "journal_directory=$work/none"
expect_status 2 "a missing journal_directory is a start-up error"
expect_err "cannot open the journal in $work/none" "the error names the directory"

finish
