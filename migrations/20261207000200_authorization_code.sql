-- The authorization code flow and OpenID Connect.

-- An address is verified only when its owner followed an activation link;
-- the ID token's and userinfo's `email_verified` read this.
ALTER TABLE users ADD COLUMN email_verified_at timestamptz;

-- How a client's ID tokens are signed (OIDC Dynamic Client Registration's
-- name for it): EdDSA by default, RS256 for libraries that know no other.
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT 'EdDSA'
    CHECK (id_token_signed_response_alg IN ('EdDSA', 'RS256'));

-- What a user allowed a third-party client: asked again only for a scope
-- not granted before. Listed and revoked at /api/v1/users/me/consents.
CREATE TABLE oauth_consents (
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scopes     text[] NOT NULL,
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, client_id)
);
