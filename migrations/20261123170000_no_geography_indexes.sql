-- Distances in metres no longer need a GiST index on each layer's geography: the queries first
-- select by the planar GiST index on `geom`, with a box widened by the distance in degrees at the
-- box's latitude (urbis_core::geodesy::expand_by_metres), then measure on the sphere. One index
-- fewer per layer makes every write and bulk load cheaper (a Porto road import spent a fifth of
-- its time building this index) and gives the same answers.
DROP INDEX IF EXISTS parcels_geog_idx;
DROP INDEX IF EXISTS zoning_districts_geog_idx;
DROP INDEX IF EXISTS zoning_overlays_geog_idx;
DROP INDEX IF EXISTS roads_geog_idx;
DROP INDEX IF EXISTS utilities_geog_idx;
DROP INDEX IF EXISTS service_centres_geog_idx;
DROP INDEX IF EXISTS buildings_geog_idx;
DROP INDEX IF EXISTS permits_geog_idx;
DROP INDEX IF EXISTS coverage_results_geog_idx;
