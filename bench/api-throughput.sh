#!/usr/bin/env bash
# Threat Protection API throughput on SQLite with many tenants and incidents.
#
#   bench/api-throughput.sh [TENANTS=1000] [INCIDENTS_PER_TENANT=1000] [RUNS=3] [SECONDS=10]
#
# 1. Seeds a data directory (reused when DATA_DIR holds one already): a partner app consented in
#    TENANTS customers, INCIDENTS_PER_TENANT generated incidents each, ingested through
#    correlation; reports alerts/s and the database size.
# 2. Serves it over HTTPS (quotas off), fetches tokens for up to 200 tenants, and drives with wrk
#    (keep-alive, each request the next tenant's token):
#    - the minute poll: GET /api/incidents?$filter=lastUpdateTime ge <5 minutes ago>
#    - a deep full page: GET /api/incidents?$top=100&$skip=<INCIDENTS_PER_TENANT-100>
#    reporting requests/s, p50/p99 and server CPU time per request (medians of RUNS runs).
set -euo pipefail
tenants=${1:-1000}
per_tenant=${2:-1000}
runs=${3:-3}
seconds=${4:-10}
connections=${CONNECTIONS:-32}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
export BENCH_DIR="$here"
# shellcheck source=measure.sh
. "$here/measure.sh"
prepare_bench_data "$tenants" "$per_tenant"
python3 - "$data/bench.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print("ingestion through correlation: %d alerts -> %d incidents in %.1f s: %.0f alerts/s" % (m["alerts"], m["incidents"], m["ingest_seconds"], m["alerts_per_second"]))
PY
size=$(stat -c %s "$data/threatgate.db")
echo "database: $((size / 1024 / 1024)) MiB for $((tenants * per_tenant)) incidents ($(awk -v s="$size" -v n="$((tenants * per_tenant))" 'BEGIN{printf "%.2f", s/n*1e6/1024/1024/1024}') GiB per million incidents)"

serve_quotas_off "$data" "$binary"

tokens="$data/tokens.txt"
python3 - "$data/bench.json" "$base" "$data/tls/ca.pem" >"$tokens" <<'PY'
import json, ssl, sys, urllib.parse, urllib.request
m, base, ca = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca)
for tenant in m["tenants"][:200]:
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": m["app_id"], "client_secret": m["client_secret"], "scope": "https://api.security.microsoft.com/.default"}).encode()
    answer = json.load(urllib.request.urlopen(base + "/" + tenant + "/oauth2/v2.0/token", body, context=context))
    print(answer["access_token"])
PY
export TOKENS_FILE="$tokens"
echo "tokens of $(wc -l <"$tokens") tenants, quotas off, wrk -t2 -c$connections -d${seconds}s over HTTPS keep-alive"

scenario() {
  local name=$1 path=$2 size
  export API_PATH="$path"
  size=$(curl -sk -H "Authorization: Bearer $(head -1 "$tokens")" "$base$path" | wc -c)
  echo "$name: GET $path  (response of the first tenant: $size bytes)"
  measure "$runs" "$seconds" "$connections" "$here/api.lua" "$base"
}
since=$(date -u -d '5 minutes ago' +%Y-%m-%dT%H:%M:%SZ)
scenario "minute poll" "/api/incidents?\$filter=lastUpdateTime+ge+$since"
skip=$((per_tenant > 100 ? per_tenant - 100 : 0))
scenario "deep full page" "/api/incidents?\$top=100&\$skip=$skip"
