"""Geometries that users send (GeoJSON in WGS 84): checked, with a clear reason when they are unusable."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from gis.crs import check_lonlat
from gis.errors import FileRejected, InvalidInput

MAX_VERTICES = 100_000


def parse_geojson(value: Any, expected: str, *, where: str) -> shapely.Geometry:
    """A shapely geometry of type `expected` ("LineString", "Polygon") from GeoJSON, or InvalidInput."""
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidInput(f"{where}: expected a GeoJSON {expected} object", where=where)
    if value["type"] != expected:
        raise InvalidInput(f"{where}: expected a GeoJSON {expected}, got {value['type']!r}", where=where)
    try:
        geom = shapely.geometry.shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidInput(f"{where}: not a valid GeoJSON {expected}: {exc}", where=where) from None
    coords = shapely.get_coordinates(geom)
    if len(coords) > MAX_VERTICES:
        raise InvalidInput(f"{where}: {len(coords)} vertices, more than the limit of {MAX_VERTICES}", where=where)
    if geom.is_empty or not np.isfinite(coords).all():
        raise InvalidInput(f"{where}: the {expected} is empty or has coordinates that are not finite", where=where)
    try:
        check_lonlat(coords[:, 0], coords[:, 1], what=where)
    except FileRejected as exc:
        raise InvalidInput(exc.detail, where=where) from None
    if expected == "LineString" and geom.length == 0:
        raise InvalidInput(f"{where}: the line has no length", where=where)
    if expected == "Polygon" and not geom.is_valid:
        repaired = shapely.make_valid(geom)
        polygons = [p for p in shapely.get_parts(repaired) if p.geom_type in ("Polygon", "MultiPolygon")]
        if not polygons:
            raise InvalidInput(f"{where}: invalid polygon ({shapely.is_valid_reason(geom)})", where=where)
        geom = shapely.unary_union(polygons)
    if expected == "Polygon" and geom.area == 0:
        raise InvalidInput(f"{where}: the polygon has no area", where=where)
    return geom
