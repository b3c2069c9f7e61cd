"""The README documents only commands and options that exist: every `gridmap ...` it shows is checked against the
command tree that `--help` is made from."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

import gis.cli

ROOT = Path(__file__).resolve().parents[2]
OPTION = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def documented() -> list[str]:
    """Each `gridmap ...` the README shows: the lines of its code blocks, and inline code."""
    text = (ROOT / "README.md").read_text()
    shown = [m.group(1) for m in re.finditer(r"`(gridmap [^`]+)`", text)]
    in_block = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and line.startswith("gridmap "):
            shown.append(line.split("  #")[0].strip())
    return shown


def subcommands(command: Any) -> dict[str, Any]:
    return getattr(command, "commands", {})


def resolve(command: Any, words: list[str]) -> tuple[Any, Any]:
    """The deepest command the leading words name, and the group holding it."""
    parent = command
    for word in words:
        if word not in subcommands(command):
            break
        parent, command = command, subcommands(command)[word]
    return command, parent


def options(command: Any) -> set[str]:
    declared = {name for p in command.params for name in (*p.opts, *p.secondary_opts) if name.startswith("--")}
    return declared | {"--help"}  # every command has it (click adds it outside params)


def test_the_readme_shows_the_commands() -> None:
    shown = documented()
    assert len(shown) > 20 and any(s.startswith("gridmap serve [") for s in shown)


@pytest.mark.parametrize("usage", documented())
def test_every_documented_command_and_option_exists(usage: str) -> None:
    """In `gridmap user passwd NAME | set NAME [--role R] | list` each part after ` | ` is a sibling command."""
    root = typer.main.get_command(gis.cli.app)
    first, *alternatives = usage.removeprefix("gridmap ").split(" | ")
    command, parent = resolve(root, first.split())
    named = first.split()[0]
    placeholder = named.isupper() or named.startswith("-")  # `gridmap COMMAND --help`, `gridmap --help`
    assert command is not root or placeholder, f"{usage!r}: gridmap has no command {named!r}"
    for part in [first, *alternatives]:
        if part is not first:
            word, *rest = part.split()
            assert word in subcommands(parent), f"{usage!r}: `{parent.name} {word}` is not a command"
            command, _ = resolve(subcommands(parent)[word], rest)
        unknown = set(OPTION.findall(part)) - options(command)
        assert not unknown, f"{usage!r}: `{command.name}` has no {sorted(unknown)}, only {sorted(options(command))}"


@pytest.mark.parametrize(("flag", "logged"), [([], True), (["--no-access-log"], False)])
def test_serve_no_access_log_reaches_the_server(monkeypatch: pytest.MonkeyPatch, flag: list[str], logged: bool) -> None:
    import uvicorn
    from typer.testing import CliRunner

    from gis.cli import serve

    class Engine:
        def dispose(self) -> None: ...

    served: dict[str, Any] = {}
    monkeypatch.setattr(serve, "migrated_engine", Engine)
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: served.update(options, app=app))
    done = CliRunner().invoke(gis.cli.app, ["serve", "--port", "8123", *flag])
    assert done.exit_code == 0, done.output
    assert served["app"] == "api.app:create_app" and served["port"] == 8123 and served["access_log"] is logged
