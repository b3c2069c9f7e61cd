"""Coverage runs as records: created, executed (now, or in the background) and watched by id.

`execute_run` is the one way a run is worked: in the caller's transaction, holding an advisory lock on the run
id, so a run whose process died is recognised (its lock is free) and marked failed instead of showing
"running" for ever. It records in the run's report the data versions it started from (gis/coverage/stale.py
compares them with the current ones). Synchronous callers (API `?wait=true`, CLI `gridmap coverage`, demo) use
`run_coverage`, which creates the run and executes it.

A queued run is durable work, whoever queued it (a data change through `stale.mark_stale`, an import in the CLI,
`POST /api/coverage/runs`): any worker may claim it (`claim_queued_run`, FOR UPDATE SKIP LOCKED, so several
server processes never work one run twice) and work it (`work_run`: its own transaction, progress in short
separate ones so that watchers see it while the work is still uncommitted). The server's `CoverageRunner` polls
for queued runs; the CLI calls `work_queued_runs` after an import.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import CursorResult, Engine, text
from sqlalchemy.orm import Session, sessionmaker

from gis import audit
from gis.coverage import figures
from gis.coverage.compute import Progress, checked_categories, compute_coverage
from gis.errors import GridmapError, NotFound
from gis.settings import Settings

log = logging.getLogger(__name__)
RUN_LOCK = 774_210_502  # advisory lock class: (RUN_LOCK, run id) is held while the run works
# `meta` keys `coverage_version:<category>`: a counter per facility category, bumped by every data change that
# touches the category (gis/coverage/stale.py); a run records the values it started from.
VERSION_PREFIX = "coverage_version:"


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
    # Read before any data: a change committed after this point leaves the run's figures stale, as it should.
    versions = data_versions(session)
    report = compute_coverage(
        session,
        run_id=run_id,
        categories=categories,
        max_snap_m=settings.coverage_snap_m,
        progress=progress,
        # A configured dask scheduler takes the run per street; on one machine the whole city here is quickest
        # (starting a local cluster costs more than the shortest paths of a 200 k-building city).
        where=settings.dask_scheduler,
        radius_m=settings.coverage_part_radius_m,
    ).to_dict()
    report["data_versions"] = {c: versions.get(c, 0) for c in report["categories"]}
    session.execute(
        text("""UPDATE coverage_runs SET status = 'done', started_at = coalesce(started_at, now()),
                       finished_at = now(), stage = 'done', progress = 1, report = CAST(:r AS jsonb)
                WHERE id = :id"""),
        {"r": _json(report), "id": run_id},
    )
    return get_run(session, run_id)


def data_versions(session: Session) -> dict[str, int]:
    """The data version of every facility category that has changed at least once (absent: version 0)."""
    rows = session.execute(
        text("SELECT substr(key, :n), value FROM meta WHERE starts_with(key, :prefix)"),
        {"prefix": VERSION_PREFIX, "n": len(VERSION_PREFIX) + 1},
    ).all()
    return {category: int(value) for category, value in rows}


def run_coverage(
    session: Session,
    settings: Settings,
    *,
    categories: Iterable[str] | None,
    actor: str,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Create a run and execute it now, in the caller's transaction: the run is done when this returns.

    Queued runs it covers are done with it (their report is this run's): it reads data committed before it
    started, and this transaction's own changes. Queued runs locked by another transaction (a change not yet
    committed, a worker claiming them) are left queued."""
    categories = None if categories is None else list(categories)  # read twice below
    run_id = create_run(session, categories=categories, actor=actor)
    asked = checked_categories(categories)
    covered = (
        session.execute(
            text("""SELECT id FROM coverage_runs
                WHERE status = 'queued' AND id <> :id
                  AND (CAST(:all AS boolean) OR (categories IS NOT NULL AND categories <@ CAST(:cats AS jsonb)))
                ORDER BY id FOR UPDATE SKIP LOCKED"""),
            {"id": run_id, "all": categories is None, "cats": _json(asked)},
        )
        .scalars()
        .all()
    )
    done = execute_run(session, run_id, settings, progress=progress)
    if covered:
        session.execute(
            text("""UPDATE coverage_runs AS r SET status = 'done', stage = 'done', progress = 1,
                           started_at = coalesce(r.started_at, d.started_at), finished_at = d.finished_at,
                           report = d.report
                    FROM coverage_runs d WHERE d.id = :id AND r.id = ANY(:covered)"""),
            {"id": run_id, "covered": list(covered)},
        )
    return done


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
    """Mark failed the runs left running by a process that is gone (their lock is free).

    Queued runs are left alone: they are work for any worker. A claimed run gets a second to take its lock."""
    result = session.execute(
        text("""UPDATE coverage_runs SET status = 'failed', finished_at = now(),
                       error = 'interrupted: the server stopped before the run finished'
                WHERE status = 'running' AND coalesce(started_at, created_at) < now() - interval '1 second'
                  AND pg_try_advisory_xact_lock(:lock, id)"""),
        {"lock": RUN_LOCK},
    )
    return cast(CursorResult[Any], result).rowcount


# -- workers: claiming queued runs and working them --------------------------------------------------------------

Sessions = sessionmaker[Session]


def claim_queued_run(session: Session, *, up_to: int | None = None) -> int | None:
    """Take the oldest queued run (id ≤ `up_to` when given) for this worker: it is 'running' once the caller
    commits. Runs locked by another transaction are skipped: one being claimed by another worker, or one a data
    change is adding categories to (it becomes claimable when that change commits)."""
    return session.execute(
        text("""UPDATE coverage_runs SET status = 'running', stage = 'starting', started_at = now()
                WHERE id = (SELECT id FROM coverage_runs
                            WHERE status = 'queued' AND (CAST(:up_to AS integer) IS NULL OR id <= :up_to)
                            ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id"""),
        {"up_to": up_to},
    ).scalar_one_or_none()


def work_run(sessions: Sessions, run_id: int, settings: Settings, *, progress: Progress | None = None) -> bool:
    """Work a claimed run in its own transaction, progress committed as it goes; a failure is recorded on the run
    (a worker has no caller to raise to). True when the run is done."""
    try:
        with sessions() as session, session.begin():
            execute_run(
                session, run_id, settings, progress=lambda stage, done: _mark(sessions, run_id, stage, done, progress)
            )
        return True
    except GridmapError as exc:
        _fail(sessions, run_id, exc.detail)
    except Exception as exc:  # record the failure, keep the worker
        log.exception("coverage run %s failed", run_id)
        _fail(sessions, run_id, f"internal error ({type(exc).__name__}); see the server log")
    return False


def work_queued_runs(sessions: Sessions | Engine, settings: Settings, progress: Progress | None = None) -> list[int]:
    """Work every run queued when called, oldest first, and return their ids (see each run for done or failed).

    For the CLI after an import, so figures are fresh without a server; runs queued meanwhile are left to the
    next call or a server's runner (so a busy database never keeps the caller here)."""
    factory = sessions if isinstance(sessions, sessionmaker) else sessionmaker(bind=sessions, expire_on_commit=False)
    with factory() as session:
        up_to = session.execute(text("SELECT max(id) FROM coverage_runs WHERE status = 'queued'")).scalar()
    worked: list[int] = []
    while up_to is not None:
        with factory() as session, session.begin():
            run_id = claim_queued_run(session, up_to=up_to)
        if run_id is None:
            break
        work_run(factory, run_id, settings, progress=progress)
        worked.append(run_id)
    return worked


class CoverageRunner:
    """The server's worker: one background thread working queued runs one at a time, each in its own transaction.

    It polls every `settings.coverage_poll_s` seconds, so runs queued by other processes (a CLI import, another
    server's data change) are worked too; `submit` and `wake` make it look at once. Each poll also reads the
    coverage figures' arrays afresh when their data changed (gis/coverage/figures.py), so `GET /api/coverage`
    answers the first visitor after a run as quickly as the next in every server process."""

    def __init__(self, sessions: Sessions, settings: Settings) -> None:
        self._sessions = sessions
        self._settings = settings
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="coverage-runner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, categories: Iterable[str] | None, actor: str) -> int:
        """Create a run (committed, so it can be watched) and wake the worker; returns its id at once."""
        with self._sessions() as session, session.begin():
            run_id = create_run(session, categories=categories, actor=actor)
        self.wake()
        return run_id

    def wake(self) -> None:
        self._wake.set()

    def shutdown(self) -> None:
        """Stop polling; a run being worked is finished first, queued runs stay queued for the next worker."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def _poll(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()  # before looking: a wake during the work makes the wait below return at once
            try:
                while not self._stopping.is_set():
                    with self._sessions() as session, session.begin():
                        run_id = claim_queued_run(session)
                    if run_id is None:
                        break
                    work_run(self._sessions, run_id, self._settings)
                self._warm()
            except Exception:  # the database is away for a moment: look again at the next poll
                log.exception("looking for queued coverage runs failed")
            self._wake.wait(self._settings.coverage_poll_s)

    def _warm(self) -> None:
        """Read the figures' arrays of the current data into this process when they changed (a run here or in
        another process, a data change), so the first visitor after a run gets an answer as quick as the next."""
        with self._sessions() as session, session.begin():
            figures.homes(session, figures.data_key(session))


def _mark(sessions: Sessions, run_id: int, stage: str, done: float, progress: Progress | None) -> None:
    """Progress of a running run, committed at once for watchers (and passed on to the caller's progress)."""
    with sessions() as session, session.begin():
        session.execute(
            text("""UPDATE coverage_runs SET status = 'running', stage = :s, progress = :p,
                           started_at = coalesce(started_at, now()) WHERE id = :id"""),
            {"s": stage, "p": done, "id": run_id},
        )
    if progress is not None:
        progress(stage, done)


def _fail(sessions: Sessions, run_id: int, error: str) -> None:
    with sessions() as session, session.begin():
        session.execute(
            text("""UPDATE coverage_runs SET status = 'failed', finished_at = now(), error = :e
                    WHERE id = :id"""),
            {"e": error, "id": run_id},
        )


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
