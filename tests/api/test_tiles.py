"""Vector tiles from PostGIS, decoded with mapbox-vector-tile and checked against PostGIS queries."""

from __future__ import annotations

import math

import mapbox_vector_tile
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo.china_offsets import wgs84_to_gcj02


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def centre(session: Session) -> tuple[float, float]:
    return session.execute(
        text("SELECT ST_X(c), ST_Y(c) FROM (SELECT ST_Centroid(ST_Extent(footprint)) c FROM buildings) e")
    ).one()


def test_building_tiles_hold_what_postgis_finds_in_the_tile(demo_client: TestClient, demo_session: Session) -> None:
    lon, lat = centre(demo_session)
    for z in (14, 15, 16):
        x, y = tile_of(lon, lat, z)
        response = demo_client.get(f"/tiles/buildings/{z}/{x}/{y}.pbf")
        assert response.status_code == 200 and response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
        layer = mapbox_vector_tile.decode(response.content)["buildings"]
        expected = demo_session.execute(
            text("""SELECT count(*) FROM buildings
                    WHERE ST_Intersects(ST_Transform(footprint, 3857), ST_TileEnvelope(:z, :x, :y))"""),
            {"z": z, "x": x, "y": y},
        ).scalar_one()
        ids = {f["id"] for f in layer["features"]}
        assert len(ids) >= expected > 0  # plus those within the tile's buffer
        # Overviews below z16 carry no properties (no page's style reads one there): tests/api/test_tiles_city.py
        properties = set(layer["features"][0]["properties"])
        assert {"households", "residential", "community_code"} <= properties if z >= 16 else not properties
        assert layer["extent"] == 4096


def test_grid_tiles_follow_the_plan_and_carry_codes(demo_client: TestClient, demo_session: Session) -> None:
    lon, lat = centre(demo_session)
    x, y = tile_of(lon, lat, 14)
    features = mapbox_vector_tile.decode(demo_client.get(f"/tiles/grids/14/{x}/{y}.pbf").content)["grids"]["features"]
    plan = demo_session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()
    assert features and all(f["properties"]["plan_id"] == plan and len(f["properties"]["code"]) > 10 for f in features)
    assert demo_client.get(f"/tiles/grids/14/{x}/{y}.pbf", params={"plan": 999_999}).content == b""
    assert demo_client.get(f"/tiles/grids/14/{x}/{y}.pbf", params={"plan": 2**70}).content == b""


def test_tiles_are_cacheable_and_below_min_zoom_empty(demo_client: TestClient, demo_session: Session) -> None:
    lon, lat = centre(demo_session)
    x, y = tile_of(lon, lat, 15)
    first = demo_client.get(f"/tiles/buildings/15/{x}/{y}.pbf")
    assert "max-age" in first.headers["cache-control"]
    again = demo_client.get(f"/tiles/buildings/15/{x}/{y}.pbf", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    x, y = tile_of(lon, lat, 10)
    assert demo_client.get(f"/tiles/buildings/10/{x}/{y}.pbf").content == b""


def test_incident_tiles_carry_no_personal_data(demo_client: TestClient, demo_session: Session) -> None:
    lon, lat = centre(demo_session)
    created = demo_client.post(
        "/api/incidents",
        json={"category": "sanitation", "description": "垃圾", "location": {"lon": lon, "lat": lat},
              "reporter_contact": "13800000000"},
    )  # fmt: skip
    assert created.status_code == 201, created.text
    x, y = tile_of(lon, lat, 15)
    content = demo_client.get(f"/tiles/incidents/15/{x}/{y}.pbf").content
    (feature,) = mapbox_vector_tile.decode(content)["incidents"]["features"]
    assert feature["properties"]["status"] == "reported" and feature["properties"]["overdue"] is False
    assert b"13800000000" not in content


@pytest.mark.parametrize(
    ("path", "status"),
    [("/tiles/roads/15/1/1.pbf", 404), ("/tiles/buildings/23/1/1.pbf", 422), ("/tiles/buildings/3/8/1.pbf", 422)],
)
def test_bad_tile_requests_say_what_is_wrong(demo_client: TestClient, path: str, status: int) -> None:
    response = demo_client.get(path)
    assert response.status_code == status and response.headers["content-type"] == "application/problem+json"


def test_gcj02_tiles_move_features_by_the_gcj02_shift(demo_client: TestClient, demo_session: Session) -> None:
    lon, lat = centre(demo_session)
    glon, glat = wgs84_to_gcj02(lon, lat)
    x, y = tile_of(glon, glat, 16)  # the GCJ-02 tile in which the point is drawn on an AMap basemap
    shifted = mapbox_vector_tile.decode(demo_client.get(f"/tiles/buildings/16/{x}/{y}.pbf?crs=gcj02").content)
    plain = mapbox_vector_tile.decode(demo_client.get(f"/tiles/buildings/16/{x}/{y}.pbf").content)
    assert {f["id"] for f in shifted["buildings"]["features"]} != {
        f["id"] for f in plain.get("buildings", {"features": []})["features"]
    }
    nearest = demo_session.execute(
        text("""SELECT id FROM buildings ORDER BY footprint <-> ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) LIMIT 1"""),
        {"lon": lon, "lat": lat},
    ).scalar_one()
    assert nearest in {f["id"] for f in shifted["buildings"]["features"]}
    assert demo_client.get(f"/tiles/buildings/16/{x}/{y}.pbf?crs=bd09").status_code == 422
