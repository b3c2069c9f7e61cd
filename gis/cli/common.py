"""What every command shares: settings, a migrated engine, a console, progress bars and error exits."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import Engine

from gis.db import database_url, make_engine, upgrade
from gis.errors import GridmapError
from gis.settings import Settings, get_settings

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def actor() -> str:
    """Who the audit trail names for a command run from the shell."""
    return f"cli:{getpass.getuser()}"


def settings() -> Settings:
    return get_settings()


def migrated_engine() -> Engine:
    """Engine on the configured database with the schema at the newest revision."""
    url = database_url(settings())
    upgrade(url)
    return make_engine(url)


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Domain errors end the command with their message and exit code 2, never a traceback."""
    try:
        yield
    except GridmapError as exc:
        where = f" [{exc.where}]" if exc.where else ""
        errors.print(f"[bold red]error{where}:[/] {exc.detail}", highlight=False)
        raise typer.Exit(2) from None


@contextmanager
def progress_bar(label: str) -> Iterator[object]:
    """A callback (done, total[, stage]) drawing a progress bar for long loads."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, stage: str | None = None) -> None:
            bar.update(task, completed=done, total=total, **({"description": stage} if stage else {}))

        yield update
