"""The leaders' dashboard (/maps/dashboard, 领导驾驶舱): charts of the incident loop, the grid load and the
life-circle coverage, drawn by Apache ECharts served from the app, and a map of incident density by grid.

The HTML carries the cards (title, PNG and CSV buttons, an empty chart box) and the labels; dashboard.js signs
the user in, fetches /api/dashboard and draws every chart. Each chart exports as PNG (ECharts' getDataURL)
and its data as CSV, both made in the browser.
"""

from __future__ import annotations

import html
from typing import Any

from maps.assets import STATIC_URL, Basemap, lang_switch, offline_map, render_page
from maps.dispatch_map import STATUS_COLORS, STATUS_LABELS
from maps.login import login_form, user_badge

# Card order is the page's order; "density" is the map (CSV only: a Leaflet map has no PNG export of its own).
CHARTS = ("status", "handling", "overdue_community", "overdue_department", "ratings", "load", "coverage", "density")

TEXT = {
    "zh": {
        "title": "领导驾驶舱",
        "loading": "加载中…",
        "failed": "加载失败：",
        "updated": "数据更新于 {at}",
        "png": "导出图片",
        "csv": "导出数据",
        "no_data": "暂无数据",
        "status": "事件数量（按上报周、当前状态，近 {days} 天）",
        "handling": "办结时长中位数（小时，按结案周）",
        "overdue_community": "超期率（按社区）",
        "overdue_department": "超期率（按责任部门）",
        "ratings": "评价得分分布（平均 {mean} 分，共 {n} 件）",
        "load": "网格户数分布（{grids} 个网格，{outside} 个超出标准区间）",
        "coverage": "生活圈覆盖率（住户，按社区、圈层）",
        "density": "事件密度（按网格，件/平方公里）",
        "week": "周",
        "incidents": "事件数",
        "closed": "结案数",
        "median_hours": "中位数（小时）",
        "area": "区域",
        "total": "事件总数",
        "overdue": "超期数",
        "overdue_rate": "超期率",
        "rating": "评分",
        "households": "户数",
        "grids": "网格数",
        "band": "标准区间",
        "tier": "{minutes} 分钟生活圈",
        "community": "社区",
        "minutes": "分钟",
        "covered": "覆盖住户",
        "coverage_share": "覆盖率",
        "grid": "网格",
        "name": "名称",
        "per_km2": "件/平方公里",
        "none": "（未分配）",
    },
    "en": {
        "title": "Leaders' dashboard",
        "loading": "Loading…",
        "failed": "Loading failed: ",
        "updated": "Figures as of {at}",
        "png": "PNG",
        "csv": "CSV",
        "no_data": "No data yet",
        "status": "Incidents by week reported and status now (last {days} days)",
        "handling": "Median handling time (hours, by week closed)",
        "overdue_community": "Overdue rate by community",
        "overdue_department": "Overdue rate by department",
        "ratings": "Evaluation scores (mean {mean}, {n} rated)",
        "load": "Households per grid ({grids} grids, {outside} outside the band)",
        "coverage": "Life-circle coverage of households by community and tier",
        "density": "Incident density by grid (per km²)",
        "week": "Week",
        "incidents": "Incidents",
        "closed": "Closed",
        "median_hours": "Median hours",
        "area": "Area",
        "total": "Incidents",
        "overdue": "Overdue",
        "overdue_rate": "Overdue rate",
        "rating": "Rating",
        "households": "Households",
        "grids": "Grids",
        "band": "Band",
        "tier": "{minutes}-minute circle",
        "community": "Community",
        "minutes": "Minutes",
        "covered": "Households covered",
        "coverage_share": "Coverage",
        "grid": "Grid",
        "name": "Name",
        "per_km2": "Per km²",
        "none": "(unassigned)",
    },
}


def page_config(lang: str) -> dict[str, Any]:
    """What dashboard.js needs besides the figures: labels, chart order, status names and colours."""
    label = 0 if lang == "zh" else 1
    return {
        "lang": lang,
        "text": TEXT[lang],
        "charts": list(CHARTS),
        "statuses": {
            code: {"label": STATUS_LABELS[code][label], "color": color} for code, color in STATUS_COLORS.items()
        },
    }


def _card(chart: str, lang: str) -> str:
    t = TEXT[lang]
    png = "" if chart == "density" else f'<button type="button" data-export="png">{html.escape(t["png"])}</button>'
    csv = f'<button type="button" data-export="csv">{html.escape(t["csv"])}</button>'
    return f"""
  <section class="gridmap-dash-card gridmap-dash-{chart}" data-chart="{chart}">
    <header><h2 class="gridmap-dash-title"></h2>
      <span class="gridmap-dash-exports">{png}{csv}</span>
    </header>
    <div class="gridmap-dash-chart" id="gridmap-dash-{chart}"></div>
  </section>"""


def _layout(lang: str) -> str:
    t = TEXT[lang]
    cards = "".join(_card(chart, lang) for chart in CHARTS)
    return f"""
<main id="gridmap-dashboard" class="gridmap-dashboard">
  <div class="gridmap-dash-head">
    <h1>{html.escape(t["title"])}</h1>
    {lang_switch(lang)}
    {user_badge(lang)}
    <span id="gridmap-dash-state" class="gridmap-dash-state">{html.escape(t["loading"])}</span>
  </div>
  <div class="gridmap-dash-cards">{cards}
  </div>
</main>"""


def dashboard_page(center: tuple[float, float], *, base: Basemap, lang: str = "zh", **_: object) -> str:
    """HTML of the dashboard; its density map is centred on (lat, lon) until the grids are drawn."""
    lang = lang if lang in TEXT else "zh"
    fmap = offline_map(base=base, location=list(center), zoom_start=13, control_scale=True)
    fmap.default_js.append(("echarts", f"{STATIC_URL}/vendor/echarts/echarts.min.js"))
    return render_page(
        fmap,
        title=TEXT[lang]["title"],
        script="dashboard.js",
        entry="gridmapDashboard",
        config=page_config(lang),
        stylesheet="dashboard.css",
        body=(_layout(lang), login_form(lang, TEXT[lang]["title"])),
    )
