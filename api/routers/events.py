"""The incident event stream (Server-Sent Events) of the dispatch desk and the field app."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from api.deps import PrincipalDep, SessionDep, bearer
from gis.auth import access, tokens
from gis.auth.users import Principal
from gis.errors import InvalidInput, Unauthorized
from gis.incidents import events

router = APIRouter(prefix="/api/events", tags=["events"])

POLL_SECONDS = 2.0  # how often a stream looks for new rows: a new incident reaches a phone within this
PING_SECONDS = 15.0  # a comment line keeps proxies and phones from closing an idle stream
RETRY_MS = 3000  # what EventSource waits before reconnecting (with Last-Event-ID) after the stream ends

SessionFactory = Callable[[], AbstractContextManager[Session]]


def event_sessions(request: Request) -> SessionFactory:
    """Where a stream reads: a short session per poll from the app's pool (no session is held between polls, and
    none counts against the request slots). Tests point it at their rolled-back session."""
    return request.app.state.sessionmaker


class Ticket(BaseModel):
    ticket: str
    expires_in: int


@router.post("/ticket", summary="a ticket for GET /api/events?ticket=… (EventSource cannot send Authorization)")
def ticket(request: Request, who: PrincipalDep, session: SessionDep) -> Ticket:
    access.require(who, events.READERS, "the incident event stream")
    return Ticket.model_validate(tokens.issue_ticket(who, request.app.state.signing_key, purpose="events"))


def stream_principal(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(bearer)],
    ticket: Annotated[str | None, Query(max_length=2000, description="from POST /api/events/ticket")] = None,
) -> Principal:
    """The Authorization header, else a ticket: never a bearer token in the URL (access logs keep URLs)."""
    key = request.app.state.signing_key
    if token is not None:
        who = tokens.principal_for(session, token, key)
    elif ticket is not None:
        who = tokens.ticket_principal(session, ticket, key, purpose="events")
    else:
        raise Unauthorized("sign in first: the incident event stream needs a signed-in user (or a ticket)")
    return access.require(who, events.READERS, "the incident event stream")


def start_cursor(
    session: SessionDep,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
    after: Annotated[int | None, Query(ge=0, le=2**63 - 1, description="start after this event id")] = None,
) -> int:
    """Where a stream starts: after Last-Event-ID, else `after`, else the newest event."""
    if last_event_id is not None:
        value = last_event_id.strip()
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise InvalidInput(f"Last-Event-ID: {last_event_id!r} is not an event id", where="Last-Event-ID")
        return int(value)
    if after is not None:
        return after
    return events.latest_event_id(session)


def _frame(event: dict) -> str:
    return f"id: {event['id']}\nevent: incident\ndata: {json.dumps(event, ensure_ascii=False)}\n\n"


@router.get(
    "",
    summary="incident changes as Server-Sent Events (text/event-stream)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the stream"}},
)
async def stream(
    request: Request,
    who: Annotated[Principal, Depends(stream_principal)],
    cursor: Annotated[int, Depends(start_cursor)],
    sessions: Annotated[SessionFactory, Depends(event_sessions)],
    follow: Annotated[
        bool, Query(description="keep the stream open for new events (false: send what there is)")
    ] = True,
    max_seconds: Annotated[
        int, Query(ge=1, le=3600, description="end a followed stream after this long (the client reconnects)")
    ] = 300,
) -> StreamingResponse:
    """Every report, transition and location correction of an incident the caller may follow: a grid worker's own
    grids' incidents, every incident for dispatchers and admins; the public 401, other roles 403.

    Authorization: the bearer header, or `?ticket=` from POST /api/events/ticket (EventSource sends no headers).
    The stream starts after `Last-Event-ID` (sent by EventSource when it reconnects), else after `?after=`, else
    at the newest event (only what happens from now on). Each event:

        id: 1234
        event: incident
        data: {"id": 1234, "incident_id": 56, "at": "2026-…", "actor": "wang", "action": "dispatch",
               "from_status": "registered", "to_status": "dispatched", "status": "dispatched",
               "category": "road_damage", "deadline_at": "2026-…", "overdue": false,
               "grid": {"id": 7, "code": "G001"}, "location": {"lon": 121.55, "lat": 29.87}}

    `action` is report | relocate | a transition (gis/incidents/workflow.py); `status` is the incident's status
    now, `to_status` the one this event gave it. No notes, descriptions or contacts: read the incident for those.
    A comment line (`: ping`) comes when nothing happened for a while; a followed stream ends after `max_seconds`
    and EventSource reconnects by itself from its Last-Event-ID. `follow=false` sends the events after the cursor
    and ends (catching up)."""

    def read(since: int) -> list[dict]:
        with sessions() as polled:
            return events.events_after(polled, who, since)

    async def produce() -> AsyncIterator[str]:
        position = cursor
        ends = time.monotonic() + max_seconds
        quiet_since = time.monotonic()
        yield f"retry: {RETRY_MS}\n\n"
        while True:
            found = await anyio.to_thread.run_sync(read, position)
            for event in found:
                position = event["id"]
                yield _frame(event)
            if found:
                quiet_since = time.monotonic()
                continue  # a full page may have more behind it
            if not follow or time.monotonic() >= ends or await request.is_disconnected():
                return
            if time.monotonic() - quiet_since >= PING_SECONDS:
                quiet_since = time.monotonic()
                yield ": ping\n\n"
            await anyio.sleep(min(POLL_SECONDS, max(0.0, ends - time.monotonic())))

    return StreamingResponse(
        produce(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# The same stream where the dispatch desk looks for it, beside the incidents. api/app.py registers this router
# before the incidents router, whose /api/incidents/{incident_id} would otherwise take "events" for an id.
incidents_router = APIRouter(prefix="/api/incidents/events", tags=["events"])
incidents_router.add_api_route(
    "",
    stream,
    methods=["GET"],
    summary="incident changes as Server-Sent Events (the same stream as GET /api/events)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "the stream"}},
)
incidents_router.add_api_route(
    "/ticket", ticket, methods=["POST"], summary="a ticket for GET /api/incidents/events?ticket=…"
)
