"""Who may do what: the roles behind each kind of write, and the grid worker's own-grid rule.

Admins may do everything. Planners keep the grid layout, layers, facilities and coverage runs; dispatchers
move incidents round the loop; a grid worker moves only incidents that lie in their own grids (by grid
lineage, so it holds across plan versions) and checks in. The public reads public layers and reports.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.auth.users import ROLES, Principal
from gis.errors import Forbidden, NotFound, Unauthorized

ADMIN = frozenset({"admin"})
PLANNING = frozenset({"admin", "planner"})
DISPATCH = frozenset({"admin", "dispatcher"})
GRID_WORKER = frozenset({"grid_worker"})
INCIDENT_HANDLING = DISPATCH | GRID_WORKER
# Field work (处置, 退回, 反馈) is the grid worker's; registering, dispatching, verifying and closing stay with
# the dispatch centre, so nobody verifies their own work.
WORKER_ACTIONS = frozenset({"start", "return", "resolve"})
SIGNED_IN = frozenset(ROLES)
# The leaders' dashboard (/maps/dashboard) reads figures only: leaders, viewers and admins.
DASHBOARD = frozenset({"admin", "leader", "viewer"})


def require(principal: Principal, roles: frozenset[str], action: str) -> Principal:
    """`principal` when its role is among `roles`: Unauthorized for the public, Forbidden for other roles."""
    if not principal.authenticated:
        raise Unauthorized(f"sign in first: {action} needs a signed-in user")
    if principal.role not in roles:
        allowed = " or ".join(sorted(roles))
        raise Forbidden(f"{action} needs the role {allowed}; {principal.name} is {principal.role}", where="role")
    return principal


def worker_owns_incident(session: Session, user_id: int, incident_id: int) -> bool:
    """Whether the incident lies in one of the worker's grids (NotFound when there is no such incident)."""
    row = session.execute(
        text("""SELECT EXISTS (SELECT 1 FROM grids g JOIN grid_workers w ON w.grid_lineage = g.lineage
                               WHERE g.id = i.grid_id AND w.user_id = :user) AS own
                FROM incidents i WHERE i.id = :id"""),
        {"user": user_id, "id": incident_id},
    ).first()
    if row is None:
        raise NotFound(f"incident {incident_id} does not exist", where="id")
    return bool(row.own)


def worker_grid_ids(session: Session, user_id: int) -> set[int]:
    """Ids of the worker's grids in every plan (a grid's copies share its lineage)."""
    return set(
        session.execute(
            text("""SELECT g.id FROM grids g JOIN grid_workers w ON w.grid_lineage = g.lineage
                    WHERE w.user_id = :user"""),
            {"user": user_id},
        ).scalars()
    )


def check_incident_move(
    session: Session, principal: Principal, incident_id: int, action: str | None = None
) -> Principal:
    """Dispatchers and admins move any incident; a grid worker handles (`WORKER_ACTIONS`) only incidents
    located in their own grids. `action` None is a change that is not a transition (a corrected location)."""
    require(principal, INCIDENT_HANDLING, "moving an incident")
    if principal.role == "grid_worker":
        if action is not None and action not in WORKER_ACTIONS:
            raise Forbidden(
                f"{action} is for dispatchers; a grid worker may {', '.join(sorted(WORKER_ACTIONS))}", where="action"
            )
        if not worker_owns_incident(session, principal.user_id, incident_id):
            raise Forbidden(f"incident {incident_id} is not in {principal.name}'s grids", where="id")
    return principal
