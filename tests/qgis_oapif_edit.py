"""Reads one collection of an urbis server with QGIS's own OGC API - Features provider (OAPIF),
headless, and prints as JSON what QGIS sees: whether the layer is valid, what the provider says
it can do (QGIS 3.22's provider reads only), the feature count, how many features a full read
returned, and the attributes of one feature by its id. Run with Debian's python3-qgis:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_oapif_edit.py http://127.0.0.1:8080 zoning_districts [ID]

Each run is a fresh QGIS, so what it prints is what the next reader of the server sees.
"""
import json
import os
import sys

from qgis.core import QgsApplication, QgsVectorDataProvider, QgsVectorLayer

app = QgsApplication([], False)
app.initQgis()
url, typename = sys.argv[1], sys.argv[2]
wanted = sys.argv[3] if len(sys.argv) > 3 else None

layer = QgsVectorLayer(f"url='{url}' typename='{typename}' restrictToRequestBBOX='0'", typename, "OAPIF")
seen = {"valid": layer.isValid()}
if layer.isValid():
    provider = layer.dataProvider()
    caps = provider.capabilities()
    seen["capabilities"] = provider.capabilitiesString()
    seen["can_edit"] = {
        "add": bool(caps & QgsVectorDataProvider.AddFeatures),
        "delete": bool(caps & QgsVectorDataProvider.DeleteFeatures),
        "change_attributes": bool(caps & QgsVectorDataProvider.ChangeAttributeValues),
        "change_geometries": bool(caps & QgsVectorDataProvider.ChangeGeometries),
    }
    seen["count"] = layer.featureCount()
    seen["fields"] = [f.name() for f in layer.fields()]
    read = 0
    found = None
    for feature in layer.getFeatures():
        read += 1
        if wanted is not None and str(feature["id"]) == wanted:
            found = {
                name: (value if isinstance(value, (str, int, float, bool)) or value is None else str(value))
                for name, value in zip(seen["fields"], feature.attributes())
            }
            found["geometry"] = feature.geometry().asWkt(7)
    seen["read"] = read
    seen["feature"] = found
print(json.dumps(seen))
sys.stdout.flush()
# QGIS's own teardown can crash headless after the work is done; the answer is already out.
os._exit(0)
