"""The feature collections served under /ogc (OGC API – Features and Tiles), one registry.

Every stored layer of the catalog (gis/layers/catalog.py) is a collection of its public attributes
(Layer.served): every /ogc route is reachable without a token. Catchments are no stored layer — they are
computed from the walking network when asked for — but are declared in the same form beside them.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

import shapely
from sqlalchemy import ARRAY, Integer, Select, Text, func, literal, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FromClause

from gis.coverage.catchments import facility_catchment
from gis.db.models import Facility
from gis.errors import BadParameter, NotFound
from gis.geo.crs import STORAGE_SRID
from gis.layers import queries
from gis.layers.catalog import LAYERS, Attribute, FieldType, Layer, Tiles
from gis.ogc.crs import CRS84, Envelope, OgcCrs, geojson_in
from gis.plans.store import current_plan_id
from gis.registry import ascii_digits, facility_registry
from gis.settings import Settings

PropertyType = Literal["string", "integer", "number", "boolean", "date-time"]
JSON_TYPES: dict[FieldType, PropertyType] = {
    "str": "string", "int": "integer", "float": "number", "bool": "boolean", "datetime": "date-time",
}  # fmt: skip
CHINA_TIME = timezone(timedelta(hours=8))  # a datetime without an offset is read as Beijing time
_METRES_PER_DEGREE = 110_000.0  # shorter than any degree of latitude (or of longitude at the equator): generous pads


@dataclass(frozen=True)
class Property:
    name: str
    type: PropertyType
    queryable: bool = True  # may be used as a ?name=value filter and is listed in /queryables

    @classmethod
    def of(cls, attribute: Attribute) -> Property:
        return cls(attribute.name, JSON_TYPES[attribute.type], attribute.queryable)


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
    as_of: datetime | None = None  # the features as they were then (versioned collections and grids)


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
    tiles: Tiles | None = None  # served as vector tiles (gis.layers.tiles), the layer named like the collection
    plan_scoped: bool = False  # grids: one plan, the published one unless ?plan=
    max_limit: int | None = None  # features per page, when lower than GRIDMAP_PAGE_LIMIT_MAX (computed ones)
    keeps_history: bool = False  # answers ?as_of= (versioned layers; grids: the plan published then)

    def property(self, name: str) -> Property:
        for p in self.properties:
            if p.name == name:
                return p
        raise KeyError(name)

    @abstractmethod
    def page(self, session: Session, query: ItemQuery, settings: Settings) -> Page: ...

    @abstractmethod
    def item(
        self, session: Session, fid: str, crs: OgcCrs, settings: Settings, as_of: datetime | None = None
    ) -> dict[str, Any]: ...

    def check_as_of(self, as_of: datetime | None) -> None:
        """A collection without history refuses `as_of` (400) rather than answering with today's features."""
        if as_of is not None and not self.keeps_history:
            raise BadParameter(f"as_of: the {self.id} collection keeps no history; ask without as_of", where="as_of")

    @abstractmethod
    def extent(self, session: Session) -> dict[str, Any]: ...


@dataclass(frozen=True, kw_only=True)
class TableCollection(Collection):
    """A stored layer: its public attributes, read with SQLAlchemy Core from its table."""

    layer: Layer

    @classmethod
    def of(cls, layer: Layer) -> TableCollection:
        return cls(
            id=layer.name,
            title=layer.title_zh,
            description=layer.description,
            geometry_type=layer.geometry_type,
            properties=tuple(Property.of(a) for a in layer.served),
            temporal=layer.temporal,
            tiles=layer.tiles,
            plan_scoped=layer.plan_scoped,
            keeps_history=queries.keeps_history(layer),
            layer=layer,
        )

    @property
    def table(self) -> str:
        return self.layer.table

    def _value(self, t: FromClause, name: str) -> ColumnElement[Any]:
        return queries.column(t, next(a for a in self.layer.served if a.name == name))

    def _conditions(self, session: Session, t: FromClause, query: ItemQuery) -> list[ColumnElement[bool]]:
        conditions = []
        if self.plan_scoped:
            conditions.append(queries.in_plan(t, queries.plan_for(session, query.plan_id, query.as_of)))
        if query.bbox is not None:
            conditions.append(func.ST_Intersects(queries.geometry(t, self.layer), query.bbox.polygon()))
        if query.interval is not None:
            start, end = query.interval
            instant = self._value(t, self.temporal or "")
            if start is not None:
                conditions.append(instant >= start)
            if end is not None:
                conditions.append(instant <= end)
        conditions += [queries.equals(self._value(t, name), value) for name, value in query.filters.items()]
        return conditions

    def _select(self, t: FromClause, crs: OgcCrs) -> Select[Any]:
        geojson = geojson_in(queries.geometry(t, self.layer), crs).label("geojson")
        return select(t.c.id.label("fid"), *queries.columns(t, self.layer.served), geojson)

    def page(self, session: Session, query: ItemQuery, settings: Settings) -> Page:
        self.check_as_of(query.as_of)
        t = queries.table_of(self.layer, query.as_of)
        where = self._conditions(session, t, query)
        matched = session.execute(select(func.count()).select_from(t).where(*where)).scalar_one()
        listed = queries.page(self._select(t, query.crs).where(*where).order_by(t.c.id), query.limit, query.offset)
        return Page([_feature(dict(r)) for r in session.execute(listed).mappings()], matched)

    def item(
        self, session: Session, fid: str, crs: OgcCrs, settings: Settings, as_of: datetime | None = None
    ) -> dict[str, Any]:
        self.check_as_of(as_of)
        if not ascii_digits(fid):
            raise NotFound(f"{self.id} has no feature {fid!r}: feature ids are integers", where="featureId")
        t = queries.table_of(self.layer, as_of)
        row = session.execute(self._select(t, crs).where(queries.by_id(t, int(fid)))).mappings().first()
        if row is None:
            then = f" on {as_of.isoformat()}" if as_of is not None and not self.plan_scoped else ""
            raise NotFound(f"{self.id} has no feature {fid}{then}", where="featureId")
        return _feature(dict(row))

    def extent(self, session: Session) -> dict[str, Any]:
        t = queries.table_of(self.layer)
        scope = [queries.in_plan(t, current_plan_id(session))] if self.plan_scoped else []
        extent = _spatial_extent(session, t, queries.geometry(t, self.layer), scope)
        if self.temporal:
            instant = self._value(t, self.temporal)
            start, end = session.execute(select(func.min(instant), func.max(instant)).select_from(t)).one()
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

    def _candidates(self, query: ItemQuery, settings: Settings) -> Select[Any]:
        """(facility_id, minutes) of every catchment that may match, in id and tier order."""
        f = Facility.__table__.alias("f")
        m = func.unnest(literal(self._tiers(), ARRAY(Integer))).table_valued("minutes").render_derived(name="m")
        columns = {"facility_id": f.c.id, "category": f.c.category, "minutes": m.c.minutes}
        conditions = [queries.equals(columns[name], value) for name, value in query.filters.items()]
        if query.bbox is not None:
            # A catchment lies within its walking distance (plus snapping and buffer) of the facility as
            # the crow flies: facilities farther from the box cannot reach into it. The box is widened by that
            # distance in degrees, generously: as a geography the box would have great-circle edges (a box
            # 180° wide runs over the pole, and PostGIS refuses an edge of exactly 180°).
            reach = m.c.minutes * 60.0 * settings.walking_speed_mps + (
                settings.coverage_snap_m + settings.catchment_buffer_m
            )
            box = query.bbox.polygon()
            lat_pad = reach / _METRES_PER_DEGREE
            poleward = func.greatest(func.abs(func.ST_YMin(box)), func.abs(func.ST_YMax(box))) + lat_pad
            lon_pad = reach / (_METRES_PER_DEGREE * func.cos(func.radians(func.least(poleward, 89.9))))
            conditions.append(func.ST_Intersects(f.c.geom, func.ST_Expand(box, lon_pad, lat_pad)))
        return (
            select(f.c.id.label("facility_id"), m.c.minutes)
            .select_from(f)
            .join(m, true())
            .where(*conditions)
            .order_by(f.c.id, m.c.minutes)
        )

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
        self.check_as_of(query.as_of)
        rows = session.execute(self._candidates(query, settings)).all()
        if query.bbox is None:
            chosen = rows[query.offset : query.offset + query.limit]
            found = [self._compute(session, f, m, settings) for f, m in chosen]
            return Page(_in_crs(session, found, query.crs), len(rows))
        area = shapely.from_wkb(bytes(session.execute(select(func.ST_AsBinary(query.bbox.polygon()))).scalar_one()))
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

    def item(
        self, session: Session, fid: str, crs: OgcCrs, settings: Settings, as_of: datetime | None = None
    ) -> dict[str, Any]:
        self.check_as_of(as_of)
        facility, _, minutes = fid.partition("-")
        if not (ascii_digits(facility) and ascii_digits(minutes)) or (int(minutes) not in self._tiers()):
            raise NotFound(
                f"catchments has no feature {fid!r}: ids are FACILITY-MINUTES with minutes in {self._tiers()}",
                where="featureId",
            )
        return _in_crs(session, [self._compute(session, int(facility), int(minutes), settings)], crs)[0]

    def extent(self, session: Session) -> dict[str, Any]:
        f = Facility.__table__.alias("f")
        return _spatial_extent(session, f, f.c.geom, [])


def _in_crs(session: Session, features: list[dict[str, Any]], crs: OgcCrs) -> list[dict[str, Any]]:
    """Catchment features (computed in WGS 84) with ids FACILITY-MINUTES and geometry in `crs`."""
    for feature in features:
        feature["id"] = f"{feature['properties']['facility_id']}-{feature['properties']['minutes']}"
    if crs == CRS84 or not features:
        return features
    geometries = [json.dumps(f["geometry"]) if f["geometry"] else None for f in features]
    g = (
        func.unnest(literal(geometries, ARRAY(Text)))
        .table_valued("geojson", with_ordinality="n")
        .render_derived(name="g")
    )
    stored = func.ST_SetSRID(func.ST_GeomFromGeoJSON(g.c.geojson), STORAGE_SRID)
    converted = session.execute(select(geojson_in(stored, crs)).order_by(g.c.n)).scalars()
    for feature, geometry in zip(features, converted, strict=True):
        feature["geometry"] = json.loads(geometry) if geometry else None
    return features


def _spatial_extent(
    session: Session, t: FromClause, geometry: ColumnElement[Any], where: list[ColumnElement[bool]]
) -> dict[str, Any]:
    box = select(func.ST_Extent(geometry).label("e")).select_from(t).where(*where).subquery()
    e = box.c.e
    row = session.execute(select(func.ST_XMin(e), func.ST_YMin(e), func.ST_XMax(e), func.ST_YMax(e))).one()
    bbox = list(row) if row[0] is not None else [-180.0, -90.0, 180.0, 90.0]
    return {"spatial": {"bbox": [bbox], "crs": CRS84.uri}}


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


COLLECTIONS: dict[str, Collection] = {
    **{layer.name: TableCollection.of(layer) for layer in LAYERS.values()},
    "catchments": CatchmentCollection(
        id="catchments",
        title="生活圈服务范围",
        description=(
            "What each facility reaches on foot in 5, 10 and 15 minutes (life-circle tiers), computed on the "
            "walking network on request; for display — coverage figures come from network distances."
        ),
        geometry_type="Geometry",  # a Polygon, or a MultiPolygon where reached streets part
        max_limit=20,  # each catchment is a shortest-path search (~0.1 s): keep a page to seconds
        properties=tuple(
            Property.of(a)
            for a in (
                Attribute("facility_id", "int"),
                Attribute("category"),
                Attribute("name", queryable=False),
                Attribute("minutes", "int"),
                Attribute("threshold_m", "float", queryable=False),
                Attribute("reached_network_m", "float", queryable=False),
            )
        ),
    ),
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
