"""The source of truth of a plan, `assignment(plan, unit) → grid`, and the one way to change it.

Every edit (merge, split, redraw, reassign, balance, renumber) is a `Change`: create grids, move units,
delete the grids left empty, recode grids. Applying a change returns its exact inverse, which is what
undo applies. A grid's polygon and statistics are derived from its units and refreshed after each change.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, cast

import shapely
from sqlalchemy import CursorResult, text
from sqlalchemy.orm import Session

from gis.errors import InvalidInput
from gis.plans.store import plan_row


@dataclass(frozen=True)
class GridSpec:
    """What it takes to (re)create a grid row exactly."""

    id: int
    code: str
    name: str | None
    community_id: int | None
    lineage: str


@dataclass
class Change:
    create: list[GridSpec] = field(default_factory=list)
    moves: dict[int, int] = field(default_factory=dict)  # unit id → grid id
    delete: list[int] = field(default_factory=list)  # grids that end empty
    recode: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # grid id → (code, name)
    band: tuple[int | None, int | None] | None = None  # the plan's household band, when the edit sets it

    def is_empty(self) -> bool:
        return not (self.create or self.moves or self.delete or self.recode or self.band)

    def to_json(self) -> dict[str, Any]:
        return {
            "create": [asdict(g) for g in self.create],
            "moves": {str(u): g for u, g in self.moves.items()},
            "delete": list(self.delete),
            "recode": {str(g): list(v) for g, v in self.recode.items()},
            "band": list(self.band) if self.band else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Change:
        return cls(
            create=[GridSpec(**g) for g in data["create"]],
            moves={int(u): int(g) for u, g in data["moves"].items()},
            delete=[int(g) for g in data["delete"]],
            recode={int(g): (v[0], v[1]) for g, v in data["recode"].items()},
            band=tuple(data["band"]) if data.get("band") else None,
        )


def new_grid_ids(session: Session, n: int) -> list[int]:
    return list(session.execute(text("SELECT nextval('grids_id_seq') FROM generate_series(1, :n)"), {"n": n}).scalars())


def grid_specs(session: Session, grid_ids: list[int]) -> list[GridSpec]:
    rows = session.execute(
        text("SELECT id, code, name, community_id, lineage FROM grids WHERE id = ANY(:ids) ORDER BY id"),
        {"ids": grid_ids},
    ).all()
    return [GridSpec(*row) for row in rows]


def apply_change(session: Session, plan_id: int, change: Change) -> Change:
    """Apply `change` to the plan and return the change that undoes it."""
    inverse = Change(delete=[g.id for g in change.create])
    if change.delete:
        inverse.create = grid_specs(session, change.delete)
    if change.recode:
        inverse.recode = {
            gid: (code, name)
            for gid, code, name in session.execute(
                text("SELECT id, code, name FROM grids WHERE id = ANY(:ids)"), {"ids": list(change.recode)}
            ).all()
        }
    if change.band:
        plan = plan_row(session, plan_id)
        inverse.band = (plan.min_households, plan.max_households)
        session.execute(
            text("UPDATE grid_plans SET min_households = :low, max_households = :high WHERE id = :plan"),
            {"plan": plan_id, "low": change.band[0], "high": change.band[1]},
        )
    _create(session, plan_id, change.create)
    if change.moves:
        inverse.moves = _move(session, plan_id, change.moves)
    _delete(session, plan_id, change.delete)
    _recode(session, change.recode)
    touched = (set(change.moves.values()) | set(inverse.moves.values()) | {g.id for g in change.create}) - set(
        change.delete
    )
    refresh_grids(session, plan_id, sorted(touched))
    return inverse


def _create(session: Session, plan_id: int, grids: list[GridSpec]) -> None:
    for grid in grids:
        # The polygon is a placeholder until the grid's units arrive and refresh_grids derives it.
        session.execute(
            text("""INSERT INTO grids (id, plan_id, lineage, code, name, community_id, geom)
                    VALUES (:id, :plan, :lineage, :code, :name, :community, 'SRID=4326;MULTIPOLYGON EMPTY')"""),
            asdict(grid) | {"plan": plan_id, "community": grid.community_id},
        )


def _move(session: Session, plan_id: int, moves: dict[int, int]) -> dict[int, int]:
    """Move units; returns each moved unit's previous grid."""
    previous: dict[int, int] = dict(
        session.execute(
            text("""UPDATE assignments a SET grid_id = m.grid
                    FROM unnest(CAST(:units AS bigint[]), CAST(:grids AS int[])) AS m(unit, grid),
                         assignments old
                    WHERE a.plan_id = :plan AND a.unit_id = m.unit
                      AND old.plan_id = a.plan_id AND old.unit_id = a.unit_id
                    RETURNING a.unit_id, old.grid_id"""),
            {"plan": plan_id, "units": list(moves), "grids": list(moves.values())},
        ).all()
    )
    if len(previous) != len(moves):
        missing = sorted(set(moves) - set(previous))[:10]
        raise InvalidInput(f"units {missing} are not part of plan {plan_id}", where="units")
    return previous


def _delete(session: Session, plan_id: int, grid_ids: list[int]) -> None:
    if not grid_ids:
        return
    still_used = (
        session.execute(
            text("SELECT DISTINCT grid_id FROM assignments WHERE plan_id = :plan AND grid_id = ANY(:ids)"),
            {"plan": plan_id, "ids": grid_ids},
        )
        .scalars()
        .all()
    )
    if still_used:
        raise InvalidInput(f"grids {sorted(still_used)} still hold units and cannot be removed", where="grids")
    session.execute(
        text("DELETE FROM grids WHERE id = ANY(:ids) AND plan_id = :plan"), {"ids": grid_ids, "plan": plan_id}
    )


def _recode(session: Session, recode: dict[int, tuple[str, str | None]]) -> None:
    if not recode:
        return
    ids = list(recode)
    # Two steps, so codes can swap between grids without tripping the per-plan unique constraint.
    session.execute(text("UPDATE grids SET code = '~' || id WHERE id = ANY(:ids)"), {"ids": ids})
    session.execute(
        text("""UPDATE grids g SET code = m.code, name = m.name
                FROM unnest(CAST(:ids AS int[]), CAST(:codes AS text[]), CAST(:names AS text[])) AS m(id, code, name)
                WHERE g.id = m.id"""),
        {"ids": ids, "codes": [c for c, _ in recode.values()], "names": [n for _, n in recode.values()]},
    )


def refresh_grids(session: Session, plan_id: int, grid_ids: list[int] | None = None) -> None:
    """Derive polygon, community and statistics of grids from their units (all grids of the plan if None).

    Within a community, polygons are a coverage union of the units (GEOS CoverageUnion via shapely),
    which keeps shared edges exactly where they were; an overlay union (ST_Union) may move them by
    rounding, and then neighbouring grids no longer form a valid coverage. Each community is tessellated
    on its own, so the two sides of a community boundary need not share vertices: the pieces of a grid
    merged across communities are joined with an overlay union.
    """
    rows = session.execute(
        text("""
        SELECT a.grid_id, array_agg(ST_AsBinary(u.geom)) AS parts, array_agg(u.community_id) AS communities,
               sum(u.households) AS households,
               sum(u.buildings) AS buildings, sum(u.population) AS population, sum(u.area_m2) AS area_m2,
               (array_agg(u.community_id ORDER BY u.area_m2 DESC))[1] AS community_id
        FROM assignments a JOIN units u ON u.id = a.unit_id
        WHERE a.plan_id = :plan AND (CAST(:ids AS int[]) IS NULL OR a.grid_id = ANY(:ids))
        GROUP BY a.grid_id"""),
        {"plan": plan_id, "ids": grid_ids},
    ).all()
    if grid_ids is not None:
        _clear_empty(session, plan_id, sorted(set(grid_ids) - {r.grid_id for r in rows}))
    if not rows:
        return
    unions = [_union(shapely.from_wkb(r.parts), r.communities) for r in rows]
    polygons = [g if g.geom_type == "MultiPolygon" else shapely.multipolygons(shapely.get_parts(g)) for g in unions]
    session.execute(
        text("""
        UPDATE grids g SET geom = ST_GeomFromWKB(s.wkb, 4326), households = s.households, buildings = s.buildings,
                           population = s.population, area_m2 = s.area_m2, community_id = s.community_id
        FROM unnest(CAST(:ids AS int[]), CAST(:wkb AS bytea[]), CAST(:households AS int[]),
                    CAST(:buildings AS int[]), CAST(:population AS int[]), CAST(:area AS float8[]),
                    CAST(:community AS int[]))
             AS s(id, wkb, households, buildings, population, area_m2, community_id)
        WHERE g.id = s.id"""),
        {
            "ids": [r.grid_id for r in rows],
            "wkb": [shapely.to_wkb(p) for p in polygons],
            "households": [int(r.households) for r in rows],
            "buildings": [int(r.buildings) for r in rows],
            "population": [int(r.population) for r in rows],
            "area": [float(r.area_m2) for r in rows],
            "community": [r.community_id for r in rows],
        },
    )


def _clear_empty(session: Session, plan_id: int, grid_ids: list[int]) -> None:
    """Grids asked for that hold no unit (any more): an empty outline and zero totals, not a stale cache."""
    if not grid_ids:
        return
    session.execute(
        text("""UPDATE grids SET geom = 'SRID=4326;MULTIPOLYGON EMPTY', households = 0, buildings = 0,
                                 population = 0, area_m2 = 0
                WHERE plan_id = :plan AND id = ANY(:ids)"""),
        {"plan": plan_id, "ids": grid_ids},
    )


def _union(parts: list[shapely.Geometry], communities: list[int]) -> shapely.Geometry:
    by_community: dict[int, list[shapely.Geometry]] = {}
    for part, community in zip(parts, communities, strict=True):
        by_community.setdefault(community, []).append(part)
    pieces = [shapely.coverage_union_all(group) for group in by_community.values()]
    return pieces[0] if len(pieces) == 1 else shapely.union_all(pieces)


def units_of_grids(session: Session, plan_id: int, grid_ids: list[int]) -> dict[int, int]:
    """unit id → grid id for the units of the given grids."""
    return dict(
        session.execute(
            text("SELECT unit_id, grid_id FROM assignments WHERE plan_id = :plan AND grid_id = ANY(:ids)"),
            {"plan": plan_id, "ids": grid_ids},
        ).all()
    )


def copy_assignments(session: Session, source_plan: int, target_plan: int) -> None:
    """Copy grids (same lineage) and assignments of one plan into another (a new draft)."""
    session.execute(
        text("""
        CREATE TEMP TABLE grid_copy ON COMMIT DROP AS
        SELECT g.id AS old_id, nextval('grids_id_seq')::int AS new_id FROM grids g WHERE g.plan_id = :source"""),
        {"source": source_plan},
    )
    session.execute(
        text("""
        INSERT INTO grids (id, plan_id, lineage, code, name, community_id, households, buildings, population,
                           area_m2, geom)
        SELECT c.new_id, :target, g.lineage, g.code, g.name, g.community_id, g.households, g.buildings,
               g.population, g.area_m2, g.geom
        FROM grids g JOIN grid_copy c ON c.old_id = g.id"""),
        {"target": target_plan},
    )
    session.execute(
        text("""
        INSERT INTO assignments (plan_id, unit_id, grid_id)
        SELECT :target, a.unit_id, c.new_id FROM assignments a JOIN grid_copy c ON c.old_id = a.grid_id
        WHERE a.plan_id = :source"""),
        {"source": source_plan, "target": target_plan},
    )
    session.execute(text("DROP TABLE grid_copy"))


def assign_by_overlap(session: Session, plan_id: int) -> list[str]:
    """Give every unit to the plan's grid it overlaps most (imported, free-drawn layers); returns notes.

    Units no grid overlaps (gaps in the layer) go to the nearest grid of their community. Grids that
    receive no unit (slivers) are removed and named in the notes.
    """
    session.execute(
        text("""
        INSERT INTO assignments (plan_id, unit_id, grid_id)
        SELECT DISTINCT ON (u.id) :plan, u.id, g.id
        FROM units u JOIN grids g ON g.plan_id = :plan AND ST_Intersects(g.geom, u.geom)
        ORDER BY u.id, ST_Area(ST_Intersection(g.geom, u.geom)) DESC, g.id"""),
        {"plan": plan_id},
    )
    gap_units = cast(
        CursorResult[Any],
        session.execute(
            text("""
        INSERT INTO assignments (plan_id, unit_id, grid_id)
        SELECT :plan, u.id, (SELECT g.id FROM grids g WHERE g.plan_id = :plan
                             ORDER BY (g.community_id IS DISTINCT FROM u.community_id), g.geom <-> u.geom LIMIT 1)
        FROM units u
        WHERE NOT EXISTS (SELECT 1 FROM assignments a WHERE a.plan_id = :plan AND a.unit_id = u.id)"""),
            {"plan": plan_id},
        ),
    ).rowcount
    empty = (
        session.execute(
            text("""DELETE FROM grids g WHERE g.plan_id = :plan
                AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.grid_id = g.id) RETURNING code"""),
            {"plan": plan_id},
        )
        .scalars()
        .all()
    )
    refresh_grids(session, plan_id)
    notes = []
    if gap_units:
        notes.append(f"{gap_units} units lay in gaps of the layer and went to the nearest grid")
    if empty:
        notes.append(f"grids that hold no unit were dropped: {', '.join(sorted(empty))}")
    return notes
