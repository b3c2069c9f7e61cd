"""Where the pages' scripts and stylesheets live, and how a folium map is pointed at them.

Vendor libraries (Leaflet, ...) are installed from the npm registry into maps/web/node_modules at
setup; our own scripts are in maps/static/gridmap. Both are served under /static by the app.
"""

from __future__ import annotations

from pathlib import Path

import folium

HERE = Path(__file__).resolve().parent
OWN_ASSETS = HERE / "static"
VENDOR = {"leaflet": HERE / "web" / "node_modules" / "leaflet" / "dist"}

STATIC_URL = "/static"


def vendor_missing() -> list[str]:
    return [name for name, path in VENDOR.items() if not path.is_dir()]


def offline_map(**kwargs: object) -> folium.Map:
    """A folium Map whose every script and stylesheet is served by the app (no CDN, no basemap by default)."""
    kwargs.setdefault("tiles", None)
    fmap = folium.Map(**kwargs)
    # folium's defaults point at public CDNs; the platform runs on closed networks.
    fmap.default_js = [("leaflet", f"{STATIC_URL}/vendor/leaflet/leaflet.js")]
    fmap.default_css = [
        ("leaflet_css", f"{STATIC_URL}/vendor/leaflet/leaflet.css"),
        ("gridmap_css", f"{STATIC_URL}/gridmap/gridmap.css"),
    ]
    return fmap
