"""`gridmap serve` and `gridmap demo`."""

from __future__ import annotations

from typing import Annotated

import typer

from gis.cli.common import actor, console, failing_clearly, migrated_engine, progress_bar, settings
from gis.cli.layers import show

# uvicorn, the demo loader and the accounts module load inside the commands: `--help` stays instant.

Host = Annotated[str, typer.Option(help="interface to listen on")]
Port = Annotated[int, typer.Option(help="TCP port")]


def _serve(host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
    import uvicorn

    base = f"http://{host}:{port}"
    console.print(f"gridmap serving on {base}")
    console.print(f"  overview map  {base}/maps/overview")
    console.print(f"  API docs      {base}/docs")
    console.print(f"  communities   {base}/api/communities")
    console.print(f"  health        {base}/health")
    # By import string: the CLI lives in gis/, which never imports the HTTP layer.
    uvicorn.run(
        "api.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="warning" if workers > 1 else "info",
        workers=workers,
        access_log=access_log,
    )


def _sign_in_help(host: str, port: int, generated: str | None) -> None:
    """How to sign in to the staff pages: the admin password is printed only when it was just generated."""
    base = f"http://{host}:{port}"
    console.print(
        f"pages: public map {base}/maps/public · report {base}/report · notice {base}/notice · "
        f"field app {base}/field · planner {base}/maps/planner · dispatch {base}/maps/dispatch · "
        f"dashboard {base}/maps/dashboard · overview {base}/maps/overview · API docs {base}/docs"
    )
    console.print(f"staff pages ask to sign in: {base}/maps/planner, {base}/maps/dispatch (user [bold]admin[/])")
    if generated:
        console.print(f"  admin password: [bold]{generated}[/] — shown this once; change it: gridmap user passwd admin")
    else:
        console.print("  admin password: GRIDMAP_ADMIN_PASSWORD, or as set before (gridmap user passwd admin)")
    console.print("  more accounts: gridmap user add NAME --role planner|dispatcher|grid_worker|viewer")


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Host = "127.0.0.1",
        port: Port = 8000,
        workers: Annotated[int, typer.Option(min=1, help="server processes (one per core)")] = 1,
        access_log: Annotated[
            bool,
            typer.Option("--access-log/--no-access-log", help="log every request (off for load tests and benchmarks)"),
        ] = True,
    ) -> None:
        """Serve the API and maps for whatever the database holds."""
        with failing_clearly():
            migrated_engine().dispose()
        _serve(host, port, workers, access_log)

    @app.command()
    def demo(
        serve: Annotated[bool, typer.Option(help="serve after loading (--no-serve only loads)")] = True,
        host: Host = "127.0.0.1",
        port: Port = 8000,
    ) -> None:
        """Load the demo district (Haishu, Ningbo) into an empty database, then serve it."""
        from gis.auth.users import ensure_admin
        from gis.db.engine import transaction
        from gis.exchange.demo import load_demo

        with failing_clearly():
            engine = migrated_engine()
            with progress_bar("loading the demo district") as bar, transaction(engine) as session:
                reports = load_demo(session, settings(), progress=bar, incidents=True)
            if reports:
                for report in reports:
                    show(report)
            else:
                console.print("the database already holds data: the demo district was not loaded again")
            with transaction(engine) as session:
                generated = ensure_admin(session, actor=actor(), password=settings().admin_password)
            engine.dispose()
        _sign_in_help(host, port, generated)
        if serve:
            _serve(host, port)
