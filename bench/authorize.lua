-- Prepares codes for the code_exchange scenario (not itself a scenario):
-- GET /oauth/authorize as a browser signed in for the bench's confidential
-- first-party client (BENCH_BROWSER_COOKIE, from bench/code_setup.py), which
-- answers with a 303 to the app carrying a fresh code. Each code is appended
-- to BENCH_DATA/BENCH_CODES, one a line. Run with -t1: one Lua state, one
-- writer.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
local codes = io.open(os.getenv("BENCH_DATA") .. "/" .. os.getenv("BENCH_CODES"), "a")
-- Line-buffered: wrk never closes a thread's Lua state, so nothing may wait
-- in a buffer when it exits.
codes:setvbuf("line")
local req = wrk.format("GET", os.getenv("BENCH_AUTHORIZE_PATH"),
  { ["Cookie"] = "tessera_browser=" .. os.getenv("BENCH_BROWSER_COOKIE") })

function request()
  return req
end

function response(status, headers, body)
  if status == 303 then
    local location = headers["Location"] or headers["location"] or ""
    local code = location:match("[?&]code=([^&]+)")
    if code then
      codes:write(code, "\n")
    end
  end
end
