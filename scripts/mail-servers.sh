#!/usr/bin/env bash
# Real mail servers on loopback for the email tests: Postfix (SMTP) delivering to Maildirs, and
# Dovecot (IMAP, with IDLE) serving them, each plain with STARTTLS and with TLS from the first
# byte, on a certificate from a test CA made here ($SHOPKEEP_MAIL_DIR/tls/ca.pem). Installs Debian's postfix and dovecot-imapd when they
# are missing (as root, with apt-get), writes their state under $SHOPKEEP_MAIL_DIR and starts
# them as instances of their own, leaving any system Postfix or Dovecot alone. Idempotent.
#   scripts/mail-servers.sh start|stop|status
# Ports: SHOPKEEP_TEST_SMTP (default 2525, STARTTLS offered), SHOPKEEP_TEST_SMTPS (4465, TLS),
# SHOPKEEP_TEST_IMAP (1143, STARTTLS offered) and SHOPKEEP_TEST_IMAPS (1993, TLS), which the
# tests read too. Mailboxes and passwords: tests/mail/vmailbox and tests/mail/users.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${SHOPKEEP_MAIL_DIR:-/tmp/shopkeep-mail}"
SMTP_PORT="${SHOPKEEP_TEST_SMTP:-2525}"
IMAP_PORT="${SHOPKEEP_TEST_IMAP:-1143}"
SMTPS_PORT="${SHOPKEEP_TEST_SMTPS:-4465}"
IMAPS_PORT="${SHOPKEEP_TEST_IMAPS:-1993}"
PORTS="$SMTP_PORT $IMAP_PORT $SMTPS_PORT $IMAPS_PORT"
# The mail owner of the Maildirs (no account needed: both servers take a number).
MAIL_UID=5000

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
all_listening() { for p in $PORTS; do listening "$p" || return 1; done; }
all_listening_none() { for p in $PORTS; do ! listening "$p" || return 1; done; }

install() {
  if [ -x /usr/sbin/postfix ] && [ -x /usr/sbin/dovecot ] && command -v openssl >/dev/null; then return; fi
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; else
      echo "error: postfix and dovecot-imapd are missing; install them (apt-get install postfix dovecot-imapd) or run this as root" >&2
      exit 1
    fi
  fi
  echo "installing postfix, dovecot-imapd and openssl for the email tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  # No system mail configuration: this script runs its own instances.
  echo "postfix postfix/main_mailer_type select No configuration" | $sudo debconf-set-selections
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq postfix dovecot-imapd openssl >/dev/null
}

fill() {
  sed -e "s|@DIR@|$DIR|g" -e "s|@UID@|$MAIL_UID|g" -e "s|@SMTP_PORT@|$SMTP_PORT|g" -e "s|@IMAP_PORT@|$IMAP_PORT|g" \
      -e "s|@SMTPS_PORT@|$SMTPS_PORT|g" -e "s|@IMAPS_PORT@|$IMAPS_PORT|g" "$1" > "$2"
}

# A test CA and a server certificate for localhost and 127.0.0.1 signed by it (kept once made).
certificates() {
  local t="$DIR/tls"
  if [ -s "$t/ca.pem" ] && [ -s "$t/server.pem" ] && [ -s "$t/server.key" ]; then return; fi
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=shopkeep test mail CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' > "$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -days 3650 \
    -extfile "$t/server.ext" -out "$t/server.pem" 2>/dev/null
  chmod 644 "$t/ca.pem" "$t/server.pem"
  chmod 600 "$t/ca.key" "$t/server.key"
}

start() {
  if all_listening; then
    echo "mail servers already running: SMTP 127.0.0.1:$SMTP_PORT (TLS $SMTPS_PORT), IMAP 127.0.0.1:$IMAP_PORT (TLS $IMAPS_PORT)" >&2
    return
  fi
  install
  # Some of the ports are missing (an older instance without TLS, say): start both afresh.
  stop >/dev/null 2>&1 || true
  mkdir -p "$DIR/postfix/spool" "$DIR/postfix/data" "$DIR/dovecot/run" "$DIR/dovecot/state" "$DIR/mail"
  chmod 755 "$DIR"
  chown "$MAIL_UID:$MAIL_UID" "$DIR/mail"
  chown postfix "$DIR/postfix/data"
  certificates
  for f in main.cf master.cf; do fill "tests/mail/$f" "$DIR/postfix/$f"; done
  fill tests/mail/dovecot.conf "$DIR/dovecot.conf"
  cp tests/mail/vmailbox tests/mail/users "$DIR/"
  chmod 644 "$DIR/users"
  for _ in $(seq 25); do all_listening_none && break; sleep 0.2; done
  postfix -c "$DIR/postfix" start
  dovecot -c "$DIR/dovecot.conf"
  for _ in $(seq 50); do
    if all_listening; then
      echo "mail servers running: SMTP 127.0.0.1:$SMTP_PORT (TLS $SMTPS_PORT), IMAP 127.0.0.1:$IMAP_PORT (TLS $IMAPS_PORT); test CA $DIR/tls/ca.pem" >&2
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
  status) all_listening && echo running || { echo stopped; exit 1; } ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
