-- Sets the claims (role, subscription) kept in every live session of a user,
-- so the next refresh mints access tokens carrying them.
-- KEYS[1]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[2]  role   ARGV[3]  subscription
-- Returns the number of sessions updated.
-- Atomic: every session of the user sees the change at once, and a session
-- that has already expired is never recreated (HSET on a missing key would
-- create one without a TTL), only dropped from the index. The session keys
-- carry the same {<user id>} hash tag as KEYS[1], so this runs unchanged on
-- Redis Cluster.
local updated = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local key = ARGV[1] .. sid
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'role', ARGV[2], 'sub', ARGV[3])
    updated = updated + 1
  else
    redis.call('ZREM', KEYS[1], sid)
  end
end
return updated
