"""What a resident reaches on foot from a point (社区生活圈, "what can I reach from here"): for every facility
category, the nearest facility by walking distance on the network, and whether it lies within the
category's life-circle tier.

Distances are measured exactly as a coverage run measures them for buildings (gis/coverage/compute.py): the point
and the facilities are snapped onto the walking network within the same distance, and the network distance
includes both access distances and partial edges. A click on a building's walking start point therefore
gives the building's own `building_reach` figures.

Every facility counts, whoever runs it (`public` says publicly run, 公办): a resident's nearest bank or
convenience store is nearly always private, and coverage runs count them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.graph import nearest, paths, snap
from gis.coverage.network_store import load_graph
from gis.errors import InvalidInput
from gis.geo import dataset
from gis.geo.crs import STORAGE_SRID
from gis.registry import facility_registry


@dataclass(frozen=True)
class NearestFacility:
    facility_id: int
    name: str | None
    distance_m: float  # network distance, unrounded


@dataclass(frozen=True)
class PointReach:
    """Where the point meets the network and, per registry category, its nearest facility (None: none reached)."""

    on_network: bool
    access_m: float | None
    nearest: dict[str, NearestFacility | None]
    # Per category, the walk to that facility in WGS 84 (asked for with `with_paths`): the straight access
    # leg from the point, the network, the access leg to the facility.
    paths: dict[str, shapely.LineString | None] = field(default_factory=dict)


@lru_cache(maxsize=8)
def _to_metric(epsg: int) -> Transformer:
    return Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)


@lru_cache(maxsize=8)
def _to_storage(epsg: int) -> Transformer:
    return Transformer.from_crs(epsg, STORAGE_SRID, always_xy=True)


def nearest_facilities(
    session: Session, lon: float, lat: float, *, max_snap_m: float, with_paths: bool = False
) -> PointReach:
    """The nearest facility of every registry category from a WGS 84 point, by exact network distance; with
    `with_paths`, also the walking route to each of them."""
    categories = list(facility_registry().categories)
    nothing: dict[str, NearestFacility | None] = dict.fromkeys(categories)
    try:
        epsg = dataset.metric_epsg(session)
    except LookupError:  # an empty dataset has no metric CRS and no network: nothing is reachable
        return PointReach(False, None, nothing)
    x, y = _to_metric(epsg).transform(lon, lat)
    graph = load_graph(session)
    origin = snap(graph, np.array([shapely.Point(x, y)]), max_snap_m)
    if not origin.snapped[0]:
        return PointReach(False, None, nothing)

    rows = session.execute(
        text("SELECT id, category, name, ST_AsBinary(ST_Transform(geom, :epsg)) AS wkb FROM facilities ORDER BY id"),
        {"epsg": epsg},
    ).all()
    found = dict(nothing)
    routes: dict[str, shapely.LineString | None] = {}
    if rows:
        points = shapely.from_wkb([bytes(r.wkb) for r in rows])
        facility_snap = snap(graph, points, max_snap_m)
        # Network distance is symmetric: one Dijkstra from the point gives its distance to every facility.
        distance, _ = nearest(graph, targets=facility_snap, sources=origin)
        found |= _nearest_per_category(rows, distance, categories)
        if with_paths:
            index = {int(r.id): i for i, r in enumerate(rows)}
            chosen = [index[hit.facility_id] for hit in found.values() if hit is not None]
            walks = paths(graph, origin, facility_snap.take(np.array(chosen, dtype=np.int64)))
            by_facility = dict(zip(chosen, walks, strict=True))
            to_storage = _to_storage(epsg)
            for code, hit in found.items():
                walk = None if hit is None else by_facility[index[hit.facility_id]]
                if hit is None or walk is None:
                    routes[code] = None
                    continue
                # The access legs: from the point onto the network, and off it to the facility.
                end = shapely.get_coordinates(points[index[hit.facility_id]])
                metric = np.vstack([[x, y], shapely.get_coordinates(walk), end])
                lons, lats = to_storage.transform(metric[:, 0], metric[:, 1])
                routes[code] = shapely.LineString(np.column_stack([lons, lats]))
    return PointReach(True, float(origin.access[0]), found, routes)


def _nearest_per_category(
    rows: Sequence[Any], distance: np.ndarray, categories: list[str]
) -> dict[str, NearestFacility | None]:
    """The closest reached facility of each category; ties go to the lowest id (rows are ordered by id)."""
    category = np.array([r.category for r in rows], dtype=object)
    out: dict[str, NearestFacility | None] = {}
    for code in categories:
        mine = np.flatnonzero((category == code) & np.isfinite(distance))
        if len(mine) == 0:
            out[code] = None
            continue
        best = int(mine[np.argmin(distance[mine])])
        out[code] = NearestFacility(int(rows[best].id), rows[best].name, float(distance[best]))
    return out


def reach_from(
    session: Session, lon: float, lat: float, *, speed_mps: float, max_snap_m: float, with_paths: bool = False
) -> dict[str, Any]:
    """What can be reached on foot from a WGS 84 point: per category (registry order) the nearest facility,
    its walking distance and time, and whether that is within the category's tier; with `with_paths` also the
    walking route there as a GeoJSON LineString (`path`, else null). A point farther than `max_snap_m` from the
    network is answered with on_network false and no distances (not an error)."""
    if not 0 < speed_mps <= 3:
        raise InvalidInput(f"speed={speed_mps} m/s is not a walking speed (0-3 m/s)", where="speed")
    if not max_snap_m > 0:
        raise InvalidInput(f"max_snap_m={max_snap_m} must be positive", where="max_snap_m")
    found = nearest_facilities(session, lon, lat, max_snap_m=max_snap_m, with_paths=with_paths)
    registry = facility_registry()
    categories = []
    for code, category in registry.categories.items():
        hit = found.nearest[code]
        minutes = None if hit is None else round(hit.distance_m / speed_mps / 60.0, 1)
        # Unrounded, like coverage figures: 1080.3 m at 1.2 m/s shows as 15.0 min but is outside 15 min.
        within = hit is not None and hit.distance_m <= category.tier * 60.0 * speed_mps
        categories.append(
            {
                "category": code,
                "category_name_zh": category.name_zh,
                "category_name_en": category.name_en,
                "tier": category.tier,
                "facility": None if hit is None else {"id": hit.facility_id, "name": hit.name},
                "distance_m": None if hit is None else round(hit.distance_m, 1),
                "minutes": minutes,
                "within_tier": within,
                "path": _geojson_line(found.paths.get(code)),
            }
        )
    return {
        "lon": round(lon, 7),
        "lat": round(lat, 7),
        "on_network": found.on_network,
        "access_m": None if found.access_m is None else round(found.access_m, 1),
        "speed_mps": speed_mps,
        "max_snap_m": max_snap_m,
        "categories": categories,
    }


def _geojson_line(line: shapely.LineString | None) -> dict[str, Any] | None:
    if line is None:
        return None
    return {"type": "LineString", "coordinates": [[round(x, 7), round(y, 7)] for x, y in line.coords]}
