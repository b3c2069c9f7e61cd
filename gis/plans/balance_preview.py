"""The planner's desk: a rebalance shown before it is made (issue 17).

`preview_balance` computes what `POST /api/plans/{id}/balance` would do — the proposed grids with their households,
buildings and compactness, the grids that would go, the compounds (小区) that would end up in more than one grid —
without writing anything: no row, no grid id taken. The answer carries the proposal's token; the edit sent with it
(gis.plans.commands.Balance.token) gives exactly these grids or is refused with 409 (the plan or its data changed
in between), so Apply never makes something other than what the planner saw.
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import Conflict
from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.plans.assignment import _union
from gis.plans.commands import Balance
from gis.plans.edits import _statement_timeout, propose_balance
from gis.plans.layout_checks import polsby_popper
from gis.plans.store import plan_row


def preview_balance(
    session: Session, plan_id: int, command: Balance, *, timeout_s: float | None = None
) -> dict[str, Any]:
    """The rebalance `command` would make on the draft as it stands, as a GeoJSON proposal; nothing is written."""
    plan = plan_row(session, plan_id)
    if plan.status != "draft":
        raise Conflict(
            f"plan {plan_id} is {plan.status}: only drafts can be edited; create a draft from it", where="plan"
        )
    with _statement_timeout(session, timeout_s, command.kind):
        proposal = propose_balance(
            session,
            plan_id,
            community=command.community,
            grid_ids=list(command.grids) if command.grids is not None else None,
            min_households=command.min_households,
            max_households=command.max_households,
            seed=command.seed,
            weights=dict(command.weights) if command.weights else None,
            months=command.months,
        )
        features = _proposed_grids(session, plan_id, proposal.units, proposal.parts, proposal.part_grid)
        compounds = _split_compounds(session, proposal.units, proposal.parts)
    return {
        "plan": plan_id,
        "version": plan.version,
        "token": proposal.token,
        "band": {"min_households": proposal.band[0], "max_households": proposal.band[1]},
        **proposal.details,
        "removed": proposal.spare,
        "grids": {"type": "FeatureCollection", "features": features},
        "split_compounds": compounds,
    }


def _proposed_grids(
    session: Session, plan_id: int, units: Any, parts: np.ndarray, part_grid: dict[int, int]
) -> list[dict[str, Any]]:
    """One feature per proposed grid: its polygon (the units' coverage union, as grids are derived), totals and
    Polsby–Popper compactness in the dataset's metric CRS; `grid` is the existing grid it keeps (None: new)."""
    rows = session.execute(
        text("""SELECT x.part, array_agg(ST_AsBinary(u.geom)) AS geoms, array_agg(u.community_id) AS communities,
                       sum(u.households) AS households, sum(u.buildings) AS buildings, count(*) AS units
                FROM unnest(CAST(:units AS bigint[]), CAST(:parts AS int[])) AS x(unit_id, part)
                JOIN units u ON u.id = x.unit_id GROUP BY x.part ORDER BY x.part"""),
        {"units": [u.id for u in units], "parts": [int(p) for p in parts]},
    ).all()
    kept = list(part_grid.values())
    codes: dict[int, str] = dict(
        session.execute(
            text("SELECT id, code FROM grids WHERE plan_id = :plan AND id = ANY(:ids)"), {"plan": plan_id, "ids": kept}
        ).all()
    )
    before: dict[int, set[int]] = {}
    for unit in units:
        before.setdefault(unit.grid_id, set()).add(unit.id)
    members: dict[int, set[int]] = {}
    for unit, part in zip(units, parts.tolist(), strict=True):
        members.setdefault(part, set()).add(unit.id)
    polygons = [_union(list(shapely.from_wkb(r.geoms)), list(r.communities)) for r in rows]
    metric = gpd.GeoSeries(polygons, crs=STORAGE_CRS).to_crs(dataset.metric_epsg(session))
    compactness = polsby_popper(metric.to_numpy())
    features = []
    for row, polygon, score in zip(rows, polygons, compactness.tolist(), strict=True):
        grid = part_grid.get(row.part)
        features.append(
            {
                "type": "Feature",
                "id": int(row.part),
                "geometry": shapely.geometry.mapping(polygon),
                "properties": {
                    "part": int(row.part),
                    "grid": grid,
                    "code": codes.get(grid) if grid is not None else None,
                    "households": int(row.households),
                    "buildings": int(row.buildings),
                    "units": int(row.units),
                    "compactness": None if np.isnan(score) else round(float(score), 3),
                    "changed": grid is None or members[row.part] != before.get(grid, set()),
                },
            }
        )
    return features


def _split_compounds(session: Session, units: Any, parts: np.ndarray) -> list[dict[str, Any]]:
    """Compounds whose units the proposal puts in more than one grid, with how many grids held them before."""
    spread: dict[tuple[int, str], dict[str, Any]] = {}
    for unit, part in zip(units, parts.tolist(), strict=True):
        if not unit.compound:
            continue
        entry = spread.setdefault(
            (unit.community_id, unit.compound), {"parts": set(), "grids_before": set(), "households": 0}
        )
        entry["parts"].add(part)
        entry["grids_before"].add(unit.grid_id)
        entry["households"] += unit.households
    communities: dict[int, str] = (
        dict(session.execute(text("SELECT id, code FROM communities")).all()) if spread else {}
    )
    return sorted(
        (
            {
                "compound": compound,
                "community_code": communities.get(community),
                "households": entry["households"],
                "grids": len(entry["parts"]),
                "grids_before": len(entry["grids_before"]),
            }
            for (community, compound), entry in spread.items()
            if len(entry["parts"]) > 1
        ),
        key=lambda c: (-c["households"], c["compound"]),
    )
