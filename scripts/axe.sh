#!/usr/bin/env bash
# axe-core (from npm) for the accessibility checks in the browser tests (tests/widget.rs,
# tests/desk.rs): they inject its axe.min.js into the pages they drive.
#
#   scripts/axe.sh install   npm ci into the cache (once per lock file); prints the script's path
#   scripts/axe.sh path      the path of axe.min.js the tests read (installed or not)
#
# The install lives OUTSIDE the clone, in $SHOPKEEP_AXE_CACHE (default
# ~/.cache/shopkeep-axe/<hash of contrib/axe/package-lock.json>), shared by every clone and redone
# only when the committed lock file changes. The tests compute the same path (or read
# $SHOPKEEP_AXE, a path to axe.min.js) and fail, naming this script, when it is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONTRIB="$ROOT/contrib/axe"
LOCK_HASH="$(sha256sum "$CONTRIB/package-lock.json" | cut -c1-16)"
DIR="${SHOPKEEP_AXE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shopkeep-axe}/$LOCK_HASH"
SCRIPT="$DIR/node_modules/axe-core/axe.min.js"

log() { printf '[axe.sh] %s\n' "$*" >&2; }

install() {
  if [ -f "$DIR/.installed" ] && [ -f "$SCRIPT" ]; then
    log "axe-core: cached in $DIR"
  else
    command -v npm >/dev/null || { log "npm is not installed (apt-get install npm)"; exit 1; }
    log "npm ci into $DIR"
    rm -rf "$DIR.partial" && mkdir -p "$DIR.partial"
    cp "$CONTRIB/package.json" "$CONTRIB/package-lock.json" "$DIR.partial/"
    (cd "$DIR.partial" && npm ci --no-audit --no-fund --ignore-scripts --loglevel=error)
    rm -rf "$DIR" && mv "$DIR.partial" "$DIR"
    touch "$DIR/.installed"
  fi
  echo "$SCRIPT"
}

case "${1:-install}" in
  install) install ;;
  path) echo "$SCRIPT" ;;
  *) echo "usage: $0 install|path" >&2; exit 2 ;;
esac
