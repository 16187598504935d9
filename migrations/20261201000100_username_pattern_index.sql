-- no-transaction
-- username-available looks for `lower(username) ~ '^<name>[0-9]*$'`. The
-- unique index on lower(username) uses the database's collation, which the
-- planner cannot use for a pattern's prefix unless it is plain "C", so the
-- lookup scanned every row; a text_pattern_ops index turns the anchored
-- prefix into an index range. CONCURRENTLY, so adding it does not block
-- sign-ups on a large table (and so outside a transaction: the first line).
CREATE INDEX CONCURRENTLY IF NOT EXISTS users_username_lower_pattern_idx
    ON users (lower(username) text_pattern_ops);
