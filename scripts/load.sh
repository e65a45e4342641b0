#!/usr/bin/env bash
# Answers per second under load, with wrk (Debian package), against a release `serve` on the
# demo store and the bundled KB: the KB and order mixes at 16 and 64 clients, each run DURATION
# seconds after a warm-up. Several binaries side by side (before/after) run in turn on the same
# machine, each on a fresh copy of one data dir (prepared by the first binary: list the oldest
# first, since a newer binary migrates an older database but not the reverse).
#
#   scripts/load.sh [BINARY ...]        (default target/release/shopkeep)
#   DURATION=15 CLIENTS="16 64" MIXES="kb order" scripts/load.sh old/shopkeep target/release/shopkeep
#
# The server gets the machine's cores; wrk runs with one thread, so it takes a share too (on
# 2 cores the figures are lower bounds for a server with a separate load generator).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
[ -f models/all-minilm-l6-v2/tokenizer.json ] || scripts/fetch-models.sh
bins=("$@"); [ ${#bins[@]} -gt 0 ] || bins=(target/release/shopkeep)
duration="${DURATION:-15}"; port="${PORT:-18931}"
work=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
serve() { # bin data-dir
    # Older binaries seed the demo store on an empty data dir without being asked.
    local demo=(); "$1" serve --help 2>/dev/null | grep -q -- '--demo' && demo=(--demo)
    SHOPKEEP_DATA_DIR="$2" SHOPKEEP_PORT="$port" RUST_LOG=warn \
        "$1" serve "${demo[@]}" >"$work/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.2; done
    cat "$work/server.log"; exit 1
}
for bin in "${bins[@]}"; do [ -x "$bin" ] || { echo "load: no binary at $bin" >&2; exit 1; }; done
# The demo store and the index, built once.
serve "${bins[0]}" "$work/template"
kill "$pid"; wait "$pid" 2>/dev/null || true
for bin in "${bins[@]}"; do
    rm -rf "$work/data"; cp -a "$work/template" "$work/data"
    serve "$bin" "$work/data"
    MIX=kb wrk -t1 -c4 -d3s -s scripts/load/answer.lua "http://127.0.0.1:$port" >/dev/null
    for mix in ${MIXES:-kb order}; do
        for c in ${CLIENTS:-16 64}; do
            line=$(MIX=$mix wrk -t1 -c"$c" -d"${duration}s" --timeout 10s -s scripts/load/answer.lua \
                "http://127.0.0.1:$port" | grep '^RESULT')
            echo "$bin clients=$c ${line#RESULT }"
        done
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
