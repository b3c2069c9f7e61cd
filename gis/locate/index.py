"""Bulk point → grid location in process, vectorised: a lookup raster in front of an exact STRtree.

Rules (the same as `gis.locate.point` for a single point):

- A point belongs to a grid whose polygon *covers* it (interior or boundary, tested in lon/lat like
  PostGIS `ST_Covers` on geometry). A point on a shared edge or vertex is covered by several grids; it
  belongs to the one that comes first in `order` (e.g. the lowest grid code; default: index order, ties
  in `order` broken by index order). The rule is applied to every covering candidate, so the result
  never depends on the STRtree's internal order.
- A point covered by no grid gets the nearest grid, by planar distance in metres in `metric_crs`
  (points and grid vertices projected; grids projected once and cached). Status "snapped" if that
  distance is ≤ `snap_m`, else "outside"; the nearest grid and its distance are reported either way.
  Equidistant grids are again decided by `order`.
- Non-finite coordinates give grid -1, status "outside", distance NaN.

How it is fast: a raster over the grids' extent is built once. Cells the boundary of any grid passes
through are marked "check"; every other cell lies wholly inside one grid, or inside no grid at all,
and stores that answer. A point's cell is found by integer arithmetic, so most points need no geometry
at all; only points in "check" cells (or off the raster) go to an exact `STRtree.query(...,
predicate="covered_by")`, and only uncovered points to the metric nearest search.

Why the raster is exact: boundaries are densified so consecutive vertices are at most half a cell
apart, and for each pair of consecutive vertices the whole block of cells spanned by their two cells
is marked. Cell indices are computed with the same monotone float arithmetic at build and at lookup
time, so a point on a segment lands in a cell of the block spanned by the segment's ends: every cell
a boundary reaches (as the lookup computes cells) is "check". The remaining cells form 4-connected
components that no boundary crosses, so each component lies in one region of the arrangement; one
exact query per component (at a cell centre) labels all of its cells.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from numpy.typing import ArrayLike
from pyproj import CRS, Transformer
from scipy import ndimage

CHECK = -2  # raster code: a boundary passes through the cell, test the point exactly
NONE = -1  # raster code: the cell lies in no grid (the point goes straight to the nearest search)
CELLS_PER_GRID = 1024  # target raster cells per grid: ~32×32, so boundary cells are a small share
MAX_CELLS = 12_000_000  # memory cap: 24 MB as int16, 48 MB as int32
_BIG = np.iinfo(np.int64).max
_WORKERS = os.cpu_count() or 1
_MIN_CHUNK = 20_000  # fewer points than this per thread are not worth a thread

_Covering = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (lon, lat) -> grid index or NONE


@dataclass(frozen=True)
class Located:
    grid: np.ndarray  # int64 index into the locator's grids (0..n-1); -1 where there is none
    status: np.ndarray  # "<U8": "inside" | "snapped" | "outside"
    distance_m: np.ndarray  # float64: 0 inside; metres to the nearest grid (in `grid`) otherwise


@dataclass(frozen=True)
class _Raster:
    x0: float
    y0: float
    inv_dx: float  # cells per degree of longitude
    inv_dy: float  # cells per degree of latitude
    cells: np.ndarray  # (ny, nx) grid index, NONE or CHECK

    def lookup(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Raster code per point; CHECK for points off the raster (and NaN)."""
        ny, nx = self.cells.shape
        # Same float expression as at build time: monotone, so cells agree with the marked boundary.
        fx = np.floor((lon - self.x0) * self.inv_dx)
        fy = np.floor((lat - self.y0) * self.inv_dy)
        ok = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)  # False for NaN too
        out = np.full(lon.shape, CHECK, dtype=np.int64)
        out[ok] = self.cells[fy[ok].astype(np.intp), fx[ok].astype(np.intp)]
        return out


class GridLocator:
    """Locate many points in a set of grids (EPSG:4326 polygons); build once per published plan."""

    def __init__(
        self,
        grids: gpd.GeoSeries | gpd.GeoDataFrame,
        *,
        metric_crs: int | str,
        order: Sequence | None = None,
    ) -> None:
        series = grids.geometry if isinstance(grids, gpd.GeoDataFrame) else grids
        if series.crs is not None and not CRS.from_user_input(series.crs).equals(CRS.from_epsg(4326)):
            series = series.to_crs(4326)
        self.geoms: np.ndarray = np.asarray(series.values, dtype=object)
        self.index = grids.index
        n = len(self.geoms)
        if order is not None and len(order) != n:
            raise ValueError(f"order has {len(order)} keys for {n} grids")
        self.rank = _ranks(order, n)
        self._by_rank = np.empty_like(self.rank)  # grid index of each rank (inverse permutation)
        self._by_rank[self.rank] = np.arange(n)
        shapely.prepare(self.geoms)
        self._tree = shapely.STRtree(self.geoms)
        self._to_metric = Transformer.from_crs(4326, metric_crs, always_xy=True)
        self._metric: tuple[shapely.STRtree, np.ndarray] | None = None  # built on first nearest search
        self._extent = shapely.total_bounds(self.geoms) if n else np.full(4, np.nan)
        self._raster = _build_raster(self.geoms, self._covering) if n else None

    def __len__(self) -> int:
        return len(self.geoms)

    def locate(self, lon: ArrayLike, lat: ArrayLike, *, snap_m: float = 50.0) -> Located:
        x = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon and lat differ in length: {x.size} and {y.size}")
        grid = np.full(x.size, -1, dtype=np.int64)
        distance = np.zeros(x.size, dtype=np.float64)
        if self._raster is None:
            distance[:] = np.inf
            return Located(grid, np.full(x.size, "outside", dtype="<U8"), distance)

        code = self._raster.lookup(x, y)
        check = np.flatnonzero((code == CHECK) & self._within_extent(x, y))
        code[code == CHECK] = NONE  # off the grids' extent: covered by none
        code[check] = self._covering(x[check], y[check])
        finite = np.isfinite(x) & np.isfinite(y)
        grid[:] = code
        uncovered = np.flatnonzero((code < 0) & finite)
        grid[uncovered], distance[uncovered] = self._nearest(x[uncovered], y[uncovered])
        distance[~finite] = np.nan

        status = np.full(x.size, "inside", dtype="<U8")
        status[uncovered] = np.where(distance[uncovered] <= snap_m, "snapped", "outside")
        status[~finite] = "outside"
        return Located(grid, status, distance)

    def _within_extent(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        west, south, east, north = self._extent
        return (x >= west) & (x <= east) & (y >= south) & (y <= north)

    # -- exact paths ------------------------------------------------------------------------------------

    def _covering(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per point, the first grid in `order` that covers it, or NONE."""
        return _in_chunks(self._covering_chunk, x, y)[0]

    def _covering_chunk(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
        hit, tree_idx = self._tree.query(shapely.points(x, y), predicate="covered_by")
        return (self._first_in_order(x.size, hit, tree_idx),)

    def _nearest(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per point, the nearest grid in metric CRS (ties by `order`) and its distance in metres."""
        tree, members = self.metric_tree  # build before the threads start
        mx, my = self._to_metric.transform(x, y)
        grid, distance = _in_chunks(lambda a, b: self._nearest_chunk(tree, members, a, b), mx, my)
        return grid, distance

    def _nearest_chunk(
        self, tree: shapely.STRtree, members: np.ndarray, mx: np.ndarray, my: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        (hit, tree_idx), dist = tree.query_nearest(shapely.points(mx, my), return_distance=True, all_matches=True)
        distance = np.full(mx.size, np.inf)
        np.minimum.at(distance, hit, dist)  # all matches of a point are equidistant
        return self._first_in_order(mx.size, hit, members[tree_idx]), distance

    @property
    def metric_tree(self) -> tuple[shapely.STRtree, np.ndarray]:
        """STRtree of the grids on the edge of the coverage, projected to the metric CRS, and their indices.

        Only those can be nearest to an uncovered point: the nearest point of the union of all grids lies on
        the union's boundary, so every grid at the minimum distance touches it. Far fewer grids make the
        nearest search several times faster. Built once (vertices projected; edges stay straight).
        """
        if self._metric is None:
            metric = shapely.transform(self.geoms, self._project_coords)
            edge = shapely.boundary(shapely.unary_union(metric))
            # A centimetre's tolerance keeps grids that touch the edge only up to rounding (a superset is safe).
            members = np.unique(shapely.STRtree(metric).query(edge, predicate="dwithin", distance=0.01))
            self._metric = (shapely.STRtree(metric[members]), members)
        return self._metric

    def _project_coords(self, coords: np.ndarray) -> np.ndarray:
        mx, my = self._to_metric.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([mx, my])

    def _first_in_order(self, size: int, hit: np.ndarray, tree_idx: np.ndarray) -> np.ndarray:
        """For each of `size` queries, the candidate grid lowest in `order`; NONE without candidates."""
        best_rank = np.full(size, _BIG, dtype=np.int64)
        np.minimum.at(best_rank, hit, self.rank[tree_idx])
        found = best_rank != _BIG
        out = np.full(size, NONE, dtype=np.int64)
        out[found] = self._by_rank[best_rank[found]]
        return out


def _in_chunks(fn: Callable[..., tuple[np.ndarray, ...]], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """`fn(x, y)` over chunks in threads: shapely's STRtree queries release the GIL, so cores add up."""
    chunks = min(_WORKERS, max(1, x.size // _MIN_CHUNK))
    if chunks == 1:
        return fn(x, y)
    bounds = np.linspace(0, x.size, chunks + 1).astype(int)
    with ThreadPoolExecutor(chunks) as pool:
        parts = list(pool.map(fn, *zip(*[(x[a:b], y[a:b]) for a, b in itertools.pairwise(bounds)], strict=True)))
    return tuple(np.concatenate(column) for column in zip(*parts, strict=True))


def _ranks(order: Sequence | None, n: int) -> np.ndarray:
    """Position of each grid in the tie-break order (stable: equal keys keep index order)."""
    if order is None:
        return np.arange(n, dtype=np.int64)
    keys = list(order)
    sorted_idx = sorted(range(n), key=lambda i: keys[i])  # Python's sort is stable
    rank = np.empty(n, dtype=np.int64)
    rank[sorted_idx] = np.arange(n)
    return rank


# -- the lookup raster --------------------------------------------------------------------------------


def _build_raster(geoms: np.ndarray, covering: _Covering) -> _Raster:
    """Raster of grid index / NONE / CHECK over the grids' extent (see the module docstring)."""
    west, south, east, north = shapely.total_bounds(geoms)
    nx, ny = _raster_shape(west, south, east, north, len(geoms))
    # A tiny pad so the extent's max edge is inside the last cell rather than on the raster's edge.
    inv_dx = nx / ((east - west) * (1 + 1e-9) or 1e-9)
    inv_dy = ny / ((north - south) * (1 + 1e-9) or 1e-9)
    check = _boundary_cells(geoms, west, south, inv_dx, inv_dy, (ny, nx))
    cells = _label_free_cells(check, west, south, inv_dx, inv_dy, covering)
    dtype = np.int16 if len(geoms) < np.iinfo(np.int16).max else np.int32
    return _Raster(west, south, inv_dx, inv_dy, cells.astype(dtype))


def _raster_shape(west: float, south: float, east: float, north: float, n: int) -> tuple[int, int]:
    """(nx, ny) for about CELLS_PER_GRID cells per grid, cells roughly square on the ground."""
    target = min(MAX_CELLS, max(4096, CELLS_PER_GRID * n))
    width = max(east - west, 1e-9) * np.cos(np.radians((south + north) / 2))  # ground-proportional
    height = max(north - south, 1e-9)
    side = np.sqrt(width * height / target)
    nx = int(np.clip(np.ceil(width / side), 1, target))
    ny = int(np.clip(np.ceil(height / side), 1, target))
    return nx, ny


def _cell_of(x: np.ndarray, y: np.ndarray, x0: float, y0: float, inv_dx: float, inv_dy: float):
    # Identical to _Raster.lookup: the exactness argument needs the same expression.
    return np.floor((x - x0) * inv_dx), np.floor((y - y0) * inv_dy)


def _boundary_cells(
    geoms: np.ndarray, x0: float, y0: float, inv_dx: float, inv_dy: float, shape: tuple[int, int]
) -> np.ndarray:
    """Boolean raster: True where any grid's boundary passes through (as lookup computes cells)."""
    ny, nx = shape
    step = 0.5 * min(1 / inv_dx, 1 / inv_dy)  # ≤ half a cell: consecutive vertices in adjacent cells
    lines = shapely.get_parts(shapely.boundary(geoms))
    lines = shapely.segmentize(lines[~shapely.is_empty(lines)], step)
    coords, line_idx = shapely.get_coordinates(lines, return_index=True)
    fx, fy = _cell_of(coords[:, 0], coords[:, 1], x0, y0, inv_dx, inv_dy)
    same_line = line_idx[1:] == line_idx[:-1]
    # Each segment's block of cells: from min to max cell in each axis (span 0 or 1, rarely 2).
    lo_x = np.minimum(fx[:-1], fx[1:])[same_line]
    lo_y = np.minimum(fy[:-1], fy[1:])[same_line]
    span_x = np.abs(fx[1:] - fx[:-1])[same_line]
    span_y = np.abs(fy[1:] - fy[:-1])[same_line]
    if span_x.size and max(span_x.max(), span_y.max()) > 2:  # cannot happen with step ≤ half a cell
        raise AssertionError("boundary densification too coarse for the raster")
    check = np.zeros(shape, dtype=bool)
    for ox in range(3):
        for oy in range(3):
            sel = (span_x >= ox) & (span_y >= oy)
            cx = (lo_x[sel] + ox).clip(0, nx - 1).astype(np.intp)
            cy = (lo_y[sel] + oy).clip(0, ny - 1).astype(np.intp)
            check[cy, cx] = True
    return check


def _label_free_cells(
    check: np.ndarray, x0: float, y0: float, inv_dx: float, inv_dy: float, covering: _Covering
) -> np.ndarray:
    """Grid index (or NONE) for every non-check cell, one exact query per connected component."""
    labels, count = ndimage.label(~check)  # 4-connectivity: components share cell edges
    flat = labels.ravel()
    representative = np.zeros(count + 1, dtype=np.intp)
    representative[flat] = np.arange(flat.size)  # any cell of a component will do
    rep = representative[1:]
    row, col = np.divmod(rep, check.shape[1])
    # Cell centres: half a cell from every edge, so their computed cell is the cell itself.
    cx = x0 + (col + 0.5) / inv_dx
    cy = y0 + (row + 0.5) / inv_dy
    lut = np.empty(count + 1, dtype=np.int64)
    lut[0] = CHECK
    lut[1:] = covering(cx, cy)
    return lut[labels]
