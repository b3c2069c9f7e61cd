"""Geometries that users send (GeoJSON in WGS 84): checked, with a clear reason when they are unusable."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import shapely

from gis.errors import FileRejected, InvalidInput
from gis.geo.crs import check_lonlat
from gis.settings import Settings

MAX_VERTICES = 100_000  # the default of Settings.max_vertices (GRIDMAP_MAX_VERTICES)
MAX_HOLES = 1_000  # the default of Settings.max_holes (GRIDMAP_MAX_HOLES)
MAX_PARTS = 100  # the default of Settings.max_parts (GRIDMAP_MAX_PARTS)

# How deep positions sit in `coordinates`, and how many a part needs at least.
_NESTING = {"LineString": 1, "Polygon": 2}
_PART = {"LineString": "a line", "Polygon": "a ring"}


def geometry_bounds(settings: Settings) -> dict[str, int]:
    """The bounds of `parse_geojson` as configured: `parse_geojson(..., **geometry_bounds(settings))`."""
    return {"max_vertices": settings.max_vertices, "max_holes": settings.max_holes, "max_parts": settings.max_parts}


def check_vertices(count: int, limit: int, *, where: str) -> None:
    """InvalidInput when a geometry has more vertices than `limit`: editing such a thing is not a plan edit."""
    _check_bound(count, limit, "vertices", "GRIDMAP_MAX_VERTICES", where)


def _check_bound(count: int, limit: int, what: str, setting: str, where: str) -> None:
    """InvalidInput naming the geometry, the count and the limit it passes (and the setting that sets it)."""
    if count > limit:
        raise InvalidInput(f"{where}: {count} {what}, more than the limit of {limit} ({setting})", where=where)


def parse_geojson(
    value: Any,
    expected: str,
    *,
    where: str,
    max_vertices: int = MAX_VERTICES,
    max_holes: int = MAX_HOLES,
    max_parts: int = MAX_PARTS,
) -> shapely.Geometry:
    """A shapely geometry of type `expected` ("LineString", "Polygon") from GeoJSON, or InvalidInput.

    An unclosed ring is closed and an invalid polygon repaired (keeping its polygonal parts); anything
    else that is wrong is refused with the path of the offending value, e.g. `line.coordinates[2]`.
    Vertices and holes are counted from list lengths before anything else is done with the geometry (validity,
    repair and the database's containment tests cost with them: 20,000 holes once took 35 s); a repair that
    breaks a polygon into more than `max_parts` parts is refused too.
    """
    if not isinstance(value, dict) or "type" not in value:
        raise InvalidInput(f"{where}: expected a GeoJSON {expected} object", where=where)
    if value["type"] != expected:
        raise InvalidInput(f"{where}: expected a GeoJSON {expected}, got {value['type']!r}", where=where)
    if "coordinates" not in value:
        raise InvalidInput(f"{where}: the GeoJSON {expected} has no coordinates", where=where)
    coordinates = value["coordinates"]
    check_vertices(_rough_count(coordinates, expected), max_vertices, where=where)  # before any costly walk
    if expected == "Polygon" and isinstance(coordinates, list):
        _check_bound(len(coordinates) - 1, max_holes, "holes (interior rings)", "GRIDMAP_MAX_HOLES", where)
    # Walk the structure: shapely's and numpy's own errors on malformed input name nothing.
    _check_positions(coordinates, _NESTING[expected], f"{where}.coordinates", expected, where)
    _check_parts(coordinates, expected, where)
    try:
        geom = shapely.geometry.shape(value)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError) as exc:
        raise InvalidInput(f"{where}: not a valid GeoJSON {expected}: {exc}", where=where) from None
    coords = shapely.get_coordinates(geom)
    if geom.is_empty or not np.isfinite(coords).all():
        raise InvalidInput(f"{where}: the {expected} is empty or has coordinates that are not finite", where=where)
    try:
        check_lonlat(coords[:, 0], coords[:, 1], what=where)
    except FileRejected as exc:
        raise InvalidInput(exc.detail, where=where) from None
    if expected == "LineString" and geom.length == 0:
        raise InvalidInput(f"{where}: the line has no length", where=where)
    if expected == "Polygon" and not geom.is_valid:
        repaired = made_valid(np.array([geom], dtype=object))[0]
        polygons = [p for p in shapely.get_parts(repaired) if p.geom_type in ("Polygon", "MultiPolygon")]
        if not polygons:
            raise InvalidInput(f"{where}: invalid polygon ({shapely.is_valid_reason(geom)})", where=where)
        geom = shapely.unary_union(polygons)
        _check_bound(shapely.get_num_geometries(geom), max_parts, "parts after repair", "GRIDMAP_MAX_PARTS", where)
    if expected == "Polygon" and geom.area == 0:
        raise InvalidInput(f"{where}: the polygon has no area", where=where)
    return geom


def made_valid(geoms: np.ndarray) -> np.ndarray:
    """`shapely.make_valid`, one geometry at a time where GEOS refuses the batch (some collapsed rings raise
    "Overlay input is mixed-dimension"): such a geometry comes back empty, so the caller refuses it."""
    try:
        return shapely.make_valid(geoms)
    except shapely.errors.GEOSException:
        out = np.empty(len(geoms), dtype=object)
        for k, geom in enumerate(geoms):
            try:
                out[k] = shapely.make_valid(geom)
            except shapely.errors.GEOSException:
                out[k] = shapely.Polygon()
        return out


def _rough_count(coordinates: Any, expected: str) -> int:
    """The number of positions, from list lengths alone (whatever they hold)."""
    if not isinstance(coordinates, list):
        return 0
    if expected == "LineString":
        return len(coordinates)
    return sum(len(ring) for ring in coordinates if isinstance(ring, list))


def _check_positions(value: Any, depth: int, path: str, expected: str, where: str) -> None:
    """Positions nested `depth` lists deep in `value`; InvalidInput at the first bad one."""
    if depth == 0:
        _check_position(value, path, expected, where)
        return
    if not isinstance(value, list):
        inner = "positions" if depth == 1 else "lists of positions"
        raise InvalidInput(f"{path}: expected a list of {inner} for a {expected}, got {_show(value)}", where=where)
    for i, v in enumerate(value):
        _check_positions(v, depth - 1, f"{path}[{i}]", expected, where)


def _check_position(value: Any, path: str, expected: str, where: str) -> None:
    numbers = isinstance(value, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    if not numbers or not 2 <= len(value) <= 3:
        raise InvalidInput(
            f"{path}: a {expected} position is [longitude, latitude] in numbers, got {_show(value)}", where=where
        )
    if not all(_finite(v) for v in value):
        raise InvalidInput(f"{path}: {_show(value)} has a coordinate that is not a finite number", where=where)


def _finite(number: float) -> bool:
    try:
        return math.isfinite(number)
    except OverflowError:  # an integer too large for a float (JSON allows any number of digits)
        return False


def _check_parts(coordinates: list[Any], expected: str, where: str) -> None:
    """A line needs two positions; a ring three besides the closing one (an unclosed ring is closed)."""
    parts = [coordinates] if expected == "LineString" else coordinates
    if not parts:
        raise InvalidInput(f"{where}: the {expected} has no rings", where=where)
    for i, part in enumerate(parts):
        path = f"{where}.coordinates" if expected == "LineString" else f"{where}.coordinates[{i}]"
        closed = len(part) > 1 and part[0] == part[-1]
        needed = 2 if expected == "LineString" else (4 if closed else 3)
        if len(part) < needed:
            raise InvalidInput(
                f"{path}: {_PART[expected]} needs at least {needed} positions, got {len(part)}", where=where
            )


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
