"""The documents of OGC API – Features (Parts 1–3) and Tiles under /ogc, as response models.

The routes answer JSON or HTML by content negotiation and build their documents in api/ogc_documents.py; these
models are what /openapi.json says about the JSON. Feature models are built per collection from its properties.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from api.schemas.common import Timestamp
from api.schemas.layers import Geometry
from gis.ogc.collections import Collection, PropertyType

PYTHON_TYPES: dict[PropertyType, Any] = {
    "string": str, "integer": int, "number": float, "boolean": bool, "date-time": Timestamp,
}  # fmt: skip


class Link(BaseModel):
    href: str
    rel: str
    type: str
    title: str | None = None
    templated: bool | None = None  # href is a URI template ({tileMatrix}/{tileRow}/{tileCol})


class LandingPage(BaseModel):
    title: str
    description: str
    links: list[Link]


class Conformance(BaseModel):
    conformsTo: list[str]


class SpatialExtent(BaseModel):
    bbox: list[list[float]] = Field(description="[[west, south, east, north]] in CRS84")
    crs: str


class TemporalExtent(BaseModel):
    interval: list[list[str | None]]
    trs: str


class Extent(BaseModel):
    spatial: SpatialExtent
    temporal: TemporalExtent | None = None


class CollectionInfo(BaseModel):
    """One collection: what it holds, where, in which coordinate systems, and the links to its items."""

    id: str
    title: str
    description: str
    itemType: str
    extent: Extent
    crs: list[str]
    storageCrs: str
    links: list[Link]


class Collections(BaseModel):
    links: list[Link]
    collections: list[CollectionInfo]


class Queryables(BaseModel):
    """A JSON Schema of the properties a collection's items can be filtered by."""

    schema_uri: str = Field(alias="$schema")
    schema_id: str = Field(alias="$id")
    type: Literal["object"]
    title: str
    properties: dict[str, dict[str, Any]]
    additionalProperties: bool


class TilesetLayer(BaseModel):
    id: str
    dataType: str
    geometryDimension: int
    minTileMatrix: str


class Tileset(BaseModel):
    title: str
    dataType: str
    crs: str
    tileMatrixSetURI: str
    links: list[Link]
    layers: list[TilesetLayer] | None = None  # in the tileset itself, not in the list of tilesets


class Tilesets(BaseModel):
    links: list[Link]
    tilesets: list[Tileset]


class TileMatrixSetRef(BaseModel):
    id: str
    title: str
    uri: str
    links: list[Link]


class TileMatrixSets(BaseModel):
    tileMatrixSets: list[TileMatrixSetRef]


class TileMatrix(BaseModel):
    id: str
    scaleDenominator: float
    cellSize: float
    cornerOfOrigin: str
    pointOfOrigin: list[float]
    tileWidth: int
    tileHeight: int
    matrixWidth: int
    matrixHeight: int


class TileMatrixSet(BaseModel):
    id: str
    title: str
    uri: str
    crs: str
    orderedAxes: list[str]
    wellKnownScaleSet: str
    tileMatrices: list[TileMatrix]


def _title(c: Collection) -> str:
    return "Ogc" + c.id.title().replace("_", "")


def _properties(c: Collection) -> Any:
    # Extra properties allowed: a computed collection (catchments) may carry more than it can be filtered by.
    fields: dict[str, Any] = {p.name: (PYTHON_TYPES[p.type] | None, ...) for p in c.properties}
    return create_model(f"{_title(c)}Properties", __config__=ConfigDict(extra="allow"), **fields)


@cache
def feature_model(c: Collection) -> type[BaseModel]:
    """One feature of collection `c` (/items/{featureId}), with its links."""
    fields: dict[str, Any] = {
        "type": (Literal["Feature"], ...),
        "id": (int | str, ...),
        "geometry": (Geometry | None, ...),
        "properties": (_properties(c), ...),
        "links": (list[Link] | None, None),
    }
    return create_model(f"{_title(c)}Feature", **fields)


@cache
def items_model(c: Collection) -> type[BaseModel]:
    """A page of collection `c` (/items); numberMatched is left out where counting would cost too much."""
    fields: dict[str, Any] = {
        "type": (Literal["FeatureCollection"], ...),
        "timeStamp": (str, ...),
        "numberMatched": (int | None, None),
        "numberReturned": (int, ...),
        "features": (list[feature_model(c)], ...),  # type: ignore[misc]
        "links": (list[Link], ...),
    }
    return create_model(f"{_title(c)}Items", **fields)
