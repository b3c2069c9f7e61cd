"""Where a point falls: grid, community, street, district and the grid's workers."""

from __future__ import annotations

from pydantic import BaseModel, Field

from api.schemas.common import AreaRef, Location, LonLat, WorkerRef


class Located(BaseModel):
    status: str = Field(description="inside | snapped (within the snap distance) | outside (the nearest grid)")
    distance_m: float = Field(description="geodesic metres to the grid; 0 inside")
    plan_id: int = Field(description="the published plan located against")
    grid: AreaRef
    community: AreaRef | None
    street: AreaRef | None
    district: AreaRef | None
    workers: list[WorkerRef] = Field(description="the grid's workers (id and name only)")
    location: LonLat = Field(description="the point in WGS 84")
    input: Location = Field(description="the point as sent")
