"""Coverage runs as records: created, executed (now, or in a background thread) and watched by id.

A run's work happens in one transaction holding an advisory lock on the run id, so a run whose process
died is recognised (its lock is free) and marked failed instead of showing "running" for ever. Progress is
written in short separate transactions so that watchers see it while the work is still uncommitted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from gis import audit
from gis.coverage import Progress, checked_categories, compute_coverage
from gis.errors import GridmapError, NotFound
from gis.settings import Settings

log = logging.getLogger(__name__)
RUN_LOCK = 774_210_502  # advisory lock class: (RUN_LOCK, run id) is held while the run works


def create_run(session: Session, *, categories: Iterable[str] | None, actor: str) -> int:
    cats = None if categories is None else checked_categories(categories)
    run_id = session.execute(
        text("INSERT INTO coverage_runs (categories, actor) VALUES (CAST(:c AS jsonb), :a) RETURNING id"),
        {"c": None if cats is None else _json(cats), "a": actor},
    ).scalar_one()
    audit.record(
        session, actor=actor, action="coverage.run", target=f"coverage_run:{run_id}", after={"categories": cats}
    )
    return run_id


def run_now(session: Session, run_id: int, settings: Settings, progress: Progress | None = None) -> dict[str, Any]:
    """Execute a created run inside the caller's transaction (CLI, tests, `?wait=true`)."""
    categories = session.execute(text("SELECT categories FROM coverage_runs WHERE id = :id"), {"id": run_id}).scalar()
    session.execute(
        text("UPDATE coverage_runs SET status = 'running', started_at = now() WHERE id = :id"), {"id": run_id}
    )
    report = compute_coverage(
        session, run_id=run_id, categories=categories, max_snap_m=settings.coverage_snap_m, progress=progress
    )
    session.execute(
        text("""UPDATE coverage_runs SET status = 'done', finished_at = now(), stage = 'done', progress = 1,
                       report = CAST(:r AS jsonb) WHERE id = :id"""),
        {"r": _json(report.to_dict()), "id": run_id},
    )
    return get_run(session, run_id)


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
    return session.execute(
        text("""UPDATE coverage_runs SET status = 'failed', finished_at = now(),
                       error = 'interrupted: the server stopped before the run finished'
                WHERE status IN ('queued', 'running') AND created_at < now() - interval '1 second'
                  AND pg_try_advisory_xact_lock(:lock, id)"""),
        {"lock": RUN_LOCK},
    ).rowcount


class CoverageRunner:
    """Runs coverage in one background thread, one run at a time, each in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coverage")

    def submit(self, categories: Iterable[str] | None, actor: str) -> int:
        with self._sessions() as session, session.begin():
            run_id = create_run(session, categories=categories, actor=actor)
        self._executor.submit(self._execute, run_id)
        return run_id

    def shutdown(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _execute(self, run_id: int) -> None:
        try:
            with self._sessions() as session, session.begin():
                session.execute(text("SELECT pg_advisory_xact_lock(:lock, :id)"), {"lock": RUN_LOCK, "id": run_id})
                self._mark(run_id, "running", stage="starting")
                categories = session.execute(
                    text("SELECT categories FROM coverage_runs WHERE id = :id"), {"id": run_id}
                ).scalar()
                report = compute_coverage(
                    session,
                    run_id=run_id,
                    categories=categories,
                    max_snap_m=self._settings.coverage_snap_m,
                    progress=lambda stage, done: self._mark(run_id, "running", stage=stage, progress=done),
                )
                session.execute(
                    text("""UPDATE coverage_runs SET status = 'done', finished_at = now(), stage = 'done',
                                   progress = 1, report = CAST(:r AS jsonb) WHERE id = :id"""),
                    {"r": _json(report.to_dict()), "id": run_id},
                )
        except GridmapError as exc:
            self._fail(run_id, exc.detail)
        except Exception as exc:  # a background thread has no caller: record the failure, keep the thread
            log.exception("coverage run %s failed", run_id)
            self._fail(run_id, f"internal error ({type(exc).__name__}); see the server log")

    def _mark(self, run_id: int, status: str, *, stage: str, progress: float | None = None) -> None:
        with self._sessions() as session, session.begin():
            session.execute(
                text("""UPDATE coverage_runs SET status = :st, stage = :s, progress = coalesce(:p, progress),
                               started_at = coalesce(started_at, now()) WHERE id = :id"""),
                {"st": status, "s": stage, "p": progress, "id": run_id},
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
