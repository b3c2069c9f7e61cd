"""Per-building walking distances kept compactly (migration 0020): one row per category of arrays, not a row per
building and category.

`coverage_buildings` holds the ascending building ids a run measured; each `coverage_reach` row holds, aligned
with its run's ids, the distance in whole millimetres (NOT_REACHED, NOT_ON_NETWORK) and the nearest facility (0:
none); `coverage_snaps` one row per feature kind. A full run of a 194 k-building city writes 20 rows instead of
3.7 million. Writes go through binary COPY built straight from numpy arrays; reads use `array_send` and
`numpy.frombuffer`, so neither side makes a Python object per value. `building_reach` and `network_access` are
views of these in the old shape, for SQL readers.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.db.engine import psycopg_connection

NOT_REACHED = -1  # on the network, but no facility of the category is reachable from it
NOT_ON_NETWORK = -2  # beyond the snap distance of every walkway
NO_FACILITY = 0

# PostgreSQL type oids of the array elements written here.
_OIDS: dict[np.dtype[Any], int] = {np.dtype(np.int32): 23, np.dtype(np.int64): 20, np.dtype(np.float64): 701}
_ELEMENTS: dict[int, np.dtype[Any]] = {oid: dtype for dtype, oid in _OIDS.items()} | {
    21: np.dtype(np.int16),
    700: np.dtype(np.float32),
}
_HEADER = b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0)


def distance_mm(distance_m: np.ndarray, on_network: np.ndarray) -> np.ndarray:
    """Metres (inf: not reached) as whole millimetres with the two sentinels."""
    mm = np.where(np.isfinite(distance_m), np.round(np.where(np.isfinite(distance_m), distance_m, 0) * 1000), 0)
    out = mm.astype(np.int32)
    out[~np.isfinite(distance_m)] = NOT_REACHED
    out[~on_network] = NOT_ON_NETWORK
    return out


# -- writing ---------------------------------------------------------------------------------------------------


def _array(values: np.ndarray) -> bytes:
    """A one-dimensional array without NULLs in PostgreSQL's binary format."""
    values = np.ascontiguousarray(values)
    oid = _OIDS[values.dtype]
    if len(values) == 0:
        return struct.pack(">iiI", 0, 0, oid)
    cells = np.empty(len(values), dtype=[("size", ">i4"), ("value", values.dtype.newbyteorder(">"))])
    cells["size"] = values.dtype.itemsize
    cells["value"] = values
    return struct.pack(">iiIii", 1, 0, oid, len(values), 1) + cells.tobytes()


def _field(value: str | int | np.ndarray) -> bytes:
    if isinstance(value, str):
        data = value.encode()
    elif isinstance(value, int):
        data = struct.pack(">i", value)  # int4 columns only
    else:
        data = _array(value)
    return struct.pack(">i", len(data)) + data


Row = Sequence[str | int | np.ndarray]


def _copy(session: Session, table: str, columns: Sequence[str], rows: Sequence[Row]) -> None:
    """Binary COPY of `rows` (text, int4 and numpy-array fields) into `table`, in the session's transaction."""
    if not rows:
        return
    body = [_HEADER]
    for row in rows:
        body.append(struct.pack(">h", len(row)))
        body.extend(_field(value) for value in row)
    body.append(struct.pack(">h", -1))
    # Fixed names only: the statement is one of this module's.
    statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT binary)"
    with psycopg_connection(session).cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(b"".join(body))


def write_reach(
    session: Session,
    run_id: int,
    building_ids: np.ndarray,
    reach: dict[str, tuple[np.ndarray, np.ndarray]],
) -> None:
    """Replace the rows of the categories in `reach` (category → distance_mm, facility_id aligned with
    `building_ids`, ascending) by this run's, and drop building lists no category uses any more."""
    if not reach:
        return
    session.execute(text("DELETE FROM coverage_reach WHERE category = ANY(:c)"), {"c": list(reach)})
    session.execute(text("DELETE FROM coverage_buildings WHERE run_id = :r"), {"r": run_id})
    _copy(session, "coverage_buildings", ("run_id", "building_id"), [(run_id, building_ids.astype(np.int64))])
    _remember_written(session, run_id, building_ids, {c: d for c, (d, _) in reach.items()})
    _copy(
        session,
        "coverage_reach",
        ("category", "run_id", "distance_mm", "facility_id"),
        [(c, run_id, d.astype(np.int32), f.astype(np.int64)) for c, (d, f) in reach.items()],
    )
    session.execute(
        text("""DELETE FROM coverage_buildings b
                WHERE NOT EXISTS (SELECT 1 FROM coverage_reach r WHERE r.run_id = b.run_id)""")
    )


@dataclass(frozen=True)
class Snaps:
    """One feature kind's snaps, aligned by id: edge id (0: none), position and access (NaN), component (-1)."""

    ids: np.ndarray
    edge_id: np.ndarray
    position_m: np.ndarray
    access_m: np.ndarray
    component: np.ndarray


def write_snaps(session: Session, snaps: dict[str, Snaps]) -> None:
    session.execute(text("DELETE FROM coverage_snaps"))
    _copy(
        session,
        "coverage_snaps",
        ("feature", "feature_id", "edge_id", "position_m", "access_m", "component"),
        [
            (
                feature,
                s.ids.astype(np.int64),
                s.edge_id.astype(np.int64),
                s.position_m.astype(np.float64),
                s.access_m.astype(np.float64),
                s.component.astype(np.int32),
            )
            for feature, s in snaps.items()
        ],
    )


# -- reading ---------------------------------------------------------------------------------------------------


def from_array_send(data: bytes, dtype: type[np.generic]) -> np.ndarray:
    """The values of a one-dimensional array without NULLs, from `array_send` (PostgreSQL's binary format), as
    `dtype`."""
    ndim, has_null, oid = struct.unpack_from(">iiI", data, 0)
    if ndim == 0:
        return np.array([], dtype=dtype)
    if ndim != 1 or has_null:
        raise ValueError("expected a one-dimensional array without NULLs")
    (length,) = struct.unpack_from(">i", data, 12)
    stored = _ELEMENTS[oid]
    cells = np.frombuffer(data, dtype=[("size", ">i4"), ("value", stored.newbyteorder(">"))], count=length, offset=20)
    return cells["value"].astype(dtype)


@dataclass(frozen=True)
class CategoryReach:
    run_id: int
    building_ids: np.ndarray  # ascending
    distance_mm: np.ndarray  # int32, aligned with building_ids
    facility_id: np.ndarray | None  # int64, when asked for


# The distances this process wrote last, by database, category and run: a category's row of a run never changes,
# so the figures read right after a run (the CLI's summary, the server's runner) need not read them back.
_written: dict[tuple[str, str, int], tuple[np.ndarray, np.ndarray]] = {}
_written_lock = threading.Lock()


def _database(session: Session) -> str:
    return str(session.connection().engine.url)


def _remember_written(session: Session, run_id: int, ids: np.ndarray, distances: dict[str, np.ndarray]) -> None:
    database = _database(session)
    with _written_lock:
        _written.clear()
        _written.update({(database, c, run_id): (ids, d.astype(np.int32)) for c, d in distances.items()})


def read_distances(session: Session) -> dict[str, CategoryReach]:
    """Every stored category's building ids and distances (no facilities), from what this process wrote when the
    stored rows are those, else from the database."""
    database = _database(session)
    stored = session.execute(text("SELECT category, run_id FROM coverage_reach ORDER BY category")).all()
    with _written_lock:
        known = {c: (r, _written[(database, c, r)]) for c, r in stored if (database, c, r) in _written}
    if stored and len(known) == len(stored):
        return {c: CategoryReach(r, ids, distance, None) for c, (r, (ids, distance)) in known.items()}
    return read_reach(session)


def read_reach(session: Session, *, with_facilities: bool = False) -> dict[str, CategoryReach]:
    """Every stored category's arrays (facility ids too with `with_facilities`), each run's building list once."""
    # The session's own connection and transaction: what it wrote is read back.
    with psycopg_connection(session).cursor(binary=True) as cursor:
        lists = {
            run_id: from_array_send(ids, np.int64)
            for run_id, ids in cursor.execute(
                """SELECT run_id, array_send(building_id) FROM coverage_buildings
                   WHERE run_id IN (SELECT run_id FROM coverage_reach)"""
            ).fetchall()
        }
        rows = cursor.execute(
            "SELECT category, run_id, array_send(distance_mm), "
            + ("array_send(facility_id)" if with_facilities else "NULL::bytea")
            + " FROM coverage_reach ORDER BY category"
        ).fetchall()
    return {
        category: CategoryReach(
            run_id,
            lists[run_id],
            from_array_send(distances, np.int32),
            None if facilities is None else from_array_send(facilities, np.int64),
        )
        for category, run_id, distances, facilities in rows
    }


def reach_versions(session: Session) -> tuple[tuple[str, int], ...]:
    """(category, run id) of every stored category: which figures are stored, as a cache key."""
    rows = session.execute(text("SELECT category, run_id FROM coverage_reach ORDER BY category")).all()
    return tuple((str(c), int(r)) for c, r in rows)


def read_category(session: Session, category: str) -> CategoryReach | None:
    """One category's building ids, distances and facilities (None: never computed)."""
    with psycopg_connection(session).cursor(binary=True) as cursor:
        row = cursor.execute(
            """SELECT r.run_id, array_send(b.building_id), array_send(r.distance_mm), array_send(r.facility_id)
               FROM coverage_reach r JOIN coverage_buildings b ON b.run_id = r.run_id WHERE r.category = %s""",
            (category,),
        ).fetchone()
    if row is None:
        return None
    return CategoryReach(
        row[0],
        from_array_send(row[1], np.int64),
        from_array_send(row[2], np.int32),
        from_array_send(row[3], np.int64),
    )


def read_snaps(session: Session, feature: str) -> Snaps:
    """The stored snaps of "building" or "facility" (empty before any run)."""
    with psycopg_connection(session).cursor(binary=True) as cursor:
        row = cursor.execute(
            """SELECT array_send(feature_id), array_send(edge_id), array_send(position_m), array_send(access_m),
                      array_send(component) FROM coverage_snaps WHERE feature = %s""",
            (feature,),
        ).fetchone()
    if row is None:
        empty = np.array([], dtype=np.int64)
        return Snaps(empty, empty, np.array([]), np.array([]), empty)
    return Snaps(
        from_array_send(row[0], np.int64),
        from_array_send(row[1], np.int64),
        from_array_send(row[2], np.float64),
        from_array_send(row[3], np.float64),
        from_array_send(row[4], np.int64),
    )
