#!/usr/bin/env bash
# The documentation is true: every shell example in README.md and INSTALL is run as
# shown, or named in the skip table below with the reason it is not; an example that is
# neither fails, so a new example must be made to run here or be skipped with a reason.
# And INSTALL's dependency lists (section 1) name exactly the packages of
# scripts/install-deps.
#
# What an example is:
#   README.md  each command in a ```sh fenced block: a line, with the lines that continue
#              it (a trailing backslash or an open quote), comment lines left out. A
#              fence without a language must be a synopsis (its first line shows " ["),
#              else it fails: tag it sh.
#   INSTALL    outside section 1 (whose indented lines are the package lists), each line
#              indented 4 or more spaces whose first word is a command (is_command
#              below), with the lines that continue it, unless it is a synopsis (it shows
#              " [" or " | -", as in "popauth [-c FILE] ..." or "popauthctl --help |
#              --version").
# How an example runs: in document order (README.md, then INSTALL), each alone with
# bash -o pipefail -c, stdin /dev/null, in a copy of the source tree (without build
# directories and .git) in a temporary directory, with HOME there too. The places an
# installation writes are moved under a temporary root: /etc/popauth, /var/lib/popauth,
# /var/log and /usr/local in the example's text become ROOT/etc/popauth and so on, and
# `cmake --install` runs with DESTDIR=ROOT. First in PATH are popauth, smtpgate and
# popauthctl, which run the built programs with -c ROOT/etc/popauth/popauth.conf
# -o database=ROOT/var/lib/popauth/auth.db before the example's own arguments (its own
# -c or -o wins), and stand-ins for apt-get, systemctl, useradd and the like that refuse
# to run. An example still naming a path under /etc, /var, /usr, /run, /srv, /opt, /home,
# /root, /boot or /lib after that fails (except `cmake --install`, under DESTDIR). The files
# an example takes for granted are there: the store (with one grant), capture.pcap. An
# example exits 0 unless the status table says otherwise; one in the daemon table runs
# under `timeout 2` and passes when it is still running then. Some examples have an
# after-check of what their comment promises. A table entry that matches no example fails.
# Afterwards nothing under the real /etc/popauth or /var/lib/popauth may be newer than
# the start. No network: the examples run need none, and send nothing.
# Needs every package of scripts/install-deps (its examples run install-deps and
# scripts/package, which would install whatever is missing).
# Usage: docs.sh BINDIR
set -u
bindir=${1:?usage: docs.sh BINDIR}
bindir=$(cd "$bindir" && pwd) || exit 1
here=$(cd "$(dirname "$0")" && pwd)
srcdir=$(cd "$here/../.." && pwd)
# shellcheck source=tests/integration/lib.sh
. "$here/lib.sh"

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }
# fail_with MSG [OUT [ERR]] - fail with this output to show rather than the last run's
fail_with() { out=${2-} err=${3-} status=0; fail "$1"; }

# The examples not run, by their text (comments and line breaks removed), with the reason.
declare -A skip=(
    ["scripts/demo"]="needs root, installs packages, runs Dovecot and Postfix in network namespaces (scripts/fresh-check runs it in a clean root)"
    ["scripts/test"]="runs every test, this one included (scripts/fresh-check runs it in a clean root)"
    ["cd build && ctest"]="runs the whole suite, this test included"
    ["popauth -o log_sources= -o sniff_interfaces=eth0 -o run_user=popauth"]="a daemon capturing live on eth0: needs root, that interface and the user popauth"
    ["smtpgate -o proxy_listen=inet:192.0.2.1:25 -o proxy_backend=inet:127.0.0.1:2525 -o proxy_client_identity=xclient -o policy_listen="]="listens on 192.0.2.1:25, an address of no interface here, on a port that needs root"
    ["apt-get install ./build-package/package/popauth_*.deb"]="installs the package as root (scripts/fresh-check does it in a clean root); the .deb it names is checked after scripts/package"
    ["systemd-sysusers popauth.conf && systemd-tmpfiles --create popauth.conf"]="creates the system user popauth and /var/lib/popauth: needs root, changes the system"
    ["chgrp popauth /var/lib/popauth && chmod 0750 /var/lib/popauth"]="needs the group popauth (made by the package) and root"
    ["usermod -a -G popauth smtpgate"]="changes a system user: needs root and the user smtpgate"
    ["popauthctl -o database=redis://10.0.0.11:6379/0 migrate /var/lib/popauth/auth.db"]="needs the Redis server at the example's address (tests/unit/torture_store_redis.c and the cluster test run migrate against a real one)"
)
# Examples whose documented exit status is not 0.
declare -A want_status=()
# Daemons: run under timeout 2, they pass when still running then.
declare -A daemon=(
    ["smtpgate -o milter_listen=inet:127.0.0.1:10041 -o local_domains=example.net -o policy_listen="]=1
)
# What an example's comment promises, checked after it ran (a command run in the copy).
declare -A after=(
    ["cmake --install build"]="installed_ok /usr/local"
    ["cmake --install build --prefix /usr"]="installed_ok /usr"
    ["scripts/package"]="package_ok"
)
declare -A used=()

require_built "$bindir" popauth smtpgate popauthctl
require_commands bash timeout tar dpkg-query

# deps_list NAME - the packages of scripts/install-deps' array NAME, one per line
deps_list()
{
    awk -v n="$1" '$0 ~ "^" n "=\\(" { on = 1 } on { print } on && /\)/ { exit }' \
        "$srcdir/scripts/install-deps" | sed -E "s/^$1=\\(//; s/\\).*//" | tr -s ' \t' '\n' | sed '/^$/d'
}

lists=(runtime build tests extracted)
missing=()
for l in "${lists[@]}"; do
    pkgs=$(deps_list "$l")
    [ -n "$pkgs" ] || die "scripts/install-deps has no list '$l'"
    # extracted: unpacked by install-deps into a directory of its own, never installed
    [ "$l" != extracted ] || continue
    while IFS= read -r p; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done <<<"$pkgs"
done
[ ${#missing[@]} -eq 0 ] || die "not installed: ${missing[*]} (scripts/install-deps installs them)"

# 1. INSTALL section 1: its indented blocks are install-deps' lists, in the order
# runtime, build, tests, extracted, and name the same packages.
blocks=()
block=
while IFS= read -r line; do
    if [[ $line =~ ^\ {4} ]]; then
        block+="$line"$'\n'
    elif [ -n "$block" ]; then
        blocks+=("$block")
        block=
    fi
done < <(sed -n '/^1\. Requirements$/,/^2\. /p' "$srcdir/INSTALL")
[ -z "$block" ] || blocks+=("$block")
if [ ${#blocks[@]} -ne ${#lists[@]} ]; then
    fail_with "INSTALL section 1 shows ${#lists[@]} indented package lists (${lists[*]}), not ${#blocks[@]}" \
        "${blocks[*]}"
else
    for i in "${!lists[@]}"; do
        doc=$(tr -s ' \t' '\n' <<<"${blocks[$i]}" | sed '/^$/d' | sort -u)
        deps=$(deps_list "${lists[$i]}" | sort -u)
        only_doc=$(comm -23 <(echo "$doc") <(echo "$deps") | tr '\n' ' ')
        only_deps=$(comm -13 <(echo "$doc") <(echo "$deps") | tr '\n' ' ')
        if [ -z "$only_doc$only_deps" ]; then
            pass "INSTALL section 1 lists install-deps' ${lists[$i]} packages"
        else
            [ -z "$only_doc" ] || fail_with "INSTALL's ${lists[$i]} list has ${only_doc}not in scripts/install-deps"
            [ -z "$only_deps" ] || fail_with "scripts/install-deps' ${lists[$i]} list has ${only_deps}not in INSTALL"
        fi
    done
fi

# 2. The examples.
work=$(mktemp -d /tmp/docs-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root copy=$work/src path=$work/path
mkdir -p "$root/etc/popauth" "$root/var/lib/popauth" "$root/var/log" "$copy" "$path" "$work/home"
touch "$work/start" "$root/var/log/mail.log"
tar -C "$srcdir" --exclude='./build*' --exclude=./.git --exclude=./out -cf - . | tar -C "$copy" -xf - ||
    die "cannot copy $srcdir to $copy"
cat >"$root/etc/popauth/popauth.conf" <<EOF
database = $root/var/lib/popauth/auth.db
log_sources = file:$root/var/log/mail.log
EOF
for p in popauth smtpgate popauthctl; do
    printf '#!/bin/sh\nexec "%s" -c "%s" -o "database=%s" "$@"\n' "$bindir/$p" \
        "$root/etc/popauth/popauth.conf" "$root/var/lib/popauth/auth.db" >"$path/$p"
done
for p in apt-get apt aptitude systemctl service useradd usermod groupadd adduser addgroup \
    systemd-sysusers systemd-tmpfiles debconf-set-selections sudo su; do
    printf '#!/bin/sh\necho "docs.sh: %s refused: it would change the system" >&2\nexit 97\n' "$p" >"$path/$p"
done
chmod 755 "$path"/*
# capture.pcap: a pcap file with no packets (Ethernet, snapshot length 65535)
printf '\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\x00\x00\x01\x00\x00\x00' \
    >"$copy/capture.pcap"
run env PATH="$path:$PATH" popauthctl allow 192.0.2.7 --user alice
[ "$status" -eq 0 ] || die "cannot make the store: $err"

# installed_ok PREFIX - the programs are installed under ROOT/PREFIX, and each installed
# unit's ExecStart names an installed program
installed_ok()
{
    local f unit exe
    for f in sbin/popauth sbin/smtpgate bin/popauthctl; do
        [ -x "$root$1/$f" ] || { echo "no $1/$f"; return 1; }
    done
    for unit in "$root$1"/lib/systemd/system/*.service; do
        [ -f "$unit" ] || { echo "no units in $1/lib/systemd/system"; return 1; }
        exe=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")
        [ -x "$root$exe" ] || { echo "${unit#"$root"}: ExecStart=$exe is not installed"; return 1; }
    done
}

# package_ok - scripts/package printed the path of the .deb last, and it is the one file
# the README's apt-get command names
package_ok()
{
    local deb
    deb=$(tail -n 1 <<<"$out")
    [ -f "$deb" ] || { echo "scripts/package's last line is not a file: $deb"; return 1; }
    [ "$(echo ./build-package/package/popauth_*.deb)" = "./$deb" ] ||
        { echo "./build-package/package/popauth_*.deb is not $deb"; return 1; }
}

# is_command WORD - 0 if WORD names a program or script (an INSTALL line starting with it
# is an example)
is_command()
{
    case $1 in
    popauth | smtpgate | popauthctl | scripts/* | ./* | build*/bin/*) return 0 ;;
    cmake | cpack | make | ctest | cd | install | mkdir | cp | mv | ln | rm | chmod | chown | chgrp) return 0 ;;
    sh | bash) return 0 ;;
    apt-get | apt | dpkg | systemctl | journalctl | usermod | useradd | groupadd | sudo) return 0 ;;
    systemd-sysusers | systemd-tmpfiles | sqlite3 | tcpdump | mandoc | man | swaks | logger | ethtool) return 0 ;;
    postconf | postfix | kill) return 0 ;;
    esac
    return 1
}

# is_synopsis LINE - 0 if LINE shows a command's syntax rather than a command
is_synopsis() { [[ $1 == *" ["* || $1 == *" | -"* ]]; }

# command_key TEXT - the example's text without comments and line breaks, one space
# between words: its name in the tables
command_key()
{
    sed -E 's/^[[:space:]]*#.*//; s/[[:space:]]+#[[:space:]].*$//; s/\\$//' <<<"$1" | tr '\n' ' ' |
        tr -s ' \t' ' ' | sed -E 's/^ //; s/ $//'
}

# relocate TEXT - TEXT with the installation's paths moved under the temporary root
relocate()
{
    sed -E "s#(^|[[:space:]\"'=:])(/etc/popauth|/var/lib/popauth|/var/log|/usr/local)#\\1$root\\2#g" <<<"$1"
}

# complete TEXT - 0 if TEXT is a whole command: no trailing backslash, no open quote
complete() { [[ $1 != *\\ ]] && bash -n -c "$1" 2>/dev/null; }

# example WHERE TEXT - run one example, or skip it if the table says so
example()
{
    local where=$1 text=$2 key cmd first t=30 want=0 msg
    key=$(command_key "$text")
    [ -n "$key" ] || return 0
    used[$key]=1
    if [ -n "${skip[$key]+x}" ]; then
        echo "skip - $where: $key (${skip[$key]})"
        return 0
    fi
    cmd=$(relocate "$text")
    if grep -qE "(^|[[:space:]\"'=:])/(etc|var|usr|run|srv|opt|home|root|boot|lib)(/|[[:space:]\"']|\$)" \
        <<<"$(command_key "$cmd" | sed -E "s#$root/##g")" && [[ $key != "cmake --install "* ]]; then
        fail_with "$where: $key names a system path: run it here or add it to the skip table" "$cmd"
        return 0
    fi
    read -r first _ <<<"$key"
    case $first in scripts/* | cmake | cpack | make) t=900 ;; esac
    [ -z "${want_status[$key]+x}" ] || want=${want_status[$key]}
    if [ -n "${daemon[$key]+x}" ]; then t=2 want=124; fi
    local envs=(PATH="$path:$PATH" HOME="$work/home" CMAKE_BUILD_PARALLEL_LEVEL=2)
    [[ $key != "cmake --install "* ]] || envs+=(DESTDIR="$root")
    run bash -c 'cd "$1" && exec env "${@:4}" timeout -k 5 "$2" bash -o pipefail -c "$3" </dev/null' \
        sh "$copy" "$t" "$cmd" "${envs[@]}"
    if [ "$status" -ne "$want" ]; then
        [ "$status" -ne 124 ] || [ "$t" -eq 2 ] || err+=$'\n'"(timed out after ${t}s: a daemon? add it to the daemon table)"
        out=$(tail -n 30 <<<"$out") err=$(tail -n 30 <<<"$err")
        fail "$where: $key (wanted status $want)"
        return 0
    fi
    if [ -n "${after[$key]+x}" ]; then
        if ! msg=$(cd "$copy" && ${after[$key]}); then
            fail_with "$where: $key: ${after[$key]}" "" "$msg"
            return 0
        fi
    fi
    pass "$where: $key"
}

# readme FILE - the examples of a Markdown file's ```sh blocks
readme()
{
    local n=0 start=0 fence="" first=0 text="" line name
    name=$(basename "$1")
    while IFS= read -r line; do
        n=$((n + 1))
        if [[ $line =~ ^[[:space:]]*\`\`\`(.*)$ ]]; then
            if [ -z "$fence" ]; then fence=${BASH_REMATCH[1]:-none} first=1; else fence=; fi
            continue
        fi
        if [ "$fence" = none ] && [ "$first" -eq 1 ] && ! is_synopsis "$line"; then
            fail_with "$name:$n: a fence without a language that shows a command: tag it sh, or make it a synopsis" \
                "$line"
        fi
        first=0
        [ "$fence" = sh ] || continue
        [ -n "$text" ] || start=$n
        text+=${text:+$'\n'}$line
        if complete "$text"; then
            example "$name:$start" "$text"
            text=
        fi
    done <"$1"
    [ -z "$text" ] || fail_with "$name:$start: an example that never ends" "$text"
}

# install_guide FILE - the examples of INSTALL: indented command lines, outside section 1
install_guide()
{
    local n=0 start=0 text="" line word section=""
    while IFS= read -r line; do
        n=$((n + 1))
        [[ ! $line =~ ^([0-9]+)\.\ [A-Z] ]] || section=${BASH_REMATCH[1]}
        if [ -z "$text" ]; then
            [[ $line =~ ^\ {4,}([^ ]+) ]] || continue
            word=${BASH_REMATCH[1]}
            if [ "$section" = 1 ] || ! is_command "$word" || is_synopsis "$line"; then continue; fi
            start=$n
        fi
        text+=${text:+$'\n'}$line
        if complete "$text"; then
            example "INSTALL:$start" "$text"
            text=
        elif [ $((n - start)) -gt 20 ]; then
            fail_with "INSTALL:$start: an example that never ends" "$text"
            text=
        fi
    done <"$1"
}

readme "$srcdir/README.md"
install_guide "$srcdir/INSTALL"

for t in skip want_status daemon after; do
    declare -n table=$t
    for key in "${!table[@]}"; do
        [ -n "${used[$key]+x}" ] || fail_with "the $t table names '$key', which no example shows"
    done
done

# Nothing was written to the real installation's places.
changed=$(find /etc/popauth /var/lib/popauth -newer "$work/start" 2>/dev/null)
if [ -z "$changed" ]; then
    pass "nothing changed in /etc/popauth or /var/lib/popauth"
else
    fail_with "files changed outside the temporary root" "$changed"
fi

finish
