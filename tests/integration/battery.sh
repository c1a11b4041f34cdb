# The open-relay battery of SECURITY.md for the integration tests that put an MTA and a
# smtpgate front together (sourced after lib.sh and netns.sh, not run): 18 recipient
# shapes that try to relay (percent hack, bang paths, source routes, quoted local parts,
# IP literals, case and trailing-dot tricks), 2 local recipients and 4 senders, all in
# one swaks session per sender from the client namespace.
#
# API:
#   battery_hosts               the test's addresses as srv, srv6 (the server), roam, roam6
#                               (a roaming user), third, third6 (a third party) and lan, lan6
#                               (added to the client namespace: a local network), and the
#                               battery for srv (battery_init); call it after netns_setup
#   battery_init SERVER         fill battery, locals and senders for a server at address
#                               SERVER (the IP literals name it)
#   battery_session SRC SERVER FROM  one swaks session from SRC to SERVER:25 with every
#                               recipient; leaves "RECIPIENT<TAB>REPLY" lines in BATTERY
#                               and the transcript in SWAKS_OUT
#   battery_senders LABEL SRC SERVER refused|accepted  battery_check once per sender
#   battery_check LABEL SRC SERVER FROM refused|accepted  every relay recipient is refused
#                               with exactly BATTERY_DENIED, or accepted (250); for the
#                               recipients the MTA itself refuses as bad syntax, before
#                               smtpgate is asked, the reply must start with the prefix
#                               BATTERY_REFUSED[RCPT] or BATTERY_ACCEPTED[RCPT] names; the
#                               local recipients get 250 either way. One pass or fail line.
# Settings (the defaults suit smtpgate's replies and Postfix):
#   BATTERY_DENIED              "554 5.7.1 Relay access denied"
#   BATTERY_ACCEPTED            [u@192.0.2.9]="501 5.1.3" (an unbracketed IP literal)
#   BATTERY_REFUSED             none
#   BATTERY_SWAKS               more swaks options for every session (e.g. --tls)
# shellcheck shell=bash
# shellcheck disable=SC2034 # battery_hosts and battery_init set the test's variables

BATTERY_DENIED="554 5.7.1 Relay access denied"
declare -A BATTERY_ACCEPTED=([u@192.0.2.9]="501 5.1.3")
declare -A BATTERY_REFUSED=()
BATTERY_SWAKS=()
BATTERY=
SWAKS_OUT=
battery=()
locals=()
senders=()

battery_hosts()
{
    srv=$NETNS_SERVER_ADDR srv6=$NETNS_SERVER_ADDR6
    roam=$NETNS_CLIENT_ADDR roam6=$NETNS_CLIENT_ADDR6
    third=$NETNS_THIRD_ADDR third6=$NETNS_THIRD_ADDR6
    lan=$NETNS_NET.52 lan6=${NETNS_NET6}:52
    netns_add_addr "$NETNS_CLIENT" "$lan/24" && netns_add_addr "$NETNS_CLIENT" "$lan6/64" &&
        battery_init "$srv"
}

battery_init()
{
    local srv=$1
    battery=("u@far.test" "u%far.test@[$srv]" "u%far.test@local.test" '"u@far.test"' '"u%far.test"'
        "u@far.test@[$srv]" "\"u@far.test\"@[$srv]" "u@far.test@local.test" "@[$srv]:u@far.test"
        "@local.test:u@far.test" "far.test!u" "far.test!u@[$srv]" "far.test!u@local.test"
        "u@far.test." "U@FAR.TEST" "u@[192.0.2.9]" "u@[IPv6:2001:db8::9]" "u@192.0.2.9")
    locals=("alice@local.test" "ALICE@Local.Test.")
    senders=("<>" "x@far.test" "x@local.test" "x@[$srv]")
}

battery_session()
{
    local src=$1 server=$2 from=$3 to line rcpt='' reply
    to=$(IFS=,; echo "${battery[*]},${locals[*]}")
    case $server in *:*) server="[$server]" ;; esac
    SWAKS_OUT=$(ip netns exec "$NETNS_CLIENT" swaks --server "$server" --port 25 \
        --local-interface "$src" --helo client.far.test --from "$from" --to "$to" \
        --quit-after RCPT --timeout 30 "${BATTERY_SWAKS[@]}" 2>&1)
    BATTERY=
    while IFS= read -r line; do
        line=${line%$'\r'}
        if [[ $line == " -> RCPT TO:<"* || $line == " ~> RCPT TO:<"* ]]; then
            rcpt=${line#* RCPT TO:<}
            rcpt=${rcpt%>}
        elif [ -n "$rcpt" ] && [[ $line =~ ^(\<-|\<\*\*|\<~|\<~\*)\ +([0-9]{3}\ .*)$ ]]; then
            reply=${BASH_REMATCH[2]}
            BATTERY+="$rcpt"$'\t'"${reply%"${reply##*[! ]}"}"$'\n'
            rcpt=
        fi
    done <<<"$SWAKS_OUT"
}

battery_senders()
{
    local f
    for f in "${senders[@]}"; do
        battery_check "$1" "$2" "$3" "$f" "$4"
    done
}

battery_check()
{
    local label=$1 src=$2 server=$3 from=$4 outcome=$5 bad='' n=0 r reply expect
    battery_session "$src" "$server" "$from"
    while IFS=$'\t' read -r r reply; do
        [ -n "$r" ] || continue
        n=$((n + 1))
        case " ${locals[*]} " in
            *" $r "*) expect=250 ;;
            *) if [ "$outcome" = refused ]; then
                expect=${BATTERY_REFUSED[$r]:-$BATTERY_DENIED}
            else
                expect=${BATTERY_ACCEPTED[$r]:-250}
            fi ;;
        esac
        if [ "$outcome" = refused ] && [ "$expect" = "$BATTERY_DENIED" ]; then
            [ "$reply" = "$BATTERY_DENIED" ] || bad+=" <$r>: '$reply';"
        else
            [[ $reply == "$expect"* ]] || bad+=" <$r>: '$reply' (wanted $expect);"
        fi
    done <<<"$BATTERY"
    # shellcheck disable=SC2034 # read by lib.sh's fail
    status=0 out=$BATTERY err=$(tail -n 5 <<<"$SWAKS_OUT")
    [ "$from" = "<>" ] || from="<$from>"
    if [ "$n" -ne $((${#battery[@]} + ${#locals[@]})) ]; then
        fail "$label, MAIL FROM:$from: only $n of $((${#battery[@]} + ${#locals[@]})) RCPTs answered"
    elif [ -n "$bad" ]; then
        fail "$label, MAIL FROM:$from:$bad"
    else
        pass "$label, MAIL FROM:$from: ${#battery[@]} relay recipients $outcome, ${#locals[@]} local accepted"
    fi
}
