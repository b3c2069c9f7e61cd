"""A realistic incident history for the demo district: about 2,000 incidents over the 90 days before `now`.

Pure and seeded (no database): `generate_incidents` returns what happened to each incident — where and when it was
reported, through which channel, and every step of the handling loop with its time and who took it.
gis/exchange/demo.py loads it through the incident importer and writes the steps as the incidents' history.

The mix follows a street office's year (DOMAIN.md §4): sanitation and disputes lead, facility damage and public
order follow; categories weigh more in their season (heating-season fire hazards from November, illegal building
in the dry autumn, sanitation while it is warm); reports come in the day, more on Mondays; hotline and patrol are the
largest channels. Most incidents are closed within their limits; some are rejected or duplicates, some returned by
the department or reopened at the check, some run over their limits, and the newest are still open — some overdue.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import geopandas as gpd
import numpy as np
import shapely

__all__ = ["SURNAMES", "DemoIncident", "Step", "generate_incidents"]

DAYS = 90
COUNT = 2000

# Share of incidents per category over a year, and a weight per month (1 = usual) for the season.
CATEGORIES: dict[str, tuple[float, dict[int, float]]] = {
    "sanitation": (0.26, {6: 1.4, 7: 1.5, 8: 1.5, 9: 1.3, 12: 0.8, 1: 0.7}),
    "dispute": (0.17, {1: 1.3, 2: 1.3}),
    "facility_damage": (0.15, {7: 1.2, 8: 1.3}),
    "public_order": (0.12, {7: 1.2, 8: 1.2, 10: 1.2}),
    "safety_hazard": (0.09, {11: 1.6, 12: 1.8, 1: 1.8, 2: 1.4}),
    "illegal_construction": (0.08, {9: 1.3, 10: 1.5, 11: 1.4, 3: 1.3}),
    "property_conflict": (0.08, {}),
    "device_alarm": (0.04, {}),
    "emergency": (0.01, {}),
}
CHANNELS = {"hotline": 0.30, "patrol": 0.28, "wechat": 0.18, "app": 0.12, "desk": 0.07, "open311": 0.05}
# Alarms come from sensors; patrol and sensor reports are made by staff, the others by residents.
SENSOR_CATEGORIES = {"device_alarm"}
RESIDENT_CHANNELS = {"hotline", "wechat", "app", "desk", "open311"}

DESCRIPTIONS = {
    "sanitation": ["垃圾桶满溢，周边有异味", "楼道堆放杂物和垃圾", "绿化带内有建筑垃圾", "小区门口垃圾未及时清运"],
    "dispute": ["邻里因噪音发生争吵", "楼上漏水引发邻里纠纷", "停车位归属发生争执", "装修噪音影响休息"],
    "facility_damage": ["路灯不亮", "人行道地砖松动", "窨井盖破损", "小区健身器材损坏", "公交站座椅损坏"],
    "public_order": ["夜间广场舞音量过大", "占道经营影响通行", "乱停放共享单车堵塞通道", "流动摊贩聚集"],
    "safety_hazard": ["楼道电动车充电", "消防通道被占用", "燃气管道有异味", "高空悬挂物有坠落风险"],
    "illegal_construction": ["顶楼违章搭建", "一楼私自扩建院墙", "绿地内搭建棚屋"],
    "property_conflict": ["物业服务不到位，业主投诉", "物业费收取争议", "电梯维修不及时"],
    "device_alarm": ["烟感报警", "水位监测报警", "井盖位移报警"],
    "emergency": ["老人在家中摔倒求助", "突发火情", "燃气泄漏"],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
RETURN_NOTES = ["非本部门职责，请重新派遣", "地址不准确，无法找到现场", "需要其他部门配合处置"]
REOPEN_NOTES = ["现场复核未整改到位", "居民反映问题仍然存在"]
REJECT_NOTES = ["不属于网格管理范围", "信息不全，无法核实", "重复上报的咨询类问题"]


@dataclass(frozen=True)
class Step:
    action: str  # a transition of gis/incidents/workflow.py, or "report"
    at: datetime
    actor: str  # "public", "dispatcher" (a dispatcher's login) or "worker" (the grid's worker)
    note: str | None = None


@dataclass
class DemoIncident:
    category: str
    channel: str
    description: str
    reporter_contact: str | None
    lon: float
    lat: float
    grid_code: str
    steps: list[Step] = field(default_factory=list)
    duplicate_of: int | None = None  # index of an earlier incident in the list

    @property
    def reported_at(self) -> datetime:
        return self.steps[0].at


def generate_incidents(
    grids: gpd.GeoDataFrame,
    limits_hours: Mapping[str, Mapping[str, float]],
    now: datetime,
    *,
    seed: int = 20261207,
    count: int = COUNT,
    days: int = DAYS,
) -> list[DemoIncident]:
    """`grids`: the demo plan's grids (code, households, geometry in EPSG:4326); `limits_hours`: hours allowed per
    stage for each category (data/incident_categories.toml). Incidents are in order of their report time."""
    rng = np.random.default_rng(seed)
    start = now - timedelta(days=days)
    times = _report_times(rng, start, now, count)
    categories = _categories(rng, times)
    weights = np.asarray(grids["households"], dtype=float) + 20.0  # streets and squares see incidents too
    grid_index = rng.choice(len(grids), size=count, p=weights / weights.sum())
    points = _points_in(rng, grids.geometry.to_numpy(), grid_index)
    channels = list(CHANNELS)
    shares = np.array(list(CHANNELS.values()))
    out: list[DemoIncident] = []
    for i in range(count):
        category = str(categories[i])
        channel = "sensor" if category in SENSOR_CATEGORIES else str(rng.choice(channels, p=shares / shares.sum()))
        contact = _phone(rng) if channel in RESIDENT_CHANNELS and rng.random() < 0.7 else None
        incident = DemoIncident(
            category=category,
            channel=channel,
            description=str(rng.choice(DESCRIPTIONS[category])),
            reporter_contact=contact,
            lon=float(points[i][0]),
            lat=float(points[i][1]),
            grid_code=str(grids["code"].iloc[grid_index[i]]),
        )
        reporter = "worker" if channel == "patrol" else "public"
        incident.steps = _handling(rng, times[i], limits_hours[category], reporter, now)
        if incident.steps[-1].action == "mark_duplicate":
            incident.duplicate_of = _original(out, incident)
            if incident.duplicate_of is None:  # nothing like it before: registered and handled as usual
                incident.steps = _handling(rng, times[i], limits_hours[category], reporter, now, plain=True)
        out.append(incident)
    return out


def _report_times(rng: np.random.Generator, start: datetime, end: datetime, count: int) -> list[datetime]:
    """Daytime-heavy (08–20 h), Mondays busier, sorted."""
    days = (end - start).days
    day = rng.integers(0, days, size=count * 2)
    weekday = np.array([(start + timedelta(days=int(d))).weekday() for d in day])
    keep = rng.random(len(day)) < np.where(weekday == 0, 1.0, np.where(weekday >= 5, 0.6, 0.8))
    day = day[keep][:count]
    hour = np.clip(rng.normal(13.5, 3.6, size=len(day)), 0, 23.99)
    moments = [start + timedelta(days=int(d), hours=float(h)) for d, h in zip(day, hour, strict=True)]
    moments = [m for m in moments if m < end - timedelta(minutes=30)]
    while len(moments) < count:  # the weekday thinning and the end cut leave a few short
        moments.append(end - timedelta(hours=float(rng.uniform(1, 24 * days))))
    return sorted(moments[:count])


def _categories(rng: np.random.Generator, times: list[datetime]) -> np.ndarray:
    names = list(CATEGORIES)
    base = np.array([CATEGORIES[n][0] for n in names])
    out = np.empty(len(times), dtype=object)
    for i, t in enumerate(times):
        season = np.array([CATEGORIES[n][1].get(t.month, 1.0) for n in names])
        p = base * season
        out[i] = names[int(rng.choice(len(names), p=p / p.sum()))]
    return out


def _points_in(rng: np.random.Generator, polygons: np.ndarray, which: np.ndarray) -> list[tuple[float, float]]:
    """A random point inside the chosen polygon for each incident (rejection sampling in its bounds)."""
    out: list[tuple[float, float]] = []
    for index in which:
        polygon = polygons[index]
        x0, y0, x1, y1 = shapely.bounds(polygon)
        for _ in range(200):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if shapely.contains_xy(polygon, x, y):
                break
        else:
            point = shapely.point_on_surface(polygon)
            x, y = point.x, point.y
        out.append((round(float(x), 7), round(float(y), 7)))
    return out


def _phone(rng: np.random.Generator) -> str:
    return f"1{rng.choice([3, 5, 7, 8, 9])}{rng.integers(0, 10**9):09d}"


def _duration(rng: np.random.Generator, limit_h: float, *, late: float) -> timedelta:
    """Time taken for a stage allowed `limit_h` hours: mostly well within it, a share `late` over it."""
    if rng.random() < late:
        return timedelta(hours=limit_h * float(rng.uniform(1.05, 1.8)))
    return timedelta(hours=limit_h * float(rng.beta(2.0, 4.5)) * 0.95 + 0.05)


def _handling(
    rng: np.random.Generator,
    reported: datetime,
    limits: Mapping[str, float],
    reporter: str,
    now: datetime,
    *,
    plain: bool = False,
) -> list[Step]:
    """The steps from the report on, cut at `now` (the newest incidents are still open)."""
    steps = [Step("report", reported, reporter)]
    t = reported

    def take(action: str, stage: str, actor: str, *, late: float = 0.07, note: str | None = None) -> bool:
        nonlocal t
        t = t + _duration(rng, limits[stage], late=late)
        if t >= now:
            return False
        steps.append(Step(action, t, actor, note))
        return True

    outcome = rng.random()
    if not plain and outcome < 0.05:
        take("reject", "register", "dispatcher", note=str(rng.choice(REJECT_NOTES)))
        return steps
    if not plain and outcome < 0.08:
        take("mark_duplicate", "register", "dispatcher")
        return steps
    if not take("register", "register", "dispatcher", late=0.05):
        return steps
    if not take("dispatch", "dispatch", "dispatcher", late=0.06):
        return steps
    if rng.random() < 0.10:  # the department sends it back; dispatched again
        if not take("return", "dispatch", "worker", note=str(rng.choice(RETURN_NOTES))):
            return steps
        if not take("dispatch", "dispatch", "dispatcher"):
            return steps
    if not take("start", "dispatch", "worker"):
        return steps
    if not take("resolve", "handle", "worker", late=0.10):
        return steps
    if not take("verify" if rng.random() >= 0.08 else "reopen", "verify", "dispatcher"):
        return steps
    if steps[-1].action == "reopen":
        steps[-1] = Step("reopen", steps[-1].at, "dispatcher", str(rng.choice(REOPEN_NOTES)))
        if not take("resolve", "handle", "worker") or not take("verify", "verify", "dispatcher"):
            return steps
    take("close", "close", "dispatcher")
    return steps


def _original(earlier: list[DemoIncident], incident: DemoIncident) -> int | None:
    """The latest earlier incident of the same category in the same grid within three days: what this repeats."""
    since = incident.reported_at - timedelta(days=3)
    for index in range(len(earlier) - 1, -1, -1):
        other = earlier[index]
        if other.reported_at < since:
            return None
        if other.category == incident.category and other.grid_code == incident.grid_code:
            return index
    return None
