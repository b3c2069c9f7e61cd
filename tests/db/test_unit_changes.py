"""Plans carried through base-data change (gis/plans/unit_changes.py, gis/plans/unit_store.py, gis/plans/drift.py)
on the demo district: a new building, a retirement, a footprint change and a full rebuild each keep the units a
tiling of their community, every building in one unit and one grid per plan, grid totals equal to the buildings'
sums, and the published plan valid; drift is listed over HTTP."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely
import shapely.affinity
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.geo import dataset
from gis.locate.bulk import assign_points
from gis.plans import edits as grid_edits
from gis.plans import lifecycle
from gis.plans.commands import Merge, Reassign
from gis.plans.store import current_plan_id
from gis.plans.unit_changes import (
    RetiredBuilding,
    UnitChanges,
    place_buildings,
    refresh_plans,
    refresh_units,
    release_buildings,
    reshape_buildings,
)
from gis.plans.unit_store import build_community_units
from gis.plans.validation import validate_plan

# -- what every change must keep ------------------------------------------------------------------------------


def assert_carried(session: Session, community_id: int, plans: list[int]) -> None:
    """Units tile the community (exactly: a valid coverage, no gap, no overlap); every current building is in one
    unit of its community and that unit in one grid of each plan; grid totals are the sums over buildings."""
    epsg = dataset.metric_epsg(session)
    community, summed, union = session.execute(
        text("""SELECT ST_Area(ST_Transform(c.boundary, :e)),
                       (SELECT sum(ST_Area(ST_Transform(u.geom, :e))) FROM units u WHERE u.community_id = c.id),
                       (SELECT ST_Area(ST_Transform(ST_Union(u.geom), :e)) FROM units u WHERE u.community_id = c.id)
                FROM communities c WHERE c.id = :c"""),
        {"e": epsg, "c": community_id},
    ).one()
    assert abs(summed - community) <= 1e-6 * community  # no gap
    assert abs(union - summed) <= 1e-6 * summed  # no overlap
    units = shapely.from_wkb(
        session.execute(text("SELECT ST_AsBinary(geom) FROM units WHERE community_id = :c"), {"c": community_id})
        .scalars()
        .all()
    )
    assert shapely.coverage_is_valid(units)  # edge-matched to the vertex: grids are coverage unions of units
    homeless = session.execute(
        text("""SELECT count(*) FROM buildings b LEFT JOIN units u ON u.id = b.unit_id
                WHERE b.community_id = :c AND (u.id IS NULL OR u.community_id <> b.community_id)"""),
        {"c": community_id},
    ).scalar_one()
    assert homeless == 0
    for plan in plans:
        unassigned = session.execute(
            text("""SELECT count(*) FROM units u WHERE u.community_id = :c
                    AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.plan_id = :p AND a.unit_id = u.id)"""),
            {"c": community_id, "p": plan},
        ).scalar_one()
        assert unassigned == 0
        wrong = session.execute(
            text("""SELECT g.code, g.households, g.buildings, g.population, s.households, s.buildings, s.population
                    FROM grids g LEFT JOIN (
                        SELECT a.grid_id, sum(b.households) AS households, count(b.id) AS buildings,
                               sum(COALESCE(b.population_resident, 0)) AS population
                        FROM assignments a JOIN buildings b ON b.unit_id = a.unit_id WHERE a.plan_id = :p
                        GROUP BY a.grid_id) s ON s.grid_id = g.id
                    WHERE g.plan_id = :p AND (g.households, g.buildings, g.population)
                          IS DISTINCT FROM (COALESCE(s.households, 0), COALESCE(s.buildings, 0),
                                            COALESCE(s.population, 0))"""),
            {"p": plan},
        ).all()
        assert wrong == []
    published = current_plan_id(session)
    assert published is not None
    validation = validate_plan(session, published)
    assert validation.valid, validation.errors


# -- making ground to build on ---------------------------------------------------------------------------------


def metric(session: Session, sql: str, **params: Any) -> list[Any]:
    return list(session.execute(text(sql), {"e": dataset.metric_epsg(session), **params}).all())


def free_spot_on_grid_edge(session: Session, plan_id: int, clearance: float = 14.0) -> tuple[int, shapely.Point]:
    """A point (metric) on the border between two grids of a community, `clearance` m from any building and from
    the community boundary."""
    footprints = shapely.STRtree(
        shapely.from_wkb(
            [r[0] for r in metric(session, "SELECT ST_AsBinary(ST_Transform(footprint, :e)) FROM buildings")]
        )
    )
    edges = metric(
        session,
        """SELECT g1.community_id,
                  ST_AsBinary(ST_Transform(ST_CollectionExtract(ST_Intersection(g1.geom, g2.geom), 2), :e)),
                  ST_AsBinary(ST_Transform(ST_Boundary(c.boundary), :e))
           FROM grids g1 JOIN grids g2 ON g2.plan_id = g1.plan_id AND g1.id < g2.id
                AND g2.community_id = g1.community_id AND ST_Intersects(g1.geom, g2.geom)
           JOIN communities c ON c.id = g1.community_id
           WHERE g1.plan_id = :p ORDER BY g1.id, g2.id""",
        p=plan_id,
    )
    for community, edge, outline in edges:
        line, boundary = shapely.from_wkb(edge), shapely.from_wkb(outline)
        for at in np.arange(0.0, line.length, 3.0):
            point = line.interpolate(at)
            near = footprints.query_nearest(point, return_distance=True)[1]
            if near.min() >= clearance and point.distance(boundary) >= clearance:
                return int(community), point
    raise AssertionError("the demo district has no free ground on a grid border")


def add_building(
    session: Session, community_id: int, footprint: shapely.Geometry, households: int = 40, population: int = 100
) -> int:
    """A new current building written by SQL (as the import pipeline writes it): community set, no unit yet."""
    return session.execute(
        text("""INSERT INTO buildings (footprint, community_id, households, population_resident, compound)
                VALUES (ST_Multi(ST_Transform(ST_GeomFromWKB(:f, :e), 4326)), :c, :h, :pop, NULL) RETURNING id"""),
        {"f": shapely.to_wkb(footprint), "e": dataset.metric_epsg(session), "c": community_id, "h": households,
         "pop": population},
    ).scalar_one()  # fmt: skip


def grid_holding_most(session: Session, plan_id: int, footprint: shapely.Geometry) -> int:
    """The plan's grid whose polygon holds most of the footprint (metric), from the grid polygons themselves."""
    return session.execute(
        text("""SELECT g.id FROM grids g, (SELECT ST_Transform(ST_GeomFromWKB(:f, :e), 4326) AS f) x
                WHERE g.plan_id = :p AND ST_Intersects(g.geom, x.f)
                ORDER BY ST_Area(ST_Intersection(g.geom, x.f)) DESC LIMIT 1"""),
        {"f": shapely.to_wkb(footprint), "e": dataset.metric_epsg(session), "p": plan_id},
    ).scalar_one()


def grid_of_building(session: Session, plan_id: int, building_id: int) -> int:
    return session.execute(
        text("""SELECT a.grid_id FROM buildings b JOIN assignments a ON a.unit_id = b.unit_id AND a.plan_id = :p
                WHERE b.id = :b"""),
        {"p": plan_id, "b": building_id},
    ).scalar_one()


def grid_shapes(session: Session, plan_id: int) -> dict[int, shapely.Geometry]:
    rows = metric(session, "SELECT id, ST_AsBinary(ST_Transform(geom, :e)) FROM grids WHERE plan_id = :p", p=plan_id)
    return {grid: shapely.from_wkb(wkb) for grid, wkb in rows}


def unit_shapes(session: Session, unit_ids: set[int]) -> shapely.Geometry:
    rows = metric(
        session, "SELECT ST_AsBinary(ST_Transform(geom, :e)) FROM units WHERE id = ANY(:ids)", ids=list(unit_ids)
    )
    return shapely.union_all(shapely.from_wkb([r[0] for r in rows]))


def carry(session: Session, changes: UnitChanges, batch: int | None = None) -> dict[int, list[int]]:
    """What the pipeline does after writing buildings: refresh the plans holding the touched units."""
    return refresh_plans(session, changes.units, batch_id=batch)


# -- a new building -------------------------------------------------------------------------------------------


def test_a_new_building_cuts_its_unit_and_joins_the_grid_that_held_its_ground_in_every_plan(
    demo_session: Session,
) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    community, point = free_spot_on_grid_edge(demo_session, published)
    # A draft where the two grids at the spot are one: there the new unit must join that merged grid.
    draft = lifecycle.create_plan(demo_session, base="current", name="合并", actor="test")["id"]
    footprint = shapely.box(point.x - 4, point.y - 7, point.x + 9, point.y + 7)  # more on one side of the border
    sides = list(sides_of(demo_session, draft, footprint))
    assert len(sides) == 2
    grid_edits.handle(demo_session, draft, Merge(tuple(sides)), version=None, actor="test")
    expected = {plan: grid_holding_most(demo_session, plan, footprint) for plan in (published, draft)}
    assert expected[published] in sides_of(demo_session, published, footprint)
    units_before = demo_session.execute(text("SELECT count(*) FROM units")).scalar_one()
    shapes_before = grid_shapes(demo_session, published)
    version_before = lifecycle.get_plan(demo_session, published)["version"]

    building = add_building(demo_session, community, footprint, households=60, population=150)
    changes = place_buildings(demo_session, [building])
    touched = carry(demo_session, changes)

    assert (changes.added, changes.merged) == (1, 0)
    assert demo_session.execute(text("SELECT count(*) FROM units")).scalar_one() == units_before + 1
    unit, kind, households, area = demo_session.execute(
        text("""SELECT u.id, u.kind, u.households, u.area_m2 FROM units u JOIN buildings b ON b.unit_id = u.id
                WHERE b.id = :b"""),
        {"b": building},
    ).one()
    assert unit in changes.units and kind == "building" and households == 60
    assert abs(area - footprint.area) < 1e-3 * footprint.area  # its own unit is its footprint
    for plan in (published, draft):
        assert grid_of_building(demo_session, plan, building) == expected[plan]
        assert expected[plan] in touched[plan]
    assert_carried(demo_session, community, [published, draft])
    # Grid outlines moved only where the footprint is.
    around = footprint.buffer(0.01)
    for grid, before in grid_shapes(demo_session, published).items():
        moved = shapely.symmetric_difference(before, shapes_before[grid])
        assert moved.difference(around).area < 1e-6
    # Caches keyed by the plan's version (the bulk locator) see the change.
    assert lifecycle.get_plan(demo_session, published)["version"] == version_before + 1


def sides_of(session: Session, plan_id: int, footprint: shapely.Geometry) -> dict[int, tuple[float, float]]:
    """Grid id → a point (lon, lat) of the footprint inside that grid, for the plan's grids the footprint is on."""
    rows = session.execute(
        text("""SELECT g.id, ST_X(y.p), ST_Y(y.p)
                FROM (SELECT ST_Transform(ST_GeomFromWKB(:f, :e), 4326) AS f) x
                JOIN grids g ON g.plan_id = :p AND ST_Area(ST_Intersection(g.geom, x.f)) > 0,
                LATERAL (SELECT ST_PointOnSurface(ST_Intersection(g.geom, x.f)) AS p) y
                ORDER BY g.id"""),
        {"f": shapely.to_wkb(footprint), "e": dataset.metric_epsg(session), "p": plan_id},
    ).all()
    return {grid: (lon, lat) for grid, lon, lat in rows}


def test_the_published_plan_locates_the_new_ground_at_once(demo_session: Session) -> None:
    """The bulk locator is kept per plan version: a point of the new building on the side of the old border that
    held less of it is now in the grid the building joined."""
    published = current_plan_id(demo_session)
    assert published is not None
    community, point = free_spot_on_grid_edge(demo_session, published)
    footprint = shapely.box(point.x - 4, point.y - 7, point.x + 9, point.y + 7)
    sides = sides_of(demo_session, published, footprint)
    lon, lat = np.array(list(sides.values())).T
    assert assign_points(demo_session, lon, lat).grid_id.tolist() == list(sides)  # each side in its grid

    building = add_building(demo_session, community, footprint)
    carry(demo_session, place_buildings(demo_session, [building]))

    after = assign_points(demo_session, lon, lat).grid_id.tolist()
    assert after == [grid_of_building(demo_session, published, building)] * len(sides)


def test_a_building_on_top_of_another_shares_its_unit(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    existing, community, unit, households_before = demo_session.execute(
        text("""SELECT b.id, b.community_id, b.unit_id, u.households FROM buildings b JOIN units u ON u.id = b.unit_id
                WHERE u.buildings = 1 ORDER BY b.id LIMIT 1""")
    ).one()
    (wkb,) = metric(
        demo_session, "SELECT ST_AsBinary(ST_Transform(footprint, :e)) FROM buildings WHERE id = :b", b=existing
    )[0]
    duplicate = shapely.affinity.translate(shapely.from_wkb(wkb), 0.5, 0.3)  # the same building, drawn again

    building = add_building(demo_session, community, duplicate, households=7, population=20)
    changes = place_buildings(demo_session, [building])
    carry(demo_session, changes)

    assert changes.added == 0 and any("shares its unit" in note for note in changes.notes)
    holds, households = demo_session.execute(
        text("SELECT buildings, households FROM units WHERE id = :u"), {"u": unit}
    ).one()
    assert demo_session.execute(text("SELECT unit_id FROM buildings WHERE id = :b"), {"b": building}).scalar() == unit
    assert (holds, households) == (2, households_before + 7)
    assert_carried(demo_session, community, [published])


# -- a retirement ------------------------------------------------------------------------------------------


def lone_building_inside_a_grid(session: Session, plan_id: int) -> tuple[int, int, int, int]:
    """(building, community, unit, grid): a building alone in its unit, all of whose neighbours are in its grid."""
    return session.execute(
        text("""SELECT b.id, b.community_id, b.unit_id, a.grid_id FROM buildings b
                JOIN units u ON u.id = b.unit_id AND u.buildings = 1
                JOIN assignments a ON a.unit_id = u.id AND a.plan_id = :p
                WHERE NOT EXISTS (
                    SELECT 1 FROM unit_adjacency j JOIN assignments n ON n.plan_id = :p
                         AND n.unit_id = CASE WHEN j.unit_a = u.id THEN j.unit_b ELSE j.unit_a END
                    WHERE (j.unit_a = u.id OR j.unit_b = u.id) AND n.grid_id <> a.grid_id)
                ORDER BY b.id LIMIT 1"""),
        {"p": plan_id},
    ).one()


def test_a_retired_building_merges_its_unit_into_a_neighbour_of_the_same_grid(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    draft = lifecycle.create_plan(demo_session, base="current", name="草案", actor="test")["id"]
    building, community, unit, grid = lone_building_inside_a_grid(demo_session, published)
    households = demo_session.execute(text("SELECT households FROM grids WHERE id = :g"), {"g": grid}).scalar_one()
    lost = demo_session.execute(text("SELECT households FROM buildings WHERE id = :b"), {"b": building}).scalar_one()
    area = demo_session.execute(
        text("SELECT sum(area_m2) FROM units WHERE community_id = :c"), {"c": community}
    ).scalar_one()
    neighbours_before = neighbours(demo_session, unit)

    demo_session.execute(text("DELETE FROM buildings WHERE id = :b"), {"b": building})
    changes = release_buildings(demo_session, [RetiredBuilding(building, unit, community)])
    carry(demo_session, changes)

    assert changes.merged == 1 and unit not in changes.units
    assert demo_session.execute(text("SELECT count(*) FROM units WHERE id = :u"), {"u": unit}).scalar_one() == 0
    (into,) = changes.units
    assert (
        demo_session.execute(
            text("SELECT count(DISTINCT grid_id) FROM assignments WHERE unit_id = :u AND plan_id = :p"),
            {"u": into, "p": published},
        ).scalar_one()
        == 1
    )
    assert grid_of_unit(demo_session, published, into) == grid
    after = demo_session.execute(text("SELECT households FROM grids WHERE id = :g"), {"g": grid}).scalar_one()
    assert after == households - lost
    merged_area = demo_session.execute(
        text("SELECT sum(area_m2) FROM units WHERE community_id = :c"), {"c": community}
    ).scalar_one()
    assert abs(merged_area - area) < 1e-6 * area
    # The merged unit's adjacency covers the neighbours of both.
    assert neighbours(demo_session, unit) == set()
    assert neighbours_before - {into} <= neighbours(demo_session, into)  # it borders what the old unit bordered
    assert_carried(demo_session, community, [published, draft])


def neighbours(session: Session, unit_id: int) -> set[int]:
    rows = session.execute(
        text("""SELECT CASE WHEN unit_a = :u THEN unit_b ELSE unit_a END FROM unit_adjacency
                WHERE unit_a = :u OR unit_b = :u"""),
        {"u": unit_id},
    )
    return set(rows.scalars())


def grid_of_unit(session: Session, plan_id: int, unit_id: int) -> int:
    return session.execute(
        text("SELECT grid_id FROM assignments WHERE plan_id = :p AND unit_id = :u"), {"p": plan_id, "u": unit_id}
    ).scalar_one()


def test_a_retired_building_whose_neighbours_are_in_other_grids_leaves_open_space(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    building, community, unit, grid = lone_building_inside_a_grid(demo_session, published)
    # In a draft the unit goes to another grid: no neighbour shares its grid in every plan any more.
    draft = lifecycle.create_plan(demo_session, base="current", name="草案", actor="test")["id"]
    other = (
        demo_session.execute(
            text("SELECT id FROM grids WHERE plan_id = :p AND community_id = :c ORDER BY id"),
            {"p": draft, "c": community},
        )
        .scalars()
        .all()
    )
    draft_grid = grid_of_unit(demo_session, draft, unit)
    target = next(g for g in other if g != draft_grid)
    grid_edits.handle(demo_session, draft, Reassign(target, (building,)), version=None, actor="test")

    demo_session.execute(text("DELETE FROM buildings WHERE id = :b"), {"b": building})
    changes = release_buildings(demo_session, [RetiredBuilding(building, unit, community)])
    carry(demo_session, changes)

    assert changes.merged == 0 and changes.units == {unit}
    kind, households, buildings, population = demo_session.execute(
        text("SELECT kind, households, buildings, population FROM units WHERE id = :u"), {"u": unit}
    ).one()
    assert (kind, households, buildings, population) == ("open", 0, 0, 0)
    assert (grid_of_unit(demo_session, published, unit), grid_of_unit(demo_session, draft, unit)) == (grid, target)
    assert_carried(demo_session, community, [published, draft])


# -- a footprint change -----------------------------------------------------------------------------------------


def test_a_changed_footprint_recuts_only_around_the_building(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    draft = lifecycle.create_plan(demo_session, base="current", name="草案", actor="test")["id"]
    building, community, unit, _ = lone_building_inside_a_grid(demo_session, published)
    (wkb,) = metric(
        demo_session, "SELECT ST_AsBinary(ST_Transform(footprint, :e)) FROM buildings WHERE id = :b", b=building
    )[0]
    old = shapely.from_wkb(wkb)
    grown = shapely.buffer(old, 6.0, join_style="mitre")  # an extension reaching into the neighbours' cells
    others = shapely.union_all(
        shapely.from_wkb(
            [
                r[0]
                for r in metric(
                    demo_session,
                    "SELECT ST_AsBinary(ST_Transform(footprint, :e)) FROM buildings WHERE id <> :b",
                    b=building,
                )
            ]
        )
    )
    new = shapely.difference(grown, others)  # not drawn over other buildings
    before_units = {
        r[0]: r[1]
        for r in demo_session.execute(
            text("SELECT id, ST_AsBinary(geom) FROM units WHERE community_id = :c"), {"c": community}
        )
    }
    shapes_before = grid_shapes(demo_session, published)

    demo_session.execute(
        text("UPDATE buildings SET footprint = ST_Multi(ST_Transform(ST_GeomFromWKB(:f, :e), 4326)) WHERE id = :b"),
        {"f": shapely.to_wkb(new), "e": dataset.metric_epsg(demo_session), "b": building},
    )
    changes = reshape_buildings(demo_session, [building])
    carry(demo_session, changes)

    assert changes.reshaped == 1 and unit in changes.units
    assert demo_session.execute(text("SELECT unit_id FROM buildings WHERE id = :b"), {"b": building}).scalar() == unit
    mine = unit_shapes(demo_session, {unit})
    assert shapely.difference(new, mine).area < 1e-3 * new.area  # the unit holds the new footprint
    after_units = {
        r[0]: r[1]
        for r in demo_session.execute(
            text("SELECT id, ST_AsBinary(geom) FROM units WHERE community_id = :c"), {"c": community}
        )
    }
    assert set(after_units) == set(before_units)
    changed = {u for u in after_units if after_units[u] != before_units[u]}
    assert changed <= changes.units and len(changed) < 30  # local: the unit and its neighbours
    around = unit_shapes(demo_session, changes.units).buffer(0.01)
    for grid, after in grid_shapes(demo_session, published).items():
        assert shapely.symmetric_difference(after, shapes_before[grid]).difference(around).area < 1e-6
    assert_carried(demo_session, community, [published, draft])


def test_a_building_moved_to_another_place_leaves_its_unit_and_is_placed_again(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    building, _, unit, _ = lone_building_inside_a_grid(demo_session, published)
    community, point = free_spot_on_grid_edge(demo_session, published)
    footprint = shapely.box(point.x - 5, point.y - 5, point.x + 5, point.y + 5)
    demo_session.execute(
        text("""UPDATE buildings SET footprint = ST_Multi(ST_Transform(ST_GeomFromWKB(:f, :e), 4326)), community_id = :c
                WHERE id = :b"""),
        {"f": shapely.to_wkb(footprint), "e": dataset.metric_epsg(demo_session), "c": community, "b": building},
    )
    changes = reshape_buildings(demo_session, [building])
    carry(demo_session, changes)

    new_unit = demo_session.execute(text("SELECT unit_id FROM buildings WHERE id = :b"), {"b": building}).scalar_one()
    assert new_unit != unit and changes.added == 1
    assert grid_of_building(demo_session, published, building) == grid_holding_most(demo_session, published, footprint)
    for c in {
        community,
        *demo_session.execute(
            text("SELECT DISTINCT community_id FROM units WHERE id = ANY(:u)"), {"u": list(changes.units)}
        ).scalars(),
    }:
        assert_carried(demo_session, c, [published])


def test_attribute_changes_refresh_unit_and_grid_totals_and_stamp_the_batch(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    building, community, unit, grid = lone_building_inside_a_grid(demo_session, published)
    batch = demo_session.execute(
        text("INSERT INTO import_batches (kind, layer, actor) VALUES ('import', 'buildings', 'test') RETURNING id")
    ).scalar_one()
    demo_session.execute(text("UPDATE buildings SET households = households + 100 WHERE id = :b"), {"b": building})

    refresh_units(demo_session, [unit])
    touched = refresh_plans(demo_session, [unit], batch_id=batch)

    assert touched == {published: [grid]}
    stamp = demo_session.execute(
        text("SELECT data_batch_id, data_changed_at IS NOT NULL FROM grids WHERE id = :g"), {"g": grid}
    ).one()
    assert tuple(stamp) == (batch, True)
    assert_carried(demo_session, community, [published])


# -- a full rebuild ------------------------------------------------------------------------------------------------


def test_a_full_rebuild_keeps_every_plan_complete_and_reports_moved_grids(demo_session: Session) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    draft = lifecycle.create_plan(demo_session, base="current", name="草案", actor="test")["id"]
    community, point = free_spot_on_grid_edge(demo_session, published)
    # Buildings written without placing them (an older import): the rebuild is what gives them units.
    for dx in (0.0, 25.0):
        add_building(demo_session, community, shapely.box(point.x + dx - 6, point.y - 6, point.x + dx + 6, point.y + 6))
    codes = {
        plan: set(
            demo_session.execute(
                text("SELECT code FROM grids WHERE plan_id = :p AND community_id = :c"), {"p": plan, "c": community}
            ).scalars()
        )
        for plan in (published, draft)
    }

    built = build_community_units(demo_session, community, moved_share=0.0)

    assert set(built.moved) == {published, draft}  # every plan had grids here and saw them move (share > 0)
    for plan in (published, draft):
        assert {g.code for g in built.moved[plan]} <= codes[plan]
        assert all(g.changed_share > 0 and g.area_before_m2 > 0 for g in built.moved[plan])
    assert_carried(demo_session, community, [published, draft])
    # The default share reports only real moves; rebuilding the same data moves nothing.
    again = build_community_units(demo_session, community)
    assert again.moved == {}
    assert_carried(demo_session, community, [published, draft])


def test_a_rebuild_repairs_a_plan_that_lost_its_assignments(demo_session: Session) -> None:
    """A plan whose assignments in a community were lost (the old rebuild wiped them) gets them back from its grid
    polygons."""
    published = current_plan_id(demo_session)
    assert published is not None
    community = demo_session.execute(text("SELECT min(community_id) FROM units")).scalar_one()
    demo_session.execute(
        text("""DELETE FROM assignments a USING units u WHERE u.id = a.unit_id AND u.community_id = :c
                AND a.plan_id = :p"""),
        {"c": community, "p": published},
    )
    assert not validate_plan(demo_session, published).valid

    built = build_community_units(demo_session, community)

    assert built.moved == {}  # the grid polygons were the units' union: nothing moved
    assert_carried(demo_session, community, [published])


# -- drift -----------------------------------------------------------------------------------------------------------


def test_drift_is_listed_and_the_published_plan_stays_valid(demo_session: Session, demo_client: TestClient) -> None:
    published = current_plan_id(demo_session)
    assert published is not None
    demo_session.execute(
        text("UPDATE grid_plans SET min_households = 300, max_households = 500 WHERE id = :p"), {"p": published}
    )
    draft = lifecycle.create_plan(demo_session, base="current", name="草案", actor="test")["id"]
    assert demo_client.get(f"/api/plans/{published}/drift").json() == []
    community, point = free_spot_on_grid_edge(demo_session, published)
    batch, day = demo_session.execute(
        text("""INSERT INTO import_batches (kind, layer, actor) VALUES ('import', 'buildings', 'test')
                RETURNING id, at::date""")
    ).one()
    building = add_building(
        demo_session, community, shapely.box(point.x - 6, point.y - 6, point.x + 6, point.y + 6), households=800
    )
    refresh_plans(demo_session, place_buildings(demo_session, [building]).units, batch_id=batch)
    grid = grid_of_building(demo_session, published, building)
    code, households = demo_session.execute(text("SELECT code, households FROM grids WHERE id = :g"), {"g": grid}).one()
    assert households > 500

    response = demo_client.anonymous.get(f"/api/plans/{published}/drift")  # whoever may read plans

    assert response.status_code == 200, response.text
    listed = {d["grid_id"]: d for d in response.json()}
    assert listed[grid] | {"data_changed_at": None} == {
        "grid_id": grid,
        "code": code,
        "name": listed[grid]["name"],
        "community_code": listed[grid]["community_code"],
        "households": households,
        "min_households": 300,
        "max_households": 500,
        "side": "above",
        "data_changed_at": None,
        "data_batch_id": batch,
        "data_date": day.isoformat(),
    }
    assert listed[grid]["data_changed_at"] is not None
    validation = validate_plan(demo_session, published)
    assert validation.valid
    assert (
        f"grid {code} has {households} households, outside the band 300–500 after the data update of {day:%Y-%m-%d}"
        in [w["message"] for w in validation.warnings if w["type"] == "households_drift"]
    )
    assert "households_above" in {e["type"] for e in validate_plan(demo_session, draft).errors}  # drafts: an error
    assert demo_client.get("/api/plans/987654/drift").status_code == 404
    demo_session.execute(
        text("UPDATE grid_plans SET min_households = NULL, max_households = NULL WHERE id = :p"), {"p": published}
    )
    assert demo_client.get(f"/api/plans/{published}/drift").json() == []  # no band, no drift
