"""The planner's grid editor (网格规划): a draft plan's grids coloured by households against the plan's band,
buildings as vector tiles, validation findings, and the edits of the grid-plan API (merge, split, redraw,
rebalance, undo, publish) sent with If-Match so a stale page never overwrites someone else's work.

The HTML carries only the page's configuration (plan id, language, labels) and the panel's skeleton; the plan,
its grids and its validation are fetched in the browser (maps/static/gridmap/planner.js) from /api/plans/…,
buildings come as vector tiles from /tiles/buildings.
"""

from __future__ import annotations

import html
from typing import Any

from maps.assets import Basemap, lang_switch, offline_map, render_page
from maps.login import login_form, user_badge

DEFAULT_BAND = (300, 500)  # only until the plan is loaded: every plan has a band (gis/settings.household_band)

# Every text the page shows, per language; planner.js fills the "{…}" placeholders.
LABELS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "网格规划",
        "loading": "加载中…",
        "plan": "方案",
        "version": "版本",
        "status": {"draft": "草案", "published": "现行（已发布）", "retired": "已归档"},
        "summary": "{grids} 个网格 · {households} 户",
        "households": "户",
        "legend_under": "少于 {min} 户",
        "legend_within": "{min}–{max} 户",
        "legend_over": "多于 {max} 户",
        "selection": "已选网格",
        "selection_empty": "点击地图上的网格以选择；再次点击取消。",
        "selection_hint": "合并：选 2 个以上相邻网格（保留第一个的编码）；拆分、重绘：选 1 个。",
        "keeps_code": "保留编码",
        "clear": "清除选择",
        "remove": "移除",
        "merge": "合并",
        "split": "拆分",
        "redraw": "重绘",
        "balance": "均衡",
        "undo": "撤销",
        "redo": "重做",
        "set_band": "设为本方案区间",
        "diff": "与现行方案对比",
        "diff_title": "与现行方案 #{against} 的差异",
        "diff_none": "与现行方案没有差异。",
        "diff_same": "这就是现行方案，没有可对比的。",
        "diff_head": ["网格", "状态", "户数", "迁入户", "迁出户", "迁入建筑", "迁出建筑"],
        "diff_status": {"added": "新增", "removed": "删除", "changed": "变更"},
        "diff_recoded": "原编码 {code}",
        "diff_summary": "{grids} 个网格有变化，{households} 户改变所属网格",
        "diff_compounds": "被新拆分的小区（现行方案中在同一网格）",
        "diff_compound": "{compound}（{households} 户）分在 {grids}",
        "reassign_section": "调整建筑",
        "reassign_mode": "选择建筑",
        "reassign_stop": "结束选择",
        "lasso": "套索选择",
        "reassign_hint": "单击建筑选择或取消；“套索选择”画一个范围，形心在范围内的建筑都被选中。"
        "然后单击目标网格或在下拉框中选择。",
        "reassign_zoom": "请放大地图后再选择建筑。",
        "reassign_count": "已选 {count} 栋建筑（{households} 户）",
        "reassign_target": "目标网格",
        "reassign_pick": "（选择目标网格）",
        "reassign_apply": "移入目标网格",
        "reassign_clear": "清空建筑",
        "draw_lasso": "画出要选择建筑的范围：逐点单击，点击第一个点闭合，Esc 取消。",
        "preview": "预览均衡",
        "proposal_title": "均衡预览：社区 {community}，{min}–{max} 户",
        "proposal_head": ["网格", "户数", "建筑", "紧凑度", "变化"],
        "proposal_new": "新网格",
        "proposal_changed": "有变化",
        "proposal_same": "不变",
        "proposal_removed": "将删除 {count} 个网格",
        "proposal_split": "将被拆分的小区",
        "proposal_split_item": "{compound}（{households} 户）分到 {grids} 个网格",
        "proposal_no_split": "没有小区被拆分。",
        "proposal_problems": "未完全满足：",
        "apply": "应用",
        "discard": "放弃",
        "discarded": "已放弃均衡预览，方案未改变。",
        "history": "操作记录",
        "history_empty": "还没有操作。",
        "history_current": "当前",
        "history_moved": "{households} 户",
        "publish_reason": "不能发布：{detail}",
        "publish": "发布",
        "finish": "完成",
        "cancel": "取消",
        "retry": "重试",
        "community": "社区",
        "band": "户数区间",
        "create_draft": "创建草案",
        "draft_name": "草案名称",
        "draft_default": "{name} 的草案",
        "published_note": "这是现行（已发布）方案，不能直接编辑：请基于它创建草案。",
        "retired_note": "该方案已归档，不能编辑：可基于它创建草案。",
        "validation": "校验",
        "validation_ok": "校验通过：没有错误或警告。",
        "validation_summary": "{errors} 个错误，{warnings} 个警告",
        "validation_loading": "校验中…",
        "error": "错误",
        "warning": "警告",
        "layers": {"grids": "网格", "buildings": "建筑", "findings": "校验问题"},
        "draw_split": "在所选网格上画一条从一侧穿到另一侧的线：逐点单击，双击或点“完成”结束，Esc 取消。",
        "draw_redraw": "为所选网格画出新范围：逐点单击，点击第一个点闭合，Esc 取消。",
        "conflict": "方案已被他人修改，您的操作未生效。",
        "conflict_server": "服务器：{detail}",
        "conflict_reloaded": "已重新加载最新版本 v{version}；您的选择和绘制内容都保留着，请检查后点“重试”。",
        "conflict_lost": "以下所选网格在新版本中已不存在：{codes}",
        "failed": "操作失败：{detail}",
        "load_failed": "加载失败：{detail}",
        "no_current": "还没有已发布的方案：请先导入网格。",
        "confirm_publish": "发布方案“{name}”（版本 v{version}）？它将取代现行方案，对所有人生效。",
        "publish_blocked": "校验有错误，修正后才能发布。",
        "done": {
            "merge": "已合并为网格 {codes}",
            "split": "已拆分：{codes}",
            "redraw": "已重绘网格 {codes}",
            "balance": "已均衡社区 {community}",
            "reassign": "已将 {count} 栋建筑移入网格 {codes}",
            "undo": "已撤销上一步（{kind}）",
            "redo": "已重做（{kind}）",
            "band": "户数区间已改为 {min}–{max}",
            "publish": "已发布：该方案现为现行方案",
        },
        "kinds": {
            "merge": "合并",
            "split": "拆分",
            "redraw": "重绘",
            "reassign": "调整建筑",
            "balance": "均衡",
            "renumber": "重新编码",
            "band": "户数区间",
            "create": "创建",
            "undo": "撤销",
            "redo": "重做",
            "publish": "发布",
        },
        "findings": {
            "gap": "空隙",
            "overlap": "重叠",
            "outside_community": "超出社区",
            "building_not_in_one_grid": "建筑未落在唯一网格",
            "non_contiguous": "网格不连续",
            "households_below": "户数过少",
            "households_above": "户数过多",
            "households_drift": "数据更新后户数超出区间",
            "crosses_community": "跨社区",
            "low_compactness": "形状不紧凑",
        },
    },
    "en": {
        "title": "Grid planner",
        "loading": "Loading…",
        "plan": "Plan",
        "version": "version",
        "status": {"draft": "draft", "published": "current (published)", "retired": "retired"},
        "summary": "{grids} grids · {households} households",
        "households": "households",
        "legend_under": "under {min} households",
        "legend_within": "{min}–{max} households",
        "legend_over": "over {max} households",
        "selection": "Selected grids",
        "selection_empty": "Click grids on the map to select them; click again to deselect.",
        "selection_hint": "Merge: select 2 or more adjacent grids (the first keeps its code); split, redraw: select 1.",
        "keeps_code": "keeps code",
        "clear": "Clear selection",
        "remove": "remove",
        "merge": "Merge",
        "split": "Split",
        "redraw": "Redraw",
        "balance": "Rebalance",
        "undo": "Undo",
        "redo": "Redo",
        "set_band": "Set as the plan's band",
        "diff": "Compare with the current plan",
        "diff_title": "Differences from the current plan #{against}",
        "diff_none": "No differences from the current plan.",
        "diff_same": "This is the current plan: nothing to compare.",
        "diff_head": ["Grid", "Status", "Households", "In", "Out", "Buildings in", "Buildings out"],
        "diff_status": {"added": "added", "removed": "removed", "changed": "changed"},
        "diff_recoded": "was {code}",
        "diff_summary": "{grids} grids changed, {households} households move to another grid",
        "diff_compounds": "Compounds newly split (in one grid in the current plan)",
        "diff_compound": "{compound} ({households} households) in {grids}",
        "reassign_section": "Reassign buildings",
        "reassign_mode": "Select buildings",
        "reassign_stop": "Stop selecting",
        "lasso": "Lasso",
        "reassign_hint": "Click buildings to select or deselect them; Lasso draws an area and selects every building "
        "whose centroid lies inside. Then click the target grid or pick it from the list.",
        "reassign_zoom": "Zoom in to select buildings.",
        "reassign_count": "{count} buildings selected ({households} households)",
        "reassign_target": "Target grid",
        "reassign_pick": "(pick the target grid)",
        "reassign_apply": "Move to the target grid",
        "reassign_clear": "Clear buildings",
        "draw_lasso": "Draw the area of the buildings to select: click point by point, click the first point to "
        "close, Esc to cancel.",
        "preview": "Preview rebalance",
        "proposal_title": "Rebalance preview: community {community}, {min}–{max} households",
        "proposal_head": ["Grid", "Households", "Buildings", "Compactness", "Change"],
        "proposal_new": "new grid",
        "proposal_changed": "changed",
        "proposal_same": "unchanged",
        "proposal_removed": "{count} grids would be removed",
        "proposal_split": "Compounds that would be split",
        "proposal_split_item": "{compound} ({households} households) into {grids} grids",
        "proposal_no_split": "No compound is split.",
        "proposal_problems": "Not fully satisfied:",
        "apply": "Apply",
        "discard": "Discard",
        "discarded": "Rebalance preview discarded: the plan is unchanged.",
        "history": "Operation history",
        "history_empty": "No operations yet.",
        "history_current": "current",
        "history_moved": "{households} households",
        "publish_reason": "Cannot publish: {detail}",
        "publish": "Publish",
        "finish": "Finish",
        "cancel": "Cancel",
        "retry": "Retry",
        "community": "Community",
        "band": "Households per grid",
        "create_draft": "Create draft",
        "draft_name": "Draft name",
        "draft_default": "Draft of {name}",
        "published_note": "This is the current (published) plan and cannot be edited: create a draft from it.",
        "retired_note": "This plan is retired and cannot be edited: you can create a draft from it.",
        "validation": "Validation",
        "validation_ok": "Valid: no errors or warnings.",
        "validation_summary": "{errors} errors, {warnings} warnings",
        "validation_loading": "Validating…",
        "error": "error",
        "warning": "warning",
        "layers": {"grids": "grids", "buildings": "buildings", "findings": "validation findings"},
        "draw_split": "Draw a line across the selected grid, side to side: click point by point, double-click or "
        "press Finish to end, Esc to cancel.",
        "draw_redraw": "Draw the selected grid's new extent: click point by point, click the first point to close, "
        "Esc to cancel.",
        "conflict": "Someone else changed this plan: your edit was not applied.",
        "conflict_server": "Server: {detail}",
        "conflict_reloaded": "Reloaded the latest version v{version}; your selection and drawing are kept — check "
        "them and press Retry.",
        "conflict_lost": "These selected grids no longer exist in the new version: {codes}",
        "failed": "The edit failed: {detail}",
        "load_failed": "Loading failed: {detail}",
        "no_current": "There is no published plan yet: import grids first.",
        "confirm_publish": "Publish plan “{name}” (version v{version})? It replaces the current plan for everyone.",
        "publish_blocked": "Validation has errors: fix them before publishing.",
        "done": {
            "merge": "Merged into grid {codes}",
            "split": "Split: {codes}",
            "redraw": "Redrew grid {codes}",
            "balance": "Rebalanced community {community}",
            "reassign": "Moved {count} buildings to grid {codes}",
            "undo": "Undid the last edit ({kind})",
            "redo": "Redid the edit ({kind})",
            "band": "The household band is now {min}–{max}",
            "publish": "Published: this is now the current plan",
        },
        "kinds": {
            "merge": "merge",
            "split": "split",
            "redraw": "redraw",
            "reassign": "reassign",
            "balance": "rebalance",
            "renumber": "renumber",
            "band": "household band",
            "create": "create",
            "undo": "undo",
            "redo": "redo",
            "publish": "publish",
        },
        "findings": {
            "gap": "gap",
            "overlap": "overlap",
            "outside_community": "outside its community",
            "building_not_in_one_grid": "building not in exactly one grid",
            "non_contiguous": "non-contiguous grid",
            "households_below": "too few households",
            "households_above": "too many households",
            "households_drift": "out of band after a data update",
            "crosses_community": "crosses communities",
            "low_compactness": "not compact",
        },
    },
}


def page_config(plan_id: int | None, lang: str) -> dict[str, Any]:
    """What planner.js needs: which plan (None: the published one), the language and its labels."""
    return {"plan": plan_id, "lang": lang, "band": list(DEFAULT_BAND), "labels": LABELS[lang]}


def _panel(lang: str) -> str:
    """The panel's skeleton: every control exists (disabled) from the start, planner.js fills and enables it."""
    t = {k: html.escape(v) for k, v in LABELS[lang].items() if isinstance(v, str)}

    def button(name: str, extra: str = "") -> str:
        ident = name.replace("_", "-")
        return f'<button type="button" id="gridmap-planner-{ident}" class="gp-btn{extra}" disabled>{t[name]}</button>'

    return f"""
<div id="gridmap-panel" class="gridmap-panel gridmap-planner" data-busy="false" aria-live="polite">
  <div class="gp-head"><b>{t["title"]}</b>{lang_switch(lang)}</div>
  {user_badge(lang)}
  <div id="gridmap-planner-plan" class="gp-plan">{t["loading"]}</div>
  <div id="gridmap-planner-summary" class="gp-summary"></div>
  <div id="gridmap-planner-legend" class="gp-legend"></div>
  <div id="gridmap-planner-message" class="gp-message" role="status" hidden></div>
  <section id="gridmap-planner-draft" class="gp-section" hidden>
    <p id="gridmap-planner-draft-note" class="gp-note"></p>
    <label class="gp-field">{t["draft_name"]}
      <input id="gridmap-planner-draft-name" type="text" maxlength="200"></label>
    {button("create_draft", " gp-primary")}
  </section>
  <section id="gridmap-planner-editor" class="gp-section">
    <div class="gp-row gp-between"><b>{t["selection"]}</b>{button("clear", " gp-link")}</div>
    <ol id="gridmap-planner-selection" class="gp-selection"></ol>
    <p class="gp-note">{t["selection_hint"]}</p>
    <div class="gp-row">{button("merge")}{button("split")}{button("redraw")}</div>
    <div id="gridmap-planner-drawing" class="gp-row" hidden>{button("finish", " gp-primary")}{button("cancel")}</div>
    <div class="gp-row"><select id="gridmap-planner-community" aria-label="{t["community"]}" disabled></select></div>
    <div class="gp-row"><span class="gp-note">{t["band"]}</span>
      <input id="gridmap-planner-min" type="number" min="0" step="10" aria-label="{t["band"]} min" disabled>
      <span>–</span>
      <input id="gridmap-planner-max" type="number" min="1" step="10" aria-label="{t["band"]} max" disabled>
      {button("balance")}{button("set_band")}
    </div>
    <div class="gp-row gp-between"><span>{button("undo")}{button("redo")}</span>{button("publish", " gp-primary")}</div>
    <p id="gridmap-planner-publish-reason" class="gp-note gp-reason" hidden></p>
  </section>
  <section id="gridmap-planner-reassign" class="gp-section">
    <div class="gp-row gp-between"><b>{t["reassign_section"]}</b>
      <span>{button("reassign_mode")}{button("lasso")}</span></div>
    <p class="gp-note">{t["reassign_hint"]}</p>
    <p id="gridmap-planner-buildings" class="gp-note" data-count="0"></p>
    <div class="gp-row"><select id="gridmap-planner-target" aria-label="{t["reassign_target"]}" disabled></select></div>
    <div class="gp-row">{button("reassign_apply", " gp-primary")}{button("reassign_clear", " gp-link")}</div>
  </section>
  <section class="gp-section">
    {button("preview")}
    <div id="gridmap-planner-proposal" class="gp-proposal" hidden></div>
  </section>
  <section class="gp-section">
    {button("diff")}
    <div id="gridmap-planner-diff-result" class="gp-diff" hidden></div>
  </section>
  <details id="gridmap-planner-history-box" class="gp-section">
    <summary><b>{t["history"]}</b></summary>
    <ol id="gridmap-planner-history" class="gp-history"></ol>
  </details>
  <section class="gp-section">
    <b>{t["validation"]}</b> <span id="gridmap-planner-validation" class="gp-validation"></span>
    <ul id="gridmap-planner-findings" class="gp-findings"></ul>
  </section>
</div>"""


def planner_page(
    center: tuple[float, float], *, plan_id: int | None = None, base: Basemap, lang: str = "zh", **_: object
) -> str:
    """HTML of the grid editor for plan `plan_id` (None: the published plan, read-only) centred on (lat, lon)."""
    lang = "en" if lang == "en" else "zh"
    fmap = offline_map(
        plugins=("draw", "vectorgrid"), base=base, location=list(center), zoom_start=15, control_scale=True
    )
    return render_page(
        fmap,
        title=LABELS[lang]["title"],
        script="planner.js",
        entry="gridmapPlanner",
        config=page_config(plan_id, lang),
        stylesheet="planner.css",
        body=(_panel(lang), login_form(lang, LABELS[lang]["title"])),
    )
