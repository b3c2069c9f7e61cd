"""Validating a plan: the geometric checks of gis/plans/layout_checks.py on its grids, plus what only units can tell
(units left out of every grid, buildings outside any unit).

On the published plan, a grid out of the household band is a warning, not an error — "after the data update of
DATE" (gis/plans/drift.py) when a base-data change pushed it out: the plan stays valid and current, and the grid is
on the planner's list. Drafts keep the band as an error (publishing refuses them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.geo.frames import metric_frame
from gis.plans.drift import band_text, data_updates
from gis.plans.layout_checks import Finding, validate_layout
from gis.plans.store import plan_row

UNIT_DECIDED = {"gap", "outside_community"}
BAND = {"households_below", "households_above"}


@dataclass(frozen=True)
class PlanValidation:
    plan_id: int
    errors: list[dict[str, Any]]
    warnings: list[dict[str, Any]]

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, Any]:
        return {"plan": self.plan_id, "valid": self.valid, "errors": self.errors, "warnings": self.warnings}


def validate_plan(session: Session, plan_id: int) -> PlanValidation:
    plan = plan_row(session, plan_id)
    epsg = dataset.metric_epsg(session)
    grids = metric_frame(
        session,
        """SELECT g.code, c.code AS community_code, g.households, ST_Transform(g.geom, :epsg) AS geom
                FROM grids g LEFT JOIN communities c ON c.id = g.community_id
                WHERE g.plan_id = :plan ORDER BY g.code""",
        {
            "plan": plan_id,
        },
    )
    communities = metric_frame(
        session,
        """SELECT c.code, ST_Transform(c.boundary, :epsg) AS geom FROM communities c
                WHERE EXISTS (SELECT 1 FROM units u WHERE u.community_id = c.id) ORDER BY c.code""",
    )
    findings = validate_layout(
        grids, communities, min_households=plan.min_households, max_households=plan.max_households
    )
    # Units tile each community, so a plan's gaps are exactly its units in no grid, and a grid can only
    # reach beyond its community by holding units of another (merged across communities: a warning).
    # The geometric gap/outside checks would misread such merged grids, so units answer those.
    findings = [f for f in findings if f.type not in UNIT_DECIDED]
    findings += _unit_findings(session, plan_id, epsg)
    if plan.status == "published":
        findings = _drift_as_warnings(session, plan, grids, findings)
    as_json = [_to_json(f, epsg) for f in findings]
    return PlanValidation(
        plan_id,
        [f for f in as_json if f["severity"] == "error"],
        [f for f in as_json if f["severity"] == "warning"],
    )


def _drift_as_warnings(session: Session, plan: Any, grids: gpd.GeoDataFrame, findings: list[Finding]) -> list[Finding]:
    """Band findings of the published plan become warnings: the plan is current and stays valid (it was published
    within its band, or imported as drawn). A grid that a data change moved names the day of that change."""
    updated = data_updates(session, plan.id)
    households = dict(zip(grids["code"].astype(str), grids["households"], strict=True))
    band = band_text(plan.min_households, plan.max_households)
    out = []
    for finding in findings:
        code = finding.grids[0] if finding.type in BAND and len(finding.grids) == 1 else None
        if code is None:
            out.append(finding)
        elif code in updated:
            message = (
                f"grid {code} has {households[code]} households, outside the band {band} "
                f"after the data update of {updated[code]:%Y-%m-%d}"
            )
            out.append(Finding("households_drift", "warning", finding.grids, message, finding.geometry))
        else:
            message = f"grid {code} has {households[code]} households, outside the band {band}"
            out.append(Finding(finding.type, "warning", finding.grids, message, finding.geometry))
    return out


def _unit_findings(session: Session, plan_id: int, epsg: int) -> list[Finding]:
    findings = []
    left_out = session.execute(
        text("""SELECT count(*), ST_AsBinary(ST_Transform(ST_Union(u.geom), :epsg)) FROM units u
                WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.plan_id = :plan AND a.unit_id = u.id)"""),
        {"plan": plan_id, "epsg": epsg},
    ).one()
    if left_out[0]:
        findings.append(
            Finding("gap", "error", (), f"{left_out[0]} units belong to no grid", shapely.from_wkb(left_out[1]))
        )
    homeless = session.execute(
        text("""SELECT count(*), ST_AsBinary(ST_Transform(ST_Collect(b.footprint), :epsg)) FROM buildings b
                WHERE b.unit_id IS NULL AND EXISTS (SELECT 1 FROM units u WHERE u.community_id = b.community_id)"""),
        {"epsg": epsg},
    ).one()
    if homeless[0]:
        findings.append(
            Finding(
                "building_not_in_one_grid",
                "error",
                (),
                f"{homeless[0]} buildings lie in no unit (rebuild the community's units)",
                shapely.from_wkb(homeless[1]),
            )
        )
    return findings


def _to_json(finding: Finding, epsg: int) -> dict[str, Any]:
    geometry = None
    if finding.geometry is not None and not finding.geometry.is_empty:
        geometry = shapely.geometry.mapping(gpd.GeoSeries([finding.geometry], crs=epsg).to_crs(STORAGE_CRS).iloc[0])
    return {
        "type": finding.type,
        "severity": finding.severity,
        "grids": list(finding.grids),
        "message": finding.message,
        "geometry": geometry,
    }
