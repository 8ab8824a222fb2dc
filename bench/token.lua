-- wrk script: client-credentials token requests (the guide's v2 form) over one keep-alive
-- connection per wrk connection. The body comes from the environment, set by token-throughput.sh.
wrk.method = "POST"
wrk.body = os.getenv("TOKEN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

local statuses = {}

response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_us=%d errors_status=%d errors_connect=%d errors_timeout=%d p50_us=%d p90_us=%d p99_us=%d\n",
    summary.requests, summary.duration, summary.errors.status, summary.errors.connect, summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99)))
end
