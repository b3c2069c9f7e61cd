"""The planner's grid editor (/maps/planner) in a real headless browser on the live app and a committed demo
database: edits made in the page reach the grid-plan API, a stale version is reported and retried without
losing the user's work, drawing drives split and redraw, and the published plan can only be copied.

Every test edits its own draft (created through the API), never the published plan the other browser tests
read.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import shapely
from playwright.sync_api import Page, expect
from shapely.geometry import shape
from shapely.ops import split

from maps.planner_map import LABELS
from tests.browser.harness import Browsing
from tests.conftest import LIVE_PASSWORD

READY = "#gridmap-panel[data-ready='true']"
# Chromium logs every 4xx answer to fetch() as a failed resource load; only the stale-edit test expects one.
STALE_LOAD_ERROR = "Failed to load resource: the server responded with a status of 412 (Precondition Failed)"


@pytest.fixture
def api(live_server: str, live_headers: Callable[[str], dict[str, str]]) -> Iterator[httpx.Client]:
    """The live API as the `planner` user (the pages themselves are signed in as `admin`)."""
    with httpx.Client(base_url=live_server, headers=live_headers("planner"), timeout=60) as client:
        yield client


def sign_in(page: Page, name: str, password: str = LIVE_PASSWORD) -> None:
    """Through the page's own form, as a person would."""
    page.locator("#gridmap-login").wait_for(state="visible", timeout=20_000)
    page.fill("#gridmap-login input[name='username']", name)
    page.fill("#gridmap-login input[name='password']", password)
    page.click("#gridmap-login button[type='submit']")


def wait_for_plan(api: httpx.Client, plan_id: int, version: int) -> None:
    """Until the plan reads at `version`: the API may answer a write just before its commit is visible."""
    deadline = time.monotonic() + 10
    while True:
        response = api.get(f"/api/plans/{plan_id}")
        if response.status_code == 200 and response.json()["version"] >= version:
            return
        assert time.monotonic() < deadline, f"plan {plan_id} never reached version {version}: {response.text}"
        time.sleep(0.05)


def create_draft(api: httpx.Client) -> dict[str, Any]:
    response = api.post("/api/plans", json={"base": "current", "name": f"浏览器测试草案-{uuid.uuid4()}"})
    assert response.status_code == 201, response.text
    draft = response.json()
    wait_for_plan(api, draft["id"], draft["version"])
    return draft


def plan_grids(api: httpx.Client, plan_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/api/plans/{plan_id}/grids")
    assert response.status_code == 200, response.text
    return response.json()["features"]


def adjacent_pairs(features: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Pairs of grids of one community sharing a stretch of boundary (not just a corner): mergeable neighbours.
    Grids of two communities may touch too, but merging them is refused (units are adjacent within a community)."""
    shapes = [shape(f["geometry"]) for f in features]
    return [
        (features[i], features[j])
        for i in range(len(features))
        for j in range(i + 1, len(features))
        if features[i]["properties"]["community_code"] == features[j]["properties"]["community_code"]
        and shapes[i].intersection(shapes[j]).length > 1e-4  # ~10 m of shared edge
    ]


def open_planner(web: Browsing, plan_id: int | None, lang: str | None = None) -> Page:
    query = "&".join(p for p in (f"plan={plan_id}" if plan_id else "", f"lang={lang}" if lang else "") if p)
    page = web.open(f"/maps/planner{'?' + query if query else ''}")
    page.wait_for_selector(READY, timeout=20_000)
    return page


def screen_point(page: Page, lon: float, lat: float) -> tuple[float, float]:
    """Viewport coordinates of a WGS 84 point on the page's map."""
    return tuple(
        page.evaluate(
            """([lat, lon]) => {
                const map = window.gridmapPlannerMap;
                const p = map.latLngToContainerPoint([lat, lon]);
                const box = map.getContainer().getBoundingClientRect();
                return [p.x + box.left, p.y + box.top];
            }""",
            [lat, lon],
        )
    )


def clickable_point(page: Page, feature: dict[str, Any]) -> tuple[float, float] | None:
    """A screen point inside the grid where a click reaches the grid's own path (not the panel), or None."""
    point = shape(feature["geometry"]).representative_point()
    x, y = screen_point(page, point.x, point.y)
    hit = page.evaluate(
        "([x, y, id]) => { const e = document.elementFromPoint(x, y);"
        " return Boolean(e && e.classList.contains(`gridmap-grid-${id}`)); }",
        [x, y, feature["id"]],
    )
    return (x, y) if hit else None


def on_screen(page: Page, lon: float, lat: float) -> bool:
    """The point is on the map and not under the panel or a control."""
    x, y = screen_point(page, lon, lat)
    return page.evaluate(
        "([x, y]) => { const e = document.elementFromPoint(x, y);"
        " return Boolean(e && e.closest('.leaflet-container') && !e.closest('.leaflet-control, #gridmap-panel')); }",
        [x, y],
    )


def clickable_pairs(page: Page, features: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(a, b) for a, b in adjacent_pairs(features) if clickable_point(page, a) and clickable_point(page, b)]


def click_grid(page: Page, feature: dict[str, Any]) -> None:
    point = clickable_point(page, feature)
    assert point is not None, f"grid {feature['properties']['code']} is not clickable on screen"
    page.mouse.click(*point)


def selected_ids(page: Page) -> list[int]:
    return [int(x) for x in page.eval_on_selector_all("#gridmap-planner-selection li[data-grid]",
                                                       "items => items.map(i => i.dataset.grid)")]  # fmt: skip


def wait_for_version(page: Page, version: int) -> None:
    page.wait_for_selector(f"#gridmap-panel[data-version='{version}'][data-busy='false']", timeout=30_000)


def grid_count(page: Page) -> int:
    return int(page.get_attribute("#gridmap-planner-summary", "data-grids"))


def operations(api: httpx.Client, plan_id: int) -> list[dict[str, Any]]:
    response = api.get(f"/api/plans/{plan_id}/operations")
    assert response.status_code == 200, response.text
    return response.json()


def test_planner_signs_in_then_merges_and_the_api_names_them(web_signed_out: Browsing, api: httpx.Client) -> None:
    web = web_signed_out
    draft = create_draft(api)
    before = plan_grids(api, draft["id"])
    page = web.open(f"/maps/planner?plan={draft['id']}")
    expect(page.locator("#gridmap-login")).to_contain_text("网格规划：请先登录")
    sign_in(page, "planner")
    page.wait_for_selector(READY, timeout=20_000)
    expect(page.locator("#gridmap-user")).to_contain_text("planner")
    assert grid_count(page) == len(before)
    assert page.locator("path.gridmap-grid").count() == len(before)
    first, second = clickable_pairs(page, before)[0]

    click_grid(page, first)
    click_grid(page, second)
    assert selected_ids(page) == [first["id"], second["id"]]
    expect(page.locator(f"path.gridmap-grid-{first['id']}")).to_have_class(re.compile(r"\bgridmap-grid-selected\b"))
    page.click("#gridmap-planner-merge")
    wait_for_version(page, draft["version"] + 1)

    plan = api.get(f"/api/plans/{draft['id']}").json()
    assert plan["version"] == draft["version"] + 1
    assert plan["grids"] == len(before) - 1
    merges = [op for op in operations(api, draft["id"]) if op["kind"] == "merge"]
    assert len(merges) == 1 and merges[0]["payload"]["grids"] == [first["id"], second["id"]]
    assert merges[0]["actor"] == "planner"  # who signed in, not anything the page could claim
    merged = next(f for f in plan_grids(api, draft["id"]) if f["id"] == first["id"])
    assert merged["properties"]["households"] == (
        first["properties"]["households"] + second["properties"]["households"]
    )

    # The page shows the new layout: one polygon fewer, the merged grid with its new household count.
    assert grid_count(page) == len(before) - 1
    assert page.locator("path.gridmap-grid").count() == len(before) - 1
    assert page.locator(f"path.gridmap-grid-{second['id']}").count() == 0
    assert page.locator(f"path.gridmap-grid-{first['id']}").count() == 1
    centre = shape(merged["geometry"]).representative_point()
    page.evaluate("([lat, lon]) => window.gridmapPlannerMap.setView([lat, lon], 16)", [centre.y, centre.x])
    label = page.locator(".gridmap-planner-label", has_text=merged["properties"]["code"])
    expect(label).to_have_count(1)
    expect(label).to_contain_text(f"{merged['properties']['households']} 户")
    expect(page.locator("#gridmap-planner-message")).to_have_attribute("data-kind", "ok")
    assert web.blocked == [] and web.console_errors == []


def test_a_stale_edit_is_reported_keeps_the_selection_and_succeeds_on_retry(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    before = plan_grids(api, draft["id"])
    page = open_planner(web, draft["id"])
    pairs = clickable_pairs(page, before)
    first, second = pairs[0]
    # Someone else merges two other grids behind the page's back.
    other = next((a, b) for a, b in pairs if not {a["id"], b["id"]} & {first["id"], second["id"]})
    click_grid(page, first)
    click_grid(page, second)
    bump = api.post(
        f"/api/plans/{draft['id']}/merge",
        json={"grids": [other[0]["id"], other[1]["id"]]},
        headers={"If-Match": f'"{draft["version"]}"'},
    )
    assert bump.status_code == 200, bump.text
    wait_for_plan(api, draft["id"], draft["version"] + 1)

    page.click("#gridmap-planner-merge")
    message = page.locator("#gridmap-planner-message[data-kind='conflict']")
    expect(message).to_be_visible(timeout=20_000)
    expect(message).to_contain_text("方案已被他人修改")
    # The server's detail, in the page's language (the page asks the API in Chinese whatever the browser prefers).
    expect(message).to_contain_text(f"当前为第 {draft['version'] + 1} 版，不是第 {draft['version']} 版")
    wait_for_version(page, draft["version"] + 1)  # the page reloaded the current version…
    assert grid_count(page) == len(before) - 1  # …with the other planner's merge
    assert selected_ids(page) == [first["id"], second["id"]]  # and the user's selection is intact
    assert api.get(f"/api/plans/{draft['id']}").json()["version"] == draft["version"] + 1  # nothing applied

    page.click("#gridmap-planner-retry")
    wait_for_version(page, draft["version"] + 2)
    expect(page.locator("#gridmap-planner-message")).to_have_attribute("data-kind", "ok")
    plan = api.get(f"/api/plans/{draft['id']}").json()
    assert plan["version"] == draft["version"] + 2 and plan["grids"] == len(before) - 2
    merges = [op["payload"]["grids"] for op in operations(api, draft["id"]) if op["kind"] == "merge"]
    assert merges == [[other[0]["id"], other[1]["id"]], [first["id"], second["id"]]]
    assert grid_count(page) == len(before) - 2
    assert web.blocked == []
    # The refused request itself is the one expected console error (Chromium logs the 412 load).
    assert [e for e in web.console_errors if e != STALE_LOAD_ERROR] == []


def test_split_by_drawing_a_line_across_the_selected_grid(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    before = plan_grids(api, draft["id"])
    page = open_planner(web, draft["id"])
    # The largest grid that can be clicked, cut west–east through its middle; both ends of the line on screen.
    for grid in sorted(before, key=lambda f: -shape(f["geometry"]).area):
        outline = shape(grid["geometry"])
        west, _, east, _ = outline.bounds
        middle = outline.representative_point().y
        margin = (east - west) * 0.15
        ends = [(west - margin, middle), (east + margin, middle)]
        cut = split(outline, shapely.LineString(ends))
        if len(cut.geoms) >= 2 and clickable_point(page, grid) and all(on_screen(page, *end) for end in ends):
            break
    else:
        pytest.fail("no grid of the demo district can be split on screen")

    click_grid(page, grid)
    page.click("#gridmap-planner-split")
    expect(page.locator("#gridmap-planner-drawing")).to_be_visible()
    for end in ends:
        page.mouse.click(*screen_point(page, *end))
        page.wait_for_timeout(150)  # Leaflet.draw ignores a vertex within 50 ms of the previous one
    page.click("#gridmap-planner-finish")
    wait_for_version(page, draft["version"] + 1)

    plan = api.get(f"/api/plans/{draft['id']}").json()
    assert plan["grids"] == len(before) + 1
    splits = [op for op in operations(api, draft["id"]) if op["kind"] == "split"]
    assert len(splits) == 1 and splits[0]["payload"]["grid"] == grid["id"]
    line = splits[0]["payload"]["line"]
    assert line["type"] == "LineString" and len(line["coordinates"]) == 2
    assert shapely.LineString(line["coordinates"]).distance(shapely.LineString(ends)) < 1e-5  # what was clicked
    new_grid = splits[0]["payload"]["result"]["new_grids"][0]
    assert grid_count(page) == len(before) + 1
    assert page.locator(f"path.gridmap-grid-{new_grid['id']}").count() == 1
    assert sorted(selected_ids(page)) == sorted([grid["id"], new_grid["id"]])  # the two halves, to inspect
    assert page.locator(".leaflet-draw-tooltip").count() == 0  # drawing mode is over
    assert web.blocked == [] and web.console_errors == []


def test_redraw_shows_validation_findings_and_undo_clears_them(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    before = plan_grids(api, draft["id"])
    page = open_planner(web, draft["id"])
    # Redraw grid A to take in a grid B that does not touch it: A falls into separate parts (non_contiguous).
    shapes = {f["id"]: shape(f["geometry"]) for f in before}
    target, taken, corners = None, None, []
    for a in before:
        if not clickable_point(page, a):
            continue
        for b in before:
            if shapes[a["id"]].distance(shapes[b["id"]]) < 0.003:  # at least one grid in between
                continue
            box = shapes[b["id"]].centroid.buffer(0.0006).envelope
            corners = list(box.exterior.coords)[:4]
            if all(on_screen(page, *c) for c in corners):
                target, taken = a, b
                break
        if target:
            break
    assert target and taken, "no pair of distant grids on screen"

    click_grid(page, target)
    page.click("#gridmap-planner-redraw")
    for corner in corners:
        page.mouse.click(*screen_point(page, *corner))
        page.wait_for_timeout(150)
    page.click("#gridmap-planner-finish")
    wait_for_version(page, draft["version"] + 1)

    validation = api.get(f"/api/plans/{draft['id']}/validation").json()
    assert any(e["type"] == "non_contiguous" for e in validation["errors"])
    summary = page.locator("#gridmap-planner-validation")
    expect(summary).to_have_attribute("data-errors", str(len(validation["errors"])))
    expect(page.locator("#gridmap-planner-findings li[data-type='non_contiguous']").first).to_be_visible()
    assert page.locator("path.gridmap-finding-error").count() >= 1  # drawn on the map in red
    expect(page.locator("#gridmap-planner-publish")).to_be_disabled()  # errors block publishing
    assert [op["kind"] for op in operations(api, draft["id"])][-1] == "redraw"

    page.click("#gridmap-planner-undo")
    wait_for_version(page, draft["version"] + 2)
    expect(summary).to_have_attribute("data-errors", "0")
    assert page.locator("path.gridmap-finding-error").count() == 0
    assert grid_count(page) == len(before)
    assert [op["kind"] for op in operations(api, draft["id"])][-1] == "undo"
    assert web.blocked == [] and web.console_errors == []


def test_english_page(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    html = api.get(f"/maps/planner?plan={draft['id']}&lang=en").text
    assert len(html.encode()) < 200_000 and "cdn" not in html.lower()
    assert '"type": "Feature"' not in html  # layers are fetched, never embedded

    page = open_planner(web, draft["id"], lang="en")
    panel = page.locator("#gridmap-panel")
    expect(panel).to_contain_text("Grid planner")
    expect(panel).to_contain_text("Selected grids")
    expect(page.locator("#gridmap-planner-summary")).to_contain_text(f"{draft['grids']} grids")
    expect(page.locator("#gridmap-planner-plan")).to_contain_text("draft")
    for name in ("merge", "split", "redraw", "balance", "undo", "publish"):
        expect(page.locator(f"#gridmap-planner-{name}")).to_have_text(LABELS["en"][name])
    assert "合并" not in panel.inner_text()
    switch = page.locator("#gridmap-panel a[data-lang='zh']")
    expect(switch).to_have_text("中文")
    assert f"plan={draft['id']}" in switch.get_attribute("href")  # the switch keeps the plan
    switch.click()
    page.wait_for_selector(READY, timeout=20_000)
    expect(page.locator("#gridmap-planner-merge")).to_have_text("合并")
    assert web.blocked == [] and web.console_errors == []


def test_the_published_plan_is_read_only_and_offers_a_draft(web: Browsing, api: httpx.Client) -> None:
    current = next(p for p in api.get("/api/plans").json() if p["status"] == "published")
    page = open_planner(web, None)
    expect(page.locator("#gridmap-panel")).to_have_attribute("data-status", "published")
    expect(page.locator("#gridmap-planner-plan")).to_contain_text(f"#{current['id']}")
    create = page.locator("#gridmap-planner-create-draft")
    expect(create).to_be_visible()
    expect(create).to_have_text("创建草案")
    expect(create).to_be_enabled()
    grids = plan_grids(api, current["id"])
    first, second = clickable_pairs(page, grids)[0]
    click_grid(page, first)  # grids can still be inspected…
    click_grid(page, second)
    assert selected_ids(page) == [first["id"], second["id"]]
    for name in ("merge", "split", "redraw", "balance", "undo", "publish"):  # …but not edited
        expect(page.locator(f"#gridmap-planner-{name}")).to_be_disabled()

    name = f"浏览器测试草案-{uuid.uuid4()}"
    page.fill("#gridmap-planner-draft-name", name)
    create.click()
    page.wait_for_url("**/maps/planner?plan=*", timeout=20_000)
    page.wait_for_selector(READY, timeout=20_000)
    draft = next(p for p in api.get("/api/plans").json() if p["name"] == name)
    assert draft["status"] == "draft" and draft["base_plan_id"] == current["id"]
    assert f"plan={draft['id']}" in page.url
    expect(page.locator("#gridmap-panel")).to_have_attribute("data-status", "draft")
    expect(page.locator("#gridmap-planner-draft")).to_be_hidden()
    expect(page.locator("#gridmap-planner-undo")).to_be_enabled()
    assert api.get(f"/api/plans/{current['id']}").json()["version"] == current["version"]  # untouched
    assert web.blocked == [] and web.console_errors == []


def test_rebalance_a_community_then_publish_the_draft(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    previous = next(p for p in api.get("/api/plans").json() if p["status"] == "published")
    page = open_planner(web, draft["id"])
    community = page.eval_on_selector("#gridmap-planner-community", "s => s.options[1].value")
    page.select_option("#gridmap-planner-community", community)
    page.fill("#gridmap-planner-min", "250")
    page.fill("#gridmap-planner-max", "600")
    page.click("#gridmap-planner-balance")
    wait_for_version(page, draft["version"] + 1)
    expect(page.locator("#gridmap-planner-message")).to_have_attribute("data-kind", "ok")
    balances = [op for op in operations(api, draft["id"]) if op["kind"] == "balance"]
    assert len(balances) == 1
    assert balances[0]["payload"]["community"] == community
    assert (balances[0]["payload"]["min_households"], balances[0]["payload"]["max_households"]) == (250, 600)
    balanced = [f for f in plan_grids(api, draft["id"]) if f["properties"]["community_code"] == community]
    assert balanced and all(250 <= f["properties"]["households"] <= 600 for f in balanced)
    assert grid_count(page) == len(plan_grids(api, draft["id"]))

    page.once("dialog", lambda dialog: dialog.accept())  # the confirmation names the plan and version
    page.click("#gridmap-planner-publish")
    expect(page.locator("#gridmap-panel")).to_have_attribute("data-status", "published", timeout=30_000)
    assert api.get(f"/api/plans/{draft['id']}").json()["status"] == "published"
    assert api.get(f"/api/plans/{previous['id']}").json()["status"] == "retired"
    for name in ("merge", "split", "redraw", "balance", "undo", "publish"):  # published: read-only now
        expect(page.locator(f"#gridmap-planner-{name}")).to_be_disabled()
    assert web.blocked == [] and web.console_errors == []


def test_an_expired_sign_in_asks_again_and_the_edit_goes_through(web_signed_out: Browsing, api: httpx.Client) -> None:
    web = web_signed_out
    web.page.add_init_script("window.sessionStorage.setItem('gridmap.token', 'expired-or-revoked')")
    draft = create_draft(api)
    page = open_planner(web, draft["id"])  # reading plans needs no token: the page loads
    first, second = clickable_pairs(page, plan_grids(api, draft["id"]))[0]
    click_grid(page, first)
    click_grid(page, second)
    page.click("#gridmap-planner-merge")

    # The edit is refused (401): the form asks to sign in again, then the same edit is sent once more.
    expect(page.locator("#gridmap-login .gridmap-login-error")).to_have_text("登录已过期，请重新登录。")
    assert draft["version"] == api.get(f"/api/plans/{draft['id']}").json()["version"]
    sign_in(page, "admin")
    wait_for_version(page, draft["version"] + 1)
    merges = [op for op in operations(api, draft["id"]) if op["kind"] == "merge"]
    assert len(merges) == 1 and merges[0]["actor"] == "admin"
    expected = [e for e in web.console_errors if "401" in e]
    assert len(expected) == 1
    web.console_errors.remove(expected[0])
    assert web.blocked == [] and web.console_errors == []


@pytest.mark.parametrize(
    ("lang", "said", "not_said"),
    [("en", "needs the role admin or planner", None), ("zh", "需要以下角色", "needs the role")],
)
def test_a_viewer_is_signed_in_but_may_not_edit(
    web_signed_out: Browsing, api: httpx.Client, lang: str, said: str, not_said: str | None
) -> None:
    """A viewer's merge is refused in the page's own language (the page asks the API in it) and changes nothing."""
    web = web_signed_out
    draft = create_draft(api)
    page = web.open(f"/maps/planner?plan={draft['id']}" + ("&lang=en" if lang == "en" else ""))
    if lang == "en":
        expect(page.locator("#gridmap-login")).to_contain_text("Grid planner: please sign in.")
    sign_in(page, "viewer")
    page.wait_for_selector(READY, timeout=20_000)
    first, second = clickable_pairs(page, plan_grids(api, draft["id"]))[0]
    click_grid(page, first)
    click_grid(page, second)
    page.click("#gridmap-planner-merge")
    message = page.locator("#gridmap-planner-message")
    expect(message).to_have_attribute("data-kind", "error")
    expect(message).to_contain_text(said)
    if not_said:
        assert not_said not in message.inner_text()
    assert api.get(f"/api/plans/{draft['id']}").json()["version"] == draft["version"]
    expected = [e for e in web.console_errors if "403" in e]
    assert len(expected) == 1
    web.console_errors.remove(expected[0])
    assert web.blocked == [] and web.console_errors == []
