#!/usr/bin/env bash
# Runs every test: fetches (and verifies) the model first, then the whole suite.
#   scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh
cargo test --locked "$@"
