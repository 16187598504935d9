-- The OAuth client registry: machines, apps and gateways with credentials of
-- their own. Secrets are random (256 bits) and stored as SHA-256 digests;
-- two may be live at once so a secret rotates without downtime.

CREATE TABLE oauth_clients (
    client_id                  text PRIMARY KEY,
    name                       text NOT NULL,
    kind                       text NOT NULL CHECK (kind IN ('confidential', 'public')),
    auth_method                text NOT NULL CHECK (auth_method IN
                                   ('client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none')),
    -- The current secret's digest; NULL for public and private_key_jwt clients.
    secret_hash                bytea CHECK (secret_hash IS NULL OR length(secret_hash) = 32),
    -- The secret before the last rotation, live until it expires.
    previous_secret_hash       bytea CHECK (previous_secret_hash IS NULL OR length(previous_secret_hash) = 32),
    previous_secret_expires_at timestamptz,
    -- RFC 7517 key set for private_key_jwt.
    jwks                       jsonb,
    grant_types                text[] NOT NULL DEFAULT '{}',
    scopes                     text[] NOT NULL DEFAULT '{}',
    audiences                  text[] NOT NULL DEFAULT '{}',
    redirect_uris              text[] NOT NULL DEFAULT '{}',
    post_logout_redirect_uris  text[] NOT NULL DEFAULT '{}',
    first_party                boolean NOT NULL DEFAULT false,
    dpop_bound                 boolean NOT NULL DEFAULT false,
    -- NULL: `jwt.access_ttl_secs`.
    access_ttl_secs            integer CHECK (access_ttl_secs IS NULL OR access_ttl_secs > 0),
    disabled                   boolean NOT NULL DEFAULT false,
    -- Tokens of this client issued before this instant (unix seconds) are
    -- dead: set when it is disabled or deleted.
    tokens_not_before          bigint NOT NULL DEFAULT 0,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER oauth_clients_set_updated_at BEFORE UPDATE ON oauth_clients
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
