-- Rotates a session's refresh token, or detects its reuse.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>}
-- KEYS[3]  the request's DPoP proof's jti  tessera:dpop:{<user id>}:<digest>
--          (named but untouched without a proof)
-- ARGV[1]  hash of the presented refresh token
-- ARGV[2]  hash of its successor (derived from it by HMAC, so every retry of
--          one token computes the same successor)
-- ARGV[3]  now (unix ms)   ARGV[4]  refresh lifetime (ms)
-- ARGV[5]  reuse grace window (ms)   ARGV[6]  session id
-- ARGV[7]  refresh rate limit: ms between refreshes on average (0 = no limit)
-- ARGV[8]  refresh rate limit: its period (ms), the burst being period/ARGV[7]
-- ARGV[9]  client IP of this refresh (kept as 'rip' when it rotates)
-- ARGV[10] the OAuth client presenting the token: a confidential client's
--          id once it authenticated, a public client's claimed id, or ''
-- ARGV[11] the thumbprint of the DPoP key that signed this request's proof
--          ('' without one)
-- ARGV[12] '1' when a bound token's same-key reuse ends the session
--          (dpop.revoke_on_same_key_reuse)
-- ARGV[13] how long the proof's jti is remembered (s)
-- KEYS[4]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[14]  feed retention (ms)   ARGV[15]  the events' not_before (unix s)
-- ARGV[16]  the events' reason
-- Only tokens whose integrity tag the service checked come here, so 'reused'
-- below is never the work of someone who merely knows the ids.
-- Returns {status, role, subscription, username, remaining ms, rotated from,
-- client id, scope, amr, auth_time} where 'rotated from' is the client IP of
-- the rotation a retry repeats ('' for 'rotated'), client id and scope those
-- the session was opened for ('' for tessera's own login), amr and
-- auth_time how its sign-in was made ('' for a session from before they
-- were kept), and status is
--   'rotated'  the presented token was current; the successor is now current
--   'retry'    the presented token was rotated within the grace window and the
--              successor is still current: the same pair is handed out again
-- or {status} alone:
--   'unknown'  no such session (expired, ended, or never existed)
--   'reused'   a retired token came back after the grace window (or a token
--              that never belonged to the session): the session is deleted
--              and a 'session' event appended
-- or {'limited', ms to wait}: the session refreshed too often (GCRA over the
--   hash's 'rl' field, its theoretical arrival time); nothing changed.
-- A session bound to a DPoP key ('jkt') asks the key, not the clock:
--   {'key_mismatch'}: the proof is by another key, or there is none;
--     nothing changed, nothing ended (a copy without the key is worthless,
--     and cannot log the owner out)
--   {'same_key_reuse'}: a retired token with its own key, past the retry:
--     a lost response retried late; nothing ended, unless ARGV[12] says
--     to end the session ('reused' then)
-- or {'proof_replayed'}: the proof's jti was spent before (by any request);
--   nothing changed. A proof is spent before anything else is looked at,
--   so it works once whatever the answer.
-- or {'wrong_client'}: the session belongs to an OAuth client and ARGV[10]
--   is not that client (a confidential client's token always needs its
--   client's authentication); nothing changed, nothing ended: a token
--   without its client's credentials is worth nothing, so it ends nothing.
-- Atomic: concurrent calls with one token see one rotation, so a session
-- never forks into two live chains; the rate limit lives in the session
-- hash, so it costs no extra key and no extra round trip.
if ARGV[11] ~= '' and not redis.call('SET', KEYS[3], 1, 'NX', 'EX', ARGV[13]) then
  return {'proof_replayed'}
end
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'rot', 'abs', 'role', 'sub', 'name', 'rl', 'rip',
  'cid', 'scope', 'conf', 'jkt', 'amr', 'at')
if not s[1] then
  return {'unknown'}
end
local cid, scope = s[10] or '', s[11] or ''
local amr, at = s[14] or '', s[15] or ''
if cid ~= '' and ARGV[10] ~= cid and (s[12] == '1' or ARGV[10] ~= '') then
  return {'wrong_client'}
end
local bound = s[13] and s[13] ~= ''
if bound and ARGV[11] ~= s[13] then
  return {'key_mismatch'}
end
local now = tonumber(ARGV[3])
-- Counts one refresh; returns the ms to wait when over the limit.
local function over_limit()
  local interval = tonumber(ARGV[7])
  if interval == 0 then
    return nil
  end
  local period = tonumber(ARGV[8])
  local tat = math.max(tonumber(s[8] or 0), now) + interval
  if tat - now > period then
    return tat - now - period
  end
  redis.call('HSET', KEYS[1], 'rl', tat)
  return nil
end
if s[1] == ARGV[1] then
  local ttl = math.min(tonumber(ARGV[4]), tonumber(s[4]) - now)
  if ttl <= 0 then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[6])
    return {'unknown'}
  end
  local wait = over_limit()
  if wait then
    return {'limited', wait}
  end
  redis.call('HSET', KEYS[1], 'prev', s[1], 'cur', ARGV[2], 'rot', ARGV[3], 'used', ARGV[3], 'rip', ARGV[9])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[6])
  -- The index outlives its longest session: GT only ever lengthens it, in
  -- one call (usually the rotated session is the longest); an index
  -- without a TTL (ZADD just made it) gets one.
  if redis.call('PEXPIRE', KEYS[2], ttl, 'GT') == 0 and redis.call('PTTL', KEYS[2]) == -1 then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  return {'rotated', s[5], s[6], s[7], ttl, '', cid, scope, amr, at}
end
if s[2] == ARGV[1] and now - tonumber(s[3]) <= tonumber(ARGV[5]) then
  if s[1] == ARGV[2] then
    local wait = over_limit()
    if wait then
      return {'limited', wait}
    end
    return {'retry', s[5], s[6], s[7], redis.call('PTTL', KEYS[1]), s[9] or '', cid, scope, amr, at}
  end
  -- Rotated again since (or under another rotation secret): not a plain retry.
  return {'unknown'}
end
if bound and ARGV[12] ~= '1' then
  return {'same_key_reuse'}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[6])
revoked(KEYS[4], ARGV[14], ARGV[15], ARGV[16], 'session', ARGV[6])
return {'reused'}
