-- Refresh with rotation: every request presents the token that the previous
-- rotation of its chain returned, so every 200 is a real rotation. Tokens wait
-- in a FIFO; a response puts its chain's successor back. There are more chains
-- than connections, so a connection always finds one waiting.
-- BENCH_PATH selects /api/v1/auth/refresh (JSON) or /oauth/token (form).
-- BENCH_PROOFS (refresh_dpop): a file in BENCH_DATA of DPoP proofs, one per
-- line, each sent once as the next request's DPoP header; a request finding
-- none left goes without one, and its bound token is refused (a non-2xx,
-- never a proof sent twice). One wrk thread (-t1): one list, one FIFO.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local path = os.getenv("BENCH_PATH") or "/api/v1/auth/refresh"
local oauth = path == "/oauth/token"
local queue = read_lines(os.getenv("BENCH_DATA") .. "/" .. os.getenv("BENCH_TOKENS"))
local head, tail = 1, #queue
local proofs, next_proof = nil, 0

-- Run in the request thread only (not in wrk's main Lua state), so the
-- proofs are held once.
function init(args)
  local file = os.getenv("BENCH_PROOFS")
  if file then
    proofs = read_lines(os.getenv("BENCH_DATA") .. "/" .. file)
  end
end

function request()
  local token = queue[head]
  if token then
    queue[head] = nil
    head = head + 1
  else
    -- Every chain has died (each death is a non-2xx, already counted).
    token = "exhausted"
  end
  local headers = { ["Content-Type"] = "application/json" }
  if oauth then
    headers["Content-Type"] = "application/x-www-form-urlencoded"
  end
  if proofs then
    next_proof = next_proof + 1
    headers["DPoP"] = proofs[next_proof]
    proofs[next_proof] = nil
  end
  if oauth then
    return wrk.format("POST", path, headers, "grant_type=refresh_token&refresh_token=" .. token)
  end
  return wrk.format("POST", path, headers, '{"refresh_token":"' .. token .. '"}')
end

function response(status, headers, body)
  local successor = body:match('"refresh_token":"([^"]+)"')
  if successor then
    tail = tail + 1
    queue[tail] = successor
  end
end
