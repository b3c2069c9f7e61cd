"""Issue 17, the planner's desk (/maps/planner) in a real browser on the live demo: a draft out of its household
band cannot be published and the page says why; the band is set on the page; the diff against the current plan
lists the households moved; redo next to undo. Each test edits its own draft (created through the API)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect

from tests.browser.harness import Browsing
from tests.browser.test_map_planner import (
    adjacent_pairs,
    api,
    create_draft,
    open_planner,
    operations,
    plan_grids,
    wait_for_plan,
    wait_for_version,
)

__all__ = ["api"]  # the planner's API client fixture, shared with test_map_planner


def test_a_band_error_blocks_publish_and_setting_the_band_clears_it(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    narrowed = api.patch(
        f"/api/plans/{draft['id']}",
        json={"min_households": 300, "max_households": 400},
        headers={"If-Match": f'"{draft["version"]}"'},
    )
    assert narrowed.status_code == 200, narrowed.text
    version = narrowed.json()["version"]
    wait_for_plan(api, draft["id"], version)
    above = [f for f in plan_grids(api, draft["id"]) if f["properties"]["households"] > 400]
    assert above  # the demo has grids of 302–490 households

    page = open_planner(web, draft["id"])
    expect(page.locator("#gridmap-planner-publish")).to_be_disabled()
    reason = page.locator("#gridmap-planner-publish-reason")
    expect(reason).to_be_visible()
    expect(reason).to_contain_text("households")  # the finding's own message, e.g. "… 490 households, above 400"
    findings = page.locator("#gridmap-planner-findings li[data-type='households_above']")
    expect(findings).to_have_count(len(above))
    zoom = page.evaluate("window.gridmapPlannerMap.getZoom()")
    findings.first.click()  # every finding zooms to its place
    page.wait_for_function("zoom => window.gridmapPlannerMap.getZoom() !== zoom", arg=zoom)

    # A band that takes every grid of this draft (other tests may have published merged grids into its base).
    households = [f["properties"]["households"] for f in plan_grids(api, draft["id"])]
    low, high = min(households), max(households)
    page.fill("#gridmap-planner-min", str(low))
    page.fill("#gridmap-planner-max", str(high))
    page.click("#gridmap-planner-set-band")
    wait_for_version(page, version + 1)
    plan = api.get(f"/api/plans/{draft['id']}").json()
    assert (plan["min_households"], plan["max_households"]) == (low, high)
    assert operations(api, draft["id"])[-1]["kind"] == "band"
    expect(page.locator("#gridmap-planner-publish")).to_be_enabled()
    expect(reason).to_be_hidden()
    assert web.blocked == [] and web.console_errors == []


def test_the_diff_panel_lists_the_moved_households(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    keep, gone = adjacent_pairs(plan_grids(api, draft["id"]))[0]
    merged = api.post(
        f"/api/plans/{draft['id']}/merge",
        json={"grids": [keep["id"], gone["id"]]},
        headers={"If-Match": f'"{draft["version"]}"'},
    )
    assert merged.status_code == 200, merged.text
    wait_for_plan(api, draft["id"], merged.json()["plan"]["version"])
    moved = gone["properties"]["households"]

    page = open_planner(web, draft["id"])
    page.click("#gridmap-planner-diff")
    result = page.locator("#gridmap-planner-diff-result")
    expect(result).to_be_visible()
    kept = result.locator(f"tr.gp-diff-changed[data-code='{keep['properties']['code']}']")
    expect(kept).to_contain_text(f"+{moved}")
    removed = result.locator(f"tr.gp-diff-removed[data-code='{gone['properties']['code']}']")
    expect(removed).to_contain_text(f"−{moved}")
    expect(result).to_contain_text(str(moved))
    assert page.locator("path.gridmap-diff").count() == 2  # both changed grids outlined on the map
    assert web.blocked == [] and web.console_errors == []


def test_undo_then_redo_on_the_page(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    keep, gone = adjacent_pairs(plan_grids(api, draft["id"]))[0]
    merged = api.post(
        f"/api/plans/{draft['id']}/merge",
        json={"grids": [keep["id"], gone["id"]]},
        headers={"If-Match": f'"{draft["version"]}"'},
    )
    assert merged.status_code == 200, merged.text
    version = merged.json()["plan"]["version"]
    wait_for_plan(api, draft["id"], version)
    grids = len(plan_grids(api, draft["id"]))

    page = open_planner(web, draft["id"])
    page.click("#gridmap-planner-undo")
    wait_for_version(page, version + 1)
    assert len(plan_grids(api, draft["id"])) == grids + 1
    page.click("#gridmap-planner-redo")
    wait_for_version(page, version + 2)
    assert operations(api, draft["id"])[-1]["kind"] == "redo"
    assert len(plan_grids(api, draft["id"])) == grids
    expect(page.locator("#gridmap-planner-message")).to_have_attribute("data-kind", "ok")
    assert web.blocked == [] and web.console_errors == []
