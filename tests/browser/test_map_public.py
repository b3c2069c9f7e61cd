"""The public service-facility map (社区生活圈) in a real headless browser, offline, calling nothing personal."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from gis.registry import facility_registry
from maps.public_map import CATEGORY_ICONS
from tests.browser.harness import Browsing

CATEGORIES = list(facility_registry().categories)

# -- in the browser --------------------------------------------------------------------------------------------

# The page may call only these (besides itself and its static files): nothing that holds personal data.
ALLOWED_API = re.compile(
    r"^/api/(facilities|communities|coverage|reach|search|facilities/\d+/catchment)$",
)
PERSONAL = ("/api/incidents", "/api/buildings", "/api/users", "/api/workers", "/api/locate", "/open311", "/tiles/")


def record_requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def assert_only_public_calls(urls: list[str]) -> None:
    assert urls, "the page made no requests"
    for url in urls:
        path = urlparse(url).path
        if path.startswith("/tiles/basemap/"):
            continue  # the own basemap: streets, footprints and area outlines, no personal field (its own tests)
        assert not path.startswith(PERSONAL), url
        assert path == "/maps/public" or path.startswith("/static/") or ALLOWED_API.match(path), url


def free_spot(page: Page, selector: str) -> dict[str, float] | None:
    """The centre of the first element matching `selector` that is on screen and not covered by anything
    else (the side panel, the legend, another marker), as page coordinates."""
    return page.evaluate(
        """(selector) => {
            for (const element of document.querySelectorAll(selector)) {
                const r = element.getBoundingClientRect();
                const x = r.left + r.width / 2, y = r.top + r.height / 2;
                if (x < 0 || y < 0 || x > innerWidth || y > innerHeight) continue;
                const top = document.elementFromPoint(x, y);
                if (top && (top === element || element.contains(top))) return {x, y};
            }
            return null;
        }""",
        selector,
    )


def empty_map_spot(page: Page) -> dict[str, float] | None:
    """A point inside a community (its shading is on top there) with no marker, panel or control on it."""
    return page.evaluate(
        """() => {
            for (let y = 120; y < innerHeight - 60; y += 23) {
                for (let x = 420; x < innerWidth - 280; x += 29) {
                    const top = document.elementFromPoint(x, y);
                    if (!top || !top.matches("path.gridmap-community")) continue;
                    // Clear of markers all round, so the click lands on the map, not on a facility.
                    const near = [[-14, 0], [14, 0], [0, -14], [0, 14]].every(([dx, dy]) => {
                        const e = document.elementFromPoint(x + dx, y + dy);
                        return e && e.matches("path.gridmap-community");
                    });
                    if (near) return {x, y};
                }
            }
            return null;
        }"""
    )


def click_for_reach(page: Page) -> None:
    """Click an empty spot of the district and wait for "what can I reach". Markers settle a moment after
    the page is ready (clusters split as the map fits): should a marker take the click after all, its
    popup is closed and another spot is clicked."""
    for _ in range(3):
        page.wait_for_timeout(300)
        spot = empty_map_spot(page)
        assert spot is not None
        page.mouse.click(spot["x"], spot["y"])
        try:
            page.wait_for_selector("#gridmap-reach[data-ready='true']", timeout=10_000)
            return
        except PlaywrightTimeout:
            close = page.locator(".leaflet-popup-close-button")
            if close.count():
                close.first.click()
    raise AssertionError("no click on the map reached /api/reach")


def open_public_map(web: Browsing, path: str) -> tuple[Page, list[str]]:
    urls = record_requests(web.page)
    page = web.open(path)
    page.wait_for_selector("#gridmap-panel[data-ready='true']", timeout=20_000)
    return page, urls


def test_public_map_shows_facilities_catchments_coverage_and_reach_offline(web: Browsing) -> None:
    page, urls = open_public_map(web, "/maps/public")
    registry = facility_registry().categories
    assert re.search(r"\d+ 处设施 · 6 个社区", page.inner_text("#gridmap-status"))
    # Facilities as category badges in one cluster group (a cluster of one category keeps its colour), and a
    # "show only this" chip per category.
    shown = page.evaluate(
        """() => document.querySelectorAll('.gridmap-facility').length
                 + [...document.querySelectorAll('.gridmap-facility-cluster .gridmap-badge')]
                   .reduce((sum, badge) => sum + Number(badge.textContent), 0)"""
    )
    assert f"{shown} 处设施" in page.inner_text("#gridmap-status")  # every facility, alone or in a cluster
    assert page.locator(".gridmap-facility").count() > 5
    overlays = page.locator(".leaflet-control-layers-overlays label")
    assert [label.strip() for label in overlays.all_inner_texts()] == ["社区覆盖率", "步行范围"]
    badges = [f"{CATEGORY_ICONS[code][1]} {category.name_zh}" for code, category in registry.items()]
    chips = [" ".join(chip.split()) for chip in page.locator("#gridmap-chips .gridmap-chip").all_inner_texts()]
    assert chips == ["全部", *badges]
    assert page.get_attribute("#gridmap-chips [data-category='kindergarten']", "title") == "只看此类：幼儿园"
    # The legend: every category, the coverage classes, the catchment colours.
    legend = page.inner_text("#gridmap-legend")
    for category in facility_registry().categories.values():
        assert category.name_zh in legend
    assert "15分钟生活圈" in legend and "90–100%" in legend and "10 分钟" in legend
    # Communities shaded by household coverage (not all "no data" grey), with the percentage on hover.
    communities = page.locator("path.gridmap-community")
    assert communities.count() == 6
    fills = {communities.nth(i).get_attribute("fill") for i in range(6)}
    assert fills - {"#bdbdbd"}, fills
    spot = empty_map_spot(page)
    assert spot is not None
    page.mouse.move(spot["x"], spot["y"])
    page.wait_for_selector(".leaflet-tooltip:has-text('住户覆盖率')", timeout=5_000)
    assert re.search(r"住户覆盖率 \d+(\.\d)?%", page.inner_text(".leaflet-tooltip"))

    # A facility: popup with its name and category, then its 10-minute catchment.
    marker = free_spot(page, ".gridmap-facility")
    assert marker is not None
    page.mouse.click(marker["x"], marker["y"])
    popup = page.wait_for_selector(".leaflet-popup-content .gridmap-popup", timeout=5_000)
    assert popup.query_selector(".gridmap-popup-category").inner_text().strip()
    page.get_by_role("button", name="10 分钟", exact=True).click()
    page.wait_for_selector("path.gridmap-catchment", timeout=10_000)
    assert "10 分钟步行范围" in page.inner_text(".gridmap-catchment-note")
    assert page.locator("path.gridmap-catchment").count() == 1
    page.get_by_role("button", name="5 分钟", exact=True).click()  # replaced, not added
    # Predicates as functions: Playwright evaluates a bare expression string with eval, which the CSP refuses.
    page.wait_for_function(
        "() => document.querySelector('.gridmap-catchment-note').innerText.includes('5 分钟步行范围')"
    )
    assert page.locator("path.gridmap-catchment").count() == 1
    page.click(".leaflet-popup-close-button")

    # An empty spot inside the district: the nearest facility of every category, with distance and time.
    click_for_reach(page)
    rows = page.locator("tr.gridmap-reach-row")
    assert rows.count() == len(CATEGORIES)
    distances = rows.locator(".gridmap-reach-distance").all_inner_texts()
    assert all(re.search(r"\d+ 米\s+\d+\.\d 分钟", d) for d in distances), distances
    assert page.locator(".gridmap-here").count() == 1
    assert "社区卫生服务中心" in page.inner_text("#gridmap-reach")
    # A row leads to its facility: the walking route is drawn and the marker's popup opens.
    assert page.locator("path.gridmap-route").count() == 0  # every category shown: no route until one is chosen
    row = page.locator("tr.gridmap-reach-row[data-category='health_center']")
    facility = row.locator(".gridmap-reach-facility").inner_text()
    row.click()
    page.wait_for_selector(f".leaflet-popup-content .gridmap-popup:has-text('{facility}')", timeout=10_000)
    assert page.locator("path.gridmap-route").count() == 1
    assert facility in page.inner_text("#gridmap-route-note")
    page.click(".leaflet-popup-close-button")
    # On a desktop the answer stays in the side panel (a bottom sheet on a phone).
    assert page.evaluate("() => getComputedStyle(document.getElementById('gridmap-reach')).position") == "static"

    # Another tier for the shading, then one category: the coverage is fetched again each time.
    legend_title = "document.querySelector('#gridmap-legend .gridmap-legend-title').innerText"
    page.select_option("#gridmap-tier", "5")
    page.wait_for_function(f"() => {legend_title} === '5分钟生活圈：该圈层设施齐全的住户比例'")
    page.select_option("#gridmap-coverage-category", "elderly_care_home")  # its tier comes with it: 15 minutes
    page.wait_for_function(f"() => {legend_title} === '养老院：15 分钟内可达的住户比例'")
    assert page.input_value("#gridmap-tier") == "15"
    coverage = [parse_qs(urlparse(u).query) for u in urls if urlparse(u).path == "/api/coverage"]
    assert [(q["category"], q["minutes"]) for q in coverage] == [
        (["tier_complete"], ["15"]),
        (["tier_complete"], ["5"]),
        (["elderly_care_home"], ["15"]),
    ]
    assert all(q["level"] == ["community"] for q in coverage)
    fills = {communities.nth(i).get_attribute("fill") for i in range(6)}
    assert len(fills) > 1, fills  # elderly care homes are sparse: some communities reach them, some don't

    assert any(urlparse(u).path == "/api/reach" for u in urls)
    assert any(re.match(r"^/api/facilities/\d+/catchment$", urlparse(u).path) for u in urls)
    assert_only_public_calls(urls)
    assert web.blocked == [] and web.console_errors == []


def test_public_map_in_english_and_back(web: Browsing) -> None:
    page, urls = open_public_map(web, "/maps/public?lang=en")
    assert "Community life circle" in page.inner_text("#gridmap-panel")
    assert re.search(r"\d+ facilities · 6 communities", page.inner_text("#gridmap-status"))
    legend = page.inner_text("#gridmap-legend")
    assert "Kindergarten" in legend and "Community health centre" in legend and "幼儿园" not in legend
    # A click on the map answers in English too.
    click_for_reach(page)
    assert "Within walking distance" in page.inner_text("#gridmap-reach")
    assert re.search(r"\d+ m\s+\d+\.\d min", page.locator(".gridmap-reach-distance").first.inner_text())
    # The switch goes back to Chinese.
    page.get_by_role("link", name="中文").click()
    page.wait_for_selector("#gridmap-panel[data-ready='true']", timeout=20_000)
    assert "lang=zh" in page.url and "社区生活圈" in page.inner_text("#gridmap-panel")
    assert_only_public_calls(urls)
    assert web.blocked == [] and web.console_errors == []


# -- on a phone --------------------------------------------------------------------------------------------------


def visible_categories(page: Page) -> set[str]:
    """Categories of the single markers on the map (clusters excluded)."""
    return set(
        page.evaluate(
            """() => [...document.querySelectorAll('.gridmap-facility')]
                     .map((e) => [...e.classList].find((c) => c.startsWith('gridmap-facility-'))
                                  .slice('gridmap-facility-'.length))"""
        )
    )


def test_public_map_on_a_phone_fits_filters_locates_routes_and_searches(phone: Browsing) -> None:
    page, urls = open_public_map(phone, "/maps/public")
    assert phone.horizontal_overflow() == 0
    # Fitted to the district below the panel, not at full zoom.
    zoom = page.evaluate("() => window.gridmapPublicMap.getZoom()")
    assert 12 <= zoom <= 16, zoom
    inside = page.evaluate(
        """() => { const b = window.gridmapPublicMap.getBounds();
                   return b.contains([29.87, 121.55]); }"""
    )
    assert inside
    # The legend and the coverage choice are folded away; the legend opens and closes.
    legend = page.locator("#gridmap-legend details")
    assert legend.get_attribute("open") is None
    page.click("#gridmap-legend summary")
    assert legend.get_attribute("open") == ""
    page.click("#gridmap-legend summary")
    assert page.locator("#gridmap-coverage-control details").get_attribute("open") is None
    panel = page.locator("#gridmap-panel").bounding_box()
    assert panel is not None and panel["height"] <= 844 * 0.45 + 1

    # "Show only this": kindergartens alone, then everything again.
    page.click("#gridmap-chips [data-category='kindergarten']")
    assert page.get_attribute("#gridmap-chips [data-category='kindergarten']", "aria-pressed") == "true"
    page.wait_for_function("() => document.querySelectorAll('.gridmap-facility').length > 0")
    assert visible_categories(page) == {"kindergarten"}

    # "Locate me": the phone's position, the reach answer in a bottom sheet, the route to the nearest kindergarten.
    page.click("#gridmap-locate")
    page.wait_for_selector("#gridmap-reach[data-ready='true']", timeout=20_000)
    sheet = page.locator("#gridmap-reach").bounding_box()
    assert sheet is not None
    assert abs(sheet["y"] + sheet["height"] - 844) <= 1 and sheet["height"] <= 844 * 0.45 + 1
    assert sheet["x"] == 0 and sheet["width"] == 390
    here = page.evaluate("() => { const h = document.querySelector('.gridmap-here'); return Boolean(h); }")
    assert here
    page.wait_for_selector("path.gridmap-route", timeout=10_000)
    kindergarten = page.locator("tr.gridmap-reach-row[data-category='kindergarten'] .gridmap-reach-facility")
    assert kindergarten.inner_text() in page.inner_text("#gridmap-route-note")
    reach = [u for u in urls if urlparse(u).path == "/api/reach"]
    query = parse_qs(urlparse(reach[-1]).query)
    assert query["path"] == ["true"]
    assert float(query["lon"][0]) == 121.55 and float(query["lat"][0]) == 29.87  # the phone's geolocation
    # The sheet closes, and the route and the spot go with it.
    page.click("#gridmap-reach .gridmap-sheet-close")
    assert not page.locator("#gridmap-reach").is_visible()
    assert page.locator("path.gridmap-route").count() == 0 and page.locator(".gridmap-here").count() == 0

    page.click("#gridmap-chips [data-category='']")
    page.wait_for_function(
        "() => document.querySelectorAll('.gridmap-facility, .gridmap-facility-cluster').length > 20"
    )
    assert len(visible_categories(page)) > 1 or page.locator(".gridmap-facility-cluster").count() > 0

    # Search by name: a facility's name, the place is shown with what can be reached from it.
    name = page.evaluate(
        "() => fetch('/api/facilities?limit=1').then((r) => r.json()).then((fc) => fc.features[0].properties.name)"
    )
    page.fill("#gridmap-search-input", name[:4])
    hit = page.locator("#gridmap-search-results .gridmap-search-hit").first
    hit.wait_for(timeout=10_000)
    hit.click()
    page.wait_for_selector("#gridmap-reach[data-ready='true']", timeout=20_000)
    assert not page.locator("#gridmap-search-results").is_visible()
    assert any(urlparse(u).path == "/api/search" for u in urls)

    assert phone.horizontal_overflow() == 0
    assert_only_public_calls(urls)
    assert phone.blocked == [] and phone.console_errors == []
