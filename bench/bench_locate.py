"""Point → grid: gridmap's GridLocator beside geopandas.sjoin and a PostGIS ST_Covers join on the same data.

Data: a jittered quadrilateral lattice of grids (100×100 = 10,000 by default) about 10×10 km around
121.55°E 29.87°N, and uniformly random points over an extent 4 % wider than the lattice (so ~8 % fall
outside every grid). GridLocator is timed from lon/lat arrays to its full answer (covering grid, plus
nearest grid and metres for points outside); sjoin is timed on a prebuilt point GeoDataFrame with
predicate="within". The PostGIS peer is `SELECT count(*) FROM bench_pts p JOIN bench_grids g ON
ST_Covers(g.geom, p.geom)` with GiST indexes on both tables, timed on a subset of the points (default
200,000) because it is slow; all three are reported as points per second.
"""

from __future__ import annotations

import argparse
import io
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from sqlalchemy import Engine, text

from bench.common import Row, bench_engine, console, print_table, timed
from gis.geo.crs import metric_epsg
from gis.locate.index import GridLocator

CENTRE = (121.55, 29.87)
SPAN_M = 10_000.0


def lattice(side: int, seed: int = 1) -> gpd.GeoDataFrame:
    """side × side jittered quadrilaterals tiling ~10×10 km (shared edges built from shared vertices)."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = CENTRE
    dlat = SPAN_M / 111_320.0 / side
    dlon = dlat / np.cos(np.radians(lat0))
    i, j = np.meshgrid(np.arange(side + 1), np.arange(side + 1), indexing="ij")  # i: column, j: row
    jitter = rng.uniform(-0.3, 0.3, size=(2, side + 1, side + 1))
    jitter[:, [0, -1], :] = 0  # straight outer edges
    jitter[:, :, [0, -1]] = 0
    vx = lon0 - side * dlon / 2 + (i + jitter[0]) * dlon
    vy = lat0 - side * dlat / 2 + (j + jitter[1]) * dlat
    a, b = np.meshgrid(np.arange(side), np.arange(side), indexing="ij")
    a, b = a.ravel(), b.ravel()
    corners = [(a, b), (a + 1, b), (a + 1, b + 1), (a, b + 1), (a, b)]
    ring = np.stack([np.column_stack([vx[c, r], vy[c, r]]) for c, r in corners], axis=1)  # (n, 5, 2)
    polygons = shapely.polygons(ring)
    codes = [f"G{k:06d}" for k in range(len(polygons))]
    return gpd.GeoDataFrame({"code": codes}, geometry=polygons, crs=4326)


def random_points(grids: gpd.GeoDataFrame, count: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = grids.total_bounds
    pad_x, pad_y = 0.02 * (east - west), 0.02 * (north - south)  # ~8 % of points land outside
    rng = np.random.default_rng(seed)
    return rng.uniform(west - pad_x, east + pad_x, count), rng.uniform(south - pad_y, north + pad_y, count)


def _load_postgis(engine: Engine, grids: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray) -> None:
    """Grids and points into plain tables of the scratch database with COPY (hex EWKB), GiST indexed."""
    with engine.begin() as conn:
        conn.execute(
            text("""
            DROP TABLE IF EXISTS bench_grids, bench_pts;
            CREATE TABLE bench_grids (id int PRIMARY KEY, code text, geom geometry(Polygon, 4326));
            CREATE TABLE bench_pts (id int PRIMARY KEY, geom geometry(Point, 4326));""")
        )
    grid_hex = shapely.to_wkb(grids.geometry.values, hex=True, include_srid=True)
    point_hex = shapely.to_wkb(shapely.set_srid(shapely.points(lon, lat), 4326), hex=True, include_srid=True)
    grid_rows = pd.DataFrame({"id": np.arange(len(grids)), "code": grids["code"].to_numpy(), "geom": grid_hex})
    point_rows = pd.DataFrame({"id": np.arange(lon.size), "geom": point_hex})
    raw = engine.raw_connection()
    try:
        with raw.cursor() as cur:
            for table, frame in (("bench_grids", grid_rows), ("bench_pts", point_rows)):
                buffer = io.StringIO()
                frame.to_csv(buffer, sep="\t", header=False, index=False)
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.execute(
            text("""
            CREATE INDEX ON bench_grids USING gist (geom);
            CREATE INDEX ON bench_pts USING gist (geom);
            ANALYZE bench_grids; ANALYZE bench_pts;""")
        )


def _disagreements(located_grid: np.ndarray, inside: np.ndarray, joined: gpd.GeoDataFrame, count: int) -> int:
    """Points whose sjoin answer (a grid, or none) differs from the locator's covering grid."""
    peer = np.full(count, -1, dtype=np.int64)
    matched = joined["index_right"].to_numpy()
    peer[joined.index.to_numpy()] = matched  # a boundary point could match twice; either is "within"
    ours = np.where(inside, located_grid, -1)
    return int(np.count_nonzero(peer != ours))


def _rate(points: int, seconds: float) -> str:
    return f"{points / seconds / 1e6:.2f} M pt/s"


def run(side: int = 100, points: int = 1_000_000, postgis_points: int = 200_000) -> list[Row]:
    grids = lattice(side)
    lon, lat = random_points(grids, points)
    metric = metric_epsg(*CENTRE)
    size = f"{points:,} pts × {len(grids):,} grids"
    rows: list[Row] = []

    start = time.perf_counter()
    locator = GridLocator(grids, metric_crs=metric, order=grids["code"].tolist())
    build = time.perf_counter() - start
    locator.locate(lon[:1000], lat[:1000])  # warm the metric tree (built on first nearest search)

    point_frame = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)

    def sjoin() -> gpd.GeoDataFrame:
        return gpd.sjoin(point_frame, grids, predicate="within", how="inner")

    ours_s = timed(lambda: locator.locate(lon, lat))
    peer_s = timed(sjoin)
    rows.append(
        Row(f"locate: {_rate(points, ours_s)} vs {_rate(points, peer_s)}", size, ours_s, "sjoin within", peer_s)
    )

    located = locator.locate(lon, lat)
    inside = located.status == "inside"
    differ = _disagreements(located.grid, inside, sjoin(), points)

    engine = bench_engine("gridmap_bench_locate")
    sub_lon, sub_lat = lon[:postgis_points], lat[:postgis_points]
    _load_postgis(engine, grids, sub_lon, sub_lat)
    sql = text("SELECT count(*) FROM bench_pts p JOIN bench_grids g ON ST_Covers(g.geom, p.geom)")
    with engine.connect() as conn:
        pg_count = conn.execute(sql).scalar_one()  # warm the cache; also the count to compare
        pg_s = timed(lambda: conn.execute(sql).scalar_one(), repeat=1)
    engine.dispose()
    ours_sub = timed(lambda: locator.locate(sub_lon, sub_lat))
    rows.append(
        Row(
            f"locate: {_rate(postgis_points, ours_sub)} vs {_rate(postgis_points, pg_s)}",
            f"{postgis_points:,} pts × {len(grids):,} grids",
            ours_sub,
            "PostGIS ST_Covers count(*)",
            pg_s,
        )
    )
    ours_count = int(np.count_nonzero(located.status[:postgis_points] == "inside"))

    note = (
        f"Build GridLocator once: {build:.2f} s (raster {locator._raster.cells.shape[1]}×"
        f"{locator._raster.cells.shape[0]}, {locator._raster.cells.nbytes / 1e6:.0f} MB, "
        f"{np.mean(locator._raster.cells == -2):.1%} cells 'check').\n"
        f"GridLocator status: {np.count_nonzero(inside):,} inside, "
        f"{np.count_nonzero(located.status == 'snapped'):,} snapped (≤ 50 m), "
        f"{np.count_nonzero(located.status == 'outside'):,} outside; GridLocator also returns nearest grid + metres.\n"
        f"Disagreements with sjoin(within): {differ} of {points:,} points (random points; boundary points, where "
        "'within' matches no grid and ST_Covers/GridLocator match the lowest code, would be the only expected ones).\n"
        f"PostGIS on the first {postgis_points:,} points: {pg_count:,} covered vs GridLocator {ours_count:,} inside."
    )
    console.print(note)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int, default=100, help="grids per lattice side (side² grids)")
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--postgis-points", type=int, default=200_000)
    args = parser.parse_args(argv)
    print_table(
        "Point → grid (median of 3 runs, PostGIS 1 warm run; same data, same run)",
        run(args.side, args.points, args.postgis_points),
    )


if __name__ == "__main__":
    main()
