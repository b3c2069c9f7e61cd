"""Which plan: the one asked for, or the current (published) one — the single owner of that question
(MapIt's `Generation.objects.current()`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.orm import Session

from gis.errors import NotFound


def current_plan_id(session: Session) -> int | None:
    """The published plan's id, or None before any plan is published."""
    return session.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one_or_none()


def no_such_plan(plan_id: int) -> NotFound:
    """The 404 of an asked-for plan that does not exist (one wording everywhere)."""
    return NotFound(f"plan {plan_id} does not exist", where="plan")


def plan_row(session: Session, plan_id: int, *, for_update: bool = False) -> Row[Any]:
    """The plan's own columns (id, name, status, version, band, code layout), else 404 naming `plan`.

    `for_update` locks the row until the transaction ends: edits and publishing of a plan take turns on it."""
    statement = """SELECT id, name, status, version, base_plan_id, min_households, max_households, code_layout
                   FROM grid_plans WHERE id = :id"""
    row = session.execute(text(statement + (" FOR UPDATE" if for_update else "")), {"id": plan_id}).first()
    if row is None:
        raise no_such_plan(plan_id)
    return row


def plan_or_current(session: Session, plan_id: int | None) -> int | None:
    """`plan_id` when that plan exists (else 404 naming `plan`); without one, the current plan or None."""
    if plan_id is None:
        return current_plan_id(session)
    if session.execute(text("SELECT 1 FROM grid_plans WHERE id = :p"), {"p": plan_id}).first() is None:
        raise no_such_plan(plan_id)
    return plan_id


def require_plan(session: Session, plan_id: int | None, *, purpose: str = "use") -> int:
    """Like `plan_or_current`, but a missing current plan is a 404 too ("there is no published grid plan to …")."""
    plan = plan_or_current(session, plan_id)
    if plan is None:
        raise NotFound(f"there is no published grid plan to {purpose}; import grids first", where="plan")
    return plan
