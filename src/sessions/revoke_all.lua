-- Ends every session of a user, optionally but one.
-- KEYS[1]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[2]  a session id to keep, or ''
-- ARGV[3]  now (unix ms)
-- Returns the number of live sessions ended.
-- Bounded: expired entries are pruned first (their hashes deleted with
-- them); what remains is the user's live sessions, at most
-- session.max_per_user (create.lua keeps the index under that cap).
-- Atomic: no session of the user survives (but the kept one), and none can be
-- created half-way. The session keys are derived here rather than passed in
-- KEYS; they carry the same {<user id>} hash tag as KEYS[1], so they live in
-- the same Redis Cluster slot.
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])) do
  redis.call('DEL', ARGV[1] .. sid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local ended = 0
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= ARGV[2] then
    ended = ended + redis.call('DEL', ARGV[1] .. sid)
    redis.call('ZREM', KEYS[1], sid)
  end
end
return ended
