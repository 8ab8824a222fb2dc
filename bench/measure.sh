# Shared by the benchmark scripts (sourced): `measure RUNS SECONDS CONNECTIONS LUA URL` runs wrk
# RUNS times after a warm-up and prints each run and the medians, with the server's CPU time per
# request (utime+stime of process $server during the run / requests).
measure() {
  local runs=$1 seconds=$2 connections=$3 script=$4 url=$5
  local ticks results=() run before after line rps cpu_us
  ticks=$(getconf CLK_TCK)
  wrk -t2 -c"$connections" -d2s -s "$script" "$url" >/dev/null
  for run in $(seq 1 "$runs"); do
    before=$(awk '{print $14 + $15}' "/proc/$server/stat")
    line=$(wrk -t2 -c"$connections" -d"${seconds}s" -s "$script" "$url" | grep '^RESULT')
    after=$(awk '{print $14 + $15}' "/proc/$server/stat")
    eval "$(echo "$line" | sed 's/^RESULT //')"
    rps=$(awk -v r="$requests" -v d="$duration_us" 'BEGIN{printf "%.0f", r/(d/1e6)}')
    cpu_us=$(awk -v t="$((after - before))" -v hz="$ticks" -v r="$requests" 'BEGIN{printf "%.0f", t/hz*1e6/r}')
    printf '  run %d: %6d req/s  p50 %6.2f ms  p99 %6.2f ms  server CPU %4d µs/req  errors %d\n' "$run" "$rps" \
      "$(awk -v x="$p50_us" 'BEGIN{print x/1000}')" "$(awk -v x="$p99_us" 'BEGIN{print x/1000}')" "$cpu_us" \
      "$((errors_status + errors_connect + errors_timeout))"
    results+=("$rps $p50_us $p99_us $cpu_us")
  done
  printf '%s\n' "${results[@]}" | awk '
    { rps[NR]=$1; p50[NR]=$2; p99[NR]=$3; cpu[NR]=$4 }
    function median(a, n,   i, j, t, s) { for (i=1;i<=n;i++) s[i]=a[i]; for (i=1;i<=n;i++) for (j=i+1;j<=n;j++) if (s[j]<s[i]) { t=s[i]; s[i]=s[j]; s[j]=t } return (n%2) ? s[(n+1)/2] : (s[n/2]+s[n/2+1])/2 }
    END { printf "  median of %d runs: %d req/s, p50 %.2f ms, p99 %.2f ms, server CPU %d µs/req\n", NR, median(rps,NR), median(p50,NR)/1000, median(p99,NR)/1000, median(cpu,NR) }'
}

# `serve_quotas_off DATA_DIR BINARY`: serves DATA_DIR over HTTPS on a free port with quotas off,
# sets $server (its pid) and $base, stops it when the script exits, and waits until it answers.
serve_quotas_off() {
  local data=$1 binary=$2 port config
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  config="$data/bench.toml"
  printf '[quotas]\nenabled = false\n' >"$config"
  RUST_LOG=warn "$binary" serve --data-dir "$data" --listen "127.0.0.1:$port" --config "$config" >"$data/serve.log" 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
  base="https://127.0.0.1:$port"
  for _ in $(seq 1 100); do curl -sk -o /dev/null "$base/healthz" && break; sleep 0.1; done
}

# `prepare_bench_data TENANTS PER_TENANT`: builds the release binary and the seeder, prints the
# machine, and seeds $DATA_DIR (default target/bench-data-T-P) unless it holds data already.
# Sets $binary and $data.
prepare_bench_data() {
  local tenants=$1 per_tenant=$2 root
  root=$(cd "$BENCH_DIR/.." && pwd)
  cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin threatgate --example bench_seed
  binary="$root/target/release/threatgate"
  data=${DATA_DIR:-$root/target/bench-data-$tenants-$per_tenant}
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(date -u +%Y-%m-%dT%H:%MZ)"
  if [ ! -f "$data/bench.json" ]; then
    rm -rf "$data"
    echo "seeding $tenants tenants x $per_tenant incidents into $data"
    "$root/target/release/examples/bench_seed" "$data" "$tenants" "$per_tenant" | grep -v '^ *"' | grep -v '^[]{}[]' || true
  fi
}
