#!/usr/bin/env bash
# smtpgate's milter front with a real Postfix, end to end, in network namespaces
# (netns.sh): Postfix's main.cf gets scripts/mta/postfix-milter.cf appended verbatim
# (smtpd_milters = inet:127.0.0.1:10041, milter_default_action = tempfail,
# smtpd_relay_restrictions = permit), plus STARTTLS with its own self-signed certificate
# and SMTP AUTH through a real Dovecot's auth socket; popauth follows that Dovecot's log;
# smtpgate serves milter_listen only. Clients speak from the client namespace: a third
# party (.51, ::51), a roaming user (.50, ::50) and a host in local_networks (.52, ::52).
#   - the open-relay battery of SECURITY.md (battery.sh: 18 recipient shapes, 4 senders)
#     over IPv4 and IPv6 is refused (554 5.7.1, that recipient only) for the third party
#     and for the roaming user before any login, and accepted from the local network; the
#     local recipients are accepted from everyone
#   - a real POP3 login (IPv4) and IMAP login (IPv6) open relaying for that address only;
#     `popauthctl revoke` and the grant's expiry close it again, the revoke also between
#     two messages of one SMTP session (a permit accepts one message; the next is asked
#     about again)
#   - SMTP AUTH at Postfix ({auth_authen}): the third party relays after AUTH PLAIN, and
#     smtpgate logs permit-auth; a failed AUTH opens nothing
#   - STARTTLS end to end with Postfix's certificate: over TLS the battery is refused for
#     the third party and accepted from the local network, and AUTH after STARTTLS relays
#   - the store unreadable: relaying gets smtpgate's 451 4.3.0 and local mail still 250;
#     smtpgate stopped: Postfix tempfails (4xx), never 250, then relays again once
#     smtpgate is back
#   - smtpgate's log has one decision line per recipient asked (front-agnostic format;
#     a permit accepts the message, so its later recipients are not asked)
#     and no credentials; it exits 0 on SIGTERM
# Needs root, postfix, swaks (with libio-socket-inet6-perl and libnet-ssleay-perl for
# --tls), dovecot-pop3d, dovecot-imapd, openssl, iproute2, jq.
# Usage: milter_postfix.sh BINDIR
set -u
bindir=${1:?usage: milter_postfix.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"
# shellcheck source=tests/integration/battery.sh
. "$here/battery.sh"
# shellcheck source=tests/integration/milter_lib.sh
. "$here/milter_lib.sh"

die()
{
    echo "FAIL - $*"
    show_logs
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

show_logs() { show_tails "${POPAUTH_ERR:-}" "$work/smtpgate.err" "${DOVECOT_LOG:-}" "${POSTFIX_LOG:-}"; }

require_built "$bindir" popauth popauthctl smtpgate smtp_client
require_packages postfix swaks libio-socket-inet6-perl libnet-ssleay-perl dovecot-pop3d \
    dovecot-imapd openssl iproute2 jq
require_commands swaks postfix postconf openssl jq ss

snippet=$srcdir/scripts/mta/postfix-milter.cf
[ -f "$snippet" ] || die "$snippet is missing"

work=$(mktemp -d /tmp/pa-mpf.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

battery_hosts || die "could not add the local network's addresses"
db=$work/auth.db
lifetime=8
far=u@far.test local=alice@local.test
deferred="451 4.3.0 Relay authorization unavailable"
# Postfix refuses the unbracketed IP literal as bad syntax before the milter is asked.
BATTERY_REFUSED=([u@192.0.2.9]="501 5.1.3")

# --- The world ---------------------------------------------------------------------------
dovecot_start "$work" "$srv" "$srv6" || die "could not start Dovecot"
# Postfix's SMTP AUTH asks this Dovecot (smtpd_sasl_type = dovecot).
dovecot_reconfigure 'service auth {' '  unix_listener auth-postfix {' '    mode = 0666' '  }' '}' ||
    die "could not give Dovecot an auth socket for Postfix"
popauth_start "$bindir" "$db" "$DOVECOT_LOG" -o "grant_lifetime=$lifetime" || die "could not start popauth"
gate_start || die "could not start smtpgate"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.local.test \
    -keyout "$work/tls.key" -out "$work/tls.crt" >/dev/null 2>&1 || die "openssl could not make a certificate"
chmod 644 "$work/tls.crt" "$work/tls.key"
mapfile -t shipped < <(grep -vE '^[[:space:]]*(#|$)' "$snippet")
postfix_start "$work" "$srv,$srv6" none "${shipped[@]}" \
    "smtpd_tls_security_level = may" "smtpd_tls_cert_file = $work/tls.crt" \
    "smtpd_tls_key_file = $work/tls.key" "smtpd_sasl_auth_enable = yes" \
    "smtpd_sasl_type = dovecot" "smtpd_sasl_path = $DOVECOT_BASE/auth-postfix" ||
    die "could not start Postfix"
[ "$(postconf -c "$POSTFIX_CONF" -h smtpd_milters)" = inet:127.0.0.1:10041 ] ||
    die "the shipped lines did not set smtpd_milters"
pass "Dovecot, popauth, smtpgate (milter_listen only) and Postfix with postfix-milter.cf are running"

# --- 1. Nobody has logged in -------------------------------------------------------------
echo "# 1. The battery, before any login"
from=$(smtpgate_lines)
battery_senders "third party $third" "$third" "$srv" refused
battery_senders "third party $third6" "$third6" "$srv6" refused
battery_check "roaming user $roam before the login" "$roam" "$srv" "x@far.test" refused
battery_check "roaming user $roam6 before the login" "$roam6" "$srv6" "x@far.test" refused
battery_senders "local network $lan" "$lan" "$srv" accepted
battery_senders "local network $lan6" "$lan6" "$srv6" accepted
smtpgate_said "third party's relay attempt" "$from" "$third" "$far" reject
smtpgate_said "third party's mail to a local user" "$from" "$third" "$local" local
smtpgate_said "local network's relay" "$from" "$lan6" "$far" permit-localnet
n=$(tail -n +"$((from + 1))" "$SMTPGATE_ERR" | grep -c ' action=')
# 10 refused sessions: Postfix refuses u@192.0.2.9 itself (bad syntax) before asking the
# milter, so one recipient per session is never asked about. 8 accepted sessions: the
# first recipient (u@far.test) is permitted, which accepts the message, so Postfix asks
# about no other recipient of it.
asked=$(((4 + 4 + 1 + 1) * (${#battery[@]} + ${#locals[@]} - 1) + 4 + 4))
if [ "$n" -eq "$asked" ]; then
    pass "smtpgate logged one decision per recipient Postfix asked about ($n)"
else
    fail "smtpgate logged one decision per recipient Postfix asked about ($n, wanted $asked)"
fi

# --- 2. POP3 and IMAP logins -----------------------------------------------------------
echo "# 2. A real POP3 login from $roam and IMAP login from $roam6"
login pop3 "$srv" alice "$roam"
login imap "$srv6" bob "$roam6"
from=$(smtpgate_lines)
battery_senders "roaming user $roam after POP3" "$roam" "$srv" accepted
battery_senders "roaming user $roam6 after IMAP" "$roam6" "$srv6" accepted
smtpgate_said "granted client's relay" "$from" "$roam" "$far" permit-grant
battery_check "third party $third while $roam holds a grant" "$third" "$srv" "x@far.test" refused

# --- 3. Revoked and expired grants -------------------------------------------------------
echo "# 3. popauthctl revoke, and the grant's expiry"
revoke_mid_session "$roam" "$srv"
battery_check "roaming user $roam after revoke" "$roam" "$srv" "x@far.test" refused
for ((i = 0; i < (lifetime + 15) * 10; i++)); do
    ctl show "$roam6" >/dev/null 2>&1 || break
    sleep 0.1
done
sleep 1 # so no clock rounding anywhere can keep it alive
battery_check "roaming user $roam6 after the grant expired" "$roam6" "$srv6" "x@far.test" refused

# --- 4. SMTP AUTH and STARTTLS at Postfix ----------------------------------------------
echo "# 4. SMTP AUTH and STARTTLS (Postfix's own)"
from=$(smtpgate_lines)
smtp_try "third party $third with AUTH PLAIN" "$third" "$srv" "$far" 250 \
    --auth PLAIN --auth-user alice --auth-password secret
transcript_has "Postfix accepted AUTH PLAIN" '^<- +235 '
smtpgate_said "authenticated client's relay" "$from" "$third" "$far" permit-auth
smtp_try "third party $third6 with AUTH LOGIN" "$third6" "$srv6" "$far" 250 \
    --auth LOGIN --auth-user bob --auth-password secret
smtp_try "third party $third with a wrong password" "$third" "$srv" "$far" "554 5.7.1" \
    --auth PLAIN --auth-user alice --auth-password wrong --auth-optional
transcript_has "Postfix refused the wrong password" '^<\*\* +535 '
BATTERY_SWAKS=(--tls)
battery_check "third party $third over STARTTLS" "$third" "$srv" "x@far.test" refused
transcript_has "STARTTLS with Postfix's certificate" 'TLS started with cipher'
battery_check "local network $lan6 over STARTTLS" "$lan6" "$srv6" "x@far.test" accepted
BATTERY_SWAKS=()
smtp_try "third party $third, STARTTLS then AUTH" "$third" "$srv" "$far" 250 \
    --tls --auth PLAIN --auth-user alice --auth-password secret
transcript_has "AUTH over TLS accepted" '^<~ +235 '
if grep -qE 'c2VjcmV0|AGFsaWNl|secret' "$SMTPGATE_ERR"; then
    fail "smtpgate's log holds no credentials"
else
    pass "smtpgate's log holds no credentials"
fi

# --- 5. The store cannot answer; smtpgate is gone ----------------------------------------
echo "# 5. The store unreadable, then smtpgate stopped"
mkdir "$work/away" && mv "$db" "$db"-* "$work/away"/ 2>/dev/null
[ -e "$db" ] && fail "could not move the store away"
sleep 0.3 # smtpgate notices a missing store within 0.1 s
from=$(smtpgate_lines)
smtp_try "third party $third (store unreadable)" "$third" "$srv" "$far" "$deferred"
smtpgate_said "relay attempt with the store unreadable" "$from" "$third" "$far" defer
smtp_try "local network $lan (store unreadable)" "$lan" "$srv" "$far" 250
smtp_try "third party $third6 to a local user (store unreadable)" "$third6" "$srv6" "$local" 250
mv "$work/away"/* "$work"/
kill -TERM "$SMTPGATE_PID"
for ((i = 0; i < 150; i++)); do
    [ "$(ps -o stat= -p "$SMTPGATE_PID" 2>/dev/null | cut -c1)" = Z ] && break
    kill -0 "$SMTPGATE_PID" 2>/dev/null || break
    sleep 0.1
done
wait "$SMTPGATE_PID"
status=$? out='' err=$(tail -n 5 "$SMTPGATE_ERR")
expect_status 0 "smtpgate exits 0 on SIGTERM (the milter connections drained)"
smtp_try "third party $third (smtpgate stopped)" "$third" "$srv" "$far" 4
smtp_try "local network $lan (smtpgate stopped)" "$lan" "$srv" "$far" 4
smtp_try "roaming user $roam6 (smtpgate stopped)" "$roam6" "$srv6" "$far" 4
gate_start || die "could not start smtpgate again"
smtp_try "local network $lan (smtpgate back)" "$lan" "$srv" "$far" 250
smtp_try "third party $third (smtpgate back)" "$third" "$srv" "$far" "554 5.7.1"
if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$work/smtpgate.err"; then
    fail "smtpgate logged no sanitizer error"
else
    pass "smtpgate logged no sanitizer error"
fi

finish
