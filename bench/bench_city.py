"""`make bench-city`: every stage of a whole city, as a user runs it, at two sizes with the growth between them.

    python -m bench.bench_city [--sizes 50000 200000] [--points 1000000]

For each size a synthetic city (bench/synthetic_city.py) is written to files and loaded into a fresh database by
the `gridmap` CLI, each stage a whole process or a whole HTTP request against `gridmap serve --workers 2`:
import of the buildings, units of every community, coverage of every category, `GET /api/coverage`, building
tiles z13–z16, `/api/locate` under load (wrk, 32 connections) and `gridmap assign` of a million points. The table
gives each stage's figure per size, the growth ratio (largest ÷ smallest size; the buildings grow by the ratio in
the last row) and the issue's limit.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
from rich.table import Table
from sqlalchemy import text

from bench.bench_locate_api import wrk_locate
from bench.common import bench_engine, console
from bench.synthetic_city import synthetic_city, write_city
from gis.db.roles import APP_ROLE, embedded_roles, with_role

PORT = 8766
GRIDMAP = str(Path(sys.executable).parent / "gridmap")
LOAD_FIRST = ("districts", "streets", "communities")


@dataclass(frozen=True)
class Stage:
    name: str
    unit: str
    limit: str  # the target for the 200 k city


STAGES = (
    Stage("import buildings (gridmap import)", "s", "≤ 10 s"),
    Stage("units, every community (gridmap units build)", "s", "≤ 60 s"),
    Stage("coverage, every category (gridmap coverage)", "s", "≤ 5 s"),
    Stage("GET /api/coverage, median of 10", "ms", "≤ 200 ms"),
    Stage("building tiles z13–16, p99, first request", "ms", "< 50 ms"),
    Stage("building tiles z13–16, p99, cached", "ms", "< 50 ms"),
    Stage("building tiles z13–16, largest", "KiB", "≤ 500 KiB"),
    Stage("/api/locate, 32 connections, --workers 2", "req/s", "≥ 3,000 req/s"),
    Stage("/api/locate p99, 32 connections", "ms", "< 20 ms"),
    Stage("gridmap assign, 1 M points CSV → CSV", "s", "—"),
)


def _run(env: dict[str, str], *args: str) -> float:
    """Wall time of one whole `gridmap` process; its output is kept only when it fails."""
    start = time.perf_counter()
    done = subprocess.run([GRIDMAP, *args], env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(f"gridmap {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return took


def _tiles(extent: tuple[float, float, float, float], zoom: int, sample: int) -> list[tuple[int, int, int]]:
    """The tiles of `zoom` over the extent, or an even sample of `sample` of them."""
    west, south, east, north = extent

    def tile(lon: float, lat: float) -> tuple[int, int]:
        n = 2**zoom
        x = int((lon + 180) / 360 * n)
        y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
        return x, y

    x0, y0 = tile(west, north)
    x1, y1 = tile(east, south)
    every = [(zoom, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    step = max(1, len(every) // sample)
    return every[::step]


def _serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [GRIDMAP, "serve", "--port", str(PORT), "--workers", "2", "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{PORT}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gridmap serve did not come up")


def _points_csv(path: Path, extent: tuple[float, float, float, float], n: int) -> None:
    west, south, east, north = extent
    rng = np.random.default_rng(11)
    lon, lat = rng.uniform(west, east, n), rng.uniform(south, north, n)
    with path.open("w") as out:
        out.write("id,lon,lat\n")
        np.savetxt(out, np.column_stack([np.arange(n), lon, lat]), fmt=["%d", "%.7f", "%.7f"], delimiter=",")


class _Figures(dict[str, float]):
    """Stage → figure, each printed as it is measured (a long run shows its progress)."""

    def __setitem__(self, stage: str, value: float) -> None:
        console.print(f"  {stage}: {value:,.2f}")
        super().__setitem__(stage, value)


def measure(buildings: int, points: int, seconds: int) -> tuple[int, dict[str, float]]:
    """Every stage's figure for a city of about `buildings` buildings; the count actually made."""
    console.print(f"city of about {buildings:,} buildings")
    figures = _Figures()
    engine = bench_engine(f"gridmap_bench_city_{buildings}")
    url = engine.url.render_as_string(hide_password=False)
    if APP_ROLE in embedded_roles(url):
        url = with_role(url, APP_ROLE)  # the CLI and the server run as the app does
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        city = synthetic_city(buildings)
        write_city(city, folder)
        made = len(city.buildings)
        for layer in LOAD_FIRST:
            _run(env, "import", layer, str(folder / f"{layer}.gpkg"))
        figures[STAGES[0].name] = _run(env, "import", "buildings", str(folder / "buildings.gpkg"), "--no-recompute")
        for layer in ("facilities", "network"):
            _run(env, "import", layer, str(folder / f"{layer}.gpkg"), "--no-recompute")
        figures[STAGES[1].name] = _run(env, "units", "build")
        _run(env, "import", "grids", str(folder / "grids.gpkg"), "--plan-name", "city")
        figures[STAGES[2].name] = _run(env, "coverage")
        with engine.connect() as conn:
            extent = tuple(
                conn.execute(
                    text("SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
                         "FROM (SELECT ST_Extent(geom)::geometry e FROM grids) s")
                ).one()
            )  # fmt: skip
        server = _serve(env)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=120) as http:
                http.get("/api/coverage").raise_for_status()  # the first visitor after a run
                times = []
                for _ in range(10):
                    start = time.perf_counter()
                    http.get("/api/coverage").raise_for_status()
                    times.append((time.perf_counter() - start) * 1000)
                figures[STAGES[3].name] = statistics.median(times)
                tiles = [t for zoom in (13, 14, 15, 16) for t in _tiles(extent, zoom, 200)]  # type: ignore[arg-type]
                for stage in (STAGES[4], STAGES[5]):  # the first visit after the data, then the same tiles again
                    took, sizes = [], []
                    for z, x, y in tiles:
                        start = time.perf_counter()
                        answer = http.get(f"/tiles/buildings/{z}/{x}/{y}.pbf")
                        took.append((time.perf_counter() - start) * 1000)
                        answer.raise_for_status()
                        sizes.append(len(answer.content))
                    figures[stage.name] = float(np.percentile(took, 99))
                figures[STAGES[6].name] = max(sizes) / 1024
            # A started server's workers build their in-memory plan in the background (the database answers
            # meanwhile): a short run first, so the figure is the steady state rather than the first seconds.
            wrk_locate(f"http://127.0.0.1:{PORT}", extent, seconds=3, connections=32)  # type: ignore[arg-type]
            rps, p99 = wrk_locate(f"http://127.0.0.1:{PORT}", extent, seconds=seconds, connections=32)  # type: ignore[arg-type]
            figures[STAGES[7].name], figures[STAGES[8].name] = rps, p99
        finally:
            server.terminate()
            server.wait(timeout=60)
        csv = folder / "points.csv"
        _points_csv(csv, extent, points)  # type: ignore[arg-type]
        figures[STAGES[9].name] = _run(env, "assign", str(csv), "--crs", "wgs84", "--out", str(folder / "assigned.csv"))
    engine.dispose()
    return made, figures


def _format(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:,.0f}" if value >= 100 else f"{value:.2f}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_city", description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[50_000, 200_000], help="buildings per city")
    parser.add_argument("--points", type=int, default=1_000_000, help="points for gridmap assign")
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per locate run")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing (apt-get install wrk)")
    results = [measure(size, args.points, args.seconds) for size in args.sizes]
    table = Table(title="a whole city, stage by stage (2 cores)", title_justify="left")
    table.add_column("stage")
    for made, _ in results:
        table.add_column(f"{made:,} buildings", justify="right")
    table.add_column("growth", justify="right")
    table.add_column("limit (200 k)", justify="right")
    for stage in STAGES:
        values = [figures.get(stage.name) for _, figures in results]
        growth = values[-1] / values[0] if len(values) > 1 and values[0] and values[-1] is not None else None
        table.add_row(
            f"{stage.name} [{stage.unit}]",
            *(_format(v) for v in values),
            f"{growth:.2f}×" if growth else "—",
            stage.limit,
        )
    sizes = [made for made, _ in results]
    table.add_row("buildings", *(f"{n:,}" for n in sizes), f"{sizes[-1] / sizes[0]:.2f}×", "")
    console.print(table)


if __name__ == "__main__":
    main()
