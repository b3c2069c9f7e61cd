"""The audit trail: every write (plan edits, publishing, incident actions, imports, facility and user
changes) appends who did what, when, to which target, with a short before/after summary.

The table is append-only in the database (a trigger refuses UPDATE, DELETE and TRUNCATE). Entries are
written in the same transaction as the change they describe: a rolled-back change leaves no entry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import column, func, select, table, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session
from sqlalchemy.types import DateTime

# Never copied into the trail: secrets, and personal data the trail's readers need not see.
_SECRET = {"password", "password_hash", "token", "token_hash", "reporter_contact"}
_GEOMETRY = {"geometry", "geom", "line", "polygon", "location"}

# The table as queries see it (created by migration 0006; the audit trail sits below gis.db, so no ORM model).
_AUDIT_LOG = table(
    "audit_log",
    column("id"),
    column("at", DateTime(timezone=True)),
    column("actor"),
    column("action"),
    column("target"),
    column("before", JSONB),
    column("after", JSONB),
)


def summary(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """`values` without secrets, personal fields or geometries (those are kept as their type only)."""
    if values is None:
        return None
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _SECRET:
            continue
        out[key] = {"type": value.get("type")} if key in _GEOMETRY and isinstance(value, dict) else value
    return out


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    """Append one entry (action like "plan.merge", target like "plan:3")."""
    session.execute(
        text("""INSERT INTO audit_log (actor, action, target, before, after)
                VALUES (:actor, :action, :target, CAST(:before AS jsonb), CAST(:after AS jsonb))"""),
        {
            "actor": actor,
            "action": action,
            "target": target,
            "before": _json(summary(before)),
            "after": _json(summary(after)),
        },
    )


def entries(
    session: Session,
    *,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Entries newest first; `action` matches a prefix ("plan." finds every plan action)."""
    log = _AUDIT_LOG.c
    conditions = [
        *([log.actor == actor] if actor is not None else []),
        *([log.action.startswith(action, autoescape=True)] if action is not None else []),
        *([log.target == target] if target is not None else []),
        *([log.at >= since] if since is not None else []),
        *([log.at < until] if until is not None else []),
    ]
    matched = session.execute(select(func.count()).select_from(_AUDIT_LOG).where(*conditions)).scalar_one()
    rows = session.execute(
        select(log.id, log.at, log.actor, log.action, log.target, log.before, log.after)
        .where(*conditions)
        .order_by(log.id.desc())
        .limit(limit)
        .offset(offset)
    ).mappings()
    return {
        "matched": matched,
        "entries": [dict(r) | {"at": r["at"].isoformat()} for r in rows],
    }


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)
