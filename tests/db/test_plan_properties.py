"""Property-based: any sequence of edits on a draft keeps a valid coverage, and undo walks it back exactly."""

from __future__ import annotations

from typing import Any

import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import GridmapError
from gis.plans import edits as grid_edits
from gis.plans import lifecycle as plans
from gis.plans.commands import Command, Merge, Reassign, Redraw, Split, Undo

EDITS = st.lists(
    st.tuples(
        st.sampled_from(["merge", "split", "reassign", "redraw", "undo"]), st.integers(0, 10_000), st.floats(0.1, 0.9)
    ),
    min_size=1,
    max_size=5,
)


def snapshot(session: Session, plan_id: int) -> tuple[Any, ...]:
    assignments = session.execute(
        text("SELECT unit_id, grid_id FROM assignments WHERE plan_id = :p ORDER BY 1"), {"p": plan_id}
    ).all()
    grids = session.execute(
        text("""SELECT id, code, households, buildings, ST_AsBinary(ST_Normalize(geom))
                                    FROM grids WHERE plan_id = :p ORDER BY id"""),
        {"p": plan_id},
    ).all()
    return tuple(assignments), tuple(grids)


def check_coverage(session: Session, plan_id: int, totals: tuple[int, int, float]) -> None:
    """No unit left out, totals kept, no overlap, no gap; grids of one community an exact coverage."""
    units, households, area = totals
    row = session.execute(
        text("""
        SELECT (SELECT count(*) FROM assignments WHERE plan_id = :p),
               (SELECT sum(households) FROM grids WHERE plan_id = :p),
               (SELECT sum(area_m2) FROM grids WHERE plan_id = :p),
               (SELECT count(*) FROM grids g WHERE plan_id = :p
                AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.grid_id = g.id)),
               (SELECT sum(ST_Area(geom)) FROM grids WHERE plan_id = :p),
               (SELECT ST_Area(ST_Union(geom)) FROM grids WHERE plan_id = :p),
               (SELECT ST_Area(ST_Union(boundary)) FROM communities)"""),
        {"p": plan_id},
    ).one()
    assigned, grid_households, grid_area, empty, summed, union, communities = row
    assert assigned == units and grid_households == households and empty == 0
    assert abs(grid_area - area) < 1e-6 * area
    # Communities are tessellated separately: their shared boundaries agree to rounding (~0.02 m² here).
    assert abs(summed - union) < 1e-7 * union  # no overlap
    assert abs(union - communities) < 1e-7 * communities  # no gap
    rows = session.execute(
        text("""
        SELECT min(u.community_id), ST_AsBinary(g.geom) FROM grids g
        JOIN assignments a ON a.grid_id = g.id JOIN units u ON u.id = a.unit_id
        WHERE g.plan_id = :p GROUP BY g.id, g.geom HAVING count(DISTINCT u.community_id) = 1"""),
        {"p": plan_id},
    ).all()
    by_community: dict[int, list[Any]] = {}
    for community, wkb in rows:
        by_community.setdefault(community, []).append(shapely.from_wkb(wkb))
    for geoms in by_community.values():
        assert shapely.coverage_is_valid(geoms)


def pick(session: Session, plan_id: int, seed: int, sql: str) -> Any:
    rows = session.execute(text(sql), {"p": plan_id}).all()
    return rows[seed % len(rows)] if rows else None


def command(session: Session, plan_id: int, kind: str, seed: int, fraction: float) -> Command:
    """The command of `kind` on grids (and a building) picked from the plan by `seed`."""
    if kind == "merge":
        pairs = grid_edits.adjacent_grids(session, plan_id)
        a, b = pairs[seed % len(pairs)]
        return Merge((a, b))
    if kind == "split":
        grid, west, south, east, north = pick(
            session,
            plan_id,
            seed,
            """
            SELECT id, ST_XMin(geom), ST_YMin(geom), ST_XMax(geom), ST_YMax(geom) FROM grids
            WHERE plan_id = :p ORDER BY id""",
        )
        x = west + (east - west) * fraction
        line = shapely.LineString([(x, south - 1e-3), (x, north + 1e-3)])
        return Split(grid, line)
    if kind == "reassign":
        building, grid = pick(
            session,
            plan_id,
            seed,
            """
            SELECT b.id, gb.grid_id FROM buildings b
            JOIN unit_adjacency j ON j.unit_a = b.unit_id
            JOIN assignments ga ON ga.plan_id = :p AND ga.unit_id = j.unit_a
            JOIN assignments gb ON gb.plan_id = :p AND gb.unit_id = j.unit_b
            WHERE ga.grid_id <> gb.grid_id ORDER BY 1, 2""",
        )
        return Reassign(grid, (building,))
    grid, area = pick(
        session,
        plan_id,
        seed,
        """
        SELECT g.id, ST_AsBinary(ST_Buffer(ST_Centroid(g.geom), 0.0008)) FROM grids g WHERE plan_id = :p ORDER BY id""",
    )
    polygon = shapely.from_wkb(area)
    return Redraw(grid, polygon)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(edits=EDITS)
def test_any_sequence_of_edits_keeps_a_valid_coverage_and_undoes_exactly(demo_session: Session, edits) -> None:
    with demo_session.begin_nested() as example:
        plan = plans.create_plan(demo_session, base="current", name="property", actor="hypothesis")
        plan_id, version = plan["id"], plan["version"]
        start = snapshot(demo_session, plan_id)
        totals = demo_session.execute(
            text("""SELECT count(*), sum(u.households), sum(u.area_m2)
                                              FROM units u"""),
        ).one()
        applied = 0
        for kind, seed, fraction in edits:
            before = snapshot(demo_session, plan_id)
            try:
                with demo_session.begin_nested():
                    if kind == "undo":
                        grid_edits.handle(demo_session, plan_id, Undo(), version=version, actor="hypothesis")
                        applied -= 1
                    else:
                        edit = command(demo_session, plan_id, kind, seed, fraction)
                        grid_edits.handle(demo_session, plan_id, edit, version=version, actor="hypothesis")
                        applied += 1
                    version += 1
            except GridmapError:
                assert snapshot(demo_session, plan_id) == before  # a refused edit changes nothing
            check_coverage(demo_session, plan_id, tuple(totals))
        while applied > 0:
            grid_edits.handle(demo_session, plan_id, Undo(), version=version, actor="hypothesis")
            version += 1
            applied -= 1
        assert snapshot(demo_session, plan_id) == start
        example.rollback()
