-- GET /api/v1/auth/verify with DPoP-bound access tokens, as a trusted proxy
-- (server.trusted_proxies) forwards a resource request: Authorization: DPoP
-- <token>, the client's proof in DPoP, and the original request in
-- X-Original-Method / X-Original-URI (relative: server.public_url + it is
-- what the proofs' htu names). BENCH_ACCESS: the bound access tokens
-- (dpop_access.txt); BENCH_PROOFS: lines "K PROOF" (the tessera-dpop example
-- dpop_proofs), K the number of the token in BENCH_ACCESS whose ath the
-- proof carries. Each proof is sent once; a request finding none left goes
-- without one and is refused (a non-2xx, never a proof sent twice). One wrk
-- thread (-t1): one list.
local dir = os.getenv("BENCH_DIR")
dofile(dir .. "/report.lua")
dofile(dir .. "/tokens.lua")
local data = os.getenv("BENCH_DATA") .. "/"
local uri = os.getenv("BENCH_ORIGINAL_URI") or "/bench/resource"
local tokens, proofs, pair, next_proof = nil, {}, {}, 0

-- Run in the request thread only (not in wrk's main Lua state), so the
-- proofs are held once.
function init(args)
  tokens = read_lines(data .. (os.getenv("BENCH_ACCESS") or "dpop_access.txt"))
  for i, line in ipairs(read_lines(data .. os.getenv("BENCH_PROOFS"))) do
    local k, proof = line:match("^(%d+) (%S+)$")
    pair[i], proofs[i] = tonumber(k), proof
  end
end

function request()
  next_proof = next_proof + 1
  local proof = proofs[next_proof]
  local headers = {
    ["Authorization"] = "DPoP " .. tokens[pair[next_proof] or 1],
    ["X-Original-Method"] = "GET",
    ["X-Original-URI"] = uri,
  }
  if proof then
    headers["DPoP"] = proof
    proofs[next_proof], pair[next_proof] = nil, nil
  end
  return wrk.format("GET", "/api/v1/auth/verify", headers)
end
