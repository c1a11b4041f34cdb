#!/usr/bin/env bash
# The shipped Dovecot post-login script (scripts/dovecot/popauth-postlogin.in, INSTALL
# 5.6) in a real Dovecot: Dovecot runs in a private network namespace with the recipe's
# services exactly as INSTALL 5.6 shows them (script-login as user popauth, pop3 and imap
# calling it; only the script's path differs), clients log in from a second namespace,
# and the script records grants with popauthctl in a store that belongs to popauth, as
# the Debian package lays it out. The script is the template with only its two paths
# filled in (a copy of BINDIR's popauthctl, a private configuration file).
# Checks: POP3 (IPv4) and IMAP (IPv6) logins are granted, with source dovecot-postlogin
# and the login's user, by the time the client sees its OK; a wrong password grants
# nothing; user names full of shell syntax (with a leading '-', and one that spells
# popauthctl options) log in, are recorded exactly, execute nothing (canary files that
# user popauth could create stay absent) and never become options; a login over a unix
# socket (no IP) is skipped without a word; with the store unwritable by popauth, locked
# by another writer, or with popauthctl hanging, the login still succeeds, within the
# script's time limit, with one line in Dovecot's log and no grant; the store's files
# stay popauth's.
# Without a popauth user on this machine the test runs in a mount namespace of its own
# where /etc/passwd and /etc/group are copies with one (as the package's sysusers.d
# file would make it), so the machine's own files are never touched.
# Needs root, dovecot-pop3d, dovecot-imapd, netcat-openbsd, iproute2, jq, sqlite3,
# util-linux, procps.
# Usage: dovecot_postlogin.sh BINDIR
set -u
bindir=${1:?usage: dovecot_postlogin.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "dovecot_postlogin.sh must run as root"
require_built "$bindir" popauthctl
require_packages dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq sqlite3 util-linux procps
require_commands jq sqlite3 unshare setpriv timeout nc mkfifo pgrep
template=$here/../../scripts/dovecot/popauth-postlogin.in
[ -f "$template" ] || die "the script template $template is missing"

# Without a popauth user, run again inside a private mount namespace (see above).
if ! getent passwd popauth >/dev/null && [ -z "${POSTLOGIN_PRIVATE_NS:-}" ]; then
    exec env POSTLOGIN_PRIVATE_NS=1 unshare --mount --propagation private "$0" "$bindir"
fi

work=$(mktemp -d /tmp/pa-postlogin.XXXXXX) || die "mktemp failed"
# Canary files go here: lowercase (Dovecot lowercases user names), writable by popauth.
canary=/tmp/pa-postlogin-canary.$$
lock_pid='' lock_fd=''
cleanup()
{
    [ -n "$lock_fd" ] && exec {lock_fd}>&-
    [ -n "$lock_pid" ] && kill "$lock_pid" 2>/dev/null && wait "$lock_pid" 2>/dev/null
    if [ -n "${POSTLOGIN_PRIVATE_NS:-}" ]; then
        umount /etc/passwd 2>/dev/null
        umount /etc/group 2>/dev/null
    fi
    rm -rf "$work" "$canary"
}
trap cleanup EXIT # netns_setup chains this after its own cleanup

# unused_id KIND START - the first id from START without an entry in passwd or group
unused_id()
{
    local id=$2
    while getent "$1" "$id" >/dev/null; do id=$((id + 1)); done
    echo "$id"
}
if ! getent passwd popauth >/dev/null; then
    [ -n "${POSTLOGIN_PRIVATE_NS:-}" ] || die "no popauth user, and not in a private mount namespace"
    gid=$(getent group popauth | cut -d: -f3)
    if [ -z "$gid" ]; then
        gid=$(unused_id group 64150)
        { cat /etc/group; echo "popauth:x:$gid:"; } >"$work/group"
        chmod 644 "$work/group"
        mount --bind "$work/group" /etc/group || die "cannot bind-mount a private /etc/group"
    fi
    uid=$(unused_id passwd 64150)
    { cat /etc/passwd; echo "popauth:x:$uid:$gid:popauth POP-before-SMTP daemons:/var/lib/popauth:/usr/sbin/nologin"; } >"$work/passwd"
    chmod 644 "$work/passwd"
    mount --bind "$work/passwd" /etc/passwd || die "cannot bind-mount a private /etc/passwd"
    getent passwd popauth >/dev/null || die "the private popauth user is not seen"
    echo "# user popauth (uid $uid, gid $gid) exists in this test's mount namespace only"
fi
pgroup=$(id -gn popauth)
as_popauth() { setpriv --reuid=popauth --regid="$pgroup" --init-groups -- "$@"; }
# popauthctl as installed, where popauth can run it (the build directory may be under a
# home that others cannot search, such as /root)
{ mkdir -m 755 "$work/bin" && install -m 755 "$bindir/popauthctl" "$work/bin/popauthctl"; } ||
    die "cannot copy popauthctl into $work/bin"
chmod 711 "$work"
as_popauth test -x "$work/bin/popauthctl" || die "user popauth cannot run $work/bin/popauthctl (every directory above must be searchable)"

# The store as the package lays it out: a 0750 directory of popauth's, the store made
# by popauthctl run as root (which works as the directory's owner).
chmod 711 "$work"
store=$work/store db=$work/store/auth.db conf=$work/popauth.conf
{ mkdir -m 750 "$store" && chown "popauth:$pgroup" "$store"; } || die "cannot make $store"
printf 'database = %s\ngrant_lifetime = 10m\n' "$db" >"$conf" && chmod 644 "$conf"
ctl() { "$bindir/popauthctl" -c "$conf" "$@"; }
run ctl purge
[ "$status" -eq 0 ] || die "popauthctl purge could not make the store: $err"
mkdir -m 1777 "$canary" || die "cannot make $canary"
{ as_popauth touch "$canary/probe" && rm -f "$canary/probe"; } || die "popauth cannot write to $canary"

# The script: the template with its two paths filled in, as cmake --install does.
script=$work/popauth-postlogin
fill_script()
{
    sed -e "s|@POPAUTH_CTL@|$1|g" -e "s|@POPAUTH_CONFIG_FILE@|$conf|g" "$template" >"$script.new" &&
        chmod 755 "$script.new" && mv "$script.new" "$script"
}
fill_script "$work/bin/popauthctl" || die "cannot write $script"
! grep -q '@[A-Z_]*@' "$script" || die "$script still has a placeholder: $(grep '@[A-Z_]*@' "$script")"
timeout_secs=$(sed -n 's/^POPAUTH_TIMEOUT=\([0-9]*\)$/\1/p' "$script")
[ -n "$timeout_secs" ] || die "no POPAUTH_TIMEOUT=N line in $template"

# User names full of shell syntax: each command would create a canary file if a shell ran
# it. (No quotes or backslashes: passwd-file looks a name up with those escaped.)
evil="-x \$(touch $canary/1);touch $canary/2 \`touch $canary/3\` |touch $canary/4 &touch $canary/5 >$canary/6 * \$ip"
optuser="--source=evil --lifetime=1s -- 6.6.6.6"
dovecot_add_user "$evil" secret || die "cannot add the user '$evil'"
dovecot_add_user "$optuser" secret || die "cannot add the user '$optuser'"

# Dovecot's configuration: the recipe exactly as INSTALL 5.6 shows it (its three service
# blocks), with the script's installed path replaced by this copy's; and a unix listener
# for a login without IP.
installed=/usr/libexec/popauth/popauth-postlogin
recipe=$(awk '/^5\.6 Dovecot post-login script$/ { sect = 1 }
    sect && /^    service popauth-postlogin \{$/ { take = 1 }
    take { print substr($0, 5) }
    take && /^    \}$/ && ++blocks == 3 { exit }' "$here/../../INSTALL")
if [ "$(grep -c '^}$' <<<"$recipe")" -ne 3 ] ||
    ! grep -qxF "  executable = script-login $installed" <<<"$recipe"; then
    die "INSTALL 5.6 does not show the three service blocks of the recipe (with $installed): $recipe"
fi
pass "INSTALL 5.6's recipe taken as shown ($(grep -c . <<<"$recipe") lines)"
DOVECOT_EXTRA_CONF="# The post-login recipe of INSTALL 5.6 (tests/integration/dovecot_postlogin.sh).
${recipe//"$installed"/"$script"}
service pop3-login {
  unix_listener pop3-local {
    mode = 0600
  }
}
# No address-space limit: scripts/test also runs this test with the sanitizer build,
# whose popauthctl reserves far more than Dovecot's default 256M at start.
default_vsz_limit = 0"
export DOVECOT_EXTRA_CONF

netns_setup || die "could not set up the network namespaces"
dovecot_start "$work" "$NETNS_SERVER_ADDR" "$NETNS_SERVER_ADDR6" || die "Dovecot did not start"
pass "Dovecot with the post-login recipe listens on $NETNS_SERVER_ADDR and $NETNS_SERVER_ADDR6"
for a in 52 53 54 55; do
    netns_add_addr "$NETNS_CLIENT" "$NETNS_NET.$a/24" || die "could not add $NETNS_NET.$a"
done

show_logs()
{
    echo "  --- dovecot log:"
    tail -n 25 "$DOVECOT_LOG" | sed 's/^/  /'
}

# Runs a login function; records the server's replies as "stdout" for lib.sh's report,
# and how long the login took in $took_ms.
login()
{
    local t0
    t0=$(date +%s%N)
    "$@"
    status=$? out=$CLIENT_REPLY err=
    took_ms=$((($(date +%s%N) - t0) / 1000000))
}

# expect_grant ADDR USER WHAT - ADDR is granted now (no waiting) to exactly USER, with
# source dovecot-postlogin and the configured lifetime
expect_grant()
{
    local what="$3: the grant names the user exactly, source dovecot-postlogin, lifetime 10m"
    run ctl show "$1" --json
    expect_status 0 "$3: $1 is granted when the client has its OK"
    if jq -e --arg a "$1" --arg u "$2" '.address == $a and .user == $u and
        .source == "dovecot-postlogin" and .expires - .first_login == 600' >/dev/null 2>&1 <<<"$out"; then
        pass "$what"
    else
        fail "$what"
    fi
}

# expect_no_grant ADDR WHAT
expect_no_grant()
{
    run ctl show "$1"
    expect_status 1 "$2: no grant for $1"
}

# expect_logged ADDR WHAT - Dovecot logged the script's one line about ADDR
expect_logged()
{
    local n
    n=$(grep -c "popauth-postlogin: no relay grant for $1 " "$DOVECOT_LOG")
    status=0 out=$(grep "popauth-postlogin: no relay grant for $1 " "$DOVECOT_LOG") err=
    if [ "$n" -eq 1 ]; then pass "$2: one line in Dovecot's log"; else fail "$2: $n lines about $1 in Dovecot's log (wanted 1)"; fi
}

# expect_quick WHAT - the last login took less than the script's limit and a margin
expect_quick()
{
    if [ "$took_ms" -lt $(((timeout_secs + 3) * 1000)) ]; then
        pass "$1 took $took_ms ms (the script's limit is $timeout_secs s)"
    else
        status=0 out='' err=''
        fail "$1 took $took_ms ms (the script's limit is $timeout_secs s)"
    fi
}

# 1. POP3 over IPv4, IMAP over IPv6: granted by the time the client sees its OK.
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_CLIENT_ADDR"
expect_status 0 "POP3 login by alice from $NETNS_CLIENT_ADDR"
expect_grant "$NETNS_CLIENT_ADDR" alice "POP3 (IPv4)"
login imap_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" bob secret "$NETNS_CLIENT_ADDR6"
expect_status 0 "IMAP login by bob from $NETNS_CLIENT_ADDR6"
expect_grant "$NETNS_CLIENT_ADDR6" bob "IMAP (IPv6)"
run stat -c '%U %a' "$db" "$db-wal" "$db-shm"
if [ "$(sort -u <<<"$out")" = "popauth 640" ]; then pass "the store's files are popauth's, 0640"; else fail "the store's files are popauth's, 0640"; fi

# 2. A wrong password: refused, nothing granted, and the script never ran.
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice wrong "$NETNS_THIRD_ADDR"
expect_status 1 "POP3 login with a wrong password from $NETNS_THIRD_ADDR is refused"
run dovecot_wait_log "auth failed.*rip=$NETNS_THIRD_ADDR,"
expect_status 0 "Dovecot logged the failed login"
expect_no_grant "$NETNS_THIRD_ADDR" "wrong password"

# 3. User names that are shell code and popauthctl options.
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" "$evil" secret "$NETNS_NET.52"
expect_status 0 "POP3 login as '$evil'"
expect_grant "$NETNS_NET.52" "$evil" "a user name of shell code"
run ls -A "$canary"
if [ -z "$out" ]; then pass "the shell code in the user name ran nothing (no canary file)"; else fail "the shell code in the user name created files in $canary"; fi
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR6" "$optuser" secret "$NETNS_THIRD_ADDR6"
expect_status 0 "POP3 login over IPv6 as '$optuser'"
expect_grant "$NETNS_THIRD_ADDR6" "$optuser" "a user name of popauthctl options"
expect_no_grant 6.6.6.6 "an address in a user name"

# 4. A login over a unix socket has no IP: no grant, no word in the log.
before=$(ctl list --json | jq -c 'map(.address) | sort')
lines=$(wc -l <"$DOVECOT_LOG")
run timeout 15 nc -N -U "$DOVECOT_BASE/pop3-local" <<<$'USER alice\r\nPASS secret\r\nQUIT\r'
if grep -q '^+OK Logged in' <<<"$out"; then pass "POP3 login over a unix socket"; else fail "POP3 login over a unix socket"; fi
if [ "$(ctl list --json | jq -c 'map(.address) | sort')" = "$before" ]; then pass "a login without IP grants nothing"; else fail "a login without IP changed the grants"; fi
run tail -n +"$((lines + 1))" "$DOVECOT_LOG"
if grep -q 'Login: user=<alice>' <<<"$out" && ! grep -q 'popauth-postlogin' <<<"$out"; then
    pass "a login without IP: the script said nothing"
else
    fail "a login without IP: the script said nothing (the log since)"
fi

# 5. The store unwritable by popauth (root's, 0600): the login succeeds, one line.
chown root:root "$db" "$db-wal" "$db-shm" && chmod 600 "$db" "$db-wal" "$db-shm"
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_NET.53"
expect_status 0 "POP3 login with the store unwritable by popauth"
expect_quick "the login with the store unwritable"
expect_logged "$NETNS_NET.53" "the store unwritable"
chown "popauth:$pgroup" "$db" "$db-wal" "$db-shm" && chmod 640 "$db" "$db-wal" "$db-shm"
expect_no_grant "$NETNS_NET.53" "the store unwritable"

# 6. The store locked by another writer: popauthctl gives up after its busy timeout.
mkfifo "$work/lock.in"
sqlite3 "$db" <"$work/lock.in" >"$work/lock.out" 2>&1 &
lock_pid=$!
exec {lock_fd}>"$work/lock.in"
printf 'BEGIN EXCLUSIVE;\nSELECT 42;\n' >&"$lock_fd"
for ((i = 0; i < 50; i++)); do grep -q 42 "$work/lock.out" && break; sleep 0.1; done
grep -q 42 "$work/lock.out" || die "could not lock the store: $(cat "$work/lock.out")"
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_NET.54"
expect_status 0 "POP3 login with the store locked"
expect_quick "the login with the store locked"
expect_logged "$NETNS_NET.54" "the store locked"
printf 'COMMIT;\n' >&"$lock_fd"
exec {lock_fd}>&-
lock_fd=
wait "$lock_pid"
lock_pid=
expect_no_grant "$NETNS_NET.54" "the store locked"

# 7. popauthctl hangs: the script kills it at its limit and the login goes on.
printf '#!/bin/sh\nexec sleep 60\n' >"$work/hang" && chmod 755 "$work/hang"
fill_script "$work/hang" || die "cannot rewrite $script"
login pop3_login "$NETNS_CLIENT" "$NETNS_SERVER_ADDR" alice secret "$NETNS_NET.55"
expect_status 0 "POP3 login with popauthctl hanging"
expect_quick "the login with popauthctl hanging"
expect_logged "$NETNS_NET.55" "popauthctl hanging"
if grep -q "no relay grant for $NETNS_NET.55 .*did not finish within $timeout_secs s" "$DOVECOT_LOG"; then
    pass "the log line says popauthctl timed out"
else
    fail "the log line says popauthctl timed out"
fi
if pgrep -f "^sleep 60$" -u popauth >/dev/null; then fail "the hanging popauthctl was left running"; else pass "the hanging popauthctl was killed"; fi
fill_script "$work/bin/popauthctl" || die "cannot rewrite $script"
expect_no_grant "$NETNS_NET.55" "popauthctl hanging"

# 8. Afterwards: exactly the four logins' grants, the store still popauth's, Dovecot up.
run ctl list --json
expect_json "(map(.address) | sort) == ([\"$NETNS_CLIENT_ADDR\", \"$NETNS_CLIENT_ADDR6\", \"$NETNS_NET.52\", \"$NETNS_THIRD_ADDR6\"] | sort)" \
    "grants for exactly the successful logins from an address"
run find "$store" ! -user popauth
if [ -z "$out" ]; then pass "every file in the store's directory is popauth's"; else fail "files in the store's directory that are not popauth's"; fi
if kill -0 "$DOVECOT_PID" 2>/dev/null; then pass "Dovecot still runs"; else fail "Dovecot exited"; fi

[ "$failed" -eq 0 ] || show_logs
finish
