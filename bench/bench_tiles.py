"""Vector-tile latency for buildings at zoom 14-16 over a synthetic city of ~50,000 buildings, and the map pages
on the same city: HTML weight and time until usable in headless Chromium.

gridmap: GET /tiles/buildings/{z}/{x}/{y}.pbf through the app (routing, ST_AsMVT in PostGIS, ETag). Peer: the
same tile made in Python — read the tile's buildings with geopandas.read_postgis, clip and encode with
mapbox-vector-tile. Every tile covering the city is requested at z14 and z15, a sample of 400 at z16.

    python -m bench.bench_tiles [--buildings 50000]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import geopandas as gpd
import mapbox_vector_tile
import numpy as np
import shapely
from fastapi.testclient import TestClient
from sqlalchemy import text

from api.app import create_app
from bench.common import Row, bench_engine, console, print_table
from bench.synthetic_city import synthetic_city
from gis.coverage.runs import run_coverage
from gis.db.engine import transaction
from gis.exchange.load import import_frame
from gis.settings import Settings, get_settings

HALF = 20037508.342789244
PAGES = ("/maps/public", "/maps/planner", "/maps/dispatch")


def _tiles(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int, int]]:
    def xy(lon: float, lat: float) -> tuple[int, int]:
        n = 2**z
        return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)

    (x0, y1), (x1, y0) = xy(bounds[0], bounds[1]), xy(bounds[2], bounds[3])
    return [(z, x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]


def _peer_tile(engine, z: int, x: int, y: int) -> bytes:
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


def _load(engine, n_buildings: int) -> tuple[float, float, float, float]:
    settings = get_settings()
    city = synthetic_city(n_buildings)
    with transaction(engine) as session:
        for layer in ("districts", "streets", "communities", "buildings", "facilities", "network", "grids"):
            import_frame(session, layer, getattr(city, layer), settings=settings)
        run_coverage(session, settings, categories=None, actor="bench")
    return tuple(city.buildings.total_bounds)


def _pages_in_browser(url: str) -> dict[str, float]:
    """Seconds until each page reports itself ready, in headless Chromium (empty if Chromium is missing)."""
    try:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        from tests.browser import launch, serve
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_tiles", description=__doc__.split("\n")[0])
    parser.add_argument("--buildings", type=int, default=50_000)
    args = parser.parse_args(argv)

    engine = bench_engine("gridmap_bench_tiles")
    bounds = _load(engine, args.buildings)
    url = engine.url.render_as_string(hide_password=False)
    rows, notes = [], []
    rng = np.random.default_rng(1)
    with TestClient(create_app(Settings(database_url=url))) as client:
        for z in (14, 15, 16):
            tiles = _tiles(bounds, z)
            if len(tiles) > 400:
                tiles = [tiles[i] for i in sorted(rng.choice(len(tiles), 400, replace=False))]
            ours, peer, sizes = [], [], []
            for z_, x, y in tiles:
                started = time.perf_counter()
                body = client.get(f"/tiles/buildings/{z_}/{x}/{y}.pbf").content
                ours.append(time.perf_counter() - started)
                sizes.append(len(body))
                started = time.perf_counter()
                _peer_tile(engine, z_, x, y)
                peer.append(time.perf_counter() - started)
            (o50, o99), (p50, p99) = _percentiles(ours), _percentiles(peer)
            size = f"z{z}, {len(tiles)} tiles"
            rows += [
                Row(
                    "buildings tile p50", size, o50 * 1000, "read_postgis + mapbox_vector_tile.encode", p50 * 1000, "ms"
                ),
                Row("buildings tile p99", size, o99 * 1000, "(same)", p99 * 1000, "ms"),
            ]
            notes.append(
                f"z{z}: median tile {statistics.median(sizes) / 1024:.1f} KiB, largest {max(sizes) / 1024:.1f} KiB"
            )
        weights = {path: len(client.get(path).content) for path in PAGES}
    ready = _pages_in_browser(url)
    with engine.connect() as conn:
        buildings = conn.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    print_table(f"Vector tiles over {buildings:,} buildings", rows, note="; ".join(notes))
    for path in PAGES:
        usable = f", usable after {ready[path]:.2f} s in headless Chromium" if path in ready else ""
        if ready.get(path) == float("inf"):
            usable = ", NOT usable within 60 s in headless Chromium"
        console.print(f"{path}: {weights[path] / 1024:.1f} KiB of HTML{usable} (targets: < 2 MB, < 3 s)")
    engine.dispose()


if __name__ == "__main__":
    main()
