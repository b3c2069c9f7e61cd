"""Random sequences of base-data changes on the demo district, and what must hold after each (hypothesis):
units tile their community, every current building is in exactly one unit and one grid of every plan, and grid
totals equal the sums over the buildings they hold."""

from __future__ import annotations

import geopandas as gpd
import shapely
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from shapely import affinity
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from gis.exchange.exports import layer_frame
from gis.exchange.load import import_frame
from gis.settings import Settings
from tests.conftest import rolled_back

OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["insert", "update", "reshape", "retire"]), st.integers(0, 10_000)),
    min_size=1,
    max_size=4,
)


def _insert(session: Session, settings: Settings, pick: int) -> None:
    rows = session.execute(
        text("SELECT ST_AsBinary(ST_PointOnSurface(geom)) FROM units WHERE kind = 'open' ORDER BY id")
    ).scalars()
    points = [shapely.from_wkb(r) for r in rows]
    p = points[pick % len(points)]
    footprint = shapely.box(p.x - 0.00004, p.y - 0.00003, p.x + 0.00004, p.y + 0.00003)
    frame = gpd.GeoDataFrame({"code": [f"P-{pick}"], "households": [pick % 90 + 1]}, geometry=[footprint], crs=4326)
    import_frame(session, "buildings", frame, settings=settings)


def _one_building(session: Session, pick: int) -> gpd.GeoDataFrame:
    frame = layer_frame(session, "buildings")
    return frame.iloc[[pick % len(frame)]]


def _update(session: Session, settings: Settings, pick: int) -> None:
    one = _one_building(session, pick).assign(households=pick % 300 + 1)
    import_frame(session, "buildings", one, settings=settings)


def _reshape(session: Session, settings: Settings, pick: int) -> None:
    one = _one_building(session, pick)
    one = one.set_geometry(one.geometry.apply(lambda g: affinity.scale(g, 1.15, 1.1)))
    import_frame(session, "buildings", one, settings=settings)


def _retire(session: Session, settings: Settings, pick: int) -> None:
    one = _one_building(session, pick)
    community = one["community_code"].iloc[0]
    if community is None:
        return
    frame = layer_frame(session, "buildings")
    rest = frame[(frame["community_code"] == community) & (frame["code"] != one["code"].iloc[0])]
    import_frame(session, "buildings", rest, settings=settings, mode="replace", scope={"community": community})


APPLY = {"insert": _insert, "update": _update, "reshape": _reshape, "retire": _retire}


def check_invariants(session: Session) -> None:
    # Units tile each community: their areas add up to the community's, and they do not overlap.
    tiling = session.execute(
        text("""SELECT c.code, ST_Area(c.boundary::geography) AS community,
                       sum(ST_Area(u.geom::geography)) AS units,
                       ST_Area(ST_Union(u.geom)::geography) AS united
                FROM communities c JOIN units u ON u.community_id = c.id GROUP BY c.code, c.boundary""")
    ).all()
    for code, community, units, united in tiling:
        assert abs(units - community) <= 1e-4 * community + 1.0, (code, units, community)
        assert abs(units - united) <= 1e-4 * community + 1.0, (code, "units overlap", units, united)
    # Every current building of a community with units is in a unit, and every unit in one grid of every plan.
    assert (
        session.execute(
            text("""SELECT count(*) FROM buildings b WHERE b.unit_id IS NULL
                    AND EXISTS (SELECT 1 FROM units u WHERE u.community_id = b.community_id)""")
        ).scalar()
        == 0
    )
    unassigned = session.execute(
        text("""SELECT p.id, count(u.id) FROM grid_plans p CROSS JOIN units u
                WHERE p.status IN ('published', 'draft')
                  AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.plan_id = p.id AND a.unit_id = u.id)
                  AND EXISTS (SELECT 1 FROM grids g WHERE g.plan_id = p.id AND g.community_id = u.community_id)
                GROUP BY p.id""")
    ).all()
    assert unassigned == []
    # Grid totals are the sums over the buildings their units hold.
    wrong = session.execute(
        text("""SELECT g.id, g.households, coalesce(s.households, 0)
                FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status IN ('published', 'draft')
                LEFT JOIN (SELECT a.grid_id, sum(b.households) AS households
                           FROM assignments a JOIN buildings b ON b.unit_id = a.unit_id GROUP BY a.grid_id) s
                     ON s.grid_id = g.id
                WHERE g.households <> coalesce(s.households, 0)""")
    ).all()
    assert wrong == []


@hypothesis_settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=OPERATIONS)
def test_every_plan_stays_whole_through_random_changes(
    demo_engine: Engine, settings: Settings, operations: list[tuple[str, int]]
) -> None:
    with rolled_back(demo_engine) as session:
        for kind, pick in operations:
            APPLY[kind](session, settings, pick)
            check_invariants(session)
