"""Which audience a viewer of an incident belongs to.

Reporters' contacts reach only dispatchers and admins. Descriptions, photos and handling notes are personal
too in practice (residents write names and phone numbers into them, photos show people and homes): they
reach dispatchers, admins and the grid worker whose grid the incident lies in. Everyone else — the public,
viewers, planners, a worker looking at another grid — is the public: category, status, times, place.

This module names the audience; the response model of each audience (api/schemas/incidents.py) has exactly
the fields that audience may see, so nothing else leaves the server. Values are the one exception, here:
the public's history names staff by their display names, never by their logins (`shown_to`).
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from gis.auth.access import DISPATCH, worker_grid_ids, worker_owns_incident
from gis.auth.users import Principal, with_public_actors


class Audience(StrEnum):
    PUBLIC = "public"  # category, status, times, place; history without notes
    STAFF = "staff"  # handles the incident: also description, photo and notes, never the reporter's contact
    DISPATCH = "dispatch"  # dispatchers and admins: also the reporter's contact


def sees_contacts(principal: Principal) -> bool:
    """Whether to read reporters' contacts at all for this principal."""
    return principal.role in DISPATCH


def audience(principal: Principal, *, own_grid: bool = False) -> Audience:
    """The audience `principal` is for an incident (`own_grid`: it lies in one of the principal's grids)."""
    if sees_contacts(principal):
        return Audience.DISPATCH
    if principal.role == "grid_worker" and own_grid:
        return Audience.STAFF
    return Audience.PUBLIC


def audience_of(session: Session, principal: Principal, incident_id: int) -> Audience:
    """`principal`'s audience for one incident (NotFound, for a grid worker, when there is no such incident)."""
    own = principal.role == "grid_worker" and worker_owns_incident(session, principal.user_id, incident_id)
    return audience(principal, own_grid=own)


def audience_by_grid(session: Session, principal: Principal) -> Callable[[int | None], Audience]:
    """`principal`'s audience for incidents by their grid id: one lookup of a worker's grids for a whole page."""
    own = worker_grid_ids(session, principal.user_id) if principal.role == "grid_worker" else set()
    return lambda grid_id: audience(principal, own_grid=grid_id in own)


def shown_to(session: Session, audience: Audience, incident: dict[str, Any]) -> dict[str, Any]:
    """`incident` (with its history) as `audience` may see its values: for the public, every actor of the history
    by public name (`gis.auth.users.public_names`); staff and dispatch see logins."""
    if audience is not Audience.PUBLIC or not incident.get("history"):
        return incident
    return incident | {"history": with_public_actors(session, incident["history"])}
