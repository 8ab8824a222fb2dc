#!/usr/bin/env bash
# Runs every test: the README's test command, and what .ci/run calls.
#
# It first prepares the unmodified clients that the interop test drives (Python: MSAL,
# azure-identity, PyJWT, msgraph-sdk, msticpy, in a virtual environment under target/; Node.js:
# @azure/identity and @azure/msal-node, in tests/interop/node), then runs `cargo test`.
# With THREATGATE_TEST_DATABASE_URL set (e.g. postgres://postgres@127.0.0.1:5432/test; .ci/run
# sets it), the store's contract suite also runs on PostgreSQL, and the black-box suite runs a
# second time with every test server on a PostgreSQL database of its own. Extra arguments go
# to `cargo test`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/interop-venv"
requirements="$root/tests/interop/requirements.txt"
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
  echo "preparing the Python clients for the interop test ($venv)"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi
export THREATGATE_PYTHON="$venv/bin/python"
# The Node.js clients of the interop test (pinned in tests/interop/node/package-lock.json).
if command -v npm >/dev/null && (cd "$root/tests/interop/node" && npm ci --no-audit --no-fund --silent); then
  export THREATGATE_NODE_INTEROP=1
else
  echo "the Node.js interop clients could not be installed: that part of the interop test is skipped"
fi
cd "$root"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
cargo test --workspace --locked "$@" 2>&1 | tee "$log" || status=$?
if [ -n "${THREATGATE_TEST_DATABASE_URL:-}" ]; then
  echo "== the black-box suite again, on PostgreSQL"
  THREATGATE_TEST_BACKEND=postgres cargo test -p threatgate --test blackbox --locked "$@" 2>&1 | tee -a "$log" || status=$?
else
  echo "PostgreSQL runs SKIPPED: THREATGATE_TEST_DATABASE_URL is not set"
fi
# Microsoft's own KQL parser (Kusto.Language, scripts/kql) checks every golden hunting query:
# valid KQL for the schema, and the columns Threatgate answers with are the ones Microsoft's
# semantic model computes.
echo "== the golden hunting queries against Microsoft's KQL parser (scripts/kql)"
kql="$root/target/kql-check"
mkdir -p "$kql"
if ! command -v node >/dev/null; then
  echo "Node.js is not installed: the KQL check cannot run (.ci/run installs it)" | tee -a "$log"
  status=1
elif ! (cd "$root/scripts/kql" && npm ci --no-audit --no-fund --silent) \
  || ! cargo run --quiet --locked -p threatgate --example hunting_corpus -- --schema >"$kql/schema.json" \
  || ! python3 "$root/scripts/kql/golden.py" "$root/crates/threatgate-store/tests/contract/hunting.golden" "$kql" \
  || ! node "$root/scripts/kql/check.js" "$kql/schema.json" "$kql/queries.jsonl" "$kql/results.jsonl" | tail -3; then
  echo "the KQL check failed" | tee -a "$log"
  status=1
fi
# One closing line for the whole run (cargo prints one per test binary, doc tests last).
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($i ~ /^passed;?$/) p += $(i-1); if ($i ~ /^failed;?$/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
