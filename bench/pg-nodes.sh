#!/usr/bin/env bash
# Two Threatgate nodes on one PostgreSQL database: API and token throughput with the load spread
# over both, and the CPU it costs (both nodes' processes and PostgreSQL's).
#
#   bench/pg-nodes.sh [TENANTS=1000] [INCIDENTS_PER_TENANT=1000] [RUNS=3] [SECONDS=10]
#
# PG_URL (default postgres://postgres@127.0.0.1:5432) names the server; the data go to the
# database threatgate_bench_<TENANTS>_<PER_TENANT>, seeded once and reused (the data directory
# target/bench-pg-<T>-<P> holds its bench.json and key files): through correlation, or with
# SEED=bulk correlated in memory and bulk-imported (the same rows; the way to ten million). Then:
#   - the minute poll (GET /api/incidents?$filter=lastUpdateTime ge <5 minutes ago>) and a deep
#     full page ($top=100&$skip=<P-100>), tokens of 200 tenants in turn, quotas off;
#   - the v2 token endpoint;
# each driven by two wrk processes at once, one per node (CONNECTIONS/2 each, keep-alive),
# reporting the sum of requests/s, the worse node's p50/p99, and CPU per request of the nodes
# and of PostgreSQL (utime+stime of every postgres process), medians of RUNS runs.
set -euo pipefail
tenants=${1:-1000}
per_tenant=${2:-1000}
runs=${3:-3}
seconds=${4:-10}
connections=${CONNECTIONS:-32}
half=$((connections / 2))
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
name="threatgate_bench_${tenants}_${per_tenant}"
export THREATGATE_DATABASE_URL="$pg/$name"
data=${DATA_DIR:-$root/target/bench-pg-$tenants-$per_tenant}
export BENCH_DIR="$here"

cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin threatgate --example bench_seed
binary="$root/target/release/threatgate"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ); $(psql "$pg/postgres" -Atc 'SELECT version()' | cut -d, -f1)"
if [ ! -f "$data/bench.json" ]; then
  rm -rf "$data"
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
  echo "seeding $tenants tenants x $per_tenant incidents into PostgreSQL database $name"
  "$root/target/release/examples/bench_seed" "$data" "$tenants" "$per_tenant" ${SEED:+--$SEED} | grep -v '^ *"' | grep -v '^[]{}[]' || true
fi
python3 - "$data/bench.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print("loading (%s): %d alerts -> %d incidents in %.1f s: %.0f alerts/s" % (m.get("loading", "correlation"), m["alerts"], m["incidents"], m["ingest_seconds"], m["alerts_per_second"]))
PY
echo "database: $(psql "$THREATGATE_DATABASE_URL" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))") for $(psql "$THREATGATE_DATABASE_URL" -Atc 'SELECT COUNT(*) FROM incidents') incidents"

printf '[quotas]\nenabled = false\n' >"$data/bench.toml"
ports=() pids=()
for node in 1 2; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  RUST_LOG=warn "$binary" serve --data-dir "$data" --listen "127.0.0.1:$port" --config "$data/bench.toml" >"$data/serve-$node.log" 2>&1 &
  pids+=($!)
  ports+=("$port")
  for _ in $(seq 1 300); do curl -sk -o /dev/null -f "https://127.0.0.1:$port/readyz" && break; sleep 0.1; done
done
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null' EXIT
bases=("https://127.0.0.1:${ports[0]}" "https://127.0.0.1:${ports[1]}")
echo "nodes: ${bases[*]}, both on $name"

tokens="$data/tokens.txt"
python3 - "$data/bench.json" "${bases[0]}" "$data/tls/ca.pem" >"$tokens" <<'PY'
import json, ssl, sys, urllib.parse, urllib.request
m, base, ca = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
for tenant in m["tenants"][:200]:
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": m["app_id"], "client_secret": m["client_secret"], "scope": "https://api.security.microsoft.com/.default"}).encode()
    print(json.load(urllib.request.urlopen(base + "/" + tenant + "/oauth2/v2.0/token", body, context=context))["access_token"])
PY
export TOKENS_FILE="$tokens"

cpu_ticks() { # utime+stime of the nodes, then of every postgres process
  local nodes=0 database=0 pid
  for pid in "${pids[@]}"; do nodes=$((nodes + $(awk '{print $14 + $15}' "/proc/$pid/stat"))); done
  for pid in $(pgrep -x postgres || true); do
    database=$((database + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$nodes $database"
}

# `both LUA`: one run on both nodes at once; prints "requests/s p50_us p99_us node_us pg_us".
both() {
  local script=$1 before after out1 out2
  before=$(cpu_ticks)
  out1=$(mktemp) out2=$(mktemp)
  wrk -t1 -c"$half" -d"${seconds}s" -s "$script" "${bases[0]}${URL_PATH:-}" | grep '^RESULT' >"$out1" &
  wrk -t1 -c"$half" -d"${seconds}s" -s "$script" "${bases[1]}${URL_PATH:-}" | grep '^RESULT' >"$out2" &
  wait %1 %2 2>/dev/null || wait
  after=$(cpu_ticks)
  python3 - "$out1" "$out2" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import sys
def parse(path):
    fields = dict(item.split("=") for item in open(path).read().split()[1:])
    return {k: float(v) for k, v in fields.items()}
a, b = parse(sys.argv[1]), parse(sys.argv[2])
(n0, d0), (n1, d1), hz = map(int, sys.argv[3].split()), map(int, sys.argv[4].split()), int(sys.argv[5])
requests = a["requests"] + b["requests"]
rps = a["requests"] / (a["duration_us"] / 1e6) + b["requests"] / (b["duration_us"] / 1e6)
print("%d %d %d %d %d %d" % (rps, max(a["p50_us"], b["p50_us"]), max(a["p99_us"], b["p99_us"]),
      (n1 - n0) / hz * 1e6 / requests, (d1 - d0) / hz * 1e6 / requests,
      a["errors_status"] + b["errors_status"] + a["errors_connect"] + b["errors_connect"] + a["errors_timeout"] + b["errors_timeout"]))
PY
  rm -f "$out1" "$out2"
}

scenario() {
  local title=$1 script=$2 results=() run line
  echo "$title"
  wrk -t1 -c"$half" -d2s -s "$script" "${bases[0]}${URL_PATH:-}" >/dev/null
  wrk -t1 -c"$half" -d2s -s "$script" "${bases[1]}${URL_PATH:-}" >/dev/null
  for run in $(seq 1 "$runs"); do
    line=$(both "$script")
    read -r rps p50 p99 node_us pg_us errors <<<"$line"
    printf '  run %d: %6d req/s  p50 %6.2f ms  p99 %6.2f ms  CPU per request: nodes %4d µs + PostgreSQL %4d µs  errors %d\n' \
      "$run" "$rps" "$(awk -v x="$p50" 'BEGIN{print x/1000}')" "$(awk -v x="$p99" 'BEGIN{print x/1000}')" "$node_us" "$pg_us" "$errors"
    results+=("$line")
  done
  printf '%s\n' "${results[@]}" | awk '
    { rps[NR]=$1; p50[NR]=$2; p99[NR]=$3; n[NR]=$4; d[NR]=$5 }
    function median(a, k,   i, j, t, s) { for (i=1;i<=k;i++) s[i]=a[i]; for (i=1;i<=k;i++) for (j=i+1;j<=k;j++) if (s[j]<s[i]) { t=s[i]; s[i]=s[j]; s[j]=t } return (k%2) ? s[(k+1)/2] : (s[k/2]+s[k/2+1])/2 }
    END { printf "  median of %d runs: %d req/s, p50 %.2f ms, p99 %.2f ms, CPU per request: nodes %d µs + PostgreSQL %d µs\n", NR, median(rps,NR), median(p50,NR)/1000, median(p99,NR)/1000, median(n,NR), median(d,NR) }'
}

echo "load: two wrk -t1 -c$half -d${seconds}s at once, one per node, HTTPS keep-alive, quotas off"
since=$(date -u -d '5 minutes ago' +%Y-%m-%dT%H:%M:%SZ)
export API_PATH="/api/incidents?\$filter=lastUpdateTime+ge+$since"
scenario "minute poll: GET $API_PATH" "$here/api.lua"
skip=$((per_tenant > 100 ? per_tenant - 100 : 0))
export API_PATH="/api/incidents?\$top=100&\$skip=$skip"
scenario "deep full page: GET $API_PATH" "$here/api.lua"
read -r app_id secret tenant < <(python3 -c '
import json,sys; m=json.load(open(sys.argv[1])); print(m["app_id"], m["client_secret"], m["tenants"][0])' "$data/bench.json")
export TOKEN_BODY="grant_type=client_credentials&client_id=$app_id&scope=https%3A%2F%2Fapi.security.microsoft.com%2F.default&client_secret=$secret"
URL_PATH="/$tenant/oauth2/v2.0/token"
scenario "token issuance: POST /$tenant/oauth2/v2.0/token" "$here/token.lua"
