"""Coverage figures over the per-building distances: shares of residential buildings and of
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

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.coverage import figures, reach_store
from gis.coverage.runs import latest_run
from gis.coverage.stale import staleness
from gis.errors import InvalidInput
from gis.plans.store import current_plan_id
from gis.registry import facility_registry

Level = Literal["all", "street", "community", "grid"]
Mode = Literal["time", "distance"]
TIER_COMPLETE = "tier_complete"


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
    """Coverage rows per area, category (and tier-complete) and threshold, with the run they come from.

    Summed in one pass over the arrays of gis/coverage/figures.py, held per process by data version; an answer
    is kept under the same version, so the public map's repeated requests cost one short query and the run."""
    registry = facility_registry()
    if category is not None and category != TIER_COMPLETE and category not in registry.categories:
        raise InvalidInput(
            f"unknown category {category!r}; categories are: {', '.join(registry.categories)}, {TIER_COMPLETE}",
            where="category",
        )
    if level not in figures.LEVELS:
        raise InvalidInput(f"level={level!r}: use one of {', '.join(figures.LEVELS)}", where="level")
    tiers = sorted(minutes) if minutes else sorted(registry.tiers)
    limits = [threshold(m, mode=mode, speed_mps=speed_mps) for m in tiers]
    key = figures.data_key(session)
    asked = (key, level, tuple(tiers), category, mode, speed_mps)
    rows = figures.remembered(asked)
    if rows is None:
        rows = _rows(figures.homes(session, key), level, limits, category)
        figures.remember(asked, rows)
    return {"level": level, "mode": mode, "speed_mps": speed_mps, "run": run_summary(session), "rows": rows}


def _rows(h: figures.Homes, level: str, limits: list[Threshold], category: str | None) -> list[dict[str, Any]]:
    """Per-category rows, then tier-complete rows, each ordered by area code (none last), category, minutes."""
    registry = facility_registry()
    found: list[tuple[tuple[int, int, int, int, int], str, Threshold]] = []
    if category != TIER_COMPLETE:
        for code in [category] if category else list(registry.categories):
            for t in limits:
                found += [(s, code, t) for s in figures.per_category(h, level, code, t.metres)]
    complete: list[tuple[tuple[int, int, int, int, int], str, Threshold]] = []
    if category in (None, TIER_COMPLETE):
        tiers = figures.registry_tiers()
        for t in limits:
            if t.minutes in tiers:
                complete += [(s, TIER_COMPLETE, t) for s in figures.tier_complete(h, level, tiers[t.minutes], t.metres)]
    areas = h.areas[level]

    def order(item: tuple[tuple[int, int, int, int, int], str, Threshold]) -> tuple[bool, str, str, int]:
        code = areas[item[0][0]][1]
        return (code is None, code or "", item[1], item[2].minutes)

    names = registry.categories
    return [
        {
            "area": dict(zip(("id", "code", "name"), areas[s[0]], strict=True)),
            "category": code,
            "category_name": names[code].name_zh if code in names else "生活圈完整",
            "minutes": t.minutes,
            "threshold_m": round(t.metres, 1),
            "buildings": s[1],
            "buildings_covered": s[2],
            "building_coverage": _share(s[2], s[1]),
            "households": s[3],
            "households_covered": s[4],
            "household_coverage": _share(s[4], s[3]),
        }
        for block in (found, complete)
        for s, code, t in sorted(block, key=order)
    ]


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


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# -- gaps ------------------------------------------------------------------------------------------------------

_REASONS = {reach_store.NOT_ON_NETWORK: "not_on_network", reach_store.NOT_REACHED: "unreachable"}


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
    # Which and in what order from the arrays (most households first, then id); the page's rows from the database.
    h = figures.homes(session)
    missing = figures.uncovered(h, category, limit_m)
    chosen = missing[np.lexsort((h.ids[missing], -h.households[missing]))]
    page = h.ids[chosen[offset : offset + limit]]
    stored = reach_store.read_category(session, category)
    if stored is None or stored.facility_id is None or len(page) == 0:
        page = page[:0]
        distance, facility = np.array([], dtype=np.int32), np.array([], dtype=np.int64)
    else:
        at = np.searchsorted(stored.building_ids, page)
        distance, facility = stored.distance_mm[at], stored.facility_id[at]
    found = {
        r["id"]: r
        for r in session.execute(
            text("""SELECT b.id, b.name, b.address, b.households, c.code AS community_code, g.code AS grid_code,
                           ST_AsGeoJSON(b.footprint, 7) AS geometry
                    FROM buildings b
                    LEFT JOIN communities c ON c.id = b.community_id
                    LEFT JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = :plan
                    LEFT JOIN grids g ON g.id = a.grid_id
                    WHERE b.id = ANY(:ids)"""),
            {"ids": page.tolist(), "plan": current_plan_id(session)},
        ).mappings()
    }
    rows = [
        {
            "id": int(i),
            "name": found[i]["name"],
            "address": found[i]["address"],
            "households": found[i]["households"],
            "distance_m": int(d) / 1000 if d >= 0 else None,
            "facility_id": int(f) if f != reach_store.NO_FACILITY else None,
            "community_code": found[i]["community_code"],
            "grid_code": found[i]["grid_code"],
            "reason": _REASONS.get(int(d), "too_far"),
            "geometry": found[i]["geometry"],
        }
        for i, d, f in zip(page.tolist(), distance, facility, strict=True)
        if i in found
    ]
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
        "numberMatched": len(chosen),
        "numberReturned": len(features),
        "features": features,
    }
