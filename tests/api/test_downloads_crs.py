"""Downloads in another coordinate system (`?crs=`) on the demo district: GCJ-02, BD-09, EPSG codes, refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.exchange.exports import layer_frame
from gis.exchange.files import read_frame
from gis.geo.china_offsets import wgs84_to_bd09, wgs84_to_gcj02

GAUSS_KRUGER = 4549  # CGCS2000 Gauss-Krüger zone at 120°E: metres in Ningbo


def fetch(client: TestClient, url: str, **params: Any) -> Response:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response


def saved(response: Response, tmp_path: Path) -> Path:
    name = response.headers["content-disposition"].split('filename="')[1].rstrip('"')
    path = tmp_path / name
    path.write_bytes(response.content)
    return path


def metres(frame: gpd.GeoDataFrame) -> np.ndarray:
    return frame.to_crs(GAUSS_KRUGER).geometry.to_numpy()


def published(session: Session) -> int:
    return session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()


@pytest.mark.parametrize(("system", "forward"), [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_facilities_in_gcj02_and_bd09_are_the_forward_formula_and_import_back(
    demo_session: Session, demo_client: TestClient, tmp_path: Path, system: str, forward: Any
) -> None:
    path = saved(fetch(demo_client, "/api/facilities/download", format="geojson", crs=system), tmp_path)

    stored = layer_frame(demo_session, "facilities", public_only=True)
    written = pyogrio.read_dataframe(path)
    assert path.name == f"gridmap-facilities-{system}.geojson"
    assert len(written) == len(stored) > 0
    x, y = forward(stored.geometry.x.to_numpy(), stored.geometry.y.to_numpy())
    assert np.allclose(written.geometry.x, x, atol=1e-9) and np.allclose(written.geometry.y, y, atol=1e-9)
    back = read_frame(path, crs=system)
    assert shapely.hausdorff_distance(metres(back), metres(stored)).max() < 0.5
    assert list(back["name"]) == list(stored["name"])


def test_grids_of_a_plan_in_gcj02_round_trip_within_half_a_metre(
    demo_session: Session, demo_client: TestClient, tmp_path: Path
) -> None:
    plan = published(demo_session)
    path = saved(fetch(demo_client, f"/api/plans/{plan}/download", format="gpkg", crs="gcj02"), tmp_path)

    stored = layer_frame(demo_session, "grids", plan_id=plan, public_only=True)
    assert path.name == f"gridmap-grids-plan{plan}-gcj02.gpkg"
    assert pyogrio.read_info(path)["crs"] is None  # GCJ-02 has no EPSG code: the file says none
    back = read_frame(path, crs="gcj02")
    assert sorted(back["code"]) == sorted(stored["code"])
    back = back.set_index("code").loc[stored["code"]]
    assert shapely.hausdorff_distance(metres(back), metres(stored)).max() < 0.5


def test_grids_in_a_gauss_kruger_zone_and_csv_points_as_x_y(
    demo_session: Session, demo_client: TestClient, tmp_path: Path
) -> None:
    plan = published(demo_session)
    grids = saved(fetch(demo_client, "/api/grids/download", format="shp", crs="EPSG:4549"), tmp_path)
    points = fetch(demo_client, "/api/facilities/download", format="csv", crs="4549").content.decode("utf-8-sig")

    assert grids.name == f"gridmap-grids-plan{plan}-epsg4549.zip"
    frame = pyogrio.read_dataframe(f"/vsizip/{grids}/grids.shp")
    stored = layer_frame(demo_session, "grids", public_only=True)
    assert frame.crs.to_epsg() == GAUSS_KRUGER
    assert np.allclose(frame.total_bounds, stored.to_crs(GAUSS_KRUGER).total_bounds, atol=1e-3)
    header, first = points.splitlines()[:2]
    assert header.split(",")[-2:] == ["x", "y"]
    easting, northing = map(float, first.split(",")[-2:])
    assert 500_000 < easting < 800_000 and 3_000_000 < northing < 3_500_000


def test_wgs84_is_the_default_and_keeps_the_file_name(demo_client: TestClient, tmp_path: Path) -> None:
    default = saved(fetch(demo_client, "/api/communities/download", format="geojson"), tmp_path)
    named = fetch(demo_client, "/api/communities/download", format="geojson", crs="WGS84")

    assert default.name == "gridmap-communities.geojson"
    assert named.headers["content-disposition"].endswith('filename="gridmap-communities.geojson"')
    assert named.content == default.read_bytes()


@pytest.mark.parametrize(
    ("url", "crs"),
    [
        ("/api/buildings/download", "mars"),
        ("/api/grids/download", "EPSG:4978"),  # geocentric: not a map
        ("/api/plans/1/download", "EPSG:99999"),
        ("/api/facilities/download", ""),
    ],
)
def test_a_bad_crs_is_a_problem_naming_crs(demo_client: TestClient, url: str, crs: str) -> None:
    response = demo_client.get(url, params={"crs": crs, "format": "geojson"})

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["where"] == "crs" and crs in body["detail"]


def test_openapi_documents_the_crs_parameter(demo_client: TestClient) -> None:
    paths = demo_client.get("/openapi.json").json()["paths"]

    for path in ("/api/buildings/download", "/api/grids/download", "/api/plans/{plan_id}/download"):
        (crs,) = [p for p in paths[path]["get"]["parameters"] if p["name"] == "crs"]
        assert crs["in"] == "query" and not crs.get("required", False)
        assert all(name in crs["description"] for name in ("wgs84", "cgcs2000", "gcj02", "bd09", "EPSG:"))
