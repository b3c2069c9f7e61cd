"""Incident changes as a feed: every report, transition and location correction (the rows of `incident_events`),
after a cursor, as one audience may see them.

The event stream of the dispatch desk and the field app (api/routers/events.py) polls this: a grid worker gets the
events of incidents lying now in their grids (by lineage, so across plan versions), dispatchers and admins every
event. Events carry no notes, descriptions or contacts — a client that wants them reads the incident, where
gis.incidents.privacy decides — so the feed is the same shape for every audience.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.access import DISPATCH, INCIDENT_HANDLING, require
from gis.auth.users import Principal

# Who may follow the feed: the roles that handle incidents (the public, planners and viewers: 401 / 403).
READERS = INCIDENT_HANDLING

_EVENTS = """
SELECT e.id, e.incident_id, e.at, e.actor, e.action, e.from_status, e.to_status,
       i.status, i.category, i.deadline_at, (i.deadline_at IS NOT NULL AND i.deadline_at < now()) AS overdue,
       g.id AS grid_id, g.code AS grid_code, ST_X(i.location) AS lon, ST_Y(i.location) AS lat
FROM incident_events e JOIN incidents i ON i.id = e.incident_id LEFT JOIN grids g ON g.id = i.grid_id
WHERE e.id > :after
  AND (:everything OR EXISTS (SELECT 1 FROM grid_workers w WHERE w.user_id = :user AND w.grid_lineage = g.lineage))
ORDER BY e.id LIMIT :limit
"""


def latest_event_id(session: Session) -> int:
    """The newest event's id (0 when there is none): a stream without a cursor starts after it."""
    return int(session.execute(text("SELECT COALESCE(max(id), 0) FROM incident_events")).scalar_one())


def events_after(session: Session, who: Principal, after: int, *, limit: int = 200) -> list[dict[str, Any]]:
    """Events with ids above `after` that `who` may follow, oldest first (at most `limit`)."""
    require(who, READERS, "the incident event stream")
    rows = session.execute(
        text(_EVENTS),
        {"after": after, "everything": who.role in DISPATCH, "user": who.user_id, "limit": limit},
    ).all()
    return [
        {
            "id": r.id,
            "incident_id": r.incident_id,
            "at": r.at.isoformat(),
            "actor": r.actor,
            "action": r.action,
            "from_status": r.from_status,
            "to_status": r.to_status,
            "status": r.status,
            "category": r.category,
            "deadline_at": r.deadline_at.isoformat() if r.deadline_at else None,
            "overdue": r.overdue,
            "grid": None if r.grid_id is None else {"id": r.grid_id, "code": r.grid_code},
            "location": {"lon": r.lon, "lat": r.lat},
        }
        for r in rows
    ]
