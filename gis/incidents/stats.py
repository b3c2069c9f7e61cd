"""Incident statistics per grid, community, street, department or category: counts by status, open and overdue,
median handling time (the department level is the unified dispatch centre's progress view, 统一分拨)."""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

Level = Literal["grid", "community", "street", "department", "category", "all"]

# Grouping columns per level, over the joins of incidents to the areas stored at assignment time.
KEYS: dict[str, tuple[str, str]] = {
    "grid": ("g.code", "g.name"),
    "community": ("c.code", "c.name"),
    "street": ("s.code", "s.name"),
    "department": ("i.department", "i.department"),
    "category": ("i.category", "i.category"),
    "all": ("'all'", "'all'"),
}
JOINS = """FROM incidents i LEFT JOIN grids g ON g.id = i.grid_id
    LEFT JOIN communities c ON c.id = i.community_id LEFT JOIN streets s ON s.id = i.street_id"""


def incident_stats(session: Session, level: Level = "community") -> list[dict[str, Any]]:
    code, name = KEYS[level]
    totals = session.execute(
        text(f"""
        SELECT {code} AS code, {name} AS name, count(*) AS total,
               count(*) FILTER (WHERE i.status NOT IN ('closed', 'rejected', 'duplicate')) AS open,
               count(*) FILTER (WHERE i.deadline_at IS NOT NULL AND i.deadline_at < now()) AS overdue,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM i.closed_at - i.reported_at) / 3600)
                   FILTER (WHERE i.status = 'closed') AS median_handling_hours,
               count(i.rating) AS evaluated, avg(i.rating) AS mean_rating
        {JOINS} GROUP BY 1, 2 ORDER BY 1""")
    ).all()
    by_status = session.execute(text(f"SELECT {code} AS code, i.status, count(*) AS n {JOINS} GROUP BY 1, 2")).all()
    statuses: dict[Any, dict[str, int]] = {}
    for row in by_status:
        statuses.setdefault(row.code, {})[row.status] = row.n
    return [
        {
            "level": level,
            "code": row.code,
            "name": row.name,
            "total": row.total,
            "open": row.open,
            "overdue": row.overdue,
            "by_status": statuses.get(row.code, {}),
            "median_handling_hours": None
            if row.median_handling_hours is None
            else round(float(row.median_handling_hours), 2),
            "evaluated": row.evaluated,
            "mean_rating": None if row.mean_rating is None else round(float(row.mean_rating), 2),
        }
        for row in totals
    ]
