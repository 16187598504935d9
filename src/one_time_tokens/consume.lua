-- Consumes a one-time token (activation or password reset).
-- KEYS[1]  the user's token slot for one purpose  tessera:ot:{<user id>}:<purpose>
--          (holds the SHA-256 of the newest token, or 'used:' .. that hash
--          once it has been consumed with ARGV[2] = '1')
-- ARGV[1]  SHA-256 of the presented token
-- ARGV[2]  '1' to remember the use until the slot expires (so a second click
--          on an activation link can be told apart from a forged token), '0'
--          to delete the slot
-- Returns 1 when the token was the newest one and is now consumed, 2 when it
-- was consumed before (only with remembered uses), 0 otherwise.
-- Atomic: of any number of concurrent calls with one token, exactly one gets
-- 1. A wrong token changes nothing, so guessing cannot burn a real token.
local stored = redis.call('GET', KEYS[1])
if stored == ARGV[1] then
  if ARGV[2] == '1' then
    redis.call('SET', KEYS[1], 'used:' .. ARGV[1], 'KEEPTTL')
  else
    redis.call('DEL', KEYS[1])
  end
  return 1
end
if stored == 'used:' .. ARGV[1] then
  return 2
end
return 0
