"""Reading layers as GeoJSON features, a page at a time, with a bounding-box filter, now or as of an instant;
and the versions of one feature.

Only a layer's public attributes (Layer.served) are returned: these functions back the public read API.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, null, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FromClause

from gis.db.models import HISTORY_TABLES, BuildingVisit, ImportBatch
from gis.errors import InvalidInput, NotFound
from gis.geo.crs import STORAGE_SRID
from gis.layers import queries
from gis.layers.catalog import Layer


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
    session: Session, layer: Layer, t: FromClause, bbox: BBox | None, plan_id: int | None, as_of: datetime | None
) -> list[ColumnElement[bool]]:
    """Grids belong to one plan (asked for, else published at `as_of`, else the published one); a bbox keeps
    what intersects it."""
    conditions = []
    if layer.plan_scoped:
        conditions.append(queries.in_plan(t, queries.plan_for(session, plan_id, as_of)))
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
    as_of: datetime | None = None,
) -> dict[str, Any]:
    """A page of features; with `as_of`, of the features as they were then (queries.table_of)."""
    t = queries.table_of(layer, as_of)
    where = _conditions(session, layer, t, bbox, plan_id, as_of)
    matched = session.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
    rows = session.execute(queries.page(_select(layer, t).where(*where).order_by(t.c.id), limit, offset)).mappings()
    features = [_feature(dict(r)) for r in rows]
    return {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }


def feature(session: Session, layer: Layer, feature_id: int, as_of: datetime | None = None) -> dict[str, Any]:
    """One feature; with `as_of`, its version valid then (a grid: as it is now, whatever its plan)."""
    t = queries.table_of(layer, as_of)
    row = session.execute(_select(layer, t).where(queries.by_id(t, feature_id))).mappings().first()
    if row is None:
        then = f" on {as_of.isoformat()}" if as_of is not None and not layer.plan_scoped else ""
        raise NotFound(f"{layer.name} {feature_id} does not exist{then}", where="id")
    return _feature(dict(row))


def feature_history(session: Session, layer: Layer, feature_id: int, *, geometry: bool = False) -> dict[str, Any]:
    """Every version of one feature, oldest first: when it was valid, how it changed, its public attributes then,
    the batch that made it (with the actor: the caller's response model decides who sees that) and, for a
    building changed by an approved field visit, the visit. A retired feature has them all, its last one closed;
    NotFound only when no version exists."""
    history = HISTORY_TABLES.get(layer.table)
    if history is None:
        raise NotFound(f"the {layer.name} layer keeps no history", where="layer")
    h = history.alias("t")
    made, closed = ImportBatch.__table__.alias("b"), ImportBatch.__table__.alias("c")
    visit: ColumnElement[Any] = null()
    if layer.table == "buildings":  # field visits change buildings only
        v = BuildingVisit.__table__
        made_by = select(v.c.id).where(v.c.batch_id == h.c.batch_id, v.c.building_id == h.c.id)
        visit = made_by.order_by(v.c.id).limit(1).scalar_subquery()
    statement = (
        select(
            h.c.version,
            h.c.valid_from,
            h.c.valid_to,
            h.c.change,
            *queries.columns(h, layer.served),
            (queries.geojson(queries.geometry(h, layer)) if geometry else null()).label("geojson"),
            made.c.id.label("batch_id"),
            made.c.kind.label("batch_kind"),
            made.c.source.label("batch_source"),
            made.c.at.label("batch_at"),
            made.c.actor.label("batch_actor"),
            visit.label("visit_id"),
            closed.c.id.label("closed_id"),
            closed.c.kind.label("closed_kind"),
            closed.c.source.label("closed_source"),
            closed.c.at.label("closed_at"),
            closed.c.actor.label("closed_actor"),
        )
        .select_from(h)
        .outerjoin(made, made.c.id == h.c.batch_id)
        .outerjoin(closed, closed.c.id == h.c.closed_by)
        .where(queries.by_id(h, feature_id))
        .order_by(h.c.version)
    )
    rows = [dict(r) for r in session.execute(statement).mappings()]
    if not rows:
        raise NotFound(f"{layer.name} {feature_id} has no version: it never existed", where="id")
    attributes = [a.name for a in layer.served]
    versions = [
        {
            "version": r["version"],
            "valid_from": r["valid_from"].isoformat(),
            "valid_to": _iso(r["valid_to"]),
            "change": r["change"],
            "properties": {name: _plain(r[name]) for name in attributes},
            **({"geometry": json.loads(r["geojson"]) if r["geojson"] else None} if geometry else {}),
            "batch": _batch(r, "batch"),
            "closed_by": _batch(r, "closed"),
            "visit_id": r["visit_id"],
        }
        for r in rows
    ]
    return {"layer": layer.name, "id": feature_id, "retired": rows[-1]["valid_to"] is not None, "versions": versions}


def _batch(row: dict[str, Any], prefix: str) -> dict[str, Any] | None:
    """The batch columns `prefix`_… of a history row, or None for a change made outside any batch."""
    if row[f"{prefix}_id"] is None:
        return None
    return {
        "id": row[f"{prefix}_id"],
        "kind": row[f"{prefix}_kind"],
        "source": row[f"{prefix}_source"],
        "at": row[f"{prefix}_at"].isoformat(),
        "actor": row[f"{prefix}_actor"],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value
