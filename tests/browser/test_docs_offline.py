"""/docs (Swagger UI) and /redoc in a real headless browser with every outside request blocked, under the app's
Content-Security-Policy: both render from the app's own copies of their scripts, and nothing is refused."""

from __future__ import annotations

from tests.browser.harness import Browsing


def test_swagger_ui_lists_the_operations_offline(web_signed_out: Browsing) -> None:
    page = web_signed_out.open("/docs")
    page.wait_for_selector(".opblock-summary", timeout=30_000)
    assert page.locator(".opblock-summary").first.is_visible() and "gridmap" in page.inner_text(".info .title")
    # Swagger UI draws tags as they scroll into view: ask it what it read instead (`ui`: the page's script's).
    paths = page.evaluate("() => ui.specSelectors.paths().keySeq().toArray()")
    assert "/api/incidents" in paths and "/ogc/collections" in paths and len(paths) > 50
    assert web_signed_out.blocked == [] and web_signed_out.console_errors == []


def test_redoc_shows_its_menu_offline(web_signed_out: Browsing) -> None:
    page = web_signed_out.open("/redoc")
    page.wait_for_selector(".menu-content li", timeout=30_000)
    menu = page.locator(".menu-content")
    assert menu.is_visible() and "incidents" in menu.inner_text()
    page.wait_for_selector("h2", timeout=30_000)  # the operations themselves, not only the menu
    # ReDoc's bundle always asks for its maker's logo from a CDN, under the menu; the policy refuses it and ReDoc
    # then leaves the image out. That refusal is the one console error allowed here.
    logo = [e for e in web_signed_out.console_errors if "https://cdn.redoc.ly/" in e and "Content Security" in e]
    assert len(logo) <= 1 and page.locator("img[alt='redocly logo']").count() == 0
    assert web_signed_out.blocked == [] and [e for e in web_signed_out.console_errors if e not in logo] == []


def test_a_csp_violation_is_a_console_error_the_tests_see(web_signed_out: Browsing) -> None:
    """The control for every page test's `console_errors == []`: Chromium reports what the policy refuses as a
    console error, so a page whose scripts break the policy fails its test."""
    page = web_signed_out.open("/docs")
    page.wait_for_selector(".opblock-summary", timeout=30_000)
    page.evaluate("""() => {
        const script = document.createElement("script");  // inline, without the page's nonce: refused
        script.textContent = "window.injected = true";
        document.body.appendChild(script);
    }""")
    page.wait_for_timeout(200)  # the violation is reported asynchronously
    assert page.evaluate("() => window.injected === undefined")
    assert any("Content Security Policy" in error for error in web_signed_out.console_errors)
