#!/usr/bin/env bash
# How long the emulator's reset takes on the demo's data (80 incidents, 10,000 hunting events).
#
#   bench/emulator-reset.sh [RESETS=50]
#
# Starts `threatgate demo --emulator` (release build, SQLite, or PostgreSQL with PG_URL), then
# RESETS times: resolves an incident through the API (so that there is something to undo) and
# calls `POST /_threatgate/emulator/reset`; prints the median and the slowest of the server's
# own `elapsed_ms` and of the whole call as curl saw it, and the server's CPU per reset.
set -euo pipefail
resets=${1:-50}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --locked -p threatgate --bin threatgate
binary="$root/target/release/threatgate"
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
store=(--data-dir "$data")
[ -n "${PG_URL:-}" ] && store+=(--database-url "$PG_URL")
"$binary" demo "${store[@]}" --emulator --listen 127.0.0.1:0 >"$data/demo.out" 2>"$data/demo.log" &
server=$!
for _ in $(seq 1 120); do [ -f "$data/demo.json" ] && break; sleep 1; done
[ -f "$data/demo.json" ] || { echo "the demo did not start:" >&2; tail -20 "$data/demo.log" >&2; exit 1; }
read -r base ca app secret contoso < <(python3 -c '
import json, sys
m = json.load(open(sys.argv[1]))
print(m["authority"], m["ca_certificate"], m["app"]["app_id"], m["app"]["client_secret"], m["customers"][0]["tenant_id"])' "$data/demo.json")
key=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["key"])' "$data/emulator.json")
token=$(curl -s --cacert "$ca" "$base/$contoso/oauth2/v2.0/token" -d grant_type=client_credentials \
  -d "client_id=$app" --data-urlencode "client_secret=$secret" -d scope=https://api.security.microsoft.com/.default |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
incident=$(curl -s --cacert "$ca" -H "Authorization: Bearer $token" "$base/api/incidents?\$filter=status%20eq%20'Active'&\$top=1" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["value"][0]["incidentId"])')
ticks=$(getconf CLK_TCK)
before=$(awk '{print $14 + $15}' "/proc/$server/stat")
for _ in $(seq 1 "$resets"); do
  curl -sf -o /dev/null --cacert "$ca" -H "Authorization: Bearer $token" -X PATCH \
    -H 'Content-Type: application/json' -d '{"status": "Resolved"}' "$base/api/incidents/$incident"
  curl -sf --cacert "$ca" -H "Authorization: Bearer $key" -X POST -w ' %{time_total}\n' "$base/_threatgate/emulator/reset"
done | python3 -c '
import json, statistics, sys
server, wall = [], []
for line in sys.stdin:
    body, seconds = line.rsplit(" ", 1)
    server.append(json.loads(body)["elapsed_ms"]); wall.append(float(seconds) * 1000)
print(f"{len(server)} resets: server elapsed median {statistics.median(server):.0f} ms, slowest {max(server)} ms; "
      f"whole call median {statistics.median(wall):.1f} ms, slowest {max(wall):.1f} ms")'
after=$(awk '{print $14 + $15}' "/proc/$server/stat")
awk -v t="$((after - before))" -v hz="$ticks" -v n="$resets" \
  'BEGIN{printf "server CPU per reset (with its PATCH): %.1f ms\n", t/hz*1000/n}'
echo "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), store: ${PG_URL:+PostgreSQL}${PG_URL:-SQLite}"
