"""Walking coverage (生活圈): runs, coverage per area, gaps, catchments, site suggestions, facility edits."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import Offset, PlannerActor, PrincipalDep, SessionDep, SettingsDep, SignedIn
from api.limits import TOKEN_CHECKED, cap_points
from api.schemas.coverage import (
    Candidates,
    Catchment,
    CoverageRun,
    CoverageTable,
    FacilityChange,
    FacilityIn,
    Gaps,
    RunQueued,
    RunRequest,
    SiteSuggestions,
)
from gis.auth.users import actors_for
from gis.coverage import catchments, facilities
from gis.coverage import runs as coverage_runs
from gis.coverage import sites as site_suggestion
from gis.coverage import stats as coverage_stats
from gis.errors import InvalidInput
from gis.registry import facility_registry

router = APIRouter(tags=["coverage"])

Minutes = Annotated[int, Query(ge=1, le=120, description="walking minutes (a tier: 5, 10, 15)")]
ModeQ = Annotated[
    Literal["time", "distance"],
    Query(description="time: minutes × speed; distance: the tier's 300/500/1000 m (GB 50180-2018)"),
]
Speed = Annotated[float | None, Query(gt=0, le=3, description="walking speed, m/s (default 1.2)")]
Category = Annotated[str, Query(description="facility category code (data/facility_categories.toml)")]


def _tier(category: str, minutes: int | None) -> int:
    """The minutes asked for, else the category's own tier."""
    if minutes is not None:
        return minutes
    found = facility_registry().categories.get(category)
    if found is None:
        raise InvalidInput(f"unknown category {category!r}", where="category")
    return found.tier


@router.post(
    "/api/coverage/runs",
    status_code=202,
    summary="start a coverage run in the background",
    response_model=RunQueued,
    responses={201: {"model": CoverageRun, "description": "with wait=true: the run, done"}},
)
def start_run(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: PlannerActor,
    body: RunRequest | None = None,
    wait: Annotated[bool, Query(description="run now and answer when done (201)")] = False,
) -> RunQueued | JSONResponse:
    categories = body.categories if body else None
    if wait:
        run = CoverageRun.model_validate(
            coverage_runs.run_coverage(session, settings, categories=categories, actor=actor)
        )
        return JSONResponse(
            run.model_dump(mode="json"), status_code=201, headers={"Location": f"/api/coverage/runs/{run.id}"}
        )
    run_id = request.app.state.coverage_runner.submit(categories, actor)
    response.headers["Location"] = f"/api/coverage/runs/{run_id}"
    return RunQueued(id=run_id, status="queued", href=f"/api/coverage/runs/{run_id}")


@router.get("/api/coverage/runs/{run_id}", summary="a coverage run: status, progress and report")
def get_run(session: SessionDep, run_id: Annotated[int, Path(ge=1)], who: PrincipalDep) -> CoverageRun:
    run = actors_for(session, who, [coverage_runs.get_run(session, run_id)])[0]  # the public never sees logins
    return CoverageRun.model_validate(run)


@router.get("/api/coverage", summary="building and household coverage per area, category and tier")
def get_coverage(
    session: SessionDep,
    settings: SettingsDep,
    level: Literal["all", "street", "community", "grid"] = "all",
    minutes: Annotated[list[int] | None, Query(description="tiers in minutes; all tiers when omitted")] = None,
    category: Annotated[str | None, Query(description="a category, or tier_complete; all when omitted")] = None,
    mode: ModeQ = "time",
    speed: Speed = None,
) -> CoverageTable:
    table = coverage_stats.coverage(
        session,
        level=level,
        minutes=minutes,
        category=category,
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
    )
    return CoverageTable.model_validate(table)


@router.get("/api/coverage/gaps", summary="residential buildings not reaching a category in time (GeoJSON)")
def get_gaps(
    session: SessionDep,
    settings: SettingsDep,
    category: Category,
    minutes: Annotated[int | None, Query(ge=1, le=120, description="default: the category's tier")] = None,
    mode: ModeQ = "time",
    speed: Speed = None,
    limit: Annotated[int, Query(ge=1, description="features per page (at most the server's maximum)")] = 100,
    offset: Offset = 0,
) -> Gaps:
    found = coverage_stats.gaps(
        session,
        category=category,
        minutes=_tier(category, minutes),
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
        limit=min(limit, settings.page_limit_max),
        offset=offset,
    )
    return Gaps.model_validate(found)


@router.get(
    "/api/coverage/suggest",
    summary="k new sites adding the most uncovered households (network nodes); staff or an API token",
)
def get_suggestions(
    session: SessionDep,
    settings: SettingsDep,
    _who: SignedIn,  # a search over the whole walking network: not for anonymous callers
    category: Category,
    k: Annotated[int, Query(ge=1, le=site_suggestion.MAX_SITES)] = 5,
    minutes: Annotated[int | None, Query(ge=1, le=120, description="default: the category's tier")] = None,
    mode: ModeQ = "time",
    speed: Speed = None,
) -> SiteSuggestions:
    found = site_suggestion.suggest_sites(
        session,
        category=category,
        minutes=_tier(category, minutes),
        k=k,
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
        max_snap_m=settings.coverage_snap_m,
    )
    return SiteSuggestions.model_validate(found)


@router.post(
    "/api/coverage/suggest",
    summary="the same among candidate points the planner supplies; staff or an API token, "
    "at most GRIDMAP_MAX_POINTS_PER_REQUEST candidates (more: `gridmap coverage suggest --candidates FILE`)",
)
def post_suggestions(session: SessionDep, settings: SettingsDep, _who: SignedIn, body: Candidates) -> SiteSuggestions:
    cap_points(len(body.candidates), settings, where="candidates", cli="gridmap coverage suggest --candidates FILE")
    for n, (lon, lat) in enumerate(body.candidates):
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"candidates[{n}] = [{lon}, {lat}] is not WGS 84 [lon, lat]", where=f"candidates[{n}]")
    found = site_suggestion.suggest_sites(
        session,
        category=body.category,
        minutes=_tier(body.category, body.minutes),
        k=body.k,
        mode=body.mode,
        speed_mps=body.speed or settings.walking_speed_mps,
        candidates=body.candidates,
        max_snap_m=settings.coverage_snap_m,
    )
    return SiteSuggestions.model_validate(found)


@router.get(
    "/api/facilities/{facility_id}/catchment",
    summary="what a facility reaches on foot (display only)",
    dependencies=[TOKEN_CHECKED],  # a token lifts the anonymous rate limit (api.limits): it must be valid
)
def get_catchment(
    session: SessionDep,
    settings: SettingsDep,
    facility_id: Annotated[int, Path(ge=1)],
    minutes: Minutes = 15,
    mode: ModeQ = "time",
    speed: Speed = None,
) -> Catchment:
    feature = catchments.facility_catchment(
        session,
        facility_id,
        minutes,
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
        max_snap_m=settings.coverage_snap_m,
        buffer_m=settings.catchment_buffer_m,
    )
    return Catchment.model_validate(feature)


@router.post(
    "/api/facilities",
    status_code=201,
    summary="add a facility; its category's coverage is recomputed in the background",
)
def post_facility(response: Response, session: SessionDep, actor: PlannerActor, body: FacilityIn) -> FacilityChange:
    change = facilities.create_facility(session, body.model_dump(), actor=actor)
    response.headers["Location"] = f"/api/facilities/{change.facility_id}"
    return _change(change)


@router.patch(
    "/api/facilities/{facility_id}", summary="change a facility; its categories are recomputed in the background"
)
def patch_facility(
    session: SessionDep, actor: PlannerActor, facility_id: Annotated[int, Path(ge=1)], body: FacilityIn
) -> FacilityChange:
    values = body.model_dump(exclude_unset=True)
    return _change(facilities.update_facility(session, facility_id, values, actor=actor))


@router.delete(
    "/api/facilities/{facility_id}", summary="remove a facility; its category is recomputed in the background"
)
def delete_facility(
    session: SessionDep, actor: PlannerActor, facility_id: Annotated[int, Path(ge=1)]
) -> FacilityChange:
    return _change(facilities.delete_facility(session, facility_id, actor=actor))


def _change(change: facilities.FacilityChange) -> FacilityChange:
    run = change.coverage_run_id
    return FacilityChange(
        id=change.facility_id,
        recomputed_categories=change.categories,
        coverage_run=None if run is None else f"/api/coverage/runs/{run}",
    )
