"""Hardening headers on every answer, the pages' Content-Security-Policy nonce, and HEAD on every GET route.

Both are pure ASGI middleware (not BaseHTTPMiddleware, which buffers and breaks streaming answers such as
downloads and Server-Sent Events): they only look at `http.response.start`.

The policy allows only the app's own origin. Inline `<script>` and `<style>` elements are allowed by a nonce,
fresh for every request: folium writes the map's creation script and its size rules inline (the element ids are
random per page, so hashes would not do), and the pages carry their configuration in an inline script. Only HTML
the app renders from its own templates gets the nonce (`nonced`), where every value is escaped; markup that
scripts insert at run time (API data in popups and panels) never runs. Style *attributes* stay allowed
(`style-src-attr 'unsafe-inline'`): the pages' scripts colour legend swatches and badges with them, and a style
attribute cannot run code.
"""

from __future__ import annotations

import re
import secrets
from html.parser import HTMLParser
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NONCE = "csp_nonce"  # request.state keys
EXTRA = "csp_extra"

# Answers about people: incidents (reporters' contacts), accounts, tokens, sign-in, the audit trail, field visits,
# a worker's own check-ins. Answers to requests with credentials are treated as personal too (`_no_store`).
PERSONAL_PATHS = re.compile(
    r"^/(api/(incidents|users|tokens|auth|audit|visits|workers|uploads)(/|$)|api/buildings/[^/]+/visits/?$|open311/v2/requests)"
)


def _policy(nonce: str, extra: dict[str, list[str]]) -> str:
    sources = {
        "default-src": ["'self'"],
        "script-src": ["'self'", f"'nonce-{nonce}'"],
        "style-src": ["'self'", f"'nonce-{nonce}'"],
        "style-src-attr": ["'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'"],
        "object-src": ["'none'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
    }
    for directive, allowed in extra.items():
        sources[directive] = [*sources[directive], *(s for s in allowed if s not in sources[directive])]
        if "'unsafe-inline'" in allowed:  # a nonce beside it would switch it off (CSP 2)
            sources[directive] = [s for s in sources[directive] if not s.startswith("'nonce-")]
    return "; ".join(f"{directive} {' '.join(allowed)}" for directive, allowed in sources.items())


def _carries_credentials(scope: Scope) -> bool:
    return any(name == b"authorization" for name, _ in scope["headers"])


def _no_store(scope: Scope, headers: MutableHeaders) -> bool:
    """Whether an answer must not be stored: any on a personal path; with credentials, any that its route has not
    declared the same for everyone (`Cache-Control: public`, as the tiles do), since it may be made for this
    account (the pages send their token with every call)."""
    if PERSONAL_PATHS.match(scope["path"]) is not None:
        return True
    directives = {d.strip().lower() for d in headers.get("cache-control", "").split(",")}
    return _carries_credentials(scope) and "public" not in directives


class SecurityHeaders:
    """Content-Security-Policy, nosniff, Referrer-Policy and no framing on every answer; `Cache-Control: no-store`
    on personal ones (tiles and static files keep the caching their routes give them)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})  # what request.state reads and writes
        state[NONCE] = secrets.token_urlsafe(18)
        state[EXTRA] = {}

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = _policy(state[NONCE], state[EXTRA])
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"  # frame-ancestors for browsers without CSP 2
                headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
                if _no_store(scope, headers) and "no-store" not in headers.get("cache-control", ""):
                    headers["Cache-Control"] = "no-store"  # a route's own no-store (photos: private too) stays
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HeadAsGet:
    """HEAD on every GET route (OGC API and HTTP clients check resources with it): the GET runs, its status and
    headers (Content-Length, ETag, Content-Type) are sent, its body is not.

    FastAPI routes answer only the methods they declare, so without this a HEAD is a 405. Static files answer
    HEAD themselves; they get it unchanged."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.start":
                await send(message)
                # A HEAD answer ends with its headers: finished now, the server tells the app the client is gone,
                # so a stream stops instead of being produced for nobody. What the GET sends later is dropped.
                await send({"type": "http.response.body", "body": b"", "more_body": False})

        await self.app({**scope, "method": "GET"}, receive, without_body)


def csp_nonce(request: Request) -> str:
    return str(getattr(request.state, NONCE))


def allow(request: Request, directive: str, *sources: str) -> None:
    """Widen this answer's policy, e.g. `allow(request, "img-src", "https://*.example.org")` for a basemap."""
    getattr(request.state, EXTRA).setdefault(directive, []).extend(sources)


def tile_source(url_template: str | None) -> str | None:
    """The CSP source of an XYZ tile URL template: its scheme and host, a `{s}` subdomain as `*`; None for none
    or a template on the app's own origin (a relative URL)."""
    if not url_template:
        return None
    parts = urlsplit(url_template)
    if not parts.scheme or not parts.netloc:
        return None
    labels = parts.netloc.split(".")
    host = ".".join(["*", *labels[1:]] if "{" in labels[0] else labels)
    return f"{parts.scheme}://{host}"


class _InlineElements(HTMLParser):
    """Where the inline <script> and <style> start tags of a document end (the offset of their ">")."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.ends: list[int] = []
        self._line_starts = [0]

    def find(self, document: str) -> list[int]:
        self._line_starts += [m.end() for m in re.finditer("\n", document)]
        self.feed(document)
        self.close()
        return self.ends

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style") and not any(name in ("src", "nonce") for name, _ in attrs):
            line, column = self.getpos()
            start = self._line_starts[line - 1] + column
            text = self.get_starttag_text() or ""
            self.ends.append(start + len(text) - (2 if text.endswith("/>") else 1))


def nonced(document: str, nonce: str) -> str:
    """`document` with `nonce` on each inline <script> and <style> element, found by an HTML parser: text inside
    a script (a configuration string holding "<script>") is not a tag and stays as it is."""
    for end in reversed(_InlineElements().find(document)):
        document = f'{document[:end]} nonce="{nonce}"{document[end:]}'
    return document


def install(app: FastAPI) -> None:
    """Add both (outermost: the headers also go on the limits' 413 and 429 answers)."""
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)
