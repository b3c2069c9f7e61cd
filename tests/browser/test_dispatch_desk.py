"""The dispatcher's desk (issue 17) in a real browser over the live API: the queue, live updates through the
event stream, dispatch to a department and a worker.

The live server's database is shared by all browser tests: each test reports its own incidents and asserts only
on those (and on counts agreeing with each other, never on their values).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page

from tests.browser.harness import Browsing
from tests.browser.test_map_dispatch import district_points, incident, open_dispatch, report

LIVE = "#gridmap-live[data-live='true']"


def counts_agree(page: Page) -> None:
    """The summary's overdue number is the legend's, and the summary's total is the legend's sum."""
    summary = page.inner_text("#gridmap-dispatch-status")
    total, overdue = (int(n) for n in re.findall(r"\d+", summary)[:2])
    legend = {
        li.get_attribute("data-status"): int(re.sub(r"\D", "", li.locator(".gridmap-count").inner_text()) or 0)
        for li in page.locator("#gridmap-legend li").all()
    }
    assert legend.pop("overdue") == overdue, (summary, legend)
    assert sum(legend.values()) == total, (summary, legend)


def test_a_report_made_through_the_api_appears_on_the_open_page_within_2_s(web: Browsing) -> None:
    page = open_dispatch(web)
    page.wait_for_selector(LIVE, timeout=10_000)
    (point,) = district_points(web.base_url, 20, 1)
    incident_id = report(web.base_url, point, "实时推送测试")
    # The stream polls every 2 s at most; the row, the marker and the counts follow without a reload.
    page.wait_for_selector(f"#gridmap-queue li[data-id='{incident_id}']", timeout=2_000)
    assert incident_id in {int(k) for k in page.evaluate("Object.keys(window.gridmapDispatchMarkers)")}
    counts_agree(page)
    row = page.inner_text(f"#gridmap-queue li[data-id='{incident_id}']")
    assert "已上报" in row and "热线电话" in row and re.search(r"剩 .*(小时|分)", row), row  # channel and countdown
    assert web.blocked == [] and web.console_errors == []


def test_queue_search_and_a_row_flies_to_the_incident(web: Browsing) -> None:
    (point,) = district_points(web.base_url, 21, 1)
    incident_id = report(web.base_url, point, "队列搜索测试 独有词语")
    page = open_dispatch(web)
    page.fill("#gridmap-dispatch-filters input[name='q']", "独有词语")
    page.press("#gridmap-dispatch-filters input[name='q']", "Enter")
    page.wait_for_function(
        "id => [...document.querySelectorAll('#gridmap-queue li')].map(li => +li.dataset.id).join() === String(id)",
        arg=incident_id,
        timeout=10_000,
    )
    counts_agree(page)
    page.click(f"#gridmap-queue li[data-id='{incident_id}'] button")
    popup = page.locator(f".gridmap-incident-popup[data-id='{incident_id}']")
    popup.locator(".gridmap-actions").wait_for(timeout=10_000)
    assert "热线电话" in popup.inner_text() and "hotline" not in popup.inner_text()
    assert web.blocked == [] and web.console_errors == []


def test_dispatch_to_a_department_and_a_worker(web: Browsing, live_headers: Callable[[str], dict[str, str]]) -> None:
    admin = live_headers("admin")
    (point,) = district_points(web.base_url, 22, 1)
    incident_id = report(web.base_url, point, "派遣到人测试")
    registered = httpx.post(
        f"{web.base_url}/api/incidents/{incident_id}/transitions",
        json={"action": "register"},
        headers=admin,
        timeout=30,
    )
    assert registered.status_code == 200, registered.text
    options = httpx.get(f"{web.base_url}/api/incidents/{incident_id}/dispatch-options", headers=admin, timeout=30)
    worker = options.json()["workers"][0]

    page = open_dispatch(web, "?lang=zh")
    page.fill("#gridmap-dispatch-filters input[name='q']", f"#{incident_id}")
    page.press("#gridmap-dispatch-filters input[name='q']", "Enter")
    page.wait_for_selector(f"#gridmap-queue li[data-id='{incident_id}']", timeout=10_000)
    page.click(f"#gridmap-queue li[data-id='{incident_id}'] button")
    popup = page.locator(f".gridmap-incident-popup[data-id='{incident_id}']")
    popup.locator(".gridmap-actions[data-pickers='ready']").wait_for(timeout=10_000)
    popup.locator("select[name='department']").select_option("市政管理所")
    popup.locator("select[name='worker']").select_option(str(worker["id"]))
    popup.locator("button[data-action='dispatch']").click()
    popup.locator(".gridmap-popup-done").wait_for(timeout=10_000)

    stored = incident(web.base_url, incident_id, admin)
    assert stored["status"] == "dispatched" and stored["department"] == "市政管理所"
    assert stored["assignee_id"] == worker["id"]
    assert worker["name"] in popup.inner_text()  # 处置人
    counts_agree(page)
    assert web.blocked == [] and web.console_errors == []
