"""Field visits (入户走访): what a grid worker observed at a building, pending until a planner decides.

A grid worker records a visit at a building of their own grid (in the published plan, by grid lineage) — an admin
may record one anywhere. The visit changes nothing yet: a planner (or admin) approves it, which applies the
observed values as a new version of the building through the change pipeline (gis/basedata/changes.py) in one
batch of kind `visit`, or rejects it, which leaves the building as it was. Notes may name residents: they stay
with staff, and out of the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import BigInteger, func, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from gis import audit
from gis.auth import access
from gis.auth.users import Principal
from gis.basedata.batches import batch
from gis.db.models import BUILDINGS_HISTORY, Building, BuildingVisit
from gis.errors import Conflict, Forbidden, GridmapError, InvalidInput, NotFound
from gis.geo.coordinates import point_to_wgs84
from gis.incidents.uploads import attach_to_visit, visit_photos
from gis.plans.store import current_plan_id
from gis.settings import Settings

OBSERVED = ("households", "population_resident", "population_registered", "population_floating")
RECORDERS = frozenset({"grid_worker", "admin"})  # who may record a visit (a worker: in their own grids only)
DECIDERS = access.PLANNING  # who approves or rejects one
READERS = access.PLANNING | access.GRID_WORKER  # who lists visits (a worker: their own)
Status = Literal["pending", "approved", "rejected"]
CLOCK_SKEW = timedelta(minutes=5)  # a phone's clock may run this far ahead of the server's

_V = BuildingVisit.__table__


@dataclass(frozen=True)
class Observation:
    """What a visit saw; None: not observed (the building keeps its value)."""

    households: int | None = None
    population_resident: int | None = None
    population_registered: int | None = None
    population_floating: int | None = None
    note: str | None = None
    visited_at: datetime | None = None  # None: now
    lon: float | None = None
    lat: float | None = None
    crs: str = "wgs84"
    accuracy_m: float | None = None

    def values(self) -> dict[str, int]:
        """The observed values, by building column: only those the worker gave."""
        return {name: value for name in OBSERVED if (value := getattr(self, name)) is not None}


def worker_holds_building(session: Session, user_id: int, building_id: int) -> bool:
    """Whether the building lies in one of the worker's grids of the published plan (unit → assignment → grid)."""
    return bool(
        session.execute(
            text("""SELECT EXISTS (
                        SELECT 1 FROM buildings b
                        JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = :plan
                        JOIN grids g ON g.id = a.grid_id
                        JOIN grid_workers w ON w.grid_lineage = g.lineage AND w.user_id = :user
                        WHERE b.id = :building)"""),
            {"plan": current_plan_id(session), "user": user_id, "building": building_id},
        ).scalar_one()
    )


def record_visit(
    session: Session,
    who: Principal,
    building_id: int,
    observed: Observation,
    *,
    idempotency_key: str | None = None,
    photos: list[str] | None = None,
    client: str = "public",
) -> tuple[dict[str, Any], bool]:
    """Record a pending visit (or return the one this idempotency key already made); returns (visit, created).
    `photos`: uploads of `client` (gis/incidents/uploads.py) attached to it.

    Exactly once per key, also under concurrent retries (the unique index decides, as for incident reports).
    A key already used for another building or by another user is a conflict, never someone else's visit."""
    access.require(who, RECORDERS, "recording a field visit")
    key = (idempotency_key or "").strip() or None  # an empty header is no key
    if key is not None:
        replayed = _replay(session, who, building_id, key)
        if replayed is not None:
            return replayed, False
    if session.execute(select(Building.id).where(Building.id == literal(building_id, BigInteger))).first() is None:
        raise NotFound(f"building {building_id} is not a current building (retired or unknown)", where="id")
    if who.role == "grid_worker" and not worker_holds_building(session, who.user_id, building_id):
        raise Forbidden(f"building {building_id} is not in {who.name}'s grids", where="id")
    now = session.execute(select(func.clock_timestamp())).scalar_one()
    visited_at = _visited_at(observed.visited_at, now)
    location = None
    if observed.lon is not None and observed.lat is not None:
        lon, lat = point_to_wgs84(observed.lon, observed.lat, observed.crs, where="location")
        location = func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326)
    elif (observed.lon is None) != (observed.lat is None):
        raise InvalidInput("location: give both lon and lat, or neither", where="location")
    values = observed.values()
    statement = insert(BuildingVisit).values(
        building_id=building_id,
        user_id=who.user_id,
        actor=who.name,
        at=visited_at,
        recorded_at=now,
        note=observed.note,
        accuracy_m=observed.accuracy_m,
        idempotency_key=key,
        location=location,
        **values,
    )
    if key is not None:
        statement = statement.on_conflict_do_nothing(index_elements=["idempotency_key"])
    visit_id = session.execute(statement.returning(_V.c.id)).scalar_one_or_none()
    if visit_id is None:
        # A concurrent request with this key inserted first and has committed (ON CONFLICT waited for it).
        winner = _replay(session, who, building_id, key or "")
        assert winner is not None
        return winner, False
    # What was observed goes into the trail; the note and the place (personal data) do not.
    audit.record(
        session,
        actor=who.name,
        action="visit.record",
        target=f"building:{building_id}",
        after={"visit": visit_id, "observed": values, "visited_at": visited_at.isoformat()},
    )
    attach_to_visit(session, visit_id, photos, client=client, actor=who.name)
    return get_visit(session, visit_id), True


def _replay(session: Session, who: Principal, building_id: int, key: str) -> dict[str, Any] | None:
    found = session.execute(select(_V.c.id, _V.c.building_id, _V.c.user_id).where(_V.c.idempotency_key == key)).first()
    if found is None:
        return None
    if found.building_id != building_id or found.user_id != who.user_id:
        raise Conflict(
            "Idempotency-Key: this key was already used for another visit; use a new key per visit",
            where="Idempotency-Key",
        )
    return get_visit(session, found.id)


def _visited_at(value: datetime | None, now: datetime) -> datetime:
    if value is None:
        return now
    try:
        visited = value if value.tzinfo else value.astimezone()  # no offset: the server's local time
    except (OverflowError, ValueError, OSError):  # beyond what the platform's local-time conversion handles
        raise InvalidInput(f"visited_at: {value.isoformat()} is out of range", where="visited_at") from None
    if visited > now + CLOCK_SKEW:
        raise InvalidInput(f"visited_at: {visited.isoformat()} is in the future", where="visited_at")
    return visited


def get_visit(session: Session, visit_id: int, who: Principal | None = None) -> dict[str, Any]:
    """One visit (with the building version its approval made); `who`, when given, must be allowed to read it."""
    if who is not None:
        access.require(who, READERS, "reading field visits")
    found = _visits(session, [_V.c.id == literal(visit_id, BigInteger)], limit=1, offset=0)
    if not found or (who is not None and who.role == "grid_worker" and found[0]["user_id"] != who.user_id):
        # A worker is told nothing about other workers' visits, not even that they exist.
        raise NotFound(f"visit {visit_id} does not exist", where="id")
    return found[0]


def may_read(session: Session, who: Principal, visit_id: int) -> bool:
    """Whether `who` may read the visit (and so its photos): the rule of `get_visit`."""
    try:
        get_visit(session, visit_id, who)
    except GridmapError:  # 401/403 for roles that read no visits, 404 for another worker's
        return False
    return True


def list_visits(
    session: Session,
    who: Principal,
    *,
    status: Status | None = None,
    building_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Visits newest first: every visit for planners and admins, a grid worker's own for a grid worker."""
    access.require(who, READERS, "reading field visits")
    conditions = [
        *([_V.c.status == status] if status is not None else []),
        *([_V.c.building_id == literal(building_id, BigInteger)] if building_id is not None else []),
        *([_V.c.user_id == who.user_id] if who.role == "grid_worker" else []),
    ]
    matched = session.execute(select(func.count()).select_from(_V).where(*conditions)).scalar_one()
    return {"matched": matched, "visits": _visits(session, conditions, limit=limit, offset=offset)}


def _visits(session: Session, conditions: list[Any], *, limit: int, offset: int) -> list[dict[str, Any]]:
    h = BUILDINGS_HISTORY
    version = (
        select(h.c.version)
        .where(h.c.id == _V.c.building_id, h.c.batch_id == _V.c.batch_id)
        .order_by(h.c.version.desc())
        .limit(1)
        .scalar_subquery()
    )
    statement = (
        select(
            _V.c.id,
            _V.c.building_id,
            _V.c.user_id,
            _V.c.actor,
            _V.c.at,
            _V.c.recorded_at,
            *(_V.c[name] for name in OBSERVED),
            _V.c.note,
            func.ST_X(_V.c.location).label("lon"),
            func.ST_Y(_V.c.location).label("lat"),
            _V.c.accuracy_m,
            _V.c.status,
            _V.c.decided_by,
            _V.c.decided_at,
            _V.c.decision_note,
            _V.c.batch_id,
            version.label("version"),
        )
        .where(*conditions)
        .order_by(_V.c.recorded_at.desc(), _V.c.id.desc())
        .limit(literal(limit, BigInteger))
        .offset(literal(offset, BigInteger))
    )
    found = [_visit(dict(r)) for r in session.execute(statement).mappings()]
    photos = visit_photos(session, [v["id"] for v in found])
    return [v | {"photos": [{"id": i} for i in photos.get(v["id"], [])]} for v in found]


def _visit(row: dict[str, Any]) -> dict[str, Any]:
    lon, lat = row.pop("lon"), row.pop("lat")
    return row | {
        "at": row["at"].isoformat(),
        "recorded_at": row["recorded_at"].isoformat(),
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] is not None else None,
        "observed": {name: row.pop(name) for name in OBSERVED},
        "location": None if lon is None else {"lon": lon, "lat": lat},
    }


def _pending(session: Session, visit_id: int) -> Any:
    """The visit's row, locked until the transaction ends (two deciders take turns), when it is still pending."""
    row = session.execute(select(_V).where(_V.c.id == literal(visit_id, BigInteger)).with_for_update()).first()
    if row is None:
        raise NotFound(f"visit {visit_id} does not exist", where="id")
    if row.status != "pending":
        raise Conflict(f"visit {visit_id} is already {row.status}: only a pending visit is decided", where="status")
    return row


def approve_visit(
    session: Session, settings: Settings, who: Principal, visit_id: int, *, note: str | None = None
) -> dict[str, Any]:
    """Apply the visit's observed values as a new version of its building (one batch of kind `visit`, with every
    consequence of a change: grid totals, drift, coverage) and mark it approved, in the caller's transaction."""
    access.require(who, DECIDERS, "deciding on field visits")
    visit = _pending(session, visit_id)
    building = session.execute(
        select(Building.id).where(Building.id == visit.building_id).with_for_update()
    ).scalar_one_or_none()
    if building is None:
        raise Conflict(
            f"visit {visit_id}: building {visit.building_id} has been retired since; reject the visit instead",
            where="building",
        )
    values = {name: getattr(visit, name) for name in OBSERVED if getattr(visit, name) is not None}
    batch_id, updated = None, False
    if values:
        # Imported here: the change pipeline brings the unit tessellation with it, which recording and listing
        # visits (and the app's start) do not need.
        from gis.basedata.changes import set_building_values

        with batch(session, kind="visit", layer="buildings", actor=who.name, source=f"visit:{visit_id}") as b:
            changed = set_building_values(session, settings, b, {visit.building_id: values})
        batch_id, updated = b.id, visit.building_id in changed.updated
    _decide(session, visit_id, "approved", who, note, batch_id)
    audit.record(
        session,
        actor=who.name,
        action="visit.approve",
        target=f"visit:{visit_id}",
        after={"building": visit.building_id, "batch": batch_id, "applied": values, "updated": updated},
    )
    return get_visit(session, visit_id)


def reject_visit(session: Session, who: Principal, visit_id: int, *, note: str | None = None) -> dict[str, Any]:
    """Close the visit without changing its building."""
    access.require(who, DECIDERS, "deciding on field visits")
    visit = _pending(session, visit_id)
    _decide(session, visit_id, "rejected", who, note, None)
    audit.record(
        session,
        actor=who.name,
        action="visit.reject",
        target=f"visit:{visit_id}",
        after={"building": visit.building_id},
    )
    return get_visit(session, visit_id)


def _decide(
    session: Session, visit_id: int, status: Status, who: Principal, note: str | None, batch_id: int | None
) -> None:
    session.execute(
        update(BuildingVisit)
        .where(_V.c.id == literal(visit_id, BigInteger))
        .values(status=status, decided_by=who.name, decided_at=func.now(), decision_note=note, batch_id=batch_id)
    )
