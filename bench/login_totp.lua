-- The two-step sign-in of users with an authenticator app: POST
-- /api/v1/auth/login (the form, like login.lua) answers 401 MFA_REQUIRED
-- with an mfa_token, then POST /api/v1/auth/mfa/verify {mfa_token, code}
-- answers the pair. Each user signs in once (a code works once), from
-- BENCH_DATA/BENCH_CODES: "username password code" lines. The login's
-- X-Request-Id (echoed by tessera) names the user, so the answer, from
-- whichever connection, finds its code.
-- Prints the report.lua line with `requests` and `rps` counting completed
-- sign-ins (pairs), `http_requests` both steps, and `non_2xx` only
-- unexpected answers (the MFA_REQUIRED 401s are the first step).
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/tokens.lua")
local users = read_lines(os.getenv("BENCH_DATA") .. "/" .. os.getenv("BENCH_CODES"))
local next_user = 0
local pending = {}
completed = 0
challenged = 0

local threads = {}
function setup(thread)
  threads[#threads + 1] = thread
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  local step = table.remove(pending)
  if step then
    return wrk.format("POST", "/api/v1/auth/mfa/verify", { ["Content-Type"] = "application/json" },
      '{"mfa_token":"' .. step.token .. '","code":"' .. step.code .. '"}')
  end
  -- Past the last user the logins go on (and fail at the second step,
  -- counted as non-2xx): the harness sized the list to outlast the run.
  next_user = next_user % #users + 1
  local username, password = users[next_user]:match("^(%S+) (.+) %S+$")
  return wrk.format("POST", "/api/v1/auth/login", {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["X-Request-Id"] = "u" .. next_user,
  }, "username=" .. urlencode(username) .. "&password=" .. urlencode(password))
end

function response(status, headers, body)
  if status == 200 then
    if body:find('"refresh_token"', 1, true) then completed = completed + 1 end
    return
  end
  local token = body:match('"mfa_token":"([^"]+)"')
  local id = headers["x-request-id"] or headers["X-Request-Id"] or ""
  local user = tonumber(id:match("^u(%d+)$") or "")
  if status == 401 and token and user then
    challenged = challenged + 1
    pending[#pending + 1] = { token = token, code = users[user]:match("(%S+)$") }
  end
end

function done(summary, latency, requests)
  local pairs_done, first_steps = 0, 0
  for _, thread in ipairs(threads) do
    pairs_done = pairs_done + thread:get("completed")
    first_steps = first_steps + thread:get("challenged")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format(
    '{"scenario":"%s","requests":%d,"http_requests":%d,"seconds":%.2f,"rps":%.1f,"p50_ms":%.3f,"p99_ms":%.3f,"non_2xx":%d,"socket_errors":%d}\n',
    os.getenv("BENCH_SCENARIO") or "?", pairs_done, summary.requests, seconds, pairs_done / seconds,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, summary.errors.status - first_steps,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
