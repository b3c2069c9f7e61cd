"""Reading layers as GeoJSON features, a page at a time, with a bounding-box filter.

Only a layer's public fields are returned: these functions back the public read API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db import quote_ident
from gis.errors import InvalidInput, NotFound
from gis.layers import Layer

COORDINATE_DECIMALS = 7  # ~1 cm at the equator


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


def current_plan_id(session: Session) -> int | None:
    return session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one_or_none()


def _scope(layer: Layer, session: Session, plan_id: int | None) -> tuple[str, dict[str, Any]]:
    """Extra WHERE clause: grids belong to one plan (the published one unless asked)."""
    if layer.name != "grids":
        return "", {}
    plan = plan_id if plan_id is not None else current_plan_id(session)
    if plan_id is not None and not session.execute(text("SELECT 1 FROM grid_plans WHERE id = :p"), {"p": plan}).first():
        raise NotFound(f"plan {plan_id} does not exist", where="plan")
    return " AND t.plan_id = :plan", {"plan": plan}


def _select(layer: Layer) -> str:
    columns = [f"t.{quote_ident(f.name)}" for f in layer.public_fields if f.name not in layer.exported]
    columns += [f"{expr} AS {quote_ident(name)}" for name, expr in layer.exported.items()]
    if layer.name == "grids":
        columns.append("t.plan_id")
    geometry = f"ST_AsGeoJSON(t.{quote_ident(layer.geometry_column)}, {COORDINATE_DECIMALS})"
    return f"SELECT t.id, {', '.join(columns)}, {geometry} AS geojson FROM {quote_ident(layer.table)} t"


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
    where, params = _scope(layer, session, plan_id)
    if bbox is not None:
        geom = f"t.{quote_ident(layer.geometry_column)}"
        where += f" AND ST_Intersects({geom}, ST_MakeEnvelope(:west, :south, :east, :north, 4326))"
        params |= {"west": bbox.west, "south": bbox.south, "east": bbox.east, "north": bbox.north}
    matched = session.execute(
        text(f"SELECT count(*) FROM {quote_ident(layer.table)} t WHERE true{where}"), params
    ).scalar_one()
    rows = session.execute(
        text(f"{_select(layer)} WHERE true{where} ORDER BY t.id LIMIT :limit OFFSET :offset"),
        params | {"limit": limit, "offset": offset},
    ).mappings()
    features = [_feature(dict(r)) for r in rows]
    return {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }


def feature(session: Session, layer: Layer, feature_id: int) -> dict[str, Any]:
    row = session.execute(text(f"{_select(layer)} WHERE t.id = :id"), {"id": feature_id}).mappings().first()
    if row is None:
        raise NotFound(f"{layer.name} {feature_id} does not exist", where="id")
    return _feature(dict(row))
