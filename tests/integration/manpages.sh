#!/usr/bin/env bash
# The manual pages in man/: mandoc -T lint reports nothing on any of them; every setting
# of the parameter table (as the built popauthctl prints it) is a documented item of
# popauth.conf(5) with its true default, and nothing else is; every command of
# popauthctl is a documented item of popauthctl(8) with the options its usage shows;
# every option in a program's usage appears in its page.
# Usage: manpages.sh BINDIR
set -u
bindir=${1:?usage: manpages.sh BINDIR}
. "$(dirname "$0")/lib.sh"
mandir=$(cd "$(dirname "$0")/../../man" && pwd)

die() { echo "FAIL - $*"; echo "$passed passed, $((failed + 1)) failed"; exit 1; }

require_built "$bindir" popauth smtpgate popauthctl
require_packages mandoc
require_commands mandoc

pages=(popauth.8 smtpgate.8 popauthctl.8 popauth.conf.5)
for p in "${pages[@]}"; do
    [ -f "$mandir/$p" ] || die "$mandir/$p is missing"
done

# lint_noise - 0 for a lint line that says something about this machine, not the page:
# a cross-reference to one of the pages in man/ (not installed while testing the tree),
# or a page that exists but is missing from a stale mandoc.db
lint_noise()
{
    local line=$1 re='referenced manual not found: Xr ([a-z.]+) ([0-9])'
    if [[ $line =~ $re ]]; then
        [ -f "$mandir/${BASH_REMATCH[1]}.${BASH_REMATCH[2]}" ]
        return
    fi
    [[ $line == *"outdated mandoc.db lacks "* ]]
}

for p in "${pages[@]}"; do
    run mandoc -T lint "$mandir/$p"
    report=
    while IFS= read -r line; do
        [ -n "$line" ] && ! lint_noise "$line" && report+="$line"$'\n'
    done <<<"$out"$'\n'"$err"
    if [ -z "$report" ]; then
        pass "mandoc -T lint: $p"
    else
        out=$report
        case $report in
        *"referenced manual not found"*)
            err="a referenced manual is not installed (scripts/install-deps installs them)" ;;
        *) err= ;;
        esac
        fail "mandoc -T lint: $p"
    fi
done

# Every setting: one ".It Va NAME Pq default: Li VALUE" (or "default: empty") item.
conf5=$mandir/popauth.conf.5
run "$bindir/popauthctl" -c /dev/null config
[ "$status" -eq 0 ] && [ -n "$out" ] || die "popauthctl -c /dev/null config failed: $err"
settings=$out
names=()
while IFS= read -r line; do
    name=${line%% = *}
    value=${line#* = }
    names+=("$name")
    items=$(grep -E "^\.It Va $name( |\$)" "$conf5")
    if [ "$(grep -c . <<<"$items")" -ne 1 ] || [ -z "$items" ]; then
        out=$items err=
        fail "popauth.conf.5 documents $name in exactly one .It Va item"
        continue
    fi
    doc=${items#".It Va $name"}
    doc=${doc# }
    case $doc in
    "Pq default: empty") doc= ;;
    "Pq default: Li "*)
        doc=${doc#"Pq default: Li "}
        [[ $doc == \"*\" ]] && doc=${doc:1:${#doc}-2}
        ;;
    *) doc="(no 'Pq default:' on the item line: $doc)" ;;
    esac
    if [ "$doc" = "$value" ]; then
        pass "popauth.conf.5: $name, default '$value'"
    else
        out=$items err="popauthctl config prints: $line"
        fail "popauth.conf.5: $name documented with default '$doc', not '$value'"
    fi
done <<<"$settings"
[ "${#names[@]}" -ge 30 ] || die "popauthctl config printed only ${#names[@]} settings"

# ... and no item for a setting that does not exist.
while IFS= read -r name; do
    known=0
    for n in "${names[@]}"; do [ "$n" = "$name" ] && known=1; done
    if [ "$known" -eq 1 ]; then continue; fi
    out= err=
    fail "popauth.conf.5 documents '$name', which is not a setting"
done < <(sed -nE 's/^\.It Va ([a-z0-9_]+).*/\1/p' "$conf5")

# usage_options TEXT - every option a usage text shows (-x or --word), one per line
usage_options()
{
    grep -oE '(^|[][ ,|(])--?[a-zA-Z][a-zA-Z-]*' <<<"$1" | sed -E 's/^[][ ,|(]//' | sort -u
}

# page_has_option PAGE OPTION [LINES] - 1 unless the option appears as "Fl x" or
# "Fl -word" in LINES (default: the whole page)
page_has_option()
{
    local text=${3-$(cat "$1")} fl=${2#-}
    grep -qE "(^|[ .])Fl $fl( |\$)" <<<"$text"
}

# Every option in each program's usage appears in its page.
for prog in popauth smtpgate popauthctl; do
    run "$bindir/$prog" --help
    [ "$status" -eq 0 ] && [ -n "$out" ] || die "$prog --help failed: $err"
    usage=$out
    while IFS= read -r opt; do
        [ -n "$opt" ] || continue
        if page_has_option "$mandir/$prog.8" "$opt"; then
            pass "$prog.8 documents $opt"
        else
            out=$usage err=
            fail "$prog.8 documents $opt (in its usage, not in the page)"
        fi
    done < <(usage_options "$usage")
done

# Every command of popauthctl (its usage lists one per indented line after
# "commands:") is an ".It Cm NAME" item of popauthctl.8, whose item lines show the
# options the usage gives it.
run "$bindir/popauthctl" --help
usage=$out
ncommands=0
while IFS= read -r line; do
    read -r cmd _ <<<"$line"
    ncommands=$((ncommands + 1))
    items=$(grep -E "^\.It Cm $cmd( |\$)" "$mandir/popauthctl.8")
    if [ -z "$items" ]; then
        out=$usage err=
        fail "popauthctl.8 documents the command $cmd"
        continue
    fi
    pass "popauthctl.8 documents the command $cmd"
    while IFS= read -r opt; do
        [ -n "$opt" ] || continue
        if page_has_option "" "$opt" "$items"; then
            pass "popauthctl.8: $cmd $opt"
        else
            out=$items err="usage: $line"
            fail "popauthctl.8: the item of $cmd shows $opt"
        fi
    done < <(usage_options "$line")
done < <(sed -n '/^commands:/,$p' <<<"$usage" | sed -nE 's/^ +([a-z])/\1/p')
[ "$ncommands" -ge 8 ] || die "popauthctl --help listed only $ncommands commands"

finish
