"""Incidents over HTTP: what a report carries, and what each audience is shown.

One model per audience (gis.incidents.privacy.Audience) decides which fields leave the server:
- public: category, status, times, place, the history without handling notes;
- staff (the grid worker of the incident's grid): also the description, the photo and the notes;
- dispatch (dispatchers and admins): also the reporter's contact.
Routes build the model of the audience; a field a model does not declare is never sent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic needs this one before Python 3.12

from api.schemas.common import Location, PointGeometry, Timestamp, WorkerRef
from api.schemas.uploads import IncidentPhoto, PhotoIds
from gis.incidents.privacy import Audience

# --- requests ---------------------------------------------------------------------------------------------------


class IncidentReport(BaseModel):
    category: str = Field(min_length=1, max_length=64, description="code in data/incident_categories.toml")
    description: str | None = Field(default=None, max_length=5_000)
    location: Location | None = None
    address: str | None = Field(default=None, max_length=200, description="address or building name, when no location")
    channel: str | None = Field(default=None, max_length=32, description="patrol | hotline | wechat | app | desk | ...")
    reporter_contact: str | None = Field(default=None, max_length=200, description="kept private: dispatchers only")
    photo_url: str | None = Field(default=None, max_length=2_000)
    photos: PhotoIds  # an anonymous report: uploads made anonymously from the same address


class TransitionRequest(BaseModel):
    action: str = Field(min_length=1, max_length=32)
    note: str | None = Field(default=None, max_length=5_000)
    rating: int | None = Field(default=None, ge=1, le=5, description="evaluate: the handling rated 1–5 (评价)")
    photos: PhotoIds  # attached with the note, of the kind of the action (resolve, return, else note)
    duplicate_of: int | None = Field(default=None, description="the original incident, for mark_duplicate")
    department: str | None = Field(
        default=None, max_length=200, description="dispatch: the department to send it to (default: the category's)"
    )
    worker: int | None = Field(default=None, description="dispatch: the grid worker (user id) to send it to")


class Reassignment(BaseModel):
    """改派: another department and/or worker for a dispatched incident (GET …/dispatch-options lists them)."""

    department: str | None = Field(default=None, max_length=200)
    worker: int | None = Field(default=None, description="a grid worker's user id")
    note: str | None = Field(default=None, max_length=5_000)


class DispatchWorker(BaseModel):
    id: int
    name: str
    in_grid: bool = Field(description="works the incident's grid")
    grids: list[str] = Field(description="codes of the worker's grids in the current plan")


class DispatchOptions(BaseModel):
    department: str = Field(description="the incident's department now (the category's until dispatched elsewhere)")
    departments: list[str] = Field(description="every department, the incident's first")
    workers: list[DispatchWorker] = Field(description="active grid workers, those of the incident's grid first")


class Relocation(BaseModel):
    location: Location | None = None
    address: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, max_length=5_000)


class BulkPoints(BaseModel):
    crs: str = Field(default="wgs84", description="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n, for every point")
    points: list[tuple[float, float]] = Field(min_length=1, max_length=100_000, description="[[lon, lat], ...]")


# --- history ----------------------------------------------------------------------------------------------------


class IncidentEventPublic(BaseModel):
    """One step of an incident's history, without the handler's note."""

    at: Timestamp
    actor: str = Field(description="the user who acted, 'public' or 'open311'")
    action: str
    from_status: str | None
    to_status: str | None
    details: dict[str, Any] | None = Field(description="e.g. the location before and after a correction")


class IncidentEvent(IncidentEventPublic):
    """One step of an incident's history with the handler's note (staff and dispatch)."""

    note: str | None


# --- one incident: the properties of a feature in a list ----------------------------------------------------


class IncidentSummaryPublic(BaseModel):
    """An incident as the public sees it: category, status, times and place."""

    id: int
    category: str = Field(description="code in data/incident_categories.toml")
    status: str
    channel: str | None
    department: str | None = Field(description="the department that handles the category")
    address: str | None
    reported_at: Timestamp
    state_entered_at: Timestamp
    deadline_at: Timestamp | None
    closed_at: Timestamp | None
    plan_id: int | None = Field(description="the grid plan the incident was assigned against")
    location_status: str | None = Field(description="inside | snapped | outside")
    distance_m: float | None
    duplicate_of: int | None
    grid_id: int | None
    grid_code: str | None
    community_code: str | None
    community_name: str | None
    street_code: str | None
    street_name: str | None
    overdue: bool
    allowed_actions: list[str] = Field(description="the transitions the loop allows from this status")


class IncidentSummaryStaff(IncidentSummaryPublic):
    """An incident as the grid worker of its grid sees it: also what the reporter wrote and sent."""

    description: str | None
    photo_url: str | None
    assignee_id: int | None = Field(None, description="the grid worker it is dispatched to")
    assignee_name: str | None = None


class IncidentSummaryDispatch(IncidentSummaryStaff):
    """An incident as dispatchers and admins see it: also the reporter's contact and the tracking number."""

    reporter_contact: str | None
    tracking_number: str | None = None


# --- one incident with its place and history ----------------------------------------------------------------


class IncidentPublic(IncidentSummaryPublic):
    lon: float
    lat: float
    history: list[IncidentEventPublic]


class IncidentStaff(IncidentSummaryStaff):
    lon: float
    lat: float
    history: list[IncidentEvent]
    photos: list[IncidentPhoto] = Field(description="uploads attached to the incident, oldest first")


class IncidentDispatch(IncidentStaff):
    reporter_contact: str | None
    tracking_number: str | None = None


Incident = IncidentPublic | IncidentStaff | IncidentDispatch

INCIDENT_MODELS: dict[Audience, type[IncidentPublic] | type[IncidentStaff]] = {
    Audience.PUBLIC: IncidentPublic,
    Audience.STAFF: IncidentStaff,
    Audience.DISPATCH: IncidentDispatch,
}


def incident_for(audience: Audience, incident: dict[str, Any]) -> Incident:
    """`incident` (from gis.incidents.records) with the fields `audience` may see."""
    return INCIDENT_MODELS[audience].model_validate(incident)


# --- the answer to a report -------------------------------------------------------------------------------------


class PossibleDuplicate(BaseModel):
    id: int
    status: str
    reported_at: Timestamp
    distance_m: float


class _ReportExtras(BaseModel):
    tracking_number: str = Field(description="the short number the reporter follows the report by (/report/{number})")
    possible_duplicates: list[PossibleDuplicate] = Field(description="open incidents of the category nearby")
    workers: list[WorkerRef] = Field(description="the grid workers of the grid it was assigned to")


class IncidentReportedPublic(_ReportExtras, IncidentPublic):
    pass


class IncidentReportedStaff(_ReportExtras, IncidentStaff):
    pass


IncidentReported = IncidentReportedPublic | IncidentReportedStaff

# The answer to a report never echoes the reporter's contact, whoever sent it: a dispatcher gets the staff view.
REPORTED_MODELS: dict[Audience, type[IncidentReportedPublic] | type[IncidentReportedStaff]] = {
    Audience.PUBLIC: IncidentReportedPublic,
    Audience.STAFF: IncidentReportedStaff,
    Audience.DISPATCH: IncidentReportedStaff,
}


def reported_for(audience: Audience, incident: dict[str, Any]) -> IncidentReported:
    return REPORTED_MODELS[audience].model_validate(incident)


# --- pages of incidents (GeoJSON) ------------------------------------------------------------------------------

IncidentSummary = IncidentSummaryPublic | IncidentSummaryStaff | IncidentSummaryDispatch
SUMMARY_MODELS: dict[Audience, type[IncidentSummaryPublic]] = {
    Audience.PUBLIC: IncidentSummaryPublic,
    Audience.STAFF: IncidentSummaryStaff,
    Audience.DISPATCH: IncidentSummaryDispatch,
}


class IncidentFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    properties: IncidentSummary
    geometry: PointGeometry


class IncidentPage(BaseModel):
    """A page of incidents as a GeoJSON FeatureCollection, newest first."""

    type: Literal["FeatureCollection"]
    numberMatched: int = Field(description="incidents matching the filters, on every page")
    numberReturned: int
    features: list[IncidentFeature]

    @classmethod
    def of(cls, page: dict[str, Any], audience_by_grid: Callable[[int | None], Audience]) -> IncidentPage:
        """`page` (from gis.incidents.records.list_incidents) with each incident as its audience may see it."""
        features = [
            IncidentFeature(
                type="Feature",
                id=feature["id"],
                properties=SUMMARY_MODELS[audience_by_grid(feature["properties"].get("grid_id"))].model_validate(
                    feature["properties"]
                ),
                geometry=PointGeometry.model_validate(feature["geometry"]),
            )
            for feature in page["features"]
        ]
        return cls(
            type="FeatureCollection",
            numberMatched=page["numberMatched"],
            numberReturned=page["numberReturned"],
            features=features,
        )


# --- statistics and bulk assignment -----------------------------------------------------------------------------


class IncidentStats(BaseModel):
    level: Literal["grid", "community", "street", "department", "category", "all"]
    code: str | None = Field(description="the area's code, or the department or category itself")
    name: str | None
    total: int
    open: int = Field(description="not closed, rejected or a duplicate")
    overdue: int
    by_status: dict[str, int]
    median_handling_hours: float | None = Field(description="closed incidents: reported to closed, median hours")
    evaluated: int = Field(0, description="closed incidents rated by their reporter or a dispatcher (评价)")
    mean_rating: float | None = Field(None, description="their mean rating, 1–5")


class PointAssignment(TypedDict):
    """One point's grid. A TypedDict, not a model: answers hold up to 100,000 of them, and dicts validate and
    serialise several times faster than model instances are built."""

    grid_id: int | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    status: Annotated[str, Field(description="inside | snapped | outside")]
    distance_m: float


class BulkAssignment(BaseModel):
    plan_id: int
    counts: dict[str, int] = Field(description="points per status")
    assignments: list[PointAssignment] = Field(description="one per point, in the order sent")
