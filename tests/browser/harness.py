"""Browser tests' machinery: the real app served by uvicorn on a committed demo database, and headless
Debian Chromium driven by Playwright with every request that is not to the app blocked (offline proof).

Each test's page records console errors, uncaught exceptions and blocked requests, and leaves a
screenshot in artifacts/.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import uvicorn
from playwright.sync_api import Browser, Page, sync_playwright

from api.app import create_app
from gis.settings import Settings

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


@dataclass
class Browsing:
    page: Page
    base_url: str
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    phone: bool = False

    def horizontal_overflow(self) -> int:
        """CSS pixels the page is wider than its viewport (0 on a page that fits a phone)."""
        return int(self.page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth"))

    def open(self, path: str) -> Page:
        self.page.goto(self.base_url + path)
        return self.page


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(database_url: str, *, uploads_dir: Path | None = None) -> Iterator[str]:
    """Run the app on a free port in a thread; yields its base URL."""
    port = free_port()
    # Every page of every test signs in from 127.0.0.1: the per-address sign-in limit (a guard against guessing,
    # tested in tests/api/test_limits.py) would refuse the suite itself; the per-account backoff stays on.
    settings = Settings(database_url=database_url, uploads_dir=uploads_dir, sign_in_attempts_per_minute=0)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the app did not start for the browser tests")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def launch() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield browser
        finally:
            browser.close()


# A phone as grid workers and residents hold it: 390×844 CSS pixels, touch, geolocation granted and set (a point in
# the middle of the demo district; tests move it with `context.set_geolocation`).
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "permissions": ["geolocation"],
    "geolocation": {"longitude": 121.55, "latitude": 29.87, "accuracy": 12},
}
DESKTOP = {"viewport": {"width": 1280, "height": 860}}


def browsing(
    browser: Browser, base_url: str, name: str, signed_in: dict | None = None, *, phone: bool = False
) -> Iterator[Browsing]:
    """`signed_in`: a POST /api/auth/token answer to pre-seed, as the page's own sign-in form would store it.
    `phone`: the 390×844 touch context with geolocation (PHONE) instead of the desktop one."""
    context = browser.new_context(**(PHONE if phone else DESKTOP), locale="zh-CN")
    if signed_in is not None:
        context.add_init_script(
            f"window.sessionStorage.setItem('gridmap.token', {json.dumps(signed_in['access_token'])});"
            f"window.sessionStorage.setItem('gridmap.user', {json.dumps(json.dumps(signed_in['user']))});"
        )
    page = context.new_page()
    session = Browsing(page, base_url)
    session.phone = phone

    def gate(route) -> None:  # the platform runs offline: anything not served by the app is refused
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).hostname in LOCAL_HOSTS:
            route.continue_()
        else:
            session.blocked.append(url)
            route.abort()

    context.route("**/*", gate)
    page.on("console", lambda message: session.console_errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: session.console_errors.append(f"uncaught: {error}"))
    try:
        yield session
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=False)
        finally:
            context.close()
