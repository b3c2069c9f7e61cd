"""A grid worker's own routes: check-ins in, check-ins out."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import AreaRef, Location, LonLat, Timestamp


class CheckInRequest(BaseModel):
    location: Location
    accuracy_m: float | None = Field(
        default=None, ge=0, le=100_000, description="the phone's reported accuracy, metres"
    )


class CheckIn(BaseModel):
    """Where a worker checked in, located in the plan current then."""

    id: int
    at: Timestamp
    location: LonLat
    accuracy_m: float | None
    status: str | None = Field(description="inside | snapped | outside")
    distance_m: float | None
    plan_id: int | None
    grid: AreaRef | None
    own_grid: bool = Field(description="the grid is one of the worker's")


class CheckInLocated(CheckIn):
    """The answer to a check-in: also the community and street it lies in."""

    community: AreaRef | None
    street: AreaRef | None
