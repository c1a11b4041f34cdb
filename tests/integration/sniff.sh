#!/usr/bin/env bash
# popauth's POP3/IMAP sniffer against real and crafted traffic.
#
# 1. Recorded: a real Dovecot (POP3 + IMAP, APOP, STARTTLS with a certificate made here)
#    runs in a private network namespace; clients in a second namespace log in every way
#    the sniffer must understand, fail to log in, and log in inside STARTTLS, each from a
#    source address of its own, IPv4 and IPv6, while tcpdump records the server's veth.
#    popauth --once reads the recording (sniff_servers: the server's two addresses); the
#    grants must be exactly the successful logins (address and user), with no password
#    bytes in popauth's output or in the store.
# 2. Crafted: pcap_craft writes one conversation per file (out of order, retransmitted,
#    overlapping with other bytes, joined mid-session, VLAN and QinQ tags, Linux cooked v1
#    and v2, raw IP, loopback, IPv6 extension headers, IP fragments, an over-long line,
#    pcapng, an old capture, urgent data, fragments between the same or other hosts),
#    each with its exact expected grants. A session joined mid-session is followed (its
#    STLS ends it) but its login grants nothing. Then every insertion and evasion class of
#    the sniffer's rules, each attack granting nothing (and counted as desynced) beside a
#    control that grants: bytes sent for the sniffer alone (keep-alive-like 1-byte copies,
#    a wrong TCP checksum, an old TCP timestamp, a lower TTL or hop limit, IPv4 options, a
#    wrong IPv4 header checksum, packet type OTHERHOST; with other bytes or the same
#    ones) against logins sent byte by byte twice, with offloaded checksums, timestamps or
#    TTL 57; a missing timestamp, data on a SYN, a blind RST, a segment past the server's
#    window (against one inside it), a forged reply that arrived instead of leaving (Linux
#    cooked v1 and v2), IPv6 extension headers, a server not in sniff_servers (counted as
#    foreign), and a capture file read without sniff_servers (refused at start).
# 3. Live: popauth captures on the server's interface with run_user=nobody; real POP3 and
#    IMAP logins are granted within seconds, the process runs as nobody without
#    capabilities; a server address added later counts only after SIGHUP (sniff_servers
#    defaults to this host's addresses), and SIGTERM stops it with status 0.
# Needs root, dovecot-pop3d, dovecot-imapd, tcpdump, openssl, netcat-openbsd, iproute2, jq.
# Usage: sniff.sh BINDIR
set -u
bindir=${1:?usage: sniff.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

require_built "$bindir" popauth popauthctl pcap_craft
require_packages dovecot-pop3d dovecot-imapd tcpdump openssl netcat-openbsd iproute2 jq curl \
    prometheus
require_commands jq tcpdump openssl md5sum base64 timeout curl promtool

work=$(mktemp -d /tmp/pa-sniff.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

ctl() { local db=$1; shift; "$bindir/popauthctl" -c /dev/null -o "database=$db" "$@"; }

# sniff_once CAPTURE DB [-o name=value...]: popauth --once over CAPTURE into DB (via run),
# with sniff_servers=$servers (the section's servers; a later -o sniff_servers wins).
servers=
sniff_once()
{
    local cap=$1 db=$2
    shift 2
    run "$bindir/popauth" -c /dev/null -o "sniff_file=$cap" -o "sniff_servers=$servers" \
        -o log_sources= -o "database=$db" -o local_networks=127.0.0.0/8 --once "$@"
}

# grants DB: one "address user" line per active grant, sorted.
grants()
{
    local json
    if ! json=$(ctl "$1" list --json) || [ -z "$json" ]; then
        echo "(popauthctl list failed)"
        return 1
    fi
    jq -r '.[] | "\(.address) \(.user)"' <<<"$json" | LC_ALL=C sort
}

# expect_grants WHAT DB WANT: the store's grants are exactly WANT ("address user" lines).
expect_grants()
{
    local what=$1 db=$2 want got
    want=$(printf '%s' "$3" | sed '/^$/d' | LC_ALL=C sort)
    got=$(grants "$db" 2>&1)
    if [ "$got" = "$want" ]; then
        pass "$what"
    else
        out="grants: ${got:-none}" err="wanted: ${want:-none}; popauth said: $(tail -n 5 "$db.err" 2>/dev/null)"
        fail "$what"
    fi
}

# expect_doc FILTER WHAT: the last run exited 0 and printed a JSON document for which
# the jq FILTER is true (jq -e alone accepts an empty output).
expect_doc()
{
    if [ "$status" -eq 0 ] && [ -n "$out" ] && jq -e "$1" >/dev/null 2>&1 <<<"$out"; then
        pass "$2"
    else
        fail "$2 (wanted status 0 and jq: $1)"
    fi
}

b64() { printf '%s' "$1" | base64 -w0; }
plain() { printf '\0%s\0%s' "$1" "$2" | base64 -w0; }

# --- 1. Recorded from a real Dovecot ------------------------------------------------

# Users and passwords, with characters that need quoting or literals in IMAP.
declare -A pw=(
    [alice]=secret [bob]=secret [carol]=Pw-carol-c4 [dave]=Pw-dave-d4 [erin]=Pw-erin-e4
    [frank]=Pw-frank-f4 [grace]='Pw two words"and\back' [heidi]='Pw-{lit}"raw x'
    [ivan]='Pw-ivan {5+} x' [judy]=Pw-judy-j4 [kate]=Pw-kate-k4 [leo]=Pw-leo-l4
    [mike]=Pw-mike-m4 [nora]=Pw-nora-n4 [oscar]=Pw-oscar-o4 [peggy]=Pw-peggy-p4
    [quinn]=Pw-quinn-$(printf 'q%.0s' {1..250}) # lines over 255 octets, well under 8 KiB
)
for u in "${!pw[@]}"; do
    case $u in alice | bob) ;; *) dovecot_add_user "$u" "${pw[$u]}" ;; esac
done
# What must never show up in popauth's output or its store: every password, every SASL
# response that carries one, every APOP digest (filled in as the sessions run).
secrets=("${pw[@]}")

dovecot_start "$work" "$NETNS_SERVER_ADDR" "$NETNS_SERVER_ADDR6" || die "Dovecot did not start"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj /CN=mail.local.test -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.err" \
    || die "openssl could not make a certificate: $(cat "$work/openssl.err")"
dovecot_reconfigure "auth_mechanisms = plain login apop" "ssl = yes" \
    "ssl_cert = <$work/cert.pem" "ssl_key = <$work/key.pem" \
    || die "Dovecot did not restart with APOP and STARTTLS"
pass "Dovecot offers USER/PASS, APOP, AUTH PLAIN/LOGIN, LOGIN, AUTHENTICATE and STARTTLS"

cap=$work/recorded.pcap
tcpdump_start "$NETNS_SERVER" "$NETNS_SERVER_IF" "$cap" || die "tcpdump did not start"

srv=$NETNS_SERVER_ADDR srv6=$NETNS_SERVER_ADDR6
want_rec=''      # "address user" of every successful login
none_rec=()      # addresses whose every login failed or ran inside TLS
declare -A proto_of=() # address -> pop3 or imap, for the source check

# session WHAT SRC SERVER PORT STEP...: one scripted conversation from SRC (an address
# added to the client namespace here). Steps: ">LINE" sends, "<GLOB" expects the next
# server line to match, "!apop USER PASS" sends APOP with the digest of the greeting's
# timestamp. Passes WHAT if every step went as written.
session()
{
    local what=$1 src=$2 server=$3 port=$4 step ok=1 ts digest u p
    shift 4
    case $src in
        *:*) netns_add_addr "$NETNS_CLIENT" "$src/64" ;;
        *) netns_add_addr "$NETNS_CLIENT" "$src/24" ;;
    esac || { fail "$what: could not add $src"; return 1; }
    : >"$work/mail.err"
    mail_open "$NETNS_CLIENT" "$server" "$port" "$src" 2>>"$work/mail.err" || ok=0
    for step in "$@"; do
        [ "$ok" -eq 1 ] || break
        case $step in
            '>'*) mail_send "${step#>}" ;;
            '<'*) mail_expect "${step#<}" 2>>"$work/mail.err" || ok=0 ;;
            '!apop '*)
                read -r _ u p <<<"$step"
                ts=$(grep -o '<[^>]*>' <<<"$MAIL_LINE")
                digest=$(printf '%s%s' "$ts" "$p" | md5sum | cut -d' ' -f1)
                secrets+=("$digest")
                mail_send "APOP $u $digest"
                ;;
        esac
    done
    mail_close
    status=$((1 - ok)) out=$MAIL_TRANSCRIPT err=$(cat "$work/mail.err")
    if [ "$ok" -eq 1 ]; then pass "$what"; else fail "$what"; fi
}

# granted PROTO SRC USER WHAT STEP...: a session that logs USER in; its grant is expected.
granted()
{
    local proto=$1 src=$2 user=$3 what=$4 server=$srv port=110
    shift 4
    case $src in *:*) server=$srv6 ;; esac
    [ "$proto" = imap ] && port=143
    session "$what (from $src)" "$src" "$server" "$port" "$@"
    want_rec+="$src $user"$'\n'
    proto_of[$src]=$proto
}

# refused PROTO SRC WHAT STEP...: a session whose logins all fail; no grant expected.
refused()
{
    local proto=$1 src=$2 what=$3 server=$srv port=110
    shift 3
    case $src in *:*) server=$srv6 ;; esac
    [ "$proto" = imap ] && port=143
    session "$what (from $src)" "$src" "$server" "$port" "$@"
    none_rec+=("$src")
}

# tls PROTO SRC USER: STLS/STARTTLS with openssl s_client, then a login inside TLS that
# the server accepts; the capture holds only ciphertext after the switch: no grant.
tls()
{
    local proto=$1 src=$2 user=$3 server=$srv port=110 bind=$2 input expect what
    case $src in
        *:*) server="[$srv6]" bind="[$src]" ;;
    esac
    if [ "$proto" = pop3 ]; then
        input=$(printf 'USER %s\nPASS %s\nQUIT\n' "$user" "${pw[$user]}")
        expect='+OK Logged in.' what="POP3 STLS, then USER/PASS inside TLS"
    else
        port=143
        input=$(printf 'a LOGIN %s %s\nb LOGOUT\n' "$user" "${pw[$user]}")
        expect='a OK Logged in' what="IMAP STARTTLS, then LOGIN inside TLS"
    fi
    case $src in
        *:*) netns_add_addr "$NETNS_CLIENT" "$src/64" ;;
        *) netns_add_addr "$NETNS_CLIENT" "$src/24" ;;
    esac || { fail "$what: could not add $src"; return 1; }
    run timeout 20 ip netns exec "$NETNS_CLIENT" openssl s_client -quiet -crlf \
        -starttls "$proto" -connect "$server:$port" -bind "$bind:0" <<<"$input"
    expect_out "$expect" "$what succeeds at the server (from $src)"
    none_rec+=("$src")
}

n4=$NETNS_NET. n6=$NETNS_NET6:
pq=$(plain quinn "${pw[quinn]}")
c=(">QUIT" "<+OK*")            # POP3 end of session
l=(">z LOGOUT" "<z OK*")        # IMAP end of session

granted pop3 "${n4}61" alice "POP3 USER/PASS" \
    "<+OK*" ">USER alice" "<+OK*" ">PASS ${pw[alice]}" "<+OK Logged in*" "${c[@]}"
granted pop3 "${n4}62" bob "POP3 APOP" \
    "<+OK*<*>*" "!apop bob ${pw[bob]}" "<+OK Logged in*" "${c[@]}"
granted pop3 "${n4}63" carol "POP3 AUTH PLAIN with an initial response" \
    "<+OK*" ">AUTH PLAIN $(plain carol "${pw[carol]}")" "<+OK Logged in*" "${c[@]}"
granted pop3 "${n4}64" dave "POP3 AUTH PLAIN with a continuation" \
    "<+OK*" ">AUTH PLAIN" "<+ *" ">$(plain dave "${pw[dave]}")" "<+OK Logged in*" "${c[@]}"
granted pop3 "${n4}65" erin "POP3 AUTH LOGIN" \
    "<+OK*" ">AUTH LOGIN" "<+ *" ">$(b64 erin)" "<+ *" ">$(b64 "${pw[erin]}")" \
    "<+OK Logged in*" "${c[@]}"
granted pop3 "${n4}66" oscar "POP3 a failed PASS, then a good one in the same session" \
    "<+OK*" ">USER oscar" "<+OK*" ">PASS wrong" "<-ERR*" ">USER oscar" "<+OK*" \
    ">PASS ${pw[oscar]}" "<+OK Logged in*" "${c[@]}"
granted imap "${n4}67" frank "IMAP LOGIN with atoms" \
    "<* OK*" ">a LOGIN frank ${pw[frank]}" "<a OK*" "${l[@]}"
granted imap "${n4}68" grace "IMAP LOGIN with quoted strings" \
    "<* OK*" '>a LOGIN "grace" "Pw two words\"and\\back"' "<a OK*" "${l[@]}"
granted imap "${n4}69" heidi "IMAP LOGIN with {n} literals and the server's continuation" \
    "<* OK*" ">a LOGIN {5}" "<+*" ">heidi {${#pw[heidi]}}" "<+*" ">${pw[heidi]}" "<a OK*" \
    "${l[@]}"
granted imap "${n4}70" ivan "IMAP LOGIN with {n+} literals" \
    "<* OK*" ">a LOGIN {4+}" ">ivan {${#pw[ivan]}+}" ">${pw[ivan]}" "<a OK*" "${l[@]}"
granted imap "${n4}71" judy "IMAP AUTHENTICATE PLAIN with SASL-IR" \
    "<* OK*" ">a AUTHENTICATE PLAIN $(plain judy "${pw[judy]}")" "<a OK*" "${l[@]}"
granted imap "${n4}72" kate "IMAP AUTHENTICATE PLAIN with a continuation" \
    "<* OK*" ">a AUTHENTICATE PLAIN" "<+ *" ">$(plain kate "${pw[kate]}")" "<a OK*" "${l[@]}"
granted imap "${n4}73" peggy "IMAP a failed LOGIN, then a good one in the same session" \
    "<* OK*" ">a LOGIN peggy wrong" "<a NO*" ">b LOGIN peggy ${pw[peggy]}" "<b OK*" "${l[@]}"
granted pop3 "${n4}74" quinn "POP3 AUTH PLAIN with a $((11 + ${#pq})) octet line" \
    "<+OK*" ">AUTH PLAIN $pq" "<+OK Logged in*" "${c[@]}"
granted pop3 "${n4}75" quinn "POP3 PASS with a $((5 + ${#pw[quinn]})) octet line" \
    "<+OK*" ">USER quinn" "<+OK*" ">PASS ${pw[quinn]}" "<+OK Logged in*" "${c[@]}"
granted pop3 "${n6}61" leo "POP3 USER/PASS over IPv6" \
    "<+OK*" ">USER leo" "<+OK*" ">PASS ${pw[leo]}" "<+OK Logged in*" "${c[@]}"
granted imap "${n6}62" mike "IMAP LOGIN over IPv6" \
    "<* OK*" ">a LOGIN mike ${pw[mike]}" "<a OK*" "${l[@]}"
granted imap "${n6}63" nora "IMAP AUTHENTICATE PLAIN with SASL-IR over IPv6" \
    "<* OK*" ">a AUTHENTICATE PLAIN $(plain nora "${pw[nora]}")" "<a OK*" "${l[@]}"

refused pop3 "${n4}80" "POP3 USER/PASS with a wrong password is refused" \
    "<+OK*" ">USER alice" "<+OK*" ">PASS wrong" "<-ERR*" "${c[@]}"
refused pop3 "${n4}81" "POP3 APOP with a wrong digest is refused" \
    "<+OK*<*>*" "!apop bob wrong" "<-ERR*" "${c[@]}"
refused pop3 "${n4}82" "POP3 AUTH PLAIN with a wrong password is refused" \
    "<+OK*" ">AUTH PLAIN $(plain carol wrong)" "<-ERR*" "${c[@]}"
refused pop3 "${n4}83" "POP3 AUTH LOGIN with a wrong password is refused" \
    "<+OK*" ">AUTH LOGIN" "<+ *" ">$(b64 erin)" "<+ *" ">$(b64 wrong)" "<-ERR*" "${c[@]}"
refused imap "${n4}84" "IMAP LOGIN with a wrong password is refused" \
    "<* OK*" ">a LOGIN frank wrong" "<a NO*" "${l[@]}"
refused imap "${n4}85" "IMAP AUTHENTICATE PLAIN with a wrong password is refused" \
    "<* OK*" ">a AUTHENTICATE PLAIN" "<+ *" ">$(plain judy wrong)" "<a NO*" "${l[@]}"
refused imap "${n4}86" "IMAP LOGIN of an unknown user with literals is refused" \
    "<* OK*" ">a LOGIN {7}" "<+*" ">nobody1 {5}" "<+*" ">wrong" "<a NO*" "${l[@]}"
refused pop3 "${n6}80" "POP3 USER/PASS with a wrong password over IPv6 is refused" \
    "<+OK*" ">USER leo" "<+OK*" ">PASS wrong" "<-ERR*" "${c[@]}"
refused imap "${n6}81" "IMAP LOGIN with a wrong password over IPv6 is refused" \
    "<* OK*" ">a LOGIN mike wrong" "<a NO*" "${l[@]}"

tls pop3 "${n4}90" alice
tls imap "${n4}91" frank
tls pop3 "${n6}90" leo
tls imap "${n6}91" mike
secrets+=("$(plain carol "${pw[carol]}")" "$(plain dave "${pw[dave]}")" "$(b64 "${pw[erin]}")"
    "$(plain judy "${pw[judy]}")" "$(plain kate "${pw[kate]}")" "$(plain nora "${pw[nora]}")" "$pq")

run tcpdump_stop
expect_status 0 "tcpdump recorded every packet ($(grep -o '^[0-9]* packets captured' "$TCPDUMP_ERR"))"
# Every conversation is in the recording: one client SYN per session.
nsessions=$((${#proto_of[@]} + ${#none_rec[@]}))
run tcpdump -nr "$cap" "tcp port 110 or tcp port 143"
syns=$(grep -c 'Flags \[S\],' <<<"$out")
status=$((syns != nsessions)) out="SYNs in the capture: $syns" err=
expect_status 0 "the recording holds all $nsessions conversations"

db=$work/recorded.db
servers=$srv,$srv6
sniff_once "$cap" "$db"
printf '%s\n%s\n' "$out" "$err" >"$db.err"
expect_status 0 "popauth --once reads the recorded capture"
rec_err=$err rec_status=$status
for a in "${!proto_of[@]}"; do
    u=$(awk -v a="$a" '$1 == a { print $2 }' <<<"$want_rec")
    run ctl "$db" show "$a" --json
    expect_doc ".address == \"$a\" and .user == \"$u\" and .source == \"sniff-${proto_of[$a]}\"" \
        "recorded: $a is granted to $u (source sniff-${proto_of[$a]})"
done
for a in "${none_rec[@]}"; do
    run ctl "$db" show "$a"
    expect_status 1 "recorded: $a (failed or TLS logins only) has no grant"
done
expect_grants "recorded: the grants are exactly the successful plaintext logins" "$db" "$want_rec"

leaked=()
for s in "${secrets[@]}"; do
    grep -qF -- "$s" <<<"$rec_err" && leaked+=("$s (output)")
    cat "$db" "$db-wal" 2>/dev/null | grep -qaF -- "$s" && leaked+=("$s (store)")
done
if [ "$rec_status" -ne 0 ]; then
    status=$rec_status out='' err=$rec_err
    fail "no secrets in popauth's output or store: popauth did not read the capture"
elif [ ${#leaked[@]} -eq 0 ]; then
    pass "no password, SASL response or APOP digest in popauth's output or store (${#secrets[@]} checked)"
else
    out=$(printf '%s\n' "${leaked[@]}") err=
    fail "secrets found in popauth's output or store"
fi

# --- 2. Crafted captures -----------------------------------------------------------

mkdir -p "$work/crafted"
ncraft=0
now=$(date +%s)
servers=192.0.2.1,2001:db8::1 # pcap_craft's servers unless -s

# crafted WHAT WANT [-o name=value]... -- PCAP_CRAFT_ARGS...: write the capture, read it
# with popauth --once into a store of its own, compare the grants with WANT.
crafted()
{
    local what=$1 want=$2 popts=()
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        popts+=("$1" "$2")
        shift 2
    done
    shift
    ncraft=$((ncraft + 1))
    local cap=$work/crafted/$ncraft.pcap db=$work/crafted/$ncraft.db
    CRAFTED_DB=$db
    run "$bindir/pcap_craft" "$@" "$cap"
    if [ "$status" -ne 0 ]; then
        fail "$what: pcap_craft $* failed"
        return
    fi
    sniff_once "$cap" "$db" "${popts[@]}"
    printf '%s\n%s\n' "$out" "$err" >"$db.err"
    if [ "$status" -ne 0 ]; then
        fail "$what: popauth --once failed on $cap (pcap_craft $*)"
        return
    fi
    expect_grants "crafted: $what" "$db" "$want"
}

# expect_finish WHAT FIELD=VALUE...: the last crafted run's summary line (action=finish)
# holds every FIELD=VALUE given.
expect_finish()
{
    local what=$1 line f ok=1
    shift
    line=$(grep -o 'action=finish .*' "$CRAFTED_DB.err")
    [ -n "$line" ] || ok=0
    for f in "$@"; do
        [[ " $line " == *" $f "* ]] || ok=0
    done
    status=$((1 - ok)) out=$line err="wanted: $*"
    expect_status 0 "$what"
}

a4=198.51.100 a6=2001:db8::
t=$((now - 60))
crafted "POP3 USER/PASS is granted" "$a4.1 alice" -- -c $a4.1 -t $t pop3
run ctl "$CRAFTED_DB" show $a4.1 --json
expect_doc ".last_login == $t and .expires == $((t + 1800)) and .source == \"sniff-pop3\" and .logins == 1" \
    "crafted: the grant starts at the packet's capture time and lasts grant_lifetime"
crafted "IMAP LOGIN is granted" "$a4.2 bob" -- -c $a4.2 -u bob imap
crafted "segments out of order are reassembled and granted" "$a4.3 alice" -- -c $a4.3 out-of-order
crafted "retransmitted segments are granted" "$a4.4 alice" -- -c $a4.4 retransmit
run ctl "$CRAFTED_DB" show $a4.4 --json
expect_doc ".logins == 1" "crafted: retransmitted segments grant once"
crafted "an overlapping segment with other bytes (delivered) desynchronises: no grant" "" \
    -- -c $a4.5 overlap-delivered
crafted "an overlapping segment with other bytes (buffered) desynchronises: no grant" "" \
    -- -c $a4.6 overlap-buffered
crafted "a session joined mid-session: its login grants nothing (not trusted)" "" \
    -- -c $a4.7 joined
expect_finish "crafted: the joined session is counted as joined, and its login ends it unreported" \
    logins=0 flows=1 joined=1 desynced=1 tls=0
crafted "a session joined mid-session is followed: its STLS ends it" "" -- -c $a4.33 joined-stls
expect_finish "crafted: the joined session's STLS and +OK were paired after the join" \
    logins=0 flows=1 joined=1 desynced=0 tls=1
crafted "a capture starting between PASS and its +OK grants nothing" "" \
    -- -c $a4.8 joined-before-ok
crafted "a +OK that answers USER grants nothing" "" -- -c $a4.9 ok-to-user
crafted "PASS answered -ERR grants nothing" "" -- -c $a4.10 pass-err
crafted "an untagged OK grants nothing" "" -- -c $a4.11 imap-untagged-ok
crafted "a tagged OK for another tag grants nothing" "" -- -c $a4.12 imap-other-tag
crafted "Ethernet with an 802.1Q tag" "$a4.13 alice" -- -c $a4.13 -l vlan pop3
crafted "Ethernet with stacked 802.1ad + 802.1Q tags (QinQ)" "$a4.14 alice" -- -c $a4.14 -l qinq imap
crafted "Linux cooked capture v1" "$a4.15 alice" -- -c $a4.15 -l sll imap
crafted "Linux cooked capture v2" "$a4.16 alice" -- -c $a4.16 -l sll2 pop3
crafted "raw IPv4" "$a4.17 alice" -- -c $a4.17 -l raw pop3
crafted "raw IPv6" "${a6}17 alice" -- -c ${a6}17 -l raw imap
crafted "BSD loopback, IPv4" "$a4.18 alice" -- -c $a4.18 -l null pop3
crafted "BSD loopback, IPv6" "${a6}18 alice" -- -c ${a6}18 -l null imap
crafted "IPv6 on Ethernet" "${a6}19 alice" -- -c ${a6}19 pop3
crafted "IPv6 hop-by-hop, destination options and routing headers desynchronise: no grant" "" \
    -- -c ${a6}20 -x pop3
expect_finish "crafted: the IPv6 extension headers are counted as a desync" desynced=1 logins=0
crafted "IPv6 extension headers inside QinQ tags desynchronise: no grant" "" \
    -- -c ${a6}21 -x -l qinq imap
crafted "a PASS in IPv4 fragments is ignored: no grant" "" -- -c $a4.22 fragments
crafted "a PASS in IPv6 fragments is ignored: no grant" "" -- -c ${a6}22 fragments
crafted "urgent data (TCP URG) desynchronises: no grant" "" -- -c $a4.35 urgent
expect_finish "crafted: the urgent byte is counted as a desync" desynced=1 logins=0
crafted "urgent data over IPv6: no grant" "" -- -c ${a6}35 urgent
crafted "TCP fragments between the same hosts during a login: no grant" "" \
    -- -c $a4.36 frag-same-hosts
expect_finish "crafted: the refused login is counted as a desync" desynced=1 logins=0
crafted "TCP fragments between the same IPv6 hosts during a login: no grant" "" \
    -- -c ${a6}36 frag-same-hosts
crafted "urgent data in pcapng (read by libpcap): no grant" "" -- -c $a4.38 -f pcapng urgent
crafted "TCP fragments between the same hosts in pcapng (read by libpcap): no grant" "" \
    -- -c $a4.39 -f pcapng frag-same-hosts
crafted "TCP fragments between the client and another host: granted" "$a4.37 alice" \
    -- -c $a4.37 frag-other-hosts
crafted "TCP fragments between the client and another IPv6 host: granted" "${a6}37 alice" \
    -- -c ${a6}37 frag-other-hosts
crafted "a 10000-byte POP3 line (over sniff_max_line) desynchronises: no grant" "" \
    -- -c $a4.23 -L 10000 long-line
crafted "a 10000-byte IMAP line (over sniff_max_line) desynchronises: no grant" "" \
    -- -c $a4.24 -L 10000 imap-long-line
crafted "a 4000-byte IMAP line (under sniff_max_line) is fine: granted" "$a4.25 alice" \
    -- -c $a4.25 -L 4000 imap-long-line
crafted "sniff_max_line=1024 and a 2000-byte line: no grant" "" -o sniff_max_line=1024 \
    -- -c $a4.31 -L 2000 imap-long-line
crafted "sniff_max_line=1024 and a 1000-byte line: granted" "$a4.32 alice" -o sniff_max_line=1024 \
    -- -c $a4.32 -L 1000 imap-long-line
crafted "pcapng" "$a4.26 alice" -- -c $a4.26 -f pcapng pop3
crafted "pcapng, Linux cooked v2, IPv6" "${a6}26 alice" -- -c ${a6}26 -f pcapng -l sll2 imap
crafted "a login older than grant_lifetime grants nothing" "" -- -c $a4.27 -t $((now - 7200)) pop3
crafted "a port not in sniff_ports is not followed" "" -- -c $a4.28 -p 1110 pop3
crafted "sniff_ports names another POP3 port" "$a4.29 alice" -o "sniff_ports=pop3:1110" \
    -- -c $a4.29 -p 1110 pop3
crafted "local_networks logins need no grant" "" -o local_networks=198.51.100.30 \
    -- -c $a4.30 pop3

# Insertion and evasion: each attack grants nothing and is counted as a desync (the login
# it would have made is not counted); each control beside it grants.
# attack WHAT [-o name=value]... -- PCAP_CRAFT_ARGS...: a crafted capture that must grant
# nothing, its conversation desynchronised.
attack()
{
    local what=$1
    shift
    crafted "$what: no grant" "" "$@"
    expect_finish "crafted: $what: counted as a desync, no login" desynced=1 logins=0
}

attack "keep-alive-like 1-byte copies (PASS wrong) before each real byte of a second USER" \
    -- -c $a4.40 keepalive-insert
crafted "a login whose every client byte comes twice as identical 1-byte copies: granted" \
    "$a4.41 alice" -- -c $a4.41 -i keepalive-insert
expect_finish "crafted: the identical 1-byte copies are no desync" desynced=0 logins=1
attack "fake 1-byte copies with a wrong TCP checksum" -- -c $a4.42 badsum-insert
attack "identical copies with a wrong TCP checksum" -- -c $a4.43 -i badsum-insert
crafted "client segments with the partial (offloaded) TCP checksum: granted" "$a4.44 alice" \
    -- -c $a4.44 -P pop3
crafted "partial TCP checksums, IMAP over IPv6: granted" "${a6}44 alice" -- -c ${a6}44 -P imap
attack "fake copies with an old TCP timestamp (PAWS)" -- -c $a4.45 paws-insert
attack "identical copies with an old TCP timestamp" -- -c $a4.46 -i paws-insert
crafted "TCP timestamps on every segment, the client's wrapping past 2^32: granted" \
    "$a4.47 alice" -- -c $a4.47 -T pop3
crafted "TCP timestamps, IMAP over IPv6: granted" "${a6}47 alice" -- -c ${a6}47 -T imap
attack "timestamps on, then the PASS segment without one" -- -c $a4.48 ts-missing
attack "fake copies with a lower TTL" -- -c $a4.49 ttl-insert
attack "fake copies with a lower hop limit (IPv6)" -- -c ${a6}49 ttl-insert
attack "identical copies with a lower TTL" -- -c $a4.50 -i ttl-insert
crafted "a whole conversation with TTL 57: granted" "$a4.51 alice" -- -c $a4.51 -H 57 pop3
crafted "a whole conversation with hop limit 57 (IPv6): granted" "${a6}51 alice" \
    -- -c ${a6}51 -H 57 imap
crafted "TTL 57, timestamps and partial checksums together: granted" "$a4.60 alice" \
    -- -c $a4.60 -H 57 -T -P pop3
attack "fake copies with IPv4 options (NOP, NOP, NOP, EOL)" -- -c $a4.52 ipopts-insert
attack "fake copies with a loose source route" -- -c $a4.53 lsrr-insert
attack "identical copies with IPv4 options" -- -c $a4.54 -i ipopts-insert
attack "fake copies with a wrong IPv4 header checksum" -- -c $a4.55 ipsum-insert
attack "identical copies with a wrong IPv4 header checksum" -- -c $a4.56 -i ipsum-insert
attack "a SYN carrying data, then a full login" -- -c $a4.57 syn-data
crafted "a RST with a wrong sequence number mid-login, then a confirmed login: no grant" "" \
    -- -c $a4.58 rst-inserted
expect_finish "crafted: the RST ends the conversation; what follows is joined, no login" \
    joined=1 logins=0
attack "a client FIN inside the bytes already sent, then a confirmed login" \
    -- -c $a4.71 fin-inserted
attack "overlapping IPv4 fragments of PASS with other bytes" -- -c $a4.72 frag-overlap
attack "overlapping IPv6 fragments of PASS with other bytes" -- -c ${a6}72 frag-overlap
attack "a client PASS x past the server's small window, other bytes after the +OK" \
    -- -c $a4.59 window
attack "an early PASS past the server's small window, the same bytes after the +OK" \
    -- -c $a4.61 -i window
crafted "the same small window (scaled), every client segment inside it: granted" \
    "$a4.62 alice" -- -c $a4.62 window-ok
crafted "the same small window over IPv6 with timestamps: granted" "${a6}62 alice" \
    -- -c ${a6}62 -T window-ok
for link in sll sll2; do
    attack "$link: a forged +OK Logged in. that arrived (type 0) before the server's -ERR" \
        -- -c $a4.63 -l $link forged-ok
    attack "$link: IPv6, a forged +OK Logged in. that arrived before the server's -ERR" \
        -- -c ${a6}63 -l $link forged-ok
    attack "$link: fake client copies of packet type 3 (to another host)" \
        -- -c $a4.64 -l $link otherhost-insert
    attack "$link: identical client copies of packet type 3" \
        -- -c $a4.65 -l $link -i otherhost-insert
    crafted "$link: a login whose every client byte comes twice (type 0): granted" "$a4.66 alice" \
        -- -c $a4.66 -l $link -i keepalive-insert
done

# sniff_servers: a conversation with another server is ignored (counted as foreign); CIDRs
# and a server named with -s; a capture file without sniff_servers is refused at start.
crafted "a server not in sniff_servers: no grant" "" -o sniff_servers=192.0.2.99 \
    -- -c $a4.67 pop3
expect_finish "crafted: the conversation with another server is counted as foreign" \
    foreign=1 logins=0
crafted "an IPv6 server not in sniff_servers: no grant" "" -o sniff_servers=192.0.2.1,2001:db8::99 \
    -- -c ${a6}67 imap
expect_finish "crafted: the IPv6 conversation with another server is counted as foreign" \
    foreign=1 logins=0
crafted "sniff_servers as CIDRs: granted" "$a4.68 alice" \
    -o sniff_servers=192.0.2.0/24,2001:db8::/64 -- -c $a4.68 pop3
expect_finish "crafted: a server inside a sniff_servers CIDR is not foreign" foreign=0 logins=1
crafted "IPv6 sniff_servers CIDR: granted" "${a6}68 alice" \
    -o sniff_servers=192.0.2.0/24,2001:db8::/64 -- -c ${a6}68 imap
crafted "a server named with -s in sniff_servers: granted" "$a4.69 alice" \
    -o sniff_servers=203.0.113.5 -- -c $a4.69 -s 203.0.113.5 pop3
nosrv=$work/crafted/no-servers.pcap
run "$bindir/pcap_craft" -c $a4.70 pop3 "$nosrv"
expect_status 0 "crafted: pcap_craft writes a capture for the empty sniff_servers check"
sniff_once "$nosrv" "$work/crafted/no-servers.db" -o sniff_servers=
expect_status 2 "crafted: a capture file with sniff_servers empty is refused at start (exit 2)"
expect_err sniff_servers "crafted: the refusal names sniff_servers"

# A capture cut inside its last record, in pcap (read by popauth itself) and pcapng (read
# by libpcap): the login before the cut is granted, then popauth reports the read error
# naming the file and exits 1.
for fmt in pcap pcapng; do
    cut=$work/crafted/cut.$fmt cutdb=$work/crafted/cut-$fmt.db
    run "$bindir/pcap_craft" -c $a4.34 -f $fmt pop3 "$cut.whole"
    if [ "$status" -ne 0 ] || ! head -c $(($(stat -c %s "$cut.whole") - 10)) "$cut.whole" >"$cut"; then
        fail "crafted: could not write a $fmt capture cut short"
        continue
    fi
    sniff_once "$cut" "$cutdb"
    printf '%s\n%s\n' "$out" "$err" >"$cutdb.err"
    expect_status 1 "crafted: a $fmt capture cut inside a record is a read error (exit 1)"
    expect_err "action=read source=sniff:file:$cut" "crafted: the $fmt read error names the file"
    expect_grants "crafted: the login before the cut in the $fmt capture is granted" "$cutdb" \
        "$a4.34 alice"
done

# --- 3. Live capture, as nobody ---------------------------------------------------

live=$work/live
ldb=$live/auth.db
popauth_capture "$bindir" "$live" -o "metrics_listen=popauth=unix:$live/metrics.sock" ||
    die "live: popauth does not capture as nobody"
lpid=$POPAUTH_PID
pass "live: popauth runs as nobody (real, effective, saved and fs uid: $POPAUTH_UID_LINE)"
# every thread's: capabilities are per thread, and a thread keeps those it started with
cap_eff=$(awk '$1 == "CapEff:" { print $2 }' "/proc/$lpid"/task/*/status | sort -u | tr '\n' ' ')
out="CapEff of $(find "/proc/$lpid/task" -mindepth 1 -maxdepth 1 | wc -l) threads: $cap_eff"
if [ "$cap_eff" = "0000000000000000 " ]; then
    pass "live: no thread of popauth has capabilities left"
else
    fail "live: a thread of popauth kept capabilities"
fi

# wait_live ADDR USER SOURCE WHAT: poll the store (10 s) for ADDR's grant.
wait_live()
{
    local i
    for ((i = 0; i < 100; i++)); do
        ctl "$ldb" show "$1" >/dev/null 2>&1 && break
        kill -0 "$lpid" 2>/dev/null || break
        sleep 0.1
    done
    run ctl "$ldb" show "$1" --json
    err="$err popauth: $(tail -n 5 "$live/popauth.err" | tr '\n' ' ')"
    expect_doc ".address == \"$1\" and .user == \"$2\" and .source == \"$3\"" "$4"
}

la=${n4}100 la6=${n6}100
if ! { netns_add_addr "$NETNS_CLIENT" "$la/24" && netns_add_addr "$NETNS_CLIENT" "$la6/64"; }; then
    die "could not add the live clients' addresses"
fi
run pop3_login "$NETNS_CLIENT" "$srv" alice secret "$la"
out=$CLIENT_REPLY
expect_status 0 "live: POP3 login by alice from $la"
wait_live "$la" alice sniff-pop3 "live: the POP3 login from $la is granted within 10 s"
run imap_login "$NETNS_CLIENT" "$srv6" bob secret "$la6"
out=$CLIENT_REPLY
expect_status 0 "live: IMAP login by bob from $la6"
wait_live "$la6" bob sniff-imap "live: the IMAP login from $la6 is granted within 10 s"
run ctl "$ldb" list --json
expect_doc "map(.address) | sort == ([\"$la\", \"$la6\"] | sort)" "live: no other grant"

# With sniff_servers empty, the servers are this host's addresses as read at start and on
# SIGHUP: Dovecot on an address added later is not ours (foreign) until popauth re-reads.
srv_new=${n4}201 lb=${n4}101
if ! { netns_add_addr "$NETNS_SERVER" "$srv_new/24" && netns_add_addr "$NETNS_CLIENT" "$lb/24" &&
    dovecot_reconfigure "listen = $srv, $srv6, $srv_new"; }; then
    die "could not add $srv_new to the server and Dovecot"
fi
run pop3_login "$NETNS_CLIENT" "$srv_new" alice secret "$lb"
out=$CLIENT_REPLY
expect_status 0 "live: POP3 login by alice from $lb to $srv_new, added after popauth started"
sleep 2
run ctl "$ldb" show "$lb"
expect_status 1 "live: a server address added after the start is not ours: no grant"
kill -HUP "$lpid"
netns__wait "$lpid" grep -q "action=reload status=ok" "$live/popauth.err"
status=$? out='' err=$(tail -n 5 "$live/popauth.err")
expect_status 0 "live: popauth reloads on SIGHUP"
run pop3_login "$NETNS_CLIENT" "$srv_new" alice secret "$lb"
out=$CLIENT_REPLY
expect_status 0 "live: the same login again, after the reload"
wait_live "$lb" alice sniff-pop3 "live: after SIGHUP, $srv_new is one of this host's addresses: granted"

# The sniffer's counters on /metrics (the capture's source label): what happened above.
run curl -s -m 5 --unix-socket "$live/metrics.sock" http://localhost/metrics
expect_status 0 "live: popauth's /metrics answers"
printf '%s\n' "$out" >"$live/metrics.prom"
lint=$(promtool check metrics <"$live/metrics.prom" 2>&1)
if [ -z "$lint" ]; then pass "live: promtool accepts the scrape"; else
    fail "live: promtool accepts the scrape: $lint"; fi
# metric NAME: the sum of NAME's series in the scrape
metric() { awk -v n="$1" '$1 ~ "^" n "([{]|$)" { s += $2 } END { print s + 0 }' "$live/metrics.prom"; }
for m in "popauth_sniff_logins_total 3" "popauth_sniff_flows_total 3" \
    "popauth_sniff_foreign_total 1" "popauth_sniff_packets_total 20"; do
    read -r name least <<<"$m"
    got=$(metric "$name")
    out="$name $got" err=
    if [ "$got" -ge "$least" ]; then pass "live: $name counted ($got, at least $least)"; else
        fail "live: $name counted ($got, wanted at least $least)"; fi
done
out="desynchronised $(metric popauth_sniff_desynchronised_total) kernel_drops $(metric popauth_sniff_kernel_drops_total)"
if [ "$(metric popauth_sniff_kernel_drops_total)" -eq 0 ]; then
    pass "live: no kernel drops counted ($out)"; else fail "live: no kernel drops counted ($out)"; fi

kill -TERM "$lpid"
for ((i = 0; i < 100; i++)); do
    kill -0 "$lpid" 2>/dev/null || break
    [ "$(ps -o stat= -p "$lpid" 2>/dev/null | cut -c1)" = Z ] && break
    sleep 0.1
done
wait "$lpid"
status=$? out='' err=$(tail -n 5 "$live/popauth.err")
expect_status 0 "live: popauth exits 0 on SIGTERM"

finish
