"""Walking network noding: a plain line layer (OSM ways, surveyed centrelines) → a graph for shortest paths.

Lines in a metric CRS are split at junctions (shared vertices, line ends snapped onto nearby lines, optionally
crossings) into edges with node ids, lengths and connected components ranked by total length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from scipy import sparse
from scipy.sparse.csgraph import connected_components

_PER_M = 100.0  # node identity: coordinates rounded to 1/_PER_M m (1 cm)
_MIN_PIECE = 1e-3  # pieces shorter than 1 mm are slivers of float noise, never edges
_VERTEX_EPS = 1e-9  # a cut this close to a vertex reuses the vertex instead of inserting a point
_DUPLICATE_TOL = 0.01  # edges whose vertices agree within 1 cm are the same edge
_RING_MIN_RATIO = 3.0  # a line's two ends close a ring only if the line is this many times longer than the gap

_PRIO_VERTEX, _PRIO_SNAP, _PRIO_CROSSING = 0, 1, 2  # which junction point wins when cuts on a line coincide


@dataclass(frozen=True)
class NodedNetwork:
    """Edges and nodes of a noded walking network.

    `stats` counts: "lines" (input), "edges", "nodes", "components", "shared_vertices" (cuts at vertices shared
    by lines), "t_junctions" (lines cut where ends were snapped onto their interior), "crossings" (crossing
    points noded), "duplicates" (edges dropped as exact duplicates), "dropped" (None/empty/zero-length parts).
    """

    geoms: np.ndarray  # object array of shapely LineString, one per edge (metres), from its source to its target node
    source: np.ndarray  # int64 node id of each edge's first coordinate
    target: np.ndarray  # int64 node id of each edge's last coordinate
    length: np.ndarray  # float64 metres (shapely.length of geoms)
    line: np.ndarray  # int64 index into the input `lines` of the line the edge was cut from
    node_xy: np.ndarray  # (n_nodes, 2) float64 node coordinates; node ids are row numbers
    node_component: np.ndarray  # int64 component per node: 0 = most total edge length, then 1, 2, ... decreasing
    stats: dict[str, int]  # counts, see above

    @property
    def edge_component(self) -> np.ndarray:
        """Component of each edge (that of its source node)."""
        return self.node_component[self.source]


def node_lines(
    lines: np.ndarray | Sequence[shapely.Geometry | None], *, tolerance: float = 0.5, node_crossings: bool = True
) -> NodedNetwork:
    """Node a walking line layer (metric CRS) into a graph.

    - Vertices shared by lines (or repeated within one line), compared rounded to 1 cm, split the lines: that
      is how OSM marks junctions.
    - A line end within `tolerance` of another line is snapped onto it: onto that line's end if the nearest
      point is within `tolerance` of it, else that line is split there. Ends within `tolerance` of each other
      join (also the two ends of one nearly closed line). `tolerance=0` joins only ends lying on a line (within
      1e-9 m: an end computed onto a line is rarely exactly on it in floating point).
    - With `node_crossings`, lines crossing in their interiors are split at every crossing point. Leave it off
      for OSM, where a crossing without a shared node is a bridge or a tunnel.
    - Exact duplicate edges (same nodes, same geometry within 1 cm either way) are dropped; parallel edges of
      another shape and self-loops are kept. Edges are ordered by input line, then along the line.

    MultiLineStrings are exploded (every part keeps its input index in `line`); None, empty and zero-length
    (under 1 mm) parts are dropped and counted. Z is ignored. Ends within 1 cm are one node, at the exact
    coordinate of the first such end; an edge left under 1 mm long by that is dropped.
    """
    if not np.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance must be a finite distance ≥ 0 in metres, got {tolerance!r}")
    geoms = _geometry_array(lines)
    parts, dropped = _explode(geoms)
    stats = {"lines": len(geoms), "shared_vertices": 0, "t_junctions": 0, "crossings": 0, "dropped": dropped}
    if not len(parts.line):
        return _assemble(parts, _EdgeCoords.empty(), stats)
    cell = _cell_ids(parts.xy)[0]
    junction = _shared_vertices(parts, cell)
    xy, snaps = _snap_ends(parts, cell, junction, max(tolerance, _VERTEX_EPS))
    events = [_vertex_events(parts, xy, junction.split_vertices), snaps]
    if node_crossings:
        events.append(_crossing_events(parts, xy))
    cuts = _merge_events(events)
    # A crossing that merged into a cut already there (e.g. at a shared vertex) was no extra noding.
    crossings = len(np.unique(cuts.crossing[cuts.crossing >= 0]))
    stats |= {"shared_vertices": len(junction.split_vertices), "t_junctions": len(snaps.part), "crossings": crossings}
    edges = _split_lines(parts, xy, cuts)
    return _assemble(parts, edges, stats)


# --- input ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Parts:
    """Single lines, flattened: the vertices of part p are xy[off[p]:off[p + 1]]."""

    xy: np.ndarray  # (V, 2) float64
    off: np.ndarray  # (P + 1,) int64
    line: np.ndarray  # (P,) int64 input index of each part

    @property
    def first(self) -> np.ndarray:
        return self.off[:-1]

    @property
    def last(self) -> np.ndarray:
        return self.off[1:] - 1

    @property
    def vertex_part(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.line)), np.diff(self.off))

    def geoms(self, xy: np.ndarray) -> np.ndarray:
        return shapely.linestrings(xy, indices=self.vertex_part)


def _geometry_array(lines: np.ndarray | Sequence[shapely.Geometry | None]) -> np.ndarray:
    # Filled element by element: np.asarray could try to turn a list of geometries into a 2-D array.
    out = np.empty(len(lines), dtype=object)
    out[:] = list(lines)
    return out


def _explode(geoms: np.ndarray) -> tuple[_Parts, int]:
    """Single-line parts without repeated consecutive vertices; returns them and the dropped count."""
    kind = shapely.get_type_id(geoms)
    bad = ~np.isin(kind, (-1, 1, 2, 5))  # None, LineString, LinearRing, MultiLineString
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise TypeError(f"walking network line {index} is a {geoms[index].geom_type}, not a (Multi)LineString")
    present = np.flatnonzero(kind >= 0)
    parts, index = shapely.get_parts(geoms[present], return_index=True)
    dropped = len(geoms) - len(np.unique(index))  # None and empty MultiLineStrings: no parts at all
    xy, vpart = shapely.get_coordinates(parts, return_index=True)
    if not np.isfinite(xy).all():
        raise ValueError("walking network lines have non-finite coordinates")
    new_part = np.ones(len(xy), dtype=bool)
    new_part[1:] = vpart[1:] != vpart[:-1]
    # Repeated vertices (and nanometre steps, which only upset GEOS) would make degenerate segments.
    keep = new_part.copy()
    keep[1:] |= _dist(xy[1:], xy[:-1]) > _VERTEX_EPS
    xy, vpart, new_part = xy[keep], vpart[keep], new_part[keep]
    step = np.zeros(len(xy))
    step[1:] = np.hypot(*np.diff(xy, axis=0).T)
    step[new_part] = 0.0
    ok = np.bincount(vpart, weights=step, minlength=len(parts)) >= _MIN_PIECE
    dropped += int((~ok).sum())
    counts = np.bincount(vpart, minlength=len(parts))[ok]
    off = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    return _Parts(xy[ok[vpart]], off, present[index][ok].astype(np.int64)), dropped


def _cell_ids(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Ids of the 1 cm cells of coordinates (equal ⇔ same rounded coordinate, ordered by x then y), and the
    index of the first coordinate in each cell."""
    if not len(xy):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    key = np.round(xy * _PER_M).astype(np.int64)
    low = key.min(axis=0)
    span = key.max(axis=0) - low + 1
    if int(span[0]) * int(span[1]) < 2**62:  # one int64 per cell sorts much faster than rows
        flat = (key[:, 0] - low[0]) * span[1] + (key[:, 1] - low[1])
        _, first, ids = np.unique(flat, return_index=True, return_inverse=True)
    else:
        _, first, ids = np.unique(key, axis=0, return_index=True, return_inverse=True)
    return ids.ravel().astype(np.int64), first.astype(np.int64)


# --- junction points ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Junctions:
    split_vertices: np.ndarray  # interior vertices to cut at: their cell holds another vertex run
    anchored: np.ndarray  # bool per cell: the cell holds such an interior junction vertex (its ends never move)
    codes: np.ndarray  # sorted cell * P + part for every part with a vertex in a shared cell


@dataclass(frozen=True)
class _Events:
    """Cuts: part, distance along it (on the final, snapped geometry), the junction point, priority."""

    part: np.ndarray
    pos: np.ndarray
    xy: np.ndarray
    prio: np.ndarray
    crossing: np.ndarray  # id of the proper crossing point the cut is for, else -1 (to count crossings noded)

    @classmethod
    def make(cls, part: np.ndarray, pos: np.ndarray, xy: np.ndarray, prio: int) -> _Events:
        n = len(part)
        return cls(part.astype(np.int64), pos.astype(np.float64), xy.reshape(-1, 2), np.full(n, prio), np.full(n, -1))


def _shared_vertices(parts: _Parts, cell: np.ndarray) -> _Junctions:
    """Rule 1 (OSM junctions). Consecutive vertices in one cell form a run, counted once, so a sub-centimetre
    wiggle is not a loop; a run that includes a line end is that end's node, not a cut."""
    n_parts = len(parts.line)
    run_start = np.ones(len(cell), dtype=bool)
    run_start[1:] = cell[1:] != cell[:-1]
    run_start[parts.first] = True
    starts = np.flatnonzero(run_start)
    run_of = np.cumsum(run_start) - 1
    run_cell = cell[starts]
    shared = np.bincount(run_cell)[run_cell] >= 2
    interior = np.ones(len(starts), dtype=bool)
    interior[run_of[parts.first]] = False
    interior[run_of[parts.last]] = False
    split = interior & shared
    anchored = np.zeros(int(cell.max()) + 1, dtype=bool)
    anchored[run_cell[split]] = True
    codes = np.unique(run_cell[shared] * n_parts + parts.vertex_part[starts][shared])
    return _Junctions(starts[split], anchored, codes)


def _vertex_events(parts: _Parts, xy: np.ndarray, vertices: np.ndarray) -> _Events:
    pos = _vertex_positions(parts, xy)[vertices]
    return _Events.make(parts.vertex_part[vertices], pos, xy[vertices], _PRIO_VERTEX)


def _snap_ends(parts: _Parts, cell: np.ndarray, junction: _Junctions, tolerance: float) -> tuple[np.ndarray, _Events]:
    """Rule 2: move line ends onto nearby lines. Returns the vertices with moved ends, and the cuts that
    the moved ends need on the lines they now touch.

    Ends that meet (same cell, snapped end to end, ring closure) form a group moved to one point, so two ends
    snapping onto each other cannot swap places. The point is, by preference: an anchored junction, else the
    interior snap point of the group's first end that has one, else a snap of the group's point onto the
    nearest line outside the group (path ends meeting just short of a road), else the group's first end.
    """
    n_parts = len(parts.line)
    n_ends = 2 * n_parts
    end_v = np.column_stack([parts.first, parts.last]).ravel()
    end_part = np.repeat(np.arange(n_parts), 2)
    end_xy = parts.xy[end_v]
    end_cell = cell[end_v]
    anchored = junction.anchored[end_cell]
    geoms = parts.geoms(parts.xy)
    length = shapely.length(geoms)
    tree = shapely.STRtree(geoms)
    near = max(tolerance, _MIN_PIECE)  # onto the other line's end when this near it: no piece under 1 mm

    # Each movable end: the nearest other line, skipping lines it already meets at a shared vertex.
    movable = np.flatnonzero(~anchored)
    hit, line, dist, s = _nearest_line(
        tree,
        geoms,
        end_xy[movable],
        tolerance,
        lambda i, j: (j != end_part[movable[i]]) & ~_contains(junction.codes, end_cell[movable[i]] * n_parts + j),
    )
    end = movable[hit]

    # A nearly closed line: its two ends join, when nearer than any other line.
    other = movable ^ 1
    gap = np.hypot(*(end_xy[movable] - end_xy[other]).T)
    ring = (gap <= tolerance) & (gap * _RING_MIN_RATIO <= length[end_part[movable]])
    ring &= end_cell[movable] != end_cell[other]
    line_dist = np.full(n_ends, np.inf)
    line_dist[end] = dist
    ring_end = movable[ring]
    ring_end = ring_end[gap[ring] <= line_dist[ring_end]]
    by_line = ~np.isin(end, ring_end)
    end, line, s = end[by_line], line[by_line], s[by_line]

    to_start = (s <= near) & (s <= length[line] - s)
    to_end = ~to_start & (length[line] - s <= near)
    inner = ~(to_start | to_end)
    snap_end, snap_line = end[inner], line[inner]
    vpos = _vertex_positions(parts, parts.xy)
    snap_xy = _point_at(parts, parts.xy, vpos, geoms, snap_line, s[inner])
    onto_end = ~inner
    joins = [
        (end[onto_end], 2 * line[onto_end] + to_end[onto_end]),
        (ring_end, ring_end ^ 1),
        _same_cell_pairs(end_cell),
    ]
    a = np.concatenate([pair[0] for pair in joins])
    b = np.concatenate([pair[1] for pair in joins])
    graph = sparse.coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n_ends, n_ends))
    group = connected_components(graph, directed=False)[1].astype(np.int64)  # int32 would overflow codes below
    prio = np.full(n_ends, 2)
    prio[snap_end] = 1
    prio[anchored] = 0
    order = np.lexsort((np.arange(n_ends), prio, group))
    rep = order[_first_of_groups(group[order])]  # per group id, in group id order
    point = end_xy.copy()
    point[snap_end] = snap_xy
    # Only the representative's snap cuts a line; the other ends of its group follow it there.
    cuts = rep[group[snap_end]] == snap_end
    cut_line, cut_xy = snap_line[cuts], snap_xy[cuts]

    # Groups of ends that only met each other: snap the group's point onto the nearest line outside it.
    size = np.bincount(group)
    floating = np.flatnonzero((size >= 2) & (prio[rep] == 2))
    if len(floating):
        members = np.unique(group * n_parts + end_part)
        rep_end = rep[floating]
        hit, line, _, s = _nearest_line(
            tree,
            geoms,
            end_xy[rep_end],
            tolerance,
            lambda i, j: (
                ~_contains(members, floating[i] * n_parts + j)
                & ~_contains(junction.codes, end_cell[rep_end[i]] * n_parts + j)
            ),
        )
        inner = (s > near) & (length[line] - s > near)
        hit, line = hit[inner], line[inner]
        group_xy = _point_at(parts, parts.xy, vpos, geoms, line, s[inner])
        point[rep_end[hit]] = group_xy
        cut_line, cut_xy = np.concatenate([cut_line, line]), np.concatenate([cut_xy, group_xy])

    moved = point[rep[group]]
    moved[anchored] = end_xy[anchored]
    xy = parts.xy.copy()
    xy[end_v] = moved
    moved_geoms = parts.geoms(xy)
    # A line whose ends were pulled together can collapse; its sliver is dropped later, and GEOS cannot
    # locate points on it.
    ok = shapely.length(moved_geoms[cut_line]) >= _MIN_PIECE
    cut_line, cut_xy = cut_line[ok], cut_xy[ok]
    pos = shapely.line_locate_point(moved_geoms[cut_line], shapely.points(cut_xy))
    return xy, _Events.make(cut_line, pos, cut_xy, _PRIO_SNAP)


def _nearest_line(
    tree: shapely.STRtree,
    geoms: np.ndarray,
    xy: np.ndarray,
    tolerance: float,
    allowed: Callable[[np.ndarray, np.ndarray], np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For points within `tolerance` of an allowed line (allowed(point index, line) → bool mask): the point
    index, its nearest allowed line (ties to the lowest index), the distance and the position along it."""
    points = shapely.points(xy)
    hit, line = tree.query(points, predicate="dwithin", distance=tolerance)
    ok = allowed(hit, line)
    hit, line = hit[ok], line[ok]
    dist = shapely.distance(points[hit], geoms[line])
    order = np.lexsort((line, dist, hit))
    order = order[_first_of_groups(hit[order])]
    hit, line, dist = hit[order], line[order], dist[order]
    return hit, line, dist, shapely.line_locate_point(geoms[line], points[hit])


def _point_at(
    parts: _Parts, xy: np.ndarray, vpos: np.ndarray, geoms: np.ndarray, part: np.ndarray, pos: np.ndarray
) -> np.ndarray:
    """Points at distances along parts; a vertex within 1 mm is taken instead, so that a cut there coincides
    exactly with a cut at that vertex (e.g. a shared-vertex junction) rather than merging into it 1 mm off."""
    vertex = _vertex_within(parts, vpos, part, pos)
    point = shapely.get_coordinates(shapely.line_interpolate_point(geoms[part], pos))
    return np.where((vertex >= 0)[:, None], xy[np.maximum(vertex, 0)], point)


def _vertex_within(parts: _Parts, vpos: np.ndarray, part: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """The vertex of each part within 1 mm of `pos` along it (the nearer one), else -1."""
    head = _segment_heads(parts, vpos, part, pos)
    to_head, to_tail = np.abs(pos - vpos[head]), np.abs(vpos[head + 1] - pos)
    nearer = np.where(to_head <= to_tail, head, head + 1)
    return np.where(np.minimum(to_head, to_tail) <= _MIN_PIECE, nearer, -1)


def _segment_heads(parts: _Parts, vpos: np.ndarray, part: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """First vertex of the segment holding each position: the part's last vertex at or before it."""
    n_v = len(vpos)
    is_query = np.arange(n_v + len(part)) >= n_v
    # Positions and vertices merged by (part, position), vertices first at equal keys: the vertices seen
    # before a query end at its segment's first vertex.
    order = np.lexsort((is_query, np.concatenate([vpos, pos]), np.concatenate([parts.vertex_part, part])))
    queries = is_query[order]
    head = np.empty(len(part), dtype=np.int64)
    head[order[queries] - n_v] = np.cumsum(~queries)[queries] - 1
    return np.clip(head, parts.first[part], parts.last[part] - 1)


def _crossing_events(parts: _Parts, xy: np.ndarray) -> _Events:
    """Rule 3: cut both lines at every point where their interiors meet: where they cross, and also where lines
    that partly overlap cross elsewhere ("crosses" is false for those). A crossing within 1 mm of a line's end
    is that end touching the other line: the other line is cut at the end's exact coordinate."""
    geoms = parts.geoms(xy)
    # Box candidates once per pair, then one DE-9IM each (half the work of query(..., predicate="crosses")):
    # interiors meeting in points (dimension 0) is "crosses"; in a line (1), an overlap.
    a, b = shapely.STRtree(geoms).query(geoms)
    a, b = a[a < b], b[a < b]
    sound = shapely.length(geoms) >= _MIN_PIECE  # not collapsed by snapping (see _snap_ends)
    a, b = a[sound[a] & sound[b]], b[sound[a] & sound[b]]
    interiors = np.asarray(shapely.relate(geoms[a], geoms[b]), dtype="U1")
    meet = (interiors == "0") | (interiors == "1")
    a, b = a[meet], b[meet]
    points, k = shapely.get_parts(shapely.intersection(geoms[a], geoms[b]), return_index=True)
    is_point = shapely.get_type_id(points) == 0
    points, a, b = points[is_point], a[k[is_point]], b[k[is_point]]
    with np.errstate(invalid="ignore"):  # GEOS can give NaN on degenerate (self-overlapping, ~1e-300 m) lines
        sa, sb = shapely.line_locate_point(geoms[a], points), shapely.line_locate_point(geoms[b], points)
    found = np.isfinite(sa) & np.isfinite(sb)
    points, a, b, sa, sb = points[found], a[found], b[found], sa[found], sb[found]
    # A crossing within 1 mm of a vertex of a line is at that vertex; at a line's end, it is that end touching
    # the other line, which alone is cut (at the end's exact coordinate).
    vpos = _vertex_positions(parts, xy)
    a_vertex, b_vertex = _vertex_within(parts, vpos, a, sa), _vertex_within(parts, vpos, b, sb)
    a_end = (a_vertex == parts.first[a]) | (a_vertex == parts.last[a])
    b_end = (b_vertex == parts.first[b]) | (b_vertex == parts.last[b])
    c = shapely.get_coordinates(points)
    c = np.where((b_vertex >= 0)[:, None], xy[np.maximum(b_vertex, 0)], c)
    c = np.where((a_vertex >= 0)[:, None], xy[np.maximum(a_vertex, 0)], c)
    cut_a = ~a_end
    cut_b = ~b_end | (a_vertex >= 0)
    crossing = np.where(~a_end & ~b_end, np.arange(len(c)), -1)
    return _Events(
        np.concatenate([a[cut_a], b[cut_b]]).astype(np.int64),
        np.concatenate([sa[cut_a], sb[cut_b]]),
        np.concatenate([c[cut_a], c[cut_b]]),
        np.full(int(cut_a.sum() + cut_b.sum()), _PRIO_CROSSING),
        np.concatenate([crossing[cut_a], crossing[cut_b]]),
    )


def _merge_events(events: list[_Events]) -> _Events:
    """Cuts sorted by part and position; cuts on a line within 1 mm of each other become one, at the point of
    the highest priority (a shared vertex or snapped end is a fixed junction; a crossing point adapts)."""
    part = np.concatenate([e.part for e in events])
    pos = np.concatenate([e.pos for e in events])
    xy = np.concatenate([e.xy for e in events])
    prio = np.concatenate([e.prio for e in events])
    crossing = np.concatenate([e.crossing for e in events])
    order = np.lexsort((prio, pos, part))
    part, pos, xy, prio, crossing = part[order], pos[order], xy[order], prio[order], crossing[order]
    new = np.ones(len(part), dtype=bool)
    new[1:] = (part[1:] != part[:-1]) | (np.diff(pos) > _MIN_PIECE)
    cluster = np.cumsum(new) - 1
    best = np.lexsort((pos, prio, cluster))
    keep = best[_first_of_groups(cluster[best])]  # one per cluster, clusters already in (part, pos) order
    return _Events(part[keep], pos[keep], xy[keep], prio[keep], crossing[keep])


# --- cutting --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _EdgeCoords:
    """Edges as flat coordinates in final order: the vertices of edge e are xy[off[e]:off[e + 1]]."""

    xy: np.ndarray
    off: np.ndarray
    part: np.ndarray

    @classmethod
    def empty(cls) -> _EdgeCoords:
        return cls(np.zeros((0, 2)), np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.int64))


def _split_lines(parts: _Parts, xy: np.ndarray, cuts: _Events) -> _EdgeCoords:
    """Rule 4, all lines at once: cut each line at its sorted positions; the pieces in (part, along) order.

    A cut within 1e-9 m of a vertex (by position or by its point) reuses that vertex, else its point is
    inserted. The junction point is always the one computed once for the cut, so every line meeting there has
    bit-identical coordinates; it also replaces a reused vertex. Pieces under 1 mm are dropped: a cut that
    close to a line end leaves the line ending at the cut point.
    """
    n_v, n_c = len(xy), len(cuts.part)
    vpos = _vertex_positions(parts, xy)
    cut_pos = np.clip(cuts.pos, 0.0, vpos[parts.last[cuts.part]])
    head = _segment_heads(parts, vpos, cuts.part, cut_pos)
    tail = head + 1
    on_head = (np.abs(cut_pos - vpos[head]) <= _VERTEX_EPS) | (_dist(cuts.xy, xy[head]) <= _VERTEX_EPS)
    on_tail = ~on_head & ((np.abs(vpos[tail] - cut_pos) <= _VERTEX_EPS) | (_dist(cuts.xy, xy[tail]) <= _VERTEX_EPS))
    on_vertex = on_head | on_tail
    reused = np.where(on_head, head, tail)[on_vertex]
    coords = xy.copy()
    coords[reused] = cuts.xy[on_vertex]
    # Vertices and inserted points in (part, position) order (vertices first at equal keys; cuts arrive sorted);
    # each cut point ends one piece and starts the next, so it is there twice.
    part = np.concatenate([parts.vertex_part, cuts.part])
    pos = np.concatenate([vpos, cut_pos])
    boundary = np.arange(n_v + n_c) >= n_v
    order = np.lexsort((boundary, pos, part))
    seq = order[np.concatenate([np.ones(n_v, dtype=bool), ~on_vertex])[order]]
    boundary[reused] = True
    copies = 1 + boundary[seq]
    out_xy = np.repeat(np.concatenate([coords, cuts.xy])[seq], copies, axis=0)
    out_pos = np.repeat(pos[seq], copies)
    out_part = np.repeat(part[seq], copies)
    first_copy = np.cumsum(copies) - copies
    starts = np.zeros(len(out_pos), dtype=bool)
    starts[first_copy[copies == 2] + 1] = True
    starts[0] = True
    starts[1:] |= out_part[1:] != out_part[:-1]
    piece_start = np.flatnonzero(starts)
    piece_end = np.append(piece_start[1:], len(out_pos)) - 1
    keep = (piece_end > piece_start) & (out_pos[piece_end] - out_pos[piece_start] >= _MIN_PIECE)
    size = (piece_end - piece_start + 1)[keep]
    entry = np.repeat(keep, piece_end - piece_start + 1)
    return _EdgeCoords(out_xy[entry], np.concatenate(([0], np.cumsum(size))), out_part[piece_start[keep]])


def _vertex_positions(parts: _Parts, xy: np.ndarray) -> np.ndarray:
    """Distance of each vertex along its part. One cumsum for all parts, brought back near zero at each part
    start, so the rounding error is that of the part's own length, not of the whole network's."""
    step = np.zeros(len(xy))
    step[1:] = _dist(xy[1:], xy[:-1])
    step[parts.first] = 0.0
    total = np.bincount(parts.vertex_part, weights=step, minlength=len(parts.line))
    step[parts.first[1:]] = -total[:-1]
    cum = np.cumsum(step)
    return cum - cum[parts.first][parts.vertex_part]


# --- graph ----------------------------------------------------------------------------------------------------


def _assemble(parts: _Parts, edges: _EdgeCoords, stats: dict[str, int]) -> NodedNetwork:
    """Nodes from the rounded edge ends, edge geometries ending exactly on them, duplicates, components."""
    xy, off = edges.xy.copy(), edges.off
    n_edges = len(off) - 1
    first, last = off[:-1], off[1:] - 1
    ends = np.column_stack([xy[first], xy[last]]).reshape(-1, 2)
    node, rep = _cell_ids(ends)
    # The node coordinate is an exact end coordinate (the first one seen), not the rounded one, so lengths
    # are kept; ends computed once per junction are bit-identical already and stay where they are.
    node_xy = ends[rep]
    source, target = node[0::2], node[1::2]
    xy[first], xy[last] = node_xy[source], node_xy[target]
    geoms = np.empty(0, dtype=object)
    if n_edges:
        geoms = shapely.linestrings(xy, indices=np.repeat(np.arange(n_edges), np.diff(off)))
    length = shapely.length(geoms).astype(np.float64)
    duplicate = _duplicates(geoms, source, target)
    keep = (length >= _MIN_PIECE) & ~duplicate  # ends pulled together can leave a sliver
    used, compact = np.unique(np.concatenate([source[keep], target[keep]]), return_inverse=True)
    n_kept = int(keep.sum())
    source, target = compact[:n_kept].astype(np.int64), compact[n_kept:].astype(np.int64)
    length = length[keep]
    component, n_components = _components(len(used), source, target, length)
    stats |= {
        "edges": n_kept,
        "nodes": len(used),
        "components": n_components,
        "duplicates": int(duplicate.sum()),
    }
    order = ("lines", "edges", "nodes", "components", "shared_vertices", "t_junctions", "crossings", "duplicates")
    return NodedNetwork(
        geoms=geoms[keep],
        source=source,
        target=target,
        length=length,
        line=parts.line[edges.part[keep]],
        node_xy=node_xy[used].reshape(-1, 2),
        node_component=component,
        stats={key: int(stats[key]) for key in (*order, "dropped")},
    )


def _duplicates(geoms: np.ndarray, source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Edges equal (within 1 cm, either direction) to an earlier edge between the same two nodes."""
    low, high = np.minimum(source, target), np.maximum(source, target)
    order = np.lexsort((np.arange(len(low)), high, low))
    same = (low[order][1:] == low[order][:-1]) & (high[order][1:] == high[order][:-1])
    duplicate = np.zeros(len(low), dtype=bool)
    # Compare each edge with the next 1, 2, ... edges of its node pair; groups are tiny, so few rounds.
    run = same.copy()
    gap = 1
    while run.any():
        i, j = order[:-gap][run], order[gap:][run]
        equal = shapely.equals_exact(geoms[i], geoms[j], tolerance=_DUPLICATE_TOL)
        equal |= shapely.equals_exact(geoms[i], shapely.reverse(geoms[j]), tolerance=_DUPLICATE_TOL)
        duplicate[j[equal]] = True
        run = run[:-1] & same[gap:]
        gap += 1
    return duplicate


def _components(n_nodes: int, source: np.ndarray, target: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, int]:
    """Component per node, 0 = most total edge length, ties to the component with the smallest node id."""
    if not n_nodes:
        return np.zeros(0, dtype=np.int64), 0
    graph = sparse.coo_matrix((np.ones(len(source), dtype=np.int8), (source, target)), shape=(n_nodes, n_nodes))
    n, label = connected_components(graph, directed=False)
    total = np.bincount(label[source], weights=length, minlength=n)
    _, smallest = np.unique(label, return_index=True)  # nodes in id order: first seen = smallest id
    rank = np.empty(n, dtype=np.int64)
    rank[np.lexsort((smallest, -total))] = np.arange(n)
    return rank[label], n


# --- small array helpers --------------------------------------------------------------------------------------


def _first_of_groups(sorted_keys: np.ndarray) -> np.ndarray:
    """Positions of the first element of each run of equal keys in a sorted array."""
    first = np.ones(len(sorted_keys), dtype=bool)
    first[1:] = sorted_keys[1:] != sorted_keys[:-1]
    return np.flatnonzero(first)


def _same_cell_pairs(cell: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs linking items with equal cell ids into chains."""
    order = np.argsort(cell, kind="stable")
    same = cell[order][1:] == cell[order][:-1]
    return order[:-1][same], order[1:][same]


def _contains(sorted_codes: np.ndarray, codes: np.ndarray) -> np.ndarray:
    where = np.minimum(np.searchsorted(sorted_codes, codes), max(len(sorted_codes) - 1, 0))
    return sorted_codes[where] == codes if len(sorted_codes) else np.zeros(len(codes), dtype=bool)


def _dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1])
