"""`/api/locate` under concurrent load on loopback: a real server, driven by wrk with random points.

gridmap: `gridmap serve --workers 2 --no-access-log` on the demo district, wrk -t2 -c32 (closed loop, so it
saturates the server) for 10 s, twice each and interleaved, with a Lua script drawing random points: points inside
the published plan's grids (where incidents are reported), then points anywhere in the grids' extent (13 % of the
demo's extent is in no grid: the nearest grid and its geodesic distance). Both are answered from each process's
in-memory plan. Peer: a trivial JSON route of the same server (`/api/ping`) under the same load, the ceiling the
framework sets; targets: ≥ 3,000 req/s, p99 < 20 ms, locate at ≥ 0.7× the trivial route's requests/s. Server CPU per
request (the workers' user + system time over the run ÷ requests) is printed too: unlike req/s it hardly moves with
other load on the machine. Also the bare lookup SQL over one connection (no HTTP, no JSON): the database path.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, text

from bench.common import Row, bench_engine, console, print_table
from gis.db.engine import transaction
from gis.exchange.demo import load_demo
from gis.locate.point import LOCATE_SQL
from gis.settings import get_settings

PORT = 8765
WORKERS = 2
CONNECTIONS = 32
ROUNDS = 2  # of each load, interleaved
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_us: float  # server CPU per request (all worker processes), µs; NaN when unknown
    errors: int  # non-2xx answers and socket errors


def _extent(engine: Engine) -> tuple[float, float, float, float]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(g.geom)::geometry e "
                "FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published') s"
            )
        ).one()
    return float(row[0]), float(row[1]), float(row[2]), float(row[3])


def extent_points(extent: tuple[float, float, float, float], n: int = 2_000, seed: int = 5) -> np.ndarray:
    west, south, east, north = extent
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(west, east, n), rng.uniform(south, north, n)])


def _inside_points(engine: Engine, n: int = 2_000) -> np.ndarray:
    """Random points inside the published plan's grids."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT ST_X(d.geom), ST_Y(d.geom) FROM (SELECT (ST_Dump(ST_GeneratePoints(ST_Union(g.geom), :n, 5)))"
                ".geom FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published') d"
            ),
            {"n": n},
        ).all()
    return np.array(rows, dtype=np.float64)


def _lua(points: np.ndarray) -> str:
    table = ",".join(f"{{{x:.7f},{y:.7f}}}" for x, y in points)
    return f"""local pts = {{{table}}}
math.randomseed(7)
request = function()
  local p = pts[math.random(#pts)]
  return wrk.format("GET", "/api/locate?lon=" .. p[1] .. "&lat=" .. p[2])
end
"""


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total


def _workers(server_pid: int) -> list[int]:
    """The server process and its children (uvicorn's workers)."""
    try:
        children = subprocess.run(["pgrep", "-P", str(server_pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        return [server_pid]
    return [server_pid, *map(int, children)]


def wrk(
    base_url: str,
    *,
    path: str = "/",
    script: Path | None = None,
    seconds: int = 10,
    connections: int = CONNECTIONS,
    server_pid: int | None = None,
) -> Load:
    """One wrk run (two threads) against `base_url` + `path`, or the requests `script` makes."""
    pids = _workers(server_pid) if server_pid else []
    before = _cpu_ticks(pids)
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    command += ["-s", str(script)] if script else []
    out = subprocess.run([*command, base_url + path], capture_output=True, text=True, check=True).stdout
    ticks = _cpu_ticks(pids) - before

    def ms(label: str) -> float:
        found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out)
        assert found, out
        return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]

    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    errors += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    cpu = ticks / CLOCK_TICKS / requests * 1e6 if pids and requests else float("nan")
    return Load(rps, ms("50%"), ms("99%"), cpu, errors)


def _mean(loads: list[Load]) -> Load:
    def mean(field: str) -> float:
        return float(np.mean([getattr(load, field) for load in loads]))

    return Load(mean("rps"), mean("p50_ms"), mean("p99_ms"), mean("cpu_us"), sum(load.errors for load in loads))


def wrk_locate(
    base_url: str, extent: tuple[float, float, float, float], *, seconds: int = 10, connections: int = CONNECTIONS
) -> tuple[float, float]:
    """/api/locate at random points over `extent` on a running server: (requests/s, p99 ms)."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "locate.lua"
        script.write_text(_lua(extent_points(extent)))
        load = wrk(base_url, script=script, seconds=seconds, connections=connections)
    return load.rps, load.p99_ms


def _peer_sql(engine: Engine, points: np.ndarray) -> tuple[float, float, float]:
    times = []
    with engine.connect() as conn:
        for x, y in points[:300]:  # warm-up
            conn.execute(text(LOCATE_SQL), {"lon": float(x), "lat": float(y)}).one()
        start = time.perf_counter()
        for x, y in points:
            t = time.perf_counter()
            conn.execute(text(LOCATE_SQL), {"lon": float(x), "lat": float(y)}).one()
            times.append(time.perf_counter() - t)
        total = time.perf_counter() - start
    ms = np.array(times) * 1000
    return len(points) / total, float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


def _serve(url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    gridmap = str(Path(sys.executable).parent / "gridmap")
    command = [gridmap, "serve", "--port", str(PORT), "--workers", str(WORKERS), "--no-access-log"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(300):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/ping", timeout=2)
            time.sleep(2)  # every worker up and its plan loaded
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("the server did not start")


def run(seconds: int = 10, connections: int = CONNECTIONS) -> list[Row] | None:
    if shutil.which("wrk") is None:
        console.print("wrk is not installed (Debian package `wrk`): /api/locate load benchmark skipped")
        return None
    engine = bench_engine("gridmap_bench_api")
    with transaction(engine) as session:
        load_demo(session, get_settings())
    inside = _inside_points(engine)
    anywhere = extent_points(_extent(engine))
    server = _serve(engine.url.render_as_string(hide_password=False))
    base = f"http://127.0.0.1:{PORT}"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {}
            for name, points in (("inside", inside), ("anywhere", anywhere)):
                scripts[name] = Path(tmp) / f"{name}.lua"
                scripts[name].write_text(_lua(points))
            wrk(base, script=scripts["inside"], seconds=2, connections=connections)  # warm-up
            wrk(base, path="/api/ping", seconds=2, connections=connections)
            # Interleaved rounds, averaged: load from elsewhere on the machine drifts, and each side gets its share.
            runs: dict[str, list[Load]] = {"ping": [], "inside": [], "anywhere": []}
            for _ in range(ROUNDS):
                for name in runs:
                    target = {"path": "/api/ping"} if name == "ping" else {"script": scripts[name]}
                    runs[name].append(
                        wrk(base, seconds=seconds, connections=connections, server_pid=server.pid, **target)
                    )
            ping, located, mixed = (_mean(runs[name]) for name in ("ping", "inside", "anywhere"))
    finally:
        server.terminate()
        server.wait(timeout=30)
    qps, peer50, peer99 = _peer_sql(engine, anywhere)
    engine.dispose()
    load = f"{WORKERS} workers, {connections} connections"
    rows = [
        Row(
            f"/api/locate req/s, points in grids ({load})",
            f"{len(inside):,} points",
            located.rps,
            "/api/ping (trivial JSON route)",
            ping.rps,
            "req/s",
        ),
        Row("/api/locate p99, points in grids", load, located.p99_ms, "/api/ping p99", ping.p99_ms, "ms"),
        Row("/api/locate server CPU per request", "points in grids", located.cpu_us, "/api/ping", ping.cpu_us, "µs"),
        Row(
            f"/api/locate req/s, points over the extent ({load})",
            f"{len(anywhere):,} points",
            mixed.rps,
            "/api/ping (trivial JSON route)",
            ping.rps,
            "req/s",
        ),
        Row("/api/locate p99, points over the extent", load, mixed.p99_ms, "/api/ping p99", ping.p99_ms, "ms"),
        Row(
            "/api/locate server CPU per request", "points over the extent", mixed.cpu_us, "/api/ping", ping.cpu_us, "µs"
        ),
        Row(
            "/api/locate p99, points over the extent", load, mixed.p99_ms, "locate SQL p99, 1 connection", peer99, "ms"
        ),
        Row(
            "/api/locate p50, points over the extent", load, mixed.p50_ms, "locate SQL p50, 1 connection", peer50, "ms"
        ),
    ]
    failed = located.errors + mixed.errors + ping.errors
    if failed:
        console.print(f"[red]{failed} requests failed (non-2xx or socket errors)[/]")
    console.print(f"bare locate SQL over one connection: {qps:,.0f} queries/s")
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=CONNECTIONS)
    args = parser.parse_args(argv)
    rows = run(args.seconds, args.connections)
    if rows:
        print_table(
            "/api/locate under load on loopback (targets: ≥ 3,000 req/s, p99 < 20 ms, ≥ 0.7× /api/ping's req/s)",
            rows,
            "ratio column, peer ÷ gridmap: for req/s ≤ 1.43 meets ≥ 0.7× the trivial route; for ms and µs < 1 "
            "means the peer is faster. Timings share the machine with wrk itself (2 threads).",
        )


if __name__ == "__main__":
    main()
