-- The change feed is pruned (crates/urbis-store/src/changes.rs, `Store::prune_changes`): rows older than a
-- day are deleted, never the newest. This one row remembers the last `seq` deleted, so that a
-- reader that last saw an older `seq` knows it missed changes it can no longer read (and drops
-- every cached tile) instead of believing nothing changed.

CREATE TABLE urbis_changes_pruned (
    id int PRIMARY KEY CHECK (id = 1),
    up_to bigint NOT NULL
);
INSERT INTO urbis_changes_pruned (id, up_to) VALUES (1, 0);
