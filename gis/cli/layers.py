"""`gridmap import LAYER PATH` and `gridmap export LAYER PATH`."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gis.cli.common import actor, console, failing_clearly, migrated_engine, progress_bar, settings
from gis.layers.catalog import LAYERS  # plain data: the layer names are the arguments' choices

if TYPE_CHECKING:
    from gis.exchange.load import ImportReport

# The domain and its libraries (geopandas, pyogrio, momepy, SQLAlchemy) load inside each command: --help is instant.

# Members from the catalog (typer shows them as the choices); mypy cannot see members made at run time.
ImportLayer = StrEnum("ImportLayer", {name: name for name in [*LAYERS, "osm"]})  # type: ignore[misc]
ExportLayer = StrEnum("ExportLayer", {name: name for name in LAYERS})  # type: ignore[misc]
SHOWN_PROBLEMS = 30
ImportMode = StrEnum("ImportMode", {m: m for m in ("upsert", "replace", "update", "insert")})  # type: ignore[misc]


def _scope(values: list[str] | None) -> dict[str, str] | None:
    """`community=CODE` options as a mapping; a malformed one stops the command with its reason."""
    if not values:
        return None
    out: dict[str, str] = {}
    for value in values:
        name, sep, code = value.partition("=")
        if not sep or not code.strip():
            raise typer.BadParameter(f"{value!r}: write community=CODE or street=CODE", param_hint="--scope")
        out[name.strip()] = code.strip()
    return out


def show(report: ImportReport) -> None:
    from rich.table import Table

    console.print(report.summary(), highlight=False)
    for note in report.notes:
        console.print(f"  note: {note}", highlight=False)
    for title, problems in (("rejected", report.rejected), ("repaired", report.repaired)):
        if not problems:
            continue
        table = Table(title=f"{len(problems)} {title} rows", title_justify="left")
        table.add_column("row", justify="right")
        table.add_column("reason")
        for problem in problems[:SHOWN_PROBLEMS]:
            table.add_row(str(problem.row), problem.reason)
        if len(problems) > SHOWN_PROBLEMS:
            table.add_row("…", f"{len(problems) - SHOWN_PROBLEMS} more (use --report FILE for all)")
        console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("import")
    def import_command(
        layer: Annotated[ImportLayer, typer.Argument(help="layer to import, or `osm` for an .osm.pbf extract")],
        path: Annotated[
            Path, typer.Argument(help=".geojson/.json, .gpkg, .shp, .zip, .csv, .xlsx, .dxf or a Shapefile folder")
        ],
        crs: Annotated[
            str | None,
            typer.Option(
                help="CRS of the data, e.g. EPSG:4549, or gcj02 / bd09 (converted to WGS 84); overrides the file's"
            ),
        ] = None,
        plan_name: Annotated[str | None, typer.Option(help="name of the plan an imported grid layer becomes")] = None,
        report: Annotated[Path | None, typer.Option(help="write the full per-row report as JSON here")] = None,
        mode: Annotated[
            ImportMode | None,
            typer.Option(
                help="by key: upsert (default for buildings, facilities, areas), replace (also retire rows the file "
                "leaves out), update (attributes of known keys), insert (new keys only; other layers)"
            ),
        ] = None,
        scope: Annotated[
            list[str] | None,
            typer.Option(help="with --mode replace: retire only within community=CODE or street=CODE (repeatable)"),
        ] = None,
        key: Annotated[
            str | None, typer.Option(help="the source column holding each row's key (default: code)")
        ] = None,
        category_map: Annotated[
            str | None, typer.Option(help="facility categories from another vocabulary: `osm` or a .toml map")
        ] = None,
        recompute: Annotated[
            bool, typer.Option(help="recompute stale coverage after the import (else a running server does it)")
        ] = True,
    ) -> None:
        """Import a file in one transaction: bad rows are reported and skipped, a bad file changes nothing.

        Buildings, facilities and areas are matched by key and imported as a batch (`gridmap batches`)."""
        from gis.db.engine import transaction
        from gis.exchange.load import import_file
        from gis.exchange.osm import import_osm

        with failing_clearly():
            engine = migrated_engine()
            with progress_bar(f"importing {layer.value}") as bar, transaction(engine) as session:
                if layer.value == "osm":
                    reports = import_osm(session, path, settings=settings(), progress=bar, actor=actor())
                else:
                    reports = [
                        import_file(
                            session,
                            layer.value,
                            path,
                            settings=settings(),
                            crs=crs,
                            mode=mode.value if mode else None,
                            scope=_scope(scope),
                            key=key,
                            category_map=category_map,
                            progress=bar,
                            plan_name=plan_name,
                            actor=actor(),
                        )
                    ]
            for one in reports:
                show(one)
            if recompute and any(r.coverage_run is not None for r in reports):
                from gis.coverage.runs import work_queued_runs

                with progress_bar("recomputing coverage") as bar:
                    worked = work_queued_runs(engine, settings())
                console.print(f"coverage recomputed: runs {', '.join(map(str, worked)) or 'none'}")
            if report:
                report.write_text(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
            if any(r.read for r in reports) and all(len(r.rejected) >= r.read for r in reports):
                raise typer.Exit(1)  # every row was refused

    @app.command("export")
    def export_command(
        layer: Annotated[ExportLayer, typer.Argument(help="layer to export")],
        path: Annotated[Path, typer.Argument(help=".geojson, .gpkg, .shp, .zip (Shapefile), .csv, .xlsx or a folder")],
        plan: Annotated[int | None, typer.Option(help="grid plan id (grids only; default: the current plan)")] = None,
        crs: Annotated[
            str | None,
            typer.Option(
                help="coordinate system of the file: wgs84 (default), cgcs2000, gcj02 (AMap/Tencent), bd09 (Baidu) "
                "or EPSG:n, e.g. EPSG:4549"
            ),
        ] = None,
        as_of: Annotated[
            str | None,
            typer.Option(help="the layer as it was then: YYYY-MM-DD (end of that day) or an ISO date-time"),
        ] = None,
    ) -> None:
        """Export a layer (in WGS 84 unless --crs says otherwise), in the format the path's extension names."""
        from gis.db.engine import transaction
        from gis.exchange.exports import export_layer, output_system
        from gis.layers.queries import parse_as_of

        with failing_clearly():
            system = output_system(crs)  # before the database: a wrong name is a quick error
            instant = parse_as_of(as_of) if as_of is not None else None
            engine = migrated_engine()
            with transaction(engine) as session:
                count = export_layer(session, layer.value, path, plan_id=plan, crs=system, as_of=instant)
            shown = "" if system == "wgs84" else f" in {system}"
            console.print(f"{layer.value}: wrote {count} features{shown} to {path}")
