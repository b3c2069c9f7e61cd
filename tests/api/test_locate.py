"""Locating points against the published plan of the demo district in PostGIS."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient
from pyproj import Geod, Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.schemas.locate import Located
from gis.geo.china_offsets import wgs84_to_bd09, wgs84_to_gcj02
from gis.incidents.workers import assign_worker
from gis.locate.point import locate
from gis.plans import lifecycle as plans

GEOD = Geod(ellps="WGS84")


def inner_point(session: Session) -> tuple[float, float, str]:
    """A building's representative point (well inside a grid) and that grid's code."""
    lon, lat, code = session.execute(
        text("""
        SELECT ST_X(p), ST_Y(p), g.code FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings
                                              ORDER BY id LIMIT 1) b
        JOIN grids g ON ST_Covers(g.geom, b.p)
        JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published'""")
    ).one()
    return lon, lat, code


def test_locate_gives_grid_community_street_and_district(demo_session: Session, demo_client: TestClient) -> None:
    lon, lat, code = inner_point(demo_session)
    body = demo_client.get("/api/locate", params={"lon": lon, "lat": lat}).json()
    assert body["status"] == "inside" and body["distance_m"] == 0 and body["grid"]["code"] == code
    assert body["community"]["code"] == code[6:18]
    assert body["street"]["name"] == "白云街道" and body["district"]["name"] == "海曙区"
    assert body["workers"] == [] and body["plan_id"] > 0
    # The route sends its answer as built (no response validation on the hot path): it must still be the model.
    assert Located.model_validate(body).model_dump(mode="json") == body


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_points_from_chinese_map_apps_land_in_the_same_grid(
    demo_session: Session, demo_client: TestClient, system: str
) -> None:
    lon, lat, code = inner_point(demo_session)
    shifted = (wgs84_to_gcj02 if system == "gcj02" else wgs84_to_bd09)(lon, lat)
    _, _, offset = GEOD.inv(lon, lat, float(shifted[0]), float(shifted[1]))
    assert offset > 100  # unconverted, the point would be in the wrong place
    body = demo_client.get("/api/locate", params={"lon": shifted[0], "lat": shifted[1], "crs": system}).json()
    assert body["grid"]["code"] == code and body["status"] == "inside"


def test_projected_input_in_gauss_kruger(demo_session: Session, demo_client: TestClient) -> None:
    lon, lat, code = inner_point(demo_session)
    x, y = Transformer.from_crs(4326, 4549, always_xy=True).transform(lon, lat)
    body = demo_client.get("/api/locate", params={"lon": x, "lat": y, "crs": "EPSG:4549"}).json()
    assert body["grid"]["code"] == code


def test_shared_edge_goes_to_the_lowest_code(demo_session: Session) -> None:
    lon, lat, codes = _edge_point(demo_session)
    assert len(codes) >= 2
    assert locate(demo_session, lon, lat)["grid"]["code"] == codes[0]


def _edge_point(session: Session) -> tuple[float, float, list[str]]:
    """A vertex on the shared edge of two neighbouring grids of the published plan."""
    rows = session.execute(
        text("""
        SELECT g.code, ST_AsBinary(g.geom) FROM grids g
        JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published' ORDER BY g.code""")
    ).all()
    geoms = [shapely.from_wkb(w) for _, w in rows]
    for i, a in enumerate(geoms):
        for j in range(i + 1, len(geoms)):
            shared = a.boundary.intersection(geoms[j].boundary)
            if shared.length > 0:
                x, y = shapely.get_coordinates(shared)[0]
                covering = [rows[k][0] for k, g in enumerate(geoms) if g.covers(shapely.Point(x, y))]
                return float(x), float(y), sorted(covering)
    raise AssertionError("no neighbouring grids")


def test_snapped_and_outside(demo_session: Session) -> None:
    # Due west of the layout: 20 m and 500 m beyond its west-most point.
    lon0, lat0 = demo_session.execute(
        text("""
        SELECT ST_X(p), ST_Y(p) FROM (SELECT (ST_DumpPoints(ST_Union(geom))).geom p FROM grids g
        JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published') s ORDER BY ST_X(p) LIMIT 1""")
    ).one()
    near_lon, near_lat, _ = GEOD.fwd(lon0, lat0, 270, 20)
    far_lon, far_lat, _ = GEOD.fwd(lon0, lat0, 270, 500)

    near = locate(demo_session, near_lon, near_lat)
    far = locate(demo_session, far_lon, far_lat)

    assert near["status"] == "snapped" and 0 < near["distance_m"] <= 20.5
    assert far["status"] == "outside" and 450 < far["distance_m"] <= 500.5 and far["grid"]["code"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"lon": 29.87, "lat": 121.55}, "swapped"),
        ({"lon": 500, "lat": 29.8}, "out of range"),
        ({"lon": 121.55, "lat": 29.87, "crs": "mars"}, "gcj02"),
        ({"lon": "x", "lat": 29.87}, "lon"),
    ],
)
def test_bad_coordinates_are_422(demo_client: TestClient, params: dict, message: str) -> None:
    response = demo_client.get("/api/locate", params=params)
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"
    assert message in response.text


def test_locate_agrees_with_a_postgis_covers_query_on_random_points(demo_session: Session) -> None:
    west, south, east, north = demo_session.execute(
        text("""
        SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom)::geometry e FROM grids) s""")
    ).one()
    rng = np.random.default_rng(4)
    points = np.column_stack([rng.uniform(west, east, 300), rng.uniform(south, north, 300)])
    for lon, lat in points:
        expected = demo_session.execute(
            text("""
            SELECT g.code FROM grids g JOIN grid_plans pl ON pl.id = g.plan_id AND pl.status = 'published'
            WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(:x, :y), 4326)) ORDER BY g.code LIMIT 1"""),
            {"x": lon, "y": lat},
        ).scalar_one_or_none()
        found = locate(demo_session, float(lon), float(lat))
        if expected is None:
            assert found["status"] in ("snapped", "outside")
        else:
            assert (found["status"], found["grid"]["code"]) == ("inside", expected)


def test_locate_names_the_grid_workers_and_they_follow_the_grid_into_new_plans(demo_session: Session) -> None:
    lon, lat, code = inner_point(demo_session)
    assign_worker(demo_session, "wangfang", code, display_name="王芳")
    assert locate(demo_session, lon, lat)["workers"][0]["name"] == "王芳"

    draft = plans.create_plan(demo_session, base="current", name="下一版", actor="test")
    demo_session.execute(text("UPDATE grid_plans SET status = 'retired' WHERE status = 'published'"))
    demo_session.execute(text("UPDATE grid_plans SET status = 'published' WHERE id = :p"), {"p": draft["id"]})
    found = locate(demo_session, lon, lat)
    assert found["plan_id"] == draft["id"] and [w["name"] for w in found["workers"]] == ["王芳"]
    assert "phone" not in found["workers"][0]
