"""The `gridmap` command as a user runs it: a real process on its own real database."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gis.db.cluster import ensure_database
from gis.db.engine import alembic_config
from gis.db.roles import OWNER_ROLE, with_role
from gis.geo.china_offsets import wgs84_to_gcj02
from tests import samples

GRIDMAP = str(Path(sys.executable).parent / "gridmap")


@pytest.fixture(scope="module")
def cli_database(engine) -> Iterator[str]:
    """A database of its own: CLI commands commit, so they must not share the rolled-back test database."""
    url = make_url(engine.url.render_as_string(False))
    name = f"{url.database}_cli"  # beside the run's test database: runs on other databases do not share it
    ensure_database(url.set(database="postgres").render_as_string(False), name, recreate=True)
    yield url.set(database=name).render_as_string(False)


def gridmap(database: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "GRIDMAP_DATABASE_URL": database, "COLUMNS": "200", **(env or {})}
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=environment, timeout=300, check=False)


def scalar(database: str, sql: str) -> Any:
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
    head = ScriptDirectory.from_config(alembic_config(cli_database)).get_current_head()
    assert scalar(cli_database, "SELECT version_num FROM alembic_version") == head


def test_import_reports_rows_and_export_writes_the_file(cli_database: str, tmp_path: Path) -> None:
    frame = samples.facilities()
    frame.loc[2, "category"] = "casino"
    frame.to_file(tmp_path / "f.geojson")

    done = gridmap(
        cli_database, "import", "facilities", str(tmp_path / "f.geojson"), "--report", str(tmp_path / "report.json")
    )

    assert done.returncode == 0, done.stderr
    assert "inserted 2" in done.stdout and "rejected 1" in done.stdout and "casino" in done.stdout
    assert '"row": 3' in (tmp_path / "report.json").read_text()
    assert scalar(cli_database, "SELECT count(*) FROM facilities") == 2

    out = tmp_path / "out.gpkg"
    done = gridmap(cli_database, "export", "facilities", str(out))
    assert done.returncode == 0 and "wrote 2 features" in done.stdout and out.exists()


def test_batches_list_show_and_undo_an_import(cli_database: str, tmp_path: Path) -> None:
    frame = samples.facilities().assign(code=["CLI-1", "CLI-2", "CLI-3"])
    frame.to_file(tmp_path / "f.geojson")
    before = scalar(cli_database, "SELECT count(*) FROM facilities")
    first = gridmap(cli_database, "import", "facilities", str(tmp_path / "f.geojson"), "--no-recompute")
    assert first.returncode == 0 and "inserted 3" in first.stdout, first.stdout + first.stderr
    batch = int(re.search(r"\(batch (\d+)\)", first.stdout).group(1))
    again = gridmap(cli_database, "import", "facilities", str(tmp_path / "f.geojson"), "--no-recompute")
    assert again.returncode == 0 and "inserted 0, updated 0, unchanged 3" in again.stdout, again.stdout
    listed = gridmap(cli_database, "batches", "list")
    assert listed.returncode == 0 and "f.geojson" in listed.stdout and "upsert" in listed.stdout
    shown = gridmap(cli_database, "batches", "show", str(batch))
    assert shown.returncode == 0 and '"inserted": 3' in shown.stdout
    undone = gridmap(cli_database, "batches", "undo", str(batch), "--no-recompute")
    assert undone.returncode == 0 and f"batch {batch} undone" in undone.stdout, undone.stdout + undone.stderr
    assert scalar(cli_database, "SELECT count(*) FROM facilities") == before
    assert scalar(cli_database, "SELECT count(*) FROM facilities WHERE code LIKE 'CLI-%'") == 0
    assert scalar(cli_database, "SELECT count(*) FROM facilities_history WHERE code LIKE 'CLI-%'") == 3  # kept
    refused = gridmap(cli_database, "batches", "undo", str(batch))
    assert refused.returncode == 2 and "undone already" in refused.stderr


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
    engine = create_engine(with_role(cli_database, OWNER_ROLE))  # emptying tables wholesale is the owner's job
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


def test_plan_commands_edit_a_draft(cli_database: str) -> None:
    assert gridmap(cli_database, "demo", "--no-serve").returncode == 0
    created = gridmap(cli_database, "plan", "create", "--name", "命令行草案")
    assert created.returncode == 0, created.stderr
    plan = json.loads(created.stdout)
    a, b = scalar_row(
        cli_database,
        f"""
        SELECT ga.grid_id, gb.grid_id FROM unit_adjacency j
        JOIN assignments ga ON ga.plan_id = {plan["id"]} AND ga.unit_id = j.unit_a
        JOIN assignments gb ON gb.plan_id = {plan["id"]} AND gb.unit_id = j.unit_b
        WHERE ga.grid_id < gb.grid_id ORDER BY 1, 2 LIMIT 1""",
    )

    merged = gridmap(cli_database, "plan", "merge", str(plan["id"]), str(a), str(b), "--user", "张规划")
    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["plan"]["version"] == 2

    stale = gridmap(cli_database, "plan", "merge", str(plan["id"]), str(a), str(b), "--version", "1")
    assert stale.returncode == 2 and "version 2, not 1" in stale.stderr

    assert gridmap(cli_database, "plan", "undo", str(plan["id"])).returncode == 0
    validated = gridmap(cli_database, "plan", "validate", str(plan["id"]))
    assert validated.returncode == 0 and "0 errors" in validated.stdout
    listed = gridmap(cli_database, "plan", "list")
    assert "命令行草案" in listed.stdout and "published" in listed.stdout
    actor = scalar(cli_database, f"SELECT actor FROM plan_operations WHERE plan_id = {plan['id']} AND kind = 'merge'")
    assert actor == "张规划"


def scalar_row(database: str, sql: str) -> tuple:
    engine = create_engine(database)
    try:
        with engine.connect() as conn:
            return tuple(conn.execute(text(sql)).one())
    finally:
        engine.dispose()


def test_assign_command_writes_each_point_with_its_grid(cli_database: str, tmp_path: Path) -> None:
    assert gridmap(cli_database, "demo", "--no-serve").returncode == 0  # loads only into an empty database
    lon, lat = scalar_row(
        cli_database,
        """
        SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(footprint) p FROM buildings ORDER BY id LIMIT 1) b""",
    )
    glon, glat = wgs84_to_gcj02(lon, lat)
    (tmp_path / "wechat.csv").write_text(f"编号,lon,lat\n1,{glon},{glat}\n2,{glon + 0.05},{glat}\n", encoding="utf-8")

    done = gridmap(
        cli_database, "assign", str(tmp_path / "wechat.csv"), "--crs", "gcj02", "--out", str(tmp_path / "out.csv")
    )

    assert done.returncode == 0, done.stderr
    assert "2 points" in done.stdout and "1 inside" in done.stdout and "1 outside" in done.stdout
    rows = (tmp_path / "out.csv").read_text(encoding="utf-8-sig").splitlines()
    assert rows[0].startswith("编号") and "grid_code" in rows[0] and ",inside," in rows[1]


def test_coverage_command_prints_the_summary_and_its_views(cli_database: str) -> None:
    assert gridmap(cli_database, "demo", "--no-serve").returncode == 0  # loads only into an empty database
    done = gridmap(cli_database, "coverage", "--category", "health_station", "--category", "park")
    assert done.returncode == 0, done.stderr
    assert "社区卫生服务站" in done.stdout or "health_station" in done.stdout
    assert "生活圈完整" not in done.stdout  # only the categories asked for
    categories = scalar(cli_database, "SELECT report->'categories' FROM coverage_runs ORDER BY id DESC LIMIT 1")
    assert categories == ["health_station", "park"]
    gaps = gridmap(cli_database, "coverage", "gaps", "--category", "health_station", "--minutes", "5", "--limit", "3")
    assert gaps.returncode == 0 and "residential buildings beyond 360 m" in gaps.stdout
    suggested = gridmap(cli_database, "coverage", "suggest", "--category", "health_station", "--k", "2")
    assert suggested.returncode == 0 and "1. " in suggested.stdout and "+" in suggested.stdout
    shown = gridmap(cli_database, "coverage", "show", "--level", "street")
    assert shown.returncode == 0 and "coverage per street" in shown.stdout
    bad = gridmap(cli_database, "coverage", "--category", "casino")
    assert bad.returncode == 2 and "casino" in bad.stderr
    rebuilt = gridmap(cli_database, "network", "build")
    assert rebuilt.returncode == 0 and "walking graph v" in rebuilt.stdout and "1 components" in rebuilt.stdout


# Every warning shown, once per place, with the interpreter's development checks (unclosed resources among them).
DEVELOPMENT_MODE = {"PYTHONDEVMODE": "1", "PYTHONWARNINGS": "default"}


def test_commands_leave_no_open_connection_and_no_library_warning(cli_database: str, tmp_path: Path) -> None:
    """Even when every warning is on, a command's stderr holds no ResourceWarning (each engine is disposed) and no
    library's deprecation notice (those speak to developers, not to whoever runs the command)."""
    samples.facilities().to_file(tmp_path / "f.geojson")
    commands = [
        ("db", "status"),
        ("import", "facilities", str(tmp_path / "f.geojson")),
        ("export", "facilities", str(tmp_path / "facilities.gpkg")),
        ("export", "buildings", str(tmp_path / "buildings.zip")),  # a zipped Shapefile: short column names
        ("user", "list"),
        ("plan", "list"),
    ]
    for command in commands:
        done = gridmap(cli_database, *command, env=DEVELOPMENT_MODE)
        assert done.returncode == 0, done.stderr
        assert "ResourceWarning" not in done.stderr and "Warning:" not in done.stderr, (command, done.stderr)
