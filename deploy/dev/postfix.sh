#!/usr/bin/env bash
# A private Postfix instance on 127.0.0.1 for the outbound e-mail tests: a
# real MTA that takes mail over SMTP and delivers it into the Dovecot test
# mailboxes (deploy/dev/dovecot.sh), where the tests read it over IMAP.
#
#   deploy/dev/postfix.sh start   install postfix if missing, start (idempotent; starts Dovecot first)
#   deploy/dev/postfix.sh env     print the exports below
#   deploy/dev/postfix.sh stop    stop it (queued mail stays until the directory is removed)
#
#   TOUSU_TEST_SMTP=smtp://127.0.0.1:PORT?tls=none   the SMTP server (no AUTH, no TLS: loopback only)
#   TOUSU_TEST_SMTP_CUSTOMER=kehu@customer.test      delivered to Dovecot's "kehu" (TOUSU_TEST_IMAP_CUSTOMER)
#   TOUSU_TEST_SMTP_SUPPORT=support@tousu.test       delivered to Dovecot's "tousu" (TOUSU_TEST_IMAP)
#
# support+e2e@tousu.test is delivered to the folder "e2e" of "tousu", not
# to its INBOX: the outbound end-to-end test's own folder, which it empties
# first, so that it reads only its own mail (servertest.MTA.TestFolder).
#
# Any other address of the two test domains is refused at RCPT TO (550
# 5.1.1 unknown user); other domains are refused as relaying (554 5.7.1),
# so nothing leaves the machine. Everything lives in $TOUSU_POSTFIX_DIR
# (default: $TMPDIR/tousu-postfix): its own main.cf and master.cf, queue,
# data directory and log ($TOUSU_POSTFIX_DIR/postfix.log). No system
# configuration is used or changed. It listens on $TOUSU_POSTFIX_PORT
# (default 10025; the next free port if that one is taken). Delivery is
# Postfix's virtual(8) agent writing the Maildirs as the user Dovecot runs
# as ("nobody" under root), so no LMTP service is needed. Postfix's master
# must start as root (as in CI): without root, start fails with a message.
set -euo pipefail

DIR="${TOUSU_POSTFIX_DIR:-${TMPDIR:-/tmp}/tousu-postfix}"
PORT="${TOUSU_POSTFIX_PORT:-10025}"
DOVECOT_DIR="${TOUSU_DOVECOT_DIR:-${TMPDIR:-/tmp}/tousu-dovecot}"
HERE="$(cd "$(dirname "$0")" && pwd)"
CUSTOMER=kehu@customer.test
SUPPORT=support@tousu.test

die() { echo "postfix.sh: $*" >&2; exit 1; }
# shellcheck source=loopback.sh
. "$(dirname "${BASH_SOURCE[0]}")/loopback.sh"

install_postfix() {
  [ -x /usr/sbin/postfix ] && return
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
    die "postfix is not installed; install Debian's postfix (apt-get install postfix)"
  echo "postfix.sh: installing postfix" >&2
  # "No configuration": the package writes no /etc/postfix/main.cf and
  # starts no system instance.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix >/dev/null
}

running() {
  [ -f "$DIR/conf/main.cf" ] && /usr/sbin/postfix -c "$DIR/conf" status >/dev/null 2>&1
}

write_config() {
  local uid gid
  uid=$(stat -c %u "$DOVECOT_DIR/home")
  gid=$(stat -c %g "$DOVECOT_DIR/home")
  mkdir -p "$DIR/conf" "$DIR/queue" "$DIR/data"
  cat >"$DIR/conf/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $DIR/queue
data_directory = $DIR/data
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = $DIR/postfix.log
maillog_file_prefixes = $DIR
myhostname = mx.tousu.test
mydomain = tousu.test
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
relay_domains =
alias_maps =
alias_database =
local_transport = error:5.1.1 no local delivery
default_transport = error:5.7.1 this test server delivers only to its test domains
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_banner = \$myhostname ESMTP tousu test MTA
smtputf8_enable = yes
biff = no
virtual_mailbox_domains = tousu.test customer.test
virtual_mailbox_base = $DOVECOT_DIR/home
virtual_mailbox_maps = texthash:$DIR/conf/mailboxes
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
virtual_minimum_uid = 1
EOF
  # The Maildirs of the Dovecot users (the trailing slash means Maildir).
  cat >"$DIR/conf/mailboxes" <<EOF
$SUPPORT tousu/Maildir/
${SUPPORT%@*}+e2e@${SUPPORT#*@} tousu/Maildir/.e2e/
$CUSTOMER kehu/Maildir/
EOF
  cat >"$DIR/conf/master.cf" <<EOF
127.0.0.1:$PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
  echo "$PORT" >"$DIR/port"
}

start() {
  [ "$(id -u)" = 0 ] || die "Postfix's master must be started as root"
  install_postfix
  # Postfix delivers into Dovecot's mailboxes: Dovecot (with the customer's
  # mailbox) comes first.
  "$HERE/dovecot.sh" start
  mkdir -p "$DIR"
  if running; then
    echo "postfix.sh: already running on port $(cat "$DIR/port") ($DIR)" >&2
    return
  fi
  PORT=$(free_port "$PORT")
  write_config
  /usr/sbin/postfix -c "$DIR/conf" set-permissions >>"$DIR/postfix.start.log" 2>&1 || true
  start_daemon postfix "$DIR/postfix.log" /usr/sbin/postfix -c "$DIR/conf" start
  wait_listening postfix "$PORT" "$DIR/postfix.log"
}

stop() {
  if ! running; then
    echo "postfix.sh: not running" >&2
    return
  fi
  /usr/sbin/postfix -c "$DIR/conf" stop >/dev/null 2>&1 || die "postfix did not stop"
  echo "postfix.sh: stopped" >&2
}

env_line() {
  running || die "not running; run: $0 start"
  echo "export TOUSU_TEST_SMTP='smtp://127.0.0.1:$(cat "$DIR/port")?tls=none'"
  echo "export TOUSU_TEST_SMTP_CUSTOMER=$CUSTOMER"
  echo "export TOUSU_TEST_SMTP_SUPPORT=$SUPPORT"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) env_line ;;
*) die "usage: $0 start|stop|env" ;;
esac
