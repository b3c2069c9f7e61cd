"""Keyed imports from the formats offices and map sites use: Excel registers and point lists, CAD drawings, layers
traced on AMap (GCJ-02), and facility categories from OpenStreetMap's vocabulary — against real PostGIS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import FileRejected
from gis.exchange.exports import export_layer, layer_frame
from gis.exchange.files import wgs84_to_offset
from gis.exchange.load import import_file
from gis.settings import Settings
from tests import samples
from tests.unit.test_file_formats import box, polyline, workbook


def test_a_gcj02_export_imports_onto_the_same_rows_unchanged(
    demo_session: Session, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "traced-on-amap.gpkg"
    count = export_layer(demo_session, "buildings", path, crs="gcj02")
    report = import_file(demo_session, "buildings", path, settings=settings, crs="gcj02")
    # Every vertex came back within a centimetre: the same buildings, no new version, nothing re-cut.
    assert (report.inserted, report.updated, report.unchanged) == (0, 0, count)


def test_gcj02_polygons_land_within_half_a_metre(session: Session, settings: Settings, tmp_path: Path) -> None:
    samples.load_town(session, settings)
    town = layer_frame(session, "buildings")[["code", "geometry"]]
    truth = town.set_index("code").geometry
    path = tmp_path / "gcj.geojson"
    wgs84_to_offset(town, "gcj02").set_crs(4326).to_file(path)  # GeoJSON always says WGS 84; --crs tells the truth
    report = import_file(session, "buildings", path, settings=settings, crs="gcj02")
    assert report.updated == 0 and report.unchanged == len(town)
    # and imported fresh elsewhere they land where they are: compare in metres
    session.execute(text("DELETE FROM buildings"))
    report = import_file(session, "buildings", path, settings=settings, crs="gcj02")
    assert report.inserted == len(town)
    stored = layer_frame(session, "buildings").set_index("code").geometry
    metric = 4549
    error = stored.to_crs(metric).hausdorff_distance(truth.to_crs(metric).loc[stored.index])
    assert error.max() < 0.5


def test_an_excel_facility_list_with_osm_categories(session: Session, settings: Settings, tmp_path: Path) -> None:
    samples.load_town(session, settings)
    x, y = samples.buildings().geometry.iloc[0].centroid.coords[0]
    path = workbook(
        tmp_path / "facilities.xlsx",
        {
            "设施": [
                ["编码", "名称", "fclass", "经度", "纬度"],
                ["F-1", "幼儿园", "kindergarten", x, y],
                ["F-2", "取款机", "atm", x + 0.001, y],
                ["F-3", "卫生院", "hospital", x, y + 0.001],
            ]
        },
    )
    report = import_file(session, "facilities", path, settings=settings, crs="EPSG:4326", category_map="osm")
    assert report.inserted == 2
    assert [p.row for p in report.rejected] == [2]
    assert "atm" in report.rejected[0].reason
    stored = dict(session.execute(text("SELECT code, category FROM facilities WHERE code LIKE 'F-%'")).all())
    assert stored == {"F-1": "kindergarten", "F-3": "health_center"}
    again = import_file(session, "facilities", path, settings=settings, crs="EPSG:4326", category_map="osm")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 2)


def test_a_household_register_in_excel_updates_counts(session: Session, settings: Settings, tmp_path: Path) -> None:
    samples.load_town(session, settings)
    code = session.execute(text("SELECT code FROM buildings ORDER BY id LIMIT 1")).scalar_one()
    path = workbook(tmp_path / "register.xlsx", {"户籍": [["标准地址编码", "户数", "流动人口"], [code, 61, 14]]})
    report = import_file(session, "buildings", path, settings=settings, mode="update")
    assert report.updated == 1
    row = session.execute(
        text("SELECT households, population_floating, households_estimated FROM buildings WHERE code = :c"),
        {"c": code},
    ).one()
    assert tuple(row) == (61, 14, False)


def test_a_cad_drawing_of_buildings_needs_its_crs(session: Session, settings: Settings, tmp_path: Path) -> None:
    samples.load_town(session, settings)
    # A compound drawn in CGCS2000 Gauss-Krüger metres, inside the sample town.
    centre = gpd.GeoSeries([samples.buildings().geometry.iloc[0].centroid], crs=4326).to_crs(4549).iloc[0]
    tags = [(0, "SECTION"), (2, "HEADER"), (9, "$ACADVER"), (1, "AC1032"), (0, "ENDSEC")]
    tags += [(0, "SECTION"), (2, "ENTITIES")]
    tags += polyline("A1", "楼栋", box(centre.x + 2, centre.y + 2, 12, 8), closed=True)
    tags += polyline("A2", "楼栋", box(centre.x + 20, centre.y + 2, 12, 8), closed=True)
    tags += [(0, "ENDSEC"), (0, "EOF")]
    path = tmp_path / "compound.dxf"
    path.write_text("".join(f"{code}\n{value}\n" for code, value in tags), encoding="utf-8", newline="\r\n")
    with pytest.raises(FileRejected, match="DXF"):
        import_file(session, "buildings", path, settings=settings)
    report = import_file(session, "buildings", path, settings=settings, crs="EPSG:4549")
    assert report.inserted == 2 and not report.rejected
    areas = session.execute(
        text("SELECT ST_Area(ST_Transform(footprint, 4549)) FROM buildings ORDER BY id DESC LIMIT 2")
    ).scalars()
    assert [round(a) for a in areas] == [96, 96]
