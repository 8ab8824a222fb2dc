#!/usr/bin/env bash
# Token endpoint throughput: client-credentials tokens per second over HTTPS with keep-alive,
# p50/p99 latency, and the server's CPU time per token. Load generator: wrk, on the same
# machine, against 127.0.0.1 only.
#
#   bench/token-throughput.sh [RUNS=5] [SECONDS=10] [CONNECTIONS=32]
#
# THREATGATE_BINARY=path runs that binary instead of building this checkout (to compare two
# versions on one machine, alternately).
#
# Each run is bounded (-d SECONDS). The report gives every run and the median. Server CPU per
# request is (utime+stime of the server process during the run) / requests: it barely moves when
# the machine is shared, unlike requests per second.
set -euo pipefail
runs=${1:-5}
seconds=${2:-10}
connections=${3:-32}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
if [ -n "${THREATGATE_BINARY:-}" ]; then
  binary=$THREATGATE_BINARY
else
  cargo build --release --quiet --manifest-path "$root/Cargo.toml"
  binary="$root/target/release/threatgate"
fi

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
RUST_LOG=warn "$binary" demo --data-dir "$data" --listen "127.0.0.1:$port" >"$data/demo.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 1 600); do [ -f "$data/demo.json" ] && break; sleep 0.1; done
[ -f "$data/demo.json" ] || { echo "the demo did not start" >&2; cat "$data/demo.log" >&2; exit 1; }

read -r tenant app_id secret < <(python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
print(m["customers"][0]["tenant_id"], m["app"]["app_id"], m["app"]["client_secret"])' "$data/demo.json")
export TOKEN_BODY="grant_type=client_credentials&client_id=$app_id&scope=https%3A%2F%2Fapi.security.microsoft.com%2F.default&client_secret=$secret"
url="https://127.0.0.1:$port/$tenant/oauth2/v2.0/token"
status=$(curl -sk -o /dev/null -w '%{http_code}' -d "$TOKEN_BODY" "$url")
[ "$status" = 200 ] || { echo "token request answered $status" >&2; exit 1; }

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "load: wrk -t2 -c$connections -d${seconds}s, HTTPS keep-alive, POST $url"
export BENCH_DIR="$here"
# shellcheck source=measure.sh
. "$here/measure.sh"
measure "$runs" "$seconds" "$connections" "$here/token.lua" "$url"
