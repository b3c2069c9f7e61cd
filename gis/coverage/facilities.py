"""Adding, changing and removing service facilities; each change marks coverage of its categories stale.

The change and the queued run recomputing its categories land in one transaction (gis/coverage/stale.py); a
background worker works the run once the change is committed, so a request never waits for shortest paths, and
coverage answers say `stale` (with the run's progress) until the run is done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from gis import audit
from gis.coverage.compute import checked_categories
from gis.coverage.stale import mark_stale
from gis.db.models import STORAGE_SRID, Facility
from gis.errors import InvalidInput, NotFound
from gis.geo.coordinates import point_to_wgs84

FIELDS = ("category", "name", "address", "capacity", "public")


@dataclass(frozen=True)
class FacilityChange:
    facility_id: int
    categories: list[str]  # whose coverage is recomputed
    coverage_run_id: int | None  # the queued run recomputing them; None without a walking network


def create_facility(session: Session, values: dict[str, Any], *, actor: str) -> FacilityChange:
    """Insert a facility at (lon, lat) in `crs` and queue the recompute of its category."""
    lon, lat = _location(values)
    if not values.get("category"):
        raise InvalidInput("category is required", where="category")
    category = checked_categories([values["category"]])[0]
    facility_id = session.execute(
        text("""INSERT INTO facilities (category, name, address, capacity, public, geom)
                VALUES (:category, :name, :address, :capacity, coalesce(:public, true),
                        ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)) RETURNING id"""),
        {**{f: values.get(f) for f in FIELDS}, "category": category, "lon": lon, "lat": lat},
    ).scalar_one()
    audit.record(session, actor=actor, action="facility.create", target=f"facility:{facility_id}", after=values)
    return _recompute(session, facility_id, [category], actor, "facility.create")


def update_facility(session: Session, facility_id: int, values: dict[str, Any], *, actor: str) -> FacilityChange:
    """Change attributes and/or the location; queues the recompute of the old and the new category."""
    old = _category_of(session, facility_id)
    changes = {f: values[f] for f in FIELDS if f in values}
    if "category" in changes:
        changes["category"] = checked_categories([changes["category"] or ""])[0]
    if "public" in changes and changes["public"] is None:  # the column is NOT NULL: null cannot mean "unknown"
        raise InvalidInput("public: say true or false (null is not a value for it)", where="public")
    assignments: dict[str, Any] = dict(changes)
    if "lon" in values or "lat" in values:
        lon, lat = _location(values)
        assignments["geom"] = func.ST_SetSRID(func.ST_MakePoint(lon, lat), STORAGE_SRID)
    if not assignments:
        raise InvalidInput(f"nothing to change: give any of {', '.join((*FIELDS, 'lon', 'lat'))}", where="body")
    session.execute(
        update(Facility)
        .where(Facility.id == facility_id)
        .values(assignments)
        .execution_options(synchronize_session=False)
    )
    audit.record(
        session, actor=actor, action="facility.update", target=f"facility:{facility_id}", before={"category": old},
        after=values,
    )  # fmt: skip
    categories = list(dict.fromkeys([old, changes.get("category", old)]))
    return _recompute(session, facility_id, categories, actor, "facility.update")


def delete_facility(session: Session, facility_id: int, *, actor: str) -> FacilityChange:
    category = _category_of(session, facility_id)
    session.execute(text("DELETE FROM facilities WHERE id = :id"), {"id": facility_id})
    audit.record(
        session, actor=actor, action="facility.delete", target=f"facility:{facility_id}", before={"category": category}
    )
    return _recompute(session, facility_id, [category], actor, "facility.delete")


def _recompute(session: Session, facility_id: int, categories: list[str], actor: str, action: str) -> FacilityChange:
    run_id = mark_stale(session, categories=categories, reason=f"{action} facility:{facility_id}", actor=actor)
    return FacilityChange(facility_id, categories, run_id)


def _category_of(session: Session, facility_id: int) -> str:
    category = session.execute(
        text("SELECT category FROM facilities WHERE id = :id FOR UPDATE"), {"id": facility_id}
    ).scalar_one_or_none()
    if category is None:
        raise NotFound(f"facility {facility_id} does not exist", where="facility_id")
    return category


def _location(values: dict[str, Any]) -> tuple[float, float]:
    if values.get("lon") is None or values.get("lat") is None:
        raise InvalidInput("give the location as lon and lat (and crs when not WGS 84)", where="lon/lat")
    return point_to_wgs84(values["lon"], values["lat"], values.get("crs") or "wgs84", where="lon/lat")
