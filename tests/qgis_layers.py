"""Opens a GeoPackage with QGIS (headless) and prints, as JSON, what QGIS sees of each layer:
feature count, geometry type and CRS. Run with Debian's python3 and python3-qgis:

    QT_QPA_PLATFORM=offscreen /usr/bin/python3 tests/qgis_layers.py city.gpkg parcels roads …
"""
import json
import os
import sys

from qgis.core import QgsApplication, QgsVectorLayer, QgsWkbTypes

app = QgsApplication([], False)
app.initQgis()
path, names = sys.argv[1], sys.argv[2:]
seen = {}
for name in names:
    layer = QgsVectorLayer(f"{path}|layername={name}", name, "ogr")
    seen[name] = {
        "valid": layer.isValid(),
        "count": layer.featureCount(),
        "geometry": QgsWkbTypes.displayString(layer.wkbType()),
        "crs": layer.crs().authid(),
        "fields": [f.name() for f in layer.fields()],
    }
print(json.dumps(seen))
sys.stdout.flush()
# QGIS's own teardown can crash headless after the work is done; the answer is already out.
os._exit(0)
