-- POST /oauth/token with grant_type=client_credentials, the bench's service
-- client authenticating with HTTP Basic (BENCH_CLIENT_BASIC: the header's
-- value). No argon2, no session: one signature per request.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
local basic = os.getenv("BENCH_CLIENT_BASIC")

function request()
  return wrk.format("POST", "/oauth/token",
    { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = basic },
    "grant_type=client_credentials")
end
