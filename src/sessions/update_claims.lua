-- Sets the claims (role, subscription) kept in every live session of a user,
-- so the next refresh mints access tokens carrying them and every access
-- token check reports them at once.
-- KEYS[1]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[2]  role   ARGV[3]  subscription
-- ARGV[4]  now (unix ms)
-- Returns the number of sessions updated.
-- Bounded: expired entries are pruned first (their hashes deleted with
-- them); what remains is the user's live sessions, at most
-- session.max_per_user (create.lua keeps the index under that cap).
-- Atomic: every session of the user sees the change at once, and a session
-- that has already expired is never recreated (HSET on a missing key would
-- create one without a TTL), only dropped from the index. The session keys
-- carry the same {<user id>} hash tag as KEYS[1], so this runs unchanged on
-- Redis Cluster.
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])) do
  redis.call('DEL', ARGV[1] .. sid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[4])
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
