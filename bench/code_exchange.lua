-- POST /oauth/token with grant_type=authorization_code: the bench's
-- confidential client (HTTP Basic, BENCH_CLIENT_BASIC: the header's value)
-- redeems a code prepared ahead by bench/authorize.lua, each exactly once
-- (a FIFO, as in refresh.lua; a redeemed code is never presented again).
-- Every 200 opens a session: an access, a refresh and an ID token.
-- BENCH_CODES names the code file in BENCH_DATA; BENCH_REDIRECT_URI and
-- BENCH_CODE_VERIFIER are what the codes were issued for.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local basic = os.getenv("BENCH_CLIENT_BASIC")
local queue = read_lines(os.getenv("BENCH_DATA") .. "/" .. os.getenv("BENCH_CODES"))
local head = 1

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local form = "grant_type=authorization_code&redirect_uri=" .. urlencode(os.getenv("BENCH_REDIRECT_URI")) ..
  "&code_verifier=" .. urlencode(os.getenv("BENCH_CODE_VERIFIER")) .. "&code="
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Authorization"] = basic }

function request()
  local code = queue[head]
  if code then
    queue[head] = nil
    head = head + 1
  else
    -- Every prepared code is spent: each further request is a non-2xx.
    code = "exhausted"
  end
  return wrk.format("POST", "/oauth/token", headers, form .. code)
end
