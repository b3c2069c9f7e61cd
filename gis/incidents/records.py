"""Incidents: reported with a location, assigned to a grid in the current plan, moved round the handling loop.

Every incident keeps the plan it was assigned against and the areas it landed in at that time; every
report, transition and location correction is an event with actor, time and note. An idempotency key
makes a retried report return the incident it already created (see `report` for its scope). Reporters'
contacts are stored but never returned by these functions' public views.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, func, not_, or_, select, text
from sqlalchemy.orm import Session

from gis import audit
from gis.db.models import STORAGE_SRID, Community, Grid, GridWorker, Incident, IncidentAssignee, Street, User
from gis.errors import Conflict, Forbidden, InvalidInput, NotFound
from gis.geo.coordinates import point_to_wgs84
from gis.incidents.tracking import normalise as normalise_tracking_number
from gis.incidents.uploads import attach_to_incident, incident_photos, kind_of_action
from gis.incidents.workflow import CLOSED_STATES, allowed_actions, deadline, next_state
from gis.locate.addresses import resolve_address
from gis.locate.point import locate
from gis.plans.store import current_plan_id
from gis.registry import incident_categories
from gis.settings import Settings

# Channels that say staff made the report (a grid worker's patrol, a sensor system's integration): statistics and
# dispatch trust them, so the public cannot claim them.
STAFF_CHANNELS = frozenset({"patrol", "sensor"})


@dataclass(frozen=True)
class Place:
    """Where an incident is: coordinates in a named system, or an address / building name."""

    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    address: str | None = None

    def resolve(self, session: Session) -> tuple[float, float, str | None]:
        if self.lon is not None and self.lat is not None:
            lon, lat = point_to_wgs84(self.lon, self.lat, self.crs, where="location")
            return lon, lat, self.address
        if self.address:
            lon, lat, _ = resolve_address(session, self.address)
            return lon, lat, self.address
        raise InvalidInput("location: give lon and lat, or an address", where="location")


# An incident with the areas it was located in and the worker it is dispatched to: i (incidents), g (grids),
# c (communities), s (streets), a (incident_assignees), u (users).
_I, _G, _C, _S, _A, _U = (
    Incident.__table__.alias("i"),
    Grid.__table__.alias("g"),
    Community.__table__.alias("c"),
    Street.__table__.alias("s"),
    IncidentAssignee.__table__.alias("a"),
    User.__table__.alias("u"),
)
_JOINED = (
    _I.outerjoin(_G, _G.c.id == _I.c.grid_id)
    .outerjoin(_C, _C.c.id == _I.c.community_id)
    .outerjoin(_S, _S.c.id == _I.c.street_id)
    .outerjoin(_A, _A.c.incident_id == _I.c.id)
    .outerjoin(_U, _U.c.id == _A.c.user_id)
)
_OVERDUE = and_(_I.c.deadline_at.is_not(None), _I.c.deadline_at < func.now())
_PUBLIC_COLUMNS = (
    *(_I.c[name] for name in ("id", "category", "description", "status", "channel", "department", "address",
                              "photo_url", "reported_at", "state_entered_at", "deadline_at", "closed_at", "plan_id",
                              "location_status", "distance_m", "duplicate_of")),
    _G.c.id.label("grid_id"),
    _G.c.code.label("grid_code"),
    _C.c.code.label("community_code"),
    _C.c.name.label("community_name"),
    _S.c.code.label("street_code"),
    _S.c.name.label("street_name"),
    _I.c.tracking_number,
    _U.c.id.label("assignee_id"),
    func.coalesce(_U.c.display_name, _U.c.username).label("assignee_name"),
    func.ST_X(_I.c.location).label("lon"),
    func.ST_Y(_I.c.location).label("lat"),
    _OVERDUE.label("overdue"),
)  # fmt: skip


def _category(code: str) -> Any:
    categories = incident_categories()
    if code not in categories:
        raise InvalidInput(f"category {code!r} is unknown; categories are: {', '.join(categories)}", where="category")
    return categories[code]


def log_event(
    session: Session,
    incident_id: int,
    actor: str,
    action: str,
    before: str | None,
    after: str | None,
    note: str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    audit.record(
        session,
        actor=actor,
        action=f"incident.{action}",
        target=f"incident:{incident_id}",
        before={"status": before} if before else None,
        after={"status": after, "note": note, **(details or {})},
    )
    session.execute(
        text("""INSERT INTO incident_events (incident_id, actor, action, from_status, to_status, note, details)
                VALUES (:id, :actor, :action, :before, :after, :note, CAST(:details AS jsonb))"""),
        {
            "id": incident_id,
            "actor": actor,
            "action": action,
            "before": before,
            "after": after,
            "note": note,
            "details": json.dumps(details, ensure_ascii=False, default=str) if details else None,
        },
    )


def _assignment(session: Session, lon: float, lat: float, settings: Settings) -> dict[str, Any]:
    found = locate(session, lon, lat, snap_m=settings.locate_snap_m)
    return {
        "plan_id": found["plan_id"],
        "grid_id": found["grid"]["id"],
        "community_id": (found["community"] or {}).get("id"),
        "street_id": (found["street"] or {}).get("id"),
        "location_status": found["status"],
        "distance_m": found["distance_m"],
        "located": found,
    }


def report(
    session: Session,
    *,
    category: str,
    place: Place,
    settings: Settings,
    description: str | None = None,
    channel: str | None = None,
    reporter_contact: str | None = None,
    photo_url: str | None = None,
    photos: list[str] | None = None,
    idempotency_key: str | None = None,
    client: str = "public",
    actor: str = "public",
    staff: bool = False,
) -> tuple[dict[str, Any], bool]:
    """Create an incident (or return the one this idempotency key already made); returns (incident, created).

    `staff`: a signed-in account reports; only staff may claim a channel of STAFF_CHANNELS (403 otherwise).

    An idempotency key belongs to its client: `client` names who sends the report (the API passes
    "user:<id>" for a token's account and "address:<ip>" for the public), and the key is stored as
    sha256(client, key), so one client's key never answers another client with its incident, and the
    client's address is not kept. The same key from the same client with the same report (`request_digest`)
    returns the first incident; with a different report it is a 409 naming `Idempotency-Key`, not a replay
    of the first. Exactly once per key, also under concurrent retries: a request that misses the first
    lookup because the key's row is not committed yet waits on the unique index in the INSERT, then answers
    from that row the same way."""
    if channel is not None and channel.strip().lower() in STAFF_CHANNELS and not staff:
        raise Forbidden(
            f"channel: {channel!r} is for reports by staff ({', '.join(sorted(STAFF_CHANNELS))}); "
            "sign in, or leave channel out",
            where="channel",
        )
    if not (idempotency_key or "").strip():
        # An empty header is no key: stored as '' it would answer every later empty-key report with the
        # first one (someone else's incident) and store nothing.
        idempotency_key = None
    key = scoped_key(client, idempotency_key) if idempotency_key else None
    digest = request_digest(
        category=category,
        place=place,
        description=description,
        channel=channel,
        reporter_contact=reporter_contact,
        photo_url=photo_url,
        photos=photos,
    )
    if key:
        existing = _by_key(session, key)
        if existing is not None:
            return _replay(session, existing, digest, settings), False
    kind = _category(category)
    lon, lat, address = place.resolve(session)
    assignment = _assignment(session, lon, lat, settings)
    now = session.execute(text("SELECT now()")).scalar_one()
    due = deadline("reported", now, kind.limits_hours)
    incident_id = session.execute(
        text("""
        INSERT INTO incidents (category, description, status, channel, reporter_contact, photo_url, address,
                               department, reported_at, state_entered_at, deadline_at, grid_id, plan_id,
                               community_id, street_id, location_status, distance_m, idempotency_key,
                               idempotency_request, location)
        VALUES (:category, :description, 'reported', :channel, :contact, :photo, :address, :department, :now,
                :now, :due, :grid_id, :plan_id, :community_id, :street_id, :location_status, :distance_m, :key,
                :digest, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326))
        ON CONFLICT (idempotency_key) DO NOTHING
        RETURNING id"""),
        {
            "category": category,
            "description": description,
            "channel": channel,
            "contact": reporter_contact,
            "photo": photo_url,
            "address": address,
            "department": kind.department,
            "now": now,
            "due": due,
            "key": key,
            "digest": digest if key else None,
            "lon": lon,
            "lat": lat,
            **{k: v for k, v in assignment.items() if k != "located"},
        },
    ).scalar_one_or_none()
    if incident_id is None:
        # A concurrent request with this key inserted first: ON CONFLICT waited until it committed (had it
        # rolled back, our row would have gone in), and under READ COMMITTED this next statement sees it.
        winner = session.execute(text("SELECT id FROM incidents WHERE idempotency_key = :k"), {"k": key}).scalar_one()
        return _replay(session, winner, digest, settings), False
    log_event(session, incident_id, actor, "report", None, "reported", details={"channel": channel})
    attach_to_incident(session, incident_id, photos, kind="report", client=client, actor=actor)
    return _answer(session, incident_id, settings, workers=assignment["located"]["workers"]), True


def scoped_key(client: str, key: str) -> str:
    """The stored form of `client`'s Idempotency-Key `key`: 64 hex digits, whatever the key's length."""
    return hashlib.sha256(json.dumps([client, key]).encode()).hexdigest()


def request_digest(
    *,
    category: str,
    place: Place,
    description: str | None,
    channel: str | None,
    reporter_contact: str | None,
    photo_url: str | None,
    photos: list[str] | None = None,
) -> str:
    """sha256 of the report as the service reads it: the same report however its JSON was spelled (key order,
    spacing, `1` or `1.0`), a different one whenever any field the incident is made from differs."""
    canonical = {
        "category": category,
        "place": [place.lon, place.lat, place.crs, place.address],
        "description": description,
        "channel": channel,
        "reporter_contact": reporter_contact,
        "photo_url": photo_url,
        # Only when given: the digests of reports without photos stay what they were before photos existed.
        **({"photos": photos} if photos else {}),
    }
    return hashlib.sha256(json.dumps(canonical, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _by_key(session: Session, key: str) -> int | None:
    return session.execute(text("SELECT id FROM incidents WHERE idempotency_key = :k"), {"k": key}).scalar_one_or_none()


def _replay(session: Session, incident_id: int, digest: str, settings: Settings) -> dict[str, Any]:
    """The answer to a retry with a used key: the first incident if the report is the same, else a 409.

    Incidents stored before keys were scoped have no digest: they answer as before, with the first incident."""
    stored = session.execute(
        text("SELECT idempotency_request FROM incidents WHERE id = :id"), {"id": incident_id}
    ).scalar_one()
    if stored is not None and stored != digest:
        raise Conflict(
            "Idempotency-Key: this key was already used for a different report; send a new key with each "
            "new report (the same key only to retry the same report)",
            where="Idempotency-Key",
        )
    return _answer(session, incident_id, settings)


def _answer(
    session: Session, incident_id: int, settings: Settings, workers: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The answer to a report, shaped the same for a replay as for the first request: a client retrying
    after a lost response must find the fields it would have read in the original."""
    incident = get_incident(session, incident_id, settings=settings)
    incident["possible_duplicates"] = possible_duplicates(session, incident_id, settings)
    if workers is None:  # the workers of the grid it was assigned to, as locating it then answered
        workers = session.execute(
            text("""SELECT COALESCE(json_agg(json_build_object('id', u.id, 'name', COALESCE(u.display_name,
                           u.username)) ORDER BY u.id), '[]'::json)
                    FROM incidents i JOIN grids g ON g.id = i.grid_id
                    JOIN grid_workers w ON w.grid_lineage = g.lineage JOIN users u ON u.id = w.user_id
                    WHERE i.id = :id"""),
            {"id": incident_id},
        ).scalar_one()
    incident["workers"] = workers
    return incident


def possible_duplicates(session: Session, incident_id: int, settings: Settings) -> list[dict[str, Any]]:
    """Open incidents of the same category nearby and recent (configurable radius and window)."""
    rows = session.execute(
        text("""
        SELECT o.id, o.status, o.reported_at, ST_Distance(o.location::geography, i.location::geography) AS distance_m
        FROM incidents i JOIN incidents o ON o.id <> i.id AND o.category = i.category
          AND o.status <> ALL(:closed)
          AND o.reported_at >= i.reported_at - make_interval(secs => :window)
          AND ST_DWithin(o.location::geography, i.location::geography, :radius)
        WHERE i.id = :id ORDER BY distance_m, o.id LIMIT 20"""),
        {
            "id": incident_id,
            "radius": settings.duplicate_radius_m,
            "window": settings.duplicate_window_h * 3600,
            "closed": sorted(CLOSED_STATES),
        },
    ).all()
    return [
        {"id": r.id, "status": r.status, "reported_at": r.reported_at.isoformat(), "distance_m": round(r.distance_m, 1)}
        for r in rows
    ]


def _lock(session: Session, incident_id: int) -> Any:
    row = session.execute(
        text("SELECT id, status, category FROM incidents WHERE id = :id FOR UPDATE"), {"id": incident_id}
    ).first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist", where="id")
    return row


def transition(
    session: Session,
    incident_id: int,
    *,
    action: str,
    actor: str,
    settings: Settings,
    note: str | None = None,
    duplicate_of: int | None = None,
    photos: list[str] | None = None,
    client: str = "public",
    department: str | None = None,
    worker: int | None = None,
) -> dict[str, Any]:
    """Move the incident by `action`; anything the loop does not allow is a 409 and changes nothing. `photos`:
    uploads of `client` (its scope, as for reports) attached with the step's note. `department` and `worker`
    (a grid worker's user id): where a dispatch sends the incident (the department defaults to the category's)."""
    if action != "dispatch":
        for field, value in (("department", department), ("worker", worker)):
            if value is not None:
                raise InvalidInput(f"{field}: only dispatch sends an incident to a department or a worker", where=field)
    row = _lock(session, incident_id)
    target = next_state(row.status, action, note)
    targets = _dispatch_targets(session, department, worker) if action == "dispatch" else {}
    if target == "duplicate":
        if duplicate_of is None or duplicate_of == incident_id:
            raise InvalidInput(
                "mark_duplicate needs duplicate_of: the id of the original incident", where="duplicate_of"
            )
        if not session.execute(text("SELECT 1 FROM incidents WHERE id = :id"), {"id": duplicate_of}).first():
            raise NotFound(f"incident {duplicate_of} does not exist", where="duplicate_of")
    now = session.execute(text("SELECT now()")).scalar_one()
    due = deadline(target, now, _category(row.category).limits_hours)
    session.execute(
        text("""UPDATE incidents SET status = :target, state_entered_at = :now, deadline_at = :due,
                       closed_at = CASE WHEN :closed THEN :now ELSE NULL END,
                       duplicate_of = COALESCE(:duplicate_of, duplicate_of)
                WHERE id = :id"""),
        {
            "target": target,
            "now": now,
            "due": due,
            "closed": target in CLOSED_STATES,
            "id": incident_id,
            "duplicate_of": duplicate_of,
        },
    )
    if targets:
        _assign(session, incident_id, targets, actor)
    details = {"duplicate_of": duplicate_of} if duplicate_of else {}
    log_event(session, incident_id, actor, action, row.status, target, note, {**details, **targets} or None)
    attach_to_incident(session, incident_id, photos, kind=kind_of_action(action), client=client, actor=actor)
    return get_incident(session, incident_id, settings=settings)


# Where a reassignment may change the department or worker: after dispatch and before the work is reported done.
REASSIGNABLE = frozenset({"dispatched", "in_progress"})


def departments() -> list[str]:
    """The departments incidents are dispatched to: those of the category registry, in its order."""
    return list(dict.fromkeys(kind.department for kind in incident_categories().values()))


def _dispatch_targets(session: Session, department: str | None, worker: int | None) -> dict[str, Any]:
    """The checked department and worker of a dispatch, as stored in the event's details (only those given)."""
    found: dict[str, Any] = {}
    if department is not None:
        known = departments()
        if department not in known:
            raise InvalidInput(
                f"department: {department!r} is not a department; departments are: {', '.join(known)}",
                where="department",
            )
        found["department"] = department
    if worker is not None:
        user = session.execute(
            text("SELECT COALESCE(display_name, username) AS name FROM users "
                 "WHERE id = :id AND role = 'grid_worker' AND active"),
            {"id": worker},
        ).first() if -(2**31) <= worker < 2**31 else None  # fmt: skip
        if user is None:
            raise InvalidInput(f"worker: user {worker} is not an active grid worker", where="worker")
        found["worker"] = {"id": worker, "name": user.name}
    return found


def _assign(session: Session, incident_id: int, targets: dict[str, Any], actor: str) -> None:
    if "department" in targets:
        session.execute(
            text("UPDATE incidents SET department = :department WHERE id = :id"),
            {"department": targets["department"], "id": incident_id},
        )
    if "worker" in targets:
        session.execute(
            text("""INSERT INTO incident_assignees (incident_id, user_id, assigned_at, assigned_by)
                    VALUES (:id, :user, now(), :actor)
                    ON CONFLICT (incident_id) DO UPDATE
                    SET user_id = EXCLUDED.user_id, assigned_at = EXCLUDED.assigned_at,
                        assigned_by = EXCLUDED.assigned_by"""),
            {"id": incident_id, "user": targets["worker"]["id"], "actor": actor},
        )


def reassign(
    session: Session,
    incident_id: int,
    *,
    actor: str,
    settings: Settings,
    department: str | None = None,
    worker: int | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """Send a dispatched incident to another department and/or worker (改派); its status and deadline stay.
    Logged as a `reassign` event with the new targets."""
    if department is None and worker is None:
        raise InvalidInput("department: give a department or a worker to reassign to", where="department")
    row = _lock(session, incident_id)
    if row.status not in REASSIGNABLE:
        raise Conflict(
            f"cannot reassign an incident that is {row.status}; only dispatched or in_progress ones",
            where="status",
        )
    targets = _dispatch_targets(session, department, worker)
    _assign(session, incident_id, targets, actor)
    log_event(session, incident_id, actor, "reassign", row.status, row.status, note, targets)
    return get_incident(session, incident_id, settings=settings)


def dispatch_options(session: Session, incident_id: int) -> dict[str, Any]:
    """What a dispatch of the incident may name: the departments (the category's first) and the active grid
    workers, those of the incident's grid (by lineage) first, then by name."""
    row = session.execute(
        text("""SELECT i.category, i.department, g.lineage FROM incidents i LEFT JOIN grids g ON g.id = i.grid_id
                WHERE i.id = :id"""),
        {"id": incident_id},
    ).first() if -(2**63) <= incident_id < 2**63 else None  # fmt: skip
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist", where="id")
    first = row.department or _category(row.category).department
    workers = session.execute(
        text("""
        SELECT u.id, COALESCE(u.display_name, u.username) AS name,
               COALESCE(bool_or(w.grid_lineage = :lineage), false) AS in_grid,
               COALESCE(array_agg(DISTINCT g.code) FILTER (WHERE g.code IS NOT NULL), '{}') AS grids
        FROM users u
        LEFT JOIN grid_workers w ON w.user_id = u.id
        LEFT JOIN grids g ON g.lineage = w.grid_lineage
             AND g.plan_id = :plan
        WHERE u.role = 'grid_worker' AND u.active
        GROUP BY u.id ORDER BY in_grid DESC, name, u.id"""),
        {"lineage": row.lineage, "plan": current_plan_id(session)},
    ).all()
    return {
        "department": first,
        "departments": [first, *(d for d in departments() if d != first)],
        "workers": [{"id": w.id, "name": w.name, "in_grid": w.in_grid, "grids": sorted(w.grids)} for w in workers],
    }


def relocate(
    session: Session, incident_id: int, *, place: Place, actor: str, settings: Settings, note: str | None = None
) -> dict[str, Any]:
    """Correct the location: re-assign against the current plan and log where it was and where it is now."""
    row = _lock(session, incident_id)
    before = session.execute(
        text("SELECT ST_X(location) AS lon, ST_Y(location) AS lat, grid_id, plan_id FROM incidents WHERE id = :id"),
        {"id": incident_id},
    ).one()
    lon, lat, address = place.resolve(session)
    assignment = _assignment(session, lon, lat, settings)
    session.execute(
        text("""UPDATE incidents SET location = ST_SetSRID(ST_MakePoint(:lon, :lat), 4326),
                       address = COALESCE(:address, address), grid_id = :grid_id, plan_id = :plan_id,
                       community_id = :community_id, street_id = :street_id, location_status = :location_status,
                       distance_m = :distance_m
                WHERE id = :id"""),
        {
            "lon": lon,
            "lat": lat,
            "address": address,
            "id": incident_id,
            **{k: v for k, v in assignment.items() if k != "located"},
        },
    )
    log_event(
        session,
        incident_id,
        actor,
        "relocate",
        row.status,
        row.status,
        note,
        {
            "before": {"lon": before.lon, "lat": before.lat, "grid_id": before.grid_id, "plan_id": before.plan_id},
            "after": {"lon": lon, "lat": lat, "grid_id": assignment["grid_id"], "plan_id": assignment["plan_id"]},
        },
    )
    return get_incident(session, incident_id, settings=settings)


def _public(row: Any) -> dict[str, Any]:
    incident = dict(row._mapping)
    for key, value in incident.items():
        if isinstance(value, datetime):
            incident[key] = value.isoformat()
    incident["allowed_actions"] = allowed_actions(incident["status"])
    return incident


def _incidents(contact: bool) -> Select[Any]:
    """Incidents with their areas; the reporter's contact is read only for callers that may show it
    (gis.incidents.privacy decides who)."""
    columns = (*_PUBLIC_COLUMNS, _I.c.reporter_contact) if contact else _PUBLIC_COLUMNS
    return select(*columns).select_from(_JOINED)


def get_incident(
    session: Session, incident_id: int, *, settings: Settings | None = None, contact: bool = False
) -> dict[str, Any]:
    """One incident with its history (the reporter's contact only with `contact`)."""
    # An id beyond bigint names no incident (binding it as bigint would fail in the database instead).
    in_range = -(2**63) <= incident_id < 2**63
    row = session.execute(_incidents(contact).where(_I.c.id == incident_id)).first() if in_range else None
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist", where="id")
    incident = _public(row)
    incident["history"] = [
        {**dict(e._mapping), "at": e.at.isoformat()}
        for e in session.execute(
            text("""SELECT at, actor, action, from_status, to_status, note, details FROM incident_events
                    WHERE incident_id = :id ORDER BY id"""),
            {"id": incident_id},
        )
    ]
    incident["photos"] = incident_photos(session, incident_id)  # only staff and dispatch models declare them
    return incident


@dataclass(frozen=True)
class IncidentFilter:
    status: str | None = None
    category: str | None = None
    grid: str | None = None  # grid code
    community: str | None = None  # community code
    street: str | None = None  # street code
    overdue: bool | None = None
    bbox: tuple[float, float, float, float] | None = None
    since: datetime | None = None
    until: datetime | None = None
    worker_id: int | None = None  # only incidents in this grid worker's grids (by lineage)
    channel: str | None = None
    department: str | None = None
    assignee_id: int | None = None  # dispatched to this grid worker
    tracking_number: str | None = None  # as residents write it: case, spaces and dashes do not matter
    q: str | None = None  # search: the id, the tracking number, or text in the description or address

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = [
            column == value
            for column, value in (
                (_I.c.status, self.status),
                (_I.c.category, self.category),
                (_G.c.code, self.grid),
                (_C.c.code, self.community),
                (_S.c.code, self.street),
                (_I.c.channel, self.channel),
                (_I.c.department, self.department),
                (_A.c.user_id, self.assignee_id),
            )
            if value is not None
        ]
        if self.tracking_number is not None:
            # A malformed number matches nothing (normalise gives None), like an unknown one.
            found.append(_I.c.tracking_number == normalise_tracking_number(self.tracking_number))
        if self.q is not None and self.q.strip():
            found.append(_search(self.q.strip()))
        if self.overdue is not None:
            found.append(_OVERDUE if self.overdue else not_(_OVERDUE))
        if self.bbox is not None:
            found.append(func.ST_Intersects(_I.c.location, func.ST_MakeEnvelope(*self.bbox, STORAGE_SRID)))
        if self.since is not None:
            found.append(_I.c.reported_at >= self.since)
        if self.until is not None:
            found.append(_I.c.reported_at < self.until)
        if self.worker_id is not None:
            workers = GridWorker.__table__
            found.append(exists().where(workers.c.user_id == self.worker_id, workers.c.grid_lineage == _G.c.lineage))
        return found


def _search(q: str) -> ColumnElement[bool]:
    """The dispatcher's search box: an incident id ("123" or "#123"), a tracking number, or words in the
    description or address (LIKE wildcards in `q` are taken literally)."""
    pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    found: list[ColumnElement[bool]] = [
        _I.c.description.ilike(pattern, escape="\\"),
        _I.c.address.ilike(pattern, escape="\\"),
    ]
    number = q.removeprefix("#")
    if number.isascii() and number.isdigit() and len(number) <= 18:
        found.append(_I.c.id == int(number))
    tracking_number = normalise_tracking_number(q)
    if tracking_number is not None:
        found.append(_I.c.tracking_number == tracking_number)
    return or_(*found)


# Orders of a list: newest first (the default), or the nearest deadline first (the dispatcher's queue; incidents
# without a deadline — finished ones — last, newest first among them).
ORDERS = {
    "newest": (_I.c.reported_at.desc(), _I.c.id.desc()),
    "deadline": (_I.c.deadline_at.asc().nulls_last(), _I.c.reported_at.desc(), _I.c.id.desc()),
}


def list_incidents(
    session: Session,
    where: IncidentFilter,
    *,
    limit: int,
    offset: int,
    contact: bool = False,
    order: str = "newest",
) -> dict[str, Any]:
    """A page of incidents as GeoJSON in `order` (ORDERS), with numberMatched (contacts only with `contact`)."""
    if order not in ORDERS:
        raise InvalidInput(f"sort: {order!r} is not an order; orders are: {', '.join(ORDERS)}", where="sort")
    conditions = where.conditions()
    matched = session.execute(select(func.count()).select_from(_JOINED).where(*conditions)).scalar_one()
    rows = session.execute(
        _incidents(contact).where(*conditions).order_by(*ORDERS[order]).limit(limit).offset(offset)
    ).all()
    features = []
    for row in rows:
        props = _public(row)
        lon, lat = props.pop("lon"), props.pop("lat")
        features.append(
            {
                "type": "Feature",
                "id": props["id"],
                "properties": props,
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
            }
        )
    return {
        "type": "FeatureCollection",
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }
