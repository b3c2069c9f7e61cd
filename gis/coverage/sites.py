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
from sqlalchemy.orm import Session

from gis.coverage import figures, reach_store
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

    # The uncovered homes (ascending id) from the coverage arrays, with their stored snaps.
    h = figures.homes(session)
    missing = figures.uncovered(h, category, limit.metres)
    missing = missing[h.households[missing] > 0]
    ids, households = h.ids[missing], h.households[missing]
    snaps = reach_store.read_snaps(session, "building")
    at = np.minimum(np.searchsorted(snaps.ids, ids), max(len(snaps.ids) - 1, 0))
    edge_id = np.where(snaps.ids[at] == ids, snaps.edge_id[at], 0) if len(snaps.ids) else np.zeros(len(ids), np.int64)
    on_network = edge_id != 0
    demand = Snap(
        edge=np.where(on_network, np.searchsorted(graph.edge_id, edge_id), -1).astype(np.int64),
        position=np.where(on_network, snaps.position_m[at] if len(snaps.ids) else 0.0, 0.0),
        access=np.where(on_network, snaps.access_m[at] if len(snaps.ids) else np.nan, np.nan),
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
