"""The public service-facility map (社区生活圈) for residents: facilities by category, 5/10/15-minute walking
catchments, household coverage by community and "what can I reach from here".

The HTML carries only the page's configuration (language, category names, icons, tiers); every layer is
fetched in the browser (maps/static/gridmap/public.js) from public endpoints that hold no personal data:
/api/facilities, /api/communities, /api/coverage, /api/facilities/{id}/catchment and /api/reach.
"""

from __future__ import annotations

import html
from typing import Any

from gis.registry import facility_registry
from maps.assets import Basemap, lang_switch, offline_map, render_page

# Per category: marker colour, a Chinese glyph (zh) and a letter code (en). Drawn as CSS circles, so the
# page downloads no icon images or fonts. Hues group by tier: blues 15 min, greens 10 min, warm 5 min.
CATEGORY_ICONS: dict[str, tuple[str, str, str]] = {
    "health_center": ("#08519c", "卫", "HC"),
    "middle_school": ("#3182bd", "中", "MS"),
    "cultural_center": ("#6a51a3", "文", "CC"),
    "sports_center": ("#2171b5", "体", "SC"),
    "elderly_care_home": ("#807dba", "养", "EH"),
    "street_office": ("#4a5a6a", "街", "SO"),
    "primary_school": ("#238b45", "小", "PS"),
    "market": ("#41ab5d", "菜", "MK"),
    "bank": ("#006d2c", "银", "BK"),
    "post_office": ("#2b8c7e", "邮", "PO"),
    "kindergarten": ("#e6550d", "幼", "KG"),
    "health_station": ("#cb181d", "医", "CL"),
    "elderly_day_care": ("#d6604d", "老", "DC"),
    "community_service_station": ("#b2182b", "社", "CS"),
    "convenience_store": ("#f16913", "便", "CV"),
    "fitness_ground": ("#d95f02", "健", "FG"),
    "park": ("#66a61e", "园", "PK"),
    "public_toilet": ("#8c6d31", "厕", "WC"),
    "waste_station": ("#737373", "垃", "WS"),
}
FALLBACK_COLOUR = "#555555"

TITLES = {"zh": "社区生活圈 · 公共服务设施地图", "en": "Community life circle · public service facilities"}
LOADING = {"zh": "加载中…", "en": "Loading…"}
SEARCH = {
    "zh": ("搜索设施、楼栋或小区名称", "搜索"),
    "en": ("Search a facility, building or compound", "Search"),
}


def page_config(lang: str, speed_mps: float | None = None) -> dict[str, Any]:
    """What public.js needs to label and draw the page: categories (registry order) and tiers."""
    registry = facility_registry()
    categories = []
    for code, category in registry.categories.items():
        colour, glyph, letters = CATEGORY_ICONS.get(code, (FALLBACK_COLOUR, category.name_zh[:1], code[:2].upper()))
        categories.append(
            {
                "code": code,
                "name": category.name_zh if lang == "zh" else category.name_en,
                "tier": category.tier,
                "colour": colour,
                "glyph": glyph if lang == "zh" else letters,
            }
        )
    tiers = [
        {"minutes": t.minutes, "name": t.name_zh if lang == "zh" else t.name_en, "distance_m": t.distance_m}
        for _, t in sorted(registry.tiers.items())
    ]
    return {"lang": lang, "speed": speed_mps, "categories": categories, "tiers": tiers}


def public_page(
    center: tuple[float, float], *, base: Basemap, lang: str = "zh", speed_mps: float | None = None, **_: object
) -> str:
    """HTML of the public map centred on (lat, lon); `speed_mps` None leaves the walking speed to the API."""
    lang = "en" if lang == "en" else "zh"
    fmap = offline_map(
        plugins=("markercluster",),
        base=base,
        location=list(center),
        zoom_start=15,
        # markercluster needs the map's own maxZoom (folium's max_zoom reaches only its tile layer); 19 is the
        # basemaps' deepest level.
        maxZoom=19,
        control_scale=True,
    )
    title = html.escape(TITLES[lang])
    placeholder, search_label = (html.escape(t) for t in SEARCH[lang])
    # On a phone the panel is a strip across the top and "what can I reach" a bottom sheet (public.css); on a
    # desktop both stay in the side panel. The category chips filter the markers ("show only this").
    panel = (
        '<div id="gridmap-panel" class="gridmap-panel gridmap-public-panel">'
        f'<div class="gridmap-public-head"><b>{title}</b>{lang_switch(lang)}</div>'
        '<form id="gridmap-search" class="gridmap-search" role="search" autocomplete="off">'
        f'<input id="gridmap-search-input" type="search" name="q" maxlength="64" placeholder="{placeholder}"'
        f' aria-label="{search_label}" enterkeyhint="search">'
        '<div id="gridmap-search-results" class="gridmap-search-results" hidden></div></form>'
        '<div id="gridmap-chips" class="gridmap-chips" role="toolbar"></div>'
        f'<div id="gridmap-status" class="gridmap-status">{LOADING[lang]}</div>'
        '<div id="gridmap-hint" class="gridmap-hint"></div>'
        '<div id="gridmap-coverage-control" class="gridmap-coverage-control"></div>'
        '<div id="gridmap-reach" class="gridmap-reach" hidden></div>'
        "</div>"
    )
    return render_page(
        fmap,
        title=TITLES[lang],
        script="public.js",
        entry="gridmapPublic",
        config=page_config(lang, speed_mps),
        stylesheet="public.css",
        body=(panel,),
    )
