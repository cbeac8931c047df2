-- The layers of urbis, one table per layer, as declared in urbis-core's layer schemas
-- (crates/urbis-core/src/layer.rs). The test `postgis_schema` compares these tables with those
-- schemas column by column, so a change to one without the other fails the build.
--
-- Conventions:
-- * `fid` is the row's internal key; `id` is the stable id users and URLs see.
-- * Text columns use the "C" collation so that ordering and comparisons are by code point, the
--   same as SQLite's binary order in the GeoPackage store, and so that `ORDER BY id COLLATE "C"`
--   (paging) can use the unique index on id.
-- * Geometries are WGS 84 (SRID 4326). Each geometry has a planar GiST index for bbox and
--   intersection queries and a GiST index on its geography for distances in metres (nearest,
--   within distance), which the queries write as `geom::geography`.
-- * `extra` keeps every other attribute of the source, so nothing is dropped on import.
-- The postgis extension is created by `urbis migrate` before these run (it needs privileges the
-- migration role may not have once the extension exists).

CREATE TABLE parcels (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(MULTIPOLYGON, 4326) NOT NULL,
    code text COLLATE "C",
    address text COLLATE "C",
    land_use_code text COLLATE "C",
    land_use text COLLATE "C",
    area_m2 double precision,
    dwelling_units bigint,
    population double precision,
    stories double precision,
    year_built bigint,
    public_owner boolean,
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX parcels_geom_idx ON parcels USING gist (geom);
CREATE INDEX parcels_geog_idx ON parcels USING gist ((geom::geography));
CREATE INDEX parcels_code_idx ON parcels (code);

CREATE TABLE zoning_districts (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(MULTIPOLYGON, 4326) NOT NULL,
    code text COLLATE "C",
    name text COLLATE "C",
    category text COLLATE "C",
    max_height_m double precision,
    max_far double precision,
    max_lot_coverage double precision,
    min_setback_front_m double precision,
    min_setback_side_m double precision,
    min_setback_rear_m double precision,
    permitted_uses jsonb,
    conditional_uses jsonb,
    article text COLLATE "C",
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX zoning_districts_geom_idx ON zoning_districts USING gist (geom);
CREATE INDEX zoning_districts_geog_idx ON zoning_districts USING gist ((geom::geography));
CREATE INDEX zoning_districts_code_idx ON zoning_districts (code);

CREATE TABLE zoning_overlays (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(MULTIPOLYGON, 4326) NOT NULL,
    name text COLLATE "C",
    kind text COLLATE "C",
    code text COLLATE "C",
    article text COLLATE "C",
    max_height_m double precision,
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX zoning_overlays_geom_idx ON zoning_overlays USING gist (geom);
CREATE INDEX zoning_overlays_geog_idx ON zoning_overlays USING gist ((geom::geography));

CREATE TABLE roads (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(MULTILINESTRING, 4326) NOT NULL,
    name text COLLATE "C",
    class text COLLATE "C",
    speed_kmh double precision,
    oneway bigint,
    from_node text COLLATE "C",
    to_node text COLLATE "C",
    restriction text COLLATE "C",
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX roads_geom_idx ON roads USING gist (geom);
CREATE INDEX roads_geog_idx ON roads USING gist ((geom::geography));

CREATE TABLE utilities (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(GEOMETRY, 4326) NOT NULL,
    network text COLLATE "C",
    kind text COLLATE "C",
    size_mm double precision,
    protection_m double precision,
    owner text COLLATE "C",
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX utilities_geom_idx ON utilities USING gist (geom);
CREATE INDEX utilities_geog_idx ON utilities USING gist ((geom::geography));

CREATE TABLE service_centres (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(POINT, 4326) NOT NULL,
    name text COLLATE "C",
    kind text COLLATE "C",
    address text COLLATE "C",
    opening_hours text COLLATE "C",
    desks bigint,
    one_stop boolean,
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX service_centres_geom_idx ON service_centres USING gist (geom);
CREATE INDEX service_centres_geog_idx ON service_centres USING gist ((geom::geography));

CREATE TABLE buildings (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(MULTIPOLYGON, 4326) NOT NULL,
    kind text COLLATE "C",
    levels double precision,
    height_m double precision,
    address text COLLATE "C",
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX buildings_geom_idx ON buildings USING gist (geom);
CREATE INDEX buildings_geog_idx ON buildings USING gist ((geom::geography));

CREATE TABLE procedures (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    code text COLLATE "C",
    name text COLLATE "C",
    category text COLLATE "C",
    processing_days bigint,
    fee double precision,
    online boolean,
    channels jsonb,
    documents jsonb,
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX procedures_code_idx ON procedures (code);

-- Site geometry is optional: a dossier may be filed before its site is drawn.
CREATE TABLE permits (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(GEOMETRY, 4326),
    tracking_code text COLLATE "C",
    procedure_code text COLLATE "C",
    applicant jsonb,
    parcel_codes jsonb,
    description text COLLATE "C",
    address text COLLATE "C",
    proposed_use text COLLATE "C",
    proposed_height_m double precision,
    proposed_floor_area_m2 double precision,
    channel text COLLATE "C",
    centre_id text COLLATE "C",
    stage text COLLATE "C",
    received_at timestamptz,
    due_at timestamptz,
    decided_at timestamptz,
    decision text COLLATE "C",
    satisfaction bigint,
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX permits_geom_idx ON permits USING gist (geom);
CREATE INDEX permits_geog_idx ON permits USING gist ((geom::geography));
CREATE INDEX permits_tracking_code_idx ON permits (tracking_code);

CREATE TABLE permit_events (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    permit_id text COLLATE "C",
    seq bigint,
    at timestamptz,
    kind text COLLATE "C",
    stage text COLLATE "C",
    actor text COLLATE "C",
    note text COLLATE "C",
    hash text COLLATE "C",
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX permit_events_permit_id_idx ON permit_events (permit_id);
