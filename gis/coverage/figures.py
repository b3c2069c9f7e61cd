"""Coverage figures summed in one pass over arrays: the residential buildings with their households and areas, and
their stored distances per category (gis/coverage/reach_store.py), held per process by data version.

A request then costs a few numpy comparisons and `bincount`s per category and threshold, not a join of millions of
rows. The arrays are keyed by what they are read from: the stored runs per category, the latest base-data batch
(every import, field visit, edit and undo of buildings and areas is one), the units and the published plan with
its version; any change to them reads them afresh. Answers are kept per request too, under the same key.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage import reach_store
from gis.db.engine import psycopg_connection
from gis.plans.store import current_plan_id
from gis.registry import facility_registry

MISSING = -3  # the category has no stored distance for this building (measured before it existed)
LEVELS = ("all", "street", "community", "grid")
WHOLE = (0, None, "全部")  # the one area of level "all"


@dataclass(frozen=True)
class Homes:
    """Residential buildings that count in coverage, ascending by id."""

    ids: np.ndarray
    households: np.ndarray  # float64, NULL as 0
    area: dict[str, np.ndarray]  # level → index into areas[level] per building
    areas: dict[str, list[tuple[int | None, str | None, str | None]]]  # level → (id, code, name); None id: no area
    distance: dict[str, np.ndarray]  # category → millimetres per building (negative: not within any threshold)


_CACHED = 4  # a few databases (tests, benchmarks) may be open in one process
_homes: OrderedDict[Hashable, Homes] = OrderedDict()
_answers: OrderedDict[Hashable, list[dict[str, Any]]] = OrderedDict()
_ANSWERS = 32
_ANSWER_ROWS = 5_000
_lock = threading.Lock()


def data_key(session: Session) -> tuple[Hashable, ...]:
    """What the figures are computed from, as a key (one short query)."""
    plan = current_plan_id(session)
    row = session.execute(
        text("""SELECT (SELECT coalesce(max(id), 0) FROM import_batches),
                       (SELECT coalesce(max(id), 0) FROM units),
                       (SELECT version FROM grid_plans WHERE id = :plan),
                       (SELECT coalesce(string_agg(category || ':' || run_id, ',' ORDER BY category), '')
                        FROM coverage_reach)"""),
        {"plan": plan},
    ).one()
    return (str(session.connection().engine.url), plan, *row)


def homes(session: Session, key: tuple[Hashable, ...] | None = None) -> Homes:
    """The arrays for `key` (the current data when None), read once per key and process."""
    key = key or data_key(session)
    with _lock:
        found = _homes.get(key)
        if found is not None:
            _homes.move_to_end(key)
            return found
    found = _read_homes(session, key[1])  # type: ignore[arg-type]
    with _lock:
        _homes[key] = found
        while len(_homes) > _CACHED:
            _homes.popitem(last=False)
    return found


def remembered(key: Hashable) -> list[dict[str, Any]] | None:
    with _lock:
        return _answers.get(key)


def remember(key: Hashable, rows: list[dict[str, Any]]) -> None:
    """Keep an answer for its key; very large ones (every category per grid of a city) are summed again instead."""
    if len(rows) > _ANSWER_ROWS:
        return
    with _lock:
        _answers[key] = rows
        while len(_answers) > _ANSWERS:
            _answers.popitem(last=False)


def _read_homes(session: Session, plan: int | None) -> Homes:
    with psycopg_connection(session).cursor(binary=True) as cursor:
        row = cursor.execute(
            """SELECT array_send(coalesce(array_agg(b.id), '{}')),
                      array_send(coalesce(array_agg(coalesce(b.households, 0)), '{}')),
                      array_send(coalesce(array_agg(coalesce(c.id, -1)), '{}')),
                      array_send(coalesce(array_agg(coalesce(s.id, -1)), '{}')),
                      array_send(coalesce(array_agg(coalesce(g.id, -1)), '{}'))
               FROM buildings b
               LEFT JOIN communities c ON c.id = b.community_id
               LEFT JOIN streets s ON s.id = c.street_id
               LEFT JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = %(plan)s
               LEFT JOIN grids g ON g.id = a.grid_id
               WHERE b.residential""",
            {"plan": plan},
        ).fetchone()
    assert row is not None  # an aggregate always answers
    # Aggregated in any order (one sort here rather than five there).
    ids = reach_store.from_array_send(row[0], np.int64)
    order = np.argsort(ids, kind="stable")
    per_level = {
        level: reach_store.from_array_send(data, np.int64)[order]
        for level, data in zip(("community", "street", "grid"), row[2:], strict=True)
    }
    return _homes_of(session, plan, ids[order], reach_store.from_array_send(row[1], np.float64)[order], per_level)


def prime(session: Session, ids: np.ndarray, households: np.ndarray, per_level: dict[str, np.ndarray]) -> None:
    """Keep the figures' arrays of the current data from what a run read in this transaction (residential
    buildings ascending by id, households, and their community, street and grid ids; -1: none), so the figures
    asked for right after the run need no second pass over the buildings."""
    key = data_key(session)
    found = _homes_of(session, key[1], ids, households.astype(np.float64), per_level)  # type: ignore[arg-type]
    with _lock:
        _homes[key] = found
        while len(_homes) > _CACHED:
            _homes.popitem(last=False)


def _homes_of(
    session: Session, plan: int | None, ids: np.ndarray, households: np.ndarray, per_level: dict[str, np.ndarray]
) -> Homes:
    names = {
        "community": "SELECT id, code, name FROM communities",
        "street": "SELECT id, code, name FROM streets",
        "grid": "SELECT id, code, name FROM grids WHERE plan_id = :plan",
    }
    area = {"all": np.zeros(len(ids), dtype=np.int64)}
    areas: dict[str, list[tuple[int | None, str | None, str | None]]] = {"all": [WHOLE]}
    for level, of in per_level.items():
        known: dict[int, tuple[int | None, str | None, str | None]] = {
            int(r.id): (int(r.id), r.code, r.name) for r in session.execute(text(names[level]), {"plan": plan})
        }
        used = np.unique(of)
        nowhere: tuple[int | None, str | None, str | None] = (None, None, None)
        table = [known.get(int(i), nowhere) if i >= 0 else nowhere for i in used]
        area[level] = np.searchsorted(used, of)
        areas[level] = table
    distance = {}
    aligned: dict[int, tuple[np.ndarray, np.ndarray]] = {}  # per run's building list: where each home is in it
    for category, stored in reach_store.read_distances(session).items():
        if len(stored.building_ids) == 0:
            distance[category] = np.full(len(ids), MISSING, dtype=np.int32)
            continue
        if stored.run_id not in aligned:
            at = np.minimum(np.searchsorted(stored.building_ids, ids), len(stored.building_ids) - 1)
            aligned[stored.run_id] = (at, stored.building_ids[at] == ids)
        at, found = aligned[stored.run_id]
        distance[category] = np.where(found, stored.distance_mm[at], MISSING).astype(np.int32)
    return Homes(ids, households, area, areas, distance)


def within_mm(metres: float) -> int:
    """The largest whole number of millimetres that is within `metres` (as stored distances compare: mm / 1000)."""
    mm = int(np.floor(metres * 1000))
    while (mm + 1) / 1000 <= metres:
        mm += 1
    while mm / 1000 > metres:
        mm -= 1
    return mm


def sums(h: Homes, level: str, counted: np.ndarray, covered: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    """Per area with counted buildings: (area index, buildings, covered, households, households covered)."""
    n = len(h.areas[level])
    area = h.area[level]
    covered = covered & counted
    if n == 1:  # the whole area: plain sums
        buildings = np.array([np.count_nonzero(counted)])
        done = np.array([np.count_nonzero(covered)])
        households = np.array([h.households @ counted])
        households_done = np.array([h.households @ covered])
    else:
        buildings = np.bincount(area, weights=counted, minlength=n)
        done = np.bincount(area, weights=covered, minlength=n)
        households = np.bincount(area, weights=h.households * counted, minlength=n)
        households_done = np.bincount(area, weights=h.households * covered, minlength=n)
    return [
        (int(i), int(buildings[i]), int(done[i]), int(np.rint(households[i])), int(np.rint(households_done[i])))
        for i in np.flatnonzero(buildings)
    ]


def per_category(h: Homes, level: str, category: str, metres: float) -> list[tuple[int, int, int, int, int]]:
    d = h.distance.get(category)
    if d is None:
        return []
    counted = d != MISSING
    covered = (d >= 0) & (d <= within_mm(metres))
    return sums(h, level, counted, covered)


def tier_complete(h: Homes, level: str, categories: list[str], metres: float) -> list[tuple[int, int, int, int, int]]:
    """Buildings with a distance for any of the tier's categories count; covered when all are within."""
    stored = [h.distance[c] for c in categories if c in h.distance]
    if not stored:
        return []
    limit = within_mm(metres)
    counted = np.zeros(len(h.ids), dtype=bool)
    within = np.zeros(len(h.ids), dtype=np.int64)
    for d in stored:
        counted |= d != MISSING
        within += (d >= 0) & (d <= limit)
    return sums(h, level, counted, within == len(categories))


def registry_tiers() -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for c in facility_registry().categories.values():
        out.setdefault(c.tier, []).append(c.code)
    return out


def uncovered(h: Homes, category: str, metres: float) -> np.ndarray:
    """Indices (ascending by building id) of the buildings with a distance for `category` beyond `metres`, or none."""
    d = h.distance.get(category)
    if d is None:
        return np.array([], dtype=np.int64)
    return np.flatnonzero((d != MISSING) & ((d < 0) | (d > within_mm(metres))))
