"""The `gridmap` command as a user runs it: a real process on its own real database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gis.cluster import ensure_database
from tests import samples

GRIDMAP = str(Path(sys.executable).parent / "gridmap")


@pytest.fixture(scope="module")
def cli_database(engine) -> Iterator[str]:
    """A database of its own: CLI commands commit, so they must not share the rolled-back test database."""
    url = make_url(engine.url.render_as_string(False))
    ensure_database(url.set(database="postgres").render_as_string(False), "gridmap_cli_test", recreate=True)
    yield url.set(database="gridmap_cli_test").render_as_string(False)


def gridmap(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": database, "COLUMNS": "200"}
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def scalar(database: str, sql: str) -> object:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar_one()
    finally:
        engine.dispose()


def test_db_url_and_upgrade(cli_database: str) -> None:
    assert gridmap(cli_database, "db", "url").stdout.strip() == cli_database
    done = gridmap(cli_database, "db", "upgrade")
    assert done.returncode == 0 and "up to date" in done.stdout
    assert scalar(cli_database, "SELECT version_num FROM alembic_version") == "0001"


def test_import_reports_rows_and_export_writes_the_file(cli_database: str, tmp_path: Path) -> None:
    frame = samples.facilities()
    frame.loc[2, "category"] = "casino"
    frame.to_file(tmp_path / "f.geojson")

    done = gridmap(
        cli_database, "import", "facilities", str(tmp_path / "f.geojson"), "--report", str(tmp_path / "report.json")
    )

    assert done.returncode == 0, done.stderr
    assert "imported 2" in done.stdout and "rejected 1" in done.stdout and "casino" in done.stdout
    assert '"row": 3' in (tmp_path / "report.json").read_text()
    assert scalar(cli_database, "SELECT count(*) FROM facilities") == 2

    out = tmp_path / "out.gpkg"
    done = gridmap(cli_database, "export", "facilities", str(out))
    assert done.returncode == 0 and "wrote 2 features" in done.stdout and out.exists()


def test_refused_file_exits_2_with_the_reason_and_writes_nothing(cli_database: str, tmp_path: Path) -> None:
    before = scalar(cli_database, "SELECT count(*) FROM facilities")
    (tmp_path / "f.csv").write_text("lon,lat,category\n121.55,29.87,bank\n")
    done = gridmap(cli_database, "import", "facilities", str(tmp_path / "f.csv"))
    assert done.returncode == 2
    assert "declares no coordinate reference system" in done.stderr and "Traceback" not in done.stderr
    assert scalar(cli_database, "SELECT count(*) FROM facilities") == before


def test_unknown_layer_is_a_usage_error(cli_database: str, tmp_path: Path) -> None:
    done = gridmap(cli_database, "import", "parks", str(tmp_path / "x.geojson"))
    assert done.returncode == 2 and "parks" in done.stderr


def test_demo_loads_once_without_serving(cli_database: str) -> None:
    engine = create_engine(cli_database)
    with engine.begin() as conn:  # the demo loads only into an empty database
        conn.execute(
            text("TRUNCATE buildings, communities, streets, districts, facilities, network_edges, grid_plans CASCADE")
        )
    engine.dispose()
    first = gridmap(cli_database, "demo", "--no-serve")
    assert first.returncode == 0, first.stderr
    assert "buildings: read" in first.stdout and "rejected 0" in first.stdout
    assert scalar(cli_database, "SELECT count(*) FROM grids") > 30
    again = gridmap(cli_database, "demo", "--no-serve")
    assert again.returncode == 0 and "already holds data" in again.stdout
