"""The house (DESIGN.md §1): gis/ packages depend one way, bottom up, and never on api/ or maps/.

The contracts are import-linter's, declared in pyproject.toml; a wrong-way import — at module level or inside a
function — fails this test."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "db",
    "geo",
    "auth",
    "plans",
    "locate",
    "incidents",
    "coverage",
    "layers",
    "basedata",
    "ogc",
    "exchange",
    "cli",
)


def lint_imports(*args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).with_name("lint-imports")
    return subprocess.run(
        [str(script), "--no-cache", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_gis_packages_depend_one_way_and_never_on_api_or_maps() -> None:
    result = lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_every_gis_module_lives_in_a_feature_package() -> None:
    """Only the shared kernel stays at the top of gis/; everything else has a room."""
    top = sorted(p.name for p in (ROOT / "gis").glob("*.py"))
    assert top == ["__init__.py", "audit.py", "batch.py", "errors.py", "registry.py", "settings.py"]
    rooms = sorted(p.name for p in (ROOT / "gis").iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert rooms == sorted(PACKAGES)


def test_the_contract_names_the_packages_in_the_documented_order() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    layers = text[text.index("layers = [") : text.index("]", text.index("layers = ["))]
    named = [line.strip().strip('",') for line in layers.splitlines()[1:] if line.strip().startswith('"gis.')]
    assert [n.removeprefix("gis.") for n in named[:-1]] == list(reversed(PACKAGES))


def test_a_wrong_way_import_breaks_the_contract(tmp_path: Path) -> None:
    """The contract bites: plans importing coverage (a package above it) is reported."""
    config = tmp_path / "contract.toml"
    config.write_text(
        "[tool.importlinter]\nroot_packages = ['gis']\n[[tool.importlinter.contracts]]\nname = 'probe'\n"
        "type = 'forbidden'\nsource_modules = ['gis.coverage']\nforbidden_modules = ['gis.plans']\n"
    )
    # coverage may use plans (the right way), so this inverted probe must report it as broken.
    result = lint_imports("--config", str(config))
    assert result.returncode != 0 and "BROKEN" in result.stdout
