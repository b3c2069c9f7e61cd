"""The read API over HTTP against real PostGIS: GeoJSON pages, bbox, paging, problems."""

from __future__ import annotations

import re

import geopandas as gpd
import pytest
import shapely
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from gis.exchange.load import import_frame
from gis.settings import Settings
from tests import samples


@pytest.fixture
def loaded(session: Session, settings: Settings) -> Session:
    import_frame(session, "communities", samples.communities(), settings=settings)
    import_frame(session, "buildings", samples.buildings(12), settings=settings)
    import_frame(session, "facilities", samples.facilities(), settings=settings)
    import_frame(session, "network", samples.streets(), settings=settings)
    import_frame(session, "grids", samples.grids(), settings=settings)
    return session


def test_health_reports_postgis(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok" and "POSTGIS=" in body["postgis"]


def test_communities_are_a_feature_collection(client: TestClient, loaded: Session) -> None:
    response = client.get("/api/communities")
    body = response.json()
    assert response.status_code == 200
    assert body["type"] == "FeatureCollection" and body["numberMatched"] == 2 and body["numberReturned"] == 2
    first = body["features"][0]
    assert first["geometry"]["type"] == "MultiPolygon"
    assert first["properties"] == {"id": first["id"], "code": "330203008001", "name": "华泰社区", "street_code": None}


def test_paging_reports_number_matched(client: TestClient, loaded: Session) -> None:
    pages = [client.get("/api/buildings", params={"limit": 5, "offset": o}).json() for o in (0, 5, 10)]
    assert [p["numberMatched"] for p in pages] == [12, 12, 12]
    assert [p["numberReturned"] for p in pages] == [5, 5, 2]
    ids = [f["id"] for p in pages for f in p["features"]]
    assert len(set(ids)) == 12 and ids == sorted(ids)


def test_bbox_returns_what_intersects_it(client: TestClient, loaded: Session) -> None:
    # Cells 0..2 of the first row only: buildings 1-3.
    west, south = samples.ORIGIN
    bbox = f"{west},{south},{west + samples.STEP * 2.5},{south + samples.STEP * 0.9}"
    body = client.get("/api/buildings", params={"bbox": bbox}).json()
    assert sorted(f["properties"]["name"] for f in body["features"]) == ["1幢", "2幢", "3幢"]
    assert body["numberMatched"] == 3


def test_one_feature_and_a_missing_one(client: TestClient, loaded: Session) -> None:
    some = client.get("/api/facilities").json()["features"][0]
    one = client.get(f"/api/facilities/{some['id']}")
    assert one.status_code == 200 and one.json()["properties"]["category"] == "kindergarten"
    missing = client.get("/api/facilities/999999")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "facilities 999999 does not exist"


def test_grids_default_to_the_current_plan(client: TestClient, loaded: Session, settings: Settings) -> None:
    second = import_frame(loaded, "grids", samples.grids().iloc[:2], source="newer", settings=settings)
    body = client.get("/api/grids").json()
    assert body["numberMatched"] == 2 and {f["properties"]["plan_id"] for f in body["features"]} == {second.plan_id}
    older = client.get("/api/grids", params={"plan": second.plan_id - 1}).json()
    assert older["numberMatched"] == 4
    assert client.get("/api/grids", params={"plan": 424242}).status_code == 404


def test_large_ids_and_offsets_are_answers_not_errors(client: TestClient, loaded: Session) -> None:
    """Bound as bigint (or matching nothing beyond it), never cast to a column's int4 and failing there."""
    assert client.get("/api/grids/3000000000").status_code == 404
    assert client.get(f"/api/buildings/{2**70}").status_code == 404
    page = client.get("/api/buildings", params={"offset": 3_000_000_000}).json()
    assert page["numberMatched"] == 12 and page["features"] == []
    assert client.get("/api/grids", params={"plan": 2**70}).status_code == 404


@pytest.mark.parametrize(
    ("bbox", "message"),
    [
        ("1,2,3", "expected 4 numbers"),
        ("a,b,c,d", "not four numbers"),
        ("29.86,121.54,29.88,121.56", "swapped"),
        ("121.56,29.86,121.54,29.88", "west > east"),
    ],
)
def test_bad_bbox_is_a_422_problem_naming_the_parameter(client: TestClient, bbox: str, message: str) -> None:
    response = client.get("/api/buildings", params={"bbox": bbox})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["where"] == "bbox" and message in body["detail"]


def test_invalid_paging_is_a_422_problem(client: TestClient) -> None:
    response = client.get("/api/buildings", params={"limit": 0, "offset": -1})
    body = response.json()
    assert response.status_code == 422
    assert {e["where"] for e in body["errors"]} == {"query.limit", "query.offset"}


def test_personal_fields_are_not_on_the_read_api(client: TestClient, loaded: Session, settings: Settings) -> None:
    import_frame(
        loaded,
        "incidents",
        gpd.GeoDataFrame(
            {"category": ["sanitation"], "reporter_contact": ["13800000000"]},
            geometry=[shapely.Point(samples.ORIGIN[0] + 0.0001, samples.ORIGIN[1] + 0.0001)],
            crs=4326,
        ),
        settings=settings,
    )
    public = client.anonymous
    listed = public.get("/api/incidents")
    assert listed.status_code == 200 and listed.json()["numberMatched"] == 1
    assert "13800000000" not in listed.text and "reporter_contact" not in listed.text
    assert public.get("/api/users").status_code == 401  # accounts are for admins only


def test_openapi_docs_are_served(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    assert {"/api/communities", "/api/grids", "/api/buildings", "/api/facilities"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def test_overview_page_loads_everything_from_the_app(client: TestClient, loaded: Session) -> None:
    html = client.get("/maps/overview").text
    external = [u for u in re.findall(r"""(?:src|href)=["']([^"']+)""", html) if not u.startswith(("/", "data:"))]
    assert external == []
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)""", html)
    assert any("leaflet.js" in a for a in assets)
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_overview_script_runs_after_the_map_exists(client: TestClient, loaded: Session) -> None:
    html = client.get("/maps/overview").text
    created = re.search(r"var (map_\w+) = L\.map\(", html)
    assert created is not None
    assert html.index(f"gridmapOverview({created.group(1)});") > created.start()
