#!/usr/bin/env python3
"""Decodes Mapbox Vector Tiles with an independent decoder (the PyPI package mapbox-vector-tile)
and prints them as JSON, for tests/tiles.rs.

    python3 tests/decode_mvt.py TILE.mvt [TILE.mvt ...]

Prints {"<file>": {"<layer>": {"extent": .., "version": .., "features": [...]}}}. Coordinates stay in
the tile's own space, y down, as the spec defines it (no flip). Each polygon feature also gets
"ring_areas": per polygon, the signed area of each ring by the surveyor's formula in tile space,
exterior first, as decoded (MVT 2.1 wants exteriors positive, holes negative). An empty file is an
empty tile ({}).
"""
import json
import sys

import mapbox_vector_tile


def signed_area(ring):
    return sum(ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1] for i in range(len(ring) - 1)) / 2.0


def polygons(geometry):
    if geometry["type"] == "Polygon":
        return [geometry["coordinates"]]
    if geometry["type"] == "MultiPolygon":
        return geometry["coordinates"]
    return None


def main(paths):
    out = {}
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        decoded = mapbox_vector_tile.decode(data, default_options={"y_coord_down": True}) if data else {}
        for layer in decoded.values():
            for feature in layer["features"]:
                polys = polygons(feature["geometry"])
                if polys is not None:
                    feature["ring_areas"] = [[signed_area(r) for r in p] for p in polys]
        out[path] = decoded
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1:])
