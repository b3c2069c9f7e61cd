"""OGC API – Features and Tiles under /ogc on the demo district: documents, paging, CRS, filters, privacy.

Every answer is checked against PostGIS on the same data; GDAL as a client is in test_ogc_gdal.py.
"""

from __future__ import annotations

import math
from typing import Any

import mapbox_vector_tile
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Transformer
from shapely.geometry import box, shape
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.ogc.collections import COLLECTIONS
from tests.samples import buildings_box, report_incident

EPSG4326 = "http://www.opengis.net/def/crs/EPSG/0/4326"
EPSG4490 = "http://www.opengis.net/def/crs/EPSG/0/4490"
EPSG3857 = "http://www.opengis.net/def/crs/EPSG/0/3857"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"


def scalar(session: Session, sql: str, **params: Any) -> Any:
    return session.execute(text(sql), params).scalar_one()


def ids(session: Session, sql: str, **params: Any) -> set[int]:
    return set(session.execute(text(sql), params).scalars())


def problem(response, status: int, where: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["where"] == where and body["detail"]
    return body


def rel(document: dict[str, Any], name: str, media_type: str | None = None) -> str:
    return next(
        link["href"]
        for link in document["links"]
        if link["rel"] == name and (media_type is None or link["type"] == media_type)
    )


def all_items(client: TestClient, url: str) -> list[dict[str, Any]]:
    """Every feature, following `next` links the way a client does."""
    features: list[dict[str, Any]] = []
    while url:
        page = client.get(url).json()
        features += page["features"]
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), "")
    return features


def test_landing_conformance_and_collections(demo_client: TestClient) -> None:
    landing = demo_client.get("/ogc")
    assert landing.status_code == 200 and landing.headers["content-type"].startswith("application/json")
    body = landing.json()
    assert rel(body, "conformance").endswith("/ogc/conformance") and rel(body, "data").endswith("/ogc/collections")
    assert demo_client.get(rel(body, "service-desc")).status_code == 200  # the OpenAPI definition

    conforms = demo_client.get("/ogc/conformance").json()["conformsTo"]
    for part in (
        "features-1/1.0/conf/core",
        "features-1/1.0/conf/geojson",
        "features-2/1.0/conf/crs",
        "tiles-1/1.0/conf/mvt",
    ):
        assert any(part in c for c in conforms), part

    collections = demo_client.get("/ogc/collections").json()["collections"]
    assert [c["id"] for c in collections] == list(COLLECTIONS)
    for required in ("communities", "grids", "buildings", "facilities", "incidents", "catchments"):
        assert required in COLLECTIONS
    grids = next(c for c in collections if c["id"] == "grids")
    assert {CRS84, EPSG4326, EPSG4490, EPSG3857} <= set(grids["crs"]) and grids["storageCrs"] == CRS84
    west, south, east, north = grids["extent"]["spatial"]["bbox"][0]
    assert 73 < west < east < 136 and 3 < south < north < 54
    assert demo_client.get(rel(grids, "items", "application/geo+json")).status_code == 200
    enclosures = [link for link in grids["links"] if link["rel"] == "enclosure"]
    assert {link["type"] for link in enclosures} >= {"application/geopackage+sqlite3", "application/zip"}
    assert demo_client.get(enclosures[0]["href"]).status_code == 200
    incidents = next(c for c in collections if c["id"] == "incidents")
    assert "temporal" in incidents["extent"]


def test_paging_visits_every_feature_once_and_counts_match(demo_client: TestClient, demo_session: Session) -> None:
    for collection, table, where in (
        ("communities", "communities", "TRUE"),
        ("grids", "grids", "plan_id = (SELECT id FROM grid_plans WHERE status = 'published')"),
        ("facilities", "facilities", "TRUE"),
    ):
        expected = ids(demo_session, f"SELECT id FROM {table} WHERE {where}")
        first = demo_client.get(f"/ogc/collections/{collection}/items", params={"limit": 7})
        assert first.status_code == 200 and first.headers["content-type"] == "application/geo+json"
        page = first.json()
        assert page["numberMatched"] == len(expected) and page["numberReturned"] == min(7, len(expected))
        features = all_items(demo_client, f"/ogc/collections/{collection}/items?limit=7")
        assert [f["id"] for f in features] == sorted(expected)
    second = demo_client.get("/ogc/collections/communities/items", params={"limit": 2, "offset": 2}).json()
    assert rel(second, "prev", "application/geo+json") and second["numberReturned"] <= 2


def test_bbox_returns_what_postgis_returns_in_every_bbox_crs(demo_client: TestClient, demo_session: Session) -> None:
    w, s, e, n = buildings_box(demo_session)
    expected = ids(
        demo_session,
        "SELECT id FROM buildings WHERE ST_Intersects(footprint, ST_MakeEnvelope(:w, :s, :e, :n, 4326))",
        w=w, s=s, e=e, n=n,
    )  # fmt: skip
    assert 0 < len(expected) < scalar(demo_session, "SELECT count(*) FROM buildings")
    url = "/ogc/collections/buildings/items?limit=10000"
    assert {f["id"] for f in demo_client.get(f"{url}&bbox={w},{s},{e},{n}").json()["features"]} == expected
    flipped = demo_client.get(f"{url}&bbox={s},{w},{n},{e}&bbox-crs={EPSG4326}").json()  # latitude first
    assert {f["id"] for f in flipped["features"]} == expected
    x0, y0 = Transformer.from_crs(4326, 3857, always_xy=True).transform(w, s)
    x1, y1 = Transformer.from_crs(4326, 3857, always_xy=True).transform(e, n)
    mercator = demo_client.get(f"{url}&bbox={x0},{y0},{x1},{y1}&bbox-crs={EPSG3857}").json()
    assert {f["id"] for f in mercator["features"]} == expected
    problem(demo_client.get(f"{url}&bbox={n},{e},{s},{w}"), 400, "bbox")  # swapped and out of range
    problem(demo_client.get(f"{url}&bbox={w},{s},{e}"), 400, "bbox")
    problem(demo_client.get(f"{url}&bbox={w},{s},{e},{n}&bbox-crs=EPSG:9999"), 400, "bbox-crs")


def test_output_crs_follows_the_authority_axis_order(demo_client: TestClient) -> None:
    url = "/ogc/collections/facilities/items?limit=5"
    plain = demo_client.get(url)
    assert plain.headers["content-crs"] == f"<{CRS84}>"
    reference = {f["id"]: f["geometry"]["coordinates"] for f in plain.json()["features"]}
    latlon = demo_client.get(f"{url}&crs={EPSG4326}")
    assert latlon.headers["content-crs"] == f"<{EPSG4326}>"
    cgcs = demo_client.get(f"{url}&crs={EPSG4490}").json()
    mercator = demo_client.get(f"{url}&crs={EPSG3857}").json()
    to_mercator = Transformer.from_crs(4326, 3857, always_xy=True)
    for f, g, m in zip(latlon.json()["features"], cgcs["features"], mercator["features"], strict=True):
        lon, lat = reference[f["id"]]
        assert f["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-7)
        assert g["geometry"]["coordinates"] == pytest.approx([lat, lon], abs=1e-6)  # CGCS2000 ≈ WGS 84
        assert m["geometry"]["coordinates"] == pytest.approx(list(to_mercator.transform(lon, lat)), abs=0.01)
    one = reference.popitem()
    item = demo_client.get(f"/ogc/collections/facilities/items/{one[0]}", params={"crs": EPSG4326})
    assert item.json()["geometry"]["coordinates"] == pytest.approx(one[1][::-1], abs=1e-7)
    problem(demo_client.get(f"{url}&crs=EPSG:4549"), 400, "crs")


def test_property_filters_and_queryables(demo_client: TestClient, demo_session: Session) -> None:
    community = scalar(demo_session, "SELECT code FROM communities ORDER BY code LIMIT 1")
    expected = ids(
        demo_session,
        """SELECT g.id FROM grids g JOIN communities c ON c.id = g.community_id
           WHERE c.code = :code AND g.plan_id = (SELECT id FROM grid_plans WHERE status = 'published')""",
        code=community,
    )
    found = demo_client.get("/ogc/collections/grids/items", params={"community_code": community, "limit": 1000}).json()
    assert {f["id"] for f in found["features"]} == expected and found["numberMatched"] == len(expected) > 0

    category = scalar(demo_session, "SELECT category FROM facilities ORDER BY id LIMIT 1")
    facilities = demo_client.get("/ogc/collections/facilities/items", params={"category": category, "limit": 1000})
    assert {f["id"] for f in facilities.json()["features"]} == ids(
        demo_session, "SELECT id FROM facilities WHERE category = :c", c=category
    )
    floors = demo_client.get("/ogc/collections/buildings/items", params={"floors": 6, "limit": 10000}).json()
    assert floors["numberMatched"] == scalar(demo_session, "SELECT count(*) FROM buildings WHERE floors = 6")

    problem(demo_client.get("/ogc/collections/buildings/items", params={"floors": "six"}), 400, "floors")
    body = problem(demo_client.get("/ogc/collections/grids/items", params={"colour": "red"}), 400, "colour")
    assert "community_code" in body["detail"]  # says what is accepted

    queryables = demo_client.get("/ogc/collections/grids/queryables")
    assert queryables.headers["content-type"] == "application/schema+json"
    schema = queryables.json()
    assert schema["properties"]["households"] == {"title": "households", "type": "integer"}
    assert schema["properties"]["geometry"]["$ref"].endswith("MultiPolygon.json")
    incidents = demo_client.get("/ogc/collections/incidents/queryables").json()["properties"]
    assert incidents["reported_at"]["format"] == "date-time" and "reporter_contact" not in incidents


def test_grids_of_another_plan(demo_client: TestClient, demo_session: Session) -> None:
    draft = demo_client.post("/api/plans", json={"base": "current", "name": "OGC 测试草案"})
    assert draft.status_code == 201, draft.text
    plan = draft.json()["id"]
    grids = demo_client.get(f"/api/plans/{plan}/grids").json()["features"]
    a, b = next(
        (x, y) for i, x in enumerate(grids) for y in grids[i + 1 :]
        if x["properties"]["community_code"] == y["properties"]["community_code"]
        and shape(x["geometry"]).intersection(shape(y["geometry"])).length > 1e-4
    )  # fmt: skip
    merged = demo_client.post(
        f"/api/plans/{plan}/merge",
        json={"grids": [a["id"], b["id"]]},
        headers={"If-Match": f'"{draft.json()["version"]}"'},
    )
    assert merged.status_code == 200, merged.text
    page = demo_client.get("/ogc/collections/grids/items", params={"plan": plan, "limit": 1}).json()
    assert page["numberMatched"] == scalar(demo_session, "SELECT count(*) FROM grids WHERE plan_id = :p", p=plan)
    assert page["numberMatched"] == len(grids) - 1
    assert "plan=" in rel(page, "next", "application/geo+json")  # paging stays on the plan
    problem(demo_client.get("/ogc/collections/grids/items", params={"plan": 999_999}), 404, "plan")
    problem(demo_client.get("/ogc/collections/communities/items", params={"plan": plan}), 400, "plan")


def test_incidents_by_time_and_without_personal_data(demo_client: TestClient, demo_session: Session) -> None:
    incident = report_incident(
        demo_client, demo_session, description="张三 13800138000 楼道堆物", contact="13800138000"
    )
    start, end = demo_session.execute(text("SELECT min(reported_at), max(reported_at) FROM incidents")).one()
    middle = start + (end - start) / 2
    expected = ids(demo_session, "SELECT id FROM incidents WHERE reported_at >= :t", t=middle)
    url = "/ogc/collections/incidents/items?limit=10000"
    after = demo_client.get(f"{url}&datetime={middle.isoformat().replace('+00:00', 'Z')}/..").json()
    assert {f["id"] for f in after["features"]} == expected and incident in expected
    everything = demo_client.get(url)
    assert "13800138000" not in everything.text and "张三" not in everything.text
    feature = demo_client.get(f"/ogc/collections/incidents/items/{incident}").json()
    assert set(feature["properties"]) == {p.name for p in COLLECTIONS["incidents"].properties}
    assert feature["properties"]["category"] == "sanitation" and feature["properties"]["grid_code"]
    problem(demo_client.get(f"{url}&datetime=yesterday"), 400, "datetime")
    problem(demo_client.get(f"{url}&datetime=2026-02-01T00:00:00Z/2026-01-01T00:00:00Z"), 400, "datetime")
    problem(demo_client.get("/ogc/collections/communities/items?datetime=2026-01-01T00:00:00Z"), 400, "datetime")


def test_catchments_are_computed_per_facility_and_tier(demo_client: TestClient, demo_session: Session) -> None:
    facility = scalar(demo_session, "SELECT id FROM facilities ORDER BY id LIMIT 1")
    tiers = demo_client.get("/ogc/collections/catchments/items", params={"facility_id": facility}).json()
    assert [f["id"] for f in tiers["features"]] == [f"{facility}-5", f"{facility}-10", f"{facility}-15"]
    areas = [shape(f["geometry"]).area for f in tiers["features"]]
    assert 0 < areas[0] <= areas[1] <= areas[2]
    item = demo_client.get(f"/ogc/collections/catchments/items/{facility}-10").json()
    assert item["properties"]["minutes"] == 10 and item["properties"]["facility_id"] == facility
    assert shape(item["geometry"]).equals_exact(shape(tiers["features"][1]["geometry"]), 1e-9)
    problem(demo_client.get(f"/ogc/collections/catchments/items/{facility}-7"), 404, "featureId")

    w, s, e, n = buildings_box(demo_session)
    window = box(w, s, e, n)
    inside = demo_client.get(
        "/ogc/collections/catchments/items", params={"bbox": f"{w},{s},{e},{n}", "minutes": 5, "limit": 1000}
    ).json()
    # Computed on request: at most 20 a page, and a bbox page counts its matches only when it saw them all.
    assert 0 < inside["numberReturned"] <= 20
    if "numberMatched" not in inside:
        assert inside["numberReturned"] == 20 and any(link["rel"] == "next" for link in inside["links"])
    assert all(shape(f["geometry"]).intersects(window) for f in inside["features"])
    assert {f["properties"]["minutes"] for f in inside["features"]} == {5}
    total = demo_client.get("/ogc/collections/catchments/items", params={"limit": 1}).json()["numberMatched"]
    assert total == 3 * scalar(demo_session, "SELECT count(*) FROM facilities")


def test_items_and_collections_as_html(demo_client: TestClient) -> None:
    page = demo_client.get("/ogc/collections/grids/items", params={"f": "html", "limit": 3})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<table>" in page.text and "community_code" in page.text and "<script" not in page.text
    browser = demo_client.get("/ogc/collections", headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.headers["content-type"].startswith("text/html") and "catchments" in browser.text
    assert (
        demo_client.get("/ogc", headers={"Accept": "application/json"})
        .headers["content-type"]
        .startswith("application/json")
    )


def test_unknown_things_are_clear_errors(demo_client: TestClient) -> None:
    body = problem(demo_client.get("/ogc/collections/parks"), 404, "collectionId")
    assert "grids" in body["detail"]
    problem(demo_client.get("/ogc/collections/parks/items"), 404, "collectionId")
    problem(demo_client.get("/ogc/collections/grids/items/999999999"), 404, "featureId")
    problem(demo_client.get("/ogc/collections/grids/items/abc"), 404, "featureId")
    assert demo_client.get("/ogc/collections/grids/items", params={"limit": 0}).status_code in (400, 422)
    # bbox-crs says how to read bbox: without a bbox it is a mistake (README), not silently ignored.
    problem(demo_client.get("/ogc/collections/grids/items", params={"bbox-crs": EPSG4326}), 400, "bbox-crs")
    capped = demo_client.get("/ogc/collections/buildings/items", params={"limit": 10_000_000}).json()
    assert capped["numberReturned"] <= 10_000
    # Integers past int4 (or bigint) match nothing; they are no server error.
    problem(demo_client.get(f"/ogc/collections/grids/items/{2**40}"), 404, "featureId")
    problem(demo_client.get(f"/ogc/collections/grids/items/{2**70}"), 404, "featureId")
    for floors in (2**40, 2**70):
        found = demo_client.get("/ogc/collections/buildings/items", params={"floors": floors})
        assert found.status_code == 200 and found.json()["numberMatched"] == 0
    assert demo_client.get("/ogc/collections/grids/items", params={"offset": 3_000_000_000}).json()["features"] == []


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def test_vector_tiles_of_the_collections(demo_client: TestClient, demo_session: Session) -> None:
    matrix = demo_client.get("/ogc/tileMatrixSets/WebMercatorQuad").json()
    assert matrix["crs"].endswith("3857") and len(matrix["tileMatrices"]) == 23
    assert matrix["tileMatrices"][0]["scaleDenominator"] == pytest.approx(559082264.0287178)
    tilesets = demo_client.get("/ogc/collections/buildings/tiles").json()["tilesets"]
    assert tilesets[0]["dataType"] == "vector"
    tileset = demo_client.get("/ogc/collections/buildings/tiles/WebMercatorQuad").json()
    template = next(link["href"] for link in tileset["links"] if link["rel"] == "item")
    assert template.endswith("/{tileMatrix}/{tileRow}/{tileCol}")

    lon, lat = demo_session.execute(
        text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(footprint)) c FROM buildings) e")
    ).one()
    col, row = tile_of(lon, lat, 16)
    url = template.replace("{tileMatrix}", "16").replace("{tileRow}", str(row)).replace("{tileCol}", str(col))
    tile = demo_client.get(url)
    assert tile.status_code == 200 and tile.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    features = mapbox_vector_tile.decode(tile.content)["buildings"]["features"]
    expected = scalar(
        demo_session,
        """SELECT count(*) FROM buildings
           WHERE ST_Intersects(ST_Transform(footprint, 3857), ST_TileEnvelope(16, :x, :y))""",
        x=col, y=row,
    )  # fmt: skip
    assert len({f["id"] for f in features}) >= expected > 0
    assert demo_client.get(url, headers={"If-None-Match": tile.headers["etag"]}).status_code == 304
    grids = demo_client.get(
        f"/ogc/collections/grids/tiles/WebMercatorQuad/14/{tile_of(lon, lat, 14)[1]}/{tile_of(lon, lat, 14)[0]}"
    )
    assert mapbox_vector_tile.decode(grids.content)["grids"]["features"]
    assert "tiles" not in {
        link["rel"].rsplit("/", 1)[-1] for link in demo_client.get("/ogc/collections/catchments").json()["links"]
    }
    problem(demo_client.get("/ogc/collections/buildings/tiles/WorldCRS84Quad"), 404, "tileMatrixSetId")
    problem(demo_client.get("/ogc/collections/buildings/tiles/WebMercatorQuad/2/9/0"), 404, "tile")
    problem(demo_client.get("/ogc/collections/buildings/tiles/WebMercatorQuad/x/0/0"), 400, "tileMatrix")


def test_every_collection_serves_valid_geometries(demo_client: TestClient) -> None:
    for collection in COLLECTIONS:
        if collection == "catchments":
            continue  # computed: covered above
        page = demo_client.get(f"/ogc/collections/{collection}/items", params={"limit": 20})
        assert page.status_code == 200, (collection, page.text)
        for feature in page.json()["features"]:
            geometry = shape(feature["geometry"])
            assert shapely.is_valid(geometry) and not geometry.is_empty, (collection, feature["id"])
