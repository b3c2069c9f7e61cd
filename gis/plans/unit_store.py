"""Units in PostGIS: build them once per community (at import or on demand) and store them with their adjacency.

The geometry work is gis/plans/units.py (community_units: one community, plain data in and out); this module reads
the communities' boundaries, buildings and streets in the dataset's metric CRS, spreads the communities over a batch
job (gis/batch.py: worker processes or a dask cluster; small jobs in process), and writes units, unit adjacency and
each building's unit in the caller's transaction.

A rebuild carries every plan over (DESIGN.md §4): before the old units go, each plan's grid shapes in the community
are taken from them; each new unit then joins, in each plan, the grid it overlaps most (no overlap: the nearest
grid of that plan), so no plan is left with a unit in no grid, and the grids whose outline moved by more than a
share of their area are reported. Day-to-day changes of single buildings are gis/plans/unit_changes.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import shapely
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis import batch
from gis.db.engine import copy_rows
from gis.errors import NotFound
from gis.geo import dataset
from gis.geo.frames import metric_frame
from gis.plans.unit_changes import refresh_plan_grids
from gis.plans.units import BuiltUnits, CommunityGround, community_units

MOVED_SHARE = 0.05  # a grid whose outline moved by more than this share of its area is reported after a rebuild


@dataclass(frozen=True)
class MovedGrid:
    """A grid whose outline in the community changed by a rebuild: the area that changed hands, as a share."""

    grid_id: int
    code: str
    area_before_m2: float
    area_after_m2: float
    changed_share: float  # area of the symmetric difference of the old and new outline ÷ the old area


@dataclass(frozen=True)
class CommunityUnits:
    community: str
    units: int
    open_units: int
    buildings: int
    notes: tuple[str, ...]
    moved: dict[int, tuple[MovedGrid, ...]] = field(default_factory=dict)  # plan id → grids that moved, by code


def communities_without_units(session: Session) -> list[int]:
    return list(
        session.execute(
            text(
                "SELECT c.id FROM communities c WHERE NOT EXISTS (SELECT 1 FROM units u WHERE u.community_id = c.id) "
                "ORDER BY c.code"
            )
        ).scalars()
    )


INLINE_BELOW = 10_000  # buildings: a smaller job (one community, the demo) runs here, not on a cluster started for it


def ensure_units(session: Session, *, where: str | None = None) -> list[CommunityUnits]:
    """Build units for every community that has none yet (a whole city: in parallel, see build_units_for)."""
    return build_units_for(session, communities_without_units(session), where=where)


def build_community_units(session: Session, community_id: int, *, moved_share: float = MOVED_SHARE) -> CommunityUnits:
    """Replace the units of one community (in this process); see build_units_for."""
    return build_units_for(session, [community_id], moved_share=moved_share, where=batch.INLINE)[0]


def build_units_for(
    session: Session, community_ids: Sequence[int], *, moved_share: float = MOVED_SHARE, where: str | None = None
) -> list[CommunityUnits]:
    """Replace the units of these communities, carrying every plan's assignments over by largest overlap with its
    old grid shapes; `moved`: per plan, the grids whose outline changed by more than `moved_share` of their area.
    Plans with no grid in a community are left alone (and a first build has no plan to carry).

    The tessellation of each community runs as one part of a batch job (gis/batch.py: `where`, else the settings;
    a job under INLINE_BELOW buildings in this process unless `where` says otherwise); everything read and written
    stays in the caller's transaction, written community by community in the order given, so the same city gives
    the same units and ids wherever the parts ran."""
    epsg = dataset.metric_epsg(session)
    grounds, codes = _grounds(session, list(community_ids), epsg)
    if where is None and sum(len(g.buildings) for g in grounds) < INLINE_BELOW:
        where = batch.INLINE
    # Largest first, so that the job does not end waiting on one big community started last.
    by_size = sorted(range(len(grounds)), key=lambda k: (-len(grounds[k].buildings), k))
    parts = batch.map_parts(community_units, [grounds[k] for k in by_size], where=where)
    built = dict(zip(by_size, parts, strict=True))
    return _store(session, grounds, [built[k] for k in range(len(grounds))], codes, epsg, moved_share)


def _grounds(session: Session, community_ids: list[int], epsg: int) -> tuple[list[CommunityGround], list[str]]:
    """Boundary, buildings and streets of each community (metric), in the order given; and their codes."""
    areas = {
        row.id: row
        for row in session.execute(
            text("""SELECT id, code, ST_AsBinary(ST_Transform(boundary, :epsg)) AS boundary FROM communities
                    WHERE id = ANY(:ids)"""),
            {"epsg": epsg, "ids": community_ids},
        )
    }
    missing = [c for c in community_ids if c not in areas]
    if missing:
        raise NotFound(f"no community with id {missing[0]}", where="community")
    buildings = metric_frame(
        session,
        """SELECT id, community_id, compound, households, COALESCE(population_resident, 0) AS population,
                  ST_Transform(footprint, :epsg) AS geom
           FROM buildings WHERE community_id = ANY(:ids) ORDER BY id""",
        {"ids": community_ids},
        index_col="id",
    )
    streets = metric_frame(
        session,
        """SELECT c.id AS community_id, ST_Transform(e.geom, :epsg) AS geom FROM network_edges e
           JOIN communities c ON ST_Intersects(e.geom, c.boundary) WHERE c.id = ANY(:ids) ORDER BY c.id, e.id""",
        {"ids": community_ids},
    )
    building_rows = buildings.groupby("community_id").indices
    street_rows = streets.groupby("community_id").indices
    none = np.empty(0, dtype=np.int64)
    grounds = [
        CommunityGround(
            community_id=c,
            boundary=shapely.from_wkb(areas[c].boundary),
            buildings=buildings.iloc[building_rows.get(c, none)].drop(columns="community_id"),
            streets=streets.geometry.iloc[street_rows.get(c, none)].reset_index(drop=True),
        )
        for c in community_ids
    ]
    return grounds, [str(areas[c].code) for c in community_ids]


def _store(
    session: Session,
    grounds: list[CommunityGround],
    built: list[BuiltUnits],
    codes: list[str],
    epsg: int,
    moved_share: float,
) -> list[CommunityUnits]:
    """Write the communities' new units in place of their old ones, and carry every plan over. Units, links and
    adjacency of all of them go in one statement each: a city's buildings linked by one UPDATE (its row trigger
    and index work in one pass), not one per community."""
    if not grounds:
        return []
    community_ids = [g.community_id for g in grounds]
    before = [_grid_shapes(session, community_id, epsg) for community_id in community_ids]
    session.execute(
        text("UPDATE buildings SET unit_id = NULL WHERE community_id = ANY(:ids) AND unit_id IS NOT NULL"),
        {"ids": community_ids},
    )
    session.execute(text("DELETE FROM units WHERE community_id = ANY(:ids)"), {"ids": community_ids})
    sizes = [len(b.units) for b in built]
    every = _write_units(
        session,
        np.repeat(community_ids, sizes),
        pd.concat([b.units for b in built]),
        np.concatenate([b.storage_wkb for b in built]),
    )
    ids = np.split(every, np.cumsum(sizes)[:-1])
    links = [
        pd.Series(i[b.building_unit.to_numpy()], index=b.building_unit.index) for i, b in zip(ids, built, strict=True)
    ]
    _link_buildings(session, pd.concat(links))
    _write_adjacency(session, np.concatenate([i[b.adjacency.reshape(-1, 2)] for i, b in zip(ids, built, strict=True)]))
    out = []
    for ground, b, unit_ids, shapes, code in zip(grounds, built, ids, before, codes, strict=True):
        notes = list(b.notes)
        moved = _carry_over(session, shapes, unit_ids, b.shapes(epsg) if shapes else np.empty(0), moved_share, notes)
        open_units = int((b.units["kind"] == "open").sum())
        out.append(CommunityUnits(code, len(b.units), open_units, len(ground.buildings), tuple(notes), moved))
    return out


@dataclass
class _PlanShapes:
    """One plan's grids in the community before a rebuild (metric)."""

    status: str
    grid_ids: list[int]
    codes: list[str]
    geoms: np.ndarray


def _grid_shapes(session: Session, community_id: int, epsg: int) -> dict[int, _PlanShapes]:
    """Each plan's grid shapes in the community, from the units about to be replaced: the coverage union of a
    grid's units there. A plan holding none of them but with grids of the community (assignments lost to an
    older rebuild) is carried by its grid polygons. A community without units yet (a first build): nothing."""
    rows = session.execute(
        text("""SELECT a.plan_id, p.status, a.grid_id, g.code, ST_AsBinary(ST_Transform(u.geom, :epsg)) AS geom
                FROM units u JOIN assignments a ON a.unit_id = u.id JOIN grids g ON g.id = a.grid_id
                JOIN grid_plans p ON p.id = a.plan_id
                WHERE u.community_id = :id ORDER BY a.plan_id, a.grid_id"""),
        {"id": community_id, "epsg": epsg},
    ).all()
    if (
        not rows
        and not session.execute(
            text("SELECT 1 FROM units WHERE community_id = :id LIMIT 1"), {"id": community_id}
        ).first()
    ):
        return {}
    frame = pd.DataFrame(rows, columns=["plan", "status", "grid", "code", "geom"])
    shapes: dict[int, _PlanShapes] = {}
    for (plan, status), group in frame.groupby(["plan", "status"], sort=True):
        grids = group.groupby(["grid", "code"], sort=True)["geom"]
        geoms = [shapely.coverage_union_all(shapely.from_wkb(g.to_list())) for _, g in grids]
        keys = list(grids.groups)
        shapes[int(plan)] = _PlanShapes(
            str(status), [int(k[0]) for k in keys], [str(k[1]) for k in keys], np.array(geoms)
        )
    lost = session.execute(
        text("""SELECT g.plan_id, p.status, g.id, g.code, ST_AsBinary(ST_Transform(g.geom, :epsg)) AS geom
                FROM grids g JOIN grid_plans p ON p.id = g.plan_id
                WHERE g.community_id = :id AND NOT ST_IsEmpty(g.geom) AND g.plan_id <> ALL(:carried)
                ORDER BY g.plan_id, g.id"""),
        {"id": community_id, "epsg": epsg, "carried": list(shapes)},
    ).all()
    for plan, status, grid, code, geom in lost:
        entry = shapes.setdefault(int(plan), _PlanShapes(str(status), [], [], np.empty(0, dtype=object)))
        entry.grid_ids.append(int(grid))
        entry.codes.append(str(code))
        entry.geoms = np.append(entry.geoms, shapely.from_wkb(geom))
    return shapes


def _carry_over(
    session: Session,
    before: dict[int, _PlanShapes],
    unit_ids: np.ndarray,
    units: np.ndarray,
    moved_share: float,
    notes: list[str],
) -> dict[int, tuple[MovedGrid, ...]]:
    """Assign the new units in every plan that had grids here, refresh those grids, and list the ones that moved."""
    moved: dict[int, tuple[MovedGrid, ...]] = {}
    refresh: dict[int, list[int]] = {}
    for plan_id, shapes in before.items():
        choice, kept_alive = _largest_overlap(shapes.geoms, units)
        if kept_alive:
            notes.append(f"plan {plan_id}: {kept_alive} grids kept a unit they overlap less than another grid does")
        grid_of = np.asarray(shapes.grid_ids, dtype=np.int64)[choice]
        session.execute(
            text("""INSERT INTO assignments (plan_id, unit_id, grid_id)
                    SELECT :plan, u, g FROM unnest(CAST(:units AS bigint[]), CAST(:grids AS int[])) AS m(u, g)"""),
            {"plan": plan_id, "units": unit_ids.tolist(), "grids": grid_of.tolist()},
        )
        after = np.array([shapely.coverage_union_all(units[choice == k]) for k in range(len(shapes.grid_ids))])
        old_area = shapely.area(shapes.geoms)
        changed = shapely.area(shapely.symmetric_difference(shapes.geoms, after))
        share = np.divide(changed, old_area, out=np.full(len(changed), np.inf), where=old_area > 0)
        moved[plan_id] = tuple(
            MovedGrid(
                shapes.grid_ids[k], shapes.codes[k], float(old_area[k]), float(shapely.area(after[k])), float(share[k])
            )
            for k in sorted(np.flatnonzero(share > moved_share), key=lambda k: shapes.codes[k])
        )
        if shapes.status != "retired":  # retired plans keep the caches they were retired with
            refresh[plan_id] = shapes.grid_ids
    refresh_plan_grids(session, refresh, batch_id=None)
    return {plan: grids for plan, grids in moved.items() if grids}


def _largest_overlap(grids: np.ndarray, units: np.ndarray) -> tuple[np.ndarray, int]:
    """For each unit, the grid (position) it overlaps most, else the nearest one; a grid that would get no unit
    keeps the unit it overlaps most, where that unit's grid has others. Returns the choice and how many grids
    were kept alive that way."""
    choice = np.full(len(units), -1, dtype=np.int64)
    unit_tree = shapely.STRtree(units)
    grid_at, unit_at = unit_tree.query(grids, predicate="contains")  # the common case: a unit inside one grid
    choice[unit_at[::-1]] = grid_at[::-1]
    unit_at, grid_at = shapely.STRtree(grids).query(units, predicate="intersects")
    area = shapely.area(shapely.intersection(units[unit_at], grids[grid_at]))
    pairs = pd.DataFrame({"unit": unit_at, "grid": grid_at, "area": area})
    pairs = pairs[pairs["area"] > 0]
    open_choice = choice < 0
    best = pairs[open_choice[pairs["unit"].to_numpy()]].sort_values(["unit", "area"], ascending=[True, False])
    best = best.drop_duplicates("unit")
    choice[best["unit"].to_numpy()] = best["grid"].to_numpy()
    missing = np.flatnonzero(choice < 0)
    if len(missing):  # no overlap at all (ground no grid covered): the nearest grid of the plan
        near_unit, near_grid = shapely.STRtree(grids).query_nearest(units[missing], all_matches=False)
        choice[missing[near_unit]] = near_grid
    kept_alive = 0
    counts = np.bincount(choice, minlength=len(grids))
    for k in np.flatnonzero(counts == 0):
        candidates = pairs[(pairs["grid"] == k)].sort_values("area", ascending=False)
        for unit in candidates["unit"].to_numpy():
            if counts[choice[unit]] > 1:
                counts[choice[unit]] -= 1
                choice[unit] = k
                counts[k] += 1
                kept_alive += 1
                break
    return choice, kept_alive


def _write_units(session: Session, community_ids: np.ndarray, units: pd.DataFrame, wkb: np.ndarray) -> np.ndarray:
    """Insert units (each of the community beside it, its geometry as stored beside that) in order; returns their
    new ids in the same order. A binary COPY: the EWKB goes in as it is (geometry's binary input is EWKB)."""
    ids = np.asarray(
        session.execute(text("SELECT nextval('units_id_seq') FROM generate_series(1, :n)"), {"n": len(units)})
        .scalars()
        .all(),
        dtype=np.int64,
    )
    columns = ["id", "community_id", "kind", "compound", "households", "buildings", "population", "area_m2", "geom"]
    rows = zip(
        ids.tolist(),
        community_ids.tolist(),
        units["kind"].tolist(),
        units["compound"].tolist(),
        units["households"].astype(np.int64).tolist(),
        units["buildings"].astype(np.int64).tolist(),
        units["population"].astype(np.int64).tolist(),
        units["area_m2"].astype(float).tolist(),
        wkb.tolist(),
        strict=True,
    )
    types = ["int8", "int4", "text", "text", "int4", "int4", "int4", "float8", "bytea"]
    copy_rows(session, "units", columns, types, rows)
    return ids


def _link_buildings(session: Session, unit_of_building: pd.Series) -> None:
    if unit_of_building.empty:
        return
    session.execute(
        text("""UPDATE buildings b SET unit_id = m.unit FROM unnest(CAST(:b AS bigint[]), CAST(:u AS bigint[]))
                AS m(building, unit) WHERE b.id = m.building"""),
        {"b": unit_of_building.index.astype(int).tolist(), "u": unit_of_building.astype(int).tolist()},
    )


def _write_adjacency(session: Session, pairs: np.ndarray) -> None:
    """Pairs of new unit ids (each pair once, as the units' adjacency gives them: no conflict to look for), in key
    order for the index."""
    if not len(pairs):
        return
    low, high = pairs.min(axis=1), pairs.max(axis=1)
    order = np.lexsort((high, low))
    rows = zip(low[order].tolist(), high[order].tolist(), strict=True)
    copy_rows(session, "unit_adjacency", ["unit_a", "unit_b"], ["int8", "int8"], rows)
