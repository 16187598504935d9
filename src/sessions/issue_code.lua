-- Stores what an authorization code was issued for, until it expires.
-- KEYS[1]  the code's hash  tessera:code:{<user id>}:<hex SHA-256 of the code>
-- ARGV[1]  lifetime (ms)
-- ARGV[2..] field, value, ...: cid (client id), redirect (redirect URI),
--          challenge (PKCE S256 challenge), anchor (the browser sign-in's
--          session id), scope, nonce, auth (auth_time, unix s), amr, and
--          for the email scope email and ev ('1' when verified), and jkt
--          (RFC 9449 §10's dpop_jkt) when the request named a DPoP key
-- Returns 1.
-- Atomic: the record never exists without its expiry.
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
