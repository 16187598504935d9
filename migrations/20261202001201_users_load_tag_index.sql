-- no-transaction
-- Purge and `load tokens` find a tag's users by it. Partial: real users
-- (load_tag NULL) add nothing to it. CONCURRENTLY, so adding it does not
-- block sign-ups on a large table (and so outside a transaction: the first
-- line).
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_load_tag_idx
    ON users (load_tag, id) WHERE load_tag IS NOT NULL;
