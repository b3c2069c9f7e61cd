"""Media types the HTTP API answers with, in one place (gis/ knows formats by name, not by media type)."""

from __future__ import annotations

import email.message

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


def is_json(content_type: str | None) -> bool:
    """Whether FastAPI reads a body with this Content-Type as JSON: `application/json` or `application/…+json`,
    in any case and with any parameters. Parsed as FastAPI parses it, so checks of the raw body (api.limits) and
    the route never disagree about what the body is."""
    if not content_type:
        return False  # FastAPI's strict content type: no header, no JSON
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (subtype == "json" or subtype.endswith("+json"))
