"""`gridmap plan ...` as a user runs it (a real process on its own committed database): grids are named by id or
by code, `plan show` lists both, and `plan split --line` takes WKT as well as GeoJSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gis.db.engine import transaction
from gis.plans.lifecycle import create_plan
from gis.settings import Settings
from tests import samples
from tests.conftest import fresh_database

GRIDMAP = str(Path(sys.executable).parent / "gridmap")
WEST, EAST = "01010033020300800101", "01010033020300800102"  # the halves of the first sample community


@pytest.fixture(scope="module")
def database(settings: Settings) -> Iterator[tuple[str, Engine]]:
    """The sample communities, streets, buildings and grids (the published plan), committed."""
    engine = fresh_database(settings, "test_plan_cli")
    with transaction(engine) as session:
        samples.load_town(session, settings)
    yield engine.url.render_as_string(hide_password=False), engine
    engine.dispose()


def gridmap(database: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GRIDMAP_DATABASE_URL": database, "COLUMNS": "200"}
    return subprocess.run([GRIDMAP, *args], capture_output=True, text=True, env=env, timeout=300, check=False)


def draft(engine: Engine) -> dict[str, Any]:
    """A new draft of the current plan (made in-process: each `gridmap` run costs seconds of start-up)."""
    with transaction(engine) as session:
        return create_plan(session, base="current", name="命令行", actor="test")


def version(engine: Engine, plan_id: int) -> int:
    with engine.connect() as connection:
        return connection.execute(text("SELECT version FROM grid_plans WHERE id = :p"), {"p": plan_id}).scalar_one()


def grid_ids(engine: Engine, plan_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT code, id FROM grids WHERE plan_id = :p"), {"p": plan_id}).all()
    return {code: grid for code, grid in rows}


def last_operation(engine: Engine, plan_id: int) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            text("SELECT kind, payload FROM plan_operations WHERE plan_id = :p ORDER BY seq DESC LIMIT 1"),
            {"p": plan_id},
        ).one()


def test_show_lists_the_id_and_code_of_every_grid(database: tuple[str, Engine]) -> None:
    url, engine = database
    plan = draft(engine)
    ids = grid_ids(engine, plan["id"])

    shown = gridmap(url, "plan", "show", str(plan["id"]))

    assert shown.returncode == 0, shown.stderr
    rows = {line.split("│")[2].strip(): line.split("│")[1].strip() for line in shown.stdout.splitlines() if "│" in line}
    assert {code: rows[code] for code in ids} == {code: str(grid) for code, grid in ids.items()}
    as_json = json.loads(gridmap(url, "plan", "show", str(plan["id"]), "--json").stdout)
    assert as_json["grids"] == len(ids) and as_json["version"] == 1  # the plan's record, as before
    assert {g["code"]: g["id"] for g in as_json["grid_list"]} == ids


def test_edits_take_grid_codes_as_well_as_ids(database: tuple[str, Engine]) -> None:
    url, engine = database
    plan = draft(engine)
    ids = grid_ids(engine, plan["id"])

    merged = gridmap(url, "plan", "merge", str(plan["id"]), WEST, str(ids[EAST]))

    assert merged.returncode == 0, merged.stderr
    assert json.loads(merged.stdout)["grids"]["removed"] == [ids[EAST]]
    kind, payload = last_operation(engine, plan["id"])
    assert kind == "merge" and payload["grids"] == [ids[WEST], ids[EAST]]  # the log holds ids, whatever was typed


def test_an_unknown_grid_is_named_not_misread_as_an_id(database: tuple[str, Engine]) -> None:
    url, engine = database
    plan = draft(engine)

    refused = gridmap(url, "plan", "merge", str(plan["id"]), "1010033020300800101", WEST)

    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"plan {plan['id']} has no grid with the id or code 1010033020300800101" in refused.stderr
    assert WEST not in refused.stderr  # only the unknown value is named
    assert version(engine, plan["id"]) == 1  # nothing changed


@pytest.mark.parametrize("form", ["wkt", "wkt file"])  # every form in tests/unit/test_plan_commands.py
def test_split_takes_a_line_as_wkt_inline_or_in_a_file(database: tuple[str, Engine], tmp_path: Path, form: str) -> None:
    url, engine = database
    plan = draft(engine)
    x, south, north = samples.ORIGIN[0] + 2 * samples.STEP, samples.ORIGIN[1] - 0.0005, samples.ORIGIN[1] + 0.0055
    wkt = f"LINESTRING ({x} {south}, {x} {north})"
    line = {"wkt": wkt, "wkt file": str(tmp_path / "line.wkt")}[form]
    (tmp_path / "line.wkt").write_text(wkt)

    done = gridmap(url, "plan", "split", str(plan["id"]), WEST, "--line", line)

    assert done.returncode == 0, done.stderr
    assert len(json.loads(done.stdout)["new_grids"]) == 1
    kind, payload = last_operation(engine, plan["id"])
    assert kind == "split" and payload["line"] == {"type": "LineString", "coordinates": [[x, south], [x, north]]}


def test_a_line_that_is_neither_wkt_nor_geojson_is_refused_clearly(database: tuple[str, Engine]) -> None:
    url, engine = database
    plan = draft(engine)
    refused = gridmap(url, "plan", "split", str(plan["id"]), WEST, "--line", "LINESTRING(121.55 29.87,")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert "neither a file, GeoJSON nor WKT" in refused.stderr


def test_publish_from_the_command_line(database: tuple[str, Engine]) -> None:
    url, engine = database
    plan = draft(engine)
    done = gridmap(url, "plan", "publish", str(plan["id"]))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "published"
    with engine.connect() as connection:
        assert (
            connection.execute(text("SELECT id FROM grid_plans WHERE status = 'published'")).scalar_one() == plan["id"]
        )
    again = gridmap(url, "plan", "publish", str(plan["id"]))
    assert again.returncode == 2 and "only drafts" in again.stderr
