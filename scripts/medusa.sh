#!/usr/bin/env bash
# A real Medusa 2.x server on loopback for shopkeep's end-to-end test (tests/medusa.rs).
#
#   scripts/medusa.sh start    install (cached), fresh PostgreSQL, migrate, start, seed
#   scripts/medusa.sh stop     stop the server and the database (state is kept until next start)
#   scripts/medusa.sh status   whether it is up, and where
#   scripts/medusa.sh install  only the npm install (cached)
#
# The npm install lives OUTSIDE the clone, in $SHOPKEEP_MEDUSA_CACHE (default
# ~/.cache/shopkeep-medusa/<hash of contrib/medusa/package-lock.json>), so it is shared by every
# clone and redone only when the committed lock file changes. Runtime state (the database, logs,
# the seed's output) is in $SHOPKEEP_MEDUSA_STATE (default /tmp/shopkeep-medusa), wiped by each
# start so every run begins from the same seeded store. Everything listens on 127.0.0.1 only:
# PostgreSQL on $SHOPKEEP_MEDUSA_PG_PORT (55432), Medusa on $SHOPKEEP_MEDUSA_PORT (59000).
#
# The test reads $SHOPKEEP_MEDUSA_STATE/seed.json (URL, secret API key, seeded ids); without it,
# or with the server down, tests/medusa.rs skips with a message saying to run this script.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONTRIB="$ROOT/contrib/medusa"
STATE="${SHOPKEEP_MEDUSA_STATE:-/tmp/shopkeep-medusa}"
PG_PORT="${SHOPKEEP_MEDUSA_PG_PORT:-55432}"
PORT="${SHOPKEEP_MEDUSA_PORT:-59000}"
LOCK_HASH="$(sha256sum "$CONTRIB/package-lock.json" | cut -c1-16)"
APP="${SHOPKEEP_MEDUSA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shopkeep-medusa}/$LOCK_HASH"
DB_URL="postgres://postgres@127.0.0.1:$PG_PORT/medusa"
ADMIN_EMAIL="admin@shopkeep.test"
ADMIN_PASSWORD="shopkeep-e2e-admin"

log() { printf '[medusa.sh] %s\n' "$*" >&2; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }

need_node() {
  command -v node >/dev/null || { log "node is not installed (Medusa 2.x needs Node 20 or newer)"; exit 1; }
  local major; major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || { log "node $(node --version) is too old: Medusa 2.x needs Node 20 or newer"; exit 1; }
}

pg_bin() {
  local name="$1"
  if command -v "$name" >/dev/null; then command -v "$name"; return; fi
  local found; found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$found" ] && [ -x "$found/$name" ] || { log "PostgreSQL's $name was not found (apt-get install postgresql)"; exit 1; }
  echo "$found/$name"
}

# PostgreSQL refuses to run as root: as root, its commands run as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi
}

install() {
  need_node
  if [ -f "$APP/.installed" ]; then
    log "npm install: cached in $APP"
    return
  fi
  local t; t="$(now)"
  log "npm install into $APP (first run for this lock file: a couple of minutes, ~700 MB)"
  rm -rf "$APP.partial" && mkdir -p "$APP.partial"
  cp "$CONTRIB/package.json" "$CONTRIB/package-lock.json" "$APP.partial/"
  (cd "$APP.partial" && npm ci --no-audit --no-fund --loglevel=error)
  rm -rf "$APP" && mv "$APP.partial" "$APP"
  touch "$APP/.installed"
  echo "install $(since "$t")s" >>"$STATE/timings.txt"
  log "npm install done in $(since "$t")s"
}

up() {
  curl -fsS -m 2 "http://127.0.0.1:$PORT/health" >/dev/null 2>&1
}

stop() {
  if [ -f "$STATE/medusa.pid" ]; then
    local pid; pid="$(cat "$STATE/medusa.pid")"
    if kill -0 "$pid" 2>/dev/null; then
      log "stopping Medusa (pid $pid)"
      kill -- "-$pid" 2>/dev/null || kill "$pid" || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -0 "$pid" 2>/dev/null && { kill -9 -- "-$pid" 2>/dev/null || kill -9 "$pid"; } || true
    fi
    rm -f "$STATE/medusa.pid"
  fi
  if [ -f "$STATE/pg/data/postmaster.pid" ]; then
    log "stopping PostgreSQL"
    as_pg "$(pg_bin pg_ctl) -D '$STATE/pg/data' -m fast -w stop" >/dev/null || true
  fi
}

start() {
  local t0; t0="$(now)"
  stop
  rm -rf "$STATE" && mkdir -p "$STATE/pg" && chmod 755 "$STATE"
  install

  local t; t="$(now)"
  [ "$(id -u)" = 0 ] && chown postgres "$STATE/pg"
  as_pg "$(pg_bin initdb) -D '$STATE/pg/data' -U postgres --auth=trust -E UTF8 >'$STATE/pg/initdb.log' 2>&1"
  as_pg "$(pg_bin pg_ctl) -D '$STATE/pg/data' -l '$STATE/pg/postgres.log' -w -o \"-p $PG_PORT -k '$STATE/pg' -c listen_addresses=127.0.0.1\" start" >/dev/null
  "$(pg_bin psql)" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c 'create database medusa'
  echo "postgres $(since "$t")s" >>"$STATE/timings.txt"

  cp "$CONTRIB/medusa-config.js" "$APP/"
  rm -rf "$APP/src" && cp -r "$CONTRIB/src" "$APP/src"
  export DATABASE_URL="$DB_URL" NODE_ENV=development MEDUSA_DISABLE_TELEMETRY=true
  t="$(now)"
  log "medusa db:migrate"
  (cd "$APP" && ./node_modules/.bin/medusa db:migrate >"$STATE/migrate.log" 2>&1) || { log "migration failed: see $STATE/migrate.log"; tail -20 "$STATE/migrate.log" >&2; exit 1; }
  # Order numbers start at 1001, as a store's usually do (see contrib/medusa/seed.mjs).
  "$(pg_bin psql)" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres medusa -c "select setval('order_display_id_seq', 1000, true)" >/dev/null
  (cd "$APP" && ./node_modules/.bin/medusa user -e "$ADMIN_EMAIL" -p "$ADMIN_PASSWORD" >"$STATE/user.log" 2>&1) || { log "creating the admin user failed: see $STATE/user.log"; exit 1; }
  echo "migrate $(since "$t")s" >>"$STATE/timings.txt"

  if up; then
    log "something else already answers on 127.0.0.1:$PORT (a Medusa this script did not start?): stop it first"
    exit 1
  fi
  t="$(now)"
  log "starting Medusa on 127.0.0.1:$PORT"
  # Its own session (setsid), so stop ends the server and anything it started, by its id.
  cd "$APP"
  setsid nohup ./node_modules/.bin/medusa start -H 127.0.0.1 -p "$PORT" >"$STATE/medusa.log" 2>&1 &
  echo $! >"$STATE/medusa.pid"
  cd "$ROOT"
  for _ in $(seq 1 120); do
    up && break
    kill -0 "$(cat "$STATE/medusa.pid")" 2>/dev/null || { log "Medusa exited: see $STATE/medusa.log"; tail -20 "$STATE/medusa.log" >&2; exit 1; }
    sleep 0.5
  done
  up || { log "Medusa did not answer /health within a minute: see $STATE/medusa.log"; exit 1; }
  echo "start $(since "$t")s" >>"$STATE/timings.txt"

  t="$(now)"
  MEDUSA_ADMIN_EMAIL="$ADMIN_EMAIL" MEDUSA_ADMIN_PASSWORD="$ADMIN_PASSWORD" node "$CONTRIB/seed.mjs" "http://127.0.0.1:$PORT" "$STATE/seed.json"
  echo "seed $(since "$t")s" >>"$STATE/timings.txt"
  echo "total $(since "$t0")s" >>"$STATE/timings.txt"
  log "ready in $(since "$t0")s: $(tr '\n' ' ' <"$STATE/timings.txt")"
}

status() {
  if up && [ -f "$STATE/seed.json" ]; then
    echo "Medusa is up on http://127.0.0.1:$PORT (seeded: $STATE/seed.json; app in $APP)"
  else
    echo "Medusa is not up (run scripts/medusa.sh start)"
    return 1
  fi
}

mkdir -p "$STATE"
case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  install) install ;;
  *) echo "usage: $0 start|stop|status|install" >&2; exit 2 ;;
esac
