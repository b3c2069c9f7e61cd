"""The layers the platform imports, exports and serves, each declared once.

A layer names its table, geometry column and kind, and its attribute fields: the type, the source column names
accepted on import (English, Chinese and the ≤10-character Shapefile name), and whether the field may appear on
public endpoints. The same declaration says what the layer serves: the read API `/api/{layer}`, its `/ogc`
collection (description, queryables, time), its vector tiles, its exports and downloads, and whether it is one grid
plan's (grids). gis/layers/queries.py turns the declarations into SQLAlchemy Core statements.

This module holds plain data and imports no database library: the CLI reads the layer names at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from gis.errors import NotFound

GeometryKind = Literal["polygon", "point", "line"]
FieldType = Literal["str", "int", "float", "bool", "datetime"]
Audience = Literal["public", "staff"]  # who receives an output: anyone, or signed-in staff (the CLI's exports)
GEOJSON_TYPES: dict[GeometryKind, str] = {"polygon": "MultiPolygon", "point": "Point", "line": "LineString"}


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType = "str"
    aliases: tuple[str, ...] = ()
    required: bool = False
    minimum: float | None = None
    public: bool = True
    short: str | None = None  # Shapefile column name when `name` is longer than 10 characters
    default: Any = None  # value (or zero-argument callable) for a blank optional field

    @property
    def column_names(self) -> tuple[str, ...]:
        """Accepted source columns, most specific first."""
        names = (self.name, *((self.short,) if self.short else ()), *self.aliases)
        return tuple(dict.fromkeys(n.lower() for n in names))

    @property
    def file_name(self) -> str:
        return self.short or self.name


# -- where an attribute's value comes from (turned into SQL by gis/layers/queries.py) ----------------------


@dataclass(frozen=True)
class Parent:
    """A column of the row that the layer's foreign key `key` points to in `table`: a parent's code or name."""

    table: str
    key: str
    column: str = "code"


@dataclass(frozen=True)
class Rounded:
    """A stored number rounded to `digits` decimals (and still a float)."""

    column: str
    digits: int


@dataclass(frozen=True)
class AsText:
    """A stored column as PostgreSQL prints it (vector tiles carry no timestamps)."""

    column: str


@dataclass(frozen=True)
class PastDeadline:
    """True while the row is open (its status is none of `finished`) and its deadline has passed."""

    deadline: str
    status: str
    finished: tuple[str, ...]


Source = str | Parent | Rounded | AsText | PastDeadline  # str: a stored column of the layer's table


@dataclass(frozen=True)
class Attribute:
    """A column an output carries: a stored field, or a value derived from the row (`source`)."""

    name: str
    type: FieldType = "str"
    source: Source | None = None  # None: the stored column called `name`
    queryable: bool = True  # OGC API: a ?name=value filter, listed in /queryables
    short: str | None = None  # Shapefile column name when `name` is longer than 10 characters

    @property
    def stored_column(self) -> str:
        return self.source if isinstance(self.source, str) else self.name

    @property
    def file_name(self) -> str:
        return self.short or self.name


@dataclass(frozen=True)
class Tiles:
    """Vector tiles of the layer: from `min_zoom` on, with these attributes (names of the layer's public
    attributes, or attributes of their own). Tiles reach public pages: only public attributes are allowed.

    Below `detail_zoom` (None: at every zoom the tiles are whole) a tile is an overview: features smaller than
    `min_area_px` square pixels of a 256-pixel tile at that zoom are left out (too small to see), outlines are
    simplified to a fraction of a pixel, and features carry only `overview_attributes` (names among
    `attributes`: what the pages' styles read at those zooms). `cached`: tiles are kept by data version (a
    layer whose attributes depend on the time of day, like overdue incidents, is rendered every time)."""

    min_zoom: int
    attributes: tuple[str | Attribute, ...]
    detail_zoom: int | None = None
    min_area_px: float = 0.0
    overview_attributes: tuple[str, ...] = ()
    cached: bool = True


@dataclass(frozen=True)
class Layer:
    name: str
    table: str
    geometry_column: str
    kind: GeometryKind
    title_zh: str
    fields: tuple[Field, ...]
    # Values derived from the row, exported with the layer (so an export imports again) and served with it.
    derived: tuple[Attribute, ...] = ()
    description: str = ""  # what OGC API clients show
    read_api: bool = True  # served on the GeoJSON read API /api/{layer}
    plan_scoped: bool = False  # rows belong to a grid plan: the published one unless one is asked for
    # What public outputs (read API, OGC) carry when it is not the public fields and the derived values.
    public_view: tuple[Attribute, ...] | None = None
    temporal: str | None = None  # the public attribute OGC `datetime` filters on
    tiles: Tiles | None = None

    def __post_init__(self) -> None:
        private = {f.name for f in self.fields if not f.public}
        leaked = {a.name for a in (*self.served, *self.tile_attributes)} & private
        if leaked:
            raise ValueError(f"layer {self.name}: private fields {sorted(leaked)} in a public output")
        unknown = set(self.tiles.overview_attributes if self.tiles else ()) - {a.name for a in self.tile_attributes}
        if unknown:
            raise ValueError(f"layer {self.name}: overview attributes {sorted(unknown)} are not tile attributes")

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def public_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.public)

    @property
    def geometry_type(self) -> str:
        """The GeoJSON type of the features (polygon layers are stored as MultiPolygon)."""
        return GEOJSON_TYPES[self.kind]

    def file_attributes(self, audience: Audience = "staff") -> tuple[Attribute, ...]:
        """The columns of an export (staff: every field) or a download (public: public fields), derived last."""
        derived = {a.name for a in self.derived}
        fields = self.fields if audience == "staff" else self.public_fields
        stored = tuple(Attribute(f.name, f.type, short=f.short) for f in fields if f.name not in derived)
        private = {f.name for f in self.fields if not f.public} if audience == "public" else set()
        return stored + tuple(a for a in self.derived if a.name not in private)

    @property
    def served(self) -> tuple[Attribute, ...]:
        """The properties of the layer's features on public endpoints: the read API and OGC API."""
        if self.public_view is not None:
            return self.public_view
        plan = (Attribute("plan_id", "int", queryable=False),) if self.plan_scoped else ()
        return self.file_attributes("public") + plan

    @property
    def tile_attributes(self) -> tuple[Attribute, ...]:
        if self.tiles is None:
            return ()
        known = {a.name: a for a in (*self.file_attributes("staff"), *self.served)}
        return tuple(a if isinstance(a, Attribute) else known[a] for a in self.tiles.attributes)

    @property
    def overview_tile_attributes(self) -> tuple[Attribute, ...]:
        """What features carry in overview tiles (below Tiles.detail_zoom): some of the tile attributes."""
        if self.tiles is None:
            return ()
        attributes = {a.name: a for a in self.tile_attributes}
        return tuple(attributes[name] for name in self.tiles.overview_attributes)


def now() -> datetime:
    return datetime.now().astimezone()


CODE = Field("code", "str", ("编码", "代码", "id_code"), required=True)
# The key of buildings and facilities: a standard-address code (标准地址编码) or the source system's id; rows without
# one get a key made from their geometry (or their source_id), which exports carry (DESIGN.md §3).
KEY = Field("code", "str", ("标准地址编码", "地址编码", "编码", "代码", "id_code"))
NAME = Field("name", "str", ("名称", "name_zh"))
SOURCE_ID = Field("source_id", "str", ("osm_id", "fid_src", "源编号"), short="source_id")
COMMUNITY_CODE = Attribute("community_code", "str", Parent("communities", "community_id"), short="comm_code")
INCIDENT_FINISHED = ("closed", "rejected", "duplicate")

LAYERS: dict[str, Layer] = {
    layer.name: layer
    for layer in (
        Layer(
            "districts",
            "districts",
            "boundary",
            "polygon",
            "区",
            (CODE, Field("name", "str", ("名称",), required=True)),
            description="Districts (区).",
        ),
        Layer(
            "streets",
            "streets",
            "boundary",
            "polygon",
            "街道",
            (
                CODE,
                Field("name", "str", ("名称",), required=True),
                Field("district_code", "str", ("区编码",), short="dist_code"),
                Field("district_name", "str", ("区名称",), short="dist_name"),
            ),
            derived=(
                Attribute("district_code", "str", Parent("districts", "district_id"), short="dist_code"),
                Attribute("district_name", "str", Parent("districts", "district_id", "name"), short="dist_name"),
            ),
            description="Sub-districts (街道) with their district.",
        ),
        Layer(
            "communities",
            "communities",
            "boundary",
            "polygon",
            "社区",
            (
                CODE,
                Field("name", "str", ("名称",), required=True),
                Field("street_code", "str", ("街道编码",), short="st_code"),
            ),
            derived=(Attribute("street_code", "str", Parent("streets", "street_id"), short="st_code"),),
            description="Communities (社区) with their street.",
            tiles=Tiles(8, ("code", "name")),
        ),
        Layer(
            "grids",
            "grids",
            "geom",
            "polygon",
            "网格",
            (CODE, NAME, Field("community_code", "str", ("社区编码",), short="comm_code")),
            derived=(
                COMMUNITY_CODE,
                Attribute("households", "int"),
                Attribute("buildings", "int"),
                Attribute("population", "int"),
                Attribute("area_m2", "float", Rounded("area_m2", 1)),
            ),
            description="Grid units (网格) of the published plan, or of the plan given by ?plan=ID, with households.",
            plan_scoped=True,
            tiles=Tiles(10, ("code", "name", "households", "buildings", "plan_id")),
        ),
        Layer(
            "buildings",
            "buildings",
            "footprint",
            "polygon",
            "建筑",
            (
                KEY,
                SOURCE_ID,
                NAME,
                Field("address", "str", ("地址", "addr")),
                Field("compound", "str", ("小区", "院落")),
                Field("floors", "int", ("层数", "building:levels", "levels"), minimum=1),
                Field("residential", "bool", ("住宅", "is_resid"), short="resident", default=True),
                Field("households", "int", ("户数", "hh"), minimum=0),
                Field("households_estimated", "bool", ("户数估算",), short="hh_est", default=False),
                Field("population_resident", "int", ("常住人口",), minimum=0, short="pop_res"),
                Field("population_registered", "int", ("户籍人口",), minimum=0, short="pop_reg"),
                Field("population_floating", "int", ("流动人口",), minimum=0, short="pop_float"),
            ),
            derived=(COMMUNITY_CODE,),
            description="Building footprints with floors and household counts.",
            # Overviews below z16: the planner's style reads no property (maps/static/gridmap/planner.js), and a
            # dense z13 tile held 37,000 buildings of under a pixel each (issue 18).
            tiles=Tiles(
                13, ("households", "residential", "floors", "name", "community_code"), detail_zoom=16, min_area_px=0.5
            ),
        ),
        Layer(
            "facilities",
            "facilities",
            "geom",
            "point",
            "服务设施",
            (
                KEY,
                SOURCE_ID,
                Field("category", "str", ("类别", "category_code"), required=True),
                NAME,
                Field("address", "str", ("地址", "addr")),
                Field("capacity", "int", ("容量", "规模"), minimum=0),
                Field("public", "bool", ("公共", "is_public"), default=True),
            ),
            description="Public service facilities (服务设施) by category.",
            tiles=Tiles(10, ("category", "name", "public")),
        ),
        Layer(
            "network",
            "network_edges",
            "geom",
            "line",
            "步行网络",
            (SOURCE_ID, NAME, Field("kind", "str", ("highway", "类型", "道路等级"))),
            description="The walking network as imported.",
        ),
        Layer(
            "incidents",
            "incidents",
            "location",
            "point",
            "事件",
            (
                SOURCE_ID,
                Field("category", "str", ("类别",), required=True),
                # Residents write names and phone numbers into descriptions: not for public endpoints.
                Field("description", "str", ("描述", "内容"), public=False, short="descr"),
                Field("status", "str", ("状态",), default="reported"),
                Field("channel", "str", ("渠道", "来源")),
                Field("reported_at", "datetime", ("上报时间", "time"), short="reported", default=now),
                Field("reporter_contact", "str", ("联系方式", "contact"), public=False, short="contact"),
            ),
            description="Reported incidents: category, status, times and where they fell; no personal data.",
            read_api=False,  # the incidents router serves them, per role
            public_view=(
                Attribute("category"),
                Attribute("status"),
                Attribute("channel"),
                Attribute("reported_at", "datetime"),
                Attribute("deadline_at", "datetime"),
                Attribute("overdue", "bool", PastDeadline("deadline_at", "status", INCIDENT_FINISHED)),
                Attribute("grid_code", "str", Parent("grids", "grid_id")),
                COMMUNITY_CODE,
            ),
            temporal="reported_at",
            # `overdue` turns true as time passes, without a write: not cached.
            tiles=Tiles(
                8,
                ("category", "status", Attribute("reported_at", "str", AsText("reported_at")), "overdue"),
                cached=False,
            ),
        ),
    )
}


def get_layer(name: str) -> Layer:
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(f"unknown layer {name!r}; layers are: {', '.join(LAYERS)}", where="layer") from None
