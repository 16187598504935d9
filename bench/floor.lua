-- The floor server's routes (bench/floor/server.rs): BENCH_PATH, GET, or
-- POST with a refresh request's body when BENCH_POST is set.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
local path = os.getenv("BENCH_PATH")
local post = os.getenv("BENCH_POST")
-- A refresh token's length (tessera's are about this long).
local body = '{"refresh_token":"' .. string.rep("x", 64) .. '"}'

function request()
  if post then
    return wrk.format("POST", path, { ["Content-Type"] = "application/json" }, body)
  end
  return wrk.format("GET", path)
end
