# Assertions shared by the integration tests (sourced, not run).
# `run CMD...` captures status, stdout and stderr; the expect_* helpers check them and
# count; `finish` prints "N passed, N failed" and exits non-zero on any failure.
# `require_built DIR PROG...`, `require_packages PKG...` and `require_commands CMD...`
# check what a test needs first and call the sourcing script's `die` with one line naming
# what is missing (a Debian package by its name), before any tool fails obscurely.

passed=0
failed=0
status=0
out=
err=

run()
{
    local o e
    o=$(mktemp) e=$(mktemp)
    "$@" >"$o" 2>"$e"
    status=$?
    out=$(cat "$o") err=$(cat "$e")
    rm -f "$o" "$e"
}

pass() { passed=$((passed + 1)); echo "ok - $1"; }

fail()
{
    failed=$((failed + 1))
    echo "FAIL - $1"
    echo "  status: $status"
    echo "  stdout: ${out:0:2000}"
    echo "  stderr: ${err:0:2000}"
}

expect_status() { if [ "$status" -eq "$1" ]; then pass "$2"; else fail "$2 (wanted status $1)"; fi; }
expect_out() { if grep -qF -- "$1" <<<"$out"; then pass "$2"; else fail "$2 (wanted '$1' in stdout)"; fi; }
expect_no_out() { if grep -qF -- "$1" <<<"$out"; then fail "$2 (unwanted '$1' in stdout)"; else pass "$2"; fi; }
expect_err() { if grep -qF -- "$1" <<<"$err"; then pass "$2"; else fail "$2 (wanted '$1' in stderr)"; fi; }
# expect_prefix LABEL WANT GOT: pass when GOT starts with WANT; prints both either way
expect_prefix()
{
    status=0 out=$3 err=
    if [[ $3 == "$2"* ]]; then
        pass "$1: expected '$2...', got '$3'"
    else
        fail "$1: expected '$2...', got '$3'"
    fi
}
# show_tails FILE...: the last 15 lines of each FILE that exists (after a failure)
show_tails()
{
    local f
    for f in "$@"; do
        [ -n "$f" ] && [ -f "$f" ] || continue
        echo "  --- tail of $f:"
        tail -n 15 "$f" | sed 's/^/  /'
    done
}

expect_json()
{
    # jq -e succeeds on empty input: an empty stdout must fail, not pass
    if [[ $out =~ [^[:space:]] ]] && jq -e "$1" >/dev/null 2>&1 <<<"$out"; then
        pass "$2"
    else
        fail "$2 (jq: $1)"
    fi
}

finish()
{
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

require_built()
{
    local dir=$1 p
    shift
    for p in "$@"; do
        [ -x "$dir/$p" ] || die "$dir/$p is not built"
    done
}

require_packages()
{
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
            die "package $p is not installed (scripts/install-deps installs it)"
    done
}

require_commands()
{
    local c
    for c in "$@"; do
        command -v "$c" >/dev/null || die "$c is not installed (scripts/install-deps)"
    done
}

# stop_expect0 NAME PID: SIGTERM to PID (a child of this shell); it must exit 0 within 5 s
stop_expect0()
{
    local name=$1 pid=$2 i
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < 50; i++)); do
        [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" | cut -c1)" != Z ]; then
        status=999 out='' err=''
        fail "$name still runs 5 s after SIGTERM"
    else
        wait "$pid"
        status=$? out='' err=''
        expect_status 0 "$name exits 0 on SIGTERM"
    fi
}
