-- Creates a session, evicting the user's oldest sessions beyond the cap.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>} (sorted set: session id -> expiry ms)
-- ARGV[1]  session id        ARGV[2]  hash of the first refresh token
-- ARGV[3]  now (unix ms)     ARGV[4]  refresh lifetime (ms)
-- ARGV[5]  absolute expiry (unix ms)
-- ARGV[6]  role   ARGV[7]  subscription   ARGV[8]  username
-- ARGV[9]  user agent        ARGV[10] client IP
-- ARGV[11] most sessions a user may hold (0 = unlimited)
-- ARGV[12] prefix of the user's session keys, tessera:s:{<user id>}:
-- KEYS[3]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[13] feed retention (ms)   ARGV[14] the events' not_before (unix s)
-- ARGV[15] the events' reason
-- Returns the ids of the sessions evicted, one 'session' event appended for
-- each.
-- "Oldest" is the earliest expiry in the index: expiry slides with every
-- refresh, so that is the session least recently used (or the nearest its
-- absolute end). A device in daily use keeps its session; an abandoned one
-- goes first. The new session is added after the eviction, so it is never
-- the one evicted.
-- Bounded: expired entries are pruned first (their hashes deleted too, so a
-- session whose expiry has passed by this clock is over even if Redis's own
-- clock has not expired it yet); with a cap the index then holds at most the
-- cap, so each loop runs over at most that many entries (the eviction loop
-- over one, unless the cap was just lowered).
-- Atomic: the session and its index entry appear together, and no login
-- ever sees a user over the cap. Every key shares the {<user id>} hash tag
-- (the session keys are derived from ARGV[12], in KEYS[2]'s slot), so this
-- runs unchanged on Redis Cluster.
local now = tonumber(ARGV[3])
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('DEL', ARGV[12] .. sid)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local evicted = {}
local max = tonumber(ARGV[11])
if max > 0 then
  local excess = redis.call('ZCARD', KEYS[2]) - max + 1
  if excess > 0 then
    for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, excess - 1)) do
      if redis.call('DEL', ARGV[12] .. sid) == 1 then
        evicted[#evicted + 1] = sid
        revoked(KEYS[3], ARGV[13], ARGV[14], ARGV[15], 'session', sid)
      end
    end
    redis.call('ZREMRANGEBYRANK', KEYS[2], 0, excess - 1)
  end
end
redis.call('HSET', KEYS[1],
  'cur', ARGV[2], 'prev', '', 'rot', ARGV[3], 'abs', ARGV[5],
  'role', ARGV[6], 'sub', ARGV[7], 'name', ARGV[8],
  'ua', ARGV[9], 'ip', ARGV[10], 'created', ARGV[3], 'used', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local ttl = tonumber(ARGV[4])
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return evicted
