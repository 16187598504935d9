-- One sliding-window rate limit check.
-- KEYS[1]  the limit's sorted set of hit times   tessera:rl:{<limit>:<subject>}
--          (one key, so its hash tag is the whole subject)
-- ARGV[1]  now (unix ms)   ARGV[2]  window (ms)   ARGV[3]  hits allowed per window
-- ARGV[4]  '1' to count this call as a hit when allowed, '0' only to look
-- ARGV[5]  a member unique to this hit
-- Returns 0 when allowed (and, for a hit, recorded), else the ms until enough
--   hits have left the window for one more to be allowed (at least 1).
-- Atomic: concurrent checks of one key never let more than ARGV[3] hits into
-- a window, and a refused call records nothing, so the set never holds more
-- than ARGV[3] entries.
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local blocking = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return math.max(tonumber(blocking[2]) + window - now, 1)
end
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[5])
  redis.call('PEXPIRE', KEYS[1], window)
end
return 0
