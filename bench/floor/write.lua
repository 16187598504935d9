-- The sign-and-write floor's script (bench/floor/server.rs): what a refresh
-- needs of Redis at least, one hash written and its expiry set by one
-- EVALSHA.
-- KEYS[1]: a hash (a session's stand-in).
-- ARGV[1]: the new token's digest; ARGV[2]: its expiry in milliseconds.
-- Returns: 1.
-- Atomic: the script as a whole (HSET and PEXPIRE together).
redis.call('HSET', KEYS[1], 'h', ARGV[1], 'gen', '1')
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
