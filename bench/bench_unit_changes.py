"""One new building on a community of ~4,500 buildings (the synthetic city's first street as one community, with
its grids published and a draft of them): the incremental unit update against a full rebuild of the community.

gridmap: `place_buildings` (the new unit cut out of the units it stands on, joined to the grid that held its ground
in every plan, adjacency kept) followed by `refresh_plans` (grid polygons and totals of both plans). Peer: what it
took before — `build_community_units`, the full momepy tessellation of the community, now with every plan's
assignments carried over. Each run inserts the building by SQL, is timed, and is rolled back.
"""

from __future__ import annotations

import argparse
import statistics
import time

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from bench.common import Row, bench_engine, print_table
from bench.synthetic_city import synthetic_city
from gis.db.engine import transaction
from gis.exchange.load import import_frame
from gis.geo import dataset
from gis.plans import lifecycle
from gis.plans.unit_changes import place_buildings, refresh_plans
from gis.plans.unit_store import build_community_units
from gis.settings import get_settings

CLEARANCE_M = 12.0  # from any building and from the community boundary: ground a new building can take
SIDE_M = 10.0  # the new building's footprint: a square this wide, on a grid border (the harder case: two grids)


def _load(engine: Engine, buildings: int) -> tuple[int, int]:
    """The city's communities as one community; returns (community id, buildings)."""
    city = synthetic_city(buildings)
    community = gpd.GeoDataFrame(
        {"code": [city.streets["code"].iloc[0] + "001"], "name": ["白云街道（单社区）"]},
        geometry=[shapely.union_all(city.communities.geometry.to_numpy())],
        crs=4326,
    )
    grids = city.grids.assign(community_code=community["code"].iloc[0])
    settings = get_settings()
    with transaction(engine) as session:
        import_frame(session, "communities", community, settings=settings)
        import_frame(session, "buildings", city.buildings, settings=settings)
        import_frame(session, "network", city.network, settings=settings)
        import_frame(session, "grids", grids, settings=settings)  # builds the units and publishes the grids
        lifecycle.create_plan(session, base="current", name="bench", actor="bench")
        return (
            session.execute(text("SELECT id FROM communities")).scalar_one(),
            session.execute(text("SELECT count(*) FROM buildings")).scalar_one(),
        )


def _spots(session: Session, n: int) -> list[shapely.Point]:
    """`n` points (metric) on borders between grids of the published plan, clear of buildings and the boundary."""
    epsg = dataset.metric_epsg(session)
    footprints = shapely.from_wkb(
        session.execute(text("SELECT ST_AsBinary(ST_Transform(footprint, :e)) FROM buildings"), {"e": epsg})
        .scalars()
        .all()
    )
    tree = shapely.STRtree(footprints)
    outline = shapely.from_wkb(
        session.execute(
            text("SELECT ST_AsBinary(ST_Transform(ST_Boundary(ST_Union(boundary)), :e)) FROM communities"), {"e": epsg}
        ).scalar_one()
    )
    borders = session.execute(
        text("""SELECT ST_AsBinary(ST_Transform(ST_CollectionExtract(ST_Intersection(a.geom, b.geom), 2), :e))
                FROM grids a JOIN grids b ON b.plan_id = a.plan_id AND a.id < b.id AND ST_Intersects(a.geom, b.geom)
                JOIN grid_plans p ON p.id = a.plan_id AND p.status = 'published' ORDER BY a.id, b.id"""),
        {"e": epsg},
    ).scalars()
    spots = []
    for wkb in borders:
        line = shapely.from_wkb(wkb)
        for at in np.arange(CLEARANCE_M, line.length, 4.0):
            point = line.interpolate(at)
            if tree.query_nearest(point, return_distance=True)[1].min() >= CLEARANCE_M and (
                point.distance(outline) >= CLEARANCE_M
            ):
                spots.append(point)
                break  # one spot per border: spread over the community
        if len(spots) == n:
            break
    return spots


def _new_building(session: Session, community: int, spot: shapely.Point) -> int:
    half = SIDE_M / 2
    square = shapely.box(spot.x - half + 2, spot.y - half, spot.x + half + 2, spot.y + half)  # off-centre
    return session.execute(
        text("""INSERT INTO buildings (footprint, community_id, households, population_resident)
                VALUES (ST_Multi(ST_Transform(ST_GeomFromWKB(:f, :e), 4326)), :c, 48, 130) RETURNING id"""),
        {"f": shapely.to_wkb(square), "e": dataset.metric_epsg(session), "c": community},
    ).scalar_one()


def _incremental(engine: Engine, community: int, spots: list[shapely.Point]) -> list[float]:
    times = []
    for spot in spots:
        with Session(engine) as session, session.begin():
            building = _new_building(session, community, spot)
            start = time.perf_counter()
            changes = place_buildings(session, [building])
            refresh_plans(session, changes.units, batch_id=None)
            times.append(time.perf_counter() - start)
            assert changes.added == 1, changes
            session.rollback()
    return times


def _rebuild(engine: Engine, community: int, spots: list[shapely.Point]) -> list[float]:
    times = []
    for spot in spots:
        with Session(engine) as session, session.begin():
            _new_building(session, community, spot)
            start = time.perf_counter()
            build_community_units(session, community)
            times.append(time.perf_counter() - start)
            session.rollback()
    return times


def run(buildings: int = 4_500, repeat: int = 10, rebuilds: int = 2) -> list[Row]:
    engine = bench_engine("gridmap_bench_unit_changes")
    community, count = _load(engine, buildings)
    with Session(engine) as session:
        spots = _spots(session, repeat)
        plans = session.execute(text("SELECT count(*) FROM grid_plans")).scalar_one()
    size = f"{count:,} buildings, {plans} plans"
    _incremental(engine, community, spots[:1])  # warm up imports and caches (untimed)
    ours = _incremental(engine, community, spots)
    peer = _rebuild(engine, community, spots[:rebuilds])
    engine.dispose()
    ordered = sorted(ours)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    rebuild = statistics.median(peer)
    return [
        Row("one new building, p50", size, statistics.median(ours), "full rebuild (carry-over)", rebuild),
        Row("one new building, p90", size, p90, "full rebuild (carry-over)", rebuild),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--buildings", type=int, default=4_500, help="about how many, in one community")
    parser.add_argument("--repeat", type=int, default=10, help="new buildings placed (each rolled back)")
    parser.add_argument("--rebuilds", type=int, default=2, help="full rebuilds timed")
    args = parser.parse_args(argv)
    rows = run(args.buildings, args.repeat, args.rebuilds)
    print_table(
        "One new building: incremental units and plans vs a full rebuild of the community (target < 1 s)",
        rows,
        "gridmap: place_buildings + refresh_plans (published plan and a draft); "
        "peer: build_community_units (momepy tessellation, assignments carried over)",
    )


if __name__ == "__main__":
    main()
