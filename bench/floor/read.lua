-- The read floor's script (bench/floor/server.rs): what a /verify needs of
-- Redis at least, one hash's fields by one EVALSHA.
-- KEYS[1]: a hash (a session's stand-in).
-- ARGV: none.
-- Returns: the fields `role` and `sub` (nil when absent).
-- Atomic: one command.
return redis.call('HMGET', KEYS[1], 'role', 'sub')
