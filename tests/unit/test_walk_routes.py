"""Walking routes (gis.coverage.graph.paths): the line a resident would walk to the nearest facility, as long as the
distance `nearest` measures, along the network, from the origin's place on its edge to the target's."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from gis.coverage.graph import nearest, paths, snap
from tests.unit.test_walk_graph import LINE, graph_of, lattice, random_points


def test_a_route_runs_over_whole_edges_and_partial_ends() -> None:
    origin = snap(LINE, shapely.points([(20, -5)]), 100)  # edge 0 at 20 m
    target = snap(LINE, shapely.points([(310, 40)]), 100)  # edge 2 at 40 m
    [route] = paths(LINE, origin, target)
    assert route is not None
    assert shapely.get_coordinates(route).tolist() == [[20, 0], [100, 0], [300, 0], [300, 40]]


def test_a_route_on_one_edge_stays_on_it_and_goes_the_right_way() -> None:
    origin = snap(LINE, shapely.points([(250, 5)]), 100)
    target = snap(LINE, shapely.points([(120, -5)]), 100)
    [route] = paths(LINE, origin, target)
    assert route is not None and shapely.get_coordinates(route).tolist() == [[250, 0], [120, 0]]


def test_an_unreachable_or_unsnapped_target_has_no_route() -> None:
    island = graph_of([[(0, 0), (100, 0)], [(500, 0), (600, 0)]])
    origin = snap(island, shapely.points([(10, 0)]), 50)
    targets = snap(island, shapely.points([(550, 0), (300, 300)]), 50)
    assert paths(island, origin, targets) == [None, None]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_routes_are_as_long_as_the_distances_and_lie_on_the_network(seed: int) -> None:
    rng = np.random.default_rng(seed)
    graph = lattice(8, 8, 100.0, rng)
    network = shapely.union_all(graph.geoms)
    origin = snap(graph, random_points(graph, 1, rng), 60)
    while not origin.snapped[0]:  # an origin off the network has no route: draw another
        origin = snap(graph, random_points(graph, 1, rng), 60)
    targets = snap(graph, random_points(graph, 40, rng), 60)
    distance, _ = nearest(graph, targets, origin)
    routes = paths(graph, origin, targets)
    checked = 0
    for i, route in enumerate(routes):
        if not np.isfinite(distance[i]):
            assert route is None
            continue
        assert route is not None
        walked = route.length + origin.access[0] + targets.access[i]
        assert walked == pytest.approx(distance[i], abs=1e-6)
        assert network.buffer(1e-6).covers(route)
        start, end = shapely.get_coordinates(route)[[0, -1]]
        on_origin = graph.geoms[origin.edge[0]].interpolate(origin.position[0])
        on_target = graph.geoms[targets.edge[i]].interpolate(targets.position[i])
        assert shapely.Point(start).distance(on_origin) < 1e-6
        assert shapely.Point(end).distance(on_target) < 1e-6
        checked += 1
    assert checked > 20
