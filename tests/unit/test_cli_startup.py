"""`gridmap` starts at once: building the command tree and rendering every `--help` loads none of the domain or its
libraries. The entry point closes what commands opened and keeps libraries' deprecation notices off the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import typer

from gis.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[2]

# What a command loads when it runs, never at start-up.
HEAVY = (
    "alembic",
    "fastapi",
    "geoalchemy2",
    "geopandas",
    "gerrychain",
    "momepy",
    "networkx",
    "numpy",
    "pandas",
    "psycopg",
    "pydantic_settings",  # (pydantic itself loads with typer, which coerces values with it)
    "pyogrio",
    "pyrosm",
    "rich",
    "scipy",
    "shapely",
    "sqlalchemy",
    "uvicorn",
)
# The only gis modules start-up may load: the CLI itself, the domain errors and the layer catalog (plain data whose
# names are the choices of `import` and `export`).
START_UP = {"gis", "gis.errors", "gis.layers", "gis.layers.catalog"}

PROBE = """
import contextlib, io, json, sys
import typer.main
import gis.cli

def walk(command, path):
    yield path
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield from walk(sub, [*path, name])

root = typer.main.get_command(gis.cli.app)
helped = {}
for path in walk(root, []):
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        code = root.main([*path, "--help"], prog_name="gridmap", standalone_mode=False)
    helped[" ".join(path)] = [code, shown.getvalue()]
print(json.dumps({"helped": helped, "modules": sorted(sys.modules)}))
"""


@pytest.fixture(scope="module")
def start_up() -> dict:
    """A fresh interpreter that builds the whole command tree and renders every command's --help."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_command_has_help(start_up: dict) -> None:
    helped = start_up["helped"]
    for command in ("", "db", "db status", "import", "export", "assign", "serve", "demo", "plan", "plan split"):
        assert command in helped
    for group in ("units", "worker", "user", "coverage", "coverage suggest", "network", "network build"):
        assert group in helped
    for command, (code, text) in helped.items():
        assert code in (0, None), command
        assert text.startswith(f"Usage: gridmap {command}".rstrip() + " "), text


def test_help_loads_no_domain_library(start_up: dict) -> None:
    modules = set(start_up["modules"])
    loaded = sorted(m for m in modules if m.split(".")[0] in HEAVY)
    assert not loaded, f"--help loaded {loaded[:10]}"
    domain = sorted(m for m in modules if m.startswith("gis.") and not m.startswith("gis.cli") and m not in START_UP)
    assert not domain, f"--help loaded {domain}"
    assert not [m for m in modules if m == "api" or m.startswith("api.")]


@pytest.mark.parametrize("command", ["db status", "coverage suggest", "plan split", "user add"])
def test_a_commands_help_does_not_load_pydantic(command: str) -> None:
    """typer coerces values through pydantic: the groups on the way to a sub-command's help parse nothing that needs
    it (gis.cli.Group), which saves about 0.1 s."""
    probe = (
        "import contextlib, io, sys, typer.main, gis.cli\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    typer.main.get_command(gis.cli.app).main({[*command.split(), '--help']}, standalone_mode=False)\n"
        "print('pydantic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "False", done.stderr


def test_role_help_names_the_roles_there_are() -> None:
    from gis.auth.users import ROLES
    from gis.cli.users import ROLE_HELP

    assert " | ".join(ROLES) == ROLE_HELP


def test_library_deprecation_notices_stay_off_the_terminal_and_ours_show() -> None:
    from gis.cli import quiet_library_warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")  # as under -W default or PYTHONDEVMODE=1
        quiet_library_warnings()
        warnings.warn_explicit("old API", FutureWarning, "array.py", 1, module="geopandas.array")
        warnings.warn_explicit("old API", DeprecationWarning, "raw.py", 2, module="pyogrio.raw")
        warnings.warn_explicit("old API", DeprecationWarning, "utils.py", 3, module="momepy")
        warnings.warn_explicit("ours", FutureWarning, "files.py", 4, module="gis.exchange.files")
        warnings.warn_explicit("not a deprecation", RuntimeWarning, "raw.py", 5, module="pyogrio.raw")
        warnings.warn_explicit("another package", DeprecationWarning, "x.py", 6, module="shapelyx")
    assert sorted(str(w.message) for w in caught) == ["another package", "not a deprecation", "ours"]


def test_the_entry_point_disposes_every_engine_even_when_the_command_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import gis.cli
    from gis.cli import common

    disposed: list[object] = []

    class Engine:
        def dispose(self) -> None:
            disposed.append(self)

    def failing_command() -> None:
        common._engines.extend([Engine(), Engine()])  # type: ignore[list-item]  # anything with dispose()
        raise SystemExit(2)

    monkeypatch.setattr(gis.cli, "app", failing_command)
    with warnings.catch_warnings(), pytest.raises(SystemExit):
        gis.cli.main()
    assert len(disposed) == 2 and not common._engines


def test_a_domain_error_ends_the_command_with_its_whole_message(capsys: pytest.CaptureFixture[str]) -> None:
    """Brackets in a message are text: `[grids]` and `[a1]` are not swallowed as rich style tags."""
    from gis.cli.common import failing_clearly

    with pytest.raises(typer.Exit) as ended, failing_clearly():
        raise InvalidInput("grids [a1, 1010033020300800101] are not in plan 3", where="grids")
    assert ended.value.exit_code == 2
    assert "error [grids]: grids [a1, 1010033020300800101] are not in plan 3" in capsys.readouterr().err
