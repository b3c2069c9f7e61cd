"""Building tiles z13–z16 over a synthetic city, through HTTP of the served app, with a cold and a warm tile cache;
and the map pages on the same city: HTML weight and time until usable in headless Chromium.

gridmap: GET /tiles/buildings/{z}/{x}/{y}.pbf from `gridmap serve --workers 2` (one keep-alive connection, so one
server process), whole requests: routing, the data-version read, ST_AsMVT in PostGIS (overviews thinned below z16)
or the process's tile cache, ETag. "Cold" is each tile's first request after the server started (every tile is
made), "warm" the same tiles again (kept by data version: what every later visitor gets until the buildings
change). Peer: the tile as it is made in Python today — read the tile's buildings with geopandas.read_postgis,
clip and encode with mapbox-vector-tile — on a sample of the same tiles (it has no cache). Every tile over the
city's extent is requested at each zoom (or a sample of `--sample`, always with the densest tile).

    python -m bench.bench_tiles [--buildings 50000] [--no-pages] [--sample 500] [--peer-sample 100]

The 200 k city: `--buildings 200000 --no-pages` loads only what tiles read (districts, streets, communities,
buildings); the pages need the whole city (grids, network, coverage), which takes minutes more to load.
"""

from __future__ import annotations

import argparse
import math
import os
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import geopandas as gpd
import httpx
import mapbox_vector_tile
import numpy as np
import shapely
from sqlalchemy import Engine, text

from bench.common import Row, bench_engine, console, print_table
from bench.synthetic_city import synthetic_city
from gis.coverage.runs import run_coverage
from gis.db.engine import transaction
from gis.db.roles import APP_ROLE, embedded_roles, with_role
from gis.exchange.load import import_frame
from gis.settings import get_settings

HALF = 20037508.342789244
PAGES = ("/maps/public", "/maps/planner", "/maps/dispatch")
ZOOMS = (13, 14, 15, 16)
GRIDMAP = str(Path(sys.executable).parent / "gridmap")
PEER = "read_postgis + mapbox_vector_tile.encode"


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def _tiles(engine: Engine, z: int, sample: int, rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """Every tile of zoom z over the buildings' extent, or `sample` of them with the densest among them."""
    with engine.connect() as conn:
        west, south, east, north = conn.execute(
            text("""SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e)
                    FROM (SELECT ST_Extent(footprint) e FROM buildings) b""")
        ).one()
        centres = conn.execute(text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(footprint) c FROM buildings) b"))
        densest = Counter(_tile_of(lon, lat, z) for lon, lat in centres).most_common(1)[0][0]
    (x0, y0), (x1, y1) = _tile_of(west, north, z), _tile_of(east, south, z)
    every = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    if len(every) > sample:
        chosen = {every[i] for i in rng.choice(len(every), sample - 1, replace=False)} | {densest}
        every = sorted(chosen)
    return [(z, x, y) for x, y in every]


def _peer_tile(engine: Engine, z: int, x: int, y: int) -> bytes:
    size = 2 * HALF / 2**z
    west, north = -HALF + x * size, HALF - y * size
    envelope = shapely.box(west, north - size, west + size, north)
    frame = gpd.read_postgis(
        text("""SELECT id, households, residential, floors, name, ST_Transform(footprint, 3857) AS geom
                FROM buildings WHERE footprint && ST_Transform(ST_MakeEnvelope(:w, :s, :e, :n, 3857), 4326)"""),
        engine,
        geom_col="geom",
        params={"w": west, "s": north - size, "e": west + size, "n": north},
    )
    clipped = shapely.clip_by_rect(frame.geometry.to_numpy(), *envelope.bounds)
    features = [
        {"geometry": g, "properties": {"households": int(h), "residential": bool(r)}, "id": int(i)}
        for g, h, r, i in zip(clipped, frame.households, frame.residential, frame.id, strict=True)
        if not g.is_empty
    ]
    return mapbox_vector_tile.encode(
        [{"name": "buildings", "features": features}],
        default_options={"quantize_bounds": envelope.bounds, "extents": 4096},
    )


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


def _load(engine: Engine, n_buildings: int, *, whole: bool) -> None:
    """The synthetic city: what building tiles read, or (`whole`) every layer and coverage, for the pages."""
    settings = get_settings()
    city = synthetic_city(n_buildings)
    layers = ["districts", "streets", "communities", "buildings"]
    with transaction(engine) as session:
        for layer in [*layers, "facilities", "network", "grids"] if whole else layers:
            import_frame(session, layer, getattr(city, layer), settings=settings)
        if whole:
            run_coverage(session, settings, categories=None, actor="bench")


def _serve(url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRIDMAP_DATABASE_URL": url}
    command = [GRIDMAP, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return server, base
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gridmap serve did not come up")


def _pages_in_browser(url: str) -> dict[str, float]:
    """Seconds until each page reports itself ready, in headless Chromium (empty if Chromium is missing)."""
    try:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        from tests.browser.harness import launch, serve
    except ImportError:
        return {}
    ready: dict[str, float] = {}
    for base in serve(url):
        for browser in launch():
            for path in PAGES:
                page = browser.new_page()
                started = time.perf_counter()
                page.goto(base + path)
                try:
                    page.wait_for_selector("#gridmap-panel[data-ready='true']", timeout=60_000)
                    ready[path] = time.perf_counter() - started
                except PlaywrightTimeout:
                    ready[path] = float("inf")  # printed as a miss, not a crash that hides the tile figures
                page.close()
    return ready


def _timed_get(http: httpx.Client, path: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    response = http.get(path)
    took = time.perf_counter() - started
    response.raise_for_status()
    return took, response.content


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_tiles", description=__doc__.split("\n")[0])
    parser.add_argument("--buildings", type=int, default=50_000, help="about how many (default 50000)")
    parser.add_argument("--pages", action=argparse.BooleanOptionalAction, default=True, help="also the map pages")
    parser.add_argument("--sample", type=int, default=500, help="tiles per zoom at most (default 500)")
    parser.add_argument("--peer-sample", type=int, default=100, help="of those, made by the peer (default 100)")
    parser.add_argument("--workers", type=int, default=2, help="gridmap serve --workers (default 2)")
    parser.add_argument("--database", default="gridmap_bench_tiles", help="scratch database (recreated)")
    args = parser.parse_args(argv)

    engine = bench_engine(args.database)
    started = time.perf_counter()
    _load(engine, args.buildings, whole=args.pages)
    loaded = time.perf_counter() - started
    url = engine.url.render_as_string(hide_password=False)
    if APP_ROLE in embedded_roles(url):
        url = with_role(url, APP_ROLE)  # the server runs as the app does
    rng = np.random.default_rng(1)
    rows: list[Row] = []
    notes: list[str] = []
    server, base = _serve(url, args.workers)
    try:
        # One keep-alive connection: every request goes to the same server process, whose cache it warms.
        with httpx.Client(base_url=base, timeout=120) as http:
            for z in ZOOMS:  # the process's first statements (connections, plans) on empty tiles far away
                _timed_get(http, f"/tiles/buildings/{z}/0/0.pbf")
            for z in ZOOMS:
                tiles = _tiles(engine, z, args.sample, rng)
                cold, warm, sizes = [], [], []
                for _, x, y in tiles:
                    took, body = _timed_get(http, f"/tiles/buildings/{z}/{x}/{y}.pbf")
                    cold.append(took)
                    sizes.append(len(body))
                for _, x, y in tiles:
                    warm.append(_timed_get(http, f"/tiles/buildings/{z}/{x}/{y}.pbf")[0])
                picked = [tiles[i] for i in sorted(rng.choice(len(tiles), min(len(tiles), args.peer_sample), False))]
                densest = max(range(len(tiles)), key=sizes.__getitem__)
                if tiles[densest] not in picked:
                    picked.append(tiles[densest])
                peer, peer_sizes = [], []
                for _, x, y in picked:
                    began = time.perf_counter()
                    peer_sizes.append(len(_peer_tile(engine, z, x, y)))
                    peer.append(time.perf_counter() - began)
                (c50, c99), (w50, w99), (p50, p99) = _percentiles(cold), _percentiles(warm), _percentiles(peer)
                size = f"z{z}, {len(tiles)} tiles"
                rows += [
                    Row("tile p50, cold cache", size, c50 * 1000, PEER, p50 * 1000, "ms"),
                    Row("tile p99, cold cache", size, c99 * 1000, f"(same, {len(picked)} tiles)", p99 * 1000, "ms"),
                    Row("tile p50, warm cache", size, w50 * 1000, "(same)", p50 * 1000, "ms"),
                    Row("tile p99, warm cache", size, w99 * 1000, "(same)", p99 * 1000, "ms"),
                ]
                notes.append(
                    f"z{z}: median tile {statistics.median(sizes) / 1024:.1f} KiB, largest {max(sizes) / 1024:.1f} KiB "
                    f"(peer's largest {max(peer_sizes) / 1024:.1f} KiB); slowest cold {max(cold) * 1000:.0f} ms"
                )
            weights = {path: len(http.get(path).content) for path in PAGES} if args.pages else {}
    finally:
        server.terminate()
        server.wait(timeout=60)
    ready = _pages_in_browser(engine.url.render_as_string(hide_password=False)) if args.pages else {}
    with engine.connect() as conn:
        buildings = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    print_table(
        f"Building tiles over {buildings:,} buildings (loaded in {loaded:.0f} s), through HTTP of gridmap serve "
        f"--workers {args.workers}",
        rows,
        note="\n".join(notes) + "\nTimings on a shared machine are noisy: compare within a run.",
    )
    for path in weights:
        usable = f", usable after {ready[path]:.2f} s in headless Chromium" if path in ready else ""
        if ready.get(path) == float("inf"):
            usable = ", NOT usable within 60 s in headless Chromium"
        console.print(f"{path}: {weights[path] / 1024:.1f} KiB of HTML{usable} (targets: < 2 MB, < 3 s)")
    engine.dispose()


if __name__ == "__main__":
    main()
