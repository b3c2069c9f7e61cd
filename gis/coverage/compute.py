"""Computing walking distances from every building to the nearest facility of each category (生活圈).

One run: read the walking graph, buildings (entrance, else a point on the footprint) and facilities in the
metric CRS; snap them to edges; one multi-source Dijkstra per category; write the building × category table
(`building_reach`) and the snaps (`network_access`) back in the caller's transaction. Coverage figures are
GROUP BYs over that table (gis/coverage/stats.py). Whatever is not snapped, or is snapped onto a minor
component of the network, is listed in the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.graph import Snap, WalkGraph, nearest, snap
from gis.coverage.network_store import load_graph, network_version
from gis.db.engine import copy_frame
from gis.errors import InvalidInput
from gis.geo import dataset
from gis.registry import facility_registry

Progress = Callable[[str, float], None]  # (stage, fraction done)

# Two runs must not interleave their rewrites of the distance table.
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
) -> CoverageReport:
    """Recompute the distances of `categories` (all when None) and store them; the report says what was done."""
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
    report.buildings, report.facilities = len(buildings), len(facilities)
    building_snap = snap(graph, buildings.geom.to_numpy(), max_snap_m)
    facility_snap = snap(graph, facilities.geom.to_numpy(), max_snap_m)
    _report_snaps(report, graph, "buildings", buildings.id.to_numpy(), building_snap)
    _report_snaps(report, graph, "facilities", facilities.id.to_numpy(), facility_snap)
    clock.lap(report, "read_and_snap")

    reach = []
    for n, category in enumerate(cats):
        step(f"distances to {category}", 0.2 + 0.6 * n / len(cats))
        mine = np.flatnonzero(facilities.category.to_numpy() == category)
        distance, which = nearest(graph, building_snap, facility_snap.take(mine))
        mine_ids = facilities.id.to_numpy()[mine]
        facility_id = mine_ids[np.maximum(which, 0)] if len(mine) else np.zeros(len(which), dtype=np.int64)
        reach.append(
            pd.DataFrame(
                {
                    "category": category,
                    "building_id": buildings.id.to_numpy(),
                    "distance_m": np.where(np.isfinite(distance), np.round(distance, 3), np.nan),
                    "facility_id": _ids_or_null(facility_id, which >= 0),
                    "run_id": run_id,
                }
            )
        )
        report.per_category[category] = {
            "facilities": len(mine),
            "facilities_snapped": int(facility_snap.snapped[mine].sum()),
            "buildings_reaching": int(np.isfinite(distance).sum()),
        }
    clock.lap(report, "shortest_paths")

    step("writing results", 0.8)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK})
    _write_access(session, graph, buildings.id.to_numpy(), building_snap, facilities.id.to_numpy(), facility_snap)
    _write_reach(session, cats, reach)
    clock.lap(report, "write")
    step("done", 1.0)
    return report


def _points(session: Session, table: str) -> pd.DataFrame:
    """Ids (and categories) with the point where walking starts, in the metric CRS, ordered by id."""
    if table == "buildings":
        query = """SELECT id, NULL AS category,
                          ST_AsBinary(ST_Transform(coalesce(entrance, ST_PointOnSurface(footprint)), :epsg)) AS wkb
                   FROM buildings ORDER BY id"""
    else:
        query = "SELECT id, category, ST_AsBinary(ST_Transform(geom, :epsg)) AS wkb FROM facilities ORDER BY id"
    if not session.execute(text(f"SELECT EXISTS (SELECT 1 FROM {table})")).scalar_one():
        return pd.DataFrame({"id": np.array([], dtype=np.int64), "category": [], "geom": []})
    rows = session.execute(text(query), {"epsg": dataset.metric_epsg(session)}).all()
    return pd.DataFrame(
        {
            "id": np.array([r.id for r in rows], dtype=np.int64),
            "category": [r.category for r in rows],
            "geom": shapely.from_wkb([bytes(r.wkb) for r in rows]),
        }
    )


def _report_snaps(report: CoverageReport, graph: WalkGraph, feature: str, ids: np.ndarray, s: Snap) -> None:
    report.unsnapped[feature] = ids[~s.snapped].tolist()
    on_minor = s.snapped & (graph.component[np.maximum(s.edge, 0)] != 0)
    report.minor_component[feature] = ids[on_minor].tolist()


def _write_access(
    session: Session,
    graph: WalkGraph,
    building_ids: np.ndarray,
    buildings: Snap,
    facility_ids: np.ndarray,
    facilities: Snap,
) -> None:
    session.execute(text("TRUNCATE network_access"))
    frames = []
    for feature, ids, s in (("building", building_ids, buildings), ("facility", facility_ids, facilities)):
        ok = s.snapped
        edge = np.maximum(s.edge, 0)
        frames.append(
            pd.DataFrame(
                {
                    "feature": feature,
                    "feature_id": ids,
                    "edge_id": _ids_or_null(graph.edge_id[edge] if len(graph.edge_id) else edge, ok),
                    # Rounded to the millimetre, never past the edge's end.
                    "position_m": np.where(ok, np.clip(np.round(s.position, 3), 0, _lengths(graph, edge)), np.nan),
                    "access_m": np.where(ok, np.round(s.access, 3), np.nan),
                    "component": _ids_or_null(graph.component[edge] if len(graph.component) else edge, ok),
                }
            )
        )
    copy_frame(session, "network_access", pd.concat(frames, ignore_index=True))


def _write_reach(session: Session, categories: list[str], reach: list[pd.DataFrame]) -> None:
    if len(categories) == len(facility_registry().categories):
        session.execute(text("TRUNCATE building_reach"))  # a full rewrite: far quicker than DELETE, still atomic
    else:
        session.execute(text("DELETE FROM building_reach WHERE category = ANY(:c)"), {"c": categories})
    if reach:
        copy_frame(session, "building_reach", pd.concat(reach, ignore_index=True))


def _lengths(graph: WalkGraph, edge: np.ndarray) -> np.ndarray:
    return graph.length[edge] if len(graph.length) else np.zeros(len(edge))


def _ids_or_null(values: np.ndarray, present: np.ndarray) -> pd.Series:
    """Integers where `present`, NULL elsewhere (COPY writes NA as an empty field)."""
    return pd.Series(values, dtype="Int64").where(present)


class _Clock:
    def __init__(self) -> None:
        self._last = time.perf_counter()

    def lap(self, report: CoverageReport, name: str) -> None:
        now = time.perf_counter()
        report.seconds[name] = round(now - self._last, 3)
        self._last = now
