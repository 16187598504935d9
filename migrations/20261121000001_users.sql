-- Users and the audit log.

CREATE TYPE account_role AS ENUM ('ADMIN', 'MODERATOR', 'REGULAR');
CREATE TYPE account_subscription AS ENUM ('FREE', 'PRO');

-- Keeps updated_at honest without every UPDATE having to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TABLE users (
    id                      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Stored lower-cased by the service; the check keeps it that way.
    email                   text NOT NULL CHECK (email = lower(email)),
    -- Kept in its original case; unique case-insensitively (index below).
    username                text NOT NULL,
    password_hash           text NOT NULL,
    account_role            account_role NOT NULL DEFAULT 'REGULAR',
    account_subscription    account_subscription NOT NULL DEFAULT 'FREE',
    subscription_expires_at timestamptz,
    is_active               boolean NOT NULL DEFAULT true,
    is_blocked              boolean NOT NULL DEFAULT false,
    balance                 numeric(20, 2) NOT NULL DEFAULT 0 CONSTRAINT users_balance_non_negative CHECK (balance >= 0),
    first_name              text,
    last_name               text,
    avatar_url              text,
    gender                  text,
    date_of_birth           date,
    info                    text,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    -- Soft delete: the row (and so its email and username) stays.
    deleted_at              timestamptz,
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));
CREATE INDEX users_created_at_idx ON users (created_at);

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Security events. Append-only; indexed for the admin listing's filters.
CREATE TABLE audit_events (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    kind        text NOT NULL,
    actor_id    uuid,
    subject_id  uuid,
    ip          text,
    user_agent  text,
    details     jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX audit_events_occurred_at_idx ON audit_events (occurred_at DESC, id DESC);
CREATE INDEX audit_events_subject_idx ON audit_events (subject_id, occurred_at DESC, id DESC);
CREATE INDEX audit_events_kind_idx ON audit_events (kind, occurred_at DESC, id DESC);
