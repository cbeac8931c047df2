-- The change feed also says so: every statement that writes a row to `urbis_changes` sends
-- `NOTIFY urbis_changes` (no payload; PostgreSQL sends it at commit, once per transaction), so a
-- tile cache that LISTENs knows, without asking, whether the feed may have grown since it last
-- read it (crates/urbis-store/src/changes.rs, `postgis::watch`). The feed stays the record: a
-- listener that lost its connection reads it on every request until it listens again.

CREATE OR REPLACE FUNCTION urbis_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    e box2d;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT ST_Extent(geom) INTO e FROM urbis_new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT ST_Extent(geom) INTO e FROM urbis_old_rows;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT ST_Extent(g) INTO e
        FROM (SELECT geom AS g FROM urbis_old_rows UNION ALL SELECT geom FROM urbis_new_rows) AS both_versions;
    ELSE
        EXECUTE format('SELECT ST_Extent(geom) FROM %I.%I', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO e;
    END IF;
    IF e IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('urbis_changes'));
    INSERT INTO urbis_changes (layer, min_x, min_y, max_x, max_y)
    VALUES (TG_TABLE_NAME, ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e));
    PERFORM pg_notify('urbis_changes', '');
    RETURN NULL;
END
$$;
