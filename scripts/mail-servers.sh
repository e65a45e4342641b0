#!/usr/bin/env bash
# Real mail servers on loopback for the email tests: Postfix (SMTP) delivering to Maildirs, and
# Dovecot (IMAP, with IDLE) serving them. Installs Debian's postfix and dovecot-imapd when they
# are missing (as root, with apt-get), writes their state under $SHOPKEEP_MAIL_DIR and starts
# them as instances of their own, leaving any system Postfix or Dovecot alone. Idempotent.
#   scripts/mail-servers.sh start|stop|status
# Ports: SHOPKEEP_TEST_SMTP (default 2525) and SHOPKEEP_TEST_IMAP (default 1143), which the
# tests read too. Mailboxes and passwords: tests/mail/vmailbox and tests/mail/users.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${SHOPKEEP_MAIL_DIR:-/tmp/shopkeep-mail}"
SMTP_PORT="${SHOPKEEP_TEST_SMTP:-2525}"
IMAP_PORT="${SHOPKEEP_TEST_IMAP:-1143}"
# The mail owner of the Maildirs (no account needed: both servers take a number).
MAIL_UID=5000

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

install() {
  if [ -x /usr/sbin/postfix ] && [ -x /usr/sbin/dovecot ]; then return; fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "error: postfix and dovecot-imapd are missing; install them (apt-get install postfix dovecot-imapd) or run this as root" >&2
      exit 1
    fi
  fi
  echo "installing postfix and dovecot-imapd for the email tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  # No system mail configuration: this script runs its own instances.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq postfix dovecot-imapd >/dev/null
}

fill() { sed -e "s|@DIR@|$DIR|g" -e "s|@UID@|$MAIL_UID|g" -e "s|@SMTP_PORT@|$SMTP_PORT|g" -e "s|@IMAP_PORT@|$IMAP_PORT|g" "$1" > "$2"; }

start() {
  if listening "$SMTP_PORT" && listening "$IMAP_PORT"; then
    echo "mail servers already running: SMTP 127.0.0.1:$SMTP_PORT, IMAP 127.0.0.1:$IMAP_PORT" >&2
    return
  fi
  install
  mkdir -p "$DIR/postfix/spool" "$DIR/postfix/data" "$DIR/dovecot/run" "$DIR/dovecot/state" "$DIR/mail"
  chmod 755 "$DIR"
  chown "$MAIL_UID:$MAIL_UID" "$DIR/mail"
  chown postfix "$DIR/postfix/data"
  for f in main.cf master.cf; do fill "tests/mail/$f" "$DIR/postfix/$f"; done
  fill tests/mail/dovecot.conf "$DIR/dovecot.conf"
  cp tests/mail/vmailbox tests/mail/users "$DIR/"
  chmod 644 "$DIR/users"
  if ! listening "$SMTP_PORT"; then
    postfix -c "$DIR/postfix" stop >/dev/null 2>&1 || true
    postfix -c "$DIR/postfix" start
  fi
  if ! listening "$IMAP_PORT"; then
    dovecot -c "$DIR/dovecot.conf" stop >/dev/null 2>&1 || true
    dovecot -c "$DIR/dovecot.conf"
  fi
  for _ in $(seq 50); do
    if listening "$SMTP_PORT" && listening "$IMAP_PORT"; then
      echo "mail servers running: SMTP 127.0.0.1:$SMTP_PORT, IMAP 127.0.0.1:$IMAP_PORT (state in $DIR)" >&2
      return
    fi
    sleep 0.2
  done
  echo "error: the mail servers did not start; see $DIR/postfix.log and $DIR/dovecot.log" >&2
  exit 1
}

stop() {
  [ -f "$DIR/postfix/main.cf" ] && postfix -c "$DIR/postfix" stop || true
  [ -f "$DIR/dovecot.conf" ] && dovecot -c "$DIR/dovecot.conf" stop || true
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) listening "$SMTP_PORT" && listening "$IMAP_PORT" && echo running || { echo stopped; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
