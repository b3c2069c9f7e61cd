"""Typed, reusable dependencies: the request's database session, who is asking, common query parameters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.orm import Session

from gis.auth import access, tokens
from gis.auth.users import ANONYMOUS, Principal
from gis.errors import InvalidInput, PreconditionRequired
from gis.layers import queries
from gis.layers.features import BBox
from gis.registry import ascii_digits
from gis.settings import Settings


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
    back on any error."""
    with request.app.state.sessionmaker() as session, session.begin():
        yield session


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


# scope="function": the commit happens before the response is sent. FastAPI's default for dependencies with
# yield ("request") runs their exit after the response, so a client could hold a 201 for a write that a
# crash, or a failing commit, then loses.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
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
