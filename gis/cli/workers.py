"""`gridmap worker assign USERNAME GRID_CODE`: who is responsible for a grid."""

from __future__ import annotations

from typing import Annotated

import typer

from gis.cli.common import actor, console, failing_clearly, migrated_session

app = typer.Typer(help="grid workers (网格员)", no_args_is_help=True)


@app.command()
def assign(
    username: Annotated[str, typer.Argument(help="login name; created as a grid worker if new")],
    grid: Annotated[str, typer.Argument(help="grid code in the current plan")],
    name: Annotated[
        str | None, typer.Option(help="display name, e.g. 王芳: required for a new worker (the public sees it)")
    ] = None,
) -> None:
    """Make a worker responsible for a grid; the assignment follows the grid into later plans."""
    from gis.incidents.workers import assign_worker

    with failing_clearly(), migrated_session() as session:
        done = assign_worker(session, username, grid, display_name=name, actor=actor())
    console.print(f"{done['username']} now works grid {done['grid']}")
