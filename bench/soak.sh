#!/usr/bin/env bash
# Soak and overload on loopback against a fresh demo (SQLite, or PostgreSQL with PG_URL).
#
#   bench/soak.sh [SECONDS=600] [RATE=60] [OVERLOAD_SECONDS=60]
#
# Starts `threatgate demo` (release build, quotas off so that the server itself is measured),
# registers a detection source in Contoso that may ingest, then runs
# `crates/threatgate/examples/soak.rs`: RATE requests a second at a fixed pace for SECONDS
# (tokens, incident lists and updates, hunting, event and alert ingestion), a line every 10 s
# with the server's RSS and CPU, then per kind p50/p99/p999 and answers by status; then
# OVERLOAD_SECONDS of 256 callers without pause while a token probe runs every 100 ms.
set -euo pipefail
seconds=${1:-600}
rate=${2:-60}
overload=${3:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --locked -p threatgate --bin threatgate --example soak
binary="$root/target/release/threatgate"
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
store=(--data-dir "$data")
[ -n "${PG_URL:-}" ] && store+=(--database-url "$PG_URL")
printf '[quotas]\nenabled = false\n' >"$data/soak.toml"
"$binary" demo "${store[@]}" --listen 127.0.0.1:0 --config "$data/soak.toml" >"$data/demo.out" 2>"$data/demo.log" &
server=$!
for _ in $(seq 1 120); do [ -f "$data/demo.json" ] && break; sleep 1; done
[ -f "$data/demo.json" ] || { echo "the demo did not start:" >&2; tail -20 "$data/demo.log" >&2; exit 1; }
contoso=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["customers"][0]["tenant_id"])' "$data/demo.json")
app=$("$binary" app register "${store[@]}" --tenant "$contoso" --name "Soak source" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["app_id"])')
"$binary" app permission add "${store[@]}" --app "$app" Incident.ReadWrite.All --json >/dev/null
secret=$("$binary" app secret add "${store[@]}" --app "$app" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["value"])')
"$binary" consent grant "${store[@]}" --tenant "$contoso" --app "$app" --json >/dev/null
sleep 1
echo "server pid $server, $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), store: ${PG_URL:+PostgreSQL}${PG_URL:-SQLite}"
"$root/target/release/examples/soak" "$data/demo.json" "$app" "$secret" "$server" "$seconds" "$rate" "$overload"
