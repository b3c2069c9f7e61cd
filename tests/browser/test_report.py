"""Residents' reporting (/report) and tracking (/report/{number}) in a real browser, on a phone and a desktop:
choose the spot, category and description, send, get a tracking number, and follow it on a page that shows the
status but never the description or contact."""

from __future__ import annotations

import io
import re

import httpx
from PIL import Image
from playwright.sync_api import Page

from tests.browser.harness import Browsing

READY = "#gridmap-report[data-ready='true']"
NUMBER = re.compile(r"^[2-9A-HJ-NP-Z]{8}$")


def _settled(session: Browsing) -> None:
    assert session.horizontal_overflow() == 0
    assert session.console_errors == []
    assert session.blocked == []


def _fill(page: Page, description: str, contact: str) -> None:
    page.select_option("#gridmap-category", "sanitation")
    page.fill("#gridmap-description", description)
    page.fill("#gridmap-contact", contact)


def _number(page: Page) -> str:
    page.wait_for_selector("#gridmap-result:not([hidden])", timeout=30_000)
    number = page.inner_text("#gridmap-tracking-number").strip()
    assert NUMBER.match(number), number
    return number


def _follow(session: Browsing, number: str, *secrets: str) -> None:
    """The tracking link opens the status page: the status and number, none of `secrets`."""
    page = session.page
    page.click("#gridmap-track-link")
    page.wait_for_url(re.compile(f"/report/{number}"))
    body = page.inner_text("body")
    assert number in body and "已上报" in body
    content = page.content()
    for secret in secrets:
        assert secret not in content, secret
    _settled(session)


def test_report_on_a_phone_with_my_location(phone: Browsing) -> None:
    page = phone.open("/report")
    page.wait_for_selector(READY, timeout=30_000)
    _settled(phone)  # before anything is touched: the form fits the phone
    page.tap("#gridmap-locate-me")
    page.wait_for_selector("#gridmap-place.gridmap-place-chosen", timeout=15_000)
    assert "我的位置" in page.inner_text("#gridmap-place")
    _fill(page, "垃圾桶满溢无人清运 phone-desc-5521", "13655550001")
    page.tap("#gridmap-submit")
    number = _number(page)
    _settled(phone)
    _follow(phone, number, "phone-desc-5521", "13655550001", "121.55")


def test_report_on_a_desktop_by_search_with_a_photo_and_a_double_click(
    web_signed_out: Browsing, live_server: str, live_headers
) -> None:
    web = web_signed_out  # a resident: nobody signed in
    page = web.open("/report")
    page.wait_for_selector(READY, timeout=30_000)
    page.fill("#gridmap-search", "中学")
    page.press("#gridmap-search", "Enter")  # searches; does not send the form
    page.wait_for_selector(".gridmap-search-hit", timeout=15_000)
    page.click(".gridmap-search-hit >> nth=0")
    assert "中学" in page.inner_text("#gridmap-place")
    _fill(page, "desktop-desc-8812 路灯不亮", "desk-contact-8812")
    image = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(image, "PNG")
    page.set_input_files("#gridmap-photo", {"name": "p.png", "mimeType": "image/png", "buffer": image.getvalue()})
    page.dblclick("#gridmap-submit")  # a double click makes one report (Idempotency-Key, button disabled)
    number = _number(page)
    _settled(web)
    tracked = httpx.get(f"{live_server}/api/track/{number}", timeout=30).json()
    assert tracked["status"] == "reported"
    # One incident with this description, and its photo attached (seen by the dispatcher).
    dispatcher = live_headers("dispatcher")
    found = httpx.get(f"{live_server}/api/incidents", params={"limit": 50}, headers=dispatcher, timeout=30).json()
    mine = [f for f in found["features"] if f["properties"].get("description") == "desktop-desc-8812 路灯不亮"]
    assert len(mine) == 1
    detail = httpx.get(f"{live_server}/api/incidents/{mine[0]['id']}", headers=dispatcher, timeout=30).json()
    assert len(detail.get("photos", [])) == 1
    _follow(web, number, "desktop-desc-8812", "desk-contact-8812")


def test_report_by_tapping_the_map_in_english(web_signed_out: Browsing) -> None:
    web = web_signed_out
    page = web.open("/report?lang=en")
    page.wait_for_selector(READY, timeout=30_000)
    page.click("#gridmap-submit")
    assert "Choose the place first" in page.inner_text("#gridmap-report-status")
    box = page.locator(".folium-map").bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.5)  # the district, right of the form
    page.wait_for_selector("#gridmap-place.gridmap-place-chosen")
    _fill(page, "english-desc", "english-contact")
    page.click("#gridmap-submit")
    _number(page)
    assert "Your tracking number" in page.inner_text("#gridmap-result")
    _settled(web)


def test_tracking_page_for_an_unknown_number(phone: Browsing) -> None:
    page = phone.open("/report/ZZZZZZZZ")
    assert "未找到" in page.inner_text("body")
    assert phone.horizontal_overflow() == 0 and phone.blocked == []
    # The 404 of the page itself is the only console message allowed.
    assert all("404" in message for message in phone.console_errors)
