"""`gridmap plan ...` and `gridmap units build`: the planner's operations for scripted work."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import shapely
import typer
from rich.table import Table
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import grid_edits, plans
from gis.cli.common import console, failing_clearly, migrated_engine
from gis.db import transaction
from gis.errors import InvalidInput
from gis.geometry_input import parse_geojson
from gis.plan_diff import diff_plans
from gis.plan_validation import validate_plan
from gis.plans import Compute
from gis.settings import get_settings
from gis.unit_store import build_community_units, communities_without_units

app = typer.Typer(help="grid plans: drafts, edits, validation, publishing", no_args_is_help=True)
units_app = typer.Typer(help="units: the atomic pieces grids are made of", no_args_is_help=True)

PlanId = Annotated[int, typer.Argument(help="plan id")]
Version = Annotated[int | None, typer.Option("--version", help="expected plan version (default: the current one)")]
User = Annotated[str, typer.Option("--user", help="who makes the change")]


def _user() -> str:
    return getpass.getuser()


def _geometry(value: str, expected: str) -> shapely.Geometry:
    """WKT, GeoJSON text, or a path to a GeoJSON file, in WGS 84."""
    text = Path(value).read_text() if Path(value).is_file() else value
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        try:
            data = shapely.geometry.mapping(shapely.from_wkt(text))
        except shapely.errors.GEOSException as exc:
            raise InvalidInput(f"not WKT or GeoJSON: {exc}", where=expected.lower()) from None
    if data.get("type") == "Feature":
        data = data["geometry"]
    return parse_geojson(data, expected, where=expected.lower(), max_vertices=get_settings().max_vertices)


def _print(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def _version(session: Session, plan_id: int, version: int | None) -> int:
    """The version given, or the plan's current one (scripted work that owns the draft)."""
    return version if version is not None else plans.get_plan(session, plan_id)["version"]


def _run(plan_id: int, version: int | None, user: str, kind: str, payload: dict[str, Any], compute: Compute) -> None:
    with failing_clearly(), transaction(migrated_engine()) as session:
        result = plans.edit(
            session,
            plan_id,
            version=_version(session, plan_id, version),
            kind=kind,
            payload=payload,
            actor=user or _user(),
            compute=compute,
        )
        _print(result.to_dict())


@app.command("list")
def list_command() -> None:
    """Every plan with its status, version and totals."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        table = Table("id", "name", "status", "version", "grids", "households", "effective from", "effective to")
        for p in plans.list_plans(session):
            table.add_row(
                str(p["id"]),
                p["name"],
                p["status"],
                str(p["version"]),
                str(p["grids"]),
                str(p["households"]),
                p["effective_from"] or "",
                p["effective_to"] or "",
            )
        console.print(table)


@app.command()
def create(
    name: Annotated[str, typer.Option(help="name of the draft")],
    base: Annotated[str, typer.Option(help="plan id or `current`")] = "current",
    user: User = "",
) -> None:
    """A new draft copied from a plan."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        _print(plans.create_plan(session, base=base, name=name, actor=user or _user()))


@app.command()
def show(plan_id: PlanId) -> None:
    """A plan and its grids."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        _print(plans.get_plan(session, plan_id))


@app.command()
def validate(plan_id: PlanId) -> None:
    """Errors and warnings of a plan (exit code 1 when there are errors)."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        result = validate_plan(session, plan_id)
    for finding in result.errors + result.warnings:
        console.print(
            f"[{'red' if finding['severity'] == 'error' else 'yellow'}]{finding['severity']}[/] "
            f"{finding['type']}: {finding['message']}",
            highlight=False,
        )
    console.print(f"plan {plan_id}: {len(result.errors)} errors, {len(result.warnings)} warnings")
    if not result.valid:
        raise typer.Exit(1)


@app.command()
def merge(
    plan_id: PlanId,
    grids: Annotated[list[int], typer.Argument(help="grid ids; the first keeps its code")],
    version: Version = None,
    user: User = "",
) -> None:
    """Merge adjacent grids into the first one."""
    _run(plan_id, version, user, "merge", {"grids": grids}, lambda s, p: grid_edits.merge(s, p, grids))


@app.command()
def split(
    plan_id: PlanId,
    grid: Annotated[int, typer.Argument()],
    line: Annotated[str, typer.Option(help="LineString as WKT, GeoJSON or a GeoJSON file (WGS 84)")],
    version: Version = None,
    user: User = "",
) -> None:
    """Split a grid with a line."""
    with failing_clearly():
        shape = _geometry(line, "LineString")
    _run(
        plan_id,
        version,
        user,
        "split",
        {"grid": grid, "line": shapely.geometry.mapping(shape)},
        lambda s, p: grid_edits.split(s, p, grid, shape),
    )


@app.command()
def redraw(
    plan_id: PlanId,
    grid: Annotated[int, typer.Argument()],
    polygon: Annotated[str, typer.Option(help="Polygon as WKT, GeoJSON or a GeoJSON file (WGS 84)")],
    version: Version = None,
    user: User = "",
) -> None:
    """Move the units a polygon contains into a grid."""
    with failing_clearly():
        shape = _geometry(polygon, "Polygon")
    _run(
        plan_id,
        version,
        user,
        "redraw",
        {"grid": grid, "polygon": shapely.geometry.mapping(shape)},
        lambda s, p: grid_edits.redraw(s, p, grid, shape),
    )


@app.command()
def reassign(
    plan_id: PlanId,
    grid: Annotated[int, typer.Argument()],
    buildings: Annotated[list[int], typer.Argument(help="building ids")],
    version: Version = None,
    user: User = "",
) -> None:
    """Move buildings (their units) into a grid."""
    _run(
        plan_id,
        version,
        user,
        "reassign",
        {"grid": grid, "buildings": buildings},
        lambda s, p: grid_edits.reassign(s, p, grid, buildings),
    )


@app.command()
def balance(
    plan_id: PlanId,
    community: Annotated[str, typer.Option(help="community code")],
    min_households: Annotated[int, typer.Option("--min")] = 300,
    max_households: Annotated[int, typer.Option("--max")] = 500,
    seed: int = 0,
    version: Version = None,
    user: User = "",
) -> None:
    """Repartition a community into contiguous grids within the household band."""
    payload = {"community": community, "min_households": min_households, "max_households": max_households, "seed": seed}
    _run(
        plan_id,
        version,
        user,
        "balance",
        payload,
        lambda s, p: grid_edits.balance(
            s, p, community=community, min_households=min_households, max_households=max_households, seed=seed
        ),
    )


@app.command()
def renumber(
    plan_id: PlanId,
    layout: Annotated[str | None, typer.Option(help="code layout")] = None,
    version: Version = None,
    user: User = "",
) -> None:
    """Give every grid its standard code; prints the old → new map."""
    _run(
        plan_id,
        version,
        user,
        "renumber",
        {"layout": layout},
        lambda s, p: grid_edits.renumber(s, p, layout),
    )


@app.command()
def undo(plan_id: PlanId, version: Version = None, user: User = "") -> None:
    """Undo the newest edit."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        _print(
            plans.undo(session, plan_id, version=_version(session, plan_id, version), actor=user or _user()).to_dict()
        )


@app.command()
def publish(plan_id: PlanId, version: Version = None, user: User = "") -> None:
    """Make a valid draft the current plan."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        errors = validate_plan(session, plan_id).errors
        _print(
            plans.publish(
                session, plan_id, version=_version(session, plan_id, version), actor=user or _user(), errors=errors
            )
        )


@app.command()
def diff(plan_id: PlanId, against: Annotated[int, typer.Option(help="plan to compare with")]) -> None:
    """Per grid: households and buildings moved in and out, codes changed."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        changes = diff_plans(session, plan_id, against)
    table = Table("status", "code", "previous code", "households", "in", "out", "buildings in", "buildings out")
    for c in changes["grids"]:
        table.add_row(
            c["status"],
            c["code"] or "",
            c["previous_code"] or "",
            str(c["households"]),
            str(c["households_in"]),
            str(c["households_out"]),
            str(c["buildings_in"]),
            str(c["buildings_out"]),
        )
    console.print(table)


@units_app.command("build")
def build_units_command(
    community: Annotated[
        list[str] | None, typer.Option(help="community code (repeatable); default: those without")
    ] = None,
) -> None:
    """Build (or rebuild) the units of communities."""
    with failing_clearly(), transaction(migrated_engine()) as session:
        if community:
            ids = list(
                session.execute(
                    text("SELECT id FROM communities WHERE code = ANY(:c) ORDER BY code"), {"c": community}
                ).scalars()
            )
        else:
            ids = communities_without_units(session)
        for community_id in ids:
            built = build_community_units(session, community_id)
            console.print(
                f"community {built.community}: {built.units} units ({built.open_units} open space) "
                f"for {built.buildings} buildings"
            )
            for note in built.notes:
                console.print(f"  note: {note}")
