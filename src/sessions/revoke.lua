-- Ends one session.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  session id
-- ARGV[2]  hash of a refresh token that must be the session's current or
--          previous one, or '' when the caller already proved ownership
--          (a verified access token)
-- ARGV[3]  with a refresh token: the thumbprint of the DPoP key the request
--          proved it holds (''): a session bound to a key ends by its refresh
--          token only with that key, so a copy cannot log the owner out
-- KEYS[3]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[4]  feed retention (ms)   ARGV[5]  the events' not_before (unix s)
-- ARGV[6]  the events' reason
-- Returns 1 if a session ended (and one 'session' event was appended), 0
-- otherwise.
-- Atomic: the check, the deletion and the event happen together.
if ARGV[2] ~= '' then
  local s = redis.call('HMGET', KEYS[1], 'cur', 'prev', 'jkt')
  if s[1] ~= ARGV[2] and s[2] ~= ARGV[2] then
    return 0
  end
  if s[3] and s[3] ~= '' and s[3] ~= ARGV[3] then
    return 0
  end
end
redis.call('ZREM', KEYS[2], ARGV[1])
local ended = redis.call('DEL', KEYS[1])
if ended == 1 then
  revoked(KEYS[3], ARGV[4], ARGV[5], ARGV[6], 'session', ARGV[1])
end
return ended
