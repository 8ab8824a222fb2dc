#!/usr/bin/env bash
# The same incidents through Microsoft Graph's security API and the Threat Protection API.
#
#   bench/graph-throughput.sh [TENANTS=100] [INCIDENTS_PER_TENANT=1000] [RUNS=3] [SECONDS=10]
#
# Seeds a data directory (DATA_DIR, default target/bench-graph-T-P, reused) as
# api-throughput.sh does, serves it over HTTPS (quotas off), fetches a Threat Protection token
# and a Microsoft Graph token for up to 200 tenants, and drives with wrk (keep-alive, each
# request the next tenant's token) one page of 50 incidents through each API, then Graph's
# page with $expand=alerts: requests/s, p50/p99 and server CPU per request (medians of RUNS).
set -euo pipefail
tenants=${1:-100}
per_tenant=${2:-1000}
runs=${3:-3}
seconds=${4:-10}
connections=${CONNECTIONS:-32}
here=$(cd "$(dirname "$0")" && pwd)
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
export BENCH_DIR="$here"
export DATA_DIR=${DATA_DIR:-$(cd "$here/.." && pwd)/target/bench-graph-$tenants-$per_tenant}
# shellcheck source=measure.sh
. "$here/measure.sh"
prepare_bench_data "$tenants" "$per_tenant"
serve_quotas_off "$data" "$binary"

tokens_for() { # the resource's tokens, one tenant a line
  python3 - "$data/bench.json" "$base" "$data/tls/ca.pem" "$1" <<'PY'
import json, ssl, sys, urllib.parse, urllib.request
m, base, ca, resource = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], sys.argv[4]
context = ssl.create_default_context(cafile=ca)
for tenant in m["tenants"][:200]:
    body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": m["app_id"], "client_secret": m["client_secret"], "scope": resource + "/.default"}).encode()
    print(json.load(urllib.request.urlopen(base + "/" + tenant + "/oauth2/v2.0/token", body, context=context))["access_token"])
PY
}
tokens_for https://api.security.microsoft.com >"$data/tokens-api.txt"
tokens_for https://graph.microsoft.com >"$data/tokens-graph.txt"
echo "tokens of $(wc -l <"$data/tokens-api.txt") tenants per API, quotas off, wrk -t2 -c$connections -d${seconds}s over HTTPS keep-alive"

scenario() {
  local name=$1 tokens=$2 path=$3 size
  export API_PATH="$path" TOKENS_FILE="$tokens"
  size=$(curl -sk -H "Authorization: Bearer $(head -1 "$tokens")" "$base$path" | wc -c)
  echo "$name: GET $path  (response of the first tenant: $size bytes)"
  measure "$runs" "$seconds" "$connections" "$here/api.lua" "$base"
}
scenario "Threat Protection API, 50 incidents" "$data/tokens-api.txt" "/api/incidents?\$top=50"
scenario "Graph, 50 incidents" "$data/tokens-graph.txt" "/v1.0/security/incidents?\$top=50"
scenario "Graph, 50 incidents with their alerts" "$data/tokens-graph.txt" "/v1.0/security/incidents?\$top=50&\$expand=alerts"
