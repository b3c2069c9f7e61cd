"""Downloads over HTTP on the demo district in PostGIS: each format read back, public fields only, plans."""

from __future__ import annotations

import csv
import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import text
from sqlalchemy.orm import Session

from api.media_types import DOWNLOADS
from gis.exchange.downloads import FORMATS
from gis.exchange.exports import layer_frame
from gis.exchange.files import read_frame
from gis.exchange.load import import_file, import_frame
from gis.layers.catalog import LAYERS, get_layer
from gis.plans.edits import adjacent_grids
from gis.settings import Settings

CONTACT = "13800000000"
# Columns compared between the database and every downloaded file: codes, counts and Chinese text.
COMPARED = {
    "grids": ["code", "community_code", "households"],
    "buildings": ["name", "address", "households", "community_code"],
    "facilities": ["category", "name", "capacity"],
    "communities": ["code", "name"],
    "incidents": ["category", "status", "channel"],
}
TABLES = {"grids": "grids WHERE plan_id = (SELECT id FROM grid_plans WHERE status = 'published')"}


@pytest.fixture
def incidents(demo_session: Session, settings: Settings) -> int:
    """Three incidents with a private reporter contact, inside the demo district's first buildings."""
    points = demo_session.execute(
        text("SELECT ST_AsBinary(ST_PointOnSurface(footprint)) FROM buildings ORDER BY id LIMIT 3")
    ).scalars()
    frame = gpd.GeoDataFrame(
        {
            "category": ["sanitation", "dispute", "sanitation"],
            "description": ["垃圾满溢", "邻里噪音纠纷", "楼道堆物"],
            "channel": ["wechat", "hotline", "patrol"],
            "reporter_contact": [CONTACT] * 3,
        },
        geometry=shapely.from_wkb([bytes(p) for p in points]),
        crs=4326,
    )
    report = import_frame(demo_session, "incidents", frame, settings=settings)
    assert report.imported == 3, report.rejected
    return report.imported


def count(session: Session, layer: str) -> int:
    table = TABLES.get(layer, get_layer(layer).table)
    return session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def fetch(client: TestClient, url: str, **params: Any) -> Response:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response


def saved(response: Response, tmp_path: Path) -> Path:
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    name = disposition.split('filename="')[1].rstrip('"')
    path = tmp_path / name
    path.write_bytes(response.content)
    return path


def read_back(path: Path, fmt: str, layer: str) -> gpd.GeoDataFrame:
    """The file read by pyogrio (Shapefile: from inside the zip), or by the project's own CSV reader."""
    if fmt == "csv":
        return read_frame(path, crs="EPSG:4326")  # a CSV carries no CRS
    if fmt == "shp":
        with zipfile.ZipFile(path) as archive:
            assert sorted(archive.namelist()) == sorted(f"{layer}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg"))
            assert archive.read(f"{layer}.cpg").decode().strip().upper() in ("UTF-8", "UTF8")
        frame = pyogrio.read_dataframe(f"/vsizip/{path}/{layer}.shp")
        return frame.rename(
            columns={f.file_name: f.name for f in LAYERS[layer].fields} | {"comm_code": "community_code"}
        )
    return pyogrio.read_dataframe(path)


def plain(value: Any) -> str:
    """One spelling per value across formats: CSV gives text, GeoJSON integers with gaps come back as floats."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def rows(frame: gpd.GeoDataFrame, columns: list[str]) -> list[tuple[str, ...]]:
    return sorted(tuple(plain(v) for v in row) for row in frame[columns].itertuples(index=False))


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("layer", list(COMPARED))
def test_download_reads_back_with_every_feature_and_attribute(
    demo_session: Session, demo_client: TestClient, incidents: int, tmp_path: Path, layer: str, fmt: str
) -> None:
    response = fetch(demo_client, f"/api/{layer}/download", format=fmt)

    assert response.headers["content-type"].startswith(DOWNLOADS[fmt])
    path = saved(response, tmp_path)
    plan = demo_session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()
    assert path.name == f"gridmap-{layer}{f'-plan{plan}' if layer == 'grids' else ''}{FORMATS[fmt]}"
    frame = read_back(path, fmt, layer)
    assert len(frame) == count(demo_session, layer) > 0
    assert frame.crs is not None and frame.crs.to_epsg() == 4326
    stored = layer_frame(demo_session, layer, public_only=True)
    assert rows(frame, COMPARED[layer]) == rows(stored, COMPARED[layer])
    assert np.allclose(frame.total_bounds, stored.total_bounds, atol=1e-7)
    assert set(frame.geom_type) <= {"Point", "Polygon", "MultiPolygon"}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_incident_downloads_carry_no_private_field(
    demo_client: TestClient, incidents: int, tmp_path: Path, fmt: str
) -> None:
    path = saved(fetch(demo_client, "/api/incidents/download", format=fmt), tmp_path)

    private = {name for f in LAYERS["incidents"].fields if not f.public for name in (f.name, f.file_name)}
    assert private >= {"reporter_contact", "contact", "description", "descr"}
    frame = read_back(path, fmt, "incidents")
    assert len(frame) == incidents and not private & {c.lower() for c in frame.columns}
    contents = [path.read_bytes()]
    if fmt == "shp":
        with zipfile.ZipFile(path) as archive:
            contents = [archive.read(name) for name in archive.namelist()]
    assert not any(CONTACT.encode() in content for content in contents)
    assert not any("邻里噪音纠纷".encode() in content for content in contents)


def test_csv_is_utf8_with_a_byte_order_mark(demo_client: TestClient, tmp_path: Path) -> None:
    content = fetch(demo_client, "/api/buildings/download", format="csv").content

    assert content.startswith(b"\xef\xbb\xbf")  # Excel reads Chinese text only with it
    header, first = content[3:].decode("utf-8").splitlines()[:2]
    assert header.split(",")[-1] == "wkt" and "POLYGON" in first
    points = fetch(demo_client, "/api/facilities/download", format="csv").content
    assert points.decode("utf-8-sig").splitlines()[0].split(",")[-2:] == ["lon", "lat"]


def test_plan_parameter_and_plan_route_give_that_plans_grids(
    demo_session: Session, demo_client: TestClient, tmp_path: Path
) -> None:
    created = demo_client.post("/api/plans", json={"base": "current", "name": "草案"})
    assert created.status_code == 201, created.text
    plan = created.json()
    a, b = adjacent_grids(demo_session, plan["id"])[0]
    merged = demo_client.post(f"/api/plans/{plan['id']}/merge", json={"grids": [a, b]}, headers={"If-Match": '"1"'})
    assert merged.status_code == 200, merged.text
    in_draft = demo_session.execute(
        text("SELECT code FROM grids WHERE plan_id = :p ORDER BY code"), {"p": plan["id"]}
    ).scalars()
    expected = list(in_draft)
    for folder in ("a", "b", "c"):  # the two plan downloads share a file name
        (tmp_path / folder).mkdir()

    by_parameter = saved(fetch(demo_client, "/api/grids/download", plan=plan["id"], format="geojson"), tmp_path / "a")
    by_route = saved(fetch(demo_client, f"/api/plans/{plan['id']}/download", format="geojson"), tmp_path / "b")
    current = read_back(saved(fetch(demo_client, "/api/grids/download"), tmp_path / "c"), "gpkg", "grids")

    assert by_parameter.name == by_route.name == f"gridmap-grids-plan{plan['id']}.geojson"
    for path in (by_parameter, by_route):
        assert sorted(read_back(path, "geojson", "grids")["code"]) == expected
    assert len(current) == len(expected) + 1


@pytest.mark.parametrize(
    ("url", "params", "status", "where"),
    [
        ("/api/grids/download", {"format": "kml"}, 422, "format"),
        ("/api/plans/1/download", {"format": "dxf"}, 422, "format"),
        ("/api/grids/download", {"plan": 999_999}, 404, "plan"),
        ("/api/plans/999999/download", {}, 404, "plan"),
    ],
)
def test_bad_format_and_unknown_plan_are_problems_naming_the_parameter(
    demo_client: TestClient, url: str, params: dict[str, Any], status: int, where: str
) -> None:
    response = demo_client.get(url, params=params)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["where"] == where
    if where == "format":
        assert all(key in body["detail"] for key in FORMATS)


def test_download_routes_leave_the_item_routes_alone(demo_session: Session, demo_client: TestClient) -> None:
    building = demo_session.execute(text("SELECT min(id) FROM buildings")).scalar_one()
    plan = demo_session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()

    assert demo_client.get(f"/api/buildings/{building}").json()["id"] == building
    assert demo_client.get(f"/api/plans/{plan}").json()["id"] == plan
    assert demo_client.get("/api/incidents/download").status_code == 200


@pytest.mark.parametrize("fmt", ["gpkg", "shp", "geojson"])
def test_an_empty_layer_downloads_with_its_crs(demo_client: TestClient, tmp_path: Path, fmt: str) -> None:
    path = saved(fetch(demo_client, "/api/incidents/download", format=fmt), tmp_path)  # the demo has none

    frame = read_back(path, fmt, "incidents")

    assert len(frame) == 0 and frame.crs is not None and frame.crs.to_epsg() == 4326


def test_temporary_files_are_removed_once_sent(demo_client: TestClient) -> None:
    def folders() -> set[Path]:
        return set(Path(tempfile.gettempdir()).glob("gridmap-download-*"))

    before = folders()

    for fmt in FORMATS:
        fetch(demo_client, "/api/communities/download", format=fmt)

    assert folders() <= before


def test_downloaded_grids_import_again_as_a_plan(
    demo_session: Session, demo_client: TestClient, tmp_path: Path, settings: Settings
) -> None:
    path = saved(fetch(demo_client, "/api/grids/download", format="gpkg"), tmp_path)
    downloaded = read_back(path, "gpkg", "grids")

    report = import_file(demo_session, "grids", path, settings=settings)

    assert report.rejected == [] and report.imported == len(downloaded)
    codes = demo_session.execute(
        text("SELECT code FROM grids WHERE plan_id = :p ORDER BY code"), {"p": report.plan_id}
    ).scalars()
    assert list(codes) == sorted(downloaded["code"])
    union = demo_session.execute(
        text("SELECT ST_AsBinary(ST_Union(geom)) FROM grids WHERE plan_id = :p"), {"p": report.plan_id}
    ).scalar_one()
    covered = downloaded.union_all()
    assert shapely.from_wkb(bytes(union)).symmetric_difference(covered).area < 1e-6 * covered.area


def test_csv_download_writes_formula_like_text_as_text(
    demo_session: Session, demo_client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """A public `channel` such as =HYPERLINK(…) must not run as a formula when the CSV is opened in Excel (OWASP)."""
    point = demo_session.execute(
        text("SELECT ST_AsBinary(ST_PointOnSurface(footprint)) FROM buildings ORDER BY id LIMIT 1")
    ).scalar_one()
    formula = '=HYPERLINK("http://x.cn","点")'
    frame = gpd.GeoDataFrame(
        {"category": ["sanitation"], "channel": [formula]}, geometry=[shapely.from_wkb(bytes(point))], crs=4326
    )
    assert import_frame(demo_session, "incidents", frame, settings=settings).imported == 1

    content = fetch(demo_client, "/api/incidents/download", format="csv").content.decode("utf-8-sig")
    geojson = read_back(saved(fetch(demo_client, "/api/incidents/download", format="geojson"), tmp_path), "geojson", "")

    row = next(csv.DictReader(io.StringIO(content, newline="")))
    assert row["channel"] == "'" + formula
    assert row["lon"][0].isdigit() and not row["category"].startswith("'")
    assert list(geojson["channel"]) == [formula]  # other formats carry the text as it is
