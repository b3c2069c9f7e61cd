"""Hardening headers (api/headers.py): a Content-Security-Policy of the app's own origin with a per-request nonce
on the pages' inline scripts and styles, nosniff, a Referrer-Policy, no framing, `Cache-Control: no-store` on
personal answers, and HEAD on every GET route (tiles and static files included)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from html.parser import HTMLParser

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from api.headers import HeadAsGet, SecurityHeaders, nonced, tile_source
from tests.api.test_tiles import centre, tile_of
from tests.conftest import GridmapClient

PAGES = ["/maps/public", "/maps/overview", "/maps/planner", "/maps/dispatch", "/docs", "/redoc", "/maps/"]


def policy(response: httpx.Response) -> dict[str, list[str]]:
    """The Content-Security-Policy header as {directive: sources}."""
    directives = [part.split() for part in response.headers["content-security-policy"].split(";")]
    return {name: sources for name, *sources in directives}


class InlineElements(HTMLParser):
    """The nonce attribute (or None) of every <script> and <style> element without src."""

    def __init__(self) -> None:
        super().__init__()
        self.nonces: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag in ("script", "style") and "src" not in named:
            self.nonces.append(named.get("nonce"))


def inline_nonces(document: str) -> list[str | None]:
    parser = InlineElements()
    parser.feed(document)
    return parser.nonces


@pytest.mark.parametrize(
    "path",
    ["/health", "/api/communities", "/maps/public", "/docs", "/static/gridmap/common.js", "/ogc?f=html", "/missing"],
)
def test_every_answer_carries_the_hardening_headers(demo_client: GridmapClient, path: str) -> None:
    response = demo_client.anonymous.get(path)
    assert response.status_code in (200, 404)
    csp = policy(response)
    for directive in ("default-src", "connect-src", "worker-src", "base-uri", "form-action", "font-src"):
        assert csp[directive][0] == "'self'", (directive, csp[directive])
    assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp["script-src"] and "'unsafe-eval'" not in csp["script-src"]
    assert not any(source.startswith(("http:", "https:", "*")) for sources in csp.values() for source in sources)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["x-frame-options"] == "DENY"


def test_the_limits_answers_carry_them_too(demo_client: GridmapClient, settings) -> None:
    refused = demo_client.anonymous.post(
        "/api/incidents", content=b"x", headers={"Content-Length": str(settings.max_body_bytes + 1)}
    )
    assert refused.status_code == 413
    assert "frame-ancestors 'none'" in refused.headers["content-security-policy"]
    assert refused.headers["cache-control"] == "no-store"


@pytest.mark.parametrize("path", PAGES)
def test_pages_run_only_inline_scripts_and_styles_with_this_answers_nonce(
    demo_client: GridmapClient, path: str
) -> None:
    first, second = demo_client.anonymous.get(path), demo_client.anonymous.get(path)
    assert first.status_code == 200, first.text
    nonce = next(s for s in policy(first)["script-src"] if s.startswith("'nonce-"))[len("'nonce-") : -1]
    assert len(nonce) >= 22 and nonce not in second.text  # fresh for every answer
    assert set(inline_nonces(first.text)) <= {nonce}  # every inline element carries it (or there is none)
    if path.startswith("/maps/") and path != "/maps/":
        assert len(inline_nonces(first.text)) >= 4  # folium's map script and styles, the page's configuration
        assert f"'nonce-{nonce}'" in policy(first)["style-src"]


def test_the_docs_pages_allow_the_styles_their_libraries_write(demo_client: GridmapClient) -> None:
    """Swagger UI and ReDoc write <style> elements at run time: those two pages allow inline styles (and ReDoc
    its search worker from a blob:), never inline scripts without the nonce."""
    for path in ("/docs", "/redoc"):
        csp = policy(demo_client.anonymous.get(path))
        assert "'unsafe-inline'" in csp["style-src"] and not any(s.startswith("'nonce-") for s in csp["style-src"])
        assert "'unsafe-inline'" not in csp["script-src"]
    assert "blob:" in policy(demo_client.anonymous.get("/redoc"))["worker-src"]
    assert "'unsafe-inline'" not in policy(demo_client.anonymous.get("/maps/public"))["style-src"]


def test_the_docs_pages_load_everything_from_the_app(demo_client: GridmapClient) -> None:
    for path in ("/docs", "/redoc"):
        page = demo_client.anonymous.get(path).text
        assert "cdn." not in page and "googleapis" not in page and "http" not in page.replace("http-equiv", "")
        for asset in [part.split('"')[0] for part in page.split('src="')[1:] + page.split('href="')[1:]]:
            assert demo_client.anonymous.get(asset).status_code == 200, asset


def test_nonced_marks_elements_not_text_that_looks_like_them() -> None:
    document = (
        '<html><head><style>a{}</style><script>const c = {"label": "<script>x</script\\u003e"};</script>'
        '<script src="/static/a.js"></script></head><body>\n<p>&lt;script&gt;</p>\n<script>go();</script></body>'
    )
    marked = nonced(document, "N0")
    assert inline_nonces(marked) == ["N0", "N0", "N0"]
    assert '"label": "<script>x</script\\u003e"' in marked  # text inside a script is left as it was
    assert '<script src="/static/a.js"></script>' in marked and "<p>&lt;script&gt;</p>" in marked


@pytest.mark.parametrize(
    ("basemap", "source"), [("amap", "https://*.is.autonavi.com"), ("osm", "https://tile.openstreetmap.org")]
)
def test_a_chosen_basemap_is_an_allowed_image_source_of_that_page_only(
    demo_client: GridmapClient, basemap: str, source: str
) -> None:
    assert source in policy(demo_client.anonymous.get("/maps/public", params={"basemap": basemap}))["img-src"]
    assert policy(demo_client.anonymous.get("/maps/public"))["img-src"] == ["'self'", "data:", "blob:"]
    assert policy(demo_client.anonymous.get("/health"))["img-src"] == ["'self'", "data:", "blob:"]


def test_tile_source() -> None:
    assert tile_source("https://rt{s}.map.gtimg.com/realtimerender?z={z}") == "https://*.map.gtimg.com"
    assert tile_source("http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png") == "http://10.1.2.3:8080"
    assert tile_source("/tiles/base/{z}/{x}/{y}.png") is None and tile_source(None) is None


@pytest.mark.parametrize(
    "path",
    ["/api/incidents", "/open311/v2/requests.json", "/api/auth/me", "/api/users", "/api/audit", "/api/visits"],
)
def test_personal_answers_are_not_stored(demo_client: GridmapClient, path: str) -> None:
    """Also when refused (401) or anonymous: a shared cache must never keep one."""
    assert demo_client.anonymous.get(path).headers["cache-control"] == "no-store"
    assert demo_client.get(path).headers["cache-control"] == "no-store"


def test_answers_to_credentials_are_not_stored_unless_public(demo_client: GridmapClient, demo_session: Session) -> None:
    """A token's answer may be made for its account; a route that says its answer is the same for everyone
    (tiles: `public`) keeps its caching, and so do static files and public reads without a token."""
    assert demo_client.get("/api/communities").headers["cache-control"] == "no-store"
    assert "no-store" not in demo_client.anonymous.get("/api/communities").headers.get("cache-control", "")
    x, y = tile_of(*centre(demo_session), 15)
    for client in (demo_client, demo_client.anonymous):
        tile = client.get(f"/tiles/buildings/15/{x}/{y}.pbf")
        assert tile.status_code == 200 and tile.headers["cache-control"].startswith("public, max-age")
    static = demo_client.anonymous.get("/static/vendor/leaflet/leaflet.js")
    assert "no-store" not in static.headers.get("cache-control", "") and static.headers["etag"]


def head_paths(session: Session) -> list[str]:
    x, y = tile_of(*centre(session), 15)
    return [
        "/health",
        "/api/communities?limit=2",
        "/api/communities/download?format=csv",
        "/api/incidents",
        "/ogc",
        "/ogc/collections",
        "/ogc/collections/grids/items?limit=2",
        "/ogc/collections/grids/items?limit=2&f=html",
        f"/tiles/buildings/15/{x}/{y}.pbf",
        "/static/vendor/leaflet/leaflet.js",
        "/static/gridmap/ogc.css",
        "/maps/overview",
        "/docs",
        "/openapi.json",
        "/open311/v2/services.json",
    ]


def test_head_answers_every_get_route_like_get_without_the_body(
    demo_client: GridmapClient, demo_session: Session
) -> None:
    client: TestClient = demo_client.anonymous
    for path in head_paths(demo_session):
        got, head = client.get(path), client.head(path)
        assert got.status_code == 200, (path, got.text[:300])
        assert head.status_code == 200 and head.content == b"", path
        # A download is a fresh file each time (its ETag is the file's): only whether it has one is the same.
        same = ("content-type", "cache-control") + (() if "/download" in path else ("etag", "content-disposition"))
        for header in same:
            assert head.headers.get(header) == got.headers.get(header), (path, header)
        assert ("etag" in head.headers) == ("etag" in got.headers), path
        if "content-length" in got.headers:
            assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content)), path
        assert "content-security-policy" in head.headers


def test_head_keeps_conditional_answers_and_errors(demo_client: GridmapClient, demo_session: Session) -> None:
    client: TestClient = demo_client.anonymous
    x, y = tile_of(*centre(demo_session), 15)
    tile = f"/tiles/buildings/15/{x}/{y}.pbf"
    etag = client.head(tile).headers["etag"]
    assert client.head(tile, headers={"If-None-Match": etag}).status_code == 304
    assert client.head("/static/vendor/leaflet/leaflet.js", headers={"If-None-Match": "nothing"}).status_code == 200
    assert client.head("/no/such/path").status_code == 404
    assert client.head("/api/incidents/999999999").status_code == 404
    assert client.head("/api/auth/token").status_code == 405  # POST only: HEAD goes with GET, not every route


def test_head_of_a_stream_ends_with_its_headers_and_stops_the_stream() -> None:
    """Pure ASGI: a GET stream passes through the headers untouched, and a HEAD of it ends at its headers, the
    stream stopped (the client is gone) instead of produced to its end for nobody."""
    produced: list[int] = []

    async def ticks() -> AsyncIterator[bytes]:
        for n in range(200):  # 10 s if nothing stops it
            produced.append(n)
            yield b"data: tick\n\n"
            await anyio.sleep(0.05)

    async def events(request: Request) -> StreamingResponse:
        return StreamingResponse(ticks(), media_type="text/event-stream")

    app = HeadAsGet(SecurityHeaders(Starlette(routes=[Route("/events", events)])))
    with TestClient(app) as client:
        head = client.head("/events")
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"].startswith("text/event-stream") and head.headers["x-frame-options"]
        assert len(produced) < 200
        produced.clear()
        with client.stream("GET", "/events") as stream:
            first = next(stream.iter_bytes())
        assert first.startswith(b"data: tick") and len(produced) < 200
