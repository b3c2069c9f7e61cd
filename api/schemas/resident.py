"""What residents' routes answer: a report's public status by tracking number, the public notice, place search.

None of these models has a field for a description, contact, photo, address or exact coordinate of an incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from api.schemas.common import PointGeometry, Timestamp


class TrackedEvent(BaseModel):
    """One step of a report's handling as the public sees it: no note, no details."""

    at: Timestamp
    actor: str = Field(description="the public name of who acted (never a login)")
    action: str
    from_status: str | None
    to_status: str | None


class TrackedReport(BaseModel):
    """A report as whoever holds its tracking number may see it."""

    tracking_number: str
    category: str = Field(description="code in data/incident_categories.toml")
    category_name_zh: str
    category_name_en: str
    status: str
    finished: bool = Field(description="closed, rejected or a duplicate: nothing more will happen")
    department: str | None
    community_name: str | None
    street_name: str | None
    reported_at: Timestamp
    state_entered_at: Timestamp
    deadline_at: Timestamp | None = Field(description="when the current stage's time limit runs out")
    overdue: bool
    closed_at: Timestamp | None
    history: list[TrackedEvent]


class ClosedIncident(BaseModel):
    category: str
    category_name_zh: str
    category_name_en: str
    closed_on: str = Field(description="the day it was closed (YYYY-MM-DD)")
    days_to_close: float = Field(description="days from report to closing, one decimal")


class CommunityNotice(BaseModel):
    community_code: str | None
    community_name: str | None = Field(description="null: outside every community")
    closed: list[ClosedIncident] = Field(description="recently closed incidents, newest first")


class MonthlyCount(BaseModel):
    month: str = Field(description="YYYY-MM")
    community_code: str | None
    community_name: str | None
    category: str
    category_name_zh: str
    category_name_en: str
    reported: int
    closed: int


class Notice(BaseModel):
    """The public notice (公示): handling per community, without anything that points at a person or a door."""

    days: int = Field(description="closed incidents of this many last days")
    months: int = Field(description="monthly counts of this many last months")
    communities: list[CommunityNotice]
    monthly: list[MonthlyCount]


class PlaceProperties(BaseModel):
    kind: Literal["building", "compound", "facility"]
    name: str
    category: str | None = Field(description="a facility's category code; null for buildings and compounds")
    community: str | None = Field(description="the community's name")


class PlaceFeature(BaseModel):
    type: Literal["Feature"]
    geometry: PointGeometry = Field(description="a representative point (on the building or compound)")
    properties: PlaceProperties


class PlaceResults(BaseModel):
    """Places matching a name, as a GeoJSON FeatureCollection of points."""

    type: Literal["FeatureCollection"]
    features: list[PlaceFeature]


class Evaluation(BaseModel):
    rating: int = Field(ge=1, le=5, description="1 (poor) to 5 (very good)")
    comment: str | None = Field(default=None, max_length=1000, description="seen by staff only")


class Evaluated(BaseModel):
    rating: int
    at: datetime
