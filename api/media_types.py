"""Media types the HTTP API answers with, in one place (gis/ knows formats by name, not by media type)."""

from __future__ import annotations

from fastapi.responses import JSONResponse

JSON = "application/json"
GEOJSON = "application/geo+json"
SCHEMA = "application/schema+json"
HTML = "text/html"
MVT = "application/vnd.mapbox-vector-tile"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"

# gis.exchange.downloads.FORMATS by name → what the file is sent as.
DOWNLOADS: dict[str, str] = {
    "gpkg": "application/geopackage+sqlite3",
    "shp": "application/zip",  # the Shapefile's parts, zipped
    "geojson": GEOJSON,
    "csv": "text/csv",
}


class GeoJSONResponse(JSONResponse):
    media_type = GEOJSON


class SchemaResponse(JSONResponse):
    media_type = SCHEMA
