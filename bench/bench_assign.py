"""`gridmap assign` of a million points, as whole processes, beside the plain geopandas script on the same files.

Data: the demo district's published plan (loaded into a scratch database) and 1,000,000 random points (default):
95 % uniformly over the plan's extent, 5 % in a band 10 % of the extent wide around it, with an id and a Chinese
name column; written as CSV (lon/lat columns) and as GeoParquet. gridmap runs `gridmap assign POINTS --crs wgs84
--out OUT` (CSV → CSV, GeoParquet → GeoParquet); the peer, `python -m bench.assign_geopandas GRIDS POINTS OUT`,
reads the grids from a GeoParquet export and joins with geopandas.sjoin (no snapping). Both are timed as whole
processes from start to exit, after one untimed run each (the file cache warm for both, gridmap's plan index
stored on disk: the first run's time, which builds it, is printed too), then alternately, median of `--runs`.
The outputs are compared: every point the peer puts in a grid must be "inside" that same grid in gridmap's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from sqlalchemy import text

from bench.common import Row, bench_engine, console, print_table
from gis.db.engine import transaction
from gis.exchange.demo import load_demo
from gis.settings import get_settings

GRIDMAP = str(Path(sys.executable).parent / "gridmap")
GRIDS_SQL = """SELECT g.code, c.code AS community_code, s.code AS street_code, g.geom AS geometry
FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
LEFT JOIN communities c ON c.id = g.community_id LEFT JOIN streets s ON s.id = c.street_id"""


def write_points(folder: Path, extent: np.ndarray, count: int, seed: int = 5) -> tuple[Path, Path]:
    west, south, east, north = extent
    rng = np.random.default_rng(seed)
    inner = int(count * 0.95)
    lon = rng.uniform(west, east, count)
    lat = rng.uniform(south, north, count)
    # The last 5 %: in a band around the extent (snapped and outside points).
    pad_x, pad_y = 0.1 * (east - west), 0.1 * (north - south)
    side = rng.integers(0, 4, count - inner)
    lon[inner:] = np.where(side == 0, rng.uniform(west - pad_x, west, side.size), lon[inner:])
    lon[inner:] = np.where(side == 1, rng.uniform(east, east + pad_x, side.size), lon[inner:])
    lat[inner:] = np.where(side == 2, rng.uniform(south - pad_y, south, side.size), lat[inner:])
    lat[inner:] = np.where(side == 3, rng.uniform(north, north + pad_y, side.size), lat[inner:])
    table = pd.DataFrame({"id": np.arange(count), "name": [f"事件{k}" for k in range(count)], "lon": lon, "lat": lat})
    csv = folder / "points.csv"
    table.round({"lon": 7, "lat": 7}).to_csv(csv, index=False)
    parquet = folder / "points.parquet"
    gpd.GeoDataFrame(
        table[["id", "name"]], geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs=4326
    ).to_parquet(parquet)
    return csv, parquet


def whole(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - start


def agreement(ours: pd.DataFrame, peer: pd.DataFrame) -> tuple[int, int]:
    """(points the peer puts in a grid, of which gridmap disagrees): gridmap must say "inside" the same grid."""
    placed = peer["grid_code"].notna().to_numpy()
    same = (ours["grid_code"].to_numpy() == peer["grid_code"].to_numpy()) & (ours["status"].to_numpy() == "inside")
    return int(placed.sum()), int((placed & ~same).sum())


def run(count: int, runs: int) -> tuple[list[Row], list[str]]:
    engine = bench_engine("gridmap_bench_assign")
    with transaction(engine) as session:
        load_demo(session, get_settings())
    grids = gpd.read_postgis(text(GRIDS_SQL), engine, geom_col="geometry", crs=4326)
    notes = []
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        grids.to_parquet(folder / "grids.parquet")
        csv, parquet = write_points(folder, grids.total_bounds, count)
        env = {
            **os.environ,
            "GRIDMAP_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "GRIDMAP_CACHE_DIR": str(folder / "cache"),
        }
        size = f"{count:,} points, demo plan ({len(grids)} grids)"
        for label, source, suffix in (("CSV → CSV", csv, ".csv"), ("GeoParquet → GeoParquet", parquet, ".parquet")):
            ours_out, peer_out = folder / f"ours{suffix}", folder / f"peer{suffix}"
            ours_cmd = [GRIDMAP, "assign", str(source), "--crs", "wgs84", "--out", str(ours_out)]
            peer_cmd = [sys.executable, "-m", "bench.assign_geopandas", str(folder / "grids.parquet"), str(source)]
            peer_cmd.append(str(peer_out))
            first = whole(ours_cmd, env)  # builds and stores the plan index when it is not there yet
            whole(peer_cmd, env)
            ours_times, peer_times = [], []
            for _ in range(runs):
                ours_times.append(whole(ours_cmd, env))
                peer_times.append(whole(peer_cmd, env))
            ours_median, peer_median = statistics.median(ours_times), statistics.median(peer_times)
            rows.append(
                Row(f"gridmap assign, {label}, whole process", size, ours_median, "geopandas script", peer_median)
            )
            read = pd.read_csv if suffix == ".csv" else pd.read_parquet
            kwargs = {"dtype": {"grid_code": str}} if suffix == ".csv" else {}
            placed, wrong = agreement(read(ours_out, **kwargs), read(peer_out, **kwargs))
            ours_runs, peer_runs = (", ".join(f"{t:.2f}" for t in times) for times in (ours_times, peer_times))
            notes.append(
                f"{label}: first gridmap run {first:.2f} s; runs gridmap {ours_runs} s, peer {peer_runs} s; "
                f"of {placed:,} points the peer puts in a grid, gridmap disagrees on {wrong}"
            )
    engine.dispose()
    return rows, notes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each, alternating")
    args = parser.parse_args(argv)
    rows, notes = run(args.points, args.runs)
    print_table(
        "gridmap assign vs a geopandas script (whole processes, same files, median of runs)",
        rows,
        "\n".join(notes),
    )
    console.print(f"machine: {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
