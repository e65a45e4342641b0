#!/usr/bin/env bash
# Sets up and starts the service on its embedded defaults: fetches and verifies the model, builds
# the release binary, and runs `shopkeep serve` (SQLite database and index in the data dir, the
# demo store seeded (`serve --demo`) and the bundled kb/ indexed on first start).
#   scripts/run.sh [serve flags, e.g. --port 8080 --data-dir data]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh
exec cargo run --release --locked -- serve --demo "$@"
