"""gis/plans/layout_checks.py on hand-made layouts with one injected fault each, and on the demo district.

Pure: no database. The hand-made street has two 200 × 100 m communities, A (west) and B (east), each cut into two
100 × 100 m grids, with a building in the middle of every grid.
"""

from __future__ import annotations

import itertools

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon, box

from data.demo import generate_district
from gis.plans.layout_checks import Finding, polsby_popper, validate_layout

CRS = "EPSG:4550"  # CGCS2000 3-degree Gauss-Krüger, central meridian 123 E
A, B = "330203008001", "330203008002"
A1, A2, B1, B2 = (f"010100{c}{s}" for c in (A, B) for s in ("01", "02"))


def _communities() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"code": [A, B]}, geometry=[box(0, 0, 200, 100), box(200, 0, 400, 100)], crs=CRS)


def _grids(**changes: Polygon | MultiPolygon) -> gpd.GeoDataFrame:
    """The clean grids, with some geometries replaced (keyword = grid code name, e.g. A1=...)."""
    geoms = {"A1": box(0, 0, 100, 100), "A2": box(100, 0, 200, 100), "B1": box(200, 0, 300, 100)}
    geoms |= {"B2": box(300, 0, 400, 100)} | changes
    return gpd.GeoDataFrame(
        {"code": [A1, A2, B1, B2], "community_code": [A, A, B, B], "households": [400, 400, 400, 400]},
        geometry=[geoms[name] for name in ("A1", "A2", "B1", "B2")],
        crs=CRS,
    )


def _buildings(*extra: Polygon) -> gpd.GeoDataFrame:
    middles = [box(x + 40, 40, x + 60, 60) for x in (0, 100, 200, 300)]
    return gpd.GeoDataFrame(geometry=[*middles, *extra], crs=CRS, index=[f"b{k}" for k in range(4 + len(extra))])


def _only(findings: list[Finding], kind: str) -> Finding:
    matching = [f for f in findings if f.type == kind]
    assert len(matching) == 1, findings
    return matching[0]


def _where(finding: Finding) -> shapely.Geometry:
    """The finding's geometry, which every finding these tests look at has."""
    assert finding.geometry is not None, finding
    return finding.geometry


def _types(findings: list[Finding]) -> set[str]:
    return {f.type for f in findings}


def test_a_clean_layout_has_no_findings() -> None:
    findings = validate_layout(_grids(), _communities(), buildings=_buildings(), min_households=300, max_households=500)
    assert findings == []


def test_a_gap_is_reported_with_its_area_and_bordering_grids() -> None:
    findings = validate_layout(_grids(A1=box(0, 0, 90, 100)), _communities())
    gap = _only(findings, "gap")
    assert gap.severity == "error"
    assert gap.grids == (A1, A2)
    assert _where(gap).area == pytest.approx(1000)
    assert A in gap.message
    assert _types(findings) == {"gap"}


def test_an_overlap_is_reported_once_with_both_grids() -> None:
    findings = validate_layout(_grids(A1=box(0, 0, 110, 100)), _communities())
    overlap = _only(findings, "overlap")
    assert overlap.grids == (A1, A2)
    assert _where(overlap).area == pytest.approx(1000)
    assert _where(overlap).equals(box(100, 0, 110, 100))
    assert _types(findings) == {"overlap"}


def test_an_overlap_that_also_shares_an_edge_is_drawn_as_polygons_only() -> None:
    l_shape = shapely.union_all([box(0, 0, 110, 50), box(0, 50, 100, 100)])  # meets A2 along x = 100 above y = 50
    overlap = _only(validate_layout(_grids(A1=l_shape), _communities()), "overlap")
    assert _where(overlap).geom_type in {"Polygon", "MultiPolygon"}
    assert _where(overlap).area == pytest.approx(500)


def test_a_grid_contained_in_another_is_an_overlap() -> None:
    findings = validate_layout(_grids(A2=box(20, 20, 60, 60)), _communities())
    assert _where(_only(findings, "overlap")).area == pytest.approx(1600)


def test_overlaps_and_gaps_within_tolerance_are_noise() -> None:
    grids = _grids(A1=box(0, 0, 100.005, 100), B1=box(200.005, 0, 300, 100))  # 0.5 m² each
    assert validate_layout(grids, _communities(), tolerance_m2=1.0) == []
    assert _types(validate_layout(grids, _communities(), tolerance_m2=0.1)) == {"overlap", "gap"}


def test_a_building_cut_by_a_grid_boundary() -> None:
    cut = box(95, 40, 105, 60)
    findings = validate_layout(_grids(), _communities(), buildings=_buildings(cut))
    finding = _only(findings, "building_not_in_one_grid")
    assert finding.grids == (A1, A2)
    assert _where(finding).area == pytest.approx(200)
    assert "b4" in finding.message and "50%" in finding.message


def test_a_building_outside_every_grid_and_one_mostly_outside() -> None:
    outside, half_out = box(500, 0, 510, 10), box(390, 40, 410, 60)
    findings = validate_layout(_grids(), _communities(), buildings=_buildings(outside, half_out))
    by_building = {f.message.split()[1]: f for f in findings}
    assert by_building["b4"].grids == () and "outside every grid" in by_building["b4"].message
    assert by_building["b5"].grids == (B2,) and _where(by_building["b5"]).area == pytest.approx(400)


def test_buildings_on_a_boundary_or_99_percent_inside_are_fine() -> None:
    against_wall = box(100, 40, 110, 60)  # shares its west wall with the boundary between A1 and A2
    nearly_inside = box(99.9, 70, 119.9, 90)  # 0.5 % in A1
    findings = validate_layout(_grids(), _communities(), buildings=_buildings(against_wall, nearly_inside))
    assert findings == []


def test_a_building_inside_two_overlapping_grids_is_not_in_exactly_one() -> None:
    findings = validate_layout(_grids(A2=box(30, 30, 70, 70)), _communities(), buildings=_buildings())
    in_both = [f for f in findings if f.type == "building_not_in_one_grid" and f.grids == (A1, A2)]
    assert len(in_both) == 1 and "b0 lies in overlapping grids" in in_both[0].message


@pytest.mark.parametrize(
    "geometry",
    [
        MultiPolygon([box(0, 0, 50, 50), box(50, 50, 100, 100)]),  # parts meet at a corner
        Polygon([(0, 0), (50, 0), (50, 50), (100, 50), (100, 100), (50, 100), (50, 50), (0, 50)]),  # a figure 8
        MultiPolygon([box(0, 0, 40, 100), box(60, 0, 100, 100)]),  # parts apart
    ],
    ids=["corner", "figure-8", "apart"],
)
def test_a_grid_of_separate_parts_is_non_contiguous(geometry: Polygon | MultiPolygon) -> None:
    findings = validate_layout(_grids(A1=geometry), _communities())
    finding = _only(findings, "non_contiguous")
    assert finding.grids == (A1,)
    assert _where(finding).area == pytest.approx(5000 if geometry.area == 5000 else 8000)
    assert "2 separate parts" in finding.message
    gaps = [_where(f).area for f in findings if f.type == "gap"]
    assert sum(gaps) == pytest.approx(10_000 - geometry.area)


def test_parts_sharing_an_edge_are_contiguous() -> None:
    grids = _grids(A1=MultiPolygon([box(0, 0, 50, 100), box(50, 0, 100, 100)]))  # invalid multipolygon
    assert validate_layout(grids, _communities()) == []


def test_households_outside_the_band() -> None:
    grids = _grids()
    grids["households"] = [280, 300, 500, 520]
    findings = validate_layout(grids, _communities(), min_households=300, max_households=500)
    below, above = _only(findings, "households_below"), _only(findings, "households_above")
    assert below.grids == (A1,) and "280" in below.message and "300" in below.message
    assert above.grids == (B2,) and "520" in above.message
    assert _where(below).area == pytest.approx(10_000)
    assert validate_layout(grids, _communities(), min_households=300) == [below]


def test_a_grid_crossing_into_the_neighbouring_community() -> None:
    findings = validate_layout(_grids(A2=box(100, 0, 230, 100), B1=box(230, 0, 300, 100)), _communities())
    crossing = _only(findings, "crosses_community")
    assert crossing.severity == "warning"
    assert crossing.grids == (A2,)
    assert _where(crossing).area == pytest.approx(3000)
    assert B in crossing.message
    assert _where(_only(findings, "outside_community")).area == pytest.approx(3000)
    gap = _only(findings, "gap")  # B's own grids no longer cover its west strip
    assert gap.grids == (B1,) and _where(gap).area == pytest.approx(3000)
    assert [f.severity for f in findings] == ["error", "error", "warning"]


def test_a_grid_of_an_unknown_community_is_outside() -> None:
    grids = _grids()
    grids.loc[3, "community_code"] = "330203008099"
    finding = _only(validate_layout(grids, _communities()), "outside_community")
    assert finding.grids == (B2,) and "330203008099" in finding.message
    assert _where(finding).area == pytest.approx(10_000)


def test_a_long_thin_grid_has_low_compactness() -> None:
    grids = _grids(A1=box(0, 0, 200, 8), A2=box(0, 8, 200, 100))
    findings = validate_layout(grids, _communities())
    finding = _only(findings, "low_compactness")
    assert finding.severity == "warning"
    assert finding.grids == (A1,)
    assert _where(finding).area == pytest.approx(1600)
    assert _types(findings) == {"low_compactness"}
    assert validate_layout(grids, _communities(), compactness_threshold=0.1) == []


def test_polsby_popper() -> None:
    scores = polsby_popper([box(0, 0, 1, 1), shapely.Point(0, 0).buffer(1, quad_segs=64), Polygon()])
    assert scores[0] == pytest.approx(np.pi / 4)
    assert scores[1] == pytest.approx(1, abs=1e-3)
    assert np.isnan(scores[2])


def test_findings_are_sorted_errors_first_then_type_then_codes() -> None:
    grids = _grids(A1=box(0, 0, 110, 100), B2=box(300, 0, 400, 5))
    grids["households"] = [100, 100, 100, 100]
    findings = validate_layout(grids, _communities(), min_households=300)
    keys = [(f.severity != "error", f.type, f.grids) for f in findings]
    assert keys == sorted(keys)
    assert findings[-1].type == "low_compactness"
    again = validate_layout(grids.iloc[::-1], _communities().iloc[::-1], min_households=300)
    assert [(f.type, f.grids, f.message) for f in again] == [(f.type, f.grids, f.message) for f in findings]


def test_geographic_or_mixed_crs_is_refused() -> None:
    with pytest.raises(ValueError, match="metric CRS"):
        validate_layout(_grids().set_crs(4326, allow_override=True), _communities())
    with pytest.raises(ValueError, match="share one metric CRS"):
        validate_layout(_grids(), _communities().set_crs(4549, allow_override=True))


@settings(max_examples=40, deadline=None)
@given(
    columns=st.lists(st.integers(1, 199), min_size=0, max_size=4, unique=True),
    rows=st.lists(st.integers(1, 99), min_size=0, max_size=3, unique=True),
    shift=st.integers(1, 5),
)
def test_a_tiling_is_clean_and_a_moved_edge_overlaps_by_its_area(
    columns: list[int], rows: list[int], shift: int
) -> None:
    xs, ys = [0, *sorted(columns), 200], [0, *sorted(rows), 100]
    cells = [box(x0, y0, x1, y1) for x0, x1 in itertools.pairwise(xs) for y0, y1 in itertools.pairwise(ys)]
    codes = [f"010100{A}{k + 1:02d}" for k in range(len(cells))]
    grids = gpd.GeoDataFrame({"code": codes, "community_code": A, "households": 400}, geometry=cells, crs=CRS)
    communities = _communities().iloc[:1]
    errors = [f for f in validate_layout(grids, communities) if f.severity == "error"]
    assert errors == []
    if len(xs) > 2:  # push the first cell's east edge into its neighbour
        x0, y0, x1, y1 = cells[0].bounds
        grids.loc[0, "geometry"] = box(x0, y0, x1 + min(shift, xs[2] - xs[1]), y1)
        overlap = _only(validate_layout(grids, communities, tolerance_m2=0.5), "overlap")
        assert _where(overlap).area == pytest.approx(min(shift, xs[2] - xs[1]) * (y1 - y0))


# -- the demo district ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> dict[str, gpd.GeoDataFrame]:
    district = generate_district()
    layers = {name: getattr(district, name).to_crs(CRS) for name in ("grids", "communities", "buildings")}
    grids, buildings = layers["grids"], layers["buildings"]
    points = buildings.geometry.representative_point().to_numpy()
    b, g = shapely.STRtree(grids.geometry.to_numpy()).query(points, predicate="within")
    weights = buildings["households"].to_numpy()[b]
    grids["households"] = np.bincount(g, weights=weights, minlength=len(grids)).astype(int)
    return layers


def test_the_demo_district_has_no_errors(demo: dict[str, gpd.GeoDataFrame]) -> None:
    findings = validate_layout(
        demo["grids"], demo["communities"], buildings=demo["buildings"], min_households=300, max_households=500
    )
    assert [f for f in findings if f.severity == "error"] == []


def test_a_demo_grid_merged_into_its_neighbour_is_reported(demo: dict[str, gpd.GeoDataFrame]) -> None:
    grids = demo["grids"].copy()
    first, second = grids.index[grids["community_code"] == grids["community_code"].iloc[0]][:2]
    grids.loc[first, "geometry"] = shapely.union_all([grids.loc[first, "geometry"], grids.loc[second, "geometry"]])
    grids.loc[first, "households"] += grids.loc[second, "households"]
    findings = validate_layout(grids.drop(index=second), demo["communities"], max_households=500)
    assert _only(findings, "households_above").grids == (grids.loc[first, "code"],)
    assert not {"gap", "overlap"} & _types(findings)
