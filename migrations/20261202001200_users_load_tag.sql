-- Users seeded by the load-test kit (`tessera load seed`) carry the tag of
-- their run, so `tessera load purge --tag` deletes exactly them. NULL for
-- everyone else; adding a nullable column without a default rewrites nothing.
ALTER TABLE users ADD COLUMN load_tag text;
