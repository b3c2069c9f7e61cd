"""The public notice (/notice) in a real browser on a phone and a desktop: it renders a closed incident's
category, community and days to close, filters by community, and fits the screen."""

from __future__ import annotations

import httpx
import pytest

from tests.browser.harness import Browsing


@pytest.fixture(scope="module")
def closed_incident(live_server: str, live_headers) -> dict:
    """An incident reported in the demo district and taken round the whole loop to closed."""
    admin = live_headers("admin")
    reported = httpx.post(
        f"{live_server}/api/incidents",
        json={"category": "facility_damage", "location": {"lon": 121.55, "lat": 29.87}, "description": "notice-x"},
        timeout=30,
    ).json()
    for action in ("register", "dispatch", "start", "resolve", "verify", "close"):
        moved = httpx.post(
            f"{live_server}/api/incidents/{reported['id']}/transitions",
            json={"action": action},
            headers=admin,
            timeout=30,
        )
        assert moved.status_code == 200, moved.text
    return reported


@pytest.mark.parametrize("device", ["phone", "web_signed_out"])
def test_notice_renders_and_filters(device: str, closed_incident: dict, request: pytest.FixtureRequest) -> None:
    session: Browsing = request.getfixturevalue(device)
    page = session.open("/notice")
    page.wait_for_selector("#gridmap-notice")
    community = closed_incident["community_name"]
    closed = page.inner_text("#gridmap-notice-closed")
    assert community in closed and "公共设施损坏" in closed
    assert page.locator(".gridmap-bar-row").count() >= 1
    assert "notice-x" not in page.content()
    code = (
        page.locator(f"section[data-community] h3:text-is('{community}')").locator("..").get_attribute("data-community")
    )
    page.select_option("#gridmap-notice-community", code)
    visible = page.locator("section.gridmap-notice-community:visible")
    assert visible.count() == 1 and community in visible.inner_text()
    assert session.horizontal_overflow() == 0
    assert session.console_errors == []
    assert session.blocked == []
