"""The walking graph in PostGIS: built from the imported network lines, read back as a `WalkGraph`.

`build_network` nodes the `network_edges` lines (gis/coverage/noding.py) into `walk_nodes` and `walk_edges` in
the caller's transaction and bumps the dataset's `network_version`. `load_graph` reads the graph in the
metric CRS; the result is cached per database and network version, because a graph of 100,000 edges takes
a noticeable moment to read and requests (catchments) need it often.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.graph import WalkGraph
from gis.coverage.noding import node_lines
from gis.db.engine import copy_frame
from gis.geo import dataset
from gis.geo.crs import STORAGE_SRID

VERSION_KEY = "network_version"
BUILD_KEY = "network_build"  # a unique token per build: the graph cache's key (versions repeat across databases)
CROSSINGS_KEY = "network_node_crossings"  # "false" for OSM data: a crossing without a shared node is a bridge


@dataclass(frozen=True)
class NetworkReport:
    version: int
    lines: int
    edges: int
    nodes: int
    components: int
    main_component_share: float  # of the total length
    stats: dict[str, int]

    def summary(self) -> str:
        return (
            f"walking graph v{self.version}: {self.lines} lines → {self.edges} edges, {self.nodes} nodes, "
            f"{self.components} components (main {self.main_component_share:.1%} of the length); "
            + ", ".join(f"{k} {v}" for k, v in self.stats.items() if k not in {"lines", "edges", "nodes", "components"})
        )


def network_version(session: Session) -> int:
    return int(dataset.get_meta(session, VERSION_KEY) or 0)


def build_network(session: Session, *, node_crossings: bool | None = None) -> NetworkReport:
    """Replace the walking graph with one noded from every network line (in the caller's transaction)."""
    if node_crossings is None:
        node_crossings = dataset.get_meta(session, CROSSINGS_KEY) != "false"
    rows = (
        session.execute(
            text("SELECT id, ST_AsBinary(ST_Transform(geom, :epsg)) FROM network_edges ORDER BY id"),
            {"epsg": dataset.metric_epsg(session)},
        ).all()
        if _has_lines(session)
        else []
    )
    line_ids = np.array([r[0] for r in rows], dtype=np.int64)
    lines = shapely.from_wkb([bytes(r[1]) for r in rows]) if rows else np.array([], dtype=object)
    noded = node_lines(lines, node_crossings=node_crossings)

    session.execute(text("DELETE FROM walk_edges"))
    session.execute(text("DELETE FROM walk_nodes"))
    version = network_version(session) + 1
    dataset.set_meta(session, VERSION_KEY, str(version))
    dataset.set_meta(session, BUILD_KEY, uuid.uuid4().hex)
    if len(noded.geoms):
        to_storage = _to_storage(session)
        nodes = shapely.points(noded.node_xy)
        copy_frame(
            session,
            "walk_nodes",
            pd.DataFrame(
                {"id": np.arange(len(nodes)), "component": noded.node_component, "geom": _ewkb(nodes, to_storage)}
            ),
        )
        copy_frame(
            session,
            "walk_edges",
            pd.DataFrame(
                {
                    "id": np.arange(1, len(noded.geoms) + 1),
                    "network_edge_id": line_ids[noded.line],
                    "source": noded.source,
                    "target": noded.target,
                    "length_m": noded.length,
                    "component": noded.edge_component,
                    "geom": _ewkb(noded.geoms, to_storage),
                }
            ),
        )
    total = float(noded.length.sum())
    main = float(noded.length[noded.edge_component == 0].sum()) if len(noded.geoms) else 0.0
    return NetworkReport(
        version=version,
        lines=len(lines),
        edges=len(noded.geoms),
        nodes=len(noded.node_xy),
        components=int(noded.stats.get("components", 0)),
        main_component_share=main / total if total else 0.0,
        stats=dict(noded.stats),
    )


def _has_lines(session: Session) -> bool:
    return bool(session.execute(text("SELECT EXISTS (SELECT 1 FROM network_edges)")).scalar_one())


def _to_storage(session: Session) -> Transformer:
    return Transformer.from_crs(dataset.metric_epsg(session), STORAGE_SRID, always_xy=True)


def _ewkb(geoms: np.ndarray, transformer: Transformer) -> np.ndarray:
    stored = shapely.transform(geoms, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1])))
    return shapely.to_wkb(shapely.set_srid(stored, STORAGE_SRID), hex=True, include_srid=True)


# -- reading ---------------------------------------------------------------------------------------------------

_CACHED_BUILDS = 4  # a few databases (tests, benchmarks) may be open in one process
_cache: dict[str, WalkGraph] = {}
_cache_lock = threading.Lock()


def load_graph(session: Session) -> WalkGraph:
    """The current walking graph in the metric CRS (cached per build)."""
    build = dataset.get_meta(session, BUILD_KEY)
    if build is None:
        return _read_graph(session)
    with _cache_lock:
        cached = _cache.get(build)
    if cached is not None:
        return cached
    graph = _read_graph(session)
    with _cache_lock:
        while len(_cache) >= _CACHED_BUILDS:
            del _cache[next(iter(_cache))]
        _cache[build] = graph
    return graph


def _read_graph(session: Session) -> WalkGraph:
    if not session.execute(text("SELECT EXISTS (SELECT 1 FROM walk_edges)")).scalar_one():
        empty = np.array([], dtype=np.int64)
        return WalkGraph(empty, empty, empty, np.array([]), empty, np.array([], dtype=object), 0)
    rows = session.execute(
        text(
            "SELECT id, source, target, component, ST_AsBinary(ST_Transform(geom, :epsg)) FROM walk_edges ORDER BY id"
        ),
        {"epsg": dataset.metric_epsg(session)},
    ).all()
    edge_id, source, target, component, wkb = zip(*rows, strict=True)
    geoms = shapely.from_wkb([bytes(w) for w in wkb])
    n_nodes = session.execute(text("SELECT coalesce(max(id) + 1, 0) FROM walk_nodes")).scalar_one()
    return WalkGraph(
        edge_id=np.array(edge_id, dtype=np.int64),
        source=np.array(source, dtype=np.int64),
        target=np.array(target, dtype=np.int64),
        length=shapely.length(geoms),
        component=np.array(component, dtype=np.int64),
        geoms=geoms,
        n_nodes=int(n_nodes),
    )
