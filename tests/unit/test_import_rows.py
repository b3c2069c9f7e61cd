"""Per-row import checks without a database: geometries, column matching, values, codes and household estimates."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from gis.errors import FileRejected
from gis.exchange import rows
from gis.layers.catalog import get_layer
from tests import samples

BOWTIE = shapely.Polygon([(121.551, 29.871), (121.552, 29.872), (121.552, 29.871), (121.551, 29.872)])


def test_bad_rows_are_rejected_or_repaired_with_their_source_row_and_the_rest_kept() -> None:
    good = samples.buildings(2).geometry.tolist()
    huge = shapely.Point(121.5512, 29.8712).buffer(0.0001, quad_segs=50)  # 201 vertices
    frame = gpd.GeoDataFrame(
        {"name": ["一", "二", "空", "蝶", "大", "坏"], "households": [10, 20, 30, 40, 50, "很多"]},
        geometry=[good[0], good[1], None, BOWTIE, huge, good[0]],
        crs=4326,
    )
    checked = rows.check_rows(frame, get_layer("buildings"), source="b.geojson", max_vertices=100)

    assert [r["_row"] for r in checked.records] == [1, 2, 4]
    assert [r["households"] for r in checked.records] == [10, 20, 40]
    rejected = {p.row: p.reason for p in checked.rejected}
    assert rejected[3] == "no geometry"
    assert rejected[5].startswith("201 vertices, more than the limit of 100")
    assert rejected[6] == "households: '很多' is not a whole number"
    assert [(p.row, p.reason.startswith("repaired invalid geometry")) for p in checked.repaired] == [(4, True)]
    assert all(r["_geom"].geom_type == "MultiPolygon" for r in checked.records)


def test_columns_match_by_alias_and_the_rest_are_noted_or_refused() -> None:
    frame = samples.communities().rename(columns={"code": "CODE", "name": "名称"}).assign(colour="red")
    checked = rows.check_rows(frame, get_layer("communities"), source="c.gpkg", max_vertices=1000)
    assert [r["code"] for r in checked.records] == ["330203008001", "330203008002"]
    assert checked.notes == ["ignored columns: colour"]
    with pytest.raises(FileRejected, match="need a 'code' column"):
        rows.check_rows(frame.drop(columns="CODE"), get_layer("communities"), source="c.gpkg", max_vertices=1000)


def test_a_projected_layer_ends_up_in_wgs84() -> None:
    frame = samples.facilities().to_crs(4549)
    checked = rows.check_rows(frame, get_layer("facilities"), source="f.gpkg", max_vertices=1000)
    expected = samples.facilities().geometry.tolist()
    got = [r["_geom"] for r in checked.records]
    assert all(shapely.distance(a, b) < 1e-7 for a, b in zip(got, expected, strict=True))


def test_values_convert_to_the_field_type_and_name_the_problem() -> None:
    floors = get_layer("buildings").field("floors")
    assert rows.convert(" 6 ", floors) == 6 and rows.convert(6.0, floors) == 6
    with pytest.raises(ValueError, match=r"floors: '6\.5' is not a whole number"):
        rows.convert("6.5", floors)
    values, problems = rows.convert_column(np.array([1, "2", None, "x", -1], dtype=object), floors)
    assert values[:3] == [1, 2, None] and set(problems) == {3, 4}


def test_codes_already_stored_or_repeated_are_rejected() -> None:
    records = [{"_row": n, "code": code} for n, code in enumerate(["a", "b", "a", "c"], start=1)]
    kept, problems = rows.reject_repeated_codes(records, existing={"c"}, layer="communities")
    assert [r["_row"] for r in kept] == [1, 2]
    assert [str(p) for p in problems] == ["row 3: code a repeats row 1", "row 4: code c already exists in communities"]


def test_multi_part_lines_become_single_edges() -> None:
    line = shapely.MultiLineString([[(0, 0), (1, 0)], [(2, 0), (3, 0)]])
    records, split = rows.explode_lines([{"_row": 1, "_geom": line}, {"_row": 2, "_geom": line.geoms[0]}])
    assert split == 1 and [r["_row"] for r in records] == [1, 1, 2]


def test_missing_households_are_estimated_for_homes_only() -> None:
    home = shapely.Point(121.55, 29.87).buffer(0.0002)  # about 400 m² in EPSG:4550
    table = {
        "_geom": np.array([home, home, home], dtype=object),
        "households": np.array([None, None, 12], dtype=object),
        "residential": np.array([True, False, True], dtype=object),
        "floors": np.array([6, 6, None], dtype=object),
    }
    estimates = rows.household_estimates(table, 4550, dwelling_size_m2=90.0)
    area = gpd.GeoSeries([home], crs=4326).to_crs(4550).area.iloc[0]
    assert estimates.tolist() == [int(area * 6 // 90.0), None, None]
    assert rows.estimate_households(np.array([10.0, 900.0]), np.array([np.nan, 2]), dwelling_size_m2=90).tolist() == [
        1,
        20,
    ]
