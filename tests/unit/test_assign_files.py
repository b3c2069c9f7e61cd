"""The fast assign path without a database: point files through Arrow (gis/exchange/point_files.py) and the grid
locator's nearest search by candidate segments, stored and sent as plain arrays (gis/locate/index.py)."""

from __future__ import annotations

import pickle
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from gis.db.models import STORAGE_SRID
from gis.errors import FileRejected, InvalidInput
from gis.exchange import files
from gis.exchange.point_files import float_column, read_points, text_column, write_points
from gis.geo import crs
from gis.locate import index as grid_locator
from gis.locate.index import GridLocator
from tests.unit.test_grid_locator import METRIC, lattice, random_points, voronoi


def test_the_storage_srid_is_the_models_one() -> None:
    assert crs.STORAGE_SRID == STORAGE_SRID


# -- point files ------------------------------------------------------------------------------------------


def test_csv_columns_pass_through_as_text(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_bytes(
        '\ufeff编号,名称,经度,纬度\n007,"广场, 东门",121.55,29.87\n008,,121.56, 29.88\n'.encode()
    )
    points = read_points(tmp_path / "p.csv")
    assert points.table.column_names == ["编号", "名称", "经度", "纬度"]
    assert points.table.column("编号").to_pylist() == ["007", "008"]  # codes keep their zeros
    assert points.table.column("名称").to_pylist() == ["广场, 东门", None]  # empty cells are null
    assert points.x.tolist() == [121.55, 121.56] and points.y.tolist() == [29.87, 29.88]
    assert points.crs is None  # a CSV declares none


def test_gb18030_csv_and_wkt_points(tmp_path: Path) -> None:
    (tmp_path / "g.csv").write_bytes("名称,wkt\n东门,POINT (121.5 29.8)\n".encode("gb18030"))
    points = read_points(tmp_path / "g.csv")
    assert points.table.column("名称").to_pylist() == ["东门"]
    assert (points.x.tolist(), points.y.tolist()) == ([121.5], [29.8])
    (tmp_path / "line.csv").write_text('wkt\n"LINESTRING (0 0, 1 1)"\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match="every feature must be a point"):
        read_points(tmp_path / "line.csv")


def test_csv_refusals(tmp_path: Path) -> None:
    (tmp_path / "words.csv").write_text("lon,lat\n121.5,north\n", encoding="utf-8")
    with pytest.raises(InvalidInput, match="must hold numbers"):
        read_points(tmp_path / "words.csv")
    (tmp_path / "names.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(FileRejected, match="lon/lat columns"):
        read_points(tmp_path / "names.csv")
    with pytest.raises(FileRejected, match="no such file"):
        read_points(tmp_path / "missing.csv")


def test_written_csv_reads_back_through_the_general_reader(tmp_path: Path) -> None:
    """The CSV conventions of gis.exchange.files: byte-order mark, CRLF, formulas behind a quote (and taken off
    again by its reader), text with commas and quotes quoted."""
    (tmp_path / "p.csv").write_text('note,lon,lat\n=SUM(A1),121.5,29.8\n"say ""hi"", then",121.6,29.9\n', "utf-8")
    points = read_points(tmp_path / "p.csv")
    results = {"grid_code": text_column(np.array(["A1", "B2"], dtype=object), np.array([1, -1]))}
    write_points(points, results, tmp_path / "out.csv", lon=points.x, lat=points.y)
    raw = (tmp_path / "out.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw and b"'=SUM(A1)" in raw
    back = files.read_frame(tmp_path / "out.csv", "EPSG:4326")
    assert back["note"].tolist() == ["=SUM(A1)", 'say "hi", then']
    assert back["grid_code"].tolist() == ["B2", None]
    assert back.geometry.x.tolist() == [121.5, 121.6]


def test_plain_csv_is_written_without_quotes(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("id,lon,lat\n1,121.5,29.8\n", encoding="utf-8")
    points = read_points(tmp_path / "p.csv")
    write_points(
        points, {"distance_m": float_column(np.array([12.25]))}, tmp_path / "o.csv", lon=points.x, lat=points.y
    )
    assert (tmp_path / "o.csv").read_bytes() == b"\xef\xbb\xbfid,lon,lat,distance_m\r\n1,121.5,29.8,12.25\r\n"


def test_result_columns_replace_input_columns_of_the_same_name(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("grid_code,lon,lat\nold,121.5,29.8\n", encoding="utf-8")
    points = read_points(tmp_path / "p.csv")
    write_points(
        points,
        {"grid_code": text_column(np.array(["new"], dtype=object), np.array([0]))},
        tmp_path / "o.csv",
        lon=points.x,
        lat=points.y,
    )
    assert pd.read_csv(tmp_path / "o.csv", encoding="utf-8-sig").columns.tolist() == ["lon", "lat", "grid_code"]


def test_text_columns_dense_or_dictionary() -> None:
    fixed = text_column(np.array(["0101", None, "0303"], dtype=object), np.array([2, 0, -1, 1]))
    assert fixed.to_pylist() == ["0303", "0101", None, None]
    varied = text_column(np.array(["inside", "snapped", "outside"], dtype=object), np.array([0, 2, 1, 0]))
    assert varied.to_pylist() == ["inside", "outside", "snapped", "inside"]


def test_geoparquet_round_trip(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame(
        {"name": ["a", "b"]}, geometry=gpd.points_from_xy([121.5, 121.6], [29.8, 29.9]), crs=4326
    ).to_crs(4549)
    frame.to_parquet(tmp_path / "in.parquet")
    points = read_points(tmp_path / "in.parquet")
    assert points.crs == "EPSG:4549" and points.table.column_names == ["name"]
    np.testing.assert_array_equal(points.x, frame.geometry.x.to_numpy())
    write_points(
        points,
        {"status": text_column(np.array(["inside"], dtype=object), np.array([0, 0]))},
        tmp_path / "o.parquet",
        lon=np.array([121.5, 121.6]),
        lat=np.array([29.8, 29.9]),
    )
    back = gpd.read_parquet(tmp_path / "o.parquet")
    assert back.columns.tolist() == ["name", "status", "geometry"] and back["status"].tolist() == ["inside"] * 2
    assert shapely.get_x(back.geometry.values).tolist() == [121.5, 121.6]
    again = read_points(tmp_path / "o.parquet")
    assert again.crs == "wgs84" and again.y.tolist() == [29.8, 29.9]


def test_plain_parquet_with_lon_lat_columns(tmp_path: Path) -> None:
    pd.DataFrame({"lng": [121.5], "latitude": [29.8], "n": [1]}).to_parquet(tmp_path / "p.parquet")
    points = read_points(tmp_path / "p.parquet")
    assert (points.x.tolist(), points.y.tolist(), points.crs) == ([121.5], [29.8], None)


# -- the locator's nearest search -------------------------------------------------------------------------


@pytest.mark.parametrize("make", [lambda: lattice(12, jitter=0.3), lambda: voronoi(60)], ids=["lattice", "voronoi"])
@pytest.mark.parametrize("cells", [4, 512], ids=["coarse", "fine"])
def test_segment_search_equals_geos_to_the_bit(make, cells: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grids and metres of the candidate-segment search are exactly those of the STRtree over GEOS distances."""
    monkeypatch.setattr(grid_locator, "APPROACH_CELLS_PER_GRID", cells)
    grids = make()
    locator = GridLocator(grids, metric_crs=METRIC, order=grids["code"].tolist()).complete()
    lon, lat = random_points(grids, 30_000, seed=7)
    lon[:50] += 10 * (lon.max() - lon.min())  # far beyond the search raster: the exact path
    found = locator.locate(lon, lat)
    uncovered = found.status != "inside"
    mx, my = locator._to_metric.transform(lon[uncovered], lat[uncovered])
    rank, distance = locator._nearest_exact(mx, my)
    np.testing.assert_array_equal(found.grid[uncovered], locator._by_rank[rank])
    np.testing.assert_array_equal(found.distance_m[uncovered], distance)  # bit for bit
    assert uncovered.sum() > 5_000


def test_a_stored_or_sent_locator_answers_the_same() -> None:
    grids = voronoi(40, seed=3)
    locator = GridLocator(grids, metric_crs=METRIC, order=grids["code"].tolist())
    lon, lat = random_points(grids, 10_000, seed=8)
    want = locator.locate(lon, lat)
    for other in (GridLocator.from_state(locator.state()), pickle.loads(pickle.dumps(locator))):
        got = other.locate(lon, lat)
        np.testing.assert_array_equal(got.grid, want.grid)
        np.testing.assert_array_equal(got.status, want.status)
        np.testing.assert_array_equal(got.distance_m, want.distance_m)
    with pytest.raises(ValueError, match="format"):
        GridLocator.from_state(locator.state() | {"format": np.array(0)})


def test_a_locator_of_plain_geometries() -> None:
    grids = lattice(4, jitter=0.0)
    from_frame = GridLocator(grids, metric_crs=METRIC).locate([grids.total_bounds[0] - 0.001], [grids.total_bounds[1]])
    from_array = GridLocator(grids.geometry.to_numpy(), metric_crs=METRIC).locate(
        [grids.total_bounds[0] - 0.001], [grids.total_bounds[1]]
    )
    assert from_frame.grid.tolist() == from_array.grid.tolist() and from_frame.status.tolist() == ["outside"]
    assert from_frame.distance_m.tolist() == from_array.distance_m.tolist()


def test_csv_to_geoparquet_stores_coordinates_as_numbers(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("code,lon,lat\n007,121.5,29.8\n", encoding="utf-8")
    points = read_points(tmp_path / "p.csv")
    write_points(points, {}, tmp_path / "o.parquet", lon=points.x, lat=points.y)
    back = gpd.read_parquet(tmp_path / "o.parquet")
    assert back["code"].tolist() == ["007"] and back["lon"].tolist() == [121.5] and back["lat"].tolist() == [29.8]
    assert back.geometry.x.tolist() == [121.5]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_file_of_no_points(tmp_path: Path, suffix: str) -> None:
    (tmp_path / "p.csv").write_text("id,lon,lat\n", encoding="utf-8")
    points = read_points(tmp_path / "p.csv")
    assert len(points) == 0
    none = np.empty(0, dtype=np.int64)
    write_points(
        points,
        {"grid_code": text_column(np.array(["A"], dtype=object), none)},
        tmp_path / f"o{suffix}",
        lon=points.x,
        lat=points.y,
    )
    assert read_points(tmp_path / f"o{suffix}").table.column_names[-1] == "grid_code"
