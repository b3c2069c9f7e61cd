"""GET /api/reach against the coverage run's own distances on the demo district, and the public map page's
HTML (the page itself runs in tests/browser/test_map_public.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.reach import nearest_facilities
from gis.geo import dataset
from gis.geo.china_offsets import wgs84_to_gcj02
from gis.registry import facility_registry

CATEGORIES = list(facility_registry().categories)
SPEED = 1.2  # the default walking speed, m/s
SNAP_M = 100.0  # the default coverage_snap_m
REACH_KEYS = {"lon", "lat", "on_network", "access_m", "speed_mps", "max_snap_m", "categories"}
CATEGORY_KEYS = {
    "category",
    "category_name_zh",
    "category_name_en",
    "tier",
    "facility",
    "distance_m",
    "minutes",
    "within_tier",
    "path",
}


def walking_start(session: Session, offset: int = 0) -> tuple[int, float, float]:
    """A residential building without an entrance and the point a coverage run walks from (lon, lat)."""
    row = session.execute(
        text(
            """SELECT id, ST_X(p) AS lon, ST_Y(p) AS lat
               FROM (SELECT id, ST_PointOnSurface(footprint) AS p FROM buildings
                     WHERE residential AND entrance IS NULL ORDER BY id OFFSET :o LIMIT 1) b"""
        ),
        {"o": offset},
    ).one()
    return row.id, row.lon, row.lat


def building_reach(session: Session, building_id: int, category: str) -> tuple[float | None, int | None]:
    row = session.execute(
        text("SELECT distance_m, facility_id FROM building_reach WHERE building_id = :b AND category = :c"),
        {"b": building_id, "c": category},
    ).one()
    return row.distance_m, row.facility_id


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


# -- GET /api/reach --------------------------------------------------------------------------------------------


def test_reach_from_a_building_lists_every_category_in_registry_order(
    demo_session: Session, demo_client: TestClient
) -> None:
    _, lon, lat = walking_start(demo_session)
    response = demo_client.get("/api/reach", params={"lon": lon, "lat": lat})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == REACH_KEYS
    assert body["on_network"] is True and 0 <= body["access_m"] <= SNAP_M
    assert body["speed_mps"] == SPEED and body["lon"] == pytest.approx(lon, abs=1e-7)
    assert [c["category"] for c in body["categories"]] == CATEGORIES
    registry = facility_registry().categories
    for item in body["categories"]:
        assert set(item) == CATEGORY_KEYS
        category = registry[item["category"]]
        assert (item["category_name_zh"], item["category_name_en"], item["tier"]) == (
            category.name_zh,
            category.name_en,
            category.tier,
        )
        assert set(item["facility"]) == {"id", "name"} and item["facility"]["name"]
        assert item["distance_m"] > 0
        # Minutes come from the unrounded distance: within rounding of the rounded one.
        assert item["minutes"] == pytest.approx(item["distance_m"] / SPEED / 60, abs=0.051)
        assert item["within_tier"] == (item["distance_m"] <= category.tier * 60 * SPEED + 0.05)
    assert any(item["within_tier"] for item in body["categories"])


def test_reach_at_a_building_gives_its_coverage_distances(demo_session: Session, demo_client: TestClient) -> None:
    """Clicking exactly where a coverage run starts walking from a building gives that building's figures."""
    checked = 0
    for offset in (0, 400, 1500):
        building, lon, lat = walking_start(demo_session, offset=offset)
        exact = nearest_facilities(demo_session, lon, lat, max_snap_m=SNAP_M)
        answer = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
        by_category = {item["category"]: item for item in answer["categories"]}
        for category in ("health_center", "primary_school", "bank", "kindergarten", "convenience_store", "park"):
            distance, facility = building_reach(demo_session, building, category)
            assert distance is not None, (building, category)
            assert exact.nearest[category].facility_id == facility
            assert exact.nearest[category].distance_m == pytest.approx(distance, abs=0.01)
            assert by_category[category]["facility"]["id"] == facility
            assert by_category[category]["distance_m"] == pytest.approx(distance, abs=0.05 + 0.01)  # rounded to 0.1
            checked += 1
    assert checked == 18


def test_reach_with_path_draws_the_walk_along_the_network(demo_session: Session, demo_client: TestClient) -> None:
    """path=true: per category, a GeoJSON LineString from the point over the walking network to the facility, as
    long as the distance it reports; without it, no path."""
    epsg = dataset.metric_epsg(demo_session)
    checked = 0
    for offset in (5, 700):
        _, lon, lat = walking_start(demo_session, offset=offset)
        plain = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
        assert all(item["path"] is None for item in plain["categories"])
        response = demo_client.get("/api/reach", params={"lon": lon, "lat": lat, "path": "true"})
        assert response.status_code == 200, response.text
        body = response.json()
        assert [c["facility"] for c in body["categories"]] == [c["facility"] for c in plain["categories"]]
        for item in body["categories"]:
            if item["facility"] is None:
                assert item["path"] is None
                continue
            path = item["path"]
            assert path["type"] == "LineString" and len(path["coordinates"]) >= 2
            assert path["coordinates"][0] == pytest.approx([lon, lat], abs=1e-7)
            row = demo_session.execute(
                text(
                    """WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:path), 4326), :epsg) AS g)
                       SELECT ST_Length(p.g) AS length,
                              ST_Distance(ST_EndPoint(p.g), ST_Transform(f.geom, :epsg)) AS to_facility,
                              (SELECT bool_and(EXISTS (SELECT 1 FROM walk_edges e
                                                       WHERE ST_DWithin(ST_Transform(e.geom, :epsg), v.geom, 0.05)))
                               FROM ST_DumpPoints(p.g) v WHERE v.path[1] NOT IN (1, ST_NPoints(p.g))) AS on_network
                       FROM p, facilities f WHERE f.id = :facility"""
                ),
                {"path": json.dumps(path), "epsg": epsg, "facility": item["facility"]["id"]},
            ).one()
            assert row.to_facility < 0.05
            # The inner vertices lie on walking edges (only the access legs at both ends leave the network).
            assert row.on_network is not False
            assert row.length == pytest.approx(item["distance_m"], abs=0.3)
            checked += 1
    assert checked >= 30


def test_reach_takes_the_walking_speed_and_other_coordinate_systems(
    demo_session: Session, demo_client: TestClient
) -> None:
    _, lon, lat = walking_start(demo_session, offset=10)
    slow = demo_client.get("/api/reach", params={"lon": lon, "lat": lat, "speed": 1.0}).json()
    assert slow["speed_mps"] == 1.0
    for item in slow["categories"]:
        assert item["minutes"] == pytest.approx(item["distance_m"] / 60, abs=0.051)
    # The same point as an AMap (GCJ-02) user sees it comes back to the same WGS 84 point and answer.
    glon, glat = wgs84_to_gcj02(lon, lat)
    shifted = demo_client.get("/api/reach", params={"lon": glon, "lat": glat, "crs": "gcj02"}).json()
    assert shifted["lon"] == pytest.approx(lon, abs=1e-6) and shifted["lat"] == pytest.approx(lat, abs=1e-6)
    plain = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
    assert [c["facility"] for c in shifted["categories"]] == [c["facility"] for c in plain["categories"]]


def test_reach_far_from_the_network_is_an_answer_not_an_error(demo_session: Session, demo_client: TestClient) -> None:
    east, north = demo_session.execute(
        text("SELECT ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM walk_edges) x")
    ).one()
    # 0.015° of longitude is about 1.45 km at 29.9° N: well beyond the 100 m snap of every network line.
    response = demo_client.get("/api/reach", params={"lon": east + 0.015, "lat": north - 0.005})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["on_network"] is False and body["access_m"] is None
    assert [c["category"] for c in body["categories"]] == CATEGORIES
    for item in body["categories"]:
        assert item["facility"] is None and item["distance_m"] is None and item["minutes"] is None
        assert item["within_tier"] is False


def test_reach_on_an_empty_database_reaches_nothing(client: TestClient) -> None:
    body = client.get("/api/reach", params={"lon": 121.55, "lat": 29.87}).json()
    assert body["on_network"] is False and len(body["categories"]) == len(CATEGORIES)


@pytest.mark.parametrize(
    ("params", "where", "says"),
    [
        ({"lon": 29.87, "lat": 121.55}, "lon/lat", "swapped"),
        ({"lon": 121.55, "lat": 29.87, "crs": "mars"}, "lon/lat", "unknown coordinate system"),
        ({"lon": "nan", "lat": 29.87}, "lon/lat", "not finite"),
        ({"lon": 121.55, "lat": 29.87, "speed": 5}, "query.speed", "less than or equal to 3"),
        ({"lon": 121.55}, "query.lat", "required"),
    ],
)
def test_reach_refuses_bad_input_as_problem_json(
    demo_client: TestClient, params: dict[str, Any], where: str, says: str
) -> None:
    response = demo_client.get("/api/reach", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert says in problem["detail"]
    assert problem.get("where") == where or any(e["where"] == where for e in problem.get("errors", []))


def test_reach_answers_nothing_personal(demo_session: Session, demo_client: TestClient) -> None:
    _, lon, lat = walking_start(demo_session, offset=20)
    body = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
    assert all_keys(body) == REACH_KEYS | CATEGORY_KEYS | {"id", "name"}


# -- the page's HTML -------------------------------------------------------------------------------------------


def test_public_page_is_small_and_embeds_no_layer(demo_client: TestClient) -> None:
    response = demo_client.get("/maps/public")
    assert response.status_code == 200
    page = response.text
    assert len(page.encode()) < 200_000
    assert "const GRIDMAP_PAGE = " in page and '"lang": "zh"' in page
    assert "/static/gridmap/public.js" in page and "/static/gridmap/public.css" in page
    assert "gridmapPublic(map_" in page
    assert '"FeatureCollection"' not in page and '"coordinates"' not in page  # layers are fetched, not embedded
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing from a CDN
    for category in facility_registry().categories.values():
        assert category.name_zh in page
    english = demo_client.get("/maps/public", params={"lang": "en"}).text
    assert '"lang": "en"' in english and "Community life circle" in english and "Kindergarten" in english
    assert demo_client.get("/maps/public", params={"lang": "fr"}).status_code == 422
