"""Unit tests: pure functions on hand-made or generated data — no database, no server, no browser. They run in
seconds (`make test-unit`); asking for a database fixture here is a mistake this conftest reports."""

from __future__ import annotations

import pytest


def _no_database(request: pytest.FixtureRequest) -> None:
    raise pytest.UsageError(
        f"{request.node.nodeid}: unit tests have no database; move the test to tests/db or tests/api"
    )


@pytest.fixture
def session(request: pytest.FixtureRequest) -> None:
    _no_database(request)


@pytest.fixture
def engine(request: pytest.FixtureRequest) -> None:
    _no_database(request)


@pytest.fixture
def demo_session(request: pytest.FixtureRequest) -> None:
    _no_database(request)


@pytest.fixture
def client(request: pytest.FixtureRequest) -> None:
    _no_database(request)


@pytest.fixture
def demo_client(request: pytest.FixtureRequest) -> None:
    _no_database(request)
