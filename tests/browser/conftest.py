"""Browser tests: headless Debian Chromium driven by Playwright against the live server of tests/conftest.py,
with every request that is not to the app blocked (tests/browser/harness.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser import harness as browser


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    yield from browser.launch()


@pytest.fixture
def web(chromium, live_server: str, live_login, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    """A fresh page on the live app, signed in as `admin`; blocked requests and console errors are recorded, a
    screenshot kept."""
    yield from browser.browsing(chromium, live_server, request.node.name, signed_in=live_login("admin"))


@pytest.fixture
def web_signed_out(chromium, live_server: str, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    """A fresh page on the live app with nobody signed in: staff pages open at their sign-in form."""
    yield from browser.browsing(chromium, live_server, request.node.name)


@pytest.fixture
def phone(chromium, live_server: str, live_login, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    """A fresh page on a phone (390×844, touch, geolocation in the demo district), nobody signed in; sign in as a role
    with `browser.browsing(..., signed_in=live_login(role), phone=True)` where a test needs one."""
    yield from browser.browsing(chromium, live_server, request.node.name, phone=True)
