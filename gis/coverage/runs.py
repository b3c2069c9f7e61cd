"""Coverage runs as records: created, executed (now, or in a background thread) and watched by id.

`execute_run` is the one way a run is worked: in the caller's transaction, holding an advisory lock on the run
id, so a run whose process died is recognised (its lock is free) and marked failed instead of showing
"running" for ever. Synchronous callers (API `?wait=true`, CLI, demo, facility edits) use `run_coverage`,
which creates the run and executes it; the background `CoverageRunner` creates a run, then executes it in
its own transaction and writes progress in short separate ones, so that watchers see it while the work is
still uncommitted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session, sessionmaker

from gis import audit
from gis.coverage.compute import Progress, checked_categories, compute_coverage
from gis.errors import GridmapError, NotFound
from gis.settings import Settings

log = logging.getLogger(__name__)
RUN_LOCK = 774_210_502  # advisory lock class: (RUN_LOCK, run id) is held while the run works


def create_run(session: Session, *, categories: Iterable[str] | None, actor: str) -> int:
    """Record a queued run (categories checked against the registry; None: all) and audit who asked for it."""
    cats = None if categories is None else checked_categories(categories)
    run_id: int = session.execute(
        text("INSERT INTO coverage_runs (categories, actor) VALUES (CAST(:c AS jsonb), :a) RETURNING id"),
        {"c": None if cats is None else _json(cats), "a": actor},
    ).scalar_one()
    audit.record(
        session, actor=actor, action="coverage.run", target=f"coverage_run:{run_id}", after={"categories": cats}
    )
    return run_id


def execute_run(
    session: Session, run_id: int, settings: Settings, *, progress: Progress | None = None
) -> dict[str, Any]:
    """Work a created run inside the caller's transaction and return it, done.

    The run's row is written once, at the end: progress goes to `progress` (a progress bar, or the runner's
    separate transactions, which must not wait for a row lock this transaction holds).
    """
    session.execute(text("SELECT pg_advisory_xact_lock(:lock, :id)"), {"lock": RUN_LOCK, "id": run_id})
    if progress is not None:
        progress("starting", 0.0)
    categories = session.execute(text("SELECT categories FROM coverage_runs WHERE id = :id"), {"id": run_id}).scalar()
    report = compute_coverage(
        session, run_id=run_id, categories=categories, max_snap_m=settings.coverage_snap_m, progress=progress
    )
    session.execute(
        text("""UPDATE coverage_runs SET status = 'done', started_at = coalesce(started_at, now()),
                       finished_at = now(), stage = 'done', progress = 1, report = CAST(:r AS jsonb)
                WHERE id = :id"""),
        {"r": _json(report.to_dict()), "id": run_id},
    )
    return get_run(session, run_id)


def run_coverage(
    session: Session,
    settings: Settings,
    *,
    categories: Iterable[str] | None,
    actor: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Create a run and execute it now, in the caller's transaction: the run is done when this returns."""
    run_id = create_run(session, categories=categories, actor=actor)
    return execute_run(session, run_id, settings, progress=progress)


def get_run(session: Session, run_id: int) -> dict[str, Any]:
    row = (
        session.execute(
            text("""SELECT id, status, categories, actor, stage, progress, created_at, started_at, finished_at,
                           report, error FROM coverage_runs WHERE id = :id"""),
            {"id": run_id},
        )
        .mappings()
        .first()
    )
    if row is None:
        raise NotFound(f"coverage run {run_id} does not exist", where="run_id")
    return dict(row)


def latest_run(session: Session) -> dict[str, Any] | None:
    run_id = session.execute(
        text("SELECT id FROM coverage_runs WHERE status = 'done' ORDER BY finished_at DESC, id DESC LIMIT 1")
    ).scalar_one_or_none()
    return None if run_id is None else get_run(session, run_id)


def fail_abandoned(session: Session) -> int:
    """Mark failed the runs left queued or running by a process that is gone (their lock is free)."""
    result = session.execute(
        text("""UPDATE coverage_runs SET status = 'failed', finished_at = now(),
                       error = 'interrupted: the server stopped before the run finished'
                WHERE status IN ('queued', 'running') AND created_at < now() - interval '1 second'
                  AND pg_try_advisory_xact_lock(:lock, id)"""),
        {"lock": RUN_LOCK},
    )
    return cast(CursorResult[Any], result).rowcount


class CoverageRunner:
    """Executes runs in one background thread, one at a time, each in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coverage")

    def submit(self, categories: Iterable[str] | None, actor: str) -> int:
        """Create a run (committed, so it can be watched) and queue it; returns its id at once."""
        with self._sessions() as session, session.begin():
            run_id = create_run(session, categories=categories, actor=actor)
        self._executor.submit(self._execute, run_id)
        return run_id

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _execute(self, run_id: int) -> None:
        try:
            with self._sessions() as session, session.begin():
                execute_run(
                    session,
                    run_id,
                    self._settings,
                    progress=lambda stage, done: self._mark(run_id, stage=stage, progress=done),
                )
        except GridmapError as exc:
            self._fail(run_id, exc.detail)
        except Exception as exc:  # a background thread has no caller: record the failure, keep the thread
            log.exception("coverage run %s failed", run_id)
            self._fail(run_id, f"internal error ({type(exc).__name__}); see the server log")

    def _mark(self, run_id: int, *, stage: str, progress: float) -> None:
        """Progress of a running run, committed at once for watchers."""
        with self._sessions() as session, session.begin():
            session.execute(
                text("""UPDATE coverage_runs SET status = 'running', stage = :s, progress = :p,
                               started_at = coalesce(started_at, now()) WHERE id = :id"""),
                {"s": stage, "p": progress, "id": run_id},
            )

    def _fail(self, run_id: int, error: str) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                text("""UPDATE coverage_runs SET status = 'failed', finished_at = now(), error = :e
                        WHERE id = :id"""),
                {"e": error, "id": run_id},
            )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
