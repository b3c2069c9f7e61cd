"""Grid plans: versions of the grid layout, like MapIt's generations.

Exactly one plan is published (current). A draft is a copy of a base plan edited in place; every edit
is checked against the draft's version (optimistic concurrency), applied through gis/assignment.py and
appended to the operation log with its inverse, so undo restores the previous state exactly. Publishing
retires the current plan in the same transaction.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.assignment import Change, apply_change, copy_assignments
from gis.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from gis.features import current_plan_id

PLAN_COLUMNS = """p.id, p.name, p.status, p.version, p.base_plan_id, p.min_households, p.max_households,
    p.code_layout, p.created_at, p.effective_from, p.effective_to,
    (SELECT count(*) FROM grids g WHERE g.plan_id = p.id) AS grids,
    (SELECT COALESCE(sum(households), 0) FROM grids g WHERE g.plan_id = p.id) AS households"""


def _plan_dict(row: Any) -> dict[str, Any]:
    plan = dict(row._mapping)
    for key, value in plan.items():
        if isinstance(value, datetime):
            plan[key] = value.isoformat()
    return plan


def list_plans(session: Session) -> list[dict[str, Any]]:
    return [_plan_dict(r) for r in session.execute(text(f"SELECT {PLAN_COLUMNS} FROM grid_plans p ORDER BY p.id"))]


def get_plan(session: Session, plan_id: int) -> dict[str, Any]:
    row = session.execute(text(f"SELECT {PLAN_COLUMNS} FROM grid_plans p WHERE p.id = :id"), {"id": plan_id}).first()
    if row is None:
        raise NotFound(f"plan {plan_id} does not exist", where="plan")
    return _plan_dict(row)


def resolve_base(session: Session, base: int | str) -> int:
    if base == "current":
        current = current_plan_id(session)
        if current is None:
            raise Conflict("there is no published plan yet: import a grid layer first", where="base")
        return current
    if isinstance(base, str) and not base.isdigit():
        raise InvalidInput(f'base must be a plan id or "current", not {base!r}', where="base")
    plan_id = int(base)
    get_plan(session, plan_id)
    return plan_id


def create_plan(session: Session, *, base: int | str, name: str, actor: str) -> dict[str, Any]:
    """A new draft copied from `base` (a plan id or "current"), version 1."""
    source = resolve_base(session, base)
    plan_id = session.execute(
        text("""INSERT INTO grid_plans (name, status, version, base_plan_id, min_households, max_households,
                                        code_layout)
                SELECT :name, 'draft', 1, id, min_households, max_households, code_layout
                FROM grid_plans WHERE id = :base RETURNING id"""),
        {"name": name, "base": source},
    ).scalar_one()
    copy_assignments(session, source, plan_id)
    _log(session, plan_id, "create", actor, {"base": source, "name": name}, Change(), version=1)
    return get_plan(session, plan_id)


# -- editing -----------------------------------------------------------------------------------------------


def lock_draft(session: Session, plan_id: int, version: int) -> dict[str, Any]:
    """Lock the plan row for this transaction; refuse anything but the current version of a draft."""
    row = session.execute(
        text("SELECT id, status, version FROM grid_plans WHERE id = :id FOR UPDATE"), {"id": plan_id}
    ).first()
    if row is None:
        raise NotFound(f"plan {plan_id} does not exist", where="plan")
    if row.status != "draft":
        raise Conflict(
            f"plan {plan_id} is {row.status}: only drafts can be edited; create a draft from it", where="plan"
        )
    if row.version != version:
        raise PreconditionFailed(
            f"plan {plan_id} is at version {row.version}, not {version}: someone else changed it; "
            "reload and apply your edit again",
            where="If-Match",
        )
    return dict(row._mapping)


@dataclass
class EditResult:
    plan_id: int
    version: int
    operation: int
    kind: str
    created: list[int] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan": {"id": self.plan_id, "version": self.version},
            "operation": self.operation,
            "kind": self.kind,
            "grids": {"created": self.created, "changed": self.changed, "removed": self.removed},
            **self.details,
        }


Compute = Callable[[Session, int], tuple[Change, dict[str, Any]]]


def edit(
    session: Session,
    plan_id: int,
    *,
    version: int,
    kind: str,
    payload: dict[str, Any],
    actor: str,
    compute: Compute,
) -> EditResult:
    """Run one edit: lock and check the version, compute the change, apply it, log it with its inverse."""
    lock_draft(session, plan_id, version)
    change, details = compute(session, plan_id)
    if change.is_empty():
        raise InvalidInput(f"{kind} changes nothing", where=kind)
    inverse = apply_change(session, plan_id, change)
    # The outcome (e.g. renumbering's old → new code map) is kept with the request in the log.
    seq = _log(session, plan_id, kind, actor, {**payload, "result": details}, inverse, version=version + 1)
    return _result(plan_id, version + 1, seq, kind, change, details)


def undo(session: Session, plan_id: int, *, version: int, actor: str) -> EditResult:
    """Apply the inverse of the newest edit not yet undone; the undo itself is logged (append-only)."""
    lock_draft(session, plan_id, version)
    last = session.execute(
        text("""SELECT seq, kind, inverse FROM plan_operations
                WHERE plan_id = :plan AND NOT undone AND kind NOT IN ('create', 'undo')
                ORDER BY seq DESC LIMIT 1"""),
        {"plan": plan_id},
    ).first()
    if last is None:
        raise Conflict(f"plan {plan_id} has no edit to undo", where="undo")
    change = Change.from_json(last.inverse)
    redo = apply_change(session, plan_id, change)
    session.execute(
        text("UPDATE plan_operations SET undone = true WHERE plan_id = :plan AND seq = :seq"),
        {"plan": plan_id, "seq": last.seq},
    )
    seq = _log(session, plan_id, "undo", actor, {"undoes": last.seq, "kind": last.kind}, redo, version=version + 1)
    return _result(plan_id, version + 1, seq, "undo", change, {"undid": {"operation": last.seq, "kind": last.kind}})


def _result(plan_id: int, version: int, seq: int, kind: str, change: Change, details: dict[str, Any]) -> EditResult:
    created = [g.id for g in change.create]
    changed = sorted((set(change.moves.values()) | set(change.recode)) - set(created) - set(change.delete))
    return EditResult(plan_id, version, seq, kind, created, changed, list(change.delete), details)


def _log(
    session: Session, plan_id: int, kind: str, actor: str, payload: dict[str, Any], inverse: Change, *, version: int
) -> int:
    session.execute(text("UPDATE grid_plans SET version = :v WHERE id = :plan"), {"v": version, "plan": plan_id})
    audit.record(
        session,
        actor=actor,
        action=f"plan.{kind}",
        target=f"plan:{plan_id}",
        before={"version": version - 1} if version > 1 else None,
        after={"version": version, **payload},  # the edit's parameters and its result (grids made/changed)
    )
    return session.execute(
        text("""INSERT INTO plan_operations (plan_id, seq, kind, actor, payload, inverse, version_after)
                SELECT :plan, COALESCE(max(seq), 0) + 1, :kind, :actor, CAST(:payload AS jsonb),
                       CAST(:inverse AS jsonb), :version
                FROM plan_operations WHERE plan_id = :plan RETURNING seq"""),
        {
            "plan": plan_id,
            "kind": kind,
            "actor": actor,
            "payload": _json(payload),
            "inverse": _json(inverse.to_json()),
            "version": version,
        },
    ).scalar_one()


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def operations(session: Session, plan_id: int) -> list[dict[str, Any]]:
    get_plan(session, plan_id)
    rows = session.execute(
        text("""SELECT seq, kind, actor, at, payload, version_after, undone FROM plan_operations
                WHERE plan_id = :plan ORDER BY seq"""),
        {"plan": plan_id},
    )
    return [_plan_dict(r) for r in rows]


# -- publishing ----------------------------------------------------------------------------------------------


def publish(session: Session, plan_id: int, *, version: int, actor: str, errors: list[dict[str, Any]]) -> dict:
    """Make the draft the current plan, retiring the published one, in this transaction."""
    lock_draft(session, plan_id, version)
    if errors:
        kinds = sorted({e["type"] for e in errors})
        raise Conflict(
            f"plan {plan_id} has {len(errors)} validation errors ({', '.join(kinds)}): fix them first",
            where="validation",
        )
    session.execute(text("UPDATE grid_plans SET status = 'retired', effective_to = now() WHERE status = 'published'"))
    session.execute(
        text("UPDATE grid_plans SET status = 'published', effective_from = now(), version = :v WHERE id = :plan"),
        {"plan": plan_id, "v": version + 1},
    )
    _log(session, plan_id, "publish", actor, {}, Change(), version=version + 1)
    return get_plan(session, plan_id)
