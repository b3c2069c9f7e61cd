"""One community's units as a batch part (gis/plans/units.community_units) and the shortcuts it takes: adjacency
from shared segments, gaps from the blocks, sites spaced by the gap between buildings. No database."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

import gis.plans.units as units_module
from gis.plans.units import CommunityGround, build_units, community_units, unit_adjacency

METRIC = "EPSG:4550"


@pytest.fixture(scope="module")
def ground() -> CommunityGround:
    from data.demo import generate_district

    district = generate_district()
    boundary = district.communities.to_crs(METRIC).geometry.iloc[1]
    buildings = district.buildings.to_crs(METRIC)
    buildings = buildings[buildings.representative_point().within(boundary)]
    frame = gpd.GeoDataFrame(
        {
            "compound": buildings["compound"].to_numpy(),
            "households": buildings["households"].to_numpy(),
            "population": buildings["population_resident"].fillna(0).astype(int).to_numpy(),
        },
        geometry=buildings.geometry.to_numpy(),
        index=np.arange(1, len(buildings) + 1) * 10,
        crs=METRIC,
    )
    network = district.network.to_crs(METRIC)
    streets = gpd.GeoSeries(network[network.intersects(boundary)].geometry.to_numpy(), crs=METRIC)
    return CommunityGround(community_id=7, boundary=boundary, buildings=frame, streets=streets)


def _sorted(pairs: np.ndarray) -> list[list[int]]:
    return sorted(pairs.tolist())


def test_a_community_part_carries_totals_links_and_adjacency(ground: CommunityGround) -> None:
    built = community_units(ground)

    assert built.community_id == 7
    units = built.units
    assert units["households"].sum() == ground.buildings["households"].sum()
    assert units["population"].sum() == ground.buildings["population"].sum()
    assert units["buildings"].sum() == len(ground.buildings) == len(built.building_unit)
    assert ((units["buildings"] > 0) == (units["kind"] == "building")).all()
    # the shapes come back once, as stored (EWKB, storage CRS, MultiPolygons), and in metres as they were measured
    stored = shapely.from_wkb(built.storage_wkb)
    assert (shapely.get_srid(stored) == 4326).all() and (shapely.get_type_id(stored) == 6).all()
    shapes = built.shapes(METRIC)
    assert units["area_m2"].to_numpy() == pytest.approx(shapely.area(shapes), rel=1e-6)
    assert shapely.coverage_is_valid(shapes)
    # adjacency from shared segments is the general one (geometric border intersections) on a valid coverage
    assert _sorted(built.adjacency) == _sorted(unit_adjacency(gpd.GeoSeries(shapes)))
    assert len(built.adjacency) >= len(units) - 1


def test_the_gaps_come_from_the_blocks_as_they_did_from_every_cell(ground: CommunityGround) -> None:
    """Cells are clipped to blocks that cover the boundary; a block short of its area still has its gap found."""
    boundary = ground.boundary
    blocks = gpd.GeoSeries([boundary], crs=METRIC)  # one block: the whole community
    west_of, south, _, north = boundary.bounds
    west = shapely.intersection(boundary, shapely.box(west_of - 1, south - 1, boundary.centroid.x, north + 1))
    clipped = np.array([west], dtype=object)  # the block's one cell covers only its west: the east is a gap
    gaps = units_module._gaps(clipped, boundary, blocks, np.array([0]))
    assert shapely.union_all(gaps).area == pytest.approx(boundary.area - west.area, rel=1e-9)


def test_sites_are_spaced_edge_by_edge_by_the_gap_to_the_nearest_building() -> None:
    footprints = np.array([shapely.box(0, 0, 10, 10), shapely.box(11, 0, 21, 10), shapely.box(200, 0, 210, 10)])
    # The first site's east edge faces the second building across a 1 m lane, its west edge faces nothing; so does
    # every edge of the third.
    start = np.array([[9.6, 0.4], [0.4, 9.6], [200.4, 0.4]])
    end = np.array([[9.6, 9.6], [0.4, 0.4], [209.6, 0.4]])
    spacing = units_module._segments(start, end, np.array([0, 0, 2]), footprints)
    gap, shrink, stray = 1.0, units_module.SHRINK, units_module.STRAY
    assert spacing[0] == pytest.approx(np.sqrt(8 * stray * gap * (gap + 2 * shrink)))
    assert spacing[1] == spacing[2] == units_module.MAX_SEGMENT
    touching = np.array([shapely.box(0, 0, 10, 10), shapely.box(10.05, 0, 20, 10)])
    facing = units_module._segments(start[:1], end[:1], np.array([0]), touching)
    assert facing[0] == units_module.SEGMENT


@pytest.mark.parametrize("gap", [0.2, 0.5, 1.0, 1.5, 3.0, 8.0])
def test_the_border_between_two_long_buildings_never_cuts_either(gap: float) -> None:
    """The sparser the points, the more the diagram's border wiggles: never as far as a footprint."""
    west, east = shapely.box(10, 10, 20, 60), shapely.box(20 + gap, 10, 30 + gap, 60)
    buildings = gpd.GeoDataFrame(geometry=[west, east], index=[1, 2], crs=METRIC)
    layout = build_units(shapely.box(0, 0, 50, 70), buildings)
    own = layout.units.geometry.to_numpy()[layout.building_unit.loc[[1, 2]].to_numpy()]
    assert layout.building_unit.is_unique
    assert shapely.covers(shapely.buffer(own, 1e-6), buildings.geometry.to_numpy()).all()
    border = shapely.intersection(shapely.boundary(own[0]), shapely.boundary(own[1]))
    assert shapely.distance(border, west) >= (1 - 2 * units_module.STRAY) * gap / 2 - 1e-3


def test_coverage_adjacency_has_edges_not_corners() -> None:
    squares = np.array([shapely.box(x, y, x + 1, y + 1) for y in range(3) for x in range(3)])
    assert _sorted(units_module._coverage_adjacency(squares)) == _sorted(unit_adjacency(gpd.GeoSeries(squares)))
    assert units_module._coverage_adjacency(squares[:1]).shape == (0, 2)


def test_two_buildings_close_together_are_never_cut(ground: CommunityGround) -> None:
    """Sparser sites where buildings stand apart still give each building the ground around it."""
    buildings = gpd.GeoDataFrame(
        geometry=[shapely.box(10, 10, 20, 20), shapely.box(21, 10, 31, 20), shapely.box(70, 70, 90, 80)],
        index=[1, 2, 3],
        crs=METRIC,
    )
    layout = build_units(shapely.box(0, 0, 100, 100), buildings)
    own = layout.units.geometry.to_numpy()[layout.building_unit.loc[[1, 2, 3]].to_numpy()]
    assert shapely.covers(shapely.buffer(own, 1e-6), buildings.geometry.to_numpy()).all()
    assert layout.building_unit.is_unique
