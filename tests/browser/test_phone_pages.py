"""Every page a person may open, on a phone (390×844, touch): it loads, fits the screen (no horizontal overflow), logs
no console error and asks nothing of the network but the app (tests/browser/harness.py blocks the rest).

The planner and dispatch pages are editors for a desk or a tablet: below 768 px they open read-only with a note
instead of failing (they used to open at full zoom, or fail with "Invalid LatLng object: (NaN, NaN)"), and at 768 px
they work as on a desktop. A grid worker who opens the dispatch page is sent to the field app.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import harness as browser
from tests.browser.test_map_dispatch import district_points, open_popup, report

READY = "#gridmap-panel[data-ready='true']"
TABLET = {"width": 768, "height": 1024}
READ_ONLY_ZH = "在手机上只读，编辑请用平板或电脑"
READ_ONLY_EN = "Read-only on a phone: edit on a tablet or a computer"


def settled(session: browser.Browsing) -> None:
    assert session.horizontal_overflow() == 0
    assert session.console_errors == []
    assert session.blocked == []


def map_view_is_sane(page: Page, name: str) -> None:
    """Fitted to the district, not at the deepest zoom (a padding wider than the map used to give that)."""
    zoom = page.evaluate(f"() => window.{name}.getZoom()")
    assert 12 <= zoom <= 17, zoom
    center = page.evaluate(f"() => window.{name}.getCenter()")
    assert 121.4 < center["lng"] < 121.7 and 29.8 < center["lat"] < 29.95, center


def signed_in(
    chromium: Browser, live_server: str, name: str, token: dict, *, phone: bool
) -> Iterator[browser.Browsing]:
    yield from browser.browsing(chromium, live_server, name, signed_in=token, phone=phone)


@pytest.fixture
def phone_admin(chromium: Browser, live_server: str, live_login, request: pytest.FixtureRequest):
    yield from signed_in(chromium, live_server, request.node.name, live_login("admin"), phone=True)


@pytest.fixture
def tablet_admin(chromium: Browser, live_server: str, live_login, request: pytest.FixtureRequest):
    """The harness's desktop context at a tablet's size, held upright (768×1024)."""
    for session in signed_in(chromium, live_server, request.node.name, live_login("admin"), phone=False):
        session.page.set_viewport_size(TABLET)
        yield session


@pytest.mark.parametrize("path", ["/", "/report", "/notice", "/field", "/docs"])
def test_page_fits_a_phone(phone: browser.Browsing, path: str) -> None:
    page = phone.open(path)
    page.wait_for_load_state("networkidle", timeout=30_000)
    settled(phone)


@pytest.mark.parametrize("path", ["/maps/public", "/maps/overview"])
def test_public_maps_fit_a_phone(phone: browser.Browsing, path: str) -> None:
    page = phone.open(path)
    page.wait_for_selector(READY, timeout=30_000)
    settled(phone)


def test_sign_in_form_fits_a_phone(phone: browser.Browsing) -> None:
    page = phone.open("/maps/planner")
    form = page.locator("#gridmap-login-form")
    form.wait_for(state="visible", timeout=20_000)
    box = form.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    settled(phone)


@pytest.mark.parametrize("path", ["/maps/planner", "/maps/dispatch"])
def test_staff_editor_on_a_phone_opens_read_only(phone_admin: browser.Browsing, path: str) -> None:
    page = phone_admin.open(path)
    page.wait_for_selector(READY, timeout=30_000)
    assert page.inner_text("#gridmap-read-only") == READ_ONLY_ZH
    settled(phone_admin)


def test_planner_on_a_phone_shows_the_plan_fitted_without_editing_tools(phone_admin: browser.Browsing) -> None:
    page = phone_admin.open("/maps/planner?lang=en")
    page.wait_for_selector(READY, timeout=30_000)
    assert page.inner_text("#gridmap-read-only") == READ_ONLY_EN
    map_view_is_sane(page, "gridmapPlannerMap")
    assert page.locator("path.gridmap-grid").count() > 10
    assert not page.locator("#gridmap-planner-editor").is_visible()
    assert not page.locator("#gridmap-planner-draft").is_visible()
    # A tap on a grid selects nothing: nothing on a phone leads to an edit.
    assert page.evaluate("() => window.gridmapPlannerSelect(1)") is False
    settled(phone_admin)


def test_dispatch_on_a_phone_shows_incidents_but_no_transition_buttons(phone_admin: browser.Browsing) -> None:
    [point] = district_points(phone_admin.base_url, 40, 1)
    incident_id = report(phone_admin.base_url, point, "手机只读测试")
    page = phone_admin.open("/maps/dispatch")
    page.wait_for_selector(READY, timeout=30_000)
    popup = open_popup(page, incident_id)  # the details open as on a desktop…
    actions = popup.locator(".gridmap-actions")
    assert READ_ONLY_ZH in actions.inner_text()  # …but no transition buttons: the note says where to edit
    assert actions.locator("button").count() == 0
    settled(phone_admin)


@pytest.mark.parametrize("path", ["/maps/planner", "/maps/dispatch"])
def test_staff_editor_on_a_tablet_works(tablet_admin: browser.Browsing, path: str) -> None:
    page = tablet_admin.open(path)
    page.wait_for_selector(READY, timeout=30_000)
    assert page.locator("#gridmap-read-only").count() == 0
    if path == "/maps/planner":
        map_view_is_sane(page, "gridmapPlannerMap")
        assert page.locator("#gridmap-planner-editor").is_visible()
    else:
        assert page.locator("#gridmap-dispatch-filters").is_visible()
    settled(tablet_admin)


@pytest.mark.parametrize("phone", [True, False])
def test_a_grid_worker_on_the_dispatch_page_is_sent_to_the_field_app(
    chromium: Browser, live_server: str, live_login, request: pytest.FixtureRequest, phone: bool
) -> None:
    asked: list[str] = []
    for session in signed_in(chromium, live_server, request.node.name, live_login("grid_worker"), phone=phone):
        session.page.on("request", lambda r: asked.append(r.url))
        page = session.open("/maps/dispatch")
        page.wait_for_selector(READY, timeout=30_000)
        link = page.locator("#gridmap-field-link")
        assert link.get_attribute("href") == "/field"
        assert "网格员请使用手机工作台" in page.inner_text("#gridmap-panel")
        assert not page.locator("#gridmap-dispatch-filters").is_visible()
        assert not any("/api/incidents" in url for url in asked)  # no list of every incident, no 403 buttons
        settled(session)
