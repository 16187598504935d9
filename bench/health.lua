-- GET /health/live: the HTTP ceiling of this server on this machine (no
-- Redis, no PostgreSQL), against which the other scenarios are compared.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")

function request()
  return wrk.format("GET", "/health/live")
end
