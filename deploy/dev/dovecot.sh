#!/usr/bin/env bash
# A private, unprivileged Dovecot IMAP server on 127.0.0.1 for the e-mail
# channel's integration tests.
#
#   deploy/dev/dovecot.sh start   install dovecot-imapd if missing, start (idempotent)
#   deploy/dev/dovecot.sh env     print: export TOUSU_TEST_IMAP=imap://user:pass@127.0.0.1:PORT/INBOX?tls=none
#                                        and TOUSU_TEST_IMAP_CUSTOMER, the customer's mailbox
#   deploy/dev/dovecot.sh stop    stop it (the mail stays until the directory is removed)
#
# Everything lives in $TOUSU_DOVECOT_DIR (default: $TMPDIR/tousu-dovecot),
# outside the repository: its own configuration, a passwd-file with two
# local users with random passwords (tousu, the complaints mailbox, and
# kehu, a customer's mailbox that deploy/dev/postfix.sh delivers the
# outbound tests' mail to), the Maildirs, logs and pid files. No
# system configuration is used or changed. The server listens on
# $TOUSU_DOVECOT_PORT (default 11143; the next free port if that one is
# taken by something else) and allows plain-text login, on loopback only.
# Run as root (as in CI), Dovecot itself runs as the unprivileged user
# "nobody".
set -euo pipefail

DIR="${TOUSU_DOVECOT_DIR:-${TMPDIR:-/tmp}/tousu-dovecot}"
PORT="${TOUSU_DOVECOT_PORT:-11143}"
MAIL_USER=tousu
CUSTOMER_USER=kehu

die() { echo "dovecot.sh: $*" >&2; exit 1; }
# shellcheck source=loopback.sh
. "$(dirname "${BASH_SOURCE[0]}")/loopback.sh"

install_dovecot() {
  command -v dovecot >/dev/null 2>&1 && return
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 ||
    die "dovecot is not installed; install Debian's dovecot-imapd (apt-get install dovecot-imapd)"
  echo "dovecot.sh: installing dovecot-imapd" >&2
  apt-get update -qq
  # The package's own service is not needed (and not started in containers).
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dovecot-imapd >/dev/null
}

# run_as runs a command as the user Dovecot runs as.
run_as() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u nobody -- "$@"
  else
    "$@"
  fi
}

running() {
  [ -f "$DIR/base/master.pid" ] && kill -0 "$(cat "$DIR/base/master.pid")" 2>/dev/null
}

write_config() {
  local uid gid user group
  if [ "$(id -u)" = 0 ]; then
    user=nobody
    uid=$(id -u nobody)
    gid=$(id -g nobody)
  else
    user=$(id -un)
    uid=$(id -u)
    gid=$(id -g)
  fi
  group=$(getent group "$gid" | cut -d: -f1)
  [ -n "$group" ] || group=$gid
  mkdir -p "$DIR/base" "$DIR/state" "$DIR/home/$MAIL_USER" "$DIR/home/$CUSTOMER_USER"
  local file
  for file in password "password-$CUSTOMER_USER"; do
    if [ ! -s "$DIR/$file" ]; then
      (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$DIR/$file")
    fi
  done
  {
    echo "$MAIL_USER:{PLAIN}$(cat "$DIR/password"):$uid:$gid::$DIR/home/$MAIL_USER"
    echo "$CUSTOMER_USER:{PLAIN}$(cat "$DIR/password-$CUSTOMER_USER"):$uid:$gid::$DIR/home/$CUSTOMER_USER"
  } >"$DIR/passwd"
  local version
  version=$(dovecot --version | cut -d. -f1,2)
  case "$version" in
  2.4 | 2.5)
    cat >"$DIR/dovecot.conf" <<EOF
dovecot_config_version = $(dovecot --version | cut -d' ' -f1)
dovecot_storage_version = $(dovecot --version | cut -d' ' -f1)
base_dir = $DIR/base
state_dir = $DIR/state
log_path = $DIR/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
auth_allow_cleartext = yes
auth_mechanisms = plain login
default_login_user = $user
default_internal_user = $user
default_internal_group = $group
passdb passwd-file {
  passwd_file_path = $DIR/passwd
}
userdb passwd-file {
  passwd_file_path = $DIR/passwd
}
mail_driver = maildir
mail_path = ~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    listen = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
    ;;
  *)
    cat >"$DIR/dovecot.conf" <<EOF
base_dir = $DIR/base
state_dir = $DIR/state
log_path = $DIR/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = $user
default_internal_user = $user
default_internal_group = $group
first_valid_uid = 1
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DIR/passwd
}
userdb {
  driver = passwd-file
  args = username_format=%u $DIR/passwd
}
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
service anvil {
  chroot =
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = $PORT
  }
  inet_listener imaps {
    port = 0
  }
}
EOF
    ;;
  esac
  echo "$PORT" >"$DIR/port"
  if [ "$(id -u)" = 0 ]; then
    chown -R nobody: "$DIR"
    chmod 755 "$DIR"
  fi
}

start() {
  install_dovecot
  mkdir -p "$DIR"
  if running; then
    echo "dovecot.sh: already running on port $(cat "$DIR/port") ($DIR)" >&2
    return
  fi
  PORT=$(free_port "$PORT")
  write_config
  start_daemon dovecot "$DIR/dovecot.log" run_as dovecot -c "$DIR/dovecot.conf"
  wait_listening dovecot "$PORT" "$DIR/dovecot.log"
}

stop() {
  if ! running; then
    echo "dovecot.sh: not running" >&2
    return
  fi
  local pid
  pid=$(cat "$DIR/base/master.pid")
  kill "$pid"
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { echo "dovecot.sh: stopped" >&2; return; }
    sleep 0.1
  done
  die "dovecot (pid $pid) did not stop"
}

env_line() {
  running || die "not running; run: $0 start"
  echo "export TOUSU_TEST_IMAP=imap://$MAIL_USER:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/INBOX?tls=none"
  echo "export TOUSU_TEST_IMAP_CUSTOMER=imap://$CUSTOMER_USER:$(cat "$DIR/password-$CUSTOMER_USER")@127.0.0.1:$(cat "$DIR/port")/INBOX?tls=none"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
env) env_line ;;
*) die "usage: $0 start|stop|env" ;;
esac
