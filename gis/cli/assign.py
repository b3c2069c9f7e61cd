"""`gridmap assign INPUT [--crs ...] [--out OUTPUT]`: grid, community and street for every point of a file.

CSV and (Geo)Parquet in and out take the fast path: Arrow columns in (gis.exchange.point_files), numpy coordinates
into the plan's grid index (kept on disk per plan content, gis.locate.bulk), Arrow columns out — no geometry
objects, no data frames, and only the libraries that path needs are imported, so the whole process stays short.
Other formats (GeoJSON, GeoPackage, Shapefile, XLSX) go through geopandas (gis.exchange.files).

The command only reads the database: it connects with psycopg alone, and migrates only when the schema lacks what
it reads (a new database).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gis.cli.common import console, failing_clearly, migrated_session, settings
from gis.errors import FileRejected, InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import psycopg

    from gis.locate.bulk import PlanGrids
    from gis.locate.index import Located

OFFSET_SYSTEMS = {"gcj02", "bd09", "wgs84", "cgcs2000"}
# EPSG codes that name one of the systems above (the named path skips PROJ and checks for swapped lon/lat).
NAMED_EPSG = {"4326": "wgs84", "4490": "cgcs2000"}
DASK_POINTS = 5_000_000  # with GRIDMAP_DASK_SCHEDULER set, larger inputs run in partitions on it
SHOWN = 50  # without --out, at most this many points are printed one by one


def register(app: typer.Typer) -> None:
    @app.command()
    def assign(
        input_path: Annotated[
            Path, typer.Argument(metavar="INPUT", help="points: .csv, .parquet, .geojson, .gpkg, .shp, .zip, .xlsx")
        ],
        crs: Annotated[
            str | None, typer.Option(help="wgs84 | cgcs2000 | gcj02 | bd09 | EPSG:n (default: the file's)")
        ] = None,
        out: Annotated[
            Path | None, typer.Option(help="write the points with their grid here (.csv, .parquet, .gpkg, ...)")
        ] = None,
        snap_m: Annotated[float, typer.Option(help="snap to the nearest grid within this many metres")] = 50.0,
        where: Annotated[
            str | None,
            typer.Option(
                help="run in partitions on dask: inline | local | local:N | tcp://scheduler:8786 "
                f"(default: here; with GRIDMAP_DASK_SCHEDULER set, on it above {DASK_POINTS:,} points)"
            ),
        ] = None,
        part_points: Annotated[int, typer.Option(min=1, help="points per partition with --where")] = 500_000,
    ) -> None:
        """Assign every point of a file to its grid in the current plan, in one vectorised pass."""
        from gis.exchange.point_files import is_point_file

        with failing_clearly():
            if is_point_file(input_path) and (out is None or is_point_file(out)):
                _assign_table(input_path, crs, out, snap_m, where, part_points)
            else:
                _assign_frame(input_path, crs, out, snap_m)


# -- CSV and Parquet: Arrow in, Arrow out -----------------------------------------------------------------


def _assign_table(
    input_path: Path, crs: str | None, out: Path | None, snap_m: float, where: str | None, part_points: int
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.csv  # noqa: F401  (loaded here, before the reading thread needs it)

    from gis.exchange.point_files import read_points, write_points

    # The file is read (by Arrow, without the GIL) while the rest loads and the plan's grids come in.
    with ThreadPoolExecutor(1) as pool:
        reading = pool.submit(read_points, input_path)
        import numpy as np

        from gis.geo.coordinates import to_wgs84
        from gis.locate.bulk import locate_points, published_grids
        from gis.locate.index import STATUSES

        with _reading() as conn:
            grids = published_grids(conn, _store())
        points = reading.result()
    system = _system(crs, points.crs, input_path)
    lon, lat = to_wgs84(points.x, points.y, system, where="points")
    if where is None and settings().dask_scheduler and len(points) > DASK_POINTS:
        where = settings().dask_scheduler
    found = locate_points(grids, lon, lat, snap_m=snap_m, where=where, part_points=part_points)
    codes = found.code
    tally = np.bincount(codes, minlength=len(STATUSES))
    counts = ", ".join(f"{tally[k]} {STATUSES[k]}" for k in np.argsort(STATUSES) if tally[k])
    typer.echo(f"{len(points)} points against plan {grids.plan_id}: {counts or 'none'}")
    if out:
        write_points(points, _results(grids, found, codes), out, lon=lon, lat=lat)
        typer.echo(f"wrote {out}")
    elif len(points) <= SHOWN:
        for k in range(len(points)):
            code = grids.code[found.grid[k]] if found.grid[k] >= 0 else None
            typer.echo(f"{k + 1}: {code} {found.status[k]} {round(float(found.distance_m[k]), 2):g} m")


def _system(crs: str | None, declared: str | None, path: Path) -> str:
    """The coordinate system of the points, as gis.geo.coordinates takes it: --crs, else what the file declares."""
    chosen = crs.strip() if crs else declared
    if not chosen:
        raise FileRejected(
            f"{path.name}: the file declares no coordinate reference system; give one with --crs "
            "(wgs84 for GPS/OSM longitude-latitude, gcj02 for AMap/WeChat, bd09 for Baidu, EPSG:4490 for CGCS2000, "
            "EPSG:4549 for the CGCS2000 Gauss-Krüger zone at 120°E, ...)",
            where="crs",
        )
    key = chosen.lower().removeprefix("epsg:").strip()
    return NAMED_EPSG.get(key, chosen)


def _results(grids: PlanGrids, found: Located, codes: np.ndarray) -> dict[str, Any]:
    """The result columns as Arrow arrays, taken from per-grid and per-status values (no Python object per point)."""
    import numpy as np

    from gis.exchange.point_files import float_column, text_column
    from gis.locate.index import STATUSES

    return {
        "grid_code": text_column(grids.code, found.grid),
        "community_code": text_column(grids.community_code, found.grid),
        "street_code": text_column(grids.street_code, found.grid),
        "status": text_column(np.array(STATUSES, dtype=object), codes.astype(np.int64)),
        "distance_m": float_column(np.round(found.distance_m, 2)),
    }


def _store() -> Path:
    import os

    chosen = settings().cache_dir
    if chosen is not None:
        return Path(chosen) / "assign"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "gridmap" / "assign"


@contextmanager
def _reading() -> Iterator[psycopg.Connection]:
    """A read-only psycopg connection to the configured database. A schema without the tables read here (a new
    database) is migrated first, as every other command does."""
    import psycopg

    conn = _connect()
    try:
        conn.execute("SELECT 1 FROM grid_plans, meta, grids, communities, streets LIMIT 0")
    except (psycopg.errors.UndefinedTable, psycopg.errors.UndefinedColumn):
        conn.close()
        with migrated_session():
            pass
        conn = _connect()
    with conn:
        yield conn


def _connect() -> psycopg.Connection:
    import psycopg

    url = settings().database_url
    if not url:  # the embedded cluster, started on demand
        from gis.db.engine import database_url

        url = database_url(settings())
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)
    try:
        conn = psycopg.connect(conninfo, options="-c jit=off -c default_transaction_read_only=on")
    except psycopg.OperationalError as exc:
        from gis.errors import DatabaseUnavailable

        raise DatabaseUnavailable(f"cannot connect to the database: {str(exc).strip().splitlines()[0]}") from None
    return conn


# -- other formats: through geopandas -------------------------------------------------------------------


def _assign_frame(input_path: Path, crs: str | None, out: Path | None, snap_m: float) -> None:
    import shapely

    from gis.exchange.files import read_frame, write_frame
    from gis.locate.bulk import assign_points

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
    if out and out.suffix.lower() in (".parquet", ".geoparquet"):
        frame.to_parquet(out)
        console.print(f"wrote {out}")
    elif out:
        write_frame(frame, out, layer="assigned")
        console.print(f"wrote {out}")
    elif len(frame) <= SHOWN:
        for row in frame.itertuples():
            console.print(f"{row.Index + 1}: {row.grid_code} {row.status} {row.distance_m:g} m")
