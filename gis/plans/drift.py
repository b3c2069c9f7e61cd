"""Drift: grids of a plan outside its household band — the planner's work list after base data changed.

A base-data change refreshes grid totals in every plan (gis/plans/unit_changes.refresh_plans) and stamps the
grids whose totals moved with the time and batch of the change. Here those grids are listed with that stamp and
the batch's date. A plan without a band (both ends NULL) has no drift.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.plans.store import plan_row

__all__ = ["DriftGrid", "band_text", "data_updates", "plan_drift"]


@dataclass(frozen=True)
class DriftGrid:
    """A grid outside its plan's household band, and the data change that last moved its totals (if any)."""

    grid_id: int
    code: str
    name: str | None
    community_code: str | None
    households: int
    min_households: int | None
    max_households: int | None
    side: Literal["below", "above"]
    data_changed_at: datetime | None  # None: no data change moved it (an edit did, or the band)
    data_batch_id: int | None
    data_date: date | None  # the day of that change: the batch's, else the change's own

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["data_changed_at"] = self.data_changed_at.isoformat() if self.data_changed_at else None
        out["data_date"] = self.data_date.isoformat() if self.data_date else None
        return out


def plan_drift(session: Session, plan_id: int) -> list[DriftGrid]:
    """Grids of the plan outside its household band, by code (404 for an unknown plan)."""
    plan = plan_row(session, plan_id)
    low, high = plan.min_households, plan.max_households
    if low is None and high is None:
        return []
    rows = session.execute(
        text("""
        SELECT g.id, g.code, g.name, c.code AS community_code, g.households, g.data_changed_at, g.data_batch_id,
               COALESCE(b.at, g.data_changed_at)::date AS data_date
        FROM grids g
        LEFT JOIN communities c ON c.id = g.community_id
        LEFT JOIN import_batches b ON b.id = g.data_batch_id
        WHERE g.plan_id = :plan
          AND (g.households < CAST(:low AS int) OR g.households > CAST(:high AS int))
        ORDER BY g.code, g.id"""),
        {"plan": plan_id, "low": low, "high": high},
    ).all()
    return [
        DriftGrid(
            grid_id=r.id,
            code=r.code,
            name=r.name,
            community_code=r.community_code,
            households=r.households,
            min_households=low,
            max_households=high,
            side="below" if low is not None and r.households < low else "above",
            data_changed_at=r.data_changed_at,
            data_batch_id=r.data_batch_id,
            data_date=r.data_date,
        )
        for r in rows
    ]


def data_updates(session: Session, plan_id: int) -> dict[str, date]:
    """Grid code → the day of the data change that last moved its totals, for the grids a data change moved."""
    rows = session.execute(
        text("""SELECT g.code, COALESCE(b.at, g.data_changed_at)::date FROM grids g
                LEFT JOIN import_batches b ON b.id = g.data_batch_id
                WHERE g.plan_id = :plan AND g.data_changed_at IS NOT NULL"""),
        {"plan": plan_id},
    ).all()
    return {code: day for code, day in rows}


def band_text(low: int | None, high: int | None) -> str:
    """The band as people write it: 300–500 (an open end: 0–500, 300–∞)."""
    return f"{low if low is not None else 0}–{high if high is not None else '∞'}"
