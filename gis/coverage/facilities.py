"""Adding, changing and removing service facilities; each change recomputes coverage of its categories only.

The facility and the distances to its category land in one transaction, so the coverage tables never lag
behind the facilities they describe.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, text, update
from sqlalchemy.orm import Session

from gis import audit
from gis.coverage.compute import checked_categories
from gis.coverage.runs import run_coverage
from gis.db.models import STORAGE_SRID, Facility
from gis.errors import InvalidInput, NotFound
from gis.geo.coordinates import point_to_wgs84
from gis.settings import Settings

FIELDS = ("category", "name", "address", "capacity", "public")


@dataclass(frozen=True)
class FacilityChange:
    facility_id: int
    categories: list[str]  # whose coverage was recomputed
    coverage_run_id: int | None


def create_facility(session: Session, values: dict[str, Any], settings: Settings, *, actor: str) -> FacilityChange:
    """Insert a facility at (lon, lat) in `crs` and recompute its category."""
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
    return _recompute(session, facility_id, [category], settings, actor)


def update_facility(
    session: Session, facility_id: int, values: dict[str, Any], settings: Settings, *, actor: str
) -> FacilityChange:
    """Change attributes and/or the location; recomputes the old and the new category."""
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
    return _recompute(session, facility_id, list(dict.fromkeys([old, changes.get("category", old)])), settings, actor)


def delete_facility(session: Session, facility_id: int, settings: Settings, *, actor: str) -> FacilityChange:
    category = _category_of(session, facility_id)
    session.execute(text("DELETE FROM facilities WHERE id = :id"), {"id": facility_id})
    audit.record(
        session, actor=actor, action="facility.delete", target=f"facility:{facility_id}", before={"category": category}
    )
    return _recompute(session, facility_id, [category], settings, actor)


def _recompute(
    session: Session, facility_id: int, categories: list[str], settings: Settings, actor: str
) -> FacilityChange:
    if not session.execute(text("SELECT EXISTS (SELECT 1 FROM walk_edges)")).scalar_one():
        return FacilityChange(facility_id, categories, None)  # no network yet: nothing to recompute
    run = run_coverage(session, settings, categories=categories, actor=actor)
    return FacilityChange(facility_id, categories, run["id"])


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
