"""A signed-in grid worker's own routes: check in with a location, see check-ins, own grids and their incidents."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.answers import created_or_replayed
from api.deps import BBoxDep, GridWorker, Offset, SessionDep, SettingsDep
from api.schemas.field import MyGrids
from api.schemas.incidents import IncidentPage
from api.schemas.workers import CheckIn, CheckInLocated, CheckInRequest
from gis.incidents import privacy, workers
from gis.incidents import records as incidents
from gis.incidents.records import IncidentFilter

router = APIRouter(prefix="/api/workers/me", tags=["workers"])


@router.post(
    "/checkins",
    status_code=201,
    summary="check in: where the worker is, located in the current plan",
    responses={200: {"model": CheckInLocated, "description": "a retry with the same Idempotency-Key"}},
)
def check_in(
    body: CheckInRequest,
    session: SessionDep,
    settings: SettingsDep,
    worker: GridWorker,
    response: Response,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="retries with the same key make one check-in (a phone sending what it queued offline); "
            "the key is the account's; reused for a different check-in: 409",
        ),
    ] = None,
) -> CheckInLocated:
    checkin, created = workers.check_in(
        session,
        worker.user_id,
        lon=body.location.lon,
        lat=body.location.lat,
        crs=body.location.crs,
        accuracy_m=body.accuracy_m,
        snap_m=settings.locate_snap_m,
        actor=worker.name,
        idempotency_key=idempotency_key,
    )
    created_or_replayed(response, f"/api/workers/me/checkins/{checkin['id']}", created=created)
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


@router.get("/grids", summary="the worker's grids in the current plan (GeoJSON)")
def my_grids(session: SessionDep, worker: GridWorker) -> MyGrids:
    return MyGrids.model_validate(workers.my_grids(session, worker.user_id))


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
