#!/usr/bin/env bash
# The shipped Postfix setup, used as an administrator would use it: a real Postfix whose
# main.cf gets scripts/mta/postfix-main.cf appended verbatim, and popauth and smtpgate on
# scripts/popauth.conf.example copied verbatim with only the paths appended (database,
# log_sources): local_domains stays unset, every policy_*_action keeps its default. The
# local domains are Postfix's own: local.test (mydestination), virt.test
# (virtual_alias_domains) and relay.test (relay_domains). popauth follows a real
# Dovecot's log; swaks speaks SMTP from the client namespace.
#   - a stranger's mail to each local domain is accepted (250); a stranger's relay attempt
#     is refused by Postfix's own reject_unauth_destination (554) after smtpgate answered
#     DUNNO (its log names the outcome, reject, whose reply policy_reject_action is DUNNO)
#   - a roaming user relays after a real POP3 login (250, logged as permit-grant), and is
#     refused again once the grant has expired
#   - with the store unreadable, and with smtpgate stopped, a relay attempt gets a 4xx
#     (DEFER_IF_REJECT) and mail to the local domains is still accepted
#   - start-up refusals: policy_reject_action = REJECT with local_domains empty exits 2
#     with one line naming both settings; with local_domains set it starts and refuses
#     relaying itself; proxy_listen with local_domains empty exits 2
# Needs root, postfix, swaks, dovecot-pop3d, dovecot-imapd, netcat-openbsd, iproute2, jq.
# Usage: postfix_shipped.sh BINDIR
set -euo pipefail
bindir=${1:?usage: postfix_shipped.sh BINDIR}
bindir=$(cd "$bindir" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

require_packages postfix swaks dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq
require_built "$bindir" popauth popauthctl smtpgate
require_commands jq swaks postfix postconf

snippet=$srcdir/scripts/mta/postfix-main.cf
example=$srcdir/scripts/popauth.conf.example
[ -f "$snippet" ] || die "$snippet is missing"
[ -f "$example" ] || die "$example is missing"

work=$(mktemp -d /tmp/pa-pfship.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup

# From here on each check counts a failure and goes on (the helpers return a status that
# every call tests), so errexit is off: a failing check must not skip the cleanup or the
# checks after it.
set +e
netns_setup || die "could not set up the network namespaces"

srv=$NETNS_SERVER_ADDR
roam=$NETNS_CLIENT_ADDR
stranger=$NETNS_THIRD_ADDR
far=u@far.test
db=$work/auth.db
conf=$work/popauth.conf
lifetime=6
# Postfix's replies to a relay attempt: reject_unauth_destination's own, and
# DEFER_IF_REJECT's (from smtpgate, or from smtpd_policy_service_default_action).
denied="554 5.7.1 <$far>: Relay access denied"
deferred="450 4.3.0 <$far>: Recipient address rejected: Relay authorization unavailable"

show_logs() { show_tails "${POPAUTH_ERR:-}" "$work/smtpgate.err" "$work/smtpgate-reject.err" \
    "${DOVECOT_LOG:-}" "${POSTFIX_LOG:-}"; }

loglines() { wc -l <"$SMTPGATE_ERR"; }

# --- The shipped configuration, with only the paths added -------------------------------
echo "# Dovecot (POP3) on $srv in $NETNS_SERVER"
dovecot_start "$work" "$srv" || { show_logs; die "could not start Dovecot"; }
{
    cat "$example"
    printf '\n# Paths of this test (the only lines not shipped):\n'
    printf 'database = %s\n' "$db"
    printf 'log_sources = file:%s\n' "$DOVECOT_LOG"
} >"$conf"
run diff "$example" <(head -n "$(wc -l <"$example")" "$conf")
expect_status 0 "popauth.conf is scripts/popauth.conf.example verbatim, plus the paths"
run "$bindir/popauthctl" -c "$conf" config -n
expect_status 0 "popauthctl config -n on it"
label="settings set (popauthctl config -n): expected database and log_sources only"
if [ "$(grep -c . <<<"$out")" -eq 2 ] && grep -q '^database = ' <<<"$out" &&
    grep -q '^log_sources = ' <<<"$out"; then
    pass "$label, got '$(tr '\n' ';' <<<"$out")'"
else
    fail "$label, got '$(tr '\n' ';' <<<"$out")'"
fi

# INSTALL's Postfix section shows the snippet's settings as they are.
installed=$(awk '/^[0-9][0-9.]* Postfix$/ { on = 1 }
    on && /^    smtpd_relay_restrictions =/ { show = 1 }
    show && /^$/ { exit } show { print substr($0, 5) }' "$srcdir/INSTALL")
shipped=$(grep -v '^#' "$snippet")
label="INSTALL's Postfix section shows the snippet's settings"
if [ -n "$installed" ] && [ "$installed" = "$shipped" ]; then
    pass "$label: expected them, got them"
else
    status=1 out=$installed err=$shipped
    fail "$label: expected the snippet's (stderr), got INSTALL's (stdout)"
fi

# grant_lifetime is the one thing not from the file: a few seconds instead of 30m, so the
# expiry can be waited for. It is given on popauth's command line (-o), not in the file.
echo "# popauth -c popauth.conf -o grant_lifetime=${lifetime}s, following $DOVECOT_LOG"
popauth_start_conf "$bindir" "$conf" "$db" "$DOVECOT_LOG" -o "grant_lifetime=${lifetime}s" ||
    { show_logs; die "could not start popauth"; }
# smtpgate runs in the server namespace, where Postfix asks it: the example leaves
# policy_listen at its default, inet:127.0.0.1:10040, the address the snippet names.
echo "# smtpgate -c popauth.conf in $NETNS_SERVER (policy_listen left at its default)"
smtpgate_start_conf "$bindir" "$conf" "$NETNS_SERVER" 10040 "$work/smtpgate.err" ||
    { show_logs; die "could not start smtpgate on the shipped configuration"; }
pass "smtpgate starts on the shipped configuration (local_domains unset)"

# postfix_start writes a relay restriction of its own, and a second entry for a setting
# makes postconf warn (which postfix_start takes as a broken main.cf). So, the one change
# that cannot be avoided: that entry is removed (postconf -X), then the snippet is
# appended verbatim, and the running Postfix reloads. The virtual and relay domains are
# Postfix's own configuration, which the snippet must leave working.
echo "# Postfix on $srv: mydestination = local.test, virtual_alias_domains = virt.test,"
echo "#   relay_domains = relay.test, then scripts/mta/postfix-main.cf verbatim"
postfix_start "$work" "$srv" 127.0.0.1:10040 \
    'virtual_alias_domains = virt.test' \
    'virtual_alias_maps = inline:{ info@virt.test=alice@local.test }' \
    'relay_domains = relay.test' || { show_logs; die "could not start Postfix"; }
if ! postconf -c "$POSTFIX_CONF" -X smtpd_relay_restrictions ||
    ! cat "$snippet" >>"$POSTFIX_CONF/main.cf"; then
    die "could not append the snippet to $POSTFIX_CONF/main.cf"
fi
run postconf -c "$POSTFIX_CONF" -n
if [ "$status" -eq 0 ] && [ -z "$err" ]; then
    pass "Postfix reads main.cf with the snippet: expected no warning, got none"
else
    fail "Postfix reads main.cf with the snippet: expected no warning, got '$err'"
fi
# shellcheck disable=SC2119 # no setting to change: only the reload
postfix_reconfigure || { show_logs; die "Postfix did not reload with the shipped snippet"; }
# What Postfix makes of the snippet alone, and what the running instance uses: the same.
mkdir -p "$work/snippet" && cp "$snippet" "$work/snippet/main.cf" && : >"$work/snippet/master.cf"
snip=$(postconf -c "$work/snippet" -h smtpd_relay_restrictions | tr -s ' \n' ' ' | sed 's/ $//')
got=$(postconf -c "$POSTFIX_CONF" -h smtpd_relay_restrictions | tr -s ' \n' ' ' | sed 's/ $//')
expect_prefix "Postfix's smtpd_relay_restrictions" "$snip" "$got"
got=$(postconf -c "$POSTFIX_CONF" -h smtpd_policy_service_default_action)
expect_prefix "Postfix's smtpd_policy_service_default_action" "DEFER_IF_REJECT" "$got"

# --- 1. Strangers: local mail accepted, relaying refused by Postfix ----------------------
echo "# 1. A stranger ($stranger): mail to the local domains is accepted, relaying is not"
swaks_expect "stranger $stranger" "$stranger" "$srv" alice@local.test 250
swaks_expect "stranger $stranger" "$stranger" "$srv" postmaster@local.test 250
swaks_expect "stranger $stranger" "$stranger" "$srv" info@virt.test 250
swaks_expect "stranger $stranger" "$stranger" "$srv" someone@relay.test 250
from=$(loglines)
# reject_unauth_destination's own reply: "554 5.7.1 <RCPT>: Relay access denied". smtpgate
# answered DUNNO: an OK would have been a 250, its DEFER_IF_REJECT a 450, a REJECT would
# read "<RCPT>: Recipient address rejected: ..."; its log names the outcome, reject, whose
# reply is policy_reject_action (DUNNO unless set).
swaks_expect "stranger $stranger" "$stranger" "$srv" "$far" "$denied"
smtpgate_said "stranger's relay attempt (DUNNO)" "$from" "$stranger" "$far" reject
swaks_expect "roaming user $roam (before any login)" "$roam" "$srv" "$far" "$denied"

# --- 2. The roaming user logs in over POP3 and relays --------------------------------------
echo "# 2. The roaming user logs in to Dovecot (POP3, alice from $roam)"
if pop3_login "$NETNS_CLIENT" "$srv" alice secret "$roam"; then
    expect_prefix "POP3 login by alice from $roam" "+OK" "$(sed -n 3p <<<"$CLIENT_REPLY")"
else
    expect_prefix "POP3 login by alice from $roam" "+OK" "$(tr '\n' ' ' <<<"$CLIENT_REPLY")"
fi
json=
for ((i = 0; i < 100; i++)); do
    json=$("$bindir/popauthctl" -c "$conf" show "$roam" --json 2>/dev/null) && break
    json=
    sleep 0.1
done
expect_prefix "popauth's grant for $roam" "alice" "$(jq -r '.user // empty' <<<"${json:-null}" 2>/dev/null)"
from=$(loglines)
swaks_expect "roaming user $roam (after login)" "$roam" "$srv" "$far" 250
smtpgate_said "roaming user's relay" "$from" "$roam" "$far" permit-grant
swaks_expect "stranger $stranger (meanwhile)" "$stranger" "$srv" "$far" "$denied"

# --- 3. The grant expires ------------------------------------------------------------------
echo "# 3. The grant expires (grant_lifetime=${lifetime}s on popauth's command line)"
for ((i = 0; i < (lifetime + 15) * 10; i++)); do
    "$bindir/popauthctl" -c "$conf" show "$roam" >/dev/null 2>&1 || break
    sleep 0.1
done
sleep 1 # so no clock rounding anywhere can keep it alive
if "$bindir/popauthctl" -c "$conf" show "$roam" >/dev/null 2>&1; then
    expect_prefix "the grant for $roam" "expired" "still valid $((lifetime + 16))s after the login"
else
    expect_prefix "the grant for $roam" "expired" "expired"
fi
from=$(loglines)
swaks_expect "roaming user $roam (after expiry)" "$roam" "$srv" "$far" "$denied"
smtpgate_said "expired user's relay attempt (DUNNO)" "$from" "$roam" "$far" reject
swaks_expect "roaming user $roam (after expiry)" "$roam" "$srv" alice@local.test 250

# --- 4. The store cannot answer, then smtpgate is gone: 4xx for relaying -------------------
echo "# 4. The store cannot answer (moved away): DEFER_IF_REJECT"
mkdir "$work/away" && mv "$db" "$db"-* "$work/away"/ 2>/dev/null
[ -e "$db" ] && fail "could not move the store away"
sleep 0.3 # smtpgate notices a replaced or missing store within 0.1 s
from=$(loglines)
swaks_expect "stranger $stranger (store unreadable)" "$stranger" "$srv" "$far" "$deferred"
smtpgate_said "relay attempt with the store unreadable" "$from" "$stranger" "$far" defer
swaks_expect "stranger $stranger (store unreadable)" "$stranger" "$srv" alice@local.test 250
swaks_expect "stranger $stranger (store unreadable)" "$stranger" "$srv" info@virt.test 250
mv "$work/away"/* "$work"/
# smtpgate tries the store again at most once a second.
for ((i = 0; i < 50; i++)); do
    r=$(swaks_rcpt "$NETNS_CLIENT" "$stranger" "$srv" "$far" 2>/dev/null)
    [[ $r == 554* ]] && break
    sleep 0.2
done
expect_prefix "stranger $stranger -> $far (store back)" "$denied" "$r"

echo "# 5. smtpgate is stopped: Postfix's smtpd_policy_service_default_action (from the snippet)"
netns_stop_pid "$SMTPGATE_PID" 5
swaks_expect "stranger $stranger (smtpgate stopped)" "$stranger" "$srv" "$far" "$deferred"
swaks_expect "stranger $stranger (smtpgate stopped)" "$stranger" "$srv" alice@local.test 250
swaks_expect "stranger $stranger (smtpgate stopped)" "$stranger" "$srv" someone@relay.test 250

# --- 6. Start-up refusals --------------------------------------------------------------------
echo "# 6. smtpgate refuses to start when it would refuse your own mail"
# one_line LABEL: the last run exited 2 with exactly one line on stderr naming each of
# the remaining arguments
one_line()
{
    local label=$1 name lines ok=1
    shift
    lines=$(grep -c . <<<"$err")
    for name in "$@"; do
        grep -qF -- "$name" <<<"$err" || ok=0
    done
    if [ "$status" -eq 2 ] && [ "$lines" -eq 1 ] && [ "$ok" -eq 1 ]; then
        pass "$label: expected exit 2 and one line naming $*, got exit $status: $err"
    else
        fail "$label: expected exit 2 and one line naming $*, got exit $status and $lines lines"
    fi
}
# Run in the server namespace (on its free port 10040), under timeout: a smtpgate that
# wrongly starts is stopped after 5 s (exit 124).
run ip netns exec "$NETNS_SERVER" timeout 5 "$bindir/smtpgate" -c "$conf" \
    -o 'policy_reject_action=REJECT 5.7.1 Relay access denied'
one_line "policy_reject_action = REJECT, local_domains empty" policy_reject_action local_domains
run ip netns exec "$NETNS_SERVER" timeout 5 "$bindir/smtpgate" -c "$conf" \
    -o policy_listen= -o proxy_listen=inet:127.0.0.1:2525 -o proxy_backend=inet:127.0.0.1:10025
one_line "proxy_listen set, local_domains empty" local_domains
run ip netns exec "$NETNS_SERVER" timeout 5 "$bindir/smtpgate" -c "$conf" \
    -o proxy_listen=inet:127.0.0.1:2525 -o proxy_backend=inet:127.0.0.1:10025
one_line "policy and proxy, local_domains empty" local_domains

echo "# 7. policy_reject_action = REJECT with local_domains set: smtpgate starts and refuses itself"
if smtpgate_start_conf "$bindir" "$conf" "$NETNS_SERVER" 10040 "$work/smtpgate-reject.err" \
    -o 'policy_reject_action=REJECT 5.7.1 Relay access denied' \
    -o 'local_domains=local.test, virt.test, relay.test'; then
    pass "REJECT, local_domains = local.test, virt.test, relay.test: expected it running, it is"
    from=$(loglines)
    swaks_expect "stranger $stranger (REJECT)" "$stranger" "$srv" "$far" \
        "554 5.7.1 <$far>: Recipient address rejected: Relay access denied"
    smtpgate_said "stranger's relay attempt (REJECT)" "$from" "$stranger" "$far" reject
    swaks_expect "stranger $stranger (REJECT)" "$stranger" "$srv" alice@local.test 250
    swaks_expect "stranger $stranger (REJECT)" "$stranger" "$srv" info@virt.test 250
    swaks_expect "stranger $stranger (REJECT)" "$stranger" "$srv" someone@relay.test 250
    netns_stop_pid "$SMTPGATE_PID" 5
else
    status=1 out='' err=$(tail -n 5 "$work/smtpgate-reject.err")
    fail "REJECT with local_domains set: expected a running smtpgate, got none"
fi

postfix_stop
dovecot_stop
[ "$failed" -eq 0 ] || show_logs
finish
