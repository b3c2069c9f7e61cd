"""gis.coverage.noding: noding a walking line layer into a graph (pure, no database)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely import LineString, MultiLineString

from gis.coverage.noding import NodedNetwork, node_lines

STAT_KEYS = {
    "lines",
    "edges",
    "nodes",
    "components",
    "shared_vertices",
    "t_junctions",
    "crossings",
    "duplicates",
    "dropped",
}


def check_topology(net: NodedNetwork) -> None:
    """Invariants every result must satisfy."""
    n_edges = len(net.geoms)
    assert set(net.stats) == STAT_KEYS
    assert net.stats["edges"] == n_edges == len(net.source) == len(net.target) == len(net.length) == len(net.line)
    assert net.stats["nodes"] == len(net.node_xy) == len(net.node_component)
    assert net.source.dtype == net.target.dtype == net.line.dtype == net.node_component.dtype == np.int64
    assert net.length.dtype == np.float64 and net.node_xy.dtype == np.float64
    coords = [shapely.get_coordinates(g) for g in net.geoms]
    assert all(np.array_equal(c[0], net.node_xy[s]) for c, s in zip(coords, net.source, strict=True))
    assert all(np.array_equal(c[-1], net.node_xy[t]) for c, t in zip(coords, net.target, strict=True))
    np.testing.assert_array_equal(net.length, shapely.length(net.geoms))
    # every node belongs to an edge; node ids are distinct 1 cm cells
    assert set(net.source) | set(net.target) == set(range(len(net.node_xy)))
    assert len(np.unique(np.round(net.node_xy * 100), axis=0)) == len(net.node_xy)
    # components: ranked by total length, edges inside one component
    np.testing.assert_array_equal(net.node_component[net.source], net.node_component[net.target])
    np.testing.assert_array_equal(net.edge_component, net.node_component[net.source])
    if n_edges:
        totals = np.bincount(net.edge_component, weights=net.length)
        assert net.stats["components"] == len(totals) == net.node_component.max() + 1
        assert np.all(np.diff(totals) <= 0)


def line_pieces(net: NodedNetwork, line: int) -> list[list[tuple[float, float]]]:
    return [shapely.get_coordinates(g).tolist() for g in net.geoms[net.line == line]]


# --- crossings ------------------------------------------------------------------------------------------------


def test_x_crossing_is_noded_only_with_node_crossings() -> None:
    lines = [LineString([(0, 0), (10, 10)]), LineString([(0, 10), (10, 0)])]
    noded = node_lines(lines)
    check_topology(noded)
    assert (noded.stats["edges"], noded.stats["nodes"], noded.stats["crossings"]) == (4, 5, 1)
    assert noded.stats["components"] == 1
    centre = np.flatnonzero((noded.node_xy == [5.0, 5.0]).all(axis=1))
    assert len(centre) == 1
    assert np.sum(noded.source == centre[0]) + np.sum(noded.target == centre[0]) == 4

    bridge = node_lines(lines, node_crossings=False)
    check_topology(bridge)
    assert (bridge.stats["edges"], bridge.stats["nodes"], bridge.stats["crossings"]) == (2, 4, 0)
    assert bridge.stats["components"] == 2


def test_crossing_at_several_points_splits_both_lines_at_each() -> None:
    zigzag = LineString([(0, 0), (2, 2), (4, -2), (6, 2), (8, -2)])
    net = node_lines([LineString([(-1, 0), (9, 0)]), zigzag])
    check_topology(net)
    assert len(line_pieces(net, 0)) == 5  # the zigzag starts on it (x = 0), then crosses at x = 3, 5, 7
    assert len(line_pieces(net, 1)) == 4
    assert net.stats["crossings"] == 3 and net.stats["t_junctions"] == 1
    assert net.stats["components"] == 1
    assert not shapely.STRtree(net.geoms).query(net.geoms, predicate="crosses").size


def test_crossing_a_millimetre_from_a_vertex_is_noded_at_the_vertex() -> None:
    # Vertex and crossing point straddle a 1 cm cell edge; both lines must be cut at one exact point.
    a = LineString([(0, 0), (10.0049, 0), (20, 0)])
    b = LineString([(10.0052, -10), (10.0052, 10)])
    net = node_lines([a, b])
    check_topology(net)
    assert (net.stats["edges"], net.stats["nodes"], net.stats["components"]) == (4, 5, 1)
    assert line_pieces(net, 0)[0][-1] == [10.0049, 0.0]
    assert line_pieces(net, 1)[0][-1] == [10.0049, 0.0]


def test_lines_that_overlap_and_also_cross_elsewhere_are_noded_at_the_crossing() -> None:
    # "crosses" is false for partly overlapping lines; the crossing at (4, 0) must be noded all the same.
    a = LineString([(0, 0), (10, 0)])
    b = LineString([(5, 0), (8, 0), (8, 5), (0, -5)])
    net = node_lines([a, b])
    check_topology(net)
    assert net.stats["crossings"] == 1 and net.stats["components"] == 1
    assert [piece[-1] for piece in line_pieces(net, 0)[:2]] == [[4.0, 0.0], [5.0, 0.0]]


def test_overshooting_end_is_snapped_back_not_left_as_a_stub() -> None:
    # The path crosses the road and ends 0.3 m beyond it: one T-junction, no 0.3 m dangling edge.
    net = node_lines([LineString([(0, 0), (20, 0)]), LineString([(10, 10), (10, -0.3)])])
    check_topology(net)
    assert net.stats["edges"] == 3
    assert net.stats["t_junctions"] == 1
    assert line_pieces(net, 1) == [[[10.0, 10.0], [10.0, 0.0]]]


# --- T-junctions and near misses ------------------------------------------------------------------------------


def test_t_junction_short_of_the_road_is_snapped_and_splits_the_road() -> None:
    road = LineString([(0, 0), (20, 0)])
    path = LineString([(10, 10), (10, 0.3)])
    net = node_lines([road, path], tolerance=0.5)
    check_topology(net)
    assert net.stats["edges"] == 3 and net.stats["nodes"] == 4 and net.stats["t_junctions"] == 1
    assert line_pieces(net, 0) == [[[0.0, 0.0], [10.0, 0.0]], [[10.0, 0.0], [20.0, 0.0]]]
    assert line_pieces(net, 1) == [[[10.0, 10.0], [10.0, 0.0]]]
    road_a, road_b, path_edge = range(3)
    junction = net.target[road_a]
    assert net.source[road_b] == junction and net.target[path_edge] == junction
    np.testing.assert_array_equal(net.node_xy[junction], [10.0, 0.0])
    assert net.stats["components"] == 1


def test_snap_next_to_a_junction_vertex_lands_on_the_vertex() -> None:
    # The projected point is 0.3 mm from the ways' shared vertex, across a 1 cm cell edge from it: the path
    # must end on the junction itself, not on a separate node 0.3 mm away.
    a = LineString([(0, 0), (10.0049, 0), (20, 0)])
    b = LineString([(10.0049, 0), (10.0049, -10)])
    path = LineString([(10.0052, 10), (10.0052, 0.3)])
    net = node_lines([a, b, path], node_crossings=False)
    check_topology(net)
    assert (net.stats["edges"], net.stats["nodes"], net.stats["components"]) == (4, 5, 1)
    assert line_pieces(net, 2) == [[[10.0052, 10.0], [10.0049, 0.0]]]


def test_end_beyond_tolerance_is_not_joined() -> None:
    net = node_lines([LineString([(0, 0), (20, 0)]), LineString([(10, 10), (10, 0.6)])], tolerance=0.5)
    check_topology(net)
    assert (net.stats["edges"], net.stats["nodes"], net.stats["components"]) == (2, 4, 2)
    assert net.stats["t_junctions"] == 0
    # the 20 m road outweighs the 9.4 m path
    assert net.edge_component.tolist() == [0, 1]


def test_t_junction_at_an_existing_vertex_reuses_it() -> None:
    road = LineString([(0, 0), (10, 0), (20, -5)])
    net = node_lines([road, LineString([(10, 10), (10, 0.2)])])
    check_topology(net)
    assert line_pieces(net, 0) == [[[0.0, 0.0], [10.0, 0.0]], [[10.0, 0.0], [20.0, -5.0]]]
    assert line_pieces(net, 1) == [[[10.0, 10.0], [10.0, 0.0]]]


def test_end_near_another_lines_end_moves_onto_it_without_splitting() -> None:
    # The nearest point on the road is 0.3 m from the road's end (< tolerance): no 0.3 m road stub.
    road = LineString([(0, 0), (20, 0)])
    path = LineString([(19.7, 10), (19.7, 0.2)])
    net = node_lines([road, path])
    check_topology(net)
    assert net.stats["edges"] == 2 and net.stats["t_junctions"] == 0
    assert line_pieces(net, 0) == [[[0.0, 0.0], [20.0, 0.0]]]
    assert line_pieces(net, 1) == [[[19.7, 10.0], [20.0, 0.0]]]


def test_gap_between_two_ends_is_closed_once_without_swapping() -> None:
    # Each end is within tolerance of the other: both must meet at one point, not trade places.
    net = node_lines([LineString([(0, 0), (10, 0)]), LineString([(10.2, 0), (20, 0)])])
    check_topology(net)
    assert (net.stats["edges"], net.stats["nodes"], net.stats["components"]) == (2, 3, 1)
    assert net.target[0] == net.source[1]


def test_nearly_closed_ring_is_closed_but_a_short_line_is_not() -> None:
    ring = node_lines([LineString([(0, 0), (10, 0), (10, 10), (0, 10), (0, 0.3)])])
    check_topology(ring)
    assert ring.stats["nodes"] == 1 and ring.source[0] == ring.target[0]  # a self-loop, kept
    assert ring.length[0] == pytest.approx(40.0, abs=0.31)
    short = node_lines([LineString([(0, 0), (0.4, 0)])])
    check_topology(short)
    assert short.stats["nodes"] == 2 and short.length[0] == pytest.approx(0.4)


def test_path_ends_meeting_just_short_of_a_road_are_attached_to_it_together() -> None:
    # The two path ends are nearer to each other (0.1 m) than to the road (0.3 m): they join each other,
    # and the joined end is then snapped onto the road.
    road = LineString([(0, 0), (20, 0)])
    paths = [LineString([(5, 10), (10, 0.3)]), LineString([(15, 10), (10.1, 0.3)])]
    net = node_lines([road, *paths])
    check_topology(net)
    assert net.stats["components"] == 1 and net.stats["edges"] == 4
    junction = net.target[net.line == 1][0]
    assert net.target[net.line == 2][0] == junction
    assert net.node_xy[junction][1] == pytest.approx(0.0, abs=1e-12)


def test_tolerance_zero_joins_only_ends_exactly_on_a_line() -> None:
    road = LineString([(0, 0), (20, 0)])
    exact = node_lines([road, LineString([(10, 10), (10, 0)])], tolerance=0)
    check_topology(exact)
    assert exact.stats["edges"] == 3 and exact.stats["components"] == 1
    short = node_lines([road, LineString([(10, 10), (10, 0.1)])], tolerance=0)
    check_topology(short)
    assert short.stats["edges"] == 2 and short.stats["components"] == 2


def test_snapping_is_exact_at_large_projected_coordinates() -> None:
    # UTM-sized coordinates: the split point and the moved end must be the very same node.
    x0, y0 = 523_456.789, 4_321_987.654
    road = LineString([(x0, y0), (x0 + 137.13, y0 + 41.7)])
    start = np.array([x0 + 60.01, y0 + 30.0])
    foot = shapely.get_coordinates(road.interpolate(road.project(shapely.Point(start))))[0]
    away = (start - foot) / np.hypot(*(start - foot))
    path = LineString([start, foot + away * 0.27])  # ends 0.27 m short of the road
    net = node_lines([road, path])
    check_topology(net)
    assert net.stats["edges"] == 3 and net.stats["nodes"] == 4 and net.stats["components"] == 1


# --- shared vertices (OSM) ------------------------------------------------------------------------------------


def test_ways_sharing_an_interior_vertex_are_split_there() -> None:
    a = LineString([(0, 0), (10, 0), (20, 0)])
    b = LineString([(10, -10), (10, 0), (10, 10)])
    net = node_lines([a, b], node_crossings=False)
    check_topology(net)
    assert (net.stats["edges"], net.stats["nodes"], net.stats["shared_vertices"]) == (4, 5, 2)
    assert net.stats["crossings"] == 0
    assert line_pieces(net, 0) == [[[0.0, 0.0], [10.0, 0.0]], [[10.0, 0.0], [20.0, 0.0]]]
    assert line_pieces(net, 1) == [[[10.0, -10.0], [10.0, 0.0]], [[10.0, 0.0], [10.0, 10.0]]]
    # the same with crossings on: the crossing is already a shared vertex, not another split
    assert node_lines([a, b]).stats | {"crossings": 0} == net.stats


def test_way_looping_through_its_own_vertex_is_split_there() -> None:
    lollipop = LineString([(-5, 0), (0, 0), (10, 0), (10, 10), (0, 10), (0, 0)])
    net = node_lines([lollipop])
    check_topology(net)
    assert net.stats["edges"] == 2 and net.stats["nodes"] == 2
    assert net.source[1] == net.target[1]  # the loop


def test_shared_vertices_match_after_rounding_to_a_centimetre() -> None:
    a = LineString([(0, 0), (10.001, 0.002), (20, 0)])
    b = LineString([(10, -10), (10.0, 0.0), (10, 10)])
    net = node_lines([a, b], node_crossings=False)
    check_topology(net)
    assert net.stats["edges"] == 4 and net.stats["components"] == 1


# --- input handling -------------------------------------------------------------------------------------------


def test_multilinestring_parts_keep_their_input_index() -> None:
    multi = MultiLineString([[(0, 5), (10, 5)], [(0, 20), (10, 20)]])
    net = node_lines([LineString([(0, 0), (10, 0)]), multi], node_crossings=False)
    check_topology(net)
    assert net.line.tolist() == [0, 1, 1]
    assert net.stats["lines"] == 2 and net.stats["dropped"] == 0


def test_none_empty_and_zero_length_lines_are_dropped_and_counted() -> None:
    lines = [
        None,
        LineString(),
        LineString([(3, 3), (3, 3)]),
        MultiLineString([[(0, 0), (5, 0)], [(7, 7), (7, 7)]]),
        LineString([(1, 1), (1, 1.0005)]),  # 0.5 mm: a sliver
    ]
    net = node_lines(np.array(lines, dtype=object))
    check_topology(net)
    assert net.stats["dropped"] == 5  # None, empty, zero length, one part of the multi, the sliver
    assert net.stats["edges"] == 1 and net.line.tolist() == [3]


def test_exact_duplicates_are_dropped_either_direction() -> None:
    a = LineString([(0, 0), (10, 0)])
    lines = [a, LineString([(0, 0), (10, 0)]), a.reverse(), LineString([(0, 0.004), (10, 0)])]
    net = node_lines(lines)
    check_topology(net)
    assert net.stats["duplicates"] == 3 and net.stats["edges"] == 1 and net.line.tolist() == [0]
    # a copied way with an interior vertex: split at the (shared) vertex, then both halves are duplicates
    curve = LineString([(0, 0), (5, 2), (10, 0)])
    net = node_lines([curve, curve.reverse()])
    check_topology(net)
    assert net.stats["duplicates"] == 2 and net.stats["edges"] == 2 and net.line.tolist() == [0, 0]


def test_parallel_edges_of_another_shape_are_kept() -> None:
    lines = [LineString([(0, 0), (10, 0)]), LineString([(0, 0), (5, 3), (10, 0)])]
    net = node_lines(lines)
    check_topology(net)
    assert net.stats["duplicates"] == 0 and net.stats["edges"] == 2
    assert set(net.source) == {net.source[0]} and set(net.target) == {net.target[0]}


def test_overlapping_collinear_lines_leave_one_copy_of_the_overlap() -> None:
    net = node_lines([LineString([(0, 0), (10, 0)]), LineString([(5, 0), (15, 0)])], tolerance=0)
    check_topology(net)
    assert net.stats["duplicates"] == 1 and net.length.sum() == pytest.approx(15.0)


def test_rejects_other_geometries_and_bad_tolerance() -> None:
    with pytest.raises(TypeError):
        node_lines([shapely.Point(0, 0)])
    with pytest.raises(ValueError):
        node_lines([LineString([(0, 0), (1, 0)])], tolerance=-1)
    with pytest.raises(ValueError), np.errstate(invalid="ignore"):
        node_lines([shapely.linestrings([(0, 0), (np.nan, 0)], handle_nan="allow")])


def test_empty_input() -> None:
    net = node_lines([])
    check_topology(net)
    assert net.stats == dict.fromkeys(net.stats, 0)
    assert net.node_xy.shape == (0, 2)


# --- graph ----------------------------------------------------------------------------------------------------


def test_components_are_ranked_by_total_length() -> None:
    big = [LineString([(0, 0), (100, 0)]), LineString([(100, 0), (100, 100)])]
    small = LineString([(500, 500), (510, 500)])
    net = node_lines([small, *big])
    check_topology(net)
    assert net.stats["components"] == 2
    assert net.edge_component.tolist() == [1, 0, 0]
    # equal totals: the component holding the smallest node id (lowest x, then y) comes first
    tie = node_lines([LineString([(50, 0), (60, 0)]), LineString([(0, 0), (10, 0)])])
    assert tie.edge_component.tolist() == [1, 0]


def test_length_is_kept_when_nothing_is_dropped() -> None:
    lines = [
        LineString([(0, 0), (30, 0), (30, 30)]),
        LineString([(10, -10), (10, 10), (20, 20)]),
        LineString([(0, 20), (40, 20)]),
        MultiLineString([[(5, 5), (25, 5)], [(25, 25), (25, 35)]]),
    ]
    net = node_lines(lines)
    check_topology(net)
    assert net.stats["dropped"] == net.stats["duplicates"] == 0
    assert net.length.sum() == pytest.approx(shapely.length(np.array(lines)).sum(), abs=1e-6)
    assert not shapely.STRtree(net.geoms).query(net.geoms, predicate="crosses").size


def test_same_input_same_output() -> None:
    rng = np.random.default_rng(3)
    segments = rng.uniform(0, 200, (300, 2, 2))
    lines = list(shapely.linestrings(segments))
    first, second = node_lines(lines), node_lines(lines)
    for field in ("source", "target", "length", "line", "node_xy", "node_component"):
        np.testing.assert_array_equal(getattr(first, field), getattr(second, field))
    assert shapely.equals_exact(first.geoms, second.geoms, tolerance=0).all()
    assert first.stats == second.stats
    check_topology(first)
    # edges by input line, then along it
    assert np.all(np.diff(first.line) >= 0)


# --- properties -----------------------------------------------------------------------------------------------

coordinate = st.integers(min_value=0, max_value=100)
segment = st.tuples(coordinate, coordinate, coordinate, coordinate)
fine = st.floats(min_value=0, max_value=100, allow_nan=False, allow_infinity=False, allow_subnormal=False)
fine_segment = st.tuples(fine, fine, fine, fine)


def _no_overlaps(geoms: np.ndarray, near: float = 0.02) -> bool:
    """No two segments (nearly) overlap: overlaps within 1 cm are deduplicated, so length is not kept then.
    Conservative: two ends lying on the other segment count as an overlap (also for collinear neighbours)."""
    a, b = shapely.STRtree(geoms).query(geoms, predicate="dwithin", distance=near)
    a, b = a[a < b], b[a < b]
    with np.errstate(all="ignore"):  # GEOS warns on segments of ~1e-300 m
        ends_on = [
            shapely.distance(shapely.get_point(geoms[i], k), geoms[j]) <= near
            for i, j in ((a, b), (b, a))
            for k in (0, -1)
        ]
    return not np.any(np.sum(ends_on, axis=0) >= 2)


def _junctions_apart(geoms: np.ndarray, apart: float = 0.05) -> bool:
    """Line ends and intersection points either coincide or lie `apart` metres apart. Closer ones become one
    node (1 cm rounding), which can turn nearly collinear edges into duplicates: length is not kept then."""
    a, b = shapely.STRtree(geoms).query(geoms, predicate="intersects")
    a, b = a[a < b], b[a < b]
    meets = shapely.get_coordinates(shapely.intersection(geoms[a], geoms[b]))
    points = np.concatenate([shapely.get_coordinates(geoms), meets])
    d = np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))
    return not np.any((d > 1e-9) & (d < apart))


def _crossings_away_from_nodes(net: NodedNetwork, near: float = 0.02) -> list[str]:
    """Edge pairs crossing in their interiors, except within `near` of a node: ends joined into one node
    move by up to 1.4 cm (1 cm cells), which can make sub-centimetre geometry around the node cross."""
    a, b = shapely.STRtree(net.geoms).query(net.geoms, predicate="crosses")
    a, b = a[a < b], b[a < b]
    points = shapely.get_coordinates(shapely.intersection(net.geoms[a], net.geoms[b]))
    to_node = np.hypot(*(points[:, None, :] - net.node_xy[None, :, :]).transpose(2, 0, 1)).min(axis=1, initial=np.inf)
    return [f"{p}" for p, d in zip(points.tolist(), to_node, strict=True) if d > near]


def _check_noded(raw: list[tuple[float, float, float, float]]) -> None:
    geoms = shapely.linestrings(np.array(raw, dtype=float).reshape(-1, 2, 2))
    net = node_lines(geoms, tolerance=0, node_crossings=True)
    check_topology(net)
    # Nearly collinear overlapping lines are beyond floating-point noding (an inserted point is off its line
    # by rounding error, which another line touching the overlap can cross): both properties exclude them.
    if not _no_overlaps(geoms):
        return
    assert not _crossings_away_from_nodes(net)
    if _junctions_apart(geoms):
        assert not shapely.STRtree(net.geoms).query(net.geoms, predicate="crosses").size
        assert net.length.sum() == pytest.approx(shapely.length(geoms).sum(), rel=1e-6, abs=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(segment, min_size=1, max_size=12))
def test_random_segments_keep_length_and_do_not_cross(raw: list[tuple[int, int, int, int]]) -> None:
    _check_noded(raw)


@settings(max_examples=200, deadline=None)
@given(st.lists(fine_segment, min_size=1, max_size=12))
def test_random_float_segments_keep_length_and_do_not_cross(raw: list[tuple[float, float, float, float]]) -> None:
    _check_noded(raw)
