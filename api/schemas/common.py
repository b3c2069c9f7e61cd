"""Shapes several features share: timestamps, points given in any coordinate system, areas, GeoJSON points."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, WithJsonSchema

# Times leave the server as the domain wrote them (Python's ISO 8601 with the offset): documented as date-time,
# passed through unchanged, so answers keep the exact text they had before they were typed.
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]


class Location(BaseModel):
    """A point as a client sends it: WGS 84 unless `crs` names another system."""

    lon: float
    lat: float
    crs: str = Field(default="wgs84", description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n")


class LonLat(BaseModel):
    """A point in WGS 84 degrees."""

    lon: float
    lat: float


class AreaRef(BaseModel):
    """A grid, community, street or district, by id, code and name."""

    id: int
    code: str
    name: str | None


class WorkerRef(BaseModel):
    """A grid worker as others may see them: id and name, never contacts."""

    id: int
    name: str = Field(description="the display name (never the login)")


class PointGeometry(BaseModel):
    """A GeoJSON Point in WGS 84 (RFC 7946)."""

    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=3, description="[lon, lat]")
