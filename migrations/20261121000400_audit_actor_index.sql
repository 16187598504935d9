-- no-transaction
-- The admin audit listing filters by actor ("what did this administrator
-- do"); like the other audit indexes, ordered for newest-first pages.
-- CONCURRENTLY, so adding it to a table of millions of rows does not block
-- the audit writer (and so outside a transaction: the first line above).
CREATE INDEX CONCURRENTLY IF NOT EXISTS audit_events_actor_idx
    ON audit_events (actor_id, occurred_at DESC, id DESC);
