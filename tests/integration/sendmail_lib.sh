# A private, real Sendmail in the server namespace of netns.sh, for the integration tests
# (sourced by bash scripts after netns.sh, not run; needs root, the sendmail-bin package
# unpacked by scripts/install-deps into /var/lib/popauth-tests/sendmail, sendmail-cf and
# m4 to build its sendmail.cf, openssl, sasl2-bin, libsasl2-modules, libsasl2-modules-db
# and perl).
#
# API (every function fails loudly, with a message on stderr, and returns non-zero):
#   sendmail_start WORKDIR ADDR[,ADDR6] [MC_LINE...]  build a private sendmail.cf in
#                               WORKDIR/sendmail with m4 from a test .mc that includes the
#                               shipped scripts/mta/sendmail.mc verbatim (its milter on
#                               127.0.0.1:10041, F=T) and each MC_LINE (before the MAILER
#                               lines), and run Sendmail (-bD, as root) in the server
#                               namespace on port 25 of each ADDR; waits until it listens
#                               on all of them. Sets SENDMAIL_DIR, SENDMAIL_CF, SENDMAIL_LOG
#                               (its syslog lines), SENDMAIL_QUEUE, SENDMAIL_PID.
#   sendmail_stop               stop that Sendmail and its log reader (also done by
#                               netns_cleanup)
#   sendmail_wait_log PATTERN [SECS]  wait until SENDMAIL_LOG has a line matching the
#                               grep -E PATTERN (10 s)
#
# The Sendmail it runs: hostname mx.local.test, local domain local.test (class w) with
# the local users alice and bob; Sendmail's own relay check is off (the shipped fragment's
# promiscuous_relay), so every relay decision is the milter's; host names from files
# only (a DNS query the C library still tries cannot leave the server namespace, which
# has no route out), no ident, no interface probing; accepted mail only queued
# (DeliveryMode=queueonly, no queue runner) in a private queue; STARTTLS with a self-signed certificate made here; SMTP AUTH
# PLAIN and LOGIN (offered without TLS too) against a Cyrus sasldb with user alice,
# password "secret" (realm mx.local.test).
#
# Nothing on the machine is changed: Sendmail runs in the mount namespace of its own
# `ip netns exec`, where these are bound over the real ones:
#   /etc/passwd, /etc/group  private copies with the users alice and bob added when the
#                            system lacks them (Sendmail checks a local recipient exists)
#   /usr/lib/sasl2 (and /etc/sasl2, /etc/sasl where they exist)  a private directory
#                            with Sendmail.conf, Cyrus SASL's configuration for the
#                            application "Sendmail" (the first directory of libsasl2's
#                            search path that holds one wins; /etc/sasl2 need not exist)
#   the host name            mx.local.test, in a UTS namespace of its own
#   /dev                     an overlay of the real /dev whose only addition is the
#                            symbolic link log, to a datagram socket read by a small perl
#                            program that writes each message as a line into SENDMAIL_LOG
#                            (Sendmail logs only through syslog(3), to /dev/log)
# shellcheck shell=bash

SENDMAIL_ROOT=/var/lib/popauth-tests/sendmail
SENDMAIL_BIN=$SENDMAIL_ROOT/usr/libexec/sendmail/sendmail
SENDMAIL_CF_M4=/usr/share/sendmail/cf/m4/cf.m4
SENDMAIL_FRAGMENT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/scripts/mta/sendmail.mc
SENDMAIL_PID=
SENDMAIL_SYSLOG_PID=
SENDMAIL_DIR=
SENDMAIL_CF=
SENDMAIL_LOG=
SENDMAIL_QUEUE=
SENDMAIL_WANT=()

sendmail__die() { echo "sendmail_lib.sh: $*" >&2; return 1; }

# sendmail__ready: Sendmail listens on every address of SENDMAIL_WANT
sendmail__ready() { netns__all_listening "$NETNS_SERVER" "${SENDMAIL_WANT[@]}"; }

# sendmail__syslog_ready SOCKET: the log reader has bound SOCKET
sendmail__syslog_ready() { [ -S "$1" ]; }

# sendmail__require: everything sendmail_start needs is there
sendmail__require()
{
    local p
    [ -n "$NETNS_PREFIX" ] || { sendmail__die "call netns_setup first"; return 1; }
    [ -x "$SENDMAIL_BIN" ] ||
        { sendmail__die "$SENDMAIL_BIN is missing (scripts/install-deps unpacks sendmail-bin there)"; return 1; }
    [ -f "$SENDMAIL_CF_M4" ] || { sendmail__die "$SENDMAIL_CF_M4 is missing (package sendmail-cf)"; return 1; }
    [ -f "$SENDMAIL_FRAGMENT" ] || { sendmail__die "the shipped recipe $SENDMAIL_FRAGMENT is missing"; return 1; }
    for p in m4 openssl saslpasswd2 perl; do
        command -v "$p" >/dev/null ||
            { sendmail__die "$p is not installed (scripts/install-deps: m4, openssl, sasl2-bin, perl)"; return 1; }
    done
    for p in libplain.so liblogin.so libsasldb.so; do
        compgen -G "/usr/lib/*/sasl2/$p" >/dev/null ||
            { sendmail__die "the SASL plugin $p is missing (libsasl2-modules, libsasl2-modules-db)"; return 1; }
    done
    [ -d /usr/lib/sasl2 ] || { sendmail__die "/usr/lib/sasl2 is missing (package libsasl2-2)"; return 1; }
    # A Sendmail.conf in the plugin directory would come before /usr/lib/sasl2 in libsasl2's
    # search path, where the private one is bound.
    if compgen -G '/usr/lib/*/sasl2/Sendmail.conf' >/dev/null; then
        sendmail__die "a system Sendmail.conf in a SASL plugin directory would override the test's"
        return 1
    fi
    grep -qw overlay /proc/filesystems ||
        { sendmail__die "the kernel has no overlay file system (needed for a private /dev/log)"; return 1; }
    if ! getent passwd nobody >/dev/null || ! getent group nogroup >/dev/null; then
        sendmail__die "user nobody or group nogroup is missing"
        return 1
    fi
}

# sendmail__files: write the private passwd/group, SASL, TLS and queue files into
# SENDMAIL_DIR
sendmail__files()
{
    local d=$SENDMAIL_DIR u uid gid
    mkdir -p "$d/etc" "$d/sasl" "$d/tls" "$SENDMAIL_QUEUE" "$d/dev-upper" "$d/dev-work" || return 1
    chmod 755 "$d" "$d/etc" "$d/sasl" && chmod 700 "$d/tls" "$SENDMAIL_QUEUE" || return 1

    # The local users the test mails to, by nobody's uid and group.
    uid=$(id -u nobody) gid=$(getent group nogroup | cut -d: -f3)
    cp /etc/passwd "$d/etc/passwd" && cp /etc/group "$d/etc/group" || return 1
    for u in alice bob; do
        getent passwd "$u" >/dev/null ||
            echo "$u:x:$uid:$gid:popauth test mailbox:/nonexistent:/usr/sbin/nologin" >>"$d/etc/passwd"
    done
    chmod 644 "$d/etc/passwd" "$d/etc/group"

    # Cyrus SASL: user alice, password "secret", in the realm Sendmail uses ($j).
    printf 'secret' | saslpasswd2 -f "$d/sasl/sasldb2" -u mx.local.test -c -p alice ||
        { sendmail__die "saslpasswd2 could not create $d/sasl/sasldb2"; return 1; }
    chmod 600 "$d/sasl/sasldb2"
    cat >"$d/sasl/Sendmail.conf" <<EOF || return 1
pwcheck_method: auxprop
auxprop_plugin: sasldb
sasldb_path: $d/sasl/sasldb2
mech_list: PLAIN LOGIN
EOF
    chmod 644 "$d/sasl/Sendmail.conf"

    # STARTTLS: a self-signed certificate, also the only CA.
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=mx.local.test \
        -keyout "$d/tls/key.pem" -out "$d/tls/cert.pem" >"$d/tls/openssl.out" 2>&1 ||
        { sendmail__die "openssl could not make a certificate: $(tail -n 3 "$d/tls/openssl.out")"; return 1; }
    chmod 600 "$d/tls/key.pem" && chmod 644 "$d/tls/cert.pem" || return 1

    # /dev/log in Sendmail's /dev: a symbolic link to the log reader's socket.
    ln -sfn "$d/syslog.sock" "$d/dev-upper/log" || return 1
}

# sendmail__mc ADDRS MC_LINE...: the test .mc (on stdout) for the addresses ADDRS (A[,A6])
sendmail__mc()
{
    local addrs=$1 a d=$SENDMAIL_DIR
    shift
    cat <<EOF
divert(-1)
# Private Sendmail for popauth's integration tests (written by
# tests/integration/sendmail_lib.sh). Nothing leaves the test's namespaces: no DNS, no
# ident, and accepted mail stays in the private queue.
divert(0)dnl
include(\`$SENDMAIL_CF_M4')dnl
VERSIONID(\`popauth integration test')dnl
OSTYPE(\`linux')dnl
define(\`confDOMAIN_NAME', \`mx.local.test')dnl
LOCAL_DOMAIN(\`local.test')dnl
FEATURE(\`nocanonify')dnl
FEATURE(\`accept_unresolvable_domains')dnl
FEATURE(\`no_default_msa')dnl
define(\`confSERVICE_SWITCH_FILE', \`$d/service.switch')dnl
define(\`confDONT_PROBE_INTERFACES', \`True')dnl
define(\`confBIND_OPTS', \`-DNSRCH -DEFNAMES')dnl
define(\`confTO_IDENT', \`0')dnl
define(\`confDELIVERY_MODE', \`queueonly')dnl
define(\`QUEUE_DIR', \`$SENDMAIL_QUEUE')dnl
define(\`confPID_FILE', \`$d/sendmail.pid')dnl
define(\`STATUS_FILE', \`$d/statistics')dnl
define(\`ALIAS_FILE', \`')dnl
define(\`confHELP_FILE', \`$SENDMAIL_ROOT/etc/mail/helpfile')dnl
define(\`confDEF_USER_ID', \`nobody:nogroup')dnl
define(\`confDONT_BLAME_SENDMAIL', \`TrustStickyBit')dnl
define(\`confQUEUE_LA', \`999')dnl
define(\`confREFUSE_LA', \`999')dnl
define(\`confLOG_LEVEL', \`12')dnl
define(\`confMILTER_LOG_LEVEL', \`14')dnl
define(\`confCACERT_PATH', \`$d/tls')dnl
define(\`confCACERT', \`$d/tls/cert.pem')dnl
define(\`confSERVER_CERT', \`$d/tls/cert.pem')dnl
define(\`confSERVER_KEY', \`$d/tls/key.pem')dnl
define(\`confTLS_SRV_OPTIONS', \`V')dnl
define(\`confAUTH_MECHANISMS', \`PLAIN LOGIN')dnl
TRUST_AUTH_MECH(\`PLAIN LOGIN')dnl
dnl AuthOptions without p: PLAIN and LOGIN are offered before STARTTLS too.
define(\`confAUTH_OPTIONS', \`A')dnl
EOF
    for a in ${addrs//,/ }; do
        case $a in
            *:*) printf "DAEMON_OPTIONS(\`Family=inet6, Name=MTA-v6, Port=smtp, Addr=%s')dnl\n" "$a" ;;
            *) printf "DAEMON_OPTIONS(\`Family=inet, Name=MTA-v4, Port=smtp, Addr=%s')dnl\n" "$a" ;;
        esac
    done
    printf 'dnl The shipped recipe, verbatim:\n'
    printf "include(\`%s')dnl\n" "$SENDMAIL_FRAGMENT"
    printf '%s\n' "$@"
    printf "MAILER(\`local')dnl\nMAILER(\`smtp')dnl\n"
}

sendmail_start()
{
    local work=$1 addrs=$2 a
    shift 2
    [ -z "$SENDMAIL_PID" ] || { sendmail__die "sendmail_start: a Sendmail is already running"; return 1; }
    sendmail__require || return 1
    work=$(cd "$work" && pwd) || { sendmail__die "sendmail_start: no directory $1"; return 1; }
    SENDMAIL_DIR=$work/sendmail
    SENDMAIL_CF=$SENDMAIL_DIR/sendmail.cf
    SENDMAIL_LOG=$SENDMAIL_DIR/maillog
    SENDMAIL_QUEUE=$SENDMAIL_DIR/mqueue
    SENDMAIL_WANT=()
    for a in ${addrs//,/ }; do
        case $a in
            *:*) SENDMAIL_WANT+=("[$a]:25") ;;
            *) SENDMAIL_WANT+=("$a:25") ;;
        esac
    done
    [ ${#SENDMAIL_WANT[@]} -gt 0 ] || { sendmail__die "sendmail_start: no server address"; return 1; }
    # The log reader's socket path must stay under 108 bytes.
    [ ${#SENDMAIL_DIR} -lt 80 ] || { sendmail__die "WORKDIR path too long for the log socket: $work"; return 1; }
    if [ ! -d "$SENDMAIL_DIR/etc" ]; then
        sendmail__files || { sendmail__die "could not write Sendmail's files into $SENDMAIL_DIR"; return 1; }
    fi
    printf 'hosts\tfiles\naliases\tfiles\n' >"$SENDMAIL_DIR/service.switch" || return 1

    # The configuration: the test's .mc through m4, as an admin's sendmailconfig would.
    sendmail__mc "$addrs" "$@" >"$SENDMAIL_DIR/test.mc" || return 1
    # m4's only message must be promiscuous_relay's warning (two lines) that Sendmail
    # alone would be an open relay: the filter is what refuses.
    if ! m4 "$SENDMAIL_DIR/test.mc" >"$SENDMAIL_CF" 2>"$SENDMAIL_DIR/m4.err" ||
        grep -v -e "^\*\*\* WARNING: FEATURE(\`promiscuous_relay') configures your system as open\$" \
            -e '^[[:space:]]*relay\.  Do NOT use it on a server that is connected to the Internet!$' \
            "$SENDMAIL_DIR/m4.err" | grep -q .; then
        sendmail__die "m4 could not build $SENDMAIL_CF from $SENDMAIL_DIR/test.mc: $(head -n 5 "$SENDMAIL_DIR/m4.err")"
        return 1
    fi
    chmod 644 "$SENDMAIL_CF"
    grep -q '^Xsmtpgate, S=inet:10041@127.0.0.1, F=T' "$SENDMAIL_CF" ||
        { sendmail__die "$SENDMAIL_CF has no smtpgate milter with F=T (is $SENDMAIL_FRAGMENT included?)"; return 1; }

    # The log reader: every datagram sent to the socket, as one line of SENDMAIL_LOG.
    : >>"$SENDMAIL_LOG"
    rm -f "$SENDMAIL_DIR/syslog.sock"
    # shellcheck disable=SC2016 # perl code
    netns_bg "$NETNS_SERVER" perl -MSocket -MIO::Socket::UNIX -MIO::Handle -e '
        my ($path, $file) = @ARGV;
        my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => $path)
            or die "cannot bind $path: $!\n";
        chmod 0666, $path;
        open(my $out, ">>", $file) or die "cannot open $file: $!\n";
        $out->autoflush(1);
        my $msg;
        while (defined $s->recv($msg, 65536)) {
            $msg =~ s/^<\d+>//;
            $msg =~ s/[\0\n]+\z//;
            print $out "$msg\n";
        }' "$SENDMAIL_DIR/syslog.sock" "$SENDMAIL_LOG" 2>"$SENDMAIL_DIR/syslog.err"
    SENDMAIL_SYSLOG_PID=$NETNS_LAST_PID
    if ! netns__wait "$SENDMAIL_SYSLOG_PID" sendmail__syslog_ready "$SENDMAIL_DIR/syslog.sock"; then
        sendmail__die "the log reader did not bind $SENDMAIL_DIR/syslog.sock: $(cat "$SENDMAIL_DIR/syslog.err")"
        return 1
    fi

    # Sendmail itself, in the mount namespace of its own ip netns exec: the private files
    # bound over the real ones, then exec'd, so that its PID is the one tracked.
    # shellcheck disable=SC2016 # expanded by the bash -c below, from its arguments
    local setup='set -e
        d=$1
        shift
        mount --bind "$d/etc/passwd" /etc/passwd
        mount --bind "$d/etc/group" /etc/group
        for s in /etc/sasl2 /etc/sasl /usr/lib/sasl2; do
            if [ -d "$s" ]; then mount --bind "$d/sasl" "$s"; fi
        done
        mount -t overlay overlay -o "lowerdir=/dev,upperdir=$d/dev-upper,workdir=$d/dev-work" /dev
        hostname mx.local.test
        exec "$@"'
    # -bD: the daemon, in the foreground; -C: the private configuration. Root keeps its
    # privileges with any -C file, so Sendmail binds port 25 and reads its key. Its own UTS
    # namespace (unshare --uts) gives it the host name mx.local.test: Sendmail, before it
    # reads its configuration, sleeps 60 s at start when the host name has no dot and
    # cannot be qualified (the machine's name may well be such a name).
    netns_bg "$NETNS_SERVER" unshare --uts bash -c "$setup" sendmail-start "$SENDMAIL_DIR" \
        "$SENDMAIL_BIN" -C "$SENDMAIL_CF" -bD >"$SENDMAIL_DIR/stderr" 2>&1
    SENDMAIL_PID=$NETNS_LAST_PID
    if ! netns__wait "$SENDMAIL_PID" sendmail__ready; then
        {
            if kill -0 "$SENDMAIL_PID" 2>/dev/null; then
                echo "sendmail_lib.sh: Sendmail does not listen on ${SENDMAIL_WANT[*]} after 10 s"
            else
                echo "sendmail_lib.sh: Sendmail exited at start (configuration $SENDMAIL_CF)"
            fi
            echo "--- tail of $SENDMAIL_LOG:"
            tail -n 20 "$SENDMAIL_LOG"
            echo "--- Sendmail's stderr:"
            tail -n 20 "$SENDMAIL_DIR/stderr"
        } >&2
        return 1
    fi
    return 0
}

sendmail_stop()
{
    if [ -n "$SENDMAIL_PID" ]; then
        netns_stop_pid "$SENDMAIL_PID" 10
        SENDMAIL_PID=
    fi
    if [ -n "$SENDMAIL_SYSLOG_PID" ]; then
        netns_stop_pid "$SENDMAIL_SYSLOG_PID" 5
        SENDMAIL_SYSLOG_PID=
    fi
    return 0
}

sendmail_wait_log()
{
    local pattern=$1 secs=${2:-10} i
    for ((i = 0; i < secs * 10; i++)); do
        grep -qE -- "$pattern" "$SENDMAIL_LOG" 2>/dev/null && return 0
        sleep 0.1
    done
    sendmail__die "no line matching '$pattern' in $SENDMAIL_LOG after ${secs}s"
}
