#!/usr/bin/env bash
# Advanced hunting at scale: EVENTS DeviceProcessEvents and EVENTS DeviceNetworkEvents rows for
# one tenant over 30 days, loaded with `threatgate seed` (the ingestion rate), then the issue's
# three queries through POST /api/advancedhunting/run, warm, RUNS times each: median wall time
# (curl), the service's own ExecutionTime, and CPU per query of the server (and PostgreSQL).
#
#   bench/hunting.sh [EVENTS=10000000] [RUNS=5]
#
# BACKENDS (default "sqlite postgres"); PG_URL (default postgres://postgres@127.0.0.1:5432)
# names the PostgreSQL server, the data go to the database threatgate_bench_hunt_<EVENTS>. Each
# backend's data directory (target/bench-hunt-<backend>-<EVENTS>) is seeded once and reused.
# The generator's distributions (crates/threatgate-incidents/src/event_generator.rs): 6% of
# process events are powershell.exe, exactly one in a thousand runs `rundll32 … MiniDump …`
# (query b's term), 60% of connections go to port 443.
set -euo pipefail
events=${1:-10000000}
runs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
pg=${PG_URL:-postgres://postgres@127.0.0.1:5432}
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin threatgate
binary="$root/target/release/threatgate"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ)"

declare -A queries=(
  [a]='DeviceProcessEvents | where Timestamp > ago(1d) | where FileName =~ "powershell.exe" | summarize count() by DeviceName | top 10 by count_'
  [b]='DeviceProcessEvents | where Timestamp > ago(7d) | where ProcessCommandLine has "MiniDump" | project Timestamp, DeviceName, ProcessCommandLine | take 1000'
  [b_scan]='DeviceProcessEvents | where Timestamp > ago(7d) | where ProcessCommandLine contains "MiniDump" | project Timestamp, DeviceName, ProcessCommandLine | take 1000'
  [c]='DeviceProcessEvents | where Timestamp > ago(1d) and FileName =~ "powershell.exe" | join kind=inner (DeviceNetworkEvents | where Timestamp > ago(1d) and RemotePort == 443) on DeviceId | summarize dcount(RemoteIP) by DeviceName | top 10 by dcount_RemoteIP'
)

cpu_ticks() { # utime+stime of the server, then of every postgres process
  local database=0 pid
  for pid in $(pgrep -x postgres || true); do
    database=$((database + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$(awk '{print $14 + $15}' "/proc/$1/stat") $database"
}

for backend in ${BACKENDS:-sqlite postgres}; do
  data="$root/target/bench-hunt-$backend-$events"
  unset THREATGATE_DATABASE_URL
  if [ "$backend" = postgres ]; then
    name="threatgate_bench_hunt_$events"
    export THREATGATE_DATABASE_URL="$pg/$name"
    echo "== PostgreSQL: $(psql "$pg/postgres" -Atc 'SELECT version()' | cut -d, -f1), database $name"
  else
    echo "== SQLite (bundled with sqlx), $data"
  fi
  if [ ! -f "$data/seeded.json" ]; then
    rm -rf "$data"
    mkdir -p "$data"
    if [ "$backend" = postgres ]; then
      psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)" -c "CREATE DATABASE $name"
    fi
  fi
  printf '[quotas]\nenabled = false\n[hunting]\ntimeout_seconds = 600\n' >"$data/bench.toml"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  RUST_LOG=warn "$binary" demo --data-dir "$data" --listen "127.0.0.1:$port" --config "$data/bench.toml" >"$data/demo.log" 2>&1 &
  pid=$!
  trap 'kill $pid 2>/dev/null; wait 2>/dev/null' EXIT
  base="https://127.0.0.1:$port"
  for _ in $(seq 1 1200); do curl -sk -o /dev/null -f "$base/readyz" && [ -f "$data/demo.json" ] && break; sleep 0.1; done
  read -r tenant app_id secret < <(python3 -c '
import json,sys; m=json.load(open(sys.argv[1])); print(m["customers"][0]["domain"], m["app"]["app_id"], m["app"]["client_secret"])' "$data/demo.json")

  if [ ! -f "$data/seeded.json" ]; then
    echo "seeding $events DeviceProcessEvents + $events DeviceNetworkEvents into $tenant"
    started=$(date +%s.%N)
    "$binary" seed --data-dir "$data" --tenant "$tenant" --incidents 0 --events $((2 * events)) \
      --event-tables DeviceProcessEvents,DeviceNetworkEvents --seed 7 --json >"$data/seed-report.json"
    seconds=$(python3 -c "import sys; print(round($(date +%s.%N) - $started, 1))")
    analyzed=$(date +%s.%N)
    if [ "$backend" = postgres ]; then
      # VACUUM too: index-only scans need the visibility map, which autovacuum would set later.
      psql "$THREATGATE_DATABASE_URL" -qc 'VACUUM ANALYZE ah_device_process_events' -c 'VACUUM ANALYZE ah_device_network_events'
    fi
    # (On SQLite the seed itself ends with the planner's statistics: its time includes them.)
    analyze=$(python3 -c "print(round($(date +%s.%N) - $analyzed, 1))")
    python3 - "$data/seed-report.json" "$seconds" "$analyze" >"$data/seeded.json" <<'PY'
import json, sys
report, seconds, analyze = json.load(open(sys.argv[1])), float(sys.argv[2]), float(sys.argv[3])
print(json.dumps({"events": report["events_added"], "seconds": seconds, "analyze_seconds": analyze,
                  "events_per_second": round(report["events_added"] / seconds)}))
PY
  fi
  python3 -c '
import json,sys; m=json.load(open(sys.argv[1]))
print("ingestion: %d events in %.1f s: %d events/s (threatgate seed: generated and written), then (VACUUM) ANALYZE %.1f s" % (m["events"], m["seconds"], m["events_per_second"], m["analyze_seconds"]))' "$data/seeded.json"
  if [ "$backend" = postgres ]; then
    echo "database: $(psql "$THREATGATE_DATABASE_URL" -Atc "SELECT pg_size_pretty(pg_database_size(current_database()))")"
  else
    echo "database: $(du -sh "$data/threatgate-hunting.db" | cut -f1) (threatgate-hunting.db)"
  fi

  token=$(curl -s --cacert "$data/tls/ca.pem" -d grant_type=client_credentials -d "client_id=$app_id" \
    -d scope=https://api.security.microsoft.com/.default --data-urlencode "client_secret=$secret" \
    "$base/$tenant/oauth2/v2.0/token" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  for key in a b b_scan c; do
    body=$(python3 -c 'import json,sys; print(json.dumps({"Query": sys.argv[1]}))' "${queries[$key]}")
    curl -s --cacert "$data/tls/ca.pem" -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
      -d "$body" "$base/api/advancedhunting/run" # warm-up
    results=()
    for run in $(seq 1 "$runs"); do
      before=$(cpu_ticks "$pid")
      wall=$(curl -s --cacert "$data/tls/ca.pem" -o "$data/answer.json" -w '%{time_total}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' -d "$body" "$base/api/advancedhunting/run")
      after=$(cpu_ticks "$pid")
      results+=("$(python3 - "$data/answer.json" "$wall" "$before" "$after" "$(getconf CLK_TCK)" <<'PY'
import json, sys
answer = json.load(open(sys.argv[1]))
if "Results" not in answer:
    sys.exit("query failed: %s" % json.dumps(answer)[:300])
(s0, d0), (s1, d1), hz = map(int, sys.argv[3].split()), map(int, sys.argv[4].split()), int(sys.argv[5])
print("%.1f %.1f %d %.0f %.0f" % (float(sys.argv[2]) * 1000, answer["Stats"]["ExecutionTime"] * 1000, len(answer["Results"]),
      (s1 - s0) * 1000 / hz, (d1 - d0) * 1000 / hz))
PY
)")
    done
    printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, line.split())) for line in sys.stdin if line.strip()]
col = lambda i: statistics.median(r[i] for r in rows)
print("(%s) median of %d warm runs: %.1f ms wall, %.1f ms ExecutionTime, %d rows; CPU per query: server %.0f ms + PostgreSQL %.0f ms" % (sys.argv[1], len(rows), col(0), col(1), col(2), col(3), col(4)))' "$key"
  done
  kill $pid 2>/dev/null; wait $pid 2>/dev/null || true
  trap - EXIT
done
