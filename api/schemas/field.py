"""The field app's answers: device sessions, and the worker's own grids."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class DeviceSession(BaseModel):
    """A device signed in with a long-lived token (the field app on a phone)."""

    id: int
    name: str = Field(description="the device name given at sign-in")
    created_at: datetime
    expires_at: datetime
    current: bool = Field(description="the token of this request belongs to this session")


class MyGrids(BaseModel):
    """The worker's grids in the current plan, as a GeoJSON FeatureCollection (properties: id, code, name)."""

    type: str = "FeatureCollection"
    features: list[dict[str, Any]]
