"""The published plan in memory: single-point locate without a database round trip, kept current by NOTIFY.

One `PublishedPlan` per server process holds a snapshot of the published plan — its grids in lookup buckets, lowest
code first, and for each grid the rest of the answer (`gis.locate.point`: plan, grid, community, street,
district, workers) — labelled with `locate_version` (migration 0022), which goes up whenever any of that changes.

Staying current:
- a listener task per process LISTENs on `gridmap_locate`; every change's transaction notifies the new version
  on commit, and a snapshot older than the newest version heard is not used (the database answers) until the
  background rebuild is in;
- after this process itself commits a write (the engine's events), the next locate compares the version first, so
  a client that just published gets the new plan from the same process at once;
- when the listener is down (connection lost, or a hot standby, which cannot LISTEN), the version is compared at
  most every `recheck_s`, so a stale snapshot is never served for longer than that.

A point in no grid (snapped or outside) is answered from memory too, with PostGIS's geodesic distance computed
the way PostGIS computes it (gis.locate.geography_distance); the rare point where floating point could tip the
answer either way (a near tie, a rounding boundary), and any point while the snapshot is not current, is answered
by the database (`locate_async`) — both paths give the same answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psycopg
import shapely
from psycopg import AsyncConnection, Notify
from psycopg.rows import namedtuple_row
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, event

from gis.locate import geography_distance
from gis.locate.point import locate_async

log = logging.getLogger(__name__)

CHANNEL = "gridmap_locate"  # notified by the triggers of migration 0022
RECHECK_S = 0.5  # without a listener: compare the version at most this often
HEARTBEAT_S = 5.0  # the listener proves its connection alive this often
RETRY_S = (0.5, 30.0)  # listener reconnect back-off: first and longest wait
STOP_WAIT_S = 10.0  # at shutdown, how long a snapshot query under way may take to finish

VERSION_SQL = "SELECT version FROM locate_version"

# Every grid of the published plan with the rest of its answer, in one statement (one snapshot) together with
# the version it belongs to; lowest code first, in the database's collation, as LOCATE_SQL orders them.
SNAPSHOT_SQL = """
SELECT v.version, p.id AS plan_id, g.id AS grid_id, g.code AS grid_code, g.name AS grid_name,
       ST_AsBinary(g.geom) AS wkb,
       c.id AS community_id, c.code AS community_code, c.name AS community_name,
       s.id AS street_id, s.code AS street_code, s.name AS street_name,
       d.id AS district_id, d.code AS district_code, d.name AS district_name,
       (SELECT COALESCE(json_agg(json_build_object('id', u.id, 'name', u.display_name) ORDER BY u.id), '[]'::json)
        FROM grid_workers w JOIN users u ON u.id = w.user_id WHERE w.grid_lineage = g.lineage) AS workers
FROM locate_version v
LEFT JOIN grid_plans p ON p.status = 'published'
LEFT JOIN grids g ON g.plan_id = p.id
LEFT JOIN communities c ON c.id = g.community_id
LEFT JOIN streets s ON s.id = c.street_id
LEFT JOIN districts d ON d.id = s.district_id
ORDER BY g.code, g.id
"""


BUCKETS_PER_GRID = 4  # lookup buckets over the grids' extent: a point's bucket lists the few grids it may be in


@dataclass(frozen=True)
class PlanSnapshot:
    """The published plan as of `version`; immutable, replaced whole.

    A point is looked up without making a geometry: its bucket (integer arithmetic on lon/lat) lists the grids
    whose bounding boxes reach the bucket, lowest code first, and one vectorised `intersects_xy` on those prepared
    polygons tests it (a point intersects a polygon exactly when the polygon covers it: boundary included, as
    ST_Covers)."""

    version: int
    parts: list[dict[str, Any]]  # per grid, lowest code first: plan_id, grid, community, street, district, workers
    x0: float = 0.0
    y0: float = 0.0
    inv_dx: float = 0.0  # buckets per degree
    inv_dy: float = 0.0
    nx: int = 0
    ny: int = 0
    buckets: tuple[tuple[np.ndarray, np.ndarray] | None, ...] = ()  # row-major: (grid indices, their polygons)

    geoms: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))  # lowest code first
    tree: shapely.STRtree | None = None
    _edges: dict[int, geography_distance.Edges] = field(default_factory=dict)  # filled on first use

    def locate(self, lon: float, lat: float, snap_m: float = 50.0) -> dict[str, Any] | None:
        """The answer for (lon, lat), or None where the database must answer (see `_outside`). The parts are shared
        between answers: callers never mutate them."""
        if not self.parts:
            return None
        found = self._covering(lon, lat)
        if found is not None:
            return {"status": "inside", "distance_m": 0.0, **self.parts[found], "location": {"lon": lon, "lat": lat}}
        return self._outside(lon, lat, snap_m)

    def _covering(self, lon: float, lat: float) -> int | None:
        """The grid covering the point, lowest code on shared edges."""
        fx = (lon - self.x0) * self.inv_dx
        fy = (lat - self.y0) * self.inv_dy
        if not (0 <= fx < self.nx and 0 <= fy < self.ny):  # also False for NaN
            return None
        bucket = self.buckets[int(fy) * self.nx + int(fx)]
        if bucket is None:
            return None
        grids, polygons = bucket
        hits = shapely.intersects_xy(polygons, lon, lat)
        return int(grids[hits.argmax()]) if hits.any() else None  # the first hit: the lowest code

    def _outside(self, lon: float, lat: float, snap_m: float) -> dict[str, Any] | None:
        """A point in no grid, as LOCATE_SQL answers it: of the NEAREST grids by planar distance in lon/lat, the one
        at the least geodesic distance (then the lowest code). None where floating point could decide otherwise on
        the server (gis.locate.geography_distance)."""
        if not math.isfinite(lon) or not math.isfinite(lat) or self.tree is None:
            return None
        point = shapely.Point(lon, lat)
        found = self._nearest_planar(point, geography_distance.NEAREST + 1)
        if found is None:
            return None
        candidates, planar = found
        p = geography_distance.point_vector(lon, lat)
        per_degree = geography_distance.least_metres_per_degree(lat, self.y0, self.y0 + self.ny / self.inv_dy)
        ranked: list[tuple[float, int, tuple[float, float] | None]] = []
        for grid, degrees in zip(candidates[: geography_distance.NEAREST], planar, strict=False):
            edges = self._edges_of(grid)
            if not len(edges.cone):  # an empty polygon: leave it to the database
                return None
            # A grid whose least possible distance exceeds the nearest one's cannot win nor tie: not measured.
            least = max(edges.least_metres(p), degrees * per_degree if degrees < 1 else 0.0)
            if ranked and least > ranked[0][0] + 1:
                continue
            nearest = geography_distance.distance_m(edges, lon, lat, p)
            if nearest is None:
                return None
            ranked.append((nearest.metres, grid, nearest.vertex))
            ranked.sort(key=lambda r: (r[0], r[1]))
        # Grids meeting at the nearest vertex: the same stored point, so the server's distances are equal too and
        # the lowest code wins. Any other near tie could go either way there.
        near_tie = len(ranked) > 1 and ranked[1][0] - ranked[0][0] < geography_distance.TIE_M
        same_vertex = near_tie and ranked[1][0] == ranked[0][0] and ranked[0][2] is not None
        if near_tie and not (same_vertex and ranked[0][2] == ranked[1][2]):
            return None
        metres, grid, _ = ranked[0]
        if not geography_distance.rounding_is_safe(metres, snap_m):
            return None
        status = "snapped" if metres <= snap_m else "outside"
        part = self.parts[grid]
        return {"status": status, "distance_m": round(metres, 2), **part, "location": {"lon": lon, "lat": lat}}

    def _nearest_planar(self, point: shapely.Point, count: int) -> tuple[list[int], list[float]] | None:
        """The `count` grids nearest to the point by planar distance (as `<->`), nearest first, and their distances
        in degrees; None on a near tie at the cut (the server's pick among them is arbitrary)."""
        assert self.tree is not None
        _, (d0,) = self.tree.query_nearest(point, return_distance=True, all_matches=False)
        # Start wide enough for a few grids around the nearest one (their typical size), then widen.
        side = math.sqrt(self.nx * self.ny / (self.inv_dx * self.inv_dy) / len(self.geoms))
        reach = d0 + 2 * side
        while True:
            near = self.tree.query(point, predicate="dwithin", distance=reach)
            if len(near) >= count or len(near) == len(self.geoms):
                break
            reach *= 2
        distances = shapely.distance(self.geoms[near], point)
        order = np.lexsort((near, distances))
        near, distances = near[order], distances[order]
        cut = geography_distance.NEAREST
        if len(near) > cut and distances[cut] - distances[cut - 1] <= 1e-12 * max(1.0, distances[cut]):
            return None
        return [int(g) for g in near[:count]], [float(d) for d in distances[:count]]

    def _edges_of(self, grid: int) -> geography_distance.Edges:
        edges = self._edges.get(grid)
        if edges is None:
            edges = self._edges[grid] = geography_distance.edges_of(self.geoms[grid])
        return edges


def _area(row: Any, prefix: str) -> dict[str, Any] | None:
    if getattr(row, f"{prefix}_id") is None:
        return None
    return {
        "id": getattr(row, f"{prefix}_id"),
        "code": getattr(row, f"{prefix}_code"),
        "name": getattr(row, f"{prefix}_name"),
    }


def build_snapshot(rows: list[Any]) -> PlanSnapshot:
    """A snapshot from SNAPSHOT_SQL's rows; without a published plan it has no grids, and the database path
    answers (with its conflict)."""
    version = int(rows[0].version)
    grids = [row for row in rows if row.grid_id is not None]
    if not grids:
        return PlanSnapshot(version, [])
    parts = [
        {
            "plan_id": row.plan_id,
            "grid": {"id": row.grid_id, "code": row.grid_code, "name": row.grid_name},
            "community": _area(row, "community"),
            "street": _area(row, "street"),
            "district": _area(row, "district"),
            "workers": row.workers,
        }
        for row in grids
    ]
    geoms = shapely.from_wkb([row.wkb for row in grids])
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    west, south = bounds[:, 0].min(), bounds[:, 1].min()
    east, north = bounds[:, 2].max(), bounds[:, 3].max()
    # Roughly square buckets on the ground, about BUCKETS_PER_GRID per grid; a hair of padding keeps the extent's
    # east and north edges inside the last bucket.
    width = max(east - west, 1e-9) * math.cos(math.radians((south + north) / 2))
    height = max(north - south, 1e-9)
    side = math.sqrt(width * height / (BUCKETS_PER_GRID * len(grids)))
    nx, ny = max(1, math.ceil(width / side)), max(1, math.ceil(height / side))
    inv_dx = nx / ((east - west) * (1 + 1e-9) or 1e-9)
    inv_dy = ny / ((north - south) * (1 + 1e-9) or 1e-9)
    # Each grid into every bucket its bounding box reaches (floor of the same expression the lookup uses).
    lo_x = np.floor((bounds[:, 0] - west) * inv_dx).astype(int).clip(0, nx - 1)
    hi_x = np.floor((bounds[:, 2] - west) * inv_dx).astype(int).clip(0, nx - 1)
    lo_y = np.floor((bounds[:, 1] - south) * inv_dy).astype(int).clip(0, ny - 1)
    hi_y = np.floor((bounds[:, 3] - south) * inv_dy).astype(int).clip(0, ny - 1)
    members: list[list[int]] = [[] for _ in range(nx * ny)]
    for grid in range(len(grids)):  # in code order, so every bucket lists its grids lowest code first
        for y in range(lo_y[grid], hi_y[grid] + 1):
            for x in range(lo_x[grid], hi_x[grid] + 1):
                members[y * nx + x].append(grid)
    buckets = tuple((np.array(m), geoms[m]) if m else None for m in members)
    return PlanSnapshot(version, parts, west, south, inv_dx, inv_dy, nx, ny, buckets, geoms, shapely.STRtree(geoms))


_WROTE = "gridmap_locate_wrote"  # Connection.info flag: this transaction ran a statement that may write
_READS = ("SELECT", "SHOW", "SET ")  # statements that change nothing a locate answer holds


class PublishedPlan:
    """This process's in-memory published plan (see the module docstring). `start` in the app's lifespan."""

    def __init__(self, pool: AsyncConnectionPool, *, recheck_s: float = RECHECK_S) -> None:
        if not isinstance(pool.conninfo, str):
            raise TypeError("the read pool needs a connection string: the listener connects with it too")
        self.pool = pool  # the read pool: snapshots, version checks and the database path
        self._dsn = pool.conninfo
        self.recheck_s = recheck_s
        self.snapshot: PlanSnapshot | None = None
        self.heard = 0  # the newest version this process knows of (notified or checked)
        self.listening = False  # LISTEN active and its connection alive
        self._alive_at = 0.0
        self._writes = 0  # commits by this process (engine event)
        self._checked_writes = 0
        self._checked_at = 0.0
        self._check: asyncio.Future[int] | None = None  # the version check under way
        self._check_writes = 0  # `_writes` when it began
        self._wake = asyncio.Event()
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        self._wake.set()  # the first snapshot
        self._tasks = [asyncio.create_task(self._listen()), asyncio.create_task(self._refresh())]

    async def stop(self) -> None:
        """Stop listening and refreshing. A snapshot query under way is let finish (a few hundred ms at most)
        rather than cancelled: cancelling a statement on the server is a signal we do not need to send."""
        self._stopping = True
        self._wake.set()
        listener, refresher = self._tasks or (None, None)
        self._tasks = []
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if refresher is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(refresher, STOP_WAIT_S)

    def watch_writes(self, engine: Engine) -> None:
        """Count this process's committed writes on `engine`: the next answer after one checks the version first."""
        # Bound methods and a flag of this instance's own: two apps on one engine (tests) keep apart.
        event.listen(engine, "before_cursor_execute", self._note_write)
        event.listen(engine, "commit", self._committed)
        event.listen(engine, "rollback", self._forget_write)

    def unwatch_writes(self, engine: Engine) -> None:
        event.remove(engine, "before_cursor_execute", self._note_write)
        event.remove(engine, "commit", self._committed)
        event.remove(engine, "rollback", self._forget_write)

    def _note_write(self, connection: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        # Background pollers commit read-only transactions every few seconds: those need no version check.
        flag = (_WROTE, id(self))
        if not connection.info.get(flag) and not statement.lstrip()[:6].upper().startswith(_READS):
            connection.info[flag] = True

    def _forget_write(self, connection: Connection) -> None:
        connection.info.pop((_WROTE, id(self)), None)

    def _committed(self, connection: Connection) -> None:
        if connection.info.pop((_WROTE, id(self)), False):
            self._writes += 1

    # -- answering ---------------------------------------------------------------------------------------

    async def locate(self, lon: float, lat: float, *, snap_m: float) -> dict[str, Any]:
        """`gis.locate.point.locate_async`'s answer, from memory when the snapshot is current and covers the point."""
        snapshot = await self._current()
        if snapshot is not None:
            try:
                found = snapshot.locate(lon, lat, snap_m)
            except Exception:  # a geometry the in-memory path cannot handle: the database answers
                log.warning("locating (%s, %s) in memory failed; the database answers", lon, lat, exc_info=True)
                found = None
            if found is not None:
                return found
        async with self.pool.connection() as connection:
            return await locate_async(connection, lon, lat, snap_m=snap_m)

    async def _current(self) -> PlanSnapshot | None:
        snapshot = self.snapshot
        if snapshot is None or snapshot.version < self.heard:
            return None
        now = time.monotonic()
        listening = self.listening and now - self._alive_at < 3 * HEARTBEAT_S
        if self._writes != self._checked_writes or (not listening and now - self._checked_at > self.recheck_s):
            # One check at a time, shared by every request that arrives meanwhile (no stampede on the pool); one
            # begun before the latest commit does not count for it.
            writes = self._writes  # read before the check: a commit during it is checked next time
            check = self._check
            if check is None or check.done() or self._check_writes != writes:
                check = self._check = asyncio.ensure_future(self._read_version())
                self._check_writes = writes
            try:
                version = await asyncio.shield(check)
            except psycopg.OperationalError:  # unchecked: the database path answers (or says why it cannot)
                return None
            if writes > self._checked_writes:
                self._checked_writes = writes
            self._checked_at = max(self._checked_at, now)
            self._heard_of(version)
            if snapshot.version < self.heard:
                return None
        return snapshot

    async def _read_version(self) -> int:
        async with self.pool.connection() as connection:
            row = await (await connection.execute(VERSION_SQL)).fetchone()
        return int(row[0]) if row else 0

    def _heard_of(self, version: int) -> None:
        if version > self.heard:
            self.heard = version
        current = self.snapshot
        if current is None or current.version < self.heard:
            self._wake.set()

    # -- keeping current ---------------------------------------------------------------------------------

    async def _refresh(self) -> None:
        """Rebuild the snapshot whenever woken (coalescing bursts: one rebuild per wake-up)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping:
                return
            try:
                rows = await self._load()
                # Parsing and indexing thousands of polygons: off the event loop, which keeps answering.
                snapshot = await asyncio.to_thread(build_snapshot, rows)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database path answers meanwhile; retry shortly
                if self._stopping:
                    return
                log.warning("the published plan could not be loaded for locate; retrying", exc_info=True)
                await asyncio.sleep(RETRY_S[0])
                self._wake.set()
                continue
            self.snapshot = snapshot
            self._heard_of(snapshot.version)

    async def _load(self) -> list[Any]:
        async with self.pool.connection() as connection, connection.transaction():
            # No JIT: its compile time would be most of this query's, and a JIT compile interrupted by a cancel
            # has been seen to crash the server process (a backend abort, "malloc assertion failure").
            await connection.execute("SET LOCAL jit = off")
            async with connection.cursor(row_factory=namedtuple_row) as cursor:
                await cursor.execute(SNAPSHOT_SQL)
                return await cursor.fetchall()

    def _notified(self, notify: Notify) -> None:
        try:
            self._heard_of(int(notify.payload))
        except ValueError:  # not a version: whatever changed, the database answers until the plan is loaded afresh
            self.snapshot = None
            self._wake.set()

    async def _listen(self) -> None:
        """LISTEN for changes; reconnect with back-off. While down, `_current` compares versions instead."""
        wait = RETRY_S[0]
        while True:
            try:
                async with await AsyncConnection.connect(
                    self._dsn, autocommit=True, keepalives=1, keepalives_idle=10, keepalives_interval=5
                ) as connection:
                    await connection.execute(f"LISTEN {CHANNEL}")
                    self.listening, self._alive_at, wait = True, time.monotonic(), RETRY_S[0]
                    # Changes made while nobody listened: load afresh (notifications from now on are heard).
                    self._wake.set()
                    while True:
                        # Those arriving during the heartbeat's statement come with the next call (psycopg keeps them).
                        async for notify in connection.notifies(timeout=HEARTBEAT_S):
                            self._notified(notify)
                        await asyncio.wait_for(connection.execute("SELECT 1"), HEARTBEAT_S)
                        self._alive_at = time.monotonic()
            except asyncio.CancelledError:
                self.listening = False
                raise
            except Exception as exc:  # e.g. a standby (no LISTEN in recovery), or the server went away
                self.listening = False
                log.info("locate listener down (%s); checking the plan version every %.1f s", exc, self.recheck_s)
                await asyncio.sleep(wait)
                wait = min(wait * 2, RETRY_S[1])
