"""`gridmap plan ...` and `gridmap units build`: the planner's operations for scripted work.

Each edit builds a command of gis.plans.commands and hands it to gis.plans.edits.handle, as the API does. Grids are
named by id or by code. Only the standard library, typer and gis.cli.common are imported at start-up (`--help`
answers at once); the domain and its libraries load inside the command that runs.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gis.cli.common import console, failing_clearly, migrated_engine, settings

if TYPE_CHECKING:
    import shapely
    from sqlalchemy.orm import Session

    from gis.plans.commands import Command

app = typer.Typer(help="grid plans: drafts, edits, validation, publishing", no_args_is_help=True)
units_app = typer.Typer(help="units: the atomic pieces grids are made of", no_args_is_help=True)

PlanId = Annotated[int, typer.Argument(help="plan id")]
Grid = Annotated[str, typer.Argument(help="grid id or code")]
Version = Annotated[int | None, typer.Option("--version", help="expected plan version (default: the current one)")]
User = Annotated[str, typer.Option("--user", help="who makes the change")]


def _user() -> str:
    return getpass.getuser()


@contextmanager
def _session() -> Iterator[Session]:
    """A session on the migrated database whose work commits on success; the engine is closed afterwards."""
    from gis.db.engine import transaction

    engine = migrated_engine()
    try:
        with transaction(engine) as session:
            yield session
    finally:
        engine.dispose()


def _geometry(value: str, expected: str) -> shapely.Geometry:
    """A `expected` geometry ("LineString", "Polygon") in WGS 84 from WKT, GeoJSON text (a geometry or a Feature),
    or the path of a file holding either."""
    from gis.geo.user_geometry import parse_geojson

    where = expected.lower()
    source = _file_text(value)
    try:
        data = json.loads(source)
    except json.JSONDecodeError:
        data = _wkt_as_geojson(source, where)
    if isinstance(data, dict) and data.get("type") == "Feature":
        data = data.get("geometry")
    return parse_geojson(data, expected, where=where, max_vertices=settings().max_vertices)


def _file_text(value: str) -> str:
    """The file's text when `value` names a file, else `value` itself (inline WKT or GeoJSON)."""
    try:
        path = Path(value)
        return path.read_text() if path.is_file() else value
    except OSError:  # e.g. inline GeoJSON longer than a file name may be
        return value


def _wkt_as_geojson(source: str, where: str) -> dict[str, Any]:
    """WKT (optionally EWKT with SRID=4326) as a GeoJSON object, so it is checked like GeoJSON is."""
    import shapely

    from gis.errors import InvalidInput

    wkt = source.strip()
    if wkt.upper().startswith("SRID="):
        srid, _, wkt = wkt.partition(";")
        if srid.upper().replace(" ", "") != "SRID=4326":
            raise InvalidInput(f"{where}: give coordinates in WGS 84 (SRID=4326), not {srid}", where=where)
    try:
        geometry = shapely.from_wkt(wkt)
    except shapely.errors.ShapelyError as exc:
        shown = source if len(source) <= 60 else source[:57] + "..."
        raise InvalidInput(f"{where}: {shown!r} is neither a file, GeoJSON nor WKT ({exc})", where=where) from None
    if geometry is None:
        raise InvalidInput(f"{where}: no geometry given", where=where)
    interface = geometry.__geo_interface__

    def plain(value: Any) -> Any:
        return [plain(v) for v in value] if isinstance(value, list | tuple) else value

    return {"type": interface["type"], "coordinates": plain(interface.get("coordinates", []))}


def _print(data: Any) -> None:
    console.print_json(json.dumps(data, ensure_ascii=False, default=str))


def _edit(plan_id: int, version: int | None, user: str, build: Callable[[Session], Command]) -> None:
    """Build the command (grid codes resolved in the same transaction), carry it out, print what it did."""
    from gis.plans.edits import handle
    from gis.plans.lifecycle import lock_draft

    with failing_clearly(), _session() as session:
        lock_draft(session, plan_id, version)  # a stale version is refused as such, even when its grids have gone
        result = handle(session, plan_id, build(session), version=version, actor=user or _user())
        _print(result.to_dict())


def _grids(session: Session, plan_id: int, refs: list[str]) -> tuple[int, ...]:
    from gis.plans.edits import grid_ids

    return tuple(grid_ids(session, plan_id, refs))


@app.command("list")
def list_command() -> None:
    """Every plan with its status, version and totals."""
    from rich.table import Table

    from gis.plans.lifecycle import list_plans

    with failing_clearly(), _session() as session:
        table = Table("id", "name", "status", "version", "grids", "households", "effective from", "effective to")
        for p in list_plans(session):
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
    from gis.plans.lifecycle import create_plan

    with failing_clearly(), _session() as session:
        _print(create_plan(session, base=base, name=name, actor=user or _user()))


@app.command()
def show(
    plan_id: PlanId,
    as_json: Annotated[bool, typer.Option("--json", help="the plan and its grids as JSON")] = False,
) -> None:
    """A plan and its grids (id and code: edits take either)."""
    from rich.table import Table

    from gis.plans.lifecycle import get_plan, plan_grids

    with failing_clearly(), _session() as session:
        plan = get_plan(session, plan_id)
        grids = plan_grids(session, plan_id)
    if as_json:
        _print({**plan, "grid_list": grids})
        return
    console.print(
        f"plan {plan['id']} {plan['name']}: {plan['status']}, version {plan['version']}, "
        f"{plan['grids']} grids, {plan['households']} households",
        highlight=False,
    )
    table = Table("id", "code", "name", "community", "households", "buildings")
    for g in grids:
        table.add_row(
            str(g["id"]),
            g["code"],
            g["name"] or "",
            g["community_code"] or "",
            str(g["households"]),
            str(g["buildings"]),
        )
    console.print(table)


@app.command()
def validate(plan_id: PlanId) -> None:
    """Errors and warnings of a plan (exit code 1 when there are errors)."""
    from gis.plans.validation import validate_plan

    with failing_clearly(), _session() as session:
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
    grids: Annotated[list[str], typer.Argument(help="grid ids or codes; the first keeps its code")],
    version: Version = None,
    user: User = "",
) -> None:
    """Merge adjacent grids into the first one."""
    from gis.plans.commands import Merge

    _edit(plan_id, version, user, lambda s: Merge(_grids(s, plan_id, grids)))


@app.command()
def split(
    plan_id: PlanId,
    grid: Grid,
    line: Annotated[str, typer.Option(help="LineString as WKT, GeoJSON or a file holding either (WGS 84)")],
    version: Version = None,
    user: User = "",
) -> None:
    """Split a grid with a line."""
    from gis.plans.commands import Split

    with failing_clearly():
        shape = _geometry(line, "LineString")
    _edit(plan_id, version, user, lambda s: Split(_grids(s, plan_id, [grid])[0], shape))


@app.command()
def redraw(
    plan_id: PlanId,
    grid: Grid,
    polygon: Annotated[str, typer.Option(help="Polygon as WKT, GeoJSON or a file holding either (WGS 84)")],
    version: Version = None,
    user: User = "",
) -> None:
    """Move the units a polygon contains into a grid."""
    from gis.plans.commands import Redraw

    with failing_clearly():
        shape = _geometry(polygon, "Polygon")
    _edit(plan_id, version, user, lambda s: Redraw(_grids(s, plan_id, [grid])[0], shape))


@app.command()
def reassign(
    plan_id: PlanId,
    grid: Grid,
    buildings: Annotated[list[int], typer.Argument(help="building ids")],
    version: Version = None,
    user: User = "",
) -> None:
    """Move buildings (their units) into a grid."""
    from gis.plans.commands import Reassign

    _edit(plan_id, version, user, lambda s: Reassign(_grids(s, plan_id, [grid])[0], tuple(buildings)))


@app.command()
def balance(
    plan_id: PlanId,
    community: Annotated[str, typer.Option(help="community code")],
    min_households: Annotated[int, typer.Option("--min")] = 300,
    max_households: Annotated[int, typer.Option("--max")] = 500,
    seed: int = 0,
    weight: Annotated[
        list[str] | None,
        typer.Option(
            help="balance the load of managing each grid: PART=WEIGHT for households, incidents, patrol_m (repeat)"
        ),
    ] = None,
    months: Annotated[int, typer.Option(help="incidents of this many months count (with --weight)")] = 6,
    version: Version = None,
    user: User = "",
) -> None:
    """Repartition a community into contiguous grids within the household band (optionally by workload)."""
    from gis.plans.commands import Balance

    weights: list[tuple[str, float]] = []
    for item in weight or []:
        part, _, value = item.partition("=")
        try:
            weights.append((part.strip(), float(value)))
        except ValueError:
            raise typer.BadParameter(f"{item!r}: give PART=WEIGHT, e.g. incidents=1", param_hint="--weight") from None
    command = Balance(
        community=community,
        min_households=min_households,
        max_households=max_households,
        seed=seed,
        weights=tuple(sorted(weights)) or None,
        months=months,
    )
    _edit(plan_id, version, user, lambda _s: command)


@app.command()
def renumber(
    plan_id: PlanId,
    layout: Annotated[str | None, typer.Option(help="code layout")] = None,
    version: Version = None,
    user: User = "",
) -> None:
    """Give every grid its standard code; prints the old → new map."""
    from gis.plans.commands import Renumber

    _edit(plan_id, version, user, lambda _s: Renumber(layout))


@app.command()
def undo(plan_id: PlanId, version: Version = None, user: User = "") -> None:
    """Undo the newest edit."""
    from gis.plans.commands import Undo

    _edit(plan_id, version, user, lambda _s: Undo())


@app.command()
def publish(plan_id: PlanId, version: Version = None, user: User = "") -> None:
    """Make a valid draft the current plan (validated under the draft's lock, in the same transaction)."""
    from gis.plans.lifecycle import publish as publish_plan

    with failing_clearly(), _session() as session:
        _print(publish_plan(session, plan_id, version=version, actor=user or _user()))


@app.command()
def diff(plan_id: PlanId, against: Annotated[int, typer.Option(help="plan to compare with")]) -> None:
    """Per grid: households and buildings moved in and out, codes changed."""
    from rich.table import Table

    from gis.plans.diff import diff_plans

    with failing_clearly(), _session() as session:
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
    moved_share: Annotated[
        float, typer.Option(min=0.0, help="report grids whose outline changed by more than this share of their area")
    ] = 0.05,
    where: Annotated[
        str | None,
        typer.Option(
            help="where the communities are tessellated: inline, local, local:N or a dask scheduler address "
            "(default: GRIDMAP_DASK_SCHEDULER, else a local cluster; small jobs inline)"
        ),
    ] = None,
) -> None:
    """Build (or rebuild) the units of communities. A rebuild carries every plan's grids over by largest overlap
    and lists the grids whose outline moved. Communities are tessellated in parallel (gis/batch.py) and written
    in one transaction."""
    from sqlalchemy import text

    from gis.plans.unit_store import build_units_for, communities_without_units

    with failing_clearly(), _session() as session:
        if community:
            ids = list(
                session.execute(
                    text("SELECT id FROM communities WHERE code = ANY(:c) ORDER BY code"), {"c": community}
                ).scalars()
            )
        else:
            ids = communities_without_units(session)
        for built in build_units_for(session, ids, moved_share=moved_share, where=where):
            console.print(
                f"community {built.community}: {built.units} units ({built.open_units} open space) "
                f"for {built.buildings} buildings"
            )
            for note in built.notes:
                console.print(f"  note: {note}")
            for plan_id, grids in sorted(built.moved.items()):
                for grid in grids:
                    console.print(
                        f"  plan {plan_id}: grid {grid.code} moved by {grid.changed_share:.1%} of its area "
                        f"({grid.area_before_m2:,.0f} → {grid.area_after_m2:,.0f} m²)"
                    )
