"""Engine, sessions and schema upgrades. The database URL comes from settings or the embedded cluster."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gis.cluster import EmbeddedCluster, redact_url
from gis.errors import DatabaseUnavailable
from gis.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(settings: Settings) -> str:
    """The URL in use: GRIDMAP_DATABASE_URL, else the embedded cluster (started on demand)."""
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
    return EmbeddedCluster(settings).ensure_running().url()


def make_engine(url: str) -> Engine:
    return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """A session whose work commits on success and rolls back entirely on any error."""
    with make_sessionmaker(engine)() as session, session.begin():
        yield session


def check_postgis(engine: Engine) -> str:
    """PostGIS version of the database, or DatabaseUnavailable saying why it cannot be used."""
    try:
        with engine.connect() as conn:
            return conn.execute(text("SELECT postgis_full_version()")).scalar_one()
    except Exception as exc:
        raise DatabaseUnavailable(
            f"PostGIS is not reachable at {redact_url(engine.url.render_as_string(hide_password=False))}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_ident(name: str) -> str:
    """The one way a dynamic identifier (table or column from a layer declaration) enters SQL."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'
