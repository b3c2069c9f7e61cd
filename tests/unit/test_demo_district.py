"""The demo-district generator (data/demo.py): counts, grid rules, topology, determinism. No database."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from data.demo import District, generate_district

METRIC = "EPSG:4549"  # CGCS2000 3-degree Gauss-Kruger, central meridian 120 E
LAYERS = ("districts", "streets", "communities", "buildings", "facilities", "network", "grids")
COLUMNS = {
    "districts": ["code", "name"],
    "streets": ["code", "name", "district_code"],
    "communities": ["code", "name", "street_code"],
    "buildings": [
        "name",
        "address",
        "compound",
        "floors",
        "residential",
        "households",
        "population_resident",
        "population_registered",
        "population_floating",
    ],
    "facilities": ["name", "category", "capacity", "public"],
    "network": ["name", "kind"],
    "grids": ["code", "name", "community_code"],
}
CATEGORIES = Path(__file__).resolve().parents[2] / "data" / "facility_categories.toml"
HAN = re.compile(r"^[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def district() -> District:
    return generate_district()


@pytest.fixture(scope="module")
def metric(district: District) -> dict[str, gpd.GeoDataFrame]:
    return {layer: getattr(district, layer).to_crs(METRIC) for layer in LAYERS}


@pytest.fixture(scope="module")
def scaled() -> District:
    return generate_district(buildings=20_000)


def _grid_households(buildings: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> np.ndarray:
    """Households per grid: buildings counted where their representative point lies (exactly one grid)."""
    points = buildings.geometry.representative_point().to_numpy()
    b, g = shapely.STRtree(grids.geometry.to_numpy()).query(points, predicate="within")
    assert np.bincount(b, minlength=len(buildings)).tolist() == [1] * len(buildings)
    return np.bincount(g, weights=buildings["households"].to_numpy()[b], minlength=len(grids))


# -- determinism and shape ---------------------------------------------------------------------------------


def test_same_seed_and_size_give_identical_output(district: District) -> None:
    again = generate_district()
    for layer in LAYERS:
        a, b = getattr(district, layer), getattr(again, layer)
        pd.testing.assert_frame_equal(a.drop(columns="geometry"), b.drop(columns="geometry"))
        assert a.geometry.to_wkb().tolist() == b.geometry.to_wkb().tolist(), layer


def test_another_seed_gives_another_district(district: District) -> None:
    other = generate_district(seed=1)
    assert other.buildings["address"].tolist() != district.buildings["address"].tolist()


def test_layers_have_the_documented_columns_in_wgs84(district: District) -> None:
    for layer in LAYERS:
        frame = getattr(district, layer)
        assert frame.crs == "EPSG:4326", layer
        assert [c for c in frame.columns if c != frame.geometry.name] == COLUMNS[layer], layer
        assert frame.index.equals(pd.RangeIndex(len(frame))), layer


def test_geometries_are_valid_and_of_the_right_type(district: District) -> None:
    expected = {
        "districts": {"Polygon"},
        "streets": {"Polygon"},
        "communities": {"Polygon"},
        "buildings": {"Polygon"},
        "facilities": {"Point"},
        "network": {"LineString"},
        "grids": {"Polygon", "MultiPolygon"},
    }
    for layer in LAYERS:
        geoms = getattr(district, layer).geometry
        assert shapely.is_valid(geoms.to_numpy()).all(), layer
        assert not geoms.is_empty.any(), layer
        assert set(geoms.geom_type) <= expected[layer], layer


def test_it_lies_in_haishu_ningbo(district: District) -> None:
    lon, lat = district.districts.geometry.iloc[0].centroid.coords[0]
    assert abs(lon - 121.55) < 0.02 and abs(lat - 29.87) < 0.02


def test_too_small_a_city_is_refused() -> None:
    with pytest.raises(ValueError, match="at least"):
        generate_district(buildings=10)


# -- default counts ----------------------------------------------------------------------------------------


def test_default_is_one_street_of_about_six_communities(district: District, metric: dict) -> None:
    assert len(district.districts) == 1 and len(district.streets) == 1
    assert 5 <= len(district.communities) <= 8
    assert 2.0 <= metric["streets"].area.sum() / 1e6 <= 3.0


def test_default_building_and_household_counts(district: District) -> None:
    buildings = district.buildings
    assert 3_000 <= len(buildings) <= 6_000
    assert 15_000 <= buildings["households"].sum() <= 30_000
    per_community = buildings["households"].sum() / len(district.communities)
    assert 1_500 <= per_community <= 5_000


def test_building_mix_is_an_old_city_area(district: District) -> None:
    b = district.buildings
    slabs = b[b["compound"].notna() & b["residential"]]
    houses = b[b["compound"].isna() & b["residential"]]
    assert slabs["floors"].between(6, 18).all() and slabs["floors"].max() >= 11
    assert houses["floors"].between(1, 3).all() and houses["households"].between(1, 3).all()
    assert len(houses) > len(slabs) and slabs["households"].sum() > 0.3 * b["households"].sum()
    non_residential = b[~b["residential"]]
    assert len(non_residential) > 100
    assert (non_residential[["households", "population_resident", "population_registered"]] == 0).all().all()
    assert b["compound"].dropna().str.contains("小区|花园|新村|苑|家园|公寓").all()


def test_building_attributes(district: District) -> None:
    b = district.buildings
    assert (b["floors"] >= 1).all()
    home = b[b["residential"]]
    assert (home["households"] >= 1).all()
    assert (home["population_resident"] >= home["households"]).all()
    ratio = home["population_resident"].sum() / home["households"].sum()
    assert 2.3 <= ratio <= 2.9
    for column in ("households", "population_resident", "population_registered", "population_floating"):
        assert b[column].dtype.kind == "i" and (b[column] >= 0).all(), column
    assert (b["population_floating"] <= b["population_resident"]).all()
    old_town = b[b["compound"].isna() & b["residential"]]
    assert old_town["population_floating"].sum() > 0.3 * old_town["population_resident"].sum()
    assert b["address"].is_unique
    assert b["address"].str.match(r"^海曙区白云街道\w+[路街巷弄]\d+号(\d+幢)?$").all()
    assert b["name"].str.match(r"^\d+[幢号]$").all()


def test_buildings_do_not_overlap(metric: dict) -> None:
    geoms = metric["buildings"].geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    assert (a == b).all()


# -- grids, communities, streets ---------------------------------------------------------------------------


def test_every_grid_has_300_to_500_households(metric: dict) -> None:
    households = _grid_households(metric["buildings"], metric["grids"])
    assert households.min() >= 300 and households.max() <= 500


@pytest.mark.parametrize(
    ("parts", "whole", "key"),
    [("grids", "communities", "community_code"), ("communities", "streets", "street_code"),
     ("streets", "districts", "district_code")],
)  # fmt: skip
def test_parts_tile_their_whole(metric: dict, parts: str, whole: str, key: str) -> None:
    pieces_all = metric[parts]
    assert set(pieces_all[key]) == set(metric[whole]["code"])
    for code, area in zip(metric[whole]["code"], metric[whole].geometry, strict=True):
        pieces = pieces_all.loc[pieces_all[key] == code].geometry.to_numpy()
        union = shapely.union_all(pieces)
        assert abs(union.area - area.area) <= 1e-6 * area.area  # no gap
        assert abs(shapely.area(pieces).sum() - area.area) <= 1e-6 * area.area  # no overlap
        assert union.symmetric_difference(area).area <= 1e-6 * area.area
    geoms = pieces_all.geometry.to_numpy()
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    pair = a < b
    assert shapely.area(shapely.intersection(geoms[a[pair]], geoms[b[pair]])).max(initial=0.0) < 1e-3  # m²


@pytest.mark.parametrize("layer", ["grids", "communities"])
def test_every_building_lies_in_exactly_one(metric: dict, layer: str) -> None:
    buildings = metric["buildings"].geometry.to_numpy()
    tree = shapely.STRtree(metric[layer].geometry.to_numpy())
    inside, _ = tree.query(buildings, predicate="within")
    assert np.bincount(inside, minlength=len(buildings)).tolist() == [1] * len(buildings)
    crossing, _ = tree.query(buildings, predicate="overlaps")
    assert len(crossing) == 0


def test_codes_follow_the_hierarchy(district: District) -> None:
    streets, communities, grids = district.streets, district.communities, district.grids
    assert streets["code"].str.fullmatch(r"330203\d{3}").all() and streets["name"].str.endswith("街道").all()
    assert (communities["code"].str[:9] == communities["street_code"]).all()
    assert communities["code"].str.fullmatch(r"\d{12}").all() and communities["code"].is_unique
    assert communities["name"].str.endswith("社区").all() and communities["name"].is_unique
    assert grids["code"].str.fullmatch(r"\d{20}").all() and grids["code"].is_unique
    assert (grids["code"].str[:6] == "010100").all()
    assert (grids["code"].str[6:18] == grids["community_code"]).all()


def test_grids_are_numbered_left_to_right_top_to_bottom(district: District, metric: dict) -> None:
    names = dict(zip(district.communities["code"], district.communities["name"], strict=True))
    for code, group in metric["grids"].groupby("community_code"):
        sequence = group["code"].str[-2:].astype(int).tolist()
        assert sorted(sequence) == list(range(1, len(group) + 1))
        assert (group["name"] == [f"{names[code]}第{s:02d}网格" for s in sequence]).all()
        y = group.geometry.centroid.y.to_numpy()[np.argsort(sequence)]
        assert y[0] > y[-1]  # the first grid is in the north, the last in the south


# -- network ----------------------------------------------------------------------------------------------


def test_network_is_noded(metric: dict) -> None:
    edges = metric["network"].geometry.to_numpy()
    a, b = shapely.STRtree(edges).query(edges, predicate="intersects")
    pair = a < b
    # DE-9IM: neither interior meets the other edge at all, so two edges meet only at shared end points
    assert shapely.relate_pattern(edges[a[pair]], edges[b[pair]], "FF*F*****").all()


def test_network_is_connected_and_reaches_every_building(metric: dict) -> None:
    edges = metric["network"].geometry.to_numpy()
    # edges meeting at a node share its exact coordinates, so nodes are found without any snapping
    ends = np.concatenate([shapely.get_coordinates(shapely.get_point(edges, k)) for k in (0, -1)])
    _, node = np.unique(ends, axis=0, return_inverse=True)
    parent = list(range(node.max() + 1))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for u, v in zip(node[: len(edges)], node[len(edges) :], strict=True):
        parent[root(int(u))] = root(int(v))
    assert len({root(x) for x in range(len(parent))}) == 1
    _, distance = shapely.STRtree(edges).query_nearest(
        metric["buildings"].geometry.to_numpy(), return_distance=True, all_matches=False
    )
    assert distance.max() <= 100.0


def test_network_has_a_road_hierarchy_and_footways(district: District, metric: dict) -> None:
    network = metric["network"]
    kinds = network["kind"].value_counts()
    assert set(kinds.index) == {"primary", "secondary", "residential", "footway"}
    roads = network[network["kind"] != "footway"]
    assert roads["name"].notna().all() and roads["name"].str.match(r"^\w+[路街弄巷]$").all()
    named_footways = network.loc[(network["kind"] == "footway") & network["name"].notna(), "name"]
    assert named_footways.str.endswith("巷").all()
    # primary arterials every ~600-800 m: 2-4 of them cross a street about 1.6 km wide
    primary_length = network.loc[network["kind"] == "primary"].length.sum()
    assert 2 * 1_400 <= primary_length <= 8 * 1_800


# -- facilities -------------------------------------------------------------------------------------------


def test_facility_categories_exist_in_the_registry(district: District) -> None:
    registry = {c["code"] for c in tomllib.loads(CATEGORIES.read_text(encoding="utf-8"))["category"]}
    assert set(district.facilities["category"]) == registry  # every category, nothing else


def test_facility_counts_and_attributes(district: District, metric: dict) -> None:
    f = district.facilities
    counts = f["category"].value_counts()
    assert counts["street_office"] == 1
    assert counts["kindergarten"] >= 5 and counts["convenience_store"] >= 15
    assert counts["community_service_station"] == len(district.communities)
    assert counts["post_office"] <= 2 and counts["health_station"] <= 3  # sparse: coverage gaps exist
    households_per_facility = district.buildings["households"].sum() / len(f)
    assert 100 <= households_per_facility <= 220
    assert f["name"].map(lambda s: bool(HAN.match(s))).all() and f["name"].is_unique
    assert all(c is None or type(c) is int for c in f["capacity"])
    assert f.loc[f["category"] == "kindergarten", "capacity"].map(lambda c: c > 0).all()
    assert f["public"].dtype == bool
    assert metric["districts"].geometry.iloc[0].contains(metric["facilities"].geometry).all()
    homes = metric["buildings"].loc[metric["buildings"]["residential"]].geometry.to_numpy()
    inside, _ = shapely.STRtree(homes).query(metric["facilities"].geometry.to_numpy(), predicate="within")
    assert len(inside) == 0  # facilities stand in non-residential buildings or on open ground


# -- scaled city ------------------------------------------------------------------------------------------


def test_scaled_city_has_about_the_requested_buildings(scaled: District) -> None:
    assert 18_000 <= len(scaled.buildings) <= 22_000
    assert len(scaled.streets) >= 3 and len(scaled.communities) >= 6 * len(scaled.streets) - 6
    assert scaled.streets["code"].is_unique and scaled.communities["code"].is_unique
    assert scaled.grids["code"].is_unique and scaled.buildings["address"].is_unique
    assert (scaled.facilities["category"] == "street_office").sum() == len(scaled.streets)


def test_scaled_city_keeps_the_grid_rules(scaled: District) -> None:
    households = _grid_households(scaled.buildings.to_crs(METRIC), scaled.grids.to_crs(METRIC))
    assert households.min() >= 300 and households.max() <= 500
