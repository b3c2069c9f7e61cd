"""The planner's desk: the default household band by community type (issue 17; DOMAIN.md §2 — grid size is a local
rule, set per community type: 300–500 households in town, fewer in villages).

The communities table has no type column; the type is what the code says. A community's 12-digit statistical
division code (统计用区划代码, GB/T 10114 at the street level) numbers residents' committees (居委会, "community")
001–199 and villagers' committees (村委会, "village") 200–399 in its last three digits. Codes of another shape are
communities. A plan spans several communities, so its band is the band of the type holding most of its households.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.registry import ascii_digits

Band = tuple[int, int]
COMMUNITY, VILLAGE = "community", "village"


def community_type(code: str | None) -> str:
    """ "village" for a villagers' committee code (last three digits 200–399), else "community"."""
    if code and len(code) == 12 and ascii_digits(code) and 200 <= int(code[-3:]) <= 399:
        return VILLAGE
    return COMMUNITY


def band_for_community(code: str | None, default: Band, by_type: Mapping[str, Band]) -> Band:
    """The configured band of the community's type (`default` for a type without one, or no community)."""
    if code is None:
        return default
    low, high = by_type.get(community_type(code), default)
    return int(low), int(high)


def band_for_plan(session: Session, plan_id: int, default: Band, by_type: Mapping[str, Band]) -> Band:
    """The configured band of the community type that holds most of the plan's households (`default` when no type
    has a band of its own, or the plan holds no household)."""
    if not by_type:
        return default
    rows = session.execute(
        text("""SELECT c.code, sum(u.households) AS households FROM assignments a
                JOIN units u ON u.id = a.unit_id JOIN communities c ON c.id = u.community_id
                WHERE a.plan_id = :plan GROUP BY c.code"""),
        {"plan": plan_id},
    ).all()
    if not rows:  # a plan adopted from a grid layer before its units exist: its grids say which communities
        rows = session.execute(
            text("""SELECT c.code, sum(g.households) AS households FROM grids g
                    JOIN communities c ON c.id = g.community_id WHERE g.plan_id = :plan GROUP BY c.code"""),
            {"plan": plan_id},
        ).all()
    households: dict[str, int] = {}
    for row in rows:
        kind = community_type(row.code)
        households[kind] = households.get(kind, 0) + int(row.households or 0)
    if not households:
        return default
    main = max(sorted(households), key=lambda kind: households[kind])
    low, high = by_type.get(main, default)
    return int(low), int(high)
