"""The public notice (/notice, 公示): recently closed incidents per community with days to close, and monthly counts.

Rendered here from gis.incidents.notice (which holds no description, contact, address or coordinate); the monthly
chart is plain HTML bars. maps/static/gridmap/notice.js only filters the page by community.
"""

from __future__ import annotations

import html
from collections import defaultdict
from typing import Any

from maps.assets import lang_switch
from maps.report_page import plain_page

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "办理公示",
        "intro": "近 {days} 天办结的事件（按社区）及近 {months} 个月的受理、办结数量。不公开描述、联系方式和具体位置。",
        "all": "全部社区",
        "community": "社区",
        "outside": "社区以外",
        "category": "类别",
        "closed_on": "办结日期",
        "days": "用时（天）",
        "none": "近期没有办结的事件。",
        "monthly": "月度统计",
        "month": "月份",
        "reported": "受理",
        "closed": "办结",
        "report": "我要上报",
        "nothing": "暂无数据。",
    },
    "en": {
        "title": "Public notice",
        "intro": "Incidents closed in the last {days} days by community, and reports and closures of the last "
        "{months} months. No descriptions, contacts or exact places are published.",
        "all": "All communities",
        "community": "Community",
        "outside": "outside the communities",
        "category": "Category",
        "closed_on": "Closed on",
        "days": "Days to close",
        "none": "Nothing was closed recently.",
        "monthly": "Monthly counts",
        "month": "Month",
        "reported": "Reported",
        "closed": "Closed",
        "report": "Report a problem",
        "nothing": "No data yet.",
    },
}


def notice_page(notice: dict[str, Any], *, lang: str = "zh") -> str:
    """HTML of /notice from gis.incidents.notice.notice."""
    lang = "en" if lang == "en" else "zh"
    t = TEXT[lang]
    e = html.escape

    def community(code: str | None, name: str | None) -> tuple[str, str]:
        return code or "-", name or t["outside"]

    def category(item: dict[str, Any]) -> str:
        return str(item["category_name_zh"] if lang == "zh" else item["category_name_en"])

    names: dict[str, str] = {}
    sections = []
    for entry in notice["communities"]:
        code, name = community(entry["community_code"], entry["community_name"])
        names[code] = name
        rows = "".join(
            f"<tr><td>{e(category(c))}</td><td>{e(c['closed_on'])}</td><td class='gridmap-number'>"
            f"{c['days_to_close']:.1f}</td></tr>"
            for c in entry["closed"]
        )
        sections.append(
            f'<section class="gridmap-notice-community" data-community="{e(code)}"><h3>{e(name)}</h3>'
            f'<table class="gridmap-table"><thead><tr><th>{e(t["category"])}</th><th>{e(t["closed_on"])}</th>'
            f"<th>{e(t['days'])}</th></tr></thead><tbody>{rows}</tbody></table></section>"
        )
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    detail = []
    for item in notice["monthly"]:
        code, name = community(item["community_code"], item["community_name"])
        names.setdefault(code, name)
        totals[item["month"]][0] += item["reported"]
        totals[item["month"]][1] += item["closed"]
        detail.append(
            f'<tr data-community="{e(code)}"><td>{e(item["month"])}</td><td>{e(name)}</td><td>{e(category(item))}'
            f'</td><td class="gridmap-number">{item["reported"]}</td><td class="gridmap-number">{item["closed"]}'
            "</td></tr>"
        )
    peak = max((max(v) for v in totals.values()), default=0) or 1
    bars = "".join(
        f'<div class="gridmap-bar-row"><span class="gridmap-bar-month">{e(month)}</span>'
        f'<span class="gridmap-bar-track"><span class="gridmap-bar gridmap-bar-reported" '
        f'style="width: {100 * reported / peak:.0f}%"></span><span class="gridmap-bar gridmap-bar-closed" '
        f'style="width: {100 * closed / peak:.0f}%"></span></span>'
        f'<span class="gridmap-bar-values">{reported} / {closed}</span></div>'
        for month, (reported, closed) in sorted(totals.items())
    )
    options = "".join(f'<option value="{e(code)}">{e(name)}</option>' for code, name in sorted(names.items()))
    intro = t["intro"].format(days=notice["days"], months=notice["months"])
    body = f"""
<main class="gridmap-sheet gridmap-notice" id="gridmap-notice">
  <div class="gridmap-report-head"><h1>{e(t["title"])}</h1>{lang_switch(lang)}</div>
  <p class="gridmap-hint">{e(intro)}</p>
  <label class="gridmap-field">{e(t["community"])}
    <select id="gridmap-notice-community"><option value="">{e(t["all"])}</option>{options}</select></label>
  <div id="gridmap-notice-closed">{"".join(sections) or f'<p class="gridmap-hint">{e(t["none"])}</p>'}</div>
  <h2>{e(t["monthly"])}</h2>
  <p class="gridmap-legend-inline"><span class="gridmap-bar gridmap-bar-reported gridmap-key"></span>{e(t["reported"])}
     <span class="gridmap-bar gridmap-bar-closed gridmap-key"></span>{e(t["closed"])}</p>
  <div class="gridmap-bars" id="gridmap-notice-chart">{bars or f'<p class="gridmap-hint">{e(t["nothing"])}</p>'}</div>
  <table class="gridmap-table" id="gridmap-notice-monthly"><thead><tr><th>{e(t["month"])}</th>
    <th>{e(t["community"])}</th><th>{e(t["category"])}</th><th>{e(t["reported"])}</th><th>{e(t["closed"])}</th>
    </tr></thead><tbody>{"".join(detail)}</tbody></table>
  <p><a class="gridmap-button" href="/report?lang={lang}">{e(t["report"])}</a></p>
</main>"""
    return plain_page(t["title"], lang, body, script="notice.js")
