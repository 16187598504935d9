-- Lists a user's live sessions.
-- KEYS[1]  the user's session index tessera:u:{<user id>}
-- ARGV[1]  prefix of the user's session keys, tessera:s:{<user id>}:
-- ARGV[2]  now (unix ms)
-- Returns one {session id, created ms, last used ms, user agent, ip,
-- OAuth client id or ''} per
-- session whose hash still exists (index entries outlive ended sessions
-- until pruned, so each is checked).
-- Bounded: only unexpired entries are visited, at most session.max_per_user
-- (create.lua keeps the index under that cap); expired ones are left for the
-- writing scripts to prune, so this stays read-only.
-- Read-only, one round trip; a consistent snapshot of the user's sessions.
-- The session keys carry KEYS[1]'s {<user id>} hash tag, so they live in its
-- Redis Cluster slot.
local out = {}
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[2], '+inf')) do
  local s = redis.call('HMGET', ARGV[1] .. sid, 'created', 'used', 'ua', 'ip', 'cid')
  if s[1] then
    out[#out + 1] = {sid, s[1], s[2] or s[1], s[3] or '', s[4] or '', s[5] or ''}
  end
end
return out
