"""Computing walking distances from every building to the nearest facility of each category (生活圈).

One run: read the walking graph, buildings (entrance, else a point on the footprint) and facilities in the
metric CRS; snap them to edges; one multi-source Dijkstra per category; write the distances compactly (one row
of arrays per category, gis/coverage/reach_store.py) and the snaps back in the caller's transaction. Coverage
figures are summed from those arrays in one pass (gis/coverage/figures.py). Whatever is not snapped, or is snapped
onto a minor component of the network, is listed in the report.

Where the shortest paths run (`where`): None, the whole city in this process (one Dijkstra per category over the
whole graph: the quickest on one machine); otherwise per street on gis/batch.py (`map_parts`): each street's
buildings with the facilities and network within `radius_m` of them, computed on the workers, written here.
A distance found within the radius is exact (its whole walk lies inside the street's part); the few buildings
whose nearest facility is farther are measured here on the whole graph, so every place gives the same figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import batch
from gis.coverage import figures, reach_store
from gis.coverage.graph import Snap, WalkGraph, nearest, nearest_each, snap
from gis.coverage.network_store import load_graph, network_version
from gis.coverage.reach_store import from_array_send
from gis.db.engine import psycopg_connection
from gis.errors import InvalidInput
from gis.geo import dataset
from gis.geo.crs import STORAGE_SRID
from gis.plans.store import current_plan_id
from gis.registry import facility_registry

Progress = Callable[[str, float], None]  # (stage, fraction done)

# Two runs must not interleave their rewrites of the distance arrays.
WRITE_LOCK = 774_210_501


@dataclass
class CoverageReport:
    run_id: int
    network_version: int
    categories: list[str]
    max_snap_m: float
    edges: int = 0
    buildings: int = 0
    facilities: int = 0
    unsnapped: dict[str, list[int]] = field(default_factory=dict)  # feature -> ids beyond the snap distance
    minor_component: dict[str, list[int]] = field(default_factory=dict)  # feature -> ids on minor components
    per_category: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def checked_categories(categories: Iterable[str] | None) -> list[str]:
    """The categories asked for, in registry order (all when None); unknown codes are refused."""
    known = list(facility_registry().categories)
    if categories is None:
        return known
    asked = list(dict.fromkeys(categories))
    unknown = [c for c in asked if c not in known]
    if unknown:
        raise InvalidInput(
            f"unknown facility categories {unknown}; categories are: {', '.join(known)}", where="categories"
        )
    if not asked:
        raise InvalidInput("give at least one category, or none for all", where="categories")
    return [c for c in known if c in asked]


def compute_coverage(
    session: Session,
    *,
    run_id: int,
    categories: Iterable[str] | None = None,
    max_snap_m: float = 100.0,
    progress: Progress | None = None,
    where: str | None = None,
    radius_m: float = 2000.0,
) -> CoverageReport:
    """Recompute the distances of `categories` (all when None) and store them; the report says what was done.

    `where`: None for the whole city in this process, else a place of gis/batch.py for the per-street parts
    (each with the network within `radius_m` of its buildings)."""
    cats = checked_categories(categories)
    step = progress or (lambda _stage, _done: None)
    clock = _Clock()
    report = CoverageReport(run_id, network_version(session), cats, max_snap_m)

    step("reading the walking network", 0.0)
    graph = load_graph(session)
    report.edges = len(graph.source)
    clock.lap(report, "read_network")

    step("snapping buildings and facilities", 0.1)
    buildings = _points(session, "buildings")
    facilities = _points(session, "facilities")
    report.buildings, report.facilities = len(buildings.ids), len(facilities.ids)
    building_snap = snap(graph, buildings.geoms, max_snap_m)
    facility_snap = snap(graph, facilities.geoms, max_snap_m)
    _report_snaps(report, graph, "buildings", buildings.ids, building_snap)
    _report_snaps(report, graph, "facilities", facilities.ids, facility_snap)
    clock.lap(report, "read_and_snap")

    category_of = _category_index(facilities.category, cats)
    if where is None:
        distance, which = whole_city_reach(
            graph,
            building_snap,
            facility_snap,
            category_of,
            len(cats),
            on_category=lambda n: step(f"distances to {cats[n]}", 0.2 + 0.6 * n / len(cats)),
        )
    else:
        step("distances to every category, per street", 0.2)
        distance, which = street_reach_everywhere(
            graph,
            building_snap,
            shapely.get_coordinates(buildings.geoms),
            buildings.street,
            facility_snap,
            category_of,
            len(cats),
            radius_m,
            where=where,
        )
    clock.lap(report, "shortest_paths")

    step("writing results", 0.8)
    on_network = building_snap.snapped
    reach = {}
    for n, category in enumerate(cats):
        facility_id = np.where(which[n] >= 0, _pick(facilities.ids, which[n]), reach_store.NO_FACILITY)
        reach[category] = (reach_store.distance_mm(distance[n], on_network), facility_id)
        mine = category_of == n
        report.per_category[category] = {
            "facilities": int(mine.sum()),
            "facilities_snapped": int(facility_snap.snapped[mine].sum()),
            "buildings_reaching": int(np.isfinite(distance[n]).sum()),
        }
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
    reach_store.write_snaps(
        session,
        {
            "building": _snaps(graph, buildings.ids, building_snap),
            "facility": _snaps(graph, facilities.ids, facility_snap),
        },
    )
    reach_store.write_reach(session, run_id, buildings.ids, reach)
    # The figures asked for next (the CLI's summary, the public map) start from what this run read.
    home = buildings.homes["residential"] == 1
    figures.prime(
        session,
        buildings.ids[home],
        buildings.homes["households"][home],
        {level: buildings.homes[level][home] for level in ("community", "street", "grid")},
    )
    clock.lap(report, "write")
    step("done", 1.0)
    return report


# -- shortest paths: the whole city here, or per street on the batch workers --------------------------------------


def _category_index(category: np.ndarray, categories: list[str]) -> np.ndarray:
    """Each facility's position in `categories` (-1: a category not computed in this run)."""
    index = {c: n for n, c in enumerate(categories)}
    return np.array([index.get(c, -1) for c in category], dtype=np.int64)


def whole_city_reach(
    graph: WalkGraph,
    buildings: Snap,
    facilities: Snap,
    category_of: np.ndarray,
    n_categories: int,
    on_category: Callable[[int], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per category (rows) and building (columns): the network distance to the nearest facility (inf: none) and
    that facility's index (-1). One multi-source Dijkstra per category over the whole graph; `on_category(n)`
    before each."""
    distance = np.full((n_categories, len(buildings)), np.inf)
    which = np.full((n_categories, len(buildings)), -1, dtype=np.int64)
    mine = [np.flatnonzero(category_of == n) for n in range(n_categories)]

    def sources() -> Iterator[Snap]:
        for n, m in enumerate(mine):
            if on_category is not None:
                on_category(n)
            yield facilities.take(m)

    for n, (d, w) in enumerate(nearest_each(graph, buildings, sources())):
        distance[n] = d
        which[n] = _pick(mine[n], w)
    return distance, which


def _pick(index: np.ndarray, at: np.ndarray) -> np.ndarray:
    """`index[at]` where `at` >= 0, else -1."""
    if len(index) == 0:
        return np.full(at.shape, -1, dtype=np.int64)
    return np.where(at >= 0, index[np.maximum(at, 0)], -1)


@dataclass(frozen=True)
class StreetPart:
    """One street's share of a run, as plain arrays for a batch worker: its buildings' snaps and the facilities'
    on the part of the network within the radius of them (nodes renumbered from 0)."""

    buildings: np.ndarray  # indices into the run's buildings
    source: np.ndarray
    target: np.ndarray
    length: np.ndarray
    n_nodes: int
    building_snap: Snap  # edges are indices into this part's edges
    facilities: np.ndarray  # indices into the run's facilities
    facility_snap: Snap
    facility_category: np.ndarray  # index into the run's categories
    n_categories: int


def street_reach(part: StreetPart) -> tuple[np.ndarray, np.ndarray]:
    """On a batch worker: per category and building of the part, the distance on the part's network to the nearest
    facility (inf: none within it) and the facility's index in the run (-1)."""
    empty = np.array([], dtype=object)
    graph = WalkGraph(
        edge_id=np.arange(len(part.source), dtype=np.int64),
        source=part.source,
        target=part.target,
        length=part.length,
        component=np.zeros(len(part.source), dtype=np.int64),
        geoms=empty,
        n_nodes=part.n_nodes,
    )
    distance, which = whole_city_reach(
        graph, part.building_snap, part.facility_snap, part.facility_category, part.n_categories
    )
    return distance, _pick(part.facilities, which)


def street_parts(
    graph: WalkGraph,
    buildings: Snap,
    xy: np.ndarray,
    street: np.ndarray,
    facilities: Snap,
    category_of: np.ndarray,
    n_categories: int,
    radius_m: float,
) -> list[StreetPart]:
    """A part per street (buildings outside every street together) holding the network within `radius_m` of the
    street's walking start points (`xy`, metric), and the facilities on it. Unsnapped buildings need no part."""
    parts = []
    snapped = np.flatnonzero(buildings.snapped)
    keys = pd.Series(street[snapped]).fillna(-1).to_numpy(dtype=np.int64)
    for key in np.unique(keys):
        mine = snapped[keys == key]
        edges = buildings.edge[mine]
        # Every walk of at most radius_m from a building stays within radius_m of it: on edges in this box.
        low, high = xy[mine].min(axis=0) - radius_m, xy[mine].max(axis=0) + radius_m
        near = np.union1d(graph.tree.query(shapely.box(*low, *high)), edges)
        nodes, local = np.unique(np.concatenate([graph.source[near], graph.target[near]]), return_inverse=True)
        on_part = np.flatnonzero(facilities.snapped & np.isin(facilities.edge, near) & (category_of >= 0))
        parts.append(
            StreetPart(
                buildings=mine,
                source=local[: len(near)],
                target=local[len(near) :],
                length=graph.length[near],
                n_nodes=len(nodes),
                building_snap=Snap(np.searchsorted(near, edges), buildings.position[mine], buildings.access[mine]),
                facilities=on_part,
                facility_snap=Snap(
                    np.searchsorted(near, facilities.edge[on_part]),
                    facilities.position[on_part],
                    facilities.access[on_part],
                ),
                facility_category=category_of[on_part],
                n_categories=n_categories,
            )
        )
    return parts


def street_reach_everywhere(
    graph: WalkGraph,
    buildings: Snap,
    xy: np.ndarray,
    street: np.ndarray,
    facilities: Snap,
    category_of: np.ndarray,
    n_categories: int,
    radius_m: float,
    *,
    where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """`whole_city_reach` computed per street on gis/batch.py; distances beyond the radius are measured again here
    on the whole graph (within it a part's distance is exact, beyond it a part may miss a shorter way round)."""
    distance = np.full((n_categories, len(buildings)), np.inf)
    which = np.full((n_categories, len(buildings)), -1, dtype=np.int64)
    parts = street_parts(graph, buildings, xy, street, facilities, category_of, n_categories, radius_m)
    for part, (d, w) in zip(parts, batch.map_parts(street_reach, parts, where=where), strict=True):
        distance[:, part.buildings] = d
        which[:, part.buildings] = w
    for n in range(n_categories):
        far = np.flatnonzero(buildings.snapped & ~(distance[n] <= radius_m))
        if len(far) == 0:
            continue
        mine = np.flatnonzero(category_of == n)
        d, w = nearest(graph, buildings.take(far), facilities.take(mine))
        distance[n, far] = d
        which[n, far] = _pick(mine, w)
    return distance, which


# -- reading and writing -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Points:
    ids: np.ndarray  # ascending
    geoms: np.ndarray  # shapely Points in the metric CRS
    category: np.ndarray  # facilities: category code
    street: np.ndarray  # buildings: street id (NaN: none)
    homes: dict[str, np.ndarray] = field(default_factory=dict)  # buildings: what the figures sum (see _points)


def _points(session: Session, table: str) -> _Points:
    """Ids (categories, streets) with the point where walking starts, in the metric CRS, ordered by id. Buildings
    come as a few arrays in one row (no Python object per building until the points), transformed here in one
    call: quicker than a transform per row in the database; with them, in the same pass over the buildings, what
    the coverage figures sum (residential, households, community, street and grid of the published plan)."""
    homes: dict[str, np.ndarray] = {}
    if table == "buildings":
        with psycopg_connection(session).cursor(binary=True) as cursor:
            row = cursor.execute(_BUILDING_POINTS, {"plan": current_plan_id(session)}).fetchone()
        assert row is not None  # an aggregate always answers
        ids = from_array_send(row[0], np.int64)
        order = np.argsort(ids, kind="stable")  # aggregated in any order (one sort here, not one per column there)
        ids = ids[order]
        lon, lat = from_array_send(row[1], np.float64)[order], from_array_send(row[2], np.float64)[order]
        homes = {
            name: from_array_send(data, np.int64)[order]
            for name, data in zip(("residential", "households", "community", "street", "grid"), row[3:], strict=True)
        }
        category = np.full(len(ids), None, dtype=object)
        streets = np.where(homes["street"] >= 0, homes["street"], np.nan)
    else:
        rows = session.execute(text("SELECT id, category, ST_X(geom), ST_Y(geom) FROM facilities ORDER BY id")).all()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        category = np.array([r[1] for r in rows], dtype=object)
        lon, lat = np.array([r[2] for r in rows], dtype=float), np.array([r[3] for r in rows], dtype=float)
        streets = np.full(len(ids), np.nan)
    if len(ids):
        to_metric = Transformer.from_crs(STORAGE_SRID, dataset.metric_epsg(session), always_xy=True)
        x, y = to_metric.transform(lon, lat)
        geoms = shapely.points(np.column_stack([x, y]))
    else:
        geoms = np.array([], dtype=object)
    return _Points(ids, geoms, category, streets, homes)


# The walking start: the entrance when mapped, else a point surely on the footprint.
_BUILDING_POINTS = """
    SELECT array_send(coalesce(array_agg(id), '{}')),
           array_send(coalesce(array_agg(ST_X(geom)), '{}')), array_send(coalesce(array_agg(ST_Y(geom)), '{}')),
           array_send(coalesce(array_agg(residential), '{}')), array_send(coalesce(array_agg(households), '{}')),
           array_send(coalesce(array_agg(community), '{}')), array_send(coalesce(array_agg(street), '{}')),
           array_send(coalesce(array_agg(grid), '{}'))
    FROM (SELECT b.id, coalesce(b.entrance, ST_PointOnSurface(b.footprint)) AS geom,
                 CASE WHEN b.residential THEN 1 ELSE 0 END AS residential, coalesce(b.households, 0) AS households,
                 coalesce(c.id, -1) AS community, coalesce(s.id, -1) AS street, coalesce(g.id, -1) AS grid
          FROM buildings b
          LEFT JOIN communities c ON c.id = b.community_id
          LEFT JOIN streets s ON s.id = c.street_id
          LEFT JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = %(plan)s
          LEFT JOIN grids g ON g.id = a.grid_id
          OFFSET 0) s  -- a fence: each point computed once, not once for x and again for y"""


def _report_snaps(report: CoverageReport, graph: WalkGraph, feature: str, ids: np.ndarray, s: Snap) -> None:
    report.unsnapped[feature] = ids[~s.snapped].tolist()
    on_minor = s.snapped & (graph.component[np.maximum(s.edge, 0)] != 0)
    report.minor_component[feature] = ids[on_minor].tolist()


def _snaps(graph: WalkGraph, ids: np.ndarray, s: Snap) -> reach_store.Snaps:
    ok = s.snapped
    edge = np.maximum(s.edge, 0)
    lengths = graph.length[edge] if len(graph.length) else np.zeros(len(edge))
    return reach_store.Snaps(
        ids=ids,
        edge_id=np.where(ok, graph.edge_id[edge] if len(graph.edge_id) else 0, 0),
        # Rounded to the millimetre, never past the edge's end.
        position_m=np.where(ok, np.clip(np.round(s.position, 3), 0, lengths), np.nan),
        access_m=np.where(ok, np.round(s.access, 3), np.nan),
        component=np.where(ok, graph.component[edge] if len(graph.component) else 0, -1),
    )


class _Clock:
    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self, report: CoverageReport, name: str) -> None:
        now = time.perf_counter()
        report.seconds[name] = round(now - self._last, 3)
        self._last = now
