"""Field visits (入户走访): a grid worker records what they observed at a building; planners approve it into a
new version of the building, or reject it. The rules live in gis/basedata/visits.py."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response

from api.answers import created_or_replayed
from api.deps import Offset, PrincipalDep, SessionDep, SettingsDep
from api.routers.incidents import client_scope
from api.schemas.visits import Visit, VisitDecision, VisitPage, VisitRequest
from gis.basedata import visits
from gis.basedata.visits import Observation, Status

router = APIRouter(prefix="/api", tags=["visits"])

VisitId = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post(
    "/buildings/{building_id}/visits",
    status_code=201,
    summary="record a field visit (pending until a planner approves it): a grid worker of the building's grid",
    responses={200: {"model": Visit, "description": "a retry with the same Idempotency-Key: the visit it made"}},
)
def record(
    body: VisitRequest,
    session: SessionDep,
    who: PrincipalDep,
    request: Request,
    response: Response,
    building_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    idempotency_key: Annotated[
        str | None, Header(max_length=200, description="retries with the same key make one visit")
    ] = None,
) -> Visit:
    observed = Observation(
        households=body.households,
        population_resident=body.population_resident,
        population_registered=body.population_registered,
        population_floating=body.population_floating,
        note=body.note,
        visited_at=body.visited_at,
        lon=body.location.lon if body.location else None,
        lat=body.location.lat if body.location else None,
        crs=body.location.crs if body.location else "wgs84",
        accuracy_m=body.accuracy_m,
    )
    visit, created = visits.record_visit(
        session,
        who,
        building_id,
        observed,
        idempotency_key=idempotency_key,
        photos=body.photos,
        client=client_scope(who, request),
    )
    created_or_replayed(response, f"/api/visits/{visit['id']}", created=created)
    return Visit.model_validate(visit)


@router.get("/visits", summary="field visits, newest first: all for planners and admins, a grid worker's own")
def list_visits(
    session: SessionDep,
    who: PrincipalDep,
    status: Status | None = None,
    building: Annotated[int | None, Query(ge=1, le=2**63 - 1, description="a building id")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> VisitPage:
    found = visits.list_visits(session, who, status=status, building_id=building, limit=limit, offset=offset)
    return VisitPage.model_validate(found)


@router.get("/visits/{visit_id}", summary="one field visit")
def get_visit(session: SessionDep, who: PrincipalDep, visit_id: VisitId) -> Visit:
    return Visit.model_validate(visits.get_visit(session, visit_id, who))


@router.post("/visits/{visit_id}/approve", summary="apply a pending visit as a new version of its building")
def approve(
    session: SessionDep, settings: SettingsDep, who: PrincipalDep, visit_id: VisitId, body: VisitDecision | None = None
) -> Visit:
    note = body.note if body else None
    return Visit.model_validate(visits.approve_visit(session, settings, who, visit_id, note=note))


@router.post("/visits/{visit_id}/reject", summary="close a pending visit; its building stays as it is")
def reject(session: SessionDep, who: PrincipalDep, visit_id: VisitId, body: VisitDecision | None = None) -> Visit:
    note = body.note if body else None
    return Visit.model_validate(visits.reject_visit(session, who, visit_id, note=note))
