"""Request limits: body size (413), anonymous incident reports, sign-in attempts and expensive reads per client
(429) as ASGI middleware, no NUL characters in text (422) as a dependency of every route, and the helpers routes
use for what costs the server most: JSON bodies nested too deeply, points per request.

The middleware reads the app's settings (`app.state.settings`) on every request, so an app built with other settings
(tests, `create_app(settings)`) gets its own limits. Answers are problem+json like every other error.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Depends, FastAPI
from fastapi.security.utils import get_authorization_scheme_param
from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import principal
from api.errors import problem
from api.media_types import is_json
from gis.errors import InvalidInput
from gis.registry import ascii_digits
from gis.settings import Settings

# Routes where anyone may report an incident without signing in: the ones a spammer would hammer.
ANONYMOUS_SUBMISSION_ROUTES = frozenset({"/api/incidents", "/open311/v2/requests.json"})
SIGN_IN_ROUTE = "/api/auth/token"
# Public reads that each run walking-network searches (catchments, reach): cheap to ask, costly to answer.
EXPENSIVE_READS = re.compile(r"/api/reach|/api/facilities/[^/]+/catchment|/ogc/collections/catchments/items(/[^/]+)?")
# Routes of EXPENSIVE_READS declare this: a bearer token lifts their rate limit, so it must be a valid one (401).
TOKEN_CHECKED = Depends(principal)
NUL = "\x00"


class BodyTooLarge(HTTPException):
    """Raised from `receive` once the body passes the limit.

    An HTTPException, because FastAPI re-raises those from body parsing (anything else becomes a 400
    "error parsing the body"), so the app's handler turns it into a 413 problem.
    """

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"body: the request body is larger than the limit of {limit} bytes")


def _settings(scope: Scope) -> Settings:
    return scope["app"].state.settings


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope["headers"] if key == name), None)


async def _send_problem(scope: Scope, send: Send, status: int, title: str, detail: str, **headers: str) -> None:
    extra = {"where": "body"} if status == 413 else {}
    response = problem(Request(scope), status, title, detail, **extra)
    response.headers.update(headers)
    await response(scope, _no_receive, send)


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}


class BodyLimit:
    """413 for bodies over `max_body_bytes`: refused up front by Content-Length, and counted while read.

    Content-Length alone is not trusted: chunked bodies carry none, so the bytes are counted as they
    arrive and reading stops at the limit, before a handler holds the whole body in memory.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = _settings(scope).max_body_bytes
        declared = _header(scope, b"content-length")
        if declared is not None and ascii_digits(declared.decode("latin-1")) and int(declared) > limit:
            await _send_problem(scope, send, 413, "Content too large", BodyTooLarge(limit).detail)
            return

        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge as exc:
            # Normally the app's handler answers; this catches a body read outside any route (a middleware).
            if started:
                raise
            await _send_problem(scope, send, 413, "Content too large", exc.detail)


class ClientRateLimit:
    """429 with Retry-After when one client IP sends too many anonymous incident reports, too many
    sign-in attempts (password guessing) or too many anonymous expensive reads (EXPENSIVE_READS).

    A moving window in this process's memory: with several server processes each keeps its own count.
    Incident reports carrying a bearer token are not counted: authentication answers for those (a valid token
    is a user, any other bearer token a 401 that writes nothing). Every other request is the public, whatever
    else its Authorization header says (`Basic …`).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            rule = _rule(scope)
            if rule is not None and rule[1] > 0 and not await self._allowed(scope, send, *rule):
                return
        await self.app(scope, receive, send)

    async def _allowed(self, scope: Scope, send: Send, key: str, per_minute: int, what: str, hint: str) -> bool:
        item = RateLimitItemPerMinute(per_minute)
        client = _client(scope)
        if self.limiter.hit(item, key, client):
            return True
        reset_at = self.limiter.get_window_stats(item, key, client).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        detail = f"more than {per_minute} {what} a minute from {client}; retry in {retry_after} s"
        await _send_problem(
            scope,
            send,
            429,
            "Too many requests",
            f"{detail}, {hint}" if hint else detail,
            **{"Retry-After": str(retry_after)},
        )
        return False


def _rule(scope: Scope) -> tuple[str, int, str, str] | None:
    """The window a request counts against: (key, per minute, what is counted, how to avoid it), or None."""
    settings = _settings(scope)
    path = scope["path"].rstrip("/")
    if scope["method"] == "POST":
        if path in ANONYMOUS_SUBMISSION_ROUTES and not _carries_bearer_token(scope):
            return "incident-report", settings.anonymous_submissions_per_minute, "incident reports", "or send a token"
        if path == SIGN_IN_ROUTE:
            return "sign-in", settings.sign_in_attempts_per_minute, "sign-in attempts", ""
    elif scope["method"] in ("GET", "HEAD") and EXPENSIVE_READS.fullmatch(path) and not _carries_bearer_token(scope):
        what = "anonymous catchment and reach requests"
        return "expensive-read", settings.anonymous_expensive_reads_per_minute, what, "or send a token"
    return None


def _carries_bearer_token(scope: Scope) -> bool:
    """Whether the request sends a bearer token, read exactly as `api.deps.bearer` reads it.

    The routes resolve such a token to its user or refuse it (401); they never take it for the public. Any
    other Authorization header (another scheme, a bare scheme) leaves the request anonymous there, so here too.
    """
    authorization = _header(scope, b"authorization")
    if authorization is None:
        return False
    scheme, _ = get_authorization_scheme_param(authorization.decode("latin-1"))
    return scheme.lower() == "bearer"


def _client(scope: Scope) -> str:
    # uvicorn's --proxy-headers / --forwarded-allow-ips put the real client here behind a reverse proxy.
    client: Any = scope.get("client")
    return str(client[0]) if client else "unknown"


async def no_nul_characters(request: Request) -> None:
    """422 naming the parameter or field that holds U+0000: PostgreSQL text cannot store it.

    Without this a NUL in any text (a description, a filter, a name) fails deep in the database as a 500.
    """
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if NUL in name or NUL in str(value):
            raise _nul_refused(name)
    content_type = request.headers.get("content-type", "")
    if request.method in ("GET", "HEAD", "DELETE", "OPTIONS") or content_type.lower().startswith("multipart/"):
        return
    try:
        body = await request.body()
    except RuntimeError:  # a form route: FastAPI has parsed (and cached) the form already
        fields = [(k, str(v)) for k, v in (await request.form()).multi_items()]
        body = b""
    else:
        fields = []
    if is_json(content_type):  # in any case, with any parameters, `+json` types too: as FastAPI reads JSON
        if b"\\u0000" in body:  # how JSON writes NUL; raw control characters are not JSON at all
            try:
                parsed = load_json(body)
            except ValueError:  # not JSON: the route refuses it (422) or never reads it
                return
            path = _nul_path(parsed, "body")
            if path is not None:
                raise _nul_refused(path)
        return
    if b"\x00" in body or b"%00" in body:
        fields += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    for name, value in fields:
        if NUL in name or NUL in value:
            raise _nul_refused(name)


def _nul_refused(where: str) -> InvalidInput:
    where = where.replace(NUL, "\\u0000")  # a field name may hold the NUL itself: show it, escaped
    return InvalidInput(f"{where}: the NUL character (U+0000) is not allowed in text", where=where)


def _nul_path(value: Any, path: str) -> str | None:
    """Where in a parsed JSON value a string holds NUL (`body.items.2.name`), or None.

    A walk with its own stack, not recursion: a body nested as deep as the parser allows must not end in a
    RecursionError here, with the request's own frames already on the stack."""
    pending: list[tuple[Any, str]] = [(value, path)]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str) and NUL in value:
            return path
        if isinstance(value, dict):
            for key in value:
                if NUL in key:
                    return f"{path}.{key}"
            pending += reversed([(item, f"{path}.{key}") for key, item in value.items()])
        elif isinstance(value, list):
            pending += reversed([(item, f"{path}.{i}") for i, item in enumerate(value)])
    return None


def load_json(raw: bytes | str) -> Any:
    """`json.loads` for a request body: ValueError, never RecursionError, for JSON nested too deeply to read."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None


def cap_points(count: int, settings: Settings, *, where: str, cli: str) -> None:
    """422 naming `where` when a request carries more points than GRIDMAP_MAX_POINTS_PER_REQUEST: the HTTP API
    answers while the client waits; a larger job is a file for the command line (`cli`)."""
    cap = settings.max_points_per_request
    if count > cap:
        raise InvalidInput(
            f"{where}: {count} points, more than the limit of {cap} per request (GRIDMAP_MAX_POINTS_PER_REQUEST); "
            f"split the request or run `{cli}` for larger jobs",
            where=where,
        )


def install(app: FastAPI) -> None:
    """Add the limits to `app` (outermost last: the rate limit answers before any body is read).

    Call before including routers: the NUL check is a dependency of every route included afterwards.
    """
    app.add_middleware(BodyLimit)
    app.add_middleware(ClientRateLimit)
    app.router.dependencies.append(Depends(no_nul_characters))
