-- Sets the claims (role, subscription) kept in every live session of a user,
-- so the next refresh mints access tokens carrying them and every access
-- token check reports them at once.
-- KEYS[1]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[2]  role   ARGV[3]  subscription
-- ARGV[4]  now (unix ms)   ARGV[5]  the user id
-- ARGV[6]  the roles above ARGV[2], space-separated (e.g. 'ADMIN MODERATOR')
-- ARGV[7]  the subscriptions above ARGV[3], space-separated
-- KEYS[2]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[8]  feed retention (ms)   ARGV[9]  the events' not_before (unix s)
-- ARGV[10]  the events' reason
-- Returns {sessions updated, 1 if downgraded else 0}: downgraded when a live
-- session held a role or subscription above the new ones (its access tokens
-- still claim them), and then one 'user' event is appended.
-- Bounded: expired entries are pruned first (their hashes deleted with
-- them); what remains is the user's live sessions, at most
-- session.max_per_user (create.lua keeps the index under that cap).
-- Atomic: every session of the user sees the change at once (and the event
-- is appended with it), and a session
-- that has already expired is never recreated (HSET on a missing key would
-- create one without a TTL), only dropped from the index. The session keys
-- carry the same {<user id>} hash tag as KEYS[1], so this runs unchanged on
-- Redis Cluster.
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])) do
  redis.call('DEL', ARGV[1] .. sid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
local function among(list, word)
  if not word then
    return false
  end
  return string.find(' ' .. list .. ' ', ' ' .. word .. ' ', 1, true) ~= nil
end
local updated = 0
local downgraded = false
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. sid
  if redis.call('EXISTS', key) == 1 then
    local held = redis.call('HMGET', key, 'role', 'sub')
    downgraded = downgraded or among(ARGV[6], held[1]) or among(ARGV[7], held[2])
    redis.call('HSET', key, 'role', ARGV[2], 'sub', ARGV[3])
    updated = updated + 1
  else
    redis.call('ZREM', KEYS[1], sid)
  end
end
if downgraded then
  revoked(KEYS[2], ARGV[8], ARGV[9], ARGV[10], 'user', ARGV[5])
end
return {updated, downgraded and 1 or 0}
