-- Redeems an authorization code for a new session (open_session of
-- open.lua), or detects its replay.
-- KEYS[1]  the code's hash  tessera:code:{<user id>}:<hex SHA-256 of the code>
-- KEYS[2]  the new session's hash tessera:s:{<user id>}:<session id>
-- KEYS[3]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  the redeeming client's id   ARGV[2]  the redirect URI it sent
-- ARGV[3]  the S256 challenge of the code_verifier it sent
-- ARGV[4]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[5..20]  open_session's `s` for the new session, where role,
--          subscription, username, scope and client id (s[6], s[7], s[8],
--          s[13], s[14]) are placeholders: they come from the code and from
--          the browser sign-in it was issued under
-- ARGV[21] the session's lifetime (ms) when the code's scope lacks
--          offline_access ('' = s[4] whatever the scope): no refresh token
--          is handed out then, so the session lives as long as its access
--          token
-- KEYS[4]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[22] the thumbprint of the DPoP key the redeeming request proved it
--          holds ('' without a proof): a code issued for a key (dpop_jkt,
--          RFC 9449 §10) is redeemed only with that key
-- ARGV[23] feed retention (ms)  ARGV[24] the events' not_before (unix s)
-- ARGV[25] the reason of a replay's event
-- The session keeps the sign-in's amr and auth_time from the code (open.lua's
-- authn), so its refreshed tokens say how the user signed in.
-- Returns
--   {'redeemed', role, subscription, username, scope, nonce, auth_time, amr,
--    email, email verified ('1' or ''), evicted session ids...}: the session
--    is open, the code spent
--   {'replayed', session id or ''}: the code was redeemed before; the
--    session that redemption opened is ended (one 'session' event)
--   {'mismatch'}: another client, redirect URI, verifier or DPoP key; the
--    code is spent (it never works after a wrong verifier)
--   {'unknown'}: no such code (expired, or never issued), or the sign-in it
--    was issued under has ended (a logout-all, a block)
-- Atomic: two redemptions of one code see one session opened; the code,
-- the sessions and the index share the {<user id>} hash tag (the anchor's
-- key is derived from ARGV[4]), so this runs on Redis Cluster.
local c = redis.call('HMGET', KEYS[1], 'cid', 'redirect', 'challenge', 'anchor', 'scope',
  'nonce', 'auth', 'amr', 'used', 'sid', 'email', 'ev', 'jkt')
if not c[1] then
  return {'unknown'}
end
if c[9] then
  local sid = c[10] or ''
  if sid ~= '' and redis.call('DEL', ARGV[4] .. sid) == 1 then
    redis.call('ZREM', KEYS[3], sid)
    revoked(KEYS[4], ARGV[23], ARGV[24], ARGV[25], 'session', sid)
  end
  return {'replayed', sid}
end
if c[1] ~= ARGV[1] or c[2] ~= ARGV[2] or c[3] ~= ARGV[3] or (c[13] and c[13] ~= ARGV[22]) then
  redis.call('DEL', KEYS[1])
  return {'mismatch'}
end
local anchor = redis.call('HMGET', ARGV[4] .. c[4], 'role', 'sub', 'name')
if not anchor[1] then
  redis.call('DEL', KEYS[1])
  return {'unknown'}
end
local s = {}
for i = 5, 20 do
  s[#s + 1] = ARGV[i]
end
s[6], s[7], s[8], s[13], s[14] = anchor[1], anchor[2], anchor[3], c[1], c[5]
local offline = string.find(' ' .. c[5] .. ' ', ' offline_access ', 1, true)
if ARGV[21] ~= '' and not offline then
  s[4] = ARGV[21]
end
-- Sessions evicted to make room are evictions, whatever ARGV[25] says.
local evicted = open_session({KEYS[2], KEYS[3]}, s, {KEYS[4], ARGV[23], ARGV[24], 'evicted'},
  {c[8] or '', c[7] or ''})
redis.call('HSET', KEYS[1], 'used', '1', 'sid', ARGV[5])
local out = {'redeemed', anchor[1], anchor[2], anchor[3], c[5], c[6] or '', c[7], c[8],
  c[11] or '', c[12] or ''}
for _, sid in ipairs(evicted) do
  out[#out + 1] = sid
end
return out
