#!/usr/bin/env bash
# popauth's live sniffer against TCP insertion attacks, with a real Dovecot.
#
# Dovecot (POP3 + IMAP) runs in a private network namespace and popauth captures live on
# the server's veth, as in sniff.sh section 3 (run_user=nobody). From a second namespace
# tcp_insert talks to Dovecot over ordinary kernel TCP and sends one command line one byte
# per segment, each byte preceded by a forged 1-byte copy (raw socket) at the same
# sequence number carrying the byte of another line of the same length, made so that
# the server's kernel drops it:
#   checksum  a wrong TCP checksum
#   paws      a valid checksum, a TSval far in the past (RFC 7323 PAWS)
#   partial   the checksum field holds the bare pseudo-header sum (what Linux leaves in its
#             own segments on veth); the raw packet is not offloaded, so it is dropped
# POP3: "USER alice", +OK, then the real "USER alice" with the lie "PASS wrong" (Dovecot
# answers +OK to the second USER). IMAP: the real "a CAPABILITY" with the lie
# "a LOGIN bo x" (Dovecot answers "a OK"). A sniffer that read the lie would see a login
# answered +OK / a OK. Each variant x protocol x IPv4/IPv6 runs from an address of its
# own; for each the test checks that the client got the server's reply to the REAL line,
# that Dovecot logged no login from that address, that popauth granted nothing and counted
# the conversation as desynchronised, and that the same address's honest login right
# after is granted (exactly once). Forged copies carrying the real bytes: with a bad
# checksum or a stale timestamp they desynchronise all the same, with a partial checksum
# they are compared and the login is granted. First, honest logins sent one byte per segment (no
# forged copies) are granted, so the attacks fail for the forged copies alone. At the
# end popauth's summary must count exactly the attacks as desynced and the honest logins
# as logins.
# Needs root, dovecot-pop3d, dovecot-imapd, netcat-openbsd, iproute2, jq.
# SNIFF_ATTACK_PCAP=FILE also records the server's veth with tcpdump into FILE (to look at
# the forged copies with tcpdump -vv -r FILE: checksums and TS values).
# Usage: sniff_attack.sh BINDIR
set -u
bindir=${1:?usage: sniff_attack.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"
# shellcheck source=tests/integration/netns.sh
. "$here/netns.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

require_built "$bindir" popauth popauthctl tcp_insert
require_packages dovecot-pop3d dovecot-imapd netcat-openbsd iproute2 jq
require_commands jq timeout

work=$(mktemp -d /tmp/pa-attack.XXXXXX) || die "mktemp failed"
trap 'rm -rf "$work"' EXIT # netns_setup chains this after its own cleanup
netns_setup || die "could not set up the network namespaces"

dovecot_start "$work" "$NETNS_SERVER_ADDR" "$NETNS_SERVER_ADDR6" || die "Dovecot did not start"
pass "Dovecot listens on $NETNS_SERVER_ADDR and $NETNS_SERVER_ADDR6 (ports 110, 143)"
if [ -n "${SNIFF_ATTACK_PCAP:-}" ]; then
    tcpdump_start "$NETNS_SERVER" "$NETNS_SERVER_IF" "$SNIFF_ATTACK_PCAP" || die "tcpdump did not start"
fi

# --- popauth captures live on the server's veth, as nobody (sniff.sh section 3) --------

live=$work/live
ldb=$live/auth.db
source_name=sniff:$NETNS_SERVER_IF
popauth_capture "$bindir" "$live" || die "popauth did not start capturing on $NETNS_SERVER_IF"
lpid=$POPAUTH_PID
pass "popauth captures on $NETNS_SERVER_IF and runs as nobody"

ctl() { "$bindir/popauthctl" -c /dev/null -o "database=$ldb" "$@"; }

# desyncs: the capture source's count of conversations that lost track (0 before any)
desyncs()
{
    local json
    json=$(ctl stats --json 2>/dev/null) || { echo 0; return; }
    jq -r --arg s "$source_name" '.sources[$s].errors // 0' <<<"$json" 2>/dev/null || echo 0
}

# expect_one_desync BEFORE WHAT: the desync count grows from BEFORE to BEFORE + 1 (polled
# for 5 s: the counters reach the store with popauth's next commit)
expect_one_desync()
{
    local i after
    for ((i = 0; i < 50; i++)); do
        after=$(desyncs)
        [ "$after" -gt "$1" ] && break
        sleep 0.1
    done
    status=$((after != $1 + 1)) out="desynced conversations: $1 before, $after after" err=
    expect_status 0 "$2"
}

# wait_grant ADDR USER SOURCE WHAT: poll the store (10 s) for ADDR's grant; it must be
# USER's, from SOURCE, and the only login recorded for ADDR.
wait_grant()
{
    local i
    for ((i = 0; i < 100; i++)); do
        ctl show "$1" >/dev/null 2>&1 && break
        kill -0 "$lpid" 2>/dev/null || break
        sleep 0.1
    done
    run ctl show "$1" --json
    err="$err popauth: $(tail -n 5 "$live/popauth.err" | tr '\n' ' ')"
    if [ "$status" -eq 0 ] && jq -e ".address == \"$1\" and .user == \"$2\" and .source == \"$3\" and .logins == 1" \
        >/dev/null 2>&1 <<<"$out"; then
        pass "$4"
    else
        fail "$4 (wanted one login by $2, source $3)"
    fi
}

# no_grant ADDR WHAT: ADDR has no grant, and gets none in the next 2 s.
no_grant()
{
    local i got=1
    for ((i = 0; i < 20; i++)); do
        ctl show "$1" >/dev/null 2>&1 && { got=0; break; }
        sleep 0.1
    done
    run ctl show "$1" --json
    if [ "$got" -eq 1 ] && [ "$status" -eq 1 ]; then
        pass "$2"
    else
        fail "$2 (popauth granted it)"
    fi
}

# expect_doc FILTER WHAT: the last run exited 0 and printed JSON for which FILTER is true
expect_doc()
{
    if [ "$status" -eq 0 ] && [ -n "$out" ] && jq -e "$1" >/dev/null 2>&1 <<<"$out"; then
        pass "$2"
    else
        fail "$2 (wanted status 0 and jq: $1)"
    fi
}

# add_src ADDR: add ADDR to the client namespace
add_src()
{
    case $1 in
        *:*) netns_add_addr "$NETNS_CLIENT" "$1/64" ;;
        *) netns_add_addr "$NETNS_CLIENT" "$1/24" ;;
    esac || die "could not add $1 to the client namespace"
}

# insert_client SRC SERVER PORT MODE STEP...: tcp_insert from SRC in the client namespace
# (via run); MODE is checksum, paws, partial or none (no forged copies)
insert_client()
{
    local src=$1 server=$2 port=$3 mopt=()
    [ "$4" = none ] || mopt=(-m "$4")
    shift 4
    run timeout 120 ip netns exec "$NETNS_CLIENT" "$bindir/tcp_insert" -v -i "$NETNS_CLIENT_IF" \
        -b "$src" "${mopt[@]}" "$server" "$port" "$@"
}

# dovecot_done SRC: wait until Dovecot logged the end of SRC's session (login or not)
dovecot_done() { dovecot_wait_log "(Disconnected|Logged out|Login: ).*rip=${1//./\\.}[,)]" 10 2>/dev/null; }

srv=$NETNS_SERVER_ADDR srv6=$NETNS_SERVER_ADDR6
n4=$NETNS_NET. n6=$NETNS_NET6:
honest=() # addresses that logged in honestly: each must hold exactly one grant
attacks=0

# --- 1. Honest logins one byte per segment are granted --------------------------------

for fam in 4 6; do
    if [ "$fam" = 4 ]; then s=$srv a=${n4}20 b=${n4}21; else s=$srv6 a=${n6}20 b=${n6}21; fi
    add_src "$a"
    add_src "$b"
    insert_client "$a" "$s" 110 none line '+OK*' slow 'USER alice' line '+OK*' slow 'PASS secret' \
        line '+OK Logged in*' send QUIT line '+OK*' close
    expect_status 0 "honest POP3 USER/PASS one byte per segment from $a"
    wait_grant "$a" alice sniff-pop3 "the honest one-byte-per-segment POP3 login from $a is granted"
    honest+=("$a")
    insert_client "$b" "$s" 143 none line '\* OK*' slow 'a LOGIN bob secret' line 'a OK*' \
        send 'b LOGOUT' line '\* BYE*' line 'b OK*' close
    expect_status 0 "honest IMAP LOGIN one byte per segment from $b"
    wait_grant "$b" bob sniff-imap "the honest one-byte-per-segment IMAP login from $b is granted"
    honest+=("$b")
done
d0=$(desyncs)
status=$((d0 != 0)) out="desynced conversations: $d0" err=
expect_status 0 "popauth desynchronised no honest conversation"

# --- 2. Insertion attacks --------------------------------------------------------------

# attack MODE PROTO SRC: the attack from SRC, then SRC's honest login.
attack()
{
    local mode=$1 proto=$2 src=$3 server=$srv port=110 what before after i steps user real lie
    case $src in *:*) server=$srv6 ;; esac
    add_src "$src"
    if [ "$proto" = pop3 ]; then
        real='USER alice' lie='PASS wrong' user=alice
        steps=(line '+OK*' send 'USER alice' line '+OK' insert "$real" "$lie" line '+OK'
            send QUIT line '+OK*' close)
    else
        port=143 real='a CAPABILITY' lie='a LOGIN bo x' user=bob
        steps=(line '\* OK*' insert "$real" "$lie" line '\* CAPABILITY *' line 'a OK*'
            send 'b LOGOUT' line '\* BYE*' line 'b OK*' close)
    fi
    what="$mode/$proto from $src"
    before=$(desyncs)
    attacks=$((attacks + 1))

    insert_client "$src" "$server" "$port" "$mode" "${steps[@]}"
    expect_status 0 "$what: '$real' sent with forged '$lie' copies; the server answered the real line"
    expect_err "$((${#real} + 2)) forged copies sent, $((${#real} + 2)) seen leaving" \
        "$what: every forged copy left the client"

    run dovecot_done "$src"
    expect_status 0 "$what: Dovecot logged the end of the session"
    status=0 out=$(grep -E "Login: user=<[^>]*>.*rip=${src//./\\.}," "$DOVECOT_LOG") err=
    [ -z "$out" ] || status=1
    expect_status 0 "$what: Dovecot logged no login from $src"

    no_grant "$src" "$what: popauth grants nothing"
    expect_one_desync "$before" "$what: popauth counted the conversation as desynchronised"

    if [ "$proto" = pop3 ]; then
        run pop3_login "$NETNS_CLIENT" "$server" "$user" secret "$src"
    else
        run imap_login "$NETNS_CLIENT" "$server" "$user" secret "$src"
    fi
    out=$CLIENT_REPLY
    expect_status 0 "$what: then an honest ${proto^^} login by $user"
    wait_grant "$src" "$user" "sniff-$proto" "$what: the honest login is granted within 10 s (one login)"
    honest+=("$src")
}

k=30
for mode in checksum paws partial; do
    for proto in pop3 imap; do
        attack "$mode" "$proto" "${n4}$k"
        attack "$mode" "$proto" "${n6}$k"
        k=$((k + 1))
    done
done

# --- 3. Forged copies that carry the real bytes -------------------------------------------

# truthful MODE SRC GRANT: a POP3 login whose "USER alice" goes one byte per segment, each
# after a forged copy of the same byte. A copy with a bad checksum or a stale timestamp
# desynchronises whatever it carries (popauth cannot know what else the server might have
# taken), so GRANT is 0; a partial-checksum copy is compared with the real byte, which
# matches, so the login is granted (GRANT 1).
truthful()
{
    local mode=$1 src=$2 grant=$3 before after i what="truthful $1 copies from $2"
    add_src "$src"
    before=$(desyncs)
    insert_client "$src" "$srv" 110 "$mode" line '+OK*' insert 'USER alice' 'USER alice' \
        line '+OK' send 'PASS secret' line '+OK Logged in*' send QUIT line '+OK*' close
    expect_status 0 "$what: the POP3 login succeeds at the server"
    if [ "$grant" -eq 1 ]; then
        wait_grant "$src" alice sniff-pop3 "$what: compared with the real bytes, they match: granted"
        honest+=("$src")
        after=$(desyncs)
        status=$((after != before)) out="desynced conversations: $before before, $after after" err=
        expect_status 0 "$what: no desync"
    else
        no_grant "$src" "$what: desynchronised all the same, no grant"
        expect_one_desync "$before" "$what: counted as desynchronised"
        attacks=$((attacks + 1))
    fi
}

truthful checksum "${n4}40" 0
truthful paws "${n4}41" 0
truthful partial "${n4}42" 1

# --- 4. Totals -------------------------------------------------------------------------

run ctl list --json
want_grants=$(printf '%s\n' "${honest[@]}" | jq -R . | jq -sc 'sort')
expect_doc "(map(.address) | sort) == $want_grants and all(.logins == 1)" \
    "the grants are exactly the ${#honest[@]} honest logins, one login each"

kill -TERM "$lpid"
for ((i = 0; i < 100; i++)); do
    kill -0 "$lpid" 2>/dev/null || break
    [ "$(ps -o stat= -p "$lpid" 2>/dev/null | cut -c1)" = Z ] && break
    sleep 0.1
done
wait "$lpid"
status=$? out='' err=$(tail -n 5 "$live/popauth.err")
expect_status 0 "popauth exits 0 on SIGTERM"
line=$(grep -o "source=$source_name action=stop .*" "$live/popauth.err")
status=0 out=$line err="wanted logins=${#honest[@]} desynced=$attacks"
[[ " $line " == *" logins=${#honest[@]} "* && " $line " == *" desynced=$attacks "* ]] || status=1
echo "# popauth: ${line:-no summary line}"
expect_status 0 "popauth's summary counts the ${#honest[@]} honest logins and the $attacks attacks as desynced"

# A debugging aid, not a check: tcpdump may lose packets when the machine is busy.
if [ -n "${SNIFF_ATTACK_PCAP:-}" ]; then
    tcpdump_stop || echo "# tcpdump: $(tr '\n' ' ' <"$TCPDUMP_ERR")"
    echo "# the server's veth was recorded into $SNIFF_ATTACK_PCAP"
fi
finish
