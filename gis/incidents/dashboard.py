"""The leaders' dashboard (领导驾驶舱, /maps/dashboard): incident figures over time and by area, and the grid
load of the published plan against its household band.

Per-area figures (open, overdue, median handling time, ratings) come from gis/incidents/stats.py, so the
dashboard and /api/incidents/stats never disagree; this module adds the weekly series, the rating
distribution, the grid load histogram and incident counts per grid of the published plan. Coverage by tier
is gis/coverage's (a package above this one): the router puts the two together.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.incidents.stats import incident_stats
from gis.plans.store import current_plan_id
from gis.registry import incident_categories

DAYS = 90  # the window of the weekly series
RATINGS = (1, 2, 3, 4, 5)
HISTOGRAM_BINS = 12  # at most; fewer when the grids' households span less


def dashboard(session: Session, *, days: int = DAYS) -> dict[str, Any]:
    """Every figure of the dashboard except coverage, in one answer."""
    plan = current_plan_id(session)
    return {
        "days": days,
        "status_by_week": status_by_week(session, days),
        "handling_by_week": handling_by_week(session, days),
        "overdue_by_community": overdue_by_community(session),
        "overdue_by_department": overdue_by_department(session),
        "ratings": ratings(session),
        "grid_load": grid_load(session, plan),
        "density": density(session, plan),
    }


# Every week of the window, the current one included, so charts keep an even time axis through quiet weeks.
_WEEKS = """SELECT generate_series(date_trunc('week', now() - make_interval(days => :days)), date_trunc('week', now()),
                               interval '1 week')::date AS week"""


def status_by_week(session: Session, days: int) -> list[dict[str, Any]]:
    """Incidents reported per week (weeks start on Monday) in the last `days` days, by their status now."""
    rows = session.execute(
        text(f"""WITH weeks AS ({_WEEKS})
                 SELECT w.week, i.status, count(i.id) AS n FROM weeks w
                 LEFT JOIN incidents i ON date_trunc('week', i.reported_at)::date = w.week
                      AND i.reported_at >= now() - make_interval(days => :days)
                 GROUP BY 1, 2 ORDER BY 1, 2"""),
        {"days": days},
    ).all()
    weeks: dict[Any, dict[str, int]] = {}
    for row in rows:
        counts = weeks.setdefault(row.week, {})
        if row.status is not None:
            counts[row.status] = row.n
    return [{"week": week.isoformat(), "by_status": counts} for week, counts in weeks.items()]


def handling_by_week(session: Session, days: int) -> list[dict[str, Any]]:
    """Median hours from report to close of the incidents closed each week of the last `days` days (None in a
    week that closed none)."""
    rows = session.execute(
        text(f"""WITH weeks AS ({_WEEKS})
                 SELECT w.week, count(i.id) AS closed,
                        percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.closed_at - i.reported_at)
                                                           / 3600) AS median_hours
                 FROM weeks w LEFT JOIN incidents i ON i.status = 'closed'
                      AND date_trunc('week', i.closed_at)::date = w.week
                      AND i.closed_at >= now() - make_interval(days => :days)
                 GROUP BY 1 ORDER BY 1"""),
        {"days": days},
    ).all()
    return [
        {
            "week": r.week.isoformat(),
            "closed": r.closed,
            "median_hours": None if r.median_hours is None else round(float(r.median_hours), 2),
        }
        for r in rows
    ]


def overdue_by_community(session: Session) -> list[dict[str, Any]]:
    """Overdue rate per community, every community listed (none reported: 0 of 0)."""
    found = _overdue(incident_stats(session, "community"))
    seen = {r["code"] for r in found}
    quiet = session.execute(text("SELECT code, name FROM communities ORDER BY code")).all()
    rows = found + [_nothing(c.code, c.name) for c in quiet if c.code not in seen]
    return sorted(rows, key=lambda r: (r["code"] is None, r["code"] or ""))


def overdue_by_department(session: Session) -> list[dict[str, Any]]:
    """Overdue rate per responsible department, every department of the incident categories listed."""
    found = _overdue(incident_stats(session, "department"))
    seen = {r["code"] for r in found}
    departments = sorted({c.department for c in incident_categories().values() if c.department} - seen)
    rows = found + [_nothing(d, d) for d in departments]
    return sorted(rows, key=lambda r: (r["code"] is None, r["code"] or ""))


def _nothing(code: str, name: str | None) -> dict[str, Any]:
    return {"code": code, "name": name, "total": 0, "overdue": 0, "overdue_rate": 0.0}


def _overdue(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per area: total, overdue and their ratio (incidents not yet assigned an area are one row, code None)."""
    return [
        {
            "code": r["code"],
            "name": r["name"],
            "total": r["total"],
            "overdue": r["overdue"],
            "overdue_rate": round(r["overdue"] / r["total"], 4) if r["total"] else 0.0,
        }
        for r in rows
    ]


def ratings(session: Session) -> dict[str, Any]:
    """Residents' evaluation scores (1–5): the mean and how many incidents got each score."""
    counts = dict.fromkeys(RATINGS, 0)
    for score, n in session.execute(
        text("SELECT rating, count(*) FROM incidents WHERE rating IS NOT NULL GROUP BY 1")
    ).all():
        counts[int(score)] = n
    evaluated = sum(counts.values())
    mean = sum(s * n for s, n in counts.items()) / evaluated if evaluated else None
    return {
        "evaluated": evaluated,
        "mean": None if mean is None else round(mean, 2),
        "distribution": [{"rating": s, "incidents": n} for s, n in counts.items()],
    }


def grid_load(session: Session, plan_id: int | None) -> dict[str, Any]:
    """Households per grid of the published plan as a histogram, with the plan's band (either end may be open)."""
    if plan_id is None:
        return {"plan_id": None, "band_min": None, "band_max": None, "grids": 0, "outside_band": 0, "bins": []}
    band = session.execute(
        text("SELECT min_households, max_households FROM grid_plans WHERE id = :plan"), {"plan": plan_id}
    ).one()
    households = list(
        session.execute(text("SELECT households FROM grids WHERE plan_id = :plan"), {"plan": plan_id}).scalars()
    )
    low, high = band.min_households, band.max_households
    outside = sum(1 for h in households if (low is not None and h < low) or (high is not None and h > high))
    return {
        "plan_id": plan_id,
        "band_min": low,
        "band_max": high,
        "grids": len(households),
        "outside_band": outside,
        "bins": histogram(households, [b for b in (low, high) if b is not None]),
    }


def histogram(values: list[int], marks: list[int], bins: int = HISTOGRAM_BINS) -> list[dict[str, int]]:
    """Equal bins of a round width over the values (and the band's ends, so the band is always on the chart):
    each bin [start, end) with its count; the last bin holds its end."""
    if not values:
        return []
    low, high = min([*values, *marks]), max([*values, *marks])
    width = _round_width((high - low) / bins) if high > low else 1
    start = (low // width) * width
    count = max(1, math.floor((high - start) / width) + 1)
    found = [0] * count
    for value in values:
        found[min((value - start) // width, count - 1)] += 1
    return [{"start": start + i * width, "end": start + (i + 1) * width, "grids": n} for i, n in enumerate(found)]


def _round_width(raw: float) -> int:
    """The smallest 1, 2 or 5 × 10ⁿ not below `raw` (at least 1)."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    return int(next(step * power for step in (1, 2, 5, 10) if step * power >= raw))


def density(session: Session, plan_id: int | None) -> dict[str, Any]:
    """Incidents per grid of the published plan. An incident counts in the grid it was assigned to, followed by
    lineage to that grid's copy in the published plan (incidents keep the plan current when they came in)."""
    if plan_id is None:
        return {"plan_id": None, "grids": []}
    rows = session.execute(
        text("""SELECT g.id, g.code, g.name, g.area_m2, count(i.id) AS incidents
                FROM grids g LEFT JOIN grids o ON o.lineage = g.lineage
                LEFT JOIN incidents i ON i.grid_id = o.id
                WHERE g.plan_id = :plan GROUP BY g.id ORDER BY g.code, g.id"""),
        {"plan": plan_id},
    ).all()
    return {
        "plan_id": plan_id,
        "grids": [
            {
                "id": r.id,
                "code": r.code,
                "name": r.name,
                "incidents": r.incidents,
                "per_km2": round(r.incidents / (r.area_m2 / 1e6), 2) if r.area_m2 else None,
            }
            for r in rows
        ],
    }
