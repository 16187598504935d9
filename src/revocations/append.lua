-- Appends revocation events after the script that revoked (Redis Cluster,
-- where the feed stream's slot differs from the user's). Preceded by emit.lua.
-- KEYS[1]  the feed stream tessera:revocations
-- ARGV[1]  retention ms   ARGV[2]  not_before (unix s)   ARGV[3]  reason
-- ARGV[4]  kind ('session', 'user' or 'client')   ARGV[5..]  the ids revoked
-- Returns the number of events appended.
-- Atomic: all of the events or none; the one key is the script's slot.
for i = 5, #ARGV do
  revoked(KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[i])
end
return #ARGV - 4
