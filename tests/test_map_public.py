"""The public service-facility map (社区生活圈): GET /api/reach against the coverage run's own distances on the
demo district, the page's HTML, and the page in a real headless browser, offline, calling nothing personal."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Page
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.china_offsets import wgs84_to_gcj02
from gis.reach import nearest_facilities
from gis.registry import facility_registry
from maps.public_map import CATEGORY_ICONS
from tests.browser import Browsing

CATEGORIES = list(facility_registry().categories)
SPEED = 1.2  # the default walking speed, m/s
SNAP_M = 100.0  # the default coverage_snap_m
REACH_KEYS = {"lon", "lat", "on_network", "access_m", "speed_mps", "max_snap_m", "categories"}
CATEGORY_KEYS = {
    "category",
    "category_name_zh",
    "category_name_en",
    "tier",
    "facility",
    "distance_m",
    "minutes",
    "within_tier",
}


def walking_start(session: Session, offset: int = 0) -> tuple[int, float, float]:
    """A residential building without an entrance and the point a coverage run walks from (lon, lat)."""
    row = session.execute(
        text(
            """SELECT id, ST_X(p) AS lon, ST_Y(p) AS lat
               FROM (SELECT id, ST_PointOnSurface(footprint) AS p FROM buildings
                     WHERE residential AND entrance IS NULL ORDER BY id OFFSET :o LIMIT 1) b"""
        ),
        {"o": offset},
    ).one()
    return row.id, row.lon, row.lat


def building_reach(session: Session, building_id: int, category: str) -> tuple[float | None, int | None]:
    row = session.execute(
        text("SELECT distance_m, facility_id FROM building_reach WHERE building_id = :b AND category = :c"),
        {"b": building_id, "c": category},
    ).one()
    return row.distance_m, row.facility_id


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


# -- GET /api/reach --------------------------------------------------------------------------------------------


def test_reach_from_a_building_lists_every_category_in_registry_order(
    demo_session: Session, demo_client: TestClient
) -> None:
    _, lon, lat = walking_start(demo_session)
    response = demo_client.get("/api/reach", params={"lon": lon, "lat": lat})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == REACH_KEYS
    assert body["on_network"] is True and 0 <= body["access_m"] <= SNAP_M
    assert body["speed_mps"] == SPEED and body["lon"] == pytest.approx(lon, abs=1e-7)
    assert [c["category"] for c in body["categories"]] == CATEGORIES
    registry = facility_registry().categories
    for item in body["categories"]:
        assert set(item) == CATEGORY_KEYS
        category = registry[item["category"]]
        assert (item["category_name_zh"], item["category_name_en"], item["tier"]) == (
            category.name_zh,
            category.name_en,
            category.tier,
        )
        assert set(item["facility"]) == {"id", "name"} and item["facility"]["name"]
        assert item["distance_m"] > 0
        # Minutes come from the unrounded distance: within rounding of the rounded one.
        assert item["minutes"] == pytest.approx(item["distance_m"] / SPEED / 60, abs=0.051)
        assert item["within_tier"] == (item["distance_m"] <= category.tier * 60 * SPEED + 0.05)
    assert any(item["within_tier"] for item in body["categories"])


def test_reach_at_a_building_gives_its_coverage_distances(demo_session: Session, demo_client: TestClient) -> None:
    """Clicking exactly where a coverage run starts walking from a building gives that building's figures."""
    checked = 0
    for offset in (0, 400, 1500):
        building, lon, lat = walking_start(demo_session, offset=offset)
        exact = nearest_facilities(demo_session, lon, lat, max_snap_m=SNAP_M)
        answer = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
        by_category = {item["category"]: item for item in answer["categories"]}
        for category in ("health_center", "primary_school", "bank", "kindergarten", "convenience_store", "park"):
            distance, facility = building_reach(demo_session, building, category)
            assert distance is not None, (building, category)
            assert exact.nearest[category].facility_id == facility
            assert exact.nearest[category].distance_m == pytest.approx(distance, abs=0.01)
            assert by_category[category]["facility"]["id"] == facility
            assert by_category[category]["distance_m"] == pytest.approx(distance, abs=0.05 + 0.01)  # rounded to 0.1
            checked += 1
    assert checked == 18


def test_reach_takes_the_walking_speed_and_other_coordinate_systems(
    demo_session: Session, demo_client: TestClient
) -> None:
    _, lon, lat = walking_start(demo_session, offset=10)
    slow = demo_client.get("/api/reach", params={"lon": lon, "lat": lat, "speed": 1.0}).json()
    assert slow["speed_mps"] == 1.0
    for item in slow["categories"]:
        assert item["minutes"] == pytest.approx(item["distance_m"] / 60, abs=0.051)
    # The same point as an AMap (GCJ-02) user sees it comes back to the same WGS 84 point and answer.
    glon, glat = wgs84_to_gcj02(lon, lat)
    shifted = demo_client.get("/api/reach", params={"lon": glon, "lat": glat, "crs": "gcj02"}).json()
    assert shifted["lon"] == pytest.approx(lon, abs=1e-6) and shifted["lat"] == pytest.approx(lat, abs=1e-6)
    plain = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
    assert [c["facility"] for c in shifted["categories"]] == [c["facility"] for c in plain["categories"]]


def test_reach_far_from_the_network_is_an_answer_not_an_error(demo_session: Session, demo_client: TestClient) -> None:
    east, north = demo_session.execute(
        text("SELECT ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM walk_edges) x")
    ).one()
    # 0.015° of longitude is about 1.45 km at 29.9° N: well beyond the 100 m snap of every network line.
    response = demo_client.get("/api/reach", params={"lon": east + 0.015, "lat": north - 0.005})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["on_network"] is False and body["access_m"] is None
    assert [c["category"] for c in body["categories"]] == CATEGORIES
    for item in body["categories"]:
        assert item["facility"] is None and item["distance_m"] is None and item["minutes"] is None
        assert item["within_tier"] is False


def test_reach_on_an_empty_database_reaches_nothing(client: TestClient) -> None:
    body = client.get("/api/reach", params={"lon": 121.55, "lat": 29.87}).json()
    assert body["on_network"] is False and len(body["categories"]) == len(CATEGORIES)


@pytest.mark.parametrize(
    ("params", "where", "says"),
    [
        ({"lon": 29.87, "lat": 121.55}, "lon/lat", "swapped"),
        ({"lon": 121.55, "lat": 29.87, "crs": "mars"}, "lon/lat", "unknown coordinate system"),
        ({"lon": "nan", "lat": 29.87}, "lon/lat", "not finite"),
        ({"lon": 121.55, "lat": 29.87, "speed": 5}, "query.speed", "less than or equal to 3"),
        ({"lon": 121.55}, "query.lat", "required"),
    ],
)
def test_reach_refuses_bad_input_as_problem_json(
    demo_client: TestClient, params: dict[str, Any], where: str, says: str
) -> None:
    response = demo_client.get("/api/reach", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert says in problem["detail"]
    assert problem.get("where") == where or any(e["where"] == where for e in problem.get("errors", []))


def test_reach_answers_nothing_personal(demo_session: Session, demo_client: TestClient) -> None:
    _, lon, lat = walking_start(demo_session, offset=20)
    body = demo_client.get("/api/reach", params={"lon": lon, "lat": lat}).json()
    assert all_keys(body) == REACH_KEYS | CATEGORY_KEYS | {"id", "name"}


# -- the page's HTML -------------------------------------------------------------------------------------------


def test_public_page_is_small_and_embeds_no_layer(demo_client: TestClient) -> None:
    response = demo_client.get("/maps/public")
    assert response.status_code == 200
    page = response.text
    assert len(page.encode()) < 200_000
    assert "const GRIDMAP_PAGE = " in page and '"lang": "zh"' in page
    assert "/static/gridmap/public.js" in page and "/static/gridmap/public.css" in page
    assert "gridmapPublic(map_" in page
    assert '"FeatureCollection"' not in page and '"coordinates"' not in page  # layers are fetched, not embedded
    assert not re.search(r"""(src|href)=["']https?://""", page)  # nothing from a CDN
    for category in facility_registry().categories.values():
        assert category.name_zh in page
    english = demo_client.get("/maps/public", params={"lang": "en"}).text
    assert '"lang": "en"' in english and "Community life circle" in english and "Kindergarten" in english
    assert demo_client.get("/maps/public", params={"lang": "fr"}).status_code == 422


# -- in the browser --------------------------------------------------------------------------------------------

# The page may call only these (besides itself and its static files): nothing that holds personal data.
ALLOWED_API = re.compile(
    r"^/api/(facilities|communities|coverage|reach|facilities/\d+/catchment)$",
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
    # Facilities as category badges (clusters keep the category's colour), one overlay per category.
    assert page.locator(".gridmap-facility").count() > 50
    overlays = page.locator(".leaflet-control-layers-overlays label")
    assert overlays.count() == len(CATEGORIES) + 2  # + community coverage + catchment
    badges = [f"{CATEGORY_ICONS[code][1]} {category.name_zh}" for code, category in registry.items()]
    assert [label.strip() for label in overlays.all_inner_texts()] == ["社区覆盖率", "步行范围", *badges]
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
    page.wait_for_function("document.querySelector('.gridmap-catchment-note').innerText.includes('5 分钟步行范围')")
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
    # A row leads to its facility: the marker's popup opens.
    row = page.locator("tr.gridmap-reach-row[data-category='health_center']")
    facility = row.locator(".gridmap-reach-facility").inner_text()
    row.click()
    page.wait_for_selector(f".leaflet-popup-content .gridmap-popup:has-text('{facility}')", timeout=10_000)
    page.click(".leaflet-popup-close-button")

    # Another tier for the shading, then one category: the coverage is fetched again each time.
    legend_title = "document.querySelector('#gridmap-legend .gridmap-legend-title').innerText"
    page.select_option("#gridmap-tier", "5")
    page.wait_for_function(f"{legend_title} === '5分钟生活圈：该圈层设施齐全的住户比例'")
    page.select_option("#gridmap-coverage-category", "elderly_care_home")  # its tier comes with it: 15 minutes
    page.wait_for_function(f"{legend_title} === '养老院：15 分钟内可达的住户比例'")
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
