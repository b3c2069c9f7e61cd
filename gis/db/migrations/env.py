"""Alembic environment: runs migrations online against the URL set by gis.db.engine.alembic_config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from gis.db.models import Base

config = context.config
target_metadata = Base.metadata

# PostGIS's own tables and the tiger/topology schemas are not ours to manage.
IGNORED_TABLES = {"spatial_ref_sys"}


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name in IGNORED_TABLES)


def run_migrations_online() -> None:
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, include_object=include_object, compare_type=True
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
