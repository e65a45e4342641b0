#!/usr/bin/env bash
# Train the product answer selector (logistic regression over passage features) and write
# models/answer-select.json.
#
#   scripts/train-answer-select.sh [extra flags for `shopkeep train answer-select`, e.g. --l2 0.003]
#
# Uses the training part of ../shared/eval/product-qa/dev.jsonl (cases with fnv1a64(qid) % 5 != 0;
# override the path with SHOPKEEP_PRODUCT_QA_DATA); the held-out part is never read for training.
# Deterministic: same inputs, same file.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/fetch-models.sh"

data="${SHOPKEEP_PRODUCT_QA_DATA:-../shared/eval/product-qa/dev.jsonl}"
if [ ! -f "$data" ]; then
  echo "error: $data not found; the selector is trained on the product-qa development set" >&2
  exit 1
fi

cargo build --release --quiet
cargo run --release --quiet -- train answer-select --data "$data" --out models/answer-select.json "$@"
