"""Tests run against a real PostgreSQL + PostGIS: a `<name>_test` database next to the configured one.

The database is recreated and migrated once per session; each test runs inside a transaction that is
rolled back, so tests never see each other's data. When PostGIS cannot be reached the whole run stops
with the reason — database tests are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from gis.cluster import ensure_database
from gis.db import check_postgis, database_url, make_engine, upgrade
from gis.errors import DatabaseUnavailable
from gis.settings import Settings, get_settings


def _test_urls(settings: Settings) -> tuple[str, str]:
    """(admin URL, test database URL) on the server the platform is configured to use."""
    base = make_url(database_url(settings))
    test_name = f"{base.database}_test"
    return base.set(database="postgres").render_as_string(False), base.set(database=test_name).render_as_string(False)


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    try:
        admin_url, test_url = _test_urls(settings)
        ensure_database(admin_url, make_url(test_url).database, recreate=True)
        upgrade(test_url)
        engine = make_engine(test_url)
        check_postgis(engine)
    except DatabaseUnavailable as exc:
        pytest.exit(f"PostGIS is required for the test suite and cannot be used: {exc.detail}", returncode=3)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back after the test."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def client(engine: Engine, settings: Settings, session: Session) -> Iterator[TestClient]:
    """The real app, whose requests share the test's rolled-back session."""
    app = create_app(settings, engine=engine)

    def test_session() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = test_session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client
