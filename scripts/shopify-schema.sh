#!/usr/bin/env bash
# Shopify's published Admin GraphQL schema, for tests/shopify.rs (shopkeep cannot reach a live
# shop from here, so every GraphQL document the connector can send is validated against it).
#
#   scripts/shopify-schema.sh          install (cached) and print the schema file's path
#
# The npm package @shopify/dev-mcp ships the introspection result of each Admin API version as
# dist/data/admin_<version>.json.gz. It is installed with the committed
# contrib/shopify/package-lock.json OUTSIDE the clone, in $SHOPKEEP_SHOPIFY_CACHE (default
# ~/.cache/shopkeep-shopify/<hash of the lock file>), once per lock file, without running any
# package's install scripts (only the data file is read). The test finds it through
# $SHOPKEEP_SHOPIFY_SCHEMA, or in that default cache folder; without it the schema test skips
# with a message naming this script.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CONTRIB="$ROOT/contrib/shopify"
VERSION="${SHOPKEEP_SHOPIFY_API_VERSION:-2026-10}"
LOCK_HASH="$(sha256sum "$CONTRIB/package-lock.json" | cut -c1-16)"
APP="${SHOPKEEP_SHOPIFY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shopkeep-shopify}/$LOCK_HASH"
SCHEMA="$APP/node_modules/@shopify/dev-mcp/dist/data/admin_$VERSION.json.gz"

log() { printf '[shopify-schema.sh] %s\n' "$*" >&2; }

command -v npm >/dev/null || { log "npm is not installed (apt-get install npm)"; exit 1; }
if [ ! -f "$APP/.installed" ]; then
  log "npm install of @shopify/dev-mcp into $APP (first run for this lock file)"
  start=$(date +%s)
  rm -rf "$APP.partial" && mkdir -p "$APP.partial"
  cp "$CONTRIB/package.json" "$CONTRIB/package-lock.json" "$APP.partial/"
  (cd "$APP.partial" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  rm -rf "$APP" && mv "$APP.partial" "$APP"
  touch "$APP/.installed"
  log "npm install done in $(( $(date +%s) - start ))s"
fi
[ -f "$SCHEMA" ] || { log "$SCHEMA is missing: this @shopify/dev-mcp does not ship Admin API $VERSION"; exit 1; }
echo "$SCHEMA"
