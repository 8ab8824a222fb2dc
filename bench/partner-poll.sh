#!/usr/bin/env bash
# The partner toolkit's poll across many customer tenants, token acquisition included.
#
#   bench/partner-poll.sh [TENANTS=1000] [INCIDENTS_PER_TENANT=100] [RUNS=3] [CONCURRENCY=16]
#
# Seeds (or reuses, DATA_DIR) a data directory with a partner app consented in TENANTS customers
# and INCIDENTS_PER_TENANT incidents each, serves it over HTTPS with quotas off, then runs, RUNS
# times each:
#   cold poll: `threatgate incidents list --all-tenants=FILE --since 24h` with an empty token
#              cache file: one token request per tenant, then every tenant's poll;
#   warm poll: the same again with the cache the cold poll left (the next poll within the hour):
#              no token request at all;
#   full list: every incident of every tenant (warm cache).
# Reports wall time, incidents, token requests, and client and server CPU (medians).
set -euo pipefail
tenants=${1:-1000}
per_tenant=${2:-100}
runs=${3:-3}
concurrency=${4:-16}
here=$(cd "$(dirname "$0")" && pwd)
export BENCH_DIR="$here"
# shellcheck source=measure.sh
. "$here/measure.sh"
prepare_bench_data "$tenants" "$per_tenant"
serve_quotas_off "$data" "$binary"

work=$(mktemp -d)
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
python3 - "$data/bench.json" "$work" <<'PY'
import json, os, sys
m, work = json.load(open(sys.argv[1])), sys.argv[2]
open(os.path.join(work, "tenants.txt"), "w").write("\n".join(m["tenants"]) + "\n")
fd = os.open(os.path.join(work, "secret.txt"), os.O_WRONLY | os.O_CREAT, 0o600)
os.write(fd, m["client_secret"].encode()); os.close(fd)
open(os.path.join(work, "client_id"), "w").write(m["app_id"])
PY
ticks=$(getconf CLK_TCK)

# poll NAME ARGS…: one run; prints "wall_s incidents token_requests client_cpu_s server_cpu_s".
poll() {
  local before after start end summary
  before=$(awk '{print $14 + $15}' "/proc/$server/stat")
  start=$(date +%s.%N)
  /usr/bin/time -f '%U %S' -o "$work/time" "$binary" incidents list --all-tenants="$work/tenants.txt" \
    --authority "$base" --api-base "$base" --ca-cert "$data/tls/ca.pem" --client-id "$(cat "$work/client_id")" \
    --client-secret-file "$work/secret.txt" --token-cache "$work/tokens.json" --concurrency "$concurrency" \
    --output ndjson "$@" >"$work/out.ndjson" 2>"$work/err" || { cat "$work/err" >&2; exit 1; }
  end=$(date +%s.%N)
  after=$(awk '{print $14 + $15}' "/proc/$server/stat")
  summary=$(grep -E '^[0-9]+ tenants, ' "$work/err")
  awk -v s="$start" -v e="$end" -v line="$summary" -v cpu="$(cat "$work/time")" -v t="$((after - before))" -v hz="$ticks" 'BEGIN {
    split(line, f, /[ ,]+/); split(cpu, c, " ");
    printf "%.2f %d %d %.2f %.2f\n", e - s, f[3], f[7], c[1] + c[2], t / hz }'
}

report() {
  local name=$1; shift
  local results=()
  for run in $(seq 1 "$runs"); do
    [ "$name" = "cold poll" ] && rm -f "$work/tokens.json"
    line=$(poll "$@")
    read -r wall found requests client server_cpu <<<"$line"
    printf '  %s run %d: %6.2f s  %6d incidents  %4d token requests  client CPU %.2f s  server CPU %.2f s\n' \
      "$name" "$run" "$wall" "$found" "$requests" "$client" "$server_cpu"
    results+=("$line")
  done
  printf '%s\n' "${results[@]}" | sort -n | awk -v name="$name" -v n="$runs" '
    { w[NR]=$1; i[NR]=$2; t[NR]=$3; c[NR]=$4; s[NR]=$5 }
    END { m = int((n + 1) / 2); printf "  %s, median of %d: %.2f s, %d incidents, %d token requests, client CPU %.2f s, server CPU %.2f s\n", name, n, w[m], i[m], t[m], c[m], s[m] }'
}

echo "$tenants tenants x $per_tenant incidents, quotas off, concurrency $concurrency, HTTPS to 127.0.0.1"
report "cold poll" --since 24h
report "warm poll" --since 24h
report "full list"
