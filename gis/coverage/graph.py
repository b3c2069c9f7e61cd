"""Walking distances on the noded network: snapping points to edges and exact shortest paths with scipy.

Points (building entrances, facilities, candidate sites) sit on edges at a position (metres from the edge's
source node) with an access distance (straight line from the point to the edge). A distance between two
points is access + network path + access, where the path may start and end part-way along an edge and may
stay on one edge. All coordinates are in the dataset's metric CRS.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import dijkstra
from shapely.ops import substring

# csgraph treats an explicit zero as "no edge" in some paths: virtual edges of zero length get this instead.
_EPSILON = 1e-9
_SNAP_CHUNK_MIN = 20_000  # points per thread, at least, when snapping many
_CHUNK = 64  # sources per bounded Dijkstra call in site suggestion (a dense chunk × nodes array each)


@dataclass(frozen=True)
class WalkGraph:
    """Edges of the walking network as arrays; nodes are 0..n_nodes-1."""

    edge_id: np.ndarray  # int64 database ids
    source: np.ndarray  # int64
    target: np.ndarray  # int64
    length: np.ndarray  # float64 metres
    component: np.ndarray  # int64 per edge, 0 = the main component
    geoms: np.ndarray  # LineString per edge, metres, from source to target
    n_nodes: int

    @cached_property
    def matrix(self) -> csr_matrix:
        """Undirected adjacency, parallel edges reduced to the shortest (csr would sum them), no self-loops."""
        keep = self.source != self.target
        a, b, w = self.source[keep], self.target[keep], self.length[keep]
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        pairs = pd.DataFrame({"lo": lo, "hi": hi, "w": np.maximum(w, _EPSILON)}).groupby(["lo", "hi"]).w.min()
        lo, hi, w = (
            pairs.index.get_level_values(0).to_numpy(),
            pairs.index.get_level_values(1).to_numpy(),
            pairs.values,
        )
        rows, cols = np.concatenate([lo, hi]), np.concatenate([hi, lo])
        return csr_matrix((np.concatenate([w, w]), (rows, cols)), shape=(self.n_nodes, self.n_nodes))

    @cached_property
    def matrix_coo(self) -> coo_matrix:
        return self.matrix.tocoo()

    @cached_property
    def edge_between(self) -> dict[tuple[int, int], int]:
        """(lower node, higher node) → index of the shortest edge joining them: the one the matrix keeps."""
        keep = self.source != self.target
        frame = pd.DataFrame(
            {
                "lo": np.minimum(self.source, self.target)[keep],
                "hi": np.maximum(self.source, self.target)[keep],
                "w": self.length[keep],
                "i": np.flatnonzero(keep),
            }
        ).sort_values(["w", "i"])
        frame = frame.drop_duplicates(["lo", "hi"])
        return dict(zip(zip(frame.lo.tolist(), frame.hi.tolist(), strict=True), frame.i.tolist(), strict=True))

    @cached_property
    def tree(self) -> shapely.STRtree:
        return shapely.STRtree(self.geoms)

    @property
    def parallel_edges(self) -> int:
        """Edges dropped from the matrix because a shorter one joins the same two nodes."""
        keep = self.source != self.target
        return int(keep.sum()) - self.matrix.nnz // 2


@dataclass(frozen=True)
class Snap:
    """Where points meet the network: edge index (-1 when none within reach), position along it, access."""

    edge: np.ndarray  # int64 index into the graph's edge arrays
    position: np.ndarray  # float64 metres from the edge's source node
    access: np.ndarray  # float64 metres from the point to the edge; NaN when not snapped

    def __len__(self) -> int:
        return len(self.edge)

    @property
    def snapped(self) -> np.ndarray:
        return self.edge >= 0

    def take(self, index: np.ndarray) -> Snap:
        return Snap(self.edge[index], self.position[index], self.access[index])


def snap(graph: WalkGraph, points: np.ndarray, max_distance: float) -> Snap:
    """Each point onto its nearest edge within `max_distance` metres (ties: the lowest edge index)."""
    points = np.asarray(points, dtype=object)
    edge = np.full(len(points), -1, dtype=np.int64)
    position = np.zeros(len(points))
    access = np.full(len(points), np.nan)
    if len(points) == 0 or len(graph.geoms) == 0:
        return Snap(edge, position, access)
    pt, ed, dist = _nearest_edges(graph.tree, points, max_distance)
    # All equidistant edges come back; keep the lowest edge index per point so the result is deterministic.
    order = np.lexsort((ed, pt))
    pt, ed, dist = pt[order], ed[order], dist[order]
    first = np.ones(len(pt), dtype=bool)
    first[1:] = pt[1:] != pt[:-1]
    pt, ed, dist = pt[first], ed[first], dist[first]
    edge[pt] = ed
    access[pt] = dist
    position[pt] = shapely.line_locate_point(graph.geoms[ed], points[pt])
    return Snap(edge, position, access)


def _nearest_edges(tree: shapely.STRtree, points: np.ndarray, max_distance: float) -> tuple[np.ndarray, ...]:
    """(point, edge, distance) of the nearest edges within `max_distance`. GEOS releases the GIL, so a city's
    points are queried in one chunk per core."""
    chunks = max(1, min(os.cpu_count() or 1, len(points) // _SNAP_CHUNK_MIN))
    if chunks == 1:
        (pt, ed), dist = tree.query_nearest(points, max_distance=max_distance, return_distance=True)
        return pt, ed, dist
    starts = np.linspace(0, len(points), chunks + 1).astype(np.int64)

    def query(k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        part = points[starts[k] : starts[k + 1]]
        (pt, ed), dist = tree.query_nearest(part, max_distance=max_distance, return_distance=True)
        return pt + starts[k], ed, dist

    with ThreadPoolExecutor(chunks) as pool:
        found = list(pool.map(query, range(chunks)))
    return tuple(np.concatenate([f[i] for f in found]) for i in range(3))


def nodes_as_snap(graph: WalkGraph, nodes: np.ndarray) -> Snap:
    """Network nodes as points on the network: at the start (or end) of an edge that touches them."""
    nodes = np.asarray(nodes, dtype=np.int64)
    first_as_source = pd.Series(np.arange(len(graph.source))).groupby(graph.source).first()
    first_as_target = pd.Series(np.arange(len(graph.target))).groupby(graph.target).first()
    as_source = first_as_source.reindex(nodes).to_numpy()
    as_target = first_as_target.reindex(nodes).to_numpy()
    on_source = ~np.isnan(as_source)
    edge = np.where(on_source, as_source, as_target).astype(np.int64)
    position = np.where(on_source, 0.0, graph.length[edge])
    return Snap(edge, position, np.zeros(len(nodes)))


# -- nearest source ------------------------------------------------------------------------------------------


def nearest(graph: WalkGraph, targets: Snap, sources: Snap) -> tuple[np.ndarray, np.ndarray]:
    """For every target: the network distance to its nearest source (inf when none is reachable) and that
    source's index (-1). One multi-source Dijkstra over all sources at once."""
    return next(nearest_each(graph, targets, [sources]))


def nearest_each(
    graph: WalkGraph, targets: Snap, source_sets: Iterable[Snap]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """`nearest` for each set of sources in turn (a run's categories), the targets' side worked out once."""
    tgt = np.flatnonzero(targets.snapped)
    e, q, a = targets.edge[tgt], targets.position[tgt], targets.access[tgt]
    u, v = graph.source[e], graph.target[e]
    back = graph.length[e] - q
    for sources in source_sets:
        distance = np.full(len(targets), np.inf)
        nearest_source = np.full(len(targets), -1, dtype=np.int64)
        src = np.flatnonzero(sources.snapped)
        if len(src) == 0 or len(tgt) == 0:
            yield distance, nearest_source
            continue
        node_dist, node_src = _node_distances(graph, sources.take(src))
        via_u, via_v = node_dist[u] + q, node_dist[v] + back
        from_u = via_u <= via_v
        best = np.where(from_u, via_u, via_v)
        best_src = np.where(from_u, node_src[u], node_src[v])

        # The same-edge case: a source on the target's own edge may be closer along the edge than via its ends.
        # Only targets on an edge holding a source can have one (a few among a city's buildings).
        on_source_edge = np.flatnonzero(np.isin(e, sources.edge[src]))
        if len(on_source_edge):
            t, d, s = _closest_on_same_edge(e[on_source_edge], q[on_source_edge], sources.take(src))
            t = on_source_edge[t]
            closer = d < best[t]
            best[t[closer]] = d[closer]
            best_src[t[closer]] = s[closer]

        reached = np.isfinite(best)
        distance[tgt] = np.where(reached, best + a, np.inf)
        nearest_source[tgt] = np.where(reached, src[np.maximum(best_src, 0)], -1)
        yield distance, nearest_source


def _node_distances(graph: WalkGraph, sources: Snap, limit: float = np.inf) -> tuple[np.ndarray, np.ndarray]:
    """Distance from the nearest source to every node, and that source's index into `sources` (-1).

    Each source is a virtual node n + i with one-way edges to both ends of its edge, so one Dijkstra run
    starts from all of them and paths never pass through a source."""
    n, k = graph.n_nodes, len(sources)
    virtual = np.arange(n, n + k)
    dist, _, origin = dijkstra(
        _with_sources(graph, sources),
        directed=True,
        indices=virtual,
        min_only=True,
        return_predecessors=True,
        limit=limit,
    )
    origin = origin[:n]
    return dist[:n], np.where(origin >= n, origin - n, -1)


def _with_sources(graph: WalkGraph, sources: Snap) -> csr_matrix:
    """The network's matrix plus each source as a virtual node n + i with one-way edges to both ends of its edge."""
    n, k = graph.n_nodes, len(sources)
    e = sources.edge
    virtual = np.arange(n, n + k)
    to_source = sources.access + sources.position
    to_target = sources.access + graph.length[e] - sources.position
    # A source on a self-loop reaches the same node both ways: one entry, the shorter (csr would add them).
    loop = graph.source[e] == graph.target[e]
    rows = np.concatenate([virtual, virtual[~loop]])
    cols = np.concatenate([graph.source[e], graph.target[e][~loop]])
    weights = np.concatenate([np.where(loop, np.minimum(to_source, to_target), to_source), to_target[~loop]])
    base = graph.matrix_coo
    return coo_matrix(
        (
            np.concatenate([base.data, np.maximum(weights, _EPSILON)]),
            (np.concatenate([base.row, rows]), np.concatenate([base.col, cols])),
        ),
        shape=(n + k, n + k),
    ).tocsr()


def _closest_on_same_edge(edge: np.ndarray, position: np.ndarray, sources: Snap) -> tuple[np.ndarray, ...]:
    """For targets at `position` on `edge`: (target, distance along the edge plus the source's access, source) of
    the closest source on the same edge (ties: the lowest source index), for targets sharing an edge with one."""
    order = np.argsort(sources.edge, kind="stable")
    on = sources.edge[order]
    low, high = np.searchsorted(on, edge, "left"), np.searchsorted(on, edge, "right")
    count = high - low
    t = np.repeat(np.arange(len(edge)), count)
    within = np.arange(len(t)) - np.repeat(np.cumsum(count) - count, count)
    s = order[np.repeat(low, count) + within]
    d = sources.access[s] + np.abs(sources.position[s] - position[t])
    best = np.lexsort((s, d, t))
    first = np.ones(len(best), dtype=bool)
    first[1:] = t[best][1:] != t[best][:-1]
    pick = best[first]
    return t[pick], d[pick], s[pick]


def _same_edge_pairs(targets: Snap, sources: Snap) -> pd.DataFrame:
    """Pairs (t, s) of target and source positions on one edge."""
    t = pd.DataFrame({"t": np.arange(len(targets)), "edge": targets.edge, "t_pos": targets.position})
    t["t_access"] = targets.access
    s = pd.DataFrame({"s": np.arange(len(sources)), "edge": sources.edge, "s_pos": sources.position})
    s["s_access"] = sources.access
    return t.merge(s, on="edge")


# -- walking routes --------------------------------------------------------------------------------------------


def paths(graph: WalkGraph, origin: Snap, targets: Snap) -> list[shapely.LineString | None]:
    """The shortest walk from one point to each target along the network, as metric LineStrings from the origin's
    place on its edge over whole edges to the target's place on its edge (the access legs are the caller's: it
    knows the points). The same choices as `nearest`, so a route is as long as its distance minus both accesses.
    None: the target is not snapped or not reachable."""
    out: list[shapely.LineString | None] = [None] * len(targets)
    if len(origin) != 1 or not origin.snapped[0] or len(targets) == 0:
        return out
    n = graph.n_nodes
    node_dist, pred = dijkstra(_with_sources(graph, origin), directed=True, indices=n, return_predecessors=True)
    e0, p0 = int(origin.edge[0]), float(origin.position[0])
    for i in np.flatnonzero(targets.snapped):
        e, q = int(targets.edge[i]), float(targets.position[i])
        u, v, length = int(graph.source[e]), int(graph.target[e]), float(graph.length[e])
        via_u, via_v = node_dist[u] + q, node_dist[v] + (length - q)
        along = float(origin.access[0]) + abs(p0 - q) if e == e0 else np.inf
        best = min(via_u, via_v, along)
        if not np.isfinite(best):
            continue
        if along <= best:  # on the origin's own edge, never leaving it
            pieces = [_coords(substring(graph.geoms[e], p0, q))]
        else:
            end = u if via_u <= via_v else v
            pieces = _walk_to(graph, pred, end, e0, p0)
            pieces.append(_coords(substring(graph.geoms[e], 0.0 if end == u else length, q)))
        coords = np.concatenate(pieces)
        keep = np.ones(len(coords), dtype=bool)
        keep[1:] = np.any(coords[1:] != coords[:-1], axis=1)  # joints repeat where pieces meet
        coords = coords[keep]
        out[i] = shapely.LineString(coords if len(coords) > 1 else np.vstack([coords, coords]))
    return out


def _coords(geom: shapely.Geometry) -> np.ndarray:
    return shapely.get_coordinates(geom)  # substring gives a Point for a zero-length piece


def _walk_to(graph: WalkGraph, pred: np.ndarray, node: int, e0: int, p0: float) -> list[np.ndarray]:
    """Coordinate pieces from the origin (edge e0 at p0) to `node`, following Dijkstra's predecessors back."""
    n = graph.n_nodes
    chain = [node]
    while 0 <= pred[chain[-1]] < n:  # the virtual origin (index n) ends the chain
        chain.append(int(pred[chain[-1]]))
    chain.reverse()
    first = chain[0]
    # Leaving the origin's edge through its source or target end (a self-loop: the shorter way round).
    source, length = int(graph.source[e0]), float(graph.length[e0])
    to_source = first == source and (first != int(graph.target[e0]) or p0 <= length - p0)
    pieces = [_coords(substring(graph.geoms[e0], p0, 0.0 if to_source else length))]
    for a, b in itertools.pairwise(chain):
        edge = graph.edge_between[(min(a, b), max(a, b))]
        line = _coords(graph.geoms[edge])
        pieces.append(line if graph.source[edge] == a else line[::-1])
    return pieces


# -- catchments ------------------------------------------------------------------------------------------------


def reached_lines(graph: WalkGraph, origin: Snap, budget: float) -> np.ndarray:
    """The parts of the network within `budget` metres of one point: whole edges, and the reached ends of
    frontier edges. Empty when the point is not snapped or its access alone exceeds the budget."""
    if len(origin) != 1 or not origin.snapped[0] or origin.access[0] > budget:
        return np.array([], dtype=object)
    node_dist, _ = _node_distances(graph, origin, limit=budget)
    left_u = budget - node_dist[graph.source]  # metres still to walk on from each end (negative: unreached)
    left_v = budget - node_dist[graph.target]
    pieces: list[shapely.LineString] = []
    whole = (left_u >= 0) & (left_v >= 0) & (left_u + left_v >= graph.length)
    pieces.extend(graph.geoms[whole])
    for i in np.flatnonzero(~whole & ((left_u > 0) | (left_v > 0))):
        geom, length = graph.geoms[i], graph.length[i]
        if left_u[i] > 0:
            pieces.append(substring(geom, 0.0, min(left_u[i], length)))
        if left_v[i] > 0:
            pieces.append(substring(geom, max(length - left_v[i], 0.0), length))
    # The origin's own edge, walked both ways from the point.
    e, p, left = int(origin.edge[0]), float(origin.position[0]), budget - float(origin.access[0])
    if not whole[e]:
        pieces.append(substring(graph.geoms[e], max(p - left, 0.0), min(p + left, float(graph.length[e]))))
    return np.array([g for g in pieces if g.geom_type == "LineString" and not g.is_empty], dtype=object)


def catchment(graph: WalkGraph, origin: Snap, budget: float, buffer_m: float) -> shapely.Geometry:
    """Display polygon of what is reached within `budget`: the reached lines buffered and unioned."""
    lines = reached_lines(graph, origin, budget)
    if len(lines) == 0:
        return shapely.Polygon()
    return shapely.buffer(shapely.multilinestrings(lines), buffer_m, quad_segs=4)


# -- site suggestion -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Site:
    candidate: int  # index into the candidates
    weight: float  # demand weight (households) it adds
    demand: np.ndarray  # indices of the demand points it adds


def demand_within(graph: WalkGraph, demand: Snap, candidates: Snap, threshold: float) -> pd.DataFrame:
    """Pairs (d, c, distance) of demand points and candidates within `threshold` on the network (exact, as in
    `nearest`): bounded Dijkstra runs from the ends of the demand points' edges, in chunks."""
    d_idx = np.flatnonzero(demand.snapped)
    c_idx = np.flatnonzero(candidates.snapped)
    if len(d_idx) == 0 or len(c_idx) == 0:
        return pd.DataFrame({"d": [], "c": [], "distance": []})
    e = demand.edge[d_idx]
    ends = np.unique(np.concatenate([graph.source[e], graph.target[e]]))
    reach = _bounded_reach(graph, ends, threshold)  # columns: start, node, dist

    # demand → node: through either end of its edge.
    d = pd.DataFrame({"d": d_idx, "u": graph.source[e], "v": graph.target[e]})
    d["q"], d["a"], d["len"] = demand.position[d_idx], demand.access[d_idx], graph.length[e]
    via_u = d.merge(reach, left_on="u", right_on="start")
    via_u["dist"] = via_u.dist + via_u.q + via_u.a
    via_v = d.merge(reach, left_on="v", right_on="start")
    via_v["dist"] = via_v.dist + (via_v.len - via_v.q) + via_v.a
    to_node = pd.concat([via_u[["d", "node", "dist"]], via_v[["d", "node", "dist"]]])
    to_node = to_node[to_node.dist <= threshold].groupby(["d", "node"], as_index=False).dist.min()

    # node → candidate: from either end of the candidate's edge, plus its access.
    ce = candidates.edge[c_idx]
    c = pd.DataFrame({"c": c_idx, "x": graph.source[ce], "y": graph.target[ce]})
    c["p"], c["a"], c["len"] = candidates.position[c_idx], candidates.access[c_idx], graph.length[ce]
    at_x = to_node.merge(c, left_on="node", right_on="x")
    at_x["distance"] = at_x.dist + at_x.p + at_x.a
    at_y = to_node.merge(c, left_on="node", right_on="y")
    at_y["distance"] = at_y.dist + (at_y.len - at_y.p) + at_y.a
    same = _same_edge_pairs(demand.take(d_idx), candidates.take(c_idx))
    same = pd.DataFrame(
        {
            "d": d_idx[same.t.to_numpy()],
            "c": c_idx[same.s.to_numpy()],
            "distance": (same.t_access + same.s_access + (same.t_pos - same.s_pos).abs()).to_numpy(),
        }
    )
    pairs = pd.concat([at_x[["d", "c", "distance"]], at_y[["d", "c", "distance"]], same])
    pairs = pairs[pairs.distance <= threshold]
    return pairs.groupby(["d", "c"], as_index=False).distance.min()


def _bounded_reach(graph: WalkGraph, starts: np.ndarray, limit: float) -> pd.DataFrame:
    """(start, node, dist) for every node within `limit` of each start node."""
    parts = []
    for i in range(0, len(starts), _CHUNK):
        chunk = starts[i : i + _CHUNK]
        dist = dijkstra(graph.matrix, directed=False, indices=chunk, limit=limit)
        row, node = np.nonzero(np.isfinite(dist))
        parts.append(pd.DataFrame({"start": chunk[row], "node": node, "dist": dist[row, node]}))
    return pd.concat(parts, ignore_index=True)


def greedy_sites(
    graph: WalkGraph, demand: Snap, weights: np.ndarray, candidates: Snap, threshold: float, k: int
) -> list[Site]:
    """Greedy maximal covering: up to k candidates, each adding the most not-yet-covered demand weight within
    `threshold`. Stops early when no candidate adds anything. Ties go to the lowest candidate index."""
    pairs = demand_within(graph, demand, candidates, threshold)
    if pairs.empty:
        return []
    cover = csr_matrix(
        (np.ones(len(pairs)), (pairs.c.to_numpy(dtype=np.int64), pairs.d.to_numpy(dtype=np.int64))),
        shape=(len(candidates), len(demand)),
    )
    remaining = np.asarray(weights, dtype=float).copy()
    sites: list[Site] = []
    for _ in range(k):
        gain = cover @ remaining
        best = int(np.argmax(gain))
        if gain[best] <= 0:
            break
        row = cover.getrow(best).indices
        added = row[remaining[row] > 0]
        sites.append(Site(best, float(remaining[added].sum()), np.sort(added)))
        remaining[added] = 0.0
    return sites
