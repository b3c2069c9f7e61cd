"""What follows a change to base data, in the same transaction: units are maintained for new, reshaped and retired
buildings and every plan's grids follow (gis/plans/unit_changes.py); a community whose boundary moved rebuilds its
units with each plan carried over; grids that left their household band are listed; coverage is marked stale for
the categories touched and a recompute is queued (gis/coverage/stale.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.basedata.batches import Batch
from gis.basedata.keyed import Written
from gis.coverage.stale import mark_stale
from gis.plans import unit_changes
from gis.plans.drift import plan_drift
from gis.plans.unit_store import build_community_units
from gis.settings import Settings


@dataclass
class Carried:
    """What followed from a change: units, plans, drift and coverage."""

    notes: list[str] = field(default_factory=list)
    plans: dict[int, list[int]] = field(default_factory=dict)  # plan id → grids whose totals were refreshed
    drift: list[dict[str, Any]] = field(default_factory=list)  # grids outside their plan's band after the change
    coverage_run: int | None = None


def carry(session: Session, settings: Settings, batch: Batch, written: Written) -> Carried:
    """Units, plans, drift and coverage after `written`, in the same transaction."""
    carried = Carried()
    if not written.changed:
        return carried
    if written.layer == "buildings":
        _carry_buildings(session, batch, written, carried)
    if written.layer == "communities" and (written.reshaped or written.inserted):
        _carry_communities(session, written, carried)
    stale, categories = _stale(written)
    if stale:
        carried.coverage_run = mark_stale(
            session, categories=categories, reason=f"batch {batch.id}: {written.layer} changed", actor=batch.actor
        )
    return carried


def _stale(written: Written) -> tuple[bool, set[str] | None]:
    """Whether coverage goes stale, and for which categories (None: all). Household counts and flags only weigh
    the figures, which are summed when asked: distances change only with sites."""
    if written.layer == "buildings":
        return bool(written.inserted or written.reshaped or written.retired_ids), None
    if written.layer == "facilities":
        return bool(written.categories), written.categories
    return False, None


def _carry_buildings(session: Session, batch: Batch, written: Written, carried: Carried) -> None:
    if written.reshaped:  # a moved footprint may stand in another community now (new rows got theirs as inserted)
        session.execute(
            text("UPDATE buildings SET community_id = NULL WHERE id = ANY(:ids)"), {"ids": written.reshaped}
        )
        link_buildings_to_communities(session)
    with_units = _in_communities_with_units(session, written.inserted, placed=False)
    touched: set[int] = set()
    changes = []
    if written.retired:
        changes.append(unit_changes.release_buildings(session, written.retired))
    if with_units:
        changes.append(unit_changes.place_buildings(session, with_units))
    reshaped = _in_communities_with_units(session, written.reshaped, placed=True)
    if reshaped:
        changes.append(unit_changes.reshape_buildings(session, reshaped))
    for change in changes:
        touched |= change.units
        carried.notes += change.notes
    plain = [i for i in written.updated if i not in set(written.reshaped)]
    if plain:
        units = set(
            session.execute(
                text("""SELECT DISTINCT b.unit_id FROM unnest(CAST(:ids AS bigint[])) AS i(id)
                        JOIN buildings b ON b.id = i.id WHERE b.unit_id IS NOT NULL"""),
                {"ids": plain},
            ).scalars()
        )
        unit_changes.refresh_units(session, units)
        touched |= units
    if touched:
        carried.plans = unit_changes.refresh_plans(session, touched, batch_id=batch.id)
        for plan_id, grids in carried.plans.items():
            touched_grids = set(grids)
            carried.drift += [
                {"plan_id": plan_id, **d.to_dict()} for d in plan_drift(session, plan_id) if d.grid_id in touched_grids
            ]
    added = sum(c.added for c in changes)
    if added or written.retired:
        carried.notes.append(
            f"units: {added} added, {sum(c.merged for c in changes)} merged, {sum(c.reshaped for c in changes)} "
            f"re-cut; grids refreshed in {len(carried.plans)} plans"
        )


def link_buildings_to_communities(session: Session) -> None:
    """Each building without a community belongs to the community holding its representative point (new buildings,
    and reshaped ones). Driven from the buildings without one: the communities' spatial index answers each."""
    # One index probe per building (gridmap_community_of, migration 0008), never a join the planner may turn into
    # communities × buildings point-on-surface tests: on a fresh 200,000-building table it chose that and took minutes.
    session.execute(
        text("""
        UPDATE buildings b SET community_id = m.community
        FROM (SELECT x.id, gridmap_community_of(x.footprint) AS community
              FROM buildings x WHERE x.community_id IS NULL) m
        WHERE b.id = m.id AND m.community IS NOT NULL""")
    )


def _carry_communities(session: Session, written: Written, carried: Carried) -> None:
    """A community whose boundary moved (or a new one) takes the buildings now inside it; the units of every
    community that changed rebuild, carrying each plan's assignments over by overlap (gis/plans/unit_store)."""
    changed = written.reshaped + written.inserted
    moved = session.execute(
        text("""WITH home AS (
                    SELECT b.id, b.community_id AS old, gridmap_community_of(b.footprint) AS new
                    FROM buildings b, communities r
                    WHERE r.id = ANY(:ids) AND (b.community_id = r.id OR b.footprint && r.boundary))
                UPDATE buildings b SET community_id = h.new, unit_id = NULL
                FROM home h WHERE b.id = h.id AND h.old IS DISTINCT FROM h.new RETURNING h.old, h.new"""),
        {"ids": changed},
    ).all()
    affected = set(changed) | {c for row in moved for c in row if c is not None}
    with_units = session.execute(
        text("SELECT DISTINCT community_id FROM units WHERE community_id = ANY(:ids)"), {"ids": sorted(affected)}
    ).scalars()
    rebuild = sorted(with_units)
    if moved:
        carried.notes.append(f"{len(moved)} buildings now lie in another community")
    for community_id in rebuild:
        built = build_community_units(session, community_id)
        grids = [f"{g.code} ({g.changed_share:.0%})" for plan in built.moved.values() for g in plan]
        carried.notes.append(
            f"community {built.community}: units rebuilt ({built.units}), plans carried over"
            + (f"; grids whose outline moved: {', '.join(grids)}" if grids else "")
        )


def _in_communities_with_units(session: Session, ids: list[int], *, placed: bool) -> list[int]:
    """The buildings among `ids` whose community has units (elsewhere units are built later, whole); `placed`:
    those already in a unit (reshaped), else those in none yet (new)."""
    if not ids:
        return []
    return list(
        session.execute(
            text("""SELECT b.id FROM unnest(CAST(:ids AS bigint[])) AS i(id) JOIN buildings b ON b.id = i.id
                    WHERE (b.unit_id IS NOT NULL) = :placed
                    AND EXISTS (SELECT 1 FROM units u WHERE u.community_id = b.community_id) ORDER BY b.id"""),
            {"ids": ids, "placed": placed},
        ).scalars()
    )
