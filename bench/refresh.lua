-- Refresh with rotation: every request presents the token that the previous
-- rotation of its chain returned, so every 200 is a real rotation. Tokens wait
-- in a FIFO; a response puts its chain's successor back. There are more chains
-- than connections, so a connection always finds one waiting.
-- BENCH_PATH selects /api/v1/auth/refresh (JSON) or /oauth/token (form).
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local path = os.getenv("BENCH_PATH") or "/api/v1/auth/refresh"
local oauth = path == "/oauth/token"
local queue = read_lines(os.getenv("BENCH_DATA") .. "/" .. os.getenv("BENCH_TOKENS"))
local head, tail = 1, #queue

function request()
  local token = queue[head]
  if token then
    queue[head] = nil
    head = head + 1
  else
    -- Every chain has died (each death is a non-2xx, already counted).
    token = "exhausted"
  end
  if oauth then
    return wrk.format("POST", path, { ["Content-Type"] = "application/x-www-form-urlencoded" },
      "grant_type=refresh_token&refresh_token=" .. token)
  end
  return wrk.format("POST", path, { ["Content-Type"] = "application/json" },
    '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if successor then
    tail = tail + 1
    queue[tail] = successor
  end
end
