"""Incidents over HTTP: report (idempotent), list, detail with history, transitions, location corrections."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import numpy as np
from fastapi import APIRouter, Header, Query, Request, Response
from sqlalchemy.orm import Session

from api.answers import created_or_replayed
from api.deps import BBoxDep, Offset, PrincipalDep, SessionDep, SettingsDep, SignedIn
from api.limits import cap_points
from api.schemas.common import Location
from api.schemas.incidents import (
    BulkAssignment,
    BulkPoints,
    DispatchOptions,
    Incident,
    IncidentPage,
    IncidentReport,
    IncidentReported,
    IncidentStats,
    Reassignment,
    Relocation,
    TransitionRequest,
    incident_for,
    reported_for,
)
from gis.auth import access
from gis.auth.users import Principal
from gis.incidents import evaluation, privacy, tracking
from gis.incidents import records as incidents
from gis.incidents.records import IncidentFilter, Place
from gis.incidents.stats import incident_stats
from gis.locate.bulk import assign_points

router = APIRouter(prefix="/api/incidents", tags=["incidents"])


def _place(location: Location | None, address: str | None) -> Place:
    if location is None:
        return Place(address=address)
    return Place(lon=location.lon, lat=location.lat, crs=location.crs, address=address)


def client_scope(who: Principal, request: Request) -> str:
    """Whose Idempotency-Keys a report's key is among: the token's account (the same on every device and
    network), else the public client's address (behind a proxy, uvicorn's --proxy-headers puts the real one
    there). Two anonymous clients behind one address share a scope; random keys (UUIDs) keep them apart.
    Uploads (api/routers/uploads.py) are scoped the same way: a report attaches only its own client's."""
    if who.authenticated:
        return f"user:{who.id}"
    return f"address:{request.client.host if request.client else 'unknown'}"


@router.post("", status_code=201)
def report(
    body: IncidentReport,
    session: SessionDep,
    settings: SettingsDep,
    who: PrincipalDep,
    request: Request,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="retries with the same key and the same report make one incident; the key belongs to its "
            "client (the token's account, else the client's address); reused for a different report: 409",
        ),
    ] = None,
) -> IncidentReported:
    incident, created = incidents.report(
        session,
        category=body.category,
        place=_place(body.location, body.address),
        settings=settings,
        description=body.description,
        channel=body.channel,
        reporter_contact=body.reporter_contact,
        photo_url=body.photo_url,
        photos=body.photos,
        idempotency_key=idempotency_key,
        client=client_scope(who, request),
        actor=who.name,  # "public" for anonymous reports
        staff=who.authenticated,
    )
    created_or_replayed(response, f"/api/incidents/{incident['id']}", created=created)
    incident["tracking_number"] = tracking.number_of(session, incident["id"])
    # A replay by key returns an existing incident: it gets the same privacy as any other read.
    audience = privacy.audience_of(session, who, incident["id"])
    return reported_for(audience, privacy.shown_to(session, audience, incident))


@router.post("/bulk", summary="assign many points to grids at once (vectorised; nothing is stored)")
def bulk_assign(body: BulkPoints, session: SessionDep, settings: SettingsDep, _who: SignedIn) -> BulkAssignment:
    cap_points(len(body.points), settings, where="points", cli="gridmap assign FILE")  # larger jobs: the CLI
    xy = np.asarray(body.points, dtype=float)
    result = assign_points(session, xy[:, 0], xy[:, 1], crs=body.crs, snap_m=settings.locate_snap_m)
    return BulkAssignment.model_validate(
        {"plan_id": result.plan_id, "counts": result.counts(), "assignments": result.records()}
    )


@router.get("", summary="incidents as GeoJSON, newest first")
def list_incidents(
    session: SessionDep,
    settings: SettingsDep,
    who: PrincipalDep,
    bbox: BBoxDep,
    offset: Offset = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
    status: str | None = None,
    category: str | None = None,
    grid: Annotated[str | None, Query(description="grid code")] = None,
    community: Annotated[str | None, Query(description="community code")] = None,
    street: Annotated[str | None, Query(description="street code")] = None,
    overdue: bool | None = None,
    since: Annotated[datetime | None, Query(description="reported at or after (ISO 8601)")] = None,
    until: Annotated[datetime | None, Query(description="reported before (ISO 8601)")] = None,
    channel: Annotated[str | None, Query(max_length=32, description="hotline | patrol | wechat | app | …")] = None,
    department: Annotated[str | None, Query(max_length=200)] = None,
    assignee: Annotated[int | None, Query(ge=1, le=2**31 - 1, description="dispatched to this worker")] = None,
    tracking_number: Annotated[str | None, Query(max_length=40, description="dispatchers and admins")] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="search by id, tracking number or text (dispatchers and admins)"),
    ] = None,
    sort: Annotated[Literal["newest", "deadline"], Query(description="newest first, or nearest deadline")] = "newest",
) -> IncidentPage:
    if q is not None or tracking_number is not None:
        # Text search reads descriptions, and a tracking number would tie a resident's number to a place:
        # both are for the dispatch centre.
        access.require(who, access.DISPATCH, "searching incidents")
    where = IncidentFilter(
        status=status,
        category=category,
        grid=grid,
        community=community,
        street=street,
        overdue=overdue,
        since=since,
        until=until,
        bbox=(bbox.west, bbox.south, bbox.east, bbox.north) if bbox else None,
        channel=channel,
        department=department,
        assignee_id=assignee,
        tracking_number=tracking_number,
        q=q,
    )
    page = min(limit or settings.page_limit_default, settings.page_limit_max)
    found = incidents.list_incidents(
        session, where, limit=page, offset=offset, contact=privacy.sees_contacts(who), order=sort
    )
    return IncidentPage.of(found, privacy.audience_by_grid(session, who))


@router.get(
    "/stats",
    summary="counts by status, open and overdue, median handling time, per grid/community/street/department/category",
)
def stats(
    session: SessionDep,
    level: Literal["grid", "community", "street", "department", "category", "all"] = "community",
) -> list[IncidentStats]:
    return [IncidentStats.model_validate(row) for row in incident_stats(session, level)]


@router.get("/{incident_id}")
def get_incident(incident_id: int, session: SessionDep, who: PrincipalDep) -> Incident:
    return _detail(session, who, incident_id)


def _detail(session: Session, who: Principal, incident_id: int) -> Incident:
    """The incident with its history, as `who` may see it (with the reporter's contact for dispatchers)."""
    audience = privacy.audience_of(session, who, incident_id)
    found = incidents.get_incident(session, incident_id, contact=audience is privacy.Audience.DISPATCH)
    return incident_for(audience, privacy.shown_to(session, audience, found))


@router.post("/{incident_id}/transitions")
def transition(
    incident_id: int,
    body: TransitionRequest,
    session: SessionDep,
    settings: SettingsDep,
    who: PrincipalDep,
    request: Request,
) -> Incident:
    if body.action == "evaluate":  # the loop's last step: a rating, not a change of state
        access.require(who, access.DISPATCH, "evaluating an incident")
        evaluation.evaluate(
            session, incident_id, rating=body.rating, comment=body.note, by="dispatcher", actor=who.name
        )
        return _detail(session, who, incident_id)
    access.check_incident_move(session, who, incident_id, body.action)
    incidents.transition(
        session,
        incident_id,
        action=body.action,
        note=body.note,
        actor=who.name,
        settings=settings,
        duplicate_of=body.duplicate_of,
        photos=body.photos,
        client=client_scope(who, request),
        department=body.department,
        worker=body.worker,
    )
    return _detail(session, who, incident_id)


@router.get("/{incident_id}/dispatch-options", summary="departments and grid workers a dispatch may name")
def dispatch_options(incident_id: int, session: SessionDep, who: PrincipalDep) -> DispatchOptions:
    access.require(who, access.DISPATCH, "dispatching an incident")
    return DispatchOptions.model_validate(incidents.dispatch_options(session, incident_id))


@router.post("/{incident_id}/assignment", summary="reassign a dispatched incident (改派): department and/or worker")
def reassign(
    incident_id: int, body: Reassignment, session: SessionDep, settings: SettingsDep, who: PrincipalDep
) -> Incident:
    access.require(who, access.DISPATCH, "reassigning an incident")
    incidents.reassign(
        session,
        incident_id,
        actor=who.name,
        settings=settings,
        department=body.department,
        worker=body.worker,
        note=body.note,
    )
    return _detail(session, who, incident_id)


@router.post("/{incident_id}/location", summary="correct the location; re-assigns the incident")
def relocate(
    incident_id: int, body: Relocation, session: SessionDep, settings: SettingsDep, who: PrincipalDep
) -> Incident:
    access.check_incident_move(session, who, incident_id)
    incidents.relocate(
        session,
        incident_id,
        place=_place(body.location, body.address),
        actor=who.name,
        settings=settings,
        note=body.note,
    )
    return _detail(session, who, incident_id)
