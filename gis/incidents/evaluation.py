"""The last step of the closed loop (评价): once an incident is closed, the reporter (through its tracking page) or a
dispatcher rates the handling 1–5 with an optional comment. One evaluation per incident: the reporter's stands; a
dispatcher may rate only what the reporter has not, and may correct their own. Ratings feed the statistics
(gis/incidents/stats.py). The comment is personal text like a description: staff see it, the public does not."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict, InvalidInput, NotFound
from gis.incidents.records import log_event

Rater = Literal["reporter", "dispatcher"]
COMMENT_MAX = 1000


def evaluate(
    session: Session, incident_id: int, *, rating: int | None, comment: str | None, by: Rater, actor: str
) -> dict[str, Any]:
    """Store the rating and log the `evaluate` event; returns the evaluation."""
    if rating is None or isinstance(rating, bool) or not 1 <= int(rating) <= 5:
        raise InvalidInput("evaluate needs a rating from 1 to 5", where="rating")
    if comment is not None and len(comment) > COMMENT_MAX:
        raise InvalidInput(f"comment is longer than {COMMENT_MAX} characters", where="comment")
    row = session.execute(
        text("SELECT status, rated_by FROM incidents WHERE id = :id FOR UPDATE"), {"id": incident_id}
    ).first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist", where="id")
    if row.status != "closed":
        raise Conflict(f"incident {incident_id} is {row.status}: only a closed incident is evaluated", where="action")
    if row.rated_by == "reporter":
        raise Conflict(f"incident {incident_id} has been evaluated by its reporter already", where="action")
    session.execute(
        text("""UPDATE incidents SET rating = :rating, rating_comment = :comment, rated_at = now(), rated_by = :by
                WHERE id = :id"""),
        {"rating": int(rating), "comment": comment, "by": by, "id": incident_id},
    )
    log_event(session, incident_id, actor, "evaluate", "closed", "closed", comment, {"rating": int(rating), "by": by})
    return evaluation_of(session, incident_id) or {}


def evaluation_of(session: Session, incident_id: int) -> dict[str, Any] | None:
    row = session.execute(
        text("SELECT rating, rating_comment, rated_at, rated_by FROM incidents WHERE id = :id AND rating IS NOT NULL"),
        {"id": incident_id},
    ).first()
    if row is None:
        return None
    return {"rating": row.rating, "comment": row.rating_comment, "at": row.rated_at, "by": row.rated_by}
