-- Second factors: an authenticator app (TOTP, RFC 6238) and recovery codes.

-- One authenticator app per user. The secret is encrypted at rest
-- (AES-256-GCM under mfa.encryption_key, the user's id as associated data,
-- so a row copied to another user does not decrypt). It is pending until
-- its first code confirms it; last_step is the time step of the last code
-- accepted, which no later code may repeat or precede (RFC 6238 §5.2):
-- advanced by one conditional UPDATE, so two requests with one code see
-- one acceptance.
CREATE TABLE user_totp (
    user_id      uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret       bytea NOT NULL,
    confirmed_at timestamptz,
    last_step    bigint,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- Recovery codes: random, shown once, stored as SHA-256 (of the user's id
-- and the normalised code; 80 random bits need no slow hash), each used at
-- most once (used_at set by one conditional UPDATE).
CREATE TABLE user_recovery_codes (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  bytea NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);
