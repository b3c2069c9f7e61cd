"""The planner's desk: a plan's operation log as the page lists it (issue 17) — each operation with the units and
households it moved between grids (read from its logged inverse, which names every unit it moved) and which entry
is the plan's current position: the newest edit still in effect (the creation when every edit is undone)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.plans.lifecycle import operations

# Entries that are not edits of their own: undo and redo act on edits, creating and publishing move nothing.
NOT_EDITS = frozenset({"create", "undo", "redo", "publish"})


def operation_history(session: Session, plan_id: int) -> list[dict[str, Any]]:
    """The plan's operations in order, with `units_moved`, `households_moved` and `current`."""
    entries = operations(session, plan_id)
    moved = {
        r.seq: (int(r.units), int(r.households))
        for r in session.execute(
            text("""SELECT o.seq, count(u.id) AS units, COALESCE(sum(u.households), 0) AS households
                    FROM plan_operations o
                    CROSS JOIN LATERAL jsonb_object_keys(COALESCE(o.inverse -> 'moves', '{}'::jsonb)) AS k(unit)
                    JOIN units u ON u.id = CAST(k.unit AS bigint)
                    WHERE o.plan_id = :plan GROUP BY o.seq"""),
            {"plan": plan_id},
        )
    }
    live = [e["seq"] for e in entries if e["kind"] not in NOT_EDITS and not e["undone"]]
    created = [e["seq"] for e in entries if e["kind"] == "create"]
    position = live[-1] if live else (created[0] if created else None)
    for entry in entries:
        entry["units_moved"], entry["households_moved"] = moved.get(entry["seq"], (0, 0))
        entry["current"] = entry["seq"] == position
    return entries
