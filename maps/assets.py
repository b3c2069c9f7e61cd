"""Where the pages' scripts and stylesheets live, how a folium map is pointed at them, and the basemaps.

Vendor libraries (Leaflet and its plugins) are installed from the npm registry into maps/web/node_modules
at setup; our own scripts are in maps/static/gridmap. Both are served under /static by the app: the
platform runs on closed government networks, so no page loads anything from elsewhere (except a basemap
the operator configures). The default basemap is the app's own: vector tiles of stored streets, buildings,
boundaries, water and green (/tiles/basemap, gis/layers/basemap.py) drawn by protomaps-leaflet in the light
style of maps/static/gridmap/basemap_style.js.
"""

from __future__ import annotations

import html
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import folium
from branca.element import MacroElement
from jinja2 import Template

HERE = Path(__file__).resolve().parent
OWN_ASSETS = HERE / "static"
NODE_MODULES = HERE / "web" / "node_modules"
VENDOR = {
    "leaflet": NODE_MODULES / "leaflet" / "dist",
    "markercluster": NODE_MODULES / "leaflet.markercluster" / "dist",
    "heat": NODE_MODULES / "leaflet.heat" / "dist",
    "draw": NODE_MODULES / "leaflet-draw" / "dist",
    "vectorgrid": NODE_MODULES / "leaflet.vectorgrid" / "dist",
    "protomaps": NODE_MODULES / "protomaps-leaflet" / "dist",  # draws the own basemap (every page)
    "echarts": NODE_MODULES / "echarts" / "dist",  # the leaders' dashboard's charts (maps/dashboard_page.py)
    # The API documentation pages (/docs, /redoc; api/routers/docs.py).
    "swagger-ui": NODE_MODULES / "swagger-ui-dist",
    "redoc": NODE_MODULES / "redoc" / "bundles",
}

STATIC_URL = "/static"

# Plugin → (scripts, stylesheets) under /static/vendor.
PLUGINS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "markercluster": (
        ("markercluster/leaflet.markercluster.js",),
        ("markercluster/MarkerCluster.css", "markercluster/MarkerCluster.Default.css"),
    ),
    "heat": (("heat/leaflet-heat.js",), ()),
    "draw": (("draw/leaflet.draw.js",), ("draw/leaflet.draw.css",)),
    "vectorgrid": (("vectorgrid/Leaflet.VectorGrid.bundled.min.js",), ()),
}


@dataclass(frozen=True)
class Basemap:
    name: str
    url: str | None  # XYZ template; None: no basemap
    crs: str = "wgs84"  # "gcj02" for AMap/Tencent: overlays are then drawn through the GCJ-02 shift
    subdomains: str = "abc"
    tms: bool = False
    attribution: str = ""
    vector: bool = False  # Mapbox vector tiles drawn in the browser (the own basemap), not images


# The app's own basemap: what a page shows when no online basemap is configured ("none"), offline included.
OWN_BASEMAP = Basemap("gridmap", "/tiles/basemap/{z}/{x}/{y}.pbf", vector=True, attribution="gridmap")

BASEMAPS = {
    "none": OWN_BASEMAP,
    "osm": Basemap("osm", "https://tile.openstreetmap.org/{z}/{x}/{y}.png", attribution="© OpenStreetMap"),
    "amap": Basemap(
        "amap",
        "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}",
        crs="gcj02",
        subdomains="1234",
        attribution="© 高德地图",
    ),
    "tencent": Basemap(
        "tencent",
        "https://rt{s}.map.gtimg.com/realtimerender?z={z}&x={x}&y={y}&type=vector&style=0",
        crs="gcj02",
        subdomains="0123",
        tms=True,
        attribution="© 腾讯地图",
    ),
}


def basemap(name: str, *, custom_url: str | None = None, custom_crs: str = "wgs84") -> Basemap:
    """A named basemap, or "custom" (an operator's own tile server, e.g. on the government network); "none" (no
    online basemap) and a custom one without a URL are the app's own."""
    if name == "custom" and custom_url:
        return Basemap("custom", custom_url, crs=custom_crs)
    return BASEMAPS.get(name, OWN_BASEMAP)


def vendor_missing() -> list[str]:
    return [name for name, path in VENDOR.items() if not path.is_dir()]


class PageScript(MacroElement):
    """Calls `function(map)` once folium has created the map (children render after their parent)."""

    _template = Template(
        "{% macro script(this, kwargs) %}{{ this.function }}({{ this._parent.get_name() }});{% endmacro %}"
    )

    def __init__(self, function: str) -> None:
        super().__init__()
        self.function = function


class _AddBasemap(MacroElement):
    _template = Template(
        "{% macro script(this, kwargs) %}"
        "gridmapAddBasemap({{ this._parent.get_name() }}, {{ this.config }});"
        "{% endmacro %}"
    )

    def __init__(self, base: Basemap) -> None:
        super().__init__()
        self.config = json.dumps(asdict(base), ensure_ascii=False)


def offline_map(*, plugins: tuple[str, ...] = (), base: Basemap | None = None, **kwargs: Any) -> folium.Map:
    """A folium Map whose every script and stylesheet is served by the app (no CDN), on the own basemap unless
    `base` names an online one (the own one then stays a choice in a layers control).

    On a GCJ-02 basemap the map uses L.CRS.GCJ02 (maps/static/gridmap/basemap.js). Every page also gets
    maps/static/gridmap/common.js, the helpers the pages' own scripts share."""
    base = base or OWN_BASEMAP
    kwargs.setdefault("tiles", None)
    if base.crs == "gcj02":
        kwargs["crs"] = "GCJ02"
    fmap = folium.Map(**kwargs)
    # folium's defaults point at public CDNs; the platform runs on closed networks.
    fmap.default_js = [
        ("leaflet", f"{STATIC_URL}/vendor/leaflet/leaflet.js"),
        ("protomaps", f"{STATIC_URL}/vendor/protomaps/protomaps-leaflet.js"),
        ("gridmap_basemap_style", f"{STATIC_URL}/gridmap/basemap_style.js"),
        ("gridmap_basemap", f"{STATIC_URL}/gridmap/basemap.js"),
        ("gridmap_common", f"{STATIC_URL}/gridmap/common.js"),
        *((f"{name}_{n}", f"{STATIC_URL}/vendor/{js}") for name in plugins for n, js in enumerate(PLUGINS[name][0])),
    ]
    fmap.default_css = [
        ("leaflet_css", f"{STATIC_URL}/vendor/leaflet/leaflet.css"),
        *(
            (f"{name}_css_{n}", f"{STATIC_URL}/vendor/{css}")
            for name in plugins
            for n, css in enumerate(PLUGINS[name][1])
        ),
        ("gridmap_css", f"{STATIC_URL}/gridmap/gridmap.css"),
    ]
    if base.url:
        fmap.add_child(_AddBasemap(base))
    return fmap


def render_page(
    fmap: folium.Map,
    *,
    title: str,
    script: str,
    entry: str,
    config: dict[str, Any] | None = None,
    stylesheet: str | None = None,
    body: tuple[str, ...] = (),
) -> str:
    """The page's HTML: head (viewport, title, the page's config, stylesheet and script from the app), the
    `body` elements (panels, forms), and the call `entry(map)` once the map exists."""
    root = fmap.get_root()
    assert isinstance(root, folium.Figure)  # a Map's root is always its Figure (header, html, script)
    root.header.add_child(folium.Element('<meta name="viewport" content="width=device-width, initial-scale=1">'))
    root.header.add_child(folium.Element(f"<title>gridmap · {html.escape(title)}</title>"))
    # No favicon request: the app serves none, and a 404 would be a console error.
    root.header.add_child(folium.Element('<link rel="icon" href="data:,">'))
    if config is not None:
        # "</" would end the inline script early; labels and category names come from editable files.
        payload = json.dumps(config, ensure_ascii=False).replace("</", "<\\/")
        root.header.add_child(folium.Element(f"<script>const GRIDMAP_PAGE = {payload};</script>"))
    if stylesheet:  # after Leaflet's, the plugins' and gridmap.css, so the page's own rules win
        fmap.default_css.append(("gridmap_page_css", f"{STATIC_URL}/gridmap/{stylesheet}"))
    root.header.add_child(folium.JavascriptLink(f"{STATIC_URL}/gridmap/{script}"))
    for element in body:
        root.html.add_child(folium.Element(element))
    fmap.add_child(PageScript(entry))
    return root.render()


def lang_switch(lang: str) -> str:
    """中文 / English: the current language in bold, the other a link (the page script keeps other parameters)."""
    links = []
    for code, label in (("zh", "中文"), ("en", "English")):
        if code == lang:
            links.append(f"<b>{label}</b>")
        else:
            links.append(f'<a class="gridmap-lang-link" href="?lang={code}" data-lang="{code}">{label}</a>')
    return f'<span class="gridmap-lang">{" / ".join(links)}</span>'
