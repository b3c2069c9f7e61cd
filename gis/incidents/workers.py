"""Grid workers (网格员): staff responsible for grids, attached to a grid's lineage so they follow it across plans."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.auth.users import change_user, create_user, get_user
from gis.errors import InvalidInput, NotFound
from gis.geo.coordinates import point_to_wgs84
from gis.locate.point import locate
from gis.plans.store import current_plan_id


def add_user(
    session: Session,
    name: str,
    role: str,
    *,
    actor: str,
    password: str | None = None,
    display_name: str | None = None,
    grids: list[str] | tuple[str, ...] = (),
) -> dict[str, Any]:
    """A new account; `grids` (codes in the current plan) make a grid worker responsible for them."""
    if grids and role != "grid_worker":
        raise InvalidInput("only a grid_worker is given grids", where="grids")
    create_user(session, name, role, actor=actor, password=password, display_name=display_name)
    for code in grids:
        assign_worker(session, name, code, actor=actor)
    return get_user(session, name)


def assign_worker(
    session: Session, username: str, grid_code: str, *, display_name: str | None = None, actor: str = "system"
) -> dict:
    """Make `username` responsible for the current plan's grid `grid_code`. A new name is created as a grid
    worker, which needs `display_name` (what residents see); an existing account takes a given one."""
    plan = current_plan_id(session)
    lineage = session.execute(
        text("SELECT lineage FROM grids WHERE plan_id = :plan AND code = :code"), {"plan": plan, "code": grid_code}
    ).scalar_one_or_none()
    if lineage is None:
        raise NotFound(f"grid {grid_code} is not in the current plan", where="grid")
    user_id = session.execute(text("SELECT id FROM users WHERE username = :u"), {"u": username}).scalar_one_or_none()
    if user_id is None:
        user_id = create_user(session, username, "grid_worker", actor=actor, display_name=display_name)["id"]
    elif display_name is not None:
        change_user(session, username, actor=actor, display_name=display_name)
    session.execute(
        text("INSERT INTO grid_workers (user_id, grid_lineage) VALUES (:u, :l) ON CONFLICT DO NOTHING"),
        {"u": user_id, "l": lineage},
    )
    audit.record(session, actor=actor, action="worker.assign", target=f"user:{username}", after={"grid": grid_code})
    return {"user_id": user_id, "username": username, "grid": grid_code}


def check_in(
    session: Session,
    user_id: int,
    *,
    lon: float,
    lat: float,
    crs: str = "wgs84",
    accuracy_m: float | None = None,
    snap_m: float,
    actor: str,
) -> dict[str, Any]:
    """Record where a worker is, located like an incident (current plan, shared-edge and snap rules)."""
    wgs_lon, wgs_lat = point_to_wgs84(lon, lat, crs, where="location")
    found = locate(session, wgs_lon, wgs_lat, snap_m=snap_m)
    row = session.execute(
        text("""INSERT INTO worker_checkins (user_id, accuracy_m, plan_id, grid_id, location_status, distance_m,
                                             own_grid, location)
                SELECT :user, :accuracy, :plan, g.id, :status, :distance,
                       EXISTS (SELECT 1 FROM grid_workers w WHERE w.user_id = :user AND w.grid_lineage = g.lineage),
                       ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)
                FROM grids g WHERE g.id = :grid
                RETURNING id"""),
        {
            "user": user_id,
            "accuracy": accuracy_m,
            "plan": found["plan_id"],
            "grid": found["grid"]["id"],
            "status": found["status"],
            "distance": found["distance_m"],
            "lon": wgs_lon,
            "lat": wgs_lat,
        },
    ).scalar_one()
    checkin = _checkins(session, "c.id = :id", {"id": row})[0]
    # Where the worker stood stays out of the trail: the grid says enough.
    audit.record(
        session,
        actor=actor,
        action="worker.checkin",
        target=f"user:{actor}",
        after={"checkin": row, "grid": checkin["grid"]["code"], "own_grid": checkin["own_grid"]},
    )
    return checkin | {"community": found["community"], "street": found["street"]}


def list_checkins(session: Session, user_id: int, *, limit: int, offset: int = 0) -> list[dict[str, Any]]:
    """A worker's check-ins, newest first."""
    return _checkins(session, "c.user_id = :user", {"user": user_id}, limit=limit, offset=offset)


def _checkins(
    session: Session, condition: str, params: dict[str, Any], *, limit: int = 1, offset: int = 0
) -> list[dict[str, Any]]:
    rows = session.execute(
        text(f"""SELECT c.id, c.at, c.accuracy_m, c.plan_id, c.location_status AS status, c.distance_m, c.own_grid,
                        ST_X(c.location) AS lon, ST_Y(c.location) AS lat, g.id AS grid_id, g.code AS grid_code,
                        g.name AS grid_name
                 FROM worker_checkins c LEFT JOIN grids g ON g.id = c.grid_id
                 WHERE {condition} ORDER BY c.at DESC, c.id DESC LIMIT :limit OFFSET :offset"""),
        params | {"limit": limit, "offset": offset},
    ).all()
    return [
        {
            "id": r.id,
            "at": r.at.isoformat() if isinstance(r.at, datetime) else r.at,
            "location": {"lon": r.lon, "lat": r.lat},
            "accuracy_m": r.accuracy_m,
            "status": r.status,
            "distance_m": r.distance_m,
            "plan_id": r.plan_id,
            "grid": None if r.grid_id is None else {"id": r.grid_id, "code": r.grid_code, "name": r.grid_name},
            "own_grid": r.own_grid,
        }
        for r in rows
    ]
