#!/usr/bin/env bash
# The API against its own description: starts `shopkeep serve` on a loopback port with a fresh
# data dir (the demo store; the inbound email webhook on, with replies journaled, not sent) and
# runs schemathesis (from PyPI; installed when missing) over /openapi.json with every check and
# every phase: examples, coverage, fuzzing and the stateful phase, which follows the links
# between operations (POST /v1/answer → read, continue and rate that conversation; a user
# created → changed). Exits non-zero on any failure.
#   scripts/api-contract.sh [SHOPKEEP_BINARY]   (default target/debug/shopkeep)
set -euo pipefail
cd "$(dirname "$0")/.."
bin="${1:-target/debug/shopkeep}"
[ -x "$bin" ] || { echo "api-contract: no binary at $bin (cargo build)" >&2; exit 1; }
python3 -c "import schemathesis" 2>/dev/null || python3 -m pip install -q "schemathesis==4.32.5"
port="${API_CONTRACT_PORT:-18611}"
data=$(mktemp -d)
token="api-contract-admin-token-$(date +%s)"
key="api-contract-inbound-key-$(date +%s)"
SHOPKEEP_ADMIN_TOKEN="$token" SHOPKEEP_EMAIL_STORE_ADDRESS=support@larkfield.example \
    SHOPKEEP_EMAIL_INBOUND_SECRET="$key" \
    "$bin" --data-dir "$data" serve --demo --port "$port" >"$data/serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 120); do
    curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break
    kill -0 $pid 2>/dev/null || { cat "$data/serve.log" >&2; exit 1; }
    sleep 1
done
# A fixed seed keeps CI reproducible; API_CONTRACT_EXAMPLES raises the count for a longer hunt.
set +e
python3 -m schemathesis.cli run "http://127.0.0.1:$port/openapi.json" \
    -H "Authorization: Bearer $token" -H "X-Shopkeep-Key: $key" \
    --checks all --phases examples,coverage,fuzzing,stateful \
    --max-examples "${API_CONTRACT_EXAMPLES:-25}" --seed "${API_CONTRACT_SEED:-1}" --workers 2 --no-color
rc=$?
set -e
exit $rc
