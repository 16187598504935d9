-- Ends every session of a user, optionally but one.
-- KEYS[1]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[2]  a session id to keep, or ''
-- ARGV[3]  now (unix ms)   ARGV[4]  the user id
-- KEYS[2]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[5]  feed retention (ms)   ARGV[6]  the events' not_before (unix s)
-- ARGV[7]  the events' reason
-- ARGV[8]  '1' when the user is deleted for good (a load purge): no session
--          events, only the user's, whose not_before outlives every token
-- Returns the ids of the live sessions ended. Appends one 'session' event
-- per session ended (but for a user deleted for good) (every token of it is void, whatever its iat: exact even
-- for a token signed in the same second), and one 'user' event when none is
-- kept (every token of the user issued before not_before is void).
-- Bounded: expired entries are pruned first (their hashes deleted with
-- them); what remains is the user's live sessions, at most
-- session.max_per_user (create.lua keeps the index under that cap).
-- Atomic: no session of the user survives (but the kept one), none can be
-- created half-way, and the events are appended with the ending. The session keys are derived here rather than passed in
-- KEYS; they carry the same {<user id>} hash tag as KEYS[1], so they live in
-- the same Redis Cluster slot.
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])) do
  redis.call('DEL', ARGV[1] .. sid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local ended = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if sid ~= ARGV[2] then
    if redis.call('DEL', ARGV[1] .. sid) == 1 then
      ended[#ended + 1] = sid
      if ARGV[8] ~= '1' then
        revoked(KEYS[2], ARGV[5], ARGV[6], ARGV[7], 'session', sid)
      end
    end
    redis.call('ZREM', KEYS[1], sid)
  end
end
if ARGV[2] == '' then
  revoked(KEYS[2], ARGV[5], ARGV[6], ARGV[7], 'user', ARGV[4])
end
return ended
