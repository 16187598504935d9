-- Creates a session.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>} (sorted set: session id -> expiry ms)
-- ARGV[1]  session id        ARGV[2]  hash of the first refresh token
-- ARGV[3]  now (unix ms)     ARGV[4]  refresh lifetime (ms)
-- ARGV[5]  absolute expiry (unix ms)
-- ARGV[6]  role   ARGV[7]  subscription   ARGV[8]  username
-- ARGV[9]  user agent        ARGV[10] client IP
-- Returns 1.
-- Atomic: the session and its index entry appear together; expired index
-- entries are pruned in the same step. Both keys share the {<user id>} hash
-- tag, so this runs unchanged on Redis Cluster.
redis.call('HSET', KEYS[1],
  'cur', ARGV[2], 'prev', '', 'rot', ARGV[3], 'abs', ARGV[5],
  'role', ARGV[6], 'sub', ARGV[7], 'name', ARGV[8],
  'ua', ARGV[9], 'ip', ARGV[10], 'created', ARGV[3], 'used', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
local ttl = tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + ttl, ARGV[1])
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
