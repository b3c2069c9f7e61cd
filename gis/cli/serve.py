"""`gridmap serve` and `gridmap demo`."""

from __future__ import annotations

from typing import Annotated

import typer
import uvicorn

from gis.cli.common import console, failing_clearly, migrated_engine, progress_bar
from gis.cli.layers import show
from gis.db import transaction
from gis.demo import load_demo

Host = Annotated[str, typer.Option(help="interface to listen on")]
Port = Annotated[int, typer.Option(help="TCP port")]


def _serve(host: str, port: int, workers: int = 1, access_log: bool = True) -> None:
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
    )


def register(app: typer.Typer) -> None:
    @app.command()
    def serve(
        host: Host = "127.0.0.1",
        port: Port = 8000,
        workers: Annotated[int, typer.Option(min=1, help="server processes (one per core)")] = 1,
    ) -> None:
        """Serve the API and maps for whatever the database holds."""
        with failing_clearly():
            migrated_engine().dispose()
        _serve(host, port, workers)

    @app.command()
    def demo(
        serve: Annotated[bool, typer.Option(help="serve after loading (--no-serve only loads)")] = True,
        host: Host = "127.0.0.1",
        port: Port = 8000,
    ) -> None:
        """Load the demo district (Haishu, Ningbo) into an empty database, then serve it."""
        with failing_clearly():
            engine = migrated_engine()
            with progress_bar("loading the demo district") as bar, transaction(engine) as session:
                reports = load_demo(session, progress=bar)
            if reports:
                for report in reports:
                    show(report)
            else:
                console.print("the database already holds data: the demo district was not loaded again")
            engine.dispose()
        if serve:
            _serve(host, port)
