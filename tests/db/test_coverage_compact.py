"""Coverage kept compactly (issue 18): one row of arrays per category instead of a row per building and category,
figures summed from them in one pass and held by data version, and the per-street batch path giving the very same
distances wherever it runs (in process, a LocalCluster, a loopback dask scheduler) as the whole city at once."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.basedata.batches import batch
from gis.basedata.changes import set_building_values
from gis.coverage import compute, figures, reach_store
from gis.coverage.graph import snap
from gis.coverage.network_store import load_graph
from gis.coverage.runs import run_coverage
from gis.coverage.stats import coverage
from gis.registry import facility_registry
from gis.settings import Settings

# A radius smaller than many walks of the demo district: the parts answer the near ones, the whole graph the rest.
SMALL_RADIUS_M = 300.0


@pytest.fixture
def two_streets(demo_session: Session) -> Session:
    """The demo district (one street) as two: its western communities moved to a second street (rolled back)."""
    street = demo_session.execute(
        text("INSERT INTO streets (code, name) VALUES ('330203999', '西测试街道') RETURNING id")
    ).scalar_one()
    demo_session.execute(
        text("""UPDATE communities SET street_id = :s
                WHERE ST_X(ST_Centroid(boundary)) < (SELECT percentile_cont(0.5) WITHIN GROUP
                                                     (ORDER BY ST_X(ST_Centroid(boundary))) FROM communities)"""),
        {"s": street},
    )
    return demo_session


def stored(session: Session) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """category → (building ids, distance mm, facility ids) as stored."""
    return {
        c: (r.building_ids, r.distance_mm, r.facility_id)  # type: ignore[misc]
        for c, r in reach_store.read_reach(session, with_facilities=True).items()
    }


def test_per_street_parts_give_the_whole_city_distances_wherever_they_run(
    two_streets: Session, settings: Settings, batch_place: str
) -> None:
    demo_session = two_streets
    whole = stored(demo_session)  # the demo's own run: the whole city in one process
    assert len(whole) == len(facility_registry().categories)
    per_street = settings.model_copy(update={"dask_scheduler": batch_place, "coverage_part_radius_m": SMALL_RADIUS_M})
    run_coverage(demo_session, per_street, categories=None, actor="test")
    parts = stored(demo_session)
    for category, (ids, distance, facility) in whole.items():
        got_ids, got_distance, got_facility = parts[category]
        assert np.array_equal(got_ids, ids)
        assert np.array_equal(got_distance, distance), category
        assert np.array_equal(got_facility, facility), category


def test_the_parts_are_streets_and_the_radius_leaves_work_for_the_whole_graph(two_streets: Session) -> None:
    demo_session = two_streets
    graph = load_graph(demo_session)
    buildings = compute._points(demo_session, "buildings")
    facilities = compute._points(demo_session, "facilities")
    building_snap = snap(graph, buildings.geoms, 100.0)
    facility_snap = snap(graph, facilities.geoms, 100.0)
    categories = list(facility_registry().categories)
    category_of = compute._category_index(facilities.category, categories)
    xy = shapely.get_coordinates(buildings.geoms)
    parts = compute.street_parts(
        graph, building_snap, xy, buildings.street, facility_snap, category_of, len(categories), SMALL_RADIUS_M
    )
    streets = demo_session.execute(
        text("SELECT count(DISTINCT c.street_id) FROM buildings b JOIN communities c ON c.id = b.community_id")
    ).scalar_one()
    assert len(parts) >= streets > 1
    assert all(len(p.source) < len(graph.source) for p in parts)  # each holds only the network around its street
    near = [compute.street_reach(p)[0] for p in parts]
    beyond = sum(int((~(d <= SMALL_RADIUS_M)).sum()) for d in near)
    assert beyond > 0  # some nearest facilities lie beyond the radius: measured again on the whole graph


def test_a_run_writes_one_row_per_category_and_the_views_keep_the_old_shape(demo_session: Session) -> None:
    categories = len(facility_registry().categories)
    buildings = demo_session.execute(text("SELECT count(*) FROM buildings")).scalar_one()
    assert demo_session.execute(text("SELECT count(*) FROM coverage_reach")).scalar_one() == categories
    assert demo_session.execute(text("SELECT count(*) FROM coverage_buildings")).scalar_one() == 1
    assert demo_session.execute(text("SELECT count(*) FROM building_reach")).scalar_one() == categories * buildings
    off_network = demo_session.execute(
        text("""SELECT count(*) FROM building_reach r
                JOIN network_access na ON na.feature = 'building' AND na.feature_id = r.building_id
                WHERE na.edge_id IS NULL AND r.distance_m IS NOT NULL""")
    ).scalar_one()
    assert off_network == 0
    # The sentinels stay in the arrays: the views show NULLs.
    low = demo_session.execute(text("SELECT min(d) FROM coverage_reach, unnest(distance_mm) AS d")).scalar_one()
    assert low >= reach_store.NOT_ON_NETWORK
    assert demo_session.execute(text("SELECT count(*) FROM building_reach WHERE distance_m < 0")).scalar_one() == 0


def test_a_partial_run_rewrites_only_its_categories(demo_session: Session, settings: Settings) -> None:
    before = dict(demo_session.execute(text("SELECT category, run_id FROM coverage_reach")).all())
    done = run_coverage(demo_session, settings, categories=["park"], actor="test")
    after = dict(demo_session.execute(text("SELECT category, run_id FROM coverage_reach")).all())
    assert after.pop("park") == done["id"]
    before.pop("park")
    assert after == before
    assert demo_session.execute(text("SELECT count(*) FROM coverage_buildings")).scalar_one() == 2
    # A full run leaves one list of buildings again.
    run_coverage(demo_session, settings, categories=None, actor="test")
    assert demo_session.execute(text("SELECT count(*) FROM coverage_buildings")).scalar_one() == 1


_OLD_PER_CATEGORY = """
    SELECT c.id AS area_id, r.category, count(*) AS buildings,
           count(*) FILTER (WHERE r.distance_m <= :metres) AS buildings_covered,
           coalesce(sum(b.households), 0) AS households,
           coalesce(sum(b.households) FILTER (WHERE r.distance_m <= :metres), 0) AS households_covered
    FROM buildings b LEFT JOIN communities c ON c.id = b.community_id
    JOIN building_reach r ON r.building_id = b.id
    WHERE b.residential GROUP BY c.id, r.category"""


def test_figures_equal_a_group_by_over_the_stored_distances(demo_session: Session) -> None:
    """The one-pass sums give what the SQL over the old table shape gives."""
    for minutes, speed in ((5, 1.2), (10, 1.0), (15, 1.33)):
        table = coverage(demo_session, level="community", minutes=[minutes], speed_mps=speed)
        got = {
            (r["area"]["id"], r["category"]): (
                r["buildings"],
                r["buildings_covered"],
                r["households"],
                r["households_covered"],
            )
            for r in table["rows"]
            if r["category"] != "tier_complete"
        }
        expected = {
            (r.area_id, r.category): (r.buildings, r.buildings_covered, r.households, r.households_covered)
            for r in demo_session.execute(text(_OLD_PER_CATEGORY), {"metres": minutes * 60.0 * speed})
        }
        assert got == expected
        assert any(0 < v[1] < v[0] for v in got.values())  # thresholds that split areas, not all or nothing


def test_cached_figures_follow_a_change_of_households(demo_session: Session, settings: Settings) -> None:
    def park(table: dict[str, Any]) -> dict[str, Any]:
        return next(r for r in table["rows"] if r["category"] == "park" and r["minutes"] == 5)

    first = park(coverage(demo_session, category="park", minutes=[5]))
    assert park(coverage(demo_session, category="park", minutes=[5])) == first  # the kept answer
    home = demo_session.execute(
        text("SELECT id, households FROM buildings WHERE residential AND households > 0 ORDER BY id LIMIT 1")
    ).one()
    with batch(demo_session, kind="edit", layer="buildings", actor="test") as b:
        set_building_values(demo_session, settings, b, {home.id: {"households": home.households + 1000}})
    changed = park(coverage(demo_session, category="park", minutes=[5]))
    assert changed["households"] == first["households"] + 1000


def test_a_new_run_is_read_afresh(demo_session: Session, settings: Settings) -> None:
    key = figures.data_key(demo_session)
    run_coverage(demo_session, settings, categories=["bank"], actor="test")
    assert figures.data_key(demo_session) != key
