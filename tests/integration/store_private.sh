#!/usr/bin/env bash
# The store is private and stays usable, with the built popauthctl run as root and as
# other users. The test runs in a mount namespace of its own, where /etc/group is a copy
# that has a popauth group with nobody in it (and later one without that group), so the
# machine's own user and group files are never touched.
# 1. Whatever the umask (000, 077, 022), a new store's database, -wal and -shm files are
#    0640 with group popauth, and stay after the last writer closes; a user in group
#    popauth reads the store from a directory it may not write to (popauthctl show, and
#    smtpgate answering policy requests, before and after a new grant), a user outside
#    the group cannot; the same holds when the store is made by a member of popauth
#    that is not root; without a popauth group the files get the creator's primary group.
# 2. root running popauthctl on a store (or in a store directory) owned by nobody works
#    as nobody: afterwards every file there belongs to nobody. A store whose owner has no
#    user name is refused with one line naming the uid, and nothing is changed.
# 3. A read command on a version 1 store says which command migrates it and fails; a
#    version 2 store is read, with a warning saying the same. `popauthctl purge` (the
#    migrating command named) copies the store to auth.db.bak-schemaN first (0640,
#    nobody's, holding the old version and its rows), says where, and migrates; a store
#    made 0644 by an older version loses the permission for others.
# Needs root, util-linux (unshare, setpriv), sqlite3.
# Usage: store_private.sh BINDIR
set -u
bindir=${1:?usage: store_private.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "store_private.sh must run as root (it switches users)"
require_built "$bindir" popauthctl smtpgate policy_client
require_packages util-linux sqlite3
require_commands unshare setpriv sqlite3 mount stat find getent

# Run again inside a private mount namespace, where /etc/group may be replaced.
if [ -z "${STORE_PRIVATE_NS:-}" ]; then
    exec env STORE_PRIVATE_NS=1 unshare --mount --propagation private "$0" "$bindir"
fi

work=$(mktemp -d /tmp/store-private-test.XXXXXX)
gate=
cleanup()
{
    [ -n "$gate" ] && kill "$gate" 2>/dev/null && wait "$gate" 2>/dev/null
    umount /etc/group 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
chmod 0755 "$work"

# unused_id KIND START - the first id from START without an entry in passwd or group
unused_id()
{
    local id=$2
    while getent "$1" "$id" >/dev/null; do id=$((id + 1)); done
    echo "$id"
}
owner=nobody
owner_group=$(id -gn nobody)
popauth_gid=$(unused_id group 64100)
reader=$(unused_id passwd 64200)     # a gate's uid, with no user name
stranger=$(unused_id passwd $((reader + 1)))
ghost=$(unused_id passwd 54321)      # an owner with no user name
grep -v '^popauth:' /etc/group > "$work/group.with"
echo "popauth:x:$popauth_gid:$owner" >> "$work/group.with"
grep -v '^popauth:' /etc/group > "$work/group.without"
mount --bind "$work/group.with" /etc/group || die "cannot bind-mount a private /etc/group"
[ "$(getent group popauth | cut -d: -f3)" = "$popauth_gid" ] || die "the private popauth group is not seen"

ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }
# as_reader GROUPS CMD... - CMD as the gate's uid with only GROUPS (comma-separated
# gids, or "" for none)
as_reader()
{
    local groups=$1
    shift
    if [ -n "$groups" ]; then
        setpriv --reuid="$reader" --regid="$reader" --groups="$groups" "$@"
    else
        setpriv --reuid="$stranger" --regid="$stranger" --clear-groups "$@"
    fi
}
# store_dir NAME - a fresh directory owned by nobody, group popauth, 0750, like
# /var/lib/popauth; sets dir and db
store_dir()
{
    dir=$work/$1
    mkdir "$dir"
    chown "$owner:popauth" "$dir" 2>/dev/null || chown "$owner" "$dir"
    chmod 0750 "$dir"
    db=$dir/auth.db
}
# expect_file FILE "MODE USER GROUP" WHAT
expect_file()
{
    local got
    got=$(stat -c '%a %U %G' "$1" 2>&1)
    if [ "$got" = "$2" ]; then pass "$3"; else fail "$3 ($1 is '$got', wanted '$2')"; fi
}
# expect_store "MODE USER GROUP" WHAT - the database, its -wal and its -shm
expect_store()
{
    local f
    for f in "$db" "$db-wal" "$db-shm"; do
        expect_file "$f" "$1" "$2: ${f##*/}"
    done
}
# expect_all_owned WHAT - every file in the store's directory belongs to nobody
expect_all_owned()
{
    local others
    others=$(find "$dir" ! -user "$owner" -printf '%p (%u) ')
    if [ -z "$others" ]; then pass "$1"; else fail "$1 (not $owner's: $others)"; fi
}
one_line() { [ "$(printf '%s\n' "$err" | grep -c .)" -eq 1 ]; }

# request CLIENT - a policy request for CLIENT sending to a foreign recipient
request()
{
    printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n'
    printf 'client_address=%s\nclient_name=unknown\nhelo_name=h.test\nsender=s@far.test\n' "$1"
    printf 'recipient=u@far.test\nrecipient_count=0\nqueue_id=\nsize=0\nsasl_username=\n\n'
}

# 1. Modes and group, whatever the umask
for um in 000 077 022; do
    store_dir "umask$um"
    run bash -c "umask $um && exec \"\$@\"" umask "$bindir/popauthctl" -c /dev/null \
        -o "database=$db" allow 192.0.2.1 --user alice
    expect_status 0 "umask $um: root makes a store in nobody's directory"
    expect_store "640 $owner popauth" "umask $um: 0640, nobody's, group popauth"
    expect_all_owned "umask $um: nothing in the directory belongs to root"
    run as_reader "$popauth_gid" "$bindir/popauthctl" -c /dev/null -o "database=$db" show 192.0.2.1
    expect_status 0 "umask $um: a reader in group popauth reads the closed store"
    expect_out "user:        alice" "umask $um: the reader sees the grant"
    run as_reader "" "$bindir/popauthctl" -c /dev/null -o "database=$db" show 192.0.2.1
    expect_status 2 "umask $um: a user outside the group cannot read the store"
done

# smtpgate as a user of its own in group popauth, on the store of umask 022
port=$((14000 + ($$ % 1500) * 10))
setpriv --reuid="$reader" --regid="$reader" --groups="$popauth_gid" "$bindir/smtpgate" \
    -c /dev/null -o "database=$db" -o local_domains=local.test \
    -o "policy_listen=inet:127.0.0.1:$port" 2>"$work/smtpgate.log" &
gate=$!
for _ in $(seq 50); do
    grep -q "action=start" "$work/smtpgate.log" && break
    sleep 0.1
done
run "$bindir/policy_client" -p "$port" -t 10 < <(request 192.0.2.1)
expect_out "action=OK" "smtpgate in group popauth: a granted client may relay"
run "$bindir/policy_client" -p "$port" -t 10 < <(request 192.0.2.4)
expect_out "action=DUNNO" "smtpgate in group popauth: an unknown client is left to Postfix"
run ctl allow 192.0.2.4
ok=0
for _ in $(seq 30); do
    run "$bindir/policy_client" -p "$port" -t 10 < <(request 192.0.2.4)
    grep -qF "action=OK" <<<"$out" && ok=1 && break
    sleep 0.2
done
if [ $ok = 1 ]; then pass "smtpgate in group popauth: a new grant is seen"; else fail "smtpgate in group popauth: a new grant is seen"; fi
expect_all_owned "umask 022: with smtpgate reading, nothing in the directory belongs to root"
kill "$gate"
wait "$gate"
gate=
if grep -q "error" "$work/smtpgate.log"; then
    fail "smtpgate logged no error ($(grep -m1 "error" "$work/smtpgate.log"))"
else
    pass "smtpgate logged no error"
fi

store_dir member
run bash -c 'umask 000 && exec "$@"' umask setpriv --reuid="$owner" --regid="$owner_group" \
    --init-groups "$bindir/popauthctl" -c /dev/null -o "database=$db" allow 192.0.2.2
expect_status 0 "nobody, a member of popauth, makes a store with umask 000"
expect_store "640 $owner popauth" "a member's store: 0640, group popauth"

mount --bind "$work/group.without" /etc/group || die "cannot bind-mount the second /etc/group"
store_dir nogroup
run bash -c 'umask 000 && exec "$@"' umask "$bindir/popauthctl" -c /dev/null \
    -o "database=$db" allow 192.0.2.3
expect_status 0 "without a popauth group: a store is made"
expect_store "640 $owner $owner_group" "without a popauth group: 0640, nobody's own group"
umount /etc/group

# 2. root works as the store's owner
store_dir owned
run ctl allow 198.51.100.1 --user bob
expect_status 0 "root: allow in nobody's directory"
run ctl allow 198.51.100.2 --lifetime 1s
sleep 2
run ctl purge
expect_status 0 "root: purge"
expect_out "purged 1 expired grants" "root: purge worked on nobody's store"
run ctl revoke 198.51.100.1
expect_status 0 "root: revoke"
run ctl list
expect_status 0 "root: list"
run ctl stats
expect_status 0 "root: stats"
expect_store "640 $owner popauth" "after root's commands: store files 0640, nobody's"
expect_all_owned "after allow, purge, revoke, list, stats: every file is nobody's"

cp -p "$db" "$work/before.db"
chown "$ghost" "$db"
run ctl purge
expect_status 2 "root refuses a store whose owner has no user name"
expect_err "belongs to uid $ghost, which has no user name" "the refusal names the owner's uid"
if one_line; then pass "the refusal is one line"; else fail "the refusal is one line"; fi
if cmp -s "$db" "$work/before.db"; then pass "the refused store is unchanged"; else fail "the refused store is unchanged"; fi
chown "$owner" "$db"

# 3. Older schemas: what reads them, what migrates them, and the copy made first
auth_v1="CREATE TABLE auth (address TEXT NOT NULL PRIMARY KEY, user TEXT NOT NULL,
 source TEXT NOT NULL, first_login INTEGER NOT NULL, last_login INTEGER NOT NULL,
 logins INTEGER NOT NULL, expires INTEGER NOT NULL) WITHOUT ROWID;
 CREATE INDEX auth_expires ON auth (expires);
 INSERT INTO auth VALUES ('192.0.2.9', 'carol', 'dovecot', 1, 2, 1, 4102444800);"
v2_tables="CREATE TABLE positions (source TEXT NOT NULL PRIMARY KEY, device INTEGER NOT NULL,
 inode INTEGER NOT NULL, offset INTEGER NOT NULL, head TEXT NOT NULL, cursor TEXT NOT NULL,
 updated INTEGER NOT NULL) WITHOUT ROWID;
 CREATE TABLE counters (source TEXT NOT NULL, name TEXT NOT NULL, value INTEGER NOT NULL,
 PRIMARY KEY (source, name)) WITHOUT ROWID;"
# shellcheck disable=SC2016 # the backquotes are text
hint='start popauth or run `popauthctl purge` to migrate it'
for v in 1 2; do
    store_dir "schema$v"
    if [ "$v" = 1 ]; then
        sqlite3 "$db" "$auth_v1 PRAGMA user_version = 1;"
    else
        sqlite3 "$db" "$auth_v1 $v2_tables PRAGMA user_version = 2;"
    fi
    chown "$owner:popauth" "$db"
    chmod 0644 "$db" # as an older version left it
    run ctl list
    if [ "$v" = 1 ]; then
        expect_status 2 "schema 1: list fails"
        expect_err "the store is at schema version 1" "schema 1: list says the store's version"
        expect_err "$hint" \
            "schema 1: list names the command that migrates it"
        if one_line; then pass "schema 1: in one line"; else fail "schema 1: in one line"; fi
    else
        expect_status 0 "schema 2: list reads it"
        expect_out "192.0.2.9" "schema 2: list shows its grant"
        expect_err "$hint" \
            "schema 2: list says what migrates it"
    fi
    run ctl purge
    expect_status 0 "schema $v: purge migrates it"
    expect_err "copy=$db.bak-schema$v" "schema $v: the migration says where the copy is"
    expect_file "$db.bak-schema$v" "640 $owner popauth" "schema $v: the copy is 0640, nobody's"
    run sqlite3 "$db.bak-schema$v" "SELECT user_version || ' ' || user FROM pragma_user_version, auth"
    expect_out "$v carol" "schema $v: the copy holds the old version and its grant"
    run sqlite3 -readonly "$db" "PRAGMA user_version"
    expect_out "3" "schema $v: the store is at the latest version"
    expect_store "640 $owner popauth" "schema $v: the migrated store lost others' access"
    expect_all_owned "schema $v: every file is nobody's after the migration"
    run ctl show 192.0.2.9
    expect_status 0 "schema $v: the grant survived"
    expect_no_out "migrate" "schema $v: nothing more to migrate"
    if [ -z "$err" ]; then pass "schema $v: no more warnings"; else fail "schema $v: no more warnings"; fi
done

finish
