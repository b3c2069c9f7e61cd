"""Field visits (入户走访) over HTTP: what a grid worker sends, and what staff are shown.

Every reader of a visit is staff (planners, admins, the worker who made it): the note, which may name residents,
is in these models and on no public endpoint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import Location, LonLat, Timestamp
from api.schemas.uploads import PhotoIds, VisitPhoto

MAX_HOUSEHOLDS = 10_000  # one building: the largest towers hold a few thousand
MAX_PEOPLE = 100_000


class VisitRequest(BaseModel):
    """What a grid worker observed; a value left out is not observed (the building keeps its own)."""

    households: int | None = Field(default=None, ge=0, le=MAX_HOUSEHOLDS, description="户数")
    population_resident: int | None = Field(default=None, ge=0, le=MAX_PEOPLE, description="常住人口")
    population_registered: int | None = Field(default=None, ge=0, le=MAX_PEOPLE, description="户籍人口")
    population_floating: int | None = Field(default=None, ge=0, le=MAX_PEOPLE, description="流动人口")
    note: str | None = Field(default=None, max_length=2_000, description="staff only: may name residents")
    visited_at: datetime | None = Field(
        default=None,
        description="when the visit happened (default: now; not in the future). Without an offset: server local time",
    )
    location: Location | None = Field(default=None, description="where the worker stood, as for check-ins")
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000, description="the phone's reported accuracy")
    photos: PhotoIds


class VisitDecision(BaseModel):
    note: str | None = Field(default=None, max_length=2_000, description="why (staff only)")


class Observed(BaseModel):
    households: int | None
    population_resident: int | None
    population_registered: int | None
    population_floating: int | None


class Visit(BaseModel):
    """A visit as staff see it: what was observed, by whom, and what became of it."""

    id: int
    building_id: int
    actor: str = Field(description="the user who recorded it")
    at: Timestamp = Field(description="when the visit happened")
    recorded_at: Timestamp
    observed: Observed
    note: str | None
    location: LonLat | None = Field(description="WGS 84")
    accuracy_m: float | None
    status: Literal["pending", "approved", "rejected"]
    decided_by: str | None
    decided_at: Timestamp | None
    decision_note: str | None
    batch_id: int | None = Field(description="the batch (kind visit) its approval ran in")
    version: int | None = Field(description="the building version its approval made (none: nothing changed)")
    photos: list[VisitPhoto] = Field(default_factory=list, description="uploads attached to the visit")


class VisitPage(BaseModel):
    matched: int = Field(description="visits matching the filters")
    visits: list[Visit]
