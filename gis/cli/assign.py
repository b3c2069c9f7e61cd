"""`gridmap assign INPUT [--crs ...] [--out OUTPUT]`: grid, community and street for every point of a file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gis.cli.common import console, failing_clearly, migrated_session
from gis.errors import InvalidInput

OFFSET_SYSTEMS = {"gcj02", "bd09", "wgs84", "cgcs2000"}


def register(app: typer.Typer) -> None:
    @app.command()
    def assign(
        input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="points: .csv, .geojson, .gpkg, .shp, .zip")],
        crs: Annotated[
            str | None, typer.Option(help="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n (default: the file's)")
        ] = None,
        out: Annotated[Path | None, typer.Option(help="write the points with their grid here")] = None,
        snap_m: Annotated[float, typer.Option(help="snap to the nearest grid within this many metres")] = 50.0,
    ) -> None:
        """Assign every point of a file to its grid in the current plan, in one vectorised pass."""
        import shapely

        from gis.exchange.files import read_frame, write_frame
        from gis.locate.bulk import assign_points

        with failing_clearly():
            # GCJ-02 and BD-09 are not EPSG systems: read as plain lon/lat, then convert the coordinates.
            system = crs.lower() if crs and crs.lower() in OFFSET_SYSTEMS else None
            frame = read_frame(input_path, "EPSG:4326" if system else crs)
            if not (frame.geom_type == "Point").all():
                raise InvalidInput(f"{input_path.name}: every feature must be a point", where="geometry")
            if system is None:
                frame = frame.to_crs(4326)
            xy = shapely.get_coordinates(frame.geometry.to_numpy())
            with migrated_session() as session:
                result = assign_points(session, xy[:, 0], xy[:, 1], crs=system or "wgs84", snap_m=snap_m)
            frame = frame.assign(
                grid_code=result.grid_code,
                community_code=result.community_code,
                street_code=result.street_code,
                status=result.status,
                distance_m=result.distance_m,
            )
            counts = ", ".join(f"{n} {status}" for status, n in sorted(result.counts().items()))
            console.print(f"{len(frame)} points against plan {result.plan_id}: {counts}")
            if out:
                write_frame(frame, out, layer="assigned")
                console.print(f"wrote {out}")
            elif len(frame) <= 50:
                for row in frame.itertuples():
                    console.print(f"{row.Index + 1}: {row.grid_code} {row.status} {row.distance_m:g} m")
