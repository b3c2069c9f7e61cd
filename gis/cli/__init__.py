"""The `gridmap` command line: database management, import/export, demo district and serving."""

from __future__ import annotations

import typer

from gis.cli import assign, coverage, db, layers, plan, serve, users, workers

app = typer.Typer(help="gridmap — 网格化管理 on PostGIS", no_args_is_help=True, add_completion=False)
app.add_typer(db.app, name="db")
app.add_typer(plan.app, name="plan")
app.add_typer(plan.units_app, name="units")
app.add_typer(workers.app, name="worker")
app.add_typer(users.app, name="user")
app.add_typer(coverage.app, name="coverage")
app.add_typer(coverage.network_app, name="network")
layers.register(app)
assign.register(app)
serve.register(app)


def main() -> None:
    app()
