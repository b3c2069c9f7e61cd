"""The public notice (公示): how incidents were handled, per community, with nothing that points at a person.

Recently closed incidents show their category, community and days to close; monthly counts show reports and
closures per community and category. Never a description, contact, photo, address, tracking number or coordinate:
the community is the finest place named, so a notice cannot lead anyone to a reporter's door.

Days and months are those of the database session's time zone (the server's TimeZone setting), like every other
date the database computes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.registry import incident_categories

DEFAULT_DAYS = 90
PER_COMMUNITY = 20  # recently closed incidents listed per community
DEFAULT_MONTHS = 12


def notice(
    session: Session, *, days: int = DEFAULT_DAYS, months: int = DEFAULT_MONTHS, per_community: int = PER_COMMUNITY
) -> dict[str, Any]:
    """Closed incidents of the last `days` days per community (newest first, at most `per_community` each) and
    counts per month (the last `months` months), community and category."""
    names = {code: (c.name_zh, c.name_en) for code, c in incident_categories().items()}

    def named(code: str) -> dict[str, str]:
        zh, en = names.get(code, (code, code))
        return {"category": code, "category_name_zh": zh, "category_name_en": en}

    closed = session.execute(
        text("""
        SELECT community_code, community_name, category, closed_on, days_to_close FROM (
            SELECT c.code AS community_code, c.name AS community_name, i.category,
                   i.closed_at::date AS closed_on,
                   round((extract(epoch FROM i.closed_at - i.reported_at) / 86400)::numeric, 1) AS days_to_close,
                   row_number() OVER (PARTITION BY c.code ORDER BY i.closed_at DESC, i.id DESC) AS n
            FROM incidents i LEFT JOIN communities c ON c.id = i.community_id
            WHERE i.status = 'closed' AND i.closed_at >= now() - make_interval(days => :days)
        ) recent WHERE n <= :per_community
        ORDER BY community_code NULLS LAST, closed_on DESC"""),
        {"days": days, "per_community": per_community},
    ).all()
    communities: dict[str | None, dict[str, Any]] = {}
    for row in closed:
        entry = communities.setdefault(
            row.community_code,
            {"community_code": row.community_code, "community_name": row.community_name, "closed": []},
        )
        entry["closed"].append(
            named(row.category) | {"closed_on": row.closed_on.isoformat(), "days_to_close": float(row.days_to_close)}
        )
    counts = session.execute(
        text("""
        WITH events AS (
            SELECT date_trunc('month', i.reported_at) AS month, i.community_id,
                   i.category, 1 AS reported, 0 AS closed
            FROM incidents i
            UNION ALL
            SELECT date_trunc('month', i.closed_at), i.community_id, i.category, 0, 1
            FROM incidents i WHERE i.status = 'closed' AND i.closed_at IS NOT NULL
        )
        SELECT to_char(e.month, 'YYYY-MM') AS month, c.code AS community_code, c.name AS community_name, e.category,
               sum(e.reported)::int AS reported, sum(e.closed)::int AS closed
        FROM events e LEFT JOIN communities c ON c.id = e.community_id
        WHERE e.month >= date_trunc('month', now()) - make_interval(months => :back)
        GROUP BY 1, 2, 3, 4 ORDER BY 1 DESC, 2 NULLS LAST, 4"""),
        {"back": months - 1},
    ).all()
    monthly = [
        named(row.category)
        | {
            "month": row.month,
            "community_code": row.community_code,
            "community_name": row.community_name,
            "reported": row.reported,
            "closed": row.closed,
        }
        for row in counts
    ]
    return {"days": days, "months": months, "communities": list(communities.values()), "monthly": monthly}
