"""The leaders' dashboard (/maps/dashboard) in a real headless browser, offline, over the live API and PostGIS:
every chart drawn by ECharts from the app, PNG and CSV exports, the density map, a leader signing in, phones.

The live database is shared: the tests assert on what the page draws, never on global incident counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page

from tests.browser import harness as browser
from tests.browser.harness import Browsing
from tests.conftest import LIVE_PASSWORD

READY = "body[data-dashboard='ready']"
CHARTS = ("status", "handling", "overdue_community", "overdue_department", "ratings", "load", "coverage")


@pytest.fixture
def phone_viewer(chromium, live_server: str, live_login, request: pytest.FixtureRequest) -> Iterator[Browsing]:
    yield from browser.browsing(chromium, live_server, request.node.name, signed_in=live_login("viewer"), phone=True)


def open_dashboard(web: Browsing, query: str = "") -> Page:
    page = web.open("/maps/dashboard" + query)
    page.wait_for_selector(READY, timeout=30_000)
    return page


def series_lengths(page: Page) -> dict[str, list[int]]:
    """Per chart: the number of data points of each of its series, from the live ECharts instances."""
    return page.evaluate(
        """() => Object.fromEntries(Object.entries(window.gridmapDashboardCharts).map(([name, chart]) =>
             [name, chart.getOption().series.map((s) => (s.data || []).length)]))"""
    )


def assert_clean(web: Browsing) -> None:
    assert web.console_errors == []
    assert web.blocked == []


def test_every_chart_renders_from_the_app(web: Browsing) -> None:
    page = open_dashboard(web)
    lengths = series_lengths(page)
    assert set(lengths) == set(CHARTS)
    for name in CHARTS:
        assert lengths[name] and all(n > 0 for n in lengths[name]), name
        # drawn: ECharts' canvas is in the card and has a size
        box = page.locator(f"#gridmap-dash-{name} canvas").first.bounding_box()
        assert box is not None and box["width"] > 100 and box["height"] > 100, name
    assert page.locator("[data-chart='status'] .gridmap-dash-title").inner_text().startswith("事件数量")
    # the density map: one shaded polygon per grid of the published plan, over the own basemap
    grids = page.evaluate("window.gridmapDashboardTables.density.rows.length")
    assert grids > 0
    assert page.locator("#gridmap-dash-density path.gridmap-density-grid").count() == grids
    assert page.evaluate("Object.keys(window.gridmapDashboardDensity._layers).length") == grids
    assert_clean(web)


def test_each_chart_exports_png_and_csv(web: Browsing) -> None:
    for name in (*CHARTS, "density"):
        # A fresh page per chart: Chromium stops a tab's downloads after ten in a row (its multiple-downloads guard).
        page = open_dashboard(web)
        card = page.locator(f"[data-chart='{name}']")
        with page.expect_download(timeout=10_000) as csv:
            card.locator("[data-export='csv']").click()
        text = Path(csv.value.path()).read_text(encoding="utf-8-sig")
        assert csv.value.suggested_filename.startswith(name) and csv.value.suggested_filename.endswith(".csv")
        assert len(text.strip().splitlines()) >= 2, name  # a header and data
        if name == "density":
            continue
        with page.expect_download(timeout=10_000) as png:
            card.locator("[data-export='png']").click()
        assert png.value.suggested_filename.endswith(".png")
        assert Path(png.value.path()).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert_clean(web)


def test_csv_cells_cannot_become_formulas(web: Browsing) -> None:
    page = open_dashboard(web)
    csv = page.evaluate(
        """() => gridmapCsv({header: ["a", "b"],
                             rows: [["=1+1", "+x"], ["-2", "@SUM(A1)"], ["\\tx", 'say "hi", ok']]})"""
    )
    assert csv.replace("\ufeff", "").split("\r\n")[1:4] == ["'=1+1,'+x", "'-2,'@SUM(A1)", '\'\tx,"say ""hi"", ok"']
    assert_clean(web)


@pytest.fixture
def leader(live_server: str, live_headers: Callable[[str], dict[str, str]]) -> str:
    """A leader account on the live server (made once; the demo users have no leader)."""
    answer = httpx.post(
        f"{live_server}/api/users",
        json={"name": "leader", "role": "leader", "password": LIVE_PASSWORD, "display_name": "测试领导"},
        headers=live_headers("admin"),
        timeout=30,
    )
    assert answer.status_code in (201, 409), answer.text
    return "leader"


def test_a_leader_signs_in_and_reads_it_in_english(web_signed_out: Browsing, leader: str) -> None:
    page = web_signed_out.open("/maps/dashboard?lang=en")
    page.fill("#gridmap-login-form input[name=username]", leader)
    page.fill("#gridmap-login-form input[name=password]", LIVE_PASSWORD)
    page.click("#gridmap-login-form button[type=submit]")
    page.wait_for_selector(READY, timeout=30_000)
    assert page.locator("[data-chart='load'] .gridmap-dash-title").inner_text().startswith("Households per grid")
    assert set(series_lengths(page)) == set(CHARTS)
    assert_clean(web_signed_out)


def test_a_dispatcher_is_told_it_is_not_for_them(
    chromium, live_server: str, live_login, request: pytest.FixtureRequest
) -> None:
    for web in browser.browsing(chromium, live_server, request.node.name, signed_in=live_login("dispatcher")):
        page = web.open("/maps/dashboard")
        page.wait_for_selector("body[data-dashboard='failed']", timeout=30_000)
        assert (
            "无权" in page.locator("#gridmap-dash-state").inner_text()
            or "领导" in page.locator("#gridmap-dash-state").inner_text()
        )
        assert web.blocked == []


def test_on_a_phone_the_charts_stack_and_fit(phone_viewer: Browsing) -> None:
    page = open_dashboard(phone_viewer)
    assert phone_viewer.horizontal_overflow() == 0
    boxes = [page.locator(f"[data-chart='{name}']").bounding_box() for name in (*CHARTS, "density")]
    assert all(b is not None and b["width"] <= 390 for b in boxes)
    lefts = {round(b["x"]) for b in boxes if b}
    assert len(lefts) == 1  # one column
    tops = [b["y"] for b in boxes if b]
    assert tops == sorted(tops)
    assert set(series_lengths(page)) == set(CHARTS)
    assert_clean(phone_viewer)
