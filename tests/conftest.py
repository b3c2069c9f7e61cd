"""Fixtures shared by every kind of test. Tests live by kind, each folder with its conftest and marker:
tests/unit (no database), tests/db, tests/api, tests/browser (Debian Chromium), tests/external (GDAL and other
outside clients); `pytest -m unit` or `make test-unit` runs the fast ones.

Tests run against a real PostgreSQL + PostGIS: `<name>_test` databases next to the configured one.

The empty test database is recreated and migrated once per session; the demo database is loaded once
with the demo district (units built). Each test runs inside a transaction that is rolled back, so tests
never see each other's data. When PostGIS cannot be reached the whole run stops with the reason —
database tests are never skipped.

Clients are signed in as an admin unless a test says otherwise: `client.as_role("dispatcher")` (or the
`as_role` fixture) gives the headers of a user of any role, `client.anonymous` a client without a token.
Browser pages start signed in as the live server's admin (sessionStorage pre-seeded); `web_signed_out` starts
at the sign-in form, and `live_headers(role)` gives API headers against the live server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from api.app import create_app
from api.deps import get_session
from gis.db.cluster import ensure_database
from gis.db.engine import check_postgis, database_url, make_engine, transaction, upgrade
from gis.errors import DatabaseUnavailable
from gis.exchange.demo import load_demo
from gis.incidents.workers import add_user
from gis.settings import Settings, get_settings
from tests.accounts import headers_for
from tests.browser import harness as browser

# The loopback dask scheduler and the `batch_place` fixture (in process, LocalCluster, scheduler + workers).
pytest_plugins = ["tests.batch_places"]

# Every role of the live server's database (browser tests) signs in with this password.
LIVE_PASSWORD = "browser-test-password"


def fresh_database(settings: Settings, suffix: str) -> Engine:
    """A recreated, migrated database `<name>_<suffix>` on the configured server; stops the run if unusable.

    On the embedded cluster the database is created by its superuser and migrated by the owner role (ensure_database
    and upgrade take any of the cluster's URLs), while the engine connects as the app role: every test proves the
    app works without privileges it should not have. A configured URL does all three as given."""
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


class GridmapClient(TestClient):
    """The app's test client, signed in as an admin; `as_role` signs in users of other roles."""

    session: Session

    def as_role(self, role: str, name: str | None = None, grids: tuple[str, ...] = ()) -> dict[str, str]:
        """Authorization headers of user `name` (default `test-ROLE`, created with `grids` when missing)."""
        return headers_for(self.session, self.app.state.signing_key, role, name, grids)

    @cached_property
    def anonymous(self) -> TestClient:
        """The same app and database without any token: the public."""
        # Not entered as a context manager: the signed-in client already runs the app's lifespan.
        return TestClient(self.app, raise_server_exceptions=False)


@contextmanager
def client_for(engine: Engine, settings: Settings, session: Session) -> Iterator[GridmapClient]:
    """The real app, whose requests share the test's rolled-back session (one savepoint per request), signed in
    as an admin (user `test-admin`)."""
    app = create_app(settings, engine=engine)

    def test_session() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    app.dependency_overrides[get_session] = test_session
    with GridmapClient(app, raise_server_exceptions=False) as test_client:
        test_client.session = session
        test_client.headers.update(test_client.as_role("admin"))
        yield test_client


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Photos the tests upload go to a folder of the run's own, never into the checkout's home.
    return get_settings().model_copy(update={"uploads_dir": tmp_path_factory.mktemp("uploads")})


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
def client(engine: Engine, settings: Settings, session: Session) -> Iterator[GridmapClient]:
    with client_for(engine, settings, session) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def demo_engine(settings: Settings) -> Iterator[Engine]:
    """A database holding the demo district with its units and published plan (loaded once)."""
    engine = fresh_database(settings, "test_demo")
    with transaction(engine) as session:
        load_demo(session, settings)
    yield engine
    engine.dispose()


@pytest.fixture
def demo_session(demo_engine: Engine) -> Iterator[Session]:
    with rolled_back(demo_engine) as session:
        yield session


@pytest.fixture
def demo_client(demo_engine: Engine, settings: Settings, demo_session: Session) -> Iterator[GridmapClient]:
    with client_for(demo_engine, settings, demo_session) as test_client:
        yield test_client


@pytest.fixture
def as_role(request: pytest.FixtureRequest) -> Callable[..., dict[str, str]]:
    """`as_role("dispatcher")` → Authorization headers of a user of that role, in the database of the client
    the test uses (demo_client's when it uses that one, else client's)."""
    used = "demo_client" if "demo_client" in request.fixturenames else "client"
    return request.getfixturevalue(used).as_role


# -- the live server (browser and external tests) -----------------------------------------------------------


@pytest.fixture(scope="session")
def browser_database(settings: Settings) -> Iterator[str]:
    """A committed demo database for the live server: pages write through the real API. Every role has a user
    of its own name (`admin`, `planner`, `dispatcher`, `viewer`; `grid_worker` works the first grid) signing in
    with LIVE_PASSWORD."""
    engine = fresh_database(settings, "test_browser")
    with transaction(engine) as session:
        load_demo(session, settings)
        first_grid = session.execute(
            text("SELECT g.code FROM grids g JOIN grid_plans p ON p.id = g.plan_id AND p.status = 'published' "
                 "ORDER BY g.code LIMIT 1")
        ).scalar_one()  # fmt: skip
        for role in ("admin", "planner", "dispatcher", "viewer", "grid_worker"):
            grids = (first_grid,) if role == "grid_worker" else ()
            add_user(session, role, role, actor="test", password=LIVE_PASSWORD, grids=grids, display_name="测试用户")
    url = engine.url.render_as_string(hide_password=False)
    engine.dispose()
    yield url


@pytest.fixture(scope="session")
def live_server(browser_database: str, settings: Settings) -> Iterator[str]:
    yield from browser.serve(browser_database, uploads_dir=settings.uploads_dir)


@pytest.fixture(scope="session")
def live_login(live_server: str) -> Callable[[str], dict]:
    """`live_login(role)` → the live server's token answer for that role's user (signed in once per run)."""
    answers: dict[str, dict] = {}

    def login(role: str) -> dict:
        if role not in answers:
            response = httpx.post(
                f"{live_server}/api/auth/token", data={"username": role, "password": LIVE_PASSWORD}, timeout=30
            )
            response.raise_for_status()
            answers[role] = response.json()
        return answers[role]

    return login


@pytest.fixture(scope="session")
def live_headers(live_login: Callable[[str], dict]) -> Callable[[str], dict[str, str]]:
    """`live_headers("dispatcher")` → Authorization headers for the live server."""
    return lambda role="admin": {"Authorization": f"Bearer {live_login(role)['access_token']}"}


KINDS = ("unit", "db", "api", "browser", "external")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test is marked with the kind its folder names."""
    root = Path(__file__).resolve().parent
    for item in items:
        kind = item.path.resolve().relative_to(root).parts[0]
        if kind in KINDS:
            item.add_marker(getattr(pytest.mark, kind))
