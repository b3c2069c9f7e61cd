"""Units: the atomic pieces a community is tiled with, so that grids never cut a building.

A community (社区) is cut into **units** with no gap and no overlap. The street network, clipped to the
community boundary, splits it into blocks (momepy *enclosures*); inside each block an enclosed tessellation
(momepy) gives every building a cell: the land closer to it than to any other building. Every building is in
exactly one unit (its cell), and a block without buildings is a unit of open space. A grid is a set of units
(DESIGN.md §3), so its polygon is the coverage union of its units and its edges follow the cells' edges.

Real footprints and the tessellation need repairs (DESIGN.md §9), all reported in `UnitLayout.notes`:

- footprints are made valid (polygonal parts only). Buildings overlapping by 5 % of the smaller one or more
  (duplicates, building parts) are tessellated as one footprint and share a unit; smaller overlaps are cut
  off the smaller footprint. Streets are cut where they run through a building (OSM passages), so that no
  block edge splits a building;
- the Voronoi sites (shrunk, segmentized footprints, as momepy makes them) are moved by up to a millimetre,
  because GEOS's Voronoi diagram comes out wrong on evenly spaced co-circular sites (any rectangle); a block
  whose cells still overlap is tessellated again with other jitter;
- the cells are clipped to the boundary, the gaps left are added as extra pieces, and everything goes through
  `shapely.coverage_clean` at once, so that all pieces are edge-matched and cover the boundary;
- a unit is kept in one piece where possible: the parts of a cell that hold none of its building's footprint,
  and the gap pieces, join the neighbouring unit they share the longest border with (a coverage union of
  edge-matched pieces keeps the coverage valid). A unit stays a MultiPolygon only where two of its parts each
  hold a real share of its building;
- a building whose cell collapsed goes to the unit that holds its representative point; a building whose
  representative point lies in another unit has its unit merged with that one. Either way a unit may hold
  several buildings, and a unit's kind is "building" exactly when it holds one.

Everything is pure (shapely/geopandas in, frames out) and expects a metric CRS.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from gis.geo.crs import STORAGE_CRS, STORAGE_SRID
from gis.geo.rings import ring_edges

__all__ = ["BuiltUnits", "CommunityGround", "UnitLayout", "build_units", "community_units", "unit_adjacency"]

BUILDING, OPEN = "building", "open"
OVERLAP_SHARE = 0.05  # buildings overlapping by this share of the smaller one are one footprint
CELL_SHARE = 0.05  # a cell holding less of its building than this share is open space (momepy's threshold)
CORE_SHARE = 0.01  # a part of a cell holding this share of its building's footprint stays in the unit
SHRINK, SEGMENT = 0.4, 0.5  # momepy's defaults: quality and speed are both fine at community scale
# Each edge of a site is segmentized by the gap g between its footprint and the nearest other one. The border the
# Voronoi diagram draws between two rows of points spaced s, d = g + 2 × SHRINK apart, strays by s² / 8d from the
# midline, and the midline lies g / 2 from either footprint: a spacing of √(8 d × STRAY × g) keeps the border within
# STRAY × g of the midline, so it never cuts a footprint (a quarter of the gap to spare). Edges facing a street or
# a yard need few points, edges facing a neighbour across a lane more: 2.6 m for the 1.5 m lanes of the synthetic
# city, where a fixed half of d (momepy's way, adapted) gave 1.15 m and twice the points.
STRAY, MAX_SEGMENT = 0.25, 10.0
OVERLAP_EXCESS = 1e-3  # cells exceeding their block's area by this share overlap: tessellate again
JITTER = 1e-3  # metres: breaks ties between Voronoi sites, far above the 1e-5 m grid libpysal snaps to
RETRIES = 3
SLIVER = 1e-4  # metres: gaps thinner than this are float noise, merged by the cleaner
EDGE_SHARE = 1e-6  # a shared border shorter than this share of the perimeter is a corner, not an edge
POINT_TOLERANCE = 1e-6  # metres


@dataclass(frozen=True)
class UnitLayout:
    """Units tiling one community and the unit of every building."""

    units: gpd.GeoDataFrame  # RangeIndex; "kind" ("building" | "open"), geometry; the input's CRS
    building_unit: pd.Series  # building id -> unit row; every input building exactly once
    notes: list[str] = field(default_factory=list)  # repairs, for the import log


def build_units(
    boundary: shapely.Geometry, buildings: gpd.GeoDataFrame, streets: gpd.GeoSeries | None = None
) -> UnitLayout:
    """Tile `boundary` with units: one per building (its tessellation cell) and one per empty block.

    `buildings` has a unique non-negative integer index (building ids) and polygon geometry (invalid and
    overlapping footprints are repaired, see the module docstring); `streets` are lines that may reach beyond
    the boundary. All in one metric CRS. Build once per community, not per edit: momepy's tessellation takes
    seconds. Raises ValueError for a boundary without area, bad ids or a building without geometry.
    """
    crs = buildings.crs
    boundary = _polygonal(shapely.make_valid(boundary))
    if boundary.is_empty:
        raise ValueError("the community boundary has no area")
    notes: list[str] = []
    footprints, group = _footprints(buildings, notes)
    enclosures = _enclosures(boundary, streets, footprints, crs)
    cells, block_of = _tessellate(footprints, enclosures, crs, notes)
    pieces, label = _clean(cells, boundary, enclosures, block_of)
    label = _orphan_parts(pieces, label, footprints)
    label = _assign_orphans(pieces, label, notes)
    label, building_label = _place_buildings(buildings, group, pieces, label, notes)
    units, building_unit = _dissolve(pieces, label, building_label, crs)
    return UnitLayout(units, building_unit, notes)


@dataclass(frozen=True)
class CommunityGround:
    """What one community's units are built from, in a metric CRS: plain data, so that a batch worker can take it."""

    community_id: int
    boundary: shapely.Geometry
    buildings: gpd.GeoDataFrame  # index: building id; compound, households, population; footprint geometry
    streets: gpd.GeoSeries  # lines (may be empty)


@dataclass(frozen=True)
class BuiltUnits:
    """One community's units with their totals, each building's unit and the units' adjacency: all a store needs, and
    no more (it travels back from a batch worker: each unit's shape once, as stored)."""

    community_id: int
    units: pd.DataFrame  # RangeIndex; kind, households, population, buildings, compound, area_m2
    building_unit: pd.Series  # building id -> unit row
    adjacency: np.ndarray  # (m, 2) unit rows sharing an edge
    notes: list[str]
    storage_wkb: np.ndarray  # each unit as stored: a MultiPolygon in the storage CRS, EWKB (made on the worker)

    def shapes(self, crs: object) -> np.ndarray:
        """The units' shapes in `crs` (a metric CRS, for carrying plans over)."""
        return gpd.GeoSeries(shapely.from_wkb(self.storage_wkb), crs=STORAGE_CRS).to_crs(crs).to_numpy()


def community_units(ground: CommunityGround) -> BuiltUnits:
    """build_units for one community, with each unit's totals (households, population, buildings; its buildings'
    compound where they agree) and adjacency — the part of a units job that runs on batch workers (gis/batch.py)."""
    buildings = ground.buildings
    layout = build_units(ground.boundary, buildings, ground.streets if len(ground.streets) else None)
    units = layout.units
    members = buildings.join(layout.building_unit.rename("unit"))
    totals = members.groupby("unit").agg(
        households=("households", "sum"), population=("population", "sum"), buildings=("households", "size")
    )
    # A unit's compound is its buildings' compound when they agree (compounds are kept whole when balancing).
    by_unit = members.groupby("unit")["compound"]
    compound = by_unit.first().where(by_unit.nunique(dropna=False) == 1)
    geoms = units.geometry.to_numpy()
    table = pd.DataFrame(units.drop(columns=units.geometry.name)).join(totals).join(compound.rename("compound"))
    table[["households", "population", "buildings"]] = table[["households", "population", "buildings"]].fillna(0)
    table["compound"] = table["compound"].astype(object).where(table["compound"].notna(), None)  # NaN is no compound
    table["area_m2"] = shapely.area(geoms)
    adjacency = _coverage_adjacency(geoms)
    stored, unit = shapely.get_parts(units.geometry.to_crs(STORAGE_CRS).to_numpy(), return_index=True)
    stored = shapely.set_srid(shapely.multipolygons(stored, indices=unit), STORAGE_SRID)
    wkb = np.asarray(shapely.to_wkb(stored, include_srid=True), dtype=object)
    return BuiltUnits(ground.community_id, table, layout.building_unit, adjacency, layout.notes, wkb)


def unit_adjacency(units: gpd.GeoSeries | gpd.GeoDataFrame) -> np.ndarray:
    """(m, 2) array of unit positions i < j that share an edge (a border of positive length, not a corner)."""
    return _shared_borders(units.geometry.to_numpy())


# -- footprints --------------------------------------------------------------------------------------------

_NO_LABEL = np.iinfo(np.int64).min  # a piece that belongs to no unit yet


def _polygonal(geom: shapely.Geometry) -> shapely.Geometry:
    """The polygonal part of a geometry (make_valid may return collections with lines and points)."""
    if geom is None:
        return shapely.Polygon()
    if shapely.get_type_id(geom) in (3, 6):  # Polygon, MultiPolygon
        return geom
    parts = shapely.get_parts(geom)
    polys = parts[shapely.get_type_id(parts) == 3]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _footprints(buildings: gpd.GeoDataFrame, notes: list[str]) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    """Valid, disjoint footprints to tessellate, and the footprint label of every building (_NO_LABEL: none).

    Tessellating overlapping footprints gives overlapping, interleaved cells. Buildings that overlap by a real
    share of the smaller one (duplicates, building parts) are unioned into one footprint labelled by their
    smallest id; smaller overlaps (shared walls drawn twice) are cut off the smaller footprint.
    """
    ids = buildings.index.to_numpy()
    if len(ids) and (ids.min() < 0 or not buildings.index.is_unique):
        raise ValueError("building ids (the index) must be unique and non-negative")
    geoms = np.array([_polygonal(g) for g in shapely.make_valid(buildings.geometry.to_numpy())], dtype=object)
    empty = shapely.is_empty(geoms) | (shapely.area(geoms) <= 0)
    if empty.any():
        notes.append(f"{int(empty.sum())} buildings have no valid area; placed by their position only")
    group = np.where(empty, _NO_LABEL, ids)
    left, right, overlap = _overlaps(geoms, np.flatnonzero(~empty))
    big = overlap >= OVERLAP_SHARE * np.minimum(shapely.area(geoms[left]), shapely.area(geoms[right]))
    group = _union_groups(group, left[big], right[big])
    if big.any():
        notes.append(f"{int((group[~empty] != ids[~empty]).sum())} buildings overlap another one and share its unit")
    label, geoms = group[~empty], geoms[~empty]
    # One footprint per label: the union of the few that share one (most buildings have a label of their own).
    labels, first, size = np.unique(label, return_index=True, return_counts=True)
    merged = geoms[first]
    for k in np.flatnonzero(size > 1):
        merged[k] = _polygonal(shapely.union_all(geoms[label == labels[k]]))
    index = pd.Index(labels.astype(np.int64), name="label")
    footprints = gpd.GeoDataFrame(geometry=merged, index=index, crs=buildings.crs)
    return _disjoint(footprints, notes), group


def _overlaps(geoms: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of `rows` (left < right) whose geometries overlap, and the overlap area."""
    left, right = shapely.STRtree(geoms[rows]).query(geoms[rows], predicate="intersects")
    pairs = left < right
    left, right = rows[left[pairs]], rows[right[pairs]]
    overlap = shapely.area(shapely.intersection(geoms[left], geoms[right]))
    return left[overlap > 0], right[overlap > 0], overlap[overlap > 0]


def _disjoint(footprints: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    """Cut from each footprint the larger footprints it overlaps, so that none overlap; drop those left empty."""
    original = footprints.geometry.to_numpy()
    geoms = original.copy()
    left, right, _ = _overlaps(original, np.arange(len(original)))
    if not len(left):
        return footprints
    area = shapely.area(geoms)
    larger_left = (area[left] > area[right]) | ((area[left] == area[right]) & (left < right))
    loser = np.where(larger_left, right, left)
    winner = np.where(larger_left, left, right)
    # subtracting the winners' whole original footprints keeps every pair disjoint, whatever the order
    for cut, rows in pd.Series(winner).groupby(loser):
        geoms[cut] = _polygonal(shapely.difference(original[cut], shapely.union_all(original[rows.to_numpy()])))
    notes.append(f"{len(np.unique(loser))} footprints overlap a larger one slightly and were cut back")
    keep = ~shapely.is_empty(geoms) & (shapely.area(geoms) > 0)
    return footprints.set_geometry(geoms)[keep]


def _union_groups(group: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Relabel every connected set of positions (joined by the pairs left-right) by its smallest label."""
    n = len(group)
    graph = coo_matrix((np.ones(len(left)), (left, right)), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    smallest = pd.Series(group).groupby(component).transform("min").to_numpy()
    return np.where(group == _NO_LABEL, group, smallest)


# -- blocks and cells --------------------------------------------------------------------------------------


def _enclosures(
    boundary: shapely.Geometry, streets: gpd.GeoSeries | None, footprints: gpd.GeoDataFrame, crs
) -> gpd.GeoSeries:
    """Blocks: the boundary cut by the streets inside it (the boundary itself when there are none).

    Streets are cut out where they pass through a building (OSM maps passages and indoor corridors as
    footways), so that a block edge never splits a building; such a passage then joins the blocks it divided.
    """
    limit = gpd.GeoSeries([boundary], crs=crs)
    lines = np.empty(0, dtype=object)
    if streets is not None and len(streets):
        # Keep streets crossing the boundary by a little: momepy cuts them there itself, whereas a line
        # clipped exactly to the boundary ends on it only to rounding and may not cut the block.
        reach = boundary.buffer(STREET_REACH_M, join_style="mitre")
        clipped = shapely.intersection(_extended(streets.geometry.to_numpy(), STREET_REACH_M), reach)
        line, fp = footprints.sindex.query(clipped, predicate="intersects")
        if len(line):
            built = shapely.union_all(footprints.geometry.to_numpy()[np.unique(fp)])
            crossing = np.unique(line)
            clipped[crossing] = shapely.difference(clipped[crossing], built)
        parts = shapely.get_parts(clipped)
        lines = parts[np.isin(shapely.get_type_id(parts), (1, 2))]  # LineString, LinearRing
    if not len(lines):
        return gpd.GeoSeries(shapely.get_parts(boundary), crs=crs)
    # momepy.enclosures(lines, limit, clip=True), without its import (libpysal, scikit-learn: seconds in every
    # worker process): the faces of the streets and the boundary's rings, less those in the boundary's holes.
    rings = shapely.get_parts(shapely.boundary(limit.to_numpy()))
    faces = shapely.get_parts(shapely.polygonize([shapely.union_all(np.concatenate([lines, rings]))]))
    inside = shapely.contains(boundary, shapely.point_on_surface(faces))
    return gpd.GeoSeries(faces[inside], crs=crs)


STREET_REACH_M = 1.0


def _extended(lines: np.ndarray, distance: float) -> np.ndarray:
    """Lines lengthened by `distance` at both ends along their end segments.

    A street digitised up to the community boundary ends on it only to rounding (after reprojection it
    may stop a hair short), and then it does not cut the block; reaching a little past makes it cross.
    """
    out = lines.copy()
    for i, line in enumerate(lines):
        if line is None or line.geom_type != "LineString" or line.is_empty:
            continue
        xy = np.asarray(line.coords)[:, :2]
        if len(xy) < 2:
            continue
        head, tail = xy[0] - xy[1], xy[-1] - xy[-2]
        head_len, tail_len = np.hypot(*head), np.hypot(*tail)
        if head_len > 0:
            xy[0] = xy[0] + head / head_len * distance
        if tail_len > 0:
            xy[-1] = xy[-1] + tail / tail_len * distance
        out[i] = shapely.LineString(xy)
    return out


def _tessellate(
    footprints: gpd.GeoDataFrame, blocks: gpd.GeoSeries, crs, notes: list[str]
) -> tuple[gpd.GeoSeries, np.ndarray]:
    """Cells indexed by footprint label (open blocks get negative labels; a label may have several cells), and the
    block (index) of each."""
    cells = _enclosed_tessellation(footprints, blocks, seed=0)
    for seed in range(1, RETRIES + 1):
        # GEOS's Voronoi diagram can still come out wrong (overlapping cells) on a degenerate set of sites:
        # tessellate those blocks again with other jitter.
        bad = _overlapping_blocks(cells, blocks)
        if not len(bad):
            break
        notes.append(f"{len(bad)} blocks had overlapping cells and were tessellated again")
        again = _enclosed_tessellation(footprints, blocks.loc[bad], seed=seed)
        cells = pd.concat([cells[~cells["block"].isin(bad)], again])
    label = cells.index.to_numpy(dtype=np.int64, copy=True)
    label[label < 0] = -1 - np.arange((label < 0).sum())  # open blocks, numbered afresh after a retry
    cells_of = _open_touching(gpd.GeoSeries(cells.geometry.to_numpy(), index=label, crs=crs), footprints)
    return cells_of, cells["block"].to_numpy()


def _enclosed_tessellation(footprints: gpd.GeoDataFrame, blocks: gpd.GeoSeries, seed: int) -> gpd.GeoDataFrame:
    """Enclosed tessellation, momepy's algorithm: cells indexed by footprint label (-1: an open block), with the
    "block" index they lie in. A block touched by one site is that building's cell; in a block touched by several,
    the sites holding more than CELL_SHARE of their area inside it share it by Voronoi diagram.

    Written out here rather than called (momepy.enclosed_tessellation through libpysal.voronoi_frames): theirs
    builds frames and a groupby per block, over half the time of a community (measured on the 194 k-building
    city); this does the same GEOS operations on arrays, and gives each Voronoi cell to the site whose vertex made
    it (GEOS's ordered cells) rather than to every site it touches, so that cells do not overlap."""
    sites = _sites(footprints, seed)
    site_geoms, labels = sites.shapes, sites.labels
    block_geoms = blocks.to_numpy()
    block_of, site = shapely.STRtree(site_geoms).query(block_geoms, predicate="intersects")
    order = np.lexsort((site, block_of))
    block_of, site = block_of[order], site[order]
    touched = np.bincount(block_of, minlength=len(block_geoms))
    shared = touched[block_of] > 1
    keep = np.ones(len(site), dtype=bool)  # a block's only site is kept whatever its share (momepy's rule)
    inside = shapely.area(shapely.intersection(site_geoms[site[shared]], block_geoms[block_of[shared]]))
    keep[shared] = inside > CELL_SHARE * shapely.area(site_geoms[site[shared]])
    block_of, site = block_of[keep], site[keep]
    starts = np.searchsorted(block_of, np.arange(len(block_geoms) + 1))
    first_point = np.searchsorted(sites.owner, np.arange(len(site_geoms) + 1))
    geoms: list[np.ndarray] = []
    owners: list[np.ndarray] = []
    for b, block in enumerate(block_geoms):
        mine = site[starts[b] : starts[b + 1]]
        if len(mine) > 1:
            counts = first_point[mine + 1] - first_point[mine]
            at = np.repeat(first_point[mine] - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
            cells, owner = _voronoi_cells(sites.xy[at], np.repeat(np.arange(len(mine)), counts), block)
            geoms.append(cells)
            owners.append(labels[mine][owner])
        else:
            geoms.append(np.array([block], dtype=object))
            owners.append(labels[mine] if len(mine) else np.array([-1], dtype=np.int64))
    counts = [len(g) for g in geoms]
    return gpd.GeoDataFrame(
        {"block": np.repeat(blocks.index.to_numpy(), counts)},
        geometry=np.concatenate(geoms),
        index=np.concatenate(owners).astype(np.int64),
        crs=blocks.crs,
    )


GRID_SIZE = 1e-5  # metres: libpysal's precision for the sites of a Voronoi diagram


def _voronoi_cells(xy: np.ndarray, owner: np.ndarray, block: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """The block shared among two or more sites, given as points `xy` and the site of each (`owner`, ascending):
    one cell per site (the union of its points' Voronoi cells, clipped to the block), and each cell's site."""
    xy = np.round(xy / GRID_SIZE) * GRID_SIZE  # libpysal's set_precision, on the vertices: all the diagram uses
    _, first = np.unique(xy, axis=0, return_index=True)  # shared points: one cell each
    first.sort()
    xy, owner = xy[first], owner[first]
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=block, ordered=True))
    if len(cells) != len(xy):  # never seen; the point-in-cell test gives the same answer, slower
        hit, at = shapely.STRtree(cells).query(shapely.points(xy), predicate="intersects")
        first_hit = np.unique(hit, return_index=True)[1]
        cells, owner = cells[at[first_hit]], owner[hit[first_hit]]
    present, starts = np.unique(owner, return_index=True)
    merged = np.array([_union_cells(group) for group in np.split(cells, starts[1:])], dtype=object)
    bad = ~shapely.is_valid(merged)  # a degenerate diagram's cells cross themselves (then the block is retried)
    merged[bad] = [_polygonal(g) for g in shapely.make_valid(merged[bad])]
    shapely.prepare(block)
    clip = ~shapely.contains_properly(block, merged)
    merged[clip] = shapely.intersection(merged[clip], block)
    return merged, present


def _union_cells(cells: np.ndarray) -> shapely.Geometry:
    """The cells of one site's vertices as one polygon (they are edge-matched: a coverage union, else a union
    where GEOS's coverage union refuses float noise or a degenerate diagram's cells that cross themselves)."""
    if len(cells) == 1:
        return cells[0]
    try:
        return shapely.coverage_union_all(cells)
    except shapely.errors.GEOSException:
        return shapely.union_all([_polygonal(g) for g in shapely.make_valid(cells)])


@dataclass(frozen=True)
class _Sites:
    """Footprints as the Voronoi diagram sees them."""

    shapes: np.ndarray  # each footprint shrunk by SHRINK (a footprint narrower than twice that has no site)
    labels: np.ndarray  # the footprint label of each shape
    xy: np.ndarray  # (n, 2) the diagram's points: along the shapes' rings, spaced per edge, jittered
    owner: np.ndarray  # the shape (position) of each point, ascending


def _sites(footprints: gpd.GeoDataFrame, seed: int) -> _Sites:
    """Shrunk footprints and the points along their rings: momepy's `shrink` and `segment`, with the points
    spaced edge by edge (see STRAY), plus the jitter: GEOS's Voronoi diagram comes out wrong
    (overlapping cells) on sites with many co-circular points, such as evenly segmented rectangles. The jitter is
    a function of the coordinates, so that points shared by two rings move together.
    """
    original = footprints.geometry.to_numpy()
    shrunk = shapely.buffer(original, -SHRINK, cap_style="flat", join_style="mitre")
    solid = ~shapely.is_empty(shrunk)
    shapes = np.array([_polygonal(g) for g in shrunk[solid]], dtype=object)
    start, end, owner = ring_edges(shapes)
    spacing = _segments(start, end, np.flatnonzero(solid)[owner], original)
    count = np.maximum(np.ceil(np.hypot(*(end - start).T) / spacing), 1).astype(np.int64)
    of_point = np.repeat(np.arange(len(start)), count)
    step = np.arange(len(of_point)) - np.repeat(np.cumsum(count) - count, count)
    points = start[of_point] + (end - start)[of_point] * (step / count[of_point])[:, None]
    phase = np.sin(points @ np.array([[12.9898, 39.3467], [78.233, 11.135]]) + seed) * 43758.5453
    points = points + JITTER * (2 * (phase - np.floor(phase)) - 1)
    return _Sites(shapes, footprints.index.to_numpy(dtype=np.int64)[solid], points, owner[of_point])


def _segments(start: np.ndarray, end: np.ndarray, own: np.ndarray, footprints: np.ndarray) -> np.ndarray:
    """Point spacing along each site edge (start → end, of footprint position `own`), from the gap between its
    footprint and the nearest other one (see STRAY); between SEGMENT and MAX_SEGMENT."""
    edges = shapely.linestrings(np.stack([start, end], axis=1))
    # the edge lies SHRINK inside its footprint; beyond `reach` the spacing is MAX_SEGMENT anyway
    distance = np.full(len(edges), np.inf)
    reach = SHRINK + MAX_SEGMENT**2 / (8 * STRAY * MAX_SEGMENT)
    e, f = shapely.STRtree(footprints).query(edges, predicate="dwithin", distance=reach)
    other = f != own[e]
    np.minimum.at(distance, e[other], shapely.distance(edges[e[other]], footprints[f[other]]))
    gap = np.maximum(distance - SHRINK, 0)
    with np.errstate(invalid="ignore"):  # inf × 0 never happens: gap is inf only with no neighbour
        spacing = np.sqrt(8 * STRAY * gap * (gap + 2 * SHRINK))
    return np.clip(np.nan_to_num(spacing, nan=MAX_SEGMENT, posinf=MAX_SEGMENT), SEGMENT, MAX_SEGMENT)


def _overlapping_blocks(cells: gpd.GeoDataFrame, blocks: gpd.GeoSeries) -> np.ndarray:
    """Index of the blocks whose cells add up to clearly more than the block (the cells overlap)."""
    total = cells.geometry.area.groupby(cells["block"].to_numpy()).sum()
    excess = total / blocks.area.reindex(total.index) - 1
    return excess.index[excess > OVERLAP_EXCESS].to_numpy()


def _simplified(cells: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cells with their stair-stepped edges (from momepy's segments) simplified, block by block, as momepy does.

    Simplification keeps each block's cells a coverage and its outer edges in place; it is dropped for a block
    whose cells are not a coverage that GEOS can simplify (those are cleaned later anyway).
    """
    geoms = np.array([_polygonal(g) for g in cells.geometry.to_numpy()], dtype=object)
    for rows in pd.Series(np.arange(len(cells))).groupby(cells["block"].to_numpy()).indices.values():
        if len(rows) > 1:
            with contextlib.suppress(shapely.errors.GEOSException):
                geoms[rows] = shapely.coverage_simplify(geoms[rows], tolerance=SEGMENT / 2, simplify_boundary=False)
    return cells.set_geometry(geoms)


def _open_touching(cells: gpd.GeoSeries, footprints: gpd.GeoDataFrame) -> gpd.GeoSeries:
    """Relabel as open a cell that holds (almost) none of its building.

    momepy gives a block with a single intersecting building to that building, even when the building only
    touches the block across a street line; such a block is open space.
    """
    label = cells.index.to_numpy(dtype=np.int64)
    has = label >= 0
    fp = footprints.geometry.reindex(label[has]).to_numpy()
    held = cells.to_numpy()[has]
    share = np.ones(len(fp))
    # Most cells hold their whole building: a prepared containment test spares them the overlay.
    shapely.prepare(held)
    partly = ~shapely.contains_properly(held, fp)
    share[partly] = shapely.area(shapely.intersection(held[partly], fp[partly])) / shapely.area(fp[partly])
    weak = np.flatnonzero(has)[share < CELL_SHARE]
    if len(weak):
        label = label.copy()
        label[weak] = label.min(initial=0) - 1 - np.arange(len(weak))
    return gpd.GeoSeries(cells.to_numpy(), index=label, crs=cells.crs)


# -- a clean coverage --------------------------------------------------------------------------------------


def _clean(
    cells: gpd.GeoSeries, boundary: shapely.Geometry, blocks: gpd.GeoSeries, block_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Single-part pieces forming a valid coverage of the boundary, and the label of the cell each came from.

    The gaps between the clipped cells and the boundary are cleaned together with the cells (labelled
    _NO_LABEL), so that every piece's edges match its neighbours' and the pieces cover the boundary.
    """
    clipped = cells.to_numpy().copy()
    shapely.prepare(boundary)
    crossing = ~shapely.contains_properly(boundary, clipped)  # cells lie in blocks inside it, up to float noise
    clipped[crossing] = [_polygonal(g) for g in shapely.intersection(clipped[crossing], boundary)]
    gaps = _gaps(clipped, boundary, blocks, block_of)
    # slivers thinner than SLIVER (float noise along shared edges) trip GEOS's cleaner: leave them out
    gaps = gaps[2 * shapely.area(gaps) > SLIVER * shapely.length(gaps)]
    labels = np.concatenate([cells.index.to_numpy(dtype=np.int64), np.full(len(gaps), _NO_LABEL)])
    cleaned = _coverage_clean(np.concatenate([clipped, gaps]))
    parts, source = shapely.get_parts(cleaned, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], labels[source[keep]]


BLOCK_SHORT = 1e-9  # a block whose cells' area falls short of its own by this share has a gap among its cells


def _gaps(clipped: np.ndarray, boundary: shapely.Geometry, blocks: gpd.GeoSeries, block_of: np.ndarray) -> np.ndarray:
    """The parts of the boundary no cell covers: the boundary less the blocks, and inside each block whose cells
    fall short of its area, the block less its cells. (A block's Voronoi cells cover it, so that is rare: the union
    of a few blocks stands in for the union of every cell, a tenth of a community's time.)"""
    missing = [shapely.difference(boundary, shapely.union_all(blocks.to_numpy()))]
    covered = pd.Series(shapely.area(clipped)).groupby(block_of).sum()
    area = blocks.area
    for block in area.index[area.to_numpy() * (1 - BLOCK_SHORT) > covered.reindex(area.index, fill_value=0).to_numpy()]:
        missing.append(shapely.difference(blocks.loc[block], shapely.union_all(clipped[block_of == block])))
    return np.concatenate([shapely.get_parts(_polygonal(g)) for g in missing])


def _coverage_clean(geoms: np.ndarray) -> np.ndarray:
    """shapely.coverage_clean, falling back to noding when GEOS's cleaner gives up on a configuration."""
    for snapping in (-1, 0):  # -1: GEOS's own small snapping distance
        try:
            return shapely.coverage_clean(geoms, gap_width=SLIVER, snapping_distance=snapping)
        except shapely.errors.GEOSException:  # "CoverageUnion cannot process overlapping inputs" (GEOS 3.14)
            pass
    return _noded_coverage(geoms)


def _noded_coverage(geoms: np.ndarray) -> np.ndarray:
    """A coverage from overlapping polygons: the faces of their noded edges, each given to the first polygon
    that holds it (faces held by none are left out). Slower than coverage_clean and keeps every sliver."""
    faces = shapely.get_parts(shapely.polygonize([shapely.union_all(shapely.boundary(geoms))]))
    face, holder = shapely.STRtree(geoms).query(shapely.point_on_surface(faces), predicate="within")
    first = pd.Series(holder).groupby(face).min()
    out = np.full(len(geoms), shapely.Polygon(), dtype=object)
    for g, rows in pd.Series(first.index.to_numpy()).groupby(first.to_numpy()).indices.items():
        out[g] = shapely.union_all(faces[first.index.to_numpy()[rows]])  # coverage_union trips on slivers
    return out


def _orphan_parts(pieces: np.ndarray, label: np.ndarray, footprints: gpd.GeoDataFrame) -> np.ndarray:
    """Unlabel the parts of a unit that are not its core, so that they join a neighbour.

    The core of a building unit is every part holding a real share of the footprint (at least the part holding
    most of it); the core of an open unit is its largest part.
    """
    label = label.copy()
    has = label != _NO_LABEL
    frame = pd.DataFrame({"label": label[has], "area": shapely.area(pieces[has])}, index=np.flatnonzero(has))
    building = frame["label"].to_numpy() >= 0
    frame["held"] = 0.0
    # A unit of one piece keeps it whatever it holds: only the pieces of units in several need their share.
    split = building & frame["label"].duplicated(keep=False).to_numpy()
    fp = footprints.geometry.reindex(frame["label"][split]).to_numpy()
    frame.loc[split, "held"] = shapely.area(shapely.intersection(pieces[frame.index[split]], fp)) / shapely.area(fp)
    frame["score"] = np.where(building, frame["held"], frame["area"])
    best = frame.groupby("label")["score"].transform("max")
    core = (frame["score"] == best) | (building & (frame["held"] >= CORE_SHARE))
    label[frame.index[~core.to_numpy()]] = _NO_LABEL
    return label


def _assign_orphans(pieces: np.ndarray, label: np.ndarray, notes: list[str]) -> np.ndarray:
    """Give every unlabelled piece the label of the neighbour it shares the longest border with."""
    label = label.copy()
    orphans = np.flatnonzero(label == _NO_LABEL)
    if not len(orphans):
        return label
    edges = _borders_of(pieces, orphans)
    while True:  # an orphan whose neighbours are all orphans waits for one of them to be labelled
        ready = edges[(label[edges["a"].to_numpy()] == _NO_LABEL) & (label[edges["b"].to_numpy()] != _NO_LABEL)]
        if ready.empty:
            break
        best = ready.loc[ready.groupby("a")["length"].idxmax()]
        label[best["a"].to_numpy()] = label[best["b"].to_numpy()]
    left = np.flatnonzero(label == _NO_LABEL)
    if len(left):  # islands touching no unit (a detached part of the boundary): open space of their own
        label[left] = min(label[label != _NO_LABEL].min(initial=0), 0) - 1 - np.arange(len(left))
        notes.append(f"{len(left)} pieces touch no unit and became open units of their own")
    return label


def _borders_of(pieces: np.ndarray, rows: np.ndarray) -> pd.DataFrame:
    """Every piece `b` sharing a border of positive length with a piece `a` in `rows`: columns a, b, length."""
    near, b = shapely.STRtree(pieces).query(pieces[rows], predicate="intersects")
    a = rows[near]
    keep = a != b
    a, b = a[keep], b[keep]
    length = shapely.length(shapely.intersection(shapely.boundary(pieces[a]), shapely.boundary(pieces[b])))
    edges = pd.DataFrame({"a": a, "b": b, "length": length})
    return edges[edges["length"] > 0]


def _dissolve(
    pieces: np.ndarray, label: np.ndarray, building_label: pd.Series, crs
) -> tuple[gpd.GeoDataFrame, pd.Series]:
    """One unit per label, by coverage union of its pieces: units holding buildings first, in label order."""
    labels, inverse = np.unique(label, return_inverse=True)
    holds = np.isin(labels, building_label.to_numpy())
    order = np.lexsort((labels, ~holds))
    rank = np.empty(len(labels), dtype=np.int64)
    rank[order] = np.arange(len(labels))
    by_unit = np.argsort(rank[inverse], kind="stable")
    groups = np.split(pieces[by_unit], np.cumsum(np.bincount(rank[inverse], minlength=len(labels)))[:-1])
    geoms = [g[0] if len(g) == 1 else shapely.coverage_union_all(g) for g in groups]
    units = gpd.GeoDataFrame({"kind": np.where(holds[order], BUILDING, OPEN)}, geometry=geoms, crs=crs)
    unit = rank[np.searchsorted(labels, building_label.to_numpy())]
    return units, pd.Series(unit, index=building_label.index, name="unit")


# -- buildings to units ------------------------------------------------------------------------------------


def _place_buildings(
    buildings: gpd.GeoDataFrame, group: np.ndarray, pieces: np.ndarray, label: np.ndarray, notes: list[str]
) -> tuple[np.ndarray, pd.Series]:
    """Piece labels (some merged) and the label of every building's unit.

    A building goes to the unit of its footprint; one without a cell goes to the unit holding its
    representative point; one whose point lies in another unit (a cell cut short by its neighbour's) has its
    unit merged with that one, so that the point is always in the building's unit.
    """
    anchors = shapely.point_on_surface(shapely.make_valid(buildings.geometry.to_numpy()))
    missing = shapely.is_missing(anchors) | shapely.is_empty(anchors)
    if missing.any():
        raise ValueError(f"buildings without geometry: {buildings.index[missing][:10].tolist()}")
    tree = shapely.STRtree(pieces)
    hit, piece = tree.query(anchors, predicate="dwithin", distance=POINT_TOLERANCE)
    inside = np.zeros(len(anchors), dtype=bool)
    inside[hit[label[piece] == group[hit]]] = True
    at = np.full(len(anchors), -1)
    at[hit[::-1]] = piece[::-1]  # on a shared edge, the first piece found wins
    outside = at < 0
    if outside.any():  # a building mostly outside the community: its own cell, or else the nearest unit
        notes.append(f"{int(outside.sum())} buildings have their representative point outside the boundary")
        near, piece = tree.query_nearest(anchors[outside], all_matches=False)
        at[np.flatnonzero(outside)[near]] = piece
    found = np.isin(group, label)
    lost = np.flatnonzero(~found)
    if len(lost):
        notes.append(f"{len(lost)} buildings have no cell of their own and share the unit at their position")
    stray = np.flatnonzero(found & ~inside & ~outside)
    building_label = np.where(found, group, label[at])
    if len(stray):
        notes.append(f"{len(stray)} buildings reach into a neighbour's cell; the two units were merged")
        labels, inverse = np.unique(label, return_inverse=True)
        merged = _union_groups(labels, np.searchsorted(labels, group[stray]), np.searchsorted(labels, label[at[stray]]))
        label = merged[inverse]
        building_label = merged[np.searchsorted(labels, building_label)]
    return label, pd.Series(building_label, index=buildings.index)


# -- adjacency ---------------------------------------------------------------------------------------------


def _shared_borders(geoms: np.ndarray) -> np.ndarray:
    """Pairs i < j whose borders share a length above EDGE_SHARE × the shorter perimeter (corners do not)."""
    left, right = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    rings = shapely.boundary(geoms)
    length = shapely.length(shapely.intersection(rings[left], rings[right]))
    perimeter = np.minimum(shapely.length(rings[left]), shapely.length(rings[right]))
    edge = (length > EDGE_SHARE * perimeter) & (length > 0)
    return np.column_stack([left[edge], right[edge]]).astype(np.int64)


def _coverage_adjacency(geoms: np.ndarray) -> np.ndarray:
    """_shared_borders for a valid coverage (build_units' units), where neighbours share their border's vertices:
    the segments the rings of two units have in common, summed — no geometric intersection, a fifth of the time."""
    start, end, owner = ring_edges(geoms)
    flip = (start[:, 0] > end[:, 0]) | ((start[:, 0] == end[:, 0]) & (start[:, 1] > end[:, 1]))
    low, high = np.where(flip[:, None], end, start), np.where(flip[:, None], start, end)
    segments = pd.DataFrame({"x0": low[:, 0], "y0": low[:, 1], "x1": high[:, 0], "y1": high[:, 1]})
    key = segments.groupby(["x0", "y0", "x1", "y1"], sort=False).ngroup().to_numpy()
    order = np.lexsort((owner, key))
    key, owner, length = key[order], owner[order], np.hypot(*(high - low).T)[order]
    pair = (key[:-1] == key[1:]) & (owner[:-1] != owner[1:])
    if not pair.any():
        return np.empty((0, 2), dtype=np.int64)
    shared = pd.Series(length[:-1][pair]).groupby([owner[:-1][pair], owner[1:][pair]]).sum()
    a = shared.index.get_level_values(0).to_numpy(dtype=np.int64)
    b = shared.index.get_level_values(1).to_numpy(dtype=np.int64)
    perimeter = shapely.length(geoms)
    edge = (shared.to_numpy() > EDGE_SHARE * np.minimum(perimeter[a], perimeter[b])) & (shared.to_numpy() > 0)
    return np.column_stack([a[edge], b[edge]]).astype(np.int64)
