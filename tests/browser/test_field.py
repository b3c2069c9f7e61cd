"""The grid worker's phone app (/field): sign in once (a device session), check in, start an incident of my grid and
resolve it with a photo that the dispatcher then sees; offline, a report and a check-in wait in the phone's queue
(also across a reload) and reach the server exactly once when the connection is back. Also: the page on a desktop,
the manifest and the service worker."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, FilePayload, Page
from shapely.geometry import shape
from sqlalchemy import create_engine, text

from tests.browser import harness as browser
from tests.conftest import LIVE_PASSWORD

READY = "body[data-ready='true']"
OFFLINE_NOISE: tuple[str, ...] = ()


def _settled(session: browser.Browsing, noise: tuple[str, ...] = ()) -> None:
    assert session.horizontal_overflow() == 0
    assert [e for e in session.console_errors if not any(n in e for n in noise)] == [], session.console_errors
    assert session.blocked == []


@pytest.fixture
def field_phone(chromium: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    """A phone with nobody signed in: the app keeps its own device session (localStorage)."""
    yield from browser.browsing(chromium, live_server, request.node.name, phone=True)


@pytest.fixture
def field_desktop(chromium: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    yield from browser.browsing(chromium, live_server, request.node.name)


def sign_in(page: Page) -> None:
    page.wait_for_selector("#field-signin-form", state="visible", timeout=30_000)
    page.fill("#field-signin-form input[name='username']", "grid_worker")
    page.fill("#field-signin-form input[name='password']", LIVE_PASSWORD)
    page.click("#field-signin-form button[type='submit']")
    page.wait_for_selector(READY, timeout=30_000)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), "#3a7").save(out, format="PNG")
    return out.getvalue()


def incident_in_my_grid(base_url: str, live_headers) -> int:
    """A dispatched incident inside the grid worker's grid (reported, registered and dispatched by the dispatcher)."""
    grids = httpx.get(f"{base_url}/api/workers/me/grids", headers=live_headers("grid_worker"), timeout=30).json()
    point = shape(grids["features"][0]["geometry"]).representative_point()
    desk = live_headers("dispatcher")
    made = httpx.post(
        f"{base_url}/api/incidents",
        json={"category": "sanitation", "description": "垃圾满溢", "location": {"lon": point.x, "lat": point.y}},
        headers=desk,
        timeout=30,
    )
    assert made.status_code == 201, made.text
    incident = made.json()["id"]
    for action in ("register", "dispatch"):
        moved = httpx.post(
            f"{base_url}/api/incidents/{incident}/transitions", json={"action": action}, headers=desk, timeout=30
        )
        assert moved.status_code == 200, moved.text
    return incident


def my_checkins(base_url: str, live_headers) -> int:
    found = httpx.get(f"{base_url}/api/workers/me/checkins?limit=1000", headers=live_headers("grid_worker"), timeout=30)
    return len(found.json())


def test_the_worker_flow_check_in_start_resolve_with_a_photo(
    field_phone: browser.Browsing, live_headers, live_server: str
) -> None:
    incident = incident_in_my_grid(live_server, live_headers)
    checkins = my_checkins(live_server, live_headers)
    page = field_phone.open("/field")
    sign_in(page)
    # Signed in for days, and it survives closing the app (localStorage, not the tab's sessionStorage).
    assert page.evaluate("localStorage.getItem('gridmap.field.token')") is not None
    assert page.evaluate("sessionStorage.getItem('gridmap.token')") is None
    _settled(field_phone)
    # My grid on the map, with my position from the phone.
    page.click("#field-tab-button-map")
    page.wait_for_selector(".leaflet-overlay-pane path.leaflet-interactive", timeout=20_000)

    page.click("#field-tab-button-checkin")
    page.wait_for_selector("#field-position:has-text('±')", timeout=20_000)  # the phone's position and accuracy
    page.click("#field-checkin")
    page.wait_for_function(f"() => document.querySelectorAll('#field-patrol-list li').length > {checkins}")
    assert my_checkins(live_server, live_headers) == checkins + 1
    found = httpx.get(f"{live_server}/api/workers/me/checkins?limit=1", headers=live_headers("grid_worker"), timeout=30)
    assert found.json()[0]["accuracy_m"] == 12  # the accuracy the phone reported

    page.click("#field-tab-button-queue")
    item = page.locator(f"#field-queue [data-incident='{incident}']")
    item.click()
    # Only the grid worker's actions: start (and return); never register, dispatch or verify.
    page.wait_for_selector(".field-action-start", timeout=20_000)
    shown = page.eval_on_selector_all("#field-incident [data-action]", "els => els.map(e => e.dataset.action)")
    assert sorted(shown) == ["return", "start"]
    page.click(".field-action-start")
    page.wait_for_selector(f"#field-queue [data-incident='{incident}'] .field-status-in_progress", timeout=20_000)

    page.click(f"#field-queue [data-incident='{incident}']")
    page.wait_for_selector(".field-action-resolve", timeout=20_000)
    page.fill("#field-incident textarea[name='note']", "已清运")
    page.set_input_files(".field-photo-input", files=[FilePayload(name="done.png", mimeType="image/png", buffer=png())])
    page.click(".field-action-resolve")
    page.wait_for_selector(f"#field-queue [data-incident='{incident}'] .field-status-resolved", timeout=30_000)
    assert page.locator("#field-banner").is_hidden()  # nothing left waiting

    seen = httpx.get(f"{live_server}/api/incidents/{incident}", headers=live_headers("dispatcher"), timeout=30).json()
    assert seen["status"] == "resolved"
    assert [h["action"] for h in seen["history"]][-2:] == ["start", "resolve"]
    assert len(seen["photos"]) == 1
    photo = httpx.get(f"{live_server}{seen['photos'][0]['url']}", headers=live_headers("dispatcher"), timeout=30)
    assert photo.status_code == 200 and photo.headers["content-type"].startswith("image/")
    _settled(field_phone)


def test_offline_actions_wait_in_the_queue_and_arrive_exactly_once(
    field_phone: browser.Browsing, browser_database: str
) -> None:
    marker = "离线上报 · offline queue test"
    engine = create_engine(browser_database)

    def rows() -> tuple[int, int]:
        with engine.connect() as db:
            reports = db.execute(text("SELECT count(*) FROM incidents WHERE description = :d"), {"d": marker})
            checkins = db.execute(
                text("SELECT count(*) FROM worker_checkins c JOIN users u ON u.id = c.user_id "
                     "WHERE u.username = 'grid_worker'")
            )  # fmt: skip
            return reports.scalar_one(), checkins.scalar_one()

    page = field_phone.open("/field")
    sign_in(page)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=30_000)
    # The page and its scripts, loaded before the worker took over, are in its cache once it has fetched them again.
    page.wait_for_function(
        """async () => Boolean(await caches.match(location.href))
                       && Boolean(await caches.match(new URL('/static/gridmap/field.js', location.href).href))""",
        timeout=30_000,
    )
    before = rows()

    context = page.context
    context.set_offline(True)
    page.wait_for_selector("#field-net.field-offline")
    page.click("#field-tab-button-report")
    page.select_option("#field-report-category", "sanitation")
    page.fill("#field-report-form textarea[name='description']", marker)
    page.click("#field-report-form button[type='submit']")
    page.wait_for_selector("#field-banner:has-text('1 项待发送')")
    page.click("#field-tab-button-checkin")
    page.click("#field-checkin")
    page.wait_for_selector("#field-banner:has-text('2 项待发送')")

    # The queue is on the phone, not in the page: a reload while offline (the service worker serves the app) keeps it.
    page.reload()
    page.wait_for_selector("#field-banner:has-text('2 项待发送')", timeout=30_000)
    assert rows() == before

    context.set_offline(False)
    page.wait_for_selector("#field-banner", state="hidden", timeout=30_000)
    assert rows() == (before[0] + 1, before[1] + 1)
    # Sent means gone from the queue: a later start sends nothing again.
    page.reload()
    page.wait_for_selector(READY, timeout=30_000)
    assert page.evaluate("navigator.onLine") and page.locator("#field-banner").is_hidden()
    assert rows() == (before[0] + 1, before[1] + 1)
    engine.dispose()
    _settled(field_phone, noise=OFFLINE_NOISE)


def test_the_field_app_on_a_desktop_and_its_manifest_and_service_worker(
    field_desktop: browser.Browsing, live_server: str
) -> None:
    page = field_desktop.open("/field?lang=en")
    page.wait_for_selector("#field-signin-form", state="visible", timeout=30_000)
    assert page.inner_text("#field-tab-button-queue").strip() == "Queue"
    assert page.get_attribute("link[rel='manifest']", "href") == "/field/manifest.webmanifest?lang=en"
    _settled(field_desktop)

    manifest = httpx.get(f"{live_server}/field/manifest.webmanifest", timeout=30)
    assert manifest.headers["content-type"].startswith("application/manifest+json")
    body = manifest.json()
    assert body["display"] == "standalone" and body["start_url"] == "/field?lang=zh" and body["scope"] == "/field"
    for icon in body["icons"]:
        image = httpx.get(f"{live_server}{icon['src']}", timeout=30)
        assert image.headers["content-type"] == "image/png"
        assert (
            f"{Image.open(io.BytesIO(image.content)).width}x{Image.open(io.BytesIO(image.content)).height}"
            == icon["sizes"]
        )
    worker = httpx.get(f"{live_server}/field/sw.js", timeout=30)
    assert worker.headers["content-type"].startswith("text/javascript")
    assert worker.headers["service-worker-allowed"] == "/field"
