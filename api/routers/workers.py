"""A signed-in grid worker's own routes: check in with a location, see check-ins and own grids' incidents."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import BBoxDep, GridWorker, Offset, SessionDep, SettingsDep
from api.routers.incidents import Location
from gis import incidents, privacy, workers
from gis.incidents import IncidentFilter

router = APIRouter(prefix="/api/workers/me", tags=["workers"])


class CheckIn(BaseModel):
    location: Location
    accuracy_m: float | None = Field(None, ge=0, le=100_000, description="the phone's reported accuracy, metres")


@router.post("/checkins", status_code=201, summary="check in: where the worker is, located in the current plan")
def check_in(
    body: CheckIn, session: SessionDep, settings: SettingsDep, worker: GridWorker, response: Response
) -> dict[str, Any]:
    checkin = workers.check_in(
        session,
        worker.id,
        lon=body.location.lon,
        lat=body.location.lat,
        crs=body.location.crs,
        accuracy_m=body.accuracy_m,
        snap_m=settings.locate_snap_m,
        actor=worker.name,
    )
    response.headers["Location"] = f"/api/workers/me/checkins/{checkin['id']}"
    return checkin


@router.get("/checkins", summary="the worker's own check-ins, newest first")
def my_checkins(
    session: SessionDep,
    worker: GridWorker,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> list[dict[str, Any]]:
    return workers.list_checkins(session, worker.id, limit=limit, offset=offset)


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
) -> dict[str, Any]:
    where = IncidentFilter(
        status=status,
        category=category,
        overdue=overdue,
        bbox=(bbox.west, bbox.south, bbox.east, bbox.north) if bbox else None,
        worker_id=worker.id,
    )
    page = min(limit or settings.page_limit_default, settings.page_limit_max)
    return privacy.shown_page(session, worker, incidents.list_incidents(session, where, limit=page, offset=offset))
