"""Typed, reusable dependencies: the request's database session, who is asking, common query parameters."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

from api import replicas
from gis.auth import access, tokens
from gis.auth.users import ANONYMOUS, Principal
from gis.db.engine import has_replayed, wal_position
from gis.errors import InvalidInput, PreconditionRequired
from gis.layers import queries
from gis.layers.features import BBox
from gis.registry import ascii_digits
from gis.settings import Settings

log = logging.getLogger(__name__)


async def session_slot(request: Request) -> AsyncIterator[None]:
    """Wait (without a thread) until fewer sessions are open than the pool has connections.

    A request keeps its session's connection while it waits for a worker thread again (the next dependency,
    response validation). Unbounded, under load every thread can end up waiting for a connection held by a
    request that waits for a thread: the server stalls until the pool times out (30 s, then 500s) and stays
    in that state while the load lasts (seen at 64 concurrent reports in `make loadtest`). With at most as
    many sessions as connections, no thread ever waits for one."""
    async with request.app.state.session_slots:
        yield


def get_session(request: Request, _slot: Annotated[None, Depends(session_slot, scope="function")]) -> Iterator[Session]:
    """One unit of work per request: committed when the route returns (before the response is sent), rolled
    back on any error.

    With a read replica, a write's answer carries the primary's WAL position once committed (api/replicas.py),
    so the client's next reads wait for nothing the replica has not replayed."""
    with request.app.state.sessionmaker() as session:
        with session.begin():
            yield session
        if request.app.state.read_sessionmaker is not None and request.method not in SAFE_METHODS:
            try:
                setattr(request.state, replicas.WRITTEN_LSN, wal_position(session))
            except SQLAlchemyError:  # the write stands; the client's next reads may just not see it at once
                log.warning("no WAL position for the answer to %s %s", request.method, request.url.path, exc_info=True)


# Read-only HTTP methods: their sessions never give the client a WAL position to read after.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# After a replica failed to connect, its reads go to the primary this long before it is tried again.
REPLICA_RETRY_S = 5.0


def get_read_session(request: Request, primary: SessionDep) -> Iterator[Session]:
    """The session of a read-only route: the read replica's (GRIDMAP_READ_DATABASE_URL) when one is configured,
    answers, and has replayed the client's last write (api/replicas.py); else the request's primary session.

    Depending on the primary session costs nothing unused (a session connects on its first statement) and is the
    same one the principal is checked in. It also keeps the two pools safe: a request takes its primary slot
    (session_slot) before any replica session, so there are never more replica sessions than slots, nor a
    request holding one pool while waiting for the other."""
    state = request.app.state
    if state.read_sessionmaker is None or time.monotonic() < state.replica_retry_at:
        yield primary
        return
    with state.read_sessionmaker() as session:
        if _replica_serves(request, session):
            yield session
            return
    yield primary


def _replica_serves(request: Request, session: Session) -> bool:
    lsn = replicas.read_after(request)
    try:
        session.connection()  # the checkout (and the pool's ping): a replica that is down shows here
        return lsn is None or has_replayed(session, lsn)
    except OperationalError:
        request.app.state.replica_retry_at = time.monotonic() + REPLICA_RETRY_S
        log.warning("the read replica does not answer: reads on the primary for %s s", REPLICA_RETRY_S, exc_info=True)
        return False


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


# scope="function": the commit happens before the response is sent. FastAPI's default for dependencies with
# yield ("request") runs their exit after the response, so a client could hold a 201 for a write that a
# crash, or a failing commit, then loses.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
# Read-only routes (maps, tiles, OGC API, downloads, layer reads): the replica when there is one and it is current.
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def bbox_param(
    bbox: Annotated[
        str | None, Query(description="west,south,east,north in WGS 84 degrees", examples=["121.54,29.86,121.56,29.88"])
    ] = None,
) -> BBox | None:
    return BBox.parse(bbox) if bbox is not None else None


BBoxDep = Annotated[BBox | None, Depends(bbox_param)]
# The upper bound is PostgreSQL's bigint: a larger OFFSET fails in the database rather than returning nothing.
Offset = Annotated[int, Query(ge=0, le=2**63 - 1, description="features to skip")]


def if_match(
    if_match: Annotated[
        str | None, Header(alias="If-Match", description="the plan version the edit is based on")
    ] = None,
) -> int:
    """The version a write is based on, from If-Match ("3", "\\"3\\"" or "W/\\"3\\"")."""
    if if_match is None:
        raise PreconditionRequired("send If-Match with the plan version this edit is based on", where="If-Match")
    value = if_match.strip().removeprefix("W/").strip('"')
    if not ascii_digits(value):
        raise InvalidInput(f"If-Match: {if_match!r} is not a plan version", where="If-Match")
    return int(value)


IfMatchDep = Annotated[int, Depends(if_match)]

# auto_error=False: no token means the public, which many routes serve; the routes that need more say so.
bearer = OAuth2PasswordBearer(
    tokenUrl="/api/auth/token",
    auto_error=False,
    description="an access token from POST /api/auth/token, or an API token (gmt_…) issued by an admin",
)


def principal(request: Request, session: SessionDep, token: Annotated[str | None, Depends(bearer)]) -> Principal:
    """Who is asking: the user of a valid bearer token, else the public. A token that is sent but invalid,
    expired or revoked is a 401 (never silently the public), so a page knows to sign in again."""
    if token is None:
        return ANONYMOUS
    return tokens.principal_for(session, token, request.app.state.signing_key)


PrincipalDep = Annotated[Principal, Depends(principal)]


def actor(who: PrincipalDep) -> str:
    """The name logs record for this request: the signed-in user, or "public"."""
    return who.name


ActorDep = Annotated[str, Depends(actor)]


def requires(roles: frozenset[str], action: str) -> Any:
    """A dependency admitting only `roles`: 401 for the public, 403 for a signed-in user of another role."""

    def check(who: PrincipalDep) -> Principal:
        return access.require(who, roles, action)

    return Depends(check)


SignedIn = Annotated[Principal, requires(access.SIGNED_IN, "this route")]
ADMIN_ONLY = requires(access.ADMIN, "administration (accounts, API tokens, the audit trail)")
Admin = Annotated[Principal, ADMIN_ONLY]
GridWorker = Annotated[Principal, requires(access.GRID_WORKER, "a grid worker's own routes (check-ins, own grids)")]


def _name_of(roles: frozenset[str], action: str) -> Any:
    def check(who: PrincipalDep) -> str:
        return access.require(who, roles, action).name

    return Depends(check)


# The actor of a planning write, once the role is checked: plan edits, facility edits, coverage runs.
PlannerActor = Annotated[str, _name_of(access.PLANNING, "editing plans, layers, facilities or coverage runs")]


AS_OF_DOC = (
    "the features as they were at this instant: a date YYYY-MM-DD (the end of that day) or an ISO 8601 date-time; "
    "a date, or a date-time without an offset, is read in the server's local time zone. Buildings, facilities, "
    "communities, streets and districts answer from their versions (a retired feature appears before its "
    "retirement); grids from the plan published then (unless ?plan=). A future instant answers as now."
)


def as_of_param(
    as_of: Annotated[str | None, Query(description=AS_OF_DOC, examples=["2026-01-31"])] = None,
) -> datetime | None:
    return queries.parse_as_of(as_of) if as_of is not None else None


AsOf = Annotated[datetime | None, Depends(as_of_param)]
