"""Tracking numbers: the short number a resident follows a report by, and what anyone holding it may see.

The number is drawn by the database when the incident is inserted (migration 0013, `incident_tracking_number()`):
8 symbols of TRACKING_ALPHABET, 2^40 possibilities, so one resident's number says nothing about another's.

Whoever holds a number sees the public status view: category, status, the community, reported / closed dates,
whether the current stage is past its time limit, and the history as the public sees it — each step's action,
statuses, time and the actor's public name. There is no "public reply" concept in the workflow: the notes staff
write on transitions are for staff (gis.incidents.privacy), so they are not shown; nor are the description, photo,
contact, address, coordinates or a relocation's details (they hold the exact place).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.users import with_public_actors
from gis.errors import NotFound
from gis.incidents.workflow import CLOSED_STATES
from gis.registry import incident_categories

TRACKING_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: read out over the phone without doubt
TRACKING_LENGTH = 8
_SEPARATORS = re.compile(r"[\s\-_.]+")
_WELL_FORMED = re.compile(f"[{TRACKING_ALPHABET}]{{{TRACKING_LENGTH}}}")


def normalise(number: str) -> str | None:
    """`number` as stored (upper case, spaces and dashes dropped), or None when it cannot be a tracking number."""
    cleaned = _SEPARATORS.sub("", number).upper()
    return cleaned if _WELL_FORMED.fullmatch(cleaned) else None


def number_of(session: Session, incident_id: int) -> str:
    """The tracking number of incident `incident_id`."""
    found = session.execute(
        text("SELECT tracking_number FROM incidents WHERE id = :id"), {"id": incident_id}
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"incident {incident_id} does not exist", where="id")
    return str(found)


def incident_of(session: Session, number: str) -> int:
    """The id of the incident with tracking number `number` (NotFound, the same for malformed and unknown)."""
    wanted = normalise(number)
    found = (
        session.execute(text("SELECT id FROM incidents WHERE tracking_number = :n"), {"n": wanted}).scalar_one_or_none()
        if wanted
        else None
    )
    if found is None:
        raise NotFound(f"no report has the tracking number {number!r}", where="tracking_number")
    return int(found)


def public_status(session: Session, number: str) -> dict[str, Any]:
    """The public status view of the incident with tracking number `number` (NotFound when there is none)."""
    wanted = normalise(number)
    row = (
        session.execute(
            text("""
            SELECT i.id, i.tracking_number, i.category, i.status, i.department, i.reported_at, i.state_entered_at,
                   i.deadline_at, i.closed_at, c.name AS community_name, s.name AS street_name,
                   (i.deadline_at IS NOT NULL AND i.deadline_at < now()) AS overdue
            FROM incidents i LEFT JOIN communities c ON c.id = i.community_id
                             LEFT JOIN streets s ON s.id = i.street_id
            WHERE i.tracking_number = :number"""),
            {"number": wanted},
        ).first()
        if wanted
        else None
    )
    if row is None:
        # The same answer for a malformed and an unknown number: neither says anything about other reports.
        raise NotFound(f"no report has the tracking number {number!r}", where="tracking_number")
    events = [
        dict(e._mapping)
        for e in session.execute(
            text("""SELECT at, actor, action, from_status, to_status FROM incident_events
                    WHERE incident_id = :id ORDER BY id"""),
            {"id": row.id},
        )
    ]
    for event in events:
        event["at"] = event["at"].isoformat()
    category = incident_categories().get(row.category)
    view = {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row._mapping.items()}
    del view["id"]  # the internal id would let a holder of the number read the incident elsewhere
    return view | {
        "category_name_zh": category.name_zh if category else row.category,
        "category_name_en": category.name_en if category else row.category,
        "finished": row.status in CLOSED_STATES,
        "history": with_public_actors(session, events),
    }
