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

__all__ = ["UnitLayout", "build_units", "unit_adjacency"]

BUILDING, OPEN = "building", "open"
OVERLAP_SHARE = 0.05  # buildings overlapping by this share of the smaller one are one footprint
CELL_SHARE = 0.05  # a cell holding less of its building than this share is open space (momepy's threshold)
CORE_SHARE = 0.01  # a part of a cell holding this share of its building's footprint stays in the unit
SHRINK, SEGMENT = 0.4, 0.5  # momepy's defaults: quality and speed are both fine at community scale
OVERLAP_EXCESS = 1e-3  # cells exceeding their block's area by this share overlap: tessellate again
JITTER = 1e-3  # metres: breaks ties between Voronoi sites, far above the 1e-5 m grid libpysal snaps to
RETRIES = 3
SLIVER = 1e-4  # metres: gaps thinner than this are float noise, merged by the cleaner
PARALLEL_FROM = 3_000  # buildings; below this, joblib's start-up costs more than it saves (2 cores, measured)
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
    cells = _tessellate(footprints, enclosures, crs, notes)
    pieces, label = _clean(cells, boundary)
    label = _orphan_parts(pieces, label, footprints)
    label = _assign_orphans(pieces, label, notes)
    label, building_label = _place_buildings(buildings, group, pieces, label, notes)
    units, building_unit = _dissolve(pieces, label, building_label, crs)
    return UnitLayout(units, building_unit, notes)


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
    frame = gpd.GeoDataFrame({"label": group[~empty]}, geometry=geoms[~empty], crs=buildings.crs)
    footprints = frame.dissolve("label") if len(frame) else frame.set_index("label")
    footprints.index = footprints.index.astype(np.int64)
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
    import momepy  # here, not at the top: its import (libpysal, scipy docs) costs every CLI command ~0.7 s

    # clip=True drops the polygons that polygonize finds in the boundary's holes.
    blocks = momepy.enclosures(gpd.GeoSeries(lines, crs=crs), limit=limit, clip=True)
    return blocks.geometry.reset_index(drop=True)


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


def _tessellate(footprints: gpd.GeoDataFrame, blocks: gpd.GeoSeries, crs, notes: list[str]) -> gpd.GeoSeries:
    """Cells indexed by footprint label (open blocks get negative labels); a label may have several cells."""
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
    return _open_touching(gpd.GeoSeries(cells.geometry.to_numpy(), index=label, crs=crs), footprints)


def _enclosed_tessellation(footprints: gpd.GeoDataFrame, blocks: gpd.GeoSeries, seed: int) -> gpd.GeoDataFrame:
    """momepy's enclosed tessellation: cells indexed by footprint label, with the "block" index they lie in."""
    sites = _sites(footprints, seed)
    block_of, fp = sites.sindex.query(blocks, predicate="intersects")
    if not (np.bincount(block_of, minlength=len(blocks)) > 1).any():
        # momepy needs a block with two buildings or more; otherwise each block is one cell.
        label = -1 - np.arange(len(blocks))
        label[block_of] = sites.index.to_numpy()[fp]
        return gpd.GeoDataFrame({"block": blocks.index}, geometry=blocks.to_numpy(), index=label, crs=blocks.crs)
    n_jobs = -1 if len(sites) >= PARALLEL_FROM else 1
    blocks = blocks.rename_axis("block")  # momepy names the block column after the index
    # The sites are shrunk and segmentized already; simplify=False because momepy's coverage_simplify fails on
    # the odd cell that comes out as a collection.
    import momepy

    tess = momepy.enclosed_tessellation(sites, blocks, shrink=0, segment=0, simplify=False, n_jobs=n_jobs)
    return _simplified(tess[["block", "geometry"]])


def _sites(footprints: gpd.GeoDataFrame, seed: int) -> gpd.GeoDataFrame:
    """Footprints as the Voronoi diagram sees them: shrunk, segmentized and moved by up to a millimetre.

    This is what momepy's `shrink` and `segment` do, plus the jitter: GEOS's Voronoi diagram comes out wrong
    (overlapping cells) on sites with many co-circular points, such as evenly segmented rectangles. The
    jitter is a function of the coordinates, so that rings stay closed and shared vertices move together.
    """
    geoms = shapely.buffer(footprints.geometry.to_numpy(), -SHRINK, cap_style="flat", join_style="mitre")
    geoms = shapely.segmentize(geoms, SEGMENT)

    def jitter(xy: np.ndarray) -> np.ndarray:
        phase = np.sin(xy @ np.array([[12.9898, 39.3467], [78.233, 11.135]]) + seed) * 43758.5453
        return xy + JITTER * (2 * (phase - np.floor(phase)) - 1)

    geoms = np.array([_polygonal(g) for g in shapely.make_valid(shapely.transform(geoms, jitter))], dtype=object)
    solid = ~shapely.is_empty(geoms)  # a footprint narrower than twice the shrink has no site: no cell
    return footprints.set_geometry(geoms)[solid]


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
    share = shapely.area(shapely.intersection(cells.to_numpy()[has], fp)) / shapely.area(fp)
    weak = np.flatnonzero(has)[share < CELL_SHARE]
    if len(weak):
        label = label.copy()
        label[weak] = label.min(initial=0) - 1 - np.arange(len(weak))
    return gpd.GeoSeries(cells.to_numpy(), index=label, crs=cells.crs)


# -- a clean coverage --------------------------------------------------------------------------------------


def _clean(cells: gpd.GeoSeries, boundary: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Single-part pieces forming a valid coverage of the boundary, and the label of the cell each came from.

    The gaps between the clipped cells and the boundary are cleaned together with the cells (labelled
    _NO_LABEL), so that every piece's edges match its neighbours' and the pieces cover the boundary.
    """
    clipped = np.array([_polygonal(g) for g in shapely.intersection(cells.to_numpy(), boundary)], dtype=object)
    gaps = shapely.get_parts(_polygonal(shapely.difference(boundary, shapely.union_all(clipped))))
    # slivers thinner than SLIVER (float noise along shared edges) trip GEOS's cleaner: leave them out
    gaps = gaps[2 * shapely.area(gaps) > SLIVER * shapely.length(gaps)]
    labels = np.concatenate([cells.index.to_numpy(dtype=np.int64), np.full(len(gaps), _NO_LABEL)])
    cleaned = _coverage_clean(np.concatenate([clipped, gaps]))
    parts, source = shapely.get_parts(cleaned, return_index=True)
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    return parts[keep], labels[source[keep]]


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
    fp = footprints.geometry.reindex(frame["label"][building]).to_numpy()
    held = shapely.area(shapely.intersection(pieces[frame.index[building]], fp)) / shapely.area(fp)
    frame["held"] = 0.0
    frame.loc[building, "held"] = held
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
    geoms = [shapely.coverage_union_all(g) for g in groups]
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
