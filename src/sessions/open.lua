-- Prelude of the scripts that open a session (create.lua, redeem_code.lua;
-- the Rust side puts it before their own text, after the feed's prelude).
-- open_session(keys, s, feed, authn) opens one session, evicting the user's
-- oldest beyond the cap; returns the ids of the sessions evicted, one
-- 'session' event appended for each.
--   keys  {session hash tessera:s:{<user id>}:<session id>,
--          the user's session index tessera:u:{<user id>} (sorted set:
--          session id -> expiry ms)}
--   s     {id, hash of the first refresh token, now (unix ms), lifetime (ms),
--          absolute expiry (unix ms), role, subscription, username,
--          user agent, client IP, most sessions a user may hold (0 =
--          unlimited), prefix of the user's session keys
--          tessera:s:{<user id>}:, client id ('' = tessera's own login),
--          scope (''), '1' when the client is confidential (''), the
--          DPoP key's thumbprint its refresh token is bound to ('')}
--   feed  {stream key or nil, retention ms, not_before (unix s), reason}
--   authn {RFC 8176 amr values, space-separated; auth_time (unix s)}: how
--          the sign-in was made, kept as 'amr' and 'at' for every token the
--          session mints
-- "Oldest" is the earliest expiry in the index: expiry slides with every
-- refresh, so that is the session least recently used (or the nearest its
-- absolute end). A device in daily use keeps its session; an abandoned one
-- goes first. The new session is added after the eviction, so it is never
-- the one evicted.
-- Bounded: expired entries are pruned first (their hashes deleted too, so a
-- session whose expiry has passed by this clock is over even if Redis's own
-- clock has not expired it yet); with a cap the index then holds at most the
-- cap, so each loop runs over at most that many entries (the eviction loop
-- over one, unless the cap was just lowered).
-- Every key shares the {<user id>} hash tag (the session keys are derived
-- from the prefix, in the index's slot), so this runs on Redis Cluster.
local function open_session(keys, s, feed, authn)
  local now = tonumber(s[3])
  for _, sid in ipairs(redis.call('ZRANGEBYSCORE', keys[2], '-inf', now)) do
    redis.call('DEL', s[12] .. sid)
  end
  redis.call('ZREMRANGEBYSCORE', keys[2], '-inf', now)
  local evicted = {}
  local max = tonumber(s[11])
  if max > 0 then
    local excess = redis.call('ZCARD', keys[2]) - max + 1
    if excess > 0 then
      for _, sid in ipairs(redis.call('ZRANGE', keys[2], 0, excess - 1)) do
        if redis.call('DEL', s[12] .. sid) == 1 then
          evicted[#evicted + 1] = sid
          revoked(feed[1], feed[2], feed[3], feed[4], 'session', sid)
        end
      end
      redis.call('ZREMRANGEBYRANK', keys[2], 0, excess - 1)
    end
  end
  local fields = {'cur', s[2], 'prev', '', 'rot', s[3], 'abs', s[5],
    'role', s[6], 'sub', s[7], 'name', s[8],
    'ua', s[9], 'ip', s[10], 'created', s[3], 'used', s[3],
    'amr', authn[1], 'at', authn[2]}
  if s[13] ~= '' then
    for _, v in ipairs({'cid', s[13], 'scope', s[14], 'conf', s[15]}) do
      fields[#fields + 1] = v
    end
  end
  if s[16] ~= '' then
    fields[#fields + 1] = 'jkt'
    fields[#fields + 1] = s[16]
  end
  redis.call('HSET', keys[1], unpack(fields))
  redis.call('PEXPIRE', keys[1], s[4])
  local ttl = tonumber(s[4])
  redis.call('ZADD', keys[2], now + ttl, s[1])
  if redis.call('PTTL', keys[2]) < ttl then
    redis.call('PEXPIRE', keys[2], ttl)
  end
  return evicted
end
