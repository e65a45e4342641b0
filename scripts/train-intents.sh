#!/usr/bin/env bash
# Train the intent head (softmax over MiniLM embeddings) and write models/intent-head.json.
#
#   scripts/train-intents.sh [extra flags for `shopkeep train intents`, e.g. --l2 0.0003]
#
# Uses the training part of ../shared/eval/intents/dev.jsonl (lines with fnv1a64(text) % 5 != 0;
# override the path with SHOPKEEP_INTENT_DATA) plus models/intent-examples.jsonl. Without the
# development set it trains on the examples alone. Deterministic: same inputs, same file.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/fetch-models.sh"

data="${SHOPKEEP_INTENT_DATA:-../shared/eval/intents/dev.jsonl}"
args=(train intents --examples models/intent-examples.jsonl --out models/intent-head.json)
if [ -f "$data" ]; then
  args+=(--data "$data")
else
  echo "warning: $data not found; training on models/intent-examples.jsonl alone" >&2
fi

cargo build --release --quiet
cargo run --release --quiet -- "${args[@]}" "$@"
