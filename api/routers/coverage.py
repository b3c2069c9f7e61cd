"""Walking coverage (生活圈): runs, coverage per area, gaps, catchments, site suggestions, facility edits."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from api.deps import Offset, PlannerActor, SessionDep, SettingsDep
from gis import catchments, coverage_runs, coverage_stats, facilities, site_suggestion
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


class RunRequest(BaseModel):
    categories: list[str] | None = Field(None, description="categories to recompute; all when omitted")


class Candidates(BaseModel):
    category: str
    minutes: int | None = Field(None, ge=1, le=120)
    k: int = Field(5, ge=1, le=site_suggestion.MAX_SITES)
    mode: Literal["time", "distance"] = "time"
    speed: float | None = Field(None, gt=0, le=3)
    candidates: list[tuple[float, float]] = Field(..., min_length=1, max_length=100_000, description="[lon, lat]")


class FacilityIn(BaseModel):
    category: str | None = None
    name: str | None = None
    address: str | None = None
    capacity: int | None = Field(None, ge=0, le=2**31 - 1)  # an integer column
    public: bool | None = None
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"


def _tier(category: str, minutes: int | None) -> int:
    """The minutes asked for, else the category's own tier."""
    if minutes is not None:
        return minutes
    found = facility_registry().categories.get(category)
    if found is None:
        raise InvalidInput(f"unknown category {category!r}", where="category")
    return found.tier


@router.post("/api/coverage/runs", status_code=202, summary="start a coverage run in the background")
def start_run(
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    actor: PlannerActor,
    body: RunRequest | None = None,
    wait: Annotated[bool, Query(description="run now and answer when done (201)")] = False,
) -> dict[str, Any]:
    categories = body.categories if body else None
    if wait:
        run_id = coverage_runs.create_run(session, categories=categories, actor=actor)
        response.status_code = 201
        response.headers["Location"] = f"/api/coverage/runs/{run_id}"
        return coverage_runs.run_now(session, run_id, settings)
    run_id = request.app.state.coverage_runner.submit(categories, actor)
    response.headers["Location"] = f"/api/coverage/runs/{run_id}"
    return {"id": run_id, "status": "queued", "href": f"/api/coverage/runs/{run_id}"}


@router.get("/api/coverage/runs/{run_id}", summary="a coverage run: status, progress and report")
def get_run(session: SessionDep, run_id: Annotated[int, Path(ge=1)]) -> dict[str, Any]:
    return coverage_runs.get_run(session, run_id)


@router.get("/api/coverage", summary="building and household coverage per area, category and tier")
def get_coverage(
    session: SessionDep,
    settings: SettingsDep,
    level: Literal["all", "street", "community", "grid"] = "all",
    minutes: Annotated[list[int] | None, Query(description="tiers in minutes; all tiers when omitted")] = None,
    category: Annotated[str | None, Query(description="a category, or tier_complete; all when omitted")] = None,
    mode: ModeQ = "time",
    speed: Speed = None,
) -> dict[str, Any]:
    return coverage_stats.coverage(
        session,
        level=level,
        minutes=minutes,
        category=category,
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
    )


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
) -> dict[str, Any]:
    return coverage_stats.gaps(
        session,
        category=category,
        minutes=_tier(category, minutes),
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
        limit=min(limit, settings.page_limit_max),
        offset=offset,
    )


@router.get("/api/coverage/suggest", summary="k new sites adding the most uncovered households (network nodes)")
def get_suggestions(
    session: SessionDep,
    settings: SettingsDep,
    category: Category,
    k: Annotated[int, Query(ge=1, le=site_suggestion.MAX_SITES)] = 5,
    minutes: Annotated[int | None, Query(ge=1, le=120, description="default: the category's tier")] = None,
    mode: ModeQ = "time",
    speed: Speed = None,
) -> dict[str, Any]:
    return site_suggestion.suggest_sites(
        session,
        category=category,
        minutes=_tier(category, minutes),
        k=k,
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
        max_snap_m=settings.coverage_snap_m,
    )


@router.post("/api/coverage/suggest", summary="the same among candidate points the planner supplies")
def post_suggestions(session: SessionDep, settings: SettingsDep, body: Candidates) -> dict[str, Any]:
    for n, (lon, lat) in enumerate(body.candidates):
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInput(f"candidates[{n}] = [{lon}, {lat}] is not WGS 84 [lon, lat]", where=f"candidates[{n}]")
    return site_suggestion.suggest_sites(
        session,
        category=body.category,
        minutes=_tier(body.category, body.minutes),
        k=body.k,
        mode=body.mode,
        speed_mps=body.speed or settings.walking_speed_mps,
        candidates=body.candidates,
        max_snap_m=settings.coverage_snap_m,
    )


@router.get("/api/facilities/{facility_id}/catchment", summary="what a facility reaches on foot (display only)")
def get_catchment(
    session: SessionDep,
    settings: SettingsDep,
    facility_id: Annotated[int, Path(ge=1)],
    minutes: Minutes = 15,
    mode: ModeQ = "time",
    speed: Speed = None,
) -> dict[str, Any]:
    return catchments.facility_catchment(
        session,
        facility_id,
        minutes,
        mode=mode,
        speed_mps=speed or settings.walking_speed_mps,
        max_snap_m=settings.coverage_snap_m,
        buffer_m=settings.catchment_buffer_m,
    )


@router.post("/api/facilities", status_code=201, summary="add a facility; its category's coverage is recomputed")
def post_facility(
    response: Response, session: SessionDep, settings: SettingsDep, actor: PlannerActor, body: FacilityIn
) -> dict[str, Any]:
    change = facilities.create_facility(session, body.model_dump(), settings, actor=actor)
    response.headers["Location"] = f"/api/facilities/{change.facility_id}"
    return _change(change)


@router.patch("/api/facilities/{facility_id}", summary="change a facility; recomputes its categories only")
def patch_facility(
    session: SessionDep,
    settings: SettingsDep,
    actor: PlannerActor,
    facility_id: Annotated[int, Path(ge=1)],
    body: FacilityIn,
) -> dict[str, Any]:
    values = body.model_dump(exclude_unset=True)
    return _change(facilities.update_facility(session, facility_id, values, settings, actor=actor))


@router.delete("/api/facilities/{facility_id}", summary="remove a facility; recomputes its category")
def delete_facility(
    session: SessionDep, settings: SettingsDep, actor: PlannerActor, facility_id: Annotated[int, Path(ge=1)]
) -> dict[str, Any]:
    return _change(facilities.delete_facility(session, facility_id, settings, actor=actor))


def _change(change: facilities.FacilityChange) -> dict[str, Any]:
    return {
        "id": change.facility_id,
        "recomputed_categories": change.categories,
        "coverage_run": None if change.coverage_run_id is None else f"/api/coverage/runs/{change.coverage_run_id}",
    }
