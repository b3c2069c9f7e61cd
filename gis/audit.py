"""The audit trail: every write (plan edits, publishing, incident actions, imports, facility and user
changes) appends who did what, when, to which target, with a short before/after summary.

The table is append-only in the database (a trigger refuses UPDATE, DELETE and TRUNCATE). Entries are
written in the same transaction as the change they describe: a rolled-back change leaves no entry.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

# Never copied into the trail: secrets, and personal data the trail's readers need not see.
_SECRET = {"password", "password_hash", "token", "token_hash", "reporter_contact"}
_GEOMETRY = {"geometry", "geom", "line", "polygon", "location"}


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
    where: list[str] = ["TRUE"]
    params: dict[str, Any] = {}
    if actor is not None:
        where.append("actor = :actor")
        params["actor"] = actor
    if action is not None:
        where.append("action LIKE :action")
        params["action"] = action.replace("%", r"\%").replace("_", r"\_") + "%"
    if target is not None:
        where.append("target = :target")
        params["target"] = target
    if since is not None:
        where.append("at >= :since")
        params["since"] = since
    if until is not None:
        where.append("at < :until")
        params["until"] = until
    condition = " AND ".join(where)
    matched = session.execute(text(f"SELECT count(*) FROM audit_log WHERE {condition}"), params).scalar_one()
    rows = session.execute(
        text(f"""SELECT id, at, actor, action, target, before, after FROM audit_log WHERE {condition}
                 ORDER BY id DESC LIMIT :limit OFFSET :offset"""),
        params | {"limit": limit, "offset": offset},
    ).mappings()
    return {
        "matched": matched,
        "entries": [dict(r) | {"at": r["at"].isoformat()} for r in rows],
    }


def _json(value: dict[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, default=str)
