-- GET /api/v1/auth/verify over a pool of live access tokens: access.txt, or
-- the file BENCH_ACCESS names in BENCH_DATA.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local tokens = read_lines(os.getenv("BENCH_DATA") .. "/" .. (os.getenv("BENCH_ACCESS") or "access.txt"))
local next_token = 0

function request()
  next_token = next_token % #tokens + 1
  return wrk.format("GET", "/api/v1/auth/verify", { ["Authorization"] = "Bearer " .. tokens[next_token] })
end
