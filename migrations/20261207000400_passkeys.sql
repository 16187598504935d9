-- Passkeys (WebAuthn credentials, through webauthn-rs): a second factor, and
-- with a discoverable credential a sign-in of its own.
--
-- credential_id is the authenticator's id of the credential (rawId):
-- unique across all users, so one credential never names two accounts, and
-- a registration racing another with the same credential sees one winner.
-- passkey is webauthn-rs's serialised `Passkey` (the public key, the
-- signature counter, the backup flags); an authentication that moves its
-- counter or flags stores it again in one UPDATE that never lowers the
-- counter (see mfa/passkey_repo.rs).
CREATE TABLE user_passkeys (
    id            uuid PRIMARY KEY,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id bytea NOT NULL UNIQUE,
    name          text NOT NULL,
    passkey       jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz
);

CREATE INDEX user_passkeys_user_id ON user_passkeys (user_id, created_at);
