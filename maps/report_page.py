"""Residents' reporting (/report) and a report's public status by tracking number (/report/{number}).

/report is phone-first: a map (the configured basemap and the community outlines) to choose the spot — "use my
location", a tap, or a name search over /api/search — then category, description, an optional photo and contact.
maps/static/gridmap/report.js submits it to POST /api/incidents with an Idempotency-Key (a double tap makes one
report) and shows the tracking number.

/report/{number} is rendered here from gis.incidents.tracking's public view: status and a timeline, never the
description, contact, photo or exact place.
"""

from __future__ import annotations

import html
from typing import Any

from gis.registry import incident_categories
from maps.assets import STATIC_URL, Basemap, lang_switch, offline_map, render_page
from maps.dispatch_map import ACTION_LABELS, STATUS_LABELS

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "随手拍 · 事件上报",
        "intro": "发现问题？选好位置和类别，简单描述，我们会转给所在网格处理。",
        "place": "1. 位置",
        "locate_me": "使用我的位置",
        "tap_hint": "或在地图上点选，或搜索楼栋、小区、设施名称：",
        "search_placeholder": "例如：小区或设施名称",
        "search": "搜索",
        "no_place": "尚未选择位置",
        "place_chosen": "已选位置：{where}",
        "my_location": "我的位置（精度约 {m} 米）",
        "map_point": "地图上的点",
        "locating": "正在定位…",
        "locate_failed": "无法获取位置：{reason}。请在地图上点选或搜索。",
        "no_results": "没有找到匹配的地点",
        "category": "2. 类别",
        "choose_category": "请选择类别",
        "description": "3. 描述",
        "description_placeholder": "发生了什么？请勿填写他人的姓名、电话等个人信息。",
        "photo": "照片（可选）",
        "contact": "联系方式（可选）",
        "contact_note": "仅处理人员可见，不会公开；用于核实情况。",
        "submit": "提交",
        "submitting": "提交中…",
        "need_place": "请先选择位置",
        "need_category": "请选择类别",
        "failed": "提交失败：{reason}",
        "photo_failed": "照片上传失败（{reason}），将不带照片提交。",
        "done": "已收到，您的查询编号：",
        "done_note": "请记下编号，凭编号查看处理进度。",
        "track_link": "查看处理进度",
        "another": "再报一件",
        "kinds": "facility=设施,compound=小区,building=楼栋",
    },
    "en": {
        "title": "Report a problem",
        "intro": "Seen a problem? Choose where and what, describe it briefly; it goes to the grid it lies in.",
        "place": "1. Where",
        "locate_me": "Use my location",
        "tap_hint": "or tap the map, or search a building, compound or facility name:",
        "search_placeholder": "e.g. a compound or facility name",
        "search": "Search",
        "no_place": "No place chosen yet",
        "place_chosen": "Chosen: {where}",
        "my_location": "my location (about {m} m)",
        "map_point": "a point on the map",
        "locating": "Locating…",
        "locate_failed": "Cannot get your location: {reason}. Tap the map or search instead.",
        "no_results": "No matching place",
        "category": "2. What",
        "choose_category": "Choose a category",
        "description": "3. Description",
        "description_placeholder": "What happened? Please do not write other people's names or phone numbers.",
        "photo": "Photo (optional)",
        "contact": "Contact (optional)",
        "contact_note": "Seen only by the staff handling it, never published; used to check the facts.",
        "submit": "Send",
        "submitting": "Sending…",
        "need_place": "Choose the place first",
        "need_category": "Choose a category",
        "failed": "Could not send: {reason}",
        "photo_failed": "The photo could not be uploaded ({reason}); sending without it.",
        "done": "Received. Your tracking number:",
        "done_note": "Keep the number: it shows how the report is handled.",
        "track_link": "Follow the report",
        "another": "Report another",
        "kinds": "facility=facility,compound=compound,building=building",
    },
}

TRACK_TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "处理进度",
        "number": "查询编号",
        "category": "类别",
        "status": "当前状态",
        "community": "所在社区",
        "department": "处理部门",
        "reported_at": "上报时间",
        "closed_at": "办结时间",
        "deadline": "本阶段时限",
        "overdue": "已超时",
        "on_time": "未超时",
        "timeline": "处理记录",
        "privacy": "本页不显示描述、照片、联系方式和具体位置。",
        "new_report": "我要上报",
        "notice": "办理公示",
        "unknown": "未找到编号为 {number} 的上报，请核对编号（8 位字母和数字，不含 0、O、1、I）。",
        "unknown_title": "未找到",
        "outside": "社区以外",
        "reporter": "上报人",
    },
    "en": {
        "title": "Report status",
        "number": "Tracking number",
        "category": "Category",
        "status": "Status",
        "community": "Community",
        "department": "Handled by",
        "reported_at": "Reported",
        "closed_at": "Closed",
        "deadline": "Time limit of this stage",
        "overdue": "overdue",
        "on_time": "on time",
        "timeline": "Timeline",
        "privacy": "This page never shows the description, photo, contact or exact place.",
        "new_report": "Report a problem",
        "notice": "Public notice",
        "unknown": "No report has the tracking number {number}; check it (8 letters and digits, no 0, O, 1 or I).",
        "unknown_title": "Not found",
        "outside": "outside the communities",
        "reporter": "reporter",
    },
}

# Actors of the history that are not staff: the reporter through the app or through Open311.
REPORTER_ACTORS = frozenset({"public", "open311"})


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "zh"


def report_config(lang: str) -> dict[str, Any]:
    """What report.js needs: language, labels and the incident categories (registry order)."""
    lang = _lang(lang)
    categories = [
        {"code": code, "name": c.name_zh if lang == "zh" else c.name_en} for code, c in incident_categories().items()
    ]
    return {"lang": lang, "text": TEXT[lang], "categories": categories}


def report_page(center: tuple[float, float], *, base: Basemap, lang: str = "zh") -> str:
    """HTML of /report, the map centred on (lat, lon)."""
    lang = _lang(lang)
    t = {k: html.escape(v) for k, v in TEXT[lang].items()}
    fmap = offline_map(base=base, location=list(center), zoom_start=15, maxZoom=19, control_scale=True)
    panel = f"""
<div id="gridmap-report" class="gridmap-panel gridmap-report-panel">
  <div class="gridmap-report-head"><b>{t["title"]}</b>{lang_switch(lang)}</div>
  <form id="gridmap-report-form" class="gridmap-report-form" novalidate>
    <p class="gridmap-hint">{t["intro"]}</p>
    <fieldset><legend>{t["place"]}</legend>
      <button type="button" id="gridmap-locate-me" class="gridmap-button">{t["locate_me"]}</button>
      <p class="gridmap-hint">{t["tap_hint"]}</p>
      <div class="gridmap-search-row">
        <input id="gridmap-search" type="search" maxlength="100" placeholder="{t["search_placeholder"]}"
               aria-label="{t["search"]}" autocomplete="off">
        <button type="button" id="gridmap-search-go" class="gridmap-button">{t["search"]}</button>
      </div>
      <ul id="gridmap-search-results" class="gridmap-search-results"></ul>
      <p id="gridmap-place" class="gridmap-place">{t["no_place"]}</p>
    </fieldset>
    <fieldset><legend>{t["category"]}</legend>
      <select id="gridmap-category" aria-label="{t["category"]}"></select>
    </fieldset>
    <fieldset><legend>{t["description"]}</legend>
      <textarea id="gridmap-description" rows="4" maxlength="5000" aria-label="{t["description"]}"
                placeholder="{t["description_placeholder"]}"></textarea>
      <label class="gridmap-field">{t["photo"]}
        <input id="gridmap-photo" type="file" accept="image/jpeg,image/png,image/webp"></label>
      <label class="gridmap-field">{t["contact"]}
        <input id="gridmap-contact" type="text" maxlength="200" autocomplete="tel"></label>
      <p class="gridmap-hint gridmap-contact-note">{t["contact_note"]}</p>
    </fieldset>
    <p id="gridmap-report-status" class="gridmap-report-status" role="status"></p>
    <button type="submit" id="gridmap-submit" class="gridmap-button gridmap-primary">{t["submit"]}</button>
  </form>
  <div id="gridmap-result" class="gridmap-result" hidden>
    <p>{t["done"]}</p>
    <p id="gridmap-tracking-number" class="gridmap-tracking-number"></p>
    <p class="gridmap-hint">{t["done_note"]}</p>
    <p><a id="gridmap-track-link" class="gridmap-button gridmap-primary" href="#">{t["track_link"]}</a>
       <a id="gridmap-another" class="gridmap-button" href="?lang={lang}">{t["another"]}</a></p>
  </div>
</div>"""
    return render_page(
        fmap,
        title=TEXT[lang]["title"],
        script="report.js",
        entry="gridmapReport",
        config=report_config(lang),
        stylesheet="report.css",
        body=(panel,),
    )


def plain_page(title: str, lang: str, body: str, *, script: str | None = None) -> str:
    """A page without a map: styles and scripts from the app only, nothing inline (no CSP nonce needed)."""
    scripts = f'<script src="{STATIC_URL}/gridmap/{script}" defer></script>' if script else ""
    return f"""<!doctype html>
<html lang="{"zh-CN" if lang == "zh" else "en"}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gridmap · {html.escape(title)}</title><link rel="icon" href="data:,">
<link rel="stylesheet" href="{STATIC_URL}/gridmap/gridmap.css">
<link rel="stylesheet" href="{STATIC_URL}/gridmap/report.css">{scripts}
</head><body class="gridmap-document">{body}</body></html>"""


def _label(labels: dict[str, tuple[str, str]], code: str | None, lang: str) -> str:
    if code is None:
        return ""
    zh, en = labels.get(code, (code, code))
    return zh if lang == "zh" else en


def _when(timestamp: str | None) -> str:
    """An ISO timestamp as "YYYY-MM-DD HH:MM", with its UTC offset unless it is China's (+08:00)."""
    if not timestamp:
        return ""
    shown = timestamp[:16].replace("T", " ")
    offset = timestamp[-6:] if timestamp[-6] in "+-" else None
    return shown if offset in (None, "+08:00") else f"{shown} (UTC{offset})"


def tracking_page(view: dict[str, Any], *, lang: str = "zh") -> str:
    """HTML of /report/{number} from gis.incidents.tracking.public_status."""
    lang = _lang(lang)
    t = TRACK_TEXT[lang]
    e = html.escape
    category = view["category_name_zh"] if lang == "zh" else view["category_name_en"]
    rows = [
        (t["number"], f'<span class="gridmap-tracking-number">{e(view["tracking_number"])}</span>'),
        (t["category"], e(category)),
        (t["status"], f'<b class="gridmap-status-{e(view["status"])}">{e(_label(STATUS_LABELS, view["status"], lang))}'
                      "</b>"),
        (t["community"], e(view["community_name"] or t["outside"])),
        (t["department"], e(view["department"] or "")),
        (t["reported_at"], e(_when(view["reported_at"]))),
    ]  # fmt: skip
    if view["closed_at"]:
        rows.append((t["closed_at"], e(_when(view["closed_at"]))))
    elif view["deadline_at"]:
        state = t["overdue"] if view["overdue"] else t["on_time"]
        rows.append((t["deadline"], f"{e(_when(view['deadline_at']))} ({e(state)})"))
    table = "".join(f"<tr><th>{label}</th><td>{value}</td></tr>" for label, value in rows)
    steps = "".join(
        f'<li><time datetime="{e(step["at"])}">{e(_when(step["at"]))}</time> '
        f"<b>{e(_label(ACTION_LABELS, step['action'], lang))}</b>"
        + (f" → {e(_label(STATUS_LABELS, step['to_status'], lang))}" if step["to_status"] else "")
        + f' <span class="gridmap-actor">{e(t["reporter"] if step["actor"] in REPORTER_ACTORS else step["actor"])}'
        + "</span></li>"
        for step in view["history"]
    )
    body = f"""
<main class="gridmap-sheet" id="gridmap-tracking">
  <div class="gridmap-report-head"><h1>{e(t["title"])}</h1>{lang_switch(lang)}</div>
  <table class="gridmap-facts">{table}</table>
  <h2>{e(t["timeline"])}</h2>
  <ol class="gridmap-timeline">{steps}</ol>
  <p class="gridmap-hint">{e(t["privacy"])}</p>
  <p><a class="gridmap-button" href="/report?lang={lang}">{e(t["new_report"])}</a>
     <a class="gridmap-button" href="/notice?lang={lang}">{e(t["notice"])}</a></p>
</main>"""
    return plain_page(f"{t['title']} {view['tracking_number']}", lang, body)


def tracking_missing_page(number: str, *, lang: str = "zh") -> str:
    """HTML of /report/{number} when no report has that number (sent with 404)."""
    lang = _lang(lang)
    t = TRACK_TEXT[lang]
    body = f"""
<main class="gridmap-sheet" id="gridmap-tracking">
  <div class="gridmap-report-head"><h1>{html.escape(t["unknown_title"])}</h1>{lang_switch(lang)}</div>
  <p>{html.escape(t["unknown"].format(number=number[:40]))}</p>
  <p><a class="gridmap-button" href="/report?lang={lang}">{html.escape(t["new_report"])}</a></p>
</main>"""
    return plain_page(t["unknown_title"], lang, body)
