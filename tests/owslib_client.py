"""OWSLib (PyPI) as a client of urbis's OGC API Features, checked against the source file.

    python3 tests/owslib_client.py URL ZONING_GEOJSON LAYER...

URL serves the Cambridge zoning districts (CDD_ZoningDistricts.geojson imported as the layer
zoning_districts, code = ZONE_TYPE, with the file's feature ids). Every answer OWSLib gets is
compared with what this script computes itself from the file with shapely (GEOS), which shares no
code with urbis. Prints one JSON line of what it checked; exits non-zero on the first difference.
"""

import csv
import json
import os
import sys

from owslib.ogcapi.features import Features
from shapely.geometry import box, shape

url, source, *layers = sys.argv[1:]
with open(source) as f:
    features = json.load(f)["features"]
# The importer keeps the source's feature ids.
expected = {str(f["id"]): (f["properties"], shape(f["geometry"])) for f in features}

api = Features(url)
checked = {}


def fail(what, got, want):
    print(json.dumps({"failed": what, "got": sorted(got), "want": sorted(want)}))
    sys.exit(1)


def all_items(**params):
    """Every item for these parameters, page by page (limit 100), as OWSLib returns them."""
    ids, offset = [], 0
    while True:
        page = api.collection_items("zoning_districts", limit=100, offset=offset, **params)
        ids += [f["id"] for f in page["features"]]
        if not any(link["rel"] == "next" for link in page["links"]):
            return ids, page.get("numberMatched")
        offset += 100


# Collections: every layer, each with a title.
collections = {c["id"]: c for c in api.collections()["collections"]}
if sorted(collections) != sorted(layers):
    fail("collections", collections, layers)
checked["collections"] = len(collections)

# Queryables: the layer's fields and its geometry.
queryables = api.collection_queryables("zoning_districts")
props = queryables.get("properties", {})
for name in ["code", "geometry", "max_height_m"]:
    if name not in props:
        fail("queryables", props, ["code", "geometry", "max_height_m"])
checked["queryables"] = len(props)

# Everything, then a bbox query.
ids, matched = all_items()
if sorted(ids) != sorted(expected) or matched != len(expected):
    fail("all items", ids, expected)
bbox = (-71.115, 42.365, -71.100, 42.375)
want = [i for i, (_, g) in expected.items() if g.intersects(box(*bbox))]
ids, matched = all_items(bbox=list(bbox))
if sorted(ids) != sorted(want) or matched != len(want):
    fail("bbox", ids, want)
checked["bbox"] = len(want)

# CQL2 text: comparison, LIKE, IN, BETWEEN, IS NULL, boolean logic and a spatial predicate. The
# districts' limits come from data-samples/zoning_rules.csv, joined on the code.
with open(os.path.join(os.path.dirname(source), "..", "zoning_rules.csv")) as f:
    rules = {r["zone"]: r for r in csv.DictReader(f)}


def height(p):
    value = rules.get(p["ZONE_TYPE"], {}).get("max_height_m", "")
    return float(value) if value else None


cases = {
    "code = 'C-1'": lambda p, g: p["ZONE_TYPE"] == "C-1",
    "code LIKE 'C-%'": lambda p, g: p["ZONE_TYPE"].startswith("C-"),
    "code IN ('BA', 'C-3', 'IB-1')": lambda p, g: p["ZONE_TYPE"] in ("BA", "C-3", "IB-1"),
    "max_height_m BETWEEN 15 AND 25": lambda p, g: height(p) is not None and 15 <= height(p) <= 25,
    "max_height_m IS NULL OR code = 'OS'": lambda p, g: height(p) is None or p["ZONE_TYPE"] == "OS",
    "NOT (code LIKE 'C%') AND S_INTERSECTS(geometry, POLYGON((-71.115 42.365, -71.1 42.365, -71.1 42.375, -71.115 42.375, -71.115 42.365)))":
        lambda p, g: not p["ZONE_TYPE"].startswith("C") and g.intersects(box(*bbox)),
}
for text, keep in cases.items():
    want = [i for i, (p, g) in expected.items() if keep(p, g)]
    ids, matched = all_items(filter=text, **{"filter-lang": "cql2-text"})
    if sorted(ids) != sorted(want) or matched != len(want):
        fail(f"cql2-text {text}", ids, want)
    if not want:
        fail(f"cql2-text {text} selects nothing: a useless case", ids, want)
checked["cql2_text"] = len(cases)

# CQL2 JSON.
query = {"op": "and", "args": [
    {"op": "like", "args": [{"property": "code"}, "C%"]},
    {"op": "s_intersects", "args": [{"property": "geometry"},
                                    {"type": "Polygon", "coordinates": [[[-71.115, 42.365], [-71.1, 42.365], [-71.1, 42.375], [-71.115, 42.375], [-71.115, 42.365]]]}]},
]}
want = [i for i, (p, g) in expected.items() if p["ZONE_TYPE"].startswith("C") and g.intersects(box(*bbox))]
ids, matched = all_items(filter=json.dumps(query), **{"filter-lang": "cql2-json"})
if sorted(ids) != sorted(want) or not want:
    fail("cql2-json", ids, want)
checked["cql2_json"] = len(want)

print(json.dumps({"ok": True, **checked}))
