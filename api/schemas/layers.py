"""GeoJSON of the read API (/api/{layer}): one model per layer, built from the catalog's public attributes.

The model is the layer's public view: /openapi.json names each property, and a column the catalog does not serve
publicly never leaves the server (undeclared properties are dropped when the answer is validated).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, create_model

from api.schemas.common import Timestamp
from gis.layers.catalog import Attribute, FieldType, Layer

PYTHON_TYPES: dict[FieldType, Any] = {"str": str, "int": int, "float": float, "bool": bool, "datetime": Timestamp}


class Geometry(BaseModel):
    """A GeoJSON geometry (RFC 7946): WGS 84 longitude/latitude unless the request asked for another CRS."""

    model_config = ConfigDict(extra="allow")

    type: str
    coordinates: list[Any]


def properties_model(name: str, attributes: tuple[Attribute, ...], *, extra: Literal["ignore", "allow"]) -> Any:
    """A model of feature properties: each attribute by its type, present and possibly null."""
    fields: dict[str, Any] = {a.name: (PYTHON_TYPES[a.type] | None, ...) for a in attributes}
    return create_model(name, __config__=ConfigDict(extra=extra), **fields)


def _title(layer: Layer) -> str:
    return layer.name.title().replace("_", "")


@cache
def feature_model(layer: Layer) -> type[BaseModel]:
    """One feature of `layer` on the read API: its id, geometry and public properties (the id repeated)."""
    properties = properties_model(f"{_title(layer)}Properties", (Attribute("id", "int"), *layer.served), extra="ignore")
    fields: dict[str, Any] = {
        "type": (Literal["Feature"], ...),
        "id": (int, ...),
        "geometry": (Geometry, ...),
        "properties": (properties, ...),
    }
    return create_model(f"{_title(layer)}Feature", **fields)


@cache
def feature_collection_model(layer: Layer) -> type[BaseModel]:
    """A page of `layer` features with the number matched by the request's filters."""
    fields: dict[str, Any] = {
        "type": (Literal["FeatureCollection"], ...),
        "numberMatched": (int, ...),
        "numberReturned": (int, ...),
        "features": (list[feature_model(layer)], ...),  # type: ignore[misc]
    }
    return create_model(f"{_title(layer)}FeatureCollection", **fields)
