"""The dispatcher's desk (/maps/dispatch): incidents by status, clustered and as a heat map, over the grid
boundaries drawn from vector tiles, beside a queue (filters, search, nearest deadline first, countdowns); a click
shows an incident's details and history, one button per transition the handling loop allows now, and department
and worker pickers for dispatch and reassignment. Changes arrive live from GET /api/incidents/events (SSE).

The HTML carries only labels and settings (GRIDMAP_PAGE); incidents are fetched page by page from
/api/incidents in the browser (maps/static/gridmap/dispatch.js), grids come as vector tiles.
"""

from __future__ import annotations

import html
from typing import Any

from gis.incidents.records import REASSIGNABLE
from gis.incidents.workflow import STATES, TRANSITIONS
from gis.registry import incident_categories
from maps.assets import Basemap, offline_map, render_page
from maps.login import login_form, user_badge

# Red is kept for overdue incidents, so no status colour is red-ish.
STATUS_COLORS = {
    "reported": "#f39c12",
    "registered": "#8e44ad",
    "dispatched": "#3f51b5",
    "in_progress": "#16a085",
    "resolved": "#27ae60",
    "verified": "#2c3e50",
    "closed": "#95a5a6",
    "rejected": "#795548",
    "returned": "#f1c40f",
    "duplicate": "#c7c7c7",
}
OVERDUE_COLOR = "#d7191c"

STATUS_LABELS = {
    "reported": ("已上报", "Reported"),
    "registered": ("已立案", "Registered"),
    "dispatched": ("已派遣", "Dispatched"),
    "in_progress": ("处置中", "In progress"),
    "resolved": ("已处置", "Resolved"),
    "verified": ("已核查", "Verified"),
    "closed": ("已结案", "Closed"),
    "rejected": ("不予立案", "Rejected"),
    "returned": ("已退回", "Returned"),
    "duplicate": ("重复", "Duplicate"),
}

# Transition buttons, plus the two history-only events (report, relocate).
ACTION_LABELS = {
    "register": ("立案", "Register"),
    "reject": ("不予立案", "Reject"),
    "mark_duplicate": ("标记重复", "Mark duplicate"),
    "dispatch": ("派遣", "Dispatch"),
    "start": ("开始处置", "Start"),
    "return": ("退回", "Return"),
    "resolve": ("处置完成", "Resolve"),
    "verify": ("核查通过", "Verify"),
    "reopen": ("核查不通过", "Reopen"),
    "close": ("结案", "Close"),
    "report": ("上报", "Reported"),
    "relocate": ("更正位置", "Relocated"),
    "reassign": ("改派", "Reassign"),
}

# Report channels (incidents.channel is free text; these are the ones the project's clients send).
CHANNEL_LABELS = {
    "hotline": ("热线电话", "Hotline"),
    "patrol": ("网格巡查", "Patrol"),
    "wechat": ("微信", "WeChat"),
    "app": ("手机应用", "App"),
    "web": ("网站", "Web"),
    "desk": ("窗口受理", "Service desk"),
    "sensor": ("感知设备", "Sensor"),
    "open311": ("Open311 接口", "Open311"),
}

TEXT = {
    "zh": {
        "title": "事件调度",
        "loading": "加载中…",
        "loaded": "共 {n} 件事件，其中超期 {overdue} 件",
        "truncated": "（仅显示最新 {shown} 件，共 {n} 件）",
        "failed": "加载失败：",
        "all_statuses": "全部状态",
        "status": "状态",
        "overdue_only": "仅显示超期",
        "overdue": "超期",
        "legend": "图例",
        "incidents": "事件",
        "heat": "热力图",
        "grids": "网格边界",
        "switch": "English",
        "category": "类别",
        "description": "描述",
        "contact": "联系方式",
        "address": "地址",
        "channel": "渠道",
        "department": "责任部门",
        "grid": "网格",
        "community": "社区",
        "street": "街道",
        "reported_at": "上报时间",
        "deadline_at": "处理时限",
        "closed_at": "结案时间",
        "duplicate_of": "重复于",
        "history": "处理记录",
        "actions": "操作",
        "no_actions": "事件已办结，无可用操作",
        "note": "备注 / 原因",
        "note_placeholder": "不予立案、退回、核查不通过须填写原因",
        "duplicate_id": "原事件编号",
        "needs_note": "请先填写原因，再按「{action}」。",
        "needs_duplicate": "请填写原事件编号，再按「{action}」。",
        "sending": "提交中…",
        "done": "已{action}。",
        "not_allowed": "操作未执行：",
        "error": "出错：",
        "queue": "事件队列",
        "search": "搜索编号、查询码或描述",
        "all_categories": "全部类别",
        "all_channels": "全部渠道",
        "community_code": "社区编码",
        "grid_code": "网格编码",
        "since": "上报起",
        "until": "上报止",
        "sort": "排序",
        "sort_deadline": "时限最近",
        "sort_newest": "最新上报",
        "queue_more": "另有 {n} 件未列出，请缩小筛选范围",
        "queue_empty": "没有符合条件的事件",
        "left": "剩 {t}",
        "late": "超期 {t}",
        "days": "{n} 天",
        "hours": "{n} 小时",
        "minutes": "{n} 分",
        "worker": "网格员",
        "assignee": "处置人",
        "no_worker": "不指定网格员",
        "in_grid": "本网格",
        "other_workers": "其他网格员",
        "reassign_hint": "改派：选择新的部门或网格员后按「改派」",
        "tracking_number": "查询码",
        "live": "实时更新已连接",
        "live_lost": "实时更新中断，正在重连…",
    },
    "en": {
        "title": "Incident dispatch",
        "loading": "Loading…",
        "loaded": "{n} incidents, {overdue} overdue",
        "truncated": " (showing the newest {shown} of {n})",
        "failed": "Loading failed: ",
        "all_statuses": "All statuses",
        "status": "Status",
        "overdue_only": "Overdue only",
        "overdue": "Overdue",
        "legend": "Legend",
        "incidents": "Incidents",
        "heat": "Heat map",
        "grids": "Grid boundaries",
        "switch": "中文",
        "category": "Category",
        "description": "Description",
        "contact": "Reporter's contact",
        "address": "Address",
        "channel": "Channel",
        "department": "Department",
        "grid": "Grid",
        "community": "Community",
        "street": "Street",
        "reported_at": "Reported",
        "deadline_at": "Deadline",
        "closed_at": "Closed",
        "duplicate_of": "Duplicate of",
        "history": "History",
        "actions": "Actions",
        "no_actions": "The incident is finished: no actions",
        "note": "Note / reason",
        "note_placeholder": "required to reject, return or reopen",
        "duplicate_id": "Original incident id",
        "needs_note": "Give a reason first, then press “{action}”.",
        "needs_duplicate": "Give the original incident's id, then press “{action}”.",
        "sending": "Sending…",
        "done": "Done: {action}.",
        "not_allowed": "Not done: ",
        "error": "Error: ",
        "queue": "Queue",
        "search": "Search id, tracking number or text",
        "all_categories": "All categories",
        "all_channels": "All channels",
        "community_code": "Community code",
        "grid_code": "Grid code",
        "since": "Reported from",
        "until": "Reported until",
        "sort": "Sort",
        "sort_deadline": "Nearest deadline",
        "sort_newest": "Newest",
        "queue_more": "{n} more not listed: narrow the filters",
        "queue_empty": "No incidents match",
        "left": "{t} left",
        "late": "{t} overdue",
        "days": "{n} d",
        "hours": "{n} h",
        "minutes": "{n} min",
        "worker": "Grid worker",
        "assignee": "Assigned to",
        "no_worker": "No worker",
        "in_grid": "This grid",
        "other_workers": "Other workers",
        "reassign_hint": "Reassign: pick a department or worker, then press “Reassign”",
        "tracking_number": "Tracking number",
        "live": "Live updates on",
        "live_lost": "Live updates lost, reconnecting…",
    },
}

QUEUE_ROWS = 200  # rows the queue lists (the rest are on the map and in the counts)
MAX_INCIDENTS = 20_000  # beyond this the browser gets sluggish; the panel says how many are not shown


def page_config(lang: str) -> dict[str, Any]:
    """Everything dispatch.js needs besides the data: labels in both languages, colours, transitions."""
    return {
        "lang": lang,
        "text": TEXT[lang],
        "statuses": {
            code: {"zh": STATUS_LABELS[code][0], "en": STATUS_LABELS[code][1], "color": STATUS_COLORS[code]}
            for code in STATES
        },
        "overdueColor": OVERDUE_COLOR,
        "actions": {
            code: {
                "zh": zh,
                "en": en,
                "needsNote": code in TRANSITIONS and TRANSITIONS[code].needs_note,
            }
            for code, (zh, en) in ACTION_LABELS.items()
        },
        "categories": {
            code: {"zh": c.name_zh, "en": c.name_en, "department": c.department}
            for code, c in incident_categories().items()
        },
        "channels": {code: {"zh": zh, "en": en} for code, (zh, en) in CHANNEL_LABELS.items()},
        "pageSize": 1000,
        "queueRows": QUEUE_ROWS,
        "reassignable": sorted(REASSIGNABLE),
        "maxIncidents": MAX_INCIDENTS,
    }


def _panel(lang: str) -> str:
    """The desk's panel: title, language switch, filters, legend and queue (dispatch.js fills counts and rows)."""
    t = TEXT[lang]
    other = "en" if lang == "zh" else "zh"
    label = 0 if lang == "zh" else 1
    options = "".join(f'<option value="{code}">{html.escape(STATUS_LABELS[code][label])}</option>' for code in STATES)
    categories = "".join(
        f'<option value="{html.escape(code)}">{html.escape(c.name_zh if lang == "zh" else c.name_en)}</option>'
        for code, c in incident_categories().items()
    )
    channels = "".join(
        f'<option value="{code}">{html.escape(names[label])}</option>' for code, names in CHANNEL_LABELS.items()
    )
    legend = "".join(
        f'<li data-status="{code}"><i class="gridmap-swatch" style="background:{STATUS_COLORS[code]}"></i>'
        f'{html.escape(STATUS_LABELS[code][label])} <span class="gridmap-count"></span></li>'
        for code in STATES
    )
    legend += (
        f'<li data-status="overdue"><i class="gridmap-swatch gridmap-swatch-overdue" '
        f'style="background:{OVERDUE_COLOR}"></i>{html.escape(t["overdue"])} <span class="gridmap-count"></span></li>'
    )
    return f"""
<div id="gridmap-panel" class="gridmap-panel gridmap-dispatch-panel">
  <div class="gridmap-dispatch-head">
    <strong>{html.escape(t["title"])}</strong>
    <a id="gridmap-lang" class="gridmap-lang" href="?lang={other}" hreflang="{other}">{html.escape(t["switch"])}</a>
  </div>
  {user_badge(lang)}
  <div id="gridmap-dispatch-status" class="gridmap-dispatch-status">{html.escape(t["loading"])}</div>
  <form id="gridmap-dispatch-filters" class="gridmap-dispatch-filters">
    <label>{html.escape(t["status"])}
      <select name="status"><option value="">{html.escape(t["all_statuses"])}</option>{options}</select>
    </label>
    <label><input type="checkbox" name="overdue" value="true"> {html.escape(t["overdue_only"])}</label>
    <input type="search" name="q" maxlength="200" placeholder="{html.escape(t["search"])}"
           aria-label="{html.escape(t["search"])}" class="gridmap-queue-search">
    <select name="category" aria-label="{html.escape(t["category"])}">
      <option value="">{html.escape(t["all_categories"])}</option>{categories}</select>
    <select name="channel" aria-label="{html.escape(t["channel"])}">
      <option value="">{html.escape(t["all_channels"])}</option>{channels}</select>
    <input type="text" name="community" maxlength="64" list="gridmap-communities"
           placeholder="{html.escape(t["community_code"])}" aria-label="{html.escape(t["community_code"])}">
    <input type="text" name="grid" maxlength="64" list="gridmap-grids"
           placeholder="{html.escape(t["grid_code"])}" aria-label="{html.escape(t["grid_code"])}">
    <datalist id="gridmap-communities"></datalist><datalist id="gridmap-grids"></datalist>
    <label>{html.escape(t["since"])} <input type="date" name="since"></label>
    <label>{html.escape(t["until"])} <input type="date" name="until"></label>
    <label>{html.escape(t["sort"])} <select name="sort">
      <option value="deadline">{html.escape(t["sort_deadline"])}</option>
      <option value="newest">{html.escape(t["sort_newest"])}</option></select></label>
  </form>
  <details class="gridmap-legend" open><summary>{html.escape(t["legend"])}</summary>
    <ul id="gridmap-legend">{legend}</ul>
  </details>
  <details class="gridmap-queue" open><summary>{html.escape(t["queue"])}</summary>
    <ol id="gridmap-queue" class="gridmap-queue-list"></ol>
    <div id="gridmap-queue-more" class="gridmap-popup-note"></div>
  </details>
  <div id="gridmap-live" class="gridmap-live" role="status"></div>
</div>"""


def dispatch_page(center: tuple[float, float], *, base: Basemap, lang: str = "zh", **_: object) -> str:
    """HTML of the dispatch map centred on (lat, lon), in Chinese ("zh") or English ("en")."""
    lang = lang if lang in TEXT else "zh"
    fmap = offline_map(
        plugins=("markercluster", "heat", "vectorgrid"),
        base=base,
        location=list(center),
        zoom_start=15,
        # markercluster needs the map's maxZoom (folium's max_zoom only reaches its own tile layer); 19 is the
        # basemaps' deepest level.
        maxZoom=19,
        control_scale=True,
    )
    return render_page(
        fmap,
        title=TEXT[lang]["title"],
        script="dispatch.js",
        entry="gridmapDispatch",
        config=page_config(lang),
        stylesheet="dispatch.css",
        body=(_panel(lang), login_form(lang, TEXT[lang]["title"])),
    )
