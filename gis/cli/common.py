"""What every command shares: settings, a migrated engine, a console, progress bars and error exits.

`gridmap --help` must answer at once, and every command module imports this one at start-up: so only the standard
library, typer and gis.errors load here. rich, SQLAlchemy, the settings model and the database code load on first use.
"""

from __future__ import annotations

import getpass
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

import typer

from gis.errors import GridmapError

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from gis.settings import Settings


class _LazyConsole:
    """A rich Console built on first use: importing rich costs start-up time that `--help` does not need."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def rich(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.rich(), name)


def _rich(console: object) -> Console:
    """The real Console behind a lazy one (rich's Progress and Live want the object itself)."""
    return console.rich() if isinstance(console, _LazyConsole) else cast("Console", console)


console = cast("Console", _LazyConsole(soft_wrap=True))
errors = cast("Console", _LazyConsole(stderr=True, soft_wrap=True))

# Engines the running command opened: `close_engines` disposes them when it ends, so every pooled psycopg
# connection is closed (no ResourceWarning at exit).
_engines: list[Engine] = []


def actor() -> str:
    """Who the audit trail names for a command run from the shell."""
    return f"cli:{getpass.getuser()}"


def settings() -> Settings:
    from gis.settings import get_settings

    return get_settings()


def migrated_engine() -> Engine:
    """Engine on the configured database with the schema at the newest revision; disposed when the command ends."""
    from gis.db.engine import database_url, make_engine, upgrade

    url = database_url(settings())
    upgrade(url)
    engine = make_engine(url)
    _engines.append(engine)
    return engine


@contextmanager
def migrated_session() -> Iterator[Session]:
    """A session on the migrated database: its work commits when the block succeeds and rolls back on any error."""
    from gis.db.engine import transaction

    with transaction(migrated_engine()) as session:
        yield session


def close_engines() -> None:
    """Close the connections of every engine `migrated_engine` made (the entry point calls this on the way out)."""
    while _engines:
        _engines.pop().dispose()


@contextmanager
def failing_clearly() -> Iterator[None]:
    """Domain errors end the command with their message and exit code 2, never a traceback."""
    try:
        yield
    except GridmapError as exc:
        from rich.markup import escape

        # Escaped: "[community]" or "grids [a1]" in a message is text, not a rich style tag to swallow.
        where = escape(f" [{exc.where}]") if exc.where else ""
        errors.print(f"[bold red]error{where}:[/] {escape(exc.detail)}", highlight=False)
        raise typer.Exit(2) from None


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[..., None]]:
    """A callback (done, total[, stage]) drawing a progress bar for long loads."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_rich(console),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int, stage: str | None = None) -> None:
            bar.update(task, completed=done, total=total, description=stage)  # None keeps the label

        yield update
