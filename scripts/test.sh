#!/usr/bin/env bash
# Runs every test: fetches (and verifies) the model first, installs the headless browser the
# widget tests drive (Debian's chromium and chromium-driver) when it is missing, axe-core for
# their accessibility checks (scripts/axe.sh: npm, cached outside the clone), starts the
# loopback mail servers the email tests use (scripts/mail-servers.sh: Postfix and Dovecot,
# installed when missing), a freshly seeded Medusa server for tests/medusa.rs (scripts/medusa.sh:
# npm install cached outside the clone, PostgreSQL and Medusa on loopback), Shopify's published
# Admin GraphQL schema for tests/shopify.rs (scripts/shopify-schema.sh: the npm package
# @shopify/dev-mcp, cached outside the clone), then the whole suite,
# then the API's contract check (scripts/api-contract.sh: schemathesis from PyPI against
# /openapi.json).
#   scripts/test.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/fetch-models.sh
if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo="sudo -n"; fi
  fi
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    echo "installing chromium and chromium-driver for the widget tests" >&2
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
  else
    echo "warning: chromium and chromedriver are missing and cannot be installed here (needs root and apt-get); tests/widget.rs will fail" >&2
  fi
fi
# axe-core for the accessibility checks of the browser tests (npm, cached outside the clone).
if ! scripts/axe.sh install >/dev/null; then
  echo "warning: axe-core could not be installed (scripts/axe.sh); the accessibility tests will fail" >&2
fi
if ! scripts/mail-servers.sh start; then
  echo "warning: the mail servers could not be started; tests/email.rs will fail" >&2
fi
# The Medusa conversations change the store, so it is reseeded on every run (about a minute
# once the npm install is cached; the first run adds the install, about two minutes).
if ! scripts/medusa.sh start; then
  echo "warning: the Medusa test server could not be started; tests/medusa.rs will skip" >&2
fi
# Shopify cannot be reached from here: its connector is checked against the published schema.
if ! scripts/shopify-schema.sh >/dev/null; then
  echo "warning: Shopify's Admin schema could not be installed; tests/shopify.rs skips its schema checks" >&2
fi
cargo test --locked "$@"
# The API against its own OpenAPI description (schemathesis, every check and phase, stateful
# links included), on the binary the tests just built: any finding fails the suite. Skipped
# when arguments narrow the run to some tests.
if [ $# -eq 0 ]; then
  scripts/api-contract.sh "${CARGO_TARGET_DIR:-target}/debug/shopkeep"
  # A short run of each fuzz target (scripts/fuzz.sh; skipped without cargo-fuzz and nightly,
  # which CI installs). FUZZ_SMOKE_RUNS=0 turns it off. Its first build (instrumented
  # dependencies, about 30 minutes on 2 cores) is the slowest part of a cold run, so it is
  # skipped, saying so, when the run has already taken FUZZ_SMOKE_BUDGET_S (default 40 min;
  # fmt and clippy come before, and CI stops at 90). The inputs each fuzzer found are also
  # replayed as ordinary unit tests.
  if [ "${FUZZ_SMOKE_RUNS:-2000}" != 0 ]; then
    if [ "$SECONDS" -lt "${FUZZ_SMOKE_BUDGET_S:-2400}" ]; then
      scripts/fuzz.sh --smoke "${FUZZ_SMOKE_RUNS:-2000}"
    else
      echo "fuzz: smoke skipped: the run has taken ${SECONDS}s, past FUZZ_SMOKE_BUDGET_S" >&2
    fi
  fi
fi
exit 0
