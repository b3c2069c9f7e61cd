"""The demo district loads through the importers into PostGIS with nothing rejected and its promises kept."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo import generate_district
from gis.exchange.demo import load_demo
from gis.settings import Settings


def test_demo_district_loads_whole_and_only_once(session: Session, settings: Settings) -> None:
    district = generate_district()
    reports = load_demo(session, settings)

    assert {r.layer: r.imported for r in reports} == {
        "districts": 1,
        "streets": 1,
        "communities": len(district.communities),
        "buildings": len(district.buildings),
        "facilities": len(district.facilities),
        "network": len(district.network),
        "grids": len(district.grids),
    }
    assert all(not r.rejected and not r.repaired for r in reports)
    assert load_demo(session, settings) == []


def test_demo_grids_hold_300_to_500_households_in_postgis(demo_session: Session) -> None:
    session = demo_session
    loads = session.execute(
        text("""
        SELECT g.code, sum(b.households)
        FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
        JOIN buildings b ON ST_Covers(g.geom, ST_PointOnSurface(b.footprint))
        GROUP BY g.code""")
    ).all()
    assert len(loads) == session.execute(text("SELECT count(*) FROM grids")).scalar_one()
    assert all(300 <= households <= 500 for _, households in loads)


def test_demo_hierarchy_is_linked(demo_session: Session) -> None:
    session = demo_session
    orphans = session.execute(
        text("""
        SELECT (SELECT count(*) FROM buildings WHERE community_id IS NULL),
               (SELECT count(*) FROM grids WHERE community_id IS NULL),
               (SELECT count(*) FROM communities WHERE street_id IS NULL),
               (SELECT count(*) FROM streets WHERE district_id IS NULL)""")
    ).one()
    assert orphans == (0, 0, 0, 0)
    names = session.execute(text("SELECT d.name, s.name FROM streets s JOIN districts d ON d.id = s.district_id")).one()
    assert names == ("海曙区", "白云街道")
    assert session.execute(text("SELECT value FROM meta WHERE key = 'metric_epsg'")).scalar_one() == "4550"
