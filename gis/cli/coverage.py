"""`gridmap coverage` (walking distances and the summary table), its views, and `gridmap network build`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gis.cli.common import console, failing_clearly, migrated_engine, progress_bar, settings
from gis.errors import InvalidInput

# The domain and its libraries (shapely, scipy, geopandas, SQLAlchemy) load inside each command: `--help` stays instant.

app = typer.Typer(help="15-minute life circle: walking coverage of services (社区生活圈)")
network_app = typer.Typer(help="the walking network", no_args_is_help=True)

Mode = Annotated[str, typer.Option(help="time (minutes × speed) or distance (300/500/1000 m)")]
Speed = Annotated[float | None, typer.Option(help="walking speed in m/s (default 1.2)")]


@app.callback(invoke_without_command=True)
def run(
    ctx: typer.Context,
    category: Annotated[list[str] | None, typer.Option(help="recompute only these categories (repeat)")] = None,
    speed: Speed = None,
    mode: Mode = "time",
) -> None:
    """Compute walking distances from every building to every facility category, then print coverage."""
    if ctx.invoked_subcommand is not None:  # runs before a sub-command (and its --help): nothing to load
        return
    from gis.coverage.runs import run_coverage
    from gis.coverage.stats import coverage
    from gis.db.engine import transaction

    with failing_clearly(), transaction(migrated_engine()) as session:
        with progress_bar("coverage") as update:
            done = run_coverage(
                session,
                settings(),
                categories=category or None,
                actor="cli",
                progress=lambda s, f: update(round(f * 100), 100, s),
            )
        run_id, report = done["id"], done["report"]
        table = coverage(session, level="all", mode=mode, speed_mps=speed or settings().walking_speed_mps)  # type: ignore[arg-type]
    _print_summary(table["rows"], category)
    for feature in ("buildings", "facilities"):
        unsnapped, minor = len(report["unsnapped"][feature]), len(report["minor_component"][feature])
        if unsnapped or minor:
            console.print(
                f"{feature}: {unsnapped} beyond {report['max_snap_m']:g} m of the network, "
                f"{minor} on minor network components (listed in run {run_id})"
            )
    seconds = ", ".join(f"{k} {v:.2f} s" for k, v in report["seconds"].items())
    console.print(f"run {run_id}: {report['buildings']} buildings, {report['edges']} edges; {seconds}")


def _print_summary(rows: list[dict[str, Any]], categories: list[str] | None) -> None:
    from rich.table import Table

    table = Table(title="生活圈覆盖率 coverage of residential buildings and households")
    for column in ("category", "minutes", "threshold", "buildings", "building %", "households", "household %"):
        table.add_column(column, justify="left" if column == "category" else "right")
    for r in rows:
        if categories and r["category"] not in categories:
            continue
        table.add_row(
            f"{r['category_name']} ({r['category']})",
            str(r["minutes"]),
            f"{r['threshold_m']:g} m",
            f"{r['buildings_covered']}/{r['buildings']}",
            _percent(r["building_coverage"]),
            f"{r['households_covered']}/{r['households']}",
            _percent(r["household_coverage"]),
        )
    console.print(table)


def _percent(share: float | None) -> str:
    return "–" if share is None else f"{share:.1%}"


@app.command()
def show(
    level: Annotated[str, typer.Option(help="all | street | community | grid")] = "community",
    minutes: Annotated[list[int] | None, typer.Option(help="tiers (repeat); all when omitted")] = None,
    category: Annotated[str | None, typer.Option(help="a category or tier_complete")] = "tier_complete",
    speed: Speed = None,
    mode: Mode = "time",
) -> None:
    """Coverage per area from the latest run."""
    from rich.table import Table

    from gis.coverage.stats import coverage
    from gis.db.engine import transaction

    with failing_clearly(), transaction(migrated_engine()) as session:
        result = coverage(
            session,
            level=level,  # type: ignore[arg-type]
            minutes=minutes,
            category=category,
            mode=mode,  # type: ignore[arg-type]
            speed_mps=speed or settings().walking_speed_mps,
        )
    table = Table(title=f"coverage per {level}")
    for column in ("area", "category", "minutes", "building %", "household %", "households"):
        table.add_column(column)
    for r in result["rows"]:
        area = r["area"]["name"] or "(none)"
        table.add_row(
            area,
            r["category_name"],
            str(r["minutes"]),
            _percent(r["building_coverage"]),
            _percent(r["household_coverage"]),
            str(r["households"]),
        )
    console.print(table)


@app.command("gaps")
def show_gaps(
    category: Annotated[str, typer.Option(help="facility category code")],
    minutes: Annotated[int, typer.Option(help="walking minutes")] = 15,
    limit: Annotated[int, typer.Option(help="how many buildings")] = 20,
    speed: Speed = None,
    mode: Mode = "time",
) -> None:
    """Residential buildings that do not reach a category in time, most households first."""
    from gis.coverage.stats import gaps
    from gis.db.engine import transaction

    with failing_clearly(), transaction(migrated_engine()) as session:
        found = gaps(
            session,
            category=category,
            minutes=minutes,
            mode=mode,  # type: ignore[arg-type]
            speed_mps=speed or settings().walking_speed_mps,
            limit=limit,
        )
    console.print(f"{found['numberMatched']} residential buildings beyond {found['threshold_m']:g} m of {category}")
    for f in found["features"]:
        p = f["properties"]
        distance = "—" if p["distance_m"] is None else f"{p['distance_m']:.0f} m"
        console.print(
            f"  {p['id']:>7} {p['households']:>4} households  {distance:>8}  {p['reason']}  {p['name'] or ''}"
        )


@app.command()
def suggest(
    category: Annotated[str, typer.Option(help="facility category code")],
    k: Annotated[int, typer.Option(help="how many sites")] = 5,
    minutes: Annotated[int | None, typer.Option(help="walking minutes (default: the category's tier)")] = None,
    candidates: Annotated[Path | None, typer.Option(help="candidate points (any vector file); default: nodes")] = None,
    speed: Speed = None,
    mode: Mode = "time",
) -> None:
    """Where k new facilities would bring the most uncovered households within reach."""
    import shapely

    from gis.coverage.sites import suggest_sites
    from gis.db.engine import transaction
    from gis.exchange.files import read_frame
    from gis.registry import facility_registry

    with failing_clearly():
        points = None
        if candidates is not None:
            frame = read_frame(candidates).to_crs(4326)
            if not (frame.geom_type == "Point").all():
                raise InvalidInput(f"{candidates.name}: candidates must be points", where="geometry")
            points = [tuple(xy) for xy in shapely.get_coordinates(frame.geometry.to_numpy()).tolist()]
        known = facility_registry().categories
        tier = minutes or (known[category].tier if category in known else 15)
        with transaction(migrated_engine()) as session:
            found = suggest_sites(
                session,
                category=category,
                minutes=tier,
                k=k,
                mode=mode,  # type: ignore[arg-type]
                speed_mps=speed or settings().walking_speed_mps,
                candidates=points,
                max_snap_m=settings().coverage_snap_m,
            )
    console.print(
        f"{found['uncovered_households']} households in {found['uncovered_buildings']} buildings do not reach "
        f"{category} within {found['threshold_m']:g} m; candidates: {found['candidates']}"
    )
    for s in found["sites"]:
        console.print(
            f"  {s['rank']}. {s['lon']:.6f}, {s['lat']:.6f}: +{s['households_added']} households "
            f"({s['buildings_added']} buildings), {s['share_of_uncovered_so_far']:.0%} of the gap so far"
        )


@network_app.command("build")
def build(
    crossings: Annotated[
        bool | None,
        typer.Option("--crossings/--no-crossings", help="node lines where they cross (default: yes, OSM: no)"),
    ] = None,
) -> None:
    """Rebuild the walking graph (noding, components) from the imported network lines."""
    from gis.coverage.network_store import build_network
    from gis.db.engine import transaction

    with failing_clearly(), transaction(migrated_engine()) as session:
        report = build_network(session, node_crossings=crossings)
    console.print(report.summary())
