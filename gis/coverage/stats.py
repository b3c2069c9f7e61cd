"""Coverage figures over the building × category distance table: shares of residential buildings and of
households within a walking threshold, per category and tier, for the whole area or per grid, community or
street; and the list of residential buildings left uncovered (the gaps).

Thresholds: in time mode, minutes × 60 × walking speed; in distance mode, the tier's distance from
GB 50180-2018 (300 / 500 / 1000 m). A building is tier-complete when every category of that tier is within
the tier's threshold. Figures come from network distances only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage.runs import latest_run
from gis.coverage.stale import staleness
from gis.errors import InvalidInput
from gis.plans.store import current_plan_id
from gis.registry import facility_registry

Level = Literal["all", "street", "community", "grid"]
Mode = Literal["time", "distance"]
TIER_COMPLETE = "tier_complete"

# (building_id, area_id, area_code, area_name) for residential buildings, per level.
_AREAS: dict[str, str] = {
    "all": "SELECT b.id, b.households, 0 AS area_id, NULL::text AS area_code, '全部' AS area_name FROM buildings b",
    "community": """SELECT b.id, b.households, c.id AS area_id, c.code AS area_code, c.name AS area_name
                    FROM buildings b LEFT JOIN communities c ON c.id = b.community_id""",
    "street": """SELECT b.id, b.households, s.id AS area_id, s.code AS area_code, s.name AS area_name
                 FROM buildings b LEFT JOIN communities c ON c.id = b.community_id
                 LEFT JOIN streets s ON s.id = c.street_id""",
    "grid": """SELECT b.id, b.households, g.id AS area_id, g.code AS area_code, g.name AS area_name
               FROM buildings b LEFT JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = :plan
               LEFT JOIN grids g ON g.id = a.grid_id""",
}


@dataclass(frozen=True)
class Threshold:
    minutes: int
    metres: float


def threshold(minutes: int, *, mode: Mode, speed_mps: float) -> Threshold:
    """The walking distance a number of minutes stands for."""
    if mode == "distance":
        tiers = facility_registry().tiers
        if minutes not in tiers:
            raise InvalidInput(
                f"minutes={minutes}: distance mode knows only the tiers {sorted(tiers)} (GB 50180-2018)",
                where="minutes",
            )
        return Threshold(minutes, float(tiers[minutes].distance_m))
    if not 0 < speed_mps <= 3:
        raise InvalidInput(f"speed={speed_mps} m/s is not a walking speed (0-3 m/s)", where="speed")
    if not 1 <= minutes <= 120:
        raise InvalidInput(f"minutes={minutes} must be between 1 and 120", where="minutes")
    return Threshold(minutes, minutes * 60.0 * speed_mps)


def coverage(
    session: Session,
    *,
    level: Level = "all",
    minutes: list[int] | None = None,
    category: str | None = None,
    mode: Mode = "time",
    speed_mps: float = 1.2,
) -> dict[str, Any]:
    """Coverage rows per area, category (and tier-complete) and threshold, with the run they come from."""
    registry = facility_registry()
    if category is not None and category != TIER_COMPLETE and category not in registry.categories:
        raise InvalidInput(
            f"unknown category {category!r}; categories are: {', '.join(registry.categories)}, {TIER_COMPLETE}",
            where="category",
        )
    tiers = sorted(minutes) if minutes else sorted(registry.tiers)
    limits = [threshold(m, mode=mode, speed_mps=speed_mps) for m in tiers]
    params: dict[str, Any] = {"plan": current_plan_id(session)}
    rows: list[dict[str, Any]] = []
    if category != TIER_COMPLETE:
        cats = [category] if category else list(registry.categories)
        pairs = [(c, t) for c in cats for t in limits]
        rows += _rows(session, level, _PER_CATEGORY, pairs, params)
    if category in (None, TIER_COMPLETE):
        pairs = [(c.code, t) for t in limits for c in registry.categories.values() if c.tier == t.minutes]
        rows += _rows(session, level, _TIER_COMPLETE, pairs, params)
    return {"level": level, "mode": mode, "speed_mps": speed_mps, "run": run_summary(session), "rows": rows}


def run_summary(session: Session) -> dict[str, Any] | None:
    """The run the figures come from; `stale` while figures of some categories (`stale_categories`) predate a
    change of their data or of the walking network, with the run on its way to refresh them (`pending`)."""
    run = latest_run(session)
    if run is None:
        return None
    behind = staleness(session)
    return {
        "id": run["id"],
        "finished_at": run["finished_at"].isoformat() if run["finished_at"] else None,
        "network_version": (run["report"] or {}).get("network_version"),
        "stale": bool(behind.categories),
        "stale_categories": behind.categories,
        "pending": behind.pending,
    }


_PER_CATEGORY = """
    WITH homes AS ({areas} WHERE b.residential),
         t AS (SELECT * FROM unnest(CAST(:cats AS text[]), CAST(:minutes AS int[]), CAST(:metres AS float8[]))
               AS t(category, minutes, metres))
    SELECT h.area_id, h.area_code, h.area_name, t.category, t.minutes, t.metres,
           count(*) AS buildings,
           count(*) FILTER (WHERE r.distance_m <= t.metres) AS buildings_covered,
           coalesce(sum(h.households), 0) AS households,
           coalesce(sum(h.households) FILTER (WHERE r.distance_m <= t.metres), 0) AS households_covered
    FROM homes h JOIN building_reach r ON r.building_id = h.id JOIN t ON t.category = r.category
    GROUP BY h.area_id, h.area_code, h.area_name, t.category, t.minutes, t.metres
"""

_TIER_COMPLETE = """
    WITH homes AS ({areas} WHERE b.residential),
         t AS (SELECT * FROM unnest(CAST(:cats AS text[]), CAST(:minutes AS int[]), CAST(:metres AS float8[]))
               AS t(category, minutes, metres)),
         required AS (SELECT minutes, max(metres) AS metres, count(*) AS n FROM t GROUP BY minutes),
         -- per building and tier: how many of the tier's categories are within reach (one row per category)
         met AS (
            SELECT r.building_id, t.minutes, count(*) FILTER (WHERE r.distance_m <= t.metres) AS within
            FROM building_reach r JOIN t ON t.category = r.category
            GROUP BY r.building_id, t.minutes)
    SELECT h.area_id, h.area_code, h.area_name, 'tier_complete' AS category, q.minutes, q.metres,
           count(*) AS buildings,
           count(*) FILTER (WHERE m.within = q.n) AS buildings_covered,
           coalesce(sum(h.households), 0) AS households,
           coalesce(sum(h.households) FILTER (WHERE m.within = q.n), 0) AS households_covered
    FROM homes h JOIN met m ON m.building_id = h.id JOIN required q ON q.minutes = m.minutes
    GROUP BY h.area_id, h.area_code, h.area_name, q.minutes, q.metres
"""


def _rows(
    session: Session, level: str, query: str, pairs: list[tuple[str, Threshold]], params: dict[str, Any]
) -> list[dict[str, Any]]:
    if level not in _AREAS:
        raise InvalidInput(f"level={level!r}: use one of {', '.join(_AREAS)}", where="level")
    if not pairs:
        return []
    result = session.execute(
        text(query.format(areas=_AREAS[level]) + " ORDER BY area_code NULLS LAST, category, minutes"),
        {
            **params,
            "cats": [c for c, _ in pairs],
            "minutes": [t.minutes for _, t in pairs],
            "metres": [t.metres for _, t in pairs],
        },
    ).mappings()
    names = facility_registry().categories
    return [
        {
            "area": {"id": r["area_id"], "code": r["area_code"], "name": r["area_name"]},
            "category": r["category"],
            "category_name": names[r["category"]].name_zh if r["category"] in names else "生活圈完整",
            "minutes": r["minutes"],
            "threshold_m": round(r["metres"], 1),
            "buildings": r["buildings"],
            "buildings_covered": r["buildings_covered"],
            "building_coverage": _share(r["buildings_covered"], r["buildings"]),
            "households": r["households"],
            "households_covered": r["households_covered"],
            "household_coverage": _share(r["households_covered"], r["households"]),
        }
        for r in result
    ]


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- gaps ------------------------------------------------------------------------------------------------------

_GAP_JOIN = "buildings b JOIN building_reach r ON r.building_id = b.id AND r.category = :cat"
_GAP = "b.residential AND (r.distance_m IS NULL OR r.distance_m > :t)"


def gaps(
    session: Session,
    *,
    category: str,
    minutes: int,
    mode: Mode = "time",
    speed_mps: float = 1.2,
    limit: int = 100,
    offset: int = 0,
) -> dict[str, Any]:
    """Residential buildings that do not reach `category` within the threshold, most households first, as a
    GeoJSON FeatureCollection; `reason` says why: too far, unreachable on the network, or not on it at all."""
    if category not in facility_registry().categories:
        raise InvalidInput(f"unknown category {category!r}", where="category")
    limit_m = threshold(minutes, mode=mode, speed_mps=speed_mps).metres
    params = {"cat": category, "t": limit_m, "limit": limit, "offset": offset, "plan": current_plan_id(session)}
    matched = session.execute(text(f"SELECT count(*) FROM {_GAP_JOIN} WHERE {_GAP}"), params).scalar_one()
    rows = session.execute(
        text(f"""SELECT b.id, b.name, b.address, b.households, r.distance_m, r.facility_id,
                        c.code AS community_code, g.code AS grid_code,
                        CASE WHEN na.edge_id IS NULL THEN 'not_on_network'
                             WHEN r.distance_m IS NULL THEN 'unreachable' ELSE 'too_far' END AS reason,
                        ST_AsGeoJSON(b.footprint, 7) AS geometry
                 FROM {_GAP_JOIN}
                 LEFT JOIN communities c ON c.id = b.community_id
                 LEFT JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = :plan
                 LEFT JOIN grids g ON g.id = a.grid_id
                 LEFT JOIN network_access na ON na.feature = 'building' AND na.feature_id = b.id
                 WHERE {_GAP} ORDER BY b.households DESC, b.id LIMIT :limit OFFSET :offset"""),
        params,
    ).mappings()
    features = [
        {
            "type": "Feature",
            "id": r["id"],
            "geometry": json.loads(r["geometry"]),
            "properties": {k: r[k] for k in r if k not in {"geometry"}},
        }
        for r in rows
    ]
    return {
        "type": "FeatureCollection",
        "category": category,
        "minutes": minutes,
        "threshold_m": round(limit_m, 1),
        "numberMatched": matched,
        "numberReturned": len(features),
        "features": features,
    }
