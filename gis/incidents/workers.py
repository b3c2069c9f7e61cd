"""Grid workers (网格员): staff responsible for grids, attached to a grid's lineage so they follow it across plans."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import audit
from gis.auth.users import change_user, create_user, get_user
from gis.errors import Conflict, InvalidInput, NotFound
from gis.geo.coordinates import point_to_wgs84
from gis.incidents.records import scoped_key
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
    idempotency_key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Record where a worker is, located like an incident (current plan, shared-edge and snap rules); returns
    (check-in, created).

    The field app queues check-ins made offline and retries them: an Idempotency-Key (scoped to the account, like
    a report's) makes a retry answer with the check-in it already made; the same key with another check-in is a
    409. Concurrent retries wait on the key's primary key, so one check-in is made."""
    key = scoped_key(f"user:{user_id}", idempotency_key) if idempotency_key and idempotency_key.strip() else None
    digest = hashlib.sha256(json.dumps([lon, lat, crs, accuracy_m]).encode()).hexdigest()
    if key is not None:
        # Claimed first (no check-in yet): a concurrent retry blocks here until this transaction ends.
        claimed = session.execute(
            text("""INSERT INTO worker_checkin_keys (key, checkin_id, request) VALUES (:key, NULL, :digest)
                    ON CONFLICT (key) DO NOTHING RETURNING key"""),
            {"key": key, "digest": digest},
        ).first()
        if claimed is None:
            return _replay_checkin(session, key, digest), False
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
    if key is not None:
        session.execute(
            text("UPDATE worker_checkin_keys SET checkin_id = :id WHERE key = :key"), {"id": row, "key": key}
        )
    checkin = _checkins(session, "c.id = :id", {"id": row})[0]
    # Where the worker stood stays out of the trail: the grid says enough.
    audit.record(
        session,
        actor=actor,
        action="worker.checkin",
        target=f"user:{actor}",
        after={"checkin": row, "grid": checkin["grid"]["code"], "own_grid": checkin["own_grid"]},
    )
    return checkin | {"community": found["community"], "street": found["street"]}, True


def _replay_checkin(session: Session, key: str, digest: str) -> dict[str, Any]:
    """The check-in a used key made, as its first answer had it (community and street included)."""
    row = session.execute(
        text("SELECT checkin_id, request FROM worker_checkin_keys WHERE key = :key"), {"key": key}
    ).one()
    if row.request != digest:
        raise Conflict(
            "Idempotency-Key: this key was already used for a different check-in; send a new key with each check-in",
            where="Idempotency-Key",
        )
    checkin = _checkins(session, "c.id = :id", {"id": row.checkin_id})[0]
    found = session.execute(
        text("""SELECT cm.id AS c_id, cm.code AS c_code, cm.name AS c_name, st.id AS s_id, st.code AS s_code,
                       st.name AS s_name
                FROM worker_checkins c LEFT JOIN grids g ON g.id = c.grid_id
                LEFT JOIN communities cm ON cm.id = g.community_id LEFT JOIN streets st ON st.id = cm.street_id
                WHERE c.id = :id"""),
        {"id": row.checkin_id},
    ).one()
    community = None if found.c_id is None else {"id": found.c_id, "code": found.c_code, "name": found.c_name}
    street = None if found.s_id is None else {"id": found.s_id, "code": found.s_code, "name": found.s_name}
    return checkin | {"community": community, "street": street}


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


def my_grids(session: Session, user_id: int) -> dict[str, Any]:
    """The worker's grids in the current plan (by lineage) as a GeoJSON FeatureCollection: what the field app
    draws and keeps offline."""
    rows = session.execute(
        text("""SELECT g.id, g.code, g.name, g.households, g.buildings, g.population,
                       ST_AsGeoJSON(g.geom, 7)::json AS geometry
                FROM grids g JOIN grid_workers w ON w.grid_lineage = g.lineage AND w.user_id = :user
                WHERE g.plan_id = :plan ORDER BY g.code"""),
        {"user": user_id, "plan": current_plan_id(session)},
    ).all()
    features = [
        {
            "type": "Feature",
            "id": r.id,
            "properties": {
                "id": r.id,
                "code": r.code,
                "name": r.name,
                "households": r.households,
                "buildings": r.buildings,
                "population": r.population,
            },
            "geometry": r.geometry,
        }
        for r in rows
    ]
    return {"type": "FeatureCollection", "features": features}
