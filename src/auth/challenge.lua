-- One attempt at a sign-in's second-factor step (an mfa_token).
-- KEYS[1]  the step's hash  tessera:mfa:<hex SHA-256 of the token>
--          fields: user (id), opening (JSON: the door, its client, scope and
--          DPoP key), left (attempts left)
-- Returns {user, opening} with the attempt counted, or nil when there is no
-- such step (expired, finished, never issued) or its attempts are spent
-- (the step is deleted then, so it stays dead).
-- Atomic: the attempt is counted in the same step as the look-up and
-- before any code is checked, so however many attempts arrive at once no
-- more than the allowance reach a check. Success is the caller's DEL of the
-- key, whose reply (1 for exactly one caller) makes the token single-use.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return false
end
if redis.call('HINCRBY', KEYS[1], 'left', -1) < 0 then
  redis.call('DEL', KEYS[1])
  return false
end
return redis.call('HMGET', KEYS[1], 'user', 'opening')
