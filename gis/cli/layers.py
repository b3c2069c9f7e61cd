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
        path: Annotated[Path, typer.Argument(help=".geojson/.json, .gpkg, .shp, .zip, .csv or a Shapefile folder")],
        crs: Annotated[str | None, typer.Option(help="CRS of the data, e.g. EPSG:4549; overrides the file's")] = None,
        plan_name: Annotated[str | None, typer.Option(help="name of the plan an imported grid layer becomes")] = None,
        report: Annotated[Path | None, typer.Option(help="write the full per-row report as JSON here")] = None,
    ) -> None:
        """Import a file in one transaction: bad rows are reported and skipped, a bad file changes nothing."""
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
                            progress=bar,
                            plan_name=plan_name,
                            actor=actor(),
                        )
                    ]
            for one in reports:
                show(one)
            if report:
                report.write_text(json.dumps([r.to_dict() for r in reports], ensure_ascii=False, indent=2))
            if all(r.imported == 0 for r in reports) and any(r.read for r in reports):
                raise typer.Exit(1)

    @app.command("export")
    def export_command(
        layer: Annotated[ExportLayer, typer.Argument(help="layer to export")],
        path: Annotated[Path, typer.Argument(help=".geojson, .gpkg, .shp, .zip (Shapefile), .csv or a folder")],
        plan: Annotated[int | None, typer.Option(help="grid plan id (grids only; default: the current plan)")] = None,
    ) -> None:
        """Export a layer in EPSG:4326, in the format the path's extension names."""
        from gis.db.engine import transaction
        from gis.exchange.exports import export_layer

        with failing_clearly():
            engine = migrated_engine()
            with transaction(engine) as session:
                count = export_layer(session, layer.value, path, plan_id=plan)
            console.print(f"{layer.value}: wrote {count} features to {path}")
