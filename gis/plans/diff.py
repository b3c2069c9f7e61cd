"""What changed between two plans, grid by grid: households and buildings moved in and out, codes changed, and
the compounds (小区) the plan splits across grids where the other plan kept them in one.

Grids are followed across plans by lineage (a draft's grids keep the lineage of the grids they were
copied from), so a renumbered grid is the same grid with a new code.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.plans.store import plan_row


def diff_plans(session: Session, plan_id: int, against: int) -> dict[str, Any]:
    plan_row(session, plan_id)
    plan_row(session, against)
    grids = {
        (r.plan_id, r.lineage): r
        for r in session.execute(
            text("""SELECT plan_id, lineage, id, code, households, buildings, ST_AsGeoJSON(geom, 7) AS geojson
                    FROM grids WHERE plan_id IN (:plan, :against)"""),
            {"plan": plan_id, "against": against},
        )
    }
    moved = session.execute(
        text("""
        WITH now AS (SELECT a.unit_id, g.lineage FROM assignments a JOIN grids g ON g.id = a.grid_id
                     WHERE a.plan_id = :plan),
             before AS (SELECT a.unit_id, g.lineage FROM assignments a JOIN grids g ON g.id = a.grid_id
                        WHERE a.plan_id = :against)
        SELECT now.lineage AS now, before.lineage AS before, u.households, u.buildings
        FROM now FULL JOIN before USING (unit_id) JOIN units u ON u.id = COALESCE(now.unit_id, before.unit_id)
        WHERE now.lineage IS DISTINCT FROM before.lineage"""),
        {"plan": plan_id, "against": against},
    ).all()
    flows: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for row in moved:
        if row.now is not None:
            flows[row.now]["households_in"] += row.households
            flows[row.now]["buildings_in"] += row.buildings
            flows[row.now]["units_in"] += 1
        if row.before is not None:
            flows[row.before]["households_out"] += row.households
            flows[row.before]["buildings_out"] += row.buildings
            flows[row.before]["units_out"] += 1
    lineages = {lineage for _, lineage in grids}
    changes = []
    for lineage in lineages:
        now, before = grids.get((plan_id, lineage)), grids.get((against, lineage))
        flow = flows.get(lineage, {})
        status = "added" if before is None else "removed" if now is None else "changed"
        code_changed = now is not None and before is not None and now.code != before.code
        if status == "changed" and not flow and not code_changed:
            continue
        shown = now if now is not None else before
        assert shown is not None  # a lineage comes from one plan or the other
        changes.append(
            {
                "status": status,
                "grid": now.id if now else None,
                "code": now.code if now else None,
                "previous_code": before.code if before else None,
                "households": now.households if now else 0,
                "previous_households": before.households if before else 0,
                **{
                    k: flow.get(k, 0)
                    for k in (
                        "households_in",
                        "households_out",
                        "buildings_in",
                        "buildings_out",
                        "units_in",
                        "units_out",
                    )
                },
                "geometry": json.loads(shown.geojson),
            }
        )
    changes.sort(key=lambda c: c["code"] or c["previous_code"] or "")
    return {
        "plan": plan_id,
        "against": against,
        "grids": changes,
        "compounds_split": split_compounds(session, plan_id, against),
    }


def split_compounds(session: Session, plan_id: int, against: int) -> list[dict[str, Any]]:
    """Compounds (a community's units of one `compound` name) in more than one grid of the plan but in at most one
    of `against`: the neighbourhood ties the plan would newly cut (DOMAIN.md §2)."""
    rows = session.execute(
        text("""
        WITH now AS (SELECT u.community_id, u.compound, count(DISTINCT a.grid_id) AS grids,
                            array_agg(DISTINCT g.code ORDER BY g.code) AS codes, sum(u.households) AS households,
                            ST_AsGeoJSON(ST_Multi(ST_Union(u.geom)), 7) AS geojson
                     FROM assignments a JOIN units u ON u.id = a.unit_id JOIN grids g ON g.id = a.grid_id
                     WHERE a.plan_id = :plan AND u.compound <> ''
                     GROUP BY u.community_id, u.compound HAVING count(DISTINCT a.grid_id) > 1),
             before AS (SELECT u.community_id, u.compound, count(DISTINCT a.grid_id) AS grids
                        FROM assignments a JOIN units u ON u.id = a.unit_id
                        WHERE a.plan_id = :against AND u.compound <> ''
                        GROUP BY u.community_id, u.compound)
        SELECT now.compound, c.code AS community_code, now.households, now.codes, now.geojson,
               COALESCE(before.grids, 0) AS previous_grids
        FROM now LEFT JOIN before USING (community_id, compound) LEFT JOIN communities c ON c.id = now.community_id
        WHERE COALESCE(before.grids, 0) <= 1
        ORDER BY now.households DESC, now.compound"""),
        {"plan": plan_id, "against": against},
    ).all()
    return [
        {
            "compound": r.compound,
            "community_code": r.community_code,
            "households": int(r.households),
            "grids": list(r.codes),
            "previous_grids": int(r.previous_grids),
            "geometry": json.loads(r.geojson),
        }
        for r in rows
    ]
