"""`gridmap db start | stop | status | url | upgrade`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from gis.cli.common import console, failing_clearly, settings

if TYPE_CHECKING:
    from gis.db.cluster import EmbeddedCluster

app = typer.Typer(
    help="manage the database (the embedded cluster unless GRIDMAP_DATABASE_URL is set)", no_args_is_help=True
)


def _embedded() -> EmbeddedCluster:
    from gis.db.cluster import EmbeddedCluster

    return EmbeddedCluster(settings())


@app.command()
def start() -> None:
    """Provision (first time) and start the embedded cluster, with the database and PostGIS."""
    with failing_clearly():
        if settings().database_url:
            console.print("GRIDMAP_DATABASE_URL is set: the embedded cluster is not used")
            return
        cluster = _embedded().ensure_running()
        console.print(f"running: {cluster.url()} (data in {cluster.data_dir})")


@app.command()
def stop() -> None:
    """Stop the embedded cluster."""
    console.print("stopped" if _embedded().stop() else "not running")


@app.command()
def status() -> None:
    """Where the database is, whether it runs, the role the app connects as, and its PostGIS version."""
    from gis.db.cluster import redact_url
    from gis.db.engine import check_postgis, database_url, make_engine
    from gis.db.roles import is_superuser

    with failing_clearly():
        current = settings()
        if current.database_url:
            console.print(f"database: {redact_url(current.database_url)} (GRIDMAP_DATABASE_URL)")
        else:
            cluster = _embedded().load()
            if cluster is None:
                console.print("embedded cluster: not provisioned yet (`gridmap db start` creates it)")
                raise typer.Exit(1)
            running = _embedded().is_running(cluster)
            console.print(f"embedded cluster: {'running' if running else 'stopped'}")
            console.print(f"  data directory: {cluster.data_dir}")
            console.print(f"  socket directory: {cluster.socket_dir}")
            console.print(f"  port: {cluster.port}   log: {cluster.log_file}")
            console.print(f"  url: {cluster.url()}")
            if not running:
                raise typer.Exit(1)
        url = database_url(current)
        engine = make_engine(url)
        try:
            console.print(f"PostGIS: {check_postgis(engine)}")
        finally:
            engine.dispose()
        role, superuser = is_superuser(url)
        console.print(f"app role: {role}{' (superuser)' if superuser else ''}", highlight=False)
        if superuser:
            # Printed, not fatal: a configured URL is used as given, but the operator should know what it allows.
            console.print(
                f"[bold yellow]warning:[/] the app connects as superuser {role!r}: it can bypass the append-only audit "
                "log and read or change anything in the cluster; connect as a role without SUPERUSER",
                highlight=False,
            )


@app.command()
def url() -> None:
    """Print the database URL in use (starting the embedded cluster if needed)."""
    from gis.db.engine import database_url

    with failing_clearly():
        print(database_url(settings()))


@app.command("upgrade")
def upgrade_command() -> None:
    """Run the Alembic migrations up to the newest revision."""
    from gis.db.engine import database_url, upgrade

    with failing_clearly():
        upgrade(database_url(settings()))
        console.print("schema is up to date")
