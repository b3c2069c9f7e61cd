"""The dispatch map (/maps/dispatch) in a real headless browser, offline, over the live API and PostGIS.

Browser tests share one committed database, so each test reports its own incidents through the API and
asserts only on those, never on global counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
import shapely.geometry
import sqlalchemy
from playwright.sync_api import Page, Response

from tests.browser.harness import Browsing
from tests.conftest import LIVE_PASSWORD

READY = "#gridmap-panel[data-ready='true']"
OVERDUE_RGB = "rgb(215, 25, 28)"  # maps.dispatch_map.OVERDUE_COLOR


def district_points(base_url: str, first: int, n: int) -> list[tuple[float, float]]:
    """(lon, lat) inside `n` demo buildings, starting at the `first`-th (tests use different buildings)."""
    response = httpx.get(f"{base_url}/api/buildings", params={"limit": first + n}, timeout=30)
    response.raise_for_status()
    features = response.json()["features"][first : first + n]
    assert len(features) == n, "the demo district has too few buildings for this test"
    points = [shapely.geometry.shape(f["geometry"]).representative_point() for f in features]
    return [(p.x, p.y) for p in points]


@pytest.fixture
def admin(live_headers: Callable[[str], dict[str, str]]) -> dict[str, str]:
    """The live server's admin: incidents' full details and history need a dispatcher or an admin."""
    return live_headers("admin")


def report(
    base_url: str, point: tuple[float, float], description: str, category: str = "sanitation", **extra: str
) -> int:
    """Reported as the public does: without a token."""
    response = httpx.post(
        f"{base_url}/api/incidents",
        json={
            "category": category,
            "description": description,
            "location": {"lon": point[0], "lat": point[1]},
            "channel": "hotline",
            **extra,
        },
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def incident(base_url: str, incident_id: int, headers: dict[str, str]) -> dict:
    response = httpx.get(f"{base_url}/api/incidents/{incident_id}", headers=headers, timeout=30)
    response.raise_for_status()
    return response.json()


def open_dispatch(web: Browsing, query: str = "") -> Page:
    page = web.open("/maps/dispatch" + query)
    page.wait_for_selector(READY, timeout=20_000)
    return page


def marker_ids(page: Page) -> set[int]:
    return {int(k) for k in page.evaluate("Object.keys(window.gridmapDispatchMarkers)")}


def open_popup(page: Page, incident_id: int):
    """Bring the incident's marker out of its cluster, click it for real, wait for the details."""
    assert page.evaluate("id => window.gridmapDispatchReveal(id)", incident_id) is True
    page.click(f".gridmap-incident-dot[data-id='{incident_id}']")
    popup = page.locator(f".gridmap-incident-popup[data-id='{incident_id}']")
    popup.locator(".gridmap-actions").wait_for(timeout=10_000)
    return popup


def buttons(popup) -> list[str]:
    return popup.locator(".gridmap-action-buttons button").all_inner_texts()


def test_dispatch_page_shows_incidents_clusters_heat_and_grid_tiles(web: Browsing) -> None:
    ids = [report(web.base_url, p, f"调度图测试 {n}") for n, p in enumerate(district_points(web.base_url, 0, 3))]
    html = httpx.get(f"{web.base_url}/maps/dispatch", timeout=30).text
    assert len(html.encode()) < 200_000
    assert "FeatureCollection" not in html and "调度图测试" not in html  # data is fetched, never embedded
    assert not re.search(r"""(src|href)=["']https?://""", html)  # no CDN

    grid_tiles: list[Response] = []
    web.page.on("response", lambda r: grid_tiles.append(r) if "/tiles/grids/" in r.url else None)
    page = open_dispatch(web)

    assert set(ids) <= marker_ids(page)
    assert page.locator(".marker-cluster, .gridmap-incident").count() > 0
    assert "事件调度" in page.inner_text("#gridmap-panel")
    assert re.search(r"共 \d+ 件事件", page.inner_text("#gridmap-dispatch-status"))
    legend = page.inner_text("#gridmap-legend")
    assert "已上报" in legend and "超期" in legend and "已结案" in legend

    overlays = page.locator(".leaflet-control-layers-overlays label")
    assert {"事件", "热力图", "网格边界"} <= {t.strip() for t in overlays.all_inner_texts()}
    assert page.locator("canvas.leaflet-heatmap-layer").count() == 0  # off until toggled
    overlays.filter(has_text="热力图").locator("input").check()
    page.wait_for_selector("canvas.leaflet-heatmap-layer")

    page.wait_for_function("() => document.querySelectorAll('.leaflet-tile-container canvas').length > 0")
    page.wait_for_timeout(500)
    assert any(r.status == 200 for r in grid_tiles), [(r.url, r.status) for r in grid_tiles]
    assert web.blocked == [] and web.console_errors == []


def test_dispatcher_signs_in_through_the_form_sees_details_and_registers(
    web_signed_out: Browsing, admin: dict[str, str]
) -> None:
    web = web_signed_out
    (point,) = district_points(web.base_url, 3, 1)
    incident_id = report(web.base_url, point, "楼道堆放垃圾（调度测试）", reporter_contact="13700001111")
    page = web.open("/maps/dispatch")

    # Nobody is signed in in this tab: the form comes first, and nothing is fetched until it is filled in.
    form = page.locator("#gridmap-login")
    form.wait_for(state="visible", timeout=20_000)
    assert "登录" in form.inner_text() and "用户名" in form.inner_text() and "密码" in form.inner_text()
    page.fill("#gridmap-login input[name='username']", "dispatcher")
    page.fill("#gridmap-login input[name='password']", "not the password")
    page.click("#gridmap-login button[type='submit']")
    page.locator(".gridmap-login-error", has_text="用户名或密码错误").wait_for(timeout=10_000)
    page.fill("#gridmap-login input[name='password']", LIVE_PASSWORD)
    page.click("#gridmap-login button[type='submit']")
    page.wait_for_selector(READY, timeout=20_000)
    assert form.is_hidden()
    assert "dispatcher" in page.inner_text("#gridmap-user")
    assert page.evaluate("sessionStorage.getItem('gridmap.token')")  # this tab only

    popup = open_popup(page, incident_id)
    text = popup.inner_text()
    assert f"#{incident_id}" in text and "环境卫生与垃圾" in text
    assert (
        "楼道堆放垃圾（调度测试）" in text and "环卫所" in text and "热线电话" in text
    )  # the channel in the page's language
    assert "13700001111" in text and "联系方式" in text  # dispatchers see the reporter's contact
    assert popup.locator(".gridmap-status-badge").inner_text() == "已上报"
    assert "上报" in popup.locator(".gridmap-history").inner_text()
    assert buttons(popup) == ["立案", "不予立案", "标记重复"]
    assert "reporter_contact" not in text

    popup.locator("button[data-action='register']").click()
    popup.locator(".gridmap-status-badge", has_text="已立案").wait_for(timeout=10_000)
    assert buttons(popup) == ["标记重复", "派遣"]
    assert popup.locator(".gridmap-popup-done").inner_text() == "已立案。"
    dot = page.locator(f".gridmap-incident-dot[data-id='{incident_id}']")
    assert dot.get_attribute("data-status") == "registered"

    stored = incident(web.base_url, incident_id, admin)
    assert stored["status"] == "registered"
    assert stored["history"][-1]["action"] == "register" and stored["history"][-1]["actor"] == "dispatcher"

    page.keyboard.press("Escape")
    page.click("#gridmap-logout")  # signed out: the page starts over at the form
    form.wait_for(state="visible", timeout=20_000)
    assert page.evaluate("sessionStorage.getItem('gridmap.token')") is None
    # Chromium logs the refused sign-in (401) as a console error; that one is expected, nothing else is.
    expected = [e for e in web.console_errors if "401" in e]
    assert len(expected) == 1
    web.console_errors.remove(expected[0])
    assert web.blocked == [] and web.console_errors == []


def test_dispatch_reason_is_asked_for_and_conflicts_are_shown(
    web: Browsing, admin: dict[str, str], live_headers: Callable[[str], dict[str, str]]
) -> None:
    first, second = district_points(web.base_url, 4, 2)
    rejected_id = report(web.base_url, first, "重复投诉？（调度测试）")
    raced_id = report(web.base_url, second, "另一位调度员已处理（调度测试）")
    # The page's live events are held (as on a slow network) so that its popup still offers 立案 after another
    # dispatcher registered the incident: the race the 409 is for. With events flowing the popup may redraw first.
    web.page.route("**/api/incidents/events*", lambda route: None)
    page = open_dispatch(web)

    popup = open_popup(page, rejected_id)
    popup.locator("button[data-action='reject']").click()  # no reason yet: asked for one, nothing sent
    assert "请先填写原因" in popup.locator(".gridmap-popup-hint").inner_text()
    assert incident(web.base_url, rejected_id, admin)["status"] == "reported"
    popup.locator("input[name='note']").fill("不属于网格管理范围")
    popup.locator("button[data-action='reject']").click()
    popup.locator(".gridmap-status-badge", has_text="不予立案").wait_for(timeout=10_000)
    assert "事件已办结" in popup.inner_text()
    stored = incident(web.base_url, rejected_id, admin)
    assert stored["status"] == "rejected" and stored["history"][-1]["note"] == "不属于网格管理范围"
    page.keyboard.press("Escape")

    popup = open_popup(page, raced_id)
    # Another dispatcher registers it while this popup still offers 立案: the 409 is shown plainly.
    httpx.post(
        f"{web.base_url}/api/incidents/{raced_id}/transitions",
        json={"action": "register"},
        headers=live_headers("dispatcher"),  # the page is signed in as admin
        timeout=30,
    ).raise_for_status()
    popup.locator("button[data-action='register']").click()
    error = popup.locator(".gridmap-popup-error")
    error.wait_for(timeout=10_000)
    # The server's refusal in the page's language (the page asks the API in Chinese whatever the browser prefers).
    assert "操作未执行" in error.inner_text() and "事件当前状态为「已立案」，不能「立案」" in error.inner_text()
    assert popup.locator(".gridmap-status-badge").inner_text() == "已立案"  # redrawn as it is now
    assert buttons(popup) == ["标记重复", "派遣"]
    assert incident(web.base_url, raced_id, admin)["history"][-1]["actor"] == "dispatcher"

    # Chromium logs every non-2xx response as a console error; the 409 is expected here, nothing else is.
    expected = [e for e in web.console_errors if "409" in e]
    assert len(expected) == 1
    web.console_errors.remove(expected[0])
    assert web.blocked == [] and web.console_errors == []


def test_dispatch_overdue_incidents_are_red_and_filters_refetch(web: Browsing, browser_database: str) -> None:
    late_point, fresh_point = district_points(web.base_url, 6, 2)
    late_id = report(web.base_url, late_point, "超期未立案（调度测试）", category="facility_damage")
    fresh_id = report(web.base_url, fresh_point, "刚上报（调度测试）", category="facility_damage")
    engine = sqlalchemy.create_engine(browser_database)
    try:
        with engine.begin() as connection:
            connection.execute(
                sqlalchemy.text("UPDATE incidents SET deadline_at = now() - interval '1 hour' WHERE id = :id"),
                {"id": late_id},
            )
    finally:
        engine.dispose()
    page = open_dispatch(web)

    late = page.locator(f".gridmap-incident-dot[data-id='{late_id}']")
    fresh = page.locator(f".gridmap-incident-dot[data-id='{fresh_id}']")
    page.evaluate("id => window.gridmapDispatchReveal(id)", late_id)
    assert late.get_attribute("data-overdue") == "true"
    assert late.evaluate("el => getComputedStyle(el).backgroundColor") == OVERDUE_RGB
    page.evaluate("id => window.gridmapDispatchReveal(id)", fresh_id)
    assert fresh.get_attribute("data-overdue") == "false"
    assert fresh.evaluate("el => getComputedStyle(el).backgroundColor") != OVERDUE_RGB
    popup = open_popup(page, late_id)
    assert popup.locator(".gridmap-overdue-badge").inner_text() == "超期"
    page.keyboard.press("Escape")

    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/api/incidents?" in r.url else None)
    page.check("#gridmap-dispatch-filters input[name='overdue']")
    page.wait_for_selector(READY, timeout=20_000)
    assert any("overdue=true" in url for url in requests)
    ids = marker_ids(page)
    assert late_id in ids and fresh_id not in ids

    page.uncheck("#gridmap-dispatch-filters input[name='overdue']")
    page.select_option("#gridmap-dispatch-filters select[name='status']", "closed")
    page.wait_for_selector(READY, timeout=20_000)
    assert any("status=closed" in url and "overdue" not in url for url in requests)
    assert not {late_id, fresh_id} & marker_ids(page)

    page.select_option("#gridmap-dispatch-filters select[name='status']", "reported")
    page.wait_for_selector(READY, timeout=20_000)
    assert {late_id, fresh_id} <= marker_ids(page)
    assert web.blocked == [] and web.console_errors == []


def test_dispatch_page_in_english_and_switches_back(web: Browsing) -> None:
    (point,) = district_points(web.base_url, 8, 1)
    incident_id = report(web.base_url, point, "Overflowing bins (dispatch test)")
    page = open_dispatch(web, "?lang=en")

    panel = page.inner_text("#gridmap-panel")
    assert "Incident dispatch" in panel and "incidents" in panel and "Overdue only" in panel
    assert "Reported" in page.inner_text("#gridmap-legend")
    overlays = {t.strip() for t in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()}
    assert {"Incidents", "Heat map", "Grid boundaries"} <= overlays
    popup = open_popup(page, incident_id)
    assert "Sanitation and garbage" in popup.inner_text() and "History" in popup.inner_text()
    assert buttons(popup) == ["Register", "Reject", "Mark duplicate"]

    page.click("#gridmap-lang")  # the visible 中文 switch
    page.wait_for_selector(READY, timeout=20_000)
    assert "lang=zh" in page.url
    assert "事件调度" in page.inner_text("#gridmap-panel")
    assert web.blocked == [] and web.console_errors == []
