"""The feature collections served under /ogc (OGC API – Features and Tiles), one declaration each.

Table collections come from the layer registry (gis/layers.py) with its public fields only: every /ogc
route is reachable without a token. Catchments are computed from the walking network when asked for.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.catchments import facility_catchment
from gis.db import quote_ident
from gis.errors import BadParameter, NotFound
from gis.features import current_plan_id
from gis.layers import Layer, get_layer
from gis.ogc_crs import CRS84, Envelope, OgcCrs, geometry_sql
from gis.registry import facility_registry
from gis.settings import Settings

PropertyType = Literal["string", "integer", "number", "boolean", "date-time"]
_FIELD_TYPES: dict[str, PropertyType] = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "date-time",
}  # fmt: skip
CHINA_TIME = timezone(timedelta(hours=8))  # a datetime without an offset is read as Beijing time


@dataclass(frozen=True)
class Property:
    name: str
    type: PropertyType
    sql: str  # expression over the table alias t
    queryable: bool = True  # may be used as a ?name=value filter and is listed in /queryables


@dataclass(frozen=True)
class ItemQuery:
    """What /items asks for, already parsed and checked."""

    bbox: Envelope | None = None
    crs: OgcCrs = CRS84
    limit: int = 10
    offset: int = 0
    interval: tuple[datetime | None, datetime | None] | None = None
    filters: dict[str, Any] = field(default_factory=dict)  # property name → typed value (equality)
    plan_id: int | None = None


@dataclass(frozen=True)
class Page:
    features: list[dict[str, Any]]
    matched: int | None  # None: not counted (computing every match would cost too much)


@dataclass(frozen=True)
class Collection(ABC):
    """What every collection declares; subclasses say where its features come from."""

    id: str
    title: str
    description: str
    geometry_type: str  # GeoJSON type of the features, for queryables and clients
    properties: tuple[Property, ...]
    temporal: str | None = None  # the property `datetime` filters on
    tiles: str | None = None  # the gis.tiles layer serving this collection as vector tiles
    plan_scoped: bool = False  # grids: one plan, the published one unless ?plan=
    max_limit: int | None = None  # features per page, when lower than GRIDMAP_PAGE_LIMIT_MAX (computed ones)

    def property(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)

    @abstractmethod
    def page(self, session: Session, query: ItemQuery, settings: Settings) -> Page: ...

    @abstractmethod
    def item(self, session: Session, fid: str, crs: OgcCrs, settings: Settings) -> dict[str, Any]: ...

    @abstractmethod
    def extent(self, session: Session) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TableCollection(Collection):
    table: str = ""
    geometry: str = ""
    where: str = "TRUE"

    def _conditions(self, session: Session, query: ItemQuery) -> tuple[str, dict[str, Any]]:
        clauses, params = [self.where], {}
        if self.plan_scoped:
            params["plan"] = _plan(session, query.plan_id)
            clauses.append("t.plan_id = :plan")
        if query.bbox is not None:
            envelope, box = query.bbox.sql()
            clauses.append(f"ST_Intersects(t.{quote_ident(self.geometry)}, {envelope})")
            params |= box
        if query.interval is not None:
            start, end = query.interval
            column = self.property(self.temporal or "").sql
            if start is not None:
                clauses.append(f"{column} >= :t_start")
                params["t_start"] = start
            if end is not None:
                clauses.append(f"{column} <= :t_end")
                params["t_end"] = end
        for n, (name, value) in enumerate(query.filters.items()):
            clauses.append(f"{self.property(name).sql} = :f{n}")
            params[f"f{n}"] = value
        return " AND ".join(f"({c})" for c in clauses), params

    def _select(self, crs: OgcCrs) -> str:
        columns = ", ".join(f"{p.sql} AS {quote_ident(p.name)}" for p in self.properties)
        geometry = geometry_sql(f"t.{quote_ident(self.geometry)}", crs)
        return f"SELECT t.id AS fid, {columns}, {geometry} AS geojson FROM {quote_ident(self.table)} t"

    def page(self, session: Session, query: ItemQuery, settings: Settings) -> Page:
        where, params = self._conditions(session, query)
        matched = session.execute(
            text(f"SELECT count(*) FROM {quote_ident(self.table)} t WHERE {where}"), params
        ).scalar_one()
        rows = session.execute(
            text(f"{self._select(query.crs)} WHERE {where} ORDER BY t.id LIMIT :limit OFFSET :offset"),
            params | {"limit": query.limit, "offset": query.offset},
        ).mappings()
        return Page([_feature(dict(r)) for r in rows], matched)

    def item(self, session: Session, fid: str, crs: OgcCrs, settings: Settings) -> dict[str, Any]:
        if not fid.isdigit():
            raise NotFound(f"{self.id} has no feature {fid!r}: feature ids are integers", where="featureId")
        row = (
            session.execute(text(f"{self._select(crs)} WHERE t.id = :id AND ({self.where})"), {"id": int(fid)})
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"{self.id} has no feature {fid}", where="featureId")
        return _feature(dict(row))

    def extent(self, session: Session) -> dict[str, Any]:
        where, params = self.where, {}
        if self.plan_scoped:
            where += " AND t.plan_id = :plan"
            params["plan"] = current_plan_id(session)
        extent = _spatial_extent(session, self.table, self.geometry, where, params)
        if self.temporal:
            column = self.property(self.temporal).sql
            start, end = session.execute(
                text(f"SELECT min({column}), max({column}) FROM {quote_ident(self.table)} t WHERE {self.where}")
            ).one()
            extent["temporal"] = {
                "interval": [[_iso(start), _iso(end)]],
                "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian",
            }
        return extent


@dataclass(frozen=True)
class CatchmentCollection(Collection):
    """What each facility reaches on foot in each life-circle tier: computed on request, for display."""

    def _tiers(self) -> list[int]:
        return sorted(facility_registry().tiers)

    def _candidates(self, session: Session, query: ItemQuery, settings: Settings) -> tuple[str, dict[str, Any]]:
        clauses, params = ["TRUE"], {"tiers": self._tiers()}
        for n, (name, value) in enumerate(query.filters.items()):
            column = {"facility_id": "f.id", "category": "f.category", "minutes": "m.minutes"}
            clauses.append(f"{column[name]} = :f{n}")
            params[f"f{n}"] = value
        if query.bbox is not None:
            # A catchment lies within its walking distance (plus snapping and buffer) of the facility as
            # the crow flies: facilities farther from the box cannot reach into it.
            envelope, box = query.bbox.sql()
            reach = settings.coverage_snap_m + settings.catchment_buffer_m
            clauses.append(
                f"ST_DWithin(f.geom::geography, ({envelope})::geography, m.minutes * 60.0 * :speed + {reach})"
            )
            params |= box | {"speed": settings.walking_speed_mps}
        sql = (
            "SELECT f.id AS facility_id, m.minutes FROM facilities f "
            "CROSS JOIN unnest(CAST(:tiers AS int[])) AS m(minutes) "
            f"WHERE {' AND '.join(clauses)} ORDER BY f.id, m.minutes"
        )
        return sql, params

    def _compute(self, session: Session, facility_id: int, minutes: int, settings: Settings) -> dict[str, Any]:
        return facility_catchment(
            session,
            facility_id,
            minutes,
            speed_mps=settings.walking_speed_mps,
            max_snap_m=settings.coverage_snap_m,
            buffer_m=settings.catchment_buffer_m,
        )

    def page(self, session: Session, query: ItemQuery, settings: Settings) -> Page:
        sql, params = self._candidates(session, query, settings)
        rows = session.execute(text(sql), params).all()
        if query.bbox is None:
            chosen = rows[query.offset : query.offset + query.limit]
            found = [self._compute(session, f, m, settings) for f, m in chosen]
            return Page(_in_crs(session, found, query.crs), len(rows))
        envelope, box = query.bbox.sql()
        area = shapely.from_wkb(bytes(session.execute(text(f"SELECT ST_AsBinary({envelope})"), box).scalar_one()))
        # Only a computed catchment tells whether it reaches the box: compute no more than this page needs
        # (and one more, to know whether a next page exists), so a request costs offset + limit catchments.
        found, wanted, remaining = [], query.offset + query.limit + 1, len(rows)
        for facility_id, minutes in rows:
            remaining -= 1
            feature = self._compute(session, facility_id, minutes, settings)
            if feature["geometry"] and shapely.intersects(shapely.geometry.shape(feature["geometry"]), area):
                found.append(feature)
                if len(found) == wanted:
                    break
        matched = len(found) if remaining == 0 else None
        return Page(_in_crs(session, found[query.offset : query.offset + query.limit], query.crs), matched)

    def item(self, session: Session, fid: str, crs: OgcCrs, settings: Settings) -> dict[str, Any]:
        facility, _, minutes = fid.partition("-")
        if not (facility.isdigit() and minutes.isdigit() and int(minutes) in self._tiers()):
            raise NotFound(
                f"catchments has no feature {fid!r}: ids are FACILITY-MINUTES with minutes in {self._tiers()}",
                where="featureId",
            )
        return _in_crs(session, [self._compute(session, int(facility), int(minutes), settings)], crs)[0]

    def extent(self, session: Session) -> dict[str, Any]:
        return _spatial_extent(session, "facilities", "geom", "TRUE", {})


def _in_crs(session: Session, features: list[dict[str, Any]], crs: OgcCrs) -> list[dict[str, Any]]:
    """Catchment features (computed in WGS 84) with ids FACILITY-MINUTES and geometry in `crs`."""
    for feature in features:
        feature["id"] = f"{feature['properties']['facility_id']}-{feature['properties']['minutes']}"
    if crs == CRS84 or not features:
        return features
    geometries = [json.dumps(f["geometry"]) if f["geometry"] else None for f in features]
    converted = session.execute(
        text(
            f"SELECT {geometry_sql('ST_SetSRID(ST_GeomFromGeoJSON(g), 4326)', crs)} "
            "FROM unnest(CAST(:g AS text[])) WITH ORDINALITY AS x(g, n) ORDER BY n"
        ),
        {"g": geometries},
    ).scalars()
    for feature, geometry in zip(features, converted, strict=True):
        feature["geometry"] = json.loads(geometry) if geometry else None
    return features


def _spatial_extent(session: Session, table: str, geometry: str, where: str, params: dict[str, Any]) -> dict[str, Any]:
    row = session.execute(
        text(
            f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(t.{quote_ident(geometry)}) AS e FROM {quote_ident(table)} t WHERE {where}) x"
        ),
        params,
    ).one()
    bbox = list(row) if row[0] is not None else [-180.0, -90.0, 180.0, 90.0]
    return {"spatial": {"bbox": [bbox], "crs": CRS84.uri}}


def _plan(session: Session, plan_id: int | None) -> int | None:
    if plan_id is None:
        return current_plan_id(session)
    if session.execute(text("SELECT 1 FROM grid_plans WHERE id = :p"), {"p": plan_id}).first() is None:
        raise NotFound(f"plan {plan_id} does not exist", where="plan")
    return plan_id


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _feature(row: dict[str, Any]) -> dict[str, Any]:
    geojson = row.pop("geojson")
    fid = row.pop("fid")
    properties = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
    return {
        "type": "Feature",
        "id": fid,
        "geometry": json.loads(geojson) if geojson else None,
        "properties": properties,
    }


def _layer_properties(layer: Layer, derived: dict[str, PropertyType]) -> tuple[Property, ...]:
    """A layer's public stored fields and its derived columns (typed by `derived` when not fields)."""
    fields = {f.name: f for f in layer.fields}
    stored = [
        Property(f.name, _FIELD_TYPES[f.type], f"t.{quote_ident(f.name)}")
        for f in layer.public_fields
        if f.name not in layer.exported
    ]
    computed = [
        Property(name, _FIELD_TYPES[fields[name].type] if name in fields else derived[name], expr)
        for name, expr in layer.exported.items()
    ]
    return tuple(stored + computed)


def _from_layer(
    name: str,
    geometry_type: str,
    description: str,
    *,
    derived: dict[str, PropertyType] | None = None,
    extra: tuple[Property, ...] = (),
    **options: Any,
) -> TableCollection:
    layer = get_layer(name)
    return TableCollection(
        id=name,
        title=layer.title_zh,
        description=description,
        geometry_type=geometry_type,
        properties=_layer_properties(layer, derived or {}) + extra,
        table=layer.table,
        geometry=layer.geometry_column,
        **options,
    )


_OVERDUE = (
    "(t.deadline_at IS NOT NULL AND t.deadline_at < now() AND t.status NOT IN ('closed', 'rejected', 'duplicate'))"
)

COLLECTIONS: dict[str, Collection] = {
    c.id: c
    for c in (
        _from_layer("districts", "MultiPolygon", "Districts (区)."),
        _from_layer("streets", "MultiPolygon", "Sub-districts (街道) with their district."),
        _from_layer("communities", "MultiPolygon", "Communities (社区) with their street.", tiles="communities"),
        _from_layer(
            "grids",
            "MultiPolygon",
            "Grid units (网格) of the published plan, or of the plan given by ?plan=ID, with households.",
            derived={"households": "integer", "buildings": "integer", "population": "integer", "area_m2": "number"},
            extra=(Property("plan_id", "integer", "t.plan_id", queryable=False),),
            tiles="grids",
            plan_scoped=True,
        ),
        _from_layer(
            "buildings",
            "MultiPolygon",
            "Building footprints with floors and household counts.",
            derived={"community_code": "string"},
            tiles="buildings",
        ),
        _from_layer("facilities", "Point", "Public service facilities (服务设施) by category.", tiles="facilities"),
        _from_layer("network", "LineString", "The walking network as imported."),
        TableCollection(
            id="incidents",
            title="事件",
            description="Reported incidents: category, status, times and where they fell; no personal data.",
            geometry_type="Point",
            properties=(
                Property("category", "string", "t.category"),
                Property("status", "string", "t.status"),
                Property("channel", "string", "t.channel"),
                Property("reported_at", "date-time", "t.reported_at"),
                Property("deadline_at", "date-time", "t.deadline_at"),
                Property("overdue", "boolean", _OVERDUE),
                Property("grid_code", "string", "(SELECT g.code FROM grids g WHERE g.id = t.grid_id)"),
                Property("community_code", "string", "(SELECT c.code FROM communities c WHERE c.id = t.community_id)"),
            ),
            temporal="reported_at",
            tiles="incidents",
            table="incidents",
            geometry="location",
        ),
        CatchmentCollection(
            id="catchments",
            title="生活圈服务范围",
            description=(
                "What each facility reaches on foot in 5, 10 and 15 minutes (life-circle tiers), computed on the "
                "walking network on request; for display — coverage figures come from network distances."
            ),
            geometry_type="Geometry",  # a Polygon, or a MultiPolygon where reached streets part
            max_limit=20,  # each catchment is a shortest-path search (~0.1 s): keep a page to seconds
            properties=(
                Property("facility_id", "integer", ""),
                Property("category", "string", ""),
                Property("name", "string", "", queryable=False),
                Property("minutes", "integer", ""),
                Property("threshold_m", "number", "", queryable=False),
                Property("reached_network_m", "number", "", queryable=False),
            ),
        ),
    )
}


def get_collection(collection_id: str) -> Collection:
    try:
        return COLLECTIONS[collection_id]
    except KeyError:
        raise NotFound(
            f"no collection {collection_id!r}; collections are: {', '.join(COLLECTIONS)}", where="collectionId"
        ) from None


def parse_value(prop: Property, value: str) -> Any:
    """A property filter's text as the property's type, or a clear error naming it."""
    try:
        if prop.type == "integer":
            return int(value)
        if prop.type == "number":
            return float(value)
        if prop.type == "boolean":
            return {"true": True, "false": False}[value.lower()]
        if prop.type == "date-time":
            return parse_instant(value, where=prop.name)
    except (ValueError, KeyError):
        raise BadParameter(f"{prop.name}: {value!r} is not a valid {prop.type}", where=prop.name) from None
    return value


def parse_instant(value: str, *, where: str) -> datetime:
    try:
        instant = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadParameter(f"{where}: {value!r} is not an RFC 3339 date-time", where=where) from None
    return instant if instant.tzinfo else instant.replace(tzinfo=CHINA_TIME)


def parse_interval(value: str) -> tuple[datetime | None, datetime | None]:
    """`datetime`: an instant, or an interval start/end where either end may be open (`..` or empty)."""
    if "/" not in value:
        instant = parse_instant(value, where="datetime")
        return instant, instant
    start_text, _, end_text = value.partition("/")
    start = None if start_text in ("", "..") else parse_instant(start_text, where="datetime")
    end = None if end_text in ("", "..") else parse_instant(end_text, where="datetime")
    if start is None and end is None:
        raise BadParameter("datetime: an interval needs at least one bounded end", where="datetime")
    if start is not None and end is not None and end < start:
        raise BadParameter(f"datetime: {value} ends before it starts", where="datetime")
    return start, end


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
