"""The overview page: communities and the current grid layout of whatever the database holds.

Layers are fetched page by page from the read API in the browser, never embedded in the HTML.
"""

from __future__ import annotations

import folium

from maps.assets import STATIC_URL, PageScript, offline_map


def overview_page(center: tuple[float, float], zoom: int = 15) -> str:
    """HTML of the overview map centred on (lat, lon)."""
    fmap = offline_map(location=list(center), zoom_start=zoom, control_scale=True)
    root = fmap.get_root()
    root.header.add_child(folium.Element('<meta name="viewport" content="width=device-width, initial-scale=1">'))
    root.header.add_child(folium.Element("<title>gridmap · 网格总览</title>"))
    root.html.add_child(folium.Element('<div id="gridmap-panel" class="gridmap-panel">网格总览 · 加载中…</div>'))
    root.header.add_child(folium.JavascriptLink(f"{STATIC_URL}/gridmap/overview.js"))
    fmap.add_child(PageScript("gridmapOverview"))
    return root.render()
