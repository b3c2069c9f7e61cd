"""Walking distances: exact against hand-worked answers and a networkx reference on the same graph."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.network_reference import reference_distances
from gis.coverage.graph import Snap, WalkGraph, catchment, greedy_sites, nearest, nodes_as_snap, reached_lines, snap


def graph_of(lines: list[list[tuple[float, float]]], node_of: dict | None = None) -> WalkGraph:
    """A graph from lines whose end coordinates identify nodes."""
    node_of = {} if node_of is None else node_of
    geoms = [shapely.LineString(c) for c in lines]
    source = [node_of.setdefault(tuple(c[0]), len(node_of)) for c in lines]
    target = [node_of.setdefault(tuple(c[-1]), len(node_of)) for c in lines]
    n = len(lines)
    return WalkGraph(
        edge_id=np.arange(1, n + 1),
        source=np.array(source),
        target=np.array(target),
        length=shapely.length(np.array(geoms)),
        component=np.zeros(n, dtype=np.int64),
        geoms=np.array(geoms, dtype=object),
        n_nodes=len(node_of),
    )


def lattice(nx: int, ny: int, spacing: float, rng: np.random.Generator, drop: float = 0.15) -> WalkGraph:
    """A jittered street lattice with some edges missing and some bent (longer than the straight line)."""
    xy = np.stack(np.meshgrid(np.arange(nx) * spacing, np.arange(ny) * spacing, indexing="ij"), -1)
    xy = xy + rng.uniform(-spacing / 5, spacing / 5, xy.shape)
    lines = []
    for i in range(nx):
        for j in range(ny):
            for di, dj in ((1, 0), (0, 1)):
                if i + di < nx and j + dj < ny and rng.random() > drop:
                    a, b = xy[i, j], xy[i + di, j + dj]
                    mid = (a + b) / 2 + rng.uniform(-spacing / 6, spacing / 6, 2)
                    lines.append([tuple(a), tuple(mid), tuple(b)] if rng.random() < 0.5 else [tuple(a), tuple(b)])
    return graph_of(lines)


def random_points(graph: WalkGraph, n: int, rng: np.random.Generator) -> np.ndarray:
    bounds = shapely.total_bounds(graph.geoms)
    lo, hi = bounds[:2] - 20, bounds[2:] + 20
    return shapely.points(rng.uniform(lo, hi, (n, 2)))


LINE = graph_of([[(0, 0), (100, 0)], [(100, 0), (300, 0)], [(300, 0), (300, 50)]])


def test_hand_built_distances_include_access_and_partial_edges() -> None:
    facilities = snap(LINE, shapely.points([(250, 10)]), 100)  # on edge 1 at 150 m, 10 m off
    homes = snap(LINE, shapely.points([(20, -5), (300, 40), (500, 0)]), 100)
    distance, which = nearest(LINE, homes, facilities)
    # (20,-5): 5 + (100-20) + 150 + 10; (300,40): 0 access + 40 + 50 + 10; (500,0) is 200 m from any edge.
    assert distance[:2] == pytest.approx([5 + 80 + 150 + 10, 40 + 50 + 10])
    assert np.isinf(distance[2]) and which.tolist() == [0, 0, -1]


def test_a_source_on_the_same_edge_is_reached_along_it() -> None:
    facilities = snap(LINE, shapely.points([(120, 3), (10, 0)]), 100)
    homes = snap(LINE, shapely.points([(160, 4)]), 100)
    distance, which = nearest(LINE, homes, facilities)
    assert distance[0] == pytest.approx(3 + 40 + 4) and which[0] == 0


def test_the_shorter_of_parallel_edges_is_used_and_the_longer_stays_walkable() -> None:
    graph = graph_of([[(0, 0), (100, 0)], [(0, 0), (50, 80), (100, 0)]])
    assert graph.parallel_edges == 1
    facilities = snap(graph, shapely.points([(0, 0)]), 10)
    homes = snap(graph, shapely.points([(99, -2), (50, 81)]), 10)
    distance, _ = nearest(graph, homes, facilities)
    assert distance[0] == pytest.approx(101)
    assert distance[1] == pytest.approx(1 + np.hypot(50, 80))  # along the bent edge from its own end


def test_a_building_on_a_disconnected_piece_is_unreachable() -> None:
    graph = graph_of([[(0, 0), (100, 0)], [(0, 500), (100, 500)]])
    distance, which = nearest(
        graph, snap(graph, shapely.points([(50, 505)]), 50), snap(graph, shapely.points([(0, 0)]), 50)
    )
    assert np.isinf(distance[0]) and which[0] == -1


@pytest.mark.parametrize("seed", range(5))
def test_distances_equal_networkx_on_a_random_lattice(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = lattice(12, 9, 80.0, rng)
    homes = snap(graph, random_points(graph, 300, rng), 30)
    facilities = snap(graph, random_points(graph, 6, rng), 30)
    distance, which = nearest(graph, homes, facilities)
    expected = reference_distances(graph, homes, facilities)
    assert np.array_equal(np.isinf(distance), np.isinf(expected))
    finite = np.isfinite(distance)
    assert np.abs(distance[finite] - expected[finite]).max() < 0.01
    # The reported facility is one at that distance.
    for i in np.flatnonzero(finite)[:40]:
        alone = facilities.take(np.array([which[i]]))
        d, _ = nearest(graph, homes.take(np.array([i])), alone)
        assert d[0] == pytest.approx(distance[i], abs=1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), removed=st.integers(0, 10_000))
def test_removing_an_edge_never_shortens_a_distance(seed: int, removed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = lattice(6, 5, 60.0, rng, drop=0.05)
    homes, sites = snap(graph, random_points(graph, 60, rng), 25), snap(graph, random_points(graph, 3, rng), 25)
    before, _ = nearest(graph, homes, sites)
    gone = removed % len(graph.source)
    keep = np.arange(len(graph.source)) != gone
    smaller = WalkGraph(
        graph.edge_id[keep], graph.source[keep], graph.target[keep], graph.length[keep],
        graph.component[keep], graph.geoms[keep], graph.n_nodes,
    )  # fmt: skip

    def without(s: Snap) -> Snap:  # the same snaps on the smaller graph; points on the removed edge lose theirs
        edge = np.where(s.edge == gone, -1, s.edge - (s.edge > gone))
        return Snap(edge, s.position, np.where(edge >= 0, s.access, np.nan))

    after, _ = nearest(smaller, without(homes), without(sites))
    assert np.all(after >= before - 1e-9)


def test_reached_lines_stop_exactly_at_the_budget() -> None:
    origin = snap(LINE, shapely.points([(50, 0)]), 10)
    lines = reached_lines(LINE, origin, 120.0)
    assert shapely.length(shapely.multilinestrings(lines)) == pytest.approx(50 + 120)
    assert shapely.length(shapely.multilinestrings(reached_lines(LINE, origin, 1000.0))) == pytest.approx(350)
    polygon = catchment(LINE, origin, 120.0, 20.0)
    assert polygon.contains(shapely.Point(160, 0)) and not polygon.contains(shapely.Point(200, 0))
    assert reached_lines(LINE, snap(LINE, shapely.points([(500, 0)]), 10), 100.0).size == 0


def test_greedy_sites_pick_the_candidate_adding_most_households_first() -> None:
    graph = graph_of([[(0, 0), (1000, 0)], [(1000, 0), (2000, 0)]])
    homes = snap(graph, shapely.points([(100, 5), (150, 5), (1900, 5), (1950, 5), (1000, 5)]), 50)
    weights = np.array([10.0, 10.0, 30.0, 30.0, 1.0])
    candidates = nodes_as_snap(graph, np.arange(graph.n_nodes))  # nodes at x = 0, 1000, 2000
    sites = greedy_sites(graph, homes, weights, candidates, threshold=300.0, k=5)
    xs = [
        shapely.get_coordinates(graph.geoms[candidates.edge[s.candidate]])[
            0 if candidates.position[s.candidate] == 0 else -1
        ][0]
        for s in sites
    ]
    assert xs == [2000.0, 0.0, 1000.0]
    assert [s.weight for s in sites] == [60.0, 20.0, 1.0]
    assert sites[0].demand.tolist() == [2, 3]


def test_greedy_sites_agree_with_brute_force_coverage_on_a_lattice() -> None:
    rng = np.random.default_rng(3)
    graph = lattice(8, 8, 100.0, rng)
    homes = snap(graph, random_points(graph, 200, rng), 30)
    weights = rng.integers(1, 40, len(homes)).astype(float)
    candidates = snap(graph, random_points(graph, 25, rng), 30)
    sites = greedy_sites(graph, homes, weights, candidates, threshold=250.0, k=1)
    covered = [nearest(graph, homes, candidates.take(np.array([c])))[0] <= 250.0 for c in range(len(candidates))]
    gains = [weights[(c & homes.snapped)].sum() if candidates.snapped[i] else 0 for i, c in enumerate(covered)]
    assert sites[0].weight == pytest.approx(max(gains))
    assert set(sites[0].demand) == set(np.flatnonzero(covered[sites[0].candidate] & homes.snapped))


def test_snap_reports_what_is_out_of_reach() -> None:
    s = snap(LINE, shapely.points([(50, 99), (50, 101)]), 100)
    assert s.snapped.tolist() == [True, False] and s.access[0] == pytest.approx(99) and np.isnan(s.access[1])
    assert isinstance(s, Snap) and len(s) == 2
