"""GeoJSON of the read API (/api/{layer}): one model per layer, built from the catalog's public attributes; and
the versions of a building or facility (/api/{layer}/{id}/history), per audience.

The model is the layer's public view: /openapi.json names each property, and a column the catalog does not serve
publicly never leaves the server (undeclared properties are dropped when the answer is validated).
"""

from __future__ import annotations

from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

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


# -- the versions of one feature -----------------------------------------------------------------------------------


class BatchPublic(BaseModel):
    """The change that made (or closed) a version: an import, a field visit's approval, an undo or an edit."""

    id: int
    kind: Literal["import", "visit", "undo", "edit"]
    source: str | None = Field(description="the file imported, or visit:ID for a field visit")
    at: Timestamp


class BatchStaff(BatchPublic):
    """The batch as staff see it: also who ran it."""

    actor: str


def _version_model(layer: Layer, batch: type[BatchPublic], audience: str) -> type[BaseModel]:
    properties = properties_model(f"{_title(layer)}VersionProperties", layer.served, extra="ignore")
    fields: dict[str, Any] = {
        "version": (int, Field(description="1 for the first version, counting up")),
        "valid_from": (Timestamp, ...),
        "valid_to": (Timestamp | None, Field(description="when the next version (or retirement) began; null: current")),
        "change": (Literal["insert", "update", "revive"], Field(description="revive: back after a retirement")),
        "properties": (properties, ...),
        "geometry": (Geometry | None, Field(default=None, description="only with ?geometry=true")),
        "batch": (batch | None, Field(description="the batch that made this version; null: a change outside any")),
        "closed_by": (batch | None, Field(description="the batch that ended it (a new version, or retirement)")),
        "visit_id": (int | None, Field(description="the approved field visit that made it")),
    }
    return create_model(f"{_title(layer)}Version{audience}", **fields)


@cache
def history_model(layer: Layer, *, staff: bool) -> type[BaseModel]:
    """Every version of one feature of `layer`, oldest first; staff see who ran each batch, the public does not."""
    audience = "Staff" if staff else "Public"
    version = _version_model(layer, BatchStaff if staff else BatchPublic, audience)
    fields: dict[str, Any] = {
        "layer": (str, ...),
        "id": (int, ...),
        "retired": (bool, Field(description="no current version: demolished, closed or otherwise retired")),
        "versions": (list[version], ...),  # type: ignore[valid-type]
    }
    return create_model(f"{_title(layer)}History{audience}", **fields)
