"""Signing out on a page ends the token on the server, not only in the browser: a copy of it stops working."""

from __future__ import annotations

import httpx

from tests.browser.harness import Browsing
from tests.conftest import LIVE_PASSWORD

READY = "#gridmap-panel[data-ready='true']"


def test_signing_out_on_a_page_ends_its_token_on_the_server(web_signed_out: Browsing) -> None:
    web = web_signed_out
    page = web.open("/maps/dispatch")
    form = page.locator("#gridmap-login")
    form.wait_for(state="visible", timeout=20_000)
    page.fill("#gridmap-login input[name='username']", "dispatcher")
    page.fill("#gridmap-login input[name='password']", LIVE_PASSWORD)
    page.click("#gridmap-login button[type='submit']")
    page.wait_for_selector(READY, timeout=20_000)
    token = page.evaluate("sessionStorage.getItem('gridmap.token')")
    me = f"{web.base_url}/api/auth/me"
    assert httpx.get(me, headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code == 200

    page.click("#gridmap-logout")
    form.wait_for(state="visible", timeout=20_000)
    assert page.evaluate("sessionStorage.getItem('gridmap.token')") is None
    copied = httpx.get(me, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert copied.status_code == 401 and "signed out" in copied.json()["detail"]
    assert web.blocked == [] and web.console_errors == []
