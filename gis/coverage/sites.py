"""Where to add a facility: the k sites that would bring the most uncovered households within reach.

Greedy maximal covering over network distances (gis/coverage/graph.py): candidates are the network's nodes, or
points the planner supplies (e.g. vacant plots); demand is the residential buildings that do not reach the
category within the threshold in the latest coverage run, weighted by households.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.graph import Snap, greedy_sites, nodes_as_snap, snap
from gis.coverage.network_store import load_graph
from gis.coverage.stats import Mode, run_summary, threshold
from gis.errors import Conflict, InvalidInput
from gis.geo import dataset
from gis.geo.crs import STORAGE_SRID
from gis.registry import facility_registry

MAX_SITES = 50


def suggest_sites(
    session: Session,
    *,
    category: str,
    minutes: int,
    k: int = 5,
    mode: Mode = "time",
    speed_mps: float = 1.2,
    candidates: list[tuple[float, float]] | None = None,
    max_snap_m: float = 100.0,
) -> dict[str, Any]:
    """Up to k sites in order of choice, each with the households and buildings it adds."""
    if category not in facility_registry().categories:
        raise InvalidInput(f"unknown category {category!r}", where="category")
    if not 1 <= k <= MAX_SITES:
        raise InvalidInput(f"k={k} must be between 1 and {MAX_SITES}", where="k")
    run = run_summary(session)
    if run is None or category in run["stale_categories"]:
        raise Conflict("coverage is missing or out of date: start a coverage run first", where="coverage")
    limit = threshold(minutes, mode=mode, speed_mps=speed_mps)
    graph = load_graph(session)
    epsg = dataset.metric_epsg(session)

    rows = session.execute(
        text("""SELECT b.id, b.households, na.edge_id, na.position_m, na.access_m
                FROM buildings b JOIN building_reach r ON r.building_id = b.id AND r.category = :cat
                LEFT JOIN network_access na ON na.feature = 'building' AND na.feature_id = b.id
                WHERE b.residential AND b.households > 0 AND (r.distance_m IS NULL OR r.distance_m > :t)
                ORDER BY b.id"""),
        {"cat": category, "t": limit.metres},
    ).all()
    ids = np.array([r.id for r in rows], dtype=np.int64)
    households = np.array([r.households for r in rows], dtype=float)
    on_network = np.array([r.edge_id is not None for r in rows], dtype=bool)
    demand = Snap(
        edge=np.where(on_network, np.searchsorted(graph.edge_id, [r.edge_id or 0 for r in rows]), -1).astype(np.int64),
        position=np.array([r.position_m or 0.0 for r in rows], dtype=float),
        access=np.array([r.access_m if r.access_m is not None else np.nan for r in rows], dtype=float),
    )

    if candidates is None:
        sites_at = nodes_as_snap(graph, np.arange(graph.n_nodes))
    else:
        to_metric = Transformer.from_crs(STORAGE_SRID, epsg, always_xy=True)
        xy = np.array(candidates, dtype=float).reshape(-1, 2)
        sites_at = snap(graph, shapely.points(np.column_stack(to_metric.transform(xy[:, 0], xy[:, 1]))), max_snap_m)
    chosen = greedy_sites(graph, demand, households, sites_at, limit.metres, k)

    to_wgs84 = Transformer.from_crs(epsg, STORAGE_SRID, always_xy=True)
    total = float(households.sum())
    covered = 0.0
    sites = []
    for rank, site in enumerate(chosen, start=1):
        covered += site.weight
        if candidates is None:
            point = shapely.line_interpolate_point(
                graph.geoms[sites_at.edge[site.candidate]], sites_at.position[site.candidate]
            )
            lon, lat = to_wgs84.transform(point.x, point.y)
        else:
            lon, lat = candidates[site.candidate]
        sites.append(
            {
                "rank": rank,
                "candidate": int(site.candidate),
                "lon": round(float(lon), 7),
                "lat": round(float(lat), 7),
                "households_added": int(site.weight),
                "buildings_added": len(site.demand),
                "households_covered_so_far": int(covered),
                "share_of_uncovered_so_far": round(covered / total, 4) if total else None,
                "building_ids": ids[site.demand].tolist(),
            }
        )
    return {
        "category": category,
        "minutes": minutes,
        "threshold_m": round(limit.metres, 1),
        "candidates": "network nodes" if candidates is None else f"{len(candidates)} supplied points",
        "uncovered_buildings": len(ids),
        "uncovered_households": int(total),
        "not_on_network": int((~on_network).sum()),
        "run": run,
        "sites": sites,
    }
