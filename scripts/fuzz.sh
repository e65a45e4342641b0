#!/usr/bin/env bash
# Runs each cargo-fuzz target (fuzz/fuzz_targets: mail parsing, HTML and quote stripping, the
# knowledge-base formats, order imports, webhook and platform-event intake, message
# understanding) for N inputs, one target at a time, and stops at the first crash (its input is
# left in fuzz/artifacts/<target>/). Needs cargo-fuzz and a nightly toolchain.
#   scripts/fuzz.sh [RUNS] [TARGET...]      RUNS defaults to 1,000,000 per target
#   scripts/fuzz.sh --smoke [RUNS] [TARGET...]   CI's short run (default 2,000): skipped with a
#       message when cargo-fuzz or nightly is missing, installed first when CI=true
# Built with debug assertions (overflow checks) and without a sanitizer: the targets look for
# panics in safe Rust, and the sanitizer's cost is better spent on inputs.
set -euo pipefail
cd "$(dirname "$0")/.."
smoke=0
if [ "${1:-}" = --smoke ]; then smoke=1; shift; fi
runs="${1:-}"
[ $# -gt 0 ] && shift
if [ -z "$runs" ]; then runs=$([ $smoke = 1 ] && echo 2000 || echo 1000000); fi
have_tools() { cargo fuzz --version >/dev/null 2>&1 && rustup run nightly rustc --version >/dev/null 2>&1; }
if ! have_tools; then
  if [ $smoke = 1 ] && [ "${CI:-}" = true ]; then
    echo "fuzz: installing nightly and cargo-fuzz (CI)" >&2
    rustup toolchain install nightly --profile minimal
    cargo install cargo-fuzz --locked
  elif [ $smoke = 1 ]; then
    echo "fuzz: skipped (cargo-fuzz or the nightly toolchain is missing; CI=true installs them)" >&2
    exit 0
  else
    echo "fuzz: needs cargo-fuzz (cargo install cargo-fuzz) and a nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
  fi
fi
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo +nightly fuzz list)
fi
flags=(--sanitizer none --debug-assertions)
cargo +nightly fuzz build "${flags[@]}" >&2
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  # A fresh copy of the seeds each run, so the committed corpus stays the hand-written files.
  work=$(mktemp -d)
  cp "fuzz/corpus/$t"/* "$work"/ 2>/dev/null || true
  start=$(date +%s)
  # -max_len: inputs up to 64 KiB (mail and documents are larger than libFuzzer's default 4 KiB);
  # -timeout: any single input slower than 10 s is a finding too (super-linear parsing).
  cargo +nightly fuzz run "${flags[@]}" "$t" "$work" -- \
    -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    2> "$work.log" || { tail -50 "$work.log" >&2; echo "fuzz: $t failed (input in fuzz/artifacts/$t/)" >&2; rm -rf "$work"; exit 1; }
  done_runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work.log" | grep -o '[0-9]*$' || echo "?")
  echo "fuzz: $t: $done_runs inputs in $(( $(date +%s) - start )) s, no crash"
  rm -rf "$work" "$work.log"
done
