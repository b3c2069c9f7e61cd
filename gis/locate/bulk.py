"""Assigning many points at once against the current plan: vectorised, never a loop of single lookups.

The plan's grids are loaded into a `PlanGrids`: a GridLocator (a lookup raster in front of an exact STRtree) and,
per grid, the id and the codes an answer carries. Two ways keep one current:

- in process (`assign_points`, the API): one per plan, keyed by the plan's version and the transaction that wrote
  its row (xmin). A base-data change refreshes the published plan's grids and bumps its version
  (gis/plans/unit_changes.refresh_plans), and publishing bumps it too; a version number can come back after a
  rollback, that transaction cannot. One indexed row per call.
- on disk (`published_grids`, `gridmap assign`): one file per plan *content* — a digest of every grid's id, code,
  community and street code and geometry, computed by the database — under GRIDMAP_HOME/cache, so a command
  that runs for a second against the same plan skips reading and indexing the grids. The key is the content
  itself: a changed grid, a renumbered community or another database can never find an old file. Files hold
  arrays only (numpy's npz, read without pickle).

SQL here goes through psycopg directly (a Session's own connection for the API), so the command line path loads
neither SQLAlchemy nor geopandas. Large jobs can run in partitions on dask (`locate_points(..., where=...)`,
gis.batch): each worker gets the locator (plain arrays) once and a slice of the points.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike

from gis.errors import Conflict
from gis.locate.index import STATE_FORMAT, GridLocator, Located

if TYPE_CHECKING:
    import psycopg
    from sqlalchemy.orm import Session

RESULT_COLUMNS = ("grid_code", "community_code", "street_code", "status", "distance_m")
PART_POINTS = 500_000  # points per partition when a job is spread over processes (gis.batch)
KEEP_STORED = 8  # stored plan indexes kept on disk (the newest; older plans' files are removed)

# The published plan (the statement of gis.plans.store.current_plan_id, here without a Session), its version and
# the transaction that wrote its row, and the dataset's metric CRS (gis.geo.dataset.metric_epsg's `meta` row).
PLAN_SQL = """
SELECT p.id, p.version, p.xmin::text, (SELECT value FROM meta WHERE key = 'metric_epsg')
FROM grid_plans p WHERE p.status = 'published'"""
PLAN_VERSION_SQL = """
SELECT p.version, p.xmin::text, (SELECT value FROM meta WHERE key = 'metric_epsg')
FROM grid_plans p WHERE p.id = %(plan)s"""
_GRIDS_FROM = """
FROM grids g LEFT JOIN communities c ON c.id = g.community_id LEFT JOIN streets s ON s.id = c.street_id
WHERE g.plan_id = %(plan)s"""
GRIDS_SQL = f"SELECT g.id, g.code, c.code, s.code, ST_AsBinary(g.geom) {_GRIDS_FROM} ORDER BY g.code"
# Everything an answer is made of, digested where it lies (quote_nullable tells NULL from text).
DIGEST_SQL = f"""
SELECT md5(string_agg(concat_ws('|', g.id, quote_nullable(g.code), quote_nullable(c.code), quote_nullable(s.code),
                                md5(ST_AsBinary(g.geom))), ';' ORDER BY g.id))
{_GRIDS_FROM}"""


@dataclass(frozen=True)
class PlanGrids:
    """A plan's grids ready to locate against: the locator and, per grid (locator index), what an answer holds."""

    plan_id: int
    grid_id: np.ndarray  # int64
    code: np.ndarray  # object: str
    community_code: np.ndarray  # object: str or None
    street_code: np.ndarray  # object: str or None
    locator: GridLocator


@dataclass(frozen=True)
class Assignment:
    plan_id: int
    grid_id: np.ndarray  # -1 where no grid
    grid_code: np.ndarray
    community_code: np.ndarray
    street_code: np.ndarray
    status: np.ndarray  # inside | snapped | outside
    distance_m: np.ndarray

    def counts(self) -> dict[str, int]:
        values, counts = np.unique(self.status, return_counts=True)
        return {str(v): int(c) for v, c in zip(values, counts, strict=True)}

    def records(self) -> list[dict[str, Any]]:
        """One plain record per point, in input order (grid_id None where no grid)."""
        return [
            {
                "grid_id": int(g) if g >= 0 else None,
                "grid_code": code,
                "community_code": community,
                "street_code": street,
                "status": str(status),
                "distance_m": float(distance),
            }
            for g, code, community, street, status, distance in zip(
                self.grid_id,
                self.grid_code,
                self.community_code,
                self.street_code,
                self.status,
                self.distance_m,
                strict=True,
            )
        ]


# -- loading a plan's grids ---------------------------------------------------------------------------


def _load(conn: psycopg.Connection, plan_id: int, metric_epsg: str | None) -> PlanGrids:
    """Read the plan's grids and index them."""
    import shapely

    rows = conn.execute(GRIDS_SQL, {"plan": plan_id}).fetchall()
    if not rows:
        raise Conflict(f"the published plan {plan_id} has no grids", where="plan")
    if metric_epsg is None:
        raise Conflict("the dataset has no metric CRS yet: import data first", where="plan")
    ids, codes, communities, streets, wkb = zip(*rows, strict=True)
    geoms = shapely.from_wkb(np.array([bytes(b) for b in wkb], dtype=object))
    # Lowest code wins on shared edges: the same rule as a single lookup (gis.locate.point).
    locator = GridLocator(geoms, metric_crs=int(metric_epsg), order=list(codes))
    return PlanGrids(
        plan_id,
        np.array(ids, dtype=np.int64),
        np.array(codes, dtype=object),
        np.array(communities, dtype=object),
        np.array(streets, dtype=object),
        locator,
    )


# (database, plan id) → (plan version and row xmin, grids): one entry per plan, replaced when it changes.
_IN_PROCESS: dict[tuple[str, int], tuple[tuple[int, str], PlanGrids]] = {}


def _plan_grids(session: Session, plan_id: int) -> PlanGrids:
    from gis.db.engine import psycopg_connection

    conn = psycopg_connection(session)  # the session's own transaction
    key = (str(session.get_bind().engine.url.database), plan_id)
    version, written_by, metric_epsg = conn.execute(PLAN_VERSION_SQL, {"plan": plan_id}).fetchone() or (0, "", None)
    cached = _IN_PROCESS.get(key)
    if cached is None or cached[0] != (version, written_by):
        _IN_PROCESS[key] = cached = ((version, written_by), _load(conn, plan_id, metric_epsg))
    return cached[1]


def published_grids(conn: psycopg.Connection, store: Path | None = None) -> PlanGrids:
    """The published plan's grids, from the file `store` keeps for exactly this content when there is one (see the
    module), else read and indexed — and then kept there."""
    row = conn.execute(PLAN_SQL).fetchone()
    if row is None:
        raise Conflict("there is no published grid plan to assign against", where="plan")
    plan_id, _, _, metric_epsg = row
    (digest,) = conn.execute(DIGEST_SQL, {"plan": plan_id}).fetchone() or (None,)
    if digest is None:
        raise Conflict(f"the published plan {plan_id} has no grids", where="plan")
    key = hashlib.sha256(f"{STATE_FORMAT}|{plan_id}|{metric_epsg}|{digest}".encode()).hexdigest()[:40]
    path = store / f"plan-{key}.npz" if store is not None else None
    if path is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError, KeyError):  # damaged or foreign: rebuilt below
            return _read_stored(path, plan_id)
    grids = _load(conn, plan_id, metric_epsg)
    if path is not None:
        grids.locator.complete()
        with contextlib.suppress(OSError):  # a read-only home only costs the next run the build
            _store(path, grids)
    return grids


def _store(path: Path, grids: PlanGrids) -> None:
    """Write atomically (a reader never sees half a file), then drop all but the newest KEEP_STORED files."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    arrays: dict[str, np.ndarray] = {f"locator_{name}": value for name, value in grids.locator.state().items()}
    arrays |= {"plan_id": np.array(grids.plan_id), "grid_id": grids.grid_id}
    for name in ("code", "community_code", "street_code"):
        values = getattr(grids, name)
        arrays[name] = np.array(["" if v is None else v for v in values], dtype=str)
        arrays[f"{name}_null"] = np.array([v is None for v in values], dtype=bool)
    handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez(out, **arrays)  # type: ignore[arg-type]  # numpy's stub mistakes ** names for allow_pickle
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    stored = sorted(path.parent.glob("plan-*.npz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in stored[KEEP_STORED:]:
        with contextlib.suppress(OSError):
            old.unlink()


def _read_stored(path: Path, plan_id: int) -> PlanGrids:
    with np.load(path, allow_pickle=False) as stored:
        locator = GridLocator.from_state(
            {name.removeprefix("locator_"): stored[name] for name in stored.files if name.startswith("locator_")}
        )
        texts = {}
        for name in ("code", "community_code", "street_code"):
            values = stored[name].astype(object)
            values[stored[f"{name}_null"]] = None
            texts[name] = values
        if int(stored["plan_id"]) != plan_id:
            raise ValueError("stored index of another plan")
        return PlanGrids(plan_id, stored["grid_id"], locator=locator, **texts)


# -- locating -----------------------------------------------------------------------------------------


def locate_part(part: tuple[np.ndarray, np.ndarray], locator: GridLocator, snap_m: float) -> Located:
    """One partition of a job (a batch worker's task): the points' grids."""
    return locator.locate(part[0], part[1], snap_m=snap_m)


def locate_points(
    grids: PlanGrids,
    lon: np.ndarray,
    lat: np.ndarray,
    *,
    snap_m: float = 50.0,
    where: str | None = None,
    part_points: int = PART_POINTS,
) -> Located:
    """Locate WGS 84 points in the plan's grids: here (threads), or with `where` (gis.batch: "inline", "local",
    "local:N", a scheduler address) in partitions of `part_points` — the same answer either way."""
    if where is None:
        return grids.locator.locate(lon, lat, snap_m=snap_m)
    from gis.batch import map_parts

    if lon.size == 0:
        return grids.locator.locate(lon, lat, snap_m=snap_m)
    parts = [(lon[a : a + part_points], lat[a : a + part_points]) for a in range(0, lon.size, part_points)]
    found = map_parts(locate_part, parts, grids.locator, snap_m, where=where)
    return Located(
        np.concatenate([f.grid for f in found]),
        np.concatenate([f.code for f in found]),
        np.concatenate([f.distance_m for f in found]),
    )


def assignment(grids: PlanGrids, found: Located) -> Assignment:
    """Per point the grid's id and codes (None where there is no grid), the status and the metres (2 decimals)."""
    hit = found.grid >= 0
    pick = np.where(hit, found.grid, 0)

    def column(values: np.ndarray) -> np.ndarray:
        out = values[pick]
        out[~hit] = None
        return out

    ids = np.where(hit, grids.grid_id[pick], -1)
    return Assignment(
        grids.plan_id,
        ids,
        column(grids.code),
        column(grids.community_code),
        column(grids.street_code),
        found.status,
        np.round(found.distance_m, 2),
    )


def assign_points(
    session: Session, x: ArrayLike, y: ArrayLike, *, crs: str = "wgs84", snap_m: float = 50.0
) -> Assignment:
    """Grid, community and street of every point (coordinates in `crs`), against the current plan."""
    from gis.geo.coordinates import to_wgs84
    from gis.plans.store import current_plan_id

    plan_id = current_plan_id(session)
    if plan_id is None:
        raise Conflict("there is no published grid plan to assign against", where="plan")
    lon, lat = to_wgs84(x, y, crs, where="points")
    grids = _plan_grids(session, plan_id)
    return assignment(grids, grids.locator.locate(np.atleast_1d(lon), np.atleast_1d(lat), snap_m=snap_m))
