"""GridLocator against an exact brute-force reference: every point tested with shapely.covers against every grid."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

from gis.locate import index as grid_locator
from gis.locate.index import STATUSES, GridLocator, Located

METRIC = 4549  # CGCS2000 GK zone at 120°E, holds 121.5°E
LON0, LAT0 = 121.5, 29.875
STEP = 1 / 1024  # dyadic: lattice coordinates and points on its edges are exact in binary floating point


def lattice(side: int, *, jitter: float, seed: int = 0) -> gpd.GeoDataFrame:
    """side × side quadrilaterals from shared (optionally jittered) vertices, with shuffled codes."""
    rng = np.random.default_rng(seed)
    i, j = np.meshgrid(np.arange(side + 1), np.arange(side + 1), indexing="ij")
    shift = rng.uniform(-jitter, jitter, size=(2, side + 1, side + 1))
    vx, vy = LON0 + (i + shift[0]) * STEP, LAT0 + (j + shift[1]) * STEP
    a, b = (k.ravel() for k in np.meshgrid(np.arange(side), np.arange(side), indexing="ij"))
    corners = [(a, b), (a + 1, b), (a + 1, b + 1), (a, b + 1), (a, b)]
    rings = np.stack([np.column_stack([vx[c, r], vy[c, r]]) for c, r in corners], axis=1)
    codes = [f"G{k:04d}" for k in rng.permutation(side * side)]  # order differs from index order
    return gpd.GeoDataFrame({"code": codes}, geometry=shapely.polygons(rings), crs=4326)


def voronoi(count: int, seed: int = 0) -> gpd.GeoDataFrame:
    """Voronoi cells of random sites clipped to a box, one cell as a MultiPolygon with a hole cut out."""
    rng = np.random.default_rng(seed)
    box = shapely.box(LON0, LAT0, LON0 + 16 * STEP, LAT0 + 16 * STEP)
    sites = shapely.multipoints(rng.uniform([LON0, LAT0], [LON0 + 16 * STEP, LAT0 + 16 * STEP], (count, 2)))
    cells = shapely.intersection(shapely.get_parts(shapely.voronoi_polygons(sites, extend_to=box)), box)
    hole = shapely.buffer(shapely.centroid(cells[0]), 0.2 * STEP)
    cells[0] = shapely.multipolygons([shapely.difference(cells[0], hole)])  # a gap inside the coverage
    return gpd.GeoDataFrame({"code": [f"V{k:03d}" for k in range(len(cells))][::-1]}, geometry=cells, crs=4326)


def reference(grids: gpd.GeoDataFrame, lon: np.ndarray, lat: np.ndarray, snap_m: float = 50.0) -> Located:
    """Brute force: covers against every grid, lowest code wins; else nearest in metres, lowest code on ties."""
    geoms = grids.geometry.to_numpy()
    codes = grids["code"].to_numpy()
    rank = np.argsort(np.argsort(codes, kind="stable"), kind="stable")
    points = shapely.points(lon, lat)
    covers = shapely.covers(geoms[None, :], points[:, None])
    to_metric = Transformer.from_crs(4326, METRIC, always_xy=True)
    project = lambda c: np.column_stack(to_metric.transform(c[:, 0], c[:, 1]))  # noqa: E731
    dist = shapely.distance(shapely.transform(geoms, project)[None, :], shapely.transform(points, project)[:, None])
    grid = np.empty(lon.size, dtype=np.int64)
    status = np.empty(lon.size, dtype="<U8")
    distance = np.zeros(lon.size)
    for k in range(lon.size):
        if covers[k].any():
            grid[k] = np.flatnonzero(covers[k])[np.argmin(rank[covers[k]])]
            status[k] = "inside"
        else:
            nearest = np.flatnonzero(dist[k] == dist[k].min())
            grid[k] = nearest[np.argmin(rank[nearest])]
            distance[k] = dist[k].min()
            status[k] = "snapped" if distance[k] <= snap_m else "outside"
    return Located(grid, _codes(status), distance)


def _codes(status: np.ndarray) -> np.ndarray:
    return np.array([STATUSES.index(s) for s in status], dtype=np.int8)


def assert_same(got: Located, want: Located) -> None:
    np.testing.assert_array_equal(got.status, want.status)
    np.testing.assert_array_equal(got.grid, want.grid)
    np.testing.assert_allclose(got.distance_m, want.distance_m, rtol=1e-9, atol=1e-6)


def boundary_points(grids: gpd.GeoDataFrame, count: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Every vertex (shared by up to 4 grids) plus points on edges."""
    rng = np.random.default_rng(seed)
    coords = shapely.get_coordinates(grids.geometry.to_numpy())
    lines = shapely.get_parts(shapely.boundary(grids.geometry.to_numpy()))
    on_edges = shapely.get_coordinates(shapely.line_interpolate_point(lines, rng.uniform(0, 1, (count, len(lines)))))
    pts = np.vstack([coords, on_edges])
    return pts[:, 0], pts[:, 1]


def random_points(grids: gpd.GeoDataFrame, count: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    west, south, east, north = grids.total_bounds
    pad = 0.3 * (east - west)  # about 0.15 of the extent each side: a mix of snapped and outside
    rng = np.random.default_rng(seed)
    return rng.uniform(west - pad, east + pad, count), rng.uniform(south - pad, north + pad, count)


@pytest.fixture(params=[4, 1024], ids=["coarse-raster", "fine-raster"])
def cells_per_grid(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(grid_locator, "CELLS_PER_GRID", request.param)
    return request.param


@pytest.mark.parametrize("make", [lambda: lattice(12, jitter=0.3), lambda: voronoi(60)], ids=["lattice", "voronoi"])
def test_random_points_match_brute_force(make, cells_per_grid: int) -> None:
    grids = make()
    lon, lat = random_points(grids, 20_000)
    locator = GridLocator(grids, metric_crs=METRIC, order=grids["code"].tolist())
    got = locator.locate(lon, lat)
    assert_same(got, reference(grids, lon, lat))
    assert {"inside", "snapped", "outside"} <= set(got.status)


@pytest.mark.parametrize("jitter", [0.0, 0.3], ids=["straight-edges", "jittered"])
def test_points_on_shared_edges_and_vertices_go_to_lowest_code(jitter: float, cells_per_grid: int) -> None:
    grids = lattice(8, jitter=jitter)
    lon, lat = boundary_points(grids, 20)
    if jitter == 0.0:  # exactly on vertical edges: lon on a lattice line, lat anywhere along it
        rng = np.random.default_rng(3)
        lon = np.concatenate([lon, LON0 + rng.integers(0, 9, 2000) * STEP])
        lat = np.concatenate([lat, LAT0 + rng.uniform(0, 8, 2000) * STEP])
    locator = GridLocator(grids, metric_crs=METRIC, order=grids["code"].tolist())
    got = locator.locate(lon, lat)
    want = reference(grids, lon, lat)
    assert_same(got, want)
    shared = shapely.covers(grids.geometry.to_numpy()[None, :], shapely.points(lon, lat)[:, None]).sum(axis=1) > 1
    assert shared.sum() > 100  # the test really exercises ties


def test_result_does_not_depend_on_input_order() -> None:
    grids = lattice(8, jitter=0.0)
    lon, lat = boundary_points(grids, 5)
    codes = grids["code"].to_numpy()
    first = GridLocator(grids, metric_crs=METRIC, order=list(codes)).locate(lon, lat)
    perm = np.random.default_rng(5).permutation(len(grids))
    shuffled = grids.iloc[perm].reset_index(drop=True)
    second = GridLocator(shuffled, metric_crs=METRIC, order=list(codes[perm])).locate(lon, lat)
    np.testing.assert_array_equal(codes[first.grid], shuffled["code"].to_numpy()[second.grid])


def test_default_order_is_index_order() -> None:
    grids = lattice(4, jitter=0.0)
    vertex = (np.array([LON0 + STEP]), np.array([LAT0 + STEP]))  # shared by grids 0, 1, 4, 5
    assert GridLocator(grids, metric_crs=METRIC).locate(*vertex).grid.tolist() == [0]
    assert GridLocator(grids, metric_crs=METRIC, order=[-k for k in range(16)]).locate(*vertex).grid.tolist() == [5]


def test_snapped_and_outside_distances_in_metres() -> None:
    grids = lattice(4, jitter=0.0)
    to_metric = Transformer.from_crs(4326, METRIC, always_xy=True)
    east = grids.total_bounds[2]
    lat = LAT0 + 0.5 * STEP  # beside grid 12's east edge (column 3, row 0)
    lons = np.array([east + d / (111_320 * np.cos(np.radians(lat))) for d in (10.0, 49.0, 51.0, 500.0)])
    got = GridLocator(grids, metric_crs=METRIC).locate(lons, np.full(4, lat), snap_m=50.0)
    assert got.status.tolist() == ["snapped", "snapped", "outside", "outside"]
    assert got.grid.tolist() == [12] * 4
    metric_grid = shapely.transform(grids.geometry[12], lambda c: np.column_stack(to_metric.transform(*c.T)))
    for lon, d in zip(lons, got.distance_m, strict=True):
        expected = shapely.distance(metric_grid, shapely.Point(to_metric.transform(lon, lat)))
        assert d == pytest.approx(expected, rel=1e-9)
    assert got.distance_m[0] == pytest.approx(10.0, rel=0.01)  # GK-projected metres ≈ ground metres here


def test_empty_scalar_and_nan_input() -> None:
    grids = lattice(4, jitter=0.2)
    locator = GridLocator(grids, metric_crs=METRIC)
    empty = locator.locate([], [])
    assert empty.grid.shape == empty.status.shape == empty.distance_m.shape == (0,)
    one = locator.locate(LON0 + 0.5 * STEP, LAT0 + 0.5 * STEP)
    assert (one.grid.tolist(), one.status.tolist(), one.distance_m.tolist()) == ([0], ["inside"], [0.0])
    assert locator.locate([LON0 + 0.5 * STEP], [LAT0 + 0.5 * STEP]).grid.tolist() == [0]
    bad = locator.locate([np.nan], [LAT0])
    assert bad.grid.tolist() == [-1] and bad.status.tolist() == ["outside"] and np.isnan(bad.distance_m[0])
    with pytest.raises(ValueError):
        locator.locate([1.0, 2.0], [1.0])


def test_no_grids() -> None:
    located = GridLocator(gpd.GeoSeries([], crs=4326), metric_crs=METRIC).locate([LON0], [LAT0])
    assert located.grid.tolist() == [-1] and located.status.tolist() == ["outside"]


LATTICE = lattice(16, jitter=0.0, seed=9)
LATTICE_LOCATOR = GridLocator(LATTICE, metric_crs=METRIC, order=LATTICE["code"].tolist())
HYPO_GRIDS = voronoi(30, seed=7)
HYPO_LOCATOR = GridLocator(HYPO_GRIDS, metric_crs=METRIC, order=HYPO_GRIDS["code"].tolist())
coordinate = st.tuples(
    st.floats(LON0 - 4 * STEP, LON0 + 20 * STEP, allow_nan=False),
    st.floats(LAT0 - 4 * STEP, LAT0 + 20 * STEP, allow_nan=False),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(coordinate, min_size=1, max_size=50))
def test_hypothesis_random_points(points: list[tuple[float, float]]) -> None:
    lon, lat = np.array(points).T
    assert_same(HYPO_LOCATOR.locate(lon, lat), reference(HYPO_GRIDS, lon, lat))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 16), st.integers(0, 16 * 64)), min_size=1, max_size=30))
def test_hypothesis_points_on_lattice_lines(cells: list[tuple[int, int]]) -> None:
    lon = LON0 + np.array([c for c, _ in cells]) * STEP  # on a vertical lattice line ...
    lat = LAT0 + np.array([r for _, r in cells]) * STEP / 64  # ... often on a vertex too
    assert_same(LATTICE_LOCATOR.locate(lon, lat), reference(LATTICE, lon, lat))


def test_demo_district_matches_sjoin() -> None:
    from data.demo import generate_district

    district = generate_district()
    grids = district.grids.reset_index(drop=True)
    points = gpd.GeoDataFrame(geometry=district.buildings.representative_point(), crs=4326).reset_index(drop=True)
    located = GridLocator(grids, metric_crs=METRIC, order=grids["code"].tolist()).locate(
        points.geometry.x.to_numpy(), points.geometry.y.to_numpy()
    )
    joined = gpd.sjoin(points, grids, predicate="within", how="left")
    assert joined.index.is_unique  # no building point lies on a shared edge
    want = joined["index_right"].fillna(-1).astype(int).to_numpy()
    inside = located.status == "inside"
    np.testing.assert_array_equal(np.where(inside, located.grid, -1), want)
    assert inside.mean() > 0.95
