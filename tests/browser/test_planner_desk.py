"""Issue 17, the planner's desk (/maps/planner) in a real browser on the live demo: a draft out of its household
band cannot be published and the page says why; the band is set on the page; the diff against the current plan
lists the households moved; redo next to undo; buildings lassoed and reassigned; a rebalance previewed, discarded
and applied; the operation history. Each test edits its own draft (created through the API)."""

from __future__ import annotations

import httpx
from playwright.sync_api import expect
from shapely.geometry import shape

from tests.browser.harness import Browsing
from tests.browser.test_map_planner import (
    adjacent_pairs,
    api,
    create_draft,
    on_screen,
    open_planner,
    operations,
    plan_grids,
    screen_point,
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


def _grid_households(api: httpx.Client, plan_id: int) -> dict[int, int]:
    return {f["id"]: f["properties"]["households"] for f in plan_grids(api, plan_id)}


def test_lasso_reassign_reaches_the_api(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    grids = plan_grids(api, draft["id"])
    page = open_planner(web, draft["id"])
    source, target = adjacent_pairs(grids)[0]
    area = shape(source["geometry"])
    centre = area.representative_point()
    page.evaluate("([lat, lon]) => window.gridmapPlannerMap.setView([lat, lon], 17, { animate: false })",
                  [centre.y, centre.x])  # fmt: skip
    page.click("#gridmap-planner-reassign-mode")
    page.wait_for_selector("#gridmap-panel[data-buildings]:not([data-buildings='0'])", timeout=20_000)

    # A small lasso inside the source grid around one of its buildings: the page picks every building whose
    # centroid lies inside, as the API's buildings say.
    view = page.evaluate("(() => { const b = window.gridmapPlannerMap.getBounds();"
                         " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]; })()")  # fmt: skip
    loaded = api.get("/api/buildings", params={"bbox": ",".join(f"{v:.6f}" for v in view), "limit": 5000}).json()
    centroids = {b["id"]: shape(b["geometry"]).centroid for b in loaded["features"]}
    lasso = None
    for building in loaded["features"]:
        box = centroids[building["id"]].buffer(0.00025).envelope
        corners = list(box.exterior.coords)[:4]
        # Clicks land on whole pixels: no centroid may lie within a few pixels of the lasso's edge.
        clear = all(box.exterior.distance(c) > 0.00003 for c in centroids.values())
        if clear and area.contains(box) and all(on_screen(page, *c) for c in corners):
            lasso = box
            break
    assert lasso is not None, "no building of the source grid on screen"
    expected = sorted(i for i, c in centroids.items() if lasso.contains(c))
    page.click("#gridmap-planner-lasso")
    for corner in corners:
        page.mouse.click(*screen_point(page, *corner))
        page.wait_for_timeout(150)
    page.click("#gridmap-planner-finish")  # closes the ring
    picked = page.locator("#gridmap-planner-buildings")
    expect(picked).to_have_attribute("data-count", str(len(expected)))
    assert [int(i) for i in picked.get_attribute("data-ids").split(",")] == expected
    households = sum(b["properties"]["households"] or 0 for b in loaded["features"] if b["id"] in expected)

    before = _grid_households(api, draft["id"])
    page.select_option("#gridmap-planner-target", str(target["id"]))  # the picker (a click on the grid does too)
    page.click("#gridmap-planner-reassign-apply")
    wait_for_version(page, draft["version"] + 1)

    last = operations(api, draft["id"])[-1]
    assert last["kind"] == "reassign" and last["payload"]["grid"] == target["id"]
    assert sorted(last["payload"]["buildings"]) == expected
    after = _grid_households(api, draft["id"])
    assert last["households_moved"] == households
    assert after[target["id"]] == before[target["id"]] + households
    assert after.get(source["id"], 0) == before[source["id"]] - households
    expect(picked).to_have_attribute("data-count", "0")  # done: nothing picked any more
    expect(page.locator("#gridmap-planner-message")).to_have_attribute("data-kind", "ok")
    assert web.blocked == [] and web.console_errors == []


def test_rebalance_preview_then_discard_changes_nothing(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    before = _grid_households(api, draft["id"])
    page = open_planner(web, draft["id"])
    community = page.eval_on_selector("#gridmap-planner-community", "s => s.options[0].value")
    page.select_option("#gridmap-planner-community", community)
    page.click("#gridmap-planner-preview")
    proposal = page.locator("#gridmap-planner-proposal")
    expect(proposal).to_be_visible(timeout=30_000)
    rows = proposal.locator("tr.gp-proposal-row")
    assert rows.count() >= 1 and rows.count() == page.locator("path.gridmap-proposal").count()
    expect(proposal).to_contain_text(community)

    page.click("#gridmap-planner-proposal-discard")
    expect(proposal).to_be_hidden()
    assert page.locator("path.gridmap-proposal").count() == 0
    plan = api.get(f"/api/plans/{draft['id']}").json()
    assert plan["version"] == draft["version"]
    assert [op["kind"] for op in operations(api, draft["id"])] == ["create"]
    assert _grid_households(api, draft["id"]) == before
    expect(page.locator("#gridmap-panel")).to_have_attribute("data-version", str(draft["version"]))

    # Previewed again and applied: the community's grids are the previewed ones.
    page.click("#gridmap-planner-preview")
    expect(proposal).to_be_visible(timeout=30_000)
    shown = sorted(int(h) for h in proposal.locator("tr.gp-proposal-row td:nth-child(2)").all_inner_texts())
    page.click("#gridmap-planner-proposal-apply")
    wait_for_version(page, draft["version"] + 1)
    balanced = [f for f in plan_grids(api, draft["id"]) if f["properties"]["community_code"] == community]
    assert sorted(f["properties"]["households"] for f in balanced) == shown
    assert operations(api, draft["id"])[-1]["kind"] == "balance"
    assert web.blocked == [] and web.console_errors == []


def test_the_operation_history_marks_the_position_and_follows_undo_and_redo(web: Browsing, api: httpx.Client) -> None:
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

    page = open_planner(web, draft["id"])
    expect(page.locator("#gridmap-planner-redo")).to_be_enabled()  # the log is read once opened
    page.click("#gridmap-planner-history-box summary")
    history = page.locator("#gridmap-planner-history li.gp-op")
    expect(history).to_have_count(2)
    merge = history.nth(1)
    expect(merge).to_have_attribute("data-kind", "merge")
    expect(merge).to_have_attribute("data-current", "true")
    expect(merge).to_contain_text(f"{gone['properties']['households']} 户")  # households moved
    expect(merge).to_contain_text("planner")  # who
    expect(page.locator("#gridmap-planner-redo")).to_be_disabled()  # nothing undone yet

    page.click("#gridmap-planner-undo")
    wait_for_version(page, version + 1)
    expect(history).to_have_count(3)
    expect(history.nth(1)).to_have_attribute("data-undone", "true")
    expect(history.nth(0)).to_have_attribute("data-current", "true")  # back at the draft as created
    expect(page.locator("#gridmap-planner-undo")).to_be_disabled()
    page.click("#gridmap-planner-redo")
    wait_for_version(page, version + 2)
    expect(history).to_have_count(4)
    expect(history.nth(1)).to_have_attribute("data-current", "true")
    expect(history.nth(3)).to_have_attribute("data-kind", "redo")
    expect(page.locator("#gridmap-planner-redo")).to_be_disabled()
    logged = operations(api, draft["id"])
    assert [(o["kind"], o["current"]) for o in logged] == [
        ("create", False),
        ("merge", True),
        ("undo", False),
        ("redo", False),
    ]
    assert web.blocked == [] and web.console_errors == []


def test_the_diff_panel_lists_a_compound_newly_split(web: Browsing, api: httpx.Client) -> None:
    draft = create_draft(api)
    grids = plan_grids(api, draft["id"])
    shapes = [(g["id"], shape(g["geometry"])) for g in grids]
    buildings = api.get("/api/buildings", params={"limit": 10_000}).json()["features"]
    compounds: dict[str, list[tuple[int, int]]] = {}
    for building in buildings:
        name = building["properties"]["compound"]
        if name:
            point = shape(building["geometry"]).representative_point()
            grid = next(g for g, s in shapes if s.contains(point))
            compounds.setdefault(name, []).append((building["id"], grid))
    name, members = next((n, m) for n, m in sorted(compounds.items()) if len(m) > 1 and len({g for _, g in m}) == 1)
    moved, home = members[0]
    other = next(g for g, _ in shapes if g != home)
    answer = api.post(
        f"/api/plans/{draft['id']}/reassign",
        json={"grid": other, "buildings": [moved]},
        headers={"If-Match": f'"{draft["version"]}"'},
    )
    assert answer.status_code == 200, answer.text
    wait_for_plan(api, draft["id"], answer.json()["plan"]["version"])

    page = open_planner(web, draft["id"])
    page.click("#gridmap-planner-diff")
    item = page.locator(f"#gridmap-planner-diff-result .gp-diff-compounds li[data-compound='{name}']")
    expect(item).to_be_visible()
    expect(item).to_contain_text(name)
    assert page.locator("path.gridmap-diff-compound").count() >= 1
    assert web.blocked == [] and web.console_errors == []
