"""Grid workers (网格员): staff responsible for grids, attached to a grid's lineage so they follow it across plans."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import NotFound
from gis.features import current_plan_id


def assign_worker(session: Session, username: str, grid_code: str, *, display_name: str | None = None) -> dict:
    """Make `username` (created as a grid worker if new) responsible for the current plan's grid `grid_code`."""
    plan = current_plan_id(session)
    lineage = session.execute(
        text("SELECT lineage FROM grids WHERE plan_id = :plan AND code = :code"), {"plan": plan, "code": grid_code}
    ).scalar_one_or_none()
    if lineage is None:
        raise NotFound(f"grid {grid_code} is not in the current plan", where="grid")
    user_id = session.execute(
        text("""INSERT INTO users (username, display_name, role) VALUES (:username, :display, 'grid_worker')
                ON CONFLICT (username) DO UPDATE SET display_name = COALESCE(:display, users.display_name)
                RETURNING id"""),
        {"username": username, "display": display_name},
    ).scalar_one()
    session.execute(
        text("INSERT INTO grid_workers (user_id, grid_lineage) VALUES (:u, :l) ON CONFLICT DO NOTHING"),
        {"u": user_id, "l": lineage},
    )
    return {"user_id": user_id, "username": username, "grid": grid_code}
