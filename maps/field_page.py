"""The grid worker's phone app (/field): a progressive web app over the worker's own routes.

The HTML carries the page's labels and settings (GRIDMAP_PAGE) and its empty panels; maps/static/gridmap/field.js
does the rest in the browser: sign-in as a long-lived device session, the worker's queue and grids on the map with
the phone's position, the incident sheet (only the grid worker's actions), reports, check-ins, home visits, the
live event stream, and an IndexedDB queue that sends every action (with its Idempotency-Key) when the phone is
online again. The service worker (`/field/sw.js`, maps/static/gridmap/field-sw.js) keeps the shell, vendor files,
basemap tiles and the worker's API answers for offline use; the manifest makes the app installable.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import folium

from gis.auth.access import WORKER_ACTIONS
from gis.incidents.workflow import TRANSITIONS
from gis.registry import incident_categories
from maps.assets import STATIC_URL, Basemap, lang_switch, offline_map, render_page
from maps.dispatch_map import ACTION_LABELS, STATUS_LABELS

ICON_SIZES = (192, 512)
THEME_COLOUR = "#1f6fb2"

TEXT: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网格员",
        "app_name": "网格员 · 移动巡查",
        "tab_queue": "队列",
        "tab_map": "地图",
        "tab_report": "上报",
        "tab_checkin": "签到",
        "tab_visit": "走访",
        "signin": "登录",
        "signin_note": "本机将保持登录 30 天，可随时退出。",
        "username": "用户名",
        "password": "密码",
        "signing_in": "登录中…",
        "wrong": "用户名或密码错误。",
        "not_worker": "此应用仅供网格员使用。",
        "failed": "失败：",
        "signout": "退出",
        "pending": "{n} 项待发送",
        "failed_items": "{n} 项发送失败",
        "offline": "离线",
        "online": "在线",
        "queue_empty": "我的网格暂无待办事件。",
        "overdue": "超期",
        "due": "期限 {at}",
        "loading": "加载中…",
        "close": "关闭",
        "note": "备注",
        "reason": "退回原因",
        "photos": "照片",
        "add_photo": "拍照 / 选择照片",
        "no_actions": "当前状态下无可执行操作。",
        "queued": "已加入待发送队列。",
        "sent": "已发送。",
        "category": "类别",
        "description": "描述",
        "where": "位置",
        "my_position": "我的位置",
        "pick_on_map": "在地图上选点",
        "pick_hint": "点击地图选择位置",
        "picked": "已选点 {lon}, {lat}",
        "no_position": "尚未获得定位。",
        "submit_report": "提交上报",
        "checkin": "定位签到",
        "accuracy": "精度 ±{m} 米",
        "patrol_today": "今日巡查",
        "checkins_today": "签到 {n} 次",
        "reports_today": "上报 {n} 件",
        "building": "建筑",
        "pick_building": "在地图上选择建筑",
        "building_picked": "建筑 #{id} {name}",
        "no_building": "此处没有建筑。",
        "households": "户数",
        "population": "常住人口",
        "submit_visit": "提交走访",
        "new_work": "新事件 #{id}",
        "required": "请填写：{what}",
    },
    "en": {
        "title": "Grid worker",
        "app_name": "Grid worker · field app",
        "tab_queue": "Queue",
        "tab_map": "Map",
        "tab_report": "Report",
        "tab_checkin": "Check in",
        "tab_visit": "Visit",
        "signin": "Sign in",
        "signin_note": "This device stays signed in for 30 days; sign out any time.",
        "username": "User name",
        "password": "Password",
        "signing_in": "Signing in…",
        "wrong": "Wrong user name or password.",
        "not_worker": "This app is for grid workers.",
        "failed": "Failed: ",
        "signout": "Sign out",
        "pending": "{n} waiting to be sent",
        "failed_items": "{n} could not be sent",
        "offline": "Offline",
        "online": "Online",
        "queue_empty": "No open incidents in my grids.",
        "overdue": "Overdue",
        "due": "Due {at}",
        "loading": "Loading…",
        "close": "Close",
        "note": "Note",
        "reason": "Reason for returning",
        "photos": "Photos",
        "add_photo": "Take / choose photos",
        "no_actions": "No action is possible in this state.",
        "queued": "Queued to be sent.",
        "sent": "Sent.",
        "category": "Category",
        "description": "Description",
        "where": "Where",
        "my_position": "My position",
        "pick_on_map": "Pick on the map",
        "pick_hint": "Tap the map to choose the place",
        "picked": "Picked {lon}, {lat}",
        "no_position": "No position yet.",
        "submit_report": "Send report",
        "checkin": "Check in here",
        "accuracy": "accuracy ±{m} m",
        "patrol_today": "My patrol today",
        "checkins_today": "{n} check-ins",
        "reports_today": "{n} reports",
        "building": "Building",
        "pick_building": "Choose a building on the map",
        "building_picked": "Building #{id} {name}",
        "no_building": "No building here.",
        "households": "Households",
        "population": "Residents",
        "submit_visit": "Send visit",
        "new_work": "New incident #{id}",
        "required": "Please fill in: {what}",
    },
}


def _lang(lang: str) -> str:
    return "en" if lang == "en" else "zh"


def page_config(lang: str) -> dict[str, Any]:
    """What field.js needs: labels, categories, status and action names, the grid worker's actions."""
    lang = _lang(lang)
    pick = 0 if lang == "zh" else 1
    return {
        "lang": lang,
        "text": TEXT[lang],
        "categories": [
            {"code": c.code, "name": c.name_zh if lang == "zh" else c.name_en} for c in incident_categories().values()
        ],
        "statuses": {code: names[pick] for code, names in STATUS_LABELS.items()},
        "actions": {code: ACTION_LABELS[code][pick] for code in sorted(WORKER_ACTIONS)},
        # Which actions need a reason (return): the same rule the server checks.
        "needs_note": sorted(a for a in WORKER_ACTIONS if TRANSITIONS[a].needs_note),
        "worker_actions": sorted(WORKER_ACTIONS),
        "sw": "/field/sw.js",
        "scope": "/field",
    }


def _tabs(t: dict[str, str]) -> str:
    buttons = "".join(
        f'<button type="button" class="field-tab" data-tab="{name}" id="field-tab-button-{name}">'
        f'<span class="field-tab-label">{html.escape(t[f"tab_{name}"])}</span>'
        + ('<span id="field-badge" class="field-badge" hidden>0</span>' if name == "queue" else "")
        + "</button>"
        for name in ("queue", "map", "report", "checkin", "visit")
    )
    return f'<nav class="field-tabs" id="field-tabs">{buttons}</nav>'


def _body(lang: str) -> tuple[str, ...]:
    t = {k: html.escape(v) for k, v in TEXT[lang].items()}
    top = (
        '<header class="field-top" id="field-top">'
        f'<b class="field-title">{t["title"]}</b>'
        '<span id="field-net" class="field-net"></span>'
        '<span class="field-top-right">'
        f"{lang_switch(lang)}"
        f'<button type="button" id="field-signout" class="field-link" hidden>{t["signout"]}</button>'
        "</span></header>"
        '<div id="field-banner" class="field-banner" role="status" hidden></div>'
        '<div id="field-toast" class="field-toast" role="status" hidden></div>'
    )
    signin = f"""
<section id="field-signin" class="field-sheet field-signin" hidden>
  <form id="field-signin-form" class="field-form">
    <h2>{t["signin"]}</h2>
    <p class="field-hint">{t["signin_note"]}</p>
    <label>{t["username"]}<input name="username" autocomplete="username" required maxlength="64"></label>
    <label>{t["password"]}<input name="password" type="password" autocomplete="current-password" required></label>
    <div class="field-error" role="alert" hidden></div>
    <button type="submit" class="field-primary">{t["signin"]}</button>
  </form>
</section>"""
    queue = '<section id="field-panel-queue" class="field-sheet" data-panel="queue"><ul id="field-queue"></ul>'
    queue += "</section>"
    incident = '<section id="field-incident" class="field-sheet field-incident" hidden></section>'
    report = f"""
<section id="field-panel-report" class="field-sheet" data-panel="report" hidden>
  <form id="field-report-form" class="field-form">
    <label>{t["category"]}<select name="category" id="field-report-category" required></select></label>
    <label>{t["description"]}<textarea name="description" rows="3" maxlength="2000"></textarea></label>
    <fieldset class="field-where"><legend>{t["where"]}</legend>
      <label class="field-radio"><input type="radio" name="where" value="gps" checked> {t["my_position"]}</label>
      <label class="field-radio"><input type="radio" name="where" value="map"> {t["pick_on_map"]}</label>
      <div id="field-report-place" class="field-hint"></div>
    </fieldset>
    <label>{t["photos"]}<input type="file" name="photos" accept="image/*" capture="environment" multiple></label>
    <button type="submit" class="field-primary">{t["submit_report"]}</button>
  </form>
</section>"""
    checkin = f"""
<section id="field-panel-checkin" class="field-sheet" data-panel="checkin" hidden>
  <div id="field-position" class="field-hint">{t["no_position"]}</div>
  <button type="button" id="field-checkin" class="field-primary">{t["checkin"]}</button>
  <h3>{t["patrol_today"]}</h3>
  <div id="field-patrol" class="field-hint"></div>
  <ul id="field-patrol-list" class="field-list"></ul>
</section>"""
    visit = f"""
<section id="field-panel-visit" class="field-sheet" data-panel="visit" hidden>
  <form id="field-visit-form" class="field-form">
    <div id="field-visit-building" class="field-hint">{t["building"]}: —</div>
    <button type="button" id="field-visit-pick" class="field-secondary">{t["pick_building"]}</button>
    <label>{t["households"]}<input name="households" type="number" min="0" max="100000" inputmode="numeric"></label>
    <label>{t["population"]}<input name="population_resident" type="number" min="0" max="1000000"
           inputmode="numeric"></label>
    <label>{t["note"]}<textarea name="note" rows="2" maxlength="2000"></textarea></label>
    <button type="submit" class="field-primary">{t["submit_visit"]}</button>
  </form>
</section>"""
    return (top, signin, queue, incident, report, checkin, visit, _tabs(TEXT[lang]))


def field_page(center: tuple[float, float], *, base: Basemap, lang: str = "zh") -> str:
    """HTML of the field app, the map centred on (lat, lon) until the worker's grids are loaded."""
    lang = _lang(lang)
    fmap = offline_map(base=base, location=list(center), zoom_start=16, maxZoom=19, zoom_control=False)
    header = fmap.get_root().header  # type: ignore[attr-defined]
    # Installable: the manifest, the theme colour and an icon for the home screen (iOS reads apple-touch-icon).
    header.add_child(folium.Element(f'<link rel="manifest" href="/field/manifest.webmanifest?lang={lang}">'))
    header.add_child(folium.Element(f'<meta name="theme-color" content="{THEME_COLOUR}">'))
    header.add_child(folium.Element(f'<link rel="apple-touch-icon" href="{STATIC_URL}/gridmap/icons/field-192.png">'))
    return render_page(
        fmap,
        title=TEXT[lang]["title"],
        script="field.js",
        entry="gridmapField",
        config=page_config(lang),
        stylesheet="field.css",
        body=_body(lang),
    )


def manifest(lang: str = "zh") -> str:
    """The web app manifest (application/manifest+json): name, start URL, scope, standalone, icons."""
    lang = _lang(lang)
    document = {
        "name": TEXT[lang]["app_name"],
        "short_name": TEXT[lang]["title"],
        "lang": "zh-CN" if lang == "zh" else "en",
        "start_url": f"/field?lang={lang}",
        "scope": "/field",
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#ffffff",
        "theme_color": THEME_COLOUR,
        "icons": [
            {"src": f"{STATIC_URL}/gridmap/icons/field-{size}.png", "sizes": f"{size}x{size}", "type": "image/png"}
            for size in ICON_SIZES
        ],
    }
    return json.dumps(document, ensure_ascii=False)


SERVICE_WORKER_FILE = Path(__file__).resolve().parent / "static" / "gridmap" / "field-sw.js"
