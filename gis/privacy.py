"""Which incident fields a viewer may see.

Reporters' contacts reach only dispatchers and admins. Descriptions, photos and handling notes are personal
too in practice (residents write names and phone numbers into them, photos show people and homes): they
reach dispatchers, admins and the grid worker whose grid the incident lies in. Everyone else — the public,
viewers, planners, a worker looking at another grid — gets the public view: category, status, times, place.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from gis.access import worker_grid_ids, worker_owns_incident
from gis.users import Principal


class View(StrEnum):
    PUBLIC = "public"
    STAFF = "staff"  # handles the incident: everything but the reporter's contact
    FULL = "full"


WITHHELD: dict[View, tuple[str, ...]] = {
    View.PUBLIC: ("reporter_contact", "description", "photo_url"),
    View.STAFF: ("reporter_contact",),
    View.FULL: (),
}
HISTORY_WITHHELD: dict[View, tuple[str, ...]] = {View.PUBLIC: ("note",), View.STAFF: (), View.FULL: ()}


def sees_contacts(principal: Principal) -> bool:
    """Whether to read reporters' contacts at all for this principal."""
    return principal.role in ("admin", "dispatcher")


def incident_view(principal: Principal, *, own_grid: bool = False) -> View:
    """The view `principal` gets of an incident (`own_grid`: it lies in one of the principal's grids)."""
    if principal.role in ("admin", "dispatcher"):
        return View.FULL
    if principal.role == "grid_worker" and own_grid:
        return View.STAFF
    return View.PUBLIC


def redact_incident(incident: dict[str, Any], view: View) -> dict[str, Any]:
    """A copy of `incident` (flat, or a GeoJSON feature's properties) without what `view` may not see."""
    out = {k: v for k, v in incident.items() if k not in WITHHELD[view]}
    if "history" in out and HISTORY_WITHHELD[view]:
        out["history"] = [{k: v for k, v in e.items() if k not in HISTORY_WITHHELD[view]} for e in out["history"]]
    return out


def shown_incident(session: Session, principal: Principal, incident: dict[str, Any]) -> dict[str, Any]:
    """`incident` as `principal` may see it."""
    own = principal.role == "grid_worker" and worker_owns_incident(session, principal.id, incident["id"])
    return redact_incident(incident, incident_view(principal, own_grid=own))


def shown_page(session: Session, principal: Principal, page: dict[str, Any]) -> dict[str, Any]:
    """A GeoJSON page of incidents with each feature's properties as `principal` may see them."""
    own = worker_grid_ids(session, principal.id) if principal.role == "grid_worker" else set()

    def shown(props: dict[str, Any]) -> dict[str, Any]:
        return redact_incident(props, incident_view(principal, own_grid=props.get("grid_id") in own))

    return page | {"features": [f | {"properties": shown(f["properties"])} for f in page["features"]]}
