-- wrk script: Threat Protection API GETs, each with the token of the next tenant in turn.
-- TOKENS_FILE holds one bearer token per line; API_PATH is the path and query to request.
local tokens = {}
for line in io.lines(os.getenv("TOKENS_FILE")) do tokens[#tokens + 1] = line end
local path = os.getenv("API_PATH")
local next_token = math.random(#tokens)

request = function()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. tokens[next_token] })
end

dofile(os.getenv("BENCH_DIR") .. "/report.lua")
