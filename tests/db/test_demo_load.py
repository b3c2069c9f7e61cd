"""The demo district loads through the importers into PostGIS with nothing rejected and its promises kept."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from data.demo import generate_district
from gis.exchange.demo import load_demo, load_incident_history
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


def test_demo_incident_history_follows_the_loop_and_looks_like_a_street_office(
    demo_session: Session, settings: Settings
) -> None:
    session = demo_session
    report = load_incident_history(session, settings)
    assert report.imported == 2000 and not report.rejected

    now = session.execute(text("SELECT now()")).scalar_one()
    summary = session.execute(
        text("""SELECT count(*), count(grid_id), count(DISTINCT channel), count(DISTINCT category),
                       min(reported_at), max(reported_at),
                       count(*) FILTER (WHERE status = 'closed'),
                       count(*) FILTER (WHERE status IN ('rejected', 'duplicate')),
                       count(*) FILTER (WHERE status NOT IN ('closed', 'rejected', 'duplicate')),
                       count(*) FILTER (WHERE status NOT IN ('closed', 'rejected', 'duplicate')
                                        AND deadline_at < now()),
                       count(*) FILTER (WHERE (closed_at IS NOT NULL)
                                              <> (status IN ('closed', 'rejected', 'duplicate')))
                FROM incidents WHERE source_id LIKE 'demo-incident-%'""")
    ).one()
    total, placed, channels, categories, first, last, closed, dropped, still_open, overdue, bad_closing = summary
    assert total == placed == 2000  # every incident lies in a grid of the current plan
    assert channels >= 6 and categories == 9
    assert (now - first).days >= 85 and last < now
    assert 0.6 < closed / total < 0.95 and dropped > 0 and still_open > 0 and overdue > 0
    assert bad_closing == 0

    # The history: a report first, steps in time order, and the last step's state is the incident's.
    broken = session.execute(
        text("""
        WITH e AS (
            SELECT e.incident_id, e.action, e.to_status, e.at,
                   row_number() OVER (PARTITION BY e.incident_id ORDER BY e.at, e.id) AS n,
                   row_number() OVER (PARTITION BY e.incident_id ORDER BY e.at DESC, e.id DESC) AS back,
                   lag(e.at) OVER (PARTITION BY e.incident_id ORDER BY e.id) AS before
            FROM incident_events e JOIN incidents i ON i.id = e.incident_id
            WHERE i.source_id LIKE 'demo-incident-%')
        SELECT (SELECT count(*) FROM e WHERE n = 1 AND action <> 'report'),
               (SELECT count(*) FROM e WHERE before > at),
               (SELECT count(*) FROM e JOIN incidents i ON i.id = e.incident_id
                WHERE back = 1 AND e.to_status <> i.status),
               (SELECT count(*) FROM e WHERE action = 'return'), (SELECT count(*) FROM e WHERE action = 'reopen')""")
    ).one()
    assert broken[:3] == (0, 0, 0) and broken[3] > 0 and broken[4] > 0

    # A grid worker for every grid of the current plan, known to the public by a display name, not the login.
    unstaffed = session.execute(
        text("""SELECT count(*) FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published'
                WHERE NOT EXISTS (SELECT 1 FROM grid_workers w WHERE w.grid_lineage = g.lineage)""")
    ).scalar_one()
    assert unstaffed == 0
    names = session.execute(text("SELECT username, display_name FROM users WHERE username LIKE 'gw\\_%'")).all()
    assert names and all(name.startswith("网格员 ") and login not in name for login, name in names)
