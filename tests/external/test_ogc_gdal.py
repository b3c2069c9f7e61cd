"""GDAL's OAPIF driver (Debian gdal-bin) as a real OGC API – Features client of the live app.

The same client QGIS uses: it must list every collection, page through them, and its bbox and attribute
filters must return what PostGIS returns on the same committed database.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator

import pytest
import sqlalchemy
from sqlalchemy import text

from gis.ogc.collections import COLLECTIONS
from tests.samples import buildings_box


@pytest.fixture(scope="module", autouse=True)
def gdal_installed() -> None:
    """gdal-bin comes with `make setup`: without it these tests fail (never skip) and say why."""
    assert shutil.which("ogrinfo") and shutil.which("ogr2ogr"), "gdal-bin is missing: run make setup (apt gdal-bin)"


@pytest.fixture(scope="module")
def db(browser_database: str) -> Iterator[sqlalchemy.Connection]:
    engine = sqlalchemy.create_engine(browser_database)
    with engine.connect() as connection:
        yield connection
    engine.dispose()


def gdal(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ERROR" not in done.stderr, done.stderr
    return done.stdout


def fids(output: str, layer: str) -> list[int]:
    return [int(n) for n in re.findall(rf"^OGRFeature\({layer}\):(\d+)$", output, flags=re.MULTILINE)]


def published(db: sqlalchemy.Connection) -> int:
    return db.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one()


def test_gdal_lists_every_collection(live_server: str) -> None:
    output = gdal("ogrinfo", "-ro", f"OAPIF:{live_server}/ogc")
    listed = re.findall(r"^\d+: (\w+) \(title", output, flags=re.MULTILINE)
    assert listed == list(COLLECTIONS)


def test_gdal_counts_and_pages_match_the_database(live_server: str, db: sqlalchemy.Connection) -> None:
    plan = published(db)
    for collection in ("districts", "streets", "communities", "grids", "buildings", "facilities", "incidents"):
        table = COLLECTIONS[collection].table  # type: ignore[attr-defined]
        where = f"plan_id = {plan}" if collection == "grids" else "TRUE"
        expected = db.execute(text(f"SELECT count(*) FROM {table} WHERE {where}")).scalar_one()
        summary = gdal("ogrinfo", "-ro", "-so", f"OAPIF:{live_server}/ogc", collection)
        assert f"Feature Count: {expected}" in summary, (collection, summary)
    # Fetching everything makes GDAL follow the `next` links page by page.
    for collection, table, where in (("grids", "grids", f"plan_id = {plan}"), ("facilities", "facilities", "TRUE")):
        copied = json.loads(
            gdal(
                "ogr2ogr", "-f", "GeoJSON", "/vsistdout/", "-oo", "PAGE_SIZE=17", f"OAPIF:{live_server}/ogc", collection
            )
        )
        expected_ids = set(db.execute(text(f"SELECT id FROM {table} WHERE {where}")).scalars())
        assert len(copied["features"]) == len(expected_ids)
        assert {f["properties"]["code" if collection == "grids" else "name"] for f in copied["features"]} == set(
            db.execute(
                text(f"SELECT {'code' if collection == 'grids' else 'name'} FROM {table} WHERE {where}")
            ).scalars()
        )


def test_gdal_bbox_returns_what_postgis_returns(live_server: str, db: sqlalchemy.Connection) -> None:
    w, s, e, n = buildings_box(db, 1 / 3)
    expected = set(
        db.execute(
            text("SELECT id FROM buildings WHERE ST_Intersects(footprint, ST_MakeEnvelope(:w, :s, :e, :n, 4326))"),
            {"w": w, "s": s, "e": e, "n": n},
        ).scalars()
    )
    output = gdal(
        "ogrinfo", "-ro", "-al", "-q", "-spat", str(w), str(s), str(e), str(n), f"OAPIF:{live_server}/ogc", "buildings"
    )
    found = fids(output, "buildings")
    assert len(found) == len(set(found)) and set(found) == expected and len(expected) > 0


def test_gdal_attribute_filter_returns_what_postgis_returns(live_server: str, db: sqlalchemy.Connection) -> None:
    (category,) = db.execute(
        text("SELECT category FROM facilities GROUP BY category ORDER BY count(*) DESC LIMIT 1")
    ).one()
    expected = set(db.execute(text("SELECT id FROM facilities WHERE category = :c"), {"c": category}).scalars())
    output = gdal(
        "ogrinfo", "-ro", "-al", "-q", "-where", f"category = '{category}'", f"OAPIF:{live_server}/ogc", "facilities"
    )
    assert set(fids(output, "facilities")) == expected
