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

The nearest search is fast the same way (`_Approach`): a second, coarser raster over the extent and a margin
around it lists, per cell, the grids' boundary segments (in the metric CRS) that can hold the nearest point for
any point of the cell: those within d + 2r of the cell's centre, d being the centre's distance to the nearest
segment and r the cell's radius (a point p of the cell is within d + r of some segment, so a segment at p's
least distance is within d + 2r of the centre). A point's distance to a grid is then the least of GEOS's own
point-to-segment formula over those segments, computed in numpy in the same IEEE operations, so the metres are
bit for bit those of `shapely.distance` (tests hold it to equality). Points off that raster, in a cell without a
list, or within `tiny` metres of a boundary (where the projected point may lie inside a grid whose lon/lat
polygon does not cover it, and GEOS says 0) take the exact STRtree path. The lists take a while to build on a
city (seconds), so they are built only on request (`complete()`, as gis.locate.bulk does for the plan index it
keeps on disk); until then every uncovered point takes the exact path.

A locator is plain data (arrays and WKB): `state()` / `from_state()` store it (gis.locate.bulk keeps one on
disk per plan content) and it pickles to batch workers (gis.batch). Building needs scipy and pyproj; looking up
points inside grids needs only numpy and shapely.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from numpy.typing import ArrayLike

from gis.geo.rings import ring_edges

if TYPE_CHECKING:
    import geopandas as gpd
    from pyproj import Transformer

CHECK = -2  # raster code: a boundary passes through the cell, test the point exactly
NONE = -1  # raster code: the cell lies in no grid (the point goes straight to the nearest search)
CELLS_PER_GRID = 4096  # target raster cells per grid: ~64×64, so boundary cells are a small share
MAX_CELLS = 12_000_000  # memory cap: 24 MB as int16, 48 MB as int32
APPROACH_CELLS_PER_GRID = 512  # nearest-search cells per grid (~22×22): a handful of segments per cell
MAX_APPROACH_CELLS = 1_000_000
APPROACH_MARGIN = 0.1  # the nearest-search raster reaches this share of the extent beyond it on each side
_BIG = np.iinfo(np.int64).max
_WORKERS = os.cpu_count() or 1
_MIN_CHUNK = 20_000  # fewer points than this per thread are not worth a thread
_DISTANCE_SLICE = 8192  # point-segment pairs computed at once (their temporaries stay in cache)
_MAX_CHUNK = 500_000  # more points than this are taken in several chunks (bounds the temporaries' memory)
STATE_FORMAT = 1  # bump when `state()` changes: stored locators of another format are rebuilt

_Covering = Callable[[np.ndarray, np.ndarray], np.ndarray]  # (lon, lat) -> grid index or NONE


STATUSES = ("inside", "snapped", "outside")  # a point's status; Located.code indexes this
INSIDE, SNAPPED, OUTSIDE = range(len(STATUSES))


@dataclass(frozen=True)
class Located:
    grid: np.ndarray  # int64 index into the locator's grids (0..n-1); -1 where there is none
    code: np.ndarray  # int8 index into STATUSES (a million points need no million strings)
    distance_m: np.ndarray  # float64: 0 inside; metres to the nearest grid (in `grid`) otherwise

    @property
    def status(self) -> np.ndarray:
        """Each point's status by name ("<U8")."""
        return np.array(STATUSES, dtype="<U8")[self.code]


@dataclass(frozen=True)
class _Raster:
    x0: float
    y0: float
    inv_dx: float  # cells per degree of longitude
    inv_dy: float  # cells per degree of latitude
    cells: np.ndarray  # (ny, nx) grid index, NONE or CHECK

    def cell_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Flat cell index per point; -1 for points off the raster (and NaN)."""
        ny, nx = self.cells.shape
        # Same float expression as at build time: monotone, so cells agree with the marked boundary.
        fx = np.floor((lon - self.x0) * self.inv_dx)
        fy = np.floor((lat - self.y0) * self.inv_dy)
        ok = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)  # False for NaN too
        flat = np.where(ok, fy * nx + fx, -1.0)
        return flat.astype(np.int64)

    def lookup(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Raster code per point; CHECK for points off the raster (and NaN)."""
        flat = self.cell_index(lon, lat)
        code = self.cells.ravel()[np.maximum(flat, 0)].astype(np.int64)
        code[flat < 0] = CHECK
        return code


@dataclass(frozen=True)
class _Approach:
    """Per cell of a raster, the boundary segments (metric CRS) that may hold the nearest point (see the module)."""

    raster: _Raster  # `cells` unused (empty); shape in `shape`
    shape: tuple[int, int]
    offsets: np.ndarray  # int64 (cells + 1,): the cell's segments are segments[offsets[c]:offsets[c + 1]]
    segments: np.ndarray  # int32 segment ids grouped by cell
    ends: np.ndarray  # float64 (4, segments): ax, ay, bx, by in metres
    grid: np.ndarray  # int64 grid index of each segment
    tiny: float  # metres: nearer than this the projected point may lie in a grid that does not cover it

    def cell_index(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        ny, nx = self.shape
        fx = np.floor((lon - self.raster.x0) * self.raster.inv_dx)
        fy = np.floor((lat - self.raster.y0) * self.raster.inv_dy)
        ok = (fx >= 0) & (fx < nx) & (fy >= 0) & (fy < ny)
        return np.where(ok, fy * nx + fx, -1.0).astype(np.int64)


class GridLocator:
    """Locate many points in a set of grids (EPSG:4326 polygons); build once per published plan."""

    def __init__(
        self,
        grids: gpd.GeoSeries | gpd.GeoDataFrame | np.ndarray | Sequence[Any],
        *,
        metric_crs: int | str,
        order: Sequence | None = None,
    ) -> None:
        geoms = _wgs84_geometries(grids)
        n = len(geoms)
        if order is not None and len(order) != n:
            raise ValueError(f"order has {len(order)} keys for {n} grids")
        self._setup(geoms, _ranks(order, n), str(metric_crs))
        self._raster = _build_raster(self.geoms, self._covering) if n else None
        self._approach: _Approach | None = None  # built by complete(); until then the nearest search is exact

    def _setup(self, geoms: np.ndarray, rank: np.ndarray, metric_crs: str) -> None:
        self.geoms: np.ndarray = geoms
        self.rank = rank
        self._by_rank = np.empty_like(self.rank)  # grid index of each rank (inverse permutation)
        self._by_rank[self.rank] = np.arange(len(geoms))
        self.metric_crs = metric_crs
        self._tree_: shapely.STRtree | None = None  # built on first exact query
        self._to_metric_: Transformer | None = None
        self._metric: tuple[shapely.STRtree, np.ndarray] | None = None  # built on first exact nearest search
        self._extent = shapely.total_bounds(geoms) if len(geoms) else np.full(4, np.nan)

    def __len__(self) -> int:
        return len(self.geoms)

    def complete(self) -> GridLocator:
        """Build what the nearest search needs now (before storing or sending the locator), not on first use."""
        if self._raster is not None and self._approach is None:
            lookup = self._raster.lookup
            self._approach = _build_approach(self.geoms, self._extent, self._project_coords, self._to_metric, lookup)
        return self

    # -- storing and sending --------------------------------------------------------------------------

    def state(self) -> dict[str, np.ndarray]:
        """The locator as named arrays (no pickle needed: np.savez / np.load(allow_pickle=False) store it)."""
        self.complete()
        wkb = shapely.to_wkb(self.geoms)
        sizes = np.fromiter((len(b) for b in wkb), dtype=np.int64, count=len(wkb))
        state = {
            "format": np.array(STATE_FORMAT),
            "metric_crs": np.array(self.metric_crs),
            "wkb": np.frombuffer(b"".join(wkb), dtype=np.uint8),
            "wkb_offsets": np.concatenate([[0], np.cumsum(sizes)]),
            "rank": self.rank,
        }
        if self._raster is not None and self._approach is not None:
            r, a = self._raster, self._approach
            state |= {
                "raster_frame": np.array([r.x0, r.y0, r.inv_dx, r.inv_dy]),
                "raster_cells": r.cells,
                "approach_frame": np.array([a.raster.x0, a.raster.y0, a.raster.inv_dx, a.raster.inv_dy, a.tiny]),
                "approach_shape": np.array(a.shape),
                "approach_offsets": a.offsets,
                "approach_segments": a.segments,
                "approach_ends": a.ends,
                "approach_grid": a.grid,
            }
        return state

    @classmethod
    def from_state(cls, state: Any) -> GridLocator:
        """The locator `state()` described (a dict of arrays or an open npz file)."""
        if int(state["format"]) != STATE_FORMAT:
            raise ValueError(f"stored locator format {int(state['format'])}, expected {STATE_FORMAT}")
        offsets = state["wkb_offsets"]
        data = state["wkb"].tobytes()
        wkb = np.array([data[a:b] for a, b in itertools.pairwise(offsets.tolist())], dtype=object)
        geoms = shapely.from_wkb(wkb) if len(wkb) else np.empty(0, dtype=object)
        locator = cls.__new__(cls)
        locator._setup(geoms, np.asarray(state["rank"], dtype=np.int64), str(state["metric_crs"]))
        locator._raster = locator._approach = None
        if "raster_frame" in state:
            x0, y0, inv_dx, inv_dy = state["raster_frame"].tolist()
            locator._raster = _Raster(x0, y0, inv_dx, inv_dy, state["raster_cells"])
            ax0, ay0, a_dx, a_dy, tiny = state["approach_frame"].tolist()
            ny, nx = state["approach_shape"].tolist()
            locator._approach = _Approach(
                _Raster(ax0, ay0, a_dx, a_dy, np.empty((0, 0), dtype=np.int16)),
                (ny, nx),
                state["approach_offsets"],
                state["approach_segments"],
                state["approach_ends"],
                state["approach_grid"],
                tiny,
            )
        return locator

    def __reduce__(self) -> tuple[Any, ...]:
        return (GridLocator.from_state, (self.state(),))

    # -- locating -------------------------------------------------------------------------------------

    def locate(self, lon: ArrayLike, lat: ArrayLike, *, snap_m: float = 50.0) -> Located:
        x = np.atleast_1d(np.asarray(lon, dtype=np.float64)).ravel()
        y = np.atleast_1d(np.asarray(lat, dtype=np.float64)).ravel()
        if x.shape != y.shape:
            raise ValueError(f"lon and lat differ in length: {x.size} and {y.size}")
        distance = np.zeros(x.size, dtype=np.float64)
        if self._raster is None:
            distance[:] = np.inf
            return Located(np.full(x.size, -1, dtype=np.int64), np.full(x.size, OUTSIDE, dtype=np.int8), distance)

        raster = self._raster
        (grid,) = _in_chunks(lambda a, b: (raster.lookup(a, b),), x, y)
        unsure = np.flatnonzero(grid == CHECK)
        if unsure.size:
            xu, yu = x[unsure], y[unsure]
            check = self._within_extent(xu, yu)  # off the grids' extent: covered by none
            found = np.full(unsure.size, NONE, dtype=np.int64)
            found[check] = self._covering(xu[check], yu[check])
            grid[unsure] = found
        finite = np.isfinite(x) & np.isfinite(y)
        uncovered = np.flatnonzero((grid < 0) & finite)
        grid[uncovered], distance[uncovered] = self._nearest(x[uncovered], y[uncovered])
        distance[~finite] = np.nan

        code = np.zeros(x.size, dtype=np.int8)  # INSIDE
        code[uncovered] = np.where(distance[uncovered] <= snap_m, SNAPPED, OUTSIDE)
        code[~finite] = OUTSIDE
        return Located(grid, code, distance)

    def _within_extent(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        west, south, east, north = self._extent
        return (x >= west) & (x <= east) & (y >= south) & (y <= north)

    # -- exact paths ------------------------------------------------------------------------------------

    @property
    def _tree(self) -> shapely.STRtree:
        if self._tree_ is None:
            shapely.prepare(self.geoms)
            self._tree_ = shapely.STRtree(self.geoms)
        return self._tree_

    @property
    def _to_metric(self) -> Transformer:
        if self._to_metric_ is None:
            from pyproj import Transformer  # only the nearest search needs pyproj

            self._to_metric_ = Transformer.from_crs(4326, self.metric_crs, always_xy=True)
        return self._to_metric_

    def _covering(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Per point, the first grid in `order` that covers it, or NONE."""
        tree = self._tree  # build before the threads start
        return _in_chunks(lambda a, b: self._covering_chunk(tree, a, b), x, y)[0]

    def _covering_chunk(self, tree: shapely.STRtree, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray]:
        hit, tree_idx = tree.query(shapely.points(x, y), predicate="covered_by")
        return (self._first_in_order(x.size, hit, tree_idx),)

    def _nearest(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per point, the nearest grid in metric CRS (ties by `order`) and its distance in metres."""
        if x.size == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        mx, my = self._to_metric.transform(x, y)
        approach = self._approach
        if approach is None:  # not built (complete()): worth its build only for large and repeated jobs
            rank, distance = self._nearest_exact(mx, my)
            return self._by_rank[rank], distance
        cell = approach.cell_index(x, y)
        grid, distance = _in_chunks(lambda a, b, c: _nearest_by_segments(approach, self.rank, a, b, c), mx, my, cell)
        exact = np.flatnonzero(grid < 0)  # off the raster, no list, or too near a boundary
        if exact.size:
            grid[exact], distance[exact] = self._nearest_exact(mx[exact], my[exact])
        grid[grid >= 0] = self._by_rank[grid[grid >= 0]]  # _nearest_by_segments answers ranks
        return grid, distance

    def _nearest_exact(self, mx: np.ndarray, my: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Ranks of the nearest grids of projected points by STRtree (GEOS distances), and the distances."""
        tree, members = self.metric_tree  # build before the threads start
        grid, distance = _in_chunks(lambda a, b: self._nearest_chunk(tree, members, a, b), mx, my)
        return self.rank[grid], distance

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


def _wgs84_geometries(grids: Any) -> np.ndarray:
    """Grid polygons as an object array in EPSG:4326 (a GeoSeries/GeoDataFrame is moved there; arrays are taken
    to be in it already)."""
    if hasattr(grids, "geometry") and hasattr(grids, "crs"):  # geopandas, without importing it here
        series = grids.geometry
        if series.crs is not None:
            from pyproj import CRS

            if not CRS.from_user_input(series.crs).equals(CRS.from_epsg(4326)):
                series = series.to_crs(4326)
        return np.asarray(series.values, dtype=object)
    return np.asarray(grids, dtype=object).ravel()


def _in_chunks(fn: Callable[..., tuple[np.ndarray, ...]], *columns: np.ndarray) -> tuple[np.ndarray, ...]:
    """`fn(*columns)` over chunks in threads: shapely's STRtree queries and numpy's large array operations release
    the GIL, so cores add up."""
    size = columns[0].size
    chunks = max(min(_WORKERS, size // _MIN_CHUNK), -(-size // _MAX_CHUNK), 1)
    if chunks == 1:
        return fn(*columns)
    bounds = np.linspace(0, size, chunks + 1).astype(int)
    with ThreadPoolExecutor(min(chunks, _WORKERS)) as pool:
        parts = list(pool.map(fn, *[[c[a:b] for a, b in itertools.pairwise(bounds)] for c in columns]))
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
    nx, ny = _raster_shape(west, south, east, north, CELLS_PER_GRID * len(geoms), MAX_CELLS)
    # A tiny pad so the extent's max edge is inside the last cell rather than on the raster's edge.
    inv_dx = nx / ((east - west) * (1 + 1e-9) or 1e-9)
    inv_dy = ny / ((north - south) * (1 + 1e-9) or 1e-9)
    check = _boundary_cells(geoms, west, south, inv_dx, inv_dy, (ny, nx))
    cells = _label_free_cells(check, west, south, inv_dx, inv_dy, covering)
    dtype = np.int16 if len(geoms) < np.iinfo(np.int16).max else np.int32
    return _Raster(west, south, inv_dx, inv_dy, cells.astype(dtype))


def _raster_shape(west: float, south: float, east: float, north: float, cells: int, cap: int) -> tuple[int, int]:
    """(nx, ny) for about `cells` cells (at least 4096, at most `cap`), cells roughly square on the ground."""
    target = min(cap, max(4096, cells))
    width = max(east - west, 1e-9) * np.cos(np.radians((south + north) / 2))  # ground-proportional
    height = max(north - south, 1e-9)
    side = np.sqrt(width * height / target)
    nx = int(np.clip(np.ceil(width / side), 1, target))
    ny = int(np.clip(np.ceil(height / side), 1, target))
    return nx, ny


def _cell_of(x: np.ndarray, y: np.ndarray, x0: float, y0: float, inv_dx: float, inv_dy: float):
    # Identical to _Raster.cell_index: the exactness argument needs the same expression.
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
    from scipy import ndimage  # only building a raster needs scipy

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


# -- the nearest search ---------------------------------------------------------------------------------


def _segments(metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every boundary segment of every grid, as GEOS walks them: ends (4, n) and grid index (n,)."""
    start, end, grid = ring_edges(metric)
    return np.stack([start[:, 0], start[:, 1], end[:, 0], end[:, 1]]), grid.astype(np.int64)


def _build_approach(
    geoms: np.ndarray,
    extent: np.ndarray,
    project: Callable[[np.ndarray], np.ndarray],
    to_metric: Transformer,
    lookup: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> _Approach:
    """Candidate boundary segments per cell of a raster over the grids' extent and a margin (see the module)."""
    metric = shapely.transform(geoms, project)
    ends, seg_grid = _segments(metric)
    west, south, east, north = extent
    pad_x, pad_y = APPROACH_MARGIN * (east - west), APPROACH_MARGIN * (north - south)
    west, south, east, north = west - pad_x, south - pad_y, east + pad_x, north + pad_y
    cells = int(APPROACH_CELLS_PER_GRID * len(geoms) * (1 + 2 * APPROACH_MARGIN) ** 2)
    nx, ny = _raster_shape(west, south, east, north, cells, MAX_APPROACH_CELLS)
    inv_dx = nx / ((east - west) or 1e-9)
    inv_dy = ny / ((north - south) or 1e-9)
    frame = _Raster(west, south, inv_dx, inv_dy, np.empty((0, 0), dtype=np.int16))

    # Cell centres in metres, and one radius for every cell: the largest centre-to-corner distance among cells at
    # the raster's corners and middle, plus 1 % (over a city the projection's scale changes by far less).
    row, col = np.divmod(np.arange(nx * ny), nx)
    lon, lat = west + (col + 0.5) / inv_dx, south + (row + 0.5) / inv_dy
    cx, cy = to_metric.transform(lon, lat)
    sample = np.array([0, nx - 1, (ny // 2) * nx + nx // 2, (ny - 1) * nx, ny * nx - 1])
    corner_x = west + (col[sample] + np.array([[0], [1], [0], [1]])) / inv_dx
    corner_y = south + (row[sample] + np.array([[0], [0], [1], [1]])) / inv_dy
    kx, ky = to_metric.transform(corner_x, corner_y)
    radius = float(np.sqrt((kx - cx[sample]) ** 2 + (ky - cy[sample]) ** 2).max()) * 1.01 + 0.001

    lines = shapely.linestrings(ends.T.reshape(-1, 2, 2))
    tree = shapely.STRtree(lines)
    centres = shapely.points(cx, cy)
    # Cells wholly inside a grid (centre covered, no boundary within 2r) get no list: none of their points is
    # uncovered. A point computed into such a cell that is uncovered after all finds no list: the exact path.
    # Found by a fixed-radius query (far cheaper than the nearest segment of each of a million cells), and the
    # tree's queries taken in chunks on every core (GEOS releases the GIL).
    inside = lookup(lon, lat) >= 0
    covered = np.flatnonzero(inside)
    near = _tree_query(tree, centres[covered], 2 * radius)
    open_cells = np.union1d(np.flatnonzero(~inside), covered[np.unique(near[0])])
    (nearest,) = _in_chunks(
        lambda c: (tree.query_nearest(c, return_distance=True, all_matches=False)[1],), centres[open_cells]
    )
    reach = nearest + 2 * radius + 0.001
    cell_of, seg = _tree_query(tree, centres[open_cells], reach)
    order = np.lexsort((seg, cell_of))  # grouped by cell
    cell_of, seg = cell_of[order], seg[order]
    counts = np.zeros(nx * ny, dtype=np.int64)
    np.add.at(counts, open_cells[cell_of], 1)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    tiny = _tiny(geoms, ends, to_metric)
    return _Approach(frame, (ny, nx), offsets, seg.astype(np.int32), ends, seg_grid, tiny)


def _tree_query(tree: shapely.STRtree, points: np.ndarray, distance: float | np.ndarray) -> np.ndarray:
    """`tree.query(points, predicate="dwithin", distance=distance)` in chunks on every core: (2, n) pairs of point
    and tree indices."""
    if points.size == 0:
        return np.empty((2, 0), dtype=np.int64)
    distances = np.broadcast_to(np.asarray(distance, dtype=np.float64), points.shape)

    def chunk(p: np.ndarray, d: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        point, found = tree.query(p, predicate="dwithin", distance=d)
        return point + at[0], found

    return np.stack(_in_chunks(chunk, points, distances, np.arange(points.size)))


def _tiny(geoms: np.ndarray, ends: np.ndarray, to_metric: Transformer) -> float:
    """Metres within which a projected point may lie inside a grid whose lon/lat polygon does not cover it.

    Such a point lies between a lon/lat edge's image (a gently curved line) and the straight edge between the
    projected ends; the two part most near the middle, where the gap is measured for every edge (with a
    fourfold margin for the curve's shape and a millimetre at least)."""
    lonlat, _ = _segments(geoms)  # the same segments in the same order as `ends` (transform keeps vertices)
    if lonlat.shape[1] == 0:
        return 0.001
    mx, my = to_metric.transform((lonlat[0] + lonlat[2]) / 2, (lonlat[1] + lonlat[3]) / 2)
    gap = _point_segment_distance(np.asarray(mx), np.asarray(my), *ends)
    return float(max(0.001, 4 * np.nanmax(gap)))


def _point_segment_distance(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    """GEOS's Distance::pointToSegment, operation for operation, so the results are bit for bit the same.

    GEOS: A == B -> |pA|; else r = (AP·AB)/|AB|²; r <= 0 -> |pA|; r >= 1 -> |pB|; else |s|·|AB| with
    s = ((Ay-py)(Bx-Ax) - (Ax-px)(By-Ay))/|AB|². Taken in slices that stay in the processor's cache."""
    out = np.empty(px.size)
    step = _DISTANCE_SLICE
    for a in range(0, px.size, step):
        b = a + step
        out[a:b] = _point_segment_slice(px[a:b], py[a:b], ax[a:b], ay[a:b], bx[a:b], by[a:b])
    return out


def _point_segment_slice(
    px: np.ndarray, py: np.ndarray, ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray
) -> np.ndarray:
    dx = bx - ax
    dy = by - ay
    len2 = dx * dx
    len2 += dy * dy
    pax = px - ax
    pay = py - ay
    with np.errstate(divide="ignore", invalid="ignore"):
        r = pax * dx
        r += pay * dy
        r /= len2
        s = (ay - py) * dx
        s -= (ax - px) * dy
        s /= len2
    np.abs(s, out=s)
    s *= np.sqrt(len2)
    at_a = pax * pax
    at_a += pay * pay
    np.sqrt(at_a, out=at_a)
    pbx = px - bx
    pby = py - by
    at_b = pbx * pbx
    at_b += pby * pby
    np.sqrt(at_b, out=at_b)
    np.copyto(s, at_b, where=r >= 1)
    np.copyto(s, at_a, where=(r <= 0) | (len2 == 0))
    return s


def _nearest_by_segments(
    approach: _Approach, rank: np.ndarray, mx: np.ndarray, my: np.ndarray, cell: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per projected point (in raster cell `cell`), the rank of the nearest grid and its distance, from the cell's
    candidate segments; rank -1 where the exact path must answer (off the raster, no list, too near). Taken in
    blocks of points whose pairs stay in the processor's cache."""
    n = mx.size
    best = np.full(n, -1, dtype=np.int64)
    distance = np.full(n, np.inf)
    on = np.flatnonzero(cell >= 0)
    start = approach.offsets[cell[on]]
    count = approach.offsets[cell[on] + 1] - start
    listed = count > 0
    on, start, count = on[listed], start[listed], count[listed]
    block = max(1, _DISTANCE_SLICE // max(1, int(count.mean()) if count.size else 1))
    for a in range(0, on.size, block):
        points, first, many = on[a : a + block], start[a : a + block], count[a : a + block]
        lead = np.cumsum(many) - many
        pair = np.repeat(points, many)
        seg = approach.segments[np.arange(int(lead[-1] + many[-1])) - np.repeat(lead - first, many)]
        ax, ay, bx, by = approach.ends[:, seg]
        d = _point_segment_slice(mx[pair], my[pair], ax, ay, bx, by)
        least = np.minimum.reduceat(d, lead)
        # Ties: every grid at the least distance is a candidate, the first in `order` wins.
        tied = np.where(d == np.repeat(least, many), rank[approach.grid[seg]], _BIG)
        distance[points] = least
        best[points] = np.minimum.reduceat(tied, lead)
    best[distance < approach.tiny] = -1
    return best, distance
