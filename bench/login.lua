-- POST /api/v1/auth/login with the OAuth2 password form, round-robin over
-- the bench users.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local users = read_lines(os.getenv("BENCH_DATA") .. "/users.txt")
local next_user = 0

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

function request()
  next_user = next_user % #users + 1
  local username, password = users[next_user]:match("^(%S+) (.+)$")
  return wrk.format("POST", "/api/v1/auth/login", { ["Content-Type"] = "application/x-www-form-urlencoded" },
    "username=" .. urlencode(username) .. "&password=" .. urlencode(password))
end
