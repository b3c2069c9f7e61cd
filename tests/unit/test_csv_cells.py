"""CSV cells a spreadsheet would run as formulas are written as text (OWASP CSV injection), and read back as given."""

from __future__ import annotations

import csv
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from gis.exchange.files import read_frame, write_frame

RISKY = ['=HYPERLINK("http://evil","点此")', "+1+1", "-2+3", "@SUM(A1)", "\tleading tab", "\rleading return"]
SAFE = ["wechat", "垃圾满溢", "a=b", "", "'quoted"]


def _frame() -> gpd.GeoDataFrame:
    texts = RISKY + SAFE
    n = len(texts)
    return gpd.GeoDataFrame(
        {
            "channel": texts,
            "households": pd.array([-5 if i % 2 else 7 for i in range(n)], dtype="Int64"),
            "area": [-1.5] * n,
        },
        geometry=[shapely.Point(-73.9 - i, -40.5) for i in range(n)],  # negative coordinates stay numbers
        crs=4326,
    )


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_text_cells_starting_a_formula_get_a_quote_and_numbers_stay_numbers(tmp_path: Path) -> None:
    path = write_frame(_frame(), tmp_path / "incidents.csv", layer="incidents")

    rows = _rows(path)

    assert [r["channel"] for r in rows] == ["'" + t for t in RISKY] + SAFE
    assert {r["households"] for r in rows} == {"-5", "7"}
    assert {r["area"] for r in rows} == {"-1.5"}
    assert all(r["lon"].startswith("-") and r["lat"] == "-40.5" for r in rows)


def test_wkt_geometry_column_is_left_alone(tmp_path: Path) -> None:
    frame = gpd.GeoDataFrame({"name": ["-north"]}, geometry=[shapely.box(-1, -1, 0, 0)], crs=4326)

    rows = _rows(write_frame(frame, tmp_path / "grids.csv", layer="grids"))

    assert rows[0]["name"] == "'-north" and rows[0]["wkt"].startswith("POLYGON ((")


def test_an_exported_csv_reads_back_to_the_original_text(tmp_path: Path) -> None:
    path = write_frame(_frame(), tmp_path / "incidents.csv", layer="incidents")

    back = read_frame(path, crs="EPSG:4326")

    assert list(back["channel"].fillna("")) == RISKY + SAFE


@pytest.mark.parametrize("suffix", [".geojson", ".gpkg"])
def test_other_formats_keep_the_text_as_it_is(tmp_path: Path, suffix: str) -> None:
    path = write_frame(_frame(), tmp_path / f"incidents{suffix}", layer="incidents")

    assert list(pyogrio.read_dataframe(path)["channel"]) == RISKY + SAFE
