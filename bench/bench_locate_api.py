"""`/api/locate` under concurrent load on loopback: a real server, driven by wrk with random points.

gridmap: `gridmap serve` (one process) on the demo district, wrk (closed loop, so it saturates the server)
with 4 and with 8 connections for 10 s each, each request a random point in the district. Peer: the same
lookup SQL run directly against PostGIS over one connection (no HTTP, no JSON), on the same points — the
floor the HTTP service sits on.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
from sqlalchemy import text

from bench.common import Row, bench_engine, console, print_table
from gis.db.engine import transaction
from gis.exchange.demo import load_demo
from gis.locate.point import LOCATE_SQL
from gis.settings import get_settings

PORT = 8765


def _points(engine, n: int = 2_000) -> np.ndarray:
    with engine.connect() as conn:
        west, south, east, north = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry e "
                "FROM grids) s"
            )
        ).one()
    rng = np.random.default_rng(5)
    return np.column_stack([rng.uniform(west, east, n), rng.uniform(south, north, n)])


def _lua(points: np.ndarray) -> str:
    table = ",".join(f"{{{x:.7f},{y:.7f}}}" for x, y in points)
    return f"""local pts = {{{table}}}
math.randomseed(7)
request = function()
  local p = pts[math.random(#pts)]
  return wrk.format("GET", "/api/locate?lon=" .. p[1] .. "&lat=" .. p[2])
end
"""


def _wrk(script: Path, seconds: int, connections: int) -> tuple[float, float, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(script),
            f"http://127.0.0.1:{PORT}/",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def ms(label: str) -> float:
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return rps, ms("50%"), ms("99%")


def _peer(engine, points: np.ndarray) -> tuple[float, float, float]:
    times = []
    with engine.connect() as conn:
        for x, y in points[:500]:  # warm-up
            conn.execute(text(LOCATE_SQL), {"lon": float(x), "lat": float(y)}).one()
        start = time.perf_counter()
        for x, y in points:
            t = time.perf_counter()
            conn.execute(text(LOCATE_SQL), {"lon": float(x), "lat": float(y)}).one()
            times.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    ms = np.array(times) * 1000
    return len(points) / total, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def run(seconds: int = 10, levels: tuple[int, ...] = (4, 8)) -> list[Row] | None:
    if shutil.which("wrk") is None:
        console.print("wrk is not installed (Debian package `wrk`): /api/locate load benchmark skipped")
        return None
    engine = bench_engine("gridmap_bench_api")
    with transaction(engine) as session:
        load_demo(session, get_settings())
    points = _points(engine)
    url = engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    gridmap = str(Path(sys.executable).parent / "gridmap")
    server = subprocess.Popen(
        [gridmap, "serve", "--port", str(PORT)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/locate?lon={points[0][0]}&lat={points[0][1]}")
                break
            except OSError:
                time.sleep(0.2)
        measured = {}
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "locate.lua"
            script.write_text(_lua(points))
            _wrk(script, 2, levels[0])  # warm-up
            for connections in levels:
                measured[connections] = _wrk(script, seconds, connections)
    finally:
        server.terminate()
        server.wait(timeout=30)
    qps, peer50, peer99 = _peer(engine, points)
    engine.dispose()
    size = f"{len(points):,} random points, demo district"
    rows = []
    for connections, (rps, p50, p99) in measured.items():
        rows += [
            Row(
                f"/api/locate req/s, {connections} connections", size, rps, "PostGIS query, 1 connection", qps, "req/s"
            ),
            Row(f"/api/locate p50, {connections} connections", size, p50, "PostGIS query p50", peer50, "ms"),
            Row(f"/api/locate p99, {connections} connections", size, p99, "PostGIS query p99", peer99, "ms"),
        ]
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, nargs="+", default=[4, 8])
    args = parser.parse_args(argv)
    rows = run(args.seconds, tuple(args.connections))
    if rows:
        print_table(
            "/api/locate under load on loopback (target ≥ 1,000 req/s, p99 < 20 ms)",
            rows,
            "ratio column: for req/s, peer ÷ gridmap > 1 means the bare query is faster; for latency the same.",
        )


if __name__ == "__main__":
    main()
