"""Tests run against a real PostgreSQL + PostGIS: `<name>_test` databases next to the configured one.

The empty test database is recreated and migrated once per session; the demo database is loaded once
with the demo district (units built). Each test runs inside a transaction that is rolled back, so tests
never see each other's data. When PostGIS cannot be reached the whole run stops with the reason —
database tests are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from gis.cluster import ensure_database
from gis.db import check_postgis, database_url, make_engine, transaction, upgrade
from gis.demo import load_demo
from gis.errors import DatabaseUnavailable
from gis.settings import Settings, get_settings
from tests import browser


def fresh_database(settings: Settings, suffix: str) -> Engine:
    """A recreated, migrated database `<name>_<suffix>` on the configured server; stops the run if unusable."""
    try:
        base = make_url(database_url(settings))
        name = f"{base.database}_{suffix}"
        ensure_database(base.set(database="postgres").render_as_string(False), name, recreate=True)
        url = base.set(database=name).render_as_string(False)
        upgrade(url)
        engine = make_engine(url)
        check_postgis(engine)
    except DatabaseUnavailable as exc:
        pytest.exit(f"PostGIS is required for the test suite and cannot be used: {exc.detail}", returncode=3)
    return engine


@contextmanager
def rolled_back(engine: Engine) -> Iterator[Session]:
    """A session inside an outer transaction that is rolled back at the end."""
    connection = engine.connect()
    outer = connection.begin()
    session = Session(bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        outer.rollback()
        connection.close()


@contextmanager
def client_for(engine: Engine, settings: Settings, session: Session) -> Iterator[TestClient]:
    """The real app, whose requests share the test's rolled-back session (one savepoint per request)."""
    app = create_app(settings, engine=engine)

    def test_session() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = test_session
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    engine = fresh_database(settings, "test")
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with rolled_back(engine) as session:
        yield session


@pytest.fixture
def client(engine: Engine, settings: Settings, session: Session) -> Iterator[TestClient]:
    with client_for(engine, settings, session) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def demo_engine(settings: Settings) -> Iterator[Engine]:
    """A database holding the demo district with its units and published plan (loaded once)."""
    engine = fresh_database(settings, "test_demo")
    with transaction(engine) as session:
        load_demo(session)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_session(demo_engine: Engine) -> Iterator[Session]:
    with rolled_back(demo_engine) as session:
        yield session


@pytest.fixture
def demo_client(demo_engine: Engine, settings: Settings, demo_session: Session) -> Iterator[TestClient]:
    with client_for(demo_engine, settings, demo_session) as test_client:
        yield test_client


# -- browser tests (tests/browser.py) -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_database(settings: Settings) -> Iterator[str]:
    """A committed demo database for the live server: pages write through the real API."""
    engine = fresh_database(settings, "test_browser")
    with transaction(engine) as session:
        load_demo(session)
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def live_server(browser_database: str) -> Iterator[str]:
    yield from browser.serve(browser_database)


@pytest.fixture(scope="session")
def chromium() -> Iterator[object]:
    yield from browser.launch()


@pytest.fixture
def web(chromium, live_server: str, request: pytest.FixtureRequest) -> Iterator[browser.Browsing]:
    """A fresh page on the live app; blocked requests and console errors are recorded, a screenshot kept."""
    yield from browser.browsing(chromium, live_server, request.node.name)
