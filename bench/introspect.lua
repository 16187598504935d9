-- POST /oauth/introspect (RFC 7662) over a pool of live access tokens,
-- authenticated as the bench's gateway client.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local tokens = read_lines(os.getenv("BENCH_DATA") .. "/access.txt")
local next_token = 0
-- base64("bench-gateway:bench-gateway-secret")
local basic = "Basic YmVuY2gtZ2F0ZXdheTpiZW5jaC1nYXRld2F5LXNlY3JldA=="

function request()
  next_token = next_token % #tokens + 1
  return wrk.format("POST", "/oauth/introspect",
    { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = basic },
    "token=" .. tokens[next_token])
end
