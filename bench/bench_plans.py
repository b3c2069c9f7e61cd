"""Grid edits with validation on one community of ~4,500 buildings and 44 grids (the demo street as one community).

gridmap: one edit through the plan machinery in PostGIS (lock, compute, move units, derive grids, log the
inverse) followed by a full plan validation. Peer: the desktop-GIS way on the same units in memory —
relabel units, `GeoDataFrame.dissolve` them into grids, then check gaps with `geopandas.overlay` and
buildings-in-one-grid with `geopandas.sjoin`.
"""

from __future__ import annotations

import argparse
import statistics
import time

import geopandas as gpd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.common import Row, bench_engine, print_table
from data.demo import generate_district
from gis.db.engine import transaction
from gis.exchange.load import import_frame
from gis.geo import dataset
from gis.plans import edits as grid_edits
from gis.plans import lifecycle as plans
from gis.plans.commands import Command, Merge, Reassign, Split, Undo
from gis.plans.validation import validate_plan
from gis.settings import get_settings


def _load(engine) -> float:
    """The demo street as a single community; returns the seconds spent building units."""
    district = generate_district()
    community = gpd.GeoDataFrame(
        {"code": [district.streets["code"].iloc[0] + "001"], "name": ["白云街道（单社区）"]},
        geometry=[shapely.union_all(district.communities.geometry.to_numpy())],
        crs=4326,
    )
    grids = district.grids.assign(community_code=community["code"].iloc[0])
    with transaction(engine) as session:
        settings = get_settings()
        import_frame(session, "communities", community, settings=settings)
        import_frame(session, "buildings", district.buildings, settings=settings)
        import_frame(session, "network", district.network, settings=settings)
        start = time.perf_counter()
        import_frame(session, "grids", grids, settings=settings)
        return time.perf_counter() - start


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]


def _time_edit(engine, plan_id: int, command: Command, repeat: int) -> list[float]:
    """Edit + validation, each timed and then undone (untimed) so every run starts from the same plan."""
    times = []
    for _ in range(repeat):
        with Session(engine) as session, session.begin():
            version = plans.get_plan(session, plan_id)["version"]
            start = time.perf_counter()
            grid_edits.handle(session, plan_id, command, version=version, actor="bench")
            validate_plan(session, plan_id)
            times.append(time.perf_counter() - start)
            grid_edits.handle(session, plan_id, Undo(), version=version + 1, actor="bench")
    return times


def _peer(engine, moves: dict[int, int], repeat: int) -> list[float]:
    """Relabel, dissolve and validate with geopandas on the same units and buildings."""
    with Session(engine) as session:
        epsg = dataset.metric_epsg(session)
        units = gpd.read_postgis(
            text("""SELECT u.id, a.grid_id, u.households, ST_Transform(u.geom, :e) AS geom FROM units u
                    JOIN assignments a ON a.unit_id = u.id AND a.plan_id = (SELECT max(id) FROM grid_plans)"""),
            session.connection(),
            geom_col="geom",
            params={"e": epsg},
            index_col="id",
        )
        buildings = gpd.read_postgis(
            text("SELECT id, ST_Transform(footprint, :e) AS geom FROM buildings"),
            session.connection(),
            geom_col="geom",
            params={"e": epsg},
        )
        community = gpd.read_postgis(
            text("SELECT code, ST_Transform(boundary, :e) AS geom FROM communities"),
            session.connection(),
            geom_col="geom",
            params={"e": epsg},
        )
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        labelled = units.copy()
        labelled.loc[list(moves), "grid_id"] = list(moves.values())
        grids = labelled.dissolve(by="grid_id", aggfunc={"households": "sum"})
        gpd.overlay(community, grids.reset_index(), how="difference", keep_geom_type=False)
        hits = gpd.sjoin(buildings, grids.reset_index(), predicate="intersects")
        hits.groupby("id").size()
        times.append(time.perf_counter() - start)
    return times


def run(repeat: int = 15) -> tuple[list[Row], float]:
    engine = bench_engine("gridmap_bench_plans")
    unit_seconds = _load(engine)
    with transaction(engine) as session:
        plan_id = plans.create_plan(session, base="current", name="bench", actor="bench")["id"]
        a, b = grid_edits.adjacent_grids(session, plan_id)[0]
        target, west, south, east, north = session.execute(
            text("""
            SELECT id, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM grids
            WHERE plan_id = :p ORDER BY households DESC LIMIT 1"""),
            {"p": plan_id},
        ).one()
        building = session.execute(
            text("""
            SELECT b.id FROM buildings b JOIN assignments x ON x.unit_id = b.unit_id AND x.plan_id = :p
            WHERE x.grid_id = :b ORDER BY b.id LIMIT 1"""),
            {"p": plan_id, "b": b},
        ).scalar_one()
        merge_moves = {
            u: a
            for (u,) in session.execute(
                text("SELECT unit_id FROM assignments WHERE plan_id = :p AND grid_id = :b"), {"p": plan_id, "b": b}
            )
        }
        counts = session.execute(
            text(
                "SELECT (SELECT count(*) FROM buildings), (SELECT count(*) FROM grids "
                "WHERE plan_id = :p), (SELECT count(*) FROM units)"
            ),
            {"p": plan_id},
        ).one()
    middle = (west + east) / 2
    line = shapely.LineString([(middle, south - 1e-3), (middle, north + 1e-3)])
    size = f"{counts[0]:,} buildings, {counts[1]} grids"
    peer = _percentiles(_peer(engine, merge_moves, repeat))
    rows = []
    for command in (Merge((a, b)), Split(target, line), Reassign(a, (building,))):
        kind = command.kind
        p50, p90 = _percentiles(_time_edit(engine, plan_id, command, repeat))
        rows.append(Row(f"{kind} + validation, p50", size, p50 * 1000, "dissolve+overlay+sjoin", peer[0] * 1000, "ms"))
        rows.append(Row(f"{kind} + validation, p90", size, p90 * 1000, "dissolve+overlay+sjoin", peer[1] * 1000, "ms"))
    engine.dispose()
    return rows, unit_seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    rows, unit_seconds = run(args.repeat)
    print_table(
        "Grid edits including validation (target p50 < 200 ms)",
        rows,
        f"units built once for the community in {unit_seconds:.1f} s (enclosed tessellation, at import)",
    )


if __name__ == "__main__":
    main()
