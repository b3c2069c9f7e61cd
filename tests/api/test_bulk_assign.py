"""Bulk assignment against the published plan: agrees with PostGIS ST_Covers, takes any coordinate system."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo.china_offsets import wgs84_to_gcj02
from gis.locate.bulk import assign_points


def random_points(session: Session, n: int, seed: int = 11) -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = session.execute(
        text("""
        SELECT ST_XMin(e) - 0.002, ST_YMin(e) - 0.002, ST_XMax(e) + 0.002, ST_YMax(e) + 0.002
        FROM (SELECT ST_Extent(geom)::geometry e FROM grids) s""")
    ).one()
    rng = np.random.default_rng(seed)
    return rng.uniform(west, east, n), rng.uniform(south, north, n)


def test_bulk_agrees_with_a_postgis_covers_join(demo_session: Session) -> None:
    lon, lat = random_points(demo_session, 5_000)
    expected = demo_session.execute(
        text("""
        SELECT t.i, (SELECT g.code FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                     WHERE ST_Covers(g.geom, ST_SetSRID(ST_MakePoint(t.x, t.y), 4326)) ORDER BY g.code LIMIT 1)
        FROM unnest(CAST(:xs AS float8[]), CAST(:ys AS float8[])) WITH ORDINALITY AS t(x, y, i) ORDER BY t.i"""),
        {"xs": lon.tolist(), "ys": lat.tolist()},
    ).all()
    codes = [code for _, code in expected]

    result = assign_points(demo_session, lon, lat)

    inside = result.status == "inside"
    assert inside.sum() == sum(c is not None for c in codes) > 2_000
    assert [c for c, i in zip(result.grid_code, inside, strict=True) if i] == [c for c in codes if c is not None]
    outside = ~inside
    assert outside.sum() > 100 and set(result.status[outside]) <= {"snapped", "outside"}
    assert (result.distance_m[outside] > 0).all() and (result.distance_m[inside] == 0).all()


def test_bulk_endpoint_takes_gcj02(demo_session: Session, demo_client: TestClient) -> None:
    lon, lat = random_points(demo_session, 200, seed=3)
    plain = assign_points(demo_session, lon, lat)
    shifted = np.column_stack(wgs84_to_gcj02(lon, lat))
    body = demo_client.post("/api/incidents/bulk", json={"crs": "gcj02", "points": shifted.tolist()}).json()
    assert [a["grid_code"] for a in body["assignments"]] == list(plain.grid_code)
    assert sum(body["counts"].values()) == 200


def test_bulk_endpoint_refuses_swapped_points(demo_client: TestClient) -> None:
    response = demo_client.post("/api/incidents/bulk", json={"points": [[121.55, 29.87], [29.87, 121.55]]})
    assert response.status_code == 422 and "swapped" in response.json()["detail"]
