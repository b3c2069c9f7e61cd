"""Catchment polygons of a facility: the part of the walking network reached within a time, buffered.

For display only (DOMAIN.md §5): coverage figures come from per-building network distances, never from
these polygons.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.graph import catchment, reached_lines, snap
from gis.coverage.network_store import load_graph
from gis.coverage.stats import Mode, threshold
from gis.errors import NotFound
from gis.geo import dataset
from gis.geo.crs import STORAGE_SRID


def facility_catchment(
    session: Session,
    facility_id: int,
    minutes: int,
    *,
    mode: Mode = "time",
    speed_mps: float = 1.2,
    max_snap_m: float = 100.0,
    buffer_m: float = 25.0,
) -> dict[str, Any]:
    """GeoJSON Feature (WGS 84) of what a facility reaches on foot within `minutes`."""
    row = session.execute(text("SELECT id, category, name FROM facilities WHERE id = :id"), {"id": facility_id}).first()
    if row is None:
        raise NotFound(f"facility {facility_id} does not exist", where="facility_id")
    epsg = dataset.metric_epsg(session)
    wkb = session.execute(
        text("SELECT ST_AsBinary(ST_Transform(geom, :epsg)) FROM facilities WHERE id = :id"),
        {"id": facility_id, "epsg": epsg},
    ).scalar_one()
    limit = threshold(minutes, mode=mode, speed_mps=speed_mps)
    graph = load_graph(session)
    origin = snap(graph, np.array([shapely.from_wkb(bytes(wkb))]), max_snap_m)
    polygon = catchment(graph, origin, limit.metres, buffer_m)
    reached = shapely.length(shapely.multilinestrings(reached_lines(graph, origin, limit.metres)))
    to_wgs84 = Transformer.from_crs(epsg, STORAGE_SRID, always_xy=True)
    shown = shapely.transform(
        shapely.simplify(polygon, 1.0), lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1]))
    )
    return {
        "type": "Feature",
        "id": facility_id,
        "geometry": json.loads(shapely.to_geojson(shapely.set_precision(shown, 1e-7))) if not shown.is_empty else None,
        "properties": {
            "facility_id": facility_id,
            "category": row.category,
            "name": row.name,
            "minutes": minutes,
            "mode": mode,
            "threshold_m": round(limit.metres, 1),
            "on_network": bool(origin.snapped[0]),
            "access_m": None if not origin.snapped[0] else round(float(origin.access[0]), 1),
            "reached_network_m": round(float(reached), 1),
        },
    }
