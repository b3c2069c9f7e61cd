"""The planner's edits as typed commands: frozen values whose payload is what the operation log stores, and the
CLI's geometry reading (WKT, EWKT, GeoJSON, files) that builds them."""

from __future__ import annotations

import ast
import dataclasses
import json
import sys
from pathlib import Path

import pytest
import shapely

from gis.errors import InvalidInput
from gis.plans.commands import Balance, Merge, Reassign, Redraw, Renumber, Split, Undo

ROOT = Path(__file__).resolve().parents[2]


def test_payloads_keep_the_shape_the_log_always_had() -> None:
    """The keys the HTTP bodies had (so the log reads the same for old and new entries), JSON-ready."""
    line = shapely.LineString([(121.55, 29.87), (121.56, 29.88)])
    square = shapely.box(121.55, 29.87, 121.56, 29.88)
    payloads = {
        "merge": Merge((3, 1)).payload(),
        "split": Split(7, line).payload(),
        "redraw": Redraw(7, square).payload(),
        "reassign": Reassign(7, (11, 12)).payload(),
        "balance": Balance(community="330203008001", min_households=250, max_households=600).payload(),
        "renumber": Renumber().payload(),
        "undo": Undo().payload(),
    }
    assert payloads["merge"] == {"grids": [3, 1]}
    assert payloads["split"] == {
        "grid": 7,
        "line": {"type": "LineString", "coordinates": [[121.55, 29.87], [121.56, 29.88]]},
    }
    assert payloads["redraw"]["polygon"]["type"] == "Polygon"
    assert shapely.geometry.shape(payloads["redraw"]["polygon"]).equals(square)
    assert payloads["reassign"] == {"grid": 7, "buildings": [11, 12]}
    assert payloads["balance"] == {
        "community": "330203008001",
        "grids": None,
        "min_households": 250,
        "max_households": 600,
        "seed": 0,
    }
    assert payloads["renumber"] == {"layout": None} and payloads["undo"] == {}
    assert json.loads(json.dumps(payloads)) == payloads  # plain JSON: lists, not tuples


def test_commands_are_frozen_values_named_by_their_kind() -> None:
    merge = Merge((1, 2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        merge.grids = (3, 4)  # type: ignore[misc]
    assert merge == Merge((1, 2)) and hash(merge) == hash(Merge((1, 2)))
    kinds = [c.kind for c in (Merge, Split, Redraw, Reassign, Balance, Renumber, Undo)]
    assert kinds == ["merge", "split", "redraw", "reassign", "balance", "renumber", "undo"]


@pytest.mark.parametrize(
    "value",
    [
        "LINESTRING (121.55 29.87, 121.56 29.88)",
        "LINESTRING(121.55 29.87,121.56 29.88)",
        "SRID=4326;LINESTRING(121.55 29.87, 121.56 29.88)",
        '{"type": "LineString", "coordinates": [[121.55, 29.87], [121.56, 29.88]]}',
        '{"type": "Feature", "properties": {}, "geometry": {"type": "LineString", '
        '"coordinates": [[121.55, 29.87], [121.56, 29.88]]}}',
    ],
)
def test_the_cli_reads_a_line_as_wkt_or_geojson(value: str) -> None:
    from gis.cli.plan import _geometry

    assert _geometry(value, "LineString").equals(shapely.LineString([(121.55, 29.87), (121.56, 29.88)]))


def test_the_cli_reads_a_geometry_file(tmp_path: Path) -> None:
    from gis.cli.plan import _geometry

    (tmp_path / "area.wkt").write_text("POLYGON((121.55 29.87, 121.56 29.87, 121.56 29.88, 121.55 29.87))\n")
    assert _geometry(str(tmp_path / "area.wkt"), "Polygon").area > 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("LINESTRING(121.55 29.87,", "neither a file, GeoJSON nor WKT"),
        ("POINT(121.55 29.87)", "expected a GeoJSON LineString, got 'Point'"),
        ("SRID=3857;LINESTRING(0 0, 1 1)", "SRID=4326"),
        ("LINESTRING(29.87 121.55, 29.88 121.56)", "swapped"),
    ],
)
def test_the_cli_names_what_is_wrong_with_a_line(value: str, message: str) -> None:
    from gis.cli.plan import _geometry

    with pytest.raises(InvalidInput, match=message):
        _geometry(value, "LineString")


def test_the_plan_cli_module_imports_only_light_modules_at_start_up() -> None:
    """`gridmap plan --help` stays instant: at module level only the standard library, typer and gis.cli.common;
    the domain and its libraries load inside the command that runs (type-only imports aside)."""
    tree = ast.parse((ROOT / "gis" / "cli" / "plan.py").read_text())
    imported = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module if node.module.startswith("gis") else node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names}
    assert third_party <= {"__future__", "typer", "gis.cli.common"}, third_party
