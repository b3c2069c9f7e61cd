"""Engine, sessions and schema upgrades. The database URL comes from settings or the embedded cluster."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gis.db.cluster import EmbeddedCluster, redact_url
from gis.db.roles import APP_ROLE, OWNER_ROLE, apply_grants, embedded_roles, with_role
from gis.errors import DatabaseUnavailable
from gis.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def database_url(settings: Settings) -> str:
    """The URL the app uses: GRIDMAP_DATABASE_URL as given, else the embedded cluster's app role (the cluster
    started on demand)."""
    if settings.database_url:
        url = settings.database_url
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
        return url
    return EmbeddedCluster(settings).ensure_running().url()


# Connections an engine's pool hands out at most (per process): the app keeps its request threads below this.
POOL_SIZE, MAX_OVERFLOW = 5, 10
POOL_CONNECTIONS = POOL_SIZE + MAX_OVERFLOW


def make_engine(url: str) -> Engine:
    # JIT off: its compile time (~0.5 s) dwarfs our short aggregate queries whenever the planner misjudges
    # a join's size (seen on the coverage-by-community query over 50,000 buildings).
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        connect_args={"options": "-c jit=off"},
    )


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
    from alembic.config import Config  # only migrations need alembic; keeps every other command's start quick

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database of `url`. On the embedded cluster the owner role runs the migrations (whichever of its
    URLs is given) and the app role is granted its privileges on the result; a configured URL does both as given."""
    from alembic import command

    owner_url = with_role(url, OWNER_ROLE)
    command.upgrade(alembic_config(owner_url), revision)
    if APP_ROLE in embedded_roles(url):
        apply_grants(owner_url, APP_ROLE)


_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]*$")


def quote_ident(name: str) -> str:
    """The one way a dynamic identifier (table or column from a layer declaration) enters SQL."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


def copy_frame(session: Session, table: str, frame: pd.DataFrame) -> None:
    """COPY a frame's columns into `table` in one CSV stream: the bulk path for large derived tables.

    NaN and None become NULL; geometry columns go in as hex EWKB strings."""
    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=False, na_rep="")
    statement = sql.SQL("COPY {} ({}) FROM STDIN WITH (FORMAT csv)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, frame.columns))
    )
    with psycopg_connection(session).cursor() as cursor, cursor.copy(statement) as copy:
        copy.write(buffer.getvalue())


def psycopg_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under the session's transaction, for COPY (the same transaction, no second one)."""
    raw = session.connection().connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"gridmap runs on psycopg 3, not {type(raw).__name__}")
    return raw
