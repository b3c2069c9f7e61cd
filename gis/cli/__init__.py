"""The `gridmap` command line: database management, import/export, demo district and serving.

It starts at once: the command modules import only the standard library, typer and gis.cli.common at module level,
and each command loads the domain and its libraries when it runs. Help is click's plain text (typer's rich help would
load rich and markdown for every `--help`).
"""

from __future__ import annotations

import warnings
from typing import Any

import typer
from typer.core import TyperGroup

from gis.cli import assign, batches, coverage, db, layers, plan, serve, users, webhooks, workers
from gis.cli.common import close_engines


class Group(TyperGroup):
    """A command group that shows a sub-command's help without typer loading pydantic (about 0.1 s).

    typer coerces each parameter value it processes through a pydantic TypeAdapter. On the way to
    `gridmap GROUP COMMAND --help` every group parses its own parameters first: its --help, None when not given (made
    False here, which typer takes as it is), and the group's options (`coverage --category ...`), which are left
    unparsed when the next word names a sub-command whose help is asked for: none of them were given, and the group's
    callback sees their defaults."""

    def get_help_option(self, ctx: Any) -> Any:
        option = super().get_help_option(ctx)
        if option is not None and option.default is None:
            option.default = False
        return option

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        asks_help = bool(args) and args[0] in self.commands and any(a in ctx.help_option_names for a in args[1:])
        ctx.meta[_HELP_ONLY, id(self)] = asks_help
        return super().parse_args(ctx, args)

    def get_params(self, ctx: Any) -> Any:
        params = super().get_params(ctx)
        if ctx.meta.get((_HELP_ONLY, id(self))):
            return [param for param in params if param is self.get_help_option(ctx)]
        return params


_HELP_ONLY = "gridmap.help_only"  # context meta: this group only passes on to a sub-command's --help


app = typer.Typer(
    cls=Group,
    help="gridmap — 网格化管理 on PostGIS",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    context_settings={"max_content_width": 120},  # wide terminals show whole sentences, not "..."
)
app.add_typer(db.app, name="db", cls=Group)
app.add_typer(plan.app, name="plan", cls=Group)
app.add_typer(plan.units_app, name="units", cls=Group)
app.add_typer(workers.app, name="worker", cls=Group)
app.add_typer(users.app, name="user", cls=Group)
app.add_typer(coverage.app, name="coverage", cls=Group)
app.add_typer(coverage.network_app, name="network", cls=Group)
app.add_typer(batches.app, name="batches", cls=Group)
app.add_typer(webhooks.app, name="webhooks", cls=Group)
layers.register(app)
assign.register(app)
serve.register(app)

# Libraries whose deprecation notices speak to gridmap's developers (the test suite shows them), not to whoever
# runs a command. Warnings raised in gis/ itself, and every other kind of warning, still show.
LIBRARIES = (
    "alembic",
    "fiona",
    "geoalchemy2",
    "geopandas",
    "gerrychain",
    "libpysal",
    "momepy",
    "networkx",
    "numpy",
    "pandas",
    "psycopg",
    "pydantic",
    "pydantic_settings",
    "pyogrio",
    "pyproj",
    "pyrosm",
    "scipy",
    "shapely",
    "sqlalchemy",
    "uvicorn",
)
DEVELOPER_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


def quiet_library_warnings() -> None:
    """Ignore the libraries' deprecation notices, even under `-W default` or PYTHONDEVMODE (these filters go first)."""
    libraries = rf"({'|'.join(LIBRARIES)})(\..*)?$"
    for category in DEVELOPER_WARNINGS:
        warnings.filterwarnings("ignore", category=category, module=libraries)


def main() -> None:
    quiet_library_warnings()
    try:
        app()
    finally:
        close_engines()  # every pooled connection closed: no psycopg ResourceWarning at exit
