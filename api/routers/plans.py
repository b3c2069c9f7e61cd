"""Grid plans over HTTP: drafts, edits with If-Match, validation, publishing, diffs. Logic lives in gis/."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.deps import IfMatchDep, PlannerActor, SessionDep, SettingsDep
from gis import features, grid_edits, plans
from gis.geometry_input import parse_geojson
from gis.layers import get_layer
from gis.plan_diff import diff_plans
from gis.plan_validation import validate_plan

router = APIRouter(prefix="/api/plans", tags=["plans"])


class PlanCreate(BaseModel):
    base: int | Literal["current"] = Field("current", description='plan id, or "current" for the published plan')
    name: str = Field(min_length=1, max_length=200)


class MergeEdit(BaseModel):
    grids: list[int] = Field(min_length=2, max_length=200, description="grid ids; the first one keeps its code")


class SplitEdit(BaseModel):
    grid: int
    line: dict[str, Any] = Field(description="GeoJSON LineString in WGS 84 crossing the grid")


class RedrawEdit(BaseModel):
    grid: int
    polygon: dict[str, Any] = Field(description="GeoJSON Polygon in WGS 84; the units it contains join the grid")


class ReassignEdit(BaseModel):
    grid: int
    buildings: list[int] = Field(min_length=1, max_length=10_000)


class BalanceEdit(BaseModel):
    community: str | None = Field(None, description="community code; or give `grids`")
    grids: list[int] | None = None
    min_households: int = Field(300, ge=0, le=100_000)
    max_households: int = Field(500, ge=1, le=100_000)
    seed: int = 0


class RenumberEdit(BaseModel):
    layout: str | None = Field(None, description="code layout in data/code_layouts.toml (default: the plan's)")


def _edited(response: Response, result: plans.EditResult) -> dict[str, Any]:
    response.headers["ETag"] = f'"{result.version}"'
    return result.to_dict()


def _edit(
    session: SessionDep,
    plan_id: int,
    version: int,
    actor: str,
    kind: str,
    body: BaseModel,
    response: Response,
    compute: plans.Compute,
) -> dict[str, Any]:
    result = plans.edit(
        session, plan_id, version=version, kind=kind, payload=body.model_dump(), actor=actor, compute=compute
    )
    return _edited(response, result)


@router.get("")
def list_plans(session: SessionDep) -> list[dict[str, Any]]:
    return plans.list_plans(session)


@router.post("", status_code=201)
def create_plan(body: PlanCreate, session: SessionDep, actor: PlannerActor, response: Response) -> dict[str, Any]:
    plan = plans.create_plan(session, base=body.base, name=body.name, actor=actor)
    response.headers["ETag"] = f'"{plan["version"]}"'
    response.headers["Location"] = f"/api/plans/{plan['id']}"
    return plan


@router.get("/{plan_id}")
def get_plan(plan_id: int, session: SessionDep, response: Response) -> dict[str, Any]:
    plan = plans.get_plan(session, plan_id)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.get("/{plan_id}/grids", summary="the plan's grids as GeoJSON")
def plan_grids(plan_id: int, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    plans.get_plan(session, plan_id)
    return features.feature_collection(session, get_layer("grids"), plan_id=plan_id, limit=settings.page_limit_max)


@router.get("/{plan_id}/operations", summary="the plan's append-only operation log")
def plan_operations(plan_id: int, session: SessionDep) -> list[dict[str, Any]]:
    return plans.operations(session, plan_id)


@router.post("/{plan_id}/merge")
def merge(
    plan_id: int, body: MergeEdit, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    return _edit(
        session, plan_id, version, actor, "merge", body, response, lambda s, p: grid_edits.merge(s, p, body.grids)
    )


@router.post("/{plan_id}/split")
def split(
    plan_id: int,
    body: SplitEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    line = parse_geojson(body.line, "LineString", where="line", max_vertices=settings.max_vertices)
    return _edit(
        session, plan_id, version, actor, "split", body, response, lambda s, p: grid_edits.split(s, p, body.grid, line)
    )


@router.post("/{plan_id}/redraw")
def redraw(
    plan_id: int,
    body: RedrawEdit,
    session: SessionDep,
    settings: SettingsDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
) -> dict[str, Any]:
    polygon = parse_geojson(body.polygon, "Polygon", where="polygon", max_vertices=settings.max_vertices)
    return _edit(
        session,
        plan_id,
        version,
        actor,
        "redraw",
        body,
        response,
        lambda s, p: grid_edits.redraw(s, p, body.grid, polygon),
    )


@router.post("/{plan_id}/reassign")
def reassign(
    plan_id: int, body: ReassignEdit, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    return _edit(
        session,
        plan_id,
        version,
        actor,
        "reassign",
        body,
        response,
        lambda s, p: grid_edits.reassign(s, p, body.grid, body.buildings),
    )


@router.post("/{plan_id}/balance")
def balance(
    plan_id: int, body: BalanceEdit, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    return _edit(
        session,
        plan_id,
        version,
        actor,
        "balance",
        body,
        response,
        lambda s, p: grid_edits.balance(
            s,
            p,
            community=body.community,
            grid_ids=body.grids,
            min_households=body.min_households,
            max_households=body.max_households,
            seed=body.seed,
        ),
    )


@router.post("/{plan_id}/renumber")
def renumber(
    plan_id: int,
    session: SessionDep,
    version: IfMatchDep,
    actor: PlannerActor,
    response: Response,
    body: RenumberEdit | None = None,
) -> dict[str, Any]:
    body = body or RenumberEdit()
    return _edit(
        session,
        plan_id,
        version,
        actor,
        "renumber",
        body,
        response,
        lambda s, p: grid_edits.renumber(s, p, body.layout),
    )


@router.post("/{plan_id}/undo")
def undo(
    plan_id: int, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    return _edited(response, plans.undo(session, plan_id, version=version, actor=actor))


@router.get("/{plan_id}/validation")
def validation(plan_id: int, session: SessionDep) -> dict[str, Any]:
    return validate_plan(session, plan_id).to_dict()


@router.post("/{plan_id}/publish")
def publish(
    plan_id: int, session: SessionDep, version: IfMatchDep, actor: PlannerActor, response: Response
) -> dict[str, Any]:
    errors = validate_plan(session, plan_id).errors
    plan = plans.publish(session, plan_id, version=version, actor=actor, errors=errors)
    response.headers["ETag"] = f'"{plan["version"]}"'
    return plan


@router.get("/{plan_id}/diff")
def diff(
    plan_id: int, session: SessionDep, against: Annotated[int, Query(description="the plan to compare with")]
) -> dict[str, Any]:
    return diff_plans(session, plan_id, against)
