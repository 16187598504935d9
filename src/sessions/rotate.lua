-- Rotates a session's refresh token, or detects its reuse.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  hash of the presented refresh token
-- ARGV[2]  hash of its successor (derived from it by HMAC, so every retry of
--          one token computes the same successor)
-- ARGV[3]  now (unix ms)   ARGV[4]  refresh lifetime (ms)
-- ARGV[5]  reuse grace window (ms)   ARGV[6]  session id
-- Returns {status, role, subscription, username, remaining ms} where status is
--   'rotated'  the presented token was current; the successor is now current
--   'retry'    the presented token was rotated within the grace window and the
--              successor is still current: the same pair is handed out again
-- or {status} alone:
--   'unknown'  no such session (expired, ended, or never existed)
--   'reused'   a retired token came back after the grace window (or a token
--              that never belonged to the session): the session is deleted
-- Atomic: concurrent calls with one token see one rotation, so a session
-- never forks into two live chains.
local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'rot', 'abs', 'role', 'sub', 'name')
if not s[1] then
  return {'unknown'}
end
local now = tonumber(ARGV[3])
if s[1] == ARGV[1] then
  local ttl = math.min(tonumber(ARGV[4]), tonumber(s[4]) - now)
  if ttl <= 0 then
    redis.call('DEL', KEYS[1])
    redis.call('ZREM', KEYS[2], ARGV[6])
    return {'unknown'}
  end
  redis.call('HSET', KEYS[1], 'prev', s[1], 'cur', ARGV[2], 'rot', ARGV[3], 'used', ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[6])
  if redis.call('PTTL', KEYS[2]) < ttl then
    redis.call('PEXPIRE', KEYS[2], ttl)
  end
  return {'rotated', s[5], s[6], s[7], ttl}
end
if s[2] == ARGV[1] and now - tonumber(s[3]) <= tonumber(ARGV[5]) then
  if s[1] == ARGV[2] then
    return {'retry', s[5], s[6], s[7], redis.call('PTTL', KEYS[1])}
  end
  -- Rotated again since (or under another rotation secret): not a plain retry.
  return {'unknown'}
end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[6])
return {'reused'}
