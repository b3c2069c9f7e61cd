"""Coverage that goes stale when base data changes, and the one queued run that brings it up to date.

Every change to facilities or buildings calls `mark_stale` in the change's own transaction. It bumps the data
version of each facility category touched (`meta` keys `coverage_version:<category>`; a building change touches
every category, since every category's figures count buildings) and makes sure one queued run covers them. A run
records the versions it started from (gis/coverage/runs.py), so a category's figures are stale while the latest
done run covering it started from an older version, or from another walking network: a change made during a run
leaves the figures stale when it ends, and the run queued by that change refreshes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.coverage.compute import checked_categories
from gis.coverage.network_store import network_version
from gis.coverage.runs import VERSION_PREFIX, create_run
from gis.registry import facility_registry

# Held by a marking transaction until it commits: two changes never both find "no queued run" and queue two.
QUEUE_LOCK = 774_210_503


@dataclass(frozen=True)
class Staleness:
    categories: list[str]  # categories whose figures predate a data change or the walking network
    pending: dict[str, Any] | None  # the queued or running run on its way to refresh them: id, status, stage, progress


def mark_stale(session: Session, *, categories: Iterable[str] | None, reason: str, actor: str) -> int | None:
    """Record that the data behind `categories` changed (None: buildings changed, so every category) and queue
    one run for every stale category, merged into the run already queued if there is one.

    Returns the queued run's id; None when nothing was touched or there is no walking network to compute on yet.
    Call it once per transaction, after the change's writes: the queued run stays locked until the change commits,
    so no worker computes it from data without the change. Unknown categories are refused (InvalidInput)."""
    registry = list(facility_registry().categories)
    if categories is None:
        touched = registry
    else:
        asked = list(categories)
        if not asked:
            return None
        touched = checked_categories(asked)
    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": QUEUE_LOCK})
    session.execute(
        text("""INSERT INTO meta (key, value)
                SELECT :prefix || category, '1' FROM unnest(CAST(:cats AS text[])) AS c(category)
                ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(meta.value AS bigint) + 1 AS text)"""),
        {"prefix": VERSION_PREFIX, "cats": touched},
    )
    audit.record(
        session,
        actor=actor,
        action="coverage.stale",
        after={"categories": None if categories is None else touched, "reason": reason},
    )
    if not session.execute(text("SELECT EXISTS (SELECT 1 FROM walk_edges)")).scalar_one():
        return None  # nothing to compute on; the first run after the network is built starts from these versions
    # Also the categories left stale by a run that failed: the next change heals them.
    wanted = None if categories is None else set(touched) | set(stale_categories(session))
    # Locked by someone else: being claimed, or done with a synchronous run; it may not see this change.
    queued = session.execute(
        text("""SELECT id, categories FROM coverage_runs WHERE status = 'queued'
                ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED""")
    ).first()
    if queued is None:
        return create_run(session, categories=None if wanted is None else _ordered(wanted), actor=actor)
    run_id: int = queued.id
    if queued.categories is not None:  # null: the queued run already covers every category
        merged = None if wanted is None else _ordered(wanted | set(queued.categories))
        if merged != queued.categories:
            session.execute(
                text("UPDATE coverage_runs SET categories = CAST(:c AS jsonb) WHERE id = :id"),
                {"c": None if merged is None else _json_list(merged), "id": run_id},
            )
    return run_id


def staleness(session: Session) -> Staleness:
    """Which categories' figures are out of date, and the run that will bring them up to date (if any)."""
    stale = stale_categories(session)
    return Staleness(stale, pending_run(session, stale) if stale else None)


def stale_categories(session: Session) -> list[str]:
    """Categories (registry order) whose latest done run started from an older data version or network.

    A category no done run covers has no figures yet, so it is not stale."""
    registry = list(facility_registry().categories)
    stale = set(
        session.execute(
            text("""WITH latest AS (
                        SELECT DISTINCT ON (c.category) c.category, r.id
                        FROM unnest(CAST(:cats AS text[])) AS c(category)
                        JOIN coverage_runs r
                          ON r.status = 'done' AND (r.categories IS NULL OR r.categories ? c.category)
                        ORDER BY c.category, r.finished_at DESC, r.id DESC)
                    -- the reports of the chosen runs only: a report can be large (ids of unsnapped buildings)
                    SELECT l.category FROM latest l JOIN coverage_runs r ON r.id = l.id
                    LEFT JOIN meta m ON m.key = :prefix || l.category
                    WHERE coalesce(CAST(m.value AS bigint), 0)
                              > coalesce(CAST(r.report -> 'data_versions' ->> l.category AS bigint), 0)
                       OR CAST(r.report ->> 'network_version' AS bigint) IS DISTINCT FROM :network"""),
            {"cats": registry, "prefix": VERSION_PREFIX, "network": network_version(session)},
        ).scalars()
    )
    return [c for c in registry if c in stale]


def pending_run(session: Session, categories: list[str]) -> dict[str, Any] | None:
    """The newest queued or running run covering any of `categories`: {id, status, stage, progress}."""
    row = (
        session.execute(
            text("""SELECT id, status, stage, progress FROM coverage_runs
                    WHERE status IN ('queued', 'running')
                      AND (categories IS NULL OR categories ?| CAST(:cats AS text[]))
                    ORDER BY id DESC LIMIT 1"""),
            {"cats": categories},
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def _ordered(categories: set[str]) -> list[str]:
    return [c for c in facility_registry().categories if c in categories]


def _json_list(values: list[str]) -> str:
    return json.dumps(values, ensure_ascii=False)
