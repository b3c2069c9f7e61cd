"""A signed-in grid worker's own routes: check in with a location, see check-ins and own grids' incidents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import BBoxDep, GridWorker, Offset, SessionDep, SettingsDep
from api.schemas.incidents import IncidentPage
from api.schemas.workers import CheckIn, CheckInLocated, CheckInRequest
from gis.incidents import privacy, workers
from gis.incidents import records as incidents
from gis.incidents.records import IncidentFilter

router = APIRouter(prefix="/api/workers/me", tags=["workers"])


@router.post("/checkins", status_code=201, summary="check in: where the worker is, located in the current plan")
def check_in(
    body: CheckInRequest, session: SessionDep, settings: SettingsDep, worker: GridWorker, response: Response
) -> CheckInLocated:
    checkin = workers.check_in(
        session,
        worker.user_id,
        lon=body.location.lon,
        lat=body.location.lat,
        crs=body.location.crs,
        accuracy_m=body.accuracy_m,
        snap_m=settings.locate_snap_m,
        actor=worker.name,
    )
    response.headers["Location"] = f"/api/workers/me/checkins/{checkin['id']}"
    return CheckInLocated.model_validate(checkin)


@router.get("/checkins", summary="the worker's own check-ins, newest first")
def my_checkins(
    session: SessionDep,
    worker: GridWorker,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[CheckIn]:
    found = workers.list_checkins(session, worker.user_id, limit=limit, offset=offset)
    return [CheckIn.model_validate(checkin) for checkin in found]


@router.get("/incidents", summary="incidents located in the worker's own grids (GeoJSON, newest first)")
def my_incidents(
    session: SessionDep,
    settings: SettingsDep,
    worker: GridWorker,
    bbox: BBoxDep,
    offset: Offset = 0,
    limit: Annotated[int | None, Query(ge=1)] = None,
    status: str | None = None,
    category: str | None = None,
    overdue: bool | None = None,
) -> IncidentPage:
    where = IncidentFilter(
        status=status,
        category=category,
        overdue=overdue,
        bbox=(bbox.west, bbox.south, bbox.east, bbox.north) if bbox else None,
        worker_id=worker.user_id,
    )
    page = min(limit or settings.page_limit_default, settings.page_limit_max)
    found = incidents.list_incidents(session, where, limit=page, offset=offset)
    return IncidentPage.of(found, privacy.audience_by_grid(session, worker))
