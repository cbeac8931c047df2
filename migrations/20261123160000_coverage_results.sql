-- The last service-access run (crates/urbis-analysis), as declared by COVERAGE_RESULTS in
-- crates/urbis-core/src/layer.rs: isochrones, uncovered areas and per-parcel access in one table,
-- so that a run replaces the previous one in one transaction (`kind` tells them apart).

CREATE TABLE coverage_results (
    fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id text COLLATE "C" NOT NULL UNIQUE,
    geom geometry(GEOMETRY, 4326) NOT NULL,
    kind text COLLATE "C",
    mode text COLLATE "C",
    centre text COLLATE "C",
    minutes double precision,
    km double precision,
    parcel text COLLATE "C",
    weight double precision,
    time_min double precision,
    network_km double precision,
    straight_km double precision,
    straight_centre text COLLATE "C",
    covered_time boolean,
    covered_km boolean,
    unreached text COLLATE "C",
    area_km2 double precision,
    extra jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX coverage_results_geom_idx ON coverage_results USING gist (geom);
CREATE INDEX coverage_results_geog_idx ON coverage_results USING gist ((geom::geography));
CREATE INDEX coverage_results_kind_idx ON coverage_results (kind);
