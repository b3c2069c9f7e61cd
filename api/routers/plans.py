"""Grid plans over HTTP: drafts, edits with If-Match, validation, publishing, diffs.

An edit route parses its body into a command of gis.plans.commands (geometries checked by
gis.geo.user_geometry) and hands it to gis.plans.edits.handle; publishing is gis.plans.lifecycle.publish."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from api.deps import IfMatchDep, PlannerActor, PrincipalDep, SessionDep, SettingsDep
from api.schemas.plans import (
    BalanceEdit,
    BalancePreview,
    BalanceResult,
    BandEdit,
    MergeEdit,
    MergeResult,
    Plan,
    PlanCreate,
    PlanDiff,
    PlanDriftGrid,
    PlanEditResult,
    PlanGrids,
    PlanOperation,
    PlanValidation,
    ReassignEdit,
    RedoResult,
    RedrawEdit,
    RenumberEdit,
    RenumberResult,
    SplitEdit,
    SplitResult,
    UndoResult,
)
from gis.auth.users import actors_for
from gis.geo.user_geometry import geometry_bounds, parse_geojson
from gis.layers import features
from gis.layers.catalog import get_layer
from gis.plans import commands, lifecycle
from gis.plans.balance_preview import preview_balance
from gis.plans.community_types import band_for_community, band_for_plan
from gis.plans.diff import diff_plans
from gis.plans.drift import plan_drift
from gis.plans.edits import handle
from gis.plans.history import operation_history
from gis.plans.store import plan_row
from gis.plans.validation import validate_plan
from gis.settings import Settings

router = APIRouter(prefix="/api/plans", tags=["plans"])


def _edit(
    session: SessionDep,
    settings: SettingsDep,
    plan_id: int,
    command: commands.Command,
    version: int,
    actor: str,
    response: Response,
) -> dict[str, Any]:
    """Carry out the command within the configured statement time; the new version goes out as the ETag."""
    result = handle(session, plan_id, command, version=version, actor=actor, timeout_s=settings.plan_edit_timeout_s)
    response.headers["ETag"] = f'"{result.version}"'
    return result.to_dict()


@router.get("", response_model=list[Plan])
def list_plans(session: SessionDep) -> list[dict[str, Any]]:
    return lifecycle.list_plans(session)


@router.post("", status_code=201, response_model=Plan)
def create_plan(
    body: PlanCreate, session: SessionDep, settings: SettingsDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    base = lifecycle.resolve_base(session, body.base)
    # A base without a band (an imported layer) gives way to the band of its main community type.
    band = band_for_plan(session, base, settings.household_band, settings.household_band_by_type)
    plan = lifecycle.create_plan(session, base=base, name=body.name, actor=actor, band=band)
    response.headers["ETag"] = f'"{plan["version"]}"'
    response.headers["Location"] = f"/api/plans/{plan['id']}"
    return plan


@router.get("/{plan_id}", response_model=Plan)
def get_plan(plan_id: int, session: SessionDep, response: Response) -> dict[str, Any]:
    plan = lifecycle.get_plan(session, plan_id)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.patch("/{plan_id}", response_model=Plan, summary="change a draft's household band")
def patch_plan(
    plan_id: int, body: BandEdit, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    plan = lifecycle.set_band(
        session, plan_id, low=body.min_households, high=body.max_households, version=version, actor=actor
    )
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.get("/{plan_id}/grids", summary="the plan's grids as GeoJSON", response_model=PlanGrids)
def plan_grids(plan_id: int, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    plan_row(session, plan_id)
    return features.feature_collection(session, get_layer("grids"), plan_id=plan_id, limit=settings.page_limit_max)


@router.get("/{plan_id}/operations", summary="the plan's append-only operation log", response_model=list[PlanOperation])
def plan_operations(plan_id: int, session: SessionDep, who: PrincipalDep) -> list[dict[str, Any]]:
    return actors_for(session, who, operation_history(session, plan_id))  # the public never sees logins


@router.post("/{plan_id}/merge", response_model=MergeResult)
def merge(
    plan_id: int,
    body: MergeEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    return _edit(session, settings, plan_id, commands.Merge(tuple(body.grids)), version, actor, response)


@router.post("/{plan_id}/split", response_model=SplitResult)
def split(
    plan_id: int,
    body: SplitEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    line = parse_geojson(body.line, "LineString", where="line", **geometry_bounds(settings))
    return _edit(session, settings, plan_id, commands.Split(body.grid, line), version, actor, response)


@router.post("/{plan_id}/redraw", response_model=PlanEditResult)
def redraw(
    plan_id: int,
    body: RedrawEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    polygon = parse_geojson(body.polygon, "Polygon", where="polygon", **geometry_bounds(settings))
    return _edit(session, settings, plan_id, commands.Redraw(body.grid, polygon), version, actor, response)


@router.post("/{plan_id}/reassign", response_model=PlanEditResult)
def reassign(
    plan_id: int,
    body: ReassignEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    return _edit(
        session, settings, plan_id, commands.Reassign(body.grid, tuple(body.buildings)), version, actor, response
    )


def _balance_command(body: BalanceEdit, settings: Settings) -> commands.Balance:
    low, high = band_for_community(body.community, settings.household_band, settings.household_band_by_type)
    return commands.Balance(
        community=body.community,
        grids=tuple(body.grids) if body.grids is not None else None,
        min_households=body.min_households if body.min_households is not None else low,
        max_households=body.max_households if body.max_households is not None else high,
        seed=body.seed,
        weights=tuple(sorted(body.weights.items())) if body.weights else None,
        months=body.months,
        token=body.token,
    )


@router.post("/{plan_id}/balance", response_model=BalanceResult)
def balance(
    plan_id: int,
    body: BalanceEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    return _edit(session, settings, plan_id, _balance_command(body, settings), version, actor, response)


@router.post(
    "/{plan_id}/balance/preview",
    response_model=BalancePreview,
    summary="the grids a rebalance would make, without changing the plan; apply them with the answer's token",
)
def balance_preview(
    plan_id: int, body: BalanceEdit, session: SessionDep, settings: SettingsDep, _: PlannerActor
) -> dict[str, Any]:
    return preview_balance(session, plan_id, _balance_command(body, settings), timeout_s=settings.plan_edit_timeout_s)


@router.post("/{plan_id}/renumber", response_model=RenumberResult)
def renumber(
    plan_id: int,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
    body: RenumberEdit | None = None,
) -> dict[str, Any]:
    return _edit(session, settings, plan_id, commands.Renumber(body.layout if body else None), version, actor, response)


@router.post("/{plan_id}/undo", response_model=UndoResult)
def undo(
    plan_id: int,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    return _edit(session, settings, plan_id, commands.Undo(), version, actor, response)


@router.post("/{plan_id}/redo", response_model=RedoResult)
def redo(
    plan_id: int,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    return _edit(session, settings, plan_id, commands.Redo(), version, actor, response)


@router.get("/{plan_id}/validation", response_model=PlanValidation)
def validation(plan_id: int, session: SessionDep) -> dict[str, Any]:
    return validate_plan(session, plan_id).to_dict()


@router.get(
    "/{plan_id}/drift",
    summary="grids outside the plan's household band, with the data change that moved them",
    response_model=list[PlanDriftGrid],
)
def drift(plan_id: int, session: SessionDep) -> list[dict[str, Any]]:
    return [grid.to_dict() for grid in plan_drift(session, plan_id)]


@router.post("/{plan_id}/publish", response_model=Plan)
def publish(
    plan_id: int, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    """Make a valid draft the current plan: validated under the draft's lock, in the same transaction."""
    plan = lifecycle.publish(session, plan_id, version=version, actor=actor)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.get("/{plan_id}/diff", response_model=PlanDiff)
def diff(
    plan_id: int, session: SessionDep, against: Annotated[int, Query(description="the plan to compare with")]
) -> dict[str, Any]:
    return diff_plans(session, plan_id, against)
