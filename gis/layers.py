"""The layers the platform imports, exports and serves, declared once.

A layer names its table, geometry column and kind, and its attribute fields: the type, the source
column names accepted on import (English, Chinese and the ≤10-character Shapefile name), and whether
the field may appear on public endpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from gis.errors import NotFound

GeometryKind = Literal["polygon", "point", "line"]
FieldType = Literal["str", "int", "float", "bool", "datetime"]


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


@dataclass(frozen=True)
class Layer:
    name: str
    table: str
    geometry_column: str
    kind: GeometryKind
    title_zh: str
    fields: tuple[Field, ...]
    # Derived columns exported with the layer (so an export imports again), as SQL expressions over `t`.
    exported: dict[str, str] = field(default_factory=dict)
    public: bool = True  # served on the public read API

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def public_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.public)


def now() -> datetime:
    return datetime.now().astimezone()


CODE = Field("code", "str", ("编码", "代码", "id_code"), required=True)
NAME = Field("name", "str", ("名称", "name_zh"))
SOURCE_ID = Field("source_id", "str", ("osm_id", "fid_src", "源编号"), short="source_id")

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
            exported={
                "district_code": "(SELECT d.code FROM districts d WHERE d.id = t.district_id)",
                "district_name": "(SELECT d.name FROM districts d WHERE d.id = t.district_id)",
            },
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
            exported={"street_code": "(SELECT s.code FROM streets s WHERE s.id = t.street_id)"},
        ),
        Layer(
            "grids",
            "grids",
            "geom",
            "polygon",
            "网格",
            (CODE, NAME, Field("community_code", "str", ("社区编码",), short="comm_code")),
            exported={
                "community_code": "(SELECT c.code FROM communities c WHERE c.id = t.community_id)",
                "households": "t.households",
                "buildings": "t.buildings",
                "population": "t.population",
                "area_m2": "round(t.area_m2::numeric, 1)::float8",
            },
        ),
        Layer(
            "buildings",
            "buildings",
            "footprint",
            "polygon",
            "建筑",
            (
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
            exported={"community_code": "(SELECT c.code FROM communities c WHERE c.id = t.community_id)"},
        ),
        Layer(
            "facilities",
            "facilities",
            "geom",
            "point",
            "服务设施",
            (
                SOURCE_ID,
                Field("category", "str", ("类别", "category_code"), required=True),
                NAME,
                Field("address", "str", ("地址", "addr")),
                Field("capacity", "int", ("容量", "规模"), minimum=0),
                Field("public", "bool", ("公共", "is_public"), default=True),
            ),
        ),
        Layer(
            "network",
            "network_edges",
            "geom",
            "line",
            "步行网络",
            (SOURCE_ID, NAME, Field("kind", "str", ("highway", "类型", "道路等级"))),
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
            public=False,
        ),
    )
}


def get_layer(name: str) -> Layer:
    try:
        return LAYERS[name]
    except KeyError:
        raise NotFound(f"unknown layer {name!r}; layers are: {', '.join(LAYERS)}", where="layer") from None
