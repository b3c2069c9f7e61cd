"""The app's own basemap in a real headless browser, offline (every request not to the app is refused): the
pages load its vector tiles, protomaps-leaflet draws streets, buildings and labels on canvas, nothing errs.
The harness keeps each test's screenshot in artifacts/ (test_basemap_*.png)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, Response

from tests.browser import harness as browser

READY = "#gridmap-panel[data-ready='true']"
# The style's colours (maps/static/gridmap/basemap_style.js): land, street fill, building fill.
LAND, STREET, BUILDING = (245, 243, 239), (255, 255, 255), (226, 221, 213)

# Colours of the basemap's own canvases (the tile pane holds nothing else on these pages): how many pixels of each
# colour of interest, and how many distinct colours in all.
PIXELS = """(colours) => {
    const counts = colours.map(() => 0), seen = new Set();
    for (const canvas of document.querySelectorAll('.leaflet-tile-pane canvas.leaflet-tile')) {
        if (!canvas.width) continue;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        for (let i = 0; i < data.length; i += 4) {
            seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
            colours.forEach((c, k) => {
                if (data[i] === c[0] && data[i + 1] === c[1] && data[i + 2] === c[2]) counts[k] += 1;
            });
        }
    }
    return {counts, distinct: seen.size};
}"""


def basemap_tiles(page: Page) -> list[tuple[int, int]]:
    """(status, bytes) of every basemap tile the page receives, filled in as answers arrive."""
    answers: list[tuple[int, int]] = []

    def seen(response: Response) -> None:
        if "/tiles/basemap/" in response.url:
            answers.append((response.status, int(response.headers.get("content-length", "0"))))

    page.on("response", seen)
    return answers


def drawn(page: Page) -> dict:
    return page.evaluate(PIXELS, [LAND, STREET, BUILDING])


def wait_for_pixels(page: Page, colour: int, minimum: int) -> dict:
    """The canvases' colour counts once `minimum` pixels of colour number `colour` are drawn (tiles render late)."""
    for _ in range(60):
        pixels = drawn(page)
        if pixels["counts"][colour] >= minimum:
            return pixels
        page.wait_for_timeout(250)
    return drawn(page)


def check_public_map(session: browser.Browsing) -> None:
    page = session.page
    tiles = basemap_tiles(page)
    session.open("/maps/public")
    page.wait_for_selector(READY, timeout=30_000)
    page.wait_for_selector(".leaflet-tile-pane canvas.leaflet-tile", timeout=20_000)

    pixels = wait_for_pixels(page, 1, 500)
    assert [a for a in tiles if a[0] == 200 and a[1] > 0], tiles  # tiles answered with features
    assert all(status == 200 for status, _ in tiles), tiles
    assert pixels["counts"][0] > 10_000, pixels  # the land
    assert pixels["counts"][1] >= 500, pixels  # streets
    assert pixels["distinct"] > 30, pixels  # casings, boundaries, anti-aliased labels: not a blank canvas

    # At street zooms the footprints appear (drawn from the z15 data tiles).
    for _ in range(2):
        page.click(".leaflet-control-zoom-in")
        page.wait_for_timeout(400)
    pixels = wait_for_pixels(page, 2, 500)
    assert pixels["counts"][2] >= 500, pixels
    page.wait_for_timeout(500)  # labels placed, for the screenshot
    assert session.console_errors == [] and session.blocked == []
    assert session.horizontal_overflow() == 0


@pytest.fixture
def desktop(chromium: Browser, live_server: str, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    """Signed out: the public pages need nobody."""
    yield from browser.browsing(chromium, live_server, request.node.name)


def test_basemap_draws_streets_and_buildings_on_the_public_map(desktop: browser.Browsing) -> None:
    check_public_map(desktop)


def test_basemap_draws_on_a_phone(phone: browser.Browsing) -> None:
    check_public_map(phone)


def test_overview_map_is_on_the_basemap_too(desktop: browser.Browsing) -> None:
    page = desktop.page
    tiles = basemap_tiles(page)
    desktop.open("/maps/overview")
    page.wait_for_selector(READY, timeout=30_000)
    pixels = wait_for_pixels(page, 1, 500)
    assert pixels["counts"][1] >= 500 and [a for a in tiles if a[1] > 0], (pixels, tiles)
    assert desktop.console_errors == [] and desktop.blocked == []


def test_an_online_basemap_keeps_the_own_one_as_a_choice(desktop: browser.Browsing) -> None:
    page = desktop.page
    tiles = basemap_tiles(page)
    desktop.open("/maps/public?basemap=osm")
    page.wait_for_selector(READY, timeout=30_000)
    assert tiles == []  # the online basemap is the default: its tiles are refused here (offline harness)
    assert desktop.blocked and all(url.startswith("https://tile.openstreetmap.org/") for url in desktop.blocked)
    choices = page.locator(".leaflet-control-layers-base label")
    assert [c.strip() for c in choices.all_inner_texts()] == ["在线底图（osm）", "本地矢量底图（离线）"]
    page.locator(".leaflet-bottom.leaflet-right .leaflet-control-layers").hover()  # a collapsed control opens
    choices.filter(has_text="本地矢量底图").locator("input").check()
    wait_for_pixels(page, 1, 500)
    assert [a for a in tiles if a[0] == 200 and a[1] > 0], tiles
    assert not [e for e in desktop.console_errors if "ERR_FAILED" not in e], desktop.console_errors
