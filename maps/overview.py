"""The overview page: communities and the current grid layout of whatever the database holds.

Layers are fetched page by page from the read API in the browser, never embedded in the HTML.
"""

from __future__ import annotations

from maps.assets import offline_map, render_page


def overview_page(center: tuple[float, float], zoom: int = 15) -> str:
    """HTML of the overview map centred on (lat, lon)."""
    fmap = offline_map(location=list(center), zoom_start=zoom, control_scale=True)
    return render_page(
        fmap,
        title="网格总览",
        script="overview.js",
        entry="gridmapOverview",
        body=('<div id="gridmap-panel" class="gridmap-panel">网格总览 · 加载中…</div>',),
    )
