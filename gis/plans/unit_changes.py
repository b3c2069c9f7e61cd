"""Units follow the buildings: incremental, local changes to the units of a community, and every plan carried along.

The base-data pipeline (gis/basedata) writes building rows and then calls, in the same transaction:
`release_buildings` (retired rows, already deleted), `place_buildings` (new or revived rows), `reshape_buildings`
(footprint or community changed), `refresh_units` (attribute changes), and finally `refresh_plans` with every unit
touched. The first three keep the touched units' totals and adjacency right themselves.

The rules (DESIGN.md §4):

- a new building gets its own unit: its footprint within the community, cut out of the units it lies in (no gap,
  no overlap). Existing footprints stay whole: the part of the new footprint on another building keeps its unit.
  A footprint overlapping another building's by OVERLAP_SHARE of the smaller one or more (a duplicate, a building
  part) joins that building's unit instead, which then takes the footprint's ground. In every plan the new unit
  joins the grid that held most of that ground;
- a changed footprint re-cuts locally: the building's unit takes the new footprint, the others lose it. A building
  that moved out of its unit (or to another community) leaves it and is placed again;
- a unit left without buildings merges into the neighbouring unit that is in the same grid in every plan, the one
  sharing the longest border; without such a neighbour it stays as open space (kind 'open', zero totals).

A cut works on the local units only: every unit meeting the footprint (or a footprint it overlaps) is taken with
its exact stored vertices, all their boundaries and the footprints are noded together once and polygonized into
faces, and each unit is rebuilt from its faces. Faces come from one arrangement, so the rebuilt units are
edge-matched to each other, and the outer edges of the local set are never touched (any unit sharing a point with
the footprint is in the set), so they still match the units around. The work is done in the dataset's metric CRS;
on the way back, vertices that were stored before get their stored coordinates back bit for bit, so the units
outside the set still match exactly. A piece of a unit cut off by the new footprint that holds none of its
buildings joins the neighbour it shares the longest border with (as gis/plans/units.py does for tessellation).

A unit that the new footprint would swallow whole keeps its ground (units are never deleted by a cut, so every
grid keeps the units it had); only a release merges units away, into a unit of the same grid in every plan.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy.spatial import cKDTree
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo import dataset
from gis.geo.crs import STORAGE_CRS
from gis.geo.user_geometry import made_valid
from gis.plans.assignment import refresh_grids
from gis.plans.units import CORE_SHARE, OVERLAP_SHARE, unit_adjacency

__all__ = [
    "RetiredBuilding",
    "UnitChanges",
    "place_buildings",
    "refresh_plan_grids",
    "refresh_plans",
    "refresh_units",
    "release_buildings",
    "reshape_buildings",
]

SNAP_M = 1e-7  # metres: a vertex this close to a stored one is that vertex (noding keeps them; this absorbs rounding)
REFRESHED_STATUSES = ("published", "draft")  # retired plans keep the caches they were retired with


@dataclass
class RetiredBuilding:
    """A building row already deleted from `buildings` (retired), with the unit and community it had."""

    id: int
    unit_id: int | None
    community_id: int | None


@dataclass
class UnitChanges:
    """What happened to units, for the import report; `units`: every unit created or changed (and still there)."""

    added: int = 0
    merged: int = 0
    reshaped: int = 0
    notes: list[str] = field(default_factory=list)
    units: set[int] = field(default_factory=set)


# -- the pipeline's entry points -----------------------------------------------------------------------------


def place_buildings(session: Session, building_ids: Sequence[int]) -> UnitChanges:
    """Give new (or revived) current buildings a unit: their own, cut from the ground they stand on, or the unit of
    a building they duplicate. Buildings already in a unit, or in a community without units, are left alone."""
    changes = UnitChanges()
    if not building_ids:
        return changes
    epsg = dataset.metric_epsg(session)
    rows = session.execute(
        text("""SELECT b.id, b.community_id, b.unit_id, ST_AsBinary(b.footprint) AS footprint,
                       EXISTS (SELECT 1 FROM units u WHERE u.community_id = b.community_id) AS has_units
                FROM buildings b WHERE b.id = ANY(:ids) ORDER BY b.id"""),
        {"ids": list({int(i) for i in building_ids})},
    ).all()
    skipped = [r.id for r in rows if r.unit_id is None and not r.has_units]
    for row in rows:
        if row.unit_id is None and row.has_units:
            _place(session, epsg, row.id, row.community_id, shapely.from_wkb(row.footprint), changes)
    if skipped:
        changes.notes.append(f"{len(skipped)} buildings lie in communities without units; build those units first")
    _finish(session, epsg, changes)
    return changes


def reshape_buildings(session: Session, building_ids: Sequence[int]) -> UnitChanges:
    """Re-cut the units of buildings whose footprint (or community) changed."""
    changes = UnitChanges()
    if not building_ids:
        return changes
    epsg = dataset.metric_epsg(session)
    rows = session.execute(
        text("""SELECT b.id, b.community_id, b.unit_id, ST_AsBinary(b.footprint) AS footprint,
                       u.community_id AS unit_community,
                       u.id IS NOT NULL AND ST_Covers(u.geom, ST_PointOnSurface(b.footprint)) AS inside,
                       EXISTS (SELECT 1 FROM units x WHERE x.community_id = b.community_id) AS has_units
                FROM buildings b LEFT JOIN units u ON u.id = b.unit_id
                WHERE b.id = ANY(:ids) ORDER BY b.id"""),
        {"ids": list({int(i) for i in building_ids})},
    ).all()
    for row in rows:
        footprint = shapely.from_wkb(row.footprint)
        if row.unit_id is not None and row.inside and row.unit_community == row.community_id:
            _cut(session, epsg, row.id, row.community_id, footprint, row.unit_id, changes)
            changes.reshaped += 1
            continue
        # Moved out of its unit (or into another community): leave the old unit, then be placed like a new one.
        session.execute(text("UPDATE buildings SET unit_id = NULL WHERE id = :id"), {"id": row.id})
        if row.unit_id is not None:
            _vacate(session, epsg, row.unit_id, changes)
        if row.has_units:
            _place(session, epsg, row.id, row.community_id, footprint, changes)
        else:
            changes.notes.append(f"building {row.id} moved to a community without units; build those units first")
    _finish(session, epsg, changes)
    return changes


def release_buildings(session: Session, retired: Sequence[RetiredBuilding]) -> UnitChanges:
    """Units of retired buildings: a unit left without buildings merges into a neighbour of the same grid in every
    plan (the longest shared border), else becomes open space."""
    changes = UnitChanges()
    units = sorted({r.unit_id for r in retired if r.unit_id is not None})
    if not units:
        return changes
    epsg = dataset.metric_epsg(session)
    for unit_id in units:
        _vacate(session, epsg, unit_id, changes)
    _finish(session, epsg, changes)
    return changes


def refresh_units(session: Session, unit_ids: Iterable[int]) -> None:
    """Totals (households, population, buildings), compound and kind of units from their current buildings.

    As at a full build: population is the resident population, the compound is the buildings' one when they all
    agree, and a unit holding a building is of kind 'building', else 'open'."""
    ids = sorted({int(u) for u in unit_ids})
    if not ids:
        return
    session.execute(
        text("""
        UPDATE units u SET households = t.households, population = t.population, buildings = t.buildings,
                           compound = t.compound,
                           kind = CASE WHEN t.buildings > 0 THEN 'building' ELSE 'open' END
        FROM (SELECT x.id, COALESCE(sum(b.households), 0) AS households,
                     COALESCE(sum(COALESCE(b.population_resident, 0)), 0) AS population,
                     count(b.id) AS buildings,
                     CASE WHEN count(DISTINCT b.compound) = 1 AND count(b.compound) = count(b.id)
                          THEN min(b.compound) END AS compound
              FROM unnest(CAST(:ids AS bigint[])) AS x(id) LEFT JOIN buildings b ON b.unit_id = x.id
              GROUP BY x.id) t
        WHERE u.id = t.id"""),
        {"ids": ids},
    )


def refresh_plans(session: Session, unit_ids: Iterable[int], *, batch_id: int | None) -> dict[int, list[int]]:
    """Refresh the grids holding these units in every published plan and draft: polygons and totals
    (gis.plans.assignment.refresh_grids). Grids whose totals changed are stamped with the data change
    (`data_changed_at`, `data_batch_id`: the planner's drift list), and each touched plan's version goes up, so
    caches keyed by it (the bulk locator) and drafts open in an editor (If-Match) see the change.
    Returns plan id → the touched grid ids. Retired plans keep the caches they were retired with."""
    ids = sorted({int(u) for u in unit_ids})
    if not ids:
        return {}
    rows = session.execute(
        text("""SELECT DISTINCT a.plan_id, a.grid_id FROM assignments a JOIN grid_plans p ON p.id = a.plan_id
                WHERE a.unit_id = ANY(:ids) AND p.status = ANY(:statuses) ORDER BY a.plan_id, a.grid_id"""),
        {"ids": ids, "statuses": list(REFRESHED_STATUSES)},
    ).all()
    touched: dict[int, list[int]] = {}
    for plan_id, grid_id in rows:
        touched.setdefault(plan_id, []).append(grid_id)
    refresh_plan_grids(session, touched, batch_id=batch_id)
    return touched


def refresh_plan_grids(session: Session, grids: dict[int, list[int]], *, batch_id: int | None) -> list[int]:
    """Refresh these grids (plan id → grid ids) from their units, stamp those whose totals changed with the data
    change, and bump each plan's version. Returns the grids whose totals changed."""
    every = sorted({g for ids in grids.values() for g in ids})
    if not every:
        return []
    totals = "SELECT id, households, buildings, population FROM grids WHERE id = ANY(:ids)"
    before = {r.id: tuple(r[1:]) for r in session.execute(text(totals), {"ids": every}).all()}
    for plan_id, ids in grids.items():
        refresh_grids(session, plan_id, sorted(ids))
    after = {r.id: tuple(r[1:]) for r in session.execute(text(totals), {"ids": every}).all()}
    moved = sorted(g for g in every if after.get(g) != before.get(g))
    if moved:
        session.execute(
            text("UPDATE grids SET data_changed_at = now(), data_batch_id = :batch WHERE id = ANY(:ids)"),
            {"ids": moved, "batch": batch_id},
        )
    session.execute(text("UPDATE grid_plans SET version = version + 1 WHERE id = ANY(:ids)"), {"ids": sorted(grids)})
    return moved


# -- placing and cutting ---------------------------------------------------------------------------------------


def _place(
    session: Session, epsg: int, building_id: int, community_id: int, footprint: shapely.Geometry, changes: UnitChanges
) -> None:
    """A unit for one building without one: its own (cut out of the ground) or a duplicated building's."""
    _cut(session, epsg, building_id, community_id, footprint, None, changes)


def _cut(
    session: Session,
    epsg: int,
    building_id: int,
    community_id: int,
    footprint: shapely.Geometry,
    target: int | None,
    changes: UnitChanges,
) -> None:
    """Cut the footprint's ground out of the local units and give it to `target` (None: a new unit, or the unit
    of a building the footprint duplicates), then link the building to it."""
    footprint = _polygonal(made_valid(np.array([footprint], dtype=object))[0])
    frame = _Frame.for_epsg(epsg)
    others = session.execute(
        text("""SELECT b.id, b.unit_id, ST_AsBinary(b.footprint) AS footprint FROM buildings b
                WHERE b.community_id = :community AND b.unit_id IS NOT NULL AND b.id <> :id
                  AND ST_Intersects(b.footprint, ST_GeomFromWKB(:f, 4326))"""),
        {"community": community_id, "id": building_id, "f": shapely.to_wkb(footprint)},
    ).all()
    own = frame.to_metric(footprint)
    other_fp = frame.to_metric(
        np.array([_polygonal(g) for g in made_valid(shapely.from_wkb([r.footprint for r in others]))], dtype=object)
    )
    if target is None and len(others) and shapely.area(own) > 0:
        overlap = shapely.area(shapely.intersection(own, other_fp))
        share = overlap / np.maximum(np.minimum(shapely.area(own), shapely.area(other_fp)), 1e-12)
        best = int(np.argmax(overlap))
        if share[best] >= OVERLAP_SHARE:  # a duplicate or a building part: it shares that building's unit
            target = int(others[best].unit_id)
            changes.notes.append(f"building {building_id} overlaps building {others[best].id} and shares its unit")
    reach = shapely.union_all([footprint, *shapely.from_wkb([r.footprint for r in others])])
    local = session.execute(
        text("""SELECT u.id, ST_AsBinary(u.geom) AS geom FROM units u
                WHERE u.community_id = :community AND ST_Intersects(u.geom, ST_GeomFromWKB(:reach, 4326))
                ORDER BY u.id"""),
        {"community": community_id, "reach": shapely.to_wkb(_polygonal(made_valid(np.array([reach]))[0]))},
    ).all()
    if not local or shapely.area(own) <= 0:
        _fallback(session, building_id, community_id, footprint, changes)
        return
    unit_ids = np.array([r.id for r in local], dtype=np.int64)
    stored = shapely.from_wkb([r.geom for r in local])
    frame = _Frame.for_units(epsg, stored)
    cut = _cut_faces(
        frame.to_metric(stored),
        unit_ids,
        frame.to_metric(footprint),
        other_fp,
        _unit_footprints(session, frame, unit_ids),
        target,
    )
    if cut is None:  # the footprint holds no ground of its own in the community
        _fallback(session, building_id, community_id, footprint, changes)
        return
    if cut.swallowed:
        changes.notes.append(
            f"{len(cut.swallowed)} units lie wholly inside building {building_id}'s footprint and keep their ground"
        )
    geoms = {u: frame.to_storage(g) for u, g in cut.geoms.items()}
    areas = {u: float(shapely.area(g)) for u, g in cut.geoms.items()}
    if target is None:
        target = _insert_unit(session, community_id, geoms.pop(_NEW), areas.pop(_NEW))
        _assign_new_unit(session, target, cut.ground)
        changes.added += 1
    _update_geometries(session, geoms, areas)
    session.execute(text("UPDATE buildings SET unit_id = :unit WHERE id = :id"), {"unit": target, "id": building_id})
    changes.units |= set(geoms) | {target}


_NEW = -1  # the label of the unit a cut creates


@dataclass
class _Cut:
    geoms: dict[int, shapely.Geometry]  # unit id (_NEW: the new unit) → its new geometry (metric), changed ones only
    ground: dict[int, float]  # unit id → area (m²) of its ground the target took
    swallowed: list[int]  # units the footprint would have taken whole, left as they were


def _cut_faces(
    units: np.ndarray,
    unit_ids: np.ndarray,
    footprint: shapely.Geometry,
    others: np.ndarray,
    unit_footprints: dict[int, shapely.Geometry],
    target: int | None,
) -> _Cut | None:
    """The local cut, all in metric coordinates (pure geometry). None when the footprint takes no ground."""
    lines = np.concatenate([shapely.boundary(units), [shapely.boundary(footprint)], shapely.boundary(others)])
    noded = shapely.union_all(lines[~shapely.is_empty(lines)])
    faces = shapely.get_parts(shapely.polygonize(shapely.get_parts(noded)))
    faces = faces[shapely.area(faces) > 0]
    points = shapely.point_on_surface(faces)
    face, unit = shapely.STRtree(units).query(points, predicate="within")
    owner = np.full(len(faces), -1, dtype=np.int64)
    owner[face[::-1]] = unit[::-1]  # first unit found wins (faces lie in one unit; this guards against slivers)
    keep = owner >= 0  # faces outside the local units: beyond the community, or other units' holes
    faces, points, owner = faces[keep], points[keep], owner[keep]
    part = _part_of(units, owner, points)
    label = unit_ids[owner]
    take = shapely.within(points, footprint)
    if len(others):
        taken_by_other = np.zeros(len(points), dtype=bool)
        hit, _ = shapely.STRtree(others).query(points, predicate="within")
        taken_by_other[hit] = True
        take &= ~taken_by_other  # other buildings' footprints stay whole in their units
    goal = _NEW if target is None else target
    new_label = np.where(take, goal, label)
    swallowed = [int(u) for u in np.unique(label[take]) if u != goal and not (new_label == u).any()]
    for u in swallowed:  # never delete a unit by a cut: every grid keeps its units
        new_label[label == u] = u
    if target is None and not (new_label == goal).any():
        return None
    new_label = _rejoin_orphans(faces, label, part, new_label, goal, unit_footprints)
    geoms = {}
    for u in [*([_NEW] if target is None else []), *(int(x) for x in unit_ids)]:
        mine = new_label == u
        if not mine.any():
            continue
        geom = shapely.coverage_union_all(faces[mine])
        moved = (mine != (label == u)).any()
        # A unit whose ground stayed the same is rewritten only when the noding put a vertex on its edges: its
        # neighbour in the set has that vertex, and edge-matched units must share every vertex.
        if (
            u == _NEW
            or moved
            or shapely.get_num_coordinates(geom) != shapely.get_num_coordinates(units[unit_ids == u][0])
        ):
            geoms[u] = geom
    ground: dict[int, float] = {}
    for u, a in zip(label[new_label == goal], shapely.area(faces[new_label == goal]), strict=True):
        ground[int(u)] = ground.get(int(u), 0.0) + float(a)
    return _Cut(geoms, ground, swallowed)


def _part_of(units: np.ndarray, owner: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Index of the part (of its unit's original geometry) each face lies in."""
    part = np.zeros(len(owner), dtype=np.int64)
    for u in np.unique(owner):
        pieces = shapely.get_parts(units[u])
        if len(pieces) < 2:
            continue
        rows = np.flatnonzero(owner == u)
        hit, piece = shapely.STRtree(pieces).query(points[rows], predicate="within")
        part[rows[hit]] = piece
    return part


def _rejoin_orphans(
    faces: np.ndarray,
    label: np.ndarray,
    part: np.ndarray,
    new_label: np.ndarray,
    goal: int,
    unit_footprints: dict[int, shapely.Geometry],
) -> np.ndarray:
    """A unit's part that the cut split in pieces keeps its core (the piece holding most of its buildings, or the
    largest piece of open space, and any piece holding CORE_SHARE of them); the other pieces join the unit they
    share the longest border with, so that no unit is left with stray bits of ground."""
    new_label = new_label.copy()
    lost = np.unique(label[(new_label != label) & (label != goal)])
    tree = shapely.STRtree(faces)
    for u in lost:
        for p in np.unique(part[label == u]):
            rows = np.flatnonzero((label == u) & (part == p) & (new_label == u))
            if len(rows) < 2:
                continue
            pieces = shapely.get_parts(shapely.coverage_union_all(faces[rows]))
            if len(pieces) < 2:
                continue
            hit, piece = shapely.STRtree(pieces).query(shapely.point_on_surface(faces[rows]), predicate="within")
            of_face = np.full(len(rows), -1)
            of_face[hit] = piece
            for orphan in _orphans(pieces, unit_footprints.get(int(u))):
                members = rows[of_face == orphan]
                best = _longest_border(faces, tree, members, new_label, int(u))
                if best is not None:
                    new_label[members] = best
    return new_label


def _orphans(pieces: np.ndarray, buildings: shapely.Geometry | None) -> list[int]:
    """Pieces of a unit that are not its core."""
    if buildings is not None and not buildings.is_empty and buildings.area > 0:
        held = shapely.area(shapely.intersection(pieces, buildings)) / buildings.area
        core = held >= CORE_SHARE
        core[int(np.argmax(held))] = True
    else:
        core = np.zeros(len(pieces), dtype=bool)
        core[int(np.argmax(shapely.area(pieces)))] = True
    return [int(i) for i in np.flatnonzero(~core)]


def _longest_border(
    faces: np.ndarray, tree: shapely.STRtree, members: np.ndarray, label: np.ndarray, itself: int
) -> int | None:
    """The label (other than `itself`) of the faces sharing the longest border with the faces `members`."""
    piece = shapely.coverage_union_all(faces[members])
    near = tree.query(piece, predicate="intersects")
    near = near[(label[near] != itself) & ~np.isin(near, members)]
    if not len(near):
        return None
    length = shapely.length(shapely.intersection(shapely.boundary(piece), shapely.boundary(faces[near])))
    by_label: dict[int, float] = {}
    for lab, size in zip(label[near], length, strict=True):
        by_label[int(lab)] = by_label.get(int(lab), 0.0) + float(size)
    best = max(by_label, key=lambda k: (by_label[k], -k))
    return best if by_label[best] > 0 else None


def _unit_footprints(session: Session, frame: _Frame, unit_ids: np.ndarray) -> dict[int, shapely.Geometry]:
    """The union of the current buildings' footprints of each unit (metric)."""
    rows = session.execute(
        text("""SELECT unit_id, ST_AsBinary(ST_Union(footprint)) FROM buildings WHERE unit_id = ANY(:ids)
                GROUP BY unit_id"""),
        {"ids": unit_ids.tolist()},
    ).all()
    return {int(u): frame.to_metric(_polygonal(shapely.from_wkb(w))) for u, w in rows}


def _fallback(
    session: Session, building_id: int, community_id: int, footprint: shapely.Geometry, changes: UnitChanges
) -> None:
    """A footprint with no ground of its own (no area, or none left in the community): the building joins the unit
    at its representative point, else the nearest unit of its community (as a full build does)."""
    point = shapely.point_on_surface(footprint) if not footprint.is_empty else None
    unit = None
    if point is not None:
        unit = session.execute(
            text("""SELECT id FROM units WHERE community_id = :community
                    ORDER BY geom <-> ST_GeomFromWKB(:p, 4326), id LIMIT 1"""),
            {"community": community_id, "p": shapely.to_wkb(point)},
        ).scalar_one_or_none()
    if unit is None:
        changes.notes.append(f"building {building_id} has no usable footprint and was left without a unit")
        return
    session.execute(text("UPDATE buildings SET unit_id = :unit WHERE id = :id"), {"unit": unit, "id": building_id})
    changes.units.add(int(unit))
    changes.notes.append(f"building {building_id} has no ground of its own and shares the unit at its position")


# -- releasing ------------------------------------------------------------------------------------------------


def _vacate(session: Session, epsg: int, unit_id: int, changes: UnitChanges) -> None:
    """A unit that lost a building: kept while it holds others; else merged into a neighbour of the same grid in
    every plan (longest shared border), or left as open space."""
    row = session.execute(
        text("""SELECT u.community_id, ST_AsBinary(u.geom) AS geom,
                       EXISTS (SELECT 1 FROM buildings b WHERE b.unit_id = u.id) AS occupied
                FROM units u WHERE u.id = :id"""),
        {"id": unit_id},
    ).first()
    if row is None:  # merged away already (an earlier release in this batch)
        return
    changes.units.add(unit_id)
    if row.occupied:
        return
    neighbours = session.execute(
        text("""SELECT n.id, ST_AsBinary(n.geom) AS geom FROM units n
                WHERE n.community_id = :community AND n.id <> :id AND ST_Intersects(n.geom, ST_GeomFromWKB(:g, 4326))
                ORDER BY n.id"""),
        {"community": row.community_id, "id": unit_id, "g": row.geom},
    ).all()
    grids = _grids_of(session, [unit_id, *(n.id for n in neighbours)])
    same = [n for n in neighbours if grids.get(n.id, {}) == grids.get(unit_id, {})]
    if not same:
        return  # open space: refresh_units makes it kind 'open' with zero totals
    frame = _Frame.for_epsg(epsg)
    mine = shapely.from_wkb(row.geom)
    theirs = shapely.from_wkb([n.geom for n in same])
    border = shapely.length(
        shapely.intersection(shapely.boundary(frame.to_metric(mine)), shapely.boundary(frame.to_metric(theirs)))
    )
    if not (border > 0).any():
        return  # touching only at corners: merging would make a unit of parts
    best = int(np.lexsort(([n.id for n in same], -border))[0])
    into = int(same[best].id)
    merged = _multi(_merge_geometry(mine, theirs[best]))
    session.execute(
        text("""INSERT INTO unit_adjacency (unit_a, unit_b)
                SELECT least(:into, x), greatest(:into, x) FROM (
                    SELECT CASE WHEN unit_a = :id THEN unit_b ELSE unit_a END AS x FROM unit_adjacency
                    WHERE unit_a = :id OR unit_b = :id) n
                WHERE x <> :into ON CONFLICT DO NOTHING"""),
        {"id": unit_id, "into": into},
    )
    session.execute(
        text("""UPDATE units SET geom = ST_GeomFromWKB(:g, 4326), area_m2 = :area WHERE id = :into"""),
        {"g": shapely.to_wkb(merged), "area": float(shapely.area(frame.to_metric(merged))), "into": into},
    )
    session.execute(text("DELETE FROM units WHERE id = :id"), {"id": unit_id})  # its assignments go with it
    changes.units.discard(unit_id)
    changes.units.add(into)
    changes.merged += 1


def _merge_geometry(a: shapely.Geometry, b: shapely.Geometry) -> shapely.Geometry:
    """Two edge-matched units as one (a coverage union keeps the shared vertices exactly); an overlay union when
    GEOS finds they are not a clean coverage."""
    try:
        merged = shapely.coverage_union_all([a, b])
        if merged.is_valid:
            return merged
    except shapely.errors.GEOSException:
        pass
    return _polygonal(made_valid(np.array([shapely.union_all([a, b])], dtype=object))[0])


def _grids_of(session: Session, unit_ids: list[int]) -> dict[int, dict[int, int]]:
    """unit id → {plan id → grid id}, over every plan (retired ones too: a merge must not change any plan)."""
    out: dict[int, dict[int, int]] = {}
    for unit, plan, grid in session.execute(
        text("SELECT unit_id, plan_id, grid_id FROM assignments WHERE unit_id = ANY(:ids)"), {"ids": unit_ids}
    ).all():
        out.setdefault(unit, {})[plan] = grid
    return out


# -- writing ---------------------------------------------------------------------------------------------------


def _insert_unit(session: Session, community_id: int, geom: shapely.Geometry, area: float) -> int:
    return int(
        session.execute(
            text("""INSERT INTO units (id, community_id, kind, households, buildings, population, area_m2, geom)
                    VALUES (nextval('units_id_seq'), :community, 'building', 0, 0, 0, :area,
                            ST_GeomFromWKB(:g, 4326)) RETURNING id"""),
            {"community": community_id, "area": area, "g": shapely.to_wkb(geom)},
        ).scalar_one()
    )


def _assign_new_unit(session: Session, unit_id: int, ground: dict[int, float]) -> None:
    """In every plan holding the ground, the new unit joins the grid that held most of it (ties: lowest grid id)."""
    rows = session.execute(
        text("SELECT plan_id, unit_id, grid_id FROM assignments WHERE unit_id = ANY(:ids)"), {"ids": list(ground)}
    ).all()
    held: dict[int, dict[int, float]] = {}
    for plan, unit, grid in rows:
        by_grid = held.setdefault(plan, {})
        by_grid[grid] = by_grid.get(grid, 0.0) + ground[unit]
    if not held:
        return
    plans = sorted(held)
    grids = [_largest(held[p]) for p in plans]
    session.execute(
        text("""INSERT INTO assignments (plan_id, unit_id, grid_id)
                SELECT p, :unit, g FROM unnest(CAST(:plans AS int[]), CAST(:grids AS int[])) AS m(p, g)"""),
        {"unit": unit_id, "plans": plans, "grids": grids},
    )


def _largest(area_by_grid: dict[int, float]) -> int:
    """The grid holding the most ground; ties go to the lowest id."""
    return min(area_by_grid, key=lambda grid: (-area_by_grid[grid], grid))


def _update_geometries(session: Session, geoms: dict[int, shapely.Geometry], areas: dict[int, float]) -> None:
    if not geoms:
        return
    ids = sorted(geoms)
    session.execute(
        text("""UPDATE units u SET geom = ST_GeomFromWKB(s.wkb, 4326), area_m2 = s.area
                FROM unnest(CAST(:ids AS bigint[]), CAST(:wkb AS bytea[]), CAST(:area AS float8[])) AS s(id, wkb, area)
                WHERE u.id = s.id"""),
        {"ids": ids, "wkb": [shapely.to_wkb(geoms[u]) for u in ids], "area": [areas[u] for u in ids]},
    )


def _finish(session: Session, epsg: int, changes: UnitChanges) -> None:
    """Totals and adjacency of the touched units that are still there."""
    if not changes.units:
        return
    alive = set(
        session.execute(text("SELECT id FROM units WHERE id = ANY(:ids)"), {"ids": sorted(changes.units)}).scalars()
    )
    changes.units = alive
    refresh_units(session, alive)
    relink(session, alive)


def relink(session: Session, unit_ids: Iterable[int]) -> None:
    """Recompute unit_adjacency for these units: pairs among them and the units around them."""
    ids = sorted({int(u) for u in unit_ids})
    if not ids:
        return
    epsg = dataset.metric_epsg(session)
    rows = session.execute(
        text("""SELECT DISTINCT n.id, ST_AsBinary(ST_Transform(n.geom, :epsg)) AS geom
                FROM units u JOIN units n ON n.community_id = u.community_id AND ST_Intersects(n.geom, u.geom)
                WHERE u.id = ANY(:ids) ORDER BY n.id"""),
        {"ids": ids, "epsg": epsg},
    ).all()
    local = np.array([r.id for r in rows], dtype=np.int64)
    pairs = unit_adjacency(gpd.GeoSeries(shapely.from_wkb([r.geom for r in rows]), crs=epsg))
    session.execute(text("DELETE FROM unit_adjacency WHERE unit_a = ANY(:ids) OR unit_b = ANY(:ids)"), {"ids": ids})
    if not len(pairs):
        return
    a, b = local[pairs[:, 0]], local[pairs[:, 1]]
    mine = np.isin(a, ids) | np.isin(b, ids)
    low, high = np.minimum(a, b)[mine], np.maximum(a, b)[mine]
    session.execute(
        text("""INSERT INTO unit_adjacency (unit_a, unit_b)
                SELECT * FROM unnest(CAST(:a AS bigint[]), CAST(:b AS bigint[])) ON CONFLICT DO NOTHING"""),
        {"a": low.tolist(), "b": high.tolist()},
    )


# -- geometry helpers ------------------------------------------------------------------------------------------


def _polygonal(geom: shapely.Geometry | None) -> shapely.Geometry:
    """The polygonal part of a geometry (made_valid may add lines and points), empty when there is none."""
    if geom is None:
        return shapely.Polygon()
    if shapely.get_type_id(geom) in (3, 6):
        return geom
    parts = shapely.get_parts(geom)
    polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
    return shapely.union_all(polys) if len(polys) else shapely.Polygon()


def _multi(geom: shapely.Geometry) -> shapely.Geometry:
    """Storage form: a MultiPolygon."""
    if geom.geom_type == "MultiPolygon":
        return geom
    return shapely.multipolygons(shapely.get_parts(_polygonal(geom)))


@lru_cache(maxsize=16)
def _transformer(source: int | str, target: int | str) -> Transformer:
    return Transformer.from_crs(source, target, always_xy=True)


class _Frame:
    """The dataset's metric CRS for local work, and the way back to storage that keeps stored vertices exact.

    Built over stored units, `to_storage` gives every vertex that is (to SNAP_M) a stored vertex its stored
    coordinates back bit for bit, and projects only the new ones (where the cut crossed an edge)."""

    def __init__(self, epsg: int, stored: np.ndarray | None = None) -> None:
        self.forward = _transformer(STORAGE_CRS, epsg)
        self.inverse = _transformer(epsg, STORAGE_CRS)
        self.tree: cKDTree | None = None
        self.stored_xy = np.empty((0, 2))
        if stored is not None and len(stored):
            self.stored_xy = shapely.get_coordinates(stored)
            self.tree = cKDTree(self._project(self.stored_xy, self.forward))

    @classmethod
    def for_epsg(cls, epsg: int) -> _Frame:
        return cls(epsg)

    @classmethod
    def for_units(cls, epsg: int, stored: np.ndarray) -> _Frame:
        return cls(epsg, stored)

    @staticmethod
    def _project(xy: np.ndarray, transformer: Transformer) -> np.ndarray:
        x, y = transformer.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([np.asarray(x, dtype=float), np.asarray(y, dtype=float)])

    def to_metric(self, geoms: Any) -> Any:
        return shapely.transform(geoms, lambda xy: self._project(xy, self.forward))

    def to_storage(self, geom: shapely.Geometry) -> shapely.Geometry:
        def back(xy: np.ndarray) -> np.ndarray:
            out = self._project(xy, self.inverse)
            if self.tree is not None and len(xy):
                distance, index = self.tree.query(xy, distance_upper_bound=SNAP_M)
                hit = np.isfinite(distance)
                out[hit] = self.stored_xy[index[hit]]
            return out

        result = shapely.transform(geom, back)
        if not result.is_valid:
            result = _polygonal(made_valid(np.array([result], dtype=object))[0])
        return _multi(result)
