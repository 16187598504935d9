-- Prelude of every script that ends sessions or cuts a user off (the Rust
-- side puts it before the script's own text): appends one revocation event
-- to the feed stream.
-- revoked(stream, retention, not_before, reason, kind, id)
--   stream      the feed's key, tessera:revocations; nil on Redis Cluster,
--               where the stream's slot is not the user's and the caller
--               appends after the script instead (append.lua)
--   retention   ms of events kept: older ones are trimmed (MINID ~, by this
--               Redis's own clock, the clock of the entry ids)
--   not_before  unix seconds: tokens of `id` issued before it are invalid
--   reason      why, e.g. logout
--   kind, id    'session' and a session id, or 'user' and a user id
-- Atomic with the script around it: the revocation and its event happen
-- together or not at all.
local function revoked(stream, retention, not_before, reason, kind, id)
  if not stream then
    return
  end
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XADD', stream, 'MINID', '~', string.format('%d', now - tonumber(retention)), '*',
    'kind', kind, 'id', id, 'nbf', not_before, 'reason', reason)
end
