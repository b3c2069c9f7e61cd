"""Batches: every change to base data (an import, a field visit's approval, an undo, an edit) is one batch.

A batch is a row of `import_batches`. While it works, its id and time are the transaction's `gridmap.batch_id`
and `gridmap.change_at` settings, which the history triggers (migration 0008) write into every version they make:
one batch, one timestamp, and a second change to a row within the batch amends its version. The batch keeps its
report; `undo_batch` (gis/basedata/undo.py) reverts a whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import desc, select, text
from sqlalchemy.orm import Session

from gis import audit
from gis.db.models import ImportBatch
from gis.errors import NotFound

KINDS = ("import", "visit", "undo", "edit")


@dataclass(frozen=True)
class Batch:
    id: int
    at: datetime
    kind: str
    layer: str
    actor: str


@contextmanager
def batch(
    session: Session,
    *,
    kind: str,
    layer: str,
    actor: str,
    source: str | None = None,
    mode: str | None = None,
    scope: dict[str, Any] | None = None,
    undo_of: int | None = None,
) -> Iterator[Batch]:
    """Open a batch in the caller's transaction; versions written inside it carry its id and time."""
    if kind not in KINDS:
        raise ValueError(f"unknown batch kind {kind!r}")
    row = session.execute(
        text("""INSERT INTO import_batches (kind, layer, source, mode, scope, actor, undo_of)
                VALUES (:kind, :layer, :source, :mode, CAST(:scope AS jsonb), :actor, :undo_of) RETURNING id, at"""),
        {
            "kind": kind,
            "layer": layer,
            "source": source,
            "mode": mode,
            "scope": None if scope is None else json.dumps(scope, ensure_ascii=False),
            "actor": actor,
            "undo_of": undo_of,
        },
    ).one()
    _set(session, str(row.id), row.at)
    yield Batch(row.id, row.at, kind, layer, actor)
    _set(session, "", None)  # writes after the batch are not its own


def _set(session: Session, batch_id: str, at: datetime | None) -> None:
    session.execute(
        text("""SELECT set_config('gridmap.batch_id', :id, true),
                       set_config('gridmap.change_at', coalesce(CAST(CAST(:at AS timestamptz) AS text), ''), true)"""),
        {"id": batch_id, "at": at},
    )


def finish(session: Session, done: Batch, report: dict[str, Any], *, audit_after: dict[str, Any]) -> None:
    """Keep the batch's report and audit it (the summary only: rows and reasons stay in the batch)."""
    session.execute(
        text("UPDATE import_batches SET report = CAST(:report AS jsonb) WHERE id = :id"),
        {"id": done.id, "report": json.dumps(report, ensure_ascii=False, default=str)},
    )
    # Imports keep the action every import has had (import.<layer>); the batch is the target.
    action = f"import.{done.layer}" if done.kind == "import" else f"batch.{done.kind}"
    audit.record(
        session, actor=done.actor, action=action, target=f"batch:{done.id}", after={"layer": done.layer, **audit_after}
    )


def list_batches(session: Session, *, limit: int = 50, layer: str | None = None) -> list[ImportBatch]:
    statement = select(ImportBatch).order_by(desc(ImportBatch.id)).limit(limit)
    if layer is not None:
        statement = statement.where(ImportBatch.layer == layer)
    return list(session.scalars(statement))


def get_batch(session: Session, batch_id: int) -> ImportBatch:
    found = session.get(ImportBatch, batch_id)
    if found is None:
        raise NotFound(f"no batch {batch_id}", where="batch")
    return found
