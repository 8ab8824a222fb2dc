-- wrk script: client-credentials token requests (the guide's v2 form) over one keep-alive
-- connection per wrk connection. The body comes from the environment, set by token-throughput.sh.
wrk.method = "POST"
wrk.body = os.getenv("TOKEN_BODY")
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
