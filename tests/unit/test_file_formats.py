"""Files without a database: XLSX sheets and attribute tables, CAD drawings (DXF), layers in GCJ-02 / BD-09."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely

from data.demo import generate_district
from gis.errors import FileRejected, InvalidInput
from gis.exchange.exports import in_system, output_system
from gis.exchange.files import NAMED_CRS, OFFSET_SYSTEMS, read_frame, read_table, wgs84_to_offset, write_frame
from gis.geo.china_offsets import gcj02_to_wgs84, wgs84_to_gcj02
from gis.geo.coordinates import SYSTEMS

GAUSS_KRUGER = 4549  # CGCS2000 Gauss-Krüger, central meridian 120°E: metres around Ningbo (121.55°E)
X, Y = 640_000.0, 3_305_000.0  # a point of Haishu, Ningbo, in EPSG:4549


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


# -- XLSX and attribute tables ---------------------------------------------------------------------


def test_xlsx_points_from_chinese_lon_lat_columns_with_codes_as_text(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "facilities.xlsx",
        {
            "设施": [
                ["code", "名称", "经度", "纬度", "capacity"],
                [110101001001, "阳光幼儿园", 121.55, 29.87, 180],  # a code typed as a number
                ["110101001002", "社区卫生服务站", "121.56", "29.88", None],  # ... and as text
                [110101001003.0, None, 121.57, 29.89, 2.5],
            ]
        },
    )

    frame = read_frame(path, crs="EPSG:4326")

    assert list(frame["code"]) == ["110101001001", "110101001002", "110101001003"]
    assert list(frame["名称"]) == ["阳光幼儿园", "社区卫生服务站", None]
    assert list(frame["capacity"]) == ["180", None, "2.5"]
    assert frame.crs.to_epsg() == 4326
    assert [(p.x, p.y) for p in frame.geometry] == [(121.55, 29.87), (121.56, 29.88), (121.57, 29.89)]


def test_xlsx_sheet_by_name_with_wkt_and_unknown_sheet_refused(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "book.xlsx",
        {
            "说明": [["这本表的第一张是说明"]],
            "网格 #2": [
                ["code", "wkt"],
                ["330203008001", "POLYGON ((121.55 29.87, 121.56 29.87, 121.56 29.88, 121.55 29.87))"],
            ],
        },
    )

    frame = read_frame(f"{path}#网格 #2", crs="wgs84")

    assert list(frame["code"]) == ["330203008001"] and frame.geometry.iloc[0].geom_type == "Polygon"
    with pytest.raises(FileRejected, match="no sheet 'grids'; the sheets are 说明, 网格 #2"):
        read_frame(f"{path}#grids", crs="wgs84")
    with pytest.raises(FileRejected, match="an XLSX sheet needs a WKT column") as refused:  # the first sheet
        read_frame(path, crs="wgs84")
    assert refused.value.where == "columns"


def test_read_table_keeps_codes_as_text_and_chinese_headers(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["code", "户数", " population_resident ", "流动人口"],
        [110101001001, 120, 310, None],
        ["011010100100", 95.0, None, 12],  # a leading zero survives only as text; 95.0 is a whole number
    ]
    xlsx = workbook(tmp_path / "户籍.xlsx", {"Sheet1": rows})
    csv = tmp_path / "户籍.csv"
    pd.DataFrame(rows[1:], columns=rows[0]).astype(object).to_csv(csv, index=False, encoding="utf-8-sig")

    for table in (read_table(xlsx), read_table(f"{xlsx}#Sheet1")):
        assert list(table.columns) == ["code", "户数", "population_resident", "流动人口"]
        assert table.to_dict("records") == [
            {"code": "110101001001", "户数": "120", "population_resident": "310", "流动人口": None},
            {"code": "011010100100", "户数": "95", "population_resident": None, "流动人口": "12"},
        ]
    from_csv = read_table(csv)
    assert list(from_csv["code"]) == ["110101001001", "011010100100"]
    assert "geometry" not in from_csv and list(from_csv.columns)[1] == "户数"
    assert list(read_table(xlsx, rows=0).columns) == ["code", "户数", "population_resident", "流动人口"]


def test_read_table_reads_a_csv_excel_saved_in_gbk(tmp_path: Path) -> None:
    path = tmp_path / "register.csv"
    path.write_bytes("编码,户数,小区\r\n330203008001,120,华泰小区\r\n".encode("gbk"))

    table = read_table(path)

    assert table.to_dict("records") == [{"编码": "330203008001", "户数": "120", "小区": "华泰小区"}]


def test_read_table_refuses_files_that_are_not_tables(tmp_path: Path) -> None:
    path = tmp_path / "a.geojson"
    gpd.GeoDataFrame({"code": ["1"]}, geometry=[shapely.Point(121.55, 29.87)], crs=4326).to_file(path)
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a workbook")

    with pytest.raises(FileRejected, match=r"must be a \.csv or \.xlsx"):
        read_table(path)
    with pytest.raises(FileRejected, match="cannot read the workbook") as refused:
        read_table(broken)
    assert refused.value.where == "path"


def test_xlsx_export_reads_back_and_keeps_formula_text_as_text(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {
            "code": ["330203008001", "330203008002"],
            "households": pd.array([320, None], dtype="Int64"),
            "name": ['=HYPERLINK("http://x.cn","点")', "华泰社区"],
        },
        geometry=[shapely.box(121.55, 29.87, 121.56, 29.88), shapely.box(121.56, 29.87, 121.57, 29.88)],
        crs=4326,
    )

    path = write_frame(frame, tmp_path / "grids.xlsx", layer="grids")

    sheet = openpyxl.load_workbook(path).active
    assert sheet.title == "grids"
    cells = {c.value: c for c in sheet[2]}
    assert cells['=HYPERLINK("http://x.cn","点")'].data_type == "s"  # a string, never a formula
    assert cells[320].data_type == "n"  # numbers stay numbers
    back = read_frame(path, crs="EPSG:4326")
    assert list(back["code"]) == list(frame["code"]) and list(back["name"]) == list(frame["name"])
    assert list(back["households"]) == ["320", None]
    assert all(shapely.equals_exact(back.geometry.to_numpy(), frame.geometry.to_numpy(), tolerance=1e-9))


def test_points_in_a_projected_crs_go_to_csv_as_x_and_y(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(X, Y)], crs=GAUSS_KRUGER)

    path = write_frame(frame, tmp_path / "points.csv", layer="facilities")

    assert path.read_text(encoding="utf-8-sig").splitlines() == ["name,x,y", f"a,{X:.1f},{Y:.1f}"]
    assert read_frame(path, crs=f"EPSG:{GAUSS_KRUGER}").geometry.iloc[0].equals(shapely.Point(X, Y))


# -- DXF -------------------------------------------------------------------------------------------

Tags = list[tuple[int, object]]


def polyline(handle: str, layer: str, points: list[tuple[float, float]], *, closed: bool, paper: bool = False) -> Tags:
    tags: Tags = [(0, "LWPOLYLINE"), (5, handle), (100, "AcDbEntity")]
    tags += [(67, 1)] if paper else []
    tags += [(8, layer), (100, "AcDbPolyline"), (90, len(points)), (70, 1 if closed else 0)]
    for x, y in points:
        tags += [(10, x), (20, y)]
    return tags


def label(handle: str, layer: str, x: float, y: float, text: str) -> Tags:
    head: Tags = [(0, "TEXT"), (5, handle), (100, "AcDbEntity"), (8, layer), (100, "AcDbText")]
    return [*head, (10, x), (20, y), (30, 0.0), (40, 2.5), (1, text)]


def line(handle: str, layer: str, a: tuple[float, float], b: tuple[float, float]) -> Tags:
    head: Tags = [(0, "LINE"), (5, handle), (100, "AcDbEntity"), (8, layer), (100, "AcDbLine")]
    return [*head, (10, a[0]), (20, a[1]), (30, 0.0), (11, b[0]), (21, b[1]), (31, 0.0)]


def box(x: float, y: float, w: float, h: float) -> list[tuple[float, float]]:
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def drawing(path: Path, *, version: str = "AC1032", codepage: str = "ANSI_936", encoding: str = "utf-8") -> Path:
    """A minimal ASCII DXF as AutoCAD writes it in China (AutoCAD 2018: UTF-8, yet $DWGCODEPAGE ANSI_936)."""
    entities: list[Tags] = [
        polyline("1A", "小区", box(X, Y, 50, 40), closed=True),  # flagged closed
        polyline("1B", "小区", [*box(X + 100, Y, 60, 30), (X + 100, Y)], closed=False),  # closed by its last vertex
        polyline("1C", "道路", [(X, Y - 10), (X + 200, Y - 10)], closed=False),
        line("1D", "道路", (X, Y - 20), (X + 200, Y - 20)),
        label("1E", "注记", X + 10, Y + 10, "阳光小区"),
        polyline("1F", "图框", box(0, 0, 420, 297), closed=True, paper=True),  # a sheet frame in paper space
    ]
    header: Tags = [(0, "SECTION"), (2, "HEADER"), (9, "$ACADVER"), (1, version), (9, "$DWGCODEPAGE"), (3, codepage)]
    tags: Tags = [*header, (0, "ENDSEC"), (0, "SECTION"), (2, "ENTITIES")]
    tags += [tag for entity in entities for tag in entity] + [(0, "ENDSEC"), (0, "EOF")]
    path.write_text("".join(f"{code}\n{value}\n" for code, value in tags), encoding=encoding, newline="\r\n")
    return path


@pytest.mark.parametrize(
    ("version", "codepage", "encoding"), [("AC1032", "ANSI_936", "utf-8"), ("AC1015", "ANSI_936", "gbk")]
)
def test_dxf_closed_polylines_become_polygons_with_layer_handle_and_text(
    tmp_path: Path, version: str, codepage: str, encoding: str
) -> None:
    path = drawing(tmp_path / "小区.dxf", version=version, codepage=codepage, encoding=encoding)

    frame = read_frame(path, crs="EPSG:4549")

    assert frame.crs.to_epsg() == GAUSS_KRUGER
    assert list(frame.columns) == ["Layer", "EntityHandle", "Text", "geometry"]
    assert list(frame["EntityHandle"]) == ["1A", "1B", "1C", "1D", "1E"]  # not the paper-space frame 1F
    assert list(frame["Layer"]) == ["小区", "小区", "道路", "道路", "注记"]  # Chinese names decoded either way
    assert list(frame["Text"]) == [None, None, None, None, "阳光小区"]
    assert list(frame.geom_type) == ["Polygon", "Polygon", "LineString", "LineString", "Point"]
    assert not frame.has_z.any()
    assert frame.geometry.iloc[0].equals(shapely.Polygon(box(X, Y, 50, 40)))
    assert frame.geometry.iloc[1].area == pytest.approx(60 * 30)


def test_dxf_one_cad_layer_by_name(tmp_path: Path) -> None:
    path = drawing(tmp_path / "plan.dxf")

    compounds = read_frame(f"{path}#小区", crs="EPSG:4549")

    assert list(compounds["EntityHandle"]) == ["1A", "1B"] and (compounds.geom_type == "Polygon").all()
    with pytest.raises(FileRejected, match="no entities on CAD layer '楼栋'; the layers are 小区, 注记, 道路"):
        read_frame(f"{path}#楼栋", crs="EPSG:4549")


def test_dxf_without_crs_is_refused_naming_crs(tmp_path: Path) -> None:
    path = drawing(tmp_path / "plan.dxf")

    with pytest.raises(FileRejected) as refused:
        read_frame(path)

    assert refused.value.where == "crs"
    assert "DXF files carry no coordinate system: give --crs, e.g. EPSG:4549" in refused.value.detail


def test_dxf_is_read_not_written(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(X, Y)], crs=GAUSS_KRUGER)

    with pytest.raises(FileRejected, match="DXF is read, not written"):
        write_frame(frame, tmp_path / "out.dxf", layer="facilities")


# -- GCJ-02 and BD-09 ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def polygons() -> gpd.GeoDataFrame:
    """Grids, communities and building footprints of the demo district (Haishu, Ningbo), in WGS 84."""
    district = generate_district()
    layers = [district.grids, district.communities, district.buildings.iloc[::10]]
    return gpd.GeoDataFrame(
        {"code": [str(i) for i in range(sum(map(len, layers)))]},
        geometry=np.concatenate([layer.geometry.to_numpy() for layer in layers]),
        crs=4326,
    )


def metres(frame: gpd.GeoDataFrame) -> np.ndarray:
    return frame.to_crs(GAUSS_KRUGER).geometry.to_numpy()


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
@pytest.mark.parametrize("suffix", [".gpkg", ".geojson", ".csv", ".xlsx"])
def test_wgs84_to_offset_file_and_back_within_half_a_metre(
    polygons: gpd.GeoDataFrame, tmp_path: Path, system: str, suffix: str
) -> None:
    path = write_frame(in_system(polygons, system), tmp_path / f"grids{suffix}", layer="grids")

    back = read_frame(path, crs=system)

    assert back.crs.to_epsg() == 4326 and list(back["code"]) == list(polygons["code"])
    shifted = shapely.hausdorff_distance(metres(in_system(polygons, system).set_crs(4326)), metres(polygons))
    assert (shifted > 300).all() and (shifted < 1_500).all()  # the offsets move Ningbo by 0.5-1.1 km
    assert shapely.hausdorff_distance(metres(back), metres(polygons)).max() < 0.5


def test_gcj02_file_matches_the_published_point_formula(tmp_path: Path) -> None:
    wgs = gpd.GeoDataFrame({"name": ["天一广场"]}, geometry=[shapely.Point(121.5555, 29.8716)], crs=4326)

    gcj = wgs84_to_offset(wgs, "gcj02")
    back = read_frame(write_frame(gcj, tmp_path / "p.geojson", layer="facilities"), crs="GCJ02")

    assert gcj.crs is None  # no EPSG code describes GCJ-02
    assert (gcj.geometry.x.iloc[0], gcj.geometry.y.iloc[0]) == wgs84_to_gcj02(121.5555, 29.8716)
    expected = gcj02_to_wgs84(gcj.geometry.x.iloc[0], gcj.geometry.y.iloc[0])
    assert (back.geometry.x.iloc[0], back.geometry.y.iloc[0]) == pytest.approx(expected, abs=1e-12)


def test_a_gcj02_geopackage_declares_no_crs_so_importing_it_needs_one(
    polygons: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    path = write_frame(in_system(polygons.iloc[:3], "gcj02"), tmp_path / "grids.gpkg", layer="grids")

    with pytest.raises(FileRejected, match="declares no coordinate reference system") as refused:
        read_frame(path)
    assert refused.value.where == "crs"


@pytest.mark.parametrize(("crs", "epsg"), [("cgcs2000", 4490), ("EPSG:4549", 4549), ("4549", 4549), ("WGS84", 4326)])
def test_exports_in_named_and_epsg_systems_land_at_the_same_place(
    polygons: gpd.GeoDataFrame, crs: str, epsg: int
) -> None:
    moved = in_system(polygons, output_system(crs))

    assert moved.crs.to_epsg() == epsg
    assert shapely.hausdorff_distance(metres(moved), metres(polygons)).max() < 0.01


def test_files_know_every_named_coordinate_system() -> None:
    assert sorted(SYSTEMS) == sorted([*OFFSET_SYSTEMS, *NAMED_CRS])


@pytest.mark.parametrize(("crs", "epsg"), [("wgs84", 4326), ("cgcs2000", 4490), ("EPSG:4549", 4549)])
def test_reading_with_a_named_system_declares_its_crs(tmp_path: Path, crs: str, epsg: int) -> None:
    path = tmp_path / "points.csv"
    path.write_text("x,y\n640000,3305000\n")

    assert read_frame(path, crs=crs).crs.to_epsg() == epsg


@pytest.mark.parametrize("crs", ["mars", "EPSG:4978", "EPSG:123456789", "gcj-2"])
def test_unknown_export_systems_are_refused_naming_crs(crs: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        output_system(crs)

    assert refused.value.where == "crs" and type(refused.value) is InvalidInput
