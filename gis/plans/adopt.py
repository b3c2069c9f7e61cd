"""An imported grid layer (free-drawn polygons) becomes a plan of units, and the current plan.

The layer is first checked as drawn — its own gaps, overlaps and buildings cut by its boundaries are
reported — then every unit goes to the grid it overlaps most, and the grids' polygons are derived from
their units, so the plan has none of those faults. Finally it is published through gis.plans.lifecycle.publish,
the one way a plan becomes current (retiring the published one in the same transaction).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.orm import Session

from gis.geo.frames import metric_frame
from gis.plans.assignment import assign_by_overlap
from gis.plans.layout_checks import validate_layout
from gis.plans.lifecycle import ensure_band, publish
from gis.plans.unit_store import ensure_units

SHOWN_CODES = 8


def adopt_grid_layer(session: Session, plan_id: int) -> tuple[list[str], list[dict[str, Any]]]:
    """Build missing units, check the layer as drawn, assign units by overlap, publish the plan.
    Returns (notes, findings): the import reports the layer's faults as drawn, it is not refused for them."""
    notes = [
        f"built units for community {c.community}: {c.units} units ({c.open_units} open space)"
        for c in ensure_units(session)
    ]
    findings = _check_as_drawn(session, plan_id)
    counts = Counter(f["type"] for f in findings)
    for kind, n in sorted(counts.items()):
        codes = sorted({c for f in findings if f["type"] == kind for c in f["grids"]})
        shown = ", ".join(codes[:SHOWN_CODES]) + (" …" if len(codes) > SHOWN_CODES else "")
        notes.append(f"the layer as drawn has {n} × {kind}" + (f" (grids {shown})" if codes else ""))
    notes += assign_by_overlap(session, plan_id)
    ensure_band(session, plan_id)  # every plan has a band: out-of-band grids of the import are then warnings
    publish(session, plan_id, version=None, actor="import", imported=True)
    return notes, findings


def _check_as_drawn(session: Session, plan_id: int) -> list[dict[str, Any]]:
    grids = metric_frame(
        session,
        """SELECT g.code, c.code AS community_code, 0 AS households, ST_Transform(g.geom, :epsg) AS geom
                FROM grids g LEFT JOIN communities c ON c.id = g.community_id WHERE g.plan_id = :plan""",
        {
            "plan": plan_id,
        },
    )
    communities = metric_frame(session, "SELECT code, ST_Transform(boundary, :epsg) AS geom FROM communities")
    buildings = metric_frame(
        session, "SELECT id, ST_Transform(footprint, :epsg) AS geom FROM buildings", index_col="id"
    )
    findings = validate_layout(grids, communities, buildings=buildings)
    return [
        {"type": f.type, "severity": f.severity, "grids": list(f.grids), "message": f.message}
        for f in findings
        if f.type not in ("households_below", "households_above")
    ]
