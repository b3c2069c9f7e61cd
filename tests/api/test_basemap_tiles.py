"""The app's own basemap tiles (/tiles/basemap/{z}/{x}/{y}.pbf) over the demo district, decoded with
mapbox-vector-tile and checked against what PostGIS holds."""

from __future__ import annotations

import mapbox_vector_tile
from sqlalchemy import text
from sqlalchemy.orm import Session

from tests.api.test_tiles import tile_of
from tests.conftest import GridmapClient

# Every attribute a basemap feature may carry: names and classes, nothing about people.
PUBLIC_ATTRIBUTES = {"name", "kind", "class", "level"}


def on_a_community_edge(session: Session) -> tuple[float, float]:
    """A point where a community boundary runs along a street: streets, buildings and a boundary around it."""
    return session.execute(
        text("""SELECT ST_X(p), ST_Y(p) FROM (
                  SELECT ST_PointOnSurface(ST_Boundary(boundary)) p FROM communities ORDER BY code LIMIT 1) c""")
    ).one()


def decode(client: GridmapClient, z: int, x: int, y: int) -> dict:
    response = client.anonymous.get(f"/tiles/basemap/{z}/{x}/{y}.pbf")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    return mapbox_vector_tile.decode(response.content) if response.content else {}


def test_a_street_zoom_tile_has_named_streets_buildings_and_boundaries(
    demo_client: GridmapClient, demo_session: Session
) -> None:
    lon, lat = on_a_community_edge(demo_session)
    x, y = tile_of(lon, lat, 16)
    layers = decode(demo_client, 16, x, y)

    assert {"streets", "buildings", "boundaries"} <= set(layers)
    streets = layers["streets"]["features"]
    names = {f["properties"].get("name") for f in streets} - {None}
    stored = set(demo_session.execute(text("SELECT DISTINCT name FROM network_edges WHERE name IS NOT NULL")).scalars())
    assert names and names <= stored  # Chinese street names of the demo district
    assert all(f["properties"]["class"] in ("major", "minor", "path") for f in streets)
    assert layers["buildings"]["features"] and layers["buildings"]["extent"] == 4096
    levels = {f["properties"]["level"] for f in layers["boundaries"]["features"]}
    assert "community" in levels
    community_names = set(demo_session.execute(text("SELECT name FROM communities")).scalars())
    outlined = {
        f["properties"]["name"] for f in layers["boundaries"]["features"] if f["properties"]["level"] == "community"
    }
    assert outlined <= community_names


def test_no_layer_carries_personal_or_household_fields(demo_client: GridmapClient, demo_session: Session) -> None:
    lon, lat = on_a_community_edge(demo_session)
    for z in (12, 14, 16, 18):
        x, y = tile_of(lon, lat, z)
        for name, layer in decode(demo_client, z, x, y).items():
            keys = {key for feature in layer["features"] for key in feature["properties"]}
            assert keys <= PUBLIC_ATTRIBUTES, (z, name, keys)


def test_low_zooms_thin_streets_and_leave_out_buildings(demo_client: GridmapClient, demo_session: Session) -> None:
    lon, lat = on_a_community_edge(demo_session)
    x, y = tile_of(lon, lat, 12)
    layers = decode(demo_client, 12, x, y)
    assert "buildings" not in layers
    assert {f["properties"]["class"] for f in layers["streets"]["features"]} == {"major"}
    x, y = tile_of(lon, lat, 14)
    assert "path" not in {f["properties"]["class"] for f in decode(demo_client, 14, x, y)["streets"]["features"]}
    x, y = tile_of(lon, lat, 15)
    assert "path" in {f["properties"]["class"] for f in decode(demo_client, 15, x, y)["streets"]["features"]}


def test_far_away_and_out_of_range_tiles_are_empty(demo_client: GridmapClient, demo_session: Session) -> None:
    assert decode(demo_client, 16, *tile_of(-30.0, 0.0, 16)) == {}  # the Atlantic
    lon, lat = on_a_community_edge(demo_session)
    assert decode(demo_client, 9, *tile_of(lon, lat, 9)) == {}
    assert decode(demo_client, 20, *tile_of(lon, lat, 20)) == {}


def test_basemap_tiles_are_public_and_cacheable(demo_client: GridmapClient, demo_session: Session) -> None:
    x, y = tile_of(*on_a_community_edge(demo_session), 15)
    first = demo_client.anonymous.get(f"/tiles/basemap/15/{x}/{y}.pbf")
    assert first.status_code == 200 and first.content
    assert "public" in first.headers["cache-control"] and "max-age" in first.headers["cache-control"]
    again = demo_client.anonymous.get(
        f"/tiles/basemap/15/{x}/{y}.pbf", headers={"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304 and again.content == b""


def test_an_unknown_crs_is_a_problem_naming_it(demo_client: GridmapClient, demo_session: Session) -> None:
    x, y = tile_of(*on_a_community_edge(demo_session), 15)
    response = demo_client.anonymous.get(f"/tiles/basemap/15/{x}/{y}.pbf", params={"crs": "bd09"})
    assert response.status_code == 422 and response.headers["content-type"].startswith("application/problem+json")
    assert "crs" in response.text


def test_water_and_green_areas_are_drawn_with_their_names(demo_client: GridmapClient, demo_session: Session) -> None:
    lon, lat = on_a_community_edge(demo_session)
    demo_session.execute(
        text("""INSERT INTO landcover (source_id, kind, name, geom) VALUES
                ('way/1', 'water', '月湖', ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 0.0008))),
                ('way/2', 'green', NULL,
                 ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(:lon + 0.001, :lat), 4326), 0.0005)))"""),
        {"lon": lon, "lat": lat},
    )
    layers = decode(demo_client, 16, *tile_of(lon, lat, 16))
    assert [f["properties"] for f in layers["water"]["features"]] == [{"name": "月湖"}]
    assert len(layers["green"]["features"]) == 1
    assert {"level": "water", "name": "月湖"} in [f["properties"] for f in layers["places"]["features"]]
