"""Engine, sessions and schema upgrades. The database URL comes from settings or the embedded cluster."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from psycopg import sql
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from gis.db.cluster import EmbeddedCluster, redact_url
from gis.db.roles import APP_ROLE, OWNER_ROLE, apply_grants, embedded_roles, plain_dsn, with_role
from gis.errors import DatabaseUnavailable
from gis.settings import Settings

if TYPE_CHECKING:
    import pandas as pd
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _psycopg_url(url: str) -> str:
    """A plain postgresql:// URL as SQLAlchemy's psycopg 3 dialect takes it."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def database_url(settings: Settings) -> str:
    """The URL the app uses: GRIDMAP_DATABASE_URL as given, else the embedded cluster's app role (the cluster
    started on demand)."""
    if settings.database_url:
        return _psycopg_url(settings.database_url)
    return EmbeddedCluster(settings).ensure_running().url()


def read_database_url(settings: Settings) -> str | None:
    """The URL of the read replica (GRIDMAP_READ_DATABASE_URL), or None: every read stays on the primary."""
    return _psycopg_url(settings.read_database_url) if settings.read_database_url else None


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


# A replica that does not answer within this is passed over (its reads go to the primary) rather than holding
# the request for the driver's default of no timeout at all.
REPLICA_CONNECT_TIMEOUT_S = 2


def make_read_engine(settings: Settings) -> Engine | None:
    """The engine of the read replica, or None when none is configured.

    The primary's pool size: a request holds at most one replica session besides its primary one, so the
    request slots (api.deps.session_slot) bound both pools alike. Transactions are read-only, so a read route
    that tries to write fails the same way on any server named as the replica, a primary included."""
    url = read_database_url(settings)
    if url is None:
        return None
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=MAX_OVERFLOW,
        connect_args={
            "options": "-c jit=off -c default_transaction_read_only=on",
            "connect_timeout": REPLICA_CONNECT_TIMEOUT_S,
        },
    )


# -- read-your-writes: a client's last write as a WAL position (api/replicas.py carries it) -----------------------

# How PostgreSQL prints a pg_lsn: two hexadecimal halves of a 64-bit WAL position.
_LSN = re.compile(r"^[0-9A-F]{1,8}/[0-9A-F]{1,8}$", re.IGNORECASE)


def parse_lsn(value: str | None) -> str | None:
    """A WAL position as PostgreSQL prints it ("16/B374D848"), or None for anything else (nothing to wait for)."""
    if value is None or not _LSN.match(value.strip()):
        return None
    return value.strip().upper()


def wal_position(session: Session) -> str:
    """The primary's WAL write position; read after a commit it is at or past that commit's record."""
    return session.execute(text("SELECT pg_current_wal_lsn()::text")).scalar_one()


def has_replayed(session: Session, lsn: str) -> bool:
    """Whether the session's server shows every commit up to WAL position `lsn`: a standby once it has replayed
    that far; a server not in recovery (a primary named as the replica, or a promoted standby) always."""
    return bool(
        session.execute(
            text("SELECT NOT pg_is_in_recovery() OR pg_last_wal_replay_lsn() >= CAST(:lsn AS pg_lsn)"), {"lsn": lsn}
        ).scalar_one()
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


def head_revision() -> str:
    """The newest migration's revision. Migrations are numbered files, each revising the one numbered before it and
    named by its number (tests/unit/test_migrations.py holds them to that), so the head is the highest number."""
    return max(p.name.split("_", 1)[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))


def at_head(url: str) -> bool:
    """Whether the database of `url` is migrated to the newest revision: one query, without loading alembic and
    every migration script (a few hundred milliseconds of every command's start)."""
    try:
        with psycopg.connect(plain_dsn(url), connect_timeout=10) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except psycopg.Error:
        return False  # a new database, or one alembic has not touched: the full upgrade says what is wrong
    return row is not None and row[0] == head_revision()


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database of `url`. On the embedded cluster the owner role runs the migrations (whichever of its
    URLs is given) and the app role is granted its privileges on the result; a configured URL does both as given.
    A database already at the head is left as it is (its grants were applied when it got there)."""
    if revision == "head" and at_head(url):
        return
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


def copy_rows(
    session: Session, table: str, columns: list[str], types: list[str], rows: Iterable[Sequence[object]]
) -> None:
    """Binary COPY of `rows` (Python values of the PostgreSQL `types`, one per column) into `table`: the bulk path
    where values are at hand already; a geometry goes in as EWKB bytes typed "bytea" (its binary input is EWKB)."""
    statement = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with psycopg_connection(session).cursor() as cursor, cursor.copy(statement) as copy:
        copy.set_types(types)
        for row in rows:
            copy.write_row(row)


def psycopg_connection(session: Session) -> psycopg.Connection:
    """The psycopg connection under the session's transaction, for COPY (the same transaction, no second one)."""
    raw = session.connection().connection.driver_connection
    if not isinstance(raw, psycopg.Connection):
        raise TypeError(f"gridmap runs on psycopg 3, not {type(raw).__name__}")
    return raw
