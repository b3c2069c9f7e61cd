"""Reading layers as GeoJSON features, a page at a time, with a bounding-box filter.

Only a layer's public attributes (Layer.served) are returned: these functions back the public read API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FromClause

from gis.errors import InvalidInput, NotFound
from gis.geo.crs import STORAGE_SRID
from gis.layers import queries
from gis.layers.catalog import Layer
from gis.plans.store import plan_or_current


@dataclass(frozen=True)
class BBox:
    west: float
    south: float
    east: float
    north: float

    @classmethod
    def parse(cls, value: str) -> BBox:
        parts = value.split(",")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            raise InvalidInput(f"bbox: {value!r} is not four numbers west,south,east,north", where="bbox") from None
        if len(numbers) != 4:
            raise InvalidInput(f"bbox: expected 4 numbers west,south,east,north, got {len(numbers)}", where="bbox")
        box = cls(*numbers)
        if not all(-180 <= v <= 180 for v in (box.west, box.east)) or not all(
            -90 <= v <= 90 for v in (box.south, box.north)
        ):
            swapped = all(-90 <= v <= 90 for v in (box.west, box.east)) and all(
                -180 <= v <= 180 for v in (box.south, box.north)
            )
            hint = "; longitude and latitude look swapped" if swapped else ""
            raise InvalidInput(f"bbox: {value} is out of range for WGS 84 longitude/latitude{hint}", where="bbox")
        if box.west > box.east or box.south > box.north:
            raise InvalidInput(f"bbox: {value} has west > east or south > north", where="bbox")
        return box


def _conditions(
    session: Session, layer: Layer, t: FromClause, bbox: BBox | None, plan_id: int | None
) -> list[ColumnElement[bool]]:
    """Grids belong to one plan (the published one unless asked); a bbox keeps what intersects it."""
    conditions = []
    if layer.plan_scoped:
        conditions.append(queries.in_plan(t, plan_or_current(session, plan_id)))
    if bbox is not None:
        envelope = func.ST_MakeEnvelope(bbox.west, bbox.south, bbox.east, bbox.north, STORAGE_SRID)
        conditions.append(func.ST_Intersects(queries.geometry(t, layer), envelope))
    return conditions


def _select(layer: Layer, t: FromClause) -> Select[Any]:
    geojson = queries.geojson(queries.geometry(t, layer)).label("geojson")
    return select(t.c.id, *queries.columns(t, layer.served), geojson)


def _feature(row: dict[str, Any]) -> dict[str, Any]:
    properties = {k: v for k, v in row.items() if k != "geojson"}
    for key, value in properties.items():
        if hasattr(value, "isoformat"):
            properties[key] = value.isoformat()
    return {"type": "Feature", "id": row["id"], "geometry": json.loads(row["geojson"]), "properties": properties}


def feature_collection(
    session: Session,
    layer: Layer,
    *,
    bbox: BBox | None = None,
    limit: int = 100,
    offset: int = 0,
    plan_id: int | None = None,
) -> dict[str, Any]:
    t = queries.table_of(layer)
    where = _conditions(session, layer, t, bbox, plan_id)
    matched = session.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    rows = session.execute(queries.page(_select(layer, t).where(*where).order_by(t.c.id), limit, offset)).mappings()
    features = [_feature(dict(r)) for r in rows]
    return {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }


def feature(session: Session, layer: Layer, feature_id: int) -> dict[str, Any]:
    t = queries.table_of(layer)
    row = session.execute(_select(layer, t).where(queries.by_id(t, feature_id))).mappings().first()
    if row is None:
        raise NotFound(f"{layer.name} {feature_id} does not exist", where="id")
    return _feature(dict(row))
