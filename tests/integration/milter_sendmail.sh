#!/usr/bin/env bash
# smtpgate's milter front with a real Sendmail, end to end, in network namespaces
# (netns.sh): Debian's sendmail-bin (unpacked by scripts/install-deps) runs in the server
# namespace on a sendmail.cf built with m4 from a test .mc that includes the shipped
# scripts/mta/sendmail.mc verbatim (promiscuous_relay, the smtpgate filter on
# 127.0.0.1:10041 with F=T), with STARTTLS and SMTP AUTH (Cyrus sasldb) of its own
# (sendmail_lib.sh); popauth follows a real Dovecot's log; smtpgate serves milter_listen
# only. Clients speak from the client namespace: a third party (.51, ::51), a roaming
# user (.50, ::50) and a host in local_networks (.52, ::52). Over IPv4 and IPv6:
#   - with smtpgate not running, Sendmail tempfails (4xx, F=T) and logs the filter's
#     error state: the recipe never fails open
#   - the open-relay battery of SECURITY.md (battery.sh: 18 recipient shapes, 4 senders)
#     is refused with "554 5.7.1 Relay access denied" for the third party and for the
#     roaming user before any login, and accepted from the local network (two shapes
#     Sendmail refuses itself as bad syntax, 553 5.1.3, whoever asks); a stranger's mail
#     to a local user is accepted (250); smtpgate logs one decision per recipient asked
#     (a permit accepts the message: its later recipients are not asked)
#   - a real POP3 login (IPv4) and IMAP login (IPv6) open relaying for that address only;
#     `popauthctl revoke` and the grant's expiry close it again, the revoke also between
#     two messages of one SMTP session (a permit accepts one message; the next is asked
#     about again)
#   - SMTP AUTH at Sendmail ({auth_authen}): the third party relays after AUTH PLAIN and
#     AUTH LOGIN; a wrong password opens nothing
#   - STARTTLS with Sendmail's certificate: a granted client relays over TLS, the third
#     party is refused over TLS and relays after AUTH over TLS; a whole message from the
#     local network is accepted and queued
#   - smtpgate stopped: Sendmail tempfails (4xx), never 250; the store unreadable:
#     smtpgate's "451 4.3.0"
# Sendmail's log must show the filter's refusals, and smtpgate's log its decisions, so
# the test cannot pass without the recipe in place.
# Needs root, the unpacked sendmail-bin and what sendmail_lib.sh lists, swaks (with
# libio-socket-inet6-perl and libnet-ssleay-perl for --tls), dovecot-pop3d,
# dovecot-imapd, netcat-openbsd, iproute2, jq.
# Usage: milter_sendmail.sh BINDIR
set -u
bindir=${1:?usage: milter_sendmail.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"
# shellcheck source=tests/integration/battery.sh
. "$here/battery.sh"
# shellcheck source=tests/integration/milter_lib.sh
. "$here/milter_lib.sh"
# shellcheck source=tests/integration/sendmail_lib.sh
. "$here/sendmail_lib.sh"

die()
{
    echo "FAIL - $*"
    show_logs
    echo "$passed passed, $((failed + 1)) failed"
    exit 1
}

show_logs() { show_tails "${POPAUTH_ERR:-}" "$work/smtpgate.err" "${DOVECOT_LOG:-}" "${SENDMAIL_LOG:-}"; }

require_built "$bindir" popauth popauthctl smtpgate smtp_client
require_packages swaks libio-socket-inet6-perl libnet-ssleay-perl dovecot-pop3d dovecot-imapd \
    netcat-openbsd iproute2 jq sendmail-cf m4 openssl sasl2-bin libsasl2-modules libsasl2-modules-db \
    libdb5.3 libldap-2.5-0 liblockfile1 libnsl2 libsasl2-2 libssl3 libwrap0
require_commands swaks jq ss m4 openssl saslpasswd2 perl unshare
[ -x "$SENDMAIL_BIN" ] || die "$SENDMAIL_BIN is missing (scripts/install-deps unpacks sendmail-bin there)"

work=$(mktemp -d /tmp/pa-msm.XXXXXX) || die "mktemp failed"
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

battery_hosts || die "could not add the local network's addresses"
db=$work/auth.db
# Long enough for the four battery sessions after a login, short enough to wait for.
lifetime=20
far=u@far.test local=alice@local.test
denied="554 5.7.1 Relay access denied"
deferred="451 4.3.0"
# Sendmail itself refuses two shapes of the battery as bad syntax, before the filter is
# asked, whoever the client; and it takes the unbracketed literal u@192.0.2.9 for a domain
# name, which the filter refuses or lets through as any other.
syntax="553 5.1.3"
route1="u@far.test@[$srv]" route2=u@far.test@local.test
BATTERY_REFUSED=(["$route1"]=$syntax ["$route2"]=$syntax)
BATTERY_ACCEPTED=(["$route1"]=$syntax ["$route2"]=$syntax)

sendmail_lines() { wc -l <"$SENDMAIL_LOG"; }

# sendmail_said LABEL FROM PATTERN: a line of Sendmail's log after line FROM matches the
# grep -E PATTERN (waits 5 s for it: syslog lines arrive a moment after the reply)
sendmail_said()
{
    local label=$1 from=$2 pattern=$3 i line=''
    for ((i = 0; i < 50; i++)); do
        line=$(tail -n +"$((from + 1))" "$SENDMAIL_LOG" | grep -E -- "$pattern" | tail -n 1)
        [ -n "$line" ] && break
        sleep 0.1
    done
    status=0 out=$(tail -n +"$((from + 1))" "$SENDMAIL_LOG" | tail -n 5) err=
    if [ -n "$line" ]; then
        pass "$label: Sendmail's log: ${line#*: }"
    else
        fail "$label: Sendmail's log has no line matching '$pattern'"
    fi
}

# --- The world ---------------------------------------------------------------------------
dovecot_start "$work" "$srv" "$srv6" || die "could not start Dovecot"
popauth_start "$bindir" "$db" "$DOVECOT_LOG" -o "grant_lifetime=$lifetime" || die "could not start popauth"
sendmail_start "$work" "$srv,$srv6" || die "could not start Sendmail"
pass "Dovecot, popauth and Sendmail (sendmail.cf built with scripts/mta/sendmail.mc) are running"

# --- 0. smtpgate is not running yet: F=T ---------------------------------------------------
echo "# 0. smtpgate not running: Sendmail must tempfail, never relay"
mfrom=$(sendmail_lines)
smtp_try "third party $third (no smtpgate)" "$third" "$srv" "$far" 4
smtp_try "third party $third6 (no smtpgate)" "$third6" "$srv6" "$far" 4
smtp_try "local network $lan (no smtpgate)" "$lan" "$srv" "$far" 4
sendmail_said "no smtpgate" "$mfrom" 'Milter \(smtpgate\): to error state'
sendmail_said "no smtpgate" "$mfrom" 'Milter: initialization failed, temp failing commands'

gate_start || die "could not start smtpgate"
pass "smtpgate runs with milter_listen = inet:127.0.0.1:10041 (policy_listen empty)"

# --- 1. Nobody has logged in -------------------------------------------------------------
echo "# 1. The battery, before any login"
from=$(smtpgate_lines) mfrom=$(sendmail_lines)
battery_senders "third party $third" "$third" "$srv" refused
battery_senders "third party $third6" "$third6" "$srv6" refused
battery_check "roaming user $roam before the login" "$roam" "$srv" "x@far.test" refused
battery_check "roaming user $roam6 before the login" "$roam6" "$srv6" "x@far.test" refused
battery_senders "local network $lan" "$lan" "$srv" accepted
battery_senders "local network $lan6" "$lan6" "$srv6" accepted
n=$(tail -n +"$((from + 1))" "$SMTPGATE_ERR" | grep -cE ' action=[a-z-]+ client=[^ ]+ recipient=')
# The 8 accepted sessions: the first recipient (u@far.test) is permitted, which accepts
# the message, so Sendmail asks about no other recipient of it.
expected=$(((4 + 4 + 1 + 1) * (${#battery[@]} - 2 + ${#locals[@]}) + 4 + 4))
if [ "$n" -eq "$expected" ]; then
    pass "smtpgate logged one decision per recipient Sendmail asked about ($n)"
else
    status=1 out='' err=
    fail "smtpgate logged one decision per recipient Sendmail asked about ($n, wanted $expected)"
fi
smtp_try "stranger $third" "$third" "$srv" "$local" 250
smtp_try "stranger $third6" "$third6" "$srv6" "$local" 250
smtpgate_said "third party's relay attempt" "$from" "$third" "$far" reject
smtpgate_said "third party's relay attempt over IPv6" "$from" "$third6" "$far" reject
smtpgate_said "stranger's mail to a local user" "$from" "$third" "$local" local
smtpgate_said "local network's relay" "$from" "$lan6" "$far" permit-localnet
sendmail_said "third party's relay attempt" "$mfrom" \
    "Milter: to=<$far>, reject=$denied"

# --- 2. POP3 and IMAP logins -------------------------------------------------------------
echo "# 2. A real POP3 login from $roam and IMAP login from $roam6"
from=$(smtpgate_lines)
login pop3 "$srv" alice "$roam"
battery_senders "roaming user $roam after POP3" "$roam" "$srv" accepted
login imap "$srv6" bob "$roam6"
battery_senders "roaming user $roam6 after IMAP" "$roam6" "$srv6" accepted
battery_check "third party $third while $roam holds a grant" "$third" "$srv" "x@far.test" refused
battery_check "third party $third6 while $roam6 holds a grant" "$third6" "$srv6" "x@far.test" refused
smtpgate_said "granted client's relay" "$from" "$roam" "$far" permit-grant
smtpgate_said "granted client's relay over IPv6" "$from" "$roam6" "$far" permit-grant

# --- 3. Revoked and expired grants -------------------------------------------------------
echo "# 3. popauthctl revoke, and the grant's expiry"
revoke_mid_session "$roam" "$srv"
battery_check "roaming user $roam after revoke" "$roam" "$srv" "x@far.test" refused
for ((i = 0; i < (lifetime + 15) * 10; i++)); do
    ctl show "$roam6" >/dev/null 2>&1 || break
    sleep 0.1
done
sleep 1 # so no clock rounding anywhere can keep it alive
if ctl show "$roam6" >/dev/null 2>&1; then
    status=1 out='' err=
    fail "the grant for $roam6 expired within $((lifetime + 15)) s"
else
    pass "the grant for $roam6 expired"
fi
battery_check "roaming user $roam6 after the grant expired" "$roam6" "$srv6" "x@far.test" refused

# --- 4. SMTP AUTH and STARTTLS at Sendmail -----------------------------------------------
echo "# 4. SMTP AUTH and STARTTLS (Sendmail's own)"
from=$(smtpgate_lines)
smtp_try "third party $third with AUTH PLAIN" "$third" "$srv" "$far" 250 \
    --auth PLAIN --auth-user alice --auth-password secret
transcript_has "Sendmail accepted AUTH PLAIN" '^<- +235 '
smtpgate_said "authenticated client's relay" "$from" "$third" "$far" permit-auth
smtp_try "third party $third6 with AUTH LOGIN" "$third6" "$srv6" "$far" 250 \
    --auth LOGIN --auth-user alice --auth-password secret
transcript_has "Sendmail accepted AUTH LOGIN" '^<- +235 '
smtp_try "third party $third with a wrong password" "$third" "$srv" "$far" "$denied" \
    --auth PLAIN --auth-user alice --auth-password wrong --auth-optional
transcript_has "Sendmail refused the wrong password" '^<\*\* +535 '
login pop3 "$srv" alice "$roam"
smtp_try "roaming user $roam over STARTTLS (after POP3)" "$roam" "$srv" "$far" 250 --tls
transcript_has "STARTTLS with Sendmail's certificate" 'TLS started with cipher'
transcript_has "RCPT TO sent inside TLS" '^ ~> RCPT TO:'
smtp_try "third party $third over STARTTLS" "$third" "$srv" "$far" "$denied" --tls
transcript_has "STARTTLS for the third party" 'TLS started with cipher'
smtp_try "third party $third6 over STARTTLS" "$third6" "$srv6" "$far" "$denied" --tls
smtp_try "third party $third, STARTTLS then AUTH" "$third" "$srv" "$far" 250 \
    --tls --auth PLAIN --auth-user alice --auth-password secret
transcript_has "AUTH over TLS accepted" '^<~ +235 '
if grep -qE 'c2VjcmV0|AGFsaWNl|secret' "$SMTPGATE_ERR"; then
    fail "smtpgate's log holds no credentials"
else
    pass "smtpgate's log holds no credentials"
fi

# A whole message from the local network: accepted and queued by Sendmail.
msg=$(ip netns exec "$NETNS_CLIENT" swaks --server "$srv" --port 25 --local-interface "$lan" \
    --helo lan.far.test --from x@far.test --to "$far" --timeout 30 2>&1)
qid=$(sed -n 's/^<-  250 2\.0\.0 \([0-9A-Za-z]*\) Message accepted for delivery.*$/\1/p' <<<"$msg")
if [ -n "$qid" ] && [ -e "$SENDMAIL_QUEUE/qf$qid" ]; then
    pass "a message from $lan to $far is accepted and queued by Sendmail (qf$qid)"
else
    status=1 out=$msg err=$(ls "$SENDMAIL_QUEUE" 2>&1)
    fail "a message from $lan to $far is accepted and queued by Sendmail"
fi

# --- 5. smtpgate is gone; the store cannot answer ----------------------------------------
echo "# 5. smtpgate stopped, then the store unreadable"
netns_stop_pid "$SMTPGATE_PID" 10
mfrom=$(sendmail_lines)
smtp_try "third party $third (smtpgate stopped)" "$third" "$srv" "$far" 4
smtp_try "roaming user $roam (smtpgate stopped)" "$roam" "$srv" "$far" 4
smtp_try "local network $lan6 (smtpgate stopped)" "$lan6" "$srv6" "$far" 4
smtp_try "third party $third with AUTH PLAIN (smtpgate stopped)" "$third" "$srv" "$far" 4 \
    --auth PLAIN --auth-user alice --auth-password secret
sendmail_said "smtpgate stopped" "$mfrom" 'Milter \(smtpgate\): to error state'
gate_start || die "could not start smtpgate again"
smtp_try "third party $third (smtpgate back)" "$third" "$srv" "$far" "$denied"
smtp_try "local network $lan (smtpgate back)" "$lan" "$srv" "$far" 250
mkdir "$work/away" && mv "$db" "$db"-* "$work/away"/ 2>/dev/null
[ -e "$db" ] && fail "could not move the store away"
sleep 0.3 # smtpgate notices a missing store within 0.1 s
from=$(smtpgate_lines) mfrom=$(sendmail_lines)
smtp_try "third party $third (store unreadable)" "$third" "$srv" "$far" "$deferred"
smtp_try "third party $third6 (store unreadable)" "$third6" "$srv6" "$far" "$deferred"
smtp_try "roaming user $roam (store unreadable)" "$roam" "$srv" "$far" "$deferred"
smtpgate_said "relay attempt with the store unreadable" "$from" "$third" "$far" defer
sendmail_said "relay attempt with the store unreadable" "$mfrom" "Milter: to=<$far>, reject=$deferred"
smtp_try "local network $lan (store unreadable)" "$lan" "$srv" "$far" 250
smtp_try "third party $third6 to a local user (store unreadable)" "$third6" "$srv6" "$local" 250
mv "$work/away"/* "$work"/
for ((i = 0; i < 50; i++)); do
    r=$(swaks_rcpt "$NETNS_CLIENT" "$third" "$srv" "$far" 2>/dev/null)
    [[ $r == "$denied"* ]] && break
    sleep 0.2
done
expect_prefix "third party $third -> $far (store back)" "$denied" "$r"

if grep -qE 'ERROR: AddressSanitizer|runtime error:' "$SMTPGATE_ERR"; then
    fail "smtpgate logged no sanitizer error"
else
    pass "smtpgate logged no sanitizer error"
fi
netns_stop_pid "$SMTPGATE_PID" 10
sendmail_stop
dovecot_stop
[ "$failed" -eq 0 ] || show_logs
finish
