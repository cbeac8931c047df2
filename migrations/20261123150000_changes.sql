-- The change feed: one row per write statement on a layer with geometry, with the box of every
-- geometry it touched (the rows before and after), written by triggers in the writing
-- transaction, so that a tile cache (in this process or another) invalidates exactly the tiles
-- an edit or an import touched. Readers take the rows after the last `seq` they saw.
--
-- `seq` order is commit order: the trigger takes a transaction-level advisory lock before it
-- numbers its row, so a writer that numbers later also commits later, and a reader never skips
-- a row that commits after a higher one is already visible.

CREATE TABLE urbis_changes (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    layer text COLLATE "C" NOT NULL,
    min_x double precision NOT NULL,
    min_y double precision NOT NULL,
    max_x double precision NOT NULL,
    max_y double precision NOT NULL,
    at timestamptz NOT NULL DEFAULT now()
);

-- Statement-level (a COPY of 100,000 rows writes one row here); TRUNCATE is seen before it
-- happens, with the extent of what it removes.
CREATE FUNCTION urbis_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
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
    RETURN NULL;
END
$$;

-- Puts the triggers on a layer table (again: `urbis migrate` calls it for every layer with
-- geometry, so layers added by later migrations are covered too).
CREATE FUNCTION urbis_track_changes(t regclass) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('CREATE OR REPLACE TRIGGER urbis_changes_insert AFTER INSERT ON %s '
        'REFERENCING NEW TABLE AS urbis_new_rows FOR EACH STATEMENT EXECUTE FUNCTION urbis_note_change()', t);
    EXECUTE format('CREATE OR REPLACE TRIGGER urbis_changes_update AFTER UPDATE ON %s '
        'REFERENCING OLD TABLE AS urbis_old_rows NEW TABLE AS urbis_new_rows '
        'FOR EACH STATEMENT EXECUTE FUNCTION urbis_note_change()', t);
    EXECUTE format('CREATE OR REPLACE TRIGGER urbis_changes_delete AFTER DELETE ON %s '
        'REFERENCING OLD TABLE AS urbis_old_rows FOR EACH STATEMENT EXECUTE FUNCTION urbis_note_change()', t);
    EXECUTE format('CREATE OR REPLACE TRIGGER urbis_changes_truncate BEFORE TRUNCATE ON %s '
        'FOR EACH STATEMENT EXECUTE FUNCTION urbis_note_change()', t);
END
$$;

SELECT urbis_track_changes(format('%I.%I', f_table_schema, f_table_name)::regclass)
FROM geometry_columns
WHERE f_table_schema = current_schema() AND f_geometry_column = 'geom';
