-- Ends one session.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  session id
-- ARGV[2]  hash of a refresh token that must be the session's current or
--          previous one, or '' when the caller already proved ownership
--          (a verified access token)
-- Returns 1 if a session ended, 0 otherwise.
-- Atomic: the check and the deletion happen together.
if ARGV[2] ~= '' then
  local s = redis.call('HMGET', KEYS[1], 'cur', 'prev')
  if s[1] ~= ARGV[2] and s[2] ~= ARGV[2] then
    return 0
  end
end
redis.call('ZREM', KEYS[2], ARGV[1])
return redis.call('DEL', KEYS[1])
