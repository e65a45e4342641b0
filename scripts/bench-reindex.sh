#!/usr/bin/env bash
# Reindex throughput on a 10k-passage knowledge base, against ONNX Runtime's passage rate in the
# same run, then the serving process's resident memory with that index loaded.
#
#   [ROUNDS=1] [VARIANTS=20] scripts/bench-reindex.sh [SHOPKEEP_BINARY]
#
# The KB is generated in a temporary directory (never in the project) from
# ../shared/bench/passages.txt: 20 variants of each of its 500 support replies, one short
# Markdown document per passage. ORT embeds the same 10,000 passage texts at batch 32.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/release/shopkeep}")"
bench=../shared/bench
tok=models/all-minilm-l6-v2/tokenizer.json
[ -d "$bench" ] || { echo "bench-reindex: $bench is absent; nothing to compare" >&2; exit 1; }
[ -x "$bin" ] || { echo "bench-reindex: no binary at $bin (cargo build --release)" >&2; exit 1; }
python3 -c 'import onnxruntime, tokenizers, numpy' 2>/dev/null || python3 -m pip install -q onnxruntime tokenizers numpy

work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/kb" "$work/data"
python3 - "$bench/passages.txt" "$work" "${VARIANTS:-20}" <<'EOF'
import sys, pathlib
lines = [l.strip() for l in open(sys.argv[1]) if l.strip()]
kb, texts = pathlib.Path(sys.argv[2]) / "kb", []
for v in range(int(sys.argv[3])):
    for i, line in enumerate(lines):
        text = f"{line} (Reference {v}-{i}.)"
        # What shopkeep embeds for this passage (kb::chunk's embedding text: "title: text"), so
        # both sides embed the same strings.
        texts.append(f"Support note {v}-{i}: {text}")
        (kb / f"p{v:02d}-{i:03d}.md").write_text(f"---\ntitle: Support note {v}-{i}\n---\n\n{text}\n")
(pathlib.Path(sys.argv[2]) / "texts.txt").write_text("\n".join(texts) + "\n")
EOF
# On a busy machine, ROUNDS=3 alternates the sides three times so both meet the same load.
for round in $(seq 1 "${ROUNDS:-1}"); do
    echo "round $round: ORT, the same $(wc -l <"$work/texts.txt") passage texts:"
    python3 "$bench/ort_baseline.py" "$tok" "$work/texts.txt" 32
    echo "round $round: shopkeep reindex (from scratch):"
    rm -rf "$work/data" "$work/data-int8" && mkdir -p "$work/data" "$work/data-int8"
    SHOPKEEP_MODELS_ROOT=models "$bin" reindex --kb "$work/kb" --data-dir "$work/data" --json | tail -1
    echo "round $round: shopkeep reindex (from scratch), int8:"
    SHOPKEEP_MODEL_PRECISION=int8 SHOPKEEP_MODELS_ROOT=models "$bin" reindex --kb "$work/kb" --data-dir "$work/data-int8" --json | tail -1
done

# Serve that index (the demo store's product pages are added to it) and read the memory.
port=$((20000 + RANDOM % 20000))
SHOPKEEP_KB_DIR="$work/kb" SHOPKEEP_MODELS_ROOT=models "$bin" serve --demo --data-dir "$work/data" --port "$port" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
    curl -fs "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 1
done
for q in "how do I get a refund" "where is my order LF-100001? my email is maya.chen@example.com" "can I change my delivery address"; do
    curl -fs -o /dev/null -XPOST "http://127.0.0.1:$port/v1/answer" -H 'content-type: application/json' -d "{\"message\": \"$q\"}"
done
passages=$(curl -fs "http://127.0.0.1:$port/readyz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["index"]["passages"])')
echo "serving $passages passages: $(grep VmRSS /proc/$server/status | tr -s ' ')"
