"""Grid codes (gis/plans/codes.py) and code layouts (gis/registry.py): numbering order, merged grids, widths, overflow.

Pure: no database. Hand-made grids are 100 × 100 m squares in a metric CRS unless a test says otherwise.
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import geopandas as gpd
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.affinity import translate
from shapely.geometry import box

from data.demo import generate_district
from gis.plans.codes import number_grids, renumber_map
from gis.registry import CodeLayout, code_layout

CRS = "EPSG:4550"
SERVICE = "010100"
STREET = "330203008"
C1, C2, C3, C4 = (f"{STREET}00{k}" for k in range(1, 5))
OTHER_STREET = "330203001001"


def _frame(geoms: list, communities: list) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"community_codes": communities}, geometry=geoms, crs=CRS)


def _square_3x3(jitter: float = 0.0, seed: int = 0) -> tuple[list, list[int]]:
    """Nine squares, listed in a shuffled order, and the reading-order rank (1..9) of each."""
    rng = np.random.default_rng(seed)
    cells = [(col, row) for row in range(3) for col in range(3)]  # row 0 is the northern one
    order = rng.permutation(len(cells))
    geoms, ranks = [], []
    for k in order:
        col, row = cells[k]
        dx, dy = rng.uniform(-jitter, jitter, 2)
        geoms.append(translate(box(col * 100, -row * 100, col * 100 + 100, -row * 100 + 100), dx, dy))
        ranks.append(int(k) + 1)
    return geoms, ranks


def test_a_3x3_community_is_numbered_row_by_row_from_the_north_west() -> None:
    geoms, ranks = _square_3x3()
    codes = number_grids(_frame(geoms, [(C1,)] * 9), code_layout())
    assert codes == [f"{SERVICE}{C1}{rank:02d}" for rank in ranks]
    assert codes[ranks.index(1)].endswith("01") and geoms[ranks.index(1)].bounds[:2] == (0, 0)


@pytest.mark.parametrize("seed", range(5))
def test_jittered_rows_still_number_correctly(seed: int) -> None:
    geoms, ranks = _square_3x3(jitter=20.0, seed=seed)  # centroids move up to 20 m; rows are 100 m apart
    codes = number_grids(_frame(geoms, [(C1,)] * 9), code_layout())
    assert [int(code[-2:]) for code in codes] == ranks


def test_geographic_coordinates_number_the_same() -> None:
    geoms, ranks = _square_3x3(jitter=10.0)
    frame = _frame(geoms, [(C1,)] * 9)
    frame.geometry = frame.geometry.translate(500_000, 3_300_000)
    assert [int(code[-2:]) for code in number_grids(frame.to_crs(4326), code_layout())] == ranks


def test_a_community_that_is_not_subdivided_gets_sequence_zero() -> None:
    frame = _frame([box(0, 0, 100, 100), box(100, 0, 200, 100), box(200, 0, 300, 100)], [(C1,), (C2,), (C2,)])
    assert number_grids(frame, code_layout()) == [f"{SERVICE}{C1}00", f"{SERVICE}{C2}01", f"{SERVICE}{C2}02"]
    assert number_grids(frame, code_layout("beijing"))[0] == f"{C1}000"


def test_merged_grids_get_community_segments_from_601_in_reading_order() -> None:
    frame = _frame(
        [box(0, -100, 100, 0), box(0, 0, 100, 100), box(100, 0, 200, 100), box(100, -100, 200, 0)],
        [(C3, C4), (C1, C2), (C1,), (C1,)],
    )
    codes = number_grids(frame, code_layout())
    assert codes[1] == f"{SERVICE}{STREET}60100"  # north: first merged area
    assert codes[0] == f"{SERVICE}{STREET}60200"
    assert codes[2:] == [f"{SERVICE}{C1}01", f"{SERVICE}{C1}02"]


def test_grids_merged_from_the_same_communities_share_a_segment() -> None:
    frame = _frame([box(100, 0, 200, 100), box(0, 0, 100, 100)], [(C1, C2), (C2, C1)])
    assert number_grids(frame, code_layout()) == [f"{SERVICE}{STREET}60102", f"{SERVICE}{STREET}60101"]


def test_a_merged_grid_takes_county_and_street_from_its_first_community() -> None:
    frame = _frame([box(0, 0, 100, 100), box(100, 0, 200, 100)], [(OTHER_STREET, C1), (C1, OTHER_STREET)])
    codes = number_grids(frame, code_layout())
    assert codes == [f"{SERVICE}{OTHER_STREET[:9]}60100", f"{SERVICE}{STREET}60100"]


def test_a_merged_segment_that_is_already_a_community_code_is_refused() -> None:
    frame = _frame([box(0, 0, 100, 100), box(100, 0, 200, 100)], [(f"{STREET}601",), (C1, C2)])
    with pytest.raises(ValueError, match="601"):
        number_grids(frame, code_layout())


def test_code_lengths_of_the_layouts() -> None:
    geoms, ranks = _square_3x3()
    frame = _frame(geoms, [(C1,)] * 9)
    cjt, beijing = number_grids(frame, code_layout("cjt349")), number_grids(frame, code_layout("beijing"))
    assert {len(code) for code in cjt} == {20} and code_layout().length == 20
    assert {len(code) for code in beijing} == {15} and code_layout("beijing").length == 15
    assert beijing == [f"{C1}{rank:03d}" for rank in ranks]


def test_a_sequence_that_overflows_its_width_is_refused() -> None:
    frame = _frame([box(k * 10, 0, k * 10 + 10, 10) for k in range(100)], [(C1,)] * 100)
    with pytest.raises(ValueError, match=r"100 grids.*2-digit"):
        number_grids(frame, code_layout())
    assert number_grids(frame, code_layout("beijing"))[-1] == f"{C1}100"


def test_merged_segments_that_overflow_are_refused() -> None:
    layout = dataclasses.replace(code_layout(), merged_community_start=999)
    frame = _frame([box(0, 0, 100, 100), box(100, 0, 200, 100)], [(C1, C2), (C3, C4)])
    with pytest.raises(ValueError, match="do not fit 3 digits"):
        number_grids(frame, layout)


def test_malformed_community_codes_are_refused() -> None:
    with pytest.raises(ValueError, match="12 digits"):
        number_grids(_frame([box(0, 0, 1, 1)], [("33020300800",)]), code_layout())


def test_renumber_map_lists_only_changes() -> None:
    assert renumber_map(["a", "b", "c"], ["a", "c", "b"]) == {"b": "c", "c": "b"}
    assert renumber_map(["a"], ["a"]) == {}
    with pytest.raises(ValueError):
        renumber_map(["a", "b"], ["a"])
    for new in (["b", "c"], ["a", "b"]):
        with pytest.raises(ValueError, match="twice"):
            renumber_map(["a", "a"], new)


def test_code_layouts_from_the_registry() -> None:
    default = code_layout()
    assert default == code_layout("cjt349")
    assert default.service_code == SERVICE and default.merged_community_start == 601
    assert default.segments == (("service", 6), ("county", 6), ("street", 3), ("community", 3), ("sequence", 2))
    assert code_layout("beijing").numbering == "west_to_east_north_to_south"
    with pytest.raises(ValueError, match="beijing, cjt349"):
        code_layout("shanghai")


def test_an_unknown_numbering_is_refused() -> None:
    layout = CodeLayout("x", "", (("community", 3), ("sequence", 2)), 601, "spiral")
    with pytest.raises(ValueError, match="spiral"):
        number_grids(_frame([box(0, 0, 1, 1)], [(C1,)]), layout)


@settings(max_examples=30, deadline=None)
@given(
    cells=st.sets(st.tuples(st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=20),
    merged=st.sets(st.integers(0, 19), max_size=4),
    seed=st.integers(0, 1000),
)
def test_codes_are_unique_and_do_not_depend_on_row_order(cells: set, merged: set, seed: int) -> None:
    ordered = sorted(cells)
    communities = [(C1, C2) if k in merged else ((C1,) if x < 3 else (C2,)) for k, (x, _) in enumerate(ordered)]
    frame = _frame([box(x * 100, y * 100, x * 100 + 100, y * 100 + 100) for x, y in ordered], communities)
    codes = number_grids(frame, code_layout())
    assert len(set(codes)) == len(codes)
    shuffled = np.random.default_rng(seed).permutation(len(cells))
    again = number_grids(frame.iloc[shuffled], code_layout())
    assert again == [codes[k] for k in shuffled]


# -- the demo district ---------------------------------------------------------------------------------------


def test_the_demo_district_gets_unique_standard_codes() -> None:
    grids = generate_district().grids.to_crs(CRS)
    grids["community_codes"] = [(code,) for code in grids["community_code"]]
    codes = number_grids(grids, code_layout())
    assert len(set(codes)) == len(codes) and {len(code) for code in codes} == {20}
    assert [code[:18] for code in codes] == [f"{SERVICE}{c}" for c in grids["community_code"]]
    # Same sequences per community as the generator's codes; the order within a row rule may differ.
    assert Counter(code[:18] for code in codes) == Counter(code[:18] for code in grids["code"])
    assert sorted(codes) == sorted(grids["code"])
    matching = sum(a == b for a, b in zip(codes, grids["code"], strict=True))
    assert matching >= len(codes) * 3 // 4, f"only {matching} of {len(codes)} codes match the generator's"
