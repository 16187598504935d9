-- One sliding-window rate limit check that counts the call it allows.
-- KEYS[1]  the limit's sorted set of hit times   tessera:rl:{<limit>:<subject>}
--          (one key, so its hash tag is the whole subject)
-- ARGV[1]  now (unix ms)   ARGV[2]  window (ms)   ARGV[3]  hits allowed per window
-- ARGV[4]  a member unique to this hit (the caller may ZREM it later to give
--          the slot back, or DEL the key to forget every hit)
-- Returns 0 when allowed (and recorded), else the ms until enough hits have
--   left the window for one more to be allowed (at least 1).
-- Atomic: the check and its count are one step, so however many calls arrive
-- at once no more than ARGV[3] are allowed into a window; a refused call
-- records nothing, so the set never holds more than ARGV[3] entries.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local blocking = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(tonumber(blocking[2]) + window - now, 1)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], window)
return 0
