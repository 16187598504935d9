-- Creates a session (a login), evicting the user's oldest sessions beyond
-- the cap: open_session of open.lua.
-- KEYS[1]  session hash            tessera:s:{<user id>}:<session id>
-- KEYS[2]  the user's session index tessera:u:{<user id>}
-- ARGV[1..16]  open_session's `s`, in its order
-- KEYS[3]  the revocation feed stream (single Redis only; on Redis Cluster it
--          is absent and the caller appends the event after the script)
-- ARGV[17] feed retention (ms)   ARGV[18] the events' not_before (unix s)
-- ARGV[19] the events' reason
-- ARGV[20] the sign-in's amr (space-separated)   ARGV[21] its auth_time (unix s)
-- Returns the ids of the sessions evicted.
-- Atomic: the session and its index entry appear together, and no login
-- ever sees a user over the cap.
return open_session({KEYS[1], KEYS[2]},
  {ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8],
   ARGV[9], ARGV[10], ARGV[11], ARGV[12], ARGV[13], ARGV[14], ARGV[15], ARGV[16]},
  {KEYS[3], ARGV[17], ARGV[18], ARGV[19]}, {ARGV[20], ARGV[21]})
