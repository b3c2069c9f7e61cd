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
    assert (units["area_m2"] == units.geometry.area).all()
    assert ((units["buildings"] > 0) == (units["kind"] == "building")).all()
    # adjacency from shared segments is the general one (geometric border intersections) on a valid coverage
    assert _sorted(built.adjacency) == _sorted(unit_adjacency(units))
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


def test_sites_are_spaced_by_the_gap_to_the_nearest_building() -> None:
    near = np.array([shapely.box(0, 0, 10, 10), shapely.box(11, 0, 21, 10), shapely.box(200, 0, 210, 10)])
    segments = units_module._segments(near)
    assert segments[0] == segments[1] == pytest.approx(units_module.SEGMENT_PER_GAP * (1 + 2 * units_module.SHRINK))
    assert segments[2] == units_module.MAX_SEGMENT
    assert units_module._segments(near[:1])[0] == units_module.MAX_SEGMENT
    close = np.array([shapely.box(0, 0, 10, 10), shapely.box(10.1, 0, 20, 10)])
    assert (units_module._segments(close) == units_module.SEGMENT).all()


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
