"""The overview page in a real headless browser, offline."""

from __future__ import annotations

from tests.browser.harness import Browsing


def test_overview_page_draws_communities_and_grids_offline(web: Browsing) -> None:
    page = web.open("/maps/overview")
    page.wait_for_selector("#gridmap-panel[data-ready='true']", timeout=20_000)
    assert "个社区" in page.inner_text("#gridmap-panel")
    assert page.locator("path.leaflet-interactive").count() > 40  # grids and communities drawn
    assert web.blocked == [] and web.console_errors == []
