"""A networkx reference for walking distances: every snapped point becomes a real node splitting its edge.

Used by the coverage benchmark (as the peer) and by the tests (as the oracle). Deliberately plain: the
graph is rebuilt with the points inserted, then networkx's multi-source Dijkstra runs once.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import networkx as nx
import numpy as np

from gis.coverage.graph import Snap, WalkGraph


def reference_graph(graph: WalkGraph, points: dict[str, Snap]) -> nx.Graph:
    """The network with each point of each group inserted: node (group, i) hangs on its edge by its access."""
    on_edge: dict[int, list[tuple[float, object]]] = defaultdict(list)
    g = nx.Graph()
    for group, snap in points.items():
        for i in np.flatnonzero(snap.snapped):
            stop = ("on", group, int(i))
            on_edge[int(snap.edge[i])].append((float(snap.position[i]), stop))
            g.add_edge((group, int(i)), stop, weight=float(snap.access[i]))
    for e in range(len(graph.source)):
        u, v, length = int(graph.source[e]), int(graph.target[e]), float(graph.length[e])
        stops = sorted(on_edge.get(e, []), key=lambda s: s[0])
        chain = [(0.0, u), *stops, (length, v)]
        for (p0, a), (p1, b) in itertools.pairwise(chain):
            if a == b:
                continue
            weight = p1 - p0
            if not g.has_edge(a, b) or g[a][b]["weight"] > weight:
                g.add_edge(a, b, weight=weight)
    return g


def reference_distances(graph: WalkGraph, targets: Snap, sources: Snap) -> np.ndarray:
    """Distance from each target to its nearest source (inf when unreachable)."""
    g = reference_graph(graph, {"t": targets, "s": sources})
    starts = [("s", int(i)) for i in np.flatnonzero(sources.snapped)]
    if not starts:
        return np.full(len(targets), np.inf)
    lengths = nx.multi_source_dijkstra_path_length(g, starts, weight="weight")
    return np.array([lengths.get(("t", i), np.inf) for i in range(len(targets))])
