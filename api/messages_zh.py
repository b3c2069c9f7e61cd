"""Chinese (Simplified) for problem+json: titles, field names and the English details raised across gis/ and api/.

The domain speaks English (logs, CLI, tools); a client that prefers Chinese reads these. A detail is matched
against CATALOG: each entry is (English pattern, Chinese template, a real sample of the message). In a pattern
`{name}` stands for any text, captured and put into the template as is — ids, codes, numbers and lists stay
exactly what the server said. Captures named in VALUE_GROUPS are words of the domain (actions, states, roles)
and are translated through VALUES when known. A detail "field: message" whose whole text matches no entry is
tried as its message after the field. Nothing matched: the English detail stays (information is never dropped).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from typing import Any

# -- titles ------------------------------------------------------------------------------------------------

TITLES = {
    "Bad request": "请求有误",
    "Bad parameter": "参数有误",
    "Unauthorized": "未登录或登录已失效",
    "Forbidden": "无权操作",
    "Not found": "未找到",
    "Method not allowed": "不支持该请求方法",
    "Conflict": "冲突",
    "Precondition failed": "版本已变化",
    "Precondition required": "缺少版本号",
    "Content too large": "内容过大",
    "Unsupported media type": "不支持的媒体类型",
    "Invalid input": "输入无效",
    "File rejected": "文件被拒绝",
    "Too many requests": "请求过于频繁",
    "Edit timed out": "编辑超时",
    "Internal error": "服务器内部错误",
    "Database unavailable": "数据库不可用",
    "HTTP error": "请求出错",
}
STATUS_TITLES = {
    400: "请求有误",
    401: "未登录或登录已失效",
    403: "无权操作",
    404: "未找到",
    405: "不支持该请求方法",
    409: "冲突",
    412: "版本已变化",
    413: "内容过大",
    415: "不支持的媒体类型",
    422: "输入无效",
    428: "缺少版本号",
    429: "请求过于频繁",
    500: "服务器内部错误",
    503: "服务不可用",
}


def title(status: int, english: str) -> str:
    """A title by its English text, else by status: a Chinese title always, even for an unknown problem."""
    return TITLES.get(english) or STATUS_TITLES.get(status) or ("请求出错" if status < 500 else "服务器出错")


# -- field names (`where`) ---------------------------------------------------------------------------------

GLOSSARY = {
    "grids": "网格",
    "grid": "网格",
    "units": "单元",
    "buildings": "楼栋",
    "building": "楼栋",
    "households": "户数",
    "plan": "方案",
    "base": "底稿方案",
    "band": "户数区间",
    "community": "社区",
    "street": "街道",
    "category": "类别",
    "categories": "类别",
    "channel": "渠道",
    "location": "位置",
    "lon/lat": "经纬度",
    "lon": "经度",
    "lat": "纬度",
    "address": "地址",
    "description": "描述",
    "reporter_contact": "联系方式",
    "reporter_name": "上报人",
    "photos": "照片",
    "status": "状态",
    "note": "备注",
    "action": "操作",
    "duplicate_of": "原事件",
    "worker": "网格员",
    "department": "责任部门",
    "sort": "排序",
    "password": "密码",
    "username": "用户名",
    "user": "用户",
    "name": "名称",
    "display_name": "显示名称",
    "role": "角色",
    "device": "设备",
    "session_id": "设备会话",
    "token_id": "令牌",
    "expires_days": "有效天数",
    "Authorization": "身份凭证",
    "If-Match": "版本号（If-Match）",
    "Idempotency-Key": "幂等键（Idempotency-Key）",
    "geometry": "几何图形",
    "polygon": "多边形",
    "line": "线",
    "coordinates": "坐标",
    "points": "点",
    "crs": "坐标系",
    "bbox": "范围",
    "bbox-crs": "范围坐标系",
    "as_of": "时间点",
    "datetime": "时间",
    "visited_at": "走访时间",
    "layout": "编码规则",
    "layer": "图层",
    "facility_id": "设施",
    "public": "是否公开",
    "speed": "步行速度",
    "minutes": "分钟数",
    "level": "统计层级",
    "limit": "条数上限",
    "format": "格式",
    "tracking_number": "查询编号",
    "Last-Event-ID": "上次收到的事件（Last-Event-ID）",
    "file": "文件",
    "url": "网址",
    "departments": "部门",
    "id": "编号",
    "service_code": "事件类别",
    "candidates": "候选点",
    "body": "请求正文",
    "method": "请求方法",
    "code": "代码",
    "q": "查询词",
    "z": "缩放级别",
    "tile": "瓦片",
    "validation": "校验",
    "publish": "发布",
    "undo": "撤销",
    "batch": "批次",
    "scope": "范围",
    "mode": "导入方式",
    "run_id": "计算任务",
    "coverage": "覆盖率",
    "min_households": "户数下限",
    "max_households": "户数上限",
}


def field_label(where: str | None) -> str | None:
    """The Chinese name of a field or parameter: `body.location.lon` → 经度 (its last named part), or None."""
    if not where:
        return None
    if where in GLOSSARY:
        return GLOSSARY[where]
    parts = [p for p in re.split(r"[.\[\]]", where) if p and not p.isdigit()]
    return GLOSSARY.get(parts[-1]) if parts and parts[-1] != "body" else None


def _named_field(where: str) -> str:
    label = field_label(where)
    return f"{label}（{where}）" if label and label != where and where not in label else (label or where)


# -- words inside messages --------------------------------------------------------------------------------

VALUES = {
    # incident actions and states (gis/incidents/workflow.py)
    "register": "立案",
    "reject": "不予立案",
    "mark_duplicate": "标记重复",
    "dispatch": "派遣",
    "start": "开始处置",
    "return": "退回",
    "resolve": "反馈处置结果",
    "verify": "核查通过",
    "reopen": "核查不通过",
    "close": "结案",
    "reported": "已上报",
    "registered": "已立案",
    "dispatched": "已派遣",
    "in_progress": "处置中",
    "resolved": "已处置",
    "verified": "已核查",
    "closed": "已结案",
    "rejected": "不予立案",
    "returned": "已退回",
    "duplicate": "重复",
    "none (the incident is finished)": "无（事件已办结）",
    # plan statuses and edits
    "draft": "草案",
    "published": "已发布",
    "retired": "已停用",
    "merge": "合并",
    "split": "拆分",
    "redraw": "重绘",
    "reassign": "调整楼栋",
    "balance": "均衡",
    "renumber": "重新编号",
    "undo": "撤销",
    "redo": "重做",
    # visits
    "pending": "待审核",
    "approved": "已批准",
    # roles
    "admin": "管理员",
    "planner": "规划员",
    "dispatcher": "调度员",
    "grid_worker": "网格员",
    "viewer": "查看员",
    "leader": "领导",
    # what a role check is for (api/deps.py, gis/auth/access.py, gis/basedata/visits.py)
    "this route": "此操作",
    "the incident event stream": "事件实时推送",
    "moving an incident": "办理事件",
    "searching incidents": "搜索事件",
    "dispatching an incident": "派遣事件",
    "reassigning an incident": "改派事件",
    "the leaders' dashboard": "领导驾驶舱",
    "recording a field visit": "记录入户走访",
    "reading field visits": "查看入户走访",
    "deciding on field visits": "审核入户走访",
    "administration (accounts, API tokens, the audit trail)": "系统管理（账户、API 令牌、审计记录）",
    "a grid worker's own routes (check-ins, own grids)": "网格员功能（签到、本人网格）",
    "editing plans, layers, facilities or coverage runs": "编辑方案、图层、设施或覆盖率计算",
    # what a limit counts
    "vertices": "个顶点",
    "holes": "个洞",
    "parts": "个部分",
    "parts after repair": "个部分（修复后）",
    # geometry parts (gis/geo/user_geometry.py)
    "a line": "一条线",
    "a ring": "一个环",
    "positions": "坐标点",
    "lists of positions": "坐标点列表",
    "incident reports": "次事件上报",
    "sign-in attempts": "次登录尝试",
    "anonymous catchment and reach requests": "次匿名服务范围或可达范围查询",
    # purposes of "which plan"
    "use": "使用",
    "export": "导出",
}
# Captures that are domain words: translated through VALUES; a list "a, b or c" word by word.
VALUE_GROUPS = frozenset(
    {"action", "actions", "allowed", "state", "status", "kind", "role", "roles", "what", "purpose", "part", "inner"}
)


def _value(text: str) -> str:
    if text in VALUES:
        return VALUES[text]
    stripped = text.strip("'\"")
    if stripped in VALUES:
        return VALUES[stripped]
    for separator, joiner in ((", ", "、"), (" or ", "或")):
        if separator in text:
            items = text.split(separator)
            if all(item.strip("'\"") in VALUES for item in items):
                return joiner.join(VALUES[item.strip("'\"")] for item in items)
    return text


# -- the catalog ------------------------------------------------------------------------------------------

# (English pattern, Chinese template, sample). Order matters only where two patterns could match one message:
# the first wins, so the more specific comes first.
CATALOG: tuple[tuple[str, str, str], ...] = (
    # plans: edits (gis/plans/edits.py, assignment.py)
    ("{kind} changes nothing", "{kind}不会改变任何内容", "merge changes nothing"),
    ("no community with id {id}", "没有编号为 {id} 的社区", "no community with id 12"),
    ("plan {plan} has no edit to undo", "方案 {plan} 没有可撤销的编辑", "plan 12 has no edit to undo"),
    (
        "plan {plan} has no grid with the id or code {codes}",
        "方案 {plan} 中没有编号或代码为 {codes} 的网格",
        "plan 12 has no grid with the id or code 330203001001, 99",
    ),
    ("grids {grids} are not in plan {plan}", "网格 {grids} 不在方案 {plan} 中", "grids [41, 42] are not in plan 12"),
    (
        "merge needs at least two different grids",
        "合并至少需要两个不同的网格",
        "merge needs at least two different grids",
    ),
    (
        "grids must be adjacent to be merged; these groups do not touch each other: {groups}",
        "只有相邻的网格才能合并；以下几组互不相接：{groups}",
        "grids must be adjacent to be merged; these groups do not touch each other: 330203001001 | 330203001007",
    ),
    (
        "the line does not cross grid {grid} from side to side",
        "这条线没有从一侧到另一侧完整穿过网格 {grid}",
        "the line does not cross grid 330203001001 from side to side",
    ),
    (
        "the line does not separate any units of grid {grid}",
        "这条线没有把网格 {grid} 的任何单元分开",
        "the line does not separate any units of grid 330203001001",
    ),
    (
        "the polygon takes in no unit from outside grid {grid}",
        "该多边形没有纳入网格 {grid} 以外的任何单元",
        "the polygon takes in no unit from outside grid 330203001001",
    ),
    ("reassign needs at least one building", "调整楼栋至少需要一栋楼", "reassign needs at least one building"),
    ("buildings {ids} do not exist", "楼栋 {ids} 不存在", "buildings [901, 902] do not exist"),
    (
        "buildings {ids} are in no unit of this plan",
        "楼栋 {ids} 不属于本方案的任何单元",
        "buildings [7] are in no unit of this plan",
    ),
    ("the buildings are already in grid {grid}", "这些楼栋已在网格 {grid} 中", "the buildings are already in grid 41"),
    (
        "the household band needs 0 ≤ min_households ≤ max_households",
        "户数区间须满足 0 ≤ min_households（户数下限）≤ max_households（户数上限）",
        "the household band needs 0 ≤ min_households ≤ max_households",
    ),
    ("plan {plan} has no grids to number", "方案 {plan} 没有可编号的网格", "plan 12 has no grids to number"),
    (
        "balance needs a community code or a list of grids",
        "均衡需要社区代码或网格列表",
        "balance needs a community code or a list of grids",
    ),
    (
        "the rebalance no longer gives the previewed grids (the plan or its data changed): preview it again",
        "均衡结果已与预览不同（方案或数据已变化）：请重新预览",
        "the rebalance no longer gives the previewed grids (the plan or its data changed): preview it again",
    ),
    (
        "community {community} has no grids in plan {plan}",
        "社区 {community} 在方案 {plan} 中没有网格",
        "community 330203001 has no grids in plan 12",
    ),
    (
        "the {kind} edit took longer than {seconds} s (GRIDMAP_PLAN_EDIT_TIMEOUT_S) and was cancelled; nothing was "
        "changed. Retry later, make a smaller edit, or run it with `gridmap plan`",
        "{kind}编辑超过 {seconds} 秒（GRIDMAP_PLAN_EDIT_TIMEOUT_S）已取消，未做任何更改。请稍后重试、缩小编辑范围，"
        "或用 `gridmap plan` 执行",
        "the balance edit took longer than 30 s (GRIDMAP_PLAN_EDIT_TIMEOUT_S) and was cancelled; nothing was "
        "changed. Retry later, make a smaller edit, or run it with `gridmap plan`",
    ),
    ("layout {layout}: {reason}", "编码规则 {layout}：{reason}", "layout street-community: unknown part {x}"),
    ("units {ids} are not part of plan {plan}", "单元 {ids} 不属于方案 {plan}", "units [3, 4] are not part of plan 12"),
    (
        "grids {ids} still hold units and cannot be removed",
        "网格 {ids} 仍含有单元，不能删除",
        "grids [41] still hold units and cannot be removed",
    ),
    # plans: lifecycle and publishing (gis/plans/lifecycle.py, store.py)
    (
        'base must be a plan id or "current", not {base}',
        '底稿方案（base）应为方案编号或 "current"，而不是 {base}',
        "base must be a plan id or \"current\", not 'newest'",
    ),
    (
        "plan {plan} is {status}: only drafts can be edited; create a draft from it",
        "方案 {plan} {status}：只能编辑草案；请以它为底稿新建草案",
        "plan 3 is published: only drafts can be edited; create a draft from it",
    ),
    (
        "plan {plan} is at version {have}, not {sent}: someone else changed it; reload and apply your edit again",
        "方案 {plan} 当前为第 {have} 版，不是第 {sent} 版：已被他人修改；请重新加载后再做这次编辑",
        "plan 12 is at version 4, not 3: someone else changed it; reload and apply your edit again",
    ),
    (
        "plan {current} was published while plan {plan} waited to be published: reload the plans, compare the draft "
        "with the new current plan and publish again",
        "方案 {plan} 等待发布期间，方案 {current} 已发布：请重新加载方案，将草案与新的现行方案比较后再发布",
        "plan 13 was published while plan 12 waited to be published: reload the plans, compare the draft "
        "with the new current plan and publish again",
    ),
    (
        "plan {plan} has {count} validation errors ({kinds}): fix them first",
        "方案 {plan} 有 {count} 个校验错误（{kinds}）：请先修正",
        "plan 12 has 3 validation errors (band, gap): fix them first",
    ),
    (
        "there is no published plan yet: import a grid layer first",
        "还没有已发布的方案：请先导入网格图层",
        "there is no published plan yet: import a grid layer first",
    ),
    (
        "plan {plan} is retired: create a draft from it to publish it again",
        "方案 {plan} 已停用：要重新发布，请以它为底稿新建草案",
        "plan 2 is retired: create a draft from it to publish it again",
    ),
    (
        "another plan was published at the same moment as plan {plan}: reload the plans and try again",
        "另一个方案与方案 {plan} 同时发布：请重新加载方案后重试",
        "another plan was published at the same moment as plan 12: reload the plans and try again",
    ),
    ("plan {plan} does not exist", "方案 {plan} 不存在", "plan 999 does not exist"),
    (
        "there is no published grid plan to {purpose}; import grids first",
        "没有可{purpose}的已发布网格方案；请先导入网格",
        "there is no published grid plan to export; import grids first",
    ),
    # incidents (gis/incidents/*.py) and who may move them (gis/auth/access.py)
    ("give lon and lat, or an address", "请给出经度和纬度，或地址", "location: give lon and lat, or an address"),
    (
        "category {code} is unknown; categories are: {choices}",
        "类别 {code} 不存在；可用的类别：{choices}",
        "category 'potholes' is unknown; categories are: sanitation, roads",
    ),
    (
        "{channel} is for reports by staff ({channels}); sign in, or leave channel out",
        "{channel} 渠道仅供工作人员上报（{channels}）；请登录，或不填渠道",
        "channel: patrol is for reports by staff (patrol, sensor); sign in, or leave channel out",
    ),
    (
        "this key was already used for a different report; send a new key with each new report (the same key only "
        "to retry the same report)",
        "此键已用于另一份上报；每份新上报请用新键（同一个键只用于重试同一份上报）",
        "Idempotency-Key: this key was already used for a different report; send a new key with each new report "
        "(the same key only to retry the same report)",
    ),
    ("incident {incident} does not exist", "事件 {incident} 不存在", "incident 77 does not exist"),
    (
        "mark_duplicate needs duplicate_of: the id of the original incident",
        "标记重复需要 duplicate_of：原事件的编号",
        "mark_duplicate needs duplicate_of: the id of the original incident",
    ),
    ("only a grid_worker is given grids", "只有网格员才能分配网格", "only a grid_worker is given grids"),
    (
        "grid {grid} is not in the current plan",
        "网格 {grid} 不在现行方案中",
        "grid 330203001009 is not in the current plan",
    ),
    (
        "unknown action {action}; actions are: {choices}",
        "未知操作 {action}；可用的操作：{choices}",
        "unknown action 'fly'; actions are: register, reject, dispatch",
    ),
    (
        "cannot {action} an incident that is {state}; allowed now: {allowed}",
        "事件当前状态为「{state}」，不能「{action}」；现在可以：{allowed}",
        "cannot close an incident that is dispatched; allowed now: start, return",
    ),
    (
        "{action} needs a note giving the reason",
        "「{action}」需要在备注（note）中写明原因",
        "reject needs a note giving the reason",
    ),
    (
        "sign in first: {action} needs a signed-in user",
        "请先登录：{action}需要已登录的用户",
        "sign in first: moving an incident needs a signed-in user",
    ),
    (
        "{action} needs the role {roles}; {name} is {role}",
        "{action}需要以下角色：{roles}；{name} 的角色是{role}",
        "editing plans, layers, facilities or coverage runs needs the role admin or planner; wang is viewer",
    ),
    (
        "{action} is for dispatchers; a grid worker may {actions}",
        "「{action}」由调度员办理；网格员可以：{actions}",
        "dispatch is for dispatchers; a grid worker may resolve, return, start",
    ),
    (
        "incident {incident} is not in {name}'s grids",
        "事件 {incident} 不在 {name} 负责的网格内",
        "incident 77 is not in wang's grids",
    ),
    # auth: tokens, sign-in, users (gis/auth/*.py)
    (
        "the account of this token is disabled or gone",
        "此令牌所属的账户已停用或已删除",
        "the account of this token is disabled or gone",
    ),
    (
        "the access token was ended by a password change, by disabling the account or by signing out everywhere: "
        "sign in again",
        "访问令牌已因修改密码、停用账户或在所有设备退出而失效：请重新登录",
        "the access token was ended by a password change, by disabling the account or by signing out everywhere: "
        "sign in again",
    ),
    (
        "the access token was signed out: sign in again",
        "访问令牌已退出登录：请重新登录",
        "the access token was signed out: sign in again",
    ),
    (
        "the access token has expired: sign in again",
        "访问令牌已过期：请重新登录",
        "the access token has expired: sign in again",
    ),
    ("the bearer token is not valid", "令牌无效", "the bearer token is not valid"),
    (
        "the API token is unknown, revoked or expired",
        "API 令牌不存在、已吊销或已过期",
        "the API token is unknown, revoked or expired",
    ),
    (
        "signing out ends access tokens from sign-in; an API token is revoked by an admin (DELETE /api/tokens/{id})",
        "退出登录只结束登录获得的访问令牌；API 令牌由管理员吊销（DELETE /api/tokens/{id}）",
        "signing out ends access tokens from sign-in; an API token is revoked by an admin (DELETE /api/tokens/{id})",
    ),
    (
        "give the device a name of 1 to 100 characters",
        "请给设备起一个 1 到 100 个字符的名称",
        "device: give the device a name of 1 to 100 characters",
    ),
    ("device session {session} does not exist", "设备会话 {session} 不存在", "device session 5 does not exist"),
    (
        "user {user} is disabled: enable it before issuing tokens",
        "用户 {user} 已停用：请先启用再签发令牌",
        "user wang is disabled: enable it before issuing tokens",
    ),
    ("expires_days must be at least 1", "有效天数（expires_days）至少为 1", "expires_days must be at least 1"),
    ("API token {token} does not exist", "API 令牌 {token} 不存在", "API token 9 does not exist"),
    ("wrong user name or password", "用户名或密码错误", "wrong user name or password"),
    (
        "too many failed sign-ins for this user name; retry in {seconds} s",
        "该用户名登录失败次数过多，请 {seconds} 秒后再试",
        "username: too many failed sign-ins for this user name; retry in 30 s",
    ),
    (
        "a password needs at least {count} characters",
        "密码至少需要 {count} 个字符",
        "a password needs at least 8 characters",
    ),
    (
        "user name {name}: 1–64 letters, digits or . _ @ - (no spaces)",
        "用户名 {name}：须为 1–64 个字母、数字或 . _ @ -（不含空格）",
        "user name 'a b': 1–64 letters, digits or . _ @ - (no spaces)",
    ),
    (
        "user name {name} is reserved for the platform's own log entries",
        "用户名 {name} 保留给平台自身的日志记录",
        "user name 'system' is reserved for the platform's own log entries",
    ),
    (
        "role {role_code} is unknown; roles are: {choices}",
        "角色 {role_code} 不存在；可用的角色：{choices}",
        "role 'boss' is unknown; roles are: admin, planner, dispatcher, grid_worker, viewer",
    ),
    (
        "1–{count} characters, not only spaces",
        "须为 1–{count} 个字符，且不能只有空格",
        "display_name: 1–40 characters, not only spaces",
    ),
    (
        "the public sees it, so it must not be the login name; give the person's name",
        "公众会看到显示名称，所以不能用登录名；请填写本人姓名",
        "display_name: the public sees it, so it must not be the login name; give the person's name",
    ),
    (
        "a grid worker needs a display name (the public sees it, never the login)",
        "网格员需要显示名称（公众看到的是它，而不是登录名）",
        "display_name: a grid worker needs a display name (the public sees it, never the login)",
    ),
    ("user {name} does not exist", "用户 {name} 不存在", "user wang does not exist"),
    (
        "user {name} already exists; change it instead",
        "用户 {name} 已存在；请改为修改该用户",
        "user wang already exists; change it instead",
    ),
    (
        "nothing to change: give role, password, active or display_name",
        "没有要修改的内容：请给出 role（角色）、password（密码）、active（是否启用）或 display_name（显示名称）",
        "nothing to change: give role, password, active or display_name",
    ),
    (
        "user {name} is the last active admin: make another account an active admin first",
        "用户 {name} 是最后一个启用的管理员：请先让另一个账户成为启用的管理员",
        "user root is the last active admin: make another account an active admin first",
    ),
    ("sign in first", "请先登录", "sign in first"),
    # coordinates and geometry (gis/geo/*.py)
    (
        "unknown coordinate system {system}; use one of {choices}",
        "未知坐标系 {system}；请使用以下之一：{choices}",
        "unknown coordinate system 'bd09'; use one of wgs84, gcj02, cgcs2000",
    ),
    (
        "coordinates out of range (longitude must be within ±180°, latitude within ±90°; got {got}); is the "
        "coordinate system right?",
        "坐标超出范围（经度须在 ±180° 以内，纬度须在 ±90° 以内；收到 {got}）；坐标系是否正确？",
        "location: coordinates out of range (longitude must be within ±180°, latitude within ±90°; got lon 500, "
        "lat 30); is the coordinate system right?",
    ),
    (
        "{count} coordinate(s) are not finite numbers (NaN or infinity)",
        "{count} 个坐标不是有限的数（NaN 或无穷大）",
        "points: 2 coordinate(s) are not finite numbers (NaN or infinity)",
    ),
    (
        "not a 2D geographic or projected coordinate system",
        "不是二维（2D）地理坐标系或投影坐标系",
        "crs: not a 2D geographic or projected coordinate system",
    ),
    (
        "some coordinates cannot be transformed to WGS 84",
        "部分坐标无法转换为 WGS 84",
        "points: some coordinates cannot be transformed to WGS 84",
    ),
    (
        "a point needs one x and one y number",
        "一个点需要一个 x 数值和一个 y 数值",
        "a point needs one x and one y number",
    ),
    (
        "longitude and latitude look swapped ({got}); they only make sense the other way round: swap them and try "
        "again",
        "经度和纬度似乎颠倒了（{got}）；交换后才合理：请交换后重试",
        "location: longitude and latitude look swapped (lon 29.87, lat 121.55); they only make sense the other "
        "way round: swap them and try again",
    ),
    (
        "longitude and latitude look swapped ({got} lies in China only with the two exchanged): swap them and try "
        "again",
        "经度和纬度似乎颠倒了（{got} 只有交换后才位于中国境内）：请交换后重试",
        "points: longitude and latitude look swapped (lon 29.87, lat 121.55 lies in China only with the two "
        "exchanged): swap them and try again",
    ),
    (
        "coordinates must be numbers of matching shape: {reason}",
        "坐标必须是形状一致的数字：{reason}",
        "coordinates must be numbers of matching shape: could not convert string to float: 'x'",
    ),
    (
        "coordinates out of range for WGS 84 (x spans {x0}..{x1}, y spans {y0}..{y1}); is the CRS right?",
        "坐标超出 WGS 84 的范围（x 为 {x0}..{x1}，y 为 {y0}..{y1}）；坐标系是否正确？",
        "grids.geojson: coordinates out of range for WGS 84 (x spans 500000.0..501000.0, y spans 3300000.0.."
        "3301000.0); is the CRS right?",
    ),
    (
        "coordinates fall outside the area of use of {crs} ({area}); is the CRS right?",
        "坐标落在 {crs} 的适用范围（{area}）之外；坐标系是否正确？",
        "grids.shp: coordinates fall outside the area of use of CGCS2000 / 3-degree Gauss-Kruger CM 120E (China - "
        "between 118.5°E and 121.5°E); is the CRS right?",
    ),
    (
        "coordinates only make sense with longitude and latitude swapped (x spans {x0}..{x1}, y spans {y0}..{y1}); "
        "swap the columns or axes and try again",
        "坐标只有在经纬度交换后才合理（x 为 {x0}..{x1}，y 为 {y0}..{y1}）；请交换列或坐标轴后重试",
        "points.csv: coordinates only make sense with longitude and latitude swapped (x spans 29.8..29.9, y spans "
        "121.5..121.6); swap the columns or axes and try again",
    ),
    (
        "coordinates only make sense with x and y swapped for {crs}; swap the columns or axes and try again",
        "对 {crs} 而言，坐标只有在 x 与 y 交换后才合理；请交换列或坐标轴后重试",
        "grids.shp: coordinates only make sense with x and y swapped for EPSG:4549; swap the columns or axes and "
        "try again",
    ),
    (
        "unknown coordinate reference system {crs}: {reason}",
        "未知坐标参照系 {crs}：{reason}",
        "unknown coordinate reference system EPSG:99999: crs not found",
    ),
    (
        "{count} {what}, more than the limit of {limit} ({setting})",
        "{count} {what}，超过上限 {limit}（{setting}）",
        "body.geometry: 20001 vertices, more than the limit of 20000 (GRIDMAP_MAX_VERTICES)",
    ),
    (
        "expected a GeoJSON {expected} object",
        "应为 GeoJSON {expected} 对象",
        "body.polygon: expected a GeoJSON Polygon object",
    ),
    (
        "expected a GeoJSON {expected}, got {got}",
        "应为 GeoJSON {expected}，收到的是 {got}",
        "body.line: expected a GeoJSON LineString, got 'Point'",
    ),
    (
        "the GeoJSON {expected} has no coordinates",
        "GeoJSON {expected} 没有坐标",
        "body.line: the GeoJSON LineString has no coordinates",
    ),
    (
        "the {expected} is empty or has coordinates that are not finite",
        "{expected} 为空或含有非有限的坐标",
        "body.polygon: the Polygon is empty or has coordinates that are not finite",
    ),
    ("the line has no length", "这条线长度为零", "body.line: the line has no length"),
    ("the polygon has no area", "该多边形面积为零", "body.polygon: the polygon has no area"),
    (
        "expected a list of {inner} for a {expected}, got {got}",
        "{expected} 应为 {inner} 的列表，收到的是 {got}",
        "body.polygon.coordinates: expected a list of rings for a Polygon, got 5",
    ),
    (
        "a {expected} position is [longitude, latitude] in numbers, got {got}",
        "{expected} 的坐标应为数字 [经度, 纬度]，收到的是 {got}",
        "body.line.coordinates.0: a LineString position is [longitude, latitude] in numbers, got ['a', 1]",
    ),
    (
        "{value} has a coordinate that is not a finite number",
        "{value} 中有坐标不是有限的数",
        "body.line.coordinates.1: [1e999, 30] has a coordinate that is not a finite number",
    ),
    ("the {expected} has no rings", "{expected} 没有环", "body.polygon: the Polygon has no rings"),
    (
        "not a valid GeoJSON {expected}: {reason}",
        "不是有效的 GeoJSON {expected}：{reason}",
        "body.polygon: not a valid GeoJSON Polygon: A linearring requires at least 4 coordinates.",
    ),
    (
        "invalid polygon ({reason})",
        "多边形无效（{reason}）",
        "body.polygon: invalid polygon (Self-intersection[121.5 29.8])",
    ),
    (
        "{part} needs at least {needed} positions, got {count}",
        "{part} 至少需要 {needed} 个坐标点，收到 {count} 个",
        "body.polygon.coordinates.0: a ring needs at least 4 positions, got 3",
    ),
    # locate (gis/locate/*.py)
    ("give 1 to {count} characters", "请给出 1 到 {count} 个字符", "address: give 1 to 200 characters"),
    (
        "no building matches {wanted}; give coordinates instead",
        "没有与 {wanted} 相符的楼栋；请改用坐标",
        "address: no building matches '中山路 999 号'; give coordinates instead",
    ),
    (
        "there is no published grid plan to assign against",
        "没有可用于分配的已发布网格方案",
        "there is no published grid plan to assign against",
    ),
    (
        "there is no published grid plan to locate against; import or publish one",
        "没有可用于定位的已发布网格方案；请导入或发布一个",
        "there is no published grid plan to locate against; import or publish one",
    ),
    ("the published plan {plan} has no grids", "已发布的方案 {plan} 没有网格", "the published plan 3 has no grids"),
    (
        "the dataset has no metric CRS yet: import data first",
        "数据集尚未确定米制坐标系：请先导入数据",
        "the dataset has no metric CRS yet: import data first",
    ),
    # field visits (gis/basedata/visits.py, changes.py)
    (
        "building {building} is not a current building (retired or unknown)",
        "楼栋 {building} 不是现存楼栋（已注销或不存在）",
        "building 901 is not a current building (retired or unknown)",
    ),
    (
        "building {building} is not in {name}'s grids",
        "楼栋 {building} 不在 {name} 负责的网格内",
        "building 901 is not in wang's grids",
    ),
    (
        "this key was already used for another visit; use a new key per visit",
        "此键已用于另一次走访；每次走访请用新键",
        "Idempotency-Key: this key was already used for another visit; use a new key per visit",
    ),
    ("{when} is in the future", "{when} 晚于当前时间", "visited_at: 2999-01-01T00:00:00+08:00 is in the future"),
    ("{when} is out of range", "{when} 超出允许范围", "visited_at: 0001-01-01T00:00:00 is out of range"),
    ("visit {visit} does not exist", "走访记录 {visit} 不存在", "visit 8 does not exist"),
    (
        "visit {visit} is already {status}: only a pending visit is decided",
        "走访记录 {visit} 已是「{status}」：只能审核待审核的走访",
        "visit 8 is already approved: only a pending visit is decided",
    ),
    (
        "visit {visit}: building {building} has been retired since; reject the visit instead",
        "走访记录 {visit}：楼栋 {building} 此后已注销；请驳回这次走访",
        "visit 8: building 901 has been retired since; reject the visit instead",
    ),
    (
        "give both lon and lat, or neither",
        "经度和纬度要么都给，要么都不给",
        "location: give both lon and lat, or neither",
    ),
    # photos, tracking numbers, check-ins, tickets (gis/incidents/uploads.py, tracking.py, workers.py, auth)
    ("at most {count} photos, not {sent}", "最多 {count} 张照片，收到 {sent} 张", "photos: at most 5 photos, not 6"),
    ("an upload is listed twice", "同一个上传文件列出了两次", "photos: an upload is listed twice"),
    (
        "unknown upload {upload} (upload it first with POST /api/uploads, from this client)",
        "上传文件 {upload} 不存在（请先在本客户端用 POST /api/uploads 上传）",
        "photos: unknown upload 'u7' (upload it first with POST /api/uploads, from this client)",
    ),
    ("upload {upload} is already attached", "上传文件 {upload} 已被使用", "photos: upload 'u7' is already attached"),
    ("upload {upload} does not exist", "上传文件 {upload} 不存在", "upload u7 does not exist"),
    (
        "no report has the tracking number {number}",
        "没有查询编号为 {number} 的上报",
        "no report has the tracking number 'K7P2M9QX'",
    ),
    (
        "this key was already used for a different check-in; send a new key with each check-in",
        "此键已用于另一次签到；每次签到请用新键",
        "Idempotency-Key: this key was already used for a different check-in; send a new key with each check-in",
    ),
    ("the ticket is not valid", "票据无效", "the ticket is not valid"),
    (
        "the ticket is not valid or has expired: ask for a new one",
        "票据无效或已过期：请重新申请",
        "the ticket is not valid or has expired: ask for a new one",
    ),
    (
        "the ticket's sign-in has ended: sign in again",
        "票据对应的登录已结束：请重新登录",
        "the ticket's sign-in has ended: sign in again",
    ),
    (
        "sign in first: {action} needs a signed-in user (or a ticket)",
        "请先登录：{action}需要已登录的用户（或票据）",
        "sign in first: the incident event stream needs a signed-in user (or a ticket)",
    ),
    ("{value} is not an event id", "{value} 不是事件编号", "Last-Event-ID: 12x is not an event id"),
    # facilities, coverage and reach (gis/coverage) — the public map and the planner's coverage pages
    ("facility {facility} does not exist", "设施 {facility} 不存在", "facility 42 does not exist"),
    (
        "unknown facility categories {unknown}; categories are: {choices}",
        "未知的设施类别 {unknown}；可用类别：{choices}",
        "unknown facility categories ['zoo']; categories are: school, clinic",
    ),
    (
        "give at least one category, or none for all",
        "请至少给出一个类别，或不给（表示全部）",
        "give at least one category, or none for all",
    ),
    ("category is required", "必须给出类别（category）", "category is required"),
    (
        "say true or false (null is not a value for it)",
        "请填 true 或 false（不能为 null）",
        "public: say true or false (null is not a value for it)",
    ),
    (
        "nothing to change: give any of {fields}",
        "没有要修改的内容：请给出以下任一项：{fields}",
        "nothing to change: give any of name, category, public, lon, lat",
    ),
    (
        "give the location as lon and lat (and crs when not WGS 84)",
        "请用经度和纬度给出位置（不是 WGS 84 时再给 crs）",
        "give the location as lon and lat (and crs when not WGS 84)",
    ),
    (
        "speed={speed} m/s is not a walking speed (0-3 m/s)",
        "speed={speed} m/s 不是步行速度（0-3 m/s）",
        "speed=12.0 m/s is not a walking speed (0-3 m/s)",
    ),
    ("max_snap_m={value} must be positive", "max_snap_m={value} 必须为正数", "max_snap_m=-5.0 must be positive"),
    ("coverage run {run} does not exist", "覆盖率计算任务 {run} 不存在", "coverage run 17 does not exist"),
    ("k={k} must be between 1 and {top}", "k={k} 应在 1 到 {top} 之间", "k=99 must be between 1 and 20"),
    (
        "coverage is missing or out of date: start a coverage run first",
        "覆盖率结果缺失或已过期：请先启动一次覆盖率计算",
        "coverage is missing or out of date: start a coverage run first",
    ),
    (
        "minutes={minutes} must be between 1 and 120",
        "minutes={minutes} 应在 1 到 120 之间",
        "minutes=0 must be between 1 and 120",
    ),
    (
        "minutes={minutes}: distance mode knows only the tiers {tiers} (GB 50180-2018)",
        "minutes={minutes}：距离模式只有 {tiers} 这几档（GB 50180-2018）",
        "minutes=12: distance mode knows only the tiers [5, 10, 15] (GB 50180-2018)",
    ),
    (
        "unknown category {category}; categories are: {choices}",
        "未知类别 {category}；可用类别：{choices}",
        "unknown category 'zoo'; categories are: school, clinic, complete",
    ),
    (
        "level={level}: use one of {choices}",
        "level={level}：请使用以下之一：{choices}",
        "level=city: use one of community, street",
    ),
    # evaluation (gis/incidents/evaluation.py)
    ("evaluate needs a rating from 1 to 5", "评价需要 1 到 5 的评分", "evaluate needs a rating from 1 to 5"),
    ("comment is longer than {n} characters", "评价内容超过 {n} 个字符", "comment is longer than 1000 characters"),
    (
        "incident {id} is {status}: only a closed incident is evaluated",
        "事件 {id} 的状态为{status}：只有已结案的事件才能评价",
        "incident 7 is in_progress: only a closed incident is evaluated",
    ),
    (
        "incident {id} has been evaluated by its reporter already",
        "事件 {id} 已由上报人评价",
        "incident 7 has been evaluated by its reporter already",
    ),
    # workload balance (gis/plans/workload.py, passed on by gis/plans/edits.py)
    (
        "unknown load parts {parts}; the parts are {choices}",
        "未知的负荷项 {parts}；可用：{choices}",
        "unknown load parts ['floors']; the parts are households, incidents, patrol_m",
    ),
    (
        "load weights must be ≥ 0 and at least one > 0",
        "负荷权重须 ≥ 0，且至少一项 > 0",
        "load weights must be ≥ 0 and at least one > 0",
    ),
    # webhooks (gis/incidents/hooks.py)
    (
        "url must start with http:// or https://",
        "url 必须以 http:// 或 https:// 开头",
        "url must start with http:// or https://",
    ),
    (
        "unknown categories {unknown}; categories are: {choices}",
        "未知类别 {unknown}；可用类别：{choices}",
        "unknown categories ['ufo']; categories are: sanitation, roads",
    ),
    (
        "no category is routed to {unknown}; departments are: {choices}",
        "没有类别派往 {unknown}；可用的部门：{choices}",
        "no category is routed to ['moon']; departments are: 城管, 环卫",
    ),
    # api/ (deps, limits, errors, routers)
    (
        "send If-Match with the plan version this edit is based on",
        "请在 If-Match 中给出这次编辑所基于的方案版本",
        "send If-Match with the plan version this edit is based on",
    ),
    ("{value} is not a plan version", "{value} 不是方案版本号", "If-Match: 'abc' is not a plan version"),
    (
        "the NUL character (U+0000) is not allowed in text",
        "文本中不能含有 NUL 字符（U+0000）",
        "body.description: the NUL character (U+0000) is not allowed in text",
    ),
    (
        "{count} points, more than the limit of {cap} per request (GRIDMAP_MAX_POINTS_PER_REQUEST); split the "
        "request or run `{cli}` for larger jobs",
        "{count} 个点，超过每次请求 {cap} 个的上限（GRIDMAP_MAX_POINTS_PER_REQUEST）；请拆分请求，或用 `{cli}` "
        "处理更大的任务",
        "points: 20001 points, more than the limit of 10000 per request (GRIDMAP_MAX_POINTS_PER_REQUEST); split "
        "the request or run `gridmap assign` for larger jobs",
    ),
    (
        "the request body is larger than the limit of {limit} bytes",
        "请求正文超过 {limit} 字节的上限",
        "body: the request body is larger than the limit of 1048576 bytes",
    ),
    (
        "more than {count} {what} a minute from {client}; retry in {seconds} s, or send a token",
        "来自 {client} 的请求每分钟超过 {count} {what}；请 {seconds} 秒后重试，或携带令牌",
        "more than 3 incident reports a minute from 203.0.113.7; retry in 42 s, or send a token",
    ),
    (
        "more than {count} {what} a minute from {client}; retry in {seconds} s",
        "来自 {client} 的请求每分钟超过 {count} {what}；请 {seconds} 秒后重试",
        "more than 10 sign-in attempts a minute from 203.0.113.7; retry in 5 s",
    ),
    ("nothing at {path}", "{path} 处没有内容", "nothing at /api/nowhere"),
    ("{method} is not allowed on {path}", "{path} 不支持 {method} 请求", "DELETE is not allowed on /api/plans"),
    ("the JSON is nested too deeply to read", "JSON 嵌套过深，无法读取", "body: the JSON is nested too deeply to read"),
    (
        "the request body cannot be read (is it UTF-8 text in the declared Content-Type?)",
        "无法读取请求正文（是否为所声明 Content-Type 的 UTF-8 文本？）",
        "body: the request body cannot be read (is it UTF-8 text in the declared Content-Type?)",
    ),
    (
        "the server failed to handle this request; it has been logged",
        "服务器未能处理此请求；已记录日志",
        "the server failed to handle this request; it has been logged",
    ),
    ("unknown category {category}", "未知类别 {category}", "unknown category 'zoo'"),
    (
        "candidates[{n}] = [{lon}, {lat}] is not WGS 84 [lon, lat]",
        "candidates[{n}] = [{lon}, {lat}] 不是 WGS 84 的 [经度, 纬度]",
        "candidates[0] = [500.0, 30.0] is not WGS 84 [lon, lat]",
    ),
    (
        "the {collection} collection has no such resource",
        "{collection} 集合没有这个资源",
        "the buildings collection has no such resource",
    ),
    (
        "unknown query parameter(s) {unknown}; this resource takes {allowed_parameters}",
        "未知的查询参数 {unknown}；此资源接受 {allowed_parameters}",
        "unknown query parameter(s) colour; this resource takes bbox, limit",
    ),
    (
        "the {collection} collection has no time to filter on",
        "{collection} 集合没有可供筛选的时间",
        "datetime: the grids collection has no time to filter on",
    ),
    (
        "names the CRS of bbox, and there is no bbox",
        "它指明 bbox 的坐标系，但请求中没有 bbox",
        "bbox-crs: names the CRS of bbox, and there is no bbox",
    ),
    (
        "at most {count} characters ({sent} sent)",
        "最多 {count} 个字符（收到 {sent} 个）",
        "at most 2000 characters (2001 sent)",
    ),
    # layers, tiles and history (gis/layers) — what the public map and the planner page ask for
    (
        "bbox: expected 4 numbers west,south,east,north, got {count}",
        "范围（bbox）：应为 4 个数（西,南,东,北），收到 {count} 个",
        "bbox: expected 4 numbers west,south,east,north, got 3",
    ),
    (
        "bbox: {value} is not four numbers west,south,east,north",
        "范围（bbox）：{value} 不是 4 个数（西,南,东,北）",
        "bbox: a,b,c,d is not four numbers west,south,east,north",
    ),
    (
        "bbox: {value} is out of range for WGS 84 longitude/latitude{hint}",
        "范围（bbox）：{value} 超出 WGS 84 经纬度范围{hint}",
        "bbox: 500,30,501,31 is out of range for WGS 84 longitude/latitude",
    ),
    (
        "bbox: {value} has west > east or south > north",
        "范围（bbox）：{value} 的西边大于东边或南边大于北边",
        "bbox: 122,30,121,31 has west > east or south > north",
    ),
    (
        "unknown layer {layer}; layers are: {choices}",
        "未知图层 {layer}；可用图层：{choices}",
        "unknown layer 'roads'; layers are: grids, buildings",
    ),
    ("zoom {z} is outside 0-22", "缩放级别 {z} 不在 0-22 之间", "zoom 23 is outside 0-22"),
    (
        "tile {tile} does not exist: x and y run from 0 to {top}",
        "瓦片 {tile} 不存在：x 和 y 的取值范围是 0 到 {top}",
        "tile 3/9/1 does not exist: x and y run from 0 to 7",
    ),
    (
        "no vector tiles for {layer}; layers are: {choices}",
        "没有 {layer} 的矢量瓦片；可用图层：{choices}",
        "no vector tiles for 'roads'; layers are: grids, buildings",
    ),
    (
        "as_of: {value} is not a date (YYYY-MM-DD) or an ISO 8601 date-time (YYYY-MM-DDTHH:MM[:SS][+08:00])",
        "时间点（as_of）：{value} 不是日期（YYYY-MM-DD）或 ISO 8601 日期时间（YYYY-MM-DDTHH:MM[:SS][+08:00]）",
        "as_of: yesterday is not a date (YYYY-MM-DD) or an ISO 8601 date-time (YYYY-MM-DDTHH:MM[:SS][+08:00])",
    ),
    (
        "the {layer} layer keeps no history; ask without as_of",
        "{layer} 图层不保留历史；请去掉 as_of 再查询",
        "as_of: the facilities layer keeps no history; ask without as_of",
    ),
    ("the {layer} layer keeps no history", "{layer} 图层不保留历史", "the facilities layer keeps no history"),
    (
        "{layer} {feature} has no version: it never existed",
        "{layer} {feature} 没有任何版本：它从未存在过",
        "buildings 901 has no version: it never existed",
    ),
    (
        "give 1 to {count} characters of a name",
        "请给出名称中的 1 到 {count} 个字符",
        "q: give 1 to 100 characters of a name",
    ),
    ("give 1 to {count}", "应为 1 到 {count}", "limit: give 1 to 50"),
    (
        "crs={crs}: tiles come in wgs84 (default) or gcj02",
        "坐标系 crs={crs}：瓦片只有 wgs84（默认）和 gcj02 两种",
        "crs=bd09: tiles come in wgs84 (default) or gcj02",
    ),
    ("{layer} {feature} does not exist{then}", "{layer} {feature} 不存在{then}", "buildings 901 does not exist"),
    # the dispatch desk (gis/incidents/records.py: dispatch targets, reassignment, list orders)
    (
        "only dispatch sends an incident to a department or a worker",
        "只有派遣才能指定责任部门或网格员",
        "worker: only dispatch sends an incident to a department or a worker",
    ),
    (
        "{department} is not a department; departments are: {known}",
        "{department} 不是责任部门；责任部门有：{known}",
        "department: '交通队' is not a department; departments are: 环卫所, 派出所",
    ),
    (
        "user {id} is not an active grid worker",
        "用户 {id} 不是在岗的网格员",
        "worker: user 12 is not an active grid worker",
    ),
    (
        "give a department or a worker to reassign to",
        "请指定改派到的责任部门或网格员",
        "department: give a department or a worker to reassign to",
    ),
    (
        "cannot reassign an incident that is {status}; only dispatched or in_progress ones",
        "事件当前状态为「{status}」，不能改派；只有已派遣或处置中的事件可以改派",
        "cannot reassign an incident that is closed; only dispatched or in_progress ones",
    ),
    (
        "{order} is not an order; orders are: {orders}",
        "{order} 不是可用的排序；可用排序：{orders}",
        "sort: 'oldest' is not an order; orders are: newest, deadline",
    ),
    # plans: the household band, redo and publish refusals naming the first finding (issue 17)
    (
        "plan {plan} already has the household band {band}",
        "方案 {plan} 的户数区间已是 {band}",
        "plan 12 already has the household band 300–500",
    ),
    ("plan {plan} has no undone edit to redo", "方案 {plan} 没有可重做的编辑", "plan 12 has no undone edit to redo"),
    (
        "plan {plan} has {count} validation errors ({kinds}): fix them first; first: {first}",
        "方案 {plan} 有 {count} 个校验错误（{kinds}）：请先修正；第一个：{first}",
        "plan 12 has 1 validation errors (households_above): fix them first; first: grid 3302 has 642 households, "
        "above 500",
    ),
)
# Validation error types of pydantic → Chinese, formatted with the error's ctx (FastAPI's 422 `errors[]`).
VALIDATION = {
    "missing": "必填",
    "int_parsing": "应为整数",
    "int_type": "应为整数",
    "int_from_float": "应为整数",
    "float_parsing": "应为数字",
    "float_type": "应为数字",
    "decimal_parsing": "应为数字",
    "finite_number": "应为有限的数",
    "bool_parsing": "应为布尔值（true 或 false）",
    "bool_type": "应为布尔值（true 或 false）",
    "string_type": "应为字符串",
    "string_too_long": "最多 {max_length} 个字符",
    "string_too_short": "至少 {min_length} 个字符",
    "string_pattern_mismatch": "格式不符合 {pattern}",
    "too_long": "最多 {max_length} 项",
    "too_short": "至少 {min_length} 项",
    "greater_than": "应大于 {gt}",
    "greater_than_equal": "应大于或等于 {ge}",
    "less_than": "应小于 {lt}",
    "less_than_equal": "应小于或等于 {le}",
    "multiple_of": "应为 {multiple_of} 的倍数",
    "literal_error": "应为以下之一：{expected}",
    "enum": "应为以下之一：{expected}",
    "json_invalid": "不是有效的 JSON",
    "json_type": "应为 JSON 文本",
    "datetime_parsing": "应为 ISO 8601 日期时间（YYYY-MM-DDTHH:MM:SS+08:00）",
    "datetime_from_date_parsing": "应为 ISO 8601 日期时间（YYYY-MM-DDTHH:MM:SS+08:00）",
    "datetime_type": "应为 ISO 8601 日期时间（YYYY-MM-DDTHH:MM:SS+08:00）",
    "date_parsing": "应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "应为日期（YYYY-MM-DD）",
    "date_type": "应为日期（YYYY-MM-DD）",
    "timezone_aware": "应带时区",
    "url_parsing": "应为有效的网址",
    "url_type": "应为有效的网址",
    "url_scheme": "网址协议应为 {expected_schemes}",
    "uuid_parsing": "应为 UUID",
    "uuid_type": "应为 UUID",
    "model_attributes_type": "应为对象",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "list_type": "应为列表",
    "tuple_type": "应为列表",
    "set_type": "应为列表",
    "extra_forbidden": "不允许此字段",
    "none_required": "应为空（null）",
    "union_tag_invalid": "类型 {tag} 无效；应为 {expected_tags}",
    "union_tag_not_found": "缺少类型字段 {discriminator}",
    "bytes_too_long": "最多 {max_length} 字节",
    "bytes_too_short": "至少 {min_length} 字节",
}

_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Captures that may be empty: trailing clauses some messages add (", as of 2024-05-01", a hint).
_MAY_BE_EMPTY = frozenset({"then", "hint"})
# "field: message" — a parameter, a header or a dotted body path, then the message about it.
_FIELD_PREFIX = re.compile(r"(?P<field>[A-Za-z0-9_][\w.\[\]/-]*|If-Match|Idempotency-Key): (?P<rest>.+)", re.DOTALL)


def _compile(english: str) -> re.Pattern[str]:
    """The regex of an English pattern: literal text, and `(?P<name>.+?)` for each `{name}`."""
    parts: list[str] = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(english):
        parts.append(re.escape(english[position : placeholder.start()]))
        name = placeholder.group(1)
        parts.append(f"(?P<{name}>.*?)" if name in _MAY_BE_EMPTY else f"(?P<{name}>.+?)")
        position = placeholder.end()
    parts.append(re.escape(english[position:]))
    return re.compile("".join(parts), re.DOTALL)


@cache
def compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    return tuple((_compile(english), chinese) for english, chinese, _sample in CATALOG)


def _fill(template: str, groups: Mapping[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in groups:
            return match.group(0)  # a literal {id} of the message itself (DELETE /api/tokens/{id})
        text = groups[name]
        return _value(text) if name in VALUE_GROUPS else text

    return _PLACEHOLDER.sub(value, template)


def _whole(detail: str) -> str | None:
    for pattern, template in compiled():
        found = pattern.fullmatch(detail)
        if found:
            return _fill(template, found.groupdict())
    return None


def translate(detail: str) -> str | None:
    """The Chinese of an English detail, or None when the catalog does not know it."""
    detail = detail.strip()
    # The field first: a pattern that opens with `{name}` would otherwise take "field: name" for the name.
    prefixed = _FIELD_PREFIX.fullmatch(detail)
    if prefixed:
        rest = _whole(prefixed.group("rest"))
        if rest is not None:
            return f"{_named_field(prefixed.group('field'))}：{rest}"
    return _whole(detail)


def validation_message(kind: str, ctx: Mapping[str, Any] | None, english: str) -> str:
    """A pydantic error in Chinese by its `type`; a value error through the catalog; else the English kept."""
    ctx = ctx or {}
    if kind in ("value_error", "assertion_error"):
        reason = str(ctx.get("error", "")) or english.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        return translate(reason) or f"值无效：{reason}"
    template = VALIDATION.get(kind)
    if template is None:
        return english
    try:
        return template.format(**{key: str(value) for key, value in ctx.items()})
    except (KeyError, IndexError, ValueError):
        return _PLACEHOLDER.sub("", template).rstrip("：: ") or english
